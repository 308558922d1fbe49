//! Stage one of matching a line: where its date is, and which failregexes
//! could match it at all.
//!
//! This part keeps its own state (the date detector and the last date
//! seen) and needs nothing from the failure side, so it is apart from
//! `matcher`: `fail2ban-regex` runs it on one core while the matcher runs on
//! the other; the daemon simply calls both in turn.

use std::sync::Arc;

use regex_automata::PatternSet;
use regex_automata::meta::{self, Cache};

use super::compiled::Compiled;
use super::date::DateDetector;
use super::failure::TupleLine;
use super::matcher::FilterRegexes;
use super::prefsplit::PrefSplit;
use super::tags::resolve_tags;

/// Where the date of a line is.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Cut {
    /// Bytes `start..end` are the date.
    Span(usize, usize),
    /// No date in the line.
    Whole,
    /// No date in the line; the last date seen stands in for it.
    LastDate,
}

/// What stage one learnt about a line, for the matcher.
#[derive(Debug)]
pub struct Prepared {
    pub(crate) cut: Cut,
    /// The line's time; None when it has no usable date.
    pub(crate) date: Option<f64>,
    /// fail2ban holds this time as a Python `int`.
    pub(crate) time_int: bool,
    /// The earlier date standing in for this line's (`Cut::LastDate`).
    pub(crate) last_date_text: Option<Arc<str>>,
    /// Failregexes that may match, one bit each; None: any of them.
    pub(crate) candidates: Option<u128>,
    /// Where the prefregex put `mlfid`'s end and the content, in the line
    /// with its date cut out (see `prefsplit`), when stage one found it.
    pub(crate) split: Option<(Option<usize>, usize, usize)>,
    /// No failregex can match this line.
    pub skip: bool,
    /// The prefregex matched a skipped line (counted by fail2ban-regex).
    pub pref_matched: bool,
}

impl Prepared {
    /// The line split as fail2ban keeps it: (before, date, after).
    pub(crate) fn tuple(&self, line: &str) -> TupleLine {
        match self.cut {
            Cut::Span(start, end) => TupleLine::cut(line, start, end),
            Cut::Whole => TupleLine::plain(line),
            Cut::LastDate => TupleLine::dated_by(line, self.last_date_text.clone()),
        }
    }
}

/// The last date seen: its time and text. The text is shared only when a
/// dateless line needs it, so a dated line costs no allocation.
#[derive(Clone)]
struct LastDate {
    time: f64,
    text: String,
    shared: Option<Arc<str>>,
}

impl LastDate {
    fn set(&mut self, time: f64, text: &str) {
        self.time = time;
        if self.text != text {
            self.text.clear();
            self.text.push_str(text);
            self.shared = None;
        }
    }

    fn shared(&mut self) -> Arc<str> {
        self.shared
            .get_or_insert_with(|| Arc::from(self.text.as_str()))
            .clone()
    }
}

/// A multi-pattern regex with its search cache, reused from line to line.
#[derive(Clone)]
struct Searcher {
    re: meta::Regex,
    cache: Cache,
}

impl Searcher {
    fn new(re: meta::Regex) -> Searcher {
        Searcher {
            cache: re.create_cache(),
            re,
        }
    }

    /// The patterns that match `buf`, one bit each, anchored at its start
    /// or anywhere in it.
    fn which(&mut self, buf: &[u8], anchored: bool, hits: &mut PatternSet) -> u128 {
        let anchored = match anchored {
            true => regex_automata::Anchored::Yes,
            false => regex_automata::Anchored::No,
        };
        hits.clear();
        self.re.which_overlapping_matches_with(
            &mut self.cache,
            &regex_automata::Input::new(buf).anchored(anchored),
            hits,
        );
        hits.iter().fold(0u128, |m, i| m | 1 << i.as_usize())
    }
}

/// Which failregexes may match a line: the relaxed failregexes as one set
/// and, for anchored failregexes, their literal prefixes as another.
#[derive(Clone)]
struct Prefilter {
    /// The failregexes' relaxed forms (see `pyre::relaxed`).
    relaxed: Vec<String>,
    /// Their set, built when first needed (for anchored failregexes with
    /// prefixes, only for lines whose content stage one cannot find);
    /// None inside when it does not build.
    set: Option<Option<Searcher>>,
    /// For anchored failregexes: the literal prefixes each one's matches
    /// start with (an empty pattern when not known).
    prefixes: Option<Searcher>,
    /// Every failregex matches only at the start of the text it searches
    /// (see `pyre::anchored_at_start`).
    anchored: bool,
    /// Per failregex, literal texts every match contains (see
    /// `required_literals`): a candidate whose text lacks one is dropped.
    required: Vec<Vec<memchr::memmem::Finder<'static>>>,
    hits: PatternSet,
}

impl Prefilter {
    /// `mask` without the failregexes whose required literals are missing
    /// from `text` (any text holding the one the failregexes will search).
    fn require(&self, mut mask: u128, text: &str) -> u128 {
        let mut rest = mask;
        while rest != 0 {
            let i = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            if let Some(lits) = self.required.get(i)
                && lits.iter().any(|l| l.find(text.as_bytes()).is_none())
            {
                mask &= !(1 << i);
            }
        }
        mask
    }

    /// The failregexes that may match `buf`, one bit each (0: none);
    /// `at_start`: only matches that start where `buf` starts count (the
    /// content of a line, for anchored failregexes).
    fn candidates(&mut self, buf: &[u8], at_start: bool) -> u128 {
        if at_start && let Some(p) = self.prefixes.as_mut() {
            return p.which(buf, true, &mut self.hits);
        }
        let relaxed = &self.relaxed;
        match self
            .set
            .get_or_insert_with(|| relaxed_set(relaxed).map(Searcher::new))
        {
            Some(set) => set.which(buf, at_start, &mut self.hits),
            // Without the set, any of them may.
            None => u128::MAX >> (128 - self.relaxed.len()),
        }
    }
}

/// Dates plus the prefilter: one `RegexSet` of every failregex's relaxed
/// form (see `pyre::relaxed`), run once per line.
#[derive(Clone, Default)]
pub struct LineCutter {
    pub dates: Option<DateDetector>,
    last_date: Option<LastDate>,
    prefilter: Option<Prefilter>,
    /// The prefregex, to count the lines it matches that are skipped.
    pref: Option<Compiled>,
    /// The prefregex as two DFA searches, when its shape allows.
    pref_split: Option<PrefSplit>,
    /// The content the failregexes will search, when stage one knows it.
    content: String,
    /// Count prefregex matches on skipped lines (fail2ban-regex's report).
    pub count_pref: bool,
    /// Send every line to the matcher (e.g. when `-v` wants the prefregex
    /// groups of every line).
    pub(crate) no_skip: bool,
    /// A running daemon dates a dateless line now.
    check_find_time: bool,
    scratch: String,
}

impl LineCutter {
    /// `pref` is the compiled prefregex (for counting), `prefilter_ok` says
    /// whether skipping lines keeps fail2ban's results (single-line filters
    /// whose ignoreregexes are not checked first).
    pub(crate) fn new(
        def: &FilterRegexes,
        pref: Option<Compiled>,
        pref_split: Option<PrefSplit>,
        prefilter_ok: bool,
        check_find_time: bool,
    ) -> LineCutter {
        let prefilter = if prefilter_ok { prefilter(def) } else { None };
        LineCutter {
            dates: Some(DateDetector::new_default()),
            prefilter,
            pref_split,
            pref,
            count_pref: true,
            check_find_time,
            ..LineCutter::default()
        }
    }

    /// Stage one for one line (without its line ending) at time `now`.
    pub fn prepare(&mut self, line: &str, now: f64) -> Prepared {
        let (cut, date, time_int) = self.cut_date(line, now);
        self.prepare_cut(line, cut, date, time_int)
    }

    /// Stage one for a line whose time is already known (a journal entry):
    /// no date is looked for in its text.
    pub fn prepare_dated(&mut self, line: &str, time: f64) -> Prepared {
        self.prepare_cut(line, Cut::Whole, Some(time), false)
    }

    fn prepare_cut(&mut self, line: &str, cut: Cut, date: Option<f64>, time_int: bool) -> Prepared {
        let mut p = Prepared {
            cut,
            date,
            time_int,
            last_date_text: match cut {
                Cut::LastDate => self.last_date.as_mut().map(LastDate::shared),
                _ => None,
            },
            candidates: None,
            split: None,
            skip: false,
            pref_matched: false,
        };
        let Some(set) = self
            .prefilter
            .as_mut()
            .filter(|_| !self.no_skip && line.is_ascii())
        else {
            return p;
        };
        // The text the failregexes see, with the date cut out.
        let buf = &mut self.scratch;
        buf.clear();
        match cut {
            Cut::Span(s, e) => {
                buf.push_str(&line[..s]);
                buf.push_str(&line[e..]);
            }
            Cut::Whole | Cut::LastDate => buf.push_str(line),
        }
        buf.push('\n');
        // Anchored failregexes: find the content first, then ask the set
        // only which of them match at its start (a few bytes for most
        // lines, instead of a pass over the whole line).
        let content_first = set.anchored;
        let mut mask = 0;
        if !content_first {
            mask = set.candidates(buf.as_bytes(), false);
            if mask == 0 {
                p.skip = true;
                if self.count_pref {
                    p.pref_matched = self.pref.as_ref().is_some_and(|r| r.is_match(buf));
                }
                return p;
            }
        }
        // The text the failregexes will search, if it is cheap to know.
        let target = match (&self.pref_split, &self.pref) {
            (Some(split), _) => match split.content(buf) {
                None => {
                    p.skip = true;
                    return p;
                }
                Some((start, end)) if start < end => {
                    // The mlfid group waits until a candidate needs it.
                    p.split = Some((None, start, end));
                    p.pref_matched = true;
                    self.content.clear();
                    self.content.push_str(&buf[start..end]);
                    self.content.push('\n');
                    Some(self.content.as_str())
                }
                Some(_) => None,
            },
            (None, None) => Some(buf.as_str()),
            (None, Some(_)) => None,
        };
        if content_first {
            mask = match target {
                Some(text) => set.candidates(text.as_bytes(), true),
                None => set.candidates(buf.as_bytes(), false),
            };
        }
        mask = set.require(mask, target.unwrap_or(buf));
        if mask == 0 {
            p.skip = true;
            if content_first && target.is_none() && self.count_pref {
                p.pref_matched = self.pref.as_ref().is_some_and(|r| r.is_match(buf));
            }
            return p;
        }
        if let (Some(split), Some((_, start, end))) = (&self.pref_split, p.split) {
            match split.mlfid_end(buf, start) {
                Some(m) => p.split = Some((m, start, end)),
                // Not decidable here: the matcher runs the whole prefregex
                // and every failregex.
                None => {
                    p.split = None;
                    return p;
                }
            }
        }
        p.candidates = Some(mask);
        p
    }

    /// Finds where the date sits in `line` and its time (None when the line
    /// has no usable date), with fail2ban's fallbacks.
    fn cut_date(&mut self, line: &str, now: f64) -> (Cut, Option<f64>, bool) {
        let Some(dates) = self.dates.as_mut() else {
            return (Cut::Whole, None, false);
        };
        let Some(hit) = dates.find(line, now) else {
            let (c, d) = self.dateless(Cut::Whole, now);
            return (c, d, false);
        };
        let span = Cut::Span(hit.start, hit.end);
        if hit.start == hit.end {
            // An optional date that matched empty: last date or now.
            return match &self.last_date {
                Some(d) if d.time > now - 60.0 => (Cut::LastDate, Some(d.time), false),
                _ => (span, Some(now), false),
            };
        }
        match hit.time {
            Some(t) => {
                let text = &line[hit.start..hit.end];
                match &mut self.last_date {
                    Some(d) => d.set(t, text),
                    None => {
                        self.last_date = Some(LastDate {
                            time: t,
                            text: text.to_string(),
                            shared: None,
                        })
                    }
                }
                (span, Some(t), hit.integral)
            }
            // A date-like text that is no valid date: fail2ban cuts it out
            // all the same and treats the line as dateless.
            None => {
                let (c, d) = self.dateless(span, now);
                (c, d, false)
            }
        }
    }

    /// fail2ban's fallback for a line without a usable date: the last date
    /// when it is recent, now for a running daemon, else no date.
    fn dateless(&self, cut: Cut, now: f64) -> (Cut, Option<f64>) {
        match &self.last_date {
            Some(d) if d.time > now - 60.0 => (Cut::LastDate, Some(d.time)),
            _ if self.check_find_time => (cut, Some(now)),
            _ => (cut, None),
        }
    }
}

/// The set of relaxed failregexes; None when one has no relaxed form or
/// there are more than a candidate mask holds (then every regex is
/// searched on every line).
fn prefilter(def: &FilterRegexes) -> Option<Prefilter> {
    if def.failregex.is_empty() || def.failregex.len() > 128 {
        return None;
    }
    let resolved: Vec<String> = def
        .failregex
        .iter()
        .map(|r| resolve_tags(r, def.use_dns))
        .collect();
    let relaxed = resolved
        .iter()
        .map(|r| super::pyre::relaxed(r))
        .collect::<Option<Vec<String>>>()?;
    let anchored = resolved.iter().all(|r| super::pyre::anchored_at_start(r));
    let prefixes = anchored
        .then(|| prefix_set(&relaxed))
        .flatten()
        .map(Searcher::new);
    Some(Prefilter {
        hits: PatternSet::new(relaxed.len()),
        required: relaxed
            .iter()
            .map(|r| {
                required_literals(r)
                    .iter()
                    .map(|l| memchr::memmem::Finder::new(l).into_owned())
                    .collect()
            })
            .collect(),
        relaxed,
        set: None,
        prefixes,
        anchored,
    })
}

/// Literal texts of at least 4 bytes that every match of `pattern` (the
/// `regex` crate's syntax) contains, longest first, at most 4. A relaxed
/// failregex matches wherever its failregex does, so these are in every
/// failregex match too: sshd's `pam_[a-z]+\(sshd:auth\):\s+authentication
/// failure` has the prefix `pam_` of every pam line, and here also
/// `authentication failure;`, which a session line lacks.
fn required_literals(pattern: &str) -> Vec<String> {
    use regex_syntax::hir::{Hir, HirKind};
    fn flush(cur: &mut Vec<u8>, out: &mut Vec<Vec<u8>>) {
        if cur.len() >= 4 {
            out.push(std::mem::take(cur));
        }
        cur.clear();
    }
    // Appends the literal bytes `h` always matches to `cur` while they run
    // on; what breaks a run (a class, an optional part, a choice) ends it.
    fn walk(h: &Hir, cur: &mut Vec<u8>, out: &mut Vec<Vec<u8>>) {
        match h.kind() {
            HirKind::Literal(l) => cur.extend_from_slice(&l.0),
            HirKind::Capture(c) => walk(&c.sub, cur, out),
            HirKind::Concat(subs) => subs.iter().for_each(|s| walk(s, cur, out)),
            HirKind::Repetition(r) if r.min >= 1 => {
                flush(cur, out);
                walk(&r.sub, cur, out);
                flush(cur, out);
            }
            HirKind::Empty => {}
            _ => flush(cur, out),
        }
    }
    let Ok(hir) = regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern)
    else {
        return Vec::new();
    };
    let (mut cur, mut out) = (Vec::new(), Vec::new());
    walk(&hir, &mut cur, &mut out);
    flush(&mut cur, &mut out);
    out.sort_by_key(|l| std::cmp::Reverse(l.len()));
    out.into_iter()
        .filter_map(|l| String::from_utf8(l).ok())
        .take(4)
        .collect()
}

/// The relaxed failregexes as one set. ASCII classes keep the automaton
/// small; the set is only consulted for ASCII lines, where ASCII and
/// Unicode classes agree.
pub(crate) fn relaxed_set(relaxed: &[String]) -> Option<meta::Regex> {
    meta::Regex::builder()
        .configure(
            meta::Config::new()
                .match_kind(regex_automata::MatchKind::All)
                .utf8_empty(false)
                .nfa_size_limit(Some(10 << 20)),
        )
        .syntax(
            regex_automata::util::syntax::Config::new()
                .unicode(false)
                .utf8(false),
        )
        .build_many(relaxed)
        .ok()
}

/// One pattern per relaxed failregex: the alternation of the literals its
/// matches start with (regex-syntax's prefix extraction), or the empty
/// pattern (any line) when they are not a small finite set. Built for an
/// anchored overlapping search, its DFA stops after a few bytes.
fn prefix_set(relaxed: &[String]) -> Option<meta::Regex> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let mut ex = Extractor::new();
    ex.kind(ExtractKind::Prefix).limit_total(64);
    let pats: Vec<String> = relaxed
        .iter()
        .map(|p| {
            let hir = regex_syntax::ParserBuilder::new()
                .unicode(false)
                .utf8(false)
                .build()
                .parse(p)
                .ok()?;
            let seq = ex.extract(&hir);
            let lits = seq.literals()?;
            if lits.is_empty() || lits.iter().any(|l| l.as_bytes().is_empty()) {
                return None;
            }
            let alts: Vec<String> = lits
                .iter()
                .map(|l| l.as_bytes().iter().map(|b| format!("\\x{b:02x}")).collect())
                .collect();
            Some(alts.join("|"))
        })
        .map(Option::unwrap_or_default)
        .collect();
    meta::Regex::builder()
        .configure(
            meta::Config::new()
                .match_kind(regex_automata::MatchKind::All)
                .utf8_empty(false),
        )
        .syntax(
            regex_automata::util::syntax::Config::new()
                .unicode(false)
                .utf8(false),
        )
        .build_many(&pats)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_literals_are_in_every_match() {
        assert_eq!(
            required_literals(r"pam_[a-z]+\(sshd:auth\):\s+authentication failure;(?:\s+x)?"),
            vec!["authentication failure;", "(sshd:auth):", "pam_"]
        );
        // Optional parts, choices and case-folded text require nothing.
        assert!(required_literals(r"(?:abcdef)?|zzzz").is_empty());
        assert!(required_literals(r"(?i)abcdef").is_empty());
        assert!(required_literals(r"x(?:abcd|abce)").is_empty());
        // A part repeated at least once is required; a capture is transparent.
        // Equal lengths keep pattern order.
        assert_eq!(
            required_literals(r"(?:from )+(?P<u>user)x\d: Auth fail"),
            vec![": Auth fail", "from ", "userx"]
        );
    }

    #[test]
    fn prefixes_pick_the_regexes_a_line_can_start() {
        let set = prefix_set(&[
            r"Failed (?:password|publickey) for \S+".to_string(),
            r"[iI]nvalid user \S+".to_string(),
            r"\S+ z".to_string(),
        ])
        .expect("builds");
        let mut cache = set.create_cache();
        let mut hits = PatternSet::new(set.pattern_len());
        let mut mask = |text: &str| {
            hits.clear();
            set.which_overlapping_matches_with(
                &mut cache,
                &regex_automata::Input::new(text).anchored(regex_automata::Anchored::Yes),
                &mut hits,
            );
            hits.iter().fold(0u32, |m, i| m | 1 << i.as_usize())
        };
        // The third has no finite prefix set: any line may match it.
        assert_eq!(mask("Failed password for root\n"), 0b101);
        assert_eq!(mask("invalid user bob\n"), 0b110);
        assert_eq!(mask("Accepted password\n"), 0b100);
        // Anchored: a prefix later in the line does not count.
        assert_eq!(mask("x Failed password\n"), 0b100);
    }
}
