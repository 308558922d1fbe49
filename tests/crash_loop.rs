//! The daemon killed with `kill -9` at random moments, over and over, while
//! failures keep coming in.
//!
//! Why it exists: a crash must not cost a ban nor double one. After each
//! restart (without `-x`) every ban the action applied before is back in
//! `status` and re-applied as restored; no address is banned afresh while
//! its first ban still holds (a second firewall rule); and the restarted
//! server goes on from the saved read position, a line boundary that never
//! moves back, so no line is counted by two lives of the server. The kill
//! moments come from a small PRNG whose seed is printed: set
//! `CRASH_LOOP_SEED` (and `CRASH_LOOP_CYCLES`) to replay a failure.

mod common;

use common::{client, failure_line, record_conf, say, server_pid, wait_for};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const CLIENT: &str = env!("CARGO_BIN_EXE_fail2ban-client");

/// xorshift64*: small, deterministic, enough to pick moments.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `lo..hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

/// Addresses per group of the writer that get two failures only.
const GROUP_DECOYS: u64 = 21;

/// The address of the `n`th attacker: documentation addresses, IPv4 first.
fn address(n: u64) -> String {
    if n < 254 {
        format!("192.0.2.{}", n + 1)
    } else {
        format!("2001:db8::{n:x}")
    }
}

/// The read position the state file holds for `log`.
fn saved_position(dir: &Path, log: &Path) -> Option<u64> {
    let text = fs::read_to_string(dir.join("f2b.db.ferroban")).ok()?;
    let want = log.display().to_string();
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split('\t').collect();
        match f.as_slice() {
            ["pos", "sshd", path, _, _, pos] if *path == want => pos.parse().ok(),
            _ => None,
        }
    })
}

/// The action log cut into the server's lives (each starts with `start`):
/// per life, its `ban` lines as (address, restored).
fn lives(actions: &str) -> Vec<Vec<(String, bool)>> {
    let mut out: Vec<Vec<(String, bool)>> = Vec::new();
    for l in actions.lines() {
        if l == "start" {
            out.push(Vec::new());
        } else if let Some(rest) = l.strip_prefix("ban ") {
            let (ip, restored) = rest.split_once(" restored=").expect("ban line");
            out.last_mut()
                .expect("a ban after a start")
                .push((ip.to_string(), restored == "1"));
        }
    }
    out
}

/// Checks that no address was banned afresh while banned: per address, a
/// fresh ban (restored=0) at most once, never after any earlier ban (the
/// ban time outlasts the test), and at most one ban line per life.
fn check_no_double_ban(actions: &str, seed: u64) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (k, life) in lives(actions).iter().enumerate() {
        let mut this_life = BTreeSet::new();
        for (ip, restored) in life {
            assert!(
                this_life.insert(ip.clone()),
                "{ip} banned twice in life {k} (seed {seed}):\n{actions}"
            );
            if !restored && let Some(first) = seen.get(ip) {
                panic!(
                    "{ip} banned afresh in life {k} while its ban from life {first} holds (seed {seed})"
                );
            }
            seen.entry(ip.clone()).or_insert(k);
        }
    }
}

fn kill_9(pid: i32) {
    use nix::sys::signal::{Signal, kill};
    kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL).expect("kill -9");
    wait_for("the killed server to go", || {
        !Path::new(&format!("/proc/{pid}")).exists()
            || fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.split_whitespace().nth(2) == Some("Z"))
    });
}

/// Failure lines in `log` from byte `from` on.
fn lines_after(log: &Path, from: u64) -> u64 {
    let data = fs::read(log).expect("log");
    let from = usize::try_from(from).expect("small").min(data.len());
    data[from..].iter().filter(|b| **b == b'\n').count() as u64
}

#[test]
fn kill_9_at_random_moments_loses_and_doubles_nothing() {
    let seed = std::env::var("CRASH_LOOP_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    let cycles: usize = std::env::var("CRASH_LOOP_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    say(&format!(
        "crash_loop: seed {seed}, {cycles} cycles (replay: CRASH_LOOP_SEED={seed} CRASH_LOOP_CYCLES={cycles})"
    ));
    let mut rng = Rng(seed);
    let tmp = common::TempDir::new("crash-loop");
    let dir: PathBuf = tmp.0.clone();
    let _server = common::ServerGuard(dir.clone());
    record_conf(&dir, "maxretry = 3\nfindtime = 1h\nbantime = 1h\n");
    let log = dir.join("auth.log");
    fs::write(&log, "").expect("log");
    let actions = || fs::read_to_string(dir.join("actions.txt")).unwrap_or_default();

    // The writer: a line every 10 to 20 ms, in groups of 45 shuffled
    // lines: three for one address (a ban at maxretry 3) and two each for
    // 21 others, which must never be banned (a line counted twice would).
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, written, log) = (stop.clone(), written.clone(), log.clone());
        let mut rng = Rng(seed ^ 0x9E37_79B9_7F4A_7C15);
        std::thread::spawn(move || {
            let mut n = 0u64;
            for group in 0.. {
                let mut ips: Vec<u64> = vec![0, 0, 0];
                ips.extend((1..=GROUP_DECOYS).flat_map(|i| [i, i]));
                for i in (1..ips.len()).rev() {
                    ips.swap(i, rng.range(0, i as u64 + 1) as usize);
                }
                for k in ips {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let ip = address(group * (GROUP_DECOYS + 1) + k);
                    common::append(&log, &failure_line(&ip, n));
                    n += 1;
                    written.store(n, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(rng.range(10, 20)));
                }
            }
        })
    };

    let started = Instant::now();
    let mut pid = 0;
    let mut position = 0u64;
    for life in 0..=cycles {
        client(CLIENT, &dir, &["start"]);
        wait_for("the server to answer", || {
            client(CLIENT, &dir, &["ping"]).contains("pong")
        });
        wait_for("a new pid file", || {
            server_pid(&dir).is_some_and(|p| p != pid)
        });
        pid = server_pid(&dir).expect("pid");
        wait_for("this life's actionstart", || {
            lives(&actions()).len() == life + 1
        });
        // Every ban applied in an earlier life comes back, restored.
        let all = lives(&actions());
        let before: BTreeSet<String> = all[..life]
            .iter()
            .flatten()
            .map(|(ip, _)| ip.clone())
            .collect();
        wait_for("the earlier bans restored", || {
            let now = lives(&actions());
            let restored: BTreeSet<String> = now[life]
                .iter()
                .filter(|(_, r)| *r)
                .map(|(ip, _)| ip.clone())
                .collect();
            before.is_subset(&restored)
        });
        let status = client(CLIENT, &dir, &["status", "sshd"]);
        let listed: BTreeSet<String> = common::banned_list(&status).into_iter().collect();
        assert!(
            before.is_subset(&listed),
            "life {life}: bans missing from status: {:?} (seed {seed})",
            before.difference(&listed).collect::<Vec<_>>()
        );
        check_no_double_ban(&actions(), seed);
        if life == cycles {
            break;
        }
        // Let it run for a random while, then kill it.
        std::thread::sleep(Duration::from_millis(rng.range(50, 1200)));
        let status = client(CLIENT, &dir, &["status", "sshd"]);
        let failed = common::status_number(&status, "Total failed:").expect("total");
        // This life read from `position` on: it cannot have counted more
        // lines than there are after it.
        let there = lines_after(&log, position);
        assert!(
            failed <= there,
            "life {life} counted {failed} failures, only {there} lines after its start position {position} (seed {seed})"
        );
        kill_9(pid);
        let saved = saved_position(&dir, &log).unwrap_or(0);
        let data = fs::read(&log).expect("log");
        assert!(
            saved >= position && saved as usize <= data.len(),
            "saved position {saved} went back from {position} or past the end (seed {seed})"
        );
        assert!(
            saved == 0 || data[saved as usize - 1] == b'\n',
            "saved position {saved} is not at a line start (seed {seed})"
        );
        position = saved;
        // Down for a moment while lines keep coming.
        std::thread::sleep(Duration::from_millis(rng.range(0, 300)));
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");
    let total = written.load(Ordering::SeqCst);
    // The last life reads every line after its start position, once.
    let expected = lines_after(&log, position);
    wait_for("the last life to count every line left", || {
        common::status_number(&client(CLIENT, &dir, &["status", "sshd"]), "Total failed:")
            == Some(expected)
    });
    std::thread::sleep(Duration::from_millis(700));
    let status = client(CLIENT, &dir, &["status", "sshd"]);
    assert_eq!(
        common::status_number(&status, "Total failed:"),
        Some(expected),
        "{status}"
    );
    check_no_double_ban(&actions(), seed);
    let all = lives(&actions());
    let banned: BTreeSet<String> = all.iter().flatten().map(|(ip, _)| ip.clone()).collect();
    let meant: BTreeSet<String> = (0..=total / 45)
        .map(|g| address(g * (GROUP_DECOYS + 1)))
        .collect();
    let decoys: Vec<&String> = banned.difference(&meant).collect();
    assert!(
        decoys.is_empty(),
        "banned with two failures written: {decoys:?} (seed {seed})"
    );
    assert!(
        banned.len() >= 10,
        "too few bans to tell anything: {} (seed {seed})",
        banned.len()
    );
    client(CLIENT, &dir, &["stop"]);
    let log_text = fs::read_to_string(dir.join("f2b.log")).unwrap_or_default();
    assert!(!log_text.contains("panicked"), "{log_text}");
    say(&format!(
        "crash_loop: {cycles} kills, {total} lines written, {} addresses banned, {:.0?}",
        banned.len(),
        started.elapsed()
    ));
}
