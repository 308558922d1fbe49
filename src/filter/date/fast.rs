//! Regex-free matching of the two commonest line-start dates (syslog
//! `Jan 23 21:59:59` and ISO `2005-01-23 21:59:59`), because date
//! detection runs on every log line before any filter regex.
//!
//! Each matcher answers for the exact fail2ban template regex: it returns
//! a match only for the plain, unambiguous shapes where it can tell that
//! the regex (with its backtracking order) would take the same path, a
//! definite "no match" only where no path can exist, and "unsure" for
//! everything else, which then goes to the regex. Tests compare both
//! paths on many lines.

use super::defaults::{ISO_AT_LINE_START, SYSLOG_AT_LINE_START};
use super::directives::YearSpan;
use super::strptime::{FAST_FIELDS, Fields, Key};

/// The fields of a fast-path date.
pub(crate) type FastFields<'t> = Fields<'t, FAST_FIELDS>;
use super::template::Recipe;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FastKind {
    Syslog,
    Iso,
}

// The match is the hot variant; boxing it would allocate per line.
#[allow(clippy::large_enum_variant)]
pub(crate) enum FastResult<'t> {
    Match {
        whole: (usize, usize),
        date: (usize, usize),
        fields: FastFields<'t>,
    },
    NoMatch,
    Unsure,
}

pub(crate) fn kind_for(recipe: &Recipe) -> Option<FastKind> {
    match recipe {
        Recipe::Pattern(p) if p == SYSLOG_AT_LINE_START => Some(FastKind::Syslog),
        Recipe::Pattern(p) if p == ISO_AT_LINE_START => Some(FastKind::Iso),
        _ => None,
    }
}

pub(crate) fn search<'t>(kind: FastKind, line: &'t str, years: &YearSpan) -> FastResult<'t> {
    let r = match kind {
        FastKind::Syslog => syslog(line, years),
        FastKind::Iso => iso(line, years),
    };
    r.unwrap_or(FastResult::Unsure)
}

fn word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Cursor over the line's bytes; every accessor answers `None` past the
/// end, which the matchers turn into "unsure".
struct Cur<'t> {
    s: &'t str,
    b: &'t [u8],
}

impl<'t> Cur<'t> {
    fn at(&self, i: usize) -> Option<u8> {
        self.b.get(i).copied()
    }

    fn is(&self, i: usize, c: u8) -> bool {
        self.at(i) == Some(c)
    }

    fn digit(&self, i: usize) -> bool {
        self.at(i).is_some_and(|c| c.is_ascii_digit())
    }

    fn text(&self, from: usize, to: usize) -> &'t str {
        &self.s[from..to]
    }

    /// fail2ban's end boundary `(?=\b|\W|$)` after a word character:
    /// `Some(true)` at the end or before an ASCII non-word character,
    /// `Some(false)` before an ASCII word character, `None` (unsure)
    /// before anything non-ASCII.
    fn ends_word(&self, i: usize) -> Option<bool> {
        match self.at(i) {
            None => Some(true),
            Some(c) if c.is_ascii() => Some(!word(c)),
            Some(_) => None,
        }
    }
}

/// A verdict reached before looking at the date itself.
enum Early {
    NoMatch,
    Unsure,
}

/// Where the date body starts after fail2ban's `^(?:\W{0,2})?`, or the
/// final answer if that is already clear. Positions before it are
/// non-word characters, where no body (which starts with a word
/// character) can begin.
fn body_start(c: &Cur<'_>) -> Result<usize, Early> {
    let mut k = 0;
    while k < 3 {
        match c.at(k) {
            None => break,
            Some(x) if !x.is_ascii() => return Err(Early::Unsure),
            Some(x) if word(x) => break,
            Some(_) => k += 1,
        }
    }
    if k == 3 || k == c.b.len() {
        return Err(Early::NoMatch);
    }
    Ok(k)
}

fn lower3(c: &Cur<'_>, i: usize) -> Option<[u8; 3]> {
    let s = c.b.get(i..i + 3)?;
    Some([
        s[0].to_ascii_lowercase(),
        s[1].to_ascii_lowercase(),
        s[2].to_ascii_lowercase(),
    ])
}

const DAYS: [&[u8; 3]; 7] = [b"mon", b"tue", b"wed", b"thu", b"fri", b"sat", b"sun"];
const MONTHS: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

/// `%d` as two characters where the regex's alternatives can only end
/// after both: `[12]\d`, `0[1-9]`, ` [1-9]`, `3[01]`.
fn two_char_day(c: &Cur<'_>, i: usize) -> bool {
    match (c.at(i), c.at(i + 1)) {
        (Some(b'1' | b'2'), Some(d)) => d.is_ascii_digit(),
        (Some(b'0' | b' '), Some(d)) => (b'1'..=b'9').contains(&d),
        (Some(b'3'), Some(d)) => d == b'0' || d == b'1',
        _ => false,
    }
}

/// `HH:MM:SS` with two digits each, as `%H`/`%k`, `%M`, `%S` take them;
/// `h24` limits the hour to 00..23 (`%H`) instead of 00..29 (`%k`).
fn hms(c: &Cur<'_>, i: usize, h24: bool) -> bool {
    let hour = match (c.at(i), c.at(i + 1)) {
        (Some(b'0' | b'1'), Some(d)) => d.is_ascii_digit(),
        (Some(b'2'), Some(d)) => d.is_ascii_digit() && (!h24 || d <= b'3'),
        _ => false,
    };
    let min = matches!(c.at(i + 3), Some(b'0'..=b'5')) && c.digit(i + 4);
    let sec = match (c.at(i + 6), c.at(i + 7)) {
        (Some(b'0'..=b'5'), Some(d)) => d.is_ascii_digit(),
        (Some(b'6'), Some(d)) => d == b'0' || d == b'1',
        _ => false,
    };
    hour && c.is(i + 2, b':') && min && c.is(i + 5, b':') && sec
}

fn push_hms<'t>(f: &mut FastFields<'t>, c: &Cur<'t>, i: usize) {
    f.push(Key::H, c.text(i, i + 2));
    f.push(Key::M, c.text(i + 3, i + 5));
    f.push(Key::S, c.text(i + 6, i + 8));
}

/// A fraction `[.,]` + 1..=6 digits at `i` (`seps` says which separators
/// the template allows): its end, `Some(None)` if there is none, `None`
/// if unsure (7+ digits make the regex back off in ways not mirrored).
fn fraction(c: &Cur<'_>, i: usize, seps: &[u8]) -> Option<Option<usize>> {
    if !c.at(i).is_some_and(|x| seps.contains(&x)) {
        return Some(None);
    }
    let n = c.b[i + 1..]
        .iter()
        .take_while(|x| x.is_ascii_digit())
        .count();
    match n {
        0 => Some(None),
        1..=6 => Some(Some(i + 1 + n)),
        _ => None,
    }
}

/// `{^LN-BEG}(?:%a )?%b %d %k:%M:%S(?:\.%f)?(?: %ExY)?`, case-insensitive.
fn syslog<'t>(line: &'t str, years: &YearSpan) -> Option<FastResult<'t>> {
    let c = Cur {
        s: line,
        b: line.as_bytes(),
    };
    let k = match body_start(&c) {
        Ok(k) => k,
        Err(Early::NoMatch) => return Some(FastResult::NoMatch),
        Err(Early::Unsure) => return None,
    };
    if c.digit(k) || c.is(k, b'_') {
        return Some(FastResult::NoMatch);
    }
    let mut f = FastFields::new();
    let mut i = k;
    if let Some(w) = lower3(&c, i)
        && DAYS.contains(&&w)
        && c.is(i + 3, b' ')
    {
        f.push(Key::AbbrDay, c.text(i, i + 3));
        i += 4;
    }
    let m = lower3(&c, i)?;
    if !MONTHS.contains(&&m) || !c.is(i + 3, b' ') || !two_char_day(&c, i + 4) {
        return None;
    }
    f.push(Key::AbbrMonth, c.text(i, i + 3));
    f.push(Key::D, c.text(i + 4, i + 6));
    i += 6;
    // Exactly one space before a two-digit hour.
    if !c.is(i, b' ') || !c.digit(i + 1) || !hms(&c, i + 1, false) {
        return None;
    }
    push_hms(&mut f, &c, i + 1);
    let mut end = i + 9;
    if let Some(fe) = fraction(&c, end, b".")? {
        if !c.ends_word(fe)? {
            return None;
        }
        f.push(Key::F, c.text(end + 1, fe));
        end = fe;
    }
    // The year is taken only if a word boundary follows it; otherwise the
    // regex gives it up and ends before the space.
    if c.is(end, b' ')
        && c.b
            .get(end + 1..end + 4)
            .is_some_and(|d| years.accepts_decade(d))
    {
        match c.at(end + 4) {
            Some(d) if d.is_ascii_digit() && c.ends_word(end + 5)? => {
                f.push(Key::Y, c.text(end + 1, end + 5));
                end += 5;
            }
            // Possibly a non-ASCII digit, which `\d` accepts.
            Some(d) if !d.is_ascii() => return None,
            _ => {}
        }
    }
    if !c.ends_word(end)? {
        return None;
    }
    Some(FastResult::Match {
        whole: (0, end),
        date: (k, end),
        fields: f,
    })
}

/// `{^LN-BEG}%ExY(?P<_sep>[-/.])%m(?P=_sep)%d(?:T|  ?)%H:%M:%S(?:[.,]%f)?(?:\s*%z)?`
fn iso<'t>(line: &'t str, years: &YearSpan) -> Option<FastResult<'t>> {
    let c = Cur {
        s: line,
        b: line.as_bytes(),
    };
    let k = match body_start(&c) {
        Ok(k) => k,
        Err(Early::NoMatch) => return Some(FastResult::NoMatch),
        Err(Early::Unsure) => return None,
    };
    if let (Some(first), Some(x)) = (years.common_first_byte(), c.at(k))
        && x != first
    {
        return Some(FastResult::NoMatch);
    }
    if !c.b.get(k..k + 4).is_some_and(|y| years.accepts(y)) {
        return None;
    }
    let sep = c.at(k + 4).filter(|s| b"-/.".contains(s))?;
    let mut f = FastFields::new();
    f.push(Key::Y, c.text(k, k + 4));
    let mut i = k + 5;
    let month_len = match (c.at(i), c.at(i + 1)) {
        (Some(b'0'), Some(b'1'..=b'9')) | (Some(b'1'), Some(b'0'..=b'2')) => 2,
        (Some(b'1'..=b'9'), Some(s)) if s == sep => 1,
        _ => return None,
    };
    f.push(Key::LowM, c.text(i, i + month_len));
    i += month_len;
    if !c.is(i, sep) || !two_char_day(&c, i + 1) || c.is(i + 1, b' ') {
        return None;
    }
    f.push(Key::D, c.text(i + 1, i + 3));
    i += 3;
    let single_space = c.is(i, b' ') && c.digit(i + 1);
    if !(c.is(i, b'T') || single_space) || !hms(&c, i + 1, true) {
        return None;
    }
    push_hms(&mut f, &c, i + 1);
    let mut end = i + 9;
    if let Some(fe) = fraction(&c, end, b".,")? {
        f.push(Key::F, c.text(end + 1, fe));
        end = fe;
    }
    // `(?:\s*%z)?`: spaces/tabs, then Z, UTC, GMT or [+-][01]d[[:]dd].
    let mut z = end;
    while matches!(c.at(z), Some(b' ' | b'\t')) {
        z += 1;
    }
    // Other characters Python's `\s` knows (and anything non-ASCII, which
    // may be one) are left to the regex.
    if matches!(
        c.at(z),
        Some(b'\n' | b'\r' | 0x0b | 0x0c | 0x1c..=0x1f | 0x80..)
    ) {
        return None;
    }
    // `\d` in the offset also takes non-ASCII digits.
    if matches!(c.at(z), Some(b'+' | b'-')) && c.b[z..].iter().take(6).any(|x| !x.is_ascii()) {
        return None;
    }
    let zone_len = match c.at(z) {
        Some(b'Z') => Some(1),
        Some(b'U') if c.b[z..].starts_with(b"UTC") => Some(3),
        Some(b'G') if c.b[z..].starts_with(b"GMT") => Some(3),
        Some(b'+' | b'-') if matches!(c.at(z + 1), Some(b'0' | b'1')) && c.digit(z + 2) => {
            if c.is(z + 3, b':') && c.digit(z + 4) && c.digit(z + 5) {
                Some(6)
            } else if c.digit(z + 3) && c.digit(z + 4) {
                Some(5)
            } else {
                Some(3)
            }
        }
        _ => None,
    };
    if let Some(n) = zone_len {
        if !c.ends_word(z + n)? {
            return None;
        }
        f.push(Key::LowZ, c.text(z, z + n));
        end = z + n;
    } else if z == end && !c.ends_word(end)? {
        return None;
    }
    Some(FastResult::Match {
        whole: (0, end),
        date: (k, end),
        fields: f,
    })
}
