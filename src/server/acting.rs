//! A jail's actions thread: runs the ban and unban actions in order,
//! unbans on expiry, and on stop flushes the bans and stops the actions.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use crate::action::Action;
use crate::action::runner::CommandRunner;
use crate::jail::bans::BanTicket;
use crate::jail::{Clock, SystemClock};

use super::jailrt::{Shared, ToActions, ban_info};
use super::log::{Level, Logger};

/// Runs `what` ("ban", "unban") on every action `op` takes, logging each
/// failure as fail2ban words it; one failing action does not stop the rest.
fn each(
    actions: &mut [Action],
    name: &str,
    what: &str,
    log: &Logger,
    mut op: impl FnMut(&mut Action) -> Result<(), crate::action::ActionError>,
) {
    for a in actions.iter_mut() {
        if let Err(e) = op(a) {
            let msg = format!(
                "Failed to execute {what} jail '{name}' action '{}': {e}",
                a.name
            );
            log.log("fail2ban.actions", Level::Error, &msg);
        }
    }
}

pub(super) fn actions_loop(
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
        each(&mut actions, name, "ban", log, |a| {
            if a.skips_restored() {
                Ok(())
            } else {
                a.ban(&info, runner)
            }
        });
    }
    let unban = |actions: &mut Vec<Action>, t: &BanTicket| {
        log.log(
            "fail2ban.actions",
            Level::Notice,
            &format!("[{name}] Unban {}", t.id),
        );
        let info = ban_info(t, ban_time());
        each(actions, name, "unban", log, |a| a.unban(&info, runner));
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
                each(&mut actions, name, "ban", log, |a| a.ban(&info, runner));
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
