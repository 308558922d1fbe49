//! `fail2ban-regex -o`: one line per failure, in the form asked for.
//!
//! `-o` takes a keyword (`id`, `ip`, `msg`, `row`), a capture name, or a
//! template with action-style tags (`<ip>`, `<time>`, `<F-USER>`, `<msg>`).
//! The output is what fail2ban 1.0.2 prints for the same failure, so
//! scripts written against it keep working.

use crate::filter::failure::{Failure, Stamp, TupleLine, py_float};
use crate::py::py_repr;

/// The matched lines, one per line (`<matches>`).
fn joined_matches(f: &Failure) -> String {
    let lines: Vec<String> = f.data.matches.iter().map(TupleLine::joined).collect();
    lines.join("\n")
}
use crate::filter::tags::tag_to_group;

/// Python's `str()` of a value that may be missing.
fn py_str(v: Option<&str>) -> String {
    v.unwrap_or("None").to_string()
}

/// The address of a failure: its `ip` when the id is something else.
fn ticket_ip(f: &Failure) -> String {
    f.data
        .ip
        .clone()
        .or_else(|| f.id.clone())
        .unwrap_or_else(|| "None".into())
}

/// Formats failures for one `-o` value.
pub struct OutFormat {
    fmt: String,
    /// Template rows whose `<msg>` spans several lines, printed last.
    wrapped: Vec<(Vec<String>, String)>,
}

impl OutFormat {
    pub fn new(fmt: &str) -> OutFormat {
        OutFormat {
            fmt: fmt.to_string(),
            wrapped: Vec::new(),
        }
    }

    /// Lines to print for the failures of one log line.
    pub fn lines(&mut self, fails: &[Failure], now: f64) -> Vec<String> {
        let mut out = Vec::new();
        for f in fails {
            match self.fmt.as_str() {
                "id" | "fid" => out.push(py_str(f.id.as_deref())),
                "ip" => out.push(ticket_ip(f)),
                "msg" => out.extend(f.data.matches.iter().map(TupleLine::joined)),
                "row" => out.push(row(f)),
                key if !key.contains('<') => out.push(data_value(f, key)),
                _ => {
                    // Only a `<msg>` tag spreads a failure over several rows.
                    let has_msg = self.fmt.contains("<msg>");
                    let single = !has_msg || (self.wrapped.is_empty() && f.data.matches.len() <= 1);
                    let msg = if !has_msg {
                        String::new()
                    } else if single {
                        joined_matches(f)
                    } else {
                        "\u{0}msg\u{0}".to_string()
                    };
                    let v = self.template(f, &msg, now);
                    if single {
                        out.push(v);
                    } else {
                        let lines = f.data.matches.iter().map(TupleLine::joined).collect();
                        self.wrapped.push((lines, v));
                    }
                }
            }
        }
        out
    }

    /// Multi-line `<msg>` rows, one output line per matched log line.
    pub fn finish(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        for (matches, v) in self.wrapped.drain(..) {
            for m in matches {
                out.push(v.replace("\u{0}msg\u{0}", &m));
            }
        }
        out
    }

    fn template(&self, f: &Failure, msg: &str, now: f64) -> String {
        let esc = |t: &str, v: String| {
            if t == "msg" || !v.contains('\u{0}') {
                v
            } else {
                v.replace('\u{0}', "\\x00")
            }
        };
        // First pass: action-info tags `<name>`, not recursive.
        let s = replace_tags(&self.fmt, |tag| {
            let v = match tag {
                "ip" => ticket_ip(f),
                "family" => family(&ticket_ip(f)).to_string(),
                "fid" => py_str(f.id.as_deref()),
                "failures" => "0".to_string(),
                "time" => time_text(f, now),
                "matches" => joined_matches(f),
                "restored" => "0".to_string(),
                "msg" => msg.to_string(),
                "br" => "\n".to_string(),
                "sp" => " ".to_string(),
                _ => return None,
            };
            Some(esc(tag, v))
        });
        // Second pass: `<F-NAME>` capture tags, empty when missing.
        if !s.contains('<') {
            return s;
        }
        replace_tags(&s, |tag| {
            let name = tag.strip_prefix("F-")?;
            let ok = !name.is_empty()
                && name.bytes().all(|b| {
                    b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                });
            if !ok {
                return None;
            }
            let key = tag_to_group(name);
            Some(esc(tag, data_value_or_empty(f, &key)))
        })
    }
}

fn family(ip: &str) -> &'static str {
    match ip
        .split('/')
        .next()
        .unwrap_or("")
        .parse::<std::net::IpAddr>()
    {
        Ok(std::net::IpAddr::V4(_)) => "inet4",
        Ok(std::net::IpAddr::V6(_)) => "inet6",
        Err(_) => "None",
    }
}

/// `r[3].get(key)`: a capture or a data field, Python `None` when missing.
fn data_value(f: &Failure, key: &str) -> String {
    match key {
        "matches" => format!(
            "[{}]",
            f.data
                .matches
                .iter()
                .map(|m| format!(
                    "({}, {}, {})",
                    py_repr(m.pre()),
                    py_repr(m.date()),
                    py_repr(m.post())
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "ip" => f.data.ip.clone().unwrap_or_else(|| "None".into()),
        _ => py_str(f.data.get(key)),
    }
}

/// A ticket data value; tickets drop `None` values, so missing is empty.
fn data_value_or_empty(f: &Failure, key: &str) -> String {
    match key {
        "matches" => joined_matches(f),
        "failures" => "0".into(),
        "ip" => f.data.ip.clone().unwrap_or_default(),
        _ => f.data.get(key).unwrap_or("").to_string(),
    }
}

/// Python's `str()` of the failure's time: zoned times are ints there.
fn time_text(f: &Failure, now: f64) -> String {
    match f.stamp {
        Stamp::Int => format!("{}", f.time as i64),
        Stamp::Float | Stamp::Missing => py_float(if f.time.is_finite() { f.time } else { now }),
    }
}

/// `[fid, time, {data}],` as fail2ban prints a row.
fn row(f: &Failure) -> String {
    let mut items: Vec<String> = f
        .data
        .groups
        .iter()
        .map(|(k, v)| {
            let v = v.as_deref().map_or("None".to_string(), py_repr);
            format!("{}: {}", py_repr(k), v)
        })
        .collect();
    if let Some(at) = f.data.users_at {
        let users: Vec<String> = f.data.users.iter().map(|u| py_repr(u)).collect();
        let at = at.min(items.len());
        items.insert(at, format!("'users': {{{}}}", users.join(", ")));
    }
    if let Some(ip) = &f.data.ip {
        items.push(format!("'ip': {}", py_repr(ip)));
    }
    let id = f.id.as_deref().map_or("None".to_string(), py_repr);
    format!(
        "[{},\t{},\t{{{}}}],",
        id,
        match f.stamp {
            // A row shows the line's own date, which it lacks.
            Stamp::Missing => "None".to_string(),
            _ => time_text(f, f.time),
        },
        items.join(", ")
    )
}

/// Replaces `<tag>` (fail2ban's `<([^ <>]+)>`) where `f` gives a value.
fn replace_tags(s: &str, mut f: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let len = after.find([' ', '<', '>']).unwrap_or(after.len());
        if len > 0 && after[len..].starts_with('>') {
            let tag = &after[..len];
            match f(tag) {
                Some(v) => out.push_str(&v),
                None => {
                    out.push('<');
                    out.push_str(tag);
                    out.push('>');
                }
            }
            rest = &after[len + 1..];
        } else {
            out.push('<');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::failure::FailData;

    fn failure() -> Failure {
        let mut data = FailData::default();
        data.groups.insert("user", Some("bob".into()));
        data.groups.insert("ip4", Some("192.0.2.1".into()));
        data.matches = vec![TupleLine::plain("line one")];
        Failure {
            regex: 0,
            id: Some("192.0.2.1".into()),
            time: 1700000000.0,
            stamp: Stamp::Float,
            data,
        }
    }

    #[test]
    fn template_with_tags() {
        let mut o = OutFormat::new(r"<ip>\t<time> <F-USER> <F-NONE> <unknown> <msg>");
        assert_eq!(
            o.lines(&[failure()], 0.0),
            vec![r"192.0.2.1\t1700000000.0 bob  <unknown> line one".to_string()]
        );
    }

    #[test]
    fn keywords() {
        assert_eq!(
            OutFormat::new("ip").lines(&[failure()], 0.0),
            vec!["192.0.2.1"]
        );
        assert_eq!(OutFormat::new("user").lines(&[failure()], 0.0), vec!["bob"]);
        assert_eq!(
            OutFormat::new("nothing").lines(&[failure()], 0.0),
            vec!["None"]
        );
        assert_eq!(
            OutFormat::new("msg").lines(&[failure()], 0.0),
            vec!["line one"]
        );
    }
}
