//! A jail's filter thread: reads its log files (or the journal), runs the
//! filter on each line and counts the failures; a ban it decides goes to
//! the actions thread.

use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::Duration;

use crate::action::runner::CommandRunner;
use crate::filter::failure::Failure;
use crate::filter::matcher::{Matcher, NoResolver};
use crate::jail::{Clock, Found, Outcome, SystemClock};
use crate::watch::FileTail;
use crate::watch::journal::Journal;
use crate::watch::notify::Notifier;

use super::jailrt::{Shared, ToActions};
use super::log::{Level, Logger};

/// How often files are looked at without inotify (`backend = polling`).
const POLL: Duration = Duration::from_millis(250);
/// Lines read from a file before they are processed.
const BATCH: usize = 512;
/// With inotify: the longest sleep between looks (also how soon a stop
/// is noticed).
const NOTIFY_WAIT: Duration = Duration::from_millis(500);

/// What the jail keeps of a failure: its lines, and its captures when an
/// action asks for them.
fn found_of(f: &Failure, captures: bool) -> Found {
    Found {
        matches: f.data.matches.iter().map(|m| m.joined()).collect(),
        captures: match captures {
            true => f
                .data
                .groups
                .iter()
                .filter_map(|(k, v)| Some((k.to_string(), v.clone()?)))
                .collect(),
            false => Vec::new(),
        },
    }
}

pub(super) fn filter_loop(
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
    // The last read error logged per file: logged again only when it
    // changes, so a file that stays unreadable does not flood the log.
    let mut last_error: Vec<Option<String>> = vec![None; tails.len()];
    loop {
        for (t, last_error) in tails.iter_mut().zip(last_error.iter_mut()) {
            // Until a file was first read to its end, its lines are old
            // news (fail2ban's initialisation): failures older than
            // findtime are skipped. After that, lines are new, and a date
            // far from now is taken as now.
            // A few thousand lines at a time: a large append never sits
            // in memory whole.
            loop {
                let in_operation = t.in_operation;
                let more = match t.poll(&mut lines, BATCH) {
                    Ok(more) => {
                        *last_error = None;
                        more
                    }
                    Err(e) => {
                        let msg = format!("[{name}] {}: {e}", t.path.display());
                        if last_error.as_deref() != Some(msg.as_str()) {
                            log.log("fail2ban.filter", Level::Error, &msg);
                            *last_error = Some(msg);
                        }
                        false
                    }
                };
                for w in t.take_warnings() {
                    log.log("fail2ban.filter", Level::Warning, &format!("[{name}] {w}"));
                }
                process(
                    shared,
                    &mut matcher,
                    &mut lines,
                    in_operation,
                    &mut processed,
                    log,
                );
                log.flush();
                // The position moves only after the lines before it were
                // counted, so a saved position never runs ahead of the
                // bans they made (see `state`).
                if let (Some(p), Ok(mut all)) = (t.position(), shared.positions.lock()) {
                    let path = t.path.display().to_string();
                    match all.iter_mut().find(|(f, _)| *f == path) {
                        Some(slot) => slot.1 = p,
                        None => all.push((path, p)),
                    }
                }
                if !more {
                    break;
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
    let Some(cmd) = shared.ignore_command.as_deref() else {
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

/// A line on which a regex search gave up at its backtracking bound (see
/// `filter::pyre`): taken as not matching that regex. Said for the 1st,
/// 10th, 100th... such line, so a flood of crafted lines cannot flood the
/// log; the line is shown escaped and cut.
fn report_bounded(jail: &str, count: u64, line: &str, log: &Logger) {
    let mut n = count;
    while n.is_multiple_of(10) && n > 1 {
        n /= 10;
    }
    if n != 1 {
        return;
    }
    let shown: String = line.chars().take(200).collect();
    log.log(
        "fail2ban.filter",
        Level::Warning,
        &format!(
            "[{jail}] {count} line(s) so far took a regex search past its backtracking bound \
             and were taken as not matching it; the last: {shown:?}"
        ),
    );
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
        if out.bound_hits > 0 {
            report_bounded(&shared.name, matcher.bounded_lines(), line, log);
        }
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
            // The ignore command runs outside the jail's lock (it may take
            // a while), and only for an id the ignore list does not spare.
            let spared = shared.ignore_command.is_some()
                && shared
                    .jail
                    .lock()
                    .is_ok_and(|j| j.ignore.check(&id, &NoResolver).is_none())
                && ignored_by_command(shared, &id, log);
            let outcome = match shared.jail.lock() {
                Ok(mut j) => j.failure_with(
                    &id,
                    time,
                    found_of(&f, shared.wants_captures),
                    now,
                    &NoResolver,
                    &|_| spared,
                ),
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
pub(super) fn journal_loop(
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
            Ok(Msg::Entry(e)) => {
                let mut c = Counting::new(shared, log, in_operation, &mut processed);
                let out = matcher.process_dated(&e.line, e.time, c.now, &NoResolver);
                if out.bound_hits > 0 {
                    report_bounded(&shared.name, matcher.bounded_lines(), &e.line, log);
                }
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
