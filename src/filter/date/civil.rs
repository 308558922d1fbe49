//! Calendar arithmetic and the process's local time zone.
//!
//! fail2ban computes a log time with naive `datetime` arithmetic
//! (proleptic Gregorian, years 1..=9999, no zone) and then hands the result
//! to `time.mktime` (local zone) or `calendar.timegm` (UTC). We mirror that
//! with plain integer seconds for the naive part and libc for the local
//! zone, because only libc knows the system's DST rules exactly as Python
//! sees them.

/// Python's `datetime.MINYEAR` / `MAXYEAR`: results outside raise there.
pub(crate) const MIN_YEAR: i64 = 1;
pub(crate) const MAX_YEAR: i64 = 9999;

pub(crate) const DAY: i64 = 86_400;

pub(crate) fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

pub(crate) fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date.
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of `days_from_civil`.
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Monday = 0, as Python's `date.weekday()`.
pub(crate) fn weekday(days: i64) -> i64 {
    // 1970-01-01 was a Thursday.
    (days + 3).rem_euclid(7)
}

/// A naive date-time as seconds since 1970-01-01 00:00 of no zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Naive(pub i64);

impl Naive {
    /// Like `datetime(...)`: `None` where Python raises `ValueError`.
    pub(crate) fn new(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> Option<Naive> {
        let valid = (MIN_YEAR..=MAX_YEAR).contains(&y)
            && (1..=12).contains(&mo)
            && d >= 1
            && d <= days_in_month(y, mo)
            && (0..24).contains(&h)
            && (0..60).contains(&mi)
            && (0..60).contains(&s);
        valid.then(|| Naive(days_from_civil(y, mo, d) * DAY + h * 3600 + mi * 60 + s))
    }

    /// Adds seconds; `None` where Python raises `OverflowError`.
    pub(crate) fn add(self, secs: i64) -> Option<Naive> {
        let r = Naive(self.0.checked_add(secs)?);
        let y = r.parts().0;
        (MIN_YEAR..=MAX_YEAR).contains(&y).then_some(r)
    }

    /// (year, month, day, hour, minute, second)
    pub(crate) fn parts(self) -> (i64, i64, i64, i64, i64, i64) {
        let days = self.0.div_euclid(DAY);
        let rem = self.0.rem_euclid(DAY);
        let (y, m, d) = civil_from_days(days);
        (y, m, d, rem / 3600, rem / 60 % 60, rem % 60)
    }
}

/// The local broken-down time of an epoch second (`time.localtime`).
pub(crate) fn local_parts(epoch: i64) -> Option<(i64, i64, i64, i64, i64, i64)> {
    let t = libc::time_t::try_from(epoch).ok()?;
    // SAFETY: `tm` is plain old data for which all-zero is a valid value;
    // localtime_r only writes into the buffer we own and reads `t`.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call.
    let r = unsafe { libc::localtime_r(&t, &mut tm) };
    if r.is_null() {
        return None;
    }
    Some((
        i64::from(tm.tm_year) + 1900,
        i64::from(tm.tm_mon) + 1,
        i64::from(tm.tm_mday),
        i64::from(tm.tm_hour),
        i64::from(tm.tm_min),
        i64::from(tm.tm_sec),
    ))
}

/// Bumped whenever tests switch the process time zone, so cached local
/// hours are never reused across zones.
pub(crate) static ZONE_GENERATION: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0);

/// A cached local hour: (year, month, day, hour, zone generation) → the
/// epoch of its first second, when that was computed, and how many times it
/// was used since the clock was last read.
type HourKey = (i64, i64, i64, i64, u64);

#[derive(Clone, Copy)]
struct CachedHour {
    key: HourKey,
    base: i64,
    at: std::time::Instant,
    uses: u32,
}

thread_local! {
    static HOUR: std::cell::Cell<Option<CachedHour>> = const { std::cell::Cell::new(None) };
}

/// The clock is read once per this many uses of a cached hour, not on
/// every line.
const CLOCK_EVERY: u32 = 256;

/// How long a cached hour is trusted: libc re-reads /etc/localtime when
/// it changes, and so do we, within this delay.
const HOUR_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// `time.mktime(dt.timetuple())` for a naive local date-time: DST unknown
/// (`tm_isdst = -1`), so libc picks as it does for Python.
///
/// libc's `mktime` stats the zone file on every call, and log dates come
/// in runs within one hour: an hour with one offset throughout is cached.
pub(crate) fn mktime_local(n: Naive) -> Option<f64> {
    let (y, mo, d, h, mi, s) = n.parts();
    let zone_gen = ZONE_GENERATION.load(std::sync::atomic::Ordering::Relaxed);
    let key = (y, mo, d, h, zone_gen);
    if let Some(mut c) = HOUR.get().filter(|c| c.key == key) {
        c.uses += 1;
        if c.uses < CLOCK_EVERY || c.at.elapsed() < HOUR_CACHE_TTL {
            if c.uses >= CLOCK_EVERY {
                c.uses = 0;
            }
            HOUR.set(Some(c));
            return Some((c.base + mi * 60 + s) as f64);
        }
    }
    let start = mktime_raw(y, mo, d, h, 0, 0);
    let end = mktime_raw(y, mo, d, h, 59, 59);
    if let (Some(a), Some(b)) = (start, end)
        && b - a == 3599
    {
        HOUR.set(Some(CachedHour {
            key,
            base: a,
            at: std::time::Instant::now(),
            uses: 0,
        }));
        return Some((a + mi * 60 + s) as f64);
    }
    // An hour with a zone change inside: ask libc for this very second.
    mktime_raw(y, mo, d, h, mi, s).map(|t| t as f64)
}

fn mktime_raw(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> Option<i64> {
    // SAFETY: all-zero is a valid `tm`.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_year = i32::try_from(y - 1900).ok()?;
    tm.tm_mon = (mo - 1) as i32;
    tm.tm_mday = d as i32;
    tm.tm_hour = h as i32;
    tm.tm_min = mi as i32;
    tm.tm_sec = s as i32;
    tm.tm_isdst = -1;
    // Python's sentinel: -1 is a valid result unless mktime left this alone.
    tm.tm_wday = -1;
    // SAFETY: `tm` is a valid, exclusively borrowed struct for the call.
    let t = unsafe { libc::mktime(&mut tm) };
    if t == -1 && tm.tm_wday == -1 {
        return None;
    }
    Some(t)
}

/// `calendar.timegm` of a naive date-time taken as UTC.
pub(crate) fn timegm(n: Naive) -> f64 {
    n.0 as f64
}

/// The local "now" as Python's `datetime.now()` holds it. Its microseconds
/// never matter: fail2ban only compares it with whole-second times, where
/// `t > now` is `t > now's whole second`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LocalNow {
    pub naive: Naive,
    pub year: i64,
    pub month: i64,
    pub day: i64,
}

impl LocalNow {
    /// Local time of a whole epoch second (microseconds zero).
    pub(crate) fn at_second(secs: i64) -> Option<LocalNow> {
        let (y, mo, d, h, mi, s) = local_parts(secs)?;
        Some(LocalNow {
            naive: Naive::new(y, mo, d, h, mi, s.min(59))?,
            year: y,
            month: mo,
            day: d,
        })
    }

    /// Python's `naive_datetime > now` for a whole-second date-time.
    pub(crate) fn is_before(&self, dt: Naive) -> bool {
        dt > self.naive
    }

    /// `dt > now + timedelta(days=1)`.
    pub(crate) fn is_day_before(&self, dt: Naive) -> bool {
        dt.0 > self.naive.0 + DAY
    }
}

/// The whole second Python's `datetime.fromtimestamp` shows for an epoch
/// time: microseconds round half to even and may carry into the second.
pub(crate) fn whole_second(now: f64) -> Option<i64> {
    if !now.is_finite() || now.abs() > 1e15 {
        return None;
    }
    let mut secs = now.floor();
    if round_half_even((now - secs) * 1e6) >= 1e6 {
        secs += 1.0;
    }
    Some(secs as i64)
}

fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - x.signum()
    } else {
        r
    }
}

#[cfg(test)]
pub(crate) mod test_tz {
    //! Tests switch the process time zone; everything that reads it must
    //! hold this lock, since libc's zone state is process-global.
    use std::sync::{Mutex, MutexGuard};

    static LOCK: Mutex<()> = Mutex::new(());

    unsafe extern "C" {
        fn tzset();
    }

    pub(crate) fn with_tz<R>(tz: &str, f: impl FnOnce() -> R) -> R {
        let _g: MutexGuard<'_, ()> = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: every test touching the zone holds LOCK, so no other
        // thread reads the environment or libc's zone state meanwhile.
        unsafe {
            std::env::set_var("TZ", tz);
            tzset();
        }
        super::ZONE_GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in [-719_468 - 400, -1, 0, 59, 60, 11_016, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(weekday(0), 3);
    }

    #[test]
    fn naive_validation() {
        assert!(Naive::new(2023, 2, 29, 0, 0, 0).is_none());
        assert!(Naive::new(2024, 2, 29, 0, 0, 0).is_some());
        assert!(Naive::new(2024, 1, 1, 24, 0, 0).is_none());
        assert!(Naive::new(2024, 1, 1, 0, 0, 60).is_none());
        assert!(Naive::new(0, 1, 1, 0, 0, 0).is_none());
        assert!(
            Naive::new(9999, 12, 31, 23, 0, 0)
                .unwrap()
                .add(3600)
                .is_none()
        );
    }

    #[test]
    fn rounding() {
        assert_eq!(round_half_even(0.5), 0.0);
        assert_eq!(round_half_even(1.5), 2.0);
        assert_eq!(round_half_even(2.4), 2.0);
    }
}
