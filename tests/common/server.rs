//! Our fail2ban-server in the foreground for one test: started (in a
//! network namespace if asked), waited for, stopped with the client, and
//! killed at the end if the test failed first.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SERVER: &str = env!("CARGO_BIN_EXE_fail2ban-server");
const CLIENT: &str = env!("CARGO_BIN_EXE_fail2ban-client");

pub struct Foreground {
    child: Child,
    conf: PathBuf,
}

impl Foreground {
    /// Starts `fail2ban-server -c conf -f start`, inside the network
    /// namespace `netns` if given, and waits (20 s) until it answers; on a
    /// timeout the failure shows the server log `log_dir/f2b.log`.
    pub fn start(conf: &Path, netns: Option<&str>, log_dir: &Path) -> Foreground {
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, SERVER]);
                c
            }
            None => Command::new(SERVER),
        };
        let child = cmd
            .arg("-c")
            .arg(conf)
            .args(["-f", "start"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("server starts");
        let s = Foreground {
            child,
            conf: conf.to_path_buf(),
        };
        let start = Instant::now();
        while !super::client(CLIENT, conf, &["ping"]).contains("pong") {
            if start.elapsed() > Duration::from_secs(20) {
                let log = std::fs::read_to_string(log_dir.join("f2b.log")).unwrap_or_default();
                panic!("timed out waiting for the server; its log:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    /// `fail2ban-client stop`, then waits (30 s) for the process to end;
    /// returns how long that took.
    pub fn stop(mut self) -> Duration {
        let start = Instant::now();
        let out = super::client(CLIENT, &self.conf, &["stop"]);
        assert!(out.contains("Shutdown successful"), "{out}");
        while self.child.try_wait().expect("wait").is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the server did not stop"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        start.elapsed()
    }
}

impl Drop for Foreground {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
