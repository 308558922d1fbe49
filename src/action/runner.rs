//! Running action commands: `/bin/sh -c` with a time limit, behind a
//! trait so that jails and tests can run without a shell.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::template::ShellCommand;

/// How a command ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Exit status (0 is success).
    Exited(i32),
    /// Killed by a signal.
    Signalled(i32),
    /// Ran past its time limit and was killed.
    TimedOut,
    /// Could not be started at all.
    NotStarted(String),
}

impl Outcome {
    pub fn success(&self) -> bool {
        *self == Outcome::Exited(0)
    }
}

/// Runs shell commands; the real one is `ShRunner`.
pub trait CommandRunner: Send + Sync {
    /// Runs `cmd`, waiting at most `timeout`; returns how it ended and what
    /// it wrote to stderr (for the log).
    fn run(&self, cmd: &ShellCommand, timeout: Duration) -> (Outcome, String);
}

/// `/bin/sh -c SCRIPT` in its own process group, killed whole on timeout,
/// with the ban's untrusted values in its environment.
pub struct ShRunner;

impl CommandRunner for ShRunner {
    fn run(&self, cmd: &ShellCommand, timeout: Duration) -> (Outcome, String) {
        let mut c = Command::new("/bin/sh");
        c.arg("-c")
            .arg(&cmd.script)
            .envs(cmd.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = match c.spawn() {
            Ok(ch) => ch,
            Err(e) => return (Outcome::NotStarted(e.to_string()), String::new()),
        };
        // Read stderr on the side so a chatty command cannot block on a
        // full pipe while we wait for it.
        let mut err_pipe = child.stderr.take();
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(p) = err_pipe.as_mut() {
                let _ = p.take(64 * 1024).read_to_string(&mut s);
            }
            s
        });
        let start = Instant::now();
        let outcome = loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    use std::os::unix::process::ExitStatusExt;
                    break match (status.code(), status.signal()) {
                        (Some(code), _) => Outcome::Exited(code),
                        (None, Some(sig)) => Outcome::Signalled(sig),
                        (None, None) => Outcome::Exited(-1),
                    };
                }
                Ok(None) if start.elapsed() >= timeout => {
                    // The whole group: the shell and whatever it started.
                    let pgid = nix::unistd::Pid::from_raw(-(child.id() as i32));
                    let _ = nix::sys::signal::kill(pgid, nix::sys::signal::Signal::SIGKILL);
                    let _ = child.wait();
                    break Outcome::TimedOut;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                Err(e) => break Outcome::NotStarted(e.to_string()),
            }
        };
        let stderr = reader.join().unwrap_or_default();
        (outcome, stderr)
    }
}

/// A runner that records commands instead of running them (tests).
#[derive(Default)]
pub struct RecordingRunner {
    pub ran: Mutex<Vec<ShellCommand>>,
    /// Scripts containing this text fail with status 1.
    pub fail_if: Option<String>,
}

impl CommandRunner for RecordingRunner {
    fn run(&self, cmd: &ShellCommand, _timeout: Duration) -> (Outcome, String) {
        if let Ok(mut ran) = self.ran.lock() {
            ran.push(cmd.clone());
        }
        let fails = self
            .fail_if
            .as_deref()
            .is_some_and(|f| cmd.script.contains(f));
        (Outcome::Exited(i32::from(fails)), String::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, env: &[(&str, &str)]) -> ShellCommand {
        ShellCommand {
            script: script.into(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn runs_with_status_env_and_timeout() {
        let r = ShRunner;
        let t = Duration::from_secs(5);
        assert_eq!(r.run(&sh("exit 3", &[]), t).0, Outcome::Exited(3));
        let (o, err) = r.run(
            &sh("test \"$v\" = 'a b' && echo ok >&2", &[("v", "a b")]),
            t,
        );
        assert_eq!((o, err.as_str()), (Outcome::Exited(0), "ok\n"));
        let started = Instant::now();
        let (o, _) = r.run(&sh("sleep 5 & sleep 5", &[]), Duration::from_millis(200));
        assert_eq!(o, Outcome::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
