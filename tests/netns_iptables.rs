//! Real iptables in a private network namespace: ban, unban, restart with
//! restore, and log rotation, with the stock iptables-multiport action.
//!
//! Why it exists: the differential tests use the dummy action; this one
//! checks that bans reach the firewall. The server runs inside a namespace
//! created for the test (`ip netns add`), so the host's rules are never
//! touched, and the addresses are documentation ones (192.0.2.0/24).
//!
//! Needs root, `ip`, `iptables` and the stock /etc/fail2ban (its
//! action.d/iptables-multiport.conf); it says why and returns otherwise.
//! CI runs as root and installs them.

mod common;
use common::have;

use common::{append, failures, wait_for};

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SERVER: &str = env!("CARGO_BIN_EXE_fail2ban-server");
const CLIENT: &str = env!("CARGO_BIN_EXE_fail2ban-client");

struct Netns {
    name: String,
}

impl Netns {
    fn new(name: &str) -> Netns {
        let _ = Command::new("ip").args(["netns", "del", name]).status();
        let ok = Command::new("ip")
            .args(["netns", "add", name])
            .status()
            .expect("ip runs");
        assert!(ok.success(), "ip netns add {name}");
        Command::new("ip")
            .args(["-n", name, "link", "set", "lo", "up"])
            .status()
            .expect("lo up");
        Netns { name: name.into() }
    }

    fn rules(&self) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, "iptables", "-w", "-S"])
            .output()
            .expect("iptables runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn server(&self, conf: &Path) -> Child {
        Command::new("ip")
            .args(["netns", "exec", &self.name, SERVER, "-c"])
            .arg(conf)
            .args(["-f", "start"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("server starts")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn rule(ip: &str) -> String {
    format!("-A f2b-sshd -s {ip}/32 -j REJECT --reject-with icmp-port-unreachable")
}

#[test]
fn bans_reach_iptables_and_survive_restart_and_rotation() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping: needs root for network namespaces and iptables");
        return;
    }
    if !have("ip")
        || !have("iptables")
        || !Path::new("/etc/fail2ban/action.d/iptables-multiport.conf").exists()
    {
        eprintln!(
            "skipping: needs ip (iproute2), iptables and the stock /etc/fail2ban (apt-get install -y iproute2 iptables fail2ban)"
        );
        return;
    }
    let dir: PathBuf = std::env::temp_dir().join(format!("ferroban-netns-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let conf = dir.join("etc");
    common::copy_dir(Path::new("/etc/fail2ban"), &conf);
    let _ = fs::remove_file(conf.join("jail.d/defaults-debian.conf"));
    let d = dir.display();
    fs::write(
        conf.join("fail2ban.local"),
        format!("[Definition]\nlogtarget = {d}/f2b.log\nsocket = {d}/f2b.sock\npidfile = {d}/f2b.pid\ndbfile = {d}/f2b.db\n"),
    )
    .expect("fail2ban.local");
    let log = dir.join("auth.log");
    fs::write(
        conf.join("jail.local"),
        format!("[sshd]\nenabled = true\nlogpath = {}\nmaxretry = 3\nbantime = 1h\nbanaction = iptables-multiport\n", log.display()),
    )
    .expect("jail.local");
    append(&log, "");
    let ns = Netns::new(&format!("f2btest{}", std::process::id()));

    // Ban.
    let mut server = ns.server(&conf);
    wait_for("the server", || {
        common::client(CLIENT, &conf, &["ping"]).contains("pong")
    });
    append(&log, &failures("192.0.2.10", 3));
    wait_for("the iptables rule", || {
        ns.rules().contains(&rule("192.0.2.10"))
    });
    assert!(
        ns.rules()
            .contains("-A INPUT -p tcp -m multiport --dports 22 -j f2b-sshd"),
        "{}",
        ns.rules()
    );

    // Unban by hand.
    assert_eq!(
        common::client(CLIENT, &conf, &["set", "sshd", "unbanip", "192.0.2.10"]).trim(),
        "1"
    );
    wait_for("the rule to go", || {
        !ns.rules().contains(&rule("192.0.2.10"))
    });

    // A second ban, then kill -9 and restart: the ban is restored.
    append(&log, &failures("192.0.2.11", 3));
    wait_for("the second rule", || {
        ns.rules().contains(&rule("192.0.2.11"))
    });
    std::thread::sleep(Duration::from_millis(1500));
    server.kill().expect("kill -9");
    let _ = server.wait();
    let mut server = ns.server(&conf);
    wait_for("the restarted server", || {
        common::client(CLIENT, &conf, &["ping"]).contains("pong")
    });
    wait_for("the restored ban", || {
        common::client(CLIENT, &conf, &["status", "sshd"]).contains("192.0.2.11")
    });
    assert!(ns.rules().contains(&rule("192.0.2.11")), "{}", ns.rules());

    // Rotation: rename and create, failures in the new file.
    fs::rename(&log, dir.join("auth.log.1")).expect("rotate");
    append(&log, &failures("192.0.2.12", 3));
    wait_for("a ban from the rotated log", || {
        ns.rules().contains(&rule("192.0.2.12"))
    });

    // Stop: actionstop removes the chain.
    common::client(CLIENT, &conf, &["stop"]);
    let _ = server.wait();
    assert!(!ns.rules().contains("f2b-sshd"), "{}", ns.rules());
    let _ = fs::remove_dir_all(&dir);
}
