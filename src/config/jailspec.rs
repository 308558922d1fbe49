//! The command stream gathered back into one typed record per jail.
//!
//! fail2ban's server applies the stream command by command. ferroban's
//! server (and `fail2ban-client -t`) wants each jail whole: its filter
//! regexes, its log files, its options and its actions. This module reads
//! the stream the way fail2ban's `set`/`multi-set` commands act on a jail,
//! so the two stay one source of truth.

use super::omap::OrderedMap;
use super::stream::{Command, Value};
use crate::filter::matcher::FilterRegexes;
use crate::filter::tags::UseDns;

/// One action of a jail: its name and its options (`actionban`, `port`...).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ActionSpec {
    pub name: String,
    pub options: OrderedMap<Value>,
}

/// One jail as the stream describes it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JailSpec {
    pub name: String,
    pub backend: String,
    pub prefregex: Option<String>,
    pub failregex: Vec<String>,
    pub ignoreregex: Vec<String>,
    pub maxlines: Option<i64>,
    pub usedns: Option<String>,
    pub datepattern: Option<String>,
    pub journalmatch: Vec<Vec<String>>,
    /// (path, "head"|"tail").
    pub logpaths: Vec<(String, String)>,
    pub ignoreip: Vec<String>,
    /// Every other `set <jail> <option> <value>` (maxretry, bantime...).
    pub options: OrderedMap<Value>,
    pub actions: Vec<ActionSpec>,
    pub started: bool,
}

impl JailSpec {
    /// The filter part, for `filter::matcher`.
    pub fn filter_regexes(&self) -> FilterRegexes {
        FilterRegexes {
            prefregex: self.prefregex.clone(),
            failregex: self.failregex.clone(),
            ignoreregex: self.ignoreregex.clone(),
            maxlines: self
                .maxlines
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(1),
            use_dns: self
                .usedns
                .as_deref()
                .and_then(UseDns::parse)
                .unwrap_or_default(),
        }
    }
}

/// What the stream says beyond the jails.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Gathered {
    /// Server options (`set loglevel INFO`, `set dbfile ...`).
    pub server: OrderedMap<Value>,
    pub jails: Vec<JailSpec>,
    /// `config-error` messages, one per skipped jail.
    pub errors: Vec<String>,
}

fn text(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        other => other.repr(),
    }
}

fn strings(vals: &[Value]) -> Vec<String> {
    vals.iter().map(text).collect()
}

/// Reads a stream into jails; commands it does not know are ignored.
pub fn gather(stream: &[Command]) -> Gathered {
    let mut g = Gathered::default();
    for c in stream {
        let words: Vec<Option<&str>> = c.iter().map(Value::as_str).collect();
        match words.as_slice() {
            [Some("config-error"), Some(msg)] => g.errors.push(msg.to_string()),
            [Some("add"), Some(name), Some(backend)] => g.jails.push(JailSpec {
                name: name.to_string(),
                backend: backend.to_string(),
                ..JailSpec::default()
            }),
            [Some("start"), Some(name)] => {
                if let Some(j) = g.jails.iter_mut().find(|j| j.name == *name) {
                    j.started = true;
                }
            }
            [Some("set"), Some(opt), _] => {
                g.server.insert(*opt, c[2].clone());
            }
            [Some("set" | "multi-set"), Some(jail), ..] => {
                let multi = words[0] == Some("multi-set");
                if let Some(j) = g.jails.iter_mut().find(|j| j.name == *jail) {
                    apply(j, &c[2..], multi);
                }
            }
            _ => {}
        }
    }
    g
}

fn apply(j: &mut JailSpec, rest: &[Value], multi: bool) {
    let Some(opt) = rest.first().and_then(Value::as_str) else {
        return;
    };
    let args = &rest[1..];
    let list = |args: &[Value]| -> Vec<String> {
        match (multi, args.first()) {
            (true, Some(Value::List(items))) => strings(items),
            _ => strings(args),
        }
    };
    match opt {
        "addfailregex" => j.failregex.extend(list(args)),
        "addignoreregex" => j.ignoreregex.extend(list(args)),
        "addjournalmatch" => j.journalmatch.push(strings(args)),
        "addignoreip" => j.ignoreip.extend(strings(args)),
        "addlogpath" => {
            let s = strings(args);
            let path = s.first().cloned().unwrap_or_default();
            let tail = s.get(1).cloned().unwrap_or_else(|| "head".into());
            j.logpaths.push((path, tail));
        }
        "prefregex" => j.prefregex = args.first().map(text),
        "usedns" => j.usedns = args.first().map(text),
        "datepattern" => j.datepattern = args.first().map(text),
        "maxlines" => {
            j.maxlines = match args.first() {
                Some(Value::Int(n)) => Some(*n),
                Some(v) => text(v).trim().parse().ok(),
                None => None,
            }
        }
        "addaction" => {
            if let Some(name) = args.first().and_then(Value::as_str) {
                j.actions.push(ActionSpec {
                    name: name.to_string(),
                    options: OrderedMap::new(),
                });
            }
        }
        "action" => {
            let Some(name) = args.first().and_then(Value::as_str) else {
                return;
            };
            let Some(a) = j.actions.iter_mut().find(|a| a.name == name) else {
                return;
            };
            let pairs: Vec<&[Value]> = match (multi, args.get(1)) {
                (true, Some(Value::List(items))) => items
                    .iter()
                    .filter_map(|i| match i {
                        Value::List(kv) => Some(kv.as_slice()),
                        _ => None,
                    })
                    .collect(),
                _ => vec![&args[1..]],
            };
            for kv in pairs {
                if let [Value::Str(k), v] = kv {
                    a.options.insert(k.as_str(), v.clone());
                }
            }
        }
        _ => {
            if let Some(v) = args.first() {
                j.options.insert(opt, v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::stream::cmd;

    #[test]
    fn gathers_a_jail() {
        let s = vec![
            cmd(&["set", "loglevel"], [Value::str("INFO")]),
            cmd(&["add", "sshd", "polling"], []),
            cmd(&["set", "sshd", "maxlines"], [Value::Int(1)]),
            cmd(
                &["multi-set", "sshd", "addfailregex"],
                [Value::List(vec![
                    Value::str("^a <HOST>"),
                    Value::str("^b <HOST>"),
                ])],
            ),
            cmd(&["set", "sshd", "maxretry"], [Value::Int(5)]),
            cmd(
                &["set", "sshd", "addlogpath", "/var/log/auth.log", "head"],
                [],
            ),
            cmd(&["set", "sshd", "addaction", "dummy"], []),
            cmd(
                &["multi-set", "sshd", "action", "dummy"],
                [Value::List(vec![Value::List(vec![
                    Value::str("actionban"),
                    Value::str("echo <ip>"),
                ])])],
            ),
            cmd(&["config-error"], [Value::str("Jail 'x' skipped")]),
            cmd(&["start", "sshd"], []),
        ];
        let g = gather(&s);
        assert_eq!(g.server.get("loglevel"), Some(&Value::str("INFO")));
        assert_eq!(g.errors, ["Jail 'x' skipped"]);
        let j = &g.jails[0];
        assert!(j.started);
        assert_eq!(j.failregex, ["^a <HOST>", "^b <HOST>"]);
        assert_eq!(j.options.get("maxretry"), Some(&Value::Int(5)));
        assert_eq!(
            j.logpaths,
            [("/var/log/auth.log".to_string(), "head".to_string())]
        );
        assert_eq!(
            j.actions[0].options.get("actionban"),
            Some(&Value::str("echo <ip>"))
        );
        assert_eq!(j.filter_regexes().maxlines, 1);
    }
}
