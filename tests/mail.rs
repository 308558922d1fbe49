//! Mail alerts from a running server: ferroban's built-in mail actions
//! (action.d/sendmail*.conf, which set `mailtype`) and stock fail2ban's
//! shell-pipeline mail actions.
//!
//! Why it exists: mails are the admin's alarm, so they must arrive through
//! the real sendmail (dma here, as on Mageia), and they must never hold up
//! a ban: a hung sendmail is given up after the action's timeout while the
//! firewall action runs at once, and a missing one leaves the mail in the
//! server's log. Each test runs our fail2ban-server on a copy of the
//! shipped configuration with the dummy action as the "firewall".
//!
//! The dma test needs root and dma's /usr/sbin/sendmail; it only appends
//! to /var/mail/root (through dma) and reads what was appended, finding its
//! own mails by a jail name made for the run. The stock-action test needs
//! Debian's /etc/fail2ban. Each says why and returns when something is
//! missing; CI is root and installs both.

mod common;

use common::server::Foreground;
use common::{TempDir, unquote_printable};

use common::{append, failures};

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SENDMAIL: &str = "/usr/sbin/sendmail";
const ROOT_MAILBOX: &str = "/var/mail/root";

/// An executable shell script `dir/name`.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("script");
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).expect("chmod");
    p
}

/// A copy of `source` under `dir/etc`, with the server's socket, pid file,
/// state and log (a file, at INFO) kept in `dir`, and `jail_local`.
fn private_conf(source: &Path, dir: &Path, jail_local: &str) -> PathBuf {
    common::private_conf(source, dir, "INFO", jail_local)
}

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/fail2ban")
}

/// Waits up to `secs` for `ok`; on a timeout the test fails with the
/// server's log.
fn wait_until(what: &str, dir: &Path, secs: u64, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        if start.elapsed() > Duration::from_secs(secs) {
            let log = fs::read_to_string(dir.join("f2b.log")).unwrap_or_default();
            panic!("timed out waiting for {what}; server log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn server_log(dir: &Path) -> String {
    fs::read_to_string(dir.join("f2b.log")).unwrap_or_default()
}

/// A jail on `log` that bans after 3 failures with the dummy action
/// writing to `dummy`, plus the mail action line `mail`.
fn jail(log: &Path, dummy: &Path, mail: &str) -> String {
    format!(
        "[sshd]\nenabled = true\nlogpath = {}\nmaxretry = 3\nbanaction = dummy\n\
         action = dummy[target=\"{}\"]\n         {mail}\n",
        log.display(),
        dummy.display()
    )
}

/// Whether the dummy action has banned `ip`.
fn banned(dummy: &Path, ip: &str) -> bool {
    fs::read_to_string(dummy).is_ok_and(|t| t.lines().any(|l| l == format!("+{ip}")))
}

/// What was appended to `path` after `from` bytes (read only).
fn appended(path: &str, from: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = fs::File::open(path) else {
        return String::new();
    };
    let mut s = Vec::new();
    if f.seek(SeekFrom::Start(from)).is_ok() {
        let _ = f.read_to_end(&mut s);
    }
    String::from_utf8_lossy(&s).into_owned()
}

/// The real thing: a ban through the sendmail-whois-lines action reaches
/// root's mailbox through dma within seconds, with fail2ban's subject, our
/// From and the ban's facts, after the start mail; the stop mail follows
/// `fail2ban-client stop`.
#[test]
fn dma_delivers_the_ban_mail_to_root() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping: delivery to {ROOT_MAILBOX} through dma needs root");
        return;
    }
    if !Path::new(SENDMAIL).exists() || !Path::new("/var/mail").is_dir() {
        eprintln!("skipping: no {SENDMAIL} (apt-get install dma) or /var/mail");
        return;
    }
    let tmp = TempDir::new("mail-dma");
    let whois = script(&tmp.0, "whois", "echo \"fake whois for $1\"");
    let log = tmp.0.join("auth.log");
    let dummy = tmp.0.join("dummy.txt");
    append(&log, "");
    // A name of this run's own, to find its mails among others'.
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_millis()
        % 100_000_000;
    let name = format!("T{}x{stamp}", std::process::id());
    let conf = private_conf(
        &shipped(),
        &tmp.0,
        &jail(
            &log,
            &dummy,
            &format!(
                "sendmail-whois-lines[name={name}, dest=root, sender=fail2ban@localhost, whois=\"{}\"]",
                whois.display()
            ),
        ),
    );
    let from = fs::metadata(ROOT_MAILBOX).map(|m| m.len()).unwrap_or(0);
    let server = Foreground::start(&conf, None, &tmp.0);
    let started = format!("Subject: [Fail2Ban] {name}: started on ");
    wait_until("the start mail in /var/mail/root", &tmp.0, 20, || {
        appended(ROOT_MAILBOX, from).contains(&started)
    });
    let t0 = Instant::now();
    append(&log, &failures("192.0.2.21", 3));
    wait_until("the ban", &tmp.0, 20, || banned(&dummy, "192.0.2.21"));
    let subject = format!("Subject: [Fail2Ban] {name}: banned 192.0.2.21 from ");
    wait_until("the ban mail in /var/mail/root", &tmp.0, 20, || {
        appended(ROOT_MAILBOX, from).contains(&subject)
    });
    let delay = t0.elapsed();
    assert!(delay < Duration::from_secs(10), "mail took {delay:?}");
    server.stop();
    let stopped = format!("Subject: [Fail2Ban] {name}: stopped on ");
    wait_until("the stop mail in /var/mail/root", &tmp.0, 20, || {
        appended(ROOT_MAILBOX, from).contains(&stopped)
    });
    let boxed = appended(ROOT_MAILBOX, from);
    // The ban mail, from its subject to the next mail of the mbox.
    let at = boxed.find(&subject).expect("ban mail");
    let start = boxed[..at].rfind("\nFrom ").map_or(0, |i| i + 1);
    let end = boxed[at..].find("\nFrom ").map_or(boxed.len(), |i| at + i);
    let mail = unquote_printable(&boxed[start..end]);
    assert!(
        mail.contains("\nFrom: Fail2Ban <fail2ban@localhost>"),
        "{mail}"
    );
    assert!(mail.contains("\nTo: root@localhost"), "{mail}");
    assert!(mail.contains("\nMIME-Version: 1.0"), "{mail}");
    assert!(mail.contains("Failures counted: 3"), "{mail}");
    assert!(mail.contains("fake whois for 192.0.2.21"), "{mail}");
    assert!(
        mail.contains("Failed password for root from 192.0.2.21 port 4000"),
        "the log lines: {mail}"
    );
    eprintln!("ban mail in /var/mail/root {delay:?} after the failures");
}

/// A sendmail that hangs (sleeps 30 s, given as `mailcmd`) delays no ban:
/// the dummy action bans within a second of the last failure while the
/// start mail still hangs; each hung mail is given up after the action's
/// timeout with a warning, and the server still stops promptly.
#[test]
fn a_hung_sendmail_delays_no_ban() {
    let tmp = TempDir::new("mail-hung");
    let pids = tmp.0.join("hung.pids");
    let hung = script(
        &tmp.0,
        "sendmail",
        &format!("echo $$ >> {}\nexec sleep 30", pids.display()),
    );
    let log = tmp.0.join("auth.log");
    let dummy = tmp.0.join("dummy.txt");
    append(&log, "");
    let conf = private_conf(
        &shipped(),
        &tmp.0,
        &jail(
            &log,
            &dummy,
            &format!("sendmail[name=Hung, mailcmd={}, timeout=2]", hung.display()),
        ),
    );
    let server = Foreground::start(&conf, None, &tmp.0);
    // The start mail is in sendmail's hands, and stays there.
    wait_until("the hung start mail", &tmp.0, 20, || pids.exists());
    let t0 = Instant::now();
    append(&log, &failures("192.0.2.31", 3));
    wait_until("the ban", &tmp.0, 20, || banned(&dummy, "192.0.2.31"));
    let ban_delay = t0.elapsed();
    // The hung sendmail sleeps 30 s: a ban that waited for it would take
    // that long (a wide margin, so a busy machine does not fail this).
    assert!(
        ban_delay < Duration::from_secs(10),
        "the ban took {ban_delay:?} behind a hung sendmail"
    );
    wait_until("the ban mail given up", &tmp.0, 20, || {
        server_log(&tmp.0).lines().any(|l| {
            l.contains("WARNING [sshd] mail not sent (")
                && l.contains("did not finish within 2 s")
                && l.contains("): [Fail2Ban] Hung: banned 192.0.2.31 from ")
        })
    });
    let stop = server.stop();
    assert!(stop < Duration::from_secs(10), "stopping took {stop:?}");
    let log_text = server_log(&tmp.0);
    assert!(
        log_text.contains("mail not sent (2 earlier runs of the sendmail program have not finished): [Fail2Ban] Hung: stopped on "),
        "{log_text}"
    );
    // End the sleeps this test's fake sendmail started, by their ids.
    for pid in fs::read_to_string(&pids).unwrap_or_default().lines() {
        if let Ok(p) = pid.trim().parse::<i32>() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// A missing sendmail: the ban still happens, and the server's log holds a
/// WARNING with `mail not sent`, the reason and the subject, then the
/// mail's text at INFO.
#[test]
fn a_missing_sendmail_leaves_the_mail_in_the_log() {
    let tmp = TempDir::new("mail-missing");
    let log = tmp.0.join("auth.log");
    let dummy = tmp.0.join("dummy.txt");
    append(&log, "");
    let conf = private_conf(
        &shipped(),
        &tmp.0,
        &jail(
            &log,
            &dummy,
            "sendmail[name=Gone, dest=root, sender=fail2ban@localhost, mailcmd=/nonexistent/sendmail]",
        ),
    );
    let server = Foreground::start(&conf, None, &tmp.0);
    append(&log, &failures("192.0.2.32", 3));
    wait_until("the ban", &tmp.0, 20, || banned(&dummy, "192.0.2.32"));
    let warning = "WARNING [sshd] mail not sent (/nonexistent/sendmail: No such file or directory): [Fail2Ban] Gone: banned 192.0.2.32 from ";
    // The warning, then the body at INFO, while the server runs.
    let body_follows = |text: &str| {
        let lines: Vec<&str> = text.lines().collect();
        lines
            .iter()
            .position(|l| l.contains(warning))
            .is_some_and(|at| {
                lines[at].contains("fail2ban.actions")
                    && lines[at + 1..].iter().any(|l| {
                        l.contains("INFO")
                            && l.contains("[sshd] The jail Gone on ")
                            && l.contains(" has banned 192.0.2.32.")
                    })
            })
    };
    wait_until("the warning and the body", &tmp.0, 20, || {
        body_follows(&server_log(&tmp.0))
    });
    server.stop();
    let text = server_log(&tmp.0);
    assert!(
        text.contains("mail not sent (/nonexistent/sendmail: No such file or directory): [Fail2Ban] Gone: started on "),
        "{text}"
    );
}

/// Stock fail2ban's sendmail action (a shell pipeline into `mailcmd`, no
/// `mailtype`) still runs as an ordinary command action.
#[test]
fn stock_pipeline_mail_actions_still_run_as_commands() {
    let stock = Path::new("/etc/fail2ban");
    if !stock.join("action.d/sendmail.conf").exists() {
        eprintln!("skipping: no stock /etc/fail2ban (apt-get install fail2ban)");
        return;
    }
    let tmp = TempDir::new("mail-stock");
    let mails = tmp.0.join("mails");
    fs::create_dir_all(&mails).expect("mails");
    let fake = script(
        &tmp.0,
        "sendmail",
        &format!(
            "f=$(mktemp {}/mail.XXXXXX)\n{{ printf 'ARG %s\\n' \"$@\"; echo ---; cat; }} > \"$f\"",
            mails.display()
        ),
    );
    let log = tmp.0.join("auth.log");
    append(&log, "");
    let conf = private_conf(
        stock,
        &tmp.0,
        &format!(
            "[sshd]\nenabled = true\nlogpath = {}\nmaxretry = 2\n\
             action = sendmail[mailcmd='{} -f \"<sender>\" \"<dest>\"', dest=admin@example.org, sender=fail2ban@example.org]\n",
            log.display(),
            fake.display()
        ),
    );
    let kept = || -> Vec<String> {
        fs::read_dir(&mails)
            .map(|d| {
                d.filter_map(|e| fs::read_to_string(e.ok()?.path()).ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let server = Foreground::start(&conf, None, &tmp.0);
    append(&log, &failures("192.0.2.33", 2));
    wait_until("the stock ban mail", &tmp.0, 20, || {
        kept()
            .iter()
            .any(|m| m.contains("Subject: [Fail2Ban] sshd: banned 192.0.2.33 from "))
    });
    server.stop();
    let all = kept();
    let ban = all
        .iter()
        .find(|m| m.contains("banned 192.0.2.33"))
        .expect("ban mail");
    assert!(
        ban.starts_with("ARG -f\nARG fail2ban@example.org\nARG admin@example.org\n---\n"),
        "{ban}"
    );
    assert!(
        all.iter()
            .any(|m| m.contains("Subject: [Fail2Ban] sshd: started on ")),
        "{all:?}"
    );
}
