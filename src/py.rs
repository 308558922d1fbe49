//! Python's string and number semantics that fail2ban's behaviour leans on.
//!
//! fail2ban runs on CPython: `str.strip()`, `str.lower()`, `\s`, `\w`,
//! `int()` and `float()` decide what a config value or a log date becomes.
//! Rust's closest built-ins differ at the edges (Python counts U+001C..U+001F
//! as whitespace, `int()` accepts `_` between digits and every Unicode
//! decimal digit), so config and dates both go through these.

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

/// Python's `s[~5:]`: the last six characters.
pub(crate) fn last_chars(s: &str, n: usize) -> &str {
    match s.char_indices().rev().nth(n.saturating_sub(1)) {
        Some((i, _)) if n > 0 => &s[i..],
        _ if n == 0 => "",
        _ => s,
    }
}

/// First code point of every run of ten Unicode decimal digits (category
/// Nd, Unicode 14 as in Python 3.11); each run holds the values 0..=9.
const DIGIT_ZEROS: &[u32] = &[
    0x30, 0x660, 0x6f0, 0x7c0, 0x966, 0x9e6, 0xa66, 0xae6, 0xb66, 0xbe6, 0xc66, 0xce6, 0xd66,
    0xde6, 0xe50, 0xed0, 0xf20, 0x1040, 0x1090, 0x17e0, 0x1810, 0x1946, 0x19d0, 0x1a80, 0x1a90,
    0x1b50, 0x1bb0, 0x1c40, 0x1c50, 0xa620, 0xa8d0, 0xa900, 0xa9d0, 0xa9f0, 0xaa50, 0xabf0, 0xff10,
    0x104a0, 0x10d30, 0x11066, 0x110f0, 0x11136, 0x111d0, 0x112f0, 0x11450, 0x114d0, 0x11650,
    0x116c0, 0x11730, 0x118e0, 0x11950, 0x11c50, 0x11d50, 0x11da0, 0x16a60, 0x16ac0, 0x16b50,
    0x1d7ce, 0x1d7d8, 0x1d7e2, 0x1d7ec, 0x1d7f6, 0x1e140, 0x1e2f0, 0x1e950, 0x1fbf0,
];

/// Value of a decimal digit as Python's `unicodedata.decimal`.
pub(crate) fn py_digit(c: char) -> Option<u32> {
    if c.is_ascii_digit() {
        return Some(c as u32 - 0x30);
    }
    let cp = c as u32;
    let i = DIGIT_ZEROS.partition_point(|&z| z <= cp);
    let zero = *DIGIT_ZEROS.get(i.checked_sub(1)?)?;
    (cp - zero < 10).then_some(cp - zero)
}

/// Python's `int(text)`: surrounding whitespace, a sign, digits with single
/// underscores between them. `None` where Python raises (or the value does
/// not fit an i64, which no valid date needs).
pub(crate) fn py_int(text: &str) -> Option<i64> {
    // Dates give short runs of ASCII digits: the common case, done simply.
    let b = text.as_bytes();
    if !b.is_empty() && b.len() <= 18 && b.iter().all(u8::is_ascii_digit) {
        return Some(b.iter().fold(0i64, |v, d| v * 10 + i64::from(d - b'0')));
    }
    let t = text.trim_matches(is_space);
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut value: i64 = 0;
    let mut any = false;
    let mut last_underscore = false;
    for c in body.chars() {
        if c == '_' {
            if !any || last_underscore {
                return None;
            }
            last_underscore = true;
            continue;
        }
        let d = py_digit(c)?;
        value = value.checked_mul(10)?.checked_add(i64::from(d))?;
        any = true;
        last_underscore = false;
    }
    if !any || last_underscore {
        return None;
    }
    Some(if neg { -value } else { value })
}

/// Python's `float(text)` for the digits-and-dot texts the epoch
/// templates capture (their regexes allow nothing else).
pub(crate) fn py_float(text: &str) -> Option<f64> {
    if text.is_ascii() {
        return text.parse().ok();
    }
    let ascii: String = text
        .chars()
        .map(|c| py_digit(c).map_or(c, |d| char::from(b'0' + d as u8)))
        .collect();
    ascii.parse().ok()
}

/// Python's `repr()` of a string.
pub(crate) fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
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
        assert_eq!(py_int(" 12 "), Some(12));
        assert_eq!(py_int("+3"), Some(3));
        assert_eq!(py_int("-1_0"), Some(-10));
        assert_eq!(py_int("1__0"), None);
        assert_eq!(py_int("_1"), None);
        assert_eq!(py_int("0x10"), None);
        assert_eq!(py_int(""), None);
        assert_eq!(py_int("1.0"), None);
        assert_eq!(py_int(" 3"), Some(3));
        assert_eq!(py_int("07"), Some(7));
        assert_eq!(py_int("-5"), Some(-5));
        assert_eq!(py_int("1_0"), Some(10));
        assert_eq!(py_int("\u{663}\u{661}"), Some(31));
        assert_eq!(py_int("\u{ff12}\u{ff10}"), Some(20));
        assert_eq!(py_int("1a"), None);
        assert_eq!(py_int("99999999999999999999999"), None);
    }

    #[test]
    fn last_chars_is_python_slice() {
        assert_eq!(last_chars("sshd.conf", 6), "d.conf");
        assert_eq!(last_chars("ab", 6), "ab");
        assert_eq!(last_chars("é.conf!", 6), ".conf!");
    }

    #[test]
    fn digits() {
        assert_eq!(py_digit('\u{1d7ff}'), Some(9));
        assert_eq!(py_digit('\u{1d7ce}'), Some(0));
        assert_eq!(py_digit('\u{669}'), Some(9));
        assert_eq!(py_digit('\u{66a}'), None);
        assert_eq!(py_digit('a'), None);
    }

    #[test]
    fn floats() {
        assert_eq!(py_float("1700000000.5"), Some(1_700_000_000.5));
        assert_eq!(py_float("\u{661}\u{662}"), Some(12.0));
    }
}
