//! The control socket answers to root alone.
//!
//! Why it exists: whoever can write to the socket can unban any address,
//! stop the jails or change actions, which run as root. The server makes
//! the socket 0600 from the first moment (bound under a temporary name,
//! then renamed), makes its own directory 0700, and keeps the state file
//! (bans, log positions) root-only. Here an unprivileged user (`nobody`)
//! tries `ping` and `unbanip` against a running server and must fail, with
//! the ban still in force afterwards. Needs root: only root can run a
//! command as another user.

mod common;

use std::fs;
use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use common::TempDir;

const CLIENT: &str = env!("CARGO_BIN_EXE_fail2ban-client");
const NOBODY: u32 = 65534;

fn mode(p: &Path) -> u32 {
    fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// A server of our own, its socket in `dir/<sockdir>/fail2ban.sock`.
fn start(dir: &Path, sockdir: &str) -> std::path::PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/fail2ban");
    let d = dir.display();
    let conf = common::private_conf(
        &source,
        dir,
        "INFO",
        &format!(
            "[sshd]\nenabled = true\nlogpath = {d}/auth.log\nbackend = polling\n\
             action = dummy[target={d}/dummy.txt]\n"
        ),
    );
    fs::write(
        conf.join("fail2ban.local"),
        format!(
            "[Definition]\nloglevel = INFO\nlogtarget = {d}/f2b.log\n\
             socket = {d}/{sockdir}/fail2ban.sock\npidfile = {d}/{sockdir}/fail2ban.pid\n\
             dbfile = {d}/lib/state.db\n"
        ),
    )
    .expect("fail2ban.local");
    fs::write(dir.join("auth.log"), "").expect("log");
    common::client(CLIENT, &conf, &["start"]);
    common::wait_for("the server", || {
        common::client(CLIENT, &conf, &["ping"]).contains("pong")
    });
    conf
}

/// `fail2ban-client -c conf args` run as `nobody` (std drops the
/// supplementary groups when it sets the uid): (exit code, stderr).
fn as_nobody(conf: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(CLIENT)
        .arg("-c")
        .arg(conf)
        .args(args)
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .expect("client runs as nobody");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A test directory that `nobody` may read (the configuration must be
/// readable to get as far as the socket: the point is that the socket
/// refuses, not the files); None, said, when not root.
fn readable_dir(name: &str) -> Option<TempDir> {
    if !nix::unistd::geteuid().is_root() {
        common::say("security_access: skipped: running a client as another user needs root");
        return None;
    }
    let dir = TempDir::new(name);
    fs::set_permissions(&dir.0, fs::Permissions::from_mode(0o755)).expect("chmod");
    Some(dir)
}

#[test]
fn nobody_cannot_ping_or_unban() {
    let Some(dir) = readable_dir("access") else {
        return;
    };
    let conf = start(&dir.0, "run/fail2ban");
    let sock = dir.0.join("run/fail2ban/fail2ban.sock");
    assert_eq!(mode(&sock), 0o600, "socket mode");
    assert_eq!(mode(&dir.0.join("run/fail2ban")), 0o700, "socket directory");
    assert!(
        common::client(CLIENT, &conf, &["set", "sshd", "banip", "192.0.2.50"]).contains('1'),
        "root bans"
    );

    let (rc, err) = as_nobody(&conf, &["ping"]);
    assert_eq!(rc, 255, "{err}");
    assert!(err.contains("Failed to access socket path"), "{err}");
    let (rc, err) = as_nobody(&conf, &["set", "sshd", "unbanip", "192.0.2.50"]);
    assert_eq!(rc, 255, "{err}");
    let status = common::client(CLIENT, &conf, &["status", "sshd"]);
    assert!(status.contains("192.0.2.50"), "the ban stands: {status}");

    // The state is saved about once a second; it holds ban data: root only.
    let state = dir.0.join("lib/state.db.ferroban");
    common::wait_for("the state file", || state.exists());
    assert_eq!(
        mode(&state) & 0o077,
        0,
        "state file mode {:o}",
        mode(&state)
    );
    common::client(CLIENT, &conf, &["stop"]);
}

#[test]
fn an_open_directory_still_has_a_root_only_socket() {
    let Some(dir) = readable_dir("access-open") else {
        return;
    };
    // A directory the admin made, world-writable and sticky like /tmp: the
    // server leaves it as it is, but its socket is still 0600.
    let open = dir.0.join("shared");
    fs::create_dir_all(&open).expect("mkdir");
    fs::set_permissions(&open, fs::Permissions::from_mode(0o1777)).expect("chmod");
    // An old /run/fail2ban left 0755 by another package: made 0700.
    let old = dir.0.join("old/fail2ban");
    fs::create_dir_all(&old).expect("mkdir");
    fs::set_permissions(&old, fs::Permissions::from_mode(0o755)).expect("chmod");
    chown(&old, Some(0), Some(0)).expect("chown");

    let conf = start(&dir.0, "shared");
    assert_eq!(mode(&open), 0o1777, "a shared directory is left alone");
    assert_eq!(mode(&open.join("fail2ban.sock")), 0o600);
    let (rc, err) = as_nobody(&conf, &["ping"]);
    assert_eq!(rc, 255, "{err}");
    // fail2ban's own words for this case.
    assert!(
        err.contains(&format!(
            "Permission denied to socket: {}, (you must be root)",
            open.join("fail2ban.sock").display()
        )),
        "{err}"
    );
    common::client(CLIENT, &conf, &["stop"]);

    let conf = start(&dir.0, "old/fail2ban");
    assert_eq!(mode(&old), 0o700, "the socket's own directory is closed");
    common::client(CLIENT, &conf, &["stop"]);
}
