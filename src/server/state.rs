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
//!
//! What a crash (`kill -9`) may not undo, and how the `Store` sees to it:
//! - a ban whose actions ran is in the file: the actions thread saves the
//!   state before it runs a new ban's actions (write-ahead), so after a
//!   restart the ban comes back and is re-applied as restored, and never
//!   banned afresh while the firewall still holds the first one;
//! - a saved read position never runs ahead of the bans its lines made: a
//!   jail's bans and positions are taken in one look under the jail's
//!   lock, and the filter thread moves a position only after the lines
//!   before it were counted. Lines after the saved position are read again
//!   after a crash; the bans they made are back by then (restored before
//!   the filter starts), so they find them banned. Their failure counts
//!   died with the process, as fail2ban's counts do on any restart, so
//!   reading them again counts each line once in what survives.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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
        format!("{MAGIC}\n{}", self.body(default_ban_time))
    }

    /// The state's lines without the file's first line.
    fn body(&self, default_ban_time: impl Fn(&str) -> f64) -> String {
        let mut out = String::new();
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
        // Ban data: readable by root only (the mode of a new file; an old
        // temporary file left by a crash is replaced, not reused).
        use std::os::unix::fs::OpenOptionsExt;
        let _ = fs::remove_file(&tmp);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
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

/// The state file, written by whichever thread needs it saved: the main
/// thread about once a second, a jail's actions thread before it acts on
/// a new ban. One at a time, each writing every jail's latest state.
pub struct Store {
    path: PathBuf,
    /// Each jail's lines as last taken, and the text last written.
    inner: Mutex<(Vec<(String, String)>, String)>,
}

/// One jail's bans, ban history and read positions as state lines, taken
/// in one look: the positions are read under the jail's lock, so they
/// never run ahead of the bans (see the module's comment).
fn jail_lines(sh: &super::jailrt::Shared) -> Option<String> {
    let j = sh.jail.lock().ok()?;
    let p = sh.positions.lock().ok()?;
    let mut history: Vec<_> = j
        .history
        .iter()
        .map(|(id, (c, t))| (sh.name.clone(), id.clone(), *c, *t))
        .collect();
    // A stable order: the file only changes when the state does.
    history.sort_by(|a, b| a.1.cmp(&b.1));
    let one = Saved {
        bans: j
            .bans
            .tickets()
            .map(|t| (sh.name.clone(), t.clone()))
            .collect(),
        positions: p
            .iter()
            .map(|(f, pos)| (sh.name.clone(), f.clone(), pos.clone()))
            .collect(),
        history,
        skipped: 0,
    };
    let ban_time = j.bans.ban_time;
    Some(one.body(|_| ban_time))
}

impl Store {
    pub fn new(path: PathBuf) -> Store {
        Store {
            path,
            inner: Mutex::new((Vec::new(), String::new())),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Saves the state of the running jails `all` (jails not among them
    /// are dropped from the file), if it changed.
    pub fn save_all<'a>(
        &self,
        all: impl IntoIterator<Item = &'a super::jailrt::Shared>,
    ) -> io::Result<()> {
        let Ok(mut inner) = self.inner.lock() else {
            return Ok(());
        };
        let mut sections = Vec::new();
        for sh in all {
            let lines = match jail_lines(sh) {
                Some(l) => l,
                // A poisoned lock: keep what was last taken.
                None => inner
                    .0
                    .iter()
                    .find(|(n, _)| *n == sh.name)
                    .map(|(_, l)| l.clone())
                    .unwrap_or_default(),
            };
            sections.push((sh.name.clone(), lines));
        }
        inner.0 = sections;
        Self::write(&self.path, &mut inner)
    }

    /// Saves the state with `sh`'s jail taken afresh (the others as last
    /// taken), and returns once it is on disk: the write-ahead before a
    /// ban's actions run.
    pub fn save_jail(&self, sh: &super::jailrt::Shared) -> io::Result<()> {
        let Ok(mut inner) = self.inner.lock() else {
            return Ok(());
        };
        let Some(lines) = jail_lines(sh) else {
            return Ok(());
        };
        match inner.0.iter_mut().find(|(n, _)| *n == sh.name) {
            Some(slot) => slot.1 = lines,
            None => inner.0.push((sh.name.clone(), lines)),
        }
        Self::write(&self.path, &mut inner)
    }

    fn write(path: &Path, inner: &mut (Vec<(String, String)>, String)) -> io::Result<()> {
        let mut text = format!("{MAGIC}\n");
        for (_, lines) in &inner.0 {
            text.push_str(lines);
        }
        if text != inner.1 {
            save(path, &text)?;
            inner.1 = text;
        }
        Ok(())
    }
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

    fn shared(name: &str) -> crate::server::jailrt::Shared {
        crate::server::jailrt::Shared {
            name: name.into(),
            jail: std::sync::Mutex::new(crate::jail::Jail::default()),
            files: Vec::new(),
            positions: Mutex::new(Vec::new()),
            journal_matches: None,
            ignore_command: None,
            actions: Vec::new(),
            wants_captures: false,
            to_actions: Mutex::new(std::sync::mpsc::channel().0),
        }
    }

    #[test]
    fn the_store_writes_a_jails_ban_ahead_and_keeps_the_others() {
        let dir = std::env::temp_dir().join(format!("ferroban-store-{}", std::process::id()));
        let store = Store::new(dir.join("db.ferroban"));
        let (a, b) = (shared("a"), shared("b"));
        let pos = Position {
            id: FileId { dev: 1, ino: 2 },
            pos: 42,
        };
        b.positions
            .lock()
            .expect("lock")
            .push(("/f".into(), pos.clone()));
        store.save_all([&a, &b]).expect("save");
        // A ban in jail a is on disk once save_jail returns.
        let added = a
            .jail
            .lock()
            .expect("lock")
            .bans
            .add(BanTicket::manual("192.0.2.1", 10.0), 10.0);
        assert!(matches!(added, crate::jail::bans::Added::Banned));
        store.save_jail(&a).expect("save");
        let back = load(store.path()).expect("load");
        assert_eq!(back.bans.len(), 1);
        assert_eq!(back.bans[0].0, "a");
        assert_eq!(back.positions, vec![("b".into(), "/f".into(), pos)]);
        // A jail no longer running leaves the file with the next save_all.
        store.save_all([&a]).expect("save");
        assert!(load(store.path()).expect("load").positions.is_empty());
        let _ = fs::remove_dir_all(dir);
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
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&p).expect("saved").permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
        assert_eq!(
            load(&dir.join("none")).expect("missing is empty"),
            Saved::default()
        );
        let _ = fs::remove_dir_all(dir);
    }
}
