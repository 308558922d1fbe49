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

/// A server of the test's own in `dir`: the sshd jail (maxretry 3) on
/// `dir/auth.log` with the filters of `filters`, and a `probe` action
/// whose `actionban` is `ban`. Returns the config dir and the server.
fn probe_server(
    dir: &std::path::Path,
    filters: &std::path::Path,
    ban: &str,
) -> (std::path::PathBuf, common::server::Foreground) {
    let conf = dir.join("etc");
    fs::create_dir_all(conf.join("action.d")).expect("action.d");
    common::copy_dir(filters, &conf.join("filter.d"));
    common::server_conf(&conf, dir);
    fs::write(
        conf.join("action.d/probe.conf"),
        format!("[Definition]\nactionban = {ban}\n"),
    )
    .expect("probe.conf");
    fs::write(
        conf.join("jail.conf"),
        format!(
            "[sshd]\nenabled = true\nfilter = sshd\naction = probe\nmaxretry = 3\nlogpath = {}\n",
            dir.join("auth.log").display()
        ),
    )
    .expect("jail.conf");
    common::append(&dir.join("auth.log"), "");
    let server = common::server::Foreground::start(&conf, None, dir);
    (conf, server)
}

const CLIENT: &str = env!("CARGO_BIN_EXE_fail2ban-client");

fn shipped_filters() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/fail2ban/filter.d")
}

/// End to end: a running server hands what the filter captured to the
/// action's `<F-USER>` tag, as data. The user name is a command
/// substitution (sshd logs any name the client sends).
#[test]
fn the_server_passes_captures_to_actions_as_data() {
    let tmp = common::TempDir::new("inject-server");
    let dir = &tmp.0;
    let (out, marker) = (dir.join("out"), dir.join("pwned"));
    let ban = format!("printf '%%s %%s\\n' <ip> <F-USER> >> {}", out.display());
    let (_conf, server) = probe_server(dir, &shipped_filters(), &ban);
    let user = format!("$(touch${{IFS}}{})", marker.display());
    let lines = common::failures("192.0.2.9", 3)
        .replace("for root from", &format!("for invalid user {user} from"));
    common::append(&dir.join("auth.log"), &lines);
    common::wait_for("the ban", || {
        fs::read_to_string(&out).is_ok_and(|s| !s.is_empty())
    });
    server.stop();
    assert_eq!(
        fs::read_to_string(&out).expect("out"),
        format!("192.0.2.9 {user}\n")
    );
    assert!(!marker.exists(), "the user name ran as a command");
}

/// Every shape of hostile user name, through `<F-USER>`, `<matches>` and
/// `<ipmatches>` of a real server: bans happen, nothing runs, each value
/// arrives byte for byte. A name that holds another address
/// (`x from 192.0.2.77 port 1 ssh2`) never gets that address banned. Run
/// with our filters and, when installed, with fail2ban's stock ones (an
/// admin keeps them on upgrade).
#[test]
fn hostile_names_through_a_real_server() {
    let mut filter_sets = vec![("ours", shipped_filters())];
    let stock = std::path::PathBuf::from("/etc/fail2ban/filter.d");
    if stock.join("sshd.conf").exists() {
        filter_sets.push(("stock", stock));
    } else {
        common::say("hostile_names_through_a_real_server: no /etc/fail2ban: our filters only");
    }
    for (what, filters) in filter_sets {
        let tmp = common::TempDir::new(&format!("hostile-{what}"));
        let dir = &tmp.0;
        let (out, marker) = (dir.join("out"), dir.join("pwned"));
        let m = marker.display().to_string();
        // One line per ban: the user, then the matches, then ipmatches.
        let ban = format!(
            "printf 'ip=%%s user=%%s\\n' <ip> <F-USER> >> {o}; printf 'm=%%s\\n' \"<matches>\" >> {o}; \
             printf 'im=%%s\\n' '<ipmatches>' >> {o}",
            o = out.display()
        );
        let (conf, server) = probe_server(dir, &filters, &ban);
        let hostile = [
            format!("$(touch${{IFS}}{m})"),
            format!("`touch${{IFS}}{m}`"),
            format!("';touch${{IFS}}{m};'"),
            format!("\";touch${{IFS}}{m};\""),
            format!("\"$(touch${{IFS}}{m})\""),
            format!("\\n\\x27;touch${{IFS}}{m}%%(x)s<ip>"),
        ];
        let mut expected_users = Vec::new();
        for (k, user) in hostile.iter().enumerate() {
            let ip = format!("192.0.2.{}", 20 + k);
            let lines = common::failures(&ip, 3)
                .replace("for root from", &format!("for invalid user {user} from"));
            common::append(&dir.join("auth.log"), &lines);
            expected_users.push((ip, user.clone(), lines));
        }
        // The planted address: a name that reads like the end of a line.
        let planted = "x from 192.0.2.77 port 1 ssh2";
        let spoof = common::failures("192.0.2.60", 3)
            .replace("for root from", &format!("for invalid user {planted} from"));
        common::append(&dir.join("auth.log"), &spoof);
        let invalid = spoof.replace("Failed password for invalid user", "Invalid user");
        common::append(&dir.join("auth.log"), &invalid);
        common::wait_for(&format!("{what}: the bans"), || {
            let text = fs::read_to_string(&out).unwrap_or_default();
            expected_users
                .iter()
                .all(|(ip, _, _)| text.contains(&format!("ip={ip} ")))
                && text.contains("ip=192.0.2.60 ")
        });
        let status = common::client(CLIENT, &conf, &["status", "sshd"]);
        server.stop();
        let text = fs::read_to_string(&out).expect("out");
        assert!(!marker.exists(), "{what}: a user name ran as a command");
        // The name itself (with the planted address) is data and arrives
        // verbatim; no ban is for the planted address.
        assert!(
            !text.contains("ip=192.0.2.77 "),
            "{what}: planted address banned: {text}"
        );
        // Ours reads the name as typed; stock's `[^:]+` branch takes
        // "invalid user " into it.
        let user = if what == "ours" { "" } else { "invalid user " };
        assert!(
            text.contains(&format!("ip=192.0.2.60 user={user}{planted}\n")),
            "{what}: the real address, with the name as typed: {text}"
        );
        assert!(
            !status.contains("192.0.2.77"),
            "{what}: planted address banned: {status}"
        );
        for (ip, user, lines) in &expected_users {
            assert!(
                text.contains(&format!("ip={ip} user={user}\n")),
                "{what}: user of {ip} not verbatim: {text}"
            );
            // `<matches>` is the lines joined by newlines, as logged.
            let first = lines.lines().next().expect("a line");
            assert!(text.contains(first), "{what}: matches of {ip}: {text}");
        }
        assert!(text.contains("im="), "{what}: ipmatches given: {text}");
    }
}
