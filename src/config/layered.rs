//! Turning a config name into one merged `Config`, as fail2ban does.
//!
//! For a name like `filter.d/sshd` fail2ban reads `sshd.conf`, then
//! `sshd.d/*.conf`, then `sshd.local`, then `sshd.d/*.local` (each
//! `.d` list sorted), every file preceded by its `[INCLUDES] before` files
//! and followed by its `after` files (each with its own `.local`), and
//! merges them in that order: later values win, and the value an
//! override replaced stays readable as `%(known/name)s` through a
//! `KNOWN/<section>` section. The file system is behind `ConfigFs` so
//! the merge logic can be tested on in-memory trees.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::error::ConfigError;
use super::ini::{IniFile, parse};
use super::omap::OrderedMap;
use super::store::{Config, KNOWN_PREFIX};
use crate::py;

/// The few file-system questions fail2ban's reader asks.
pub trait ConfigFs {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// `os.path.exists` (true for directories too).
    fn exists(&self, path: &Path) -> bool;
    /// `os.path.isfile`.
    fn is_file(&self, path: &Path) -> bool;
    /// `glob(dir + "/*" + suffix)`: names not starting with `.`, sorted.
    fn glob(&self, dir: &Path, suffix: &str) -> Vec<PathBuf>;
}

/// The real file system.
pub struct RealFs;

impl ConfigFs for RealFs {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }
    fn glob(&self, dir: &Path, suffix: &str) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut out: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                !name.starts_with('.') && name.ends_with(suffix)
            })
            .map(|e| dir.join(e.file_name()))
            .collect();
        out.sort();
        out
    }
}

/// `os.path.splitext(p)[0] + ".local"`.
fn local_sibling(path: &Path) -> PathBuf {
    let s = path.to_string_lossy();
    let base_start = s.rfind('/').map_or(0, |i| i + 1);
    let base = &s[base_start..];
    let lead = base.len() - base.trim_start_matches('.').len();
    let stem_end = match base[lead..].rfind('.') {
        Some(i) => base_start + lead + i,
        None => s.len(),
    };
    PathBuf::from(format!("{}.local", &s[..stem_end]))
}

/// `(name, "?cond")` for a conditional section such as
/// `Definition?family=inet6` (`^(\w+)(\?.+)$`).
pub(crate) fn conditional_section(name: &str) -> Option<(&str, &str)> {
    let q = name.find('?')?;
    let (base, cond) = name.split_at(q);
    let ok = !base.is_empty() && base.chars().all(py::is_word) && cond.len() > 1;
    ok.then_some((base, cond))
}

struct Reader<'f> {
    fs: &'f dyn ConfigFs,
    parsed: HashMap<PathBuf, Option<Rc<IniFile>>>,
    warnings: Vec<String>,
}

impl Reader<'_> {
    /// One file alone; `None` where fail2ban skips it (missing,
    /// unreadable, not UTF-8), an error where it would stop.
    fn parse_file(&mut self, path: &Path) -> Result<Option<Rc<IniFile>>, ConfigError> {
        if let Some(p) = self.parsed.get(path) {
            return Ok(p.clone());
        }
        let parsed = match self.fs.read(path) {
            Err(e) => {
                if e.kind() != io::ErrorKind::NotFound {
                    self.warnings.push(format!(
                        "could not read config file {}: {e}",
                        path.display()
                    ));
                }
                None
            }
            Ok(bytes) => match String::from_utf8(bytes) {
                Err(e) => {
                    self.warnings.push(format!(
                        "error decoding config file {}: {e}; file ignored",
                        path.display()
                    ));
                    None
                }
                Ok(text) => Some(Rc::new(parse(&text, Some(path))?)),
            },
        };
        self.parsed.insert(path.to_path_buf(), parsed.clone());
        Ok(parsed)
    }

    /// `_expandConfFilesWithLocal` then includes of each, in order.
    fn with_includes(
        &mut self,
        files: &[PathBuf],
        seen: &[PathBuf],
    ) -> Result<Vec<PathBuf>, ConfigError> {
        let mut expanded = Vec::new();
        for f in files {
            expanded.push(f.clone());
            let local = local_sibling(f);
            if !files.contains(&local) && self.fs.is_file(&local) {
                expanded.push(local);
            }
        }
        let mut out = Vec::new();
        for f in &expanded {
            out.extend(self.includes_of(f, seen)?);
        }
        Ok(out)
    }

    /// `before` files, the file, `after` files; `seen` holds the
    /// including files, which are not followed again.
    fn includes_of(
        &mut self,
        resource: &Path,
        seen: &[PathBuf],
    ) -> Result<Vec<PathBuf>, ConfigError> {
        let Some(ini) = self.parse_file(resource)? else {
            return Ok(Vec::new());
        };
        let dir = resource.parent().unwrap_or(Path::new(""));
        let mut before = Vec::new();
        let mut after = Vec::new();
        if ini.sections.contains_key("INCLUDES") {
            let alone = Config::from((*ini).clone());
            for (opt, list) in [("before", &mut before), ("after", &mut after)] {
                let Some(value) = alone.get("INCLUDES", opt, std::iter::empty())? else {
                    continue;
                };
                for item in value.split('\n') {
                    let r = dir.join(item);
                    if seen.contains(&r) {
                        continue;
                    }
                    if seen.iter().any(|p| p == resource) {
                        // This file includes itself again through its
                        // `.local` (fail2ban recurses until Python's stack
                        // gives out): say which files go round.
                        let mut chain: Vec<String> = Vec::new();
                        for p in seen.iter().chain([&resource.to_path_buf(), &r]) {
                            let p = p.display().to_string();
                            if chain.last() != Some(&p) {
                                chain.push(p);
                            }
                        }
                        return Err(ConfigError::BadValue {
                            at: Box::new(alone.location("INCLUDES", opt).with_file(resource)),
                            problem: format!(
                                "include cycle: {}; remove one of these includes",
                                chain.join(" -> ")
                            ),
                        });
                    }
                    let mut s = seen.to_vec();
                    s.push(resource.to_path_buf());
                    list.extend(self.with_includes(&[r], &s)?);
                }
            }
        }
        before.push(resource.to_path_buf());
        before.extend(after);
        Ok(before)
    }

    /// Reads `files` with their includes and merges them into one config.
    fn merge(mut self, files: &[PathBuf]) -> Result<Config, ConfigError> {
        let full = self.with_includes(files, &[])?;
        let mut cfg = Config::new();
        for f in &full {
            let Some(ini) = self.parse_file(f)? else {
                continue;
            };
            cfg.files.push(f.clone());
            cfg.defaults.update(&ini.defaults);
            for (name, opts) in ini.sections.iter() {
                let (name, opts) = match conditional_section(name) {
                    Some((base, cond)) => (
                        base,
                        opts.iter()
                            .map(|(k, v)| (format!("{k}{cond}"), v.clone()))
                            .collect(),
                    ),
                    None => (name, opts.clone()),
                };
                if let Some(existing) = cfg.sections.get(name) {
                    let replaced: OrderedMap<_> = existing
                        .iter()
                        .filter(|(k, _)| opts.contains_key(k))
                        .map(|(k, v)| (k, v.clone()))
                        .collect();
                    cfg.sections
                        .entry_or_insert_with(&format!("{KNOWN_PREFIX}{name}"), OrderedMap::new)
                        .update(&replaced);
                    if let Some(existing) = cfg.sections.get_mut(name) {
                        existing.update(&opts);
                    }
                } else {
                    cfg.sections.insert(name, opts);
                }
            }
        }
        cfg.warnings = self.warnings;
        Ok(cfg)
    }
}

/// fail2ban's `ConfigReader.read(name)` under `basedir`, e.g.
/// `read_layered(&RealFs, "/etc/fail2ban", "filter.d/sshd")`.
pub fn read_layered(fs: &dyn ConfigFs, basedir: &Path, name: &str) -> Result<Config, ConfigError> {
    if !fs.exists(basedir) {
        return Err(ConfigError::BaseDirMissing {
            dir: basedir.to_path_buf(),
        });
    }
    let base = basedir.join(name);
    let with = |suffix: &str| PathBuf::from(format!("{}{suffix}", base.display()));
    let dot_d = with(".d");
    let mut candidates = vec![with(".conf")];
    candidates.extend(fs.glob(&dot_d, ".conf"));
    candidates.push(with(".local"));
    candidates.extend(fs.glob(&dot_d, ".local"));
    candidates.retain(|p| fs.exists(p));
    let not_found = || ConfigError::NotFound {
        name: name.to_string(),
        dir: basedir.to_path_buf(),
    };
    if candidates.is_empty() {
        return Err(not_found());
    }
    let reader = Reader {
        fs,
        parsed: HashMap::new(),
        warnings: Vec::new(),
    };
    let cfg = reader.merge(&candidates)?;
    if cfg.files.is_empty() {
        return Err(not_found());
    }
    Ok(cfg)
}

/// fail2ban's reading of one explicit file (with its `.local` sibling and
/// includes, but no `.d` directory), as `fail2ban-regex` does for a
/// filter file outside the config tree.
pub fn read_explicit(fs: &dyn ConfigFs, file: &Path) -> Result<Config, ConfigError> {
    let reader = Reader {
        fs,
        parsed: HashMap::new(),
        warnings: Vec::new(),
    };
    let cfg = reader.merge(&[file.to_path_buf()])?;
    if cfg.files.is_empty() {
        return Err(ConfigError::Unreadable {
            path: file.to_path_buf(),
            reason: "no such file or not readable".to_string(),
        });
    }
    Ok(cfg)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// An in-memory tree of config files.
    #[derive(Default)]
    pub(crate) struct MemFs {
        pub files: BTreeMap<PathBuf, Vec<u8>>,
    }

    impl MemFs {
        pub fn with(files: &[(&str, &str)]) -> Self {
            MemFs {
                files: files
                    .iter()
                    .map(|(p, t)| (PathBuf::from(p), t.as_bytes().to_vec()))
                    .collect(),
            }
        }
    }

    impl ConfigFs for MemFs {
        fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
            self.files
                .get(path)
                .cloned()
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        }
        fn exists(&self, path: &Path) -> bool {
            self.files.contains_key(path) || self.files.keys().any(|k| k.starts_with(path))
        }
        fn is_file(&self, path: &Path) -> bool {
            self.files.contains_key(path)
        }
        fn glob(&self, dir: &Path, suffix: &str) -> Vec<PathBuf> {
            self.files
                .keys()
                .filter(|k| k.parent() == Some(dir))
                .filter(|k| {
                    let n = k.file_name().map(|n| n.to_string_lossy().into_owned());
                    n.is_some_and(|n| !n.starts_with('.') && n.ends_with(suffix))
                })
                .cloned()
                .collect()
        }
    }

    fn get(c: &Config, s: &str, o: &str) -> Option<String> {
        c.get(s, o, std::iter::empty()).expect("interpolates")
    }

    fn names(c: &Config) -> Vec<String> {
        c.files().iter().map(|p| p.display().to_string()).collect()
    }

    #[test]
    fn order_conf_d_conf_local_d_local() {
        let fs = MemFs::with(&[
            ("/c/filter.d/x.conf", "[Definition]\na = conf\n"),
            ("/c/filter.d/x.local", "[Definition]\na = local\n"),
            ("/c/filter.d/x.d/b.conf", "[Definition]\na = dconf-b\n"),
            ("/c/filter.d/x.d/a.conf", "[Definition]\na = dconf-a\n"),
            ("/c/filter.d/x.d/z.local", "[Definition]\na = dlocal\n"),
            ("/c/filter.d/x.d/.hidden.conf", "[Definition]\na = hidden\n"),
        ]);
        let c = read_layered(&fs, Path::new("/c"), "filter.d/x").expect("reads");
        assert_eq!(
            names(&c),
            vec![
                "/c/filter.d/x.conf",
                "/c/filter.d/x.d/a.conf",
                "/c/filter.d/x.d/b.conf",
                "/c/filter.d/x.local",
                "/c/filter.d/x.d/z.local",
            ]
        );
        assert_eq!(get(&c, "Definition", "a").as_deref(), Some("dlocal"));
        // KNOWN keeps the value just before the last override.
        assert_eq!(get(&c, "KNOWN/Definition", "a").as_deref(), Some("local"));
    }

    #[test]
    fn includes_before_after_with_local_and_loops() {
        let fs = MemFs::with(&[
            (
                "/c/filter.d/x.conf",
                "[INCLUDES]\nbefore = common.conf\nafter = x-after.conf\n[Definition]\na = x %(known/a)s\n",
            ),
            (
                "/c/filter.d/common.conf",
                "[INCLUDES]\nbefore = x.conf\n[DEFAULT]\nd = common\n[Definition]\na = common-a\n",
            ),
            ("/c/filter.d/common.local", "[DEFAULT]\nd = common-local\n"),
            ("/c/filter.d/x-after.conf", "[Definition]\nb = after\n"),
        ]);
        let c = read_layered(&fs, Path::new("/c"), "filter.d/x").expect("reads");
        // common.conf's include of x.conf is a loop (x.conf is an ancestor).
        assert_eq!(
            names(&c),
            vec![
                "/c/filter.d/common.conf",
                "/c/filter.d/common.local",
                "/c/filter.d/x.conf",
                "/c/filter.d/x-after.conf",
            ]
        );
        assert_eq!(get(&c, "Definition", "a").as_deref(), Some("x common-a"));
        assert_eq!(get(&c, "Definition", "d").as_deref(), Some("common-local"));
        assert_eq!(get(&c, "Definition", "b").as_deref(), Some("after"));
    }

    #[test]
    fn file_included_twice_is_merged_twice() {
        let fs = MemFs::with(&[
            (
                "/c/f.conf",
                "[INCLUDES]\nbefore = common.conf\n[s]\na = conf\n",
            ),
            (
                "/c/f.local",
                "[INCLUDES]\nbefore = common.conf\n[s]\nb = local\n",
            ),
            ("/c/common.conf", "[s]\na = common\n"),
        ]);
        let c = read_layered(&fs, Path::new("/c"), "f").expect("reads");
        assert_eq!(
            names(&c),
            vec![
                "/c/common.conf",
                "/c/f.conf",
                "/c/common.conf",
                "/c/f.local"
            ]
        );
        // The second read of common.conf overrides f.conf's value.
        assert_eq!(get(&c, "s", "a").as_deref(), Some("common"));
    }

    #[test]
    fn conditional_sections_become_suffixed_options() {
        let fs = MemFs::with(&[(
            "/c/a.conf",
            "[Definition]\nx = 4\n[Definition?family=inet6]\nx = 6\n",
        )]);
        let c = read_layered(&fs, Path::new("/c"), "a").expect("reads");
        assert_eq!(
            get(&c, "Definition", "x?family=inet6").as_deref(),
            Some("6")
        );
        assert!(!c.has_section("Definition?family=inet6"));
    }

    #[test]
    fn missing_things() {
        let fs = MemFs::with(&[("/c/a.conf", "[s]\n")]);
        assert!(matches!(
            read_layered(&fs, Path::new("/nope"), "a"),
            Err(ConfigError::BaseDirMissing { .. })
        ));
        assert!(matches!(
            read_layered(&fs, Path::new("/c"), "b"),
            Err(ConfigError::NotFound { .. })
        ));
        // A missing include is silently skipped, as in fail2ban.
        let fs = MemFs::with(&[("/c/a.conf", "[INCLUDES]\nbefore = gone.conf\n[s]\nx=1\n")]);
        let c = read_layered(&fs, Path::new("/c"), "a").expect("reads");
        assert_eq!(names(&c), vec!["/c/a.conf"]);
    }

    #[test]
    fn undecodable_file_is_skipped_with_a_warning() {
        let mut fs = MemFs::with(&[("/c/a.conf", "[s]\nx = 1\n")]);
        fs.files
            .insert(PathBuf::from("/c/a.local"), b"[s]\nx = \xff\n".to_vec());
        let c = read_layered(&fs, Path::new("/c"), "a").expect("reads");
        assert_eq!(get(&c, "s", "x").as_deref(), Some("1"));
        assert_eq!(c.warnings().len(), 1);
    }

    #[test]
    fn syntax_error_in_any_file_stops_the_read() {
        let fs = MemFs::with(&[
            ("/c/a.conf", "[s]\nx = 1\n"),
            ("/c/a.local", "[s]\nbroken\n"),
        ]);
        let e = read_layered(&fs, Path::new("/c"), "a").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/c/a.local, line 2: [s]: not a section header, option or continuation line: \"broken\""
        );
    }

    #[test]
    fn explicit_file_reads_local_and_includes_but_no_dot_d() {
        let fs = MemFs::with(&[
            (
                "/t/my.conf",
                "[INCLUDES]\nbefore = base.conf\n[Definition]\nx = my\n",
            ),
            ("/t/my.local", "[Definition]\nx = mylocal\n"),
            ("/t/my.d/z.conf", "[Definition]\nx = dotd\n"),
            ("/t/base.conf", "[Definition]\ny = base\n"),
        ]);
        let c = read_explicit(&fs, Path::new("/t/my.conf")).expect("reads");
        assert_eq!(names(&c), vec!["/t/base.conf", "/t/my.conf", "/t/my.local"]);
        assert_eq!(get(&c, "Definition", "x").as_deref(), Some("mylocal"));
    }

    #[test]
    fn local_sibling_is_splitext() {
        assert_eq!(
            local_sibling(Path::new("/a/b.c.conf")),
            PathBuf::from("/a/b.c.local")
        );
        assert_eq!(
            local_sibling(Path::new("/a.d/b")),
            PathBuf::from("/a.d/b.local")
        );
        assert_eq!(
            local_sibling(Path::new("/a/.hid")),
            PathBuf::from("/a/.hid.local")
        );
    }
}
