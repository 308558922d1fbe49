//! Failures per address within `findtime`, and the decision to ban.
//!
//! fail2ban does not keep every failure time. Each address has one ticket
//! with a retry count, the time of its first and last failure, and its
//! last `maxmatches` log lines. When a failure comes more than `findtime`
//! after the first one, the count is scaled to the rate seen so far
//! (`adjust_time`), and tickets whose last failure is older than
//! `findtime` are dropped now and then (`cleanup`). A ticket leaves for the
//! ban list once its count reaches `maxretry` (`to_ban`). Ban decisions
//! follow from these exact rules, so they are kept as fail2ban has them.

use std::collections::HashMap;

/// One address's failures, as fail2ban's `FailTicket`.
#[derive(Clone, Debug, PartialEq)]
pub struct FailTicket {
    /// The failure id: usually the address in fail2ban's text form.
    pub id: String,
    /// Start of the window the count covers.
    pub first_time: f64,
    /// Time of the last failure.
    pub time: f64,
    /// The count compared with `maxretry` (scaled, see `adjust_time`).
    pub retry: u32,
    /// Failures seen in all (fail2ban's `failures`, `<failures>` tag).
    pub failures: u32,
    /// The last log lines of these failures (at most `maxmatches`).
    pub matches: Vec<String>,
    /// What the filter captured on the first of them (`<F-USER>` ...):
    /// fail2ban keeps the first failure's data for the ticket.
    pub captures: Vec<(String, String)>,
}

impl FailTicket {
    /// A first failure at `time`.
    pub fn new(id: &str, time: f64, matches: Vec<String>) -> FailTicket {
        FailTicket {
            id: id.to_string(),
            first_time: time,
            time,
            retry: 1,
            failures: 1,
            matches,
            captures: Vec::new(),
        }
    }

    /// A later failure at `time`: when the window grew beyond `find_time`,
    /// the count becomes the rate seen so far times `find_time`.
    fn adjust_time(&mut self, time: f64, find_time: f64) {
        if time > self.time {
            if self.first_time < time - find_time {
                let rate = f64::from(self.retry) / (time - self.first_time);
                // Python's round() rounds halves to even.
                self.retry = (rate * find_time).round_ties_even().max(0.0) as u32;
                self.first_time = time - find_time;
            }
            self.time = time;
        }
    }
}

/// The failures of one jail, by id. (Nothing depends on their order, so
/// a plain map: taking a ticket out for a ban costs nothing.)
#[derive(Debug)]
pub struct FailManager {
    list: HashMap<String, FailTicket>,
    pub max_retry: u32,
    /// `findtime` in seconds.
    pub find_time: f64,
    /// Log lines kept per ticket (`maxmatches`); 0 keeps none.
    pub max_matches: usize,
    /// Failures counted since start ("Total failed" in status).
    pub total: u64,
}

impl Default for FailManager {
    fn default() -> Self {
        // fail2ban's defaults before the jail's options are applied.
        FailManager {
            list: HashMap::new(),
            max_retry: 3,
            find_time: 600.0,
            max_matches: 5,
            total: 0,
        }
    }
}

impl FailManager {
    /// Counts one failure of `id` at `time` with its log lines; returns the
    /// id's count, to compare with `max_retry`.
    pub fn add_failure(&mut self, id: &str, time: f64, matches: Vec<String>) -> u32 {
        self.add_failure_with(id, time, matches, Vec::new())
    }

    /// `add_failure` with the filter's captures, which a new ticket keeps.
    pub fn add_failure_with(
        &mut self,
        id: &str,
        time: f64,
        matches: Vec<String>,
        captures: Vec<(String, String)>,
    ) -> u32 {
        self.total += 1;
        let (find_time, max_matches) = (self.find_time, self.max_matches);
        match self.list.get_mut(id) {
            Some(t) => {
                t.adjust_time(time, find_time);
                t.retry += 1;
                t.failures += 1;
                if max_matches > 0 {
                    t.matches.extend(matches);
                    let excess = t.matches.len().saturating_sub(max_matches);
                    t.matches.drain(..excess);
                } else {
                    t.matches.clear();
                }
                t.retry
            }
            None => {
                let mut t = FailTicket::new(id, time, matches);
                t.captures = captures;
                if max_matches == 0 {
                    t.matches.clear();
                }
                self.list.insert(id.to_string(), t);
                1
            }
        }
    }

    /// Drops tickets whose last failure is `findtime` or more before `now`.
    pub fn cleanup(&mut self, now: f64) {
        let limit = now - self.find_time;
        self.list.retain(|_, t| t.time > limit);
    }

    /// Takes `id`'s ticket out when its count reached `max_retry`.
    pub fn to_ban(&mut self, id: &str) -> Option<FailTicket> {
        let ready = self.list.get(id).is_some_and(|t| t.retry >= self.max_retry);
        if ready { self.list.remove(id) } else { None }
    }

    /// Forgets an id (e.g. once it is banned by hand).
    pub fn remove(&mut self, id: &str) {
        self.list.remove(id);
    }

    /// Addresses with failures now ("Currently failed" in status).
    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&FailTicket> {
        self.list.get(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manager(max_retry: u32, find_time: f64) -> FailManager {
        FailManager {
            max_retry,
            find_time,
            ..FailManager::default()
        }
    }

    #[test]
    fn bans_at_maxretry_within_findtime() {
        let mut m = manager(3, 600.0);
        assert_eq!(m.add_failure("192.0.2.1", 1000.0, vec![]), 1);
        assert_eq!(m.add_failure("192.0.2.1", 1010.0, vec![]), 2);
        assert!(m.to_ban("192.0.2.1").is_none());
        assert_eq!(m.add_failure("192.0.2.1", 1020.0, vec![]), 3);
        let t = m.to_ban("192.0.2.1").expect("ready");
        assert_eq!(
            (t.retry, t.failures, t.first_time, t.time),
            (3, 3, 1000.0, 1020.0)
        );
        assert!(m.is_empty());
        assert_eq!(m.total, 3);
    }

    #[test]
    fn slow_failures_are_scaled_to_their_rate() {
        let mut m = manager(3, 600.0);
        m.add_failure("192.0.2.2", 0.0, vec![]);
        m.add_failure("192.0.2.2", 500.0, vec![]);
        // 2 failures in 1200 s: 1 per 600 s, plus this one.
        assert_eq!(m.add_failure("192.0.2.2", 1200.0, vec![]), 2);
        let t = m.get("192.0.2.2").expect("kept");
        assert_eq!((t.first_time, t.failures), (600.0, 3));
        let mut m = manager(5, 400.0);
        for at in [0.0, 100.0, 200.0] {
            m.add_failure("192.0.2.3", at, vec![]);
        }
        // 3 / 1000 * 400 = 1.2 -> 1, plus this one.
        assert_eq!(m.add_failure("192.0.2.3", 1000.0, vec![]), 2);
        let mut m = manager(5, 100.0);
        m.add_failure("192.0.2.4", 0.0, vec![]);
        // 1 / 200 * 100 = 0.5 -> 0: halves round to even, as Python's
        // round() does; plus this one.
        assert_eq!(m.add_failure("192.0.2.4", 200.0, vec![]), 1);
    }

    #[test]
    fn cleanup_drops_old_tickets() {
        let mut m = manager(3, 600.0);
        m.add_failure("192.0.2.5", 0.0, vec![]);
        m.add_failure("192.0.2.6", 101.0, vec![]);
        m.add_failure("192.0.2.7", 700.0, vec![]);
        m.add_failure("192.0.2.8", 100.0, vec![]);
        // Exactly findtime old counts as gone.
        m.cleanup(700.0);
        assert_eq!(m.len(), 2);
        assert!(m.get("192.0.2.5").is_none() && m.get("192.0.2.8").is_none());
        m.cleanup(1300.0);
        assert_eq!(m.len(), 0);
    }

    #[test]
    fn matches_keep_the_last_maxmatches() {
        let mut m = manager(10, 600.0);
        m.max_matches = 2;
        for (i, line) in ["a", "b", "c"].iter().enumerate() {
            m.add_failure("192.0.2.8", i as f64, vec![line.to_string()]);
        }
        assert_eq!(m.get("192.0.2.8").expect("kept").matches, ["b", "c"]);
    }
}
