//! The `fail2ban-regex` command line, end to end.
//!
//! Why it exists: admins read the summary report and scripts parse `-o`
//! output, so both must read exactly as fail2ban 1.0.2's. The report layout
//! is compared with Debian's fail2ban-regex where it is installed (the
//! `[processed in …]` line aside); the rest runs everywhere: `-o` forms,
//! argument errors, and input that must never crash the tool (invalid
//! UTF-8, a megabyte-long line).

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

const OURS: &str = env!("CARGO_BIN_EXE_fail2ban-regex");
const THEIRS: &str = "/usr/bin/fail2ban-regex";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .env("TZ", "UTC")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A fresh temp dir per test.
fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ferroban-cli-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).expect("temp dir");
    d
}

/// The report without its timing line, which differs run to run.
fn without_timing(s: &str) -> String {
    s.lines()
        .filter(|l| !l.starts_with("[processed in "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn fail2ban_present() -> bool {
    let ok = std::path::Path::new(THEIRS).exists()
        && std::path::Path::new("/etc/fail2ban/filter.d").is_dir();
    if !ok {
        eprintln!(
            "skipping the comparison with fail2ban: {THEIRS} or /etc/fail2ban missing (apt-get install fail2ban)"
        );
    }
    ok
}

#[test]
fn summary_report_reads_as_fail2ban_1_0_2() {
    if !fail2ban_present() {
        return;
    }
    let corpus = repo().join("tests/corpus");
    // (options, log: a corpus file or a log line, filter or regex, ignoreregex)
    let cases: &[(&[&str], &str, &str, Option<&str>)] = &[
        (&[], "sshd.log", "sshd", None),
        (&["-v"], "sshd.log", "sshd[mode=aggressive]", None),
        (&["--print-all-matched"], "dovecot.log", "dovecot", None),
        (
            &["--print-no-missed"],
            "roundcube-auth.log",
            "roundcube-auth",
            None,
        ),
        (&[], "ejabberd-auth.log", "ejabberd-auth", None),
        (&["--VD"], "dovecot.log", "dovecot", None),
        (
            &["--VD", "-d", "{^LN-BEG}TAI64N"],
            "dovecot.log",
            "dovecot",
            None,
        ),
        // Rows carry every captured group, the multi-line `users` set and
        // the time as Python holds it (int for zoned dates).
        (
            &["-r", "-o", "row"],
            "sshd.log",
            "sshd[mode=aggressive]",
            None,
        ),
        (&["-o", "matches"], "sshd.log", "sshd", None),
        (
            &["-o", "<F-USER>|<fid>|<ip>|<family>"],
            "sshd.log",
            "sshd",
            None,
        ),
        (
            &[],
            "Nov 20 10:00:01 host sshd[123]: Failed password for root from 192.0.2.1 port 22 ssh2",
            r"from <HOST> port \d+",
            Some("root"),
        ),
    ];
    let cases: Vec<Vec<String>> = cases
        .iter()
        .map(|(opts, log, regex, ignore)| {
            let log = if log.ends_with(".log") {
                corpus.join(log).display().to_string()
            } else {
                log.to_string()
            };
            let mut a: Vec<String> = opts.iter().map(|o| o.to_string()).collect();
            a.extend([log, regex.to_string()]);
            a.extend(ignore.map(str::to_string));
            a
        })
        .collect();
    let mut differ = Vec::new();
    for args in &cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let (theirs, ours) = (run(THEIRS, &a), run(OURS, &a));
        assert!(theirs.status.success(), "fail2ban-regex failed on {a:?}");
        let (t, o) = (
            without_timing(&stdout(&theirs)),
            without_timing(&stdout(&ours)),
        );
        if t != o {
            differ.push(format!("{a:?}\n--- fail2ban\n{t}\n--- ours\n{o}"));
        }
    }
    assert!(
        differ.is_empty(),
        "reports differ:\n{}",
        differ.join("\n\n")
    );
}

#[test]
fn out_keywords_and_templates() {
    let d = tmp("out");
    let log = d.join("a.log");
    fs::write(
        &log,
        "Nov 20 10:00:01 host sshd[1]: Failed password for bob from 192.0.2.1 port 22 ssh2\n\
         # a comment line is skipped\n\
         Nov 20 10:00:02 host sshd[2]: Failed password for eve from 2001:DB8::0:7 port 22 ssh2\n",
    )
    .expect("write log");
    let log = log.display().to_string();
    let re = r"for <F-USER>\S+</F-USER> from <HOST> port";
    let o = |fmt: &str| stdout(&run(OURS, &["-r", "-o", fmt, &log, re]));
    assert_eq!(o("ip"), "192.0.2.1\n2001:db8::7\n");
    assert_eq!(o("user"), "bob\neve\n");
    assert_eq!(
        o("<F-USER>@<ip> <fid>"),
        "bob@192.0.2.1 192.0.2.1\neve@2001:db8::7 2001:db8::7\n"
    );
    assert!(o("msg").starts_with("Nov 20 10:00:01 host sshd[1]: Failed password for bob"));
    assert!(o("row").starts_with("['192.0.2.1',\t"));
}

#[test]
fn hostile_input_never_crashes() {
    let d = tmp("hostile");
    let log = d.join("bad.log");
    let mut bytes =
        b"Nov 20 10:00:01 host sshd[1]: Failed password for \xff\xfe from 192.0.2.9 port 22 ssh2\n"
            .to_vec();
    bytes.extend_from_slice(b"Nov 20 10:00:02 host sshd[1]: ");
    bytes.extend(std::iter::repeat_n(b'a', 1 << 20));
    bytes.extend_from_slice(b" from 192.0.2.10\n\x00\x01\x02\n");
    fs::write(&log, &bytes).expect("write log");
    let out = run(
        OURS,
        &["-r", "-o", "ip", &log.display().to_string(), "sshd"],
    );
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out), "192.0.2.9\n");
    // Nested quantifiers before a look-ahead: exponential for a plain
    // backtracker; bounded here.
    let out = run(
        OURS,
        &[&log.display().to_string(), r"(a+)+(?=b) from <HOST>"],
    );
    assert!(out.status.success());
    assert!(stdout(&out).contains("Lines: 3 lines, 0 ignored, 0 matched, 3 missed"));
}

#[test]
fn argument_errors_exit_255() {
    let out = run(OURS, &["only-one-arg"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ERROR: provide both <LOG> and <REGEX>.")
    );
    let out = run(OURS, &["systemd-journal", "sshd"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(stdout(&out).contains("journalctl"), "{}", stdout(&out));
    let out = run(OURS, &["x", "(unbalanced"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(stdout(&out).contains("Unable to compile regular expression"));
}

#[test]
fn readme_example_finds_the_sample_failures() {
    let r = repo();
    let out = run(
        OURS,
        &[
            "-c",
            &r.join("etc/fail2ban").display().to_string(),
            &r.join("tests/data/auth.log").display().to_string(),
            "sshd",
        ],
    );
    assert!(out.status.success());
    let s = stdout(&out);
    assert!(
        s.contains("Lines: 13 lines, 2 ignored, 8 matched, 3 missed"),
        "{s}"
    );
    // The address planted in a user name is not taken; the client's own,
    // after it, is (such a name does not dodge the ban).
    let ips = stdout(&run(
        OURS,
        &[
            "-r",
            "-o",
            "ip",
            "-c",
            &r.join("etc/fail2ban").display().to_string(),
            &r.join("tests/data/auth.log").display().to_string(),
            "sshd",
        ],
    ));
    assert!(
        !ips.contains("192.0.2.99") && ips.contains("198.51.100.7"),
        "{ips}"
    );
}
