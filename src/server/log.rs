//! The server's log, in fail2ban's line format and levels.
//!
//! `logtarget` picks where lines go: STDERR, STDOUT, a file (reopened on
//! `flushlogs` or SIGUSR1, for logrotate) or SYSLOG. File and terminal
//! lines read `2026-11-28 09:46:28,947 fail2ban.actions        [1023]:
//! NOTICE  [sshd] Ban 192.0.2.2`, as fail2ban writes them, so existing log
//! watchers (recidive, scripts) keep working; syslog gets
//! `fail2ban.actions[1023]: NOTICE [sshd] Ban 192.0.2.2`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

/// fail2ban's levels (Python logging plus NOTICE).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug = 10,
    Info = 20,
    Notice = 25,
    Warning = 30,
    Error = 40,
    Critical = 50,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Notice => "NOTICE",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
            Level::Critical => "CRITICAL",
        }
    }

    /// `loglevel` as fail2ban accepts it (name or number).
    pub fn parse(s: &str) -> Option<Level> {
        let all = [
            Level::Debug,
            Level::Info,
            Level::Notice,
            Level::Warning,
            Level::Error,
            Level::Critical,
        ];
        let up = s.trim().to_ascii_uppercase();
        if let Ok(n) = up.parse::<u8>() {
            return all
                .iter()
                .rev()
                .find(|l| **l as u8 <= n)
                .copied()
                .or(Some(Level::Debug));
        }
        match up.as_str() {
            "WARN" => Some(Level::Warning),
            "FATAL" => Some(Level::Critical),
            "TRACEDEBUG" | "HEAVYDEBUG" | "MSG" => Some(Level::Debug),
            _ => all.into_iter().find(|l| l.name() == up),
        }
    }

    fn from_u8(n: u8) -> Level {
        match n {
            0..=10 => Level::Debug,
            11..=20 => Level::Info,
            21..=25 => Level::Notice,
            26..=30 => Level::Warning,
            31..=40 => Level::Error,
            _ => Level::Critical,
        }
    }
}

enum Target {
    Stderr,
    Stdout,
    File(PathBuf, File),
    Syslog(Box<syslog::Logger<syslog::LoggerBackend, syslog::Formatter3164>>),
}

/// Where the server's log goes, shared by all its threads.
pub struct Logger {
    /// Target name, target, and lines not written yet: INFO lines (one per
    /// failure found) are written in batches; NOTICE and above at once.
    target: Mutex<(String, Target, Vec<u8>)>,
    level: AtomicU8,
    pid: u32,
}

/// Local time as Python's logging prints it: `2026-11-28 09:46:28,947`.
pub fn asctime(t: f64) -> String {
    let secs = t.floor();
    let ms = ((t - secs) * 1000.0).floor() as i64;
    format!("{},{ms:03}", crate::filter::date::format_local(secs))
}

fn open_target(name: &str, syslog_socket: &str) -> std::io::Result<Target> {
    Ok(match name.to_ascii_uppercase().as_str() {
        "STDERR" => Target::Stderr,
        "STDOUT" | "SYSOUT" => Target::Stdout,
        "SYSLOG" => {
            let path = if syslog_socket == "auto" {
                "/dev/log"
            } else {
                syslog_socket
            };
            let formatter = syslog::Formatter3164 {
                facility: syslog::Facility::LOG_DAEMON,
                hostname: None,
                process: "fail2ban".into(),
                pid: std::process::id(),
            };
            let logger = syslog::unix_custom(formatter, path)
                .map_err(|e| std::io::Error::other(format!("syslog socket {path}: {e}")))?;
            Target::Syslog(Box::new(logger))
        }
        _ => {
            let p = PathBuf::from(name);
            let f = OpenOptions::new().create(true).append(true).open(&p)?;
            Target::File(p, f)
        }
    })
}

/// One log line in fail2ban's form (no line end):
/// `2026-11-28 09:46:28,947 fail2ban.actions        [1023]: NOTICE  [sshd] Ban 192.0.2.2`.
pub fn format_line(now: f64, component: &str, pid: u32, level: Level, msg: &str) -> String {
    format!(
        "{} {component:<24}[{pid}]: {:<7} {msg}",
        asctime(now),
        level.name()
    )
}

impl Logger {
    pub fn new(target: &str, syslog_socket: &str, level: Level) -> std::io::Result<Logger> {
        Ok(Logger {
            target: Mutex::new((
                target.to_string(),
                open_target(target, syslog_socket)?,
                Vec::new(),
            )),
            level: AtomicU8::new(level as u8),
            pid: std::process::id(),
        })
    }

    pub fn level(&self) -> Level {
        Level::from_u8(self.level.load(Ordering::Relaxed))
    }

    pub fn set_level(&self, l: Level) {
        self.level.store(l as u8, Ordering::Relaxed);
    }

    pub fn target_name(&self) -> String {
        self.target.lock().map(|t| t.0.clone()).unwrap_or_default()
    }

    pub fn set_target(&self, name: &str, syslog_socket: &str) -> std::io::Result<()> {
        let t = open_target(name, syslog_socket)?;
        self.flush();
        if let Ok(mut cur) = self.target.lock() {
            *cur = (name.to_string(), t, Vec::new());
        }
        Ok(())
    }

    /// Reopens a log file (after logrotate moved it away).
    pub fn reopen(&self) -> std::io::Result<()> {
        self.flush();
        if let Ok(mut cur) = self.target.lock()
            && let Target::File(p, f) = &mut cur.1
        {
            *f = OpenOptions::new().create(true).append(true).open(&*p)?;
        }
        Ok(())
    }

    pub fn log(&self, component: &str, level: Level, msg: &str) {
        if level < self.level() {
            return;
        }
        let now = crate::jail::Clock::now(&crate::jail::SystemClock);
        let Ok(mut t) = self.target.lock() else {
            return;
        };
        let mut line = format_line(now, component, self.pid, level, msg);
        line.push('\n');
        let (_, target, pending) = &mut *t;
        if let Target::Syslog(s) = target {
            // `fail2ban.actions[PID]: NOTICE [sshd] Ban 192.0.2.2`.
            s.formatter.process = component.to_string();
            let text = format!("{} {msg}", level.name());
            let _ = match level {
                Level::Debug => s.debug(text),
                Level::Info => s.info(text),
                Level::Notice => s.notice(text),
                Level::Warning => s.warning(text),
                Level::Error => s.err(text),
                Level::Critical => s.crit(text),
            };
            return;
        }
        pending.extend_from_slice(line.as_bytes());
        if level >= Level::Notice || pending.len() >= 16 * 1024 {
            write_out(target, pending);
        }
    }

    /// Writes lines still held back.
    pub fn flush(&self) {
        if let Ok(mut t) = self.target.lock() {
            let (_, target, pending) = &mut *t;
            write_out(target, pending);
        }
    }
}

fn write_out(target: &mut Target, pending: &mut Vec<u8>) {
    if pending.is_empty() {
        return;
    }
    // A full disk or closed terminal must not stop the server.
    let _ = match target {
        Target::Stderr => std::io::stderr().write_all(pending),
        Target::Stdout => std::io::stdout().write_all(pending),
        Target::File(_, f) => f.write_all(pending),
        Target::Syslog(_) => Ok(()),
    };
    pending.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_format() {
        assert_eq!(Level::parse("notice"), Some(Level::Notice));
        assert_eq!(Level::parse("20"), Some(Level::Info));
        assert_eq!(Level::parse("nonsense"), None);
        let dir = std::env::temp_dir().join(format!("ferroban-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("f2b.log");
        let l = Logger::new(p.to_str().expect("utf-8"), "auto", Level::Info).expect("opens");
        l.log("fail2ban.actions", Level::Notice, "[sshd] Ban 192.0.2.2");
        l.log("fail2ban.filter", Level::Debug, "hidden");
        l.log("fail2ban.filter", Level::Info, "held back");
        assert_eq!(
            std::fs::read_to_string(&p).expect("read").lines().count(),
            1
        );
        l.flush();
        let text = std::fs::read_to_string(&p).expect("read");
        let pid = std::process::id();
        assert!(
            text.contains(&format!(
                "fail2ban.actions        [{pid}]: NOTICE  [sshd] Ban 192.0.2.2\n"
            )),
            "{text}"
        );
        assert_eq!(text.lines().count(), 2);
        let _ = std::fs::remove_dir_all(dir);
    }
}
