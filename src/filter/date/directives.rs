//! strptime-style `%` directives of a `datepattern`, as fail2ban 1.0.2
//! expands them.
//!
//! Each directive becomes a Python regex fragment with a named group
//! (`%Y` → `(?P<Y>\d{4})`) and, for the template's display name, a word
//! (`%Y` → `Year`). The regex texts must be fail2ban's exactly: they decide
//! which text is a date, and `fail2ban-regex --VD` prints them.

use std::fmt::Write as _;

/// One directive: its key after `%`, regex fragment, display name.
struct Directive {
    key: &'static str,
    regex: &'static str,
    name: &'static str,
}

const fn d(key: &'static str, regex: &'static str, name: &'static str) -> Directive {
    Directive { key, regex, name }
}

/// `%ExY` is computed from the current year (see `YearSpan`).
const EX_YEAR: &str = "ExY";

/// English (C locale) names, as fail2ban runs; the alternatives' order is
/// Python's `_strptime` order (longest first), which matters for matching.
const DIRECTIVES: &[Directive] = &[
    d("%", "%", "%"),
    d("a", r"(?P<a>mon|tue|wed|thu|fri|sat|sun)", "DAY"),
    d(
        "A",
        r"(?P<A>wednesday|thursday|saturday|tuesday|monday|friday|sunday)",
        "DAYNAME",
    ),
    d(
        "b",
        r"(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)",
        "MON",
    ),
    d(
        "B",
        r"(?P<B>september|february|november|december|january|october|august|march|april|june|july|may)",
        "MONTH",
    ),
    d(
        "c",
        r"(?P<a>mon|tue|wed|thu|fri|sat|sun)\s+(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\s+(?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])\s+(?P<H>2[0-3]|[0-1]\d|\d):(?P<M>[0-5]\d|\d):(?P<S>6[0-1]|[0-5]\d|\d)\s+(?P<Y>\d\d\d\d)",
        "%c",
    ),
    d("d", r"(?P<d>[1-2]\d|[0 ]?[1-9]|3[0-1])", "Day"),
    d("f", r"(?P<f>[0-9]{1,6})", "Microseconds"),
    d("G", r"(?P<G>\d\d\d\d)", "%G"),
    d("H", r"(?P<H>[0-1]?\d|2[0-3])", "24hour"),
    d("I", r"(?P<I>1[0-2]|0[1-9]|[1-9])", "12hour"),
    d(
        "j",
        r"(?P<j>36[0-6]|3[0-5]\d|[1-2]\d\d|0[1-9]\d|00[1-9]|[1-9]\d|0[1-9]|[1-9])",
        "Yearday",
    ),
    d("k", r" ?(?P<H>[0-2]?\d)", "%k"),
    d("l", r" ?(?P<I>1?\d)", "%l"),
    d("m", r"(?P<m>0?[1-9]|1[0-2])", "Month"),
    d("M", r"(?P<M>[0-5]?\d)", "Minute"),
    d("p", r"(?P<p>am|pm)", "AMPM"),
    d("S", r"(?P<S>[0-5]?\d|6[0-1])", "Second"),
    d("U", r"(?P<U>5[0-3]|[0-4]\d|\d)", "Yearweek"),
    d("u", r"(?P<u>[1-7])", "%u"),
    d("V", r"(?P<V>5[0-3]|0[1-9]|[1-4]\d|\d)", "%V"),
    d("w", r"(?P<w>[0-6])", "Weekday"),
    d("W", r"(?P<W>5[0-3]|[0-4]\d|\d)", "Yearweek"),
    d(
        "x",
        r"(?P<m>1[0-2]|0[1-9]|[1-9])/(?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])/(?P<y>\d\d)",
        "%x",
    ),
    d(
        "X",
        r"(?P<H>2[0-3]|[0-1]\d|\d):(?P<M>[0-5]\d|\d):(?P<S>6[0-1]|[0-5]\d|\d)",
        "%X",
    ),
    d("y", r"(?P<y>\d\d)", "Year2"),
    d("Y", r"(?P<Y>\d{4})", "Year"),
    d(
        "z",
        r"(?P<z>Z|UTC|GMT|[+-][01]\d(?::?\d{2})?)",
        "Zone offset",
    ),
    d("Z", r"(?P<Z>Z|[A-Z]{3,5})", "Zone name"),
    d("ExZ", r"(?P<Z>[A-Z](?:[A-Z]{2,4})?)", "ExZone name"),
    d(
        "Exz",
        r"(?P<z>(?:[A-Z](?:[A-Z]{2,4})?)?[+-][01]\d(?::?\d{2})?|[A-Z](?:[A-Z]{2,4})?)",
        "ExZone offset",
    ),
    d("Exd", r"(?P<d>[1-2]\d|0[1-9]|3[0-1])", "ExDay"),
    d("Exm", r"(?P<m>0[1-9]|1[0-2])", "ExMonth"),
    d("ExH", r"(?P<H>[0-1]\d|2[0-3])", "Ex24hour"),
    // fail2ban derives these two names in hash order, so it prints either
    // `Ex%k` or `%Exk` depending on the run; we pick one.
    d("Exk", r" ?(?P<H>[0-1]?\d|2[0-3])", "Ex%k"),
    d("Exl", r" ?(?P<I>1[0-2]|\d)", "Ex%l"),
    d("ExM", r"(?P<M>[0-5]\d)", "ExMinute"),
    d("ExS", r"(?P<S>[0-5]\d|6[0-1])", "ExSecond"),
    d(EX_YEAR, "", "ExYear"),
    d("Exy", r"(?P<y>\d{2})", "ExYear2"),
];

fn lookup(key: &str) -> Option<&'static Directive> {
    DIRECTIVES.iter().find(|d| d.key == key)
}

/// The 4-digit years `%ExY` accepts: fail2ban builds this at start-up from
/// the current year, accepting every decade from 2000 up to the one three
/// years ahead, so dates like `1999-...` or `2130-...` are not dates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct YearSpan {
    /// Accepted first three digits, sorted (e.g. `200`, `201`, `202`).
    decades: Vec<String>,
    /// The regex fragment fail2ban writes for them, e.g. `20[012]`.
    prefix_regex: String,
}

impl YearSpan {
    pub(crate) fn for_year(year: i64) -> YearSpan {
        // Python slices `str(year)[0:3]`.
        let cent = |y: i64| y.to_string().chars().take(3).collect::<String>();
        let mut set: Vec<String> = vec![cent(year - 1), cent(year + 3)];
        // fail2ban also covers its test clock (2001-01-02): every third
        // year from 2000 on, which spans all decades since 2000.
        let mut i = -1i64;
        while i < year - 2001 + 1 {
            set.push(cent(2001 + i));
            i += 3;
        }
        set.sort();
        set.dedup();
        let prefix_regex = group_regex(&set);
        YearSpan {
            decades: set,
            prefix_regex,
        }
    }

    /// True if a 4-ASCII-digit year is one `%ExY` matches.
    pub(crate) fn accepts(&self, year: &[u8]) -> bool {
        year.len() == 4
            && year.iter().all(u8::is_ascii_digit)
            && self.decades.iter().any(|d| d.as_bytes() == &year[..3])
    }

    /// True if three ASCII digits are the start of an accepted year.
    pub(crate) fn accepts_decade(&self, decade: &[u8]) -> bool {
        self.decades.iter().any(|d| d.as_bytes() == decade)
    }

    /// The first digit every accepted year starts with, if they share one.
    pub(crate) fn common_first_byte(&self) -> Option<u8> {
        let first = self.decades.first()?.as_bytes().first().copied()?;
        self.decades
            .iter()
            .all(|d| d.as_bytes().first() == Some(&first))
            .then_some(first)
    }

    fn regex(&self) -> String {
        format!(r"(?P<Y>{}\d)", self.prefix_regex)
    }
}

/// fail2ban's compact alternation of equal-length strings: a common prefix
/// is factored out, single characters become a class.
fn group_regex(set: &[String]) -> String {
    if set.len() > 1 {
        let mut common: Option<String> = None;
        for s in set {
            let head: String = s
                .chars()
                .take(s.chars().count().saturating_sub(1))
                .collect();
            match &common {
                None => common = Some(head),
                Some(c) if *c == head => {}
                Some(_) => {
                    common = None;
                    break;
                }
            }
        }
        if common.as_deref().is_none_or(str::is_empty) {
            common = None;
            for s in set {
                let head: String = s.chars().take(1).collect();
                match &common {
                    None => common = Some(head),
                    Some(c) if *c == head => {}
                    Some(_) => {
                        common = None;
                        break;
                    }
                }
            }
        }
        if let Some(c) = common.filter(|c| !c.is_empty()) {
            let n = c.chars().count();
            let rest: Vec<String> = set.iter().map(|s| s.chars().skip(n).collect()).collect();
            return format!("{c}{}", group_regex(&rest));
        }
        if set[0].chars().count() > 1 {
            return format!("(?:{})", set.join("|"));
        }
        return format!("[{}]", set.concat());
    }
    set.concat()
}

/// Why a `%` sequence could not be expanded (Python's `%` formatting
/// raised for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadPercent {
    /// The offending text, e.g. `%q` or a trailing `%`.
    pub directive: String,
}

/// A pattern with its directives expanded.
pub(crate) struct Expanded {
    pub name: String,
    pub regex: String,
}

/// Expands every directive of `pattern` into (display name, regex).
///
/// fail2ban first rewrites known directives to `%(key)s` and then applies
/// Python `%`-formatting, so an explicit `%(Y)s` works too and any other
/// `%` sequence is an error.
pub(crate) fn expand(pattern: &str, years: &YearSpan) -> Result<Expanded, BadPercent> {
    let mut name = String::with_capacity(pattern.len() + 16);
    let mut regex = String::with_capacity(pattern.len() * 4);
    let mut rest = pattern;
    while let Some(pos) = rest.find('%') {
        name.push_str(&rest[..pos]);
        regex.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let (key, consumed) = directive_at(after).ok_or_else(|| BadPercent {
            directive: bad_sequence(after),
        })?;
        let dir = lookup(key).ok_or_else(|| BadPercent {
            directive: format!("%{}", &after[..consumed]),
        })?;
        name.push_str(dir.name);
        if dir.key == EX_YEAR {
            regex.push_str(&years.regex());
        } else {
            regex.push_str(dir.regex);
        }
        rest = &after[consumed..];
    }
    name.push_str(rest);
    regex.push_str(rest);
    Ok(Expanded { name, regex })
}

/// The key named right after a `%`, and how many bytes it spans.
fn directive_at(after: &str) -> Option<(&str, usize)> {
    const EX_KEYS: &[u8] = b"ZzdmHklMSYy";
    const SINGLE_KEYS: &[u8] = b"%dfHIGjmMSUwuVyYzAaBbpZWcxXkl";
    let b = after.as_bytes();
    if b.len() >= 3 && &b[..2] == b"Ex" && EX_KEYS.contains(&b[2]) {
        return Some((&after[..3], 3));
    }
    if let Some(&c) = b.first()
        && SINGLE_KEYS.contains(&c)
    {
        return Some((&after[..1], 1));
    }
    // Python's mapping form `%(key)s`, with nested parentheses in the key.
    if b.first() == Some(&b'(') {
        let mut depth = 0usize;
        for (i, c) in after.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        let key = &after[1..i];
                        return (after[i + 1..].starts_with('s')).then_some((key, i + 2));
                    }
                }
                _ => {}
            }
        }
    }
    None
}

fn bad_sequence(after: &str) -> String {
    let mut s = String::from("%");
    if let Some(c) = after.chars().next() {
        let _ = write!(s, "{c}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn year_span_like_fail2ban() {
        assert_eq!(YearSpan::for_year(2026).prefix_regex, "20[012]");
        assert_eq!(YearSpan::for_year(2027).prefix_regex, "20[0123]");
        assert_eq!(YearSpan::for_year(2026).regex(), r"(?P<Y>20[012]\d)");
        assert!(YearSpan::for_year(2026).accepts(b"2029"));
        assert!(!YearSpan::for_year(2026).accepts(b"2030"));
        assert!(!YearSpan::for_year(2026).accepts(b"1999"));
        assert_eq!(YearSpan::for_year(2001).prefix_regex, "200");
        assert_eq!(YearSpan::for_year(2010).prefix_regex, "20[01]");
        assert_eq!(
            YearSpan::for_year(2097).prefix_regex,
            "2(?:00|01|02|03|04|05|06|07|08|09|10)"
        );
    }

    #[test]
    fn expansion() {
        let y = YearSpan::for_year(2026);
        let e = expand("%Y-%m-%d %%H %ExY %(Y)s", &y).unwrap();
        assert_eq!(e.name, "Year-Month-Day %H ExYear Year");
        assert_eq!(
            e.regex,
            r"(?P<Y>\d{4})-(?P<m>0?[1-9]|1[0-2])-(?P<d>[1-2]\d|[0 ]?[1-9]|3[0-1]) %H (?P<Y>20[012]\d) (?P<Y>\d{4})"
        );
        assert_eq!(expand("%q", &y).err().unwrap().directive, "%q");
        assert_eq!(expand("x %", &y).err().unwrap().directive, "%");
        assert_eq!(expand("%Exq", &y).err().unwrap().directive, "%E");
        assert_eq!(expand("%(foo)s", &y).err().unwrap().directive, "%(foo)s");
        assert_eq!(expand("%s", &y).err().unwrap().directive, "%s");
    }
}
