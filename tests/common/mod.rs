//! Helpers shared by the integration tests.

#![allow(dead_code)] // each test binary uses its own part

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Copies a directory tree (a configuration) recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for e in fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let dest = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            fs::copy(e.path(), &dest).expect("copy");
        }
    }
}

/// Waits up to 20 s for `ok`, failing the test with `what`.
pub fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `n` sshd "Failed password" lines for `ip`, dated now (so a server takes
/// them as new failures).
pub fn failures(ip: &str, n: usize) -> String {
    let out = Command::new("date")
        .env("LC_ALL", "C")
        .arg("+%b %e %H:%M:%S")
        .output()
        .expect("date");
    let stamp = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (0..n)
        .map(|k| {
            format!(
                "{stamp} host sshd[{}]: Failed password for root from {ip} port {} ssh2\n",
                100 + k,
                4000 + k
            )
        })
        .collect()
}

/// Appends `text` to the file `log` (created if missing).
pub fn append(log: &Path, text: &str) {
    use std::io::Write;
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log");
    f.write_all(text.as_bytes()).expect("append");
}

/// Runs `client -c conf args...` and returns its stdout.
pub fn client(bin: &str, conf: &Path, args: &[&str]) -> String {
    let out = Command::new(bin)
        .arg("-c")
        .arg(conf)
        .args(args)
        .output()
        .expect("client runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
