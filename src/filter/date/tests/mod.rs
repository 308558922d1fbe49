//! Checks against fail2ban 1.0.2 itself: `expected.rs` holds what its
//! `DateDetector` returned for the same patterns and lines (regenerate with
//! `gen_expected.py`), so these tests need no Python. The fast path is
//! also checked against the regex path here.

#[rustfmt::skip]
mod expected;

use super::civil::test_tz::with_tz;
use super::directives::YearSpan;
use super::fast::{self, FastKind, FastResult};
use super::template::Template;
use super::{DateDetector, DateHit, defaults};

pub(super) struct TemplateCase {
    pub datepattern: Option<&'static str>,
    /// name, Python regex, flags, base weight
    pub templates: &'static [(&'static str, &'static str, u8, f64)],
}

pub(super) struct ErrorCase {
    pub datepattern: &'static str,
    pub fails: bool,
}

/// (start, end, time, template index) in bytes, or `None` for no date.
type Expect = Option<(usize, usize, Option<f64>, usize)>;

pub(super) struct LineCase {
    pub tz: &'static str,
    pub datepattern: Option<&'static str>,
    pub logtimezone: Option<&'static str>,
    pub now: f64,
    pub lines: &'static [(&'static str, Expect)],
    pub names: &'static [&'static str],
    pub hits: &'static [u64],
}

#[test]
fn templates_are_built_like_fail2ban() {
    for case in expected::TEMPLATE_CASES {
        let mut dd = match DateDetector::from_patterns(case.datepattern.unwrap_or("")) {
            Ok(dd) => dd,
            // fail2ban builds this one but cannot compile it either.
            Err(super::DateError::Regex { regex, .. }) => {
                assert_eq!(case.templates.len(), 1);
                assert_eq!(regex, case.templates[0].1);
                continue;
            }
            Err(e) => panic!("{:?}: {e}", case.datepattern),
        };
        if case.datepattern.is_none() {
            dd.ensure_templates();
        }
        let got: Vec<(String, String, u8, f64)> = dd
            .entries
            .iter()
            .map(|e| {
                (
                    e.tpl.name.clone(),
                    e.tpl.regex.clone(),
                    e.tpl.flags,
                    e.tpl.weight,
                )
            })
            .collect();
        let want: Vec<(String, String, u8, f64)> = case
            .templates
            .iter()
            .map(|&(n, r, f, w)| (n.to_string(), r.to_string(), f, w))
            .collect();
        assert_eq!(got, want, "datepattern {:?}", case.datepattern);
    }
}

#[test]
fn rejected_patterns_like_fail2ban() {
    for case in expected::ERROR_CASES {
        let r = DateDetector::from_patterns(case.datepattern);
        assert_eq!(
            r.is_err(),
            case.fails,
            "{:?}: {:?}",
            case.datepattern,
            r.err()
        );
    }
}

#[test]
fn lines_like_fail2ban() {
    for case in expected::LINE_CASES {
        with_tz(case.tz, || {
            let mut dd = match case.datepattern {
                Some(p) => DateDetector::from_patterns(p).unwrap(),
                None => DateDetector::new_default(),
            };
            if let Some(tz) = case.logtimezone {
                dd.set_timezone(tz).unwrap();
            }
            for &(line, want) in case.lines {
                let got = dd
                    .find(line, case.now)
                    .map(|h: DateHit| (h.start, h.end, h.time, h.template));
                assert_eq!(
                    got, want,
                    "TZ={} datepattern={:?} logtimezone={:?} line {line:?}",
                    case.tz, case.datepattern, case.logtimezone
                );
            }
            assert_eq!(
                dd.template_names(),
                case.names,
                "order, {:?}",
                case.datepattern
            );
            assert_eq!(dd.hits(), case.hits, "hits, {:?}", case.datepattern);
        });
    }
}

/// Small deterministic generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const FAST_SEEDS: &[&str] = &[
    "Jan 23 21:59:59 host sshd[123]: x",
    "Mon Jan 23 21:59:59.011 2005 host",
    "Jan  3 01:02:03 2021",
    "[Dec 31 23:59:60] x",
    "Feb 30 29:59:59.123456 2029 y",
    "2005-01-23T21:59:59.981746Z x",
    "2005-01-23 21:59:59,123 +0100 x",
    "2005/1/23 21:59:59 -05:30",
    "[2005.01.23 23:00:00]\tUTC x",
    "2029-12-31 23:59:61 GMT",
    "2005-01-23 21:59:59+01",
];

const MUTATIONS: &[char] = &[
    ' ', '0', '1', '2', '3', '6', '9', 'a', 'Z', 'U', 'T', '+', '-', ':', '.', ',', '\t', '_', '[',
    'é', '\u{a0}', '\u{663}', '\u{212a}', 'x', 'M', '\u{1c}',
];

/// Lines around the seeds: each character replaced, dropped, or preceded
/// by another, plus random multi-point mutations.
fn fast_corpus() -> Vec<String> {
    let mut out = Vec::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for seed in FAST_SEEDS {
        let chars: Vec<char> = seed.chars().collect();
        out.push(seed.to_string());
        for i in 0..=chars.len() {
            for &m in MUTATIONS {
                let mut v = chars.clone();
                if i < v.len() {
                    v[i] = m;
                    out.push(v.iter().collect());
                    v.remove(i);
                    out.push(v.iter().collect());
                }
                let mut v = chars.clone();
                v.insert(i, m);
                out.push(v.iter().collect());
            }
            out.push(chars[..i].iter().collect());
        }
        for _ in 0..300 {
            let mut v = chars.clone();
            for _ in 0..1 + rng.below(3) {
                let i = rng.below(v.len());
                v[i] = MUTATIONS[rng.below(MUTATIONS.len())];
            }
            out.push(v.iter().collect());
        }
    }
    out
}

#[test]
fn fast_path_agrees_with_regex() {
    let years = YearSpan::for_year(2026);
    for (pattern, kind) in [
        (defaults::SYSLOG_AT_LINE_START, FastKind::Syslog),
        (defaults::ISO_AT_LINE_START, FastKind::Iso),
    ] {
        let mut t = Template::build(defaults::recipe_for(pattern), &years).unwrap();
        let (mut decided, mut total) = (0, 0);
        for line in fast_corpus() {
            total += 1;
            let regex = t.search_regex(&line, None);
            match fast::search(kind, &line, &years) {
                FastResult::Unsure => {}
                FastResult::NoMatch => {
                    decided += 1;
                    assert!(regex.is_none(), "{kind:?} said no match for {line:?}");
                }
                FastResult::Match { whole, date, .. } => {
                    decided += 1;
                    let fast_hit = t.search(&line, None, &years).unwrap();
                    let r = regex.unwrap_or_else(|| panic!("{kind:?} matched {line:?}, regex not"));
                    assert_eq!(
                        (whole, date),
                        (r.whole, r.date),
                        "{kind:?} spans for {line:?}"
                    );
                    assert_eq!(
                        fast_hit.fields(&t),
                        r.fields(&t),
                        "{kind:?} fields for {line:?}"
                    );
                }
            }
        }
        // The fast path must really carry the common lines.
        assert!(
            decided * 3 > total,
            "{kind:?}: only {decided} of {total} decided"
        );
    }
}

#[test]
fn common_lines_take_the_fast_path() {
    let years = YearSpan::for_year(2026);
    for (kind, line) in [
        (
            FastKind::Syslog,
            "Jan 23 21:59:59 host sshd[1]: Failed password",
        ),
        (FastKind::Syslog, "Jan  3 01:02:03 host x"),
        (FastKind::Syslog, "Sun Jan 23 21:59:59.011 2025 host"),
        (
            FastKind::Iso,
            "2025-01-23 21:59:59,123 fail2ban.actions [1]: NOTICE",
        ),
        (FastKind::Iso, "2025-01-23T21:59:59.123456+01:00 host"),
        (FastKind::Iso, "[2025-01-23 21:59:59] x"),
    ] {
        assert!(
            matches!(fast::search(kind, line, &years), FastResult::Match { .. }),
            "{line:?}"
        );
    }
    assert!(matches!(
        fast::search(FastKind::Iso, "Jan 23 21:59:59 host", &years),
        FastResult::NoMatch
    ));
    assert!(matches!(
        fast::search(FastKind::Syslog, "2025-01-23 21:59:59 host", &years),
        FastResult::NoMatch
    ));
}

#[test]
fn detector_results_do_not_depend_on_the_fast_path() {
    with_tz("Europe/Paris", || {
        let now = 1_795_851_127.0;
        let mut with_fast = DateDetector::new_default();
        let mut without = DateDetector::new_default();
        let mut first = true;
        // Every 4th line keeps this quick in debug builds.
        for line in fast_corpus().into_iter().step_by(4) {
            let a = with_fast.find(&line, now);
            if first {
                without.find(&line, now);
                for e in &mut without.entries {
                    e.tpl.disable_fast();
                }
                first = false;
                continue;
            }
            let b = without.find(&line, now);
            assert_eq!(a, b, "{line:?}");
        }
        assert_eq!(with_fast.hits(), without.hits());
    });
}

#[test]
fn no_panic_on_odd_input() {
    const ALPHABET: &[char] = &[
        '%', 'Y', 'm', 'd', 'H', 'E', 'x', 'k', '(', ')', '?', 'P', '<', '>', '{', '}', '^', '$',
        '*', '\\', '[', ']', '|', '0', '1', '2', '9', ':', '-', ' ', 'é', '\u{663}', 'J', 'a', 'n',
        'b', 'j', 'U', 'W', 'z', 'Z', '+', 'L', 'D', 'A', 'T', 'E', 'p', 'I', 'f', 's',
    ];
    with_tz("UTC", || {
        let mut rng = Rng(42);
        let mut detectors = vec![DateDetector::new_default()];
        for p in [
            "{^LN-BEG}",
            "EPOCH",
            "LEPOCH",
            "TAI64N",
            "{NONE}",
            "%j",
            "%U %w %Y",
            "%y %b %d",
        ] {
            detectors.push(DateDetector::from_patterns(p).unwrap());
        }
        for _ in 0..400 {
            let len = rng.below(24);
            let p: String = (0..len)
                .map(|_| ALPHABET[rng.below(ALPHABET.len())])
                .collect();
            if let Ok(dd) = DateDetector::from_patterns(&p) {
                detectors.push(dd);
            }
        }
        let lines = [
            "Feb 30 12:00:00 x",
            "99999999999999999999-01-01 00:00:00",
            "\u{663}\u{660}\u{660}\u{665} Jan 23",
            "",
            "é",
            "@ffffffffffffffffffffffff",
            "99999999999 x",
            "9999999999999999 x",
            "9999-12-31 23:59:59 -1959",
            "0001-01-01 00:00:00 +1959",
            "Dec 31 23:59:59 9999",
            "366 9999 1 Sun",
        ];
        for dd in &mut detectors {
            for line in lines {
                for now in [0.0, 1e9, 1.795e9, -1e12, f64::NAN, 253_402_300_799.0] {
                    let _ = dd.find(line, now);
                }
            }
            for _ in 0..20 {
                let len = rng.below(30);
                let line: String = (0..len)
                    .map(|_| ALPHABET[rng.below(ALPHABET.len())])
                    .collect();
                let _ = dd.find(&line, 1.795e9);
            }
        }
    });
}

#[test]
fn api_details() {
    with_tz("UTC", || {
        let dd = DateDetector::from_patterns("{NONE}").unwrap();
        assert!(dd.is_none());
        assert_eq!(dd.pattern_description(), "^");
        let mut dd = DateDetector::new_default();
        assert!(!dd.is_none());
        assert!(dd.template_names().is_empty());
        assert_eq!(dd.pattern_description(), "Default Detectors");
        assert!(dd.set_timezone("Europe/Paris").is_err());
        dd.set_timezone("UTC+0130").unwrap();
        assert_eq!(dd.timezone_offset(), Some(90));
        let hit = dd.find("2005-01-23 21:59:59 x", 1.795e9).unwrap();
        assert_eq!(hit.time, Some(1_106_512_199.0));
        assert_eq!(dd.templates()[0].base_weight, 100.0);
        assert_eq!(dd.templates()[0].weight, 100.0);
        assert_eq!(
            super::format_local(1_106_517_599.9999999),
            "2005-01-23 22:00:00"
        );
        let e = DateDetector::from_patterns("%Y %q").err().unwrap();
        assert!(e.to_string().contains("'%q'"), "{e}");
    });
}

#[test]
fn prefilter_never_hides_a_match() {
    let years = YearSpan::for_year(2026);
    let mut templates = defaults::default_templates(&years);
    for case in expected::TEMPLATE_CASES {
        if let Some(Ok(dd)) = case.datepattern.map(DateDetector::from_patterns) {
            templates.extend(dd.entries.into_iter().map(|e| e.tpl));
        }
    }
    let mut lines: Vec<String> = fast_corpus().into_iter().step_by(40).collect();
    for case in expected::LINE_CASES {
        lines.extend(case.lines.iter().map(|(l, _)| l.to_string()));
    }
    for t in &mut templates {
        t.disable_fast();
        for line in &lines {
            let filtered = t.search(line, None, &years).map(|h| (h.whole, h.date));
            let direct = t.search_regex(line, None).map(|h| (h.whole, h.date));
            assert_eq!(filtered, direct, "{} on {line:?}", t.name);
        }
    }
}

#[test]
fn year_span_follows_the_first_now() {
    with_tz("UTC", || {
        let line = "2033-01-01 00:00:00 x";
        let mut dd = DateDetector::new_default();
        // 2031-06-01: fail2ban started then accepts 2000..2039.
        let hit = dd.find(line, 1_938_038_400.0).unwrap();
        assert_eq!(
            (hit.start, hit.end, hit.time),
            (0, 19, Some(1_988_150_400.0))
        );
        let mut dd = DateDetector::from_patterns("^%ExY-%m-%d %H:%M:%S").unwrap();
        assert_eq!(
            dd.find(line, 1_938_038_400.0).unwrap().time,
            Some(1_988_150_400.0)
        );
        // Started in 2026 it only knows 2000..2029.
        let mut dd = DateDetector::from_patterns("^%ExY-%m-%d %H:%M:%S").unwrap();
        assert_eq!(dd.find(line, 1.795e9), None);
    });
}

#[test]
fn detector_can_move_between_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<DateDetector>();
}
