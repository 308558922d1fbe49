//! The README's first command: the demo server bans on the sample log.
//!
//! Why it exists: a newcomer's first contact with ferroban is
//! `cargo run --bin fail2ban-server -- -c examples/demo -f start`. This
//! runs the same server binary on the same files, checks that the ban
//! reaches the demo action, then stops it with SIGTERM as Ctrl-C would and
//! checks that it unbanned and stopped cleanly.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SERVER: &str = env!("CARGO_BIN_EXE_fail2ban-server");

#[test]
fn demo_server_bans_and_stops_cleanly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = root.join("target/demo");
    let _ = std::fs::remove_dir_all(&out);
    let child = Command::new(SERVER)
        .current_dir(root)
        .args(["-c", "examples/demo", "-f", "start"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("server starts");
    let bans = out.join("bans.txt");
    let start = Instant::now();
    while !std::fs::read_to_string(&bans)
        .unwrap_or_default()
        .contains("ban 192.0.2.10 after 3 failures")
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no ban within 20 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("signal");
    let output = child.wait_with_output().expect("exits");
    assert!(output.status.success(), "exit status {:?}", output.status);
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("NOTICE  [sshd] Ban 192.0.2.10"), "{log}");
    let text = std::fs::read_to_string(&bans).expect("bans");
    assert_eq!(
        text,
        "jail sshd started\nban 192.0.2.10 after 3 failures\nunban 192.0.2.10\njail sshd stopped\n"
    );
    assert!(!out.join("fail2ban.sock").exists() && !out.join("fail2ban.pid").exists());
}
