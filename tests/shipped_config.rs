//! The configuration ferroban ships for Mageia (`etc/fail2ban`), run for
//! real.
//!
//! Why it exists: `etc/fail2ban` becomes /etc/fail2ban in the package, so
//! its jails must all load, and its ban actions must do what their comments
//! say on real firewalls: Shorewall (Mageia's), nftables and iptables, each
//! inside a network namespace made for the test (the host's rules are never
//! touched; addresses are documentation ones). The mail action is run with
//! hostile user names in the log and a fake sendmail, to check that nothing
//! from a log line runs as shell code and that the mail reads as it should.
//!
//! The firewall tests need root, `ip`, `shorewall`, `iptables`,
//! `ip6tables` and `nft`; they say why and return when something is
//! missing. CI runs as root and installs them.

mod common;

use common::have;
use common::netns::{Netns, SHOREWALL_EXAMPLE};
use common::server::Foreground;
use common::{TempDir, unquote_printable};

use common::{append, failures};

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const CLIENT: &str = env!("CARGO_BIN_EXE_fail2ban-client");

/// Every jail of jail.conf, by its stock name.
const JAILS: [&str; 13] = [
    "sshd",
    "vsftpd",
    "proftpd",
    "pure-ftpd",
    "postfix-sasl",
    "dovecot",
    "sendmail-auth",
    "apache-auth",
    "nginx-http-auth",
    "lighttpd-auth",
    "webmin-auth",
    "pam-generic",
    "recidive",
];

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/fail2ban")
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A copy of the shipped configuration under `dir/etc`, with the server's
/// socket, pid file, state and log kept in `dir`, and `jail_local` as
/// jail.local.
fn private_conf(dir: &Path, jail_local: &str) -> PathBuf {
    common::private_conf(&shipped(), dir, "DEBUG", jail_local)
}

/// `fail2ban-client -t` on `conf`, which must pass; its output.
fn passes_test(conf: &Path) -> Output {
    let out = run_client(conf, &["-t"]);
    assert_eq!(
        (out.status.code(), text(&out.stdout).as_str()),
        (Some(0), "OK: configuration test is successful\n"),
        "{}",
        text(&out.stderr)
    );
    out
}

fn run_client(conf: &Path, args: &[&str]) -> Output {
    Command::new(CLIENT)
        .arg("-c")
        .arg(conf)
        .args(args)
        .output()
        .expect("client runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Waits up to 20 s for `ok`; on a timeout the test fails with the
/// server's log, which says what the actions did.
fn wait_until(what: &str, dir: &Path, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        if start.elapsed() > Duration::from_secs(20) {
            let log = fs::read_to_string(dir.join("f2b.log")).unwrap_or_default();
            panic!("timed out waiting for {what}; server log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A network namespace of the test's own with an interface `net0`
/// (192.0.2.1/24, 2001:db8::1/64).
fn netns_with_net0(name: &str) -> Netns {
    let ns = Netns::new(name);
    for args in [
        &[
            "link", "add", "net0", "type", "veth", "peer", "name", "net1",
        ][..],
        &["addr", "add", "192.0.2.1/24", "dev", "net0"],
        &["addr", "add", "2001:db8::1/64", "dev", "net0", "nodad"],
        &["link", "set", "net0", "up"],
        &["link", "set", "net1", "up"],
    ] {
        ns.ip(args);
    }
    ns
}

/// 1. The shipped configuration: `-t` passes as it is (no jail enabled, so
///    `-d` starts none); with every jail enabled on temp log files, `-t`
///    compiles every filter and `-d` lists every jail with its filter and
///    the shorewall ban action.
#[test]
fn shipped_jails_all_load() {
    passes_test(&shipped());
    let dump = text(&run_client(&shipped(), &["-d"]).stdout);
    assert!(
        dump.contains("['set', 'logtarget', 'SYSLOG']"),
        "fail2ban.conf not read:\n{dump}"
    );
    assert!(
        !dump.contains("['start',"),
        "a jail is enabled by default:\n{dump}"
    );

    let tmp = TempDir::new("shipped-all");
    let logs = tmp.0.join("logs");
    fs::create_dir_all(&logs).expect("logs");
    let mut local = String::new();
    for j in JAILS {
        let log = logs.join(format!("{j}.log"));
        append(&log, "");
        local.push_str(&format!(
            "[{j}]\nenabled = true\nlogpath = {}\n\n",
            log.display()
        ));
    }
    let conf = private_conf(&tmp.0, &local);
    let out = passes_test(&conf);
    assert!(
        !text(&out.stderr).contains("ERROR"),
        "{}",
        text(&out.stderr)
    );
    let out = run_client(&conf, &["-d"]);
    assert_eq!(out.status.code(), Some(0));
    let dump = text(&out.stdout);
    for j in JAILS {
        let log = logs.join(format!("{j}.log"));
        for want in [
            format!("['add', '{j}', 'auto']"),
            format!("['set', '{j}', 'addlogpath', '{}', 'head']", log.display()),
            format!("['multi-set', '{j}', 'action', 'shorewall', ["),
            format!("['start', '{j}']"),
        ] {
            assert!(dump.contains(&want), "{want} missing from -d:\n{dump}");
        }
        // One failregex is a `set`, several a `multi-set`.
        assert!(
            dump.contains(&format!("['set', '{j}', 'addfailregex', "))
                || dump.contains(&format!("['multi-set', '{j}', 'addfailregex', [")),
            "{j} has no failregex:\n{dump}"
        );
    }
    // Mageia's defaults from the wiki.
    for want in [
        "['set', 'sshd', 'maxretry', 5]",
        "['set', 'sshd', 'bantime', '1h']",
        "['set', 'sshd', 'findtime', '10m']",
        "['set', 'recidive', 'bantime', '1w']",
    ] {
        assert!(dump.contains(want), "{want} missing from -d:\n{dump}");
    }
}

/// Every shipped action file and every filter mode the samples exercise
/// (`tests/shipped/*.cases`), each in a jail of its own, pass `-t`: their
/// regexes compile and their options resolve.
#[test]
fn every_action_and_filter_mode_loads() {
    let tmp = TempDir::new("shipped-every");
    let log = tmp.0.join("any.log");
    append(&log, "");
    let mut actions: Vec<String> = fs::read_dir(shipped().join("action.d"))
        .expect("action.d")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let base = name.strip_suffix(".conf")?;
            (!base.ends_with("-common")).then(|| base.to_string())
        })
        .collect();
    actions.sort();
    assert!(actions.len() >= 10, "{actions:?}");
    let mut local = String::new();
    for a in &actions {
        local.push_str(&format!(
            "[act-{a}]\nenabled = true\nfilter = sshd\naction = {a}\nlogpath = {}\n\n",
            log.display()
        ));
    }
    let cases_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/shipped");
    let mut specs: Vec<String> = fs::read_dir(&cases_dir)
        .expect("tests/shipped")
        .filter_map(|e| {
            let path = e.ok()?.path();
            (path.extension()? == "cases").then_some(path)
        })
        .flat_map(|p| {
            fs::read_to_string(p)
                .expect("cases")
                .lines()
                .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                .filter_map(|l| l.split('\t').next().map(str::to_string))
                .collect::<Vec<_>>()
        })
        .collect();
    specs.sort();
    specs.dedup();
    assert!(specs.iter().any(|s| s.contains("mode=")), "{specs:?}");
    for (n, spec) in specs.iter().enumerate() {
        local.push_str(&format!(
            "[mode-{n}]\nenabled = true\nfilter = {spec}\naction = dummy\nlogpath = {}\n\n",
            log.display()
        ));
    }
    let conf = private_conf(&tmp.0, &local);
    passes_test(&conf);
    let dump = text(&run_client(&conf, &["-d"]).stdout);
    for a in &actions {
        let want = format!("['multi-set', 'act-{a}', 'action', '{a}', [");
        assert!(dump.contains(&want), "{want} missing from -d");
    }
    for (n, spec) in specs.iter().enumerate() {
        let want = format!("['start', 'mode-{n}']");
        assert!(dump.contains(&want), "{want} ({spec}) missing from -d");
    }
}

/// 2. The shorewall action on a real Shorewall: a ban puts the address in
///    Shorewall's dynamic blacklist, `unbanip` takes it out.
#[test]
fn shorewall_action_bans_and_unbans() {
    if !is_root() {
        eprintln!("skipping: needs root for a network namespace and Shorewall");
        return;
    }
    if !have("ip") || !have("shorewall") || !have("iptables") {
        eprintln!(
            "skipping: needs ip, shorewall and iptables (apt-get install -y iproute2 shorewall iptables)"
        );
        return;
    }
    if !Path::new(SHOREWALL_EXAMPLE).is_dir() {
        eprintln!(
            "skipping: needs Shorewall's example configuration in {SHOREWALL_EXAMPLE} (package shorewall, with /usr/share/doc installed)"
        );
        return;
    }
    let tmp = TempDir::new("shipped-shorewall");
    let log = tmp.0.join("auth.log");
    append(&log, "");
    let conf = private_conf(
        &tmp.0,
        &format!(
            "[sshd]\nenabled = true\nlogpath = {}\nmaxretry = 3\nbanaction = shorewall\n",
            log.display()
        ),
    );
    let mut ns = netns_with_net0(&format!("f2bsw{}", std::process::id()));
    ns.start_shorewall("net0", &tmp.0.join("shorewall-var"));
    let dynamic = || ns.stdout(&["iptables", "-w", "-S", "dynamic"]);
    let rule = "-A dynamic -s 192.0.2.2/32 -j reject";
    assert!(!dynamic().contains("192.0.2.2"), "{}", dynamic());

    let server = Foreground::start(&conf, Some(&ns.name), &tmp.0);
    append(&log, &failures("192.0.2.2", 3));
    wait_until("the ban in Shorewall's dynamic chain", &tmp.0, || {
        dynamic().contains(rule)
    });
    let status = common::client(CLIENT, &conf, &["status", "sshd"]);
    assert!(status.contains("Banned IP list:\t192.0.2.2"), "{status}");

    let out = common::client(CLIENT, &conf, &["set", "sshd", "unbanip", "192.0.2.2"]);
    assert_eq!(out.trim(), "1");
    wait_until("the unban in Shorewall", &tmp.0, || {
        !dynamic().contains("192.0.2.2")
    });
    server.stop();
}

/// 3. nftables-multiport and iptables-allports in one namespace, for IPv4
///    and IPv6: bans appear in the set and chain, unbans remove them, and
///    stopping removes the table and chains.
#[test]
fn nftables_multiport_and_iptables_allports_ban_unban_and_stop() {
    if !is_root() {
        eprintln!("skipping: needs root for a network namespace, nftables and iptables");
        return;
    }
    if !have("ip") || !have("nft") || !have("iptables") || !have("ip6tables") {
        eprintln!(
            "skipping: needs ip, nft, iptables and ip6tables (apt-get install -y iproute2 nftables iptables)"
        );
        return;
    }
    let tmp = TempDir::new("shipped-nft");
    let log = tmp.0.join("auth.log");
    append(&log, "");
    let l = log.display();
    let conf = private_conf(
        &tmp.0,
        &format!(
            "[DEFAULT]\nmaxretry = 3\n\n\
             [sshd]\nenabled = true\nlogpath = {l}\nbanaction = nftables-multiport\n\n\
             [sshd-all]\nenabled = true\nfilter = sshd\nlogpath = {l}\nbanaction = iptables-allports\n"
        ),
    );
    let ns = netns_with_net0(&format!("f2bnft{}", std::process::id()));
    let server = Foreground::start(&conf, Some(&ns.name), &tmp.0);
    let set4 = || ns.stdout(&["nft", "list", "set", "inet", "f2b-table", "addr-set-sshd"]);
    let set6 = || ns.stdout(&["nft", "list", "set", "inet", "f2b-table", "addr6-set-sshd"]);
    let ipt4 = || ns.stdout(&["iptables", "-w", "-S"]);
    let ipt6 = || ns.stdout(&["ip6tables", "-w", "-S"]);
    let rule4 = "-A f2b-sshd-all -s 192.0.2.3/32 -j REJECT --reject-with icmp-port-unreachable";
    let rule6 = "-A f2b-sshd-all -s 2001:db8::3/128 -j REJECT --reject-with icmp6-port-unreachable";

    append(&log, &failures("192.0.2.3", 3));
    // Other pids than the IPv4 lines': sshd's filter ties lines with the
    // same "sshd[pid]" together, as fail2ban's does.
    append(
        &log,
        &failures("2001:db8::3", 3).replace("sshd[10", "sshd[20"),
    );
    wait_until("the IPv4 bans", &tmp.0, || {
        set4().contains("192.0.2.3") && ipt4().contains(rule4)
    });
    wait_until("the IPv6 bans", &tmp.0, || {
        set6().contains("2001:db8::3") && ipt6().contains(rule6)
    });
    let ruleset = ns.stdout(&["nft", "list", "ruleset"]);
    assert!(
        ruleset.contains("hook input priority")
            && ruleset.contains("dport 22 ip saddr @addr-set-sshd reject")
            && ruleset.contains("dport 22 ip6 saddr @addr6-set-sshd reject"),
        "{ruleset}"
    );
    assert!(
        ipt4().contains("-A INPUT -p tcp -j f2b-sshd-all"),
        "{}",
        ipt4()
    );
    assert!(
        ipt6().contains("-A INPUT -p tcp -j f2b-sshd-all"),
        "{}",
        ipt6()
    );

    for (jail, ip) in [
        ("sshd", "192.0.2.3"),
        ("sshd", "2001:db8::3"),
        ("sshd-all", "192.0.2.3"),
        ("sshd-all", "2001:db8::3"),
    ] {
        let out = common::client(CLIENT, &conf, &["set", jail, "unbanip", ip]);
        assert_eq!(out.trim(), "1", "unbanip {jail} {ip}");
    }
    wait_until("the unbans", &tmp.0, || {
        !set4().contains("192.0.2.3")
            && !set6().contains("2001:db8::3")
            && !ipt4().contains("192.0.2.3")
            && !ipt6().contains("2001:db8::3")
    });
    assert!(
        set4().contains("addr-set-sshd"),
        "the set stays while the jail runs"
    );

    // A ban in force when the jail stops goes with the table and chains.
    append(&log, &failures("192.0.2.5", 3));
    wait_until("a last ban", &tmp.0, || {
        set4().contains("192.0.2.5") && ipt4().contains("192.0.2.5")
    });
    server.stop();
    let tables = ns.stdout(&["nft", "list", "tables"]);
    assert!(!tables.contains("f2b-table"), "{tables}");
    assert!(!ipt4().contains("f2b-sshd-all"), "{}", ipt4());
    assert!(!ipt6().contains("f2b-sshd-all"), "{}", ipt6());
}

/// 4. Bans restored at start go to the firewall's set in batches: 1,100
///    addresses come back with one command per family and 1,000 addresses
///    (fail2ban runs one command per ban: hours for 20,000, its issue
///    #3088). A wrapper around the set tool counts the commands.
struct BatchCase {
    tag: &'static str,
    /// The program the action runs for its set, and the option naming it.
    tool: &'static str,
    option: &'static str,
    action: &'static str,
    /// How the wrapper's log shows a batch command.
    batch: &'static str,
    /// The commands listing the IPv4 and IPv6 sets.
    list4: &'static [&'static str],
    list6: &'static [&'static str],
}

/// A script `dir/<tool>` that notes the start of its arguments in
/// `dir/calls`, then runs `tool`: (the script, the notes).
fn counting_wrapper(dir: &Path, tool: &str) -> (PathBuf, PathBuf) {
    let calls = dir.join("calls");
    let wrapper = dir.join(tool);
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" | cut -c1-40 >> {}\nexec {tool} \"$@\"\n",
            calls.display()
        ),
    )
    .expect("wrapper");
    fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    (wrapper, calls)
}

fn restores_bans_in_batches(case: &BatchCase) {
    if !is_root() || !have("ip") || !have(case.tool) {
        eprintln!(
            "skipping: needs root, ip and {} (apt-get install -y iproute2 nftables ipset iptables)",
            case.tool
        );
        return;
    }
    let tmp = TempDir::new(&format!("shipped-batch-{}", case.tag));
    let log = tmp.0.join("auth.log");
    append(&log, "");
    let (wrapper, calls) = counting_wrapper(&tmp.0, case.tool);
    let conf = private_conf(
        &tmp.0,
        &format!(
            "[sshd]\nenabled = true\nlogpath = {}\nbantime = 1d\n\
             action = {}[name=sshd, {}={}]\n",
            log.display(),
            case.action,
            case.option,
            wrapper.display()
        ),
    );
    let ns = netns_with_net0(&format!("f2bb{}{}", case.tag, std::process::id()));
    let v6: Vec<String> = (1..=1000).map(|i| format!("2001:db8:5::{i:x}")).collect();
    let v4: Vec<String> = (1..=100).map(|i| format!("192.0.2.{i}")).collect();
    let all_in = || {
        ns.stdout(case.list6).matches("2001:db8:5::").count() == 1000
            && ns.stdout(case.list4).matches("192.0.2.").count() == 100
    };
    let server = Foreground::start(&conf, Some(&ns.name), &tmp.0);
    for chunk in v6.chunks(250).chain(v4.chunks(100)) {
        let mut args = vec!["set", "sshd", "banip"];
        args.extend(chunk.iter().map(String::as_str));
        common::client(CLIENT, &conf, &args);
    }
    wait_until("the bans", &tmp.0, all_in);
    // Let the state be saved, then stop: the sets go with the jail.
    std::thread::sleep(Duration::from_millis(1500));
    server.stop();
    fs::write(&calls, "").expect("reset the count");

    let server = Foreground::start(&conf, Some(&ns.name), &tmp.0);
    wait_until("the restored bans", &tmp.0, all_in);
    let ran = fs::read_to_string(&calls).expect("calls");
    let batches = ran.lines().filter(|l| l.starts_with(case.batch)).count();
    assert_eq!(
        batches, 2,
        "{}: one command per family and 1,000 addresses: {ran}",
        case.tag
    );
    let status = common::client(CLIENT, &conf, &["status", "sshd"]);
    assert!(status.contains("Currently banned:\t1100"), "{status}");
    server.stop();
}

#[test]
fn nftables_restores_bans_in_batches() {
    restores_bans_in_batches(&BatchCase {
        tag: "nft",
        tool: "nft",
        option: "nftables",
        action: "nftables-multiport",
        batch: "add element",
        list4: &["nft", "list", "set", "inet", "f2b-table", "addr-set-sshd"],
        list6: &["nft", "list", "set", "inet", "f2b-table", "addr6-set-sshd"],
    });
}

#[test]
fn ipset_restores_bans_in_batches() {
    restores_bans_in_batches(&BatchCase {
        tag: "ipset",
        tool: "ipset",
        option: "ipset",
        action: "iptables-ipset",
        batch: "-exist restore",
        list4: &["ipset", "list", "f2b-sshd"],
        list6: &["ipset", "list", "f2b6-sshd"],
    });
}

/// 5. Shorewall with its dynamic blacklist in an ipset: a ban from the log
///    lands in SW_DBL4, `shorewall allow` (the wiki's way) lifts it, and
///    700 bans restored at start go in with one `ipset restore`.
#[test]
fn shorewall_ipset_bans_and_restores_in_one_batch() {
    if !is_root() || !have("ip") || !have("shorewall") || !have("ipset") {
        eprintln!(
            "skipping: needs root, ip, shorewall and ipset (apt-get install -y iproute2 shorewall ipset)"
        );
        return;
    }
    if !Path::new(SHOREWALL_EXAMPLE).is_dir() {
        eprintln!("skipping: needs Shorewall's example configuration in {SHOREWALL_EXAMPLE}");
        return;
    }
    let tmp = TempDir::new("shipped-shorewall-ipset");
    let log = tmp.0.join("auth.log");
    append(&log, "");
    let (wrapper, calls) = counting_wrapper(&tmp.0, "ipset");
    let conf = private_conf(
        &tmp.0,
        &format!(
            "[sshd]\nenabled = true\nlogpath = {}\nmaxretry = 3\nbantime = 1d\n\
             action = shorewall-ipset[ipset={}]\n",
            log.display(),
            wrapper.display()
        ),
    );
    let mut ns = netns_with_net0(&format!("f2bswi{}", std::process::id()));
    ns.start_shorewall_with("net0", &tmp.0.join("shorewall-var"), "ipset-only:SW_DBL4");
    let members = || ns.stdout(&["ipset", "list", "SW_DBL4"]);
    let server = Foreground::start(&conf, Some(&ns.name), &tmp.0);
    append(&log, &failures("192.0.2.2", 3));
    wait_until("the ban in SW_DBL4", &tmp.0, || {
        members().contains("192.0.2.2 ")
    });
    let out = ns.run(&["shorewall", "allow", "192.0.2.2"]);
    assert!(out.status.success(), "shorewall allow");
    assert!(!members().contains("192.0.2.2 "), "{}", members());

    let many: Vec<String> = ["198.51.100", "203.0.113"]
        .iter()
        .flat_map(|net| (1..=250).map(move |i| format!("{net}.{i}")))
        .chain((10..=209).map(|i| format!("192.0.2.{i}")))
        .collect();
    for chunk in many.chunks(350) {
        let mut args = vec!["set", "sshd", "banip"];
        args.extend(chunk.iter().map(String::as_str));
        common::client(CLIENT, &conf, &args);
    }
    let all_in = || members().matches(" timeout ").count() >= 700;
    wait_until("the bans", &tmp.0, all_in);
    std::thread::sleep(Duration::from_millis(1500));
    server.stop();
    // The set outlives the jail (it is Shorewall's): empty it, then
    // check that the restart fills it again.
    assert!(ns.run(&["ipset", "flush", "SW_DBL4"]).status.success());
    fs::write(&calls, "").expect("reset the count");
    let server = Foreground::start(&conf, Some(&ns.name), &tmp.0);
    wait_until("the restored bans", &tmp.0, all_in);
    let ran = fs::read_to_string(&calls).expect("calls");
    let batches = ran
        .lines()
        .filter(|l| l.starts_with("-exist restore"))
        .count();
    let singles = ran.lines().filter(|l| l.starts_with("-exist add")).count();
    assert_eq!((batches, singles), (1, 0), "{ran}");
    server.stop();
}

/// A fake sendmail that keeps each mail (its arguments, then what it read)
/// in a file of its own under `mails`, and a fake whois.
fn fake_mailer(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let mails = dir.join("mails");
    fs::create_dir_all(&mails).expect("mails");
    let sendmail = dir.join("fake-sendmail");
    fs::write(
        &sendmail,
        format!(
            "#!/bin/sh\nf=$(mktemp {}/mail.XXXXXX)\n{{ printf 'ARG %s\\n' \"$@\"; echo ---; cat; }} > \"$f\"\n",
            mails.display()
        ),
    )
    .expect("fake sendmail");
    let whois = dir.join("fake-whois");
    fs::write(&whois, "#!/bin/sh\necho \"fake whois for $1\"\n").expect("fake whois");
    for f in [&sendmail, &whois] {
        fs::set_permissions(f, fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    (sendmail, whois, mails)
}

/// The mails kept by the fake sendmail.
fn read_mails(mails: &Path) -> Vec<String> {
    let mut all: Vec<String> = fs::read_dir(mails)
        .expect("mails")
        .filter_map(|e| fs::read_to_string(e.ok()?.path()).ok())
        .collect();
    all.sort();
    all
}

/// One mail the fake sendmail kept: its arguments, its headers (name,
/// value; folded lines joined) and its body, quoted-printable decoded.
struct Kept {
    args: Vec<String>,
    headers: Vec<(String, String)>,
    body: String,
}

impl Kept {
    fn parse(kept: &str) -> Kept {
        let (args, message) = kept.split_once("---\n").expect("args, then the mail");
        let (head, body) = message
            .split_once("\r\n\r\n")
            .expect("a blank line ends the headers");
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n") {
            match (line.starts_with([' ', '\t']), headers.last_mut()) {
                (true, Some((_, v))) => v.push_str(line),
                _ => {
                    let (n, v) = line.split_once(": ").expect("a header line");
                    headers.push((n.to_string(), v.to_string()));
                }
            }
        }
        Kept {
            args: args
                .lines()
                .map(|a| a.strip_prefix("ARG ").expect("ARG").to_string())
                .collect(),
            headers,
            body: unquote_printable(body),
        }
    }

    fn header(&self, name: &str) -> &str {
        let h = self.headers.iter().find(|(n, _)| n == name);
        &h.unwrap_or_else(|| panic!("no {name} in {:?}", self.headers))
            .1
    }
}

/// 4. The sendmail-whois-lines action (ferroban's built-in mail action),
///    as jail.conf's action_mwl runs it, with user names in the log that
///    would run commands if they were ever parsed by a shell: nothing
///    runs; the sendmail program (here a fake, given as `mailcmd`) gets
///    `-i -f SENDER -- DEST` and a proper message (fail2ban's subject,
///    Date, Message-ID, From with the sender name, To, MIME, UTF-8 text);
///    the body gives the failures, the whois report (a fake `whois`) and
///    the ban's log lines as they are; the ban action runs too, and the
///    start and stop mails come.
#[test]
fn mail_with_log_lines_keeps_hostile_user_names_as_text() {
    let tmp = TempDir::new("shipped-mail");
    let (sendmail, whois, mails) = fake_mailer(&tmp.0);
    let log = tmp.0.join("auth.log");
    append(&log, "");
    let marker = tmp.0.join("pwned");
    let m = marker.display();
    let hostile = [
        format!("$(touch${{IFS}}{m})"),
        format!("`touch${{IFS}}{m}`"),
        format!("';touch${{IFS}}{m};'"),
    ];
    let conf = private_conf(
        &tmp.0,
        &format!(
            "[DEFAULT]\ndestemail = admin@example.org\nsender = fail2ban@example.org\n\
             banaction = dummy\n\n\
             [sshd]\nenabled = true\nlogpath = {}\nmaxretry = 3\naction = %(action_mwl)s\n",
            log.display()
        ),
    );
    // The overrides an admin would write: the sendmail program (here the
    // fake) for every mail action, and the dummy action's file.
    fs::write(
        conf.join("action.d/sendmail-common.local"),
        format!(
            "[Init]\nmailcmd = {}\nwhois = {}\n",
            sendmail.display(),
            whois.display()
        ),
    )
    .expect("sendmail-common.local");
    let dummy = tmp.0.join("dummy.txt");
    fs::write(
        conf.join("action.d/dummy.local"),
        format!("[Init]\ntarget = {}\n", dummy.display()),
    )
    .expect("dummy.local");

    let server = Foreground::start(&conf, None, &tmp.0);
    wait_until("the start mail", &tmp.0, || {
        read_mails(&mails)
            .iter()
            .any(|m| m.contains("Subject: [Fail2Ban] sshd: started on "))
    });
    let stamp = failures("192.0.2.4", 1);
    let stamp = &stamp[..15];
    // Another address that contains this one as text: not its line.
    append(
        &log,
        &format!("{stamp} host sshd[99]: Failed password for bob from 192.0.2.40 port 1 ssh2\n"),
    );
    let lines: Vec<String> = hostile
        .iter()
        .enumerate()
        .map(|(k, h)| {
            format!(
                "{stamp} host sshd[{k}]: Failed password for invalid user {h} from 192.0.2.4 port 4{k} ssh2"
            )
        })
        .collect();
    append(&log, &(lines.join("\n") + "\n"));
    wait_until("the ban mail", &tmp.0, || {
        read_mails(&mails)
            .iter()
            .any(|m| m.contains("banned 192.0.2.4 "))
    });
    // The ban action (banaction = dummy) ran too.
    let bans = fs::read_to_string(&dummy).unwrap_or_default();
    assert_eq!(bans, "started\n+192.0.2.4\n");
    server.stop();

    assert!(
        !marker.exists(),
        "a user name from the log ran as a command"
    );
    let all: Vec<Kept> = read_mails(&mails).iter().map(|m| Kept::parse(m)).collect();
    let ban = all
        .iter()
        .find(|m| m.header("Subject").contains("banned 192.0.2.4 "))
        .expect("ban mail");
    assert_eq!(
        ban.args,
        [
            "-i",
            "-f",
            "fail2ban@example.org",
            "--",
            "admin@example.org"
        ]
    );
    let subject = ban.header("Subject");
    let host = subject
        .strip_prefix("[Fail2Ban] sshd: banned 192.0.2.4 from ")
        .unwrap_or_else(|| panic!("{subject}"));
    assert!(!host.is_empty() && !host.contains(' '), "{subject}");
    // Date: Sat, 28 Nov 2026 11:55:11 +0000
    let date: Vec<&str> = ban.header("Date").split(' ').collect();
    assert!(
        date.len() == 6 && date[0].ends_with(',') && date[5].starts_with(['+', '-']),
        "{date:?}"
    );
    assert_eq!(ban.header("From"), "Fail2Ban <fail2ban@example.org>");
    assert_eq!(ban.header("To"), "admin@example.org");
    assert_eq!(ban.header("MIME-Version"), "1.0");
    assert_eq!(ban.header("Content-Type"), "text/plain; charset=utf-8");
    let id = ban.header("Message-ID");
    assert!(id.starts_with('<') && id.ends_with("@example.org>"), "{id}");
    let names: Vec<&str> = ban.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert!(!names.contains(&"Bcc"), "{names:?}");
    let body = &ban.body;
    for want in [
        format!("The jail sshd on {host} has banned 192.0.2.4.\n"),
        "Failures counted: 3\n".to_string(),
        "\nwhois 192.0.2.4:\n\nfake whois for 192.0.2.4\n".to_string(),
        format!(
            "\nThe log lines of these failures (3):\n\n{}\n",
            lines.join("\n")
        ),
    ] {
        assert!(body.contains(&want), "{want:?} not in the body:\n{body}");
    }
    assert!(
        !body.contains("192.0.2.40"),
        "another address's line:\n{body}"
    );
    let subjects: Vec<&str> = all.iter().map(|m| m.header("Subject")).collect();
    assert!(
        subjects.contains(&format!("[Fail2Ban] sshd: started on {host}").as_str())
            && subjects.contains(&format!("[Fail2Ban] sshd: stopped on {host}").as_str()),
        "{subjects:?}"
    );
    // The dummy action's file goes when the jail stops.
    assert!(!dummy.exists());
}

/// 5. The mails name this host where fail2ban writes `<fq-hostname>` (in
///    the subject, and in jail.conf's default sender), never the tag
///    itself; the wiki's `sendmail[...]` form takes `mailcmd` as the path
///    of the sendmail program.
#[test]
fn mails_name_this_host() {
    let tmp = TempDir::new("shipped-host");
    let (sendmail, _, mails) = fake_mailer(&tmp.0);
    let log = tmp.0.join("auth.log");
    append(&log, "");
    let conf = private_conf(
        &tmp.0,
        &format!(
            "[sshd]\nenabled = true\nlogpath = {}\nmaxretry = 2\nbanaction = dummy\n\
             action = %(action_)s\n         sendmail[mailcmd={}, sender=\"%(sender)s\"]\n",
            log.display(),
            sendmail.display()
        ),
    );
    fs::write(
        conf.join("action.d/dummy.local"),
        format!("[Init]\ntarget = {}\n", tmp.0.join("dummy.txt").display()),
    )
    .expect("dummy.local");
    let server = Foreground::start(&conf, None, &tmp.0);
    append(&log, &failures("192.0.2.6", 2));
    wait_until("the ban mail", &tmp.0, || {
        read_mails(&mails)
            .iter()
            .any(|m| m.contains("banned 192.0.2.6 "))
    });
    server.stop();
    let all = read_mails(&mails);
    let raw = all
        .iter()
        .find(|m| m.contains("banned 192.0.2.6 "))
        .expect("ban mail");
    assert!(
        !raw.contains("<fq-hostname>"),
        "the tag was not filled:\n{raw}"
    );
    let ban = Kept::parse(raw);
    let host = ban
        .header("Subject")
        .strip_prefix("[Fail2Ban] sshd: banned 192.0.2.6 from ")
        .expect("subject")
        .to_string();
    assert!(
        !host.is_empty() && !host.contains(|c: char| c.is_whitespace() || "<>\"'$".contains(c)),
        "{host:?} is no host name"
    );
    // jail.conf: sender = fail2ban@<fq-hostname>; dest = root (a local
    // mailbox: root@localhost).
    assert_eq!(
        ban.args,
        [
            "-i",
            "-f",
            &format!("fail2ban@{host}"),
            "--",
            "root@localhost"
        ]
    );
    assert_eq!(ban.header("From"), format!("Fail2Ban <fail2ban@{host}>"));
}
