//! Multi-line failures tied by a connection id (`<F-MLFID>`).
//!
//! Some services log one attempt over several lines, linked by a session
//! or connection id rather than by the address. fail2ban keeps the data of
//! each open id in a small cache and merges every new line's groups into
//! it, honouring `<F-NOFAIL>` (not a failure yet), `<F-MLFFORGET>` (the
//! connection ended) and `<F-MLFGAINED>` (the user got in: forget failures).
//! This module reproduces that merge, flag for flag.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use super::failure::{FailData, TupleLine};

/// fail2ban keeps at most 100 ids, each for 5 minutes (wall clock).
const MAX_COUNT: usize = 100;
const MAX_TIME: f64 = 300.0;

#[derive(Clone)]
struct Entry {
    /// Insertion number, to tell a live `order` slot from a stale one.
    seq: u64,
    expires: f64,
    data: FailData,
}

/// FNV-1a: ids are short and the map holds 100 of them at most, so even
/// ids an attacker chose to collide cost a scan of 100 entries, while
/// SipHash would cost more than the rest of a merge on every line.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// The open multi-line ids: looked up by id, evicted oldest first.
#[derive(Clone, Default)]
pub struct MlfidCache {
    map: HashMap<String, Entry, BuildHasherDefault<Fnv>>,
    order: VecDeque<(u64, String)>,
    next_seq: u64,
}

const NOFAIL: u8 = 1;
const FORGET: u8 = 2;
const PREV_NOFAIL: u8 = 4;
const GAINED: u8 = 8;

impl MlfidCache {
    pub(crate) fn live(&self, id: &str, wall: f64) -> bool {
        self.map.get(id).is_some_and(|e| e.expires > wall)
    }

    fn remove(&mut self, id: &str) {
        self.map.remove(id);
        // `order` keeps a stale slot; it is skipped when reached.
        if self.order.len() > 4 * MAX_COUNT {
            let map = &self.map;
            self.order
                .retain(|(seq, k)| map.get(k).is_some_and(|e| e.seq == *seq));
        }
    }

    /// A new id at the end, evicting the oldest as fail2ban's `Cache.set`.
    fn insert(&mut self, id: &str, data: FailData, wall: f64) {
        self.remove(id);
        if self.map.len() >= MAX_COUNT {
            while let Some((seq, k)) = self.order.pop_front() {
                let Some(e) = self.map.get(&k).filter(|e| e.seq == seq) else {
                    continue;
                };
                let expired = e.expires <= wall;
                self.map.remove(&k);
                if !expired && self.map.len() < MAX_COUNT {
                    break;
                }
            }
        }
        self.next_seq += 1;
        let seq = self.next_seq;
        self.order.push_back((seq, id.to_string()));
        self.map.insert(
            id.to_string(),
            Entry {
                seq,
                expires: wall + MAX_TIME,
                data,
            },
        );
    }

    /// Writes back the state of an id that is still cached (fail2ban's
    /// cached dict is the same object as the failure it returned).
    pub fn update(&mut self, id: &str, data: &FailData) {
        if let Some(e) = self.map.get_mut(id) {
            e.data = data.clone();
        }
    }

    /// Merges one matched line into the id's cached data and returns the
    /// failure as fail2ban's `_mergeFailure` would, plus whether the result
    /// stays linked to the cache (later changes must be written back).
    /// A result that is no failure comes back only with `keep_nofail`
    /// (otherwise the caller drops it: it stays in the cache alone).
    pub fn merge(
        &mut self,
        id: &str,
        mut fail: FailData,
        matched_lines: &[TupleLine],
        wall: f64,
        keep_nofail: bool,
    ) -> Option<(FailData, bool)> {
        let mut flags = 0u8;
        if fail.truthy("mlfgained") {
            flags |= GAINED | NOFAIL;
            if !fail.truthy("nofail") {
                let g = fail.get("mlfgained").map(str::to_string);
                fail.groups.insert("nofail", g);
            }
        } else if fail.truthy("nofail") {
            flags |= NOFAIL;
        }
        if fail.take("mlfforget").is_some_and(|v| !v.is_empty()) {
            flags |= FORGET;
        }
        let user = fail
            .get("user")
            .filter(|u| !u.is_empty())
            .map(str::to_string);
        // Where the result lives in the cache: an existing slot keeps its
        // place and expiry (fail2ban mutates the cached dict in place).
        let mut slot: Option<bool> = None;
        let users_len;
        if self.live(id, wall) {
            // Taken out, merged, and put back (or dropped on forget) below.
            let mut cached = self
                .map
                .get_mut(id)
                .map(|e| std::mem::take(&mut e.data))
                .unwrap_or_default();
            if let Some(u) = user.filter(|u| !cached.users.contains(u)) {
                cached.users_at.get_or_insert(cached.groups.len());
                cached.users.push(u);
            }
            users_len = cached.users.len();
            if cached.take("nofail").is_some_and(|v| !v.is_empty()) {
                flags |= PREV_NOFAIL;
            }
            if cached.take("mlfgained").is_some_and(|v| !v.is_empty()) {
                flags |= PREV_NOFAIL;
            }
            if flags & GAINED != 0 {
                cached.pending = false;
            }
            if flags & PREV_NOFAIL == 0 && !cached.pending {
                cached.matches.clear();
            }
            for (k, v) in fail.groups {
                if v.is_some() {
                    cached.groups.insert_shared(k, v);
                }
            }
            cached.pending |= fail.pending;
            if !fail.matches.is_empty() {
                cached.matches = fail.matches;
            }
            fail = cached;
            if flags & FORGET != 0 {
                self.remove(id);
            } else {
                slot = Some(true);
            }
        } else if flags & FORGET == 0 {
            if let Some(u) = user {
                fail.users_at.get_or_insert(fail.groups.len());
                fail.users.push(u);
            }
            users_len = fail.users.len();
            slot = Some(false);
        } else {
            users_len = 0;
        }
        let pending = std::mem::take(&mut fail.pending);
        if pending || users_len > 1 {
            fail.take("nofail");
            fail.take("mlfgained");
            flags &= !(GAINED | NOFAIL);
        }
        if flags & NOFAIL == 0 {
            let mut m = std::mem::take(&mut fail.nofail_matches);
            m.append(&mut fail.matches);
            if flags & GAINED == 0 {
                m.extend_from_slice(matched_lines);
            }
            fail.matches = m;
        } else if flags & (NOFAIL | FORGET) == NOFAIL {
            fail.nofail_matches.extend_from_slice(matched_lines);
        }
        if !keep_nofail && fail.truthy("nofail") {
            match slot {
                Some(true) => {
                    if let Some(e) = self.map.get_mut(id) {
                        e.data = fail;
                    }
                }
                Some(false) => self.insert(id, fail, wall),
                None => {}
            }
            return None;
        }
        match slot {
            Some(true) => self.update(id, &fail),
            Some(false) => self.insert(id, fail.clone(), wall),
            None => {}
        }
        Some((fail, slot.is_some()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> FailData {
        let mut d = FailData::default();
        for (k, v) in pairs {
            d.groups.insert(k, Some(v.to_string()));
        }
        d
    }

    #[test]
    fn nofail_lines_are_kept_until_a_failure() {
        let mut c = MlfidCache::default();
        let (f, _) = c
            .merge(
                "c1",
                data(&[("nofail", "x"), ("ip4", "192.0.2.1")]),
                &[TupleLine::plain("l1")],
                0.0,
                true,
            )
            .expect("kept");
        assert!(f.truthy("nofail"));
        let (f, _) = c
            .merge(
                "c1",
                data(&[("user", "bob")]),
                &[TupleLine::plain("l2")],
                1.0,
                false,
            )
            .expect("a failure");
        assert!(!f.truthy("nofail"));
        assert_eq!(f.get("ip4"), Some("192.0.2.1"));
        assert_eq!(
            f.matches,
            vec![TupleLine::plain("l1"), TupleLine::plain("l2")]
        );
    }

    #[test]
    fn oldest_ids_are_evicted_first() {
        let mut c = MlfidCache::default();
        for i in 0..=MAX_COUNT {
            let dropped = c.merge(&format!("c{i}"), data(&[("nofail", "x")]), &[], 0.0, false);
            assert!(dropped.is_none());
        }
        assert!(!c.live("c0", 1.0));
        assert!(c.live("c1", 1.0) && c.live(&format!("c{MAX_COUNT}"), 1.0));
        assert_eq!(c.map.len(), MAX_COUNT);
    }

    #[test]
    fn forget_drops_the_id() {
        let mut c = MlfidCache::default();
        c.merge(
            "c1",
            data(&[("nofail", "x")]),
            &[TupleLine::plain("l1")],
            0.0,
            false,
        );
        let (_, linked) = c
            .merge(
                "c1",
                data(&[("mlfforget", "y")]),
                &[TupleLine::plain("l2")],
                1.0,
                false,
            )
            .expect("a failure");
        assert!(!linked);
        assert!(!c.live("c1", 1.0));
    }
}
