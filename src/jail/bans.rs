//! The ban list of one jail: who is banned, until when, and who is due
//! for unbanning.
//!
//! A ban lasts from the time of the address's last failure (not from when
//! it was noticed) for `bantime` seconds, or for ever when `bantime` is -1.
//! A ban whose end has already passed is not made at all ("expired
//! bantime"), which matters when old log lines are read. The list keeps
//! insertion order, which is the order `fail2ban-client status` prints.

use crate::config::omap::OrderedMap;

use super::failures::FailTicket;

/// The end of a permanent ban (fail2ban's `Ticket.MAX_TIME`).
pub const FOREVER: f64 = 0x7FFF_FFFF_FFFF_i64 as f64;

/// One banned id, as fail2ban's `BanTicket`.
#[derive(Clone, Debug, PartialEq)]
pub struct BanTicket {
    pub id: String,
    /// The time the ban counts from (the last failure).
    pub time: f64,
    /// This ban's own duration; None: the jail's `bantime`.
    pub ban_time: Option<f64>,
    /// How many times this id was banned (with `bantime.increment`).
    pub ban_count: u32,
    /// Failures that led to the ban (`<failures>`).
    pub failures: u32,
    /// Their log lines (`<matches>`).
    pub matches: Vec<String>,
    /// Restored from the database after a restart.
    pub restored: bool,
    /// The filter's captures of the first failure (`<F-USER>` ...);
    /// empty for bans made by hand or restored.
    pub captures: Vec<(String, String)>,
}

impl BanTicket {
    /// The ticket a failure ticket becomes when it is banned.
    pub fn from_failures(t: FailTicket) -> BanTicket {
        BanTicket {
            id: t.id,
            time: t.time,
            ban_time: None,
            ban_count: 0,
            failures: t.failures,
            matches: t.matches,
            restored: false,
            captures: t.captures,
        }
    }

    /// A ban made by hand (`set <jail> banip`) at `now`.
    pub fn manual(id: &str, now: f64) -> BanTicket {
        BanTicket {
            id: id.to_string(),
            time: now,
            ban_time: None,
            ban_count: 0,
            failures: 0,
            matches: Vec::new(),
            restored: false,
            captures: Vec::new(),
        }
    }

    pub fn ban_time(&self, default: f64) -> f64 {
        self.ban_time.unwrap_or(default)
    }

    /// When the ban ends; `FOREVER` for a permanent one.
    pub fn end(&self, default: f64) -> f64 {
        let t = self.ban_time(default);
        if t == -1.0 { FOREVER } else { self.time + t }
    }
}

/// What became of a ticket offered to the ban list.
#[derive(Clone, Debug, PartialEq)]
pub enum Added {
    /// Newly banned: run the ban actions.
    Banned,
    /// Already banned; `prolonged` when the new ticket ends later and the
    /// ban was lengthened.
    AlreadyBanned { prolonged: bool },
    /// The ban would already be over.
    Expired,
}

#[derive(Debug)]
pub struct BanManager {
    list: OrderedMap<BanTicket>,
    /// The jail's `bantime` in seconds (-1: permanent).
    pub ban_time: f64,
    /// Bans made since start ("Total banned" in status).
    pub total: u64,
    /// No ban ends before this; unban checks before it cost nothing.
    next_unban: f64,
}

impl Default for BanManager {
    fn default() -> Self {
        BanManager {
            list: OrderedMap::new(),
            ban_time: 600.0,
            total: 0,
            next_unban: FOREVER,
        }
    }
}

impl BanManager {
    /// Offers a ticket at time `now`.
    pub fn add(&mut self, mut ticket: BanTicket, now: f64) -> Added {
        let end = ticket.end(self.ban_time);
        if end < now {
            return Added::Expired;
        }
        if let Some(old) = self.list.get_mut(&ticket.id) {
            let mut prolonged = false;
            if end > old.end(self.ban_time) {
                prolonged = true;
                let mut t = ticket.ban_time(self.ban_time);
                if t != -1.0 && ticket.time > old.time {
                    t += ticket.time - old.time;
                }
                old.ban_time = Some(t);
                self.next_unban = self.next_unban.min(old.end(self.ban_time));
            }
            return Added::AlreadyBanned { prolonged };
        }
        ticket.ban_count += 1;
        self.total += 1;
        self.next_unban = self.next_unban.min(end);
        self.list.insert(ticket.id.clone(), ticket);
        Added::Banned
    }

    /// Takes out the bans that ended before `now` (at most `max`), in
    /// list order.
    pub fn unban_due(&mut self, now: f64, max: usize) -> Vec<BanTicket> {
        if self.next_unban > now {
            return Vec::new();
        }
        let default = self.ban_time;
        let due: std::collections::HashSet<String> = self
            .list
            .iter()
            .filter(|(_, t)| now > t.end(default))
            .take(max)
            .map(|(k, _)| k.to_string())
            .collect();
        // In list order; one pass removes them all.
        let out: Vec<BanTicket> = self
            .list
            .values()
            .filter(|t| due.contains(&t.id))
            .cloned()
            .collect();
        if !out.is_empty() {
            self.list.retain(|k, _| !due.contains(k));
        }
        self.next_unban = self
            .list
            .values()
            .map(|t| t.end(default))
            .fold(FOREVER, f64::min);
        out
    }

    /// When the next ban ends (for the actions thread's sleep).
    pub fn next_unban(&self) -> f64 {
        self.next_unban
    }

    /// Removes one id (unban by hand).
    pub fn remove(&mut self, id: &str) -> Option<BanTicket> {
        self.list.remove(id)
    }

    /// Removes every ban, in list order (stop, `unban --all`).
    pub fn flush(&mut self) -> Vec<BanTicket> {
        self.next_unban = FOREVER;
        self.list.drain().into_iter().map(|(_, t)| t).collect()
    }

    pub fn get(&self, id: &str) -> Option<&BanTicket> {
        self.list.get(id)
    }

    /// Banned ids in the order they were banned.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.list.keys()
    }

    pub fn tickets(&self) -> impl Iterator<Item = &BanTicket> {
        self.list.values()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(id: &str, time: f64) -> BanTicket {
        BanTicket::manual(id, time)
    }

    #[test]
    fn bans_end_bantime_after_the_last_failure() {
        let mut m = BanManager::default();
        assert_eq!(m.add(ticket("192.0.2.1", 100.0), 150.0), Added::Banned);
        assert_eq!(m.next_unban(), 700.0);
        assert!(m.unban_due(700.0, usize::MAX).is_empty());
        let out = m.unban_due(700.5, usize::MAX);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].ban_count, 1);
        assert!(m.is_empty());
        assert_eq!(m.total, 1);
    }

    #[test]
    fn old_failures_make_no_ban() {
        let mut m = BanManager::default();
        assert_eq!(m.add(ticket("192.0.2.2", 0.0), 601.0), Added::Expired);
        assert!(m.is_empty());
    }

    #[test]
    fn a_later_ticket_prolongs_the_ban() {
        let mut m = BanManager::default();
        m.add(ticket("192.0.2.3", 0.0), 0.0);
        assert_eq!(
            m.add(ticket("192.0.2.3", 100.0), 100.0),
            Added::AlreadyBanned { prolonged: true }
        );
        assert_eq!(m.get("192.0.2.3").map(|t| t.end(600.0)), Some(700.0));
        assert_eq!(
            m.add(ticket("192.0.2.3", 50.0), 100.0),
            Added::AlreadyBanned { prolonged: false }
        );
        assert_eq!(m.total, 1);
    }

    #[test]
    fn permanent_bans_never_end() {
        let mut m = BanManager {
            ban_time: -1.0,
            ..BanManager::default()
        };
        m.add(ticket("192.0.2.4", 0.0), 0.0);
        assert!(m.unban_due(1e12, usize::MAX).is_empty());
        assert_eq!(m.flush().len(), 1);
    }

    #[test]
    fn unbans_come_in_ban_order_and_respect_max() {
        let mut m = BanManager::default();
        for (i, ip) in ["192.0.2.5", "192.0.2.6", "192.0.2.7"].iter().enumerate() {
            m.add(ticket(ip, i as f64), 0.0);
        }
        let first: Vec<String> = m.unban_due(1000.0, 2).into_iter().map(|t| t.id).collect();
        assert_eq!(first, ["192.0.2.5", "192.0.2.6"]);
        assert_eq!(m.ids().collect::<Vec<_>>(), ["192.0.2.7"]);
        assert_eq!(m.next_unban(), 602.0);
    }
}
