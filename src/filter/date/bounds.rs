//! How fail2ban wraps a date regex: capture group, word or line-start
//! boundaries, `**` opt-outs, global flags.
//!
//! These are text rewrites of the Python regex, done before it is
//! compiled; they decide where a date may start and end and which part is
//! cut out of the line (group 1), so they follow fail2ban's rules to the
//! character, quirks included.

use std::sync::LazyLock;

use regex::Regex;

pub(crate) const LINE_BEGIN: u8 = 8;
pub(crate) const LINE_END: u8 = 4;
pub(crate) const WORD_BEGIN: u8 = 2;
pub(crate) const WORD_END: u8 = 1;

const WORD_BEGIN_RE: &str = r"(?=^|\b|\W)";
const LINE_BEGIN_RE: &str = r"^(?:\W{0,2})?";
const WORD_END_RE: &str = r"(?=\b|\W|$)";

/// Where a date may begin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Begin {
    /// Anywhere (`{UNB}`, or the regex carries its own anchor).
    Anywhere,
    /// At a word start.
    Word,
    /// At the line start after at most two non-word characters (`{^LN-BEG}`).
    Line,
}

// Each of these is one of fail2ban's own checks on the regex text; the
// `regex` crate runs them because none needs look-around.
static NO_WORD_BOUND_BEGIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\(*(?:\(\?\w+\))?(?:\^|\(*\*\*|\((?:\?:)?\^)").expect("static regex")
});
static GROUP_WRAP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^((?:\(\?\w+\))?\^?(?:\(\?\w+\))?)(.*?)(\$?)$").expect("static regex")
});
static LEADING_STARS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\(*(?:\(\?\w+\))?\(*\*\*").expect("static regex"));
static FLAGS_GROUP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\(\?\w+\)").expect("static regex"));

/// Removes the first inline flags group like `(?iu)` wherever it is
/// (Python only accepts them at the start, so fail2ban moves them there).
fn take_global_flags(s: &str) -> (String, Option<String>) {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(off) = s[i..].find("(?") {
        let start = i + off;
        let mut j = start + 2;
        while j < b.len() && b[j].is_ascii_lowercase() {
            j += 1;
        }
        if j > start + 2 && j < b.len() && b[j] == b')' {
            let flags = s[start..=j].to_string();
            let rest = format!("{}{}", &s[..start], &s[j + 1..]);
            return (rest, Some(flags));
        }
        i = start + 1;
    }
    (s.to_string(), None)
}

fn char_before(s: &str, byte: usize) -> Option<char> {
    s[..byte].chars().next_back()
}

/// The regex already ends in something that bounds it (`$`, `\b`, `\s`,
/// or an explicit `**` opt-out), so no end boundary is added.
fn has_own_end(s: &str) -> bool {
    let not_escaped = |at: usize| char_before(s, at) != Some('\\');
    let ends = |suffix: &str| s.ends_with(suffix) && not_escaped(s.len() - suffix.len());
    if ends("$") || ends("$)") || ends(r"\b") || ends(r"\s") {
        return true;
    }
    let trimmed = s.trim_end_matches(')');
    trimmed.ends_with("**") && not_escaped(trimmed.len() - 2)
}

/// fail2ban's "already grouped" test: an unescaped `(` that opens a
/// capturing group (not `(?`, and not the condition of `(?(`).
fn has_capture_group(s: &str) -> bool {
    let b = s.as_bytes();
    (0..b.len()).any(|i| {
        b[i] == b'('
            && b.get(i + 1) != Some(&b'?')
            && (i == 0 || b[i - 1] != b'\\')
            && !(i >= 2 && &b[i - 2..i] == b"(?")
    })
}

/// Puts everything between a leading `^` (and flags) and a trailing `$`
/// into group 1.
fn wrap_group(s: &str) -> String {
    GROUP_WRAP.replace(s, "${1}(${2})${3}").into_owned()
}

fn anchored_at_line_begin(s: &str) -> bool {
    let try_at = |r: &str| {
        r.starts_with('^')
            || ["(?:^", "(^"].iter().any(|p| {
                r.strip_prefix(p)
                    .is_some_and(|after| !after.starts_with('|'))
            })
    };
    if let Some(m) = FLAGS_GROUP.find(s)
        && try_at(&s[m.end()..])
    {
        return true;
    }
    try_at(s)
}

fn anchored_at_line_end(s: &str) -> bool {
    let ok = |at: usize| !matches!(char_before(s, at), Some('\\' | '|'));
    (s.ends_with("$)") && ok(s.len() - 2)) || (s.ends_with('$') && ok(s.len() - 1))
}

/// Drops the `**` markers that opted out of a boundary.
fn remove_star_markers(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut from = 0;
    if let Some(m) = LEADING_STARS.find(s) {
        out.push_str(&m.as_str().replace("**", ""));
        from = m.end();
    }
    let trimmed = s.trim_end_matches(')');
    if trimmed.len() >= from + 2
        && trimmed.ends_with("**")
        && char_before(s, trimmed.len() - 2) != Some('\\')
    {
        out.push_str(&s[from..trimmed.len() - 2]);
        out.push_str(&s[trimmed.len()..]);
    } else {
        out.push_str(&s[from..]);
    }
    out
}

/// fail2ban's `DateTemplate.setRegex`: returns the final regex and flags;
/// a line-start template's name gains the `{^LN-BEG}` prefix.
pub(crate) fn set_regex(regex: &str, name: &mut String, begin: Begin, end: bool) -> (String, u8) {
    let (regex, flags_group) = take_global_flags(crate::py::strip(regex));
    let bound_begin = begin != Begin::Anywhere && !NO_WORD_BOUND_BEGIN.is_match(&regex);
    let bound_end = end && !has_own_end(&regex);
    let mut regex = if has_capture_group(&regex) {
        regex
    } else {
        wrap_group(&regex)
    };
    let mut flags = 0;
    if bound_begin {
        if begin == Begin::Line {
            flags |= LINE_BEGIN;
            regex.insert_str(0, LINE_BEGIN_RE);
            if !name.starts_with("{^LN-BEG}") {
                name.insert_str(0, "{^LN-BEG}");
            }
        } else {
            flags |= WORD_BEGIN;
            regex.insert_str(0, WORD_BEGIN_RE);
        }
    }
    if bound_end {
        flags |= WORD_END;
        regex.push_str(WORD_END_RE);
    }
    if flags & LINE_BEGIN == 0 && anchored_at_line_begin(&regex) {
        flags |= LINE_BEGIN;
    }
    if flags & LINE_END == 0 && anchored_at_line_end(&regex) {
        flags |= LINE_END;
    }
    let mut regex = remove_star_markers(&regex);
    if let Some(f) = flags_group {
        regex.insert_str(0, &f);
    }
    (regex, flags)
}

/// fail2ban's `unboundPattern`: strips the boundary markers a template
/// carries, so it can be embedded into a `{DATE}` pattern.
pub(crate) fn unbound_pattern(s: &str) -> String {
    let s = s.strip_prefix("{UNB}").unwrap_or(s);
    let s = s.strip_prefix("{^LN-BEG}").unwrap_or(s);
    let s = s
        .strip_prefix(r"(^|\b|\W)")
        .or_else(|| s.strip_prefix(r"(?:^|\b|\W)"))
        .unwrap_or(s);
    let s = s.strip_suffix(r"(?=\b|\W|$)").unwrap_or(s);
    s.to_string()
}

/// fail2ban turns on case-insensitive matching when the pattern has a
/// name directive (`%a %A %b %B %p %c`) not preceded by another `%`.
pub(crate) fn needs_ignore_case(pattern: &str) -> bool {
    let b = pattern.as_bytes();
    (0..b.len().saturating_sub(1))
        .any(|i| b[i] == b'%' && (i == 0 || b[i - 1] != b'%') && b"aAbBpc".contains(&b[i + 1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(regex: &str, begin: Begin, end: bool) -> (String, String, u8) {
        let mut name = String::from("N");
        let (r, f) = set_regex(regex, &mut name, begin, end);
        (r, name, f)
    }

    #[test]
    fn boundaries() {
        assert_eq!(
            run("abc", Begin::Word, true),
            (r"(?=^|\b|\W)(abc)(?=\b|\W|$)".into(), "N".into(), 3)
        );
        assert_eq!(
            run("abc", Begin::Line, true),
            (
                r"^(?:\W{0,2})?(abc)(?=\b|\W|$)".into(),
                "{^LN-BEG}N".into(),
                9
            )
        );
        assert_eq!(
            run("^abc$", Begin::Word, true),
            ("^(abc)$".into(), "N".into(), 12)
        );
        assert_eq!(
            run("**abc**", Begin::Word, true),
            ("(abc)".into(), "N".into(), 0)
        );
        assert_eq!(
            run("(?iu)x(a)", Begin::Word, true),
            (r"(?iu)(?=^|\b|\W)x(a)(?=\b|\W|$)".into(), "N".into(), 3)
        );
        assert_eq!(run(r"x\s", Begin::Anywhere, true).0, r"(x\s)");
        assert_eq!(run(r"x\$", Begin::Anywhere, true).0, r"(x\)$(?=\b|\W|$)");
    }

    #[test]
    fn group_detection() {
        assert!(has_capture_group("a(b)"));
        assert!(!has_capture_group("a(?:b)"));
        assert!(!has_capture_group(r"a\(b"));
        assert!(!has_capture_group("(?(x)a)"));
    }

    #[test]
    fn unbound() {
        assert_eq!(unbound_pattern("{^LN-BEG}%H"), "%H");
        assert_eq!(unbound_pattern(r"(?:^|\b|\W)x(?=\b|\W|$)"), "x");
    }

    #[test]
    fn ignore_case() {
        assert!(needs_ignore_case("%b %d"));
        assert!(!needs_ignore_case("%%b"));
        assert!(!needs_ignore_case("%%%b"));
        assert!(!needs_ignore_case("%Y"));
    }
}
