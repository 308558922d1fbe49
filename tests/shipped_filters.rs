//! Harness for the filters ferroban ships in `etc/fail2ban/filter.d/`.
//!
//! Our filters are written here, in our own words, so unlike
//! `tests/differential.rs` they cannot be expected to give byte-identical
//! output to the stock ones. What this test requires instead, for every
//! shipped filter (include-only files excepted, see `INCLUDE_ONLY`):
//!
//! 1. Cases come from `tests/shipped/<name>.cases`: one per non-empty,
//!    non-`#` line, `<our spec>\t<stock spec>\t<log file>` (log path relative
//!    to the repository root). Without that file the single case is
//!    `<name>\t<name>\ttests/corpus/<name>.log`.
//! 2. Each case runs ours (`-c <repo>/etc/fail2ban`, our spec) and Debian's
//!    fail2ban-regex (`-c /etc/fail2ban`, the stock spec), both with
//!    `TZ=UTC -r -o '<ip>\t<time>'`.
//! 3. The outputs are compared as multisets of lines. Agreement = common
//!    lines / max(ours, stock) must be at least 95 %; every differing line
//!    must be justified in `tests/shipped/<name>.justified`
//!    (`<our spec>\t<ip>\t<reason>`), and every justification must still
//!    name a difference that occurs (no stale entries). Either program
//!    failing, or stock finding nothing at all in a case, is an error.
//!    Our filter files are also fed to Debian's fail2ban-regex
//!    (`-c <repo>/etc/fail2ban`, our spec): it must print exactly what ours
//!    prints, so that they stay valid fail2ban filters and our engine reads
//!    them as fail2ban does.
//! 4. Injection: for every `tests/shipped/inject/<name>.log`, ours (spec
//!    `<name>`) must find at least one failure and never the planted address
//!    198.51.100.66. Whether stock would have taken it is printed only.
//!    An optional `tests/shipped/inject/<name>.specs` names more of our specs
//!    (one per line, e.g. modes) that must not take the planted address
//!    either (they need not find a failure).
//!
//! All problems are collected and reported once, each with its filter name.
//! When Debian's fail2ban-regex or `/etc/fail2ban` is missing the test says
//! why and returns.

mod common;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const STOCK_BIN: &str = "/usr/bin/fail2ban-regex";
const STOCK_CONFIG: &str = "/etc/fail2ban";
const OURS_BIN: &str = env!("CARGO_BIN_EXE_fail2ban-regex");
/// Passed literally, backslash included, as a shell's single quotes would.
const OUT_FORMAT: &str = r"<ip>\t<time>";
/// Files in our filter.d that only exist to be included by other filters
/// (the names fail2ban uses for such files; add ours here).
const INCLUDE_ONLY: &[&str] = &[
    "common",
    "apache-common",
    "exim-common",
    "botsearch-common",
    "selinux-common",
];
/// The address the injection samples try to plant.
const PLANTED: &str = "198.51.100.66";
/// Minimum share of common lines per case.
const MIN_AGREEMENT: f64 = 0.95;
/// Runs at a time (Python's fail2ban-regex is slow; the machine is small).
const WORKERS: usize = 3;
const TIMEOUT: Duration = Duration::from_secs(120);
/// Output times this close (seconds) to the end of a run are "now" stamps.
const NOW_WINDOW: f64 = 600.0;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn our_config() -> PathBuf {
    repo().join("etc/fail2ban")
}

fn shipped_dir() -> PathBuf {
    repo().join("tests/shipped")
}

/// One comparison of ours against stock.
#[derive(Clone, Debug)]
struct Case {
    /// Our filter file name (without `.conf`), for reporting.
    filter: String,
    ours: String,
    stock: String,
    log: PathBuf,
}

/// What one fail2ban-regex run produced.
#[derive(Debug)]
struct Run {
    /// `Err` when it could not start, timed out or exited non-zero.
    lines: Result<Vec<String>, String>,
}

/// Names of our filter files, include-only ones left out.
fn our_filters() -> Vec<String> {
    let dir = our_config().join("filter.d");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".conf").map(str::to_string)
        })
        .filter(|n| !INCLUDE_ONLY.contains(&n.as_str()))
        .collect();
    names.sort();
    names
}

/// Non-empty, non-comment lines of a file, split on tabs.
fn table_rows(path: &Path) -> Vec<Vec<String>> {
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| l.split('\t').map(|f| f.trim().to_string()).collect())
        .collect()
}

/// The cases of one filter; malformed lines become problems.
fn cases_of(filter: &str, problems: &mut Vec<String>) -> Vec<Case> {
    let list = shipped_dir().join(format!("{filter}.cases"));
    if !list.is_file() {
        return vec![Case {
            filter: filter.to_string(),
            ours: filter.to_string(),
            stock: filter.to_string(),
            log: repo().join(format!("tests/corpus/{filter}.log")),
        }];
    }
    let mut cases = Vec::new();
    for row in table_rows(&list) {
        match row.as_slice() {
            [ours, stock, log] => cases.push(Case {
                filter: filter.to_string(),
                ours: ours.clone(),
                stock: stock.clone(),
                log: repo().join(log),
            }),
            _ => problems.push(format!(
                "{filter}: malformed line in {}: {:?} (want <our spec>\\t<stock spec>\\t<log>)",
                list.display(),
                row.join("\\t")
            )),
        }
    }
    if cases.is_empty() {
        problems.push(format!("{filter}: {} lists no case", list.display()));
    }
    cases
}

/// Justifications of one filter: (our spec, ip) -> reason.
fn justified_of(filter: &str, problems: &mut Vec<String>) -> BTreeMap<(String, String), String> {
    let path = shipped_dir().join(format!("{filter}.justified"));
    let mut out = BTreeMap::new();
    if !path.is_file() {
        return out;
    }
    for row in table_rows(&path) {
        match row.as_slice() {
            [spec, ip, reason] if !reason.is_empty() => {
                out.insert((spec.clone(), ip.clone()), reason.clone());
            }
            _ => problems.push(format!(
                "{filter}: malformed line in {}: {:?} (want <our spec>\\t<ip>\\t<reason>)",
                path.display(),
                row.join("\\t")
            )),
        }
    }
    out
}

/// Runs one fail2ban-regex with `config` on `log` and `spec`.
fn run_tool(binary: &str, config: &Path, log: &Path, spec: &str) -> Run {
    let mut cmd = Command::new(binary);
    cmd.env("TZ", "UTC")
        .env("LC_ALL", "C.UTF-8")
        .arg("-c")
        .arg(config)
        .args(["-r", "-o", OUT_FORMAT])
        .arg(log)
        .arg(spec);
    let (status, stdout, stderr) = match common::output_within(&mut cmd, TIMEOUT) {
        Ok(o) => o,
        Err(e) => return Run { lines: Err(e) },
    };
    if !status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
        return Run {
            lines: Err(format!(
                "{binary} exited with {status} on {} '{spec}': {}",
                log.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            )),
        };
    }
    Run {
        lines: Ok(mask_now_times(&stdout)),
    }
}

/// Lines whose date cannot be found are stamped with the wall clock, which
/// differs between the runs: such times become `<now>`.
fn mask_now_times(stdout: &str) -> Vec<String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    stdout
        .lines()
        .map(|line| match line.rsplit_once(r"\t") {
            Some((ip, time))
                if time
                    .parse::<f64>()
                    .is_ok_and(|t| (t - now).abs() < NOW_WINDOW) =>
            {
                format!(r"{ip}\t<now>")
            }
            _ => line.to_string(),
        })
        .collect()
}

/// The address column of an output line.
fn ip_of(line: &str) -> &str {
    line.split(r"\t").next().unwrap_or(line)
}

/// Counts of each line.
fn multiset(lines: &[String]) -> BTreeMap<&str, usize> {
    let mut m = BTreeMap::new();
    for l in lines {
        *m.entry(l.as_str()).or_insert(0) += 1;
    }
    m
}

/// Result of comparing one case.
struct Comparison {
    ours: usize,
    stock: usize,
    common: usize,
    /// Lines only ours found (with multiplicity).
    only_ours: Vec<String>,
    /// Lines only stock found (with multiplicity).
    only_stock: Vec<String>,
}

impl Comparison {
    fn agreement(&self) -> f64 {
        let max = self.ours.max(self.stock);
        if max == 0 {
            1.0
        } else {
            self.common as f64 / max as f64
        }
    }
}

fn compare(ours: &[String], stock: &[String]) -> Comparison {
    let (a, b) = (multiset(ours), multiset(stock));
    let mut common = 0;
    let mut only_ours = Vec::new();
    let mut only_stock = Vec::new();
    let keys: BTreeSet<&str> = a.keys().chain(b.keys()).copied().collect();
    for k in keys {
        let (x, y) = (
            a.get(k).copied().unwrap_or(0),
            b.get(k).copied().unwrap_or(0),
        );
        common += x.min(y);
        only_ours.extend(std::iter::repeat_n(k.to_string(), x.saturating_sub(y)));
        only_stock.extend(std::iter::repeat_n(k.to_string(), y.saturating_sub(x)));
    }
    Comparison {
        ours: ours.len(),
        stock: stock.len(),
        common,
        only_ours,
        only_stock,
    }
}

/// Runs `job` over `items`, `WORKERS` at a time, keeping their order.
fn parallel<T, R>(items: Vec<T>, job: fn(&T) -> R) -> Vec<(T, R)>
where
    T: Send + 'static,
    R: Send + 'static,
{
    let queue = Arc::new(Mutex::new(
        items.into_iter().enumerate().collect::<VecDeque<_>>(),
    ));
    let results = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let queue = Arc::clone(&queue);
            let results = Arc::clone(&results);
            thread::spawn(move || {
                loop {
                    let next = queue.lock().unwrap().pop_front();
                    let Some((index, item)) = next else { break };
                    let r = job(&item);
                    results.lock().unwrap().push((index, item, r));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker thread panicked");
    }
    let mut results = std::mem::take(&mut *results.lock().unwrap());
    results.sort_by_key(|(index, _, _)| *index);
    results.into_iter().map(|(_, t, r)| (t, r)).collect()
}

/// Ours; stock on its own filters; stock on our filter files.
fn run_case(case: &Case) -> (Run, Run, Run) {
    let ours = run_tool(OURS_BIN, &our_config(), &case.log, &case.ours);
    let stock = run_tool(STOCK_BIN, Path::new(STOCK_CONFIG), &case.log, &case.stock);
    let stock_on_ours = run_tool(STOCK_BIN, &our_config(), &case.log, &case.ours);
    (ours, stock, stock_on_ours)
}

/// Our filter files are fail2ban filters too: fail2ban 1.0.2 reading them
/// must find exactly what ours finds (same lines, same order). This keeps
/// them loadable by fail2ban and checks our engine on our own patterns.
fn judge_same_engine(case: &Case, ours: &Run, stock_on_ours: &Run) -> Option<String> {
    let name = &case.filter;
    match (&ours.lines, &stock_on_ours.lines) {
        (Ok(a), Ok(b)) if a == b => None,
        (Ok(a), Ok(b)) => {
            let at = a
                .iter()
                .zip(b)
                .position(|(x, y)| x != y)
                .unwrap_or(a.len().min(b.len()));
            Some(format!(
                "{name}: {}: fail2ban reading our filter file finds {} line(s), ours {}; first difference at row {}: fail2ban `{}`, ours `{}`",
                case.ours,
                b.len(),
                a.len(),
                at + 1,
                b.get(at).map_or("<none>", String::as_str),
                a.get(at).map_or("<none>", String::as_str)
            ))
        }
        (Ok(_), Err(e)) => Some(format!(
            "{name}: {}: fail2ban cannot use our filter file: {e}",
            case.ours
        )),
        // Ours failing is reported by judge_case.
        (Err(_), _) => None,
    }
}

/// Checks one case's outcome; returns problems and prints its summary line.
fn judge_case(
    case: &Case,
    ours: &Run,
    stock: &Run,
    justified: &BTreeMap<(String, String), String>,
    used: &mut BTreeSet<(String, String)>,
) -> Vec<String> {
    let name = &case.filter;
    let mut problems = Vec::new();
    if !case.log.is_file() {
        problems.push(format!(
            "{name}: {}: log {} is missing",
            case.ours,
            case.log.display()
        ));
        return problems;
    }
    let (ours_lines, stock_lines) = match (&ours.lines, &stock.lines) {
        (Ok(o), Ok(s)) => (o, s),
        (o, s) => {
            for e in [o.as_ref().err(), s.as_ref().err()].into_iter().flatten() {
                problems.push(format!("{name}: {}: {e}", case.ours));
            }
            return problems;
        }
    };
    let cmp = compare(ours_lines, stock_lines);
    common::say(&format!(
        "{}: ours {}, stock {}, common {}, agreement {:.1}% ({})",
        case.ours,
        cmp.ours,
        cmp.stock,
        cmp.common,
        cmp.agreement() * 100.0,
        case.log.strip_prefix(repo()).unwrap_or(&case.log).display()
    ));
    if cmp.stock == 0 {
        problems.push(format!(
            "{name}: stock '{}' finds no failure in {}: the sample proves nothing",
            case.stock,
            case.log.display()
        ));
    }
    if cmp.agreement() < MIN_AGREEMENT {
        problems.push(format!(
            "{name}: {} agrees {:.1}% with stock '{}' (need {:.0}%)",
            case.ours,
            cmp.agreement() * 100.0,
            case.stock,
            MIN_AGREEMENT * 100.0
        ));
    }
    for (side, lines) in [
        ("only ours", &cmp.only_ours),
        ("only stock", &cmp.only_stock),
    ] {
        for line in lines {
            let key = (case.ours.clone(), ip_of(line).to_string());
            if justified.contains_key(&key) {
                used.insert(key);
            } else {
                problems.push(format!(
                    "{name}: {}: unjustified difference ({side}): {line}",
                    case.ours
                ));
            }
        }
    }
    problems
}

/// One run of ours (and stock, for the record) on an injection sample.
#[derive(Clone, Debug)]
struct Injection {
    filter: String,
    ours: String,
    stock: String,
    log: PathBuf,
    /// Only the filter's default spec must find a genuine failure; other
    /// modes may well find nothing in the sample.
    needs_failure: bool,
}

/// Checks one injection run.
fn judge_injection(inj: &Injection) -> Vec<String> {
    let (filter, spec, log) = (&inj.filter, &inj.ours, &inj.log);
    let mut problems = Vec::new();
    let ours = run_tool(OURS_BIN, &our_config(), log, spec);
    let stock = run_tool(STOCK_BIN, Path::new(STOCK_CONFIG), log, &inj.stock);
    match &ours.lines {
        Err(e) => problems.push(format!("{filter}: injection: {e}")),
        Ok(lines) => {
            let planted = lines.iter().filter(|l| ip_of(l) == PLANTED).count();
            if planted > 0 {
                problems.push(format!(
                    "{filter}: injection: '{spec}' took the planted {PLANTED} {planted} time(s) from {}",
                    log.display()
                ));
            }
            if inj.needs_failure && lines.is_empty() {
                problems.push(format!(
                    "{filter}: injection: ours finds no failure at all in {} (add a genuine one)",
                    log.display()
                ));
            }
            let stock_says = match &stock.lines {
                Ok(s) => {
                    let n = s.iter().filter(|l| ip_of(l) == PLANTED).count();
                    if n > 0 {
                        format!("stock '{}' WOULD take {PLANTED} ({n} time(s))", inj.stock)
                    } else {
                        format!("stock '{}' would not take {PLANTED}", inj.stock)
                    }
                }
                Err(e) => format!("stock could not run: {e}"),
            };
            common::say(&format!(
                "inject {spec}: ours {} failure(s), {planted} planted; {stock_says}",
                lines.len()
            ));
        }
    }
    problems
}

#[test]
fn shipped_filters_agree_with_stock_and_resist_injection() {
    if let Some(why) = common::stock_fail2ban_missing(STOCK_BIN, STOCK_CONFIG) {
        common::say(&format!("skipping: {why}"));
        return;
    }
    let mut problems = Vec::new();
    let filters = our_filters();
    let mut cases = Vec::new();
    let mut justified = BTreeMap::new();
    for f in &filters {
        cases.extend(cases_of(f, &mut problems));
        justified.insert(f.clone(), justified_of(f, &mut problems));
    }

    // Justification files for filters we do not ship are stale too.
    if let Ok(entries) = fs::read_dir(shipped_dir()) {
        for e in entries.filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            for ext in [".justified", ".cases"] {
                if let Some(f) = name.strip_suffix(ext)
                    && !filters.iter().any(|x| x == f)
                {
                    problems.push(format!(
                        "{f}: tests/shipped/{name} names a filter not in etc/fail2ban/filter.d"
                    ));
                }
            }
        }
    }

    let all_cases = cases.clone();
    let mut used = BTreeSet::new();
    for (case, (ours, stock, stock_on_ours)) in parallel(cases, run_case) {
        let just = &justified[&case.filter];
        problems.extend(judge_case(&case, &ours, &stock, just, &mut used));
        problems.extend(judge_same_engine(&case, &ours, &stock_on_ours));
    }
    for (filter, just) in &justified {
        for ((spec, ip), reason) in just {
            if !used.contains(&(spec.clone(), ip.clone())) {
                problems.push(format!(
                    "{filter}: stale justification '{spec}\\t{ip}' ({reason}): no such difference occurs"
                ));
            }
        }
    }

    // Injection samples: the filter's default spec must find a genuine
    // failure and never the planted address. An optional
    // `inject/<name>.specs` lists more of our specs (modes, one per line)
    // that must not take the planted address either.
    let inject_dir = shipped_dir().join("inject");
    let mut samples = Vec::new();
    if let Ok(entries) = fs::read_dir(&inject_dir) {
        for e in entries.filter_map(|e| e.ok()) {
            let path = e.path();
            if path.extension().is_some_and(|x| x == "specs")
                && !path.with_extension("log").is_file()
            {
                problems.push(format!(
                    "{}: has no injection sample beside it",
                    path.display()
                ));
            }
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".log"))
                .map(str::to_string)
            else {
                continue;
            };
            if !filters.contains(&name) {
                problems.push(format!(
                    "{name}: injection sample {} names a filter not in etc/fail2ban/filter.d",
                    path.display()
                ));
                continue;
            }
            let mut specs = vec![(name.clone(), name.clone())];
            let more = inject_dir.join(format!("{name}.specs"));
            if more.is_file() {
                for row in table_rows(&more) {
                    let spec = row.join(" ");
                    // Stock runs the same spec, or its case's stock spec.
                    let stock = all_cases
                        .iter()
                        .find(|c| c.ours == spec)
                        .map_or_else(|| spec.clone(), |c| c.stock.clone());
                    specs.push((spec, stock));
                }
            }
            for (i, (ours, stock)) in specs.into_iter().enumerate() {
                samples.push(Injection {
                    filter: name.clone(),
                    ours,
                    stock,
                    log: path.clone(),
                    needs_failure: i == 0,
                });
            }
        }
    }
    samples.sort_by(|a, b| (&a.filter, &a.ours).cmp(&(&b.filter, &b.ours)));
    for (_, result) in parallel(samples, judge_injection) {
        problems.extend(result);
    }

    common::say(&format!(
        "shipped filters: {} filters, {} problems",
        filters.len(),
        problems.len()
    ));
    assert!(
        problems.is_empty(),
        "{} problem(s) with the shipped filters:\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}
