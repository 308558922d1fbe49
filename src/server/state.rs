//! What survives a restart: the bans in force and where each log file was
//! read up to.
//!
//! fail2ban keeps these in SQLite (`dbfile`). ferroban keeps them in a
//! small text file beside it, `<dbfile>.ferroban`, and never touches the
//! configured file itself, so a SQLite database left by fail2ban stays as
//! it was. The file is replaced atomically (written aside, synced, then
//! renamed over), so a crash or `kill -9` leaves either the old state or
//! the new one, never a torn file. Lines that cannot be read are skipped
//! and counted, not fatal.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::jail::bans::BanTicket;
use crate::watch::{FileId, Position};

const MAGIC: &str = "ferroban-state 1";

/// The state file for a `dbfile` setting; None when persistence is off.
pub fn path_for(dbfile: Option<&str>) -> Option<PathBuf> {
    match dbfile.map(str::trim) {
        None | Some("") | Some(":memory:") => None,
        Some(d) if d.eq_ignore_ascii_case("none") => None,
        Some(d) => Some(PathBuf::from(format!("{d}.ferroban"))),
    }
}

/// Saved state: bans per jail and read positions per (jail, file).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Saved {
    pub bans: Vec<(String, BanTicket)>,
    pub positions: Vec<(String, String, Position)>,
    /// Earlier bans for `bantime.increment`: (jail, id, count, last start).
    pub history: Vec<(String, String, u32, f64)>,
    /// Lines that could not be read when loading.
    pub skipped: usize,
}

/// Escapes tabs, newlines and `%` (ids and paths may hold anything).
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\t' => out.push_str("%09"),
            '\n' => out.push_str("%0A"),
            '\r' => out.push_str("%0D"),
            c => out.push(c),
        }
    }
    out
}

fn unesc(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl Saved {
    pub fn to_text(&self, default_ban_time: impl Fn(&str) -> f64) -> String {
        let mut out = format!("{MAGIC}\n");
        for (jail, t) in &self.bans {
            out.push_str(&format!(
                "ban\t{}\t{}\t{}\t{}\t{}\t{}\n",
                esc(jail),
                esc(&t.id),
                t.time,
                t.ban_time(default_ban_time(jail)),
                t.ban_count,
                t.failures
            ));
        }
        for (jail, id, count, time) in &self.history {
            out.push_str(&format!(
                "hist\t{}\t{}\t{count}\t{time}\n",
                esc(jail),
                esc(id)
            ));
        }
        for (jail, path, p) in &self.positions {
            out.push_str(&format!(
                "pos\t{}\t{}\t{}\t{}\t{}\n",
                esc(jail),
                esc(path),
                p.id.dev,
                p.id.ino,
                p.pos
            ));
        }
        out
    }

    pub fn parse(text: &str) -> Saved {
        let mut s = Saved::default();
        let mut lines = text.lines();
        if lines.next() != Some(MAGIC) {
            s.skipped = text.lines().count();
            return s;
        }
        for line in lines {
            let f: Vec<&str> = line.split('\t').collect();
            let ok = match f.as_slice() {
                ["ban", jail, id, time, bantime, count, failures] => (|| {
                    let t = BanTicket {
                        id: unesc(id)?,
                        time: time.parse().ok()?,
                        ban_time: Some(bantime.parse().ok()?),
                        ban_count: count.parse().ok()?,
                        failures: failures.parse().ok()?,
                        matches: Vec::new(),
                        restored: true,
                        captures: Vec::new(),
                    };
                    s.bans.push((unesc(jail)?, t));
                    Some(())
                })(),
                ["hist", jail, id, count, time] => (|| {
                    s.history.push((
                        unesc(jail)?,
                        unesc(id)?,
                        count.parse().ok()?,
                        time.parse().ok()?,
                    ));
                    Some(())
                })(),
                ["pos", jail, path, dev, ino, pos] => (|| {
                    let p = Position {
                        id: FileId {
                            dev: dev.parse().ok()?,
                            ino: ino.parse().ok()?,
                        },
                        pos: pos.parse().ok()?,
                    };
                    s.positions.push((unesc(jail)?, unesc(path)?, p));
                    Some(())
                })(),
                _ => None,
            };
            if ok.is_none() {
                s.skipped += 1;
            }
        }
        s
    }
}

/// Reads the state file; a missing file is an empty state.
pub fn load(path: &Path) -> io::Result<Saved> {
    match fs::read_to_string(path) {
        Ok(t) => Ok(Saved::parse(&t)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Saved::default()),
        Err(e) => Err(e),
    }
}

/// Replaces the state file atomically with `text`.
pub fn save(path: &Path, text: &str) -> io::Result<()> {
    let tmp = path.with_extension("ferroban.tmp");
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    {
        let mut f = File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_odd_ids_and_garbage() {
        let mut t = BanTicket::manual("bob\tx%\n", 100.5);
        t.ban_count = 2;
        t.failures = 5;
        let s = Saved {
            bans: vec![
                ("sshd".into(), BanTicket::manual("192.0.2.1", 10.0)),
                ("odd jail".into(), t),
            ],
            positions: vec![(
                "sshd".into(),
                "/var/log/auth.log".into(),
                Position {
                    id: FileId { dev: 1, ino: 2 },
                    pos: 300,
                },
            )],
            history: vec![("sshd".into(), "192.0.2.1".into(), 3, 99.5)],
            skipped: 0,
        };
        let text = s.to_text(|_| 600.0) + "ban\tbroken\n";
        let back = Saved::parse(&text);
        assert_eq!(back.skipped, 1);
        assert_eq!(back.bans.len(), 2);
        assert_eq!(back.bans[1].1.id, "bob\tx%\n");
        assert_eq!(back.bans[0].1.ban_time, Some(600.0));
        assert!(back.bans.iter().all(|(_, t)| t.restored));
        assert_eq!(back.positions, s.positions);
        assert_eq!(back.history, s.history);
        assert_eq!(Saved::parse("not ours\n").skipped, 1);
    }

    #[test]
    fn saves_atomically_and_names_the_file_beside_dbfile() {
        assert_eq!(path_for(Some(":memory:")), None);
        assert_eq!(path_for(None), None);
        assert_eq!(
            path_for(Some("/var/lib/fail2ban/fail2ban.sqlite3")),
            Some(PathBuf::from("/var/lib/fail2ban/fail2ban.sqlite3.ferroban"))
        );
        let dir = std::env::temp_dir().join(format!("ferroban-state-{}", std::process::id()));
        let p = dir.join("db.ferroban");
        save(&p, "ferroban-state 1\n").expect("save");
        save(&p, "ferroban-state 1\npos\tj\tf\t1\t2\t3\n").expect("save again");
        assert_eq!(load(&p).expect("load").positions.len(), 1);
        assert!(!p.with_extension("ferroban.tmp").exists());
        assert_eq!(
            load(&dir.join("none")).expect("missing is empty"),
            Saved::default()
        );
        let _ = fs::remove_dir_all(dir);
    }
}
