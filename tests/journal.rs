//! `backend = systemd`: failures read from a real journal file.
//!
//! Why it exists: Mageia logs to the journal by default, so the sshd jail
//! there reads the journal, not /var/log/auth.log. No journald runs here,
//! so the test writes journal files with `systemd-journal-remote` (from
//! export-format text) and points the jail at them with fail2ban's
//! `backend = systemd[journalfiles=...]`. It checks a ban from entries
//! already in the journal at start, a ban from an entry appended while the
//! server runs (`journalctl --follow`), and the status's "Journal matches".
//!
//! Needs journalctl and systemd-journal-remote (`apt-get install -y
//! systemd-journal-remote`); it says why and returns otherwise.

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::wait_for;

const CLIENT: &str = env!("CARGO_BIN_EXE_fail2ban-client");
const REMOTE: &str = "/lib/systemd/systemd-journal-remote";

/// Appends sshd failures of `ip`, dated now, to the journal file `file`.
fn journal_failures(file: &Path, ip: &str, n: usize) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_micros();
    let mut export = String::new();
    for i in 0..n {
        export.push_str(&format!(
            "__REALTIME_TIMESTAMP={}\n__MONOTONIC_TIMESTAMP={}\n_BOOT_ID=0123456789abcdef0123456789abcdef\n\
             _HOSTNAME=srv\nSYSLOG_IDENTIFIER=sshd\n_PID={}\n_COMM=sshd\n_SYSTEMD_UNIT=sshd.service\n\
             MESSAGE=Failed password for invalid user x from {ip} port {} ssh2\n\n",
            now + i as u128,
            now + i as u128,
            300 + i,
            6000 + i
        ));
    }
    let mut child = Command::new(REMOTE)
        .arg("-o")
        .arg(file)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("systemd-journal-remote runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(export.as_bytes())
        .expect("export");
    assert!(
        child.wait().expect("ends").success(),
        "systemd-journal-remote failed"
    );
}

#[test]
fn bans_from_the_journal_backlog_and_new_entries() {
    let have = |c: &str| Command::new(c).arg("--version").output().is_ok();
    if !have("journalctl") || !Path::new(REMOTE).exists() {
        eprintln!(
            "skipping: needs journalctl and {REMOTE} (apt-get install -y systemd-journal-remote)"
        );
        return;
    }
    let dir: PathBuf =
        std::env::temp_dir().join(format!("ferroban-journal-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("filter.d")).expect("dir");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/fail2ban/filter.d");
    for f in ["common.conf", "sshd.conf"] {
        fs::copy(shipped.join(f), dir.join("filter.d").join(f)).expect("filter");
    }
    fs::create_dir_all(dir.join("action.d")).expect("dir");
    let d = dir.display();
    fs::write(
        dir.join("action.d/record.conf"),
        format!("[Definition]\nactionban = echo \"ban <ip>\" >> {d}/actions.txt\n"),
    )
    .expect("action");
    fs::write(
        dir.join("fail2ban.conf"),
        format!("[Definition]\nlogtarget = {d}/f2b.log\nsocket = {d}/f2b.sock\npidfile = {d}/f2b.pid\ndbfile = :memory:\n"),
    )
    .expect("fail2ban.conf");
    let journal = dir.join("test.journal");
    fs::write(
        dir.join("jail.conf"),
        format!(
            "[sshd]\nenabled = true\nfilter = sshd\nmaxretry = 3\naction = record\n\
             backend = systemd[journalfiles=\"{}\"]\njournalmatch = _SYSTEMD_UNIT=sshd.service + _COMM=sshd\n",
            journal.display()
        ),
    )
    .expect("jail.conf");
    journal_failures(&journal, "192.0.2.60", 3);
    let actions = || fs::read_to_string(dir.join("actions.txt")).unwrap_or_default();
    common::client(CLIENT, &dir, &["start"]);
    wait_for("a ban from the backlog", || {
        actions().contains("ban 192.0.2.60")
    });
    journal_failures(&journal, "192.0.2.61", 3);
    wait_for("a ban from a new entry", || {
        actions().contains("ban 192.0.2.61")
    });
    let status = common::client(CLIENT, &dir, &["status", "sshd"]);
    assert!(
        status.contains("|  `- Journal matches:\t_SYSTEMD_UNIT=sshd.service + _COMM=sshd\n"),
        "{status}"
    );
    assert!(status.contains("|  |- Total failed:\t6\n"), "{status}");
    common::client(CLIENT, &dir, &["stop"]);
    let _ = fs::remove_dir_all(&dir);
}
