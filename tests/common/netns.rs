//! A network namespace of a test's own, with Shorewall in it if needed:
//! shared by the tests that ban for real (shipped_config, walkthrough).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Shorewall's one-interface example, the base of the namespace's firewall.
pub const SHOREWALL_EXAMPLE: &str = "/usr/share/doc/shorewall/examples/one-interface";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("{cmd:?} does not run: {e}"))
}

/// A network namespace of the test's own. Dropping it clears Shorewall if
/// it was started, deletes the namespace (and the veth end in it) and its
/// /etc/netns directory.
pub struct Netns {
    pub name: String,
    shorewall: bool,
}

impl Netns {
    pub fn new(name: &str) -> Netns {
        let _ = Command::new("ip")
            .args(["netns", "del", name])
            .stderr(Stdio::null())
            .status();
        let out = run(Command::new("ip").args(["netns", "add", name]));
        assert!(
            out.status.success(),
            "ip netns add {name}: {}",
            text(&out.stderr)
        );
        let ns = Netns {
            name: name.into(),
            shorewall: false,
        };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n <ns> args...`, which must succeed.
    pub fn ip(&self, args: &[&str]) {
        let out = run(Command::new("ip").args(["-n", &self.name]).args(args));
        assert!(
            out.status.success(),
            "ip -n {} {args:?}: {}",
            self.name,
            text(&out.stderr)
        );
    }

    /// A command run inside the namespace.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(args);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        run(&mut self.cmd(args))
    }

    /// Text printed by `args` run inside the namespace.
    pub fn stdout(&self, args: &[&str]) -> String {
        text(&self.run(args).stdout)
    }

    pub fn etc(&self) -> PathBuf {
        Path::new("/etc/netns").join(&self.name)
    }

    /// Starts Shorewall on the one-interface example (interface `iface`,
    /// ssh open, stock blacklist settings), its state kept in `vardir`.
    pub fn start_shorewall(&mut self, iface: &str, vardir: &Path) {
        self.start_shorewall_with(iface, vardir, "Yes");
    }

    /// `start_shorewall` with `DYNAMIC_BLACKLIST` set to `dynamic` (e.g.
    /// `ipset-only:SW_DBL4`, the blacklist kept in an ipset).
    pub fn start_shorewall_with(&mut self, iface: &str, vardir: &Path, dynamic: &str) {
        let cfg = self.etc().join("shorewall");
        self.shorewall = true;
        fs::create_dir_all(&cfg).expect("/etc/netns/<ns>/shorewall");
        let examples = Path::new(SHOREWALL_EXAMPLE);
        for name in ["interfaces", "policy", "rules", "shorewall.conf", "zones"] {
            let plain = examples.join(name);
            let body = if plain.exists() {
                fs::read(&plain).expect("example")
            } else {
                let gz = examples.join(format!("{name}.gz"));
                let out = run(Command::new("gzip").arg("-dc").arg(&gz));
                assert!(out.status.success(), "gunzip {}", gz.display());
                out.stdout
            };
            let mut body = text(&body);
            match name {
                "interfaces" => {
                    assert!(body.contains("physical=eth0"), "{body}");
                    body = body.replace("physical=eth0", &format!("physical={iface}"));
                }
                "rules" => body.push_str("\nACCEPT\tnet\t$FW\ttcp\t22\n"),
                "shorewall.conf" => {
                    body = body.replace("STARTUP_ENABLED=No", "STARTUP_ENABLED=Yes");
                    body = body.replace(
                        "\nDYNAMIC_BLACKLIST=Yes\n",
                        &format!("\nDYNAMIC_BLACKLIST={dynamic}\n"),
                    );
                }
                _ => {}
            }
            fs::write(cfg.join(name), body).expect("shorewall config");
        }
        fs::create_dir_all(vardir).expect("vardir");
        fs::write(cfg.join("vardir"), format!("VARDIR={}\n", vardir.display())).expect("vardir");
        let out = self.run(&["shorewall", "start"]);
        assert!(
            out.status.success(),
            "shorewall start: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if self.shorewall {
            let _ = self.run(&["shorewall", "clear"]);
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = fs::remove_dir_all(self.etc());
    }
}
