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

/// The daemon: crafted lines against a jail whose filter backtracks
/// catastrophically. It stays responsive, reports the lines (1st and 10th
/// of 12), and still bans on the good lines written after them.
#[test]
fn the_server_stays_responsive_and_bans() {
    let tmp = TempDir::new("evil-server");
    let dir = &tmp.0;
    let d = dir.display();
    let conf = dir.join("etc");
    fs::create_dir_all(conf.join("filter.d")).expect("filter.d");
    fs::create_dir_all(conf.join("action.d")).expect("action.d");
    fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/fail2ban/action.d/dummy.conf"),
        conf.join("action.d/dummy.conf"),
    )
    .expect("dummy");
    fs::write(
        conf.join("filter.d/evil.conf"),
        "[Definition]\nfailregex = ^\\s*\\S+ \\S+: (?:a|aa)+(?<!c)b from <HOST>$\n\
         \x20           ^\\s*\\S+ \\S+: Failed password for \\S+ from <HOST>\n",
    )
    .expect("filter");
    common::server_conf(&conf, dir);
    fs::write(
        conf.join("jail.conf"),
        format!(
            "[evil]\nenabled = true\nfilter = evil\nlogpath = {d}/auth.log\nmaxretry = 3\n\
             action = dummy[target={d}/dummy.txt]\n"
        ),
    )
    .expect("jail.conf");
    fs::write(dir.join("auth.log"), "").expect("log");
    let client = env!("CARGO_BIN_EXE_fail2ban-client");
    common::client(client, &conf, &["start"]);
    common::wait_for("the server", || {
        common::client(client, &conf, &["ping"]).contains("pong")
    });
    let good = common::failures("192.0.2.9", 3);
    let stamp = good.split(" host ").next().expect("a date").to_string();
    let crafted: String = (0..12)
        .map(|k| {
            format!(
                "{stamp} host sshd[{k}]: {}cb from 192.0.2.66\n",
                "a".repeat(60)
            )
        })
        .collect();
    common::append(&dir.join("auth.log"), &crafted);
    assert!(common::client(client, &conf, &["ping"]).contains("pong"));
    common::append(&dir.join("auth.log"), &good);
    common::wait_for("the ban after the crafted lines", || {
        fs::read_to_string(dir.join("dummy.txt")).is_ok_and(|t| t.contains("+192.0.2.9"))
    });
    let status = common::client(client, &conf, &["status", "evil"]);
    assert!(!status.contains("192.0.2.66"), "{status}");
    let log = fs::read_to_string(dir.join("f2b.log")).expect("log");
    let reports: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("past its backtracking bound"))
        .collect();
    assert_eq!(reports.len(), 2, "{log}");
    assert!(reports[0].contains("[evil] 1 line(s)"), "{}", reports[0]);
    assert!(reports[1].contains("[evil] 10 line(s)"), "{}", reports[1]);
    common::client(client, &conf, &["stop"]);
}
