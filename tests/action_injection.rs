//! Hostile log values through a real `/bin/sh`: nothing they contain runs.
//!
//! Why it exists: ban actions are shell templates, and `<F-USER>` or
//! `<matches>` come from log lines an attacker writes (an SSH user name is
//! free text). fail2ban's own escaping has had holes; ferroban passes such
//! values in the environment only. Each hostile value here would create a
//! marker file if it were ever parsed as shell code; the test checks that
//! no marker exists and that the action saw every value byte for byte, in
//! unquoted, single-quoted and double-quoted places of the template.

use std::fs;

mod common;

use ferroban::action::runner::ShRunner;
use ferroban::action::{Action, BanInfo};
use ferroban::config::jailspec::ActionSpec;
use ferroban::config::stream::Value;

#[test]
fn hostile_user_names_and_lines_stay_data() {
    let dir = std::env::temp_dir().join(format!("ferroban-inject-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("dir");
    let marker = dir.join("pwned");
    let m = marker.display().to_string();
    let out = dir.join("out");
    let hostile = [
        format!("$(touch${{IFS}}{m})"),
        format!("`touch {m}`"),
        format!("';touch {m};'"),
        format!("\";touch {m};\""),
        format!("x; touch {m}"),
        format!("a\ntouch {m}"),
        format!("${{IFS}}$(touch {m})|touch {m}&"),
    ];
    let template = format!(
        "printf '%s\\n' <F-USER> '<F-USER>' \"<F-USER>\" >> {o}; printf '%s\\n' \"<matches>\" >> {o}; \
         printf '%s\\n' <ip> >> {o}",
        o = out.display()
    );
    let spec = ActionSpec {
        name: "probe".into(),
        options: [("actionban", Value::Str(template))].into_iter().collect(),
    };
    let mut action = Action::new(&spec);
    for h in &hostile {
        let _ = fs::remove_file(&out);
        let info = BanInfo {
            id: h.clone(),
            failures: 1,
            time: 1.0,
            bantime: 600.0,
            matches: vec![format!("Failed password for {h} from 192.0.2.1")],
            captures: vec![("USER".into(), h.clone())],
            ..BanInfo::default()
        };
        action.ban(&info, &ShRunner).expect("the action runs");
        assert!(!marker.exists(), "value {h:?} was run as code");
        let seen = fs::read_to_string(&out).expect("output");
        let expected = format!("{h}\n{h}\n{h}\nFailed password for {h} from 192.0.2.1\n{h}\n");
        assert_eq!(seen, expected, "value {h:?} was altered");
    }
    let _ = fs::remove_dir_all(&dir);
}

/// End to end: a running server hands what the filter captured to the
/// action's `<F-USER>` tag, as data. The user name is a command
/// substitution (sshd logs any name the client sends).
#[test]
fn the_server_passes_captures_to_actions_as_data() {
    let tmp = common::TempDir::new("inject-server");
    let dir = &tmp.0;
    let conf = dir.join("etc");
    fs::create_dir_all(conf.join("action.d")).expect("action.d");
    common::copy_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/fail2ban/filter.d"),
        &conf.join("filter.d"),
    );
    let (log, out, marker) = (dir.join("auth.log"), dir.join("out"), dir.join("pwned"));
    fs::write(
        conf.join("fail2ban.conf"),
        format!(
            "[Definition]\nloglevel = INFO\nlogtarget = {d}/f2b.log\nsocket = {d}/f2b.sock\n\
             pidfile = {d}/f2b.pid\ndbfile = {d}/state\n",
            d = dir.display()
        ),
    )
    .expect("fail2ban.conf");
    fs::write(
        conf.join("action.d/probe.conf"),
        format!(
            "[Definition]\nactionban = printf '%%s %%s\\n' <ip> <F-USER> >> {}\n",
            out.display()
        ),
    )
    .expect("probe.conf");
    fs::write(
        conf.join("jail.conf"),
        format!(
            "[sshd]\nenabled = true\nfilter = sshd\naction = probe\nmaxretry = 3\nlogpath = {}\n",
            log.display()
        ),
    )
    .expect("jail.conf");
    common::append(&log, "");
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_fail2ban-server"))
        .arg("-c")
        .arg(&conf)
        .args(["-f", "start"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("server");
    let client = env!("CARGO_BIN_EXE_fail2ban-client");
    common::wait_for("the server", || {
        common::client(client, &conf, &["ping"]).contains("pong")
    });
    let user = format!("$(touch${{IFS}}{})", marker.display());
    let lines = common::failures("192.0.2.9", 3)
        .replace("for root from", &format!("for invalid user {user} from"));
    common::append(&log, &lines);
    common::wait_for("the ban", || {
        fs::read_to_string(&out).is_ok_and(|s| !s.is_empty())
    });
    common::client(client, &conf, &["stop"]);
    let _ = server.wait();
    assert_eq!(
        fs::read_to_string(&out).expect("out"),
        format!("192.0.2.9 {user}\n")
    );
    assert!(!marker.exists(), "the user name ran as a command");
}
