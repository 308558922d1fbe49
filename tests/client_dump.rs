//! Differential test: `fail2ban-client -d` of ours against Debian's fail2ban
//! 1.0.2, on copies of the stock /etc/fail2ban with jail.local variations.
//!
//! Why it exists: the server starts from this command stream, so a jail
//! read differently (an option typed as a string instead of an int, an
//! action parameter lost, a filter option applied in the wrong order)
//! would make the daemon behave differently from fail2ban. `-d` prints the
//! whole stream; both programs must print the same lines. Each case is a
//! jail.local (plus optional extra files) dropped into a fresh copy of the
//! stock configuration; `@DIR@` in them stands for the case directory,
//! where the case's log files are created.
//!
//! Without Debian's fail2ban-client or /etc/fail2ban the test says why and
//! returns; CI installs the `fail2ban` package so it runs there.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const THEIRS: &str = "/usr/bin/fail2ban-client";
const OURS: &str = env!("CARGO_BIN_EXE_fail2ban-client");
const STOCK: &str = "/etc/fail2ban";

struct Case {
    name: &'static str,
    jail_local: &'static str,
    /// Extra files: path relative to the config copy, contents.
    files: &'static [(&'static str, &'static str)],
    /// Log files to create in the case directory.
    logs: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "sshd-polling",
        jail_local: "[sshd]\nenabled = true\nlogpath = @DIR@/auth.log\nbackend = polling\n",
        files: &[],
        logs: &["auth.log"],
    },
    Case {
        name: "every-stock-jail",
        jail_local: "[DEFAULT]\nenabled = true\n",
        files: &[],
        logs: &[],
    },
    Case {
        name: "mail-actions-and-params",
        jail_local: "[DEFAULT]\nbanaction = shorewall\ndestemail = admin@example.org\nsender = f2b@example.org\n\
            mta = sendmail\naction = %(action_mwl)s\nignoreip = 127.0.0.1/8 ::1, 192.0.2.0/24\n\
            bantime = 1h\nfindtime = 20m\nmaxretry = 3\n\
            [sshd]\nenabled = true\nport = 2222\nlogpath = @DIR@/auth.log\n\
            [postfix-sasl]\nenabled = true\nlogpath = @DIR@/mail.log\n",
        files: &[],
        logs: &["auth.log", "mail.log"],
    },
    Case {
        name: "filter-options-globs-and-bad-values",
        jail_local: "[sshd]\nenabled = true\nfilter = sshd[mode=aggressive, maxlines=2]\n\
            logpath = @DIR@/a*.log\n          @DIR@/missing.log\nmaxretry = many\n\
            usedns = no\nbantime.increment = true\nbantime.factor = 2\n\
            action = iptables-allports[name=ssh2, protocol=all]\n         dummy\n\
            [recidive]\nenabled = true\nlogpath = @DIR@/fail2ban.log tail\n",
        files: &[],
        logs: &["a1.log", "a2.log", "fail2ban.log"],
    },
    Case {
        name: "systemd-backend-and-broken-jails",
        jail_local: "[sshd]\nenabled = true\nbackend = systemd\n\
            [nosuchfilter]\nenabled = true\nfilter = does-not-exist\nlogpath = @DIR@/x.log\n\
            [badaction]\nenabled = true\nfilter = sshd\naction = no-such-action\nlogpath = @DIR@/x.log\n\
            [own]\nenabled = true\nfilter = own[x=1]\nlogpath = @DIR@/x.log\naction = own\n",
        files: &[
            (
                "filter.d/own.conf",
                "[INCLUDES]\nbefore = common.conf\n[Init]\nx = 0\n[Definition]\n_daemon = own\n\
                 failregex = ^%(__prefix_line)sfail <x> from <HOST>$\n            ^bad <HOST>\n\
                 ignoreregex = ^ok\ndatepattern = {^LN-BEG}\njournalmatch = _COMM=own\n",
            ),
            (
                "action.d/own.conf",
                "[Definition]\nactionban = echo '<ip>' \"<matches>\" >> /tmp/x-<name>\n\
                 actionunban = true\nnorestored = 1\n[Init]\nname = default\ntimeout = 30\n",
            ),
        ],
        logs: &["x.log"],
    },
];

fn run(bin: &str, conf: &Path) -> (i32, String) {
    let out = Command::new(bin)
        .arg("-c")
        .arg(conf)
        .arg("-d")
        .env("LANG", "C.UTF-8")
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn setup(case: &Case, root: &Path) -> PathBuf {
    let dir = root.join(case.name);
    let conf = dir.join("etc");
    common::copy_dir(Path::new(STOCK), &conf);
    // Debian's own enabling of sshd would hide what the cases set.
    let _ = fs::remove_file(conf.join("jail.d/defaults-debian.conf"));
    let d = dir.display().to_string();
    fs::write(
        conf.join("jail.local"),
        case.jail_local.replace("@DIR@", &d),
    )
    .expect("jail.local");
    for (path, text) in case.files {
        fs::write(conf.join(path), text.replace("@DIR@", &d)).expect("extra file");
    }
    for log in case.logs {
        fs::write(dir.join(log), "").expect("log");
    }
    conf
}

#[test]
fn dump_matches_fail2ban() {
    if !Path::new(THEIRS).exists() || !Path::new(STOCK).join("jail.conf").exists() {
        eprintln!(
            "skipping: needs Debian's fail2ban (apt-get install fail2ban) for {THEIRS} and {STOCK}"
        );
        return;
    }
    let root = std::env::temp_dir().join(format!("ferroban-dump-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    let mut failed = Vec::new();
    let mut lines = 0;
    for case in CASES {
        let conf = setup(case, &root);
        let (their_rc, theirs) = run(THEIRS, &conf);
        let (our_rc, ours) = run(OURS, &conf);
        lines += theirs.lines().count();
        if (their_rc == 0) != (our_rc == 0) || theirs != ours {
            let diff: Vec<String> = theirs
                .lines()
                .zip(ours.lines())
                .filter(|(a, b)| a != b)
                .take(3)
                .map(|(a, b)| format!("  fail2ban: {a}\n  ours:     {b}"))
                .collect();
            failed.push(format!(
                "{}: exit {their_rc} vs {our_rc}, {} vs {} lines\n{}",
                case.name,
                theirs.lines().count(),
                ours.lines().count(),
                diff.join("\n")
            ));
        }
    }
    let _ = fs::remove_dir_all(&root);
    // The stock jails alone give over a thousand commands: the comparison
    // really covered something.
    assert!(lines > 1000, "only {lines} lines compared");
    assert!(failed.is_empty(), "differences:\n{}", failed.join("\n"));
}
