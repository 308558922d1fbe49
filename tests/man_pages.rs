//! The man pages in `man/`.
//!
//! fail2ban-server(1), fail2ban-client(1) and fail2ban-regex(1) are rendered
//! from the programs' clap definitions (`ferroban::cli::*_command`: the
//! synopsis and every option) around the prose below. The test renders them
//! again and fails when a file in `man/` differs, so a new or changed option
//! cannot be left out of its page. `FERROBAN_BLESS_MAN=1 cargo test --test
//! man_pages` rewrites them.
//!
//! jail.conf(5) is written by hand: the test checks that it names every
//! option a jail takes (the list the configuration reader keeps in
//! src/config/jail.rs), and that all four pages render without groff
//! warnings.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap_mangen::Man;

fn man_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("man")
}

/// One program's page: what clap does not know.
struct Page {
    name: &'static str,
    cmd: fn() -> clap::Command,
    /// The NAME line after the dash.
    summary: &'static str,
    /// roff text of the DESCRIPTION section.
    description: &'static str,
    /// roff text of the sections after OPTIONS (each starts with `.SH`).
    after: &'static str,
}

const SERVER_DESCRIPTION: &str = r#".B fail2ban\-server
is the daemon of ferroban, a rewrite of Fail2ban 1.0.2 in Rust.
It reads the configuration in
.I /etc/fail2ban
(see
.BR jail.conf (5)),
follows the log files or the systemd journal of every enabled jail, and
counts the failures that each jail's filter finds, per address.
When an address reaches
.B maxretry
failures within
.BR findtime ,
the server runs the jail's actions to ban it (a firewall rule, a mail...)
and runs their unban commands once
.B bantime
has passed.
.PP
The only command is
.BR start .
The server is normally run by systemd: the
.B fail2ban
service runs
.BR "fail2ban\-server \-xf start" .
It can also be started by
.BR "fail2ban\-client start" .
Without
.BR \-f ,
the server goes to the background and the command returns once it answers
on its socket.
Once running, it is driven through its control socket by
.BR fail2ban\-client (1);
only the server's own user (root) may connect to it.
.PP
Options given here take precedence over the same settings in
.IR fail2ban.conf .
Bans and the position reached in each log file are kept across restarts.
"#;

const SERVER_AFTER: &str = r#".SH SIGNALS
.TP
.BR TERM ", " INT
Stop: each jail's actions are stopped (firewall rules removed), then the
server exits.
.TP
.B HUP
Read the configuration again, as
.BR "fail2ban\-client reload" .
.TP
.B USR1
Reopen the log file, as
.BR "fail2ban\-client flushlogs"
(for log rotation).
.SH FILES
.TP
.IR /etc/fail2ban/fail2ban.conf ", " fail2ban.local ", " fail2ban.d/*.conf
Server settings: log level and target, socket, pid file, state file.
.TP
.IR /etc/fail2ban/jail.conf ", " jail.local ", " jail.d/*.conf
The jails; see
.BR jail.conf (5).
.TP
.IR /etc/fail2ban/filter.d/ ", " /etc/fail2ban/action.d/
Filters (what a failure looks like in a log) and actions (how to ban).
.TP
.IR /run/fail2ban/fail2ban.sock ", " /run/fail2ban/fail2ban.pid
Control socket and pid file (defaults of
.IR fail2ban.conf ).
.TP
.I /var/lib/fail2ban/
Saved state: bans and log positions, in a small text file named after
.I fail2ban.conf's
.B dbfile
with
.I .ferroban
added (Fail2ban's own SQLite database is never touched).
.TP
.I /var/log/fail2ban.log
The log, when
.B logtarget
names this file (rotated by
.IR /etc/logrotate.d/fail2ban ).
.SH EXIT STATUS
0 once the server has stopped normally (or, without
.BR \-f ,
once it has started); 255 on an error, such as a configuration that cannot
be read or a server already running on the socket.
.SH NOTES
Where ferroban differs from Fail2ban on purpose: a socket left behind by a
server that died is replaced without
.BR \-x ;
a jail whose log file does not exist yet starts and follows the file once
it appears; configuration values are never evaluated as Python code; log
values (user names, matched lines) reach action commands only through the
environment, never as shell text.
.SH SEE ALSO
.BR fail2ban\-client (1),
.BR fail2ban\-regex (1),
.BR jail.conf (5),
.BR systemctl (1)
"#;

const CLIENT_DESCRIPTION: &str = r#".B fail2ban\-client
sends a command to the running
.BR fail2ban\-server (1)
through its control socket and prints the reply the way Fail2ban 1.0.2
does, so scripts written for Fail2ban keep working.
.PP
With
.B \-d
or
.BR \-t ,
it reads the configuration itself and needs no server:
.B \-d
prints it as the stream of commands the server would receive, and
.B \-t
checks it: every jail's filter and action files, every regular expression
compiled, every time value read.
.PP
Commands that change the server need root, as the socket only accepts the
server's own user.
"#;

const CLIENT_AFTER: &str = r#".SH COMMANDS
.TP
.B start
Start the server in the background and wait until it answers.
.TP
.B restart
Stop the server, then start it again.
.TP
.B stop
Stop every jail (each action's stop command runs) and the server.
.TP
.BR reload " [" \-\-unban "] [" \fIJAIL\fR ]
Read the configuration again and restart the jails on it; bans are kept and
applied again, unless
.B \-\-unban
lifts them first.
.TP
.BR status " [\fIJAIL\fR]"
Without a jail: the number and names of the jails. With one: its current
and total failures, the files it follows, and its banned addresses.
.TP
.B ping
Check that the server answers ("pong").
.TP
.B version
The Fail2ban version the server follows (1.0.2).
.TP
.B flushlogs
Reopen the log file (after rotation).
.TP
.BR banned " [\fIIP\fR ...]"
The banned addresses of every jail, or, for each address given, whether it
is banned.
.TP
.BR unban " " \-\-all " | \fIIP\fR ..."
Lift bans in every jail.
.TP
.BR "get loglevel" " | " logtarget " | " syslogsocket " | " dbfile " | " dbpurgeage
A server setting.
.TP
.BR "set loglevel" " \fILEVEL\fR | " "set logtarget" " \fITARGET\fR"
Change the log level (CRITICAL, ERROR, WARNING, NOTICE, INFO, DEBUG) or the
log target (a file, STDOUT, STDERR or SYSLOG) while running.
.TP
.BI "get " JAIL " " OPTION
One of a jail's settings:
.BR logpath ", " ignoreip ", " ignoreself ", " bantime ", " findtime ,
.BR maxretry ", " maxmatches ", " actions ,
.BR banned " [\fIIP\fR ...], " banip " [" \-\-with\-time ].
.TP
.BI "set " JAIL " banip " IP " ..."
Ban addresses by hand.
.TP
.BI "set " JAIL " unbanip " IP " ..."
Lift bans in one jail.
.TP
.BI "set " JAIL " addignoreip " IP " | " "set " JAIL " delignoreip " IP
Add to or remove from the jail's ignore list.
.TP
.BI "set " JAIL " bantime " TIME " | findtime " TIME " | maxretry " N
Change a jail's times or failure count while running (times take the
abbreviations of
.BR \-\-str2sec ,
such as 10m or 1d).
.SH EXAMPLES
.nf
fail2ban\-client \-t
fail2ban\-client status sshd
fail2ban\-client set sshd unbanip 192.0.2.10
fail2ban\-client \-\-str2sec 1d12h
.fi
.SH EXIT STATUS
0 when the command succeeded, 255 when it failed (no server on the socket,
an unknown jail, a configuration that does not pass
.BR \-t ).
.SH FILES
.TP
.I /etc/fail2ban/
The configuration (see
.BR jail.conf (5)).
.TP
.I /run/fail2ban/fail2ban.sock
The server's control socket (the
.B socket
setting of
.IR fail2ban.conf ).
.SH SEE ALSO
.BR fail2ban\-server (1),
.BR fail2ban\-regex (1),
.BR jail.conf (5)
"#;

const REGEX_DESCRIPTION: &str = r#".B fail2ban\-regex
runs a filter over a log and reports what it finds, to write or check a
filter before a jail uses it. It needs no server and changes nothing.
.PP
.I LOG
is a log line given as a string, or the path of a log file.
.I REGEX
is a failregex given as a string, the name of a filter in
.I filter.d
(with options, as in
.BR sshd[mode=aggressive] ),
or the path of a filter file.
.I IGNOREREGEX
is an ignoreregex given as a string.
.PP
It matches lines exactly as
.BR fail2ban\-server (1)
does (same date detection, prefregex, multi-line buffers) and prints the
same report as Fail2ban 1.0.2's fail2ban\-regex: the lines matched, missed
and ignored, and how often each regex hit. With
.BR \-o ,
it prints one line per failure instead.
"#;

const REGEX_AFTER: &str = r#".SH EXAMPLES
.nf
fail2ban\-regex /var/log/auth.log sshd
fail2ban\-regex \-r \-o '<ip>\et<time>' /var/log/auth.log sshd
fail2ban\-regex 'Nov 28 10:00:00 host sshd[1]: Invalid user x from 192.0.2.1' \e
    'Invalid user \eS+ from <HOST>'
.fi
.SH EXIT STATUS
0 after a report, 255 when the arguments, the filter or the log cannot be
used.
.SH SEE ALSO
.BR fail2ban\-server (1),
.BR fail2ban\-client (1),
.BR jail.conf (5)
"#;

fn pages() -> Vec<Page> {
    vec![
        Page {
            name: "fail2ban-server",
            cmd: ferroban::cli::server_command,
            summary: "watch logs and ban the hosts that fail to log in too often",
            description: SERVER_DESCRIPTION,
            after: SERVER_AFTER,
        },
        Page {
            name: "fail2ban-client",
            cmd: ferroban::cli::client_command,
            summary: "control fail2ban-server and test its configuration",
            description: CLIENT_DESCRIPTION,
            after: CLIENT_AFTER,
        },
        Page {
            name: "fail2ban-regex",
            cmd: ferroban::cli::regex_command,
            summary: "test fail2ban filters on log lines",
            description: REGEX_DESCRIPTION,
            after: REGEX_AFTER,
        },
    ]
}

fn render(p: &Page) -> String {
    let man = Man::new((p.cmd)());
    let mut out: Vec<u8> = Vec::new();
    out.extend_from_slice(
        b".\\\" Made by tests/man_pages.rs from the clap definitions and its own text;\n\
          .\\\" do not edit: change those, then FERROBAN_BLESS_MAN=1 cargo test --test man_pages\n",
    );
    // The title line by hand: no date (it would change with every
    // regeneration), which clap_mangen would drop rather than leave empty.
    out.extend_from_slice(
        format!(
            ".TH {} 1 \"\" \"ferroban {}\" \"ferroban\"\n",
            p.name.to_uppercase().replace('-', "\\-"),
            env!("CARGO_PKG_VERSION")
        )
        .as_bytes(),
    );
    let summary = p.summary.replace('-', "\\-");
    out.extend_from_slice(
        format!(".SH NAME\n{} \\- {summary}\n", p.name.replace('-', "\\-")).as_bytes(),
    );
    man.render_synopsis_section(&mut out)
        .expect("render synopsis");
    out.extend_from_slice(b".SH DESCRIPTION\n");
    out.extend_from_slice(p.description.as_bytes());
    man.render_options_section(&mut out)
        .expect("render options");
    out.extend_from_slice(p.after.as_bytes());
    String::from_utf8(out).expect("roff is UTF-8")
}

#[test]
fn program_pages_match_their_command_lines() {
    let bless = std::env::var_os("FERROBAN_BLESS_MAN").is_some();
    let mut stale = Vec::new();
    for p in pages() {
        let path = man_dir().join(format!("{}.1", p.name));
        let want = render(&p);
        if bless {
            std::fs::create_dir_all(man_dir()).expect("create man/");
            std::fs::write(&path, &want).expect("write man page");
            continue;
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        if have != want {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "out of date with the command lines: {stale:?}\n\
         run: FERROBAN_BLESS_MAN=1 cargo test --test man_pages"
    );
}

/// The option words (`-c`, `--conf`, ...) a `--help` text shows.
fn help_options(help: &str) -> Vec<String> {
    let mut opts = Vec::new();
    for line in help.lines() {
        let line = line.trim_start();
        if !line.starts_with('-') {
            continue;
        }
        // "-c, --conf <DIR>  text" / "--timezone <TZ>  text [alias: --TZ]"
        let head = line.split("  ").next().unwrap_or("");
        for word in head.split([',', ' ']) {
            let word = word.trim_end_matches("...");
            if word.starts_with('-') && word.len() > 1 {
                opts.push(word.to_string());
            }
        }
    }
    opts
}

#[test]
fn every_option_in_help_is_in_its_page() {
    for (bin, name) in [
        (env!("CARGO_BIN_EXE_fail2ban-server"), "fail2ban-server"),
        (env!("CARGO_BIN_EXE_fail2ban-client"), "fail2ban-client"),
        (env!("CARGO_BIN_EXE_fail2ban-regex"), "fail2ban-regex"),
    ] {
        let out = Command::new(bin)
            .arg("--help")
            .output()
            .expect("run --help");
        assert!(out.status.success(), "{name} --help failed");
        let help = String::from_utf8_lossy(&out.stdout);
        let opts = help_options(&help);
        assert!(opts.len() >= 5, "{name}: too few options found in --help");
        let page =
            std::fs::read_to_string(man_dir().join(format!("{name}.1"))).expect("read man page");
        let missing: Vec<&String> = opts
            .iter()
            .filter(|o| *o != "-h" && *o != "--help")
            .filter(|o| !page.contains(&o.replace('-', "\\-")))
            .collect();
        assert!(
            missing.is_empty(),
            "{name}: options in --help but not in man/{name}.1: {missing:?}"
        );
    }
}

/// The options a jail takes, as src/config/jail.rs lists them.
fn jail_options() -> Vec<String> {
    let src =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/config/jail.rs"))
            .expect("read src/config/jail.rs");
    let start = src
        .find("const JAIL_OPTIONS")
        .expect("src/config/jail.rs no longer has JAIL_OPTIONS: update this test");
    let block = &src[start..];
    let block = &block[..block.find("];").expect("end of JAIL_OPTIONS")];
    block
        .lines()
        .filter_map(|l| l.trim().strip_prefix("(\""))
        .filter_map(|l| l.split('"').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn jail_conf_page_names_every_jail_option() {
    let page = std::fs::read_to_string(man_dir().join("jail.conf.5")).expect("read jail.conf.5");
    let th = format!(
        ".TH JAIL.CONF 5 \"\" \"ferroban {}\"",
        env!("CARGO_PKG_VERSION")
    );
    assert!(
        page.contains(&th),
        "jail.conf.5's title line should be: {th} \"ferroban\""
    );
    let opts = jail_options();
    assert!(opts.len() >= 20, "too few jail options found: {opts:?}");
    // Options an admin sets that live in [DEFAULT] or are read by the
    // actions rather than by the jail itself.
    let more = [
        "banaction",
        "banaction_allports",
        "port",
        "protocol",
        "chain",
        "destemail",
        "sender",
        "mta",
    ];
    let missing: Vec<String> = opts
        .iter()
        .map(String::as_str)
        .chain(more)
        .filter(|o| !page.contains(&format!(".B {o}\n")))
        .map(str::to_string)
        .collect();
    assert!(
        missing.is_empty(),
        "jail.conf.5 has no \".B name\" entry for: {missing:?}"
    );
}

#[test]
fn pages_render_without_warnings() {
    if Command::new("groff").arg("--version").output().is_err() {
        eprintln!("skipping: groff is not installed (apt-get install groff-base)");
        return;
    }
    let mut pages: Vec<PathBuf> = std::fs::read_dir(man_dir())
        .expect("read man/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x.len() == 1))
        .collect();
    pages.sort();
    assert_eq!(pages.len(), 4, "man/ should hold four pages: {pages:?}");
    for page in pages {
        let out = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(&page)
            .output()
            .expect("run groff");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && err.trim().is_empty(),
            "{}: groff warnings:\n{err}",
            page.display()
        );
    }
}
