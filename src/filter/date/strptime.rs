//! From the named groups of a date match to epoch seconds, the way
//! fail2ban's `reGroupDictStrptime` does it.
//!
//! This is where fail2ban's date rules live: a missing year is this year
//! (or last year if that lands more than a day in the future), a missing
//! day is today (or yesterday), two-digit years are 20xx, 12-hour clocks
//! need `%p`, and sub-seconds are dropped. A zone in the line wins over
//! `logtimezone`; without either the system's local zone applies.

use super::civil::{self, LocalNow, Naive};
use super::zone;
use crate::py::py_int;

/// The named groups fail2ban's strptime reads; all other group names
/// (`_sep`, `G`, `u`, `V`, user names) are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Key {
    LowY,
    Y,
    LowM,
    FullMonth,
    AbbrMonth,
    D,
    H,
    I,
    M,
    S,
    F,
    FullDay,
    AbbrDay,
    W,
    J,
    WeekU,
    WeekW,
    LowZ,
    Z,
    P,
}

impl Key {
    pub(crate) fn from_group(name: &str) -> Option<Key> {
        Some(match name {
            "y" => Key::LowY,
            "Y" => Key::Y,
            "m" => Key::LowM,
            "B" => Key::FullMonth,
            "b" => Key::AbbrMonth,
            "d" => Key::D,
            "H" => Key::H,
            "I" => Key::I,
            "M" => Key::M,
            "S" => Key::S,
            "f" => Key::F,
            "A" => Key::FullDay,
            "a" => Key::AbbrDay,
            "w" => Key::W,
            "j" => Key::J,
            "U" => Key::WeekU,
            "W" => Key::WeekW,
            "z" => Key::LowZ,
            "Z" => Key::Z,
            "p" => Key::P,
            _ => return None,
        })
    }
}

const MAX_FIELDS: usize = 20;

/// The date fields of one match, in group order (Python iterates the
/// group dict in that order, so for repeated meanings the last one wins).
/// Fixed capacity: Python forbids duplicate group names, so there are at
/// most 20; no allocation per line. The fast paths (`fast`) fill at most
/// `FAST_FIELDS`: their smaller form is cheaper to pass along per line.
#[derive(Clone, Copy)]
pub(crate) struct Fields<'t, const N: usize = MAX_FIELDS> {
    items: [(Key, &'t str); N],
    len: usize,
}

/// Fields a fast-path date has at most: day name, month, day, h, m, s,
/// fraction and year (or zone).
pub(crate) const FAST_FIELDS: usize = 8;

impl<'t, const N: usize> Fields<'t, N> {
    pub(crate) fn new() -> Self {
        Fields {
            items: [(Key::F, ""); N],
            len: 0,
        }
    }

    pub(crate) fn push(&mut self, key: Key, text: &'t str) {
        debug_assert!(self.len < N, "more date fields than room for them");
        if self.len < N {
            self.items[self.len] = (key, text);
            self.len += 1;
        }
    }

    fn iter(&self) -> impl Iterator<Item = &(Key, &'t str)> {
        self.items[..self.len].iter()
    }

    pub(crate) fn get(&self, key: Key) -> Option<&'t str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    #[cfg(test)]
    pub(crate) fn as_slice(&self) -> &[(Key, &'t str)] {
        &self.items[..self.len]
    }
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Position of `text` (lower-cased as Python does) in `names`, or of its
/// three-letter abbreviation.
fn name_index(text: &str, table: &Names, abbreviated: bool) -> Option<i64> {
    let names = table.names;
    let full = |n: &'static str| if abbreviated { &n[..3] } else { n };
    if abbreviated && let [a, b, c] = text.as_bytes() {
        // The hot case (syslog's `%b`): three ASCII letters, one compare each.
        let want = abbr_key(&[*a, *b, *c]);
        if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() && c.is_ascii_alphabetic() {
            return table.keys.iter().position(|k| *k == want).map(|i| i as i64);
        }
    }
    let found = if text.is_ascii() {
        // The common case, without allocating.
        names
            .iter()
            .position(|n| full(n).eq_ignore_ascii_case(text))
    } else {
        let lower = text.to_lowercase();
        names.iter().position(|n| full(n) == lower)
    };
    found.map(|i| i as i64)
}

/// Three ASCII letters, lower-cased, as one number.
const fn abbr_key(x: &[u8]) -> u32 {
    u32::from_le_bytes([x[0] | 0x20, x[1] | 0x20, x[2] | 0x20, 0])
}

const fn abbr_keys<const N: usize>(names: [&str; N]) -> [u32; N] {
    let mut keys = [0; N];
    let mut i = 0;
    while i < N {
        keys[i] = abbr_key(names[i].as_bytes());
        i += 1;
    }
    keys
}

/// Month or day names, with their abbreviations' keys.
struct Names {
    names: &'static [&'static str],
    keys: &'static [u32],
}

const MONTH_NAMES: Names = Names {
    names: &MONTHS,
    keys: &abbr_keys(MONTHS),
};
const DAY_NAMES: Names = Names {
    names: &DAYS,
    keys: &abbr_keys(DAYS),
};

/// Python's `text.lower() == word` for an ASCII `word`.
fn lower_is(text: &str, word: &str) -> bool {
    if text.is_ascii() {
        text.eq_ignore_ascii_case(word)
    } else {
        text.to_lowercase() == word
    }
}

/// Everything that is not in the line but decides its time.
pub(crate) struct Context {
    /// `logtimezone` offset in minutes, if set.
    pub default_tz: Option<i32>,
    /// The local "now", needed only when year or day is missing.
    pub now: Option<LocalNow>,
}

/// Epoch seconds for the fields, or `None` where fail2ban's conversion
/// raises (invalid date such as Feb 30, second 60, unknown zone name,
/// month without day, ...). Sub-seconds are dropped as in fail2ban.
pub(crate) fn to_epoch<const N: usize>(fields: &Fields<'_, N>, ctx: &Context) -> Option<f64> {
    match syslog_to_epoch(fields, ctx) {
        Some(t) => t,
        None => general_to_epoch(fields, ctx),
    }
}

/// `to_epoch` for any set of fields.
fn general_to_epoch<const N: usize>(fields: &Fields<'_, N>, ctx: &Context) -> Option<f64> {
    let mut year: Option<i64> = None;
    let mut month: Option<i64> = None;
    let mut day: Option<i64> = None;
    let mut tzoffset: Option<i64> = None;
    let mut weekday: Option<i64> = None;
    let mut julian: Option<i64> = None;
    let mut week_of_year: Option<(i64, bool)> = None;
    let (mut hour, mut minute, mut second) = (0i64, 0i64, 0i64);

    for &(key, val) in fields.iter() {
        match key {
            Key::LowY => {
                let y = py_int(val)?;
                // fail2ban: two-digit years are always in this century.
                year = Some(if y <= 2000 { y + 2000 } else { y });
            }
            Key::Y => year = Some(py_int(val)?),
            Key::LowM => month = Some(py_int(val)?),
            Key::FullMonth => month = Some(name_index(val, &MONTH_NAMES, false)? + 1),
            Key::AbbrMonth => month = Some(name_index(val, &MONTH_NAMES, true)? + 1),
            Key::D => day = Some(py_int(val)?),
            Key::H => hour = py_int(val)?,
            Key::I => {
                hour = py_int(val)?;
                // A `p` group that did not take part counts as absent
                // (fail2ban would crash on it).
                let ampm = fields.get(Key::P).unwrap_or("");
                if ampm.is_empty() || lower_is(ampm, "am") {
                    if hour == 12 {
                        hour = 0;
                    }
                } else if lower_is(ampm, "pm") && hour != 12 {
                    hour += 12;
                }
            }
            Key::M => minute = py_int(val)?,
            Key::S => second = py_int(val)?,
            Key::F | Key::P => {}
            Key::FullDay => weekday = Some(name_index(val, &DAY_NAMES, false)?),
            Key::AbbrDay => weekday = Some(name_index(val, &DAY_NAMES, true)?),
            Key::W => {
                let w = py_int(val)? - 1;
                weekday = Some(if w < 0 { 6 } else { w });
            }
            Key::J => julian = Some(py_int(val)?),
            Key::WeekU => week_of_year = Some((py_int(val)?, false)),
            Key::WeekW => week_of_year = Some((py_int(val)?, true)),
            Key::LowZ | Key::Z => {
                tzoffset = Some(if matches!(val, "Z" | "UTC" | "GMT") {
                    0
                } else {
                    i64::from(zone::offset_minutes(val)?)
                });
            }
        }
    }

    let mut assume_year = false;
    if year.is_none() {
        year = Some(ctx.now?.year);
        assume_year = true;
    }
    let mut year = year?;
    if month.is_none() || day.is_none() {
        if julian.is_none()
            && let (Some((week, starts_monday)), Some(wd)) = (week_of_year, weekday)
        {
            julian = Some(julian_from_week(year, week, wd, starts_monday)?);
        }
        if let Some(j) = julian {
            // Beyond this no result can be within years 1..=9999.
            if !(civil::MIN_YEAR..=civil::MAX_YEAR).contains(&year) || j.abs() > 4_000_000 {
                return None;
            }
            let days = civil::days_from_civil(year, 1, 1).checked_add(j - 1)?;
            let (y, m, d) = civil::civil_from_days(days);
            if !(civil::MIN_YEAR..=civil::MAX_YEAR).contains(&y) {
                return None;
            }
            (year, month, day) = (y, Some(m), Some(d));
        }
    }
    let mut assume_today = false;
    if month.is_none() && day.is_none() {
        let now = ctx.now?;
        month = Some(now.month);
        day = Some(now.day);
        assume_today = true;
    }
    let (month, day) = (month?, day?);
    let mut result = Naive::new(year, month, day, hour, minute, second)?;
    if tzoffset.is_none() {
        tzoffset = ctx.default_tz.map(i64::from);
    }
    if let Some(off) = tzoffset {
        result = result.add(-off * 60)?;
    }
    if assume_today && ctx.now?.is_before(result) {
        // Rolled over midnight: it was yesterday.
        result = result.add(-civil::DAY)?;
    }
    if assume_year && ctx.now?.is_day_before(result) {
        // Last year; fail2ban resets month and day to the parsed ones but
        // keeps the (zone-shifted) time of day.
        let (_, _, _, h, mi, s) = result.parts();
        result = Naive::new(year - 1, month, day, h, mi, s)?;
    }
    if tzoffset.is_some() {
        Some(civil::timegm(result))
    } else {
        civil::mktime_local(result)
    }
}

/// The common case of `to_epoch`, without its general loop: a syslog date
/// (`%b %d %H:%M:%S`, no year, local time). `None`: not this case, use the
/// general path; `Some(r)`: the same result the general path gives.
fn syslog_to_epoch<const N: usize>(fields: &Fields<'_, N>, ctx: &Context) -> Option<Option<f64>> {
    if fields.len != 5 || ctx.default_tz.is_some() {
        return None;
    }
    let (mut mon, mut d, mut h, mut mi, mut sec) = (None, None, None, None, None);
    for &(key, val) in fields.iter() {
        let slot = match key {
            Key::AbbrMonth => &mut mon,
            Key::D => &mut d,
            Key::H => &mut h,
            Key::M => &mut mi,
            Key::S => &mut sec,
            _ => return None,
        };
        *slot = Some(val);
    }
    let month = name_index(mon?, &MONTH_NAMES, true).map(|m| m + 1);
    let (day, hour, minute, second) = (py_int(d?)?, py_int(h?)?, py_int(mi?)?, py_int(sec?)?);
    let Some(month) = month else {
        return Some(None);
    };
    let Some(now) = ctx.now else {
        return Some(None);
    };
    let Some(result) = Naive::new(now.year, month, day, hour, minute, second) else {
        return Some(None);
    };
    if now.is_day_before(result) {
        // Last year (see the general path).
        return Some(
            Naive::new(now.year - 1, month, day, hour, minute, second)
                .and_then(civil::mktime_local),
        );
    }
    Some(civil::mktime_local(result))
}

/// Python's `_calc_julian_from_U_or_W`.
fn julian_from_week(year: i64, week: i64, weekday: i64, starts_monday: bool) -> Option<i64> {
    if !(civil::MIN_YEAR..=civil::MAX_YEAR).contains(&year) {
        return None;
    }
    let mut first = civil::weekday(civil::days_from_civil(year, 1, 1));
    let mut wd = weekday;
    if !starts_monday {
        first = (first + 1) % 7;
        wd = (wd + 1) % 7;
    }
    let week0 = (7 - first) % 7;
    if week == 0 {
        return Some(1 + wd - first);
    }
    7i64.checked_mul(week.checked_sub(1)?)?
        .checked_add(1 + week0 + wd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<'a>(items: &[(Key, &'a str)]) -> Fields<'a> {
        let mut f = Fields::new();
        for &(k, v) in items {
            f.push(k, v);
        }
        f
    }

    const UTC: Context = Context {
        default_tz: Some(0),
        now: None,
    };

    #[test]
    fn full_dates() {
        let f = fields(&[
            (Key::Y, "2005"),
            (Key::LowM, "01"),
            (Key::D, "23"),
            (Key::H, "21"),
            (Key::M, "59"),
            (Key::S, "59"),
            (Key::F, "981746"),
        ]);
        assert_eq!(to_epoch(&f, &UTC), Some(1_106_517_599.0));
        let f = fields(&[
            (Key::Y, "2005"),
            (Key::AbbrMonth, "JAN"),
            (Key::D, " 3"),
            (Key::I, "12"),
            (Key::P, "PM"),
        ]);
        assert_eq!(to_epoch(&f, &UTC), Some(1_104_753_600.0));
        let f = fields(&[(Key::LowY, "05"), (Key::J, "033"), (Key::LowZ, "+0100")]);
        assert_eq!(to_epoch(&f, &UTC), Some(1_107_298_800.0));
    }

    #[test]
    fn invalid_dates() {
        let ctx = UTC;
        for f in [
            fields(&[(Key::Y, "2023"), (Key::LowM, "2"), (Key::D, "29")]),
            fields(&[
                (Key::Y, "2023"),
                (Key::LowM, "2"),
                (Key::D, "2"),
                (Key::S, "60"),
            ]),
            fields(&[(Key::Y, "2023"), (Key::D, "2")]),
            fields(&[
                (Key::Y, "2023"),
                (Key::LowM, "2"),
                (Key::D, "2"),
                (Key::Z, "XYZ"),
            ]),
            fields(&[(Key::Y, "0"), (Key::LowM, "2"), (Key::D, "2")]),
        ] {
            assert_eq!(to_epoch(&f, &ctx), None);
        }
    }

    #[test]
    fn week_numbers() {
        // 2024-01-01 is a Monday: %W week 1 Monday is Jan 1st.
        assert_eq!(julian_from_week(2024, 1, 0, true), Some(1));
        assert_eq!(julian_from_week(2024, 0, 6, false), Some(0));
    }

    #[test]
    fn syslog_shortcut_agrees_with_the_general_path() {
        civil::test_tz::with_tz("Europe/Paris", || {
            for now_text in [
                "2026-11-28 10:00:00",
                "2026-01-01 00:30:00",
                "2024-02-29 12:00:00",
                "2026-03-29 02:30:00",
            ] {
                let now_epoch = civil::mktime_local(
                    Naive::new(
                        now_text[..4].parse().expect("y"),
                        now_text[5..7].parse().expect("m"),
                        now_text[8..10].parse().expect("d"),
                        now_text[11..13].parse().expect("h"),
                        now_text[14..16].parse().expect("mi"),
                        0,
                    )
                    .expect("valid"),
                )
                .expect("epoch");
                let ctx = Context {
                    default_tz: None,
                    now: civil::LocalNow::at_second(now_epoch as i64),
                };
                for (mon, d) in [
                    ("Nov", "28"),
                    ("Dec", "31"),
                    ("Jan", "1"),
                    ("Feb", "29"),
                    ("Mar", "29"),
                    ("Xyz", "1"),
                    ("Apr", "31"),
                ] {
                    for hms in [
                        ("00", "00", "00"),
                        ("02", "30", "00"),
                        ("23", "59", "59"),
                        ("24", "00", "00"),
                    ] {
                        let f = fields(&[
                            (Key::AbbrMonth, mon),
                            (Key::D, d),
                            (Key::H, hms.0),
                            (Key::M, hms.1),
                            (Key::S, hms.2),
                        ]);
                        assert_eq!(
                            syslog_to_epoch(&f, &ctx).flatten(),
                            general_to_epoch(&f, &ctx),
                            "{now_text}: {mon} {d} {hms:?}"
                        );
                    }
                }
            }
        });
    }
}
