//! The Mageia wiki's "Testing Fail2ban" walk-through, run for real.
//!
//! Why it exists: the wiki tells an admin how to check fail2ban after
//! enabling its `[ssh-shorewall]` jail: mails arrive when the jail starts
//! and on a ban, five bad ssh logins from another computer lock it out,
//! `fail2ban-client -v status ssh-shorewall` shows the ban, and `shorewall
//! allow` lets the address back. This test does exactly that with the real
//! programs: rsyslog writes the auth log (imuxsock on /dev/log, traditional
//! format); OpenSSH's sshd (logging through syslog, password logins on)
//! and Shorewall run in a private network namespace (192.0.2.1), the
//! attacker (`sshpass`) in another one (192.0.2.2) on a veth link; our
//! `fail2ban-server` runs in the server's namespace (so `shorewall` acts
//! there) on a copy of the shipped `etc/fail2ban` with the wiki's jail;
//! mails go through dma to /var/mail/root (only what the test appended is
//! read). A second test makes the mail program unavailable: the mail is
//! then logged, and the ban still happens.
//!
//! It prints `walkthrough: ban latency N ms`: from the moment rsyslog
//! received sshd's fifth failure line to the address being in Shorewall's
//! `dynamic` chain (with the bounds the polling gives). Nothing is asserted
//! on time.
//!
//! Needs root, `ip`, `shorewall` (with its example configurations),
//! `iptables`, `sshd`, `ssh`, `ssh-keygen`, `sshpass`, `rsyslogd` and
//! dma's `sendmail`, and a free /dev/log (no syslog daemon running); it
//! says why and returns otherwise. CI runs as root and installs them
//! (`.ci/run`). Everything is removed afterwards, also when a check fails:
//! processes, namespaces (after `shorewall clear`), /etc/netns/<ns>,
//! /dev/log, /run/sshd if the test made it, and the temp directory. The
//! two tests take a lock (in-process, and an abstract socket name against
//! other processes), since /dev/log and root's mailbox are shared.

mod common;
use common::TempDir;
use common::have;
use common::netns::{Netns, SHOREWALL_EXAMPLE};

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SERVER: &str = env!("CARGO_BIN_EXE_fail2ban-server");
const CLIENT: &str = env!("CARGO_BIN_EXE_fail2ban-client");

const RSYSLOGD: &str = "/usr/sbin/rsyslogd";
const SSHD: &str = "/usr/sbin/sshd";
const SENDMAIL: &str = "/usr/sbin/sendmail";
const DEV_LOG: &str = "/dev/log";
const RUN_SSHD: &str = "/run/sshd";
const MAILBOX: &str = "/var/mail/root";

const SERVER_IP: &str = "192.0.2.1";
const ATTACKER: &str = "192.0.2.2";
const JAIL: &str = "ssh-shorewall";
/// What Shorewall's `reject` puts in its dynamic chain.
const DYNAMIC_RULE: &str = "-A dynamic -s 192.0.2.2/32 -j reject";
/// Polls give up after this long.
const PATIENCE: Duration = Duration::from_secs(30);

/// The two tests share /dev/log and root's mailbox: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

fn ms(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("{cmd:?} does not run: {e}"))
}

/// Polls `ok` every 20 ms for up to [`PATIENCE`]; on a timeout fails with
/// `what` and the text `explain` gives.
fn wait_until(what: &str, mut ok: impl FnMut() -> bool, explain: impl Fn() -> String) {
    let start = Instant::now();
    while !ok() {
        if start.elapsed() > PATIENCE {
            panic!("timed out waiting for {what}\n{}", explain());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends SIGTERM, waits up to 10 s, then SIGKILL.
fn terminate(child: &mut Child) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    if child.try_wait().ok().flatten().is_some() {
        return;
    }
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Why the walk-through cannot run here, if it cannot.
fn missing_prerequisite() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root (network namespaces, Shorewall, sshd, /dev/log)".into());
    }
    for cmd in [
        "ip",
        "shorewall",
        "iptables",
        "ssh",
        "ssh-keygen",
        "sshpass",
    ] {
        if !have(cmd) {
            return Some(format!(
                "needs {cmd} (apt-get install -y iproute2 shorewall iptables openssh-client sshpass)"
            ));
        }
    }
    for (path, package) in [
        (SSHD, "openssh-server"),
        (RSYSLOGD, "rsyslog"),
        (SENDMAIL, "dma"),
    ] {
        if !Path::new(path).exists() {
            return Some(format!("needs {path} (apt-get install -y {package})"));
        }
    }
    if !Path::new(SHOREWALL_EXAMPLE).is_dir() {
        return Some(format!(
            "needs Shorewall's example configuration in {SHOREWALL_EXAMPLE} (package shorewall, with /usr/share/doc installed)"
        ));
    }
    None
}

// ---------------------------------------------------------------- guards

/// Keeps walk-throughs of other processes (another checkout running the
/// suite) off /dev/log while this one runs: an abstract unix socket name
/// in the host's network namespace, which only one process can hold and
/// which goes with it, leaving no file behind.
struct HostLock(#[allow(dead_code)] UnixListener);

impl HostLock {
    fn take() -> HostLock {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(b"ferroban-walkthrough")
            .expect("abstract socket name");
        let start = Instant::now();
        let mut told = false;
        loop {
            match UnixListener::bind_addr(&addr) {
                Ok(l) => return HostLock(l),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    if !told {
                        eprintln!("walkthrough: waiting for another walk-through to finish");
                        told = true;
                    }
                    assert!(
                        start.elapsed() < Duration::from_secs(600),
                        "another walk-through held the lock for 10 minutes"
                    );
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("bind the lock socket: {e}"),
            }
        }
    }
}

/// sshd's privilege separation directory, made (and later removed) only
/// if it is missing.
struct RunSshd {
    made: bool,
}

impl RunSshd {
    fn ensure() -> RunSshd {
        if Path::new(RUN_SSHD).is_dir() {
            return RunSshd { made: false };
        }
        fs::create_dir_all(RUN_SSHD).expect("mkdir /run/sshd");
        RunSshd { made: true }
    }
}

impl Drop for RunSshd {
    fn drop(&mut self) {
        if self.made {
            let _ = fs::remove_dir(RUN_SSHD);
        }
    }
}

/// Our rsyslogd on /dev/log: `auth.log` (auth, authpriv), `all.log`
/// (everything), both in the traditional format, and `precise.log`
/// (everything, stamped with rsyslog's reception time in microseconds, for
/// the latency figures).
struct Syslog {
    child: Child,
    auth: PathBuf,
    all: PathBuf,
    precise: PathBuf,
}

impl Syslog {
    /// Starts rsyslogd, or says why it cannot (another daemon owns
    /// /dev/log).
    fn start(dir: &Path) -> Result<Syslog, String> {
        if fs::symlink_metadata(DEV_LOG).is_ok() {
            let probe = UnixDatagram::unbound().expect("datagram socket");
            if probe.connect(DEV_LOG).is_ok() {
                return Err(format!(
                    "a syslog daemon already owns {DEV_LOG}; the walk-through needs its own rsyslog there (stop the daemon to run it)"
                ));
            }
            // Left behind by a daemon that died: nobody reads it.
            eprintln!("walkthrough: removing a stale {DEV_LOG} nobody listens on");
            fs::remove_file(DEV_LOG).expect("rm stale /dev/log");
        }
        let auth = dir.join("auth.log");
        let all = dir.join("all.log");
        let precise = dir.join("precise.log");
        let conf = dir.join("rsyslog.conf");
        fs::write(
            &conf,
            format!(
                "module(load=\"imuxsock\" SysSock.Name=\"{DEV_LOG}\" SysSock.RateLimit.Interval=\"0\")\n\
                 template(name=\"precise\" type=\"string\" string=\"%timegenerated:::date-unixtimestamp%.%timegenerated:::date-subseconds% %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\\n\")\n\
                 $ActionFileDefaultTemplate RSYSLOG_TraditionalFileFormat\n\
                 auth,authpriv.* {}\n\
                 *.* {}\n\
                 *.* {};precise\n",
                auth.display(),
                all.display(),
                precise.display()
            ),
        )
        .expect("rsyslog.conf");
        let child = Command::new(RSYSLOGD)
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(dir.join("rsyslog.pid"))
            .stdout(Stdio::null())
            .stderr(File::create(dir.join("rsyslog.err")).expect("rsyslog.err"))
            .spawn()
            .expect("rsyslogd starts");
        let s = Syslog {
            child,
            auth,
            all,
            precise,
        };
        // Ready when a line sent to /dev/log reaches the auth log.
        let marker = format!("walkthrough-ready-{}", std::process::id());
        wait_until(
            "rsyslog to write the auth log",
            || {
                if let Ok(sock) = UnixDatagram::unbound() {
                    // <38>: facility auth (4), severity info (6).
                    let _ = sock.send_to(format!("<38>walkthrough: {marker}").as_bytes(), DEV_LOG);
                }
                std::thread::sleep(Duration::from_millis(100));
                read(&s.auth).contains(&marker)
            },
            || read(&dir.join("rsyslog.err")),
        );
        Ok(s)
    }
}

impl Drop for Syslog {
    fn drop(&mut self) {
        terminate(&mut self.child);
        // Ours: rsyslogd made it (it may have removed it itself).
        let _ = fs::remove_file(DEV_LOG);
    }
}

fn read(path: &Path) -> String {
    fs::read(path).map(|b| text(&b)).unwrap_or_default()
}

/// A daemon run in the foreground, stopped at the end.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        terminate(&mut self.0);
    }
}

/// Root's mailbox, from its size when the test began.
struct Mailbox {
    start: u64,
}

impl Mailbox {
    fn open() -> Mailbox {
        Mailbox {
            start: fs::metadata(MAILBOX).map(|m| m.len()).unwrap_or(0),
        }
    }

    /// What was appended since the test began.
    fn appended(&self) -> String {
        let Ok(mut f) = File::open(MAILBOX) else {
            return String::new();
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        // Emptied by someone else meanwhile: all of it is new.
        let from = if len < self.start { 0 } else { self.start };
        let mut buf = Vec::new();
        let _ = f.seek(SeekFrom::Start(from));
        let _ = f.read_to_end(&mut buf);
        text(&buf)
    }

    /// The appended mails, each from its mbox `From ` line on.
    fn mails(&self) -> Vec<String> {
        let mut mails: Vec<String> = Vec::new();
        let mut blank = true;
        for line in self.appended().lines() {
            if blank && line.starts_with("From ") {
                mails.push(String::new());
            }
            if let Some(m) = mails.last_mut() {
                m.push_str(line);
                m.push('\n');
            }
            blank = line.is_empty();
        }
        mails
    }

    /// The appended mail whose subject starts with `prefix`: its envelope
    /// sender line and the rest of its subject.
    fn find(&self, prefix: &str) -> Option<(String, String)> {
        self.mails().into_iter().find_map(|m| {
            let rest = m
                .lines()
                .take_while(|l| !l.is_empty())
                .find_map(|l| l.strip_prefix(&format!("Subject: {prefix}")))?
                .to_string();
            Some((m.lines().next().unwrap_or_default().to_string(), rest))
        })
    }
}

// ---------------------------------------------------------------- set-up

/// The whole set-up: syslog, namespaces, Shorewall, sshd, our server.
/// Fields drop in order: the server first, the lock last.
struct Walkthrough {
    server: Daemon,
    _sshd: Daemon,
    srv: Netns,
    att: Netns,
    syslog: Syslog,
    _run_sshd: RunSshd,
    mailbox: Mailbox,
    conf: PathBuf,
    sock: PathBuf,
    dir: TempDir,
    _lock: HostLock,
}

impl Walkthrough {
    /// Sets everything up, the wiki's jail with `mail_options` added to its
    /// sendmail action; `Err` says why it cannot run here.
    fn new(name: &str, mail_options: &str) -> Result<Walkthrough, String> {
        if let Some(why) = missing_prerequisite() {
            return Err(why);
        }
        let lock = HostLock::take();
        let dir = TempDir::new(name);
        let d = dir.0.clone();
        let syslog = Syslog::start(&d)?;
        let run_sshd = RunSshd::ensure();
        let mailbox = Mailbox::open();

        // The attacker's and the server's namespaces, on a veth link made
        // straight inside them (nothing is left on the host).
        let pid = std::process::id();
        let mut srv = Netns::new(&format!("f2bwt-srv-{name}-{pid}"));
        let att = Netns::new(&format!("f2bwt-att-{name}-{pid}"));
        srv.ip(&[
            "link", "add", "wt-srv", "type", "veth", "peer", "name", "wt-att", "netns", &att.name,
        ]);
        srv.ip(&["addr", "add", &format!("{SERVER_IP}/24"), "dev", "wt-srv"]);
        att.ip(&["addr", "add", &format!("{ATTACKER}/24"), "dev", "wt-att"]);
        srv.ip(&["link", "set", "wt-srv", "up"]);
        att.ip(&["link", "set", "wt-att", "up"]);
        srv.start_shorewall("wt-srv", &d.join("shorewall-var"));

        // sshd, logging through syslog, password logins on.
        let key = d.join("ssh_host_ed25519_key");
        let out = run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", ""])
            .arg("-f")
            .arg(&key));
        assert!(out.status.success(), "ssh-keygen: {}", text(&out.stderr));
        let sshd_config = d.join("sshd_config");
        fs::write(
            &sshd_config,
            format!(
                "ListenAddress {SERVER_IP}\nPort 22\nHostKey {}\nPidFile {}\nSyslogFacility AUTH\nLogLevel INFO\n\
                 PasswordAuthentication yes\nKbdInteractiveAuthentication no\nUsePAM yes\nUseDNS no\n",
                key.display(),
                d.join("sshd.pid").display()
            ),
        )
        .expect("sshd_config");
        let sshd = Daemon(
            srv.cmd(&[SSHD, "-D", "-f"])
                .arg(&sshd_config)
                .stdout(Stdio::null())
                .stderr(File::create(d.join("sshd.err")).expect("sshd.err"))
                .spawn()
                .expect("sshd starts"),
        );
        let listening = format!("Server listening on {SERVER_IP} port 22.");
        wait_until(
            "sshd to listen (its line in the auth log)",
            || read(&syslog.auth).contains(&listening),
            || {
                format!(
                    "sshd: {}\nauth.log:\n{}",
                    read(&d.join("sshd.err")),
                    read(&syslog.auth)
                )
            },
        );

        // Our configuration: the shipped one, the server's files in the
        // temp dir, the wiki's jail.
        let conf = d.join("etc");
        common::copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/fail2ban"),
            &conf,
        );
        let sock = d.join("f2b.sock");
        fs::write(
            conf.join("fail2ban.local"),
            format!(
                "[Definition]\nlogtarget = SYSLOG\nsocket = {}\npidfile = {}\ndbfile = {}\n",
                sock.display(),
                d.join("f2b.pid").display(),
                d.join("f2b.db").display()
            ),
        )
        .expect("fail2ban.local");
        fs::write(
            conf.join("jail.local"),
            format!(
                "[{JAIL}]\n\
                 enabled  = true\n\
                 filter   = sshd\n\
                 action   = shorewall\n\
                 \x20          sendmail[name=SSH, dest=root, sender=fail2ban@localhost{mail_options}]\n\
                 logpath  = {}\n\
                 maxretry = 5\n\
                 bantime  = 6000\n",
                syslog.auth.display()
            ),
        )
        .expect("jail.local");
        let server = Daemon(
            srv.cmd(&[SERVER, "-f", "-x", "-c"])
                .arg(&conf)
                .arg("start")
                .stdout(Stdio::null())
                .stderr(File::create(d.join("server.err")).expect("server.err"))
                .spawn()
                .expect("the server starts"),
        );
        let w = Walkthrough {
            server,
            _sshd: sshd,
            srv,
            att,
            syslog,
            _run_sshd: run_sshd,
            mailbox,
            conf,
            sock,
            dir,
            _lock: lock,
        };
        wait_until(
            "the server to answer ping",
            || w.client(&["ping"]).0.contains("pong"),
            || w.explain(),
        );
        let pidfile = read(&w.dir.0.join("f2b.pid"));
        assert_eq!(pidfile.trim(), w.pid().to_string(), "pid file");
        Ok(w)
    }

    fn pid(&self) -> u32 {
        self.server.0.id()
    }

    /// Our fail2ban-client on the test's configuration: stdout, stderr.
    fn client(&self, args: &[&str]) -> (String, String, Option<i32>) {
        let out = run(Command::new(CLIENT).arg("-c").arg(&self.conf).args(args));
        (text(&out.stdout), text(&out.stderr), out.status.code())
    }

    /// Shorewall's dynamic chain in the server's namespace.
    fn dynamic(&self) -> String {
        text(&self.srv.run(&["iptables", "-w", "-S", "dynamic"]).stdout)
    }

    /// Whether the attacker can open a connection to port 22.
    fn attacker_connects(&self) -> bool {
        self.att
            .run(&[
                "timeout",
                "3",
                "bash",
                "-c",
                &format!("echo > /dev/tcp/{SERVER_IP}/22"),
            ])
            .status
            .success()
    }

    /// One ssh login as a non-existent user with a wrong password, from
    /// the attacker's namespace (started, not waited for).
    fn login(&self) -> Child {
        self.att
            .cmd(&[
                "sshpass",
                "-v",
                "-p",
                "wrong-password",
                "ssh",
                "-F",
                "/dev/null",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "PreferredAuthentications=password",
                "-o",
                "NumberOfPasswordPrompts=1",
                "-o",
                "ConnectTimeout=10",
                &format!("foobar@{SERVER_IP}"),
                "true",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sshpass runs")
    }

    /// The server's lines in the syslog (all.log).
    fn server_syslog(&self) -> Vec<String> {
        let tag = format!("[{}]: ", self.pid());
        read(&self.syslog.all)
            .lines()
            .filter(|l| l.contains("fail2ban") && l.contains(&tag))
            .map(str::to_string)
            .collect()
    }

    /// What to show when something times out or differs.
    fn explain(&self) -> String {
        let d = &self.dir.0;
        format!(
            "--- server stderr:\n{}\n--- all.log:\n{}\n--- mails appended:\n{}",
            read(&d.join("server.err")),
            read(&self.syslog.all),
            self.mailbox.appended()
        )
    }

    /// sshd's failure lines for the attacker, as the sshd filter finds
    /// them ("Invalid user" and "Failed password"), with the time rsyslog
    /// received each.
    fn failure_lines(&self) -> Vec<(f64, String)> {
        read(&self.syslog.precise)
            .lines()
            .filter(|l| {
                l.contains(" sshd[")
                    && (l.contains(&format!("]: Invalid user foobar from {ATTACKER} "))
                        || l.contains(&format!(
                            "]: Failed password for invalid user foobar from {ATTACKER} "
                        )))
            })
            .filter_map(|l| {
                let (stamp, rest) = l.split_once(' ')?;
                Some((stamp.parse().ok()?, rest.to_string()))
            })
            .collect()
    }

    /// When rsyslog received the server's line containing `what`.
    fn server_line_time(&self, what: &str) -> Option<f64> {
        let tag = format!("[{}]: ", self.pid());
        read(&self.syslog.precise).lines().find_map(|l| {
            let (stamp, rest) = l.split_once(' ')?;
            (rest.starts_with("fail2ban") && rest.contains(&tag) && rest.contains(what))
                .then(|| stamp.parse().ok())?
        })
    }

    /// Step 2: five logins with a non-existent account, one at a time,
    /// while the auth log and Shorewall's dynamic chain are watched. Each
    /// login made before the ban is in force gets one password prompt and
    /// "Permission denied"; each one made after is refused without a
    /// prompt. Returns the latency figures.
    fn five_logins(&self) -> Latency {
        let mut watch = Watch::default();
        let mut lines = Vec::new();
        for n in 1..=5 {
            let banned_before = watch.ban_seen.is_some();
            let started = Instant::now();
            // A guard: a failing check does not leave it running.
            let mut child = Daemon(self.login());
            while child.0.try_wait().expect("wait").is_none() {
                watch.poll(self);
                assert!(
                    started.elapsed() < PATIENCE,
                    "login {n} hangs\n{}",
                    self.explain()
                );
                std::thread::sleep(Duration::from_millis(2));
            }
            let status = child.0.wait().expect("sshpass status");
            let mut err = String::new();
            if let Some(mut e) = child.0.stderr.take() {
                e.read_to_string(&mut err).expect("sshpass stderr");
            }
            let prompts = err.matches("SSHPASS: detected prompt").count();
            let denied = err.contains("Permission denied");
            let refused = err.contains("Connection refused");
            let what = if banned_before {
                "locked out (connection refused)"
            } else {
                "one password prompt, then \"Permission denied\""
            };
            lines.push(format!("login {n}: {what}"));
            if banned_before {
                assert!(
                    refused && prompts == 0 && !denied,
                    "login {n}, after the ban, was not refused at once:\n{err}"
                );
            } else {
                assert!(
                    denied && prompts == 1 && !status.success(),
                    "login {n} did not get one password prompt and \"Permission denied\":\n{err}"
                );
            }
            // Once the fifth failure is logged, the ban comes before the
            // next login (so each login knows what to expect).
            if watch.fifth.is_some() || self.failure_lines().len() >= 5 {
                let start = Instant::now();
                while watch.ban_seen.is_none() {
                    watch.poll(self);
                    assert!(
                        start.elapsed() < PATIENCE,
                        "no ban in Shorewall's dynamic chain after the fifth failure:\n{}\n{}",
                        self.dynamic(),
                        self.explain()
                    );
                }
            }
        }
        for l in &lines {
            println!("walkthrough: {l}");
        }
        let failures = self.failure_lines();
        assert!(
            failures.len() >= 5,
            "five logins logged {} failures:\n{}",
            failures.len(),
            read(&self.syslog.auth)
        );
        let fifth = watch.fifth.expect("fifth failure seen");
        let (lower, upper) = watch.ban_seen.expect("ban seen");
        let mut logged = None;
        wait_until(
            "the server's Ban line in syslog",
            || {
                logged = self.server_line_time(&format!("Ban {ATTACKER}"));
                logged.is_some()
            },
            || self.explain(),
        );
        Latency {
            lower: (lower - fifth).max(0.0),
            upper: upper - fifth,
            logged: logged.expect("Ban line") - fifth,
        }
    }

    /// Step 4: `fail2ban-client -v status ssh-shorewall`, in fail2ban
    /// 1.0.2's layout. Returns (currently failed, total failed).
    fn check_status(&self, banned: &[&str]) -> (u64, u64) {
        let (out, err, code) = self.client(&["-v", "status", JAIL]);
        assert_eq!(code, Some(0), "{out}{err}");
        assert!(
            err.contains(&format!("Using socket file {}", self.sock.display())),
            "-v does not say which socket it uses:\n{err}"
        );
        let number = |label: &str| -> u64 {
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("|  |- {label}:\t")))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no number for {label}:\n{out}"))
        };
        let (current, total) = (number("Currently failed"), number("Total failed"));
        let want = format!(
            "Status for the jail: {JAIL}\n\
             |- Filter\n\
             |  |- Currently failed:\t{current}\n\
             |  |- Total failed:\t{total}\n\
             |  `- File list:\t{}\n\
             `- Actions\n\
             \x20  |- Currently banned:\t{}\n\
             \x20  |- Total banned:\t1\n\
             \x20  `- Banned IP list:\t{}\n",
            self.syslog.auth.display(),
            banned.len(),
            banned.join(" ")
        );
        assert_eq!(out, want);
        assert!(total >= 5, "Total failed {total} < 5:\n{out}");
        (current, total)
    }

    /// Waits for the server's syslog line containing all of `parts`.
    fn wait_server_line(&self, what: &str, parts: &[&str]) -> String {
        let mut found = String::new();
        wait_until(
            what,
            || match self
                .server_syslog()
                .into_iter()
                .find(|l| parts.iter().all(|p| l.contains(p)))
            {
                Some(l) => {
                    found = l;
                    true
                }
                None => false,
            },
            || self.explain(),
        );
        found
    }

    /// Waits for the appended mail whose subject starts with `prefix`;
    /// checks its envelope sender; returns the rest of its subject.
    fn wait_mail(&self, prefix: &str) -> String {
        let mut found = None;
        wait_until(
            &format!("the mail \"{prefix}...\" in {MAILBOX}"),
            || {
                found = self.mailbox.find(prefix);
                found.is_some()
            },
            || self.explain(),
        );
        let (envelope, rest) = found.expect("mail");
        assert!(
            envelope.starts_with("From fail2ban@localhost "),
            "envelope sender: {envelope}"
        );
        rest
    }

    /// Step 9's first half: `fail2ban-client stop`, and the server exits.
    fn stop(&mut self) {
        let (out, err, _) = self.client(&["stop"]);
        assert_eq!(out.trim(), "Shutdown successful", "{err}");
        let start = Instant::now();
        while self.server.0.try_wait().expect("wait").is_none() {
            assert!(
                start.elapsed() < PATIENCE,
                "the server did not exit after stop\n{}",
                self.explain()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// What the login loop has seen: when rsyslog received the fifth failure,
/// and when the ban was seen in the dynamic chain (between the start of
/// the last poll that missed it and the end of the one that found it).
#[derive(Default)]
struct Watch {
    fifth: Option<f64>,
    last_miss: Option<f64>,
    ban_seen: Option<(f64, f64)>,
}

impl Watch {
    fn poll(&mut self, w: &Walkthrough) {
        if self.fifth.is_none() {
            self.fifth = w.failure_lines().get(4).map(|(t, _)| *t);
        }
        if let (Some(fifth), None) = (self.fifth, self.ban_seen) {
            let start = now();
            let found = w.dynamic().contains(DYNAMIC_RULE);
            let end = now();
            if found {
                let lower = self.last_miss.unwrap_or(fifth).max(fifth);
                self.ban_seen = Some((lower, end));
            } else {
                self.last_miss = Some(start);
            }
        }
    }
}

struct Latency {
    lower: f64,
    upper: f64,
    logged: f64,
}

impl Latency {
    fn print(&self) {
        println!(
            "walkthrough: ban latency {} ms (sshd's fifth failure received by rsyslog -> {ATTACKER} in Shorewall's dynamic chain; between {} and {} ms by polling; the server's Ban line came {} ms after the failure)",
            ms(self.upper),
            ms(self.lower),
            ms(self.upper),
            ms(self.logged)
        );
    }
}

fn lock() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The walk-through's set-up, one test at a time; None (having said why)
/// when it cannot run here.
fn set_up(
    name: &str,
    mail_options: &str,
) -> Option<(std::sync::MutexGuard<'static, ()>, Walkthrough)> {
    let one = lock();
    match Walkthrough::new(name, mail_options) {
        Ok(w) => Some((one, w)),
        Err(why) => {
            eprintln!("skipping: {why}");
            None
        }
    }
}

/// The wiki's walk-through, step by step.
#[test]
fn wiki_walkthrough_bans_an_ssh_attacker_with_shorewall_and_mails_root() {
    let Some((_one, mut w)) = set_up("wiki", "") else {
        return;
    };
    let pid = w.pid();

    // 1. The attacker reaches port 22.
    assert!(w.attacker_connects(), "the attacker cannot reach port 22");
    assert!(!w.dynamic().contains(ATTACKER), "{}", w.dynamic());

    // 2. Five logins with a non-existent account.
    let latency = w.five_logins();
    latency.print();

    // 3. Locked out: no new connection, the address in the dynamic chain.
    assert!(
        !w.attacker_connects(),
        "the attacker still connects after the ban"
    );
    assert!(w.dynamic().contains(DYNAMIC_RULE), "{}", w.dynamic());

    // 4. The status, as fail2ban 1.0.2 prints it.
    let (current, total) = w.check_status(&[ATTACKER]);
    println!("walkthrough: status after the ban: Currently failed {current}, Total failed {total}");

    // 5. The started and banned mails in root's mailbox.
    let host = w.wait_mail("[Fail2Ban] SSH: started on ");
    assert!(
        !host.is_empty() && !host.contains(char::is_whitespace) && !host.contains('<'),
        "host name in the subject: {host:?}"
    );
    let banned = w.wait_mail(&format!("[Fail2Ban] SSH: banned {ATTACKER} from "));
    assert_eq!(banned, host, "the banned mail names another host");

    // 6. The ban in syslog, from our server.
    w.wait_server_line(
        "the Ban line in syslog",
        &[&format!(
            "fail2ban.actions[{pid}]: NOTICE [{JAIL}] Ban {ATTACKER}"
        )],
    );

    // 7. `shorewall allow` lets the attacker in again; the daemon still
    //    answers, and still counts the address as banned.
    let out = w.srv.run(&["shorewall", "allow", ATTACKER]);
    assert!(
        out.status.success(),
        "shorewall allow: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(!w.dynamic().contains(ATTACKER), "{}", w.dynamic());
    assert!(
        w.attacker_connects(),
        "still locked out after shorewall allow"
    );
    let (out, err, _) = w.client(&["ping"]);
    assert_eq!(out.trim(), "Server replied: pong", "{err}");
    w.check_status(&[ATTACKER]);

    // 8. unbanip clears it from the status.
    let (out, err, _) = w.client(&["set", JAIL, "unbanip", ATTACKER]);
    assert_eq!(out.trim(), "1", "{err}");
    w.check_status(&[]);
    w.wait_server_line(
        "the Unban line in syslog",
        &[&format!(
            "fail2ban.actions[{pid}]: NOTICE [{JAIL}] Unban {ATTACKER}"
        )],
    );
    assert!(w.attacker_connects(), "locked out after unbanip");

    // 9. stop ends the daemon; the stopped mail arrives.
    w.stop();
    let stopped = w.wait_mail("[Fail2Ban] SSH: stopped on ");
    assert_eq!(stopped, host, "the stopped mail names another host");
}

/// The wiki: "If your mail server is not operational the email message
/// will appear in the syslog". The mail program is missing; the ban
/// happens and the banned mail's subject is logged with a warning.
#[test]
fn wiki_walkthrough_without_a_mail_server_logs_the_mail_and_still_bans() {
    let Some((_one, mut w)) = set_up("nomail", ", mailcmd=/nonexistent/sendmail") else {
        return;
    };
    let pid = w.pid();
    assert!(w.attacker_connects(), "the attacker cannot reach port 22");

    let latency = w.five_logins();
    latency.print();
    assert!(
        !w.attacker_connects(),
        "the attacker still connects after the ban"
    );
    assert!(w.dynamic().contains(DYNAMIC_RULE), "{}", w.dynamic());
    w.check_status(&[ATTACKER]);
    w.wait_server_line(
        "the Ban line in syslog",
        &[&format!(
            "fail2ban.actions[{pid}]: NOTICE [{JAIL}] Ban {ATTACKER}"
        )],
    );
    let warning = w.wait_server_line(
        "the unsent banned mail's warning in syslog",
        &[
            "WARNING",
            "mail not sent",
            &format!("[Fail2Ban] SSH: banned {ATTACKER} from "),
        ],
    );
    println!("walkthrough: {warning}");
    w.stop();
}
