//! Finding the timestamp of a log line and cutting it out, exactly as
//! fail2ban 1.0.2's `DateDetector` does.
//!
//! A detector holds date templates (the defaults, or those of a
//! `datepattern`) and tries them in an order that adapts to the log: the
//! template that hit last is tried first, hits move templates up, and a
//! date found further into the line than before is only taken if nothing
//! better matches. Which date wins and which text is cut decide what the
//! filter regex sees, so this follows fail2ban step by step.
//!
//! Everything here is pure: the caller passes "now" (for dates without a
//! year or day, and for fail2ban's template usage times).

mod bounds;
mod civil;
mod defaults;
mod directives;
mod fast;
mod prefilter;
mod selection;
mod strptime;
mod template;
mod zone;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::fmt;

use civil::LocalNow;
use directives::YearSpan;
use selection::{Edge, Entry, FAR};
use strptime::Context;
use template::Template;

/// A date found in a line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DateHit {
    /// Byte span of the date text fail2ban cuts out of the line (the
    /// template's group 1). The filter regex then runs on
    /// `line[..start] + line[end..]`. `start == end` means the template
    /// matched an empty date (`{NONE}`, or an optional one): fail2ban then
    /// uses the last date seen (if under a minute old) or now.
    pub start: usize,
    pub end: usize,
    /// Epoch seconds; `None` when the text is empty or is no valid date
    /// (fail2ban logs "findFailure failed to parse timeText" for the
    /// latter and treats the line as undated).
    pub time: Option<f64>,
    /// fail2ban holds this time as a Python `int` (zoned dates), which
    /// `fail2ban-regex -o '<time>'` prints without a fraction.
    pub integral: bool,
    /// Position of the template in `template_names()` after this call.
    pub template: usize,
}

/// What `fail2ban-regex` reports per template (its `--VD` lines).
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateInfo {
    pub name: String,
    pub hits: u64,
    /// fail2ban's current weight: hits × base weight / distance.
    pub weight: f64,
    /// 100 for the line-start copies of the defaults, else 1.
    pub base_weight: f64,
    /// The `datepattern` text (empty for epoch and TAI64N templates).
    pub pattern: String,
    /// The Python regex the template searches with.
    pub regex: String,
}

/// Why a `datepattern` or time zone was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DateError {
    /// A `%` sequence that is no known directive (or a lone `%`).
    Directive { pattern: String, directive: String },
    /// The pattern's regex does not compile.
    Regex {
        pattern: String,
        regex: String,
        reason: String,
    },
    /// Two lines of the `datepattern` give the same template.
    Duplicate { name: String },
    /// A `logtimezone`/`--timezone` value fail2ban does not accept.
    TimeZone { tz: String },
}

impl fmt::Display for DateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DateError::Directive { pattern, directive } if directive == "%" => write!(
                f,
                "Failed to set datepattern '{pattern}': it ends with a lone '%' (write '%%' for a literal percent sign)"
            ),
            DateError::Directive { pattern, directive } => write!(
                f,
                "Failed to set datepattern '{pattern}': unknown directive '{directive}' \
                 (known: %Y %y %m %d %H %M %S %f %b %B %a %A %p %I %j %z %Z %k %l %U %W %w and %Ex forms \
                 such as %ExY; write '%%' for a literal percent sign)"
            ),
            DateError::Regex {
                pattern,
                regex,
                reason,
            } => write!(
                f,
                "Failed to set datepattern '{pattern}': its regex '{regex}' does not compile: {reason}"
            ),
            DateError::Duplicate { name } => write!(
                f,
                "There is already a date template with name {name} (the datepattern repeats it)"
            ),
            DateError::TimeZone { tz } => write!(
                f,
                "Unknown or unsupported time zone: '{tz}' (use UTC, Z, a zone abbreviation such as CET, \
                 or an offset such as UTC+0200, +01:00, -0530)"
            ),
        }
    }
}

impl std::error::Error for DateError {}

#[derive(Clone)]
pub struct DateDetector {
    entries: Vec<Entry>,
    names: HashSet<String>,
    default_tz: Option<i32>,
    years: YearSpan,
    years_fixed: bool,
    last_start: Edge,
    last_end: Edge,
    last_index: usize,
    first_unused: usize,
    /// Local time of the last whole second seen, so `localtime_r` runs
    /// once per second of log, not per line.
    /// The last `now` seen (its bits), its whole second and local form.
    now_cache: Option<(u64, i64, Option<LocalNow>)>,
    /// The last date converted: lines in a row mostly carry the same
    /// date text, converted once (see `TimeMemo`).
    pub(super) memo: TimeMemo,
}

/// A date's time, kept for the next line with the same text.
///
/// The conversion depends on the template, the matched text and the
/// local "now" (year inference, time zone), which is taken per second: the
/// key holds all three.
#[derive(Clone, Default)]
pub(super) struct TimeMemo {
    template: usize,
    second: i64,
    text: String,
    pub(super) value: Option<(Option<f64>, bool)>,
}

/// Only for checking a `datepattern` up front; the real `%ExY` span is
/// fixed by the first `find` from its `now`, as fail2ban fixes it at start.
const PROVISIONAL_YEAR: i64 = 2026;

impl Default for DateDetector {
    fn default() -> Self {
        Self::new_default()
    }
}

impl DateDetector {
    /// The default detector (no `datepattern`): fail2ban's default
    /// templates, added when the first line is searched.
    pub fn new_default() -> Self {
        DateDetector {
            entries: Vec::new(),
            names: HashSet::new(),
            default_tz: None,
            years: YearSpan::for_year(PROVISIONAL_YEAR),
            years_fixed: false,
            last_start: Edge {
                pos: 1,
                before: None,
                after: None,
            },
            last_end: Edge {
                pos: FAR,
                before: None,
                after: None,
            },
            last_index: usize::MAX,
            first_unused: 0,
            now_cache: None,
            memo: TimeMemo::default(),
        }
    }

    /// A detector for a `datepattern` value (or `fail2ban-regex -d`): one
    /// template per non-empty line; `{^LN-BEG}`, `{DEFAULT}`, `{DATE}`,
    /// `{NONE}`, `EPOCH`, `LEPOCH`, `TAI64N` as in fail2ban. An empty value
    /// gives the default detector.
    pub fn from_patterns(datepattern: &str) -> Result<Self, DateError> {
        let mut dd = Self::new_default();
        for line in datepattern.split('\n') {
            let line = crate::py::strip(line);
            if !line.is_empty() {
                dd.append_pattern(line)?;
            }
        }
        Ok(dd)
    }

    /// fail2ban caches templates process-wide by pattern: once its default
    /// list exists (it does by the time a filter's `datepattern` is set), a
    /// pattern naming a line-start copy of a default gets that very copy,
    /// with its weight of 100, which steers template ordering.
    pub fn share_default_weights(&mut self) {
        let anchored: Vec<String> = defaults::default_templates(&self.years)
            .into_iter()
            .filter(|t| t.weight > 1.0)
            .map(|t| t.name)
            .collect();
        for e in &mut self.entries {
            if anchored.contains(&e.tpl.name) {
                e.tpl.weight = 100.0;
            }
        }
    }

    fn append_pattern(&mut self, pattern: &str) -> Result<(), DateError> {
        let key = if pattern.contains('%') {
            pattern.to_string()
        } else {
            pattern.to_uppercase()
        };
        let ignore_dup = !self.entries.is_empty();
        if key == "{^LN-BEG}" {
            for t in defaults::line_start_templates(&self.years) {
                self.push(t, ignore_dup)?;
            }
            return Ok(());
        }
        if key == "{DEFAULT}" {
            // fail2ban's filter for this keyword rejects every template (a
            // precedence slip in its lambda), so it adds nothing; alone it
            // still ends up with all defaults, added at the first line.
            return Ok(());
        }
        if key.contains("{DATE}") {
            for mut t in defaults::date_templates(pattern, &self.years)? {
                t.check()?;
                self.push(t, ignore_dup)?;
            }
            return Ok(());
        }
        let recipe = if key == "{NONE}" {
            defaults::none_recipe()
        } else {
            defaults::recipe_for(pattern)
        };
        let mut t = Template::build(recipe, &self.years)?;
        t.check()?;
        self.push(t, false)
    }

    fn push(&mut self, t: Template, ignore_dup: bool) -> Result<(), DateError> {
        if self.names.contains(&t.name) {
            if ignore_dup {
                return Ok(());
            }
            return Err(DateError::Duplicate { name: t.name });
        }
        self.names.insert(t.name.clone());
        self.entries.push(Entry::new(t));
        Ok(())
    }

    /// fail2ban's `logtimezone` / `fail2ban-regex --timezone`: the zone of
    /// log dates that carry none.
    pub fn set_timezone(&mut self, tz: &str) -> Result<(), DateError> {
        let off =
            zone::offset_minutes(tz).ok_or_else(|| DateError::TimeZone { tz: tz.to_string() })?;
        self.default_tz = Some(off);
        Ok(())
    }

    /// The `logtimezone` offset in minutes east of UTC, if set.
    pub fn timezone_offset(&self) -> Option<i32> {
        self.default_tz
    }

    /// `datepattern = {NONE}`: lines carry no date, the caller uses now.
    pub fn is_none(&self) -> bool {
        self.entries.len() == 1 && self.entries[0].tpl.recipe == defaults::none_recipe()
    }

    /// Template names in fail2ban's current order (empty for a default
    /// detector before its first line, as in fail2ban).
    pub fn template_names(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.tpl.name.clone()).collect()
    }

    /// Lines won per template, in `template_names()` order.
    pub fn hits(&self) -> Vec<u64> {
        self.entries.iter().map(|e| e.hits).collect()
    }

    /// Everything `fail2ban-regex` prints about the templates.
    pub fn templates(&self) -> Vec<TemplateInfo> {
        self.entries
            .iter()
            .map(|e| TemplateInfo {
                name: e.tpl.name.clone(),
                hits: e.hits,
                weight: e.weight(),
                base_weight: e.tpl.weight,
                pattern: e.tpl.pattern().to_string(),
                regex: e.tpl.regex.clone(),
            })
            .collect()
    }

    /// fail2ban's `getDatePattern()[1]`, printed by `fail2ban-regex` as
    /// "Use datepattern : <value> : <this>".
    pub fn pattern_description(&self) -> String {
        match self.entries.len() {
            1 | 2 => self.entries[0].tpl.name.clone(),
            _ => "Default Detectors".to_string(),
        }
    }

    /// Finds the date of `line` (fail2ban's `matchTime` + `getTime`).
    /// `now` is the current epoch time.
    pub fn find(&mut self, line: &str, now: f64) -> Option<DateHit> {
        self.ensure_templates();
        if !self.years_fixed {
            self.years_fixed = true;
            if let Some(n) = self.local_now(now) {
                let years = YearSpan::for_year(n.year);
                if years != self.years {
                    for e in &mut self.entries {
                        e.tpl.set_years(&years);
                    }
                    self.years = years;
                }
            }
        }
        let (hit, index) = self.match_time(line, now)?;
        let (start, end) = hit.date;
        let (time, integral) = if start == end {
            (None, false)
        } else {
            let text = &line[hit.whole.0..hit.whole.1];
            let second = self.now_second(now);
            let memo = &mut self.memo;
            match memo.value {
                Some(v) if memo.template == index && memo.second == second && memo.text == text => {
                    v
                }
                _ => {
                    let ctx = Context {
                        default_tz: self.default_tz,
                        now: self.local_now(now),
                    };
                    let tpl = &self.entries[index].tpl;
                    let v = (tpl.time_of(&hit, &ctx), tpl.integral_time(&hit, &ctx));
                    let memo = &mut self.memo;
                    memo.template = index;
                    memo.second = second;
                    memo.text.clear();
                    memo.text.push_str(text);
                    memo.value = Some(v);
                    v
                }
            }
        };
        Some(DateHit {
            start,
            end,
            time,
            integral,
            template: index,
        })
    }

    /// Without templates fail2ban uses all defaults, added at first use.
    fn ensure_templates(&mut self) {
        if self.entries.is_empty() {
            for t in defaults::default_templates(&self.years) {
                // The default names are distinct.
                let _ = self.push(t, true);
            }
        }
    }

    /// The local broken-down "now", cached per second (and per value of
    /// `now`, which callers pass unchanged for runs of lines).
    /// `civil::whole_second(now)`, kept with `local_now`'s (the clock is
    /// read now and then, not per line).
    fn now_second(&mut self, now: f64) -> i64 {
        self.local_now(now);
        match self.now_cache {
            Some((bits, secs, _)) if bits == now.to_bits() => secs,
            _ => i64::MIN,
        }
    }

    fn local_now(&mut self, now: f64) -> Option<LocalNow> {
        if let Some((bits, _, v)) = self.now_cache
            && bits == now.to_bits()
        {
            return v;
        }
        let secs = civil::whole_second(now)?;
        let v = match self.now_cache {
            Some((_, t, v)) if t == secs => v,
            _ => LocalNow::at_second(secs),
        };
        self.now_cache = Some((now.to_bits(), secs, v));
        v
    }
}

/// A time as `fail2ban-regex -v` lists failures: local
/// `%a %b %d %H:%M:%S %Y` (English names, as Python's C locale).
pub fn format_local_ctime(t: f64) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    civil::whole_second(t)
        .and_then(civil::local_parts)
        .map_or_else(
            || format!("{t}"),
            |(y, mo, d, h, mi, s)| {
                let wd = civil::weekday(civil::days_from_civil(y, mo, d));
                let day = usize::try_from(wd)
                    .ok()
                    .and_then(|i| DAYS.get(i))
                    .unwrap_or(&"???");
                let mon = usize::try_from(mo - 1)
                    .ok()
                    .and_then(|i| MONTHS.get(i))
                    .unwrap_or(&"???");
                format!("{day} {mon} {d:02} {h:02}:{mi:02}:{s:02} {y}")
            },
        )
}

/// fail2ban's `MyTime.time2str`: local `%Y-%m-%d %H:%M:%S`.
pub fn format_local(t: f64) -> String {
    // Logs format runs of times within one second: remember the last one.
    thread_local! {
        static LAST: std::cell::RefCell<Option<(i64, String)>> = const { std::cell::RefCell::new(None) };
    }
    let Some(secs) = civil::whole_second(t) else {
        return format!("{t}");
    };
    // The key changes with the zone too (tests switch it).
    let zone = civil::ZONE_GENERATION.load(std::sync::atomic::Ordering::Relaxed) as i64;
    let key = secs ^ (zone << 48);
    if let Some(hit) = LAST.with_borrow(|l| {
        l.as_ref()
            .filter(|(s, _)| *s == key)
            .map(|(_, v)| v.clone())
    }) {
        return hit;
    }
    let text = format_local_uncached(t);
    LAST.with_borrow_mut(|l| *l = Some((key, text.clone())));
    text
}

fn format_local_uncached(t: f64) -> String {
    civil::whole_second(t)
        .and_then(civil::local_parts)
        .map_or_else(
            || format!("{t}"),
            |(y, mo, d, h, mi, s)| format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}"),
        )
}
