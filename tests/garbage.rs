//! Garbage where a log should be: the server keeps running, says so once,
//! and goes on matching.
//!
//! Why it exists: a daemon that reads whatever lands in /var/log must not
//! be stopped, hung or made to flood its own log by what it finds there:
//! lines of megabytes, bytes that are not UTF-8, NUL bytes (a log after a
//! power cut), the log replaced by a directory or a FIFO (opening a FIFO
//! blocks until a writer comes), or a log that vanishes. Each test feeds
//! one of these to a running server, then checks that it still answers,
//! that its log holds exactly one warning about the problem, and that a
//! normal failure line written afterwards is counted.

mod common;

use common::{append, client, failures, record_conf, status_number, wait_for};
use std::fs;
use std::path::Path;
use std::time::Duration;

const CLIENT: &str = env!("CARGO_BIN_EXE_fail2ban-client");

fn total_failed(dir: &Path) -> Option<u64> {
    status_number(&client(CLIENT, dir, &["status", "sshd"]), "Total failed:")
}

/// A server of the test's own on `dir/auth.log`, started; maxretry too
/// high for a ban.
fn start(tag: &str) -> (common::TempDir, common::ServerGuard) {
    let tmp = common::TempDir::new(tag);
    record_conf(&tmp.0, "maxretry = 1000\nfindtime = 1h\nbantime = 1h\n");
    fs::write(tmp.0.join("auth.log"), "").expect("log");
    client(CLIENT, &tmp.0, &["start"]);
    wait_for("the server", || {
        client(CLIENT, &tmp.0, &["ping"]).contains("pong")
    });
    let guard = common::ServerGuard(tmp.0.clone());
    (tmp, guard)
}

/// The lines of the server's log holding `what`.
fn warnings(dir: &Path, what: &str) -> usize {
    fs::read_to_string(dir.join("f2b.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(what))
        .count()
}

/// After the garbage: the server answers, a normal failure line is
/// counted (total `n` then), and after a while (many looks at the file)
/// the log holds exactly one warning with `what`.
fn still_matching(dir: &Path, n: u64, what: &str) {
    assert!(client(CLIENT, dir, &["ping"]).contains("pong"));
    append(&dir.join("auth.log"), &failures("192.0.2.99", 1));
    wait_for("the failure after the garbage", || {
        total_failed(dir) == Some(n)
    });
    wait_for("the warning", || warnings(dir, what) > 0);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(warnings(dir, what), 1, "one warning with {what:?}");
    assert_eq!(total_failed(dir), Some(n));
    let log = fs::read_to_string(dir.join("f2b.log")).unwrap_or_default();
    assert!(!log.contains("panicked"), "{log}");
    client(CLIENT, dir, &["stop"]);
}

#[test]
fn lines_of_megabytes_are_cut_once_and_reading_goes_on() {
    let (tmp, _server) = start("garbage-long");
    let dir = &tmp.0;
    let log = dir.join("auth.log");
    append(&log, &failures("192.0.2.1", 1));
    // A line of 1 MiB, one of 3 MiB, both ending in a failure's text (cut
    // off: not counted), then a plain failure.
    let tail = failures("192.0.2.2", 1);
    append(&log, &("x".repeat(1 << 20) + &tail));
    append(&log, &("y".repeat(3 << 20) + &tail));
    append(&log, &failures("192.0.2.3", 1));
    wait_for("the lines after the long ones", || {
        total_failed(dir) == Some(2)
    });
    still_matching(dir, 3, "longer than 65536 bytes");
}

#[test]
fn invalid_utf8_is_replaced_once_reported_and_matched() {
    let (tmp, _server) = start("garbage-utf8");
    let dir = &tmp.0;
    let log = dir.join("auth.log");
    let line = failures("192.0.2.5", 1).replace("for root", "for invalid user b\u{1}d");
    let mut bytes = line.into_bytes();
    // The user name becomes "b\xff\xfed": not UTF-8.
    let at = bytes.iter().position(|b| *b == 1).expect("marker");
    bytes.splice(at..=at, [0xff, 0xfe]);
    {
        use std::io::Write;
        let mut f = fs::OpenOptions::new().append(true).open(&log).expect("log");
        f.write_all(b"\xc3\x28 \xa0\xa1 \xf0\x28\x8c\xbc not text\n")
            .expect("write");
        f.write_all(&bytes).expect("write");
        f.write_all(&bytes).expect("write");
    }
    // The two failures with a garbled user name count as any other.
    wait_for("the garbled failures", || total_failed(dir) == Some(2));
    still_matching(dir, 3, "invalid UTF-8");
}

#[test]
fn nul_bytes_are_reported_once_and_reading_goes_on() {
    let (tmp, _server) = start("garbage-nul");
    let dir = &tmp.0;
    let log = dir.join("auth.log");
    // What a log can look like after a power cut: a block of NUL bytes
    // where lines were, then lines again; and a line with NULs inside.
    let mut data = vec![0u8; 8192];
    data.extend_from_slice(failures("192.0.2.6", 1).as_bytes());
    data.extend_from_slice(b"some\0thing\0\n");
    {
        use std::io::Write;
        let mut f = fs::OpenOptions::new().append(true).open(&log).expect("log");
        f.write_all(&data).expect("write");
    }
    // The NUL block starts the first line; whether that line still counts
    // as the failure at its end is the filter's business, not tested here.
    std::thread::sleep(Duration::from_millis(1000));
    let before = total_failed(dir).expect("total");
    assert!(before <= 1, "{before}");
    still_matching(dir, before + 1, "NUL bytes");
}

#[test]
fn a_directory_in_the_logs_place_is_waited_out() {
    let (tmp, _server) = start("garbage-dir");
    let dir = &tmp.0;
    let log = dir.join("auth.log");
    append(&log, &failures("192.0.2.7", 2));
    wait_for("the first failures", || total_failed(dir) == Some(2));
    fs::remove_file(&log).expect("rm");
    fs::create_dir(&log).expect("mkdir");
    wait_for("the warning", || warnings(dir, "is a directory") > 0);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(client(CLIENT, dir, &["ping"]).contains("pong"));
    fs::remove_dir(&log).expect("rmdir");
    still_matching(dir, 3, "is a directory");
}

#[test]
fn a_fifo_in_the_logs_place_does_not_hang_reading() {
    let (tmp, _server) = start("garbage-fifo");
    let dir = &tmp.0;
    let log = dir.join("auth.log");
    append(&log, &failures("192.0.2.8", 1));
    wait_for("the first failure", || total_failed(dir) == Some(1));
    fs::remove_file(&log).expect("rm");
    nix::unistd::mkfifo(&log, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    wait_for("the warning", || warnings(dir, "is a FIFO") > 0);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(client(CLIENT, dir, &["ping"]).contains("pong"));
    // A reader stuck opening the FIFO would never see the file after it.
    fs::remove_file(&log).expect("rm fifo");
    still_matching(dir, 2, "is a FIFO");
}

#[test]
fn a_log_that_vanishes_is_reported_once_and_followed_again() {
    let (tmp, _server) = start("garbage-gone");
    let dir = &tmp.0;
    let log = dir.join("auth.log");
    append(&log, &failures("192.0.2.9", 1));
    wait_for("the first failure", || total_failed(dir) == Some(1));
    fs::remove_file(&log).expect("rm");
    wait_for("the warning", || warnings(dir, "has vanished") > 0);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(client(CLIENT, dir, &["ping"]).contains("pong"));
    still_matching(dir, 2, "has vanished");
}
