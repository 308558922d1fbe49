//! What `whois` says about a banned address, for the `sendmail-whois*`
//! mails.
//!
//! The program runs without a shell, with the address as its only
//! argument, and only for a real IP address (an id taken from a log line
//! could otherwise pass itself off as an option). It is killed, with
//! whatever it started, when it runs past its time; its output is capped.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The text in the mail when there is no whois program.
pub const NOT_AVAILABLE: &str = "whois not available";

/// At most this much of its output goes into the mail.
const MAX_OUTPUT: u64 = 64 * 1024;

/// What a lookup gave.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// The program's output, or a line saying why there is none.
    pub text: String,
    /// It ran past its time and was killed.
    pub timed_out: bool,
}

impl Answer {
    fn note(text: String) -> Answer {
        Answer {
            text,
            timed_out: false,
        }
    }
}

/// `program address`.
pub fn lookup(program: &Path, address: &str, timeout: Duration) -> Answer {
    let Ok(ip) = address.parse::<std::net::IpAddr>() else {
        return Answer::note(format!("whois not run: {address:?} is no IP address"));
    };
    let mut child = match Command::new(program)
        .arg(ip.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Answer::note(NOT_AVAILABLE.into());
        }
        Err(e) => return Answer::note(format!("{NOT_AVAILABLE} ({}: {e})", program.display())),
    };
    let mut pipe = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(p) = pipe.as_mut() {
            let _ = p.take(MAX_OUTPUT).read_to_end(&mut out);
        }
        out
    });
    let start = Instant::now();
    let ended = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() >= timeout => {
                let group = nix::unistd::Pid::from_raw(-(child.id() as i32));
                let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => break None,
        }
    };
    let out = reader.join().unwrap_or_default();
    let mut text = String::from_utf8_lossy(&out).trim_end().to_string();
    match ended {
        None => text.push_str(&format!(
            "\n(whois did not finish within {} s)",
            timeout.as_secs_f64()
        )),
        Some(s) if text.is_empty() && !s.success() => {
            text = format!("whois found nothing ({s})");
        }
        Some(_) => {}
    }
    Answer {
        text: text.trim_start_matches('\n').to_string(),
        timed_out: ended.is_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(name: &str, body: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("ferroban-whois-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("script");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        p
    }

    #[test]
    fn runs_with_the_address_as_its_argument() {
        let w = script("ok", "echo \"args: $# $1\"");
        let t = Duration::from_secs(5);
        assert_eq!(lookup(&w, "192.0.2.7", t).text, "args: 1 192.0.2.7");
        assert_eq!(lookup(&w, "2001:db8::1", t).text, "args: 1 2001:db8::1");
        // An id that is no address never reaches the program.
        let r = lookup(&w, "-h evil.example.org 192.0.2.7", t).text;
        assert!(r.starts_with("whois not run"), "{r}");
    }

    #[test]
    fn missing_failing_and_hung_programs() {
        let t = Duration::from_secs(5);
        assert_eq!(
            lookup(Path::new("/nonexistent/whois"), "192.0.2.7", t).text,
            NOT_AVAILABLE
        );
        let fails = script("fails", "exit 2");
        let r = lookup(&fails, "192.0.2.7", t);
        assert!(r.text.starts_with("whois found nothing") && !r.timed_out);
        let hangs = script("hangs", "echo partial; sleep 30");
        let start = Instant::now();
        let r = lookup(&hangs, "192.0.2.7", Duration::from_millis(300));
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(r.text, "partial\n(whois did not finish within 0.3 s)");
        assert!(r.timed_out);
    }
}
