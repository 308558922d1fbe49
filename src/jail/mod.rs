//! The jail: failures in, ban decisions out.
//!
//! This is the part of fail2ban between the filter and the actions: it
//! counts each address's failures within `findtime` (`failures`), decides
//! when `maxretry` is reached, and keeps the ban list with its expiry
//! (`bans`). Everything here is pure: time comes from a `Clock`, so tests
//! drive it with a fake one, and nothing runs a command.

pub mod bans;
pub mod failures;
pub mod ignore;
pub mod increment;
pub mod time;

use std::cell::Cell;

/// Where the jail reads the current time (Unix seconds).
pub trait Clock {
    fn now(&self) -> f64;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> f64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    }
}

/// A clock that stands still until moved (tests).
#[derive(Debug, Default)]
pub struct FakeClock(Cell<f64>);

impl FakeClock {
    pub fn at(t: f64) -> FakeClock {
        FakeClock(Cell::new(t))
    }

    pub fn set(&self, t: f64) {
        self.0.set(t);
    }

    pub fn advance(&self, secs: f64) {
        self.0.set(self.0.get() + secs);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> f64 {
        self.0.get()
    }
}

use bans::{Added, BanManager, BanTicket};
use failures::FailManager;
use ignore::IgnoreList;

use crate::filter::matcher::Resolver;

/// The ban history all jails share (`bantime.overalljails`): per id, the
/// count and start of its latest ban in any jail, as fail2ban reads it
/// from its database.
#[derive(Clone, Debug, Default)]
pub struct Overall {
    bans: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, (u32, f64)>>>,
    /// This jail counts earlier bans from here (its `overalljails`).
    pub counts: bool,
}

impl Overall {
    /// The same history, seen by another jail.
    pub fn for_jail(&self, counts: bool) -> Overall {
        Overall {
            bans: self.bans.clone(),
            counts,
        }
    }

    /// Notes a ban; the latest one of an id stands.
    pub fn record(&self, id: &str, count: u32, time: f64) {
        if let Ok(mut m) = self.bans.lock() {
            let e = m.entry(id.to_string()).or_insert((count, time));
            if time >= e.1 {
                *e = (count, time);
            }
        }
    }

    /// How many times `id` was banned, per its latest ban.
    pub fn count(&self, id: &str) -> u32 {
        self.bans
            .lock()
            .ok()
            .and_then(|m| m.get(id).map(|e| e.0))
            .unwrap_or(0)
    }

    fn forget_before(&self, oldest: f64) {
        if let Ok(mut m) = self.bans.lock() {
            m.retain(|_, (_, t)| *t >= oldest);
        }
    }
}

/// What a filter found with a failure: its log lines and its captures
/// (group name, value), such as `("user", "bob")`.
#[derive(Debug, Default)]
pub struct Found {
    pub matches: Vec<String>,
    pub captures: Vec<(String, String)>,
}

/// What one failure led to, for logging and for the actions.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The id is on the ignore list ("Ignore <ip> by <source>").
    Ignored(ignore::Source),
    /// Counted ("Found <ip>"); `count` is its retry count now.
    Found { count: u32 },
    /// Counted and banned now: run the ban actions with this ticket.
    Banned(BanTicket),
    /// Counted, reached maxretry, but the id is banned already.
    AlreadyBanned,
    /// Counted, reached maxretry, but the ban would be over already.
    Expired,
}

/// A jail's counting and ban list: fail2ban's `Filter.processLineAndAdd`
/// and the ban half of its actions thread, without the I/O.
#[derive(Debug, Default)]
pub struct Jail {
    pub fails: FailManager,
    pub bans: BanManager,
    pub ignore: IgnoreList,
    /// `bantime.increment`, when on.
    pub increment: Option<increment::Increment>,
    /// Earlier bans per id: how many, and when the last one started.
    pub history: std::collections::HashMap<String, (u32, f64)>,
    /// How long earlier bans are remembered (`dbpurgeage`, default 1 day).
    pub history_max_age: Option<f64>,
    /// Earlier bans of every jail, for `bantime.overalljails`: each jail
    /// records its bans there; a jail with `overalljails` also counts
    /// from it instead of its own history.
    pub overall: Option<Overall>,
    /// State of the random numbers for `bantime.rndtime`.
    rng: u64,
    /// Old failures are dropped at most this often (fail2ban: 5 s).
    next_cleanup: f64,
}

impl Jail {
    /// One failure of `id` at `time` (clamped to `now`: a failure is never
    /// in the future) with its log lines.
    /// One failure of `id` at `time` (clamped to `now`: a failure is never
    /// in the future) with its log lines. `ignore_command` is the jail's
    /// `ignorecommand`, asked only when the ignore list does not already
    /// spare the id, as fail2ban does.
    pub fn failure(
        &mut self,
        id: &str,
        time: f64,
        matches: Vec<String>,
        now: f64,
        resolver: &dyn Resolver,
        ignore_command: &dyn Fn(&str) -> bool,
    ) -> Outcome {
        let found = Found {
            matches,
            captures: Vec::new(),
        };
        self.failure_with(id, time, found, now, resolver, ignore_command)
    }

    /// `failure` with what the filter captured, for the actions' tags.
    pub fn failure_with(
        &mut self,
        id: &str,
        time: f64,
        found: Found,
        now: f64,
        resolver: &dyn Resolver,
        ignore_command: &dyn Fn(&str) -> bool,
    ) -> Outcome {
        let time = time.min(now);
        if let Some(source) = self.ignore.check(id, resolver) {
            return Outcome::Ignored(source);
        }
        if ignore_command(id) {
            return Outcome::Ignored(ignore::Source::Command);
        }
        let count = self
            .fails
            .add_failure_with(id, time, found.matches, found.captures);
        if count < self.fails.max_retry {
            return Outcome::Found { count };
        }
        let ticket = self.fails.to_ban(id).map(|t| self.ban_ticket(t));
        let outcome = match ticket {
            None => Outcome::Found { count },
            Some(t) => match self.bans.add(t, now) {
                Added::Banned => match self.bans.get(id).cloned() {
                    Some(t) => {
                        if self.increment.is_some() || self.overall.is_some() {
                            self.history.insert(id.to_string(), (t.ban_count, t.time));
                        }
                        if let Some(o) = &self.overall {
                            o.record(id, t.ban_count, t.time);
                        }
                        Outcome::Banned(t)
                    }
                    None => Outcome::Expired,
                },
                Added::AlreadyBanned { .. } => Outcome::AlreadyBanned,
                Added::Expired => Outcome::Expired,
            },
        };
        // fail2ban cleans up after each ban, and every 100 lines (the
        // caller's part).
        self.service(now);
        outcome
    }

    /// The ban a failure ticket becomes; with `bantime.increment`, longer
    /// for an id banned before.
    fn ban_ticket(&mut self, t: failures::FailTicket) -> BanTicket {
        let mut ticket = BanTicket::from_failures(t);
        let Some(inc) = self.increment.clone() else {
            return ticket;
        };
        let count = match self.overall.as_ref().filter(|o| o.counts) {
            Some(o) => o.count(&ticket.id),
            None => self.history.get(&ticket.id).map_or(0, |h| h.0),
        };
        if count > 0 && self.bans.ban_time != -1.0 {
            let random = self.random();
            ticket.ban_time = Some(inc.ban_time(self.bans.ban_time, count, random));
        }
        // The ban list counts this ban on top.
        ticket.ban_count = count;
        ticket
    }

    /// A number in [0, 1) (xorshift; only spreads unban times).
    fn random(&mut self) -> f64 {
        if self.rng == 0 {
            self.rng = 0x9E37_79B9_7F4A_7C15 ^ u64::from(std::process::id());
        }
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Periodic upkeep: forget failures older than `findtime` (at most
    /// every 5 s, as fail2ban).
    pub fn service(&mut self, now: f64) {
        if now >= self.next_cleanup {
            self.next_cleanup = now + 5.0;
            self.fails.cleanup(now);
            let oldest = now - self.history_max_age.unwrap_or(86_400.0);
            self.history.retain(|_, (_, t)| *t >= oldest);
            if let Some(o) = &self.overall {
                o.forget_before(oldest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::matcher::NoResolver;

    #[test]
    fn third_failure_bans_and_ignored_ids_never_count() {
        let clock = FakeClock::at(1000.0);
        let mut j = Jail::default();
        j.ignore.set_from_option("192.0.2.0/28");
        let ip = "198.51.100.9";
        for n in 1..=2 {
            let o = j.failure(
                ip,
                clock.now(),
                vec![format!("line {n}")],
                clock.now(),
                &NoResolver,
                &|_| false,
            );
            assert_eq!(o, Outcome::Found { count: n });
            clock.advance(10.0);
        }
        let Outcome::Banned(t) = j.failure(
            ip,
            clock.now(),
            vec!["line 3".into()],
            clock.now(),
            &NoResolver,
            &|_| false,
        ) else {
            panic!("expected a ban");
        };
        assert_eq!((t.failures, t.matches.len(), t.time), (3, 3, 1020.0));
        assert_eq!(j.fails.len(), 0);
        assert_eq!(
            j.failure(
                "192.0.2.3",
                clock.now(),
                vec![],
                clock.now(),
                &NoResolver,
                &|_| false
            ),
            Outcome::Ignored(ignore::Source::Ip)
        );
        assert_eq!(j.fails.total, 3);
        // Banned again while banned: counted, not banned twice.
        for _ in 0..2 {
            j.failure(ip, clock.now(), vec![], clock.now(), &NoResolver, &|_| {
                false
            });
        }
        assert_eq!(
            j.failure(ip, clock.now(), vec![], clock.now(), &NoResolver, &|_| {
                false
            }),
            Outcome::AlreadyBanned
        );
        assert_eq!(j.bans.total, 1);
    }

    /// One failure of `id` at `at` (with maxretry 1), which must ban it.
    fn ban_now(j: &mut Jail, id: &str, at: f64) -> BanTicket {
        match j.failure(id, at, vec![], at, &NoResolver, &|_| false) {
            Outcome::Banned(t) => t,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn overalljails_counts_bans_of_every_jail() {
        let shared = Overall::default();
        let jail = |counts: bool| {
            let mut j = Jail::default();
            j.fails.max_retry = 1;
            j.increment = Some(increment::Increment::default());
            j.overall = Some(shared.for_jail(counts));
            j
        };
        let ban = |j: &mut Jail, at: f64| ban_now(j, "192.0.2.41", at);
        // Banned in the first jail; the second (overalljails) sees it, the
        // third (its own history only) does not.
        let (mut first, mut overall, mut own) = (jail(false), jail(true), jail(false));
        assert_eq!(ban(&mut first, 0.0).ban_count, 1);
        let t = ban(&mut overall, 10.0);
        assert_eq!((t.ban_time, t.ban_count), (Some(1200.0), 2));
        let t = ban(&mut own, 20.0);
        assert_eq!((t.ban_time, t.ban_count), (None, 1));
        // The latest ban anywhere stands.
        assert_eq!(shared.count("192.0.2.41"), 1);
    }

    #[test]
    fn repeat_offenders_are_banned_longer() {
        let mut j = Jail::default();
        j.fails.max_retry = 1;
        j.increment = Some(increment::Increment::default());
        let ban = |j: &mut Jail, at: f64| ban_now(j, "192.0.2.40", at);
        let first = ban(&mut j, 0.0);
        assert_eq!((first.ban_time, first.ban_count), (None, 1));
        j.bans.unban_due(1e6, usize::MAX);
        let second = ban(&mut j, 1e6);
        assert_eq!((second.ban_time, second.ban_count), (Some(1200.0), 2));
        assert_eq!(j.history.get("192.0.2.40"), Some(&(2, 1e6)));
    }

    #[test]
    fn ignorecommand_spares_what_it_says() {
        let mut j = Jail::default();
        let spare = |id: &str| id == "192.0.2.30";
        let o = j.failure("192.0.2.30", 1.0, vec![], 1.0, &NoResolver, &spare);
        assert_eq!(o, Outcome::Ignored(ignore::Source::Command));
        let o = j.failure("192.0.2.31", 1.0, vec![], 1.0, &NoResolver, &spare);
        assert_eq!(o, Outcome::Found { count: 1 });
        assert_eq!(j.fails.total, 1);
    }

    #[test]
    fn old_log_lines_make_no_ban_and_future_ones_are_now() {
        let mut j = Jail::default();
        for _ in 0..2 {
            j.failure("192.0.2.20", 4000.0, vec![], 5000.0, &NoResolver, &|_| {
                false
            });
        }
        // Banned from 4000 for 600 s: over before it starts.
        assert_eq!(
            j.failure("192.0.2.20", 4000.0, vec![], 5000.0, &NoResolver, &|_| {
                false
            }),
            Outcome::Expired
        );
        j.failure("192.0.2.21", 9e9, vec![], 5000.0, &NoResolver, &|_| false);
        assert_eq!(j.fails.get("192.0.2.21").map(|t| t.time), Some(5000.0));
    }
}
