//! Helpers shared by the integration tests.

#![allow(dead_code)] // each test binary uses its own part

pub mod netns;
pub mod server;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Copies a directory tree (a configuration) recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for e in fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let dest = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            fs::copy(e.path(), &dest).expect("copy");
        }
    }
}

/// Waits up to 20 s for `ok`, failing the test with `what`.
pub fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The syslog date of now (`Nov 28 14:05:09`), as `date` prints it.
pub fn stamp_now() -> String {
    let out = Command::new("date")
        .env("LC_ALL", "C")
        .arg("+%b %e %H:%M:%S")
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Writes `conf/fail2ban.conf` for a server of the test's own: its log
/// (INFO), socket, pid file and state kept in `dir`.
pub fn server_conf(conf: &Path, dir: &Path) {
    let d = dir.display();
    fs::write(
        conf.join("fail2ban.conf"),
        format!(
            "[Definition]\nloglevel = INFO\nlogtarget = {d}/f2b.log\nsocket = {d}/f2b.sock\n\
             pidfile = {d}/f2b.pid\ndbfile = {d}/state\n"
        ),
    )
    .expect("fail2ban.conf");
}

/// `n` sshd "Failed password" lines for `ip`, dated now (so a server takes
/// them as new failures).
pub fn failures(ip: &str, n: usize) -> String {
    let stamp = stamp_now();
    (0..n)
        .map(|k| {
            format!(
                "{stamp} host sshd[{}]: Failed password for root from {ip} port {} ssh2\n",
                100 + k,
                4000 + k
            )
        })
        .collect()
}

/// Appends `text` to the file `log` (created if missing).
pub fn append(log: &Path, text: &str) {
    use std::io::Write;
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log");
    f.write_all(text.as_bytes()).expect("append");
}

/// Runs `client -c conf args...` and returns its stdout.
pub fn client(bin: &str, conf: &Path, args: &[&str]) -> String {
    let out = Command::new(bin)
        .arg("-c")
        .arg(conf)
        .args(args)
        .output()
        .expect("client runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A directory of the test's own under the system temp dir, named after
/// the test and the process, removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("ferroban-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Quoted-printable mail text decoded: soft line breaks joined, `=XX`
/// bytes, CRLF line ends made LF.
pub fn unquote_printable(text: &str) -> String {
    let joined = text
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("\r\n", "\n");
    let b = joined.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (b[i], hex) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `cmd` is a program on the PATH.
pub fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Writes straight to stderr, past libtest's output capture, so that a skip
/// or a summary shows up in CI logs even when the test passes.
pub fn say(message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{message}");
}

/// Why Debian's fail2ban-regex (`bin`, with its stock `config`) cannot serve
/// as the reference here, if it cannot.
pub fn stock_fail2ban_missing(bin: &str, config: &str) -> Option<String> {
    if !Path::new(bin).is_file() {
        return Some(format!("{bin} is missing (apt-get install fail2ban)"));
    }
    if !Path::new(config).join("filter.d").is_dir() {
        return Some(format!(
            "{config}/filter.d is missing (apt-get install fail2ban)"
        ));
    }
    None
}

/// Runs `cmd` with no input for at most `timeout`, reading its stdout and
/// stderr on threads (so a large output cannot block it); its status and
/// both outputs, or why it did not finish.
pub fn output_within(
    cmd: &mut Command,
    timeout: Duration,
) -> Result<(std::process::ExitStatus, String, String), String> {
    use std::io::Read;
    use std::process::Stdio;
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = read(Box::new(child.stdout.take().expect("piped stdout")));
    let err = read(Box::new(child.stderr.take().expect("piped stderr")));
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{program} timed out after {timeout:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("waiting for {program}: {e}")),
        }
    };
    Ok((
        status,
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    ))
}

/// A copy of the configuration `source` under `dir/etc` for a server of the
/// test's own: its socket, pid file, state and log (a file, at `loglevel`)
/// kept in `dir`, `jail_local` as jail.local, and Debian's jail.d default
/// (which enables sshd) left out.
pub fn private_conf(
    source: &Path,
    dir: &Path,
    loglevel: &str,
    jail_local: &str,
) -> std::path::PathBuf {
    let conf = dir.join("etc");
    copy_dir(source, &conf);
    let _ = fs::remove_file(conf.join("jail.d/defaults-debian.conf"));
    let d = dir.display();
    fs::write(
        conf.join("fail2ban.local"),
        format!(
            "[Definition]\nloglevel = {loglevel}\nlogtarget = {d}/f2b.log\nsocket = {d}/f2b.sock\n\
             pidfile = {d}/f2b.pid\ndbfile = {d}/f2b.db\n"
        ),
    )
    .expect("fail2ban.local");
    fs::write(conf.join("jail.local"), jail_local).expect("jail.local");
    conf
}

/// A private server configuration in `dir` for the robustness tests: the
/// shipped sshd filter, an `sshd` jail on `dir/auth.log` with `jail_extra`
/// lines (maxretry, bantime...), and an action `record` that appends
/// `start`, `ban <ip> restored=<0|1>` and `unban <ip>` lines to
/// `dir/actions.txt`. The server logs to `dir/f2b.log`, keeps its state
/// in `dir/f2b.db.ferroban`.
pub fn record_conf(dir: &Path, jail_extra: &str) {
    fs::create_dir_all(dir.join("action.d")).expect("dir");
    fs::create_dir_all(dir.join("filter.d")).expect("dir");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/fail2ban/filter.d");
    for f in ["common.conf", "sshd.conf"] {
        fs::copy(shipped.join(f), dir.join("filter.d").join(f)).expect("filter");
    }
    let d = dir.display();
    fs::write(
        dir.join("fail2ban.conf"),
        format!(
            "[Definition]\nlogtarget = {d}/f2b.log\nsocket = {d}/f2b.sock\npidfile = {d}/f2b.pid\n\
             dbfile = {d}/f2b.db\n"
        ),
    )
    .expect("fail2ban.conf");
    fs::write(
        dir.join("jail.conf"),
        format!(
            "[sshd]\nenabled = true\nfilter = sshd\nlogpath = {d}/auth.log\naction = record\n\
             {jail_extra}\n"
        ),
    )
    .expect("jail.conf");
    fs::write(
        dir.join("action.d/record.conf"),
        format!(
            "[Definition]\nactionstart = echo start >> {d}/actions.txt\n\
             actionban = echo \"ban <ip> restored=<restored>\" >> {d}/actions.txt\n\
             actionunban = echo \"unban <ip>\" >> {d}/actions.txt\n"
        ),
    )
    .expect("action");
}

/// The number after `label` ("Total failed:") in a `status <jail>` text.
pub fn status_number(status: &str, label: &str) -> Option<u64> {
    let rest = &status[status.find(label)? + label.len()..];
    rest.split_whitespace().next()?.parse().ok()
}

/// The addresses of the `Banned IP list:` line of a `status <jail>` text.
pub fn banned_list(status: &str) -> Vec<String> {
    status
        .lines()
        .find_map(|l| l.split_once("Banned IP list:"))
        .map(|(_, ips)| ips.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// The pid in `dir/f2b.pid`, if it holds one.
pub fn server_pid(dir: &Path) -> Option<i32> {
    fs::read_to_string(dir.join("f2b.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// An sshd failure line for `ip` dated now, with `n` in its port so each
/// line is its own.
pub fn failure_line(ip: &str, n: u64) -> String {
    let stamp = stamp_now();
    format!(
        "{stamp} host sshd[{}]: Failed password for root from {ip} port {} ssh2\n",
        1000 + n % 30000,
        1024 + n % 60000
    )
}

/// Kills the server whose pid file is in its directory when dropped, if
/// it still runs: a failed test (or a `stop` that timed out) leaves no
/// server behind. Declare it after the `TempDir`, so it goes first.
pub struct ServerGuard(pub std::path::PathBuf);

impl Drop for ServerGuard {
    fn drop(&mut self) {
        use nix::sys::signal::{Signal, kill};
        let Some(pid) = server_pid(&self.0) else {
            return;
        };
        let pid = nix::unistd::Pid::from_raw(pid);
        if kill(pid, Signal::SIGKILL).is_ok() {
            let start = Instant::now();
            while Path::new(&format!("/proc/{pid}")).exists()
                && !fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|s| s.split_whitespace().nth(2) == Some("Z"))
                && start.elapsed() < Duration::from_secs(5)
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
