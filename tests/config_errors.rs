//! A broken configuration is refused with a message that says where.
//!
//! Why it exists: an admin edits jail.local and runs `fail2ban-client -t`
//! or restarts the service. fail2ban's `-t` passes regexes that do not
//! compile, its server then skips the jail (leaving the service open) and
//! an include cycle ends in Python's recursion error. For each broken
//! configuration of the table, ours must: fail `-t` naming the file,
//! section and option; refuse to start the server with the same message;
//! and, given to a running server by `reload`, keep the old configuration
//! running and say why.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::TempDir;

const CLIENT: &str = env!("CARGO_BIN_EXE_fail2ban-client");
const SERVER: &str = env!("CARGO_BIN_EXE_fail2ban-server");

/// A working configuration in `dir/c`: the sshd jail on `dir/auth.log`
/// with our shipped filter and the dummy action.
fn good_conf(dir: &Path) -> PathBuf {
    let conf = dir.join("c");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/fail2ban");
    for f in [
        "filter.d/common.conf",
        "filter.d/sshd.conf",
        "action.d/dummy.conf",
    ] {
        fs::create_dir_all(conf.join(f).parent().expect("parent")).expect("mkdir");
        fs::copy(shipped.join(f), conf.join(f)).expect("copy");
    }
    let d = dir.display();
    common::server_conf(&conf, dir);
    fs::write(
        conf.join("jail.conf"),
        format!(
            "[sshd]\nenabled = true\nlogpath = {d}/auth.log\nfilter = sshd\n\
             action = dummy[target={d}/dummy.txt]\n"
        ),
    )
    .expect("jail.conf");
    fs::write(conf.join("jail.local"), "").expect("jail.local");
    fs::write(dir.join("auth.log"), "").expect("log");
    fs::copy(conf.join("jail.conf"), dir.join("jail.conf.good")).expect("keep");
    conf
}

/// One broken configuration: what to write, and where the message must
/// point (a file name, then `[section] option 'name'`). jail.conf keeps its
/// first three lines; `filter` and `action` replace its lines 4 and 5 when
/// given, `jail_conf_extra` follows.
struct Case {
    what: &'static str,
    filter: Option<&'static str>,
    action: Option<&'static str>,
    jail_conf_extra: &'static str,
    jail_local: &'static str,
    file: &'static str,
    place: &'static str,
}

const CASES: [Case; 6] = [
    Case {
        what: "uncompilable regex",
        filter: None,
        action: None,
        jail_conf_extra: "",
        jail_local: "[sshd]\nfailregex = ^oops (?P<x>[ <HOST>\n",
        file: "jail.local, line 2",
        place: "[sshd] option 'failregex'",
    },
    Case {
        what: "unknown action",
        filter: None,
        action: Some("nosuchaction"),
        jail_conf_extra: "",
        jail_local: "",
        file: "jail.conf, line 5",
        place: "[sshd] option 'action'",
    },
    Case {
        what: "bad interpolation",
        filter: None,
        action: None,
        jail_conf_extra: "findtime = %(nosuch)s\n",
        jail_local: "",
        file: "jail.conf, line 6",
        place: "[sshd] option 'findtime'",
    },
    Case {
        what: "bad time value",
        filter: None,
        action: None,
        jail_conf_extra: "",
        jail_local: "[sshd]\nbantime = 10 parsecs\n",
        file: "jail.local, line 2",
        place: "[sshd] option 'bantime'",
    },
    Case {
        what: "missing filter",
        filter: Some("nosuchfilter"),
        action: None,
        jail_conf_extra: "",
        jail_local: "",
        file: "jail.conf, line 4",
        place: "[sshd] option 'filter'",
    },
    Case {
        what: "include cycle",
        filter: None,
        action: None,
        jail_conf_extra: "[INCLUDES]\nbefore = jail.local\n",
        jail_local: "[INCLUDES]\nbefore = jail.conf\n",
        file: "jail.local, line 2",
        place: "[INCLUDES] option 'before'",
    },
];

/// Writes `case` over the good configuration in `conf` (kept by
/// `good_conf` next to it).
fn break_conf(conf: &Path, case: &Case) {
    let good = conf.with_file_name("jail.conf.good");
    let jail_conf = fs::read_to_string(good).expect("jail.conf");
    let good: Vec<&str> = jail_conf.lines().collect();
    let mut text: String = good[..3].iter().map(|l| format!("{l}\n")).collect();
    match case.filter {
        Some(f) => text.push_str(&format!("filter = {f}\n")),
        None => text.push_str(&format!("{}\n", good[3])),
    }
    match case.action {
        Some(a) => text.push_str(&format!("action = {a}\n")),
        None => text.push_str(&format!("{}\n", good[4])),
    }
    fs::write(conf.join("jail.conf"), text + case.jail_conf_extra).expect("jail.conf");
    fs::write(conf.join("jail.local"), case.jail_local).expect("jail.local");
}

/// The message of `output` about `case`: from the file name on, the
/// `ERROR ` / `ERROR: ` prefix and the directory left out.
fn message(output: &str, case: &Case) -> Option<String> {
    output
        .lines()
        .find(|l| l.contains(case.file) && l.contains(case.place))
        .map(|l| l[l.find(case.file).expect("found")..].to_string())
}

fn run(cmd: &mut Command) -> (i32, String) {
    let out = cmd.output().expect("runs");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn each_broken_config_is_named_by_test_and_refused_by_the_server() {
    for case in &CASES {
        let tmp = TempDir::new("config-errors");
        let conf = good_conf(&tmp.0);
        let (rc, out) = run(Command::new(CLIENT).arg("-c").arg(&conf).arg("-t"));
        assert_eq!(rc, 0, "{}: the good config passes: {out}", case.what);
        break_conf(&conf, case);

        let (rc, out) = run(Command::new(CLIENT).arg("-c").arg(&conf).arg("-t"));
        assert_ne!(rc, 0, "{}: -t passed: {out}", case.what);
        let from_test = message(&out, case)
            .unwrap_or_else(|| panic!("{}: -t does not say where: {out}", case.what));

        let (rc, out) = run(Command::new(SERVER)
            .arg("-c")
            .arg(&conf)
            .args(["-f", "start"]));
        assert_ne!(rc, 0, "{}: the server started: {out}", case.what);
        assert_eq!(
            message(&out, case).as_deref(),
            Some(from_test.as_str()),
            "{}: the server's message: {out}",
            case.what
        );
        assert!(
            !tmp.0.join("f2b.sock").exists(),
            "{}: a socket was made",
            case.what
        );
    }
}

#[test]
fn reload_with_a_broken_config_keeps_the_running_one() {
    let tmp = TempDir::new("config-reload");
    let conf = good_conf(&tmp.0);
    common::client(CLIENT, &conf, &["start"]);
    common::wait_for("the server", || {
        common::client(CLIENT, &conf, &["ping"]).contains("pong")
    });
    common::client(CLIENT, &conf, &["set", "sshd", "banip", "192.0.2.5"]);
    for case in &CASES {
        break_conf(&conf, case);
        let (rc, out) = run(Command::new(CLIENT).arg("-c").arg(&conf).arg("reload"));
        assert_ne!(rc, 0, "{}: reload accepted: {out}", case.what);
        assert!(
            out.contains("the running jails are kept") && out.contains(case.place),
            "{}: reload does not say why: {out}",
            case.what
        );
        let status = common::client(CLIENT, &conf, &["status", "sshd"]);
        assert!(
            status.contains("192.0.2.5"),
            "{}: the running jail and its ban are gone: {status}",
            case.what
        );
    }
    let log = fs::read_to_string(tmp.0.join("f2b.log")).expect("server log");
    assert!(log.contains("Configuration not reloaded"), "{log}");
    common::client(CLIENT, &conf, &["stop"]);
}
