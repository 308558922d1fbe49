//! The merged configuration of one reader and Python-style lookups in it.
//!
//! `Config` is the state of fail2ban's `SafeConfigParserWithIncludes`
//! after reading: `[DEFAULT]`, the sections (including the `KNOWN/<name>`
//! sections that remember overridden values), and the files read. Its
//! `get`/`get_ex` follow `ConfigParser.get` and fail2ban's `get_ex`, so
//! readers of filters, actions and jails can be written the way fail2ban
//! writes them.

use std::path::PathBuf;

use super::error::{ConfigError, Location};
use super::ini::{DEFAULT_SECTION, IniFile, Options, Value};
use super::interp::{Chain, SectionSource, interpolate};
use super::omap::OrderedMap;
use crate::py;

/// Prefix of the sections holding values from before an override.
pub const KNOWN_PREFIX: &str = "KNOWN/";

#[derive(Clone, Debug, Default)]
pub struct Config {
    pub(crate) defaults: Options,
    pub(crate) sections: OrderedMap<Options>,
    pub(crate) files: Vec<PathBuf>,
    pub(crate) warnings: Vec<String>,
}

impl SectionSource for Config {
    fn section(&self, name: &str) -> Option<&Options> {
        self.sections.get(name)
    }
    fn defaults(&self) -> &Options {
        &self.defaults
    }
}

impl From<IniFile> for Config {
    fn from(ini: IniFile) -> Self {
        Config {
            defaults: ini.defaults,
            sections: ini.sections,
            ..Config::default()
        }
    }
}

/// Python's `_unify_values` builds the vars map with lower-cased names.
fn lowered_vars<'v>(vars: impl IntoIterator<Item = (&'v str, &'v str)>) -> OrderedMap<String> {
    vars.into_iter()
        .map(|(k, v)| (py::lower(k), v.to_string()))
        .collect()
}

/// `sec/opt` as fail2ban's `SECTION_OPTNAME_CRE` (`^([\w\-]+)/([^\s>]+)$`) splits it.
fn split_section_option(name: &str) -> Option<(&str, &str)> {
    let (sec, opt) = name.split_once('/')?;
    let sec_ok = !sec.is_empty() && sec.chars().all(|c| py::is_word(c) || c == '-');
    let opt_ok = !opt.is_empty() && !opt.chars().any(|c| py::is_space(c) || c == '>');
    (sec_ok && opt_ok).then_some((sec, opt))
}

impl Config {
    pub fn new() -> Self {
        Self::default()
    }

    /// Files read, in merge order; a file included twice appears twice.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Problems fail2ban logs and then ignores (an undecodable file, ...).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    pub fn defaults(&self) -> &Options {
        &self.defaults
    }

    pub fn section(&self, name: &str) -> Option<&Options> {
        self.sections.get(name)
    }

    /// All section names in order, `KNOWN/...` ones included (fail2ban's
    /// parser-level `sections()`).
    pub fn sections(&self) -> impl Iterator<Item = &str> {
        self.sections.keys()
    }

    /// Section names without the `KNOWN/...` bookkeeping ones (fail2ban's
    /// `ConfigReader.sections()`, e.g. the list of jails).
    pub fn user_sections(&self) -> impl Iterator<Item = &str> {
        self.sections
            .keys()
            .filter(|s| !s.starts_with(KNOWN_PREFIX))
    }

    pub fn has_section(&self, name: &str) -> bool {
        self.sections.contains_key(name)
    }

    /// `ConfigParser.has_option`: `[DEFAULT]` counts for every section.
    pub fn has_option(&self, section: &str, option: &str) -> bool {
        let option = py::lower(option);
        if section == DEFAULT_SECTION {
            return self.defaults.contains_key(&option);
        }
        match self.sections.get(section) {
            Some(s) => s.contains_key(&option) || self.defaults.contains_key(&option),
            None => false,
        }
    }

    /// Option names of a section, its own first, then (if asked) the
    /// `[DEFAULT]` ones it does not override. `None` if no such section.
    pub fn options(&self, section: &str, with_default: bool) -> Option<Vec<String>> {
        let own = self.sections.get(section)?;
        let mut names: Vec<String> = own.keys().map(str::to_string).collect();
        if with_default {
            names.extend(
                self.defaults
                    .keys()
                    .filter(|k| !own.contains_key(k))
                    .map(str::to_string),
            );
        }
        Some(names)
    }

    /// The raw value `get` would start from, with where it came from.
    /// `Ok(None)` stands for Python's NoSectionError and NoOptionError
    /// alike; use `has_section` to tell them apart.
    pub fn get_raw<'v>(
        &self,
        section: &str,
        option: &str,
        vars: impl IntoIterator<Item = (&'v str, &'v str)>,
    ) -> Option<Value> {
        let vars = lowered_vars(vars);
        let sect = self.sections.get(section);
        if sect.is_none() && section != DEFAULT_SECTION {
            return None;
        }
        let key = py::lower(option);
        if let Some(v) = vars.get(&key) {
            return Some(Value::synthetic(v.clone()));
        }
        sect.and_then(|s| s.get(&key))
            .or_else(|| self.defaults.get(&key))
            .cloned()
    }

    /// `ConfigParser.get(section, option, vars=vars)` with fail2ban's
    /// interpolation. `Ok(None)` if the section or option is missing.
    pub fn get<'v>(
        &self,
        section: &str,
        option: &str,
        vars: impl IntoIterator<Item = (&'v str, &'v str)>,
    ) -> Result<Option<String>, ConfigError> {
        let vars = lowered_vars(vars);
        let sect = self.sections.get(section);
        if sect.is_none() && section != DEFAULT_SECTION {
            return Ok(None);
        }
        let key = py::lower(option);
        let chain = Chain {
            vars: &vars,
            section: sect,
            defaults: &self.defaults,
        };
        let (text, origin) = if let Some(v) = vars.get(&key) {
            (v.as_str(), None)
        } else if let Some(v) = sect
            .and_then(|s| s.get(&key))
            .or_else(|| self.defaults.get(&key))
        {
            (v.text.as_str(), v.origin.as_ref())
        } else {
            return Ok(None);
        };
        interpolate(self, section, &chain, text)
            .map(Some)
            .map_err(|problem| {
                let at = origin.map(|o| o.location()).unwrap_or_default();
                ConfigError::Interpolation {
                    at: Box::new(at.with_section(section).with_option(&key)),
                    problem,
                }
            })
    }

    /// fail2ban's `get_ex`: a name `sec/opt` is first looked up as option
    /// `opt` of `[sec]` (`known/opt`: the pre-override value, then the
    /// current one; `default/opt`: `[DEFAULT]`), then as a plain name in
    /// `section` with `vars`.
    pub fn get_ex<'v>(
        &self,
        section: &str,
        option: &str,
        vars: impl IntoIterator<Item = (&'v str, &'v str)> + Clone,
    ) -> Result<Option<String>, ConfigError> {
        if let Some((sec, opt)) = split_section_option(option) {
            let seclwr = py::lower(sec);
            let known = format!("{KNOWN_PREFIX}{section}");
            let candidates: Vec<&str> = if seclwr == "known" {
                vec![&known, section]
            } else if seclwr == "default" {
                vec![DEFAULT_SECTION]
            } else {
                vec![sec]
            };
            for sec in candidates {
                if let Some(v) = self.get(sec, opt, std::iter::empty())? {
                    return Ok(Some(v));
                }
            }
        }
        self.get(section, option, vars)
    }

    /// fail2ban's `merge_defaults`: values set by the program.
    pub fn merge_defaults<'v>(&mut self, values: impl IntoIterator<Item = (&'v str, &'v str)>) {
        for (k, v) in values {
            self.defaults.insert(k, Value::synthetic(v));
        }
    }

    /// fail2ban's `merge_section`: with an empty `prefix` the options are
    /// copied as they are; otherwise each is copied as `prefix + name`,
    /// skipping names that already start with the prefix.
    pub fn merge_section<'v>(
        &mut self,
        section: &str,
        options: impl IntoIterator<Item = (&'v str, &'v str)>,
        prefix: &str,
    ) {
        let sec = self.sections.entry_or_insert_with(section, OrderedMap::new);
        for (k, v) in options {
            if prefix.is_empty() {
                sec.insert(k, Value::synthetic(v));
            } else if !k.starts_with(prefix) && k != "__name__" {
                sec.insert(format!("{prefix}{k}"), Value::synthetic(v));
            }
        }
    }

    /// Where an option's raw value was written, for messages.
    pub fn location(&self, section: &str, option: &str) -> Location {
        let key = py::lower(option);
        self.sections
            .get(section)
            .and_then(|s| s.get(&key))
            .or_else(|| self.defaults.get(&key))
            .and_then(|v| v.origin.as_ref())
            .map(|o| o.location())
            .unwrap_or_default()
            .with_section(section)
            .with_option(&key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::error::InterpolationProblem;
    use crate::config::ini::parse;

    fn cfg(text: &str) -> Config {
        Config::from(parse(text, None).expect("parses"))
    }

    fn get(c: &Config, s: &str, o: &str) -> Option<String> {
        c.get(s, o, std::iter::empty()).expect("interpolates")
    }

    fn problem(c: &Config, s: &str, o: &str) -> InterpolationProblem {
        match c.get(s, o, std::iter::empty()) {
            Err(ConfigError::Interpolation { problem, .. }) => problem,
            other => panic!("expected an interpolation error, got {other:?}"),
        }
    }

    #[test]
    fn basic_interpolation_with_default_fallback() {
        let c = cfg("[DEFAULT]\nd = D\n[s]\na = x%(b)s%(d)s%%\nb = %(c)s!\nc = C\n");
        assert_eq!(get(&c, "s", "a").as_deref(), Some("xC!D%"));
        assert_eq!(get(&c, "DEFAULT", "d").as_deref(), Some("D"));
        assert_eq!(get(&c, "s", "missing"), None);
        assert_eq!(get(&c, "nosuch", "d"), None);
    }

    #[test]
    fn references_are_lowercased_and_name_is_the_section() {
        let c = cfg("[Sect]\nx = %(Y)s/%(__name__)s\ny = 1\n");
        assert_eq!(get(&c, "Sect", "x").as_deref(), Some("1/Sect"));
    }

    #[test]
    fn vars_win_and_are_lowercased() {
        let c = cfg("[s]\na = %(b)s\nb = file\n");
        let got = c.get("s", "a", [("B", "var")]).expect("ok");
        assert_eq!(got.as_deref(), Some("var"));
    }

    #[test]
    fn section_slash_option_references() {
        let c = cfg(concat!(
            "[DEFAULT]\nonlydef = OD\n",
            "[other]\nv = %(w)s\nw = other-w\n",
            "[s]\nw = s-w\n",
            "a = %(other/v)s\n",
            "b = %(default/onlydef)s\n",
            "c = %(other/onlydef)s\n",
        ));
        // The borrowed raw value is expanded in [s], so %(w)s is s's w.
        assert_eq!(get(&c, "s", "a").as_deref(), Some("s-w"));
        assert_eq!(get(&c, "s", "b").as_deref(), Some("OD"));
        assert_eq!(get(&c, "s", "c").as_deref(), Some("OD"));
    }

    #[test]
    fn known_reference_uses_known_section_then_default() {
        let mut c = cfg("[DEFAULT]\nk = dflt\n[s]\nx = new %(known/x)s\ny = %(known/k)s\n");
        c.merge_section("KNOWN/s", [("x", "old")], "");
        assert_eq!(get(&c, "s", "x").as_deref(), Some("new old"));
        assert_eq!(get(&c, "s", "y").as_deref(), Some("dflt"));
    }

    #[test]
    fn interpolation_errors() {
        let c = cfg("[s]\na = %(nope)s\nb = %(b)s\nc = 5%\nd = %(x\ne = %(x)d\n");
        assert!(matches!(
            problem(&c, "s", "a"),
            InterpolationProblem::MissingReference { name, .. } if name == "nope"
        ));
        assert!(matches!(
            problem(&c, "s", "b"),
            InterpolationProblem::TooDeep { .. }
        ));
        assert!(matches!(
            problem(&c, "s", "c"),
            InterpolationProblem::BadSyntax { .. }
        ));
        assert!(matches!(
            problem(&c, "s", "d"),
            InterpolationProblem::BadSyntax { .. }
        ));
        assert!(matches!(
            problem(&c, "s", "e"),
            InterpolationProblem::BadSyntax { .. }
        ));
    }

    #[test]
    fn depth_limit_is_ten_levels() {
        // a0 -> a1 -> ... : ten nested expansions pass, eleven fail.
        let mut text = String::from("[s]\n");
        for i in 0..11 {
            text.push_str(&format!("a{i} = %(a{})s\n", i + 1));
        }
        text.push_str("a11 = end\n");
        let c = cfg(&text);
        assert_eq!(get(&c, "s", "a2").as_deref(), Some("end"));
        assert!(matches!(
            problem(&c, "s", "a0"),
            InterpolationProblem::TooDeep { .. }
        ));
    }

    #[test]
    fn error_names_file_line_section_option() {
        let c = Config::from(
            parse(
                "[s]\n\na = %(nope)s\n",
                Some(std::path::Path::new("/x/f.conf")),
            )
            .expect("parses"),
        );
        let e = c.get("s", "a", std::iter::empty()).unwrap_err().to_string();
        assert!(
            e.starts_with("/x/f.conf, line 3: [s] option 'a': %(nope)s"),
            "{e}"
        );
    }

    #[test]
    fn get_ex_section_option_names() {
        let mut c = cfg("[DEFAULT]\nd = D\n[lt_file]\np = P%(d)s\n[Definition]\nx = X\n");
        c.merge_section("KNOWN/Definition", [("x", "oldX")], "");
        let ex = |c: &Config, name: &str| {
            c.get_ex("Definition", name, std::iter::empty())
                .expect("ok")
        };
        assert_eq!(ex(&c, "lt_file/p").as_deref(), Some("PD"));
        assert_eq!(ex(&c, "known/x").as_deref(), Some("oldX"));
        assert_eq!(ex(&c, "known/d").as_deref(), Some("D"));
        assert_eq!(ex(&c, "default/d").as_deref(), Some("D"));
        assert_eq!(ex(&c, "nosuch/p"), None);
        assert_eq!(ex(&c, "x").as_deref(), Some("X"));
        let with_var = c
            .get_ex("Definition", "known/zz", [("known/zz", "v")])
            .expect("ok");
        assert_eq!(with_var.as_deref(), Some("v"));
    }

    #[test]
    fn merge_section_with_prefix_skips_prefixed_names() {
        let mut c = Config::new();
        c.merge_section("j", [("a", "1"), ("known/b", "2")], "known/");
        let names = c.options("j", false).expect("section");
        assert_eq!(names, vec!["known/a".to_string()]);
    }
}
