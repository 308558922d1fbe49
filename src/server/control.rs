//! What the server answers on its control socket (fail2ban's
//! `Transmitter`): each command's reply value, which the client turns into
//! text. Replies have fail2ban's shapes, so `fail2ban-client` prints what
//! fail2ban prints for the same state.

use std::sync::Arc;

use crate::config::stream::Value;
use crate::jail::bans::{Added, BanTicket};
use crate::jail::{Clock, SystemClock};

use super::jailrt::{Shared, ToActions};
use super::log::{Level, Logger};

/// What the control side can reach.
pub struct Control {
    /// The running jails (replaced on reload).
    pub jails: std::sync::RwLock<Vec<Arc<Shared>>>,
    pub log: Arc<Logger>,
    pub syslog_socket: String,
    pub dbfile: Option<String>,
    pub dbpurgeage: Option<i64>,
}

/// What a command asks the server to do beyond replying.
#[derive(Debug, PartialEq)]
pub enum After {
    Nothing,
    Shutdown,
    /// Re-read the configuration (the reply waits for it).
    Reload,
}

fn pair(k: &str, v: Value) -> Value {
    Value::Tuple(vec![Value::str(k), v])
}

fn strs<I: IntoIterator<Item = S>, S: Into<String>>(it: I) -> Value {
    Value::List(it.into_iter().map(|s| Value::Str(s.into())).collect())
}

fn unknown_jail(name: &str) -> String {
    format!("Sorry but the jail '{name}' does not exist")
}

impl Control {
    /// The jails running now.
    fn all(&self) -> Vec<Arc<Shared>> {
        self.jails.read().map(|j| j.clone()).unwrap_or_default()
    }

    fn jail(&self, name: &str) -> Result<Arc<Shared>, String> {
        self.all()
            .into_iter()
            .find(|j| j.name == name)
            .ok_or_else(|| unknown_jail(name))
    }

    /// The reply to one command.
    pub fn handle(&self, cmd: &[String]) -> (Result<Value, String>, After) {
        let w: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let r = match w.as_slice() {
            ["ping"] | ["ping", _] => Ok(Value::str("pong")),
            ["version"] => Ok(Value::str("1.0.2")),
            ["echo", rest @ ..] => Ok(strs(rest.iter().copied())),
            ["server-status"] => Ok(Value::str("Server ready")),
            ["stop"] => return (Ok(Value::None), After::Shutdown),
            // `reload [--restart] [--unban] [--all|--if-exists] [jail]`: every
            // jail is restarted on the new configuration (a named jail
            // too); `--unban` lifts the bans first.
            ["reload", opts @ ..]
                if opts
                    .iter()
                    .all(|o| o.starts_with("--") || self.jail(o).is_ok()) =>
            {
                if opts.contains(&"--unban") {
                    self.unban_all();
                }
                return (Ok(Value::str("OK")), After::Reload);
            }
            ["status"] => Ok(self.status()),
            ["status", jail] => self.jail(jail).map(|j| jail_status(&j, "basic")),
            ["status", jail, flavor] => self.jail(jail).map(|j| {
                if !FLAVORS.contains(flavor) {
                    self.log.log("fail2ban.actions", Level::Warning, &format!(
                        "Unsupported extended jail status flavor '{flavor}'. Supported: ['short', 'basic', 'cymru']"
                    ));
                }
                jail_status(&j, flavor)
            }),
            ["banned", ips @ ..] => Ok(self.banned(ips)),
            ["unban", "--all"] => Ok(Value::Int(self.unban_all())),
            ["unban", ips @ ..] if !ips.is_empty() => Ok(Value::Int(self.unban(None, ips))),
            ["flushlogs"] => Ok(match self.log.reopen() {
                Ok(()) => Value::str("rolled over"),
                Err(_) => Value::str("flushed"),
            }),
            ["get", "loglevel"] => Ok(Value::str(self.log.level().name())),
            ["get", "logtarget"] => Ok(Value::Str(self.log.target_name())),
            ["get", "syslogsocket"] => Ok(Value::Str(self.syslog_socket.clone())),
            ["get", "dbfile"] => Ok(self.dbfile.clone().map_or(Value::None, Value::Str)),
            ["get", "dbpurgeage"] => Ok(self.dbpurgeage.map_or(Value::None, Value::Int)),
            ["set", "loglevel", level] => match Level::parse(level) {
                Some(l) => {
                    self.log.set_level(l);
                    Ok(Value::str(l.name()))
                }
                None => Err(format!("Invalid log level {level:?}")),
            },
            ["set", "logtarget", target] => self
                .log
                .set_target(target, &self.syslog_socket)
                .map(|()| Value::str(*target))
                .map_err(|e| format!("Failed to change log target to {target}: {e}")),
            ["get", jail, what, rest @ ..] => self.jail(jail).and_then(|j| get(&j, what, rest)),
            ["set", jail, what, rest @ ..] => {
                self.jail(jail).and_then(|j| self.set(&j, what, rest))
            }
            _ => Err("Invalid command".to_string()),
        };
        (r, After::Nothing)
    }

    fn status(&self) -> Value {
        let all = self.all();
        let mut names: Vec<&str> = all.iter().map(|j| j.name.as_str()).collect();
        names.sort_unstable();
        Value::List(vec![
            pair("Number of jail", Value::Int(names.len() as i64)),
            pair("Jail list", Value::Str(names.join(", "))),
        ])
    }

    fn banned(&self, ips: &[&str]) -> Value {
        if ips.is_empty() {
            return Value::List(
                self.all()
                    .iter()
                    .map(|j| {
                        let ids: Vec<String> = j
                            .jail
                            .lock()
                            .map(|g| g.bans.ids().map(str::to_string).collect())
                            .unwrap_or_default();
                        Value::Dict(vec![(Value::Str(j.name.clone()), strs(ids))])
                    })
                    .collect(),
            );
        }
        Value::List(
            ips.iter()
                .map(|ip| {
                    strs(
                        self.all()
                            .iter()
                            .filter(|j| j.jail.lock().is_ok_and(|g| g.bans.get(ip).is_some()))
                            .map(|j| j.name.clone()),
                    )
                })
                .collect(),
        )
    }

    /// Unbans `ips` in `jail` (or every jail); returns how many were banned.
    fn unban(&self, jail: Option<&Shared>, ips: &[&str]) -> i64 {
        let jails = self.all();
        let chosen = jails
            .iter()
            .filter(|j| jail.is_none_or(|x| x.name == j.name));
        chosen
            .map(|j| {
                lift(j, |g| {
                    ips.iter().filter_map(|ip| g.bans.remove(ip)).collect()
                })
            })
            .sum()
    }

    fn unban_all(&self) -> i64 {
        self.all().iter().map(|j| lift(j, |g| g.bans.flush())).sum()
    }

    fn set(&self, j: &Shared, what: &str, rest: &[&str]) -> Result<Value, String> {
        let now = SystemClock.now();
        let mut g = j
            .jail
            .lock()
            .map_err(|_| "jail state unavailable".to_string())?;
        match (what, rest) {
            ("banip", ips) if !ips.is_empty() => {
                let mut n = 0;
                let mut tickets = Vec::new();
                for ip in ips {
                    if g.bans.add(BanTicket::manual(ip, now), now) == Added::Banned {
                        n += 1;
                        tickets.extend(g.bans.get(ip).cloned());
                    }
                }
                drop(g);
                if let Ok(tx) = j.to_actions.lock() {
                    for t in tickets {
                        let _ = tx.send(ToActions::Ban(t));
                    }
                }
                Ok(Value::Int(n))
            }
            ("unbanip", ips) if !ips.is_empty() => {
                drop(g);
                let ips: Vec<&str> = ips
                    .iter()
                    .copied()
                    .filter(|i| *i != "--report-absent")
                    .collect();
                Ok(Value::Int(self.unban(Some(j), &ips)))
            }
            ("addignoreip", ips) => {
                for ip in ips {
                    g.ignore.add(ip);
                }
                Ok(strs(g.ignore.entries.iter().map(|(t, _)| t.clone())))
            }
            ("delignoreip", ips) => {
                for ip in ips {
                    g.ignore.remove(ip);
                }
                Ok(strs(g.ignore.entries.iter().map(|(t, _)| t.clone())))
            }
            ("bantime", [v]) => {
                g.bans.ban_time = crate::jail::time::str2seconds(v).map_err(|e| e.to_string())?;
                Ok(Value::Int(g.bans.ban_time as i64))
            }
            ("findtime", [v]) => {
                g.fails.find_time = crate::jail::time::str2seconds(v).map_err(|e| e.to_string())?;
                Ok(Value::Int(g.fails.find_time as i64))
            }
            ("maxretry", [v]) => {
                g.fails.max_retry = v
                    .trim()
                    .parse()
                    .map_err(|_| format!("invalid literal for int() with base 10: {v:?}"))?;
                Ok(Value::Int(i64::from(g.fails.max_retry)))
            }
            _ => Err("Invalid command".to_string()),
        }
    }
}

/// Takes bans out of `j`'s list with `take` and has its actions thread run
/// the unban actions; returns how many were taken.
fn lift(j: &Shared, take: impl FnOnce(&mut crate::jail::Jail) -> Vec<BanTicket>) -> i64 {
    let removed = match j.jail.lock() {
        Ok(mut g) => take(&mut g),
        Err(_) => return 0,
    };
    let n = removed.len() as i64;
    if !removed.is_empty()
        && let Ok(tx) = j.to_actions.lock()
    {
        let _ = tx.send(ToActions::Unban(removed));
    }
    n
}

fn get(j: &Shared, what: &str, rest: &[&str]) -> Result<Value, String> {
    let g = j
        .jail
        .lock()
        .map_err(|_| "jail state unavailable".to_string())?;
    match (what, rest) {
        ("logpath", []) => Ok(strs(j.files.iter().cloned())),
        ("ignoreip", []) => Ok(strs(g.ignore.entries.iter().map(|(t, _)| t.clone()))),
        ("ignoreself", []) => Ok(Value::Bool(g.ignore.ignore_self)),
        ("bantime", []) => Ok(Value::Int(g.bans.ban_time as i64)),
        ("findtime", []) => Ok(Value::Int(g.fails.find_time as i64)),
        ("maxretry", []) => Ok(Value::Int(i64::from(g.fails.max_retry))),
        ("maxmatches", []) => Ok(Value::Int(g.fails.max_matches as i64)),
        ("actions", []) => Ok(strs(j.actions.iter().cloned())),
        ("banned", ips) if !ips.is_empty() => Ok(Value::List(
            ips.iter()
                .map(|ip| Value::Int(i64::from(g.bans.get(ip).is_some())))
                .collect(),
        )),
        ("banned", []) | ("banip", []) => Ok(strs(g.bans.ids().map(str::to_string))),
        ("banip", [_sep]) if *_sep != "--with-time" => Ok(strs(g.bans.ids().map(str::to_string))),
        ("banip", ["--with-time"]) => {
            let bt = g.bans.ban_time;
            Ok(strs(g.bans.tickets().map(|t| {
                let len = t.ban_time(bt);
                format!(
                    "{} \t{} + {} = {}",
                    t.id,
                    crate::filter::date::format_local(t.time),
                    len as i64,
                    crate::filter::date::format_local(t.end(bt))
                )
            })))
        }
        _ => Err("Invalid command".to_string()),
    }
}

/// `status <jail>`: fail2ban's basic flavour.
/// fail2ban's status flavors: `short` leaves out the list of banned
/// addresses; `cymru` adds AS, country and registry lists, which need DNS
/// lookups at Team Cymru that ferroban does not make: they read "error",
/// as fail2ban's do when dnspython is missing.
const FLAVORS: [&str; 3] = ["short", "basic", "cymru"];

pub fn jail_status(j: &Shared, flavor: &str) -> Value {
    let (failed, total_failed, banned, total_banned, ids) = match j.jail.lock() {
        Ok(g) => (
            g.fails.len() as i64,
            g.fails.total as i64,
            g.bans.len() as i64,
            g.bans.total as i64,
            g.bans.ids().map(str::to_string).collect::<Vec<_>>(),
        ),
        Err(_) => (0, 0, 0, 0, Vec::new()),
    };
    let mut actions = vec![
        pair("Currently banned", Value::Int(banned)),
        pair("Total banned", Value::Int(total_banned)),
    ];
    if flavor != "short" {
        actions.push(pair("Banned IP list", strs(ids)));
    }
    if flavor == "cymru" {
        for what in ["Banned ASN list", "Banned Country list", "Banned RIR list"] {
            actions.push(pair(what, strs(["error".to_string()])));
        }
    }
    // A journal jail lists its matches where a file jail lists its files.
    let source = match &j.journal_matches {
        Some(m) => pair("Journal matches", strs([m.clone()])),
        None => pair("File list", strs(j.files.iter().cloned())),
    };
    Value::List(vec![
        pair(
            "Filter",
            Value::List(vec![
                pair("Currently failed", Value::Int(failed)),
                pair("Total failed", Value::Int(total_failed)),
                source,
            ]),
        ),
        pair("Actions", Value::List(actions)),
    ])
}
