//! Replays the fuzz corpus and every crash the fuzzer found, on stable Rust.
//!
//! `bench/fuzz` runs the cargo-fuzz targets of `tests/fuzz/` (nightly only);
//! what they keep goes to `tests/fuzz/corpus/<target>/` and crashes or hangs
//! to `tests/fuzz/artifacts/<target>/`. This test feeds each of those files
//! through the very function its target calls (`ferroban::fuzzing`), so a
//! fixed bug stays fixed in CI without cargo-fuzz. Each input runs in its
//! own thread and must finish within `BOUND`: a hang fails the test.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Per input. The fuzzer's own limit is 10 s on an optimized build; this
/// test runs unoptimized, so it allows more.
const BOUND: Duration = Duration::from_secs(60);

type Target = fn(&[u8]);

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// Runs `f` on `data` in a thread; the error says how it failed.
fn replay(f: Target, data: Vec<u8>) -> Result<Duration, String> {
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            let outcome = std::panic::catch_unwind(|| f(&data));
            let _ = tx.send(outcome.is_ok());
        })
        .map_err(|e| format!("cannot start a thread: {e}"))?;
    match rx.recv_timeout(BOUND) {
        Ok(true) => Ok(start.elapsed()),
        Ok(false) => Err("panicked".to_string()),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(format!("still running after {BOUND:?}")),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err("thread died".to_string()),
    }
}

/// Replays target `name`'s corpus and crashes through `f`; returns how
/// many inputs ran. Fails on any input that panics or overruns `BOUND`.
fn replay_target(name: &str, f: Target) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz");
    let corpus = files(&root.join("corpus").join(name));
    let crashes = files(&root.join("artifacts").join(name));
    assert!(
        !corpus.is_empty(),
        "no seed corpus for target {name} in {}",
        root.display()
    );
    let mut failures = Vec::new();
    let mut slowest = (Duration::ZERO, PathBuf::new());
    for path in corpus.iter().chain(&crashes) {
        let data = std::fs::read(path).expect("fuzz input readable");
        match replay(f, data) {
            Ok(took) if took > slowest.0 => slowest = (took, path.clone()),
            Ok(_) => {}
            Err(why) => failures.push(format!("{name}: {}: {why}", path.display())),
        }
    }
    let count = corpus.len() + crashes.len();
    eprintln!(
        "{name}: {count} inputs ({} crash regressions), slowest {:?} ({})",
        crashes.len(),
        slowest.0,
        slowest.1.display()
    );
    assert!(
        failures.is_empty(),
        "fuzz inputs failing:\n{}",
        failures.join("\n")
    );
    count
}

// One test per target, so the harness runs them side by side.

#[test]
fn ini_corpus_and_crashes_replay_cleanly() {
    assert!(replay_target("ini", ferroban::fuzzing::ini) > 0);
}

#[test]
fn pyre_corpus_and_crashes_replay_cleanly() {
    assert!(replay_target("pyre", ferroban::fuzzing::pyre) > 0);
}

#[test]
fn date_corpus_and_crashes_replay_cleanly() {
    assert!(replay_target("date", ferroban::fuzzing::date) > 0);
}

#[test]
fn matcher_corpus_and_crashes_replay_cleanly() {
    assert!(replay_target("matcher", ferroban::fuzzing::matcher) > 0);
}
