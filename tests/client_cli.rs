//! `fail2ban-client` without a server: `-t`, `--str2sec`, `-V`.
//!
//! Why it exists: `-t` is what an admin runs after editing jail.local, and
//! ours promises more than fail2ban's: every regex, date pattern and time
//! value is checked, and the broken jail is named. These cases use our own
//! shipped configuration (etc/fail2ban), so they need nothing installed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const OURS: &str = env!("CARGO_BIN_EXE_fail2ban-client");

fn conf_dir(tag: &str, jail_local: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ferroban-cli-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("filter.d")).expect("mkdir");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/fail2ban/filter.d");
    for f in ["common.conf", "sshd.conf"] {
        fs::copy(shipped.join(f), dir.join("filter.d").join(f)).expect("copy filter");
    }
    fs::write(dir.join("fail2ban.conf"), "[Definition]\nloglevel = INFO\n").expect("fail2ban.conf");
    fs::write(dir.join("auth.log"), "").expect("log");
    let text = jail_local.replace("@DIR@", &dir.display().to_string());
    fs::write(dir.join("jail.conf"), text).expect("jail.conf");
    dir
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(OURS).args(args).output().expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn test_option_passes_a_good_configuration() {
    let dir = conf_dir(
        "good",
        "[sshd]\nenabled = true\nlogpath = @DIR@/auth.log\nbantime = 1h\n",
    );
    let (rc, out, _) = run(&["-c", dir.to_str().expect("utf-8"), "-t"]);
    assert_eq!(
        (rc, out.as_str()),
        (0, "OK: configuration test is successful\n")
    );
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn test_option_names_broken_regexes_and_times() {
    let dir = conf_dir(
        "bad",
        "[sshd]\nenabled = true\nlogpath = @DIR@/auth.log\nfailregex = ^oops (?P<x>[ <HOST>\n\
         bantime = 1x\n[ghost]\nenabled = true\nfilter = ghost\nlogpath = @DIR@/auth.log\n",
    );
    let (rc, out, err) = run(&["-c", dir.to_str().expect("utf-8"), "-t"]);
    assert_eq!(rc, 255);
    assert_eq!(out, "ERROR: test configuration failed\n");
    // Each names the file, line, section and option.
    assert!(
        err.contains(
            "jail.conf, line 4: [sshd] option 'failregex': Unable to compile regular expression"
        ),
        "{err}"
    );
    assert!(
        err.contains("jail.conf, line 5: [sshd] option 'bantime': invalid time \"1x\""),
        "{err}"
    );
    assert!(err.contains("Jail 'ghost' skipped, because of wrong configuration: Unable to read the filter 'ghost' ("), "{err}");
    assert!(
        err.contains("jail.conf, line 8: [ghost] option 'filter')"),
        "{err}"
    );
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn log_files_that_do_not_exist_yet_are_fine_but_empty_globs_are_not() {
    // fail2ban refuses both; ours follows a plain path once it appears.
    let dir = conf_dir(
        "nolog",
        "[sshd]\nenabled = true\nlogpath = @DIR@/none.log\n",
    );
    let d = dir.to_str().expect("utf-8");
    let (rc, out, err) = run(&["-c", d, "-t"]);
    assert_eq!(
        (rc, out.as_str()),
        (0, "OK: configuration test is successful\n"),
        "{err}"
    );
    assert!(err.contains("No file(s) found for glob"), "{err}");
    let (rc, out, _) = run(&["-c", d, "-d"]);
    assert_eq!(rc, 0);
    assert!(out.contains("['start', 'sshd']"), "{out}");
    let _ = fs::remove_dir_all(dir);
    let dir = conf_dir(
        "noglob",
        "[sshd]\nenabled = true\nlogpath = @DIR@/none*.log\n",
    );
    let (rc, out, err) = run(&["-c", dir.to_str().expect("utf-8"), "-t"]);
    assert_eq!(
        (rc, out.as_str()),
        (255, "ERROR: test configuration failed\n")
    );
    assert!(
        err.contains("Have not found any log file for sshd jail"),
        "{err}"
    );
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn small_commands() {
    assert_eq!(run(&["--str2sec", "1d12h"]).1, "129600\n");
    // Python's int and float show through, as fail2ban prints them.
    for (expr, shown) in [
        ("1.5h", "5400.0"),
        ("1mo", "2629800.0"),
        ("3/2", "1.5"),
        ("1d 2h", "93600"),
        ("-1", "-1"),
    ] {
        assert_eq!(run(&["--str2sec", expr]).1, format!("{shown}\n"), "{expr}");
    }
    assert_eq!(run(&["-V"]).1, "1.0.2\n");
    let (rc, _, err) = run(&["--str2sec", "1 zz"]);
    assert_eq!(rc, 255);
    assert!(err.contains("invalid time"), "{err}");
}
