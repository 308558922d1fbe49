//! The daemon survives `kill -9`: bans come back, lines are not counted
//! twice, and the dead server's socket does not block the next start.
//!
//! Why it exists: a firewall manager that forgets its bans on a crash, or
//! refuses to start until someone passes `-x`, leaves a host open. This
//! runs our server (no root needed: the action writes to a file), bans an
//! address, kills the server with SIGKILL, starts it again without `-x`,
//! and checks the status, the restored ban and the action's log.

mod common;

use common::{append, failures, wait_for};
use std::fs;
use std::path::{Path, PathBuf};

use std::time::Duration;

const CLIENT: &str = env!("CARGO_BIN_EXE_fail2ban-client");

fn setup(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ferroban-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("action.d")).expect("dir");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/fail2ban/filter.d");
    fs::create_dir_all(dir.join("filter.d")).expect("dir");
    for f in ["common.conf", "sshd.conf"] {
        fs::copy(shipped.join(f), dir.join("filter.d").join(f)).expect("filter");
    }
    let d = dir.display();
    fs::write(
        dir.join("fail2ban.conf"),
        format!("[Definition]\nlogtarget = {d}/f2b.log\nsocket = {d}/f2b.sock\npidfile = {d}/f2b.pid\ndbfile = {d}/f2b.db\n"),
    )
    .expect("fail2ban.conf");
    fs::write(
        dir.join("jail.conf"),
        format!("[sshd]\nenabled = true\nfilter = sshd\nlogpath = {d}/auth.log\nmaxretry = 3\nbantime = 1h\naction = record\nignorecommand = test <ip> = 192.0.2.52\n"),
    )
    .expect("jail.conf");
    fs::write(
        dir.join("action.d/record.conf"),
        format!("[Definition]\nactionban = echo \"ban <ip> restored=<restored>\" >> {d}/actions.txt\nactionunban = echo \"unban <ip>\" >> {d}/actions.txt\n"),
    )
    .expect("action");
    fs::write(dir.join("auth.log"), "").expect("log");
    dir
}

/// Sends `sig` to the server whose pid file is in `dir`; returns its pid.
fn signal_server(dir: &Path, sig: nix::sys::signal::Signal) -> i32 {
    let pid: i32 = fs::read_to_string(dir.join("f2b.pid"))
        .expect("pid")
        .trim()
        .parse()
        .expect("number");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).expect("signal");
    pid
}

#[test]
fn bans_survive_kill_9_and_restart_without_x() {
    let dir = setup("restore");
    let actions = || fs::read_to_string(dir.join("actions.txt")).unwrap_or_default();
    common::client(CLIENT, &dir, &["start"]);
    append(&dir.join("auth.log"), &failures("192.0.2.50", 3));
    append(&dir.join("auth.log"), &failures("192.0.2.51", 2));
    // ignorecommand spares this one (exit status 0).
    append(&dir.join("auth.log"), &failures("192.0.2.52", 4));
    wait_for("the ban", || {
        actions().contains("ban 192.0.2.50 restored=0")
    });
    // Let the state be saved (once a second).
    std::thread::sleep(Duration::from_millis(1500));
    let log = fs::read_to_string(dir.join("f2b.log")).expect("log");
    assert!(log.contains("[sshd] Ignore 192.0.2.52 by command"), "{log}");
    assert!(!actions().contains("192.0.2.52"));
    let pid = signal_server(&dir, nix::sys::signal::Signal::SIGKILL);
    wait_for("the process to go", || {
        !Path::new(&format!("/proc/{pid}")).exists()
    });
    assert!(
        dir.join("f2b.sock").exists(),
        "the dead server's socket stays behind"
    );

    common::client(CLIENT, &dir, &["start"]);
    wait_for("the restored ban", || {
        actions().contains("ban 192.0.2.50 restored=1")
    });
    let status = common::client(CLIENT, &dir, &["status", "sshd"]);
    assert!(
        status.contains("`- Banned IP list:\t192.0.2.50\n"),
        "{status}"
    );
    // The lines read before the crash are not read again: 192.0.2.51's two
    // failures are not counted twice (they are forgotten with the restart,
    // as fail2ban's failure counts are).
    assert!(status.contains("|- Total failed:\t0\n"), "{status}");
    append(&dir.join("auth.log"), &failures("192.0.2.51", 1));
    wait_for("a fresh failure", || {
        common::client(CLIENT, &dir, &["status", "sshd"]).contains("|- Total failed:\t1\n")
    });
    common::client(CLIENT, &dir, &["stop"]);
    assert!(actions().ends_with("unban 192.0.2.50\n"), "{}", actions());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn reload_applies_new_settings_and_keeps_bans() {
    let dir = setup("reload");
    let actions = || fs::read_to_string(dir.join("actions.txt")).unwrap_or_default();
    let log = dir.join("auth.log");
    common::client(CLIENT, &dir, &["start"]);
    append(&log, &failures("192.0.2.80", 3));
    wait_for("the ban", || actions().contains("ban 192.0.2.80"));
    // Two failures are not enough yet.
    append(&log, &failures("192.0.2.81", 2));
    wait_for("two failures", || {
        common::client(CLIENT, &dir, &["status", "sshd"]).contains("|- Total failed:\t5\n")
    });
    let jail = fs::read_to_string(dir.join("jail.conf")).expect("jail.conf");
    fs::write(
        dir.join("jail.conf"),
        jail.replace("maxretry = 3", "maxretry = 2"),
    )
    .expect("edit");
    assert_eq!(common::client(CLIENT, &dir, &["reload"]), "OK\n");
    let status = common::client(CLIENT, &dir, &["status", "sshd"]);
    assert!(
        status.contains("`- Banned IP list:\t192.0.2.80\n"),
        "{status}"
    );
    assert_eq!(
        common::client(CLIENT, &dir, &["get", "sshd", "maxretry"]).trim(),
        "2"
    );
    // The new maxretry counts, and the log is not read again from its start.
    append(&log, &failures("192.0.2.82", 2));
    wait_for("a ban under the new maxretry", || {
        actions().contains("ban 192.0.2.82")
    });
    assert!(!actions().contains("ban 192.0.2.81"), "{}", actions());
    // SIGHUP reloads too.
    signal_server(&dir, nix::sys::signal::Signal::SIGHUP);
    wait_for("the reload in the log", || {
        fs::read_to_string(dir.join("f2b.log"))
            .unwrap_or_default()
            .matches("Reload all jails")
            .count()
            == 2
    });
    // `reload <jail>` and `restart` (the whole server) keep the ban too.
    assert_eq!(common::client(CLIENT, &dir, &["reload", "sshd"]), "OK\n");
    assert_eq!(
        common::client(CLIENT, &dir, &["restart"]),
        "Shutdown successful\n"
    );
    wait_for("the restarted server", || {
        common::client(CLIENT, &dir, &["ping"]).contains("pong")
    });
    wait_for("the ban after restart", || {
        common::client(CLIENT, &dir, &["status", "sshd"]).contains("192.0.2.80")
    });
    common::client(CLIENT, &dir, &["stop"]);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn repeat_offenders_get_longer_bans_across_restarts() {
    let dir = setup("increment");
    let jail = fs::read_to_string(dir.join("jail.conf")).expect("jail.conf");
    let jail = jail
        .replace("maxretry = 3", "maxretry = 1\nbantime.increment = true")
        .replace("bantime = 1h", "bantime = 1");
    fs::write(dir.join("jail.conf"), jail).expect("edit");
    let f2b_log = || fs::read_to_string(dir.join("f2b.log")).unwrap_or_default();
    let log = dir.join("auth.log");
    common::client(CLIENT, &dir, &["start"]);
    append(&log, &failures("192.0.2.90", 1));
    wait_for("the first unban", || f2b_log().contains("Unban 192.0.2.90"));
    append(&log, &failures("192.0.2.90", 1));
    wait_for("a longer ban", || {
        f2b_log().contains("Increase Ban 192.0.2.90 (2 # 2s -> ")
    });
    // The count is kept across a restart.
    wait_for("the history saved", || {
        fs::read_to_string(dir.join("f2b.db.ferroban"))
            .unwrap_or_default()
            .contains("hist\tsshd\t192.0.2.90\t2\t")
    });
    common::client(CLIENT, &dir, &["stop"]);
    common::client(CLIENT, &dir, &["start"]);
    wait_for("the second unban", || {
        f2b_log().matches("Unban 192.0.2.90").count() >= 2
    });
    append(&log, &failures("192.0.2.90", 1));
    wait_for("a third, longer ban", || {
        f2b_log().contains("Increase Ban 192.0.2.90 (3 # 4s -> ")
    });
    common::client(CLIENT, &dir, &["stop"]);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn log_files_created_after_start_are_followed() {
    let dir = setup("late");
    let later = dir.join("later.log");
    let jail = fs::read_to_string(dir.join("jail.conf")).expect("jail.conf");
    let jail = jail.replace(
        &format!("logpath = {}", dir.join("auth.log").display()),
        &format!("logpath = {}", later.display()),
    );
    fs::write(dir.join("jail.conf"), jail).expect("edit");
    let actions = || fs::read_to_string(dir.join("actions.txt")).unwrap_or_default();
    common::client(CLIENT, &dir, &["start"]);
    assert!(common::client(CLIENT, &dir, &["ping"]).contains("pong"));
    append(&later, &failures("192.0.2.95", 3));
    wait_for("a ban from the new file", || {
        actions().contains("ban 192.0.2.95")
    });
    common::client(CLIENT, &dir, &["stop"]);
    let _ = fs::remove_dir_all(&dir);
}
