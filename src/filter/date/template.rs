//! One date template: how it is built from a `datepattern` line, how it
//! searches a log line, and how its match becomes epoch seconds.
//!
//! fail2ban has three kinds (strptime-style pattern, Unix epoch, TAI64N);
//! they share the boundary rules of `bounds` and differ in their regex and
//! in how the matched text is converted.

use super::DateError;
use super::bounds::{self, Begin};
use super::directives::{self, YearSpan};
use super::fast::{self, FastKind, FastResult};
use super::prefilter;
use super::strptime::{self, Context, Fields, Key};
use crate::filter::pyre::{PyCaptures, PyRegex};
use crate::py::py_float;

/// The only place that compiles a date regex, so the engine can change in
/// one line.
fn compile(python_regex: &str) -> Result<PyRegex, String> {
    PyRegex::new(python_regex).map_err(|e| e.to_string())
}

/// How a template was made; kept so it can be rebuilt when the `%ExY`
/// year span changes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Recipe {
    /// A strptime-style pattern (fail2ban's `DatePatternRegex`).
    Pattern(String),
    /// `EPOCH`/`LEPOCH`, optionally inside a pattern with `{EPOCH}`.
    Epoch {
        line_begin_only: bool,
        pattern: Option<String>,
        long: bool,
    },
    /// `TAI64N`, optionally at line start.
    Tai64n { line_start: bool },
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Pattern,
    /// `group` holds the number; `long` is fail2ban's `LEPOCH`
    /// (milli/microseconds).
    Epoch {
        long: bool,
        group: usize,
    },
    Tai64n,
}

#[derive(Clone)]
struct Compiled {
    re: PyRegex,
    /// Named date groups in group order.
    fields: Vec<(usize, Key)>,
}

#[derive(Clone)]
pub(crate) struct Template {
    pub recipe: Recipe,
    pub name: String,
    /// The Python regex (as `fail2ban-regex --VD` shows it).
    pub regex: String,
    pub flags: u8,
    /// 100 for the line-start copies of the defaults, which fail2ban
    /// prefers when reordering.
    pub weight: f64,
    /// Times the regex matched at all (fail2ban's `DateTemplate.hits`,
    /// which steers the search); the detector counts winners separately.
    pub regex_hits: u64,
    kind: Kind,
    uses_year: bool,
    fast: Option<FastKind>,
    compiled: Option<Result<Compiled, String>>,
    /// Built on first use; the inner `None` means "no prefilter possible".
    prefilter: Option<Option<PyRegex>>,
}

/// A successful search: spans of group 0 and group 1 (the date text that
/// is cut out of the line), both in bytes.
pub(crate) struct Hit<'t> {
    pub whole: (usize, usize),
    pub date: (usize, usize),
    src: HitSource<'t>,
}

// The fast variant is the hot one; boxing it would allocate per line.
#[allow(clippy::large_enum_variant)]
enum HitSource<'t> {
    Fast(super::fast::FastFields<'t>),
    Regex(PyCaptures<'t>),
}

const EPOCH_RE: &str = r"\d{10,11}\b(?:\.\d{3,6})?";
const LONG_EPOCH_RE: &str = r"\d{10,11}(?:\d{3}(?:\.\d{1,6}|\d{3})?)?";

/// Finds `{EPOCH}`/`{LEPOCH}` (any case, not after a backslash).
pub(crate) fn epoch_placeholders(pattern: &str) -> Vec<(usize, usize)> {
    let lower = pattern.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(off) = lower[i..].find('{') {
        let at = i + off;
        let escaped = pattern[..at].ends_with('\\');
        for token in ["{epoch}", "{lepoch}"] {
            if !escaped && lower[at..].starts_with(token) {
                out.push((at, at + token.len()));
            }
        }
        i = at + 1;
    }
    out
}

impl Template {
    pub(crate) fn build(recipe: Recipe, years: &YearSpan) -> Result<Template, DateError> {
        let (name, regex, flags, kind, uses_year) = match &recipe {
            Recipe::Pattern(p) => build_pattern(p, years)?,
            Recipe::Epoch {
                line_begin_only,
                pattern,
                long,
            } => build_epoch(*line_begin_only, pattern.as_deref(), *long),
            Recipe::Tai64n { line_start } => {
                let mut name = String::from("TAI64N");
                let begin = if *line_start {
                    Begin::Line
                } else {
                    Begin::Anywhere
                };
                let (regex, flags) = bounds::set_regex("@[0-9a-f]{24}", &mut name, begin, true);
                (name, regex, flags, Kind::Tai64n, false)
            }
        };
        let fast = fast::kind_for(&recipe);
        Ok(Template {
            recipe,
            name,
            regex,
            flags,
            weight: 1.0,
            regex_hits: 0,
            kind,
            uses_year,
            fast,
            compiled: None,
            prefilter: None,
        })
    }

    /// fail2ban's `pattern` attribute (empty for epoch and TAI64N).
    pub(crate) fn pattern(&self) -> &str {
        match &self.recipe {
            Recipe::Pattern(p) => p,
            _ => "",
        }
    }

    pub(crate) fn anchored(&self) -> bool {
        self.flags & (bounds::LINE_BEGIN | bounds::LINE_END) != 0
    }

    /// Rebuilds the regex for another `%ExY` span (only patterns using it
    /// change).
    pub(crate) fn set_years(&mut self, years: &YearSpan) {
        if !self.uses_year {
            return;
        }
        if let Ok(t) = Template::build(self.recipe.clone(), years)
            && t.regex != self.regex
        {
            self.regex = t.regex;
            self.compiled = None;
            self.prefilter = None;
        }
    }

    #[cfg(test)]
    pub(crate) fn disable_fast(&mut self) {
        self.fast = None;
    }

    /// Compiles now, so a bad user pattern is reported up front.
    pub(crate) fn check(&mut self) -> Result<(), DateError> {
        self.compiled();
        match &self.compiled {
            Some(Err(reason)) => Err(DateError::Regex {
                pattern: self.pattern_or_name(),
                regex: self.regex.clone(),
                reason: reason.clone(),
            }),
            _ => Ok(()),
        }
    }

    fn pattern_or_name(&self) -> String {
        match &self.recipe {
            Recipe::Pattern(p) => p.clone(),
            Recipe::Epoch {
                pattern: Some(p), ..
            } => p.clone(),
            _ => self.name.clone(),
        }
    }

    fn compiled(&mut self) -> Option<&Compiled> {
        if self.compiled.is_none() {
            let built = compile(&self.regex).and_then(|re| {
                let names = re.group_names();
                if names.len() < 2 {
                    return Err("the regex has no capturing group 1 for the date".into());
                }
                // Python refuses a group name used twice (fancy-regex would not).
                let mut seen = std::collections::HashSet::new();
                if let Some(dup) = names.iter().flatten().find(|n| !seen.insert(n.as_str())) {
                    return Err(format!("redefinition of group name '{dup}'"));
                }
                let fields = names
                    .iter()
                    .enumerate()
                    .filter_map(|(i, n)| Some((i, Key::from_group(n.as_deref()?)?)))
                    .collect();
                Ok(Compiled { re, fields })
            });
            self.compiled = Some(built);
        }
        self.compiled.as_ref()?.as_ref().ok()
    }

    /// fail2ban's `matchDate`: search `line` (or only `line[range]` with
    /// the text before still visible to look-behind, like Python's
    /// `pos`/`endpos`), counting every match.
    pub(crate) fn search<'t>(
        &mut self,
        line: &'t str,
        range: Option<(usize, usize)>,
        years: &YearSpan,
    ) -> Option<Hit<'t>> {
        let hit = self.search_uncounted(line, range, years);
        if hit.is_some() {
            self.regex_hits += 1;
        }
        hit
    }

    fn search_uncounted<'t>(
        &mut self,
        line: &'t str,
        range: Option<(usize, usize)>,
        years: &YearSpan,
    ) -> Option<Hit<'t>> {
        if range.is_none()
            && let Some(kind) = self.fast
        {
            match fast::search(kind, line, years) {
                FastResult::Match {
                    whole,
                    date,
                    fields,
                } => {
                    return Some(Hit {
                        whole,
                        date,
                        src: HitSource::Fast(fields),
                    });
                }
                FastResult::NoMatch => return None,
                FastResult::Unsure => {}
            }
        }
        if range.is_none() {
            let pf = self
                .prefilter
                .get_or_insert_with(|| prefilter::build(&self.regex));
            if let Some(pf) = pf
                && !pf.is_match(line)
            {
                return None;
            }
        }
        self.search_regex(line, range)
    }

    /// The general path, also used by tests to check the fast one.
    pub(crate) fn search_regex<'t>(
        &mut self,
        line: &'t str,
        range: Option<(usize, usize)>,
    ) -> Option<Hit<'t>> {
        let c = self.compiled()?;
        let caps = match range {
            None => c.re.captures(line),
            Some((start, end)) => c.re.captures_from(&line[..end], start),
        }?;
        let whole = caps.get(0)?;
        // A group 1 that took no part: fail2ban then cuts an empty text
        // and keeps the whole line around it.
        let date = caps.get(1).unwrap_or((line.len(), line.len()));
        Some(Hit {
            whole,
            date,
            src: HitSource::Regex(caps),
        })
    }

    /// True when fail2ban's time for this hit is a Python `int`: TAI64N, and
    /// dates with a zone (or a `logtimezone`), which go through
    /// `calendar.timegm`; `time.mktime` and epoch values are floats.
    pub(crate) fn integral_time(&self, hit: &Hit<'_>, ctx: &Context) -> bool {
        match self.kind {
            Kind::Pattern => {}
            // TAI64N seconds are parsed as an int.
            Kind::Tai64n => return true,
            Kind::Epoch { .. } => return false,
        }
        if ctx.default_tz.is_some() {
            return true;
        }
        match &hit.src {
            HitSource::Fast(f) => f.get(Key::LowZ).is_some() || f.get(Key::Z).is_some(),
            HitSource::Regex(caps) => self.compiled.as_ref().is_some_and(|c| {
                c.as_ref().is_ok_and(|c| {
                    c.fields.iter().any(|&(i, key)| {
                        matches!(key, Key::LowZ | Key::Z) && caps.text(i).is_some()
                    })
                })
            }),
        }
    }

    /// fail2ban's `getDate`: epoch seconds, or `None` if the matched text
    /// is no valid date.
    pub(crate) fn time_of(&self, hit: &Hit<'_>, ctx: &Context) -> Option<f64> {
        match self.kind {
            Kind::Pattern => {
                let owned;
                let fields = match &hit.src {
                    HitSource::Fast(f) => f,
                    HitSource::Regex(caps) => {
                        let mut f = Fields::new();
                        let compiled = self.compiled.as_ref()?.as_ref().ok()?;
                        for &(i, key) in &compiled.fields {
                            if let Some(text) = caps.text(i) {
                                f.push(key, text);
                            }
                        }
                        owned = f;
                        &owned
                    }
                };
                strptime::to_epoch(fields, ctx)
            }
            Kind::Epoch { long, group } => {
                let text = hit.group_text(group)?;
                let v = py_float(text)?;
                let len = text.chars().count();
                Some(if long && len >= 13 {
                    if len >= 16 && !text.contains('.') {
                        v / 1_000_000.0
                    } else {
                        v / 1000.0
                    }
                } else {
                    v
                })
            }
            Kind::Tai64n => {
                let text = hit.group_text(1)?;
                let hex = text.get(2..17)?;
                u64::from_str_radix(hex, 16).ok().map(|v| v as f64)
            }
        }
    }
}

impl Hit<'_> {
    fn group_text(&self, i: usize) -> Option<&str> {
        match &self.src {
            HitSource::Regex(caps) => caps.text(i),
            HitSource::Fast(_) => None,
        }
    }

    #[cfg(test)]
    pub(crate) fn fields(&self, template: &Template) -> Vec<(Key, String)> {
        match &self.src {
            HitSource::Fast(f) => f
                .as_slice()
                .iter()
                .map(|(k, v)| (*k, v.to_string()))
                .collect(),
            HitSource::Regex(caps) => template
                .compiled
                .as_ref()
                .and_then(|c| c.as_ref().ok())
                .map(|c| {
                    c.fields
                        .iter()
                        .filter_map(|&(i, k)| Some((k, caps.text(i)?.to_string())))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

type Built = (String, String, u8, Kind, bool);

/// fail2ban's `DatePatternRegex.setRegex`.
fn build_pattern(pattern: &str, years: &YearSpan) -> Result<Built, DateError> {
    let mut p = pattern;
    let (mut begin, mut end) = (Begin::Word, true);
    if let Some(rest) = p.strip_prefix("{UNB}") {
        p = rest;
        begin = Begin::Anywhere;
        end = false;
    }
    if begin != Begin::Anywhere
        && let Some(rest) = p.strip_prefix("{^LN-BEG}")
    {
        p = rest;
        begin = Begin::Line;
    }
    let expanded = directives::expand(p, years).map_err(|bad| DateError::Directive {
        pattern: pattern.to_string(),
        directive: bad.directive,
    })?;
    let mut name = expanded.name;
    let mut regex = expanded.regex;
    if bounds::needs_ignore_case(p) {
        regex.insert_str(0, "(?iu)");
    }
    let uses_year = p.contains("%ExY") || p.contains("%(ExY)s");
    let (regex, flags) = bounds::set_regex(&regex, &mut name, begin, end);
    Ok((name, regex, flags, Kind::Pattern, uses_year))
}

/// fail2ban's `DateEpoch.__init__`.
fn build_epoch(line_begin_only: bool, pattern: Option<&str>, long: bool) -> Built {
    let number = if long { LONG_EPOCH_RE } else { EPOCH_RE };
    let mut name = match (pattern, long) {
        (Some(p), _) => p.to_string(),
        (None, false) => "Epoch".to_string(),
        (None, true) => "LongEpoch".to_string(),
    };
    let (regex, flags, group) = if let Some(p) = pattern {
        let mut inner = String::with_capacity(p.len() + 64);
        let mut last = 0;
        for (s, e) in epoch_placeholders(p) {
            inner.push_str(&p[last..s]);
            inner.push('(');
            inner.push_str(number);
            inner.push(')');
            last = e;
        }
        inner.push_str(&p[last..]);
        let (r, f) = bounds::set_regex(&format!("({inner})"), &mut name, Begin::Word, true);
        (r, f, 2)
    } else if !line_begin_only {
        let r = r"((?:^|(?P<square>(?<=^\[))|(?P<selinux>(?<=\baudit\()))%s)(?:(?(selinux)(?=:\d+\)))|(?(square)(?=\])))"
            .replace("%s", number);
        let (r, f) = bounds::set_regex(&r, &mut name, Begin::Anywhere, true);
        (r, f, 1)
    } else {
        let r = r"((?P<square>(?<=^\[))?%s)(?(square)(?=\]))".replace("%s", number);
        let (r, f) = bounds::set_regex(&r, &mut name, Begin::Line, true);
        (r, f, 1)
    };
    (name, regex, flags, Kind::Epoch { long, group }, false)
}
