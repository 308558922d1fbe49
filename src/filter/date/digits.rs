//! Python's `int()` and `float()` on the text a date regex captured.
//!
//! Python's `\d` matches every Unicode decimal digit and `int()` converts
//! them, so a date written in, say, Arabic-Indic digits parses in
//! fail2ban; Rust's `parse` only knows ASCII. This keeps the two equal.

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

/// Python's `str.isspace` (Rust's `is_whitespace` lacks U+001C..U+001F).
pub(crate) fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `int(text)`: surrounding whitespace, a sign, digits with single
/// underscores between them. `None` where Python raises (or the value does
/// not fit an i64, which no valid date needs).
pub(crate) fn py_int(text: &str) -> Option<i64> {
    let t = text.trim_matches(py_space);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints() {
        assert_eq!(py_int(" 3"), Some(3));
        assert_eq!(py_int("07"), Some(7));
        assert_eq!(py_int("-5"), Some(-5));
        assert_eq!(py_int("1_0"), Some(10));
        assert_eq!(py_int("\u{663}\u{661}"), Some(31));
        assert_eq!(py_int("\u{ff12}\u{ff10}"), Some(20));
        assert_eq!(py_int(""), None);
        assert_eq!(py_int("_1"), None);
        assert_eq!(py_int("1__0"), None);
        assert_eq!(py_int("1a"), None);
        assert_eq!(py_int("99999999999999999999999"), None);
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
