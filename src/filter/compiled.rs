//! One filter regex, compiled the way fail2ban compiles it.
//!
//! Tags are expanded (`tags`), the Python pattern is translated (`pyre`),
//! and the named groups are read back into fail2ban's failure data with
//! its alternate (`alt_`) and tuple (`tuple_`) merging. It also knows which
//! buffer lines a match covered, which multi-line filters need.

use std::sync::Arc;

use super::failure::Groups;
use super::pyre::{Dollar, PyCaptures, PyReError, PyRegex};
use super::tags::{Complex, UseDns, complex_groups, linearize, resolve_tags};
use super::unfancy;

/// Groups that can identify a failure, in fail2ban's order of preference.
pub const FAILURE_ID_GROUPS: [&str; 4] = ["fid", "ip4", "ip6", "dns"];

/// A compiled failregex, ignoreregex or prefregex.
#[derive(Clone)]
pub struct Compiled {
    /// The pattern as written in the filter (what reports print).
    pub source: String,
    re: PyRegex,
    /// Each named group with its group numbers: several when `unfancy`
    /// copied it into alternatives (at most one of them takes part).
    names: Vec<(Box<[usize]>, Arc<str>)>,
    complex: Vec<Complex>,
    skiplines: usize,
    /// Named groups that take part, non-empty, in every match.
    always: Vec<String>,
}

/// The part of a buffer a search matched.
pub struct Hit<'t> {
    pub caps: PyCaptures<'t>,
}

impl Compiled {
    /// `multiline` is Python's MULTILINE flag (fail2ban sets it on
    /// failregexes when maxlines > 1); `multi_buffer` says the searched
    /// buffer may hold several lines, which changes what `$` means.
    pub fn new(
        source: &str,
        use_dns: UseDns,
        multiline: bool,
        multi_buffer: bool,
    ) -> Result<Compiled, PyReError> {
        let resolved = linearize(&resolve_tags(source, use_dns));
        if resolved.trim_start().is_empty() {
            return Err(PyReError::Invalid {
                pattern: source.to_string(),
                reason: "Cannot add empty regex".to_string(),
            });
        }
        let dollar = if multi_buffer && !multiline {
            Dollar::Exact
        } else {
            Dollar::SingleLineBuffer
        };
        let mut re = PyRegex::with_options(&resolved, dollar, multiline)?;
        // Python's group order, which reports and failure data keep.
        let order: Vec<String> = re.group_names().into_iter().flatten().collect();
        if re.is_fancy()
            && let Some(Ok(linear)) = unfancy::rewrite_branches(&resolved)
                .map(|(p, branches)| PyRegex::with_branches(&p, &branches, dollar, multiline))
            && !linear.is_fancy()
        {
            re = linear;
        }
        let numbered = re.group_names();
        let names: Vec<(Box<[usize]>, Arc<str>)> = order
            .iter()
            .map(|name| {
                let at = numbered
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| n.as_deref().map(unfancy::canonical_name) == Some(name))
                    .map(|(i, _)| i)
                    .collect();
                (at, Arc::from(name.as_str()))
            })
            .collect();
        let complex = complex_groups(names.iter().map(|(_, n)| n.as_ref()));
        let skiplines = names
            .iter()
            .filter(|(_, n)| n.starts_with("skiplines"))
            .count();
        let always = re.linear_pattern().map(always_set).unwrap_or_default();
        Ok(Compiled {
            always,
            source: source.to_string(),
            re,
            names,
            complex,
            skiplines,
        })
    }

    pub fn has_group(&self, name: &str) -> bool {
        self.names.iter().any(|(_, n)| n.as_ref() == name)
    }

    /// True when one of fail2ban's failure-id groups (or `mlfid`) exists.
    pub fn has_failure_id(&self) -> bool {
        FAILURE_ID_GROUPS
            .iter()
            .chain(std::iter::once(&"mlfid"))
            .any(|g| self.has_group(g))
    }

    pub fn search<'t>(&self, buf: &'t str) -> Option<Hit<'t>> {
        self.re.captures(buf).map(|caps| Hit { caps })
    }

    /// True when group `name` takes part, with some text, in every match.
    pub fn always_has(&self, name: &str) -> bool {
        self.always.iter().any(|n| n == name)
    }

    pub fn is_fancy(&self) -> bool {
        self.re.is_fancy()
    }

    pub fn is_match(&self, buf: &str) -> bool {
        self.re.is_match(buf)
    }

    /// Python's `groupdict()` as it iterates: in pattern order.
    pub fn ordered_groups(&self, hit: &Hit<'_>) -> Vec<(String, Option<String>)> {
        self.names
            .iter()
            .map(|(at, n)| (n.to_string(), text(hit, at).map(str::to_string)))
            .collect()
    }

    /// Python's `groupdict()` plus fail2ban's alt_/tuple_ merging.
    pub fn groups(&self, hit: &Hit<'_>) -> Groups {
        let mut g = Groups::with_capacity(self.names.len() + self.complex.len());
        for (at, n) in &self.names {
            // Python's group names are unique within a pattern.
            g.push_new(n.clone(), text(hit, at).map(str::to_string));
        }
        for c in &self.complex {
            match c {
                Complex::Alt { group, target } => {
                    let v = g.get(group.as_str()).cloned().flatten();
                    let cur_empty = g
                        .get(target.as_str())
                        .and_then(|v| v.as_deref())
                        .is_none_or(str::is_empty);
                    if v.as_deref().is_some_and(|v| !v.is_empty()) && cur_empty {
                        g.insert(target.as_str(), v);
                    }
                }
                Complex::Tuple { group, target } => {
                    let v = g.get(group.as_str()).cloned().flatten();
                    let t = g.get(target.as_str()).cloned().flatten();
                    g.insert(
                        target.as_str(),
                        Some(py_tuple_append(t.as_deref(), v.as_deref())),
                    );
                }
            }
        }
        g
    }

    /// Lines captured by `<SKIPLINES>`, split as Python's `splitlines`.
    pub fn skipped_lines(&self, hit: &Hit<'_>) -> Vec<String> {
        let mut all = String::new();
        for n in 0..self.skiplines {
            let name = format!("skiplines{n}");
            if let Some(s) = self
                .names
                .iter()
                .find(|(_, k)| k.as_ref() == name)
                .and_then(|(at, _)| text(hit, at))
            {
                all.push_str(s);
            }
        }
        py_splitlines(&all)
    }
}

/// The named groups of a linear pattern that every match fills with some
/// text: reached through concatenations and required repetitions only,
/// and unable to match empty.
fn always_set(pattern: &str) -> Vec<String> {
    use regex_syntax::hir::{Hir, HirKind};
    fn walk(h: &Hir, out: &mut Vec<String>) {
        match h.kind() {
            HirKind::Capture(c) => {
                if let Some(n) = &c.name
                    && c.sub.properties().minimum_len().is_some_and(|m| m > 0)
                {
                    out.push(n.to_string());
                }
                walk(&c.sub, out);
            }
            HirKind::Concat(v) => v.iter().for_each(|h| walk(h, out)),
            HirKind::Repetition(r) if r.min >= 1 => walk(&r.sub, out),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(h) = regex_syntax::Parser::new().parse(pattern) {
        walk(&h, &mut out);
    }
    out
}

/// A named group's text: that of whichever of its copies took part.
fn text<'t>(hit: &Hit<'t>, at: &[usize]) -> Option<&'t str> {
    at.iter().find_map(|i| hit.caps.text(*i))
}

/// fail2ban keeps tuple values as Python tuples; their text is the repr.
fn py_tuple_append(prev: Option<&str>, v: Option<&str>) -> String {
    let repr = |s: Option<&str>| match s {
        Some(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        None => "None".to_string(),
    };
    match prev {
        Some(p) if p.starts_with('(') && p.ends_with(')') => {
            format!(
                "{}, {})",
                p.trim_end_matches(')').trim_end_matches(','),
                repr(v)
            )
        }
        _ => format!("({}, {})", repr(prev), repr(v)),
    }
}

/// Python's `str.splitlines()` line boundaries.
pub fn py_splitlines(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push(std::mem::take(&mut cur));
            }
            '\n' | '\x0b' | '\x0c' | '\x1c' | '\x1d' | '\x1e' | '\u{85}' | '\u{2028}'
            | '\u{2029}' => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_in_every_match_are_known() {
        let c = Compiled::new(
            r"^<F-NOFAIL>Received <F-MLFFORGET>disconnect</F-MLFFORGET></F-NOFAIL> from <HOST>(?: port \d+)?(?:<F-USER>x*</F-USER>)?$",
            UseDns::Yes,
            false,
            false,
        )
        .unwrap();
        assert!(c.always_has("nofail") && c.always_has("mlfforget"));
        // Optional, or possibly empty: not in every match.
        assert!(!c.always_has("user"));
        let c = Compiled::new(
            r"^(?:<F-NOFAIL>a</F-NOFAIL>|b) <HOST>$",
            UseDns::Yes,
            false,
            false,
        )
        .unwrap();
        assert!(!c.always_has("nofail"));
        let c = Compiled::new(r"^(?P<nofail>a*) <HOST>$", UseDns::Yes, false, false).unwrap();
        assert!(!c.always_has("nofail"));
    }

    #[test]
    fn groups_merge_alternates() {
        let c = Compiled::new(
            "user=<F-ALT_USER>\\S*</F-ALT_USER> rhost=<HOST>(?: user=<F-USER>\\S*</F-USER>)?$",
            UseDns::No,
            false,
            false,
        )
        .unwrap();
        let hit = c.search("user=bob rhost=192.0.2.1\n").unwrap();
        let g = c.groups(&hit);
        assert_eq!(g["user"].as_deref(), Some("bob"));
        assert_eq!(g["ip4"].as_deref(), Some("192.0.2.1"));
        assert!(c.has_failure_id());
    }

    #[test]
    fn empty_regex_is_refused() {
        assert!(Compiled::new("  ", UseDns::No, false, false).is_err());
    }

    #[test]
    fn splitlines_like_python() {
        assert_eq!(py_splitlines("a\nb\r\nc"), vec!["a", "b", "c"]);
        assert_eq!(py_splitlines("a\n"), vec!["a"]);
    }
}
