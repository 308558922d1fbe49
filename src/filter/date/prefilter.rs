//! A cheap "can this template match at all?" test per template.
//!
//! fail2ban's date regexes use look-around and back-references, which
//! need the backtracking engine; on a line without a date every template
//! is tried, and that dominates. Dropping those constructs gives a regex
//! that matches a superset of lines and runs on the linear-time engine: if
//! it does not match, the real regex cannot either, so the line is skipped
//! without backtracking. A line it accepts still goes to the real regex,
//! so results never change.

use crate::filter::pyre::{Dollar, PyRegex};

/// The superset regex for a Python date regex, if one can be made that
/// needs no backtracking engine.
pub(crate) fn build(python_regex: &str) -> Option<PyRegex> {
    let relaxed = relax(python_regex)?;
    // `(?m:$)` also matches before inner newlines: only a wider superset.
    let re = PyRegex::with_dollar(&relaxed, Dollar::SingleLineBuffer).ok()?;
    (!re.is_fancy()).then_some(re)
}

/// Rewrites look-arounds to nothing, back-references to "anything" and
/// conditionals to a plain alternation of their branches. `None` for
/// anything it does not understand (then there is no prefilter).
fn relax(py: &str) -> Option<String> {
    let chars: Vec<char> = py.chars().collect();
    let mut out = String::with_capacity(py.len());
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                let next = *chars.get(i + 1)?;
                if next.is_ascii_digit() {
                    // Back-reference or octal escape: either way "anything"
                    // is wider, but give up on the ambiguous forms.
                    let mut j = i + 1;
                    while j < chars.len() && chars[j].is_ascii_digit() {
                        j += 1;
                    }
                    if next == '0' || j - i > 3 {
                        return None;
                    }
                    out.push_str("(?s:.*)");
                    i = j;
                    continue;
                }
                out.push('\\');
                out.push(next);
                i += 2;
            }
            '[' => {
                let end = class_end(&chars, i)?;
                out.extend(&chars[i..=end]);
                i = end + 1;
            }
            '(' => {
                let rest: String = chars[i..chars.len().min(i + 4)].iter().collect();
                if rest.starts_with("(?=")
                    || rest.starts_with("(?!")
                    || rest.starts_with("(?<=")
                    || rest.starts_with("(?<!")
                {
                    let end = group_end(&chars, i)?;
                    // A look-around may be quantified (`(?=x)?`); the
                    // quantifier then applies to an empty group.
                    out.push_str("(?:)");
                    i = end + 1;
                } else if rest.starts_with("(?P=") {
                    let end = i + chars[i..].iter().position(|&c| c == ')')?;
                    out.push_str("(?s:.*)");
                    i = end + 1;
                } else if rest.starts_with("(?(") {
                    let close = i + chars[i..].iter().position(|&c| c == ')')?;
                    out.push_str("(?:");
                    i = close + 1;
                } else if rest.starts_with("(?>") || rest.starts_with("(?#") {
                    return None;
                } else {
                    out.push('(');
                    i += 1;
                }
            }
            // Possessive quantifiers (`a++`) would make the result fancy.
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(out)
}

/// Index of the `]` closing the class that opens at `start`.
fn class_end(chars: &[char], start: usize) -> Option<usize> {
    let mut j = start + 1;
    if chars.get(j) == Some(&'^') {
        j += 1;
    }
    // A `]` right at the start is a literal.
    if chars.get(j) == Some(&']') {
        j += 1;
    }
    while j < chars.len() {
        match chars[j] {
            '\\' => j += 2,
            ']' => return Some(j),
            _ => j += 1,
        }
    }
    None
}

/// Index of the `)` closing the group that opens at `start`.
fn group_end(chars: &[char], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut j = start;
    while j < chars.len() {
        match chars[j] {
            '\\' => j += 1,
            '[' => j = class_end(chars, j)?,
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
        j += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relaxes_fancy_parts() {
        assert_eq!(
            relax(r"(?=^|\b|\W)((?P<d>\d)(?P<s>[-/])\d(?P=s))(?=\b|\W|$)").unwrap(),
            r"(?:)((?P<d>\d)(?P<s>[-/])\d(?s:.*))(?:)"
        );
        assert_eq!(
            relax(r"((?P<q>(?<=^\[))?\d)(?(q)(?=\]))").unwrap(),
            r"((?P<q>(?:))?\d)(?:(?:))"
        );
        assert_eq!(relax(r"[(?=](a)\1").unwrap(), r"[(?=](a)(?s:.*)");
        assert_eq!(relax(r"[]()](?=x)").unwrap(), r"[]()](?:)");
        assert!(relax(r"(?>a)").is_none());
        assert!(relax(r"\0").is_none());
        assert!(relax(r"\123").is_none());
    }

    #[test]
    fn builds_linear_prefilters() {
        let p = build(r"(?iu)(?=^|\b|\W)((?P<b>jan|feb) (?P<d>\d\d))(?=\b|\W|$)").unwrap();
        assert!(p.is_match("x Jan 23"));
        assert!(!p.is_match("no date"));
    }
}
