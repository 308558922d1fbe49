//! fail2ban's default date templates and the `datepattern` keywords that
//! expand to them (`{^LN-BEG}`, `{DEFAULT}`, `{DATE}`), plus the mapping
//! from one `datepattern` line to a template recipe.
//!
//! The order matters: the detector tries templates in this order until
//! hits reorder them, and `fail2ban-regex` lists them in it.

use super::DateError;
use super::bounds::{self, LINE_BEGIN};
use super::directives::YearSpan;
use super::template::{Recipe, Template, epoch_placeholders};

/// Syslog `Jan 23 21:59:59` at line start: the commonest form.
pub(crate) const SYSLOG_AT_LINE_START: &str = r"{^LN-BEG}(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?";
/// ISO 8601 `2005-01-23 21:59:59.123+01:00` at line start.
pub(crate) const ISO_AT_LINE_START: &str =
    r"{^LN-BEG}%ExY(?P<_sep>[-/.])%m(?P=_sep)%d(?:T|  ?)%H:%M:%S(?:[.,]%f)?(?:\s*%z)?";

/// fail2ban 1.0.2's `DEFAULT_TEMPLATES`, in its order.
const DEFAULT_PATTERNS: [&str; 17] = [
    // ISO 8601 and simple dates: 2005-01-23T21:59:59.981746, 2005/01/23 21:59:59
    r"%ExY(?P<_sep>[-/.])%m(?P=_sep)%d(?:T|  ?)%H:%M:%S(?:[.,]%f)?(?:\s*%z)?",
    // asctime / syslog: Sun Jan 23 21:59:59.011 2005
    r"(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    // Sun Jan 23 2005 21:59:59.011
    r"(?:%a )?%b %d %ExY %k:%M:%S(?:\.%f)?",
    // 23/01/2005 21:59:59, 23/01/05 21:59:59, 17-07-2008 17:23:25
    r"%d(?P<_sep>[-/])%m(?P=_sep)(?:%ExY|%Exy) %k:%M:%S",
    // Apache: [31/Oct/2006:09:22:55 -0000], 26-Jul-2007 15:20:52.252 +0200
    r"%d(?P<_sep>[-/])%b(?P=_sep)%ExY[ :]?%H:%M:%S(?:\.%f)?(?: %z)?",
    // CPanel 05/20/2008:01:57:39
    r"%m/%d/%ExY:%H:%M:%S",
    // 01-27-2012 16:22:44.252
    r"%m-%d-%ExY %k:%M:%S(?:\.%f)?",
    "EPOCH",
    // Only a time of day
    r"{^LN-BEG}%H:%M:%S",
    // <09/16/08@05:03:30>
    r"^<%m/%d/%Exy@%H:%M:%S>",
    // MySQL: 130322 11:46:11
    r"%Exy%Exm%Exd  ?%H:%M:%S",
    // Apache Tomcat: Jan 23, 2005 9:59:59 PM
    r"%b %d, %ExY %I:%M:%S %p",
    // ASSP: Apr-27-13 02:33:06
    r"^%b-%d-%Exy %k:%M:%S",
    // 20050123T215959, 20050123 215959
    r"%ExY%Exm%Exd(?:T|  ?)%ExH%ExM%ExS(?:[.,]%f)?(?:\s*%z)?",
    // monit: PDT Apr 16 21:05:29
    r"(?:%Z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    // +00:00 Jan 23 21:59:59.011 2005
    r"(?:%z )?(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?",
    "TAI64N",
];

/// fail2ban's `_getPatternTemplate`: keywords (any case when the line has
/// no `%`) select the epoch and TAI64N templates, anything else is a
/// strptime-style pattern. Note `ISO8601` is no keyword in 1.0.2: it is
/// the literal text "ISO8601".
pub(crate) fn recipe_for(pattern: &str) -> Recipe {
    let key = if pattern.contains('%') {
        pattern.to_string()
    } else {
        pattern.to_uppercase()
    };
    if key.contains("EPOCH") {
        if !epoch_placeholders(pattern).is_empty() {
            return Recipe::Epoch {
                line_begin_only: false,
                pattern: Some(pattern.to_string()),
                long: key.contains("LEPOCH"),
            };
        }
        for (word, long) in [("EPOCH", false), ("LEPOCH", true)] {
            if key == word {
                return Recipe::Epoch {
                    line_begin_only: false,
                    pattern: None,
                    long,
                };
            }
            if key == format!("{{^LN-BEG}}{word}") || key == format!("^{word}") {
                return Recipe::Epoch {
                    line_begin_only: true,
                    pattern: None,
                    long,
                };
            }
        }
    }
    match key.as_str() {
        "TAI64N" => Recipe::Tai64n { line_start: false },
        "{^LN-BEG}TAI64N" | "^TAI64N" => Recipe::Tai64n { line_start: true },
        _ => Recipe::Pattern(pattern.to_string()),
    }
}

/// The template `{NONE}` stands for: matches an empty date at line start.
pub(crate) fn none_recipe() -> Recipe {
    Recipe::Pattern("{UNB}^".to_string())
}

/// fail2ban's 17 defaults as built templates.
fn plain_defaults(years: &YearSpan) -> Vec<Template> {
    DEFAULT_PATTERNS
        .iter()
        .map(|p| Template::build(recipe_for(p), years).expect("default date template"))
        .collect()
}

/// fail2ban's full default list: a line-start copy (weight 100) of each
/// default not already anchored, all of those first, then the 17 defaults.
pub(crate) fn default_templates(years: &YearSpan) -> Vec<Template> {
    let plain = plain_defaults(years);
    let mut anchored = Vec::new();
    for t in &plain {
        if t.name.starts_with("{^LN-BEG}") || t.name.starts_with('^') {
            continue;
        }
        let recipe = match &t.recipe {
            Recipe::Pattern(p) => recipe_for(&format!("{{^LN-BEG}}{p}")),
            _ => recipe_for(&format!("{{^LN-BEG}}{}", t.name)),
        };
        let mut copy = Template::build(recipe, years).expect("default date template");
        if copy.name != t.name {
            copy.weight = 100.0;
            anchored.push(copy);
        }
    }
    anchored.extend(plain);
    anchored
}

/// Defaults for the `{^LN-BEG}` keyword: the line-start anchored ones.
pub(crate) fn line_start_templates(years: &YearSpan) -> Vec<Template> {
    default_templates(years)
        .into_iter()
        .filter(|t| t.flags & LINE_BEGIN != 0)
        .collect()
}

/// Replaces every `{DATE}` (any case, not after a backslash) by `with`.
fn replace_date_marker(pre: &str, with: &str) -> String {
    let lower = pre.to_ascii_lowercase();
    let mut out = String::with_capacity(pre.len() + with.len());
    let mut last = 0;
    let mut i = 0;
    while let Some(off) = lower[i..].find("{date}") {
        let at = i + off;
        if !pre[..at].ends_with('\\') {
            out.push_str(&pre[last..at]);
            out.push_str(with);
            last = at + 6;
        }
        i = at + 6;
    }
    out.push_str(&pre[last..]);
    out
}

/// Templates for a `datepattern` line containing `{DATE}`: each of the 17
/// defaults, boundary markers removed, put in place of `{DATE}`.
pub(crate) fn date_templates(pre: &str, years: &YearSpan) -> Result<Vec<Template>, DateError> {
    plain_defaults(years)
        .into_iter()
        .map(|t| {
            let recipe = match &t.recipe {
                Recipe::Pattern(p) => {
                    recipe_for(&replace_date_marker(pre, &bounds::unbound_pattern(p)))
                }
                _ => recipe_for(&replace_date_marker(pre, &bounds::unbound_pattern(&t.name))),
            };
            Template::build(recipe, years)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords() {
        assert!(matches!(
            recipe_for("{^LN-BEG}Epoch"),
            Recipe::Epoch {
                line_begin_only: true,
                pattern: None,
                long: false
            }
        ));
        assert!(matches!(
            recipe_for("lepoch"),
            Recipe::Epoch { long: true, .. }
        ));
        assert!(matches!(
            recipe_for("^TAI64N"),
            Recipe::Tai64n { line_start: true }
        ));
        assert!(matches!(recipe_for("ISO8601"), Recipe::Pattern(_)));
        assert!(matches!(
            recipe_for(r"^\[{EPOCH}\]"),
            Recipe::Epoch {
                pattern: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn date_marker() {
        assert_eq!(replace_date_marker("^x{DATE}y{date}", "D"), "^xDyD");
        assert_eq!(replace_date_marker(r"\{DATE}", "D"), r"\{DATE}");
    }

    #[test]
    fn default_counts() {
        let y = YearSpan::for_year(2026);
        assert_eq!(default_templates(&y).len(), 31);
        assert_eq!(line_start_templates(&y).len(), 17);
    }
}
