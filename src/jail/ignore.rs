//! `ignoreip` and `ignoreself`: addresses a jail never bans.
//!
//! An `ignoreip` entry is an address, a network (`192.0.2.0/24`,
//! `192.0.2.0/255.255.255.0`, `2001:db8::/32`) or a host name, which
//! matches the addresses it resolves to. Resolving is I/O, so names go
//! through a `Resolver` and the host's own addresses (`ignoreself`) are
//! passed in by the caller.

use std::net::IpAddr;

use crate::filter::matcher::Resolver;

/// One `ignoreip` entry.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    Net { addr: IpAddr, prefix: u8 },
    Name(String),
}

impl Entry {
    /// Reads one entry as fail2ban does: an address with an optional
    /// `/prefix` or `/netmask`, else a host name.
    pub fn parse(text: &str) -> Entry {
        let (a, p) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        if let Ok(addr) = a.parse::<IpAddr>() {
            let full = if addr.is_ipv4() { 32 } else { 128 };
            let prefix = match p {
                None => Some(full),
                Some(p) => p
                    .parse::<u8>()
                    .ok()
                    .filter(|n| *n <= full)
                    .or_else(|| netmask_prefix(p, addr.is_ipv4())),
            };
            if let Some(prefix) = prefix {
                return Entry::Net { addr, prefix };
            }
        }
        Entry::Name(text.to_string())
    }

    fn contains(&self, ip: IpAddr, resolver: &dyn Resolver) -> bool {
        match self {
            Entry::Net { addr, prefix } => in_net(ip, *addr, *prefix),
            Entry::Name(n) => resolver
                .resolve(n)
                .iter()
                .filter_map(|a| a.parse::<IpAddr>().ok())
                .any(|a| a == ip),
        }
    }
}

/// A dotted netmask as a prefix length (contiguous masks only).
fn netmask_prefix(mask: &str, v4: bool) -> Option<u8> {
    let m: std::net::Ipv4Addr = mask.parse().ok().filter(|_| v4)?;
    let bits = u32::from(m);
    let ones = bits.leading_ones();
    (bits.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

fn in_net(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    let ip = match ip {
        // IPv4-mapped IPv6 addresses count as their IPv4 address.
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Why an id was not banned (fail2ban logs "Ignore <ip> by <source>").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Ip,
    Dns,
    Selfs,
    /// `ignorecommand` said so (exit status 0).
    Command,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Ip => "ip",
            Source::Dns => "dns",
            Source::Selfs => "ignoreself rule",
            Source::Command => "command",
        })
    }
}

/// A jail's ignore rules.
#[derive(Clone, Debug, Default)]
pub struct IgnoreList {
    /// `ignoreip` entries in the order given (listed by `get <jail> ignoreip`).
    pub entries: Vec<(String, Entry)>,
    /// `ignoreself`: the host's own addresses are never banned.
    pub ignore_self: bool,
    /// This host's addresses, found by the caller (the server looks them
    /// up): fail2ban's `getSelfIPs`, 127.0.0.1 and ::1 but not all of 127/8.
    pub own: Vec<IpAddr>,
}

impl IgnoreList {
    /// Parses `ignoreip`'s value: entries split on spaces and commas.
    pub fn set_from_option(&mut self, value: &str) {
        self.entries.clear();
        for e in value
            .split([' ', ',', '\t', '\n'])
            .filter(|e| !e.is_empty())
        {
            self.add(e);
        }
    }

    pub fn add(&mut self, text: &str) {
        if !self.entries.iter().any(|(t, _)| t == text) {
            self.entries.push((text.to_string(), Entry::parse(text)));
        }
    }

    pub fn remove(&mut self, text: &str) {
        self.entries.retain(|(t, _)| t != text);
    }

    /// Why `id` must not be banned, if it must not. Ids that are no
    /// address (e.g. user names from `<F-ID>`) match only by text.
    pub fn check(&self, id: &str, resolver: &dyn Resolver) -> Option<Source> {
        let Ok(ip) = id.parse::<IpAddr>() else {
            return self
                .entries
                .iter()
                .any(|(t, _)| t == id)
                .then_some(Source::Ip);
        };
        if self.ignore_self && self.own.contains(&ip) {
            return Some(Source::Selfs);
        }
        self.entries.iter().find_map(|(_, e)| {
            e.contains(ip, resolver).then_some(match e {
                Entry::Net { .. } => Source::Ip,
                Entry::Name(_) => Source::Dns,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::matcher::NoResolver;

    struct OneName;
    impl Resolver for OneName {
        fn resolve(&self, name: &str) -> Vec<String> {
            if name == "gw.example.org" {
                vec!["192.0.2.254".into()]
            } else {
                Vec::new()
            }
        }
    }

    #[test]
    fn addresses_networks_and_names() {
        let mut l = IgnoreList::default();
        l.set_from_option(
            "192.0.2.10 198.51.100.0/24, 203.0.113.0/255.255.255.128 2001:db8::/32 gw.example.org",
        );
        assert_eq!(l.check("192.0.2.10", &OneName), Some(Source::Ip));
        assert_eq!(l.check("192.0.2.11", &OneName), None);
        assert_eq!(l.check("198.51.100.77", &OneName), Some(Source::Ip));
        assert_eq!(l.check("203.0.113.127", &OneName), Some(Source::Ip));
        assert_eq!(l.check("203.0.113.128", &OneName), None);
        assert_eq!(l.check("2001:db8:1::5", &OneName), Some(Source::Ip));
        assert_eq!(l.check("::ffff:198.51.100.1", &OneName), Some(Source::Ip));
        assert_eq!(l.check("192.0.2.254", &OneName), Some(Source::Dns));
        assert_eq!(l.check("192.0.2.254", &NoResolver), None);
    }

    #[test]
    fn self_and_edits() {
        let mut l = IgnoreList {
            ignore_self: true,
            own: vec![
                "127.0.0.1".parse().expect("v4"),
                "192.0.2.1".parse().expect("address"),
            ],
            ..IgnoreList::default()
        };
        assert_eq!(l.check("127.0.0.1", &NoResolver), Some(Source::Selfs));
        // Only this host's own addresses, not all of 127/8 (as fail2ban).
        assert_eq!(l.check("127.175.229.74", &NoResolver), None);
        assert_eq!(l.check("192.0.2.1", &NoResolver), Some(Source::Selfs));
        l.add("192.0.2.2");
        l.add("192.0.2.2");
        assert_eq!(l.entries.len(), 1);
        l.remove("192.0.2.2");
        assert_eq!(l.check("192.0.2.2", &NoResolver), None);
        l.add("bob");
        assert_eq!(l.check("bob", &NoResolver), Some(Source::Ip));
    }
}
