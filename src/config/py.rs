//! Python string semantics that fail2ban's config handling leans on.
//!
//! fail2ban runs on CPython: `str.strip()`, `str.lower()`, `\s`, `\w` and
//! `int()` decide what a config value becomes. Rust's closest built-ins
//! differ at the edges (Python counts U+001C..U+001F as whitespace, `int()`
//! accepts `_` between digits), so the config code goes through these.

/// `str.isspace()` / regex `\s` for one character.
pub(crate) fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Regex `\w` on a `str` pattern (Unicode letters, digits and `_`).
pub(crate) fn is_word(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// `str.strip()` without arguments.
pub(crate) fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// `str.rstrip()` without arguments.
pub(crate) fn rstrip(s: &str) -> &str {
    s.trim_end_matches(is_space)
}

/// `str.lower()`, which is what `ConfigParser.optionxform` applies to
/// every option name (and to every `%(name)s` reference).
pub(crate) fn lower(s: &str) -> String {
    s.to_lowercase()
}

/// `int(s)` for a decimal string: surrounding whitespace, one sign,
/// single underscores between digits. `None` where Python raises.
pub(crate) fn parse_int(s: &str) -> Option<i64> {
    let s = strip(s);
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if digits.is_empty() || digits.starts_with('_') || digits.ends_with('_') {
        return None;
    }
    let mut value: i64 = 0;
    let mut prev_underscore = false;
    for c in digits.chars() {
        if c == '_' {
            if prev_underscore {
                return None;
            }
            prev_underscore = true;
            continue;
        }
        prev_underscore = false;
        let d = c.to_digit(10)?;
        value = value.checked_mul(10)?.checked_add(i64::from(d))?;
    }
    Some(if neg { -value } else { value })
}

/// Python's `s[~5:]`: the last six characters.
pub(crate) fn last_chars(s: &str, n: usize) -> &str {
    match s.char_indices().rev().nth(n.saturating_sub(1)) {
        Some((i, _)) if n > 0 => &s[i..],
        _ if n == 0 => "",
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_matches_python() {
        // '\x1c'.isspace() is True in Python, false for Rust's is_whitespace.
        assert!(is_space('\u{1c}'));
        assert!(is_space('\u{a0}'));
        assert!(!is_space('\u{200b}'));
        assert_eq!(strip("\u{1f} a b\t\n"), "a b");
    }

    #[test]
    fn int_matches_python() {
        assert_eq!(parse_int(" 12 "), Some(12));
        assert_eq!(parse_int("+3"), Some(3));
        assert_eq!(parse_int("-1_0"), Some(-10));
        assert_eq!(parse_int("1__0"), None);
        assert_eq!(parse_int("_1"), None);
        assert_eq!(parse_int("0x10"), None);
        assert_eq!(parse_int(""), None);
        assert_eq!(parse_int("1.0"), None);
    }

    #[test]
    fn last_chars_is_python_slice() {
        assert_eq!(last_chars("sshd.conf", 6), "d.conf");
        assert_eq!(last_chars("ab", 6), "ab");
        assert_eq!(last_chars("é.conf!", 6), ".conf!");
    }
}
