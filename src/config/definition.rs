//! Readers for files with `[Definition]` and `[Init]` sections.
//!
//! Filters and actions are both written this way: `[Definition]` holds
//! the options, `[Init]` holds parameters that a jail (or the
//! `fail2ban-regex` command line) can override with `name[param=value]`.
//! This follows fail2ban's `DefinitionInitConfigReader`: given options win
//! over `[Init]`, `[Init]` values are also offered as `known/<param>`,
//! and `combined()` resolves `<tag>`s across all of them, looking up
//! tags it does not hold in `[Definition]` (and `sec/opt` in `[sec]`).

use std::collections::{HashMap, HashSet};

use super::error::ConfigError;
use super::layered::conditional_section;
use super::omap::OrderedMap;
use super::store::Config;
use super::tags::substitute_recursive_tags;

const DEFINITION: &str = "Definition";
const INIT: &str = "Init";

pub struct DefinitionReader {
    cfg: Config,
    /// Parameters given with the name, then `[Init]` ones (`_initOpts`).
    init_opts: OrderedMap<String>,
    /// Variables for `%(name)s` in `[Definition]` (`_pOpts`).
    p_opts: OrderedMap<String>,
    /// `[Definition]` options read by `get_options` (`_opts`).
    opts: OrderedMap<String>,
    /// fail2ban caches tag lookups for the reader's lifetime (`_defCache`),
    /// even across `get_options` calls; kept for identical results.
    def_cache: HashMap<String, Option<String>>,
    warnings: Vec<String>,
}

impl DefinitionReader {
    /// `init` are the `name[param=value, ...]` parameters.
    pub fn new(cfg: Config, init: &[(String, String)]) -> Self {
        DefinitionReader {
            cfg,
            init_opts: init.iter().map(|(k, v)| (k.as_str(), v.clone())).collect(),
            p_opts: OrderedMap::new(),
            opts: OrderedMap::new(),
            def_cache: HashMap::new(),
            warnings: Vec::new(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn init_options(&self) -> &OrderedMap<String> {
        &self.init_opts
    }

    /// Problems fail2ban logs and goes on (no `[Definition]` section, ...),
    /// after those of reading the files.
    pub fn warnings(&self) -> Vec<String> {
        let mut all = self.cfg.warnings().to_vec();
        all.extend(self.warnings.iter().cloned());
        all
    }

    /// Sets an init parameter (fail2ban's `applyAutoOptions` and the like).
    pub fn set_init_option(&mut self, name: &str, value: &str) {
        self.init_opts.insert(name, value.to_string());
    }

    /// Whether `[Definition]` itself (not `[DEFAULT]`) has `name`.
    pub fn definition_has_own(&self, name: &str) -> bool {
        self.cfg
            .section(DEFINITION)
            .is_some_and(|s| s.contains_key(&name.to_lowercase()))
    }

    /// fail2ban's `getOptions(pOpts, all)`: reads `names` from
    /// `[Definition]` with `p_opts` (plus the init parameters) as vars,
    /// skipping names given there; then folds `[Init]` into the init
    /// parameters; with `all`, reads every other own `[Definition]`
    /// option too (without vars).
    pub fn get_options(
        &mut self,
        p_opts: Option<&OrderedMap<String>>,
        names: &[&str],
        all: bool,
    ) -> Result<(), ConfigError> {
        let mut p = p_opts.cloned().unwrap_or_default();
        p.update(&self.init_opts);
        let mut opts = OrderedMap::new();
        let has_definition = self.cfg.has_section(DEFINITION);
        if !has_definition {
            self.warnings.push(format!(
                "no section [{DEFINITION}] in {}",
                self.files_display()
            ));
        }
        for &name in names {
            if p.contains_key(name) || !has_definition {
                continue;
            }
            if let Some(v) = self.cfg.get(DEFINITION, name, pairs(&p))? {
                opts.insert(name, v);
            }
        }
        self.opts = opts;
        self.p_opts = p;

        if let Some(init_names) = self.cfg.options(INIT, false) {
            for opt in init_names {
                if opt == "__name__" {
                    continue;
                }
                let mut value: Option<String> = None;
                if !opt.starts_with("known/") {
                    let v = self.init_value(&opt)?;
                    self.init_opts.insert(format!("known/{opt}"), v.clone());
                    value = Some(v);
                }
                if !self.init_opts.contains_key(&opt) {
                    let v = match value {
                        Some(v) => v,
                        None => self.init_value(&opt)?,
                    };
                    self.init_opts.insert(opt, v);
                }
            }
        }

        if all && let Some(def_names) = self.cfg.options(DEFINITION, false) {
            for opt in def_names {
                if opt == "__name__" || self.opts.contains_key(&opt) {
                    continue;
                }
                if let Some(v) = self.cfg.get(DEFINITION, &opt, std::iter::empty())? {
                    self.opts.insert(opt, v);
                }
            }
        }
        Ok(())
    }

    fn init_value(&self, opt: &str) -> Result<String, ConfigError> {
        Ok(self
            .cfg
            .get(INIT, opt, std::iter::empty())?
            .unwrap_or_default())
    }

    fn files_display(&self) -> String {
        let names: Vec<String> = self
            .cfg
            .files()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        names.join(", ")
    }

    /// fail2ban's `getCombOption`: a tag not among the options is looked
    /// up in `[Definition]` (or as `sec/opt`) with the vars of
    /// `get_options`. Missing: `None`.
    pub fn comb_option(&mut self, name: &str) -> Result<Option<String>, ConfigError> {
        if let Some(v) = self.def_cache.get(name) {
            return Ok(v.clone());
        }
        let v = self.cfg.get_ex(DEFINITION, name, pairs(&self.p_opts))?;
        self.def_cache.insert(name.to_string(), v.clone());
        Ok(v)
    }

    /// fail2ban's `getCombined`: the options read by `get_options`, the
    /// init parameters over them, with `<tag>`s resolved. Conditional
    /// names (`x?family=inet6`) and their bases are left as they are.
    pub fn combined(&mut self) -> Result<OrderedMap<String>, ConfigError> {
        self.combined_ignoring(&[])
    }

    /// `combined`, also leaving the tags `extra` as they are (actions keep
    /// `<matches>`, `<bantime>` and the like for ban time).
    pub fn combined_ignoring(&mut self, extra: &[&str]) -> Result<OrderedMap<String>, ConfigError> {
        let mut comb = self.opts.clone();
        comb.update(&self.init_opts);
        if comb.is_empty() {
            return Ok(comb);
        }
        let ignore: HashSet<String> = comb
            .keys()
            .filter_map(|k| conditional_section(k).map(|(base, _)| base.to_string()))
            .chain(extra.iter().map(|e| e.to_string()))
            .collect();
        let result = substitute_recursive_tags(&comb, "", &ignore, |t| self.comb_option(t));
        result.map_err(|e| match e {
            ConfigError::TagRecursion {
                tag, found, value, ..
            } => ConfigError::TagRecursion {
                at: Box::new(self.cfg.location(DEFINITION, &tag)),
                tag,
                found,
                value,
            },
            other => other,
        })
    }
}

fn pairs(map: &OrderedMap<String>) -> impl Iterator<Item = (&str, &str)> + Clone {
    map.iter().map(|(k, v)| (k, v.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ini::parse;

    fn reader(text: &str, init: &[(&str, &str)]) -> DefinitionReader {
        let cfg = Config::from(parse(text, None).expect("parses"));
        let init: Vec<(String, String)> = init
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        DefinitionReader::new(cfg, &init)
    }

    fn combined(r: &mut DefinitionReader, names: &[&str]) -> Vec<(String, String)> {
        r.get_options(None, names, false).expect("options");
        r.combined()
            .expect("combined")
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    const TEXT: &str = "[INCLUDES]\n[Init]\np = initp\nq = %(p)s-q\n[Definition]\n\
        failregex = <re-<p>> %(v)s <HOST>\nre-initp = from-init\nre-given = from-given\n\
        v = plain\nother = <q>\n";

    // Expected results were printed by fail2ban 1.0.2's FilterReader on
    // the same text (getOptions(None) then getCombined()).

    #[test]
    fn init_values_feed_tags() {
        let mut r = reader(TEXT, &[]);
        let got = combined(&mut r, &["failregex", "maxlines"]);
        assert_eq!(
            got,
            vec![
                (
                    "failregex".to_string(),
                    "from-init plain <HOST>".to_string()
                ),
                ("known/p".to_string(), "initp".to_string()),
                ("p".to_string(), "initp".to_string()),
                ("known/q".to_string(), "initp-q".to_string()),
                ("q".to_string(), "initp-q".to_string()),
            ]
        );
    }

    #[test]
    fn given_parameters_win_and_are_vars() {
        let mut r = reader(TEXT, &[("p", "given"), ("V", "var")]);
        let got = combined(&mut r, &["failregex"]);
        assert_eq!(
            got[0],
            ("failregex".to_string(), "from-given var <HOST>".to_string())
        );
        assert!(got.contains(&("known/p".to_string(), "initp".to_string())));
        assert!(got.contains(&("p".to_string(), "given".to_string())));
    }

    #[test]
    fn all_reads_every_definition_option() {
        let mut r = reader(TEXT, &[]);
        r.get_options(None, &["failregex"], true).expect("options");
        let c = r.combined().expect("combined");
        assert_eq!(c.get("other").map(String::as_str), Some("initp-q"));
    }

    #[test]
    fn tag_loop_error_points_at_the_option() {
        let cfg = Config::from(
            parse(
                "[Definition]\n\nfailregex = <failregex>\n",
                Some(std::path::Path::new("/f.conf")),
            )
            .expect("parses"),
        );
        let mut r = DefinitionReader::new(cfg, &[]);
        r.get_options(None, &["failregex"], false).expect("options");
        let e = r.combined().unwrap_err().to_string();
        assert!(
            e.starts_with("/f.conf, line 3: [Definition] option 'failregex': "),
            "{e}"
        );
    }
}
