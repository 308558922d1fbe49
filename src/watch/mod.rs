//! Following log files: new complete lines since the last look.
//!
//! A `FileTail` remembers where it stopped in one file. Each `poll` reads
//! what was appended, keeps a last line that is not finished yet for the
//! next time, and survives the two ways logs are rotated:
//! - rename and create (logrotate's default): the old file is read to its
//!   end first, so lines written just before the rename are not lost (a
//!   loss fail2ban has), then the new file is read from its start;
//! - copytruncate: the file shrinks below our position, so reading starts
//!   again at its beginning.
//!
//! A file that does not exist yet is picked up once it appears. Positions
//! can be saved and given back on restart, with the file's identity, so a
//! restart neither repeats nor skips lines.

pub mod journal;
pub mod notify;

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A file's identity: device and inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

/// Where reading stopped in a file, to carry over a restart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    pub id: FileId,
    pub pos: u64,
}

/// Lines read from files, kept between batches so their buffers are
/// reused instead of allocated for every line.
#[derive(Default)]
pub struct Lines {
    bufs: Vec<String>,
    len: usize,
}

impl Lines {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.bufs[..self.len].iter().map(String::as_str)
    }

    /// Forgets the lines, keeping their buffers.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends a line read as bytes (invalid UTF-8 replaced).
    fn push_bytes(&mut self, b: &[u8]) {
        if self.len == self.bufs.len() {
            self.bufs.push(String::new());
        }
        let slot = &mut self.bufs[self.len];
        slot.clear();
        match std::str::from_utf8(b) {
            Ok(s) => slot.push_str(s),
            Err(_) => slot.push_str(&String::from_utf8_lossy(b)),
        }
        self.len += 1;
    }
}

/// Lines longer than this are cut (the rest is dropped and counted), so a
/// log without newlines cannot use up memory.
pub const MAX_LINE: usize = 64 * 1024;

pub struct FileTail {
    pub path: PathBuf,
    file: Option<(File, FileId)>,
    pos: u64,
    partial: Vec<u8>,
    /// Bytes dropped from over-long lines.
    pub cut_bytes: u64,
    /// The file has been read to its end once after content came (or it
    /// was opened at its end): what follows is new (fail2ban's
    /// `inOperation`, which changes how a jail dates lines).
    pub in_operation: bool,
    /// Something was read since the end of the file was last reached.
    read_since_eof: bool,
    /// The read buffer, kept from one read to the next.
    rbuf: Vec<u8>,
}

/// Bytes read at a time: a few hundred log lines.
const READ_CHUNK: usize = 16 * 1024;

fn file_id(m: &std::fs::Metadata) -> FileId {
    FileId {
        dev: m.dev(),
        ino: m.ino(),
    }
}

impl FileTail {
    /// Follows `path`; `tail` starts at the current end of the file,
    /// otherwise at `saved` (when it is still the same file) or at the
    /// beginning.
    pub fn new(path: &Path, tail: bool, saved: Option<&Position>) -> FileTail {
        let mut t = FileTail {
            path: path.to_path_buf(),
            file: None,
            pos: 0,
            partial: Vec::new(),
            cut_bytes: 0,
            in_operation: tail,
            read_since_eof: false,
            rbuf: Vec::new(),
        };
        if let Ok(f) = File::open(path)
            && let Ok(m) = f.metadata()
        {
            let id = file_id(&m);
            t.pos = match saved {
                Some(s) if s.id == id && s.pos <= m.len() => s.pos,
                _ if tail => m.len(),
                _ => 0,
            };
            t.file = Some((f, id));
        }
        t
    }

    /// Where reading stands now.
    pub fn position(&self) -> Option<Position> {
        self.file.as_ref().map(|(_, id)| Position {
            id: *id,
            pos: self.pos,
        })
    }

    /// Appends to `out` the lines completed since the last call, at most
    /// `max` of them; returns true when more may be waiting (call again).
    /// Read `in_operation` before: it applies to these lines, and turns
    /// true once the file has been read to its end after some content.
    pub fn poll(&mut self, out: &mut Lines, max: usize) -> io::Result<bool> {
        let more = self.poll_inner(out, max)?;
        if !more && self.read_since_eof {
            self.in_operation = true;
            self.read_since_eof = false;
        }
        Ok(more)
    }

    fn poll_inner(&mut self, out: &mut Lines, max: usize) -> io::Result<bool> {
        if self.file.is_some() && self.drain(out, max)? {
            return Ok(true);
        }
        let m = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            // Gone (rotated away, not recreated yet): wait for it.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        let id = file_id(&m);
        match &self.file {
            Some((_, cur)) if *cur == id => {
                if m.len() < self.pos {
                    // Truncated in place: start over.
                    self.pos = 0;
                    self.partial.clear();
                    return self.drain(out, max);
                }
                Ok(false)
            }
            _ => {
                // A new file under the name: finish the old one's last line.
                self.flush_partial(out);
                let f = File::open(&self.path)?;
                // A file that appears later is read from its start.
                self.pos = 0;
                self.file = Some((f, id));
                self.drain(out, max)
            }
        }
    }

    fn flush_partial(&mut self, out: &mut Lines) {
        if !self.partial.is_empty() {
            out.push_bytes(&self.partial);
            self.partial.clear();
        }
    }

    /// Reads from `pos` towards the end of the open file; true when it
    /// stopped early because `out` holds `max` lines.
    fn drain(&mut self, out: &mut Lines, max: usize) -> io::Result<bool> {
        let Some((f, _)) = self.file.as_mut() else {
            return Ok(false);
        };
        f.seek(SeekFrom::Start(self.pos))?;
        self.rbuf.resize(READ_CHUNK, 0);
        loop {
            let n = f.read(&mut self.rbuf)?;
            if n == 0 {
                return Ok(false);
            }
            self.read_since_eof = true;
            let mut chunk = &self.rbuf[..n];
            while let Some(nl) = memchr::memchr(b'\n', chunk) {
                let room = MAX_LINE.saturating_sub(self.partial.len());
                let take = nl.min(room);
                self.partial.extend_from_slice(&chunk[..take]);
                self.cut_bytes += (nl - take) as u64;
                if self.partial.last() == Some(&b'\r') {
                    self.partial.pop();
                }
                out.push_bytes(&self.partial);
                self.partial.clear();
                self.pos += (nl + 1) as u64;
                chunk = &chunk[nl + 1..];
                if out.len() >= max {
                    return Ok(true);
                }
            }
            let room = MAX_LINE.saturating_sub(self.partial.len());
            let take = chunk.len().min(room);
            self.partial.extend_from_slice(&chunk[..take]);
            self.cut_bytes += (chunk.len() - take) as u64;
            self.pos += chunk.len() as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ferroban-watch-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("dir");
        d
    }

    fn append(p: &Path, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .expect("open");
        f.write_all(text.as_bytes()).expect("write");
    }

    fn poll(t: &mut FileTail) -> Vec<String> {
        let mut out = Lines::default();
        let mut all = Vec::new();
        loop {
            let more = t.poll(&mut out, 2).expect("poll");
            all.extend(out.iter().map(str::to_string));
            out.clear();
            if !more {
                return all;
            }
        }
    }

    #[test]
    fn appends_partial_lines_and_head_or_tail() {
        let d = dir("append");
        let p = d.join("a.log");
        append(&p, "old 1\nold 2\n");
        let mut head = FileTail::new(&p, false, None);
        let mut tail = FileTail::new(&p, true, None);
        assert!(!head.in_operation && tail.in_operation);
        assert_eq!(poll(&mut head), ["old 1", "old 2"]);
        assert!(head.in_operation);
        assert!(poll(&mut tail).is_empty());
        append(&p, "new 1\nhalf");
        assert_eq!(poll(&mut tail), ["new 1"]);
        append(&p, " done\r\n");
        assert_eq!(poll(&mut tail), ["half done"]);
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn rename_rotation_loses_nothing() {
        let d = dir("rotate");
        let p = d.join("a.log");
        append(&p, "1\n");
        let mut t = FileTail::new(&p, false, None);
        assert_eq!(poll(&mut t), ["1"]);
        append(&p, "2 written before the rename\n");
        std::fs::rename(&p, d.join("a.log.1")).expect("rename");
        append(&p, "3 in the new file\n");
        assert_eq!(
            poll(&mut t),
            ["2 written before the rename", "3 in the new file"]
        );
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn copytruncate_and_late_files() {
        let d = dir("truncate");
        let p = d.join("a.log");
        let mut t = FileTail::new(&p, false, None);
        assert!(poll(&mut t).is_empty());
        append(&p, "first line of a new file\n");
        assert_eq!(poll(&mut t), ["first line of a new file"]);
        std::fs::write(&p, "").expect("truncate");
        append(&p, "after\n");
        assert_eq!(poll(&mut t), ["after"]);
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn positions_resume_and_long_lines_are_cut() {
        let d = dir("resume");
        let p = d.join("a.log");
        append(&p, "a\nb\n");
        let mut t = FileTail::new(&p, false, None);
        assert_eq!(poll(&mut t).len(), 2);
        let saved = t.position().expect("open");
        append(&p, "c\n");
        let mut again = FileTail::new(&p, false, Some(&saved));
        assert_eq!(poll(&mut again), ["c"]);
        append(&p, &"x".repeat(MAX_LINE + 10));
        append(&p, "\n");
        let lines = poll(&mut again);
        assert_eq!(lines[0].len(), MAX_LINE);
        assert_eq!(again.cut_bytes, 10);
        let _ = std::fs::remove_dir_all(d);
    }
}
