//! `fail2ban-client`: the command line that reads the configuration and
//! talks to the server.
//!
//! This step covers what needs no server: `-d` (the configuration as the
//! command stream, printed exactly as fail2ban 1.0.2 prints it), `-t`
//! (test the configuration), `--str2sec` and the version. Commands sent to
//! a running server come with the server.

pub mod beautify;

use std::path::PathBuf;

use clap::{ArgAction, Parser};

use crate::config::jail::{Missing, jails_stream, server_stream};
use crate::config::layered::RealFs;
use crate::config::pathglob;
use crate::config::stream::{Command, repr};
use crate::server::log::Level;

/// fail2ban-client's options (fail2ban 1.0.2 names).
#[derive(Parser, Debug)]
#[command(
    name = "fail2ban-client",
    disable_version_flag = true,
    about = "Fail2Ban v1.0.2 reads log file that contains password failure report\nand bans the corresponding IP addresses using firewall rules."
)]
pub struct Args {
    #[command(flatten)]
    pub common: crate::cli::Common,
    /// dump configuration. For debugging
    #[arg(short = 'd')]
    pub dump: bool,
    /// test configuration (can be also specified with start parameters)
    #[arg(short = 't', long = "test")]
    pub test: bool,
    /// increase verbosity
    #[arg(short = 'v', action = ArgAction::Count)]
    pub verbose: u8,
    /// decrease verbosity
    #[arg(short = 'q', action = ArgAction::Count)]
    pub quiet: u8,
    /// convert time abbreviation format to seconds
    #[arg(long = "str2sec", value_name = "STRING")]
    pub str2sec: Option<String>,
    /// print the version (-V returns machine-readable short format)
    #[arg(short = 'V', long = "version")]
    pub version: bool,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// The configuration's full command stream, with the problems fail2ban
/// would log; `missing` says what to do with jails whose log files are
/// all missing.
pub fn read_stream(
    conf: &std::path::Path,
    missing: Missing,
) -> (Result<Vec<Command>, String>, Vec<String>) {
    let mut warnings = Vec::new();
    let glob = |p: &str| pathglob::existing(p);
    let result = server_stream(&RealFs, conf, &mut warnings).and_then(|mut s| {
        s.extend(jails_stream(&RealFs, conf, &glob, missing, &mut warnings)?);
        Ok(s)
    });
    (result.map_err(|e| e.to_string()), warnings)
}

/// What `-t` finds wrong beyond what fail2ban checks: jails skipped for a
/// configuration error, regexes that do not compile, date patterns and
/// time values that are not valid. fail2ban's `-t` passes such a
/// configuration and the server fails later, or logs and goes on.
/// `locate` says where a jail's option is written (see `config::jail::locate`).
pub fn check(stream: &[Command], locate: &dyn Fn(&str, &str) -> String) -> Vec<String> {
    let g = crate::config::jailspec::gather(stream);
    // fail2ban's words (kept as they are in the `-d` stream), then where
    // the jail names the filter or action it could not read.
    let mut problems: Vec<String> = g
        .errors
        .iter()
        .map(|e| match skipped_jail(e) {
            Some((jail, option)) => {
                let at = locate(jail, option);
                format!("{e} ({})", at.trim_end_matches(": "))
            }
            None => e.clone(),
        })
        .collect();
    for j in &g.jails {
        let at = |option: &str| locate(&j.name, option);
        let mode = crate::filter::matcher::MatchMode::default();
        match crate::filter::matcher::Matcher::new(&j.filter_regexes(), mode) {
            Err(e @ crate::filter::matcher::MatcherError::Regex { kind, .. }) => {
                problems.push(format!("jail '{}': {}{e}", j.name, at(kind)));
            }
            Err(e) => problems.push(format!("jail '{}': {}{e}", j.name, at("failregex"))),
            Ok(_) => {}
        }
        if let Some(dp) = &j.datepattern
            && let Err(e) = crate::filter::date::DateDetector::from_patterns(dp)
        {
            problems.push(format!(
                "jail '{}': {}datepattern {dp:?}: {e}",
                j.name,
                at("datepattern")
            ));
        }
        for opt in ["bantime", "findtime", "bantime.maxtime", "bantime.rndtime"] {
            if let Some(v) = j.options.get(opt).and_then(|v| v.as_str())
                && let Err(e) = crate::jail::time::str2seconds(v)
            {
                problems.push(format!("jail '{}': {}{e}", j.name, at(opt)));
            }
        }
    }
    problems
}

/// The jail and option of a "Jail 'x' skipped, because of wrong
/// configuration: Unable to read ..." error (see `config::jail`).
fn skipped_jail(error: &str) -> Option<(&str, &str)> {
    let rest = error.strip_prefix("Jail '")?;
    let (jail, why) = rest.split_once("' skipped, because of wrong configuration: ")?;
    let option = if why.starts_with("Unable to read action ") {
        "action"
    } else if why.starts_with("Unable to read the filter ") {
        "filter"
    } else {
        return None;
    };
    Some((jail, option))
}

/// `check` with the options located in the configuration under `conf`.
pub fn check_config(conf: &std::path::Path, stream: &[Command]) -> Vec<String> {
    let locate = |jail: &str, option: &str| {
        crate::config::jail::locate(&RealFs, conf, jail, option).to_string()
    };
    check(stream, &locate)
}

pub fn main() -> i32 {
    let args: Args = match crate::cli::parse() {
        Ok(a) => a,
        Err(code) => return code,
    };
    if args.version {
        println!("1.0.2");
        return 0;
    }
    if let Some(t) = &args.str2sec {
        return match crate::jail::time::str2seconds_text(t) {
            Ok(v) => {
                println!("{v}");
                0
            }
            Err(e) => {
                eprintln!("ERROR: {e}");
                255
            }
        };
    }
    let verbose = i32::from(args.verbose) - i32::from(args.quiet);
    if args.dump || args.test {
        // `-t` tests what our server would do: plain paths that do not
        // exist yet are followed once they appear.
        let missing = if args.dump {
            Missing::Allow
        } else {
            Missing::Watch
        };
        let (stream, warnings) = read_stream(&args.common.conf, missing);
        if verbose >= 0 {
            for w in &warnings {
                eprintln!("WARNING {w}");
            }
        }
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("ERROR Failed during configuration: {e}");
                if args.test {
                    println!("ERROR: test configuration failed");
                }
                return 255;
            }
        };
        if args.dump {
            for c in &stream {
                println!("{}", repr(c));
            }
        }
        if args.test {
            let problems = check_config(&args.common.conf, &stream);
            for p in &problems {
                eprintln!("ERROR {p}");
            }
            if !problems.is_empty() {
                println!("ERROR: test configuration failed");
                return 255;
            }
            if args.command.is_empty() {
                println!("OK: configuration test is successful");
            }
        }
        return 0;
    }
    if args.command.is_empty() {
        eprintln!("ERROR: no command given (try -h)");
        return 255;
    }
    let resolved = match args.common.resolve() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{}", log_line(Level::Error, &e));
            return 255;
        }
    };
    let opt = |k: &str| resolved.opt(k);
    let (socket, pidfile) = (resolved.socket.clone(), resolved.pidfile.clone());
    if verbose > 0 {
        eprintln!(
            "{}",
            log_line(
                Level::Info,
                &format!("Using socket file {}", socket.display())
            )
        );
        eprintln!(
            "{}",
            log_line(
                Level::Info,
                &format!(
                    "Using pid file {}, [{}] logging to {}",
                    pidfile.display(),
                    opt("loglevel"),
                    opt("logtarget")
                )
            )
        );
    }
    if args.command[0] == "start" && args.command.len() == 1 {
        return start_server(&args, &socket, &pidfile);
    }
    if args.command[0] == "restart" && args.command.len() == 1 {
        // The server, stopped then started again.
        let stop = vec!["stop".to_string()];
        if send(&socket, &stop) != 0 {
            return 255;
        }
        wait_gone(&pidfile);
        return start_server(&args, &socket, &pidfile);
    }
    let rc = send(&socket, &args.command);
    if rc == 0 && args.command.len() == 1 && args.command[0] == "stop" {
        wait_gone(&pidfile);
    }
    rc
}

/// Waits (up to 10 s) for a stopped server's pid file to go, so that
/// `stop; start` works.
fn wait_gone(pidfile: &std::path::Path) {
    for _ in 0..500 {
        if !pidfile.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A diagnostic line in fail2ban's log form (for `-v`).
fn log_line(level: Level, msg: &str) -> String {
    let now = crate::jail::Clock::now(&crate::jail::SystemClock);
    crate::server::log::format_line(now, "fail2ban", std::process::id(), level, msg)
}

/// Why the socket could not be reached, in fail2ban's words: it is not
/// there (or its directory is closed to us), it is not ours to write, or
/// nothing answers on it.
fn socket_error(socket: &std::path::Path) -> String {
    use nix::unistd::{AccessFlags, access};
    let path = socket.display();
    if access(socket, AccessFlags::F_OK).is_err() {
        format!("Failed to access socket path: {path}. Is fail2ban running?")
    } else if access(socket, AccessFlags::W_OK).is_err() {
        format!("Permission denied to socket: {path}, (you must be root)")
    } else {
        "Unable to contact server. Is it running?".to_string()
    }
}

/// Sends one command and prints the reply as fail2ban-client does.
fn send(socket: &std::path::Path, cmd: &[String]) -> i32 {
    use crate::config::stream::Value;
    use crate::server::protocol;
    let mut s = match std::os::unix::net::UnixStream::connect(socket) {
        Ok(s) => s,
        Err(_) => {
            eprintln!("{}", log_line(Level::Error, &socket_error(socket)));
            return 255;
        }
    };
    let req = Value::List(cmd.iter().map(|w| Value::str(w.as_str())).collect());
    let reply = protocol::write_frame(&mut s, &req).and_then(|()| protocol::read_frame(&mut s));
    match reply.map(protocol::parse_reply) {
        Ok(Ok(v)) => {
            println!("{}", beautify::beautify(cmd, &v));
            0
        }
        Ok(Err(e)) => {
            eprintln!("{}", log_line(Level::Error, &format!("NOK: ({e:?},)")));
            println!("{}", beautify::beautify_error(&e));
            255
        }
        Err(e) => {
            eprintln!(
                "{}",
                log_line(
                    Level::Error,
                    &format!("Failed to communicate with the server: {e}")
                )
            );
            255
        }
    }
}

/// `start`: runs fail2ban-server in the background and waits for it.
fn start_server(args: &Args, socket: &std::path::Path, pidfile: &std::path::Path) -> i32 {
    if crate::server::alive(socket) {
        eprintln!("{}", log_line(Level::Error, "Server already running"));
        return 255;
    }
    let server = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("fail2ban-server")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("fail2ban-server"));
    let status = std::process::Command::new(server)
        .arg("-c")
        .arg(&args.common.conf)
        .arg("-s")
        .arg(socket)
        .arg("-p")
        .arg(pidfile)
        .arg("-b")
        .arg("start")
        .status();
    match status {
        Ok(s) if s.success() => 0,
        Ok(s) => s.code().unwrap_or(255),
        Err(e) => {
            eprintln!(
                "{}",
                log_line(Level::Error, &format!("Could not start the server: {e}"))
            );
            255
        }
    }
}
