//! Entry points for the fuzz targets in `tests/fuzz/` (cargo-fuzz, nightly).
//!
//! Each function takes the fuzzer's raw bytes and drives one input-facing
//! part of the crate: the INI reader with includes and interpolation, the
//! Python-regex translator, the date parser and the line matcher. Errors
//! are fine; a panic, a hang or a broken invariant (checked with `assert!`
//! here) is a finding. They live in the library so the stable test
//! `tests/fuzz_regressions.rs` replays the fuzz corpus and every crash
//! found through exactly the code the fuzzer ran. Not a public API.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::config::layered::{ConfigFs, read_layered};
use crate::config::{FilterDef, FilterLoad, ini, load_filter_with};
use crate::filter::compiled::Compiled;
use crate::filter::date::DateDetector;
use crate::filter::matcher::{FilterRegexes, MatchMode, Matcher, NoResolver};
use crate::filter::pyre::{self, Dollar, PyRegex};
use crate::filter::tags::{UseDns, resolve_tags};
use crate::watch::{Lines, MAX_LINE};

/// The fixed "current time" of every target (2023-11-14 22:13:20 UTC), so
/// a crash replays the same way.
pub const NOW: f64 = 1_700_000_000.0;

/// Lines searched by patterns that come without their own subject lines.
const SAMPLE_LINES: [&str; 4] = [
    "Nov 14 22:13:20 host sshd[1234]: Failed password for root from 192.0.2.7 port 22 ssh2",
    "2023-11-14 22:13:20,123 fail2ban.actions [99]: NOTICE [sshd] Ban 2001:db8::1",
    "[Tue Nov 14 22:13:20.123456 2023] [auth_basic:error] [client 198.51.100.2:5] user x: not found",
    "",
];

/// The config tree the INI target reads: the fuzzer's file sits in
/// `/fz/filter.d/fuzz.conf` next to our shipped `common.conf`, so
/// `[INCLUDES] before = common.conf` and its interpolations resolve.
struct FuzzFs<'a> {
    input: &'a [u8],
}

const FUZZ_CONF: &str = "/fz/filter.d/fuzz.conf";
const COMMON_CONF: &str = "/fz/filter.d/common.conf";
const SHIPPED_COMMON: &str = include_str!("../etc/fail2ban/filter.d/common.conf");
const SHIPPED_SSHD: &str = include_str!("../etc/fail2ban/filter.d/sshd.conf");

impl ConfigFs for FuzzFs<'_> {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        match path.to_str() {
            Some(FUZZ_CONF) => Ok(self.input.to_vec()),
            Some(COMMON_CONF) => Ok(SHIPPED_COMMON.as_bytes().to_vec()),
            _ => Err(io::Error::from(io::ErrorKind::NotFound)),
        }
    }
    fn exists(&self, path: &Path) -> bool {
        matches!(
            path.to_str(),
            Some(FUZZ_CONF | COMMON_CONF | "/fz" | "/fz/filter.d")
        )
    }
    fn is_file(&self, path: &Path) -> bool {
        matches!(path.to_str(), Some(FUZZ_CONF | COMMON_CONF))
    }
    fn glob(&self, _dir: &Path, _suffix: &str) -> Vec<PathBuf> {
        Vec::new()
    }
}

/// The INI reader: the input as one filter file, parsed alone, then read
/// through the layered reader (includes, `.local`, `KNOWN/` sections) with
/// every option interpolated, then loaded as a filter with init options.
pub fn ini(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = ini::parse(&text, Some(Path::new(FUZZ_CONF)));
    let fs = FuzzFs { input: data };
    if let Ok(cfg) = read_layered(&fs, Path::new("/fz"), "filter.d/fuzz") {
        let sections: Vec<String> = cfg.sections().map(str::to_string).collect();
        for sec in sections.iter().map(String::as_str).chain(["DEFAULT"]) {
            for opt in cfg.options(sec, true).unwrap_or_default() {
                let _ = cfg.get(sec, &opt, [("fuzzvar", "%(known/opt)s")]);
                let _ = cfg.get_ex(sec, &format!("known/{opt}"), std::iter::empty());
            }
        }
    }
    for spec in ["fuzz", "fuzz[mode=aggressive, x=\"%(y)s\", y=<x>]"] {
        if let Ok(def) = load_filter_with(&fs, Path::new("/fz"), spec, &FilterLoad::default()) {
            let _ = def.journal_matches();
        }
    }
}

/// The Python-regex translator: the first line of the input is a pattern
/// (as written in a filter, tags allowed), the other lines are searched
/// with it (a few sample lines when there are none). Checks the promises
/// the matcher relies on: a pattern anchored at the start only matches
/// there, and its relaxed form matches every ASCII line it matches.
pub fn pyre(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (pattern, rest) = text.split_once('\n').unwrap_or((text, ""));
    let subjects: Vec<&str> = if huge_repeat(pattern) {
        // `.{0,65535}` compiles to an automaton so large that searching a
        // few lines takes seconds (linear, but past the fuzzer's timeout).
        // Filters are written by the administrator, so that is no bug:
        // only the translation and compilation are checked.
        Vec::new()
    } else if rest.is_empty() {
        SAMPLE_LINES.to_vec()
    } else {
        rest.split('\n').collect()
    };
    if let Ok(re) = PyRegex::with_options(pattern, Dollar::Exact, false) {
        for s in &subjects {
            if let Some(c) = re.captures(s) {
                for i in 0..re.group_names().len() {
                    if let Some((a, b)) = c.get(i) {
                        assert!(a <= b && b <= s.len(), "group {i} span {a}..{b}");
                        assert!(c.text(i).is_some(), "group {i} not on char boundaries");
                    }
                }
            }
            let _ = re.find_at(s, s.len() / 2);
        }
    }
    let _ = pyre::translate(pattern, Dollar::SingleLineBuffer);
    let relaxed =
        // Built as the prefilter builds its set.
        pyre::relaxed(&resolve_tags(pattern, UseDns::Warn))
            .and_then(|r| crate::filter::cutter::relaxed_set(&[r]));
    let anchored = pyre::anchored_at_start(&resolve_tags(pattern, UseDns::Warn));
    let Ok(c) = Compiled::new(pattern, UseDns::Warn, false, false) else {
        return;
    };
    for s in &subjects {
        let Some(hit) = c.search(s) else {
            continue;
        };
        let _ = c.groups(&hit);
        if anchored {
            assert_eq!(
                hit.caps.get(0).map(|(a, _)| a),
                Some(0),
                "anchored match not at 0"
            );
        }
        if let Some(r) = &relaxed
            && s.is_ascii()
        {
            assert!(r.is_match(s.as_bytes()), "relaxed form misses a match");
        }
    }
    // As a failregex of a multi-line filter.
    if let Ok(c) = Compiled::new(pattern, UseDns::Raw, true, true) {
        let joined = subjects.join("\n");
        if let Some(hit) = c.search(&joined) {
            let _ = c.skipped_lines(&hit);
        }
    }
}

/// True when `pattern` has a counted repetition `{m}`/`{m,n}` above 1000.
fn huge_repeat(pattern: &str) -> bool {
    pattern.split('{').skip(1).any(|rest| {
        let Some((inside, _)) = rest.split_once('}') else {
            return false;
        };
        inside.bytes().all(|c| c.is_ascii_digit() || c == b',')
            && inside
                .split(',')
                .any(|b| !b.is_empty() && !b.parse::<u64>().is_ok_and(|n| n <= 1000))
    })
}

/// The date parser: every line through the default detector; when the
/// first line is a `datepattern` that builds, the other lines through it.
pub fn date(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let check = |dd: &mut DateDetector, line: &str| {
        if let Some(hit) = dd.find(line, NOW) {
            assert!(
                hit.start <= hit.end && hit.end <= line.len(),
                "date span {}..{} in {} bytes",
                hit.start,
                hit.end,
                line.len()
            );
            assert!(
                line.get(hit.start..hit.end).is_some(),
                "date span not on char boundaries"
            );
            if let Some(t) = hit.time {
                assert!(t.is_finite(), "date time {t}");
            }
        }
    };
    // A fresh default detector compiles its templates at its first line:
    // clone one that has done so (with the same `now`) instead.
    static DEFAULT: OnceLock<DateDetector> = OnceLock::new();
    let mut dd = DEFAULT
        .get_or_init(|| {
            let mut dd = DateDetector::new_default();
            dd.find("", NOW);
            dd
        })
        .clone();
    for line in text.split('\n') {
        check(&mut dd, line);
    }
    if let Some((pattern, rest)) = text.split_once('\n')
        && let Ok(mut dd) = DateDetector::from_patterns(pattern)
    {
        for line in rest.split('\n') {
            check(&mut dd, line);
        }
    }
}

/// The shipped sshd filter, loaded as the daemon loads it.
fn sshd(mode: &str) -> FilterDef {
    struct ShippedFs;
    impl ConfigFs for ShippedFs {
        fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
            match path.to_str() {
                Some("/etc/filter.d/sshd.conf") => Ok(SHIPPED_SSHD.as_bytes().to_vec()),
                Some("/etc/filter.d/common.conf") => Ok(SHIPPED_COMMON.as_bytes().to_vec()),
                _ => Err(io::Error::from(io::ErrorKind::NotFound)),
            }
        }
        fn exists(&self, path: &Path) -> bool {
            self.is_file(path) || matches!(path.to_str(), Some("/etc" | "/etc/filter.d"))
        }
        fn is_file(&self, path: &Path) -> bool {
            matches!(
                path.to_str(),
                Some("/etc/filter.d/sshd.conf" | "/etc/filter.d/common.conf")
            )
        }
        fn glob(&self, _dir: &Path, _suffix: &str) -> Vec<PathBuf> {
            Vec::new()
        }
    }
    let spec = format!("sshd[mode={mode}]");
    load_filter_with(&ShippedFs, Path::new("/etc"), &spec, &FilterLoad::default())
        .expect("the shipped sshd filter loads")
}

/// A filter definition as the matcher takes it.
fn regexes(def: &FilterDef, maxlines: usize) -> FilterRegexes {
    FilterRegexes {
        prefregex: def.prefregex.clone(),
        failregex: def.failregex.clone(),
        ignoreregex: def.ignoreregex.clone(),
        maxlines,
        use_dns: def
            .usedns
            .as_deref()
            .and_then(UseDns::parse)
            .unwrap_or_default(),
    }
}

/// The input cut into lines as the daemon reads a log file: split at
/// `\n`, a final `\r` dropped, cut at `MAX_LINE`, invalid UTF-8 replaced.
fn log_lines(data: &[u8]) -> Lines {
    let mut lines = Lines::default();
    for raw in data.split(|b| *b == b'\n') {
        let mut raw = &raw[..raw.len().min(MAX_LINE)];
        if let Some(r) = raw.strip_suffix(b"\r") {
            raw = r;
        }
        lines.push_bytes(raw);
    }
    lines
}

/// The line matcher: the input as a log, read by the shipped sshd filter
/// (aggressive mode) as the daemon runs it, as `fail2ban-regex` runs it,
/// and with a multi-line buffer.
pub fn matcher(data: &[u8]) {
    // Compiling the filter takes far longer than reading a few lines, so
    // every input gets clones of matchers compiled once.
    static MATCHERS: OnceLock<Vec<Matcher>> = OnceLock::new();
    let matchers = MATCHERS.get_or_init(|| {
        let def = sshd("aggressive");
        let daemon = MatchMode {
            check_find_time: true,
            ignore_pending: true,
            ..MatchMode::default()
        };
        let tester = MatchMode {
            check_all: true,
            ..MatchMode::default()
        };
        [(1, daemon), (1, tester), (3, daemon)]
            .into_iter()
            .map(|(maxlines, mode)| {
                let mut m =
                    Matcher::new(&regexes(&def, maxlines), mode).expect("the sshd filter compiles");
                m.cutter.dates = def
                    .datepattern
                    .as_deref()
                    .map(|dp| DateDetector::from_patterns(dp).expect("its datepattern builds"));
                m
            })
            .collect()
    });
    let lines = log_lines(data);
    for m in matchers {
        let mut m = m.clone();
        for (i, line) in lines.iter().enumerate() {
            let _ = m.process_line(line, NOW + i as f64, &NoResolver);
        }
    }
}
