//! One running jail: a thread that follows its logs, filters lines and
//! counts failures, and a thread that runs its actions.
//!
//! The two share the jail's counting and ban list (`jail::Jail`) behind a
//! mutex held only briefly. A ban decided by the filter thread goes to the
//! actions thread over a channel, so a slow firewall command never holds
//! up reading; the actions thread also unbans on expiry.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::action::runner::CommandRunner;
use crate::action::{Action, BanInfo};
use crate::config::jailspec::JailSpec;
use crate::config::stream::Value;
use crate::filter::failure::Failure;
use crate::filter::matcher::{MatchMode, Matcher, NoResolver};
use crate::jail::bans::BanTicket;
use crate::jail::{Clock, Jail, Outcome, SystemClock};
use crate::watch::journal::{Journal, JournalOpts};
use crate::watch::notify::Notifier;
use crate::watch::{FileTail, Position};

use super::log::{Level, Logger};

/// How often files are looked at without inotify (`backend = polling`).
const POLL: Duration = Duration::from_millis(250);
/// Lines read from a file before they are processed.
const BATCH: usize = 2048;
/// With inotify: the longest sleep between looks (also how soon a stop
/// is noticed).
const NOTIFY_WAIT: Duration = Duration::from_millis(500);

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
    pub files: Mutex<Vec<PathBuf>>,
    /// Where each file was read up to (saved for restarts).
    pub positions: Mutex<Vec<(String, Position)>>,
    /// For a journal jail: its matches as status shows them.
    pub journal_matches: Option<String>,
    /// `ignorecommand` (empty: none).
    pub ignore_command: Option<String>,
    pub actions: Vec<String>,
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
        captures: Vec::new(),
    }
}

/// The addresses `ignoreself` protects: 127.0.0.1, ::1 and what
/// `localhost` and this host's name resolve to (a lookup: call once).
fn self_addresses() -> Vec<std::net::IpAddr> {
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

/// Starts a jail from its configuration.
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
    if spec.options.get("bantime.overalljails") == Some(&Value::Bool(true)) {
        warn("bantime.overalljails is not supported yet: earlier bans count per jail".into());
    }
    Some(inc)
}

/// What a jail takes back from before a restart.
#[derive(Default)]
pub struct Restore {
    pub bans: Vec<BanTicket>,
    pub positions: Vec<(String, Position)>,
    /// Earlier bans per id (count, last start), for `bantime.increment`.
    pub history: Vec<(String, u32, f64)>,
    /// How long earlier bans are remembered (`dbpurgeage`).
    pub history_max_age: Option<f64>,
}

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
    // One thread does both stages here: no need to pre-check candidates.
    matcher.cutter.verify = false;
    let mut jail = Jail::default();
    jail.fails.max_retry = spec
        .options
        .get("maxretry")
        .and_then(|v| match v {
            Value::Int(n) => u32::try_from(*n).ok(),
            other => other.text().trim().parse().ok(),
        })
        .unwrap_or(3);
    jail.fails.find_time = seconds(spec.options.get("findtime"), 600.0);
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
    for ip in &spec.ignoreip {
        jail.ignore.add(ip);
    }
    jail.ignore.ignore_self = !matches!(spec.options.get("ignoreself"), Some(Value::Bool(false)));
    if jail.ignore.ignore_self {
        jail.ignore.own = self_addresses();
    }
    let files: Vec<PathBuf> = spec
        .logpaths
        .iter()
        .map(|(p, _)| PathBuf::from(p))
        .collect();
    let (to_actions, from_filter) = channel();
    let shared = Arc::new(Shared {
        name: spec.name.clone(),
        jail: Mutex::new(jail),
        files: Mutex::new(files),
        positions: Mutex::new(Vec::new()),
        ignore_command: spec.options.get("ignorecommand").map(Value::text),
        journal_matches: spec.backend.starts_with("systemd").then(|| {
            let groups: Vec<String> = spec.journalmatch.iter().map(|g| g.join(" ")).collect();
            groups.join(" + ")
        }),
        actions: spec.actions.iter().map(|a| a.name.clone()).collect(),
        to_actions: Mutex::new(to_actions),
    });
    let actions: Vec<Action> = spec.actions.iter().map(Action::new).collect();
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
        let since = SystemClock.now() - seconds(spec.options.get("findtime"), 600.0);
        let journal = crate::watch::journal::follow(&opts, &spec.journalmatch, since);
        thread.spawn(move || journal_loop(&s1, matcher, journal, stopped, &l1))
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
        thread.spawn(move || filter_loop(&s1, matcher, tails, notifier, stopped, &l1))
    }
    .map_err(|e| e.to_string())?;
    let s2 = shared.clone();
    let acts = std::thread::Builder::new()
        .name(format!("f2b/a.{}", spec.name))
        .spawn(move || {
            actions_loop(
                &s2,
                actions,
                restore.bans,
                from_filter,
                &log,
                runner.as_ref(),
            )
        })
        .map_err(|e| e.to_string())?;
    Ok(Running {
        shared,
        stop,
        threads: vec![filter, acts],
    })
}

impl Running {
    /// Stops both threads: the actions thread unbans and stops its actions.
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

fn matches_of(f: &Failure) -> Vec<String> {
    f.data.matches.iter().map(|m| m.joined()).collect()
}

fn filter_loop(
    shared: &Shared,
    mut matcher: Matcher,
    mut tails: Vec<FileTail>,
    mut notifier: Option<Notifier>,
    stopped: Receiver<()>,
    log: &Logger,
) {
    let name = &shared.name;
    let mut lines = crate::watch::Lines::default();
    let mut processed: u64 = 0;
    loop {
        for t in tails.iter_mut() {
            // Until a file was first read to its end, its lines are old
            // news (fail2ban's initialisation): failures older than
            // findtime are skipped. After that, lines are new, and a date
            // far from now is taken as now.
            // A few thousand lines at a time: a large append never sits
            // in memory whole.
            loop {
                let in_operation = t.in_operation;
                let more = t.poll(&mut lines, BATCH).unwrap_or_else(|e| {
                    let msg = format!("[{name}] {}: {e}", t.path.display());
                    log.log("fail2ban.filter", Level::Error, &msg);
                    false
                });
                process(
                    shared,
                    &mut matcher,
                    &mut lines,
                    in_operation,
                    &mut processed,
                    log,
                );
                log.flush();
                if !more {
                    break;
                }
            }
            if let (Some(p), Ok(mut all)) = (t.position(), shared.positions.lock()) {
                let path = t.path.display().to_string();
                match all.iter_mut().find(|(f, _)| *f == path) {
                    Some(slot) => slot.1 = p,
                    None => all.push((path, p)),
                }
            }
        }
        // With inotify, sleep until a file changes (looking anyway now and
        // then, and for the stop signal); without, poll.
        let go_on = match notifier.as_mut() {
            Some(n) => {
                n.wait(NOTIFY_WAIT);
                matches!(stopped.try_recv(), Err(TryRecvError::Empty))
            }
            None => matches!(stopped.recv_timeout(POLL), Err(RecvTimeoutError::Timeout)),
        };
        if !go_on {
            return;
        }
    }
}

/// Runs the jail's `ignorecommand` for `id`: exit 0 spares it, 1 does not;
/// anything else is logged and does not spare it (fail2ban's rule). The
/// id reaches the command only through the environment.
fn ignored_by_command(shared: &Shared, id: &str, log: &Logger) -> bool {
    let Some(cmd) = shared
        .ignore_command
        .as_deref()
        .filter(|c| !c.trim().is_empty())
    else {
        return false;
    };
    let info = crate::action::BanInfo {
        id: id.to_string(),
        time: SystemClock.now(),
        ..crate::action::BanInfo::default()
    };
    let sh = crate::action::template::fill_dynamic(cmd, |t| info.tag(t));
    let (outcome, stderr) = crate::action::runner::ShRunner.run(&sh, Duration::from_secs(60));
    match outcome {
        crate::action::runner::Outcome::Exited(0) => true,
        crate::action::runner::Outcome::Exited(1) => false,
        other => {
            let msg = format!(
                "[{}] ignorecommand failed for {id}: {other:?} {}",
                shared.name,
                stderr.trim()
            );
            log.log("fail2ban.filter", Level::Error, &msg);
            false
        }
    }
}

/// What the filter thread needs to count one line's failures.
struct Counting<'a> {
    shared: &'a Shared,
    log: &'a Logger,
    /// After the initial read (see `filter_loop`).
    in_operation: bool,
    find_time: f64,
    now: f64,
    processed: &'a mut u64,
}

fn process(
    shared: &Shared,
    matcher: &mut Matcher,
    lines: &mut crate::watch::Lines,
    in_operation: bool,
    processed: &mut u64,
    log: &Logger,
) {
    let mut c = Counting::new(shared, log, in_operation, processed);
    for line in lines.iter() {
        let out = matcher.process_line(line, c.now, &NoResolver);
        c.count(out.failures);
    }
    lines.clear();
}

impl<'a> Counting<'a> {
    fn new(
        shared: &'a Shared,
        log: &'a Logger,
        in_operation: bool,
        processed: &'a mut u64,
    ) -> Self {
        let find_time = shared
            .jail
            .lock()
            .map(|j| j.fails.find_time)
            .unwrap_or(600.0);
        Counting {
            shared,
            log,
            in_operation,
            find_time,
            // One reading of the clock serves a batch (a few ms of work).
            now: SystemClock.now(),
            processed,
        }
    }

    /// Counts the failures found on one line.
    fn count(&mut self, failures: Vec<Failure>) {
        let (shared, log, now) = (self.shared, self.log, self.now);
        let name = &shared.name;
        for f in failures {
            if f.data.truthy("nofail") {
                continue;
            }
            let Some(id) = f.id.clone() else { continue };
            let time = match self.in_operation {
                true if (f.time - now).abs() > 60.0 => now,
                false if f.time < now - self.find_time => continue,
                _ => f.time,
            };
            let ignore_command = |ip: &str| ignored_by_command(shared, ip, log);
            let outcome = match shared.jail.lock() {
                Ok(mut j) => {
                    j.failure(&id, time, matches_of(&f), now, &NoResolver, &ignore_command)
                }
                Err(_) => return,
            };
            if let Outcome::Ignored(src) = &outcome {
                let msg = format!("[{name}] Ignore {id} by {src}");
                log.log("fail2ban.filter", Level::Info, &msg);
                continue;
            }
            let msg = format!(
                "[{name}] Found {id} - {}",
                crate::filter::date::format_local(time)
            );
            log.log("fail2ban.filter", Level::Info, &msg);
            match outcome {
                Outcome::AlreadyBanned => {
                    let msg = format!("[{name}] {id} already banned");
                    log.log("fail2ban.actions", Level::Notice, &msg);
                }
                Outcome::Banned(t) => {
                    if let Ok(tx) = shared.to_actions.lock() {
                        let _ = tx.send(ToActions::Ban(t));
                    }
                }
                _ => {}
            }
        }
        *self.processed += 1;
        if self.processed.is_multiple_of(100)
            && let Ok(mut j) = shared.jail.lock()
        {
            j.service(now);
        }
    }
}

/// The filter thread of a `backend = systemd` jail: the journal's backlog
/// since findtime ago (initialisation), then new entries.
fn journal_loop(
    shared: &Shared,
    mut matcher: Matcher,
    journal: Journal,
    stopped: Receiver<()>,
    log: &Logger,
) {
    use crate::watch::journal::Msg;
    let mut processed: u64 = 0;
    let mut in_operation = false;
    let mut unreadable: u64 = 0;
    loop {
        match journal.rx.recv_timeout(NOTIFY_WAIT) {
            Ok(Msg::Backlog(e) | Msg::New(e)) => {
                let mut c = Counting::new(shared, log, in_operation, &mut processed);
                let out = matcher.process_dated(&e.line, e.time, c.now, &NoResolver);
                c.count(out.failures);
                log.flush();
            }
            Ok(Msg::EndOfBacklog) => in_operation = true,
            Ok(Msg::Unreadable) => unreadable += 1,
            Ok(Msg::Failed(why)) => {
                let msg = format!(
                    "[{}] reading the journal failed: {why} ({unreadable} unreadable entries)",
                    shared.name
                );
                log.log("fail2ban.filter", Level::Error, &msg);
                // Wait for the stop signal; nothing more will come.
                let _ = stopped.recv();
                return;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                let _ = stopped.recv();
                return;
            }
        }
        if !matches!(stopped.try_recv(), Err(TryRecvError::Empty)) {
            return;
        }
    }
}

fn actions_loop(
    shared: &Shared,
    mut actions: Vec<Action>,
    restored: Vec<BanTicket>,
    rx: Receiver<ToActions>,
    log: &Logger,
    runner: &dyn CommandRunner,
) {
    let name = &shared.name;
    let now = || SystemClock.now();
    for a in actions.iter_mut() {
        if let Err(e) = a.start(now(), runner) {
            log.log(
                "fail2ban.actions",
                Level::Error,
                &format!("Failed to start jail '{name}' action '{}': {e}", a.name),
            );
        }
    }
    let ban_time = || shared.jail.lock().map(|j| j.bans.ban_time).unwrap_or(600.0);
    // Bans from before a restart that are still in force come back first.
    for t in restored {
        let added = shared.jail.lock().map(|mut j| j.bans.add(t.clone(), now()));
        if !matches!(added, Ok(crate::jail::bans::Added::Banned)) {
            continue;
        }
        log.log(
            "fail2ban.actions",
            Level::Notice,
            &format!("[{name}] Restore Ban {}", t.id),
        );
        let info = ban_info(&t, ban_time());
        for a in actions.iter_mut().filter(|a| !a.skips_restored()) {
            if let Err(e) = a.ban(&info, runner) {
                let msg = format!(
                    "Failed to execute ban jail '{name}' action '{}': {e}",
                    a.name
                );
                log.log("fail2ban.actions", Level::Error, &msg);
            }
        }
    }
    let unban = |actions: &mut Vec<Action>, t: &BanTicket| {
        log.log(
            "fail2ban.actions",
            Level::Notice,
            &format!("[{name}] Unban {}", t.id),
        );
        let info = ban_info(t, ban_time());
        for a in actions.iter_mut() {
            if let Err(e) = a.unban(&info, runner) {
                log.log(
                    "fail2ban.actions",
                    Level::Error,
                    &format!(
                        "Failed to execute unban jail '{name}' action '{}': {e}",
                        a.name
                    ),
                );
            }
        }
    };
    loop {
        let wait = shared
            .jail
            .lock()
            .map(|j| j.bans.next_unban() - now())
            .unwrap_or(1.0)
            .clamp(0.01, 1.0);
        match rx.recv_timeout(Duration::from_secs_f64(wait)) {
            Ok(ToActions::Ban(t)) => {
                log.log(
                    "fail2ban.actions",
                    Level::Notice,
                    &format!("[{name}] Ban {}", t.id),
                );
                if let Some(bt) = t.ban_time.filter(|_| t.ban_count > 1) {
                    let end = t.end(bt);
                    let msg = format!(
                        "[{name}] Increase Ban {} ({} # {} -> {})",
                        t.id,
                        t.ban_count,
                        crate::jail::time::seconds2str(bt),
                        crate::filter::date::format_local(end)
                    );
                    log.log("fail2ban.actions", Level::Notice, &msg);
                }

                let info = ban_info(&t, ban_time());
                for a in actions.iter_mut() {
                    if let Err(e) = a.ban(&info, runner) {
                        log.log(
                            "fail2ban.actions",
                            Level::Error,
                            &format!(
                                "Failed to execute ban jail '{name}' action '{}': {e}",
                                a.name
                            ),
                        );
                    }
                }
            }
            Ok(ToActions::Unban(list)) => {
                for t in &list {
                    unban(&mut actions, t);
                }
            }
            Ok(ToActions::Stop) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
        let due = shared
            .jail
            .lock()
            .map(|mut j| j.bans.unban_due(now(), usize::MAX))
            .unwrap_or_default();
        for t in &due {
            unban(&mut actions, t);
        }
    }
    // Stop: flush (or unban one by one), then actionstop.
    let remaining = shared
        .jail
        .lock()
        .map(|mut j| j.bans.flush())
        .unwrap_or_default();
    for a in actions.iter_mut() {
        let flushed = a.flush(now(), runner).unwrap_or(false);
        if !flushed {
            let bt = ban_time();
            for t in &remaining {
                let _ = a.unban(&ban_info(t, bt), runner);
            }
        }
        if let Err(e) = a.stop(now(), runner) {
            log.log(
                "fail2ban.actions",
                Level::Error,
                &format!("Failed to stop jail '{name}' action '{}': {e}", a.name),
            );
        }
    }
    log.log(
        "fail2ban.jail",
        Level::Info,
        &format!("Jail '{name}' stopped"),
    );
}
