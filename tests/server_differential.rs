//! Differential test of the daemon: Debian's fail2ban-server 1.0.2 and
//! ours, each on its own copy of the stock /etc/fail2ban, fed the same
//! generated auth log.
//!
//! Why it exists: this is the product's promise. With only the sshd jail
//! enabled and `action = dummy[target=...]`, both servers get the same
//! lines appended to their logpath, twice: once while they still read the
//! file for the first time (fail2ban's initialisation, where old lines are
//! skipped) and once in operation (where dates far from now count as now).
//! After each, `fail2ban-client status sshd` must print the same text apart
//! from the log path, and `banned` the same addresses, and the dummy
//! action must have written the same bans in the same order.
//!
//! The log is generated with `bench/genlog.py --start now` and packed into
//! the last few minutes, so no line sits on the edge of findtime, where a
//! second's difference in reading time could change a count.
//!
//! Without Debian's fail2ban (or python3) the test says why and returns;
//! CI installs both.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const THEIR_SERVER: &str = "/usr/bin/fail2ban-server";
const THEIR_CLIENT: &str = "/usr/bin/fail2ban-client";
const OUR_CLIENT: &str = env!("CARGO_BIN_EXE_fail2ban-client");
const STOCK: &str = "/etc/fail2ban";

struct Side {
    dir: PathBuf,
    client: &'static str,
}

impl Side {
    fn conf(&self) -> PathBuf {
        self.dir.join("etc")
    }

    fn client(&self, args: &[&str]) -> String {
        let out = Command::new(self.client)
            .arg("-c")
            .arg(self.conf())
            .args(args)
            .stderr(Stdio::null())
            .output()
            .expect("client runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `status sshd` with the log path written as `LOG`.
    fn status(&self) -> String {
        self.flavored(&[])
    }

    /// `status sshd <flavor>` (as `status`).
    fn flavored(&self, flavor: &[&str]) -> String {
        let args: Vec<&str> = ["status", "sshd"].iter().chain(flavor).copied().collect();
        self.client(&args)
            .replace(&self.dir.join("auth.log").display().to_string(), "LOG")
    }

    fn append(&self, text: &str) {
        use std::io::Write;
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(self.dir.join("auth.log"))
            .expect("log");
        f.write_all(text.as_bytes()).expect("append");
    }
}

fn setup(root: &Path, name: &str, client: &'static str) -> Side {
    let dir = root.join(name);
    common::copy_dir(Path::new(STOCK), &dir.join("etc"));
    let _ = fs::remove_file(dir.join("etc/jail.d/defaults-debian.conf"));
    let d = dir.display();
    fs::write(
        dir.join("etc/fail2ban.local"),
        format!("[Definition]\nlogtarget = {d}/f2b.log\ndbfile = {d}/db.sqlite3\nsocket = {d}/f2b.sock\npidfile = {d}/f2b.pid\n"),
    )
    .expect("fail2ban.local");
    fs::write(
        dir.join("etc/jail.local"),
        format!("[sshd]\nenabled = true\nlogpath = {d}/auth.log\nbackend = polling\naction = dummy[target={d}/dummy.txt]\n"),
    )
    .expect("jail.local");
    fs::write(dir.join("auth.log"), "").expect("log");
    Side { dir, client }
}

fn genlog(lines: usize, seed: u32) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/genlog.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(lines.to_string())
        .args([
            "--start",
            "now",
            "--per-second",
            "20",
            "--attackers",
            "60",
            "--seed",
        ])
        .arg(seed.to_string())
        .output()
        .expect("genlog runs");
    assert!(out.status.success(), "genlog failed");
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Waits until both statuses stop changing (the servers caught up).
fn settle(a: &Side, b: &Side) {
    let start = Instant::now();
    let mut last = (String::new(), String::new());
    let mut same_for = 0;
    while start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(500));
        let now = (a.status(), b.status());
        same_for = if now == last { same_for + 1 } else { 0 };
        last = now;
        if same_for >= 4 {
            return;
        }
    }
}

fn sorted_banned(s: &Side) -> Vec<String> {
    let text = s.client(&["banned"]);
    let mut ips: Vec<String> = text
        .split(['\'', '[', ']', '{', '}', ',', ':', ' ', '\n'])
        .filter(|w| w.contains('.') || w.matches(':').count() > 1)
        .map(str::to_string)
        .collect();
    ips.sort();
    ips
}

#[test]
fn status_and_bans_match_fail2ban_server() {
    let have = |p: &str| Path::new(p).exists();
    if !have(THEIR_SERVER) || !have(THEIR_CLIENT) || !Path::new(STOCK).join("jail.conf").exists() {
        eprintln!(
            "skipping: needs Debian's fail2ban (apt-get install fail2ban) for {THEIR_SERVER}"
        );
        return;
    }
    if Command::new("python3").arg("-V").output().is_err() {
        eprintln!("skipping: needs python3 for bench/genlog.py");
        return;
    }
    let root = std::env::temp_dir().join(format!("ferroban-srvdiff-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    let theirs = setup(&root, "theirs", THEIR_CLIENT);
    let ours = setup(&root, "ours", OUR_CLIENT);
    let started = Command::new(THEIR_SERVER)
        .arg("-c")
        .arg(theirs.conf())
        .args(["-xf", "start"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let mut their_proc = started.expect("fail2ban-server starts");
    ours.client(&["start"]);
    let up = Instant::now();
    while !(theirs.client(&["ping"]).contains("pong") && ours.client(&["ping"]).contains("pong")) {
        assert!(
            up.elapsed() < Duration::from_secs(30),
            "servers did not answer"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut problems = Vec::new();
    for (round, (lines, seed)) in [(3000, 7), (2000, 11)].into_iter().enumerate() {
        let log = genlog(lines, seed);
        theirs.append(&log);
        ours.append(&log);
        settle(&theirs, &ours);
        let (t, o) = (theirs.status(), ours.status());
        if t != o {
            problems.push(format!(
                "round {round}: status differs\n--- fail2ban\n{t}--- ours\n{o}"
            ));
        }
        if sorted_banned(&theirs) != sorted_banned(&ours) {
            problems.push(format!("round {round}: banned sets differ"));
        }
    }
    // The status flavors (cymru without DNS lookups: Debian's fail2ban has
    // no dnspython, so both answer "error" there).
    for flavor in ["short", "basic", "cymru"] {
        let (t, o) = (theirs.flavored(&[flavor]), ours.flavored(&[flavor]));
        if t != o {
            problems.push(format!(
                "status sshd {flavor} differs\n--- fail2ban\n{t}--- ours\n{o}"
            ));
        }
    }
    let read = |s: &Side| fs::read_to_string(s.dir.join("dummy.txt")).unwrap_or_default();
    let their_dummy = read(&theirs);
    if their_dummy != read(&ours) {
        problems.push(format!(
            "dummy action output differs:\n{their_dummy}---\n{}",
            read(&ours)
        ));
    }
    let banned = sorted_banned(&theirs).len();
    theirs.client(&["stop"]);
    ours.client(&["stop"]);
    let _ = their_proc.wait();
    if problems.is_empty() {
        let _ = fs::remove_dir_all(&root);
    }
    // Both rounds banned someone: the comparison covered bans, not only
    // empty lists.
    assert!(banned >= 2, "only {banned} bans; the log should cause more");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
