//! Differential test: our `fail2ban-regex` against Debian's fail2ban 1.0.2.
//!
//! Why it exists: ferroban claims to be a drop-in replacement for fail2ban,
//! and the most direct proof is to feed both tools the same logs with the
//! same stock filters and require byte-identical results. For every
//! (filter, mode) listed in `tests/corpus/filters.txt` this test runs
//!
//! ```text
//! TZ=UTC fail2ban-regex -c /etc/fail2ban -r -o '<ip>\t<time>' tests/corpus/<filter>.log '<spec>'
//! ```
//!
//! with Debian's `/usr/bin/fail2ban-regex` and with ours, and compares
//! whether each one loaded the filter (exit status 0) and, when both did,
//! their stdout. A filter that fail2ban itself cannot load must fail to load
//! in ours too.
//!
//! Nothing is skipped silently: the test also scans `/etc/fail2ban/filter.d`
//! and fails for any real filter that has no corpus file or no line in
//! `filters.txt`. Files that are only ever included by other filters are
//! listed, with the reason, in `tests/corpus/include-only.txt`; they are run
//! too (against `include-only.log`), because fail2ban-regex accepts their
//! names and we must behave the same way.
//!
//! If Debian's fail2ban-regex or `/etc/fail2ban` is missing, the test says why
//! and returns; CI installs the `fail2ban` package so it runs there.

mod common;

use std::collections::{BTreeSet, VecDeque};
use std::fs;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const THEIRS: &str = "/usr/bin/fail2ban-regex";
const OURS: &str = env!("CARGO_BIN_EXE_fail2ban-regex");
const CONFIG_DIR: &str = "/etc/fail2ban";
/// The output format of the acceptance criterion, backslash-t included
/// literally (as a shell's single quotes would pass it).
const OUT_FORMAT: &str = r"<ip>\t<time>";
/// Python's fail2ban-regex takes ~0.3 s per run; a few at a time on 2 cores.
const WORKERS: usize = 3;
/// A run that takes longer than this is killed and counted as a failure.
const TIMEOUT: Duration = Duration::from_secs(120);

/// Times this close (seconds) to the moment a run ends count as "now".
const NOW_WINDOW: f64 = 600.0;

/// One (filter, mode) to compare, as read from a `.txt` list.
#[derive(Clone, Debug)]
struct Case {
    /// Filter argument as given to fail2ban-regex, e.g. `sshd[mode=ddos]`.
    spec: String,
    /// Sample log fed to both tools.
    log: PathBuf,
}

impl Case {
    /// Filter name without options: `sshd[mode=ddos]` -> `sshd`.
    fn filter(&self) -> &str {
        self.spec.split('[').next().unwrap_or(&self.spec)
    }

    /// Options part as written, e.g. `[mode=ddos]`, or `-` when there is none.
    fn options(&self) -> &str {
        match self.spec.find('[') {
            Some(i) => &self.spec[i..],
            None => "-",
        }
    }
}

/// What one tool did with one case.
#[derive(Debug)]
struct Run {
    /// Exit status 0: the filter loaded and the log was processed.
    loaded: bool,
    stdout: String,
    /// Set when the tool could not be started or timed out.
    error: Option<String>,
}

impl Run {
    fn rows(&self) -> usize {
        self.stdout.lines().count()
    }
}

#[derive(Debug)]
struct Outcome {
    case: Case,
    theirs: Run,
    ours: Run,
}

impl Outcome {
    /// `None` when ours behaves like fail2ban, otherwise why not.
    fn failure(&self) -> Option<String> {
        if let Some(e) = &self.theirs.error {
            return Some(format!("fail2ban could not be run: {e}"));
        }
        if let Some(e) = &self.ours.error {
            return Some(format!("ours could not be run: {e}"));
        }
        match (self.theirs.loaded, self.ours.loaded) {
            (true, true) if self.theirs.stdout == self.ours.stdout => None,
            (true, true) => Some(first_difference(&self.theirs.stdout, &self.ours.stdout)),
            (true, false) => Some("ours failed to load it, fail2ban loads it".into()),
            (false, true) => Some("fail2ban cannot load it, ours does".into()),
            (false, false) => None,
        }
    }

    fn verdict(&self) -> String {
        match self.failure() {
            None if !self.theirs.loaded => "ok (neither loads)".into(),
            None => "ok".into(),
            Some(why) => format!("FAIL: {why}"),
        }
    }
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// Reads a case list: one filter spec per line, optionally followed by the
/// log file name (default `<filter>.log`); `#` starts a comment.
fn read_cases(list: &Path, default_log: Option<&str>) -> Vec<Case> {
    let text =
        fs::read_to_string(list).unwrap_or_else(|e| panic!("cannot read {}: {e}", list.display()));
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut words = l.split_whitespace();
            let spec = words.next().unwrap_or_default().to_string();
            let filter = spec.split('[').next().unwrap_or_default();
            let log = words
                .next()
                .or(default_log)
                .map(str::to_string)
                .unwrap_or_else(|| format!("{filter}.log"));
            Case {
                log: corpus_dir().join(log),
                spec,
            }
        })
        .collect()
}

/// Names of all `*.conf` files in the stock filter.d.
fn stock_filter_names() -> BTreeSet<String> {
    let dir = Path::new(CONFIG_DIR).join("filter.d");
    let entries =
        fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".conf").map(str::to_string)
        })
        .collect()
}

/// Every stock filter must be covered by a list entry and, unless it is
/// include-only, by `tests/corpus/<filter>.log`; every listed case needs its
/// log. Returns one message per gap.
fn coverage_gaps(cases: &[Case], include_only: &[Case]) -> Vec<String> {
    let listed: BTreeSet<&str> = cases.iter().chain(include_only).map(Case::filter).collect();
    let helpers: BTreeSet<&str> = include_only.iter().map(Case::filter).collect();
    let mut gaps = Vec::new();
    for name in stock_filter_names() {
        if !listed.contains(name.as_str()) {
            gaps.push(format!(
                "{name}: stock filter not listed in filters.txt or include-only.txt"
            ));
        }
        let own_log = corpus_dir().join(format!("{name}.log"));
        if !helpers.contains(name.as_str()) && !own_log.is_file() {
            gaps.push(format!(
                "{name}: stock filter has no corpus file {}",
                own_log.display()
            ));
        }
    }
    for case in cases.iter().chain(include_only) {
        if !case.log.is_file() {
            gaps.push(format!(
                "{}: corpus file {} is missing",
                case.spec,
                case.log.display()
            ));
        }
    }
    gaps
}

/// Runs one fail2ban-regex binary on one case.
fn run_tool(binary: &str, case: &Case) -> Run {
    let mut cmd = Command::new(binary);
    cmd.env("TZ", "UTC")
        .env("LC_ALL", "C.UTF-8")
        .args(["-c", CONFIG_DIR, "-r", "-o", OUT_FORMAT])
        .arg(&case.log)
        .arg(&case.spec);
    match common::output_within(&mut cmd, TIMEOUT) {
        Ok((status, stdout, _)) => Run {
            loaded: status.success(),
            stdout: mask_now_times(&stdout),
            error: None,
        },
        Err(e) => failed_run(e),
    }
}

/// A line whose date fail2ban cannot find (or whose datepattern matches
/// empty, like ejabberd's `^I\(()**` continuation lines) is stamped with the
/// wall-clock time, which differs between the two runs. Such times, and only
/// those, are replaced by `<now>` so that both outputs stay comparable.
fn mask_now_times(stdout: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let mut out = String::with_capacity(stdout.len());
    for line in stdout.split_inclusive('\n') {
        let (body, newline) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        match body.rsplit_once(r"\t") {
            Some((ip, time))
                if time
                    .parse::<f64>()
                    .is_ok_and(|t| (t - now).abs() < NOW_WINDOW) =>
            {
                out.push_str(ip);
                out.push_str(r"\t<now>");
            }
            _ => out.push_str(body),
        }
        out.push_str(newline);
    }
    out
}

fn failed_run(error: String) -> Run {
    Run {
        loaded: false,
        stdout: String::new(),
        error: Some(error),
    }
}

/// Runs both tools on every case, `WORKERS` cases at a time; keeps list order.
fn run_all(cases: Vec<Case>) -> Vec<Outcome> {
    let queue = Arc::new(Mutex::new(
        cases.into_iter().enumerate().collect::<VecDeque<_>>(),
    ));
    let results = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let queue = Arc::clone(&queue);
            let results = Arc::clone(&results);
            thread::spawn(move || {
                loop {
                    let next = queue.lock().unwrap().pop_front();
                    let Some((index, case)) = next else { break };
                    let theirs = run_tool(THEIRS, &case);
                    let ours = run_tool(OURS, &case);
                    results
                        .lock()
                        .unwrap()
                        .push((index, Outcome { case, theirs, ours }));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker thread panicked");
    }
    let mut results = std::mem::take(&mut *results.lock().unwrap());
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, outcome)| outcome).collect()
}

/// Short description of where two outputs part.
fn first_difference(theirs: &str, ours: &str) -> String {
    let (t, o): (Vec<&str>, Vec<&str>) = (theirs.lines().collect(), ours.lines().collect());
    for i in 0..t.len().max(o.len()) {
        let (a, b) = (t.get(i), o.get(i));
        if a != b {
            return format!(
                "output differs at row {} of {}/{}: fail2ban `{}`, ours `{}`",
                i + 1,
                t.len(),
                o.len(),
                a.copied().unwrap_or("<none>"),
                b.copied().unwrap_or("<none>")
            );
        }
    }
    "output differs (line endings or trailing bytes)".into()
}

fn loaded_count(run: &Run) -> String {
    if run.loaded {
        run.rows().to_string()
    } else {
        "no load".into()
    }
}

fn print_table(outcomes: &[Outcome]) {
    println!(
        "\n{:<24} {:<22} {:>8} {:>8}  verdict",
        "filter", "mode/options", "theirs", "ours"
    );
    for o in outcomes {
        println!(
            "{:<24} {:<22} {:>8} {:>8}  {}",
            o.case.filter(),
            o.case.options(),
            loaded_count(&o.theirs),
            loaded_count(&o.ours),
            o.verdict()
        );
    }
}

#[test]
fn same_output_as_fail2ban_for_every_stock_filter() {
    if let Some(why) = common::stock_fail2ban_missing(THEIRS, CONFIG_DIR) {
        common::say(&format!("SKIPPED differential test: {why}"));
        return;
    }
    let mut cases = read_cases(&corpus_dir().join("filters.txt"), None);
    let include_only = read_cases(
        &corpus_dir().join("include-only.txt"),
        Some("include-only.log"),
    );
    let gaps = coverage_gaps(&cases, &include_only);
    cases.extend(include_only);
    cases.retain(|c| c.log.is_file());

    let outcomes = run_all(cases);
    print_table(&outcomes);

    let mut failing: Vec<String> = outcomes
        .iter()
        .filter_map(|o| o.failure().map(|why| format!("{}: {why}", o.case.spec)))
        .collect();
    common::say(&format!(
        "differential: {} cases run, {} failing, {} coverage gaps",
        outcomes.len(),
        failing.len(),
        gaps.len()
    ));
    failing.extend(gaps);
    assert!(
        failing.is_empty(),
        "{} (filter, mode) cases differ from fail2ban 1.0.2 or are not covered:\n  {}",
        failing.len(),
        failing.join("\n  ")
    );
}
