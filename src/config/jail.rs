//! fail2ban.conf and the jails, read into the command stream.
//!
//! This is fail2ban's client-side reading (`Fail2banReader`,
//! `JailsReader`, `JailReader`, `ActionReader`): every enabled jail of
//! jail.conf/.local/jail.d becomes `add`, `set` and `multi-set` commands
//! with its filter's regexes, its options typed as fail2ban types them,
//! its log files and its actions, then one `start` per jail. The server
//! applies the stream; `fail2ban-client -d` prints it.
//!
//! A jail with a broken definition (unknown filter or action, bad option
//! list) is reported with a `config-error` command naming the jail and is
//! skipped, as fail2ban does; other jails go on.

use std::path::{Path, PathBuf};

use super::definition::DefinitionReader;
use super::error::{ConfigError, Location};
use super::filter::{FILTER_OPTIONS, apply_auto_options};
use super::layered::{ConfigFs, read_layered};
use super::omap::OrderedMap;
use super::options::{split_name_options, split_with_options};
use super::store::Config;
use super::stream::{Command, Value, cmd};
use crate::py;

/// The version fail2ban's readers offer as `%(fail2ban_version)s`.
pub const FAIL2BAN_VERSION: &str = "1.0.2";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Ty {
    Str,
    Int,
    Bool,
}

/// One option a reader asks for: its type and default (None: no default,
/// the option is simply absent).
type Spec = (&'static str, Ty, Option<DefaultValue>);

#[derive(Clone, Copy, Debug)]
enum DefaultValue {
    Str(&'static str),
    Bool(bool),
}

impl DefaultValue {
    fn value(self) -> Value {
        match self {
            DefaultValue::Str(s) => Value::str(s),
            DefaultValue::Bool(b) => Value::Bool(b),
        }
    }
}

const JAIL_FIRST: [Spec; 3] = [
    ("enabled", Ty::Bool, Some(DefaultValue::Bool(false))),
    ("backend", Ty::Str, Some(DefaultValue::Str("auto"))),
    ("filter", Ty::Str, Some(DefaultValue::Str(""))),
];

/// The jail options in fail2ban's order (its dict, then the filter's).
const JAIL_OPTIONS: [Spec; 29] = [
    ("enabled", Ty::Bool, Some(DefaultValue::Bool(false))),
    ("backend", Ty::Str, Some(DefaultValue::Str("auto"))),
    ("maxretry", Ty::Int, None),
    ("maxmatches", Ty::Int, None),
    ("findtime", Ty::Str, None),
    ("bantime", Ty::Str, None),
    ("bantime.increment", Ty::Bool, None),
    ("bantime.factor", Ty::Str, None),
    ("bantime.formula", Ty::Str, None),
    ("bantime.multipliers", Ty::Str, None),
    ("bantime.maxtime", Ty::Str, None),
    ("bantime.rndtime", Ty::Str, None),
    ("bantime.overalljails", Ty::Bool, None),
    ("ignorecommand", Ty::Str, None),
    ("ignoreself", Ty::Bool, None),
    ("ignoreip", Ty::Str, None),
    ("ignorecache", Ty::Str, None),
    ("filter", Ty::Str, Some(DefaultValue::Str(""))),
    ("logtimezone", Ty::Str, None),
    ("logencoding", Ty::Str, None),
    ("logpath", Ty::Str, None),
    ("action", Ty::Str, Some(DefaultValue::Str(""))),
    ("usedns", Ty::Str, None),
    ("prefregex", Ty::Str, None),
    ("ignoreregex", Ty::Str, None),
    ("failregex", Ty::Str, None),
    ("maxlines", Ty::Int, None),
    ("datepattern", Ty::Str, None),
    ("journalmatch", Ty::Str, None),
];

/// Options of an action file, in fail2ban's order, then ours
/// (`actionban_batch`: see `action::Action::ban_batch`).
pub const ACTION_OPTIONS: [&str; 14] = [
    "actionstart",
    "actionstart_on_demand",
    "actionstop",
    "actionflush",
    "actionreload",
    "actioncheck",
    "actionrepair",
    "actionrepair_on_unban",
    "actionban",
    "actionprolong",
    "actionreban",
    "actionunban",
    "norestored",
    "actionban_batch",
];

const ACTION_BOOLS: [&str; 3] = [
    "actionstart_on_demand",
    "actionrepair_on_unban",
    "norestored",
];

/// Tags an action keeps for ban time rather than resolving when read.
const ACTION_KEPT_TAGS: [&str; 5] = [
    "matches",
    "ipmatches",
    "ipjailmatches",
    "timeout",
    "bantime",
];

/// Python's `_as_bool`.
fn as_bool(v: &str) -> bool {
    matches!(py::lower(v).as_str(), "1" | "on" | "true" | "yes")
}

/// Python's `str()` of a typed value, as the readers pass values on as
/// interpolation variables.
fn py_str(v: &Value) -> Option<String> {
    match v {
        Value::Str(_) | Value::Int(_) | Value::Bool(_) => Some(v.text()),
        _ => None,
    }
}

/// fail2ban's `ConfigReader.getOptions(section, options)`: each option
/// read with interpolation and converted to its type; a missing one takes
/// its default (with a warning) or stays absent; a value of the wrong type
/// takes its default (`None` when there is none).
fn get_options(
    cfg: &Config,
    section: &str,
    specs: &[Spec],
    warnings: &mut Vec<String>,
) -> Result<OrderedMap<Value>, ConfigError> {
    let mut out = OrderedMap::new();
    for &(name, ty, default) in specs {
        let Some(v) = cfg.get(section, name, std::iter::empty())? else {
            if let Some(d) = default {
                warnings.push(format!(
                    "'{name}' not defined in '{section}'. Using default one: {}",
                    d.value().repr()
                ));
                out.insert(name, d.value());
            }
            continue;
        };
        let typed = match ty {
            Ty::Str => Some(Value::Str(v.clone())),
            Ty::Bool => Some(Value::Bool(as_bool(&v))),
            Ty::Int => py::py_int(&v).map(Value::Int),
        };
        let value = typed.unwrap_or_else(|| {
            let d = default.map_or(Value::None, DefaultValue::value);
            warnings.push(format!(
                "Wrong value for '{name}' in '{section}'. Using default one: '{}'",
                d.repr()
            ));
            d
        });
        out.insert(name, value);
    }
    Ok(out)
}

/// The typed options as interpolation variables.
fn as_vars(opts: &OrderedMap<Value>) -> OrderedMap<String> {
    opts.iter()
        .filter_map(|(k, v)| py_str(v).map(|s| (k, s)))
        .collect()
}

/// fail2ban.conf's `[Definition]` as the server's first commands.
pub fn server_stream(
    fs: &dyn ConfigFs,
    basedir: &Path,
    warnings: &mut Vec<String>,
) -> Result<Vec<Command>, ConfigError> {
    let cfg = read_layered(fs, basedir, "fail2ban")?;
    warnings.extend(cfg.warnings().iter().cloned());
    let s = |n: &'static str, d: &'static str| (n, Ty::Str, Some(DefaultValue::Str(d)));
    let specs = [
        s("loglevel", "INFO"),
        s("logtarget", "STDERR"),
        s("syslogsocket", "auto"),
        s("allowipv6", "auto"),
        s("dbfile", "/var/lib/fail2ban/fail2ban.sqlite3"),
        ("dbmaxmatches", Ty::Int, None),
        s("dbpurgeage", "1d"),
    ];
    let opts = get_options(&cfg, "Definition", &specs, warnings)?;
    // fail2ban sorts them by a fixed rank, then by name for equal ranks.
    let rank = |n: &str| match n {
        "syslogsocket" => 11,
        "loglevel" => 12,
        "logtarget" => 13,
        "allowipv6" => 14,
        "dbfile" => 50,
        _ => 51,
    };
    let mut ranked: Vec<(i32, &str, &Value)> = opts.iter().map(|(k, v)| (rank(k), k, v)).collect();
    ranked.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    Ok(ranked
        .into_iter()
        .map(|(_, k, v)| cmd(&["set", k], [v.clone()]))
        .collect())
}

/// fail2ban.conf's options the client and server need before anything
/// else (`getEarlyOptions`): socket, pidfile, loglevel, logtarget,
/// syslogsocket.
pub fn early_options(
    fs: &dyn ConfigFs,
    basedir: &Path,
    warnings: &mut Vec<String>,
) -> Result<OrderedMap<Value>, ConfigError> {
    let cfg = read_layered(fs, basedir, "fail2ban")?;
    let s = |n: &'static str, d: &'static str| (n, Ty::Str, Some(DefaultValue::Str(d)));
    let specs = [
        s("socket", "/var/run/fail2ban/fail2ban.sock"),
        s("pidfile", "/var/run/fail2ban/fail2ban.pid"),
        s("loglevel", "INFO"),
        s("logtarget", "/var/log/fail2ban.log"),
        s("syslogsocket", "auto"),
    ];
    get_options(&cfg, "Definition", &specs, warnings)
}

/// Where a jail's `option` is written, for a message about its value: the
/// jail's section (or `[DEFAULT]`) in jail.conf/.local/jail.d, else, for an
/// option of its filter (`failregex`, `datepattern`...), the filter file's
/// `[Definition]`. Only the section and option when neither holds it.
pub fn locate(fs: &dyn ConfigFs, basedir: &Path, jail: &str, option: &str) -> Location {
    let unknown = Location::default().with_section(jail).with_option(option);
    let Ok(cfg) = read_layered(fs, basedir, "jail") else {
        return unknown;
    };
    let at = cfg.location(jail, option);
    if at.file.is_some() {
        return at;
    }
    let vars = [("__name__".to_string(), jail.to_string())];
    let filter = cfg
        .get(
            jail,
            "filter",
            vars.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        )
        .ok()
        .flatten()
        .and_then(|spec| split_name_options(&spec).ok())
        .and_then(|(name, _)| read_layered(fs, basedir, &format!("filter.d/{name}")).ok());
    match filter.map(|f| f.location("Definition", option)) {
        Some(at) if at.file.is_some() => at,
        _ => unknown,
    }
}

/// What to do with a jail whose log files are all missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missing {
    /// Fail the configuration (fail2ban's start and `-t`).
    Fail,
    /// Go on without them (fail2ban's `-d`).
    Allow,
    /// Keep plain paths that do not exist yet, to follow them once they
    /// appear (our server; fail2ban refuses to start).
    Watch,
}

/// How `logpath` globs are expanded (the file system, or a fake in tests).
pub type Globber<'a> = &'a dyn Fn(&str) -> Vec<PathBuf>;

/// The jails' commands: each enabled jail's, then a `start` for each
/// jail without a configuration error. `missing` says what becomes of a jail
/// whose log files are all missing through (fail2ban's `-d` and `-t`).
pub fn jails_stream(
    fs: &dyn ConfigFs,
    basedir: &Path,
    glob: Globber<'_>,
    missing: Missing,
    warnings: &mut Vec<String>,
) -> Result<Vec<Command>, ConfigError> {
    let mut cfg = read_layered(fs, basedir, "jail")?;
    warnings.extend(cfg.warnings().iter().cloned());
    let confpath = basedir.display().to_string();
    cfg.merge_defaults([
        ("fail2ban_version", FAIL2BAN_VERSION),
        ("fail2ban_confpath", confpath.as_str()),
    ]);
    let names: Vec<String> = cfg
        .user_sections()
        .filter(|s| *s != "INCLUDES")
        .map(str::to_string)
        .collect();
    let mut stream = Vec::new();
    let mut started = Vec::new();
    let journal = host_has_journal(fs);
    for name in names {
        let jail = JailReader {
            fs,
            basedir,
            name: &name,
        };
        match jail.read(&mut cfg, warnings)? {
            None => {}
            Some(Err(problem)) => {
                warnings.push(format!("Errors in jail '{name}'. Skipping..."));
                stream.push(cmd(
                    &["config-error"],
                    [Value::Str(format!(
                        "Jail '{name}' skipped, because of wrong configuration: {problem}"
                    ))],
                ));
            }
            Some(Ok(read)) => {
                stream.extend(read.convert(glob, missing, journal, warnings)?);
                started.push(name);
            }
        }
    }
    stream.extend(started.iter().map(|n| cmd(&["start", n], [])));
    Ok(stream)
}

/// Where systemd keeps its journal (runtime, persistent).
const JOURNAL_DIRS: [&str; 2] = ["/run/systemd/journal", "/var/log/journal"];

/// Whether this host keeps a systemd journal: a missing log file may then
/// mean that the service logs there only (no rsyslog).
fn host_has_journal(fs: &dyn ConfigFs) -> bool {
    JOURNAL_DIRS.iter().any(|d| fs.exists(Path::new(d)))
}

/// A message about missing log files, with the way out when the host has
/// a journal.
fn missing_log(msg: String, journal: bool) -> String {
    if journal {
        format!(
            "{msg} (this host has a systemd journal: if the service logs only there, \
             set backend = systemd for this jail)"
        )
    } else {
        msg
    }
}

struct JailReader<'a> {
    fs: &'a dyn ConfigFs,
    basedir: &'a Path,
    name: &'a str,
}

/// An enabled jail as read: its options, filter and actions.
struct ReadJail {
    name: String,
    opts: OrderedMap<Value>,
    filter: Option<DefinitionReader>,
    actions: Vec<(String, DefinitionReader)>,
}

/// A filter or action file read: its name, `[k=v]` options and text.
type Opened = (String, Vec<(String, String)>, Config);

/// What a jail names in `filter` or `action`.
#[derive(Clone, Copy)]
enum Kind {
    Filter,
    Action,
}

impl JailReader<'_> {
    /// Reads `name[opts]` from filter.d or action.d, or says (in
    /// fail2ban's words) why the jail must be skipped.
    fn open(&self, kind: Kind, spec: &str) -> Result<Opened, String> {
        let (what, dir, unable) = match kind {
            Kind::Filter => ("filter", "filter.d", "Unable to read the filter"),
            Kind::Action => ("action", "action.d", "Unable to read action"),
        };
        let (name, opts) = split_name_options(spec)
            .map_err(|e| format!("Invalid {what} definition {}: {e}", py::py_repr(spec)))?;
        let cfg = read_layered(self.fs, self.basedir, &format!("{dir}/{name}"))
            .map_err(|_| format!("{unable} {}", py::py_repr(&name)))?;
        Ok((name, opts, cfg))
    }

    /// None for a disabled jail; `Some(Err(problem))` for a jail fail2ban
    /// skips with a configuration error.
    fn read(
        &self,
        cfg: &mut Config,
        warnings: &mut Vec<String>,
    ) -> Result<Option<Result<ReadJail, String>>, ConfigError> {
        let first = get_options(cfg, self.name, &JAIL_FIRST, warnings)?;
        if first.get("enabled") != Some(&Value::Bool(true)) {
            return Ok(None);
        }
        let backend = first.get("backend").and_then(Value::as_str).unwrap_or("");
        let flt = first.get("filter").and_then(Value::as_str).unwrap_or("");
        let mut filter = None;
        if flt.is_empty() {
            warnings.push(format!("No filter set for jail {}", self.name));
        } else {
            let (_, fopts, fcfg) = match self.open(Kind::Filter, flt) {
                Ok(x) => x,
                Err(problem) => return Ok(Some(Err(problem))),
            };
            let mut reader = DefinitionReader::new(fcfg, &fopts);
            apply_auto_options(&mut reader, backend);
            reader.get_options(Some(&as_vars(&first)), &FILTER_OPTIONS, true)?;
            let comb = reader.combined()?;
            cfg.merge_section(
                self.name,
                comb.iter().map(|(k, v)| (k, v.as_str())),
                "known/",
            );
            filter = Some(reader);
        }
        let opts = get_options(cfg, self.name, &JAIL_OPTIONS, warnings)?;
        let vars = as_vars(&opts);
        if let Some(f) = filter.as_mut() {
            f.get_options(Some(&vars), &FILTER_OPTIONS, false)?;
        }
        let mut actions = Vec::new();
        let list = opts.get("action").and_then(Value::as_str).unwrap_or("");
        for act in split_with_options(list) {
            let act = act.trim();
            if act.is_empty() {
                continue;
            }
            let (aname, mut aopts, acfg) = match self.open(Kind::Action, act) {
                Ok(x) => x,
                Err(problem) => return Ok(Some(Err(problem))),
            };
            let actname = action_name(&aname, self.name, &mut aopts);
            let mut reader = DefinitionReader::new(acfg, &aopts);
            reader.get_options(Some(&vars), &ACTION_OPTIONS, false)?;
            actions.push((actname, reader));
        }
        if actions.is_empty() {
            warnings.push(format!("No actions were defined for {}", self.name));
        }
        Ok(Some(Ok(ReadJail {
            name: self.name.to_string(),
            opts,
            filter,
            actions,
        })))
    }
}

/// fail2ban's `ActionReader` naming: `name` defaults to the jail, and the
/// action's own name (`actname`) is the file name, plus the `name` suffix
/// when one is given (so one action file can serve twice in a jail).
fn action_name(file: &str, jail: &str, opts: &mut Vec<(String, String)>) -> String {
    let get = |opts: &Vec<(String, String)>, k: &str| {
        opts.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    };
    let name = match get(opts, "name") {
        Some(n) => n,
        None => {
            opts.push(("name".into(), jail.into()));
            jail.to_string()
        }
    };
    match get(opts, "actname") {
        Some(a) => a,
        None => {
            let mut a = file.to_string();
            if name != jail {
                match name.strip_prefix(jail) {
                    Some(rest) => a.push_str(rest),
                    None => {
                        a.push('-');
                        a.push_str(&name);
                    }
                }
            }
            opts.push(("actname".into(), a.clone()));
            a
        }
    }
}

/// fail2ban's `FilterReader._fillStream`: the filter options of `opts` as
/// commands (regex lists split into lines; usedns, prefregex and maxlines
/// first).
fn fill_filter_stream(
    stream: &mut Vec<Command>,
    opts: &[(String, Value)],
    jail: &str,
) -> Result<(), ConfigError> {
    let mut prio = 0;
    for (opt, value) in opts {
        if *value == Value::None {
            continue;
        }
        let text = py_str(value).unwrap_or_default();
        match opt.as_str() {
            "failregex" | "ignoreregex" => {
                let lines: Vec<Value> = text
                    .split('\n')
                    .filter(|l| !l.is_empty())
                    .map(Value::str)
                    .collect();
                let add = format!("add{opt}");
                match lines.len() {
                    0 => {}
                    1 => stream.push(cmd(&["set", jail, &add], lines)),
                    _ => stream.push(cmd(&["multi-set", jail, &add], [Value::List(lines)])),
                }
            }
            "usedns" | "maxlines" | "prefregex" => {
                let at = if opt == "usedns" { 0 } else { prio };
                stream.insert(
                    at.min(stream.len()),
                    cmd(&["set", jail, opt], [value.clone()]),
                );
                prio += 1;
            }
            "datepattern" => stream.push(cmd(&["set", jail, opt], [value.clone()])),
            "journalmatch" => {
                for m in text.split('\n').filter(|m| !m.is_empty()) {
                    let words = super::shlex::split(m).map_err(|e| ConfigError::BadValue {
                        at: Box::default(),
                        problem: format!("journalmatch {m:?}: {e}"),
                    })?;
                    stream.push(cmd(
                        &["set", jail, "addjournalmatch"],
                        words.into_iter().map(Value::Str),
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Options the jail part of the stream leaves out (the filter part and
/// actions carry them).
fn jail_ignores(opt: &str) -> bool {
    matches!(opt, "action" | "filter" | "enabled") || FILTER_OPTIONS.contains(&opt)
}

/// Python's `splitwords`: words split on spaces, commas and newlines.
pub fn split_words(s: &str) -> Vec<String> {
    s.split([' ', ',', '\n'])
        .map(py::strip)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

impl ReadJail {
    fn convert(
        mut self,
        glob: Globber<'_>,
        missing: Missing,
        journal: bool,
        warnings: &mut Vec<String>,
    ) -> Result<Vec<Command>, ConfigError> {
        let jail = self.name.clone();
        let mut stream = Vec::new();
        if let Some(f) = self.filter.as_mut() {
            let comb = f.combined()?;
            let mut typed: Vec<(String, Value)> = Vec::new();
            for (k, v) in comb.iter() {
                let value = if k == "maxlines" {
                    py::py_int(v).map_or(Value::None, Value::Int)
                } else {
                    Value::str(v.as_str())
                };
                typed.push((k.to_string(), value));
            }
            fill_filter_stream(&mut stream, &typed, &jail)?;
        }
        let own: Vec<(String, Value)> = self
            .opts
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        fill_filter_stream(&mut stream, &own, &jail)?;
        let mut logs = Vec::new();
        let mut backend = String::new();
        for (opt, value) in self.opts.iter() {
            match opt {
                "logpath" => {
                    let is_systemd = self
                        .opts
                        .get("backend")
                        .and_then(Value::as_str)
                        .is_some_and(|b| b.starts_with("systemd"));
                    if is_systemd {
                        continue;
                    }
                    let text = py_str(value).unwrap_or_default();
                    let mut found = 0;
                    for line in text.split('\n') {
                        let (path, tail) = match line.rsplit_once(' ') {
                            Some((p, t)) => (p, t),
                            None => (line, "head"),
                        };
                        let files = glob(path);
                        if files.is_empty() {
                            warnings.push(missing_log(
                                format!("No file(s) found for glob {path}"),
                                journal,
                            ));
                            let plain = !path.is_empty() && !path.contains(['*', '?', '[']);
                            if missing == Missing::Watch && plain {
                                // Followed from when it appears.
                                found += 1;
                                logs.push(cmd(&["set", &jail, "addlogpath", path, tail], []));
                            }
                        }
                        for f in files {
                            found += 1;
                            logs.push(cmd(
                                &["set", &jail, "addlogpath", &f.display().to_string(), tail],
                                [],
                            ));
                        }
                    }
                    if found == 0 {
                        let msg = missing_log(
                            format!("Have not found any log file for {jail} jail"),
                            journal,
                        );
                        if missing != Missing::Allow {
                            return Err(ConfigError::BadValue {
                                at: Box::new(
                                    super::error::Location::default()
                                        .with_section(&jail)
                                        .with_option("logpath"),
                                ),
                                problem: msg,
                            });
                        }
                        warnings.push(msg);
                    }
                }
                "backend" => backend = py_str(value).unwrap_or_default(),
                "ignoreip" => {
                    let words = split_words(&py_str(value).unwrap_or_default());
                    stream.push(cmd(
                        &["set", &jail, "addignoreip"],
                        words.into_iter().map(Value::Str),
                    ));
                }
                o if !jail_ignores(o) => stream.push(cmd(&["set", &jail, o], [value.clone()])),
                _ => {}
            }
        }
        stream.extend(logs);
        for (actname, mut reader) in self.actions {
            stream.extend(action_stream(&jail, &actname, &mut reader)?);
        }
        stream.insert(0, cmd(&["add", &jail, &backend], []));
        Ok(stream)
    }
}

/// fail2ban's `ActionReader.convert`.
fn action_stream(
    jail: &str,
    actname: &str,
    reader: &mut DefinitionReader,
) -> Result<Vec<Command>, ConfigError> {
    let comb = reader.combined_ignoring(&ACTION_KEPT_TAGS)?;
    let mut stream = vec![cmd(&["set", jail, "addaction", actname], [])];
    let mut multi: Vec<Value> = Vec::new();
    let pair = |k: &str, v: Value| Value::List(vec![Value::str(k), v]);
    for (opt, v) in comb.iter() {
        if ACTION_OPTIONS.contains(&opt) {
            let value = if ACTION_BOOLS.contains(&opt) {
                Value::Bool(as_bool(v))
            } else {
                Value::str(v.as_str())
            };
            multi.push(pair(opt, value));
        }
    }
    for (opt, v) in reader.init_options().iter() {
        if !ACTION_OPTIONS.contains(&opt) && !opt.starts_with("known/") {
            multi.push(pair(opt, Value::str(v.as_str())));
        }
    }
    match multi.len() {
        0 => {}
        1 => {
            let Some(Value::List(kv)) = multi.pop() else {
                return Ok(stream);
            };
            stream.push(cmd(&["set", jail, "action", actname], kv));
        }
        _ => stream.push(cmd(
            &["multi-set", jail, "action", actname],
            [Value::List(multi)],
        )),
    }
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_follow_fail2ban() {
        let mut o = vec![];
        assert_eq!(action_name("iptables", "sshd", &mut o), "iptables");
        let pairs = |o: &[(String, String)]| -> Vec<String> {
            o.iter().map(|(k, v)| format!("{k}={v}")).collect()
        };
        assert_eq!(pairs(&o), ["name=sshd", "actname=iptables"]);
        let mut o = vec![("name".to_string(), "sshd-ddos".to_string())];
        assert_eq!(action_name("iptables", "sshd", &mut o), "iptables-ddos");
        let mut o = vec![("name".to_string(), "other".to_string())];
        assert_eq!(action_name("iptables", "sshd", &mut o), "iptables-other");
    }

    #[test]
    fn missing_logs_point_to_the_journal_when_the_host_has_one() {
        use crate::config::layered::tests::MemFs;
        let files = |journal: bool| {
            let mut f = vec![
                (
                    "/c/jail.conf",
                    "[j]\nenabled = true\nfilter = f\nlogpath = /nowhere/x.log\n",
                ),
                (
                    "/c/filter.d/f.conf",
                    "[Definition]\nfailregex = ^x <HOST>$\n",
                ),
            ];
            if journal {
                // The fake "journal present" flag: no real probing.
                f.push(("/var/log/journal/m/system.journal", ""));
            }
            MemFs::with(&f)
        };
        let none = |_: &str| Vec::new();
        let hint = "set backend = systemd for this jail";
        for journal in [true, false] {
            let fs = files(journal);
            let mut w = Vec::new();
            let s = jails_stream(&fs, Path::new("/c"), &none, Missing::Watch, &mut w);
            assert!(s.is_ok(), "a plain path is followed once it appears");
            let w: Vec<&String> = w.iter().filter(|w| w.starts_with("No file(s)")).collect();
            assert_eq!(w.len(), 1, "{w:?}");
            assert!(w[0].starts_with("No file(s) found for glob /nowhere/x.log"));
            assert_eq!(w[0].contains(hint), journal, "{w:?}");
            let mut w = Vec::new();
            let e = jails_stream(&fs, Path::new("/c"), &none, Missing::Fail, &mut w)
                .expect_err("no log file");
            let e = e.to_string();
            assert!(e.contains("Have not found any log file for j jail"), "{e}");
            assert_eq!(e.contains(hint), journal, "{e}");
        }
    }

    #[test]
    fn words_and_bools() {
        assert_eq!(
            split_words(" 127.0.0.1/8 ::1,192.0.2.1\n"),
            ["127.0.0.1/8", "::1", "192.0.2.1"]
        );
        assert!(as_bool("Yes") && as_bool("1") && !as_bool("enabled"));
    }
}
