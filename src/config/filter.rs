//! Loading a filter the way `fail2ban-regex` and the jail reader do.
//!
//! A filter is named (`sshd`, `sshd[mode=aggressive]`, `sshd.conf`) or
//! given as a path. `resolve_filter` repeats `fail2ban-regex`'s choice
//! between the config tree (`filter.d/<name>` with `.conf`, `.d/`,
//! `.local`) and a foreign file (read alone with its `.local` and
//! includes); `load_filter` then reads it with `DefinitionReader` and
//! turns the combined options into exactly the values fail2ban hands to
//! its regex and date code.

use std::path::{Component, Path, PathBuf};

use super::definition::DefinitionReader;
use super::error::{ConfigError, Location};
use super::layered::{ConfigFs, RealFs, read_explicit, read_layered};
use super::omap::OrderedMap;
use super::options::split_name_options;
use super::shlex;
use crate::py;

/// The `[Definition]` options fail2ban reads from a filter
/// (`FilterReader._configOpts`).
pub const FILTER_OPTIONS: [&str; 7] = [
    "usedns",
    "prefregex",
    "ignoreregex",
    "failregex",
    "maxlines",
    "datepattern",
    "journalmatch",
];

/// A loaded filter: values as fail2ban passes them on.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FilterDef {
    /// `sshd` for a filter of the config tree, the file for a foreign one.
    pub name: String,
    /// The `[param=value]` list given with the name.
    pub init_options: Vec<(String, String)>,
    /// `Some("")` when the filter sets it empty (fail2ban then uses none).
    pub prefregex: Option<String>,
    /// One regex per non-empty line, in order.
    pub failregex: Vec<String>,
    pub ignoreregex: Vec<String>,
    /// Absent or not an integer (fail2ban warns and ignores it): `None`.
    pub maxlines: Option<usize>,
    pub datepattern: Option<String>,
    /// Raw value; `journal_matches()` splits it as fail2ban does.
    pub journalmatch: Option<String>,
    pub usedns: Option<String>,
    /// Every combined option after tag substitution (what a jail merges
    /// as `known/...`), including `logtype` and `[Init]` parameters.
    pub options: OrderedMap<String>,
    /// Files read, in merge order (a file included twice appears twice).
    pub files: Vec<PathBuf>,
    /// What fail2ban would log as warnings or errors and go on.
    pub warnings: Vec<String>,
}

impl FilterDef {
    /// `journalmatch` as fail2ban's `addjournalmatch` commands: one
    /// `shlex.split` word list per non-empty line.
    pub fn journal_matches(&self) -> Result<Vec<Vec<String>>, ConfigError> {
        let Some(jm) = &self.journalmatch else {
            return Ok(Vec::new());
        };
        jm.split('\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                shlex::split(l).map_err(|e| ConfigError::BadValue {
                    at: Box::new(Location::default().with_option("journalmatch")),
                    problem: format!("{e} in {l:?}"),
                })
            })
            .collect()
    }
}

/// Where a filter spec points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilterSource {
    /// `<basedir>/filter.d/<name>` with `.conf`, `.d/` and `.local`.
    InTree { basedir: PathBuf, name: String },
    /// One file read with its `.local` sibling and includes.
    Foreign { file: PathBuf },
}

/// `fail2ban-regex`'s test whether a REGEX argument names a filter
/// (`(?ms)^/{0,3}[\w/_\-.]+(?:\[.*\])?$`) rather than being a regex.
pub fn is_filter_spec(value: &str) -> bool {
    let is_name = |c: char| py::is_word(c) || matches!(c, '/' | '-' | '.');
    let mut line_start = 0;
    loop {
        let rest = &value[line_start..];
        let run = rest.find(|c: char| !is_name(c)).unwrap_or(rest.len());
        if run > 0 {
            let after = &rest[run..];
            if after.is_empty() || after.starts_with('\n') {
                return true;
            }
            if after.starts_with('[') {
                // Some `]` later that ends a line or the string.
                let mut search = 1;
                while let Some(p) = after[search..].find(']') {
                    let end = search + p + 1;
                    if end == after.len() || after[end..].starts_with('\n') {
                        return true;
                    }
                    search = end;
                }
            }
        }
        match rest.find('\n') {
            Some(p) => line_start += p + 1,
            None => return false,
        }
    }
}

/// `os.path.abspath`: absolute and lexically normalised.
fn abspath(p: &Path) -> PathBuf {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn is_filter_d(dir: &Path) -> bool {
    dir.file_name().is_some_and(|n| n == "filter.d")
}

/// Resolves a filter name or path (options already split off) as
/// `fail2ban-regex` does; `None` if no file matches.
pub fn resolve_filter(fs: &dyn ConfigFs, config_dir: &Path, name: &str) -> Option<FilterSource> {
    let has_ext = py::last_chars(name, 6).contains('.');
    let tries: Vec<String> = if has_ext {
        vec![name.to_string()]
    } else {
        vec![
            name.to_string(),
            format!("{name}.conf"),
            format!("{name}.local"),
        ]
    };
    let mut basedir = config_dir.to_path_buf();
    let mut found = false;
    for t in &tries {
        let file = if t.contains('/') {
            basedir = Path::new(t).parent().unwrap_or(Path::new("")).to_path_buf();
            PathBuf::from(t)
        } else if is_filter_d(&basedir) {
            basedir.join(t)
        } else {
            basedir.join("filter.d").join(t)
        };
        if fs.is_file(&file) {
            found = true;
            break;
        }
    }
    if !found {
        return None;
    }
    if basedir == config_dir || is_filter_d(&basedir) || (!has_ext && !name.contains('/')) {
        if is_filter_d(&basedir) {
            basedir = basedir.parent().unwrap_or(Path::new("")).to_path_buf();
        }
        let base = name.rsplit('/').next().unwrap_or(name);
        let stem = Path::new(base)
            .file_stem()
            .map_or_else(|| base.to_string(), |s| s.to_string_lossy().into_owned());
        Some(FilterSource::InTree {
            basedir,
            name: stem,
        })
    } else {
        // fail2ban reads the name as given here, not the file found with
        // `.conf` added: `/x/f` finds `/x/f.conf` but then reads `/x/f`.
        Some(FilterSource::Foreign {
            file: abspath(Path::new(name)),
        })
    }
}

/// How the filter will be used.
#[derive(Clone, Debug)]
pub struct FilterLoad<'a> {
    /// Jail backend; `systemd...` sets `logtype = journal` unless the
    /// filter or the options set it (fail2ban's `applyAutoOptions`).
    pub backend: &'a str,
}

impl Default for FilterLoad<'_> {
    fn default() -> Self {
        FilterLoad { backend: "auto" }
    }
}

/// Loads `spec` ("sshd", "sshd[mode=aggressive]", "sshd.conf", a path,
/// with or without options) under `config_dir` as `fail2ban-regex` does.
pub fn load_filter(config_dir: &Path, spec: &str) -> Result<FilterDef, ConfigError> {
    load_filter_with(&RealFs, config_dir, spec, &FilterLoad::default())
}

pub fn load_filter_with(
    fs: &dyn ConfigFs,
    config_dir: &Path,
    spec: &str,
    how: &FilterLoad<'_>,
) -> Result<FilterDef, ConfigError> {
    let (name, init) = split_name_options(spec)?;
    let source =
        resolve_filter(fs, config_dir, &name).ok_or_else(|| ConfigError::FilterNotFound {
            spec: spec.to_string(),
            dir: config_dir.to_path_buf(),
        })?;
    let (cfg, shown) = match &source {
        FilterSource::InTree { basedir, name } => (
            read_layered(fs, basedir, &format!("filter.d/{name}"))?,
            name.clone(),
        ),
        FilterSource::Foreign { file } => (read_explicit(fs, file)?, file.display().to_string()),
    };
    let mut reader = DefinitionReader::new(cfg, &init);
    apply_auto_options(&mut reader, how.backend);
    reader.get_options(None, &FILTER_OPTIONS, false)?;
    let options = reader.combined()?;
    let mut def = filter_def(&options, reader.warnings())?;
    def.name = shown;
    def.init_options = init;
    def.files = reader.config().files().to_vec();
    Ok(def)
}

/// fail2ban's `FilterReader.applyAutoOptions`.
pub fn apply_auto_options(reader: &mut DefinitionReader, backend: &str) {
    let given = reader
        .init_options()
        .get("logtype")
        .is_some_and(|v| !v.is_empty());
    if !given && !reader.definition_has_own("logtype") {
        let logtype = if backend.starts_with("systemd") {
            "journal"
        } else {
            "file"
        };
        reader.set_init_option("logtype", logtype);
    }
}

/// The values fail2ban's `FilterReader.convert` sends for combined
/// filter options.
pub fn filter_def(
    options: &OrderedMap<String>,
    warnings: Vec<String>,
) -> Result<FilterDef, ConfigError> {
    let lines = |key: &str| -> Vec<String> {
        options
            .get(key)
            .map(|v| {
                v.split('\n')
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut def = FilterDef {
        prefregex: options.get("prefregex").cloned(),
        failregex: lines("failregex"),
        ignoreregex: lines("ignoreregex"),
        datepattern: options.get("datepattern").cloned(),
        journalmatch: options.get("journalmatch").cloned(),
        usedns: options.get("usedns").cloned(),
        options: options.clone(),
        warnings,
        ..FilterDef::default()
    };
    if let Some(raw) = options.get("maxlines") {
        match py::py_int(raw) {
            None => def.warnings.push(format!(
                "wrong int value {raw:?} for 'maxlines', using default one: None"
            )),
            Some(n) if n <= 0 => {
                return Err(ConfigError::BadValue {
                    at: Box::new(Location::default().with_option("maxlines")),
                    problem: format!("maxlines must be integer greater than zero, got {raw:?}"),
                });
            }
            Some(n) => def.maxlines = usize::try_from(n).ok(),
        }
    }
    Ok(def)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::layered::tests::MemFs;
    use std::process::Command;

    fn mem_load(fs: &MemFs, spec: &str) -> Result<FilterDef, ConfigError> {
        load_filter_with(fs, Path::new("/c"), spec, &FilterLoad::default())
    }

    #[test]
    fn spec_detection_matches_fail2ban_regex() {
        for yes in [
            "sshd",
            "sshd[mode=aggressive]",
            "/etc/x/f.conf",
            "a.b-c_d",
            "x[a]\n",
            "re\nsshd",
        ] {
            assert!(is_filter_spec(yes), "{yes:?}");
        }
        for no in [
            "^Failed <HOST>",
            "sshd[mode=x",
            "",
            "a b",
            "[x]",
            "sshd[x]y",
        ] {
            assert!(!is_filter_spec(no), "{no:?}");
        }
    }

    #[test]
    fn init_modes_known_and_local_override() {
        let fs = MemFs::with(&[
            (
                "/c/filter.d/f.conf",
                "[INCLUDES]\nbefore = common.conf\n[Init]\nmaxlines = 2\n[Definition]\n\
                 _daemon = food\nfailregex = ^<_daemon> <mdre-<mode>>\n            ^two <HOST>\n\
                 mdre-normal = N <HOST>\nmdre-extra = E <HOST>\nmode = normal\n\
                 prefregex = ^%(__prefix_line)s<F-CONTENT>.+</F-CONTENT>$\nmaxlines = <maxlines>\n",
            ),
            (
                "/c/filter.d/common.conf",
                "[DEFAULT]\n__prefix_line = <lt_<logtype>/__prefix_line>\n\
                 [lt_file]\n__prefix_line = F:\n[lt_journal]\n__prefix_line = J:\n",
            ),
            (
                "/c/filter.d/f.local",
                "[Definition]\nfailregex = %(known/failregex)s\n            ^local <HOST>\n",
            ),
        ]);
        let d = mem_load(&fs, "f").expect("loads");
        assert_eq!(
            d.failregex,
            vec!["^food N <HOST>", "^two <HOST>", "^local <HOST>"]
        );
        assert_eq!(
            d.prefregex.as_deref(),
            Some("^F:<F-CONTENT>.+</F-CONTENT>$")
        );
        assert_eq!(d.maxlines, Some(2));
        assert_eq!(d.files.len(), 3);
        let d = mem_load(&fs, "f[mode=extra, logtype=journal, maxlines=3]").expect("loads");
        assert_eq!(d.failregex[0], "^food E <HOST>");
        assert_eq!(
            d.prefregex.as_deref(),
            Some("^J:<F-CONTENT>.+</F-CONTENT>$")
        );
        assert_eq!(d.maxlines, Some(3));
        let backend = FilterLoad { backend: "systemd" };
        let d = load_filter_with(&fs, Path::new("/c"), "f", &backend).expect("loads");
        assert_eq!(
            d.prefregex.as_deref(),
            Some("^J:<F-CONTENT>.+</F-CONTENT>$")
        );
    }

    #[test]
    fn bad_maxlines_and_missing_filters() {
        let fs = MemFs::with(&[
            (
                "/c/filter.d/z.conf",
                "[Definition]\nfailregex = x\nmaxlines = 0\n",
            ),
            (
                "/c/filter.d/w.conf",
                "[Definition]\nfailregex = x\nmaxlines = many\n",
            ),
            ("/c/filter.d/n.conf", "[Init]\na = 1\n"),
        ]);
        assert!(matches!(
            mem_load(&fs, "z"),
            Err(ConfigError::BadValue { .. })
        ));
        let w = mem_load(&fs, "w").expect("loads");
        assert_eq!(w.maxlines, None);
        assert_eq!(w.warnings.len(), 1);
        let n = mem_load(&fs, "n").expect("loads");
        assert!(n.failregex.is_empty());
        assert_eq!(n.warnings.len(), 1, "{:?}", n.warnings);
        assert!(matches!(
            mem_load(&fs, "nope"),
            Err(ConfigError::FilterNotFound { .. })
        ));
        assert!(matches!(
            mem_load(&fs, "z[a b]"),
            Err(ConfigError::OptionList { .. })
        ));
    }

    #[test]
    fn resolution_in_tree_and_foreign() {
        let fs = MemFs::with(&[
            ("/c/filter.d/s.conf", "[Definition]\nfailregex = s\n"),
            ("/c/filter.d/s.local", "[Definition]\nfailregex = slocal\n"),
            ("/t/mine.conf", "[Definition]\nfailregex = m\n"),
        ]);
        let c = Path::new("/c");
        let in_tree = |name: &str| FilterSource::InTree {
            basedir: PathBuf::from("/c"),
            name: name.to_string(),
        };
        assert_eq!(resolve_filter(&fs, c, "s"), Some(in_tree("s")));
        assert_eq!(resolve_filter(&fs, c, "s.conf"), Some(in_tree("s")));
        assert_eq!(resolve_filter(&fs, c, "s.local"), Some(in_tree("s")));
        assert_eq!(
            resolve_filter(&fs, c, "/c/filter.d/s.conf"),
            Some(in_tree("s"))
        );
        assert_eq!(
            resolve_filter(&fs, c, "/t/mine.conf"),
            Some(FilterSource::Foreign {
                file: PathBuf::from("/t/mine.conf")
            })
        );
        // fail2ban finds /t/mine.conf for "/t/mine" but then reads "/t/mine".
        assert_eq!(
            resolve_filter(&fs, c, "/t/mine"),
            Some(FilterSource::Foreign {
                file: PathBuf::from("/t/mine")
            })
        );
        assert_eq!(resolve_filter(&fs, c, "absent"), None);
        assert_eq!(mem_load(&fs, "s").expect("loads").failregex, vec!["slocal"]);
        assert_eq!(
            mem_load(&fs, "/t/mine.conf").expect("loads").failregex,
            vec!["m"]
        );
        assert!(mem_load(&fs, "/t/mine").is_err());
    }

    // ---- Comparison with fail2ban itself on the real stock filters ----

    /// Drives fail2ban-regex's own `readRegex` for each spec and prints
    /// the values its FilterReader produced (our script, their classes).
    const HARNESS: &str = r#"import sys, io, contextlib, os, re, glob
from fail2ban.client.fail2banregex import Fail2banRegex, get_opt_parser
from fail2ban.client.filterreader import FilterReader
from fail2ban.client.configreader import ConfigReader

def esc(s): return str(s).replace('\\', '\\\\').replace('\n', '\\n')

captured = []
orig = FilterReader.convert
def conv(self):
    s = orig(self); captured.append(s); return s
FilterReader.convert = conv

def ref(spec, basedir):
    opts, _ = get_opt_parser().parse_args(['-c', basedir, 'x', 'y'])
    captured.clear()
    out = ['SPEC ' + esc(spec)]
    said = io.StringIO()
    try:
        with contextlib.redirect_stdout(said):
            f = Fail2banRegex(opts)
            f.readRegex(spec, 'fail')
    except Exception as e:
        pass
    # Regex compilation comes after the filter's values were produced;
    # only the values are compared here.
    if not captured:
        literal = 'failregex line :' in said.getvalue()
        return out + ['NOTFILTER' if literal else 'ERR', 'END']
    fields = {'prefregex': [], 'maxlines': [], 'failregex': [], 'ignoreregex': [], 'datepattern': [], 'journalmatch': [], 'usedns': []}
    for cmd in captured[0]:
        kind, _, opt = cmd[:3]
        if opt in ('addfailregex', 'addignoreregex'):
            vals = cmd[3] if kind == 'multi-set' else [cmd[3]]
            fields[opt[3:]] += [esc(v) for v in vals]
        elif opt == 'addjournalmatch':
            fields['journalmatch'].append('\t'.join(esc(w) for w in cmd[3:]))
        else:
            fields[opt].append(esc(cmd[3]))
    for k in ('prefregex', 'maxlines', 'failregex', 'ignoreregex', 'datepattern', 'journalmatch', 'usedns'):
        out += ['%s=%s' % (k, v) for v in fields[k]]
    return out + ['END']

def specs(basedir):
    res = []
    for path in sorted(glob.glob(basedir + '/filter.d/*.conf')):
        name = os.path.basename(path)[:-5]
        res.append(name)
        res.append(name + '[logtype=journal]')
        try:
            r = ConfigReader(basedir=basedir); r.read('filter.d/' + name); c = r._cfg
        except Exception:
            continue
        raw = dict(c.get_defaults())
        for s in ('Definition', 'Init'):
            if c.has_section(s): raw.update(c._sections[s])
        prefixes = set()
        for v in raw.values():
            prefixes.update(re.findall(r'<([\w-]+)-<mode>>', str(v)))
        modes = sorted(set(k[len(p)+1:] for p in prefixes for k in raw if k.startswith(p + '-')))
        res += ['%s[mode=%s]' % (name, m) for m in modes]
    return res

basedir = sys.argv[1]
todo = sys.argv[2:] or specs(basedir)
for spec in todo:
    print('\n'.join(ref(spec, basedir)))
"#;

    fn python_with_fail2ban() -> Option<&'static str> {
        ["/usr/bin/python3", "python3"].into_iter().find(|py| {
            Command::new(py)
                .args(["-c", "import fail2ban.client.fail2banregex"])
                .output()
                .is_ok_and(|o| o.status.success())
        })
    }

    fn esc(s: &str) -> String {
        s.replace('\\', "\\\\").replace('\n', "\\n")
    }

    /// Our result for `spec` in the harness's format.
    fn render(basedir: &Path, spec: &str) -> Vec<String> {
        let mut out = vec![format!("SPEC {}", esc(spec))];
        let literal = !is_filter_spec(spec)
            || split_name_options(spec)
                .ok()
                .is_some_and(|(n, _)| resolve_filter(&RealFs, basedir, &n).is_none());
        if literal {
            out.push("NOTFILTER".into());
            out.push("END".into());
            return out;
        }
        let loaded = load_filter(basedir, spec).and_then(|d| d.journal_matches().map(|j| (d, j)));
        match loaded {
            Err(_) => out.push("ERR".into()),
            Ok((d, jm)) => {
                out.extend(d.prefregex.iter().map(|v| format!("prefregex={}", esc(v))));
                out.extend(d.maxlines.iter().map(|v| format!("maxlines={v}")));
                out.extend(d.failregex.iter().map(|v| format!("failregex={}", esc(v))));
                out.extend(
                    d.ignoreregex
                        .iter()
                        .map(|v| format!("ignoreregex={}", esc(v))),
                );
                out.extend(
                    d.datepattern
                        .iter()
                        .map(|v| format!("datepattern={}", esc(v))),
                );
                for words in jm {
                    let w: Vec<String> = words.iter().map(|w| esc(w)).collect();
                    out.push(format!("journalmatch={}", w.join("\t")));
                }
                out.extend(d.usedns.iter().map(|v| format!("usedns={}", esc(v))));
            }
        }
        out.push("END".into());
        out
    }

    /// Runs the harness under `basedir` (all stock filters and their
    /// modes when `specs` is empty) and compares every block with ours.
    fn compare_with_fail2ban(py: &str, basedir: &Path, specs: &[&str]) -> usize {
        let mut cmd = Command::new(py);
        cmd.args(["-c", HARNESS]).arg(basedir).args(specs);
        let output = cmd.output().expect("python runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8(output.stdout).expect("utf-8");
        let mut block: Vec<String> = Vec::new();
        let mut mismatches = Vec::new();
        let mut count = 0;
        for line in text.lines() {
            block.push(line.to_string());
            if line == "END" {
                let spec_line = block.first().cloned().unwrap_or_default();
                let spec = spec_line
                    .trim_start_matches("SPEC ")
                    .replace("\\n", "\n")
                    .replace("\\\\", "\\");
                let ours = render(basedir, &spec);
                if ours != block {
                    let only = |a: &[String], b: &[String]| -> Vec<String> {
                        a.iter().filter(|l| !b.contains(l)).cloned().collect()
                    };
                    mismatches.push(format!(
                        "{spec_line}\n only fail2ban: {:?}\n only ours: {:?}",
                        only(&block, &ours),
                        only(&ours, &block)
                    ));
                }
                count += 1;
                block.clear();
            }
        }
        assert!(
            mismatches.is_empty(),
            "{} mismatches:\n{}",
            mismatches.len(),
            mismatches.join("\n\n")
        );
        count
    }

    #[test]
    fn stock_filters_match_fail2ban() {
        let etc = Path::new("/etc/fail2ban");
        if !etc.join("filter.d").is_dir() {
            eprintln!("skipped: /etc/fail2ban/filter.d is absent");
            return;
        }
        let Some(py) = python_with_fail2ban() else {
            eprintln!("skipped: no python3 with the fail2ban package to compare with");
            return;
        };
        let n = compare_with_fail2ban(py, etc, &[]);
        assert!(n > 150, "only {n} specs compared");
        eprintln!("{n} filter specs identical to fail2ban's");
    }

    fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(to)?;
        for e in std::fs::read_dir(from)? {
            let e = e?;
            let target = to.join(e.file_name());
            if e.file_type()?.is_dir() {
                copy_tree(&e.path(), &target)?;
            } else {
                std::fs::copy(e.path(), target)?;
            }
        }
        Ok(())
    }

    #[test]
    fn overrides_and_paths_match_fail2ban() {
        let etc = Path::new("/etc/fail2ban/filter.d");
        if !etc.is_dir() {
            eprintln!("skipped: /etc/fail2ban/filter.d is absent");
            return;
        }
        let Some(py) = python_with_fail2ban() else {
            eprintln!("skipped: no python3 with the fail2ban package to compare with");
            return;
        };
        let root = std::env::temp_dir().join(format!("ferroban-config-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let tree = root.join("etc");
        copy_tree(etc, &tree.join("filter.d")).expect("copy");
        let write = |p: &Path, s: &str| {
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d).expect("mkdir");
            }
            std::fs::write(p, s).expect("write");
        };
        write(
            &tree.join("filter.d/sshd.local"),
            "[Init]\nmode = ddos\n[Definition]\nfailregex = %(known/failregex)s\n  ^local <HOST> ; note\n\
             ignoreregex = ^ignored <HOST>\n",
        );
        write(
            &tree.join("filter.d/sshd.d/10-x.conf"),
            "[Definition]\nprefregex =\ndatepattern = {^LN-BEG}%%Y-%%m-%%d\n",
        );
        write(
            &tree.join("filter.d/postfix.d/a.local"),
            "[Definition]\nmdre-normal = %(known/mdre-normal)s\n    ^extra <HOST>$\n",
        );
        let foreign = root.join("foreign");
        write(
            &foreign.join("my.conf"),
            "[INCLUDES]\nbefore = ../etc/filter.d/common.conf\n[Definition]\n_daemon = myd\n\
             failregex = ^%(__prefix_line)s bad <HOST> <mdre-<mode>>\nmdre-normal = N\nmdre-x = X\nmode = normal\n\
             journalmatch = _COMM=myd \"A B\"\n  _X=1\n",
        );
        write(&foreign.join("my.local"), "[Definition]\nmdre-x = XL\n");
        write(&foreign.join("other"), "[Definition]\nfailregex = o\n");
        let path = |p: PathBuf| p.display().to_string();
        let specs = [
            "sshd".to_string(),
            "sshd[mode=aggressive]".to_string(),
            "sshd.local".to_string(),
            "sshd[mode=aggressive".to_string(),
            "sshd[a b]".to_string(),
            "postfix".to_string(),
            "nosuchfilter".to_string(),
            path(tree.join("filter.d/sshd.conf")),
            path(foreign.join("my.conf")),
            format!("{}[mode=x, logtype=journal]", path(foreign.join("my.conf"))),
            path(foreign.join("my")),
            path(foreign.join("other")),
        ];
        let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
        let n = compare_with_fail2ban(py, &tree, &specs);
        let _ = std::fs::remove_dir_all(&root);
        assert_eq!(n, specs.len());
    }
}
