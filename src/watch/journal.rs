//! Following the systemd journal (`backend = systemd`), as Mageia logs
//! there by default.
//!
//! `journalctl` does the reading: first once up to the end (what is
//! already in the journal since `findtime` ago: fail2ban's
//! initialisation), then `--follow` after the last entry read, both with
//! the jail's `journalmatch`. Entries come as JSON, one object per line;
//! each becomes fail2ban's line `host ident[pid]: message` with the
//! entry's own time, so no date is searched in the text.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, Sender, channel};

/// Where the journal is read from (`backend = systemd[journalpath=...]`,
/// `[journalfiles=...]`); default: the system journal.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JournalOpts {
    pub directory: Option<String>,
    pub files: Vec<String>,
}

/// One journal entry as fail2ban sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub line: String,
    /// Unix seconds.
    pub time: f64,
    pub cursor: Option<String>,
}

/// A JSON value as journalctl writes them (strings, numbers, byte arrays).
#[derive(Debug, PartialEq)]
enum Json {
    Str(String),
    Num(String),
    Bytes(Vec<u8>),
    Null,
}

/// Parses one `{"KEY":value,...}` line of `journalctl -o json`.
fn parse_object(s: &str) -> Option<Vec<(String, Json)>> {
    let mut p = Parser {
        b: s.as_bytes(),
        i: 0,
    };
    p.ws();
    p.eat(b'{')?;
    let mut out = Vec::new();
    p.ws();
    if p.peek() == Some(b'}') {
        return Some(out);
    }
    loop {
        p.ws();
        let k = p.string()?;
        p.ws();
        p.eat(b':')?;
        p.ws();
        let v = match p.peek()? {
            b'"' => Json::Str(p.string()?),
            b'[' => Json::Bytes(p.bytes()?),
            b'n' => {
                p.word("null")?;
                Json::Null
            }
            _ => Json::Num(p.number()?),
        };
        out.push((k, v));
        p.ws();
        match p.peek()? {
            b',' => p.i += 1,
            b'}' => return Some(out),
            _ => return None,
        }
    }
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }
    fn word(&mut self, w: &str) -> Option<()> {
        let end = self.i + w.len();
        (self.b.get(self.i..end)? == w.as_bytes()).then(|| self.i = end)
    }
    fn number(&mut self) -> Option<String> {
        let start = self.i;
        while matches!(
            self.peek(),
            Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
        ) {
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.b[start..self.i]).into_owned())
    }
    fn bytes(&mut self) -> Option<Vec<u8>> {
        self.eat(b'[')?;
        let mut out = Vec::new();
        loop {
            self.ws();
            if self.peek()? == b']' {
                self.i += 1;
                return Some(out);
            }
            out.push(self.number()?.parse().ok()?);
            self.ws();
            if self.peek()? == b',' {
                self.i += 1;
            }
        }
    }
    fn string(&mut self) -> Option<String> {
        self.eat(b'"')?;
        let mut out = String::new();
        loop {
            let c = self.peek()?;
            self.i += 1;
            match c {
                b'"' => return Some(out),
                b'\\' => {
                    let e = self.peek()?;
                    self.i += 1;
                    match e {
                        b'n' => out.push('\n'),
                        b't' => out.push('\t'),
                        b'r' => out.push('\r'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'u' => {
                            let hex = std::str::from_utf8(self.b.get(self.i..self.i + 4)?).ok()?;
                            self.i += 4;
                            let mut cp = u32::from_str_radix(hex, 16).ok()?;
                            // A surrogate pair.
                            if (0xD800..0xDC00).contains(&cp)
                                && self.b.get(self.i..self.i + 2) == Some(b"\\u")
                            {
                                let lo = std::str::from_utf8(self.b.get(self.i + 2..self.i + 6)?)
                                    .ok()?;
                                let lo = u32::from_str_radix(lo, 16).ok()?;
                                self.i += 6;
                                cp = 0x10000
                                    + ((cp - 0xD800) << 10)
                                    + (lo.wrapping_sub(0xDC00) & 0x3FF);
                            }
                            out.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                        }
                        other => out.push(other as char),
                    }
                }
                _ => {
                    // Copy the UTF-8 sequence this byte starts.
                    let start = self.i - 1;
                    while matches!(self.peek(), Some(b) if b & 0xC0 == 0x80) {
                        self.i += 1;
                    }
                    out.push_str(std::str::from_utf8(&self.b[start..self.i]).ok()?);
                }
            }
        }
    }
}

fn text(v: &Json) -> Option<String> {
    match v {
        Json::Str(s) | Json::Num(s) => Some(s.clone()),
        Json::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Json::Null => None,
    }
}

/// fail2ban's `formatJournalEntry`: `host ident[pid]: message`.
pub fn entry_from_json(line: &str) -> Option<Entry> {
    let obj = parse_object(line)?;
    let get = |k: &str| obj.iter().find(|(n, _)| n == k).and_then(|(_, v)| text(v));
    let mut parts = Vec::new();
    if let Some(h) = get("_HOSTNAME").filter(|h| !h.is_empty()) {
        parts.push(h);
    }
    if let Some(mut ident) = get("SYSLOG_IDENTIFIER")
        .filter(|v| !v.is_empty())
        .or_else(|| get("_COMM").filter(|v| !v.is_empty()))
    {
        if let Some(pid) = get("SYSLOG_PID")
            .filter(|v| !v.is_empty())
            .or_else(|| get("_PID").filter(|v| !v.is_empty()))
        {
            match pid.trim().parse::<i64>() {
                Ok(n) => ident.push_str(&format!("[{n}]")),
                Err(_) => ident.push_str(&format!("[{pid}]")),
            }
        }
        ident.push(':');
        parts.push(ident);
    }
    parts.push(get("MESSAGE").unwrap_or_default());
    let micros: f64 = get("__REALTIME_TIMESTAMP")?.parse().ok()?;
    Some(Entry {
        line: parts.join(" ").replace('\n', "\\n"),
        time: micros / 1e6,
        cursor: get("__CURSOR"),
    })
}

fn base_command(opts: &JournalOpts, matches: &[Vec<String>]) -> Command {
    let mut c = Command::new("journalctl");
    c.args(["--output=json", "--no-pager", "--quiet"]);
    if let Some(d) = &opts.directory {
        c.arg(format!("--directory={d}"));
    }
    for f in &opts.files {
        c.arg(format!("--file={f}"));
    }
    for (i, group) in matches.iter().enumerate() {
        if i > 0 {
            c.arg("+");
        }
        c.args(group);
    }
    c.stdin(Stdio::null())
        .stderr(Stdio::null())
        .stdout(Stdio::piped());
    c
}

/// The journal, read on a thread: first the entries since `since`, then
/// `EndOfBacklog`, then new entries as they come.
pub enum Msg {
    Entry(Entry),
    EndOfBacklog,
    /// A line that is no journal entry (counted).
    Unreadable,
    /// journalctl could not run or ended.
    Failed(String),
}

pub struct Journal {
    pub rx: Receiver<Msg>,
    child: std::sync::Arc<std::sync::Mutex<Option<Child>>>,
}

impl Drop for Journal {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock()
            && let Some(ch) = c.as_mut()
        {
            let _ = ch.kill();
            let _ = ch.wait();
        }
    }
}

fn pump(out: impl std::io::Read, tx: &Sender<Msg>) -> Option<String> {
    let mut last = None;
    for line in BufReader::new(out).lines() {
        let Ok(line) = line else { break };
        let msg = match entry_from_json(&line) {
            Some(e) => {
                last = e.cursor.clone().or(last);
                Msg::Entry(e)
            }
            None => Msg::Unreadable,
        };
        if tx.send(msg).is_err() {
            return None;
        }
    }
    last
}

/// Starts reading the journal (see `Msg`).
pub fn follow(opts: &JournalOpts, matches: &[Vec<String>], since: f64) -> Journal {
    let (tx, rx) = channel();
    let child: std::sync::Arc<std::sync::Mutex<Option<Child>>> = Default::default();
    let slot = child.clone();
    let (opts, matches) = (opts.clone(), matches.to_vec());
    std::thread::spawn(move || {
        let mut first = base_command(&opts, &matches);
        first.arg(format!("--since=@{}", since.max(0.0) as i64));
        let cursor = match first.spawn() {
            Ok(mut ch) => {
                let last = ch.stdout.take().and_then(|o| pump(o, &tx));
                let _ = ch.wait();
                last
            }
            Err(e) => {
                let _ = tx.send(Msg::Failed(format!("journalctl: {e}")));
                return;
            }
        };
        if tx.send(Msg::EndOfBacklog).is_err() {
            return;
        }
        let mut next = base_command(&opts, &matches);
        next.arg("--follow");
        match &cursor {
            Some(c) => next.arg(format!("--after-cursor={c}")),
            None => next.arg(format!("--since=@{}", since.max(0.0) as i64)),
        };
        let mut ch = match next.spawn() {
            Ok(ch) => ch,
            Err(e) => {
                let _ = tx.send(Msg::Failed(format!("journalctl: {e}")));
                return;
            }
        };
        let out = ch.stdout.take();
        if let Ok(mut s) = slot.lock() {
            *s = Some(ch);
        }
        if let Some(o) = out {
            pump(o, &tx);
        }
        let _ = tx.send(Msg::Failed("journalctl ended".into()));
    });
    Journal { rx, child }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_like_fail2ban() {
        let j = r#"{"__REALTIME_TIMESTAMP":"1795863049084309","_HOSTNAME":"srv","SYSLOG_IDENTIFIER":"sshd","_PID":"123","MESSAGE":"Failed password for \"x\u00e9\" from 192.0.2.9\nport 22","__CURSOR":"s=1;i=1"}"#;
        let e = entry_from_json(j).expect("parses");
        assert_eq!(
            e.line,
            "srv sshd[123]: Failed password for \"x\u{e9}\" from 192.0.2.9\\nport 22"
        );
        assert_eq!(e.time, 1795863049.084309);
        assert_eq!(e.cursor.as_deref(), Some("s=1;i=1"));
        // Binary messages come as byte arrays; _COMM stands in for the identifier.
        let b = r#"{"__REALTIME_TIMESTAMP":"1000000","_COMM":"sshd","MESSAGE":[104,105,255]}"#;
        assert_eq!(entry_from_json(b).expect("parses").line, "sshd: hi\u{fffd}");
        assert!(entry_from_json("{\"MESSAGE\":\"no time\"}").is_none());
        assert!(entry_from_json("not json").is_none());
        assert!(entry_from_json("{\"a\":\"unterminated").is_none());
    }
}
