//! `fail2ban-server`: reads the configuration, runs each jail on its own
//! threads (`jailrt`), and answers `fail2ban-client` on a root-only Unix
//! socket (`control`, `protocol`).
//!
//! Startup follows fail2ban: configuration into the command stream, then
//! the jails. Where fail2ban is weak we do better: a socket left behind by
//! a server that died is detected (nothing answers on it) and replaced
//! without `-x`; the socket only accepts the server's own user (root).

pub mod acting;
pub mod control;
pub mod jailrt;
pub mod log;
pub mod protocol;
pub mod reading;
pub mod state;

use std::io::{BufReader, BufWriter};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Sender, channel};
use std::time::Duration;

use clap::Parser;

use crate::action::runner::ShRunner;
use crate::config::jailspec::gather;
use crate::config::stream::Value;
use control::{After, Control};
use log::{Level, Logger};

/// fail2ban-server's options (fail2ban 1.0.2 names).
#[derive(Parser, Debug)]
#[command(name = "fail2ban-server", disable_version_flag = true)]
pub struct Args {
    #[command(flatten)]
    pub common: crate::cli::Common,
    /// logging level
    #[arg(long = "loglevel", value_name = "LEVEL")]
    pub loglevel: Option<String>,
    /// logging target
    #[arg(long = "logtarget", value_name = "TARGET")]
    pub logtarget: Option<String>,
    /// force execution of the server (remove socket file)
    #[arg(short = 'x')]
    pub force: bool,
    /// start server in background (default)
    #[arg(short = 'b')]
    pub background: bool,
    /// start server in foreground
    #[arg(short = 'f')]
    pub foreground: bool,
    /// print the version
    #[arg(short = 'V', long = "version")]
    pub version: bool,
    /// `start` (the only command the server takes itself).
    #[arg(trailing_var_arg = true)]
    pub command: Vec<String>,
}

enum Event {
    Signal(i32),
    Stop,
    /// Reload; the result goes back to the client that asked, if any.
    Reload(Option<Sender<Result<(), String>>>),
}

/// Whether a server answers on `socket`.
pub fn alive(socket: &Path) -> bool {
    let Ok(mut s) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let ping = Value::List(vec![Value::str("ping")]);
    protocol::write_frame(&mut s, &ping).is_ok() && protocol::read_frame(&mut s).is_ok()
}

/// Serves one client connection: commands until it hangs up.
fn serve(stream: UnixStream, ctl: &Control, events: &Sender<Event>) {
    // Only our own user (root, in production) may command the server.
    let me = nix::unistd::geteuid().as_raw();
    let peer = nix::sys::socket::getsockopt(&stream, nix::sys::socket::sockopt::PeerCredentials);
    if !peer.is_ok_and(|c| c.uid() == me || c.uid() == 0) {
        return;
    }
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let Ok(w) = stream.try_clone() else { return };
    let mut r = BufReader::new(stream);
    let mut w = BufWriter::new(w);
    while let Ok(req) = protocol::read_frame(&mut r) {
        let words: Vec<String> = match req {
            Value::List(items) => items.iter().map(Value::text).collect(),
            _ => break,
        };
        let (mut result, after) = ctl.handle(&words);
        if after == After::Reload {
            let (tx, rx) = channel();
            let done = events.send(Event::Reload(Some(tx))).is_ok();
            result = match rx.recv() {
                Ok(Ok(())) if done => result,
                Ok(Err(e)) => Err(e),
                _ => Err("the server is stopping".into()),
            };
        }
        if let Err(e) = &result {
            ctl.log.log(
                "fail2ban.transmitter",
                Level::Warning,
                &format!("Command {words:?} has failed. Received {e:?}"),
            );
        }
        if protocol::write_frame(&mut w, &protocol::reply(result)).is_err() {
            break;
        }
        if after == After::Shutdown {
            let _ = events.send(Event::Stop);
            break;
        }
    }
}

/// Makes the socket's (or pid file's) directory, root-only (0700) when we
/// make it. An existing directory named `fail2ban` owned by us (the usual
/// /run/fail2ban, which older packages made 0755) is made 0700 too; any
/// other existing directory (e.g. /run or /tmp) is left as it is: the
/// socket itself is 0600 in any case.
fn private_dir(dir: &Path, log: &Logger) {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    match std::fs::metadata(dir) {
        Ok(m) => {
            let ours = m.uid() == nix::unistd::geteuid().as_raw();
            let loose = m.mode() & 0o077 != 0;
            if ours
                && loose
                && m.is_dir()
                && dir.file_name().is_some_and(|n| n == "fail2ban")
                && let Err(e) =
                    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            {
                log.log(
                    "fail2ban.server",
                    Level::Warning,
                    &format!("Unable to make {} root-only: {e}", dir.display()),
                );
            }
        }
        Err(_) => {
            let _ = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir);
        }
    }
}

/// Binds the control socket with mode 0600 from the first moment: bound
/// under a temporary name, restricted, then renamed into place, so no
/// client ever finds it at its path with looser permissions.
fn bind_private(socket: &Path) -> std::io::Result<UnixListener> {
    let mut tmp = socket.as_os_str().to_owned();
    tmp.push(format!(".{}.new", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let listener = UnixListener::bind(&tmp)?;
    let placed = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
        .and_then(|()| std::fs::rename(&tmp, socket));
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(listener)
}

fn fail(msg: &str) -> i32 {
    eprintln!("ERROR: {msg}");
    255
}

/// Starts the jails the stream starts, each with what `saved` holds for it.
fn start_jails(
    g: &crate::config::jailspec::Gathered,
    log: &Arc<Logger>,
    runner: &Arc<dyn crate::action::runner::CommandRunner>,
    saved: &mut state::Saved,
    store: Option<&Arc<state::Store>>,
) -> Vec<jailrt::Running> {
    let mut running = Vec::new();
    // One history for all jails when one of them counts bans over all.
    let overall = g
        .jails
        .iter()
        .any(|j| j.started && jailrt::overall_jails(j))
        .then(|| {
            let o = crate::jail::Overall::default();
            for (_, id, count, time) in &saved.history {
                o.record(id, *count, *time);
            }
            o
        });
    for spec in g.jails.iter().filter(|j| j.started) {
        let restore = jailrt::Restore {
            bans: take_where(&mut saved.bans, |(j, _)| *j == spec.name)
                .into_iter()
                .map(|(_, t)| t)
                .collect(),
            positions: take_where(&mut saved.positions, |(j, _, _)| *j == spec.name)
                .into_iter()
                .map(|(_, f, p)| (f, p))
                .collect(),
            history: take_where(&mut saved.history, |(j, _, _, _)| *j == spec.name)
                .into_iter()
                .map(|(_, id, c, t)| (id, c, t))
                .collect(),
            overall: overall.clone(),
            history_max_age: g
                .server
                .get("dbpurgeage")
                .and_then(|v| crate::jail::time::str2seconds(&v.text()).ok()),
            store: store.cloned(),
        };
        log.log(
            "fail2ban.jail",
            Level::Info,
            &format!("Creating new jail '{}'", spec.name),
        );
        match jailrt::start(spec, log.clone(), runner.clone(), restore) {
            Ok(r) => {
                log.log(
                    "fail2ban.jail",
                    Level::Info,
                    &format!("Jail '{}' started", spec.name),
                );
                running.push(r);
            }
            Err(e) => log.log("fail2ban.jail", Level::Error, &e),
        }
    }
    running
}

/// Re-reads the configuration and restarts the jails on it, carrying over
/// their bans (re-applied through the actions) and read positions. On a
/// configuration error the running jails stay as they are.
fn reload(
    conf: &Path,
    running: &mut Vec<jailrt::Running>,
    ctl: &Control,
    log: &Arc<Logger>,
    runner: &Arc<dyn crate::action::runner::CommandRunner>,
    store: Option<&Arc<state::Store>>,
) -> Result<(), String> {
    let (stream, warnings) = crate::client::read_stream(conf, crate::config::jail::Missing::Watch);
    let stream = stream.map_err(|e| {
        format!("Failed during configuration: {e}; the running jails are kept as they are")
    })?;
    // A broken jail is not dropped from a running server (fail2ban would
    // reload without it): the whole configuration is refused.
    let problems = crate::client::check_config(conf, &stream);
    if !problems.is_empty() {
        return Err(format!(
            "Configuration not reloaded, the running jails are kept as they are: {}",
            problems.join("; ")
        ));
    }
    let g = gather(&stream);
    for w in &warnings {
        log.log("fail2ban.configreader", Level::Warning, w);
    }
    log.log("fail2ban.server", Level::Info, "Reload all jails");
    // The bans come back as after a restart: restored, with their own
    // ban time.
    let (mut saved, ban_times) = collect_saved(running);
    for (jail, t) in saved.bans.iter_mut() {
        t.ban_time = Some(t.ban_time(ban_time_of(&ban_times, jail)));
        t.restored = true;
    }
    for r in running.drain(..).rev() {
        r.stop();
    }
    *running = start_jails(&g, log, runner, &mut saved, store);
    if let Ok(mut j) = ctl.jails.write() {
        *j = running.iter().map(|r| r.shared.clone()).collect();
    }
    Ok(())
}

/// Removes and returns the items `pred` selects, keeping the others.
fn take_where<T>(items: &mut Vec<T>, pred: impl Fn(&T) -> bool) -> Vec<T> {
    let (taken, kept): (Vec<T>, Vec<T>) = std::mem::take(items).into_iter().partition(|i| pred(i));
    *items = kept;
    taken
}

/// The state of every jail: bans, ban history and read positions, with
/// each jail's `bantime`.
fn collect_saved(running: &[jailrt::Running]) -> (state::Saved, Vec<(String, f64)>) {
    let mut saved = state::Saved::default();
    let mut ban_times = Vec::new();
    for r in running {
        let sh = &r.shared;
        if let Ok(j) = sh.jail.lock() {
            ban_times.push((sh.name.clone(), j.bans.ban_time));
            saved
                .bans
                .extend(j.bans.tickets().map(|t| (sh.name.clone(), t.clone())));
            let mut h: Vec<_> = j
                .history
                .iter()
                .map(|(id, (c, t))| (sh.name.clone(), id.clone(), *c, *t))
                .collect();
            // A stable order: the file only changes when the state does.
            h.sort_by(|a, b| a.1.cmp(&b.1));
            saved.history.extend(h);
        }
        if let Ok(p) = sh.positions.lock() {
            saved.positions.extend(
                p.iter()
                    .map(|(f, pos)| (sh.name.clone(), f.clone(), pos.clone())),
            );
        }
    }
    (saved, ban_times)
}

fn ban_time_of(ban_times: &[(String, f64)], jail: &str) -> f64 {
    ban_times
        .iter()
        .find(|(n, _)| n == jail)
        .map_or(600.0, |(_, t)| *t)
}

/// Re-runs this program in the foreground, detached, and waits until it
/// answers (fail2ban's `-b`).
fn start_background(socket: &Path) -> i32 {
    let Ok(exe) = std::env::current_exe() else {
        return fail("cannot find the server program");
    };
    let mut args: Vec<String> = std::env::args().skip(1).filter(|a| a != "-b").collect();
    args.insert(0, "-f".into());
    use std::os::unix::process::CommandExt;
    // The server's stderr comes back only while it starts (to show why it
    // failed); once it answers, it keeps no tie to this terminal.
    let child = std::process::Command::new(exe)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return fail(&format!("cannot start the server: {e}")),
    };
    for _ in 0..300 {
        if alive(socket) {
            return 0;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            eprint!("{err}");
            return status.code().unwrap_or(255);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    fail("the server did not answer in time")
}

pub fn main() -> i32 {
    let args: Args = match crate::cli::parse() {
        Ok(a) => a,
        Err(code) => return code,
    };
    if args.version {
        println!("1.0.2");
        return 0;
    }
    let resolved = match args.common.resolve() {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    let opt = |k: &str| resolved.opt(k);
    let (socket, pidfile) = (resolved.socket.clone(), resolved.pidfile.clone());
    if socket.exists() {
        if alive(&socket) && !args.force {
            return fail(&format!("Server already running on {}", socket.display()));
        }
        // Nothing answers: a server died and left it. Replace it (fail2ban
        // refuses to start here unless given -x).
        let _ = std::fs::remove_file(&socket);
    }
    if !args.foreground {
        return start_background(&socket);
    }
    run(&args, &socket, &pidfile, &opt("syslogsocket"))
}

/// One malloc arena for the whole server: its threads take turns rather
/// than run at once, and per-thread arenas would each keep their own
/// free memory (glibc's default makes several on a 2-core machine).
fn one_arena() {
    // SAFETY: mallopt only changes allocator settings; called before the
    // server starts its threads.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Gives the memory freed after start-up (configuration parsing) back.
fn trim() {
    // SAFETY: malloc_trim only returns free heap pages to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn run(args: &Args, socket: &Path, pidfile: &Path, syslog_socket: &str) -> i32 {
    one_arena();
    let (stream, warnings) =
        crate::client::read_stream(&args.common.conf, crate::config::jail::Missing::Watch);
    let stream = match stream {
        Ok(s) => s,
        Err(e) => return fail(&format!("Failed during configuration: {e}")),
    };
    // What `fail2ban-client -t` reports stops the start: a jail that would
    // be skipped leaves its service unprotected without anyone noticing.
    let problems = crate::client::check_config(&args.common.conf, &stream);
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("ERROR {p}");
        }
        return fail("test configuration failed: the server does not start");
    }
    let g = gather(&stream);
    let server_opt = |k: &str| g.server.get(k).map(Value::text);
    let level = args
        .loglevel
        .clone()
        .or_else(|| server_opt("loglevel"))
        .and_then(|l| Level::parse(&l))
        .unwrap_or(Level::Info);
    let target = args
        .logtarget
        .clone()
        .or_else(|| server_opt("logtarget"))
        .unwrap_or_else(|| "STDERR".into());
    let log = match Logger::new(&target, syslog_socket, level) {
        Ok(l) => Arc::new(l),
        Err(e) => return fail(&format!("Unable to log to {target}: {e}")),
    };
    log.log(
        "fail2ban.server",
        Level::Info,
        "--------------------------------------------------",
    );
    log.log("fail2ban.server", Level::Info, "Starting Fail2ban v1.0.2");
    for w in &warnings {
        log.log("fail2ban.configreader", Level::Warning, w);
    }
    for e in &g.errors {
        log.log("fail2ban.transmitter", Level::Error, e);
    }
    for f in [socket, pidfile] {
        if let Some(dir) = f.parent()
            && !dir.as_os_str().is_empty()
        {
            private_dir(dir, &log);
        }
    }
    let listener = match bind_private(socket) {
        Ok(l) => l,
        Err(e) => return fail(&format!("Unable to bind socket {}: {e}", socket.display())),
    };
    if let Err(e) = std::fs::write(pidfile, format!("{}\n", std::process::id())) {
        log.log(
            "fail2ban.server",
            Level::Error,
            &format!("Unable to save pidfile {}: {e}", pidfile.display()),
        );
    }
    let runner: Arc<dyn crate::action::runner::CommandRunner> = Arc::new(ShRunner);
    let state_path = state::path_for(server_opt("dbfile").as_deref());
    let mut saved = match state_path.as_deref().map(state::load) {
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            log.log(
                "fail2ban.database",
                Level::Error,
                &format!("Unable to read the saved state: {e}"),
            );
            state::Saved::default()
        }
        None => state::Saved::default(),
    };
    if saved.skipped > 0 {
        let msg = format!(
            "{} unreadable line(s) of the saved state skipped",
            saved.skipped
        );
        log.log("fail2ban.database", Level::Warning, &msg);
    }
    // Saved by this thread about once a second, and by a jail's actions
    // thread before it acts on a new ban (see `state`).
    let store = state_path.map(|p| Arc::new(state::Store::new(p)));
    let mut running = start_jails(&g, &log, &runner, &mut saved, store.as_ref());
    let ctl = Arc::new(Control {
        jails: std::sync::RwLock::new(running.iter().map(|r| r.shared.clone()).collect()),
        log: log.clone(),
        syslog_socket: syslog_socket.to_string(),
        dbfile: server_opt("dbfile"),
        dbpurgeage: server_opt("dbpurgeage")
            .and_then(|v| crate::jail::time::str2seconds(&v).ok())
            .map(|v| v as i64),
    });
    trim();
    let (events, rx) = channel();
    {
        let events = events.clone();
        let ctl = ctl.clone();
        let _ = std::thread::Builder::new()
            .name("f2b/control".into())
            .spawn(move || {
                for conn in listener.incoming().flatten() {
                    serve(conn, &ctl, &events);
                }
            });
    }
    {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
        match signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP, SIGUSR1]) {
            Ok(mut signals) => {
                let events = events.clone();
                let _ = std::thread::Builder::new()
                    .name("f2b/signals".into())
                    .spawn(move || {
                        for s in signals.forever() {
                            if events.send(Event::Signal(s)).is_err() {
                                break;
                            }
                        }
                    });
            }
            Err(e) => log.log(
                "fail2ban.server",
                Level::Error,
                &format!("Unable to handle signals: {e}"),
            ),
        }
    }
    let save_state = |running: &[jailrt::Running]| {
        let Some(store) = &store else { return };
        if let Err(e) = store.save_all(running.iter().map(|r| &*r.shared)) {
            log.log(
                "fail2ban.database",
                Level::Error,
                &format!(
                    "Unable to save the state to {}: {e}",
                    store.path().display()
                ),
            );
        }
    };
    loop {
        let ev = match rx.recv_timeout(std::time::Duration::from_secs(1)) {
            Ok(ev) => ev,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                save_state(&running);
                continue;
            }
            Err(_) => break,
        };
        match &ev {
            Event::Signal(signal_hook::consts::SIGUSR1) => {
                let _ = log.reopen();
            }
            // HUP reloads the configuration, as fail2ban's.
            Event::Signal(signal_hook::consts::SIGHUP) | Event::Reload(_) => {
                let r = reload(
                    &args.common.conf,
                    &mut running,
                    &ctl,
                    &log,
                    &runner,
                    store.as_ref(),
                );
                if let Err(e) = &r {
                    log.log("fail2ban.server", Level::Error, e);
                }
                // Only a client's `reload` waits for the result.
                if let Event::Reload(Some(tx)) = ev {
                    let _ = tx.send(r);
                }
            }
            Event::Signal(_) | Event::Stop => break,
        }
        log.flush();
    }
    log.log("fail2ban.server", Level::Info, "Shutdown in progress...");
    // Bans are kept for the next start (stopping the jails lifts them).
    save_state(&running);
    // No new client may reach a server that is going away.
    let _ = std::fs::remove_file(socket);
    for r in running.into_iter().rev() {
        r.stop();
    }
    let _ = std::fs::remove_file(pidfile);
    log.log("fail2ban.server", Level::Info, "Exiting Fail2ban");
    log.flush();
    0
}
