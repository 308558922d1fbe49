//! A jail's actions thread: runs the ban and unban actions in order,
//! unbans on expiry, and on stop flushes the bans and stops the actions.
//!
//! A new ban's actions run only once the state file holds the ban (see
//! `state`): a crash can then never leave a firewall rule the restarted
//! server does not know of, nor make it ban the same address again.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use crate::action::Action;
use crate::action::runner::CommandRunner;
use crate::jail::bans::BanTicket;
use crate::jail::{Clock, SystemClock};

use super::jailrt::{Shared, ToActions, ban_info};
use super::log::{Level, Logger};
use super::state::Store;

/// Puts the bans saved before a restart back in the jail; returns those
/// still in force, whose actions are to be run again. Called before the
/// jail's filter thread starts, so lines read again after a crash find
/// their ban already there (`already banned`) instead of banning anew.
pub(super) fn restore_bans(
    jail: &mut crate::jail::Jail,
    restored: Vec<BanTicket>,
    now: f64,
) -> Vec<BanTicket> {
    restored
        .into_iter()
        .filter(|t| {
            matches!(
                jail.bans.add(t.clone(), now),
                crate::jail::bans::Added::Banned
            )
        })
        .collect()
}

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

/// The actions thread. `restored` are the bans `restore_bans` put back;
/// `store`, when the state is kept, is saved before new bans are acted on.
pub(super) fn actions_loop(
    shared: &Shared,
    mut actions: Vec<Action>,
    restored: Vec<BanTicket>,
    store: Option<&Store>,
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
    // Bans from before a restart that are still in force come back first:
    // in batches where an action can (`actionban_batch`), one by one
    // otherwise.
    let infos: Vec<_> = restored
        .iter()
        .map(|t| {
            log.log(
                "fail2ban.actions",
                Level::Notice,
                &format!("[{name}] Restore Ban {}", t.id),
            );
            ban_info(t, ban_time())
        })
        .collect();
    for a in actions.iter_mut().filter(|a| !a.skips_restored()) {
        let single = match a.ban_batch(&infos, runner) {
            Ok(rest) => rest,
            Err(e) => {
                let msg = format!(
                    "Failed to execute ban jail '{name}' action '{}' for a batch: {e}; \
                     banning one by one",
                    a.name
                );
                log.log("fail2ban.actions", Level::Error, &msg);
                infos.iter().collect()
            }
        };
        for info in single {
            each(std::slice::from_mut(a), name, "ban", log, |a| {
                a.ban(info, runner)
            });
        }
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
    let ban = |actions: &mut Vec<Action>, t: &BanTicket| {
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
        let info = ban_info(t, ban_time());
        each(actions, name, "ban", log, |a| a.ban(&info, runner));
    };
    // A message taken while gathering bans, handled next.
    let mut next: Option<ToActions> = None;
    loop {
        let wait = shared
            .jail
            .lock()
            .map(|j| j.bans.next_unban() - now())
            .unwrap_or(1.0)
            .clamp(0.01, 1.0);
        let msg = match next.take() {
            Some(m) => Ok(m),
            None => rx.recv_timeout(Duration::from_secs_f64(wait)),
        };
        match msg {
            Ok(ToActions::Ban(t)) => {
                // The bans waiting now are saved together (one write),
                // then acted on.
                let mut bans = vec![t];
                while let Ok(m) = rx.try_recv() {
                    match m {
                        ToActions::Ban(t) => bans.push(t),
                        other => {
                            next = Some(other);
                            break;
                        }
                    }
                }
                if let Some(store) = store
                    && let Err(e) = store.save_jail(shared)
                {
                    // Banning matters more than remembering the ban.
                    let msg = format!(
                        "Unable to save the state to {} before banning: {e}",
                        store.path().display()
                    );
                    log.log("fail2ban.database", Level::Error, &msg);
                }
                for t in bans {
                    ban(&mut actions, &t);
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
