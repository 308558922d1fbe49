//! The `fail2ban-regex` command line, option for option as in 1.0.2.
//!
//! Kept apart from the run so the flags are defined once (help and man page
//! come from this one definition).

use clap::{ArgAction, Parser};

pub const USAGE: &str = "fail2ban-regex [OPTIONS] <LOG> <REGEX> [IGNOREREGEX]";

#[derive(Parser, Debug, Default)]
#[command(
    name = "fail2ban-regex",
    version = "1.0.2",
    override_usage = USAGE,
    about = "Fail2Ban reads log file that contains password failure report\nand bans the corresponding IP addresses using firewall rules.\n\nThis tool can test regular expressions for \"fail2ban\".",
    after_help = "LOG:\n  string                a string representing a log line\n  filename              path to a log file (/var/log/auth.log)\n\nREGEX:\n  string                a string representing a 'failregex'\n  filter                name of filter, optionally with options (sshd[mode=aggressive])\n  filename              path to a filter file (filter.d/sshd.conf)\n\nIGNOREREGEX:\n  string                a string representing an 'ignoreregex'",
    disable_version_flag = true
)]
pub struct Args {
    /// a string representing a log line, or a path to a log file
    pub log: Option<String>,
    /// a 'failregex' string, a filter name with options, or a filter file
    pub regex: Option<String>,
    /// a string representing an 'ignoreregex'
    pub ignoreregex: Option<String>,
    /// any further positional argument (an error, as in fail2ban)
    #[arg(hide = true)]
    pub extra: Vec<String>,

    /// set alternate config directory
    #[arg(short = 'c', long = "config", default_value = "/etc/fail2ban")]
    pub config: String,
    /// set custom pattern used to match date/times
    #[arg(short = 'd', long = "datepattern")]
    pub datepattern: Option<String>,
    /// set time-zone used by convert time format
    #[arg(long = "timezone", visible_alias = "TZ")]
    pub timezone: Option<String>,
    /// File encoding. Default: system locale
    #[arg(short = 'e', long = "encoding", default_value = "UTF-8")]
    pub encoding: String,
    /// Raw hosts, don't resolve dns
    #[arg(short = 'r', long = "raw")]
    pub raw: bool,
    /// DNS specified replacement of tags <HOST> in regexp ('yes' - matches all form of hosts, 'no' - IP addresses only)
    #[arg(long = "usedns")]
    pub usedns: Option<String>,
    /// maxlines for multi-line regex.
    #[arg(short = 'L', long = "maxlines", default_value_t = 0)]
    pub maxlines: usize,
    /// journalctl style matches overriding filter file. "systemd-journal" only
    #[arg(short = 'm', long = "journalmatch")]
    pub journalmatch: Option<String>,
    /// Log level for the Fail2Ban logger to use
    #[arg(short = 'l', long = "log-level", default_value = "critical")]
    pub log_level: String,
    /// get version in machine-readable short format
    #[arg(short = 'V')]
    pub short_version: bool,
    /// show program's version number and exit
    #[arg(long = "version")]
    pub version: bool,
    /// Produce verbose output.
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count)]
    pub verbose: u8,
    /// Set numerical level of verbosity (0..4)
    #[arg(long = "verbosity")]
    pub verbosity: Option<u8>,
    /// Produce verbose output about date/time format
    #[arg(long = "verbose-date", visible_alias = "VD")]
    pub verbose_date: bool,
    /// Produce debuggex.com urls for debugging there
    #[arg(short = 'D', long = "debuggex")]
    pub debuggex: bool,
    /// Disable check for all regex's
    #[arg(long = "no-check-all")]
    pub no_check_all: bool,
    /// Set token to print failure information only (row, id, ip, msg, host, ip4, ip6, dns, matches, ...)
    #[arg(short = 'o', long = "out")]
    pub out: Option<String>,
    /// Do not print any missed lines
    #[arg(long = "print-no-missed")]
    pub print_no_missed: bool,
    /// Do not print any ignored lines
    #[arg(long = "print-no-ignored")]
    pub print_no_ignored: bool,
    /// Print all matched lines
    #[arg(long = "print-all-matched")]
    pub print_all_matched: bool,
    /// Print all missed lines, no matter how many
    #[arg(long = "print-all-missed")]
    pub print_all_missed: bool,
    /// Print all ignored lines, no matter how many
    #[arg(long = "print-all-ignored")]
    pub print_all_ignored: bool,
    /// Enrich log-messages with compressed tracebacks
    #[arg(short = 't', long = "log-traceback")]
    pub log_traceback: bool,
    /// Either to make the tracebacks full, not compressed (as by default)
    #[arg(long = "full-traceback")]
    pub full_traceback: bool,
}

impl Args {
    pub fn verbosity(&self) -> u8 {
        self.verbosity.unwrap_or(self.verbose)
    }

    /// fail2ban's argument checks, with its wording.
    pub fn errors(&self) -> Vec<&'static str> {
        let mut e = Vec::new();
        if self.print_no_missed && self.print_all_missed {
            e.push("ERROR: --print-no-missed and --print-all-missed are mutually exclusive.");
        }
        if self.print_no_ignored && self.print_all_ignored {
            e.push("ERROR: --print-no-ignored and --print-all-ignored are mutually exclusive.");
        }
        if self.log.is_none() || self.regex.is_none() || !self.extra.is_empty() {
            e.push("ERROR: provide both <LOG> and <REGEX>.");
        }
        e
    }
}
