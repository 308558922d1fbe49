//! One running jail: a thread that follows its logs, filters lines and
//! counts failures (`reading`), and a thread that runs its actions
//! (`acting`). This module starts them from the jail's configuration.
//!
//! The two share the jail's counting and ban list (`jail::Jail`) behind a
//! mutex held only briefly. A ban decided by the filter thread goes to the
//! actions thread over a channel, so a slow firewall command never holds
//! up reading; the actions thread also unbans on expiry. A jail with mail
//! actions has a third thread that sends their mails (`mail::outbox`), so
//! a slow sendmail never holds up the actions either.

use std::path::PathBuf;
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::action::runner::CommandRunner;
use crate::action::{Action, BanInfo};
use crate::config::jailspec::JailSpec;
use crate::config::stream::Value;
use crate::filter::matcher::{MatchMode, Matcher};
use crate::jail::bans::BanTicket;
use crate::jail::{Clock, Jail, SystemClock};
use crate::watch::journal::JournalOpts;
use crate::watch::notify::Notifier;
use crate::watch::{FileTail, Position};

use super::log::{Level, Logger};

/// Messages to a jail's actions thread.
pub enum ToActions {
    Ban(BanTicket),
    /// Unban these now (by hand), running the unban actions.
    Unban(Vec<BanTicket>),
    Stop,
}

/// The state a jail shares with the control thread.
pub struct Shared {
    pub name: String,
    pub jail: Mutex<Jail>,
    /// The log files, as `status` lists them.
    pub files: Vec<String>,
    /// Where each file was read up to (saved for restarts).
    pub positions: Mutex<Vec<(String, Position)>>,
    /// For a journal jail: its matches as status shows them.
    pub journal_matches: Option<String>,
    /// `ignorecommand`, when set.
    pub ignore_command: Option<String>,
    pub actions: Vec<String>,
    /// An action uses a capture tag (`<F-USER>` ...): failures then carry
    /// what the filter captured (other jails skip the copies).
    pub wants_captures: bool,
    pub to_actions: Mutex<Sender<ToActions>>,
}

pub struct Running {
    pub shared: Arc<Shared>,
    stop: Sender<()>,
    threads: Vec<JoinHandle<()>>,
}

fn seconds(v: Option<&Value>, default: f64) -> f64 {
    v.map(Value::text)
        .and_then(|t| crate::jail::time::str2seconds(&t).ok())
        .unwrap_or(default)
}

/// The ban information actions see for a ticket.
pub fn ban_info(t: &BanTicket, ban_time: f64) -> BanInfo {
    BanInfo {
        id: t.id.clone(),
        failures: t.failures,
        time: t.time,
        bantime: t.ban_time(ban_time),
        bancount: t.ban_count,
        matches: t.matches.clone(),
        restored: t.restored,
        captures: t.captures.clone(),
    }
}

/// The addresses `ignoreself` protects: 127.0.0.1, ::1 and what
/// `localhost` and this host's name resolve to. Looked up once per server,
/// not per jail and reload.
fn self_addresses() -> Vec<std::net::IpAddr> {
    static OWN: std::sync::OnceLock<Vec<std::net::IpAddr>> = std::sync::OnceLock::new();
    OWN.get_or_init(look_up_self).clone()
}

fn look_up_self() -> Vec<std::net::IpAddr> {
    use std::net::ToSocketAddrs;
    let mut own: Vec<std::net::IpAddr> =
        vec![[127, 0, 0, 1].into(), std::net::Ipv6Addr::LOCALHOST.into()];
    let mut names = vec!["localhost".to_string()];
    if let Ok(h) = nix::unistd::gethostname() {
        names.push(h.to_string_lossy().into_owned());
    }
    for n in names {
        if let Ok(addrs) = (n.as_str(), 0).to_socket_addrs() {
            for a in addrs {
                if !own.contains(&a.ip()) {
                    own.push(a.ip());
                }
            }
        }
    }
    own
}

/// `bantime.increment` and its options (None when off).
fn increment_of(spec: &JailSpec, log: &Logger) -> Option<crate::jail::increment::Increment> {
    use crate::jail::increment::{DEFAULT_FORMULA, Increment, parse_multipliers};
    if spec.options.get("bantime.increment") != Some(&Value::Bool(true)) {
        return None;
    }
    let name = &spec.name;
    let warn = |msg: String| log.log("fail2ban.jail", Level::Warning, &format!("[{name}] {msg}"));
    let text = |k: &str| {
        spec.options
            .get(k)
            .map(Value::text)
            .filter(|t| !t.trim().is_empty())
    };
    let mut inc = Increment::default();
    if let Some(f) = text("bantime.factor") {
        match f.trim().parse::<f64>() {
            Ok(v) => inc.factor = v,
            Err(_) => warn(format!("bantime.factor {f:?} is not a number: 1 is used")),
        }
    }
    if let Some(f) = text("bantime.formula")
        && f.split_whitespace().collect::<String>()
            != DEFAULT_FORMULA.split_whitespace().collect::<String>()
    {
        warn(format!(
            "bantime.formula {f:?} is not evaluated (configuration is never run as code): the default formula is used; bantime.multipliers gives other growths"
        ));
    }
    if let Some(m) = text("bantime.multipliers") {
        match parse_multipliers(&m) {
            Ok(v) => inc.multipliers = v,
            Err(e) => warn(e),
        }
    }
    let secs = |k: &str| text(k).and_then(|t| crate::jail::time::str2seconds(&t).ok());
    inc.max_time = secs("bantime.maxtime");
    inc.rnd_time = secs("bantime.rndtime");
    Some(inc)
}

/// The jail's `bantime.overalljails`.
pub fn overall_jails(spec: &JailSpec) -> bool {
    spec.options.get("bantime.overalljails") == Some(&Value::Bool(true))
}

/// What a jail takes back from before a restart.
#[derive(Default)]
pub struct Restore {
    pub bans: Vec<BanTicket>,
    pub positions: Vec<(String, Position)>,
    /// Earlier bans per id (count, last start), for `bantime.increment`.
    pub history: Vec<(String, u32, f64)>,
    /// The history all jails share, when one of them has
    /// `bantime.overalljails`.
    pub overall: Option<crate::jail::Overall>,
    /// How long earlier bans are remembered (`dbpurgeage`).
    pub history_max_age: Option<f64>,
    /// The state file, saved before a new ban is acted on (none when the
    /// state is not kept).
    pub store: Option<Arc<super::state::Store>>,
}

/// Starts a jail from its configuration.
pub fn start(
    spec: &JailSpec,
    log: Arc<Logger>,
    runner: Arc<dyn CommandRunner>,
    restore: Restore,
) -> Result<Running, String> {
    // fail2ban's server: dateless lines are dated now, and multi-line
    // failures still waiting for their address are not reported.
    let mode = MatchMode {
        check_find_time: true,
        ignore_pending: true,
        ..MatchMode::default()
    };
    let mut matcher = Matcher::new(&spec.filter_regexes(), mode)
        .map_err(|e| format!("jail '{}': {e}", spec.name))?;
    if let Some(dp) = &spec.datepattern {
        let dd = crate::filter::date::DateDetector::from_patterns(dp)
            .map_err(|e| format!("jail '{}': datepattern: {e}", spec.name))?;
        matcher.cutter.dates = Some(dd);
    }
    matcher.cutter.count_pref = false;
    let mut jail = Jail::default();
    jail.fails.max_retry = spec
        .options
        .get("maxretry")
        .and_then(|v| match v {
            Value::Int(n) => u32::try_from(*n).ok(),
            other => other.text().trim().parse().ok(),
        })
        .unwrap_or(3);
    let find_time = seconds(spec.options.get("findtime"), 600.0);
    jail.fails.find_time = find_time;
    jail.fails.max_matches = spec
        .options
        .get("maxmatches")
        .and_then(|v| match v {
            Value::Int(n) => usize::try_from(*n).ok(),
            _ => None,
        })
        .unwrap_or(jail.fails.max_retry as usize);
    jail.bans.ban_time = seconds(spec.options.get("bantime"), 600.0);
    jail.increment = increment_of(spec, &log);
    jail.history = restore
        .history
        .iter()
        .map(|(id, c, t)| (id.clone(), (*c, *t)))
        .collect();
    jail.history_max_age = restore.history_max_age;
    jail.overall = restore
        .overall
        .as_ref()
        .map(|o| o.for_jail(overall_jails(spec)));
    for ip in &spec.ignoreip {
        jail.ignore.add(ip);
    }
    jail.ignore.ignore_self = !matches!(spec.options.get("ignoreself"), Some(Value::Bool(false)));
    if jail.ignore.ignore_self {
        jail.ignore.own = self_addresses();
    }
    // The saved bans are back before any line is read (see `acting`).
    let restored = super::acting::restore_bans(&mut jail, restore.bans, SystemClock.now());
    let (to_actions, from_filter) = channel();
    let shared = Arc::new(Shared {
        name: spec.name.clone(),
        jail: Mutex::new(jail),
        files: spec.logpaths.iter().map(|(p, _)| p.clone()).collect(),
        positions: Mutex::new(Vec::new()),
        ignore_command: spec
            .options
            .get("ignorecommand")
            .map(Value::text)
            .filter(|c| !c.trim().is_empty()),
        journal_matches: spec.backend.starts_with("systemd").then(|| {
            let groups: Vec<String> = spec.journalmatch.iter().map(|g| g.join(" ")).collect();
            groups.join(" + ")
        }),
        actions: spec.actions.iter().map(|a| a.name.clone()).collect(),
        wants_captures: spec
            .actions
            .iter()
            .any(|a| a.options.iter().any(|(_, v)| v.text().contains("<F-"))),
        to_actions: Mutex::new(to_actions),
    });
    let mut actions: Vec<Action> = spec.actions.iter().map(Action::new).collect();
    let mail_thread = attach_mail(&spec.name, &mut actions, &log);
    let tails: Vec<FileTail> = spec
        .logpaths
        .iter()
        .map(|(p, tail)| {
            let saved = restore
                .positions
                .iter()
                .find(|(f, _)| f == p)
                .map(|(_, pos)| pos);
            FileTail::new(std::path::Path::new(p), tail == "tail", saved)
        })
        .collect();
    let (backend, backend_opts) = crate::config::split_name_options(&spec.backend)
        .map_err(|e| format!("jail '{}': backend: {e}", spec.name))?;
    let (stop, stopped) = channel();
    let s1 = shared.clone();
    let l1 = log.clone();
    let thread = std::thread::Builder::new().name(format!("f2b/f.{}", spec.name));
    let filter = if backend.starts_with("systemd") {
        let opt = |k: &str| {
            backend_opts
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        let opts = JournalOpts {
            directory: opt("journalpath"),
            files: opt("journalfiles")
                .map(|f| f.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
        };
        let since = SystemClock.now() - find_time;
        let journal = crate::watch::journal::follow(&opts, &spec.journalmatch, since);
        thread.spawn(move || super::reading::journal_loop(&s1, matcher, journal, stopped, &l1))
    } else {
        let notifier = match backend.as_str() {
            "polling" | "gamin" => None,
            "auto" | "pyinotify" | "inotify" => {
                let files: Vec<PathBuf> = tails.iter().map(|t| t.path.clone()).collect();
                match Notifier::new(&files) {
                    Ok(n) => Some(n),
                    Err(e) => {
                        let msg = format!(
                            "[{}] inotify unavailable ({e}): polling the log files instead",
                            spec.name
                        );
                        log.log("fail2ban.filter", Level::Warning, &msg);
                        None
                    }
                }
            }
            other => return Err(format!("jail '{}': unknown backend '{other}'", spec.name)),
        };
        thread
            .spawn(move || super::reading::filter_loop(&s1, matcher, tails, notifier, stopped, &l1))
    }
    .map_err(|e| e.to_string())?;
    let s2 = shared.clone();
    let acts = std::thread::Builder::new()
        .name(format!("f2b/a.{}", spec.name))
        .spawn(move || {
            super::acting::actions_loop(
                &s2,
                actions,
                restored,
                restore.store.as_deref(),
                from_filter,
                &log,
                runner.as_ref(),
            )
        })
        .map_err(|e| e.to_string())?;
    let mut threads = vec![filter, acts];
    // Joined last: it sends the stop mails the actions thread posts.
    threads.extend(mail_thread);
    Ok(Running {
        shared,
        stop,
        threads,
    })
}

/// The server's log as the mail thread reports to it.
struct MailLog(Arc<Logger>);

impl crate::mail::outbox::Report for MailLog {
    fn warning(&self, msg: &str) {
        self.0.log("fail2ban.actions", Level::Warning, msg);
    }
    fn info(&self, msg: &str) {
        self.0.log("fail2ban.actions", Level::Info, msg);
        // INFO lines are held back in batches; a mail not sent is rare
        // and should be readable in the log at once.
        self.0.flush();
    }
}

/// Gives the jail's mail actions a mail thread, each with a sendmail
/// mailer for its `mailcmd`; returns the thread (none without mail
/// actions). The thread ends after the actions, which hold its outbox.
fn attach_mail(jail: &str, actions: &mut [Action], log: &Arc<Logger>) -> Option<JoinHandle<()>> {
    use crate::mail::outbox::Outbox;
    use crate::mail::sendmail::SendmailMailer;
    if !actions.iter().any(Action::is_mail) {
        return None;
    }
    let (outbox, thread) = match Outbox::start(Arc::new(MailLog(log.clone())), jail) {
        Ok(started) => started,
        Err(e) => {
            let msg = format!("[{jail}] no mail thread ({e}): mail actions send nothing");
            log.log("fail2ban.actions", Level::Error, &msg);
            return None;
        }
    };
    for a in actions.iter_mut().filter(|a| a.is_mail()) {
        let mailer = Arc::new(SendmailMailer::new(a.mail_program()));
        a.attach_mail(jail, outbox.clone(), mailer);
    }
    Some(thread)
}

impl Running {
    /// Stops the threads: the actions thread unbans and stops its actions,
    /// then the mail thread (if any) sends what they posted.
    pub fn stop(self) {
        let _ = self.stop.send(());
        if let Ok(tx) = self.shared.to_actions.lock() {
            let _ = tx.send(ToActions::Stop);
        }
        for t in self.threads {
            let _ = t.join();
        }
    }
}
