//! What `fail2ban-client` and `fail2ban-server` share on their command
//! lines: the configuration directory, socket and pid file, and how the
//! latter two default to fail2ban.conf's values.

use std::path::PathBuf;

use clap::{Args, Parser};

use crate::config::OrderedMap;
use crate::config::layered::RealFs;
use crate::config::stream::Value;

#[derive(Args, Debug, Clone)]
pub struct Common {
    /// configuration directory
    #[arg(
        short = 'c',
        long = "conf",
        value_name = "DIR",
        default_value = "/etc/fail2ban"
    )]
    pub conf: PathBuf,
    /// socket path
    #[arg(short = 's', long = "socket", value_name = "FILE")]
    pub socket: Option<PathBuf>,
    /// pidfile path
    #[arg(short = 'p', long = "pidfile", value_name = "FILE")]
    pub pidfile: Option<PathBuf>,
}

/// Socket and pid file as given, or from fail2ban.conf, with the other
/// early options (loglevel, logtarget, syslogsocket).
pub struct Resolved {
    pub socket: PathBuf,
    pub pidfile: PathBuf,
    pub early: OrderedMap<Value>,
}

impl Resolved {
    /// An early option's text ("" when unset).
    pub fn opt(&self, k: &str) -> String {
        self.early.get(k).map(Value::text).unwrap_or_default()
    }
}

impl Common {
    pub fn resolve(&self) -> Result<Resolved, String> {
        let mut warnings = Vec::new();
        let early = crate::config::jail::early_options(&RealFs, &self.conf, &mut warnings)
            .map_err(|e| e.to_string())?;
        let from = |given: &Option<PathBuf>, key: &str| {
            given.clone().unwrap_or_else(|| {
                PathBuf::from(early.get(key).map(Value::text).unwrap_or_default())
            })
        };
        Ok(Resolved {
            socket: from(&self.socket, "socket"),
            pidfile: from(&self.pidfile, "pidfile"),
            early: early.clone(),
        })
    }
}

/// The three programs' command lines as clap defines them, for their man
/// pages (`tests/man_pages.rs` renders man/*.1 from these). The options
/// themselves stay with each program's `Args`.
pub fn server_command() -> clap::Command {
    <crate::server::Args as clap::CommandFactory>::command()
}

/// See [`server_command`].
pub fn client_command() -> clap::Command {
    <crate::client::Args as clap::CommandFactory>::command()
}

/// See [`server_command`].
pub fn regex_command() -> clap::Command {
    <crate::regex_tool::Args as clap::CommandFactory>::command()
}

/// Parses the command line: help and version go to stdout (exit status
/// 0), errors to stderr (exit status 255, as fail2ban's programs).
pub fn parse<A: Parser>() -> Result<A, i32> {
    A::try_parse().map_err(|e| {
        if e.use_stderr() {
            eprint!("{e}");
            255
        } else {
            print!("{e}");
            0
        }
    })
}
