//! The packaging files, checked without building a package (rpm/check.sh
//! checks the built RPMs): the systemd unit, the tmpfiles.d entry, the
//! logrotate file, the spec, and the Control Centre conditions
//! (mcc/check-drakxservices.sh).

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    fs::read_to_string(repo(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("packaging-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).expect("mkdir scratch");
    d
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A unit file as (section, key) -> values in order (repeated keys add up).
fn unit_entries(unit: &str) -> BTreeMap<(String, String), Vec<String>> {
    let mut section = String::new();
    let mut map: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for line in unit.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.to_string();
            continue;
        }
        let (k, v) = line.split_once('=').expect("key=value line");
        map.entry((section.clone(), k.trim().to_string()))
            .or_default()
            .push(v.trim().to_string());
    }
    map
}

fn one(map: &BTreeMap<(String, String), Vec<String>>, section: &str, key: &str) -> String {
    let v = map
        .get(&(section.to_string(), key.to_string()))
        .unwrap_or_else(|| panic!("no {key}= in [{section}]"));
    assert_eq!(v.len(), 1, "{key}= set more than once in [{section}]");
    v[0].clone()
}

fn words(map: &BTreeMap<(String, String), Vec<String>>, section: &str, key: &str) -> Vec<String> {
    map.get(&(section.to_string(), key.to_string()))
        .map(|vs| {
            vs.iter()
                .flat_map(|v| v.split_whitespace())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn unit_runs_the_server_as_the_package_expects() {
    let u = unit_entries(&read("systemd/fail2ban.service"));
    assert_eq!(one(&u, "Service", "Type"), "simple");
    assert_eq!(
        one(&u, "Service", "ExecStart"),
        "/usr/bin/fail2ban-server -xf start"
    );
    assert_eq!(
        one(&u, "Service", "ExecStop"),
        "/usr/bin/fail2ban-client stop"
    );
    assert_eq!(
        one(&u, "Service", "ExecReload"),
        "/usr/bin/fail2ban-client reload"
    );
    assert_eq!(one(&u, "Service", "PIDFile"), "/run/fail2ban/fail2ban.pid");
    assert_eq!(one(&u, "Service", "Restart"), "on-failure");
    assert_eq!(one(&u, "Service", "RuntimeDirectory"), "fail2ban");
    assert!(words(&u, "Install", "WantedBy").contains(&"multi-user.target".to_string()));
    let after = words(&u, "Unit", "After");
    for w in [
        "network.target",
        "shorewall.service",
        "shorewall6.service",
        "iptables.service",
        "nftables.service",
        "firewalld.service",
    ] {
        assert!(after.contains(&w.to_string()), "After= lacks {w}");
    }
    assert!(words(&u, "Unit", "Documentation").contains(&"man:fail2ban-server(1)".to_string()));
    // Every man page the unit names is shipped.
    for doc in words(&u, "Unit", "Documentation") {
        let page = doc.strip_prefix("man:").expect("man: documentation");
        let (name, sect) = page.trim_end_matches(')').split_once('(').expect("name(n)");
        assert!(
            repo(&format!("man/{name}.{sect}")).exists(),
            "Documentation= names {doc}, not in man/"
        );
    }
}

#[test]
fn unit_sandbox_leaves_the_firewalls_and_mail_working() {
    let u = unit_entries(&read("systemd/fail2ban.service"));
    let caps = words(&u, "Service", "CapabilityBoundingSet");
    // shorewall, iptables, nft; dma (drops root, hands a mailbox over).
    for c in [
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
        "CAP_SETUID",
        "CAP_SETGID",
        "CAP_CHOWN",
        "CAP_FOWNER",
    ] {
        assert!(
            caps.contains(&c.to_string()),
            "CapabilityBoundingSet lacks {c}"
        );
    }
    for c in ["CAP_SYS_ADMIN", "CAP_SYS_MODULE", "CAP_DAC_OVERRIDE"] {
        assert!(!caps.contains(&c.to_string()), "{c} is not needed");
    }
    let families = words(&u, "Service", "RestrictAddressFamilies");
    for f in ["AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"] {
        assert!(
            families.contains(&f.to_string()),
            "RestrictAddressFamilies lacks {f}"
        );
    }
    // dma is setgid mail: no NoNewPrivileges=yes.
    let nnp = u.get(&("Service".to_string(), "NoNewPrivileges".to_string()));
    assert!(
        nnp.is_none_or(|v| v.iter().all(|v| v == "no" || v == "false")),
        "NoNewPrivileges=yes would break dma's setgid"
    );
    // /var (state, log, shorewall, dma spool, /var/mail) must stay writable.
    assert_eq!(one(&u, "Service", "ProtectSystem"), "full");
}

#[test]
fn every_hardening_line_is_explained() {
    let unit = read("systemd/fail2ban.service");
    let hardening = [
        "CapabilityBoundingSet",
        "ProtectSystem",
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectControlGroups",
        "ProtectClock",
        "ProtectHostname",
        "RestrictAddressFamilies",
        "RestrictNamespaces",
        "RestrictRealtime",
        "RestrictSUIDSGID",
        "LockPersonality",
        "MemoryDenyWriteExecute",
        "SystemCallArchitectures",
        "SystemCallFilter",
        "SystemCallErrorNumber",
        "UMask",
        "NoNewPrivileges",
        "ReadWritePaths",
    ];
    let lines: Vec<&str> = unit.lines().collect();
    let mut seen = 0;
    for (i, line) in lines.iter().enumerate() {
        let key = line.split('=').next().unwrap_or("");
        if hardening.contains(&key) {
            seen += 1;
            assert!(
                i > 0 && lines[i - 1].starts_with('#'),
                "{key}= has no comment line above it saying why"
            );
        }
    }
    assert!(seen >= 15, "only {seen} hardening settings found");
}

#[test]
fn unit_paths_agree_with_fail2ban_conf() {
    let conf = repo("etc/fail2ban/fail2ban.conf");
    let Ok(conf) = fs::read_to_string(conf) else {
        eprintln!("skipping: etc/fail2ban/fail2ban.conf is not there yet");
        return;
    };
    let value = |key: &str| {
        conf.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| panic!("fail2ban.conf has no {key}"))
    };
    let u = unit_entries(&read("systemd/fail2ban.service"));
    assert_eq!(value("pidfile"), one(&u, "Service", "PIDFile"));
    assert!(value("socket").starts_with("/run/fail2ban/"));
    let tmpfiles = read("systemd/fail2ban-tmpfiles.conf");
    assert!(
        tmpfiles
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some("/run/fail2ban"))
    );
}

/// A root directory where `systemd-analyze verify --root` can load our
/// unit: systemd's own units (sysinit.target...) copied from the host, ours
/// in /usr/lib/systemd/system, and the programs in /usr/bin.
fn verify_root(name: &str, with_binaries: bool) -> PathBuf {
    let root = scratch(name);
    let units = root.join("usr/lib/systemd/system");
    fs::create_dir_all(&units).expect("mkdir units");
    fs::create_dir_all(root.join("etc/systemd/system")).expect("mkdir etc");
    for host in ["/usr/lib/systemd/system", "/lib/systemd/system"] {
        let Ok(dir) = fs::read_dir(host) else {
            continue;
        };
        for e in dir.flatten() {
            let file_name = e.file_name();
            let n = file_name.to_string_lossy();
            let dest = units.join(&file_name);
            if n.starts_with("fail2ban") || dest.exists() || !e.path().is_file() {
                continue;
            }
            if let Ok(target) = fs::read_link(e.path()) {
                let _ = std::os::unix::fs::symlink(target, &dest);
            } else {
                fs::copy(e.path(), &dest).expect("copy host unit");
            }
        }
    }
    fs::copy(
        repo("systemd/fail2ban.service"),
        units.join("fail2ban.service"),
    )
    .expect("unit");
    if with_binaries {
        let bin = root.join("usr/bin");
        fs::create_dir_all(&bin).expect("mkdir bin");
        for (name, path) in [
            ("fail2ban-server", env!("CARGO_BIN_EXE_fail2ban-server")),
            ("fail2ban-client", env!("CARGO_BIN_EXE_fail2ban-client")),
        ] {
            if fs::hard_link(path, bin.join(name)).is_err() {
                fs::copy(path, bin.join(name)).expect("copy binary");
            }
        }
    }
    root
}

#[test]
fn systemd_analyze_verify_accepts_the_unit() {
    if !have("systemd-analyze") {
        eprintln!("skipping: systemd-analyze is not installed");
        return;
    }
    // In a root holding the programs at the unit's paths, verify passes...
    let root = verify_root("verify", true);
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        .arg("fail2ban.service")
        .output()
        .expect("systemd-analyze");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify:\n{}",
        text(&out)
    );
    fs::remove_dir_all(&root).ok();
    // ...and without them it fails: the check does look at ExecStart.
    let root = verify_root("verify-nobin", false);
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        .arg("fail2ban.service")
        .output()
        .expect("systemd-analyze");
    assert!(
        !out.status.success() && text(&out).contains("/usr/bin/fail2ban-server"),
        "verify should miss /usr/bin/fail2ban-server:\n{}",
        text(&out)
    );
    fs::remove_dir_all(&root).ok();
}

/// Whether a test that needs `tool` and root can run here; says why not.
fn can_run(tool: &str, why_root: &str) -> bool {
    if !have(tool) {
        eprintln!("skipping: {tool} is not installed");
        return false;
    }
    if !is_root() {
        eprintln!("skipping: {why_root}");
        return false;
    }
    true
}

#[test]
fn tmpfiles_entry_creates_the_run_directory() {
    if !can_run(
        "systemd-tmpfiles",
        "systemd-tmpfiles sets root ownership, which needs root",
    ) {
        return;
    }
    let root = scratch("tmpfiles");
    let dir = root.join("usr/lib/tmpfiles.d");
    fs::create_dir_all(&dir).expect("mkdir");
    // Installed under this name by the spec, and named so by its
    // %tmpfiles_create, which passes the name to systemd-tmpfiles.
    fs::copy(
        repo("systemd/fail2ban-tmpfiles.conf"),
        dir.join("fail2ban.conf"),
    )
    .expect("copy");
    let out = Command::new("systemd-tmpfiles")
        .arg(format!("--root={}", root.display()))
        .args(["--create", "fail2ban.conf"])
        .output()
        .expect("systemd-tmpfiles");
    assert!(out.status.success(), "systemd-tmpfiles: {}", text(&out));
    let run = root.join("run/fail2ban");
    let meta = fs::metadata(&run).expect("run/fail2ban made");
    assert!(meta.is_dir());
    // Root-only: the control socket inside answers to root alone.
    assert_eq!(meta.permissions().mode() & 0o7777, 0o700);
    fs::remove_dir_all(&root).ok();
}

#[test]
fn logrotate_rotation_reopens_the_server_log() {
    if !can_run(
        "logrotate",
        "logrotate wants its configuration owned by root",
    ) {
        return;
    }
    let dir = scratch("logrotate");
    let conf = dir.join("conf");
    fs::create_dir_all(&conf).expect("mkdir conf");
    let log = dir.join("fail2ban.log");
    fs::write(
        conf.join("fail2ban.conf"),
        format!(
            "[Definition]\nloglevel = INFO\nlogtarget = {}\nsocket = {}\npidfile = {}\ndbfile = :memory:\n",
            log.display(),
            dir.join("f2b.sock").display(),
            dir.join("f2b.pid").display()
        ),
    )
    .expect("fail2ban.conf");
    fs::write(conf.join("jail.conf"), "[DEFAULT]\n").expect("jail.conf");
    let client = env!("CARGO_BIN_EXE_fail2ban-client");
    let mut server = Command::new(env!("CARGO_BIN_EXE_fail2ban-server"))
        .arg("-c")
        .arg(&conf)
        .args(["-f", "start"])
        .spawn()
        .expect("server");
    common::wait_for("the server", || {
        common::client(client, &conf, &["ping"]).contains("pong")
    });
    // The shipped file, pointed at this log and this server.
    let rotate = read("etc/logrotate.d/fail2ban")
        .replace("/var/log/fail2ban.log", &log.display().to_string())
        .replace(
            "/usr/bin/fail2ban-client",
            &format!("{client} -c {}", conf.display()),
        );
    let rotate_conf = dir.join("logrotate.conf");
    fs::write(&rotate_conf, rotate).expect("logrotate conf");
    fs::set_permissions(&rotate_conf, fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = Command::new("logrotate")
        .arg("-f")
        .arg("-s")
        .arg(dir.join("state"))
        .arg(&rotate_conf)
        .output()
        .expect("logrotate");
    let rotated = dir.join("fail2ban.log.1");
    let reload = common::client(client, &conf, &["reload"]);
    let stop = common::client(client, &conf, &["stop"]);
    let _ = server.wait();
    assert!(out.status.success(), "logrotate: {}", text(&out));
    assert_eq!(reload.trim(), "OK");
    assert!(stop.contains("Shutdown successful"));
    let old = fs::read_to_string(&rotated).expect("fail2ban.log.1 (delaycompress)");
    let new = fs::read_to_string(&log).expect("new fail2ban.log");
    assert!(old.contains("Starting Fail2ban"), "old log: {old}");
    assert!(
        new.contains("Reload all jails") && !old.contains("Reload all jails"),
        "the server kept writing to the rotated file:\nold: {old}\nnew: {new}"
    );
    let mode = fs::metadata(&log).expect("log").permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "logrotate's create mode");
    fs::remove_dir_all(&dir).ok();
}

fn spec() -> String {
    read("rpm/ferroban.spec")
}

/// The value of a spec header line such as `Version:`.
fn header<'a>(spec: &'a str, tag: &str) -> Vec<&'a str> {
    spec.lines()
        .filter_map(|l| l.strip_prefix(tag))
        .filter_map(|l| l.strip_prefix(':'))
        .map(str::trim)
        .collect()
}

/// The lines of a spec section (`%files`, `%post`...) up to the next one.
fn section<'a>(spec: &'a str, name: &str) -> Vec<&'a str> {
    let mut lines = spec.lines().skip_while(|l| l.trim() != name);
    lines.next().unwrap_or_else(|| panic!("spec has no {name}"));
    lines
        .take_while(|l| {
            let w = l.split_whitespace().next().unwrap_or("");
            !matches!(
                w,
                "%prep"
                    | "%build"
                    | "%install"
                    | "%check"
                    | "%post"
                    | "%preun"
                    | "%postun"
                    | "%pre"
                    | "%files"
                    | "%changelog"
            )
        })
        .collect()
}

#[test]
fn spec_version_is_cargo_version() {
    assert_eq!(header(&spec(), "Version"), [env!("CARGO_PKG_VERSION")]);
}

#[test]
fn spec_installs_and_lists_every_man_page() {
    let spec = spec();
    let install = section(&spec, "%install").join("\n");
    let files = section(&spec, "%files");
    let mut pages: Vec<String> = fs::read_dir(repo("man"))
        .expect("man/")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.rsplit('.')
                .next()
                .is_some_and(|s| s.len() == 1 && s.chars().all(|c| c.is_ascii_digit()))
        })
        .collect();
    pages.sort();
    assert_eq!(pages.len(), 4, "man pages: {pages:?}");
    for p in &pages {
        let sect = p.rsplit('.').next().expect("section");
        let listed = format!("%{{_mandir}}/man{sect}/{p}*");
        assert!(files.contains(&listed.as_str()), "%files lacks {listed}");
        assert!(
            install.contains(&format!("man/{p}")),
            "%install does not install man/{p}"
        );
    }
    // And nothing listed that man/ lacks.
    let listed = files.iter().filter(|l| l.starts_with("%{_mandir}")).count();
    assert_eq!(
        listed,
        pages.len(),
        "%files lists man pages man/ does not have"
    );
}

#[test]
fn spec_follows_mageia_conventions() {
    let spec = spec();
    assert_eq!(header(&spec, "Name"), ["ferroban"]);
    assert_eq!(header(&spec, "Release"), ["%mkrel 1"]);
    assert_eq!(header(&spec, "License"), [env!("CARGO_PKG_LICENSE")]);
    assert!(
        header(&spec, "Provides")
            .iter()
            .any(|p| p.starts_with("fail2ban"))
    );
    assert_eq!(header(&spec, "Conflicts"), ["fail2ban"]);
    assert!(header(&spec, "Requires(post)").contains(&"rpm-helper"));
    assert!(header(&spec, "Requires(preun)").contains(&"rpm-helper"));
    assert!(
        header(&spec, "BuildRequires")
            .iter()
            .any(|b| b.starts_with("rust"))
    );
    assert!(
        header(&spec, "BuildRequires")
            .iter()
            .any(|b| b.starts_with("cargo"))
    );
    let post = section(&spec, "%post");
    assert!(post.contains(&"%_post_service fail2ban"));
    // systemd-tmpfiles looks the name up as given: it needs the .conf of
    // the file %install puts in %{_tmpfilesdir}.
    assert!(post.contains(&"%tmpfiles_create fail2ban.conf"));
    assert!(
        section(&spec, "%install")
            .iter()
            .any(|l| l.contains("%{_tmpfilesdir}/fail2ban.conf"))
    );
    assert!(section(&spec, "%preun").contains(&"%_preun_service fail2ban"));
    let files = section(&spec, "%files");
    for f in [
        "%{_bindir}/fail2ban-server",
        "%{_bindir}/fail2ban-client",
        "%{_bindir}/fail2ban-regex",
        "%{_unitdir}/fail2ban.service",
        "%{_tmpfilesdir}/fail2ban.conf",
        "%config(noreplace) %{_sysconfdir}/fail2ban/*",
        "%config(noreplace) %{_sysconfdir}/logrotate.d/%{name}",
        "%dir %{_localstatedir}/lib/fail2ban",
        "%license COPYING",
        "%doc README.md",
    ] {
        assert!(files.contains(&f), "%files lacks {f}");
    }
    assert!(
        section(&spec, "%build")
            .iter()
            .any(|l| l.starts_with("cargo build --release --offline --frozen")),
        "%build must build offline from the vendored crates"
    );
}

#[test]
fn spec_parses_with_the_shim_macros() {
    if !have("rpmspec") {
        eprintln!("skipping: rpmspec is not installed (apt-get install rpm)");
        return;
    }
    let out = Command::new("rpmspec")
        .arg("--load")
        .arg(repo("rpm/shim.macros"))
        .arg("-P")
        .arg(repo("rpm/ferroban.spec"))
        .output()
        .expect("rpmspec");
    assert!(out.status.success(), "rpmspec -P: {}", text(&out));
    let parsed = String::from_utf8_lossy(&out.stdout);
    // The Mageia macros expanded as Mageia expands them.
    assert!(
        parsed
            .lines()
            .any(|l| l.starts_with("Release:") && l.trim_end().ends_with(" 1.mga9")),
        "%mkrel 1 should give 1.mga9"
    );
    assert!(parsed.contains("/usr/share/rpm-helper/add-service ferroban $1 fail2ban"));
    assert!(parsed.contains("/usr/share/rpm-helper/del-service ferroban $1 fail2ban"));
    assert!(parsed.contains("/usr/bin/systemd-tmpfiles --create fail2ban.conf"));
    assert!(parsed.contains("/usr/lib/systemd/system/fail2ban.service"));
}

fn drakx_check(root: &Path) -> Output {
    Command::new("bash")
        .arg(repo("mcc/check-drakxservices.sh"))
        .arg(root)
        .output()
        .expect("run mcc/check-drakxservices.sh")
}

#[test]
fn control_centre_lists_the_service() {
    let root = scratch("mcc");
    let units = root.join("usr/lib/systemd/system");
    fs::create_dir_all(&units).expect("mkdir");
    let unit = units.join("fail2ban.service");
    fs::copy(repo("systemd/fail2ban.service"), &unit).expect("copy unit");
    let out = drakx_check(&root);
    assert!(out.status.success(), "check-drakxservices: {}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("fail2ban"));

    let good = read("systemd/fail2ban.service");
    // What the page would not list, or list without a useful Info text.
    let broken = [
        (
            "no WantedBy",
            good.replace("WantedBy=multi-user.target", ""),
        ),
        (
            "a terse description",
            good.lines()
                .map(|l| {
                    if l.starts_with("Description=") {
                        "Description=Fail2Ban Service"
                    } else {
                        l
                    }
                })
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    ];
    for (what, text_) in broken {
        fs::write(&unit, text_).expect("write unit");
        let out = drakx_check(&root);
        assert!(!out.status.success(), "{what}: the check should fail");
    }
    // A symlink to a real file elsewhere is not listed either.
    fs::write(root.join("fail2ban.service"), &good).expect("write");
    fs::remove_file(&unit).expect("rm");
    std::os::unix::fs::symlink(root.join("fail2ban.service"), &unit).expect("symlink");
    assert!(
        !drakx_check(&root).status.success(),
        "a symlinked unit should fail"
    );
    fs::remove_dir_all(&root).ok();
}
