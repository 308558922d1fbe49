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
