//! What the filter hands to the jail: one failure, with its id and data.
//!
//! Also fail2ban's text form of an address (`IPAddr.ntoa`): the failure id
//! is compared and printed in that canonical form, so `2001:DB8::0:1` and
//! `2001:db8::1` count as one host, and `<SUBNET>` ids carry their `/plen`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// Named-group values of a match, as Python's `groupdict()` gives them:
/// every group name is present, `None` when the group did not take part,
/// in insertion order like a Python dict. A filter regex has a dozen groups
/// at most, so a vector beats a map; names are shared with the compiled
/// regex, so building one allocates only the values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Groups(Vec<(Arc<str>, Option<String>)>);

impl Groups {
    pub fn new() -> Groups {
        Groups(Vec::new())
    }

    pub fn with_capacity(n: usize) -> Groups {
        Groups(Vec::with_capacity(n))
    }

    pub fn get(&self, k: &str) -> Option<&Option<String>> {
        self.0.iter().find(|(n, _)| n.as_ref() == k).map(|(_, v)| v)
    }

    /// Sets a value, keeping the place of an existing name.
    pub fn insert(&mut self, k: &str, v: Option<String>) {
        match self.0.iter_mut().find(|(n, _)| n.as_ref() == k) {
            Some(slot) => slot.1 = v,
            None => self.0.push((interned(k), v)),
        }
    }

    /// `insert` for a name already shared.
    pub fn insert_shared(&mut self, k: Arc<str>, v: Option<String>) {
        match self.0.iter_mut().find(|(n, _)| *n == k) {
            Some(slot) => slot.1 = v,
            None => self.0.push((k, v)),
        }
    }

    /// Appends a name known not to be present yet.
    pub(crate) fn push_new(&mut self, k: Arc<str>, v: Option<String>) {
        debug_assert!(self.get(&k).is_none());
        self.0.push((k, v));
    }

    pub fn remove(&mut self, k: &str) -> Option<Option<String>> {
        let p = self.position(k)?;
        Some(self.0.remove(p).1)
    }

    pub fn position(&self, k: &str) -> Option<usize> {
        self.0.iter().position(|(n, _)| n.as_ref() == k)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &Option<String>)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

/// One shared copy of each group name, so that naming a group (e.g.
/// `mlfid` or `nofail` set by the matcher) allocates only the first time.
fn interned(k: &str) -> Arc<str> {
    thread_local! {
        static NAMES: std::cell::RefCell<Vec<Arc<str>>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    NAMES.with_borrow_mut(|names| {
        if let Some(n) = names.iter().find(|n| n.as_ref() == k) {
            return n.clone();
        }
        let n: Arc<str> = Arc::from(k);
        // Group names come from filter files: a few dozen at most.
        if names.len() < 256 {
            names.push(n.clone());
        }
        n
    })
}

impl IntoIterator for Groups {
    type Item = (Arc<str>, Option<String>);
    type IntoIter = std::vec::IntoIter<(Arc<str>, Option<String>)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl Extend<(Arc<str>, Option<String>)> for Groups {
    /// Python's `dict.update`.
    fn extend<I: IntoIterator<Item = (Arc<str>, Option<String>)>>(&mut self, it: I) {
        for (k, v) in it {
            self.insert_shared(k, v);
        }
    }
}

impl FromIterator<(Arc<str>, Option<String>)> for Groups {
    fn from_iter<I: IntoIterator<Item = (Arc<str>, Option<String>)>>(it: I) -> Self {
        let mut g = Groups::new();
        g.extend(it);
        g
    }
}

impl std::ops::Index<&str> for Groups {
    type Output = Option<String>;
    /// For tests: the value of a group that must exist.
    fn index(&self, k: &str) -> &Option<String> {
        self.get(k).unwrap_or(&None)
    }
}

/// A log line split around its date: (before, date, after).
///
/// The text is shared (`Arc`): the multi-line buffer, the matched lines
/// and the failure all hold the same line without copying it.
#[derive(Clone, Debug, Default)]
pub struct TupleLine {
    text: Arc<str>,
    /// Byte span of the date in `text`.
    start: usize,
    end: usize,
    /// A date taken from an earlier line (placed before `text`).
    date: Option<Arc<str>>,
}

impl PartialEq for TupleLine {
    /// By value, as Python compares its (before, date, after) tuples.
    fn eq(&self, o: &TupleLine) -> bool {
        self.pre() == o.pre() && self.date() == o.date() && self.post() == o.post()
    }
}

impl TupleLine {
    /// A line whose bytes `start..end` are its date.
    pub fn cut(text: &str, start: usize, end: usize) -> TupleLine {
        TupleLine {
            text: Arc::from(text),
            start,
            end,
            date: None,
        }
    }

    /// A line without a date of its own, dated by an earlier line's text.
    pub fn dated_by(text: &str, date: Option<Arc<str>>) -> TupleLine {
        TupleLine {
            date,
            ..TupleLine::plain(text)
        }
    }

    /// A line with no date in it.
    pub fn plain(text: &str) -> TupleLine {
        TupleLine {
            text: Arc::from(text),
            ..TupleLine::default()
        }
    }

    pub fn pre(&self) -> &str {
        &self.text[..self.start]
    }

    pub fn date(&self) -> &str {
        match &self.date {
            Some(d) => d,
            None => &self.text[self.start..self.end],
        }
    }

    pub fn post(&self) -> &str {
        &self.text[self.end..]
    }

    /// The line as logged.
    pub fn joined(&self) -> String {
        [self.pre(), self.date(), self.post()].concat()
    }

    pub(crate) fn push_stripped(&self, out: &mut String) {
        out.push_str(self.pre());
        out.push_str(self.post());
    }

    /// The line with its date cut out, as the regexes see it.
    pub fn stripped(&self) -> String {
        [self.pre(), self.post()].concat()
    }
}

/// Data carried by a failure (fail2ban's ticket `data`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FailData {
    pub groups: Groups,
    /// The log lines (with their dates) that make up this failure.
    pub matches: Vec<TupleLine>,
    /// Lines held back while a multi-line failure said "no failure yet".
    pub nofail_matches: Vec<TupleLine>,
    /// Users seen on one multi-line connection (F-MLFID).
    pub users: Vec<String>,
    /// Where fail2ban's `users` key stands among the groups (how many
    /// groups its dict held when the key was added), for `-o row`.
    pub users_at: Option<usize>,
    /// A failure waiting for its id (multi-line).
    pub pending: bool,
    /// The address when the failure id is something else (`<F-ID>`).
    pub ip: Option<String>,
}

impl FailData {
    /// A group's value when it took part in the match.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.groups.get(k).and_then(|v| v.as_deref())
    }

    /// Python truthiness of a group: present and non-empty.
    pub fn truthy(&self, k: &str) -> bool {
        self.get(k).is_some_and(|v| !v.is_empty())
    }

    /// Removes a group (Python's `dict.pop`), keeping `users` in place.
    pub fn take(&mut self, k: &str) -> Option<String> {
        let p = self.groups.position(k)?;
        if let Some(at) = self.users_at.as_mut().filter(|at| **at > p) {
            *at -= 1;
        }
        self.groups.remove(k).flatten()
    }
}

/// One failure found in the log.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// Index of the failregex that matched.
    pub regex: usize,
    /// Failure id in fail2ban's text form (usually the address); None for
    /// a multi-line failure still waiting for it (fail2ban-regex shows those).
    pub id: Option<String>,
    /// Epoch seconds of the line (now, for a line without a date).
    pub time: f64,
    /// Where the time came from; only printing differs.
    pub stamp: Stamp,
    pub data: FailData,
}

/// How fail2ban holds a failure's time, which shows when it prints it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Stamp {
    /// A Python float (local dates, epochs).
    #[default]
    Float,
    /// A Python int (dates with a zone, TAI64N).
    Int,
    /// No date in the line: `None` in a row, now elsewhere.
    Missing,
}

/// fail2ban's `IPAddr(text, cidr)` rendered back to text.
///
/// `family_hint` restricts parsing to IPv4 or IPv6 (the group that matched);
/// `plen` masks the address (from a `<CIDR>` group). Text that is no
/// address stays as it is, like fail2ban's "raw" addresses.
pub fn ip_text(text: &str, family_hint: Option<Family>, plen: Option<u32>) -> String {
    let parsed: Option<IpAddr> = match family_hint {
        Some(Family::V4) => text.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
        Some(Family::V6) => text.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
        None => text.parse::<IpAddr>().ok(),
    };
    let Some(addr) = parsed else {
        return text.to_string();
    };
    match addr {
        // Rust reads only the canonical dotted quad (no leading zeros,
        // four parts): the text is already what `v4_text` would print.
        IpAddr::V4(_) if plen.is_none() => text.to_string(),
        IpAddr::V4(a) => v4_text(a, plen),
        IpAddr::V6(a) => {
            if let Some(p) = plen.filter(|p| *p < 128) {
                let bits = u128::from(a) & (!0u128).checked_shl(128 - p).unwrap_or(0);
                return format!("{}/{p}", v6_text(Ipv6Addr::from(bits)));
            }
            // IPv4-mapped addresses count as their IPv4 address.
            if let (None, Some(v4)) = (plen, a.to_ipv4_mapped()) {
                return v4_text(v4, None);
            }
            v6_text(a)
        }
    }
}

fn v4_text(a: Ipv4Addr, plen: Option<u32>) -> String {
    match plen.filter(|p| *p < 32) {
        Some(p) => {
            let bits = u32::from(a) & (!0u32).checked_shl(32 - p).unwrap_or(0);
            // fail2ban prints no `/0`: a zero prefix means "no prefix" there.
            if p == 0 {
                Ipv4Addr::from(bits).to_string()
            } else {
                format!("{}/{p}", Ipv4Addr::from(bits))
            }
        }
        None => a.to_string(),
    }
}

/// glibc's `inet_ntop` form, which differs from Rust's for `::a.b.c.d`.
fn v6_text(a: Ipv6Addr) -> String {
    let seg = a.segments();
    if seg[..6] == [0; 6] && (seg[6] != 0 || seg[7] > 1) {
        let o = a.octets();
        return format!("::{}.{}.{}.{}", o[12], o[13], o[14], o[15]);
    }
    a.to_string()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

/// Python's `str()` of a float, as `<time>` prints it.
pub fn py_float(t: f64) -> String {
    if t.is_finite() && t.fract() == 0.0 && t.abs() < 1e15 && !(t == 0.0 && t.is_sign_negative()) {
        // Whole seconds (most log dates): integer text, no float formatting.
        format!("{}.0", t as i64)
    } else if t.is_finite() && t.fract() == 0.0 && t.abs() < 1e16 {
        format!("{t:.1}")
    } else {
        format!("{t}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_python_repr() {
        for (t, want) in [
            (1763463999.0, "1763463999.0"),
            (-5.0, "-5.0"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (1.5, "1.5"),
            (1e15, "1000000000000000.0"),
        ] {
            assert_eq!(py_float(t), want);
        }
    }

    #[test]
    fn canonical_addresses() {
        assert_eq!(ip_text("192.0.2.7", Some(Family::V4), None), "192.0.2.7");
        assert_eq!(
            ip_text("2001:DB8:0::1", Some(Family::V6), None),
            "2001:db8::1"
        );
        assert_eq!(
            ip_text("::ffff:192.0.2.1", Some(Family::V6), None),
            "192.0.2.1"
        );
        assert_eq!(
            ip_text("192.0.2.77", Some(Family::V4), Some(24)),
            "192.0.2.0/24"
        );
        assert_eq!(
            ip_text("2001:db8::5", Some(Family::V6), Some(64)),
            "2001:db8::/64"
        );
        assert_eq!(ip_text("999.1.1.1", Some(Family::V4), None), "999.1.1.1");
        assert_eq!(ip_text("host.example", None, None), "host.example");
    }

    #[test]
    fn python_float_text() {
        assert_eq!(py_float(1700000000.0), "1700000000.0");
        assert_eq!(py_float(1700000000.25), "1700000000.25");
    }
}
