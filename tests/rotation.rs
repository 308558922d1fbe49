//! Log rotation under a running (or stopped) server, with exact counts.
//!
//! Why it exists: logrotate moves logs away every day, in several ways,
//! and a failure line lost at that moment is an attacker's free try, one
//! read twice a ban too early. Each test writes a known number of failure
//! lines around one kind of rotation — rename and create, copytruncate,
//! delete and recreate, and a rotation while the server is down — and
//! checks that "Total failed" is exactly that number (maxretry is too high
//! for any ban, so every line counts once in the total and nowhere else).

mod common;

use common::{append, client, failures, record_conf, status_number, wait_for};
use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

const CLIENT: &str = env!("CARGO_BIN_EXE_fail2ban-client");

fn total_failed(dir: &Path) -> Option<u64> {
    status_number(&client(CLIENT, dir, &["status", "sshd"]), "Total failed:")
}

/// Waits until the server has counted exactly `n` failures, then checks
/// that no more come on a second look (nothing read twice late).
fn expect_total(dir: &Path, n: u64, when: &str) {
    wait_for(&format!("{n} failures counted {when}"), || {
        total_failed(dir) == Some(n)
    });
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(total_failed(dir), Some(n), "{when}");
}

/// A server of the test's own on `dir/auth.log` (with `lines` already in
/// it), started; maxretry too high for a ban.
fn start(tag: &str, backend: &str, lines: &str) -> (common::TempDir, common::ServerGuard) {
    let tmp = common::TempDir::new(tag);
    record_conf(
        &tmp.0,
        &format!("maxretry = 1000\nfindtime = 1h\nbantime = 1h\nbackend = {backend}\n"),
    );
    fs::write(tmp.0.join("auth.log"), lines).expect("log");
    client(CLIENT, &tmp.0, &["start"]);
    wait_for("the server", || {
        client(CLIENT, &tmp.0, &["ping"]).contains("pong")
    });
    let guard = common::ServerGuard(tmp.0.clone());
    (tmp, guard)
}

fn finish(dir: &Path) {
    client(CLIENT, dir, &["stop"]);
    let actions = fs::read_to_string(dir.join("actions.txt")).unwrap_or_default();
    assert!(!actions.contains("ban "), "nothing is banned: {actions}");
}

/// logrotate's default (`create`), with the logger writing to its open
/// file until it is told to reopen: lines before and after the rename go
/// to the old file, then the new file gets its own.
fn rename_and_create(backend: &str) {
    let (tmp, _server) = start(
        &format!("rot-rename-{backend}"),
        backend,
        &failures("192.0.2.10", 4),
    );
    let dir = &tmp.0;
    let log = dir.join("auth.log");
    expect_total(dir, 4, "before the rotation");
    let mut logger = fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("logger");
    logger
        .write_all(failures("192.0.2.11", 3).as_bytes())
        .expect("write");
    fs::rename(&log, dir.join("auth.log.1")).expect("rename");
    logger
        .write_all(failures("192.0.2.12", 2).as_bytes())
        .expect("write");
    append(&log, "");
    drop(logger);
    append(&log, &failures("192.0.2.13", 5));
    expect_total(dir, 4 + 3 + 2 + 5, "after rename and create");
    // And the new file goes on being followed.
    append(&log, &failures("192.0.2.14", 1));
    expect_total(dir, 15, "after more lines");
    finish(dir);
}

#[test]
fn rename_and_create_loses_nothing() {
    rename_and_create("auto");
}

#[test]
fn rename_and_create_loses_nothing_when_polling() {
    rename_and_create("polling");
}

#[test]
fn copytruncate_loses_nothing() {
    let (tmp, _server) = start("rot-copytruncate", "auto", &failures("192.0.2.20", 6));
    let dir = &tmp.0;
    let log = dir.join("auth.log");
    expect_total(dir, 6, "before the rotation");
    fs::copy(&log, dir.join("auth.log.1")).expect("copy");
    fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .expect("open")
        .set_len(0)
        .expect("truncate");
    // Shorter than before the truncation, so it shows whenever it is read.
    append(&log, &failures("192.0.2.21", 2));
    expect_total(dir, 8, "after copytruncate");
    append(&log, &failures("192.0.2.22", 7));
    expect_total(dir, 15, "after the file grew past its old size");
    finish(dir);
}

#[test]
fn delete_and_recreate_loses_nothing() {
    let (tmp, _server) = start("rot-delete", "auto", &failures("192.0.2.30", 3));
    let dir = &tmp.0;
    let log = dir.join("auth.log");
    expect_total(dir, 3, "before the rotation");
    let mut logger = fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("logger");
    fs::remove_file(&log).expect("delete");
    // The logger still writes to the deleted file for a moment.
    logger
        .write_all(failures("192.0.2.31", 2).as_bytes())
        .expect("write");
    drop(logger);
    append(&log, &failures("192.0.2.32", 4));
    expect_total(dir, 9, "after delete and recreate");
    finish(dir);
}

#[test]
fn rotation_while_down_loses_nothing() {
    let (tmp, _server) = start("rot-down", "auto", &failures("192.0.2.40", 2));
    let dir = &tmp.0;
    let log = dir.join("auth.log");
    expect_total(dir, 2, "before the stop");
    // Let the read position be saved, then stop.
    std::thread::sleep(Duration::from_millis(1500));
    client(CLIENT, dir, &["stop"]);
    wait_for("the server to stop", || !dir.join("f2b.sock").exists());
    // While down: more lines in the old file, rotated away, and a new file.
    append(&log, &failures("192.0.2.41", 3));
    fs::rename(&log, dir.join("auth.log.1")).expect("rename");
    append(&log, &failures("192.0.2.42", 4));
    client(CLIENT, dir, &["start"]);
    wait_for("the server", || {
        client(CLIENT, dir, &["ping"]).contains("pong")
    });
    // The failure counts start again with the server (as fail2ban's), and
    // the lines read before the stop are not read again.
    expect_total(dir, 3 + 4, "after the restart");
    finish(dir);
}
