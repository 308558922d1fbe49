//! Following log files: new complete lines since the last look.
//!
//! A `FileTail` remembers where it stopped in one file. Each `poll` reads
//! what was appended, keeps a last line that is not finished yet for the
//! next time, and survives the ways logs are rotated:
//! - rename and create (logrotate's default): the old file is read to its
//!   end first, so lines written just before the rename are not lost (a
//!   loss fail2ban has), then the new file is read from its start;
//! - copytruncate: the file shrinks below our position, so reading starts
//!   again at its beginning;
//! - delete and recreate: the old file (still open) is read to its end,
//!   then the new one from its start.
//!
//! A file that does not exist yet is picked up once it appears. Positions
//! can be saved and given back on restart, with the file's identity, so a
//! restart neither repeats nor skips lines; a position always points at
//! the start of a line (an unfinished last line is read again whole). When
//! the file was rotated while the daemon was down, the rotated file is
//! found beside it by its identity and read to its end first.
//!
//! Garbage does not stop reading: lines longer than `MAX_LINE` are cut,
//! invalid UTF-8 is replaced, and only regular files are opened (a FIFO or
//! a directory put in a log's place is waited out, never blocked on). Each
//! such problem is reported once per file through `take_warnings`.

pub mod journal;
pub mod notify;

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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

    /// Appends a line read as bytes (invalid UTF-8 replaced). Public for
    /// the fuzz targets (`crate::fuzzing`), which decode as the daemon does.
    #[doc(hidden)]
    pub fn push_bytes(&mut self, b: &[u8]) {
        self.push_line(b);
    }

    /// `push_bytes`; false when the line was not valid UTF-8.
    fn push_line(&mut self, b: &[u8]) -> bool {
        if self.len == self.bufs.len() {
            self.bufs.push(String::new());
        }
        let slot = &mut self.bufs[self.len];
        slot.clear();
        self.len += 1;
        match std::str::from_utf8(b) {
            Ok(s) => {
                slot.push_str(s);
                true
            }
            Err(_) => {
                slot.push_str(&String::from_utf8_lossy(b));
                false
            }
        }
    }
}

/// Lines longer than this are cut (the rest is dropped and counted), so a
/// log without newlines cannot use up memory.
pub const MAX_LINE: usize = 64 * 1024;

/// How long a followed file may be missing before it is reported: a
/// rename rotation leaves the name empty for a moment, which is normal.
const GONE_GRACE: Duration = Duration::from_secs(2);

/// Problems reported once per file (bits of `FileTail::reported`).
const LONG: u8 = 1;
const BAD_UTF8: u8 = 2;
const NUL: u8 = 4;
/// Reported again when it comes back after the file did.
const GONE: u8 = 8;

pub struct FileTail {
    pub path: PathBuf,
    file: Option<(File, FileId)>,
    /// Where the next read starts.
    pos: u64,
    /// Where the unfinished line in `partial` starts: the position saved
    /// for a restart, so that line is read again whole.
    line_start: u64,
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
    /// Problems already reported (see the constants above).
    reported: u8,
    /// Reports not taken yet (`take_warnings`).
    warnings: Vec<String>,
    /// Since when the file has been missing (after it was followed).
    missing_since: Option<Instant>,
    /// What the path holds instead of a regular file, as last reported.
    odd: Option<&'static str>,
}

/// Bytes read at a time: a few hundred log lines.
const READ_CHUNK: usize = 16 * 1024;

fn file_id(m: &std::fs::Metadata) -> FileId {
    FileId {
        dev: m.dev(),
        ino: m.ino(),
    }
}

/// What a path holds when it is not a regular file, in words.
fn kind_of(t: std::fs::FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

/// Opens `path` for reading if it is a regular file, with its identity
/// and size. Opened without blocking (a FIFO swapped in between the look
/// and the open must not hang the reader) and checked on the open file.
fn open_regular(path: &Path) -> io::Result<Result<(File, FileId, u64), &'static str>> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)?;
    let m = f.metadata()?;
    if !m.file_type().is_file() {
        return Ok(Err(kind_of(m.file_type())));
    }
    Ok(Ok((f, file_id(&m), m.len())))
}

/// A file beside `path` (its rotated copy: `auth.log.1`, `auth.log-2024…`)
/// that is still the file `saved` points into.
fn find_rotated(path: &Path, saved: &Position) -> Option<File> {
    let name = path.file_name()?.to_str()?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let other = e.file_name();
        let Some(other) = other.to_str() else {
            continue;
        };
        if other == name || !other.starts_with(name) {
            continue;
        }
        if let Ok(Ok((f, id, len))) = open_regular(&e.path())
            && id == saved.id
            && len >= saved.pos
        {
            return Some(f);
        }
    }
    None
}

impl FileTail {
    /// Follows `path`; `tail` starts at the current end of the file,
    /// otherwise at `saved` (when it is still the same file) or at the
    /// beginning. When the file under `path` is no longer the saved one
    /// but that one is still beside it (rotated while we were down), its
    /// rest is read first.
    pub fn new(path: &Path, tail: bool, saved: Option<&Position>) -> FileTail {
        let mut t = FileTail {
            path: path.to_path_buf(),
            file: None,
            pos: 0,
            line_start: 0,
            partial: Vec::new(),
            cut_bytes: 0,
            in_operation: tail,
            read_since_eof: false,
            rbuf: Vec::new(),
            reported: 0,
            warnings: Vec::new(),
            missing_since: None,
            odd: None,
        };
        let current = match open_regular(path) {
            Ok(Ok(open)) => Some(open),
            Ok(Err(kind)) => {
                t.odd_file(kind);
                None
            }
            Err(_) => None,
        };
        let same = matches!((&current, saved),
            (Some((_, id, len)), Some(s)) if s.id == *id && s.pos <= *len);
        let rotated = match saved {
            Some(s) if !same => find_rotated(path, s).map(|f| (f, s)),
            _ => None,
        };
        match (current, saved, rotated) {
            (Some((f, id, _)), Some(s), _) if same => {
                t.pos = s.pos;
                t.file = Some((f, id));
            }
            // Rotated while we were down: finish the old file; the next
            // look at the name finds the new one.
            (_, _, Some((old, s))) => {
                t.pos = s.pos;
                t.file = Some((old, s.id));
            }
            (Some((f, id, len)), _, None) => {
                t.pos = if tail { len } else { 0 };
                t.file = Some((f, id));
            }
            (None, _, None) => {}
        }
        t.line_start = t.pos;
        t
    }

    /// Where reading stands now: the start of the first line not read
    /// whole yet.
    pub fn position(&self) -> Option<Position> {
        self.file.as_ref().map(|(_, id)| Position {
            id: *id,
            pos: self.line_start,
        })
    }

    /// Problems met since the last call, each reported once per file
    /// (a missing or odd file again after it came back).
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// Reports what the path holds instead of a log file, once per kind
    /// in a row.
    fn odd_file(&mut self, kind: &'static str) {
        if self.odd != Some(kind) {
            self.odd = Some(kind);
            let msg = format!(
                "{} is {kind}: waiting for a log file there",
                self.path.display()
            );
            self.warnings.push(msg);
        }
    }

    fn report(&mut self, problem: u8, msg: String) {
        if self.reported & problem == 0 {
            self.reported |= problem;
            self.warnings.push(msg);
        }
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
            // Gone (rotated away, not recreated yet): wait for it, and
            // say so if that lasts.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if self.file.is_some() {
                    let since = *self.missing_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= GONE_GRACE {
                        let msg = format!(
                            "{} has vanished: waiting for it to come back",
                            self.path.display()
                        );
                        self.report(GONE, msg);
                    }
                }
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        self.missing_since = None;
        self.reported &= !GONE;
        if !m.file_type().is_file() {
            self.odd_file(kind_of(m.file_type()));
            return Ok(false);
        }
        self.odd = None;
        let id = file_id(&m);
        match &self.file {
            Some((_, cur)) if *cur == id => {
                if m.len() < self.pos {
                    // Truncated in place: start over.
                    self.pos = 0;
                    self.line_start = 0;
                    self.partial.clear();
                    return self.drain(out, max);
                }
                Ok(false)
            }
            _ => {
                let (f, id) = match open_regular(&self.path)? {
                    Ok((f, id, _)) => (f, id),
                    // Replaced again since the look: next time.
                    Err(_) => return Ok(false),
                };
                // A new file under the name: finish the old one's last line.
                self.flush_partial(out);
                // A file that appears later is read from its start.
                self.pos = 0;
                self.line_start = 0;
                self.file = Some((f, id));
                self.drain(out, max)
            }
        }
    }

    fn flush_partial(&mut self, out: &mut Lines) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.emit(out, &line);
            self.partial = line;
            self.partial.clear();
        }
    }

    /// Hands one line to `out`, noting what was odd about it.
    fn emit(&mut self, out: &mut Lines, line: &[u8]) {
        if !out.push_line(line) {
            let msg = format!(
                "{}: invalid UTF-8 in a line (bytes replaced); reading goes on",
                self.path.display()
            );
            self.report(BAD_UTF8, msg);
        }
        if memchr::memchr(0, line).is_some() {
            let msg = format!(
                "{}: NUL bytes in a line (kept as they are); reading goes on",
                self.path.display()
            );
            self.report(NUL, msg);
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
        let mut rbuf = std::mem::take(&mut self.rbuf);
        let result = self.drain_with(out, max, &mut rbuf);
        self.rbuf = rbuf;
        result
    }

    fn drain_with(&mut self, out: &mut Lines, max: usize, rbuf: &mut [u8]) -> io::Result<bool> {
        let cut_before = self.cut_bytes;
        let result = loop {
            let Some((f, _)) = self.file.as_mut() else {
                break Ok(false);
            };
            let n = match f.read(rbuf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(e),
            };
            if n == 0 {
                break Ok(false);
            }
            self.read_since_eof = true;
            let mut chunk = &rbuf[..n];
            let mut full = false;
            while let Some(nl) = memchr::memchr(b'\n', chunk) {
                let room = MAX_LINE.saturating_sub(self.partial.len());
                let take = nl.min(room);
                self.partial.extend_from_slice(&chunk[..take]);
                self.cut_bytes += (nl - take) as u64;
                if self.partial.last() == Some(&b'\r') {
                    self.partial.pop();
                }
                let line = std::mem::take(&mut self.partial);
                self.emit(out, &line);
                self.partial = line;
                self.partial.clear();
                self.pos += (nl + 1) as u64;
                self.line_start = self.pos;
                chunk = &chunk[nl + 1..];
                if out.len() >= max {
                    full = true;
                    break;
                }
            }
            if full {
                break Ok(true);
            }
            let room = MAX_LINE.saturating_sub(self.partial.len());
            let take = chunk.len().min(room);
            self.partial.extend_from_slice(&chunk[..take]);
            self.cut_bytes += (chunk.len() - take) as u64;
            self.pos += chunk.len() as u64;
        };
        if self.cut_bytes > cut_before {
            let msg = format!(
                "{}: line(s) longer than {MAX_LINE} bytes, cut there (the rest is dropped); reading goes on",
                self.path.display()
            );
            self.report(LONG, msg);
        }
        result
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
    fn a_saved_position_is_a_line_start() {
        let d = dir("linestart");
        let p = d.join("a.log");
        append(&p, "whole\nhalf");
        let mut t = FileTail::new(&p, false, None);
        assert_eq!(poll(&mut t), ["whole"]);
        // "half" is read but not finished: a restart reads it again.
        assert_eq!(t.position().expect("open").pos, 6);
        append(&p, " done\n");
        let saved = t.position().expect("open");
        let mut again = FileTail::new(&p, false, Some(&saved));
        assert_eq!(poll(&mut again), ["half done"]);
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn a_rotation_while_down_reads_the_old_files_rest_first() {
        let d = dir("down");
        let p = d.join("a.log");
        append(&p, "1\n");
        let mut t = FileTail::new(&p, false, None);
        assert_eq!(poll(&mut t), ["1"]);
        let saved = t.position().expect("open");
        drop(t);
        append(&p, "2 after the stop\n");
        std::fs::rename(&p, d.join("a.log.1")).expect("rename");
        append(&p, "3 in the new file\n");
        let mut t = FileTail::new(&p, false, Some(&saved));
        assert_eq!(poll(&mut t), ["2 after the stop", "3 in the new file"]);
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn fifos_and_directories_are_waited_out_and_reported_once() {
        let d = dir("odd");
        let p = d.join("a.log");
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("fifo");
        // Opening a FIFO for reading would block here until a writer came.
        let mut t = FileTail::new(&p, false, None);
        assert!(poll(&mut t).is_empty());
        assert!(poll(&mut t).is_empty());
        let w = t.take_warnings();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("is a FIFO"), "{w:?}");
        std::fs::remove_file(&p).expect("rm");
        std::fs::create_dir(&p).expect("mkdir");
        assert!(poll(&mut t).is_empty());
        assert!(poll(&mut t).is_empty());
        assert_eq!(t.take_warnings().len(), 1);
        std::fs::remove_dir(&p).expect("rmdir");
        std::fs::write(&p, b"a line\n\xff\n").expect("write");
        assert_eq!(poll(&mut t), ["a line", "\u{fffd}"]);
        assert_eq!(t.take_warnings().len(), 1);
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
