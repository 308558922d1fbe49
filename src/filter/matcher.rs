//! The per-line matcher: log line in, failures out.
//!
//! This is fail2ban's `Filter.processLine`/`findFailure`. Stage one
//! (`cutter`) cuts the date out and rules out failregexes; this stage keeps
//! the last `maxlines` lines, runs `prefregex`, then the failregexes in
//! order and the ignoreregexes, merges multi-line failures and turns the
//! matched groups into a failure id. It is pure: the caller passes the
//! time, and host names are resolved through a `Resolver`.
//!
//! A line stage one skips costs nothing here; group values are only
//! copied out once a failregex has matched.

use super::compiled::{Compiled, Hit};
use super::cutter::{LineCutter, Prepared};
use super::failure::{FailData, Failure, Family, Groups, Stamp, TupleLine, ip_text};
use super::mlfid::MlfidCache;
use super::prefsplit::{PrefSplit, Split};
use super::pyre::PyReError;
use super::tags::{UseDns, resolve_tags};

/// Name → address lookups for `usedns = yes|warn` (DNS is I/O).
pub trait Resolver {
    fn resolve(&self, name: &str) -> Vec<String>;
}

/// A resolver that never resolves (tests, `-r`, `usedns = no`).
pub struct NoResolver;

impl Resolver for NoResolver {
    fn resolve(&self, _name: &str) -> Vec<String> {
        Vec::new()
    }
}

/// What a filter is made of (the `[Definition]` of a filter file).
#[derive(Clone, Debug, Default)]
pub struct FilterRegexes {
    pub prefregex: Option<String>,
    pub failregex: Vec<String>,
    pub ignoreregex: Vec<String>,
    pub maxlines: usize,
    pub use_dns: UseDns,
}

/// How results are reported, which differs between daemon and tester.
#[derive(Clone, Copy, Debug, Default)]
pub struct MatchMode {
    /// Try every failregex on a line, not only up to the first hit
    /// (fail2ban-regex without `-o`).
    pub check_all: bool,
    /// Drop multi-line failures still waiting for their id (`-o`).
    pub ignore_pending: bool,
    /// Keep host text as it is, no DNS (`-r`, `usedns = raw`).
    pub raw_host: bool,
    /// Skip matches on lines without a date (the daemon; not fail2ban-regex).
    pub check_find_time: bool,
}

/// What one line produced.
#[derive(Debug, Default)]
pub struct LineOutcome {
    pub failures: Vec<Failure>,
    /// Indices of the ignoreregexes that hit.
    pub ignored_by: Vec<usize>,
    pub pref_matched: bool,
    /// The prefregex's groups in pattern order, when `want_pref_groups`.
    pub pref_groups: Option<Vec<(String, Option<String>)>>,
    /// Searches that gave up at the backtracking bound on this line (a
    /// hostile or pathological line): it was taken as not matching them.
    pub bound_hits: u32,
}

#[derive(Debug)]
pub enum MatcherError {
    /// A regex of the filter does not compile.
    Regex {
        kind: &'static str,
        error: PyReError,
    },
    /// A failregex can find no failure id (fail2ban's wording).
    NoFailureId(String),
}

impl std::fmt::Display for MatcherError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MatcherError::Regex { error, .. } => write!(f, "{error}"),
            MatcherError::NoFailureId(r) => write!(f, "No failure-id group in '{r}'"),
        }
    }
}

impl std::error::Error for MatcherError {}

/// The compiled filter plus its line buffer and multi-line state.
#[derive(Clone)]
pub struct Matcher {
    pref: Option<Compiled>,
    /// The prefregex as two DFA searches, when its shape allows.
    pref_split: Option<PrefSplit>,
    fail: Vec<Compiled>,
    ignore: Vec<Compiled>,
    maxlines: usize,
    use_dns: UseDns,
    mode: MatchMode,
    /// Stage one: dates and the prefilter (see `cutter`).
    pub cutter: LineCutter,
    buffer: Vec<TupleLine>,
    /// See `bounded_lines`.
    bounded_lines: u64,
    mlfid: MlfidCache,
    /// Per failregex: every match is a no-failure that ends its multi-line
    /// id (`<F-NOFAIL>`/`<F-MLFGAINED>` with `<F-MLFFORGET>`). For an id
    /// not in the cache such a match changes nothing, so no captures are
    /// taken for it (see `match_buffer`).
    ends_quietly: Vec<bool>,
    scratch: String,
    /// Return the prefregex's groups (fail2ban-regex `-v`).
    want_pref_groups: bool,
}

/// fail2ban checks the ignoreregexes before anything else when a filter
/// has fewer of them than failregexes, less two.
fn ignores_first(ignore: &[Compiled], fail: &[Compiled]) -> bool {
    !ignore.is_empty() && ignore.len() + 2 < fail.len()
}

impl Matcher {
    pub fn new(def: &FilterRegexes, mode: MatchMode) -> Result<Matcher, MatcherError> {
        let multi = def.maxlines > 1;
        let compile = |kind: &'static str, src: &str, ml: bool| {
            Compiled::new(src, def.use_dns, ml, multi)
                .map_err(|error| MatcherError::Regex { kind, error })
        };
        let pref = match def.prefregex.as_deref().filter(|p| !p.trim().is_empty()) {
            Some(p) => Some(compile("prefregex", p, false)?),
            None => None,
        };
        let mut fail = Vec::with_capacity(def.failregex.len());
        for src in &def.failregex {
            let c = compile("failregex", src, multi)?;
            if !c.has_failure_id() && !pref.as_ref().is_some_and(Compiled::has_failure_id) {
                return Err(MatcherError::NoFailureId(src.clone()));
            }
            fail.push(c);
        }
        let ignore = def
            .ignoreregex
            .iter()
            .map(|src| compile("ignoreregex", src, false))
            .collect::<Result<Vec<_>, _>>()?;
        let pref_split = def
            .prefregex
            .as_deref()
            .filter(|_| !multi)
            .and_then(|p| PrefSplit::new(&resolve_tags(p, def.use_dns)));
        // Skipping lines early is exact only where no ignoreregex runs
        // before the failregexes and the buffer holds one line.
        let early_ignore = ignores_first(&ignore, &fail);
        let cutter = LineCutter::new(
            def,
            pref.clone(),
            pref_split.clone(),
            !multi && !early_ignore,
            mode.check_find_time,
        );
        let ends_quietly = fail
            .iter()
            .map(|c| {
                !c.has_group("mlfid")
                    && c.always_has("mlfforget")
                    && (c.always_has("nofail") || c.always_has("mlfgained"))
            })
            .collect();
        Ok(Matcher {
            bounded_lines: 0,
            ends_quietly,
            pref,
            pref_split,
            fail,
            ignore,
            maxlines: def.maxlines.max(1),
            use_dns: def.use_dns,
            mode,
            cutter,
            buffer: Vec::new(),
            mlfid: MlfidCache::default(),
            scratch: String::new(),
            want_pref_groups: false,
        })
    }

    pub fn maxlines(&self) -> usize {
        self.maxlines
    }

    pub fn prefregex(&self) -> Option<&str> {
        self.pref.as_ref().map(|p| p.source.as_str())
    }

    /// Report the prefregex's groups of every line (fail2ban-regex `-v`),
    /// which makes stage one let every line through.
    pub fn set_want_pref_groups(&mut self, yes: bool) {
        self.want_pref_groups = yes;
        self.cutter.no_skip = yes;
    }

    /// The multi-line buffer (fail2ban-regex tracks which lines left it).
    pub fn buffer(&self) -> &[TupleLine] {
        &self.buffer
    }

    /// Processes one log line (without its line ending). `now` is the
    /// current time (also the wall clock of the multi-line id cache).
    pub fn process_line(&mut self, line: &str, now: f64, resolver: &dyn Resolver) -> LineOutcome {
        let p = self.cutter.prepare(line, now);
        self.finish(line, &p, now, resolver)
    }

    /// Processes a line whose time is known (journal entries).
    pub fn process_dated(
        &mut self,
        line: &str,
        time: f64,
        now: f64,
        resolver: &dyn Resolver,
    ) -> LineOutcome {
        let p = self.cutter.prepare_dated(line, time);
        self.finish(line, &p, now, resolver)
    }

    /// Stage two: the failregexes on a line stage one prepared.
    pub fn finish(
        &mut self,
        line: &str,
        p: &Prepared,
        now: f64,
        resolver: &dyn Resolver,
    ) -> LineOutcome {
        let mut out = LineOutcome {
            pref_matched: p.pref_matched,
            ..LineOutcome::default()
        };
        if !p.skip {
            self.find_failures(p.tuple(line), p, now, resolver, &mut out);
        }
        out.bound_hits = super::pyre::take_bound_hits();
        self.bounded_lines += u64::from(out.bound_hits > 0);
        out
    }

    /// Lines so far on which a search gave up at the backtracking bound.
    pub fn bounded_lines(&self) -> u64 {
        self.bounded_lines
    }

    fn build_buf(lines: &[TupleLine], buf: &mut String) {
        buf.clear();
        for (i, l) in lines.iter().enumerate() {
            if i > 0 {
                buf.push('\n');
            }
            l.push_stripped(buf);
        }
        buf.push('\n');
    }

    /// fail2ban's `_ignoreLine`: indices of ignoreregexes that hit.
    fn ignore_hits(&self, buf: &str, out: &mut Vec<usize>) -> bool {
        let mut found = false;
        for (i, re) in self.ignore.iter().enumerate() {
            if re.is_match(buf) {
                out.push(i);
                found = true;
                if !self.mode.check_all {
                    break;
                }
            }
        }
        found
    }

    fn find_failures(
        &mut self,
        tuple: TupleLine,
        found: &Prepared,
        now: f64,
        resolver: &dyn Resolver,
        out: &mut LineOutcome,
    ) {
        let multi = self.maxlines > 1;
        if multi {
            self.buffer.push(tuple);
            let excess = self.buffer.len().saturating_sub(self.maxlines);
            self.buffer.drain(..excess);
        } else {
            self.buffer.clear();
            self.buffer.push(tuple);
        }
        // The buffer as it was before any match changed it. A single-line
        // buffer is lent rather than copied, and given back below.
        let org_lines = if multi {
            self.buffer.clone()
        } else {
            std::mem::take(&mut self.buffer)
        };
        let mut buf = std::mem::take(&mut self.scratch);
        Self::build_buf(&org_lines, &mut buf);
        self.match_buffer(&org_lines, &mut buf, found, now, resolver, out);
        self.scratch = buf;
        if !multi {
            self.buffer = org_lines;
        }
    }

    /// The prefregex, failregexes and ignoreregexes on the text `buf` of
    /// the buffer lines `org_lines`.
    fn match_buffer(
        &mut self,
        org_lines: &[TupleLine],
        buf: &mut String,
        found: &Prepared,
        now: f64,
        resolver: &dyn Resolver,
        out: &mut LineOutcome,
    ) {
        let date = found.date;
        let multi = self.maxlines > 1;
        if ignores_first(&self.ignore, &self.fail) && self.ignore_hits(buf, &mut out.ignored_by) {
            return;
        }

        let mut pre_groups = Groups::new();
        // The content as a range of `buf`, or as text of its own.
        let mut content: Option<Result<(usize, usize), String>> = None;
        let split = match (
            &self.pref_split,
            !multi && !self.want_pref_groups,
            found.split,
        ) {
            // Stage one found it already, in this same text.
            (Some(_), true, Some((m, c0, c1))) => Split::Groups(m.map(|e| &buf[..e]), &buf[c0..c1]),
            (Some(s), true, None) => s.apply(buf),
            _ => Split::Unsure,
        };
        if let Split::Groups(mlfid, c) = split {
            out.pref_matched = true;
            if let Some(m) = mlfid {
                pre_groups.insert("mlfid", Some(m.to_string()));
            }
            let c0 = c.as_ptr() as usize - buf.as_ptr() as usize;
            content = Some(Ok((c0, c0 + c.len())));
        } else if matches!(split, Split::NoMatch) {
            return;
        } else if let Some(pref) = &self.pref {
            let Some(hit) = pref.search(buf) else {
                return;
            };
            out.pref_matched = true;
            if self.want_pref_groups {
                out.pref_groups = Some(pref.ordered_groups(&hit));
            }
            pre_groups = pref.groups(&hit);
            if let Some(Some(c)) = pre_groups.remove("content")
                && !c.is_empty()
            {
                content = Some(Err(c));
            }
        }
        let mut buf_valid = true;
        match content {
            // One line: the content simply becomes the text searched.
            Some(Ok((c0, c1))) if !multi => {
                buf.truncate(c1);
                buf.replace_range(..c0, "");
                buf.push('\n');
            }
            Some(c) => {
                let text = match &c {
                    Ok((c0, c1)) => &buf[*c0..*c1],
                    Err(t) => t.as_str(),
                };
                self.buffer = vec![TupleLine::plain(text)];
                if multi {
                    buf_valid = false;
                } else {
                    Self::build_buf(&self.buffer, buf);
                }
            }
            None => {}
        }
        let def_raw = self.mode.raw_host || self.use_dns == UseDns::Raw;

        for idx in 0..self.fail.len() {
            if !buf_valid {
                Self::build_buf(&self.buffer, buf);
                buf_valid = true;
            }
            if found.candidates.is_some_and(|m| m & (1 << idx) == 0) {
                continue;
            }
            let re = &self.fail[idx];
            // A no-failure ending an id the cache does not hold: merging it
            // would change nothing and report nothing (one line, all
            // regexes not wanted, no ignoreregex to check it against).
            if self.ends_quietly[idx]
                && !multi
                && !self.mode.check_all
                && self.ignore.is_empty()
                && let Some(Some(id)) = pre_groups.get("mlfid")
                && !self.mlfid.live(id, now)
                && re.is_match(buf)
            {
                if date.is_none() && self.mode.check_find_time {
                    continue;
                }
                break;
            }
            let Some(hit) = re.search(buf) else { continue };
            let groups = re.groups(&hit);
            let (matched, unmatched) = split_matched(re, &hit, buf, org_lines);
            if !self.ignore.is_empty() {
                let ignored = if multi {
                    let mut b = String::new();
                    Self::build_buf(&matched, &mut b);
                    self.ignore_hits(&b, &mut out.ignored_by)
                } else {
                    self.ignore_hits(buf, &mut out.ignored_by)
                };
                if ignored {
                    if !self.mode.check_all || multi {
                        self.buffer = unmatched.clone();
                    }
                    // One line: either it is kept (all regexes checked) or
                    // the loop ends here.
                    buf_valid = !multi;
                    if !self.mode.check_all {
                        break;
                    }
                    continue;
                }
            }
            if date.is_none() && self.mode.check_find_time {
                // The daemon cannot place a dateless line in time.
                continue;
            }
            if !self.mode.check_all || multi {
                if multi {
                    self.buffer = unmatched;
                    buf_valid = false;
                } else {
                    // The one line matched: nothing is left to search.
                    buf.clear();
                    buf.push('\n');
                }
            }
            let mut fail = FailData {
                groups: if pre_groups.is_empty() {
                    groups
                } else {
                    let mut g = Groups::with_capacity(pre_groups.len() + groups.len());
                    g.extend(pre_groups.iter().map(|(k, v)| (k.clone(), v.clone())));
                    g.extend(groups);
                    g
                },
                ..FailData::default()
            };
            let mlfid = fail.get("mlfid").map(str::to_string);
            let mut linked = false;
            if let Some(id) = &mlfid {
                let keep_nofail = self.mode.check_all;
                let Some((merged, l)) = self.mlfid.merge(id, fail, &matched, now, keep_nofail)
                else {
                    // No failure (yet): nothing more to do for this line.
                    break;
                };
                fail = merged;
                linked = l;
            } else {
                fail.matches.extend(matched);
            }
            let fid = fail.get("fid").map(str::to_string);
            let ids: Vec<Option<String>> = if let Some(ip) = fail.get("ip4").map(str::to_string) {
                self.raw_id(&mut fail, fid, &ip, Some(Family::V4), def_raw)
            } else if let Some(ip) = fail.get("ip6").map(str::to_string) {
                self.raw_id(&mut fail, fid, &ip, Some(Family::V6), def_raw)
            } else if let Some(dns) = fail.get("dns").map(str::to_string) {
                if def_raw {
                    self.raw_id(&mut fail, fid, &dns, None, def_raw)
                } else {
                    self.text_to_ips(&dns, resolver)
                }
            } else if let Some(f) = fid.clone() {
                self.raw_id(&mut fail, fid, &f, None, def_raw)
            } else if let Some(id) = &mlfid {
                // A multi-line failure still waiting for its address.
                fail.pending = true;
                if linked {
                    self.mlfid.update(id, &fail);
                }
                if !self.mode.check_all && self.mode.ignore_pending {
                    break;
                }
                vec![None]
            } else {
                // fail2ban logs "No group found" and goes on with the next
                // regex (only a group that did not take part gets here: an id
                // group is required when the filter is loaded).
                continue;
            };
            let time = date.unwrap_or(now);
            let stamp = match date {
                None => Stamp::Missing,
                Some(_) if found.time_int => Stamp::Int,
                Some(_) => Stamp::Float,
            };
            let last = ids.len().saturating_sub(1);
            let mut fail = Some(fail);
            for (n, id) in ids.into_iter().enumerate() {
                // The last id takes the data itself; the others a copy.
                let data = if n == last { fail.take() } else { fail.clone() };
                out.failures.push(Failure {
                    regex: idx,
                    id,
                    time,
                    stamp,
                    data: data.unwrap_or_default(),
                });
            }
            if !self.mode.check_all {
                break;
            }
        }
    }

    /// The failure id for an address or id taken as it is (fail2ban's
    /// "raw" branch): `<F-ID>` beside an address makes the id the F-ID and
    /// keeps the address as `ip`.
    fn raw_id(
        &self,
        fail: &mut FailData,
        fid: Option<String>,
        ip: &str,
        family: Option<Family>,
        def_raw: bool,
    ) -> Vec<Option<String>> {
        let plen = fail.get("cidr").and_then(|c| c.parse::<u32>().ok());
        let from_group = family.is_some();
        let ip_canon = if from_group || !def_raw {
            ip_text(ip, family, plen)
        } else {
            ip.to_string()
        };
        match fid {
            Some(f) if f != ip => {
                fail.ip = Some(ip_canon);
                if def_raw {
                    vec![Some(f)]
                } else {
                    vec![Some(unspec_ip_text(&f))]
                }
            }
            _ => vec![Some(ip_canon)],
        }
    }

    /// fail2ban's `DNSUtils.textToIp`: an address, or names resolved when
    /// `usedns` allows it.
    fn text_to_ips(&self, text: &str, resolver: &dyn Resolver) -> Vec<Option<String>> {
        let t = unspec_ip_text(text);
        if t.parse::<std::net::IpAddr>().is_ok() {
            return vec![Some(t)];
        }
        if matches!(self.use_dns, UseDns::Yes | UseDns::Warn) {
            let mut v = resolver.resolve(text);
            v.sort();
            v.dedup();
            return v.into_iter().map(Some).collect();
        }
        Vec::new()
    }
}

/// `IPAddr(text)` with no family given: brackets and `/plen` accepted.
fn unspec_ip_text(text: &str) -> String {
    let t = if text.len() > 2 && text.starts_with('[') && text.ends_with(']') {
        &text[1..text.len() - 1]
    } else {
        text
    };
    match t.split_once('/') {
        Some((a, p)) => match p.parse::<u32>() {
            Ok(p) => {
                let r = ip_text(a, None, Some(p));
                if r == a { text.to_string() } else { r }
            }
            Err(_) => text.to_string(),
        },
        None => ip_text(t, None, None),
    }
}

/// Which buffer lines a match covered (fail2ban's matched/unmatched tuple
/// lines), lines eaten by `<SKIPLINES>` counting as unmatched.
fn split_matched(
    re: &Compiled,
    hit: &Hit<'_>,
    buf: &str,
    org: &[TupleLine],
) -> (Vec<TupleLine>, Vec<TupleLine>) {
    if org.len() <= 1 {
        return (org.to_vec(), Vec::new());
    }
    let (start, end) = hit.caps.get(0).unwrap_or((0, 0));
    let b = buf.as_bytes();
    let line_start = b[..(start + 1).min(b.len())]
        .iter()
        .rposition(|c| *c == b'\n')
        .map_or(0, |p| p + 1);
    let from = end.saturating_sub(1);
    let line_end = b[from..]
        .iter()
        .position(|c| *c == b'\n')
        .map_or(b.len(), |p| from + p + 1);
    let count = |upto: usize| b[..upto].iter().filter(|c| **c == b'\n').count();
    let (c1, c2) = (
        count(line_start).min(org.len()),
        count(line_end).min(org.len()),
    );
    let mut matched: Vec<TupleLine> = org[c1..c2.max(c1)].to_vec();
    let mut unmatched: Vec<TupleLine> = org[..c1].to_vec();
    let mut n = 0;
    for skipped in re.skipped_lines(hit) {
        if let Some(m) = matched[n.min(matched.len())..]
            .iter()
            .position(|l| l.stripped() == skipped)
        {
            unmatched.push(matched.remove(n + m));
            n += m;
        }
    }
    unmatched.extend_from_slice(&org[c2.max(c1)..]);
    (matched, unmatched)
}
