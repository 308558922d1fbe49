//! `logtarget = SYSLOG`: the server's lines reach a real rsyslog.
//!
//! Why it exists: on Mageia the admin reads fail2ban's bans in the system
//! log, and tools grep for `fail2ban.actions[PID]: NOTICE [sshd] Ban ...`.
//! The test runs its own rsyslogd on a private socket (not /dev/log, so a
//! host's syslog is not touched), points the server's `syslogsocket` at
//! it, bans an address and reads rsyslog's file.
//!
//! Needs rsyslogd (`apt-get install -y rsyslog`); it says why and returns
//! otherwise.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{append, failures, wait_for};

const CLIENT: &str = env!("CARGO_BIN_EXE_fail2ban-client");
const RSYSLOGD: &str = "/usr/sbin/rsyslogd";

#[test]
fn bans_are_logged_to_syslog() {
    if !Path::new(RSYSLOGD).exists() {
        eprintln!("skipping: needs {RSYSLOGD} (apt-get install -y rsyslog)");
        return;
    }
    let dir: PathBuf = std::env::temp_dir().join(format!("ferroban-syslog-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("filter.d")).expect("dir");
    let d = dir.display();
    let socket = dir.join("log");
    fs::write(
        dir.join("rsyslog.conf"),
        format!(
            "module(load=\"imuxsock\" SysSock.Use=\"off\")\ninput(type=\"imuxsock\" Socket=\"{}\")\n\
             $ActionFileDefaultTemplate RSYSLOG_TraditionalFileFormat\ndaemon.* {d}/daemon.log\n",
            socket.display()
        ),
    )
    .expect("rsyslog.conf");
    let mut rsyslog = Command::new(RSYSLOGD)
        .arg("-n")
        .arg("-f")
        .arg(dir.join("rsyslog.conf"))
        .arg("-i")
        .arg(dir.join("rsyslog.pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("rsyslogd starts");
    wait_for("rsyslog's socket", || socket.exists());

    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/fail2ban/filter.d");
    for f in ["common.conf", "sshd.conf"] {
        fs::copy(shipped.join(f), dir.join("filter.d").join(f)).expect("filter");
    }
    fs::write(
        dir.join("fail2ban.conf"),
        format!(
            "[Definition]\nlogtarget = SYSLOG\nsyslogsocket = {}\nsocket = {d}/f2b.sock\npidfile = {d}/f2b.pid\ndbfile = :memory:\n",
            socket.display()
        ),
    )
    .expect("fail2ban.conf");
    fs::write(
        dir.join("jail.conf"),
        format!("[sshd]\nenabled = true\nfilter = sshd\nlogpath = {d}/auth.log\nmaxretry = 3\n"),
    )
    .expect("jail.conf");
    append(&dir.join("auth.log"), "");
    common::client(CLIENT, &dir, &["start"]);
    let pid = fs::read_to_string(dir.join("f2b.pid"))
        .expect("pid")
        .trim()
        .to_string();
    append(&dir.join("auth.log"), &failures("192.0.2.70", 3));
    let syslog = || fs::read_to_string(dir.join("daemon.log")).unwrap_or_default();
    let expected = format!("fail2ban.actions[{pid}]: NOTICE [sshd] Ban 192.0.2.70");
    wait_for("the ban in syslog", || syslog().contains(&expected));
    assert!(
        syslog().contains(&format!(
            "fail2ban.filter[{pid}]: INFO [sshd] Found 192.0.2.70"
        )),
        "{}",
        syslog()
    );
    common::client(CLIENT, &dir, &["stop"]);
    let _ = rsyslog.kill();
    let _ = rsyslog.wait();
    let _ = fs::remove_dir_all(&dir);
}
