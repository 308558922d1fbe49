//! Captures of a start-anchored pattern taken by the bounded backtracker
//! alone.
//!
//! The `regex` crate takes captures in two passes: its lazy DFA finds the
//! match, then a capture engine runs over the matched span. Nearly every
//! failregex is anchored at its start (`^`) and searched in a text that
//! begins where the match must begin, so the first pass only repeats what
//! the second finds: going straight to the backtracker saves it (a third
//! of the capture cost on the stock sshd filter). The backtracker's work
//! is bounded by pattern size × text length (it never revisits a state at a
//! position), so this keeps matching linear. Texts too long for its
//! visited set go back to the two-pass search.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use regex_automata::nfa::thompson::backtrack::{BoundedBacktracker, Cache};
use regex_automata::nfa::thompson::{self, NFA};
use regex_automata::util::captures::Captures;
use regex_automata::util::pool::Pool;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input};

type CacheFn =
    Box<dyn Fn() -> Cache + Send + Sync + std::panic::UnwindSafe + std::panic::RefUnwindSafe>;

/// A `Direct` made once a pattern has shown that its searches mostly
/// succeed. On a text that does not match, the lazy DFA of the two-pass
/// search gives up after a few bytes where the backtracker tries every
/// way; the prefilter leaves such candidates for some patterns (sshd's
/// `pam_[a-z]+\(sshd:auth\)` is a candidate for every `pam_unix` line).
/// Which engine runs changes only the speed, never the result.
#[derive(Default)]
pub(crate) struct LazyDirect {
    direct: std::sync::OnceLock<Option<Arc<Direct>>>,
    /// Searches that found a match, and all searches, so far.
    hits: AtomicU32,
    tries: AtomicU32,
}

impl Clone for LazyDirect {
    fn clone(&self) -> Self {
        LazyDirect {
            direct: self.direct.clone(),
            ..LazyDirect::default()
        }
    }
}

/// Searches counted before the engine is chosen.
const TRIAL: u32 = 64;

impl LazyDirect {
    /// The one-pass engine, when this pattern's searches mostly match.
    pub(crate) fn get(&self, pattern: &str) -> Option<&Direct> {
        let tries = self.tries.load(Relaxed);
        if tries < TRIAL {
            return None;
        }
        if self.hits.load(Relaxed) * 2 < tries {
            return None;
        }
        self.direct
            .get_or_init(|| Direct::build(pattern))
            .as_deref()
    }

    /// Counts one search by the two-pass engine during the trial.
    pub(crate) fn record(&self, hit: bool) {
        if self.tries.load(Relaxed) < TRIAL {
            self.tries.fetch_add(1, Relaxed);
            if hit {
                self.hits.fetch_add(1, Relaxed);
            }
        }
    }
}

/// Capture slots from either engine, over ASCII text.
pub enum Slots<'t> {
    Regex(regex::bytes::Captures<'t>),
    Direct(Captures),
}

impl Slots<'_> {
    pub(crate) fn get(&self, i: usize) -> Option<(usize, usize)> {
        match self {
            Slots::Regex(c) => c.get(i).map(|m| (m.start(), m.end())),
            Slots::Direct(c) => c.get_group(i).map(|s| (s.start, s.end)),
        }
    }

    /// Captures of `re` (whose pattern is `pattern`) in `text`, in one
    /// pass when `lazy` says it serves.
    pub(crate) fn search<'t>(
        re: &regex::bytes::Regex,
        lazy: &LazyDirect,
        pattern: &str,
        text: &'t [u8],
    ) -> Option<Slots<'t>> {
        if let Some(Ok(c)) = lazy.get(pattern).map(|d| d.captures(text)) {
            return c.map(Slots::Direct);
        }
        let c = re.captures(text);
        lazy.record(c.is_some());
        c.map(Slots::Regex)
    }
}

/// A start-anchored pattern's backtracker, with caches for any thread.
pub(crate) struct Direct {
    engine: BoundedBacktracker,
    caches: Pool<Cache, CacheFn>,
}

impl Direct {
    /// The backtracker for `pattern` (the `regex` crate's syntax, ASCII
    /// mode as in `pyre::ascii_build`), or None when the pattern is not
    /// anchored at its start in every branch.
    pub(crate) fn build(pattern: &str) -> Option<Arc<Direct>> {
        let nfa = NFA::compiler()
            .syntax(syntax::Config::new().unicode(false).utf8(false))
            .configure(thompson::Config::new().utf8(false))
            .build(pattern)
            .ok()?;
        if !nfa.is_always_start_anchored() {
            return None;
        }
        let engine = BoundedBacktracker::new_from_nfa(nfa).ok()?;
        let for_caches = engine.clone();
        let caches = Pool::new(Box::new(move || for_caches.create_cache()) as CacheFn);
        Some(Arc::new(Direct { engine, caches }))
    }

    /// The captures of the leftmost-first match in `text`, which can only
    /// start at 0. `Err` when `text` is too long for the backtracker.
    pub(crate) fn captures(&self, text: &[u8]) -> Result<Option<Captures>, ()> {
        if text.len() > self.engine.max_haystack_len() {
            return Err(());
        }
        let mut caps = self.engine.create_captures();
        let mut cache = self.caches.get();
        self.engine
            .try_captures(
                &mut cache,
                Input::new(text).anchored(Anchored::Yes),
                &mut caps,
            )
            .map_err(|_| ())?;
        Ok(caps.is_match().then_some(caps))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_groups_as_the_regex_crate() {
        let p = r"^(?P<user>.*?) from (?P<ip>\d+\.\d+\.\d+\.\d+)(?: port (\d+))?";
        let d = Direct::build(p).expect("anchored");
        let re = regex::bytes::RegexBuilder::new(p)
            .unicode(false)
            .build()
            .unwrap();
        for t in [
            "bob from 192.0.2.1 port 22",
            "a from b from 192.0.2.7",
            "x from y",
        ] {
            let ours = d.captures(t.as_bytes()).unwrap();
            let theirs = re.captures(t.as_bytes());
            assert_eq!(ours.is_some(), theirs.is_some(), "{t}");
            if let (Some(o), Some(r)) = (ours, theirs) {
                for i in 0..r.len() {
                    let a = o.get_group(i).map(|s| (s.start, s.end));
                    let b = r.get(i).map(|m| (m.start(), m.end()));
                    assert_eq!(a, b, "{t} group {i}");
                }
            }
        }
    }

    #[test]
    fn unanchored_or_too_long() {
        assert!(Direct::build(r"from (\S+)").is_none());
        assert!(Direct::build(r"^a|b").is_none());
        let d = Direct::build(r"^(a+)b").unwrap();
        let long = "a".repeat(d.engine.max_haystack_len() + 1);
        assert!(d.captures(long.as_bytes()).is_err());
        assert!(d.captures(b"aab").unwrap().is_some());
    }
}
