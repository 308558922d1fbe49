//! Actions: what a jail does on start, ban, unban and stop.
//!
//! An action is the options of one action.d file as the jail configured
//! it (`actionstart`, `actionban`, `port`, `blocktype`...). Its commands
//! are filled in by `template` and run by a `CommandRunner`, following
//! fail2ban's `CommandAction`: actions with `name?family=inet6` variants
//! start per address family on first use, `actionunban` only runs for a
//! family that has bans, and `actionflush` replaces single unbans when an
//! action has one. An action that sets `mailtype` is one of ferroban's
//! built-in mail actions: besides its (empty) commands it posts a mail on
//! start, ban and stop (`mail`).

pub mod mail;
pub mod runner;
pub mod template;

use std::collections::HashMap;
use std::time::Duration;

use crate::config::jailspec::ActionSpec;
use crate::config::omap::OrderedMap;
use crate::mail::compose::Letter;
use runner::{CommandRunner, Outcome};
use template::{Dynamic, ShellCommand, TemplateError, fill_dynamic, fill_static};

/// What an action knows about one ban (fail2ban's `ActionInfo`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BanInfo {
    /// The failure id: an address, or any text an `<F-ID>` captured.
    pub id: String,
    pub failures: u32,
    /// Time of the last failure (Unix seconds).
    pub time: f64,
    /// Ban duration in seconds (-1 permanent).
    pub bantime: f64,
    pub bancount: u32,
    /// The log lines that led to the ban.
    pub matches: Vec<String>,
    pub restored: bool,
    /// Captured groups (`<F-USER>` ...), by name in upper case.
    pub captures: Vec<(String, String)>,
}

impl BanInfo {
    fn address(&self) -> Option<std::net::IpAddr> {
        self.id.parse().ok()
    }

    /// `inet4`/`inet6`, or empty for an id that is no address.
    pub fn family(&self) -> &'static str {
        match self.address() {
            Some(std::net::IpAddr::V4(_)) => "inet4",
            Some(std::net::IpAddr::V6(_)) => "inet6",
            None => "",
        }
    }

    /// The value of a dynamic tag; text from log lines is `Untrusted`.
    pub fn tag(&self, tag: &str) -> Option<Dynamic> {
        let trusted = |s: String| Some(Dynamic::Trusted(s));
        let id = || match self.address() {
            // The canonical form is ours: safe as shell text.
            Some(a) => Dynamic::Trusted(a.to_string()),
            None => Dynamic::Untrusted(self.id.clone()),
        };
        let number = |v: f64| {
            if v.fract() == 0.0 && v.abs() < 1e15 {
                format!("{}", v as i64)
            } else {
                format!("{v}")
            }
        };
        match tag {
            "ip" | "fid" => Some(id()),
            "family" => trusted(self.family().to_string()),
            "failures" | "ipfailures" | "ipjailfailures" => trusted(self.failures.to_string()),
            "time" => trusted(crate::filter::failure::py_float(self.time)),
            "bantime" => trusted(number(self.bantime)),
            "bancount" => trusted(self.bancount.to_string()),
            "restored" => trusted(u8::from(self.restored).to_string()),
            "matches" | "ipmatches" | "ipjailmatches" => {
                Some(Dynamic::Untrusted(self.matches.join("\n")))
            }
            // Through the environment too: any place in a command takes it.
            "fq-hostname" => Some(Dynamic::Untrusted(host_name(true))),
            "sh-hostname" => Some(Dynamic::Untrusted(host_name(false))),
            t => {
                let name = t.strip_prefix("F-")?;
                self.captures
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| Dynamic::Untrusted(v.clone()))
            }
        }
    }
}

/// This host's name for fail2ban's `<sh-hostname>` (as `hostname` prints
/// it) and `<fq-hostname>` (its canonical name from the resolver, the
/// short one when there is none). Looked up once.
pub fn host_name(full: bool) -> String {
    static NAMES: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    let (short, fq) = NAMES.get_or_init(|| {
        let short = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "localhost".into());
        let fq = canonical_name(&short).unwrap_or_else(|| short.clone());
        (short, fq)
    });
    if full { fq.clone() } else { short.clone() }
}

/// `getaddrinfo(host, AI_CANONNAME)`'s canonical name.
fn canonical_name(host: &str) -> Option<String> {
    let c = std::ffi::CString::new(host).ok()?;
    // SAFETY: all-zero is a valid addrinfo (null pointers, zero numbers).
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_flags = libc::AI_CANONNAME;
    hints.ai_family = libc::AF_UNSPEC;
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: valid C string and hints; `res` is freed below.
    let rc = unsafe { libc::getaddrinfo(c.as_ptr(), std::ptr::null(), &hints, &mut res) };
    if rc != 0 || res.is_null() {
        return None;
    }
    // SAFETY: `res` is the list getaddrinfo returned; its first entry
    // holds the canonical name (or null).
    let name = unsafe {
        let n = (*res).ai_canonname;
        let name =
            (!n.is_null()).then(|| std::ffi::CStr::from_ptr(n).to_string_lossy().into_owned());
        libc::freeaddrinfo(res);
        name
    };
    name.filter(|n| !n.is_empty())
}

#[derive(Debug)]
pub enum ActionError {
    Template {
        action: String,
        error: TemplateError,
    },
    Failed {
        action: String,
        what: String,
        outcome: Outcome,
        stderr: String,
    },
    /// A mail action's options do not make a mail (`mailtype`).
    Mail { action: String, error: String },
}

impl std::fmt::Display for ActionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ActionError::Template { action, error } => write!(f, "action {action}: {error}"),
            ActionError::Failed {
                action,
                what,
                outcome,
                stderr,
            } => {
                write!(f, "action {action}: {what} failed ({outcome:?})")?;
                if !stderr.trim().is_empty() {
                    write!(f, ": {}", stderr.trim())?;
                }
                Ok(())
            }
            ActionError::Mail { action, error } => write!(f, "action {action}: {error}"),
        }
    }
}

impl std::error::Error for ActionError {}

/// Started state per family: 1 started, 2 holds bans.
const STARTED: u8 = 1;
const HAS_BANS: u8 = 2;

/// Addresses in one `actionban_batch` command.
pub const BATCH_MAX: usize = 1000;

/// The `?family=` condition of an action's family-specific options.
fn family_cond(family: &str) -> String {
    if family.is_empty() {
        String::new()
    } else {
        format!("family={family}")
    }
}

/// One configured action of a jail.
pub struct Action {
    pub name: String,
    props: OrderedMap<String>,
    timeout: Duration,
    started: HashMap<&'static str, u8>,
    /// For a built-in mail action, where its mails go (`mail`).
    mail: Option<mail::MailLink>,
}

impl Action {
    pub fn new(spec: &ActionSpec) -> Action {
        let mut props: OrderedMap<String> =
            spec.options.iter().map(|(k, v)| (k, v.text())).collect();
        // Commands an action file leaves out do nothing (fail2ban's
        // CommandAction starts them all empty).
        for cmd in [
            "actionstart",
            "actionstop",
            "actionflush",
            "actioncheck",
            "actionban",
            "actionunban",
        ] {
            if props.get(cmd).is_none() {
                props.insert(cmd, String::new());
            }
        }
        let timeout = props
            .get("timeout")
            .and_then(|t| crate::jail::time::str2seconds(t).ok())
            .filter(|t| *t > 0.0)
            .map_or(Duration::from_secs(60), Duration::from_secs_f64);
        Action {
            name: spec.name.clone(),
            props,
            timeout,
            started: HashMap::new(),
            mail: None,
        }
    }

    /// `norestored`: bans restored after a restart skip this action.
    pub fn skips_restored(&self) -> bool {
        self.props
            .get("norestored")
            .is_some_and(|v| matches!(v.to_lowercase().as_str(), "1" | "on" | "true" | "yes"))
    }

    fn has_cond_section(&self) -> bool {
        self.props.keys().any(|k| {
            k.split_once('?')
                .is_some_and(|(n, c)| !n.is_empty() && c.starts_with("family="))
        })
    }

    fn families(&self) -> Vec<&'static str> {
        if self.has_cond_section() {
            vec!["inet4", "inet6"]
        } else {
            vec![""]
        }
    }

    fn on_demand(&self) -> bool {
        match self.props.get("actionstart_on_demand") {
            Some(v) => matches!(v.to_lowercase().as_str(), "1" | "on" | "true" | "yes"),
            None => self.has_cond_section(),
        }
    }

    fn command(
        &self,
        tag: &str,
        family: &str,
        info: &BanInfo,
    ) -> Result<ShellCommand, ActionError> {
        let text = fill_static(tag, &self.props, &family_cond(family)).map_err(|error| {
            ActionError::Template {
                action: self.name.clone(),
                error,
            }
        })?;
        Ok(fill_dynamic(&text, |t| match t {
            "family" if !family.is_empty() => Some(Dynamic::Trusted(family.to_string())),
            t => info.tag(t),
        }))
    }

    fn exec(
        &self,
        what: &str,
        cmd: &ShellCommand,
        runner: &dyn CommandRunner,
    ) -> Result<(), ActionError> {
        if cmd.script.trim().is_empty() {
            return Ok(());
        }
        let (outcome, stderr) = runner.run(cmd, self.timeout);
        if outcome.success() {
            Ok(())
        } else {
            Err(ActionError::Failed {
                action: self.name.clone(),
                what: what.to_string(),
                outcome,
                stderr,
            })
        }
    }

    /// `actionstart` (for each family, unless started on demand).
    pub fn start(&mut self, now: f64, runner: &dyn CommandRunner) -> Result<(), ActionError> {
        if self.on_demand() {
            return Ok(());
        }
        for f in self.families() {
            self.start_family(f, now, runner)?;
        }
        Ok(())
    }

    fn start_family(
        &mut self,
        family: &'static str,
        now: f64,
        runner: &dyn CommandRunner,
    ) -> Result<(), ActionError> {
        let info = BanInfo {
            time: now,
            ..BanInfo::default()
        };
        let cmd = self.command("<actionstart>", family, &info)?;
        self.exec("start", &cmd, runner)?;
        *self.started.entry(family).or_default() |= STARTED;
        self.post_mail(|| Letter::Started)
    }

    fn family_of(&self, info: &BanInfo) -> &'static str {
        if self.has_cond_section() {
            info.family()
        } else {
            ""
        }
    }

    /// `actionban`.
    pub fn ban(&mut self, info: &BanInfo, runner: &dyn CommandRunner) -> Result<(), ActionError> {
        let family = self.family_of(info);
        if self.on_demand() && self.started.get(family).copied().unwrap_or(0) & STARTED == 0 {
            self.start_family(family, info.time, runner)?;
        }
        let cmd = self.command("<actionban>", family, info)?;
        self.exec("ban", &cmd, runner)?;
        *self.started.entry(family).or_default() |= STARTED | HAS_BANS;
        self.post_mail(|| mail::ban_letter(info))
    }

    /// Bans many addresses with few commands: `actionban_batch` (ours; an
    /// action without it bans one by one) with `<ips>` standing for up to
    /// `BATCH_MAX` canonical addresses of one family, comma-separated (an
    /// nftables set takes `{ <ips> }` as it is). Restoring 20,000 bans at
    /// start then takes 20 commands instead of 20,000. Returns the bans
    /// left for `ban`: all of them when the action has no batch command,
    /// and those whose id is no address (never put into shell text).
    pub fn ban_batch<'a>(
        &mut self,
        infos: &'a [BanInfo],
        runner: &dyn CommandRunner,
    ) -> Result<Vec<&'a BanInfo>, ActionError> {
        if self
            .props
            .get("actionban_batch")
            .is_none_or(|c| c.trim().is_empty())
        {
            return Ok(infos.iter().collect());
        }
        let (mut by_family, mut rest): (Vec<(&'static str, Vec<String>)>, Vec<&BanInfo>) =
            (Vec::new(), Vec::new());
        for info in infos {
            let Some(addr) = info.address() else {
                rest.push(info);
                continue;
            };
            let family = self.family_of(info);
            match by_family.iter_mut().find(|(f, _)| *f == family) {
                Some((_, list)) => list.push(addr.to_string()),
                None => by_family.push((family, vec![addr.to_string()])),
            }
        }
        let now = infos.first().map_or(0.0, |i| i.time);
        for (family, list) in by_family {
            if self.on_demand() && self.started.get(family).copied().unwrap_or(0) & STARTED == 0 {
                self.start_family(family, now, runner)?;
            }
            for chunk in list.chunks(BATCH_MAX) {
                let text = fill_static("<actionban_batch>", &self.props, &family_cond(family))
                    .map_err(|error| ActionError::Template {
                        action: self.name.clone(),
                        error,
                    })?;
                let ips = chunk.join(", ");
                let cmd = fill_dynamic(&text, |t| match t {
                    "ips" => Some(Dynamic::Trusted(ips.clone())),
                    "family" if !family.is_empty() => Some(Dynamic::Trusted(family.to_string())),
                    _ => None,
                });
                self.exec("ban", &cmd, runner)?;
            }
            *self.started.entry(family).or_default() |= STARTED | HAS_BANS;
        }
        Ok(rest)
    }

    /// `actionunban`, for a family that holds bans.
    pub fn unban(&mut self, info: &BanInfo, runner: &dyn CommandRunner) -> Result<(), ActionError> {
        let family = self.family_of(info);
        if self.started.get(family).copied().unwrap_or(0) & HAS_BANS == 0 {
            return Ok(());
        }
        let cmd = self.command("<actionunban>", family, info)?;
        self.exec("unban", &cmd, runner)
    }

    /// `actionflush` for every started family; false when the action has
    /// none (then each ban is unbanned on its own).
    pub fn flush(&mut self, now: f64, runner: &dyn CommandRunner) -> Result<bool, ActionError> {
        if self
            .props
            .get("actionflush")
            .is_none_or(|f| f.trim().is_empty())
        {
            return Ok(false);
        }
        let info = BanInfo {
            time: now,
            ..BanInfo::default()
        };
        for f in self.started_families() {
            let cmd = self.command("<actionflush>", f, &info)?;
            self.exec("flush", &cmd, runner)?;
            if let Some(s) = self.started.get_mut(f) {
                *s &= !HAS_BANS;
            }
        }
        Ok(true)
    }

    fn started_families(&self) -> Vec<&'static str> {
        let mut f: Vec<&'static str> = self
            .started
            .iter()
            .filter(|(_, s)| **s & STARTED != 0)
            .map(|(f, _)| *f)
            .collect();
        f.sort_unstable();
        f
    }

    /// `actionstop` for every started family.
    pub fn stop(&mut self, now: f64, runner: &dyn CommandRunner) -> Result<(), ActionError> {
        let info = BanInfo {
            time: now,
            ..BanInfo::default()
        };
        let mut first_err = None;
        for f in self.started_families() {
            let r = self
                .command("<actionstop>", f, &info)
                .and_then(|c| self.exec("stop", &c, runner))
                .and_then(|()| self.post_mail(|| Letter::Stopped));
            if let Err(e) = r {
                first_err.get_or_insert(e);
            }
        }
        self.started.clear();
        first_err.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::stream::Value;
    use runner::RecordingRunner;

    fn spec(pairs: &[(&str, &str)]) -> ActionSpec {
        ActionSpec {
            name: "test".into(),
            options: pairs.iter().map(|(k, v)| (*k, Value::str(*v))).collect(),
        }
    }

    fn ban(id: &str) -> BanInfo {
        BanInfo {
            id: id.into(),
            failures: 3,
            time: 1700000000.0,
            bantime: 600.0,
            bancount: 1,
            matches: vec!["line one".into(), "user `id`".into()],
            captures: vec![("USER".into(), "$(reboot)".into())],
            ..BanInfo::default()
        }
    }

    #[test]
    fn lifecycle_with_family_variants() {
        let r = RecordingRunner::default();
        let mut a = Action::new(&spec(&[
            ("actionstart", "<fw> -N f2b-<name>"),
            (
                "actionban",
                "<fw> -I f2b-<name> -s <ip> -j DROP # <failures> <F-USER>",
            ),
            ("actionunban", "<fw> -D f2b-<name> -s <ip> -j DROP"),
            ("actionstop", "<fw> -X f2b-<name>"),
            ("name", "sshd"),
            ("fw", "iptables"),
            ("fw?family=inet6", "ip6tables"),
        ]));
        // Conditional sections: started on demand, per family.
        a.start(0.0, &r).expect("start");
        assert!(r.ran.lock().expect("lock").is_empty());
        a.ban(&ban("2001:db8::1"), &r).expect("ban");
        a.unban(&ban("192.0.2.9"), &r)
            .expect("no v4 bans yet: nothing to do");
        a.stop(0.0, &r).expect("stop");
        let ran: Vec<ShellCommand> = r.ran.lock().expect("lock").clone();
        let scripts: Vec<&str> = ran.iter().map(|c| c.script.as_str()).collect();
        assert_eq!(
            scripts,
            [
                "ip6tables -N f2b-sshd",
                "ip6tables -I f2b-sshd -s 2001:db8::1 -j DROP # 3 \"${f2bV_F_USER}\"",
                "ip6tables -X f2b-sshd",
            ]
        );
        assert_eq!(
            ran[1].env,
            [("f2bV_F_USER".to_string(), "$(reboot)".to_string())]
        );
    }

    #[test]
    fn batches_of_addresses_per_family_and_ids_left_over() {
        let r = RecordingRunner::default();
        let mut a = Action::new(&spec(&[
            ("actionban", "<fw> add <ip>"),
            ("actionban_batch", "<fw> add { <ips> } # <name>"),
            ("name", "sshd"),
            ("fw", "nft4"),
            ("fw?family=inet6", "nft6"),
        ]));
        let mut infos: Vec<BanInfo> = (0..BATCH_MAX + 2)
            .map(|i| ban(&format!("198.51.{}.{}", i / 250, i % 250)))
            .collect();
        infos.push(ban("2001:db8::7"));
        infos.push(ban("bob; reboot"));
        let rest = a.ban_batch(&infos, &r).expect("batch");
        // The id that is no address goes through `ban`, with its
        // environment; addresses never wait for one command each.
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].id, "bob; reboot");
        let ran = r.ran.lock().expect("lock").clone();
        let scripts: Vec<&str> = ran.iter().map(|c| c.script.as_str()).collect();
        assert_eq!(scripts.len(), 3, "{scripts:?}");
        assert!(scripts[0].starts_with("nft4 add { 198.51.0.0, 198.51.0.1, "));
        assert_eq!(scripts[0].matches(", ").count(), BATCH_MAX - 1);
        assert_eq!(scripts[1], "nft4 add { 198.51.4.0, 198.51.4.1 } # sshd");
        assert_eq!(scripts[2], "nft6 add { 2001:db8::7 } # sshd");
        // Without a batch command, everything is left for `ban`.
        let mut plain = Action::new(&spec(&[("actionban", "x <ip>")]));
        assert_eq!(
            plain.ban_batch(&infos, &r).expect("none").len(),
            infos.len()
        );
    }

    #[test]
    fn plain_actions_start_at_once_and_failures_are_reported() {
        let r = RecordingRunner {
            fail_if: Some("boom".into()),
            ..RecordingRunner::default()
        };
        let mut a = Action::new(&spec(&[
            ("actionstart", "touch /run/x"),
            ("actionban", "boom <ip>"),
            ("actionflush", "flush-all"),
        ]));
        a.start(0.0, &r).expect("start");
        let e = a.ban(&ban("192.0.2.1"), &r).expect_err("fails");
        assert!(e.to_string().contains("ban failed"), "{e}");
        assert!(a.flush(0.0, &r).expect("flush"));
        let scripts: Vec<String> = r
            .ran
            .lock()
            .expect("lock")
            .iter()
            .map(|c| c.script.clone())
            .collect();
        assert_eq!(scripts, ["touch /run/x", "boom 192.0.2.1", "flush-all"]);
    }

    #[test]
    fn host_names_fill_their_tags_through_the_environment() {
        let r = RecordingRunner::default();
        let mut a = Action::new(&spec(&[(
            "actionban",
            "mail -s '<ip> from <fq-hostname>' -r \"f2b@<fq-hostname>\" <sh-hostname>",
        )]));
        a.ban(&ban("192.0.2.1"), &r).expect("ban");
        let ran = r.ran.lock().expect("lock")[0].clone();
        assert_eq!(
            ran.script,
            "mail -s '192.0.2.1 from '\"${f2bV_fq_hostname}\"'' -r \"f2b@${f2bV_fq_hostname}\" \"${f2bV_sh_hostname}\""
        );
        let fq = &ran
            .env
            .iter()
            .find(|(k, _)| k == "f2bV_fq_hostname")
            .expect("set")
            .1;
        assert!(!fq.is_empty() && !fq.contains('<'), "{fq}");
    }

    #[test]
    fn ids_that_are_no_address_stay_out_of_the_text() {
        let info = ban("bob; rm -rf /");
        assert_eq!(
            info.tag("ip"),
            Some(Dynamic::Untrusted("bob; rm -rf /".into()))
        );
        assert_eq!(info.tag("family"), Some(Dynamic::Trusted(String::new())));
        assert_eq!(
            ban("192.0.2.1").tag("time"),
            Some(Dynamic::Trusted("1700000000.0".into()))
        );
    }
}
