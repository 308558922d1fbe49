//! A regex that backtracks catastrophically cannot stall matching.
//!
//! Why it exists: Python's `re` backtracks without limit, so a filter with
//! nested repetition plus a crafted log line can hang fail2ban for hours
//! (GHSA-33wh-ccjc-p397). ferroban runs patterns without look-around or
//! back-references on the linear-time engine, and bounds the backtracking
//! engine's steps for the rest: such a line is taken as not matching that
//! regex, reported, and the lines after it are matched as usual.

mod common;

use std::fs;
use std::process::Command;
use std::time::Duration;

use common::TempDir;

const REGEX: &str = env!("CARGO_BIN_EXE_fail2ban-regex");

/// Nested repetition of overlapping choices before a look-behind that
/// fails at the end: without a bound, about 2^(n/1.4) paths for n `a`s.
const EVIL: &str = r"^(?:a|aa)+(?<!c)b from <HOST>$";

#[test]
fn fail2ban_regex_bounds_the_search_and_goes_on() {
    let dir = TempDir::new("evil-regex");
    let log = dir.0.join("evil.log");
    // It holds the regex's literal ` from ` part, so the prefilter does
    // not rule it out before the search.
    let crafted = "a".repeat(60) + "cb from 192.0.2.66";
    fs::write(
        &log,
        format!("{crafted}\n{crafted}\naab from 192.0.2.9\n{crafted}\nab from 192.0.2.10\n"),
    )
    .expect("log");
    // A hang guard, not a speed test: an unbounded search takes hours.
    let (status, stdout, stderr) = common::output_within(
        Command::new(REGEX).args(["-o", "ip"]).arg(&log).arg(EVIL),
        Duration::from_secs(120),
    )
    .expect("fail2ban-regex finishes on a catastrophic regex");
    assert!(status.success(), "{stderr}");
    // The crafted lines count as misses; the good lines after them match.
    assert_eq!(stdout, "192.0.2.9\n192.0.2.10\n");
    assert!(
        stderr.contains("WARNING: 3 line(s) took a regex search past its backtracking bound"),
        "{stderr}"
    );
}

#[test]
fn linear_patterns_need_no_bound() {
    // The same blow-up without look-around runs on the linear engine: it
    // simply does not match, and nothing is reported.
    let dir = TempDir::new("linear-regex");
    let log = dir.0.join("l.log");
    fs::write(&log, "a".repeat(5000) + "c\naab from 192.0.2.11\n").expect("log");
    let out = Command::new(REGEX)
        .args(["-o", "ip"])
        .arg(&log)
        .arg(r"^(?:a|aa)+b from <HOST>$")
        .output()
        .expect("runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "192.0.2.11\n");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("bound"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
