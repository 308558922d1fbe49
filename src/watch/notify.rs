//! Waking up when a followed log file changes, through inotify.
//!
//! The directories holding the files are watched (not the files), so that
//! a file created later or renamed by logrotate also wakes the jail. The
//! jail reads its files after each wake-up, and at least every `wait`
//! timeout, so missing an event (or a full inotify queue) only delays.

use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use inotify::{Inotify, WatchMask};

pub struct Notifier {
    inotify: Inotify,
    buf: Vec<u8>,
}

impl Notifier {
    /// Watches the directories of `files`.
    pub fn new(files: &[PathBuf]) -> io::Result<Notifier> {
        let inotify = Inotify::init()?;
        let mut dirs: Vec<&Path> = files.iter().filter_map(|f| f.parent()).collect();
        dirs.sort();
        dirs.dedup();
        let mask = WatchMask::MODIFY
            | WatchMask::CLOSE_WRITE
            | WatchMask::CREATE
            | WatchMask::MOVED_TO
            | WatchMask::MOVED_FROM
            | WatchMask::DELETE
            | WatchMask::ATTRIB;
        for d in dirs {
            let d = if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            };
            inotify.watches().add(d, mask)?;
        }
        Ok(Notifier {
            inotify,
            buf: vec![0; 16 * 1024],
        })
    }

    /// Waits up to `timeout` for a change; true when one came. Pending
    /// events are all consumed: one look at the files serves them all.
    pub fn wait(&mut self, timeout: Duration) -> bool {
        let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [nix::poll::PollFd::new(
            self.inotify.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let ready = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)).unwrap_or(0) > 0;
        let mut any = false;
        while let Ok(mut events) = self.inotify.read_events(&mut self.buf) {
            if events.next().is_none() {
                break;
            }
            any = true;
        }
        ready && any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_on_append_and_times_out_otherwise() {
        let d = std::env::temp_dir().join(format!("ferroban-notify-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("dir");
        let f = d.join("a.log");
        std::fs::write(&f, "").expect("file");
        let mut n = Notifier::new(std::slice::from_ref(&f)).expect("inotify");
        assert!(!n.wait(Duration::from_millis(50)));
        let writer = std::thread::spawn({
            let f = f.clone();
            move || {
                std::thread::sleep(Duration::from_millis(50));
                std::fs::write(&f, "line\n").expect("write");
            }
        });
        let start = std::time::Instant::now();
        assert!(n.wait(Duration::from_secs(5)));
        assert!(start.elapsed() < Duration::from_secs(2));
        writer.join().expect("writer");
        let _ = std::fs::remove_dir_all(d);
    }
}
