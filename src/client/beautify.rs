//! The text `fail2ban-client` prints for a server's reply, exactly as
//! fail2ban 1.0.2's `Beautifier` writes it (the status trees with their
//! TABs, "Server replied: pong", "Shutdown successful"...). Replies it has
//! no form for print as Python's `str()` of the value.

use crate::config::stream::Value;

fn joined(v: &Value) -> String {
    match v {
        Value::List(items) => items.iter().map(Value::text).collect::<Vec<_>>().join(" "),
        other => other.text(),
    }
}

fn pairs(v: &Value) -> Vec<(String, &Value)> {
    let items = match v {
        Value::List(items) | Value::Tuple(items) => items.as_slice(),
        _ => &[],
    };
    items
        .iter()
        .filter_map(|p| match p {
            Value::Tuple(kv) | Value::List(kv) if kv.len() == 2 => Some((kv[0].text(), &kv[1])),
            _ => None,
        })
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::List(items) => items.iter().map(Value::text).collect(),
        _ => Vec::new(),
    }
}

/// `|- a` ... `` `- z`` lines.
fn tree(head: &str, items: &[String]) -> String {
    let mut out = head.to_string();
    for (i, it) in items.iter().enumerate() {
        out.push_str(if i + 1 == items.len() { "`- " } else { "|- " });
        out.push_str(it);
        if i + 1 < items.len() {
            out.push('\n');
        }
    }
    out
}

/// The text for `reply` to the command `cmd`.
pub fn beautify(cmd: &[String], reply: &Value) -> String {
    let c = |i: usize| cmd.get(i).map(String::as_str);
    match (c(0), c(1), c(2)) {
        (Some("ping"), _, _) => format!("Server replied: {}", reply.text()),
        (Some("version"), _, _) => reply.text(),
        (Some("start"), _, _) => "Jail started".into(),
        (Some("stop"), None, _) if *reply == Value::None => "Shutdown successful".into(),
        (Some("stop"), Some(_), _) if *reply == Value::None => "Jail stopped".into(),
        (Some("flushlogs"), _, _) => format!("logs: {}", reply.text()),
        (Some("status"), Some(jail), _) => {
            let mut lines = vec![format!("Status for the jail: {jail}")];
            let sections = pairs(reply);
            for (n, (name, sub)) in sections.iter().enumerate() {
                let last = n + 1 == sections.len();
                lines.push(format!("{} {name}", if last { "`-" } else { "|-" }));
                let indent = if last { "   " } else { "|  " };
                let entries = pairs(sub);
                for (m, (k, v)) in entries.iter().enumerate() {
                    let mark = if m + 1 == entries.len() { "`-" } else { "|-" };
                    lines.push(format!("{indent}{mark} {k}:\t{}", joined(v)));
                }
            }
            lines.join("\n")
        }
        (Some("status"), None, _) => {
            let mut lines = vec!["Status".to_string()];
            let entries = pairs(reply);
            for (n, (k, v)) in entries.iter().enumerate() {
                let mark = if n + 1 == entries.len() { "`-" } else { "|-" };
                lines.push(format!("{mark} {k}:\t{}", joined(v)));
            }
            lines.join("\n")
        }
        (_, Some("syslogsocket"), _) => format!("Current syslog socket is:\n`- {}", reply.text()),
        (_, Some("logtarget"), _) => format!("Current logging target is:\n`- {}", reply.text()),
        (_, Some("loglevel"), _) => format!("Current logging level is {}", reply.repr()),
        (_, Some("dbfile"), _) if *reply == Value::None => "Database currently disabled".into(),
        (_, Some("dbfile"), _) => format!("Current database file is:\n`- {}", reply.text()),
        (_, Some("dbpurgeage"), _) if *reply == Value::None => "Database currently disabled".into(),
        (_, Some("dbpurgeage"), _) => {
            format!("Current database purge age is:\n`- {}seconds", reply.text())
        }
        (_, _, Some("logpath" | "addlogpath" | "dellogpath")) => {
            let paths = strings(reply);
            if paths.is_empty() {
                "No file is currently monitored".into()
            } else {
                tree("Current monitored log file(s):\n", &paths)
            }
        }
        (_, _, Some("logencoding")) => format!("Current log encoding is set to:\n{}", reply.text()),
        (_, _, Some("ignoreip" | "addignoreip" | "delignoreip")) => {
            let ips = strings(reply);
            if ips.is_empty() {
                "No IP address/network is ignored".into()
            } else {
                tree("These IP addresses/networks are ignored:\n", &ips)
            }
        }
        (
            _,
            _,
            Some(
                "failregex" | "addfailregex" | "delfailregex" | "ignoreregex" | "addignoreregex"
                | "delignoreregex",
            ),
        ) => {
            let res = strings(reply);
            if res.is_empty() {
                "No regular expression is defined".into()
            } else {
                let numbered: Vec<String> = res
                    .iter()
                    .enumerate()
                    .map(|(i, r)| format!("[{i}]: {r}"))
                    .collect();
                tree("The following regular expression are defined:\n", &numbered)
            }
        }
        (_, Some(jail), Some("actions")) => {
            let names = strings(reply);
            if names.is_empty() {
                format!("No actions for jail {jail}")
            } else {
                format!(
                    "The jail {jail} has the following actions:\n{}",
                    names.join(", ")
                )
            }
        }
        (Some("get"), _, Some("banip")) if matches!(reply, Value::List(_)) => {
            let sep = match c(3) {
                None => " ",
                Some("--with-time") => "\n",
                Some(s) => s,
            };
            strings(reply).join(sep)
        }
        _ => reply.text(),
    }
}

/// The text for an error reply (fail2ban's `beautifyError`).
pub fn beautify_error(message: &str) -> String {
    message.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    fn kv(k: &str, v: Value) -> Value {
        Value::Tuple(vec![Value::str(k), v])
    }

    #[test]
    fn status_trees_like_fail2ban() {
        let top = Value::List(vec![
            kv("Number of jail", Value::Int(1)),
            kv("Jail list", Value::str("sshd")),
        ]);
        assert_eq!(
            beautify(&words("status"), &top),
            "Status\n|- Number of jail:\t1\n`- Jail list:\tsshd"
        );
        let jail = Value::List(vec![
            kv(
                "Filter",
                Value::List(vec![
                    kv("Currently failed", Value::Int(0)),
                    kv("Total failed", Value::Int(0)),
                    kv(
                        "File list",
                        Value::List(vec![Value::str("/var/log/auth.log")]),
                    ),
                ]),
            ),
            kv(
                "Actions",
                Value::List(vec![
                    kv("Currently banned", Value::Int(0)),
                    kv("Total banned", Value::Int(0)),
                    kv("Banned IP list", Value::List(vec![])),
                ]),
            ),
        ]);
        assert_eq!(
            beautify(&words("status sshd"), &jail),
            "Status for the jail: sshd\n|- Filter\n|  |- Currently failed:\t0\n|  |- Total failed:\t0\n\
             |  `- File list:\t/var/log/auth.log\n`- Actions\n   |- Currently banned:\t0\n\
             |- Total banned:\t0\n   `- Banned IP list:\t"
                .replace("\n|- Total", "\n   |- Total")
        );
    }

    #[test]
    fn small_replies() {
        assert_eq!(
            beautify(&words("ping"), &Value::str("pong")),
            "Server replied: pong"
        );
        assert_eq!(
            beautify(&words("stop"), &Value::None),
            "Shutdown successful"
        );
        assert_eq!(
            beautify(&words("get loglevel"), &Value::str("INFO")),
            "Current logging level is 'INFO'"
        );
        assert_eq!(
            beautify(&words("get sshd ignoreip"), &Value::List(vec![])),
            "No IP address/network is ignored"
        );
        assert_eq!(
            beautify(&words("set sshd banip 192.0.2.1"), &Value::Int(1)),
            "1"
        );
        let banned = Value::List(vec![
            Value::List(vec![]),
            Value::List(vec![Value::str("sshd")]),
        ]);
        assert_eq!(
            beautify(&words("banned 192.0.2.1 192.0.2.2"), &banned),
            "[[], ['sshd']]"
        );
    }
}
