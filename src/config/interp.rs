//! `%(name)s` interpolation as fail2ban configures Python's parser.
//!
//! That is `BasicInterpolation` (`%%` escapes, references looked up in
//! vars, then the section, then `[DEFAULT]`, at most 10 levels deep) with
//! fail2ban's additions: `%(__name__)s` is the section name, and
//! `%(section/option)s` / `%(known/option)s` / `%(default/option)s` are
//! looked up in other sections before the value is expanded. As in
//! Python, a value pulled in from elsewhere is expanded in the context of
//! the section being read, not the one it came from.

use super::error::InterpolationProblem;
use super::ini::Options;
use super::omap::OrderedMap;
use crate::py;

/// Python's `configparser.MAX_INTERPOLATION_DEPTH`.
const MAX_DEPTH: usize = 10;

/// The lookup chain of one `get`: vars (names already lower-cased), the
/// section's own options, then `[DEFAULT]`.
pub(crate) struct Chain<'a> {
    pub vars: &'a OrderedMap<String>,
    pub section: Option<&'a Options>,
    pub defaults: &'a Options,
}

impl Chain<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        if let Some(v) = self.vars.get(key) {
            return Some(v);
        }
        if let Some(v) = self.section.and_then(|s| s.get(key)) {
            return Some(&v.text);
        }
        self.defaults.get(key).map(|v| v.text.as_str())
    }
}

/// Sections other than the one being read, for `%(sec/opt)s`.
pub(crate) trait SectionSource {
    fn section(&self, name: &str) -> Option<&Options>;
    fn defaults(&self) -> &Options;
}

struct Interp<'a, S: SectionSource> {
    sections: &'a S,
    section: &'a str,
    chain: &'a Chain<'a>,
    /// fail2ban adds `__name__` and resolved `sec/opt` names to a copy of
    /// the lookup map at every level; a stack undone on return is the same.
    overlay: Vec<(String, String)>,
    raw: &'a str,
}

impl<S: SectionSource> Interp<'_, S> {
    fn lookup(&self, key: &str) -> Option<String> {
        if let Some((_, v)) = self.overlay.iter().rev().find(|(k, _)| k == key) {
            return Some(v.clone());
        }
        self.chain.get(key).map(str::to_string)
    }

    /// Pre-resolves every `%(sec/opt)s` in `rest` that the chain lacks,
    /// taking the raw value from `[sec]` (from the `KNOWN/<section>` copy
    /// for `known`), falling back to `[DEFAULT]`. Names are used exactly as
    /// written; the later lookup lower-cases them, so only lower-case
    /// references resolve, as in fail2ban.
    fn map_section_options(&mut self, rest: &str) {
        if !rest.contains('/') || !rest.contains("%(") {
            return;
        }
        let mut i = 0;
        while let Some(p) = rest[i..].find("%(") {
            let start = i + p;
            i = start + 1;
            let body = &rest[start + 2..];
            let sec_len = body
                .char_indices()
                .find(|&(_, c)| !(py::is_word(c) || c == '-'))
                .map_or(body.len(), |(j, _)| j);
            if sec_len == 0 || !body[sec_len..].starts_with('/') {
                continue;
            }
            let after = &body[sec_len + 1..];
            let Some(close) = after.find(')') else {
                continue;
            };
            if close == 0 || !after[close + 1..].starts_with('s') {
                continue;
            }
            let sopt = &body[..sec_len + 1 + close];
            let opt = &after[..close];
            i = start + 2 + sec_len + 1 + close + 2;

            if self.lookup(sopt).is_some() {
                continue;
            }
            let sec = &body[..sec_len];
            let seclwr = py::lower(sec);
            let found = if seclwr == "default" {
                None
            } else if seclwr == "known" {
                self.sections
                    .section(&format!("KNOWN/{}", self.section))
                    .and_then(|s| s.get(opt))
            } else {
                match self.sections.section(sec) {
                    Some(s) => s.get(opt),
                    None => continue,
                }
            };
            let Some(v) = found.or_else(|| self.sections.defaults().get(opt)) else {
                continue;
            };
            self.overlay.push((sopt.to_string(), v.text.clone()));
        }
    }

    fn expand(
        &mut self,
        accum: &mut String,
        rest: &str,
        depth: usize,
    ) -> Result<(), InterpolationProblem> {
        let mark = self.overlay.len();
        let result = self.expand_level(accum, rest, depth);
        self.overlay.truncate(mark);
        result
    }

    fn expand_level(
        &mut self,
        accum: &mut String,
        mut rest: &str,
        depth: usize,
    ) -> Result<(), InterpolationProblem> {
        if !self.section.is_empty() {
            self.overlay
                .push(("__name__".to_string(), self.section.to_string()));
            self.map_section_options(rest);
        }
        if depth > MAX_DEPTH {
            return Err(InterpolationProblem::TooDeep {
                raw: self.raw.to_string(),
            });
        }
        while !rest.is_empty() {
            let Some(p) = rest.find('%') else {
                accum.push_str(rest);
                return Ok(());
            };
            accum.push_str(&rest[..p]);
            rest = &rest[p..];
            let next = &rest[1..];
            if next.starts_with('%') {
                accum.push('%');
                rest = &rest[2..];
            } else if next.starts_with('(') {
                let inner = &rest[2..];
                let name = match inner.find(')') {
                    Some(c) if c > 0 && inner[c + 1..].starts_with('s') => &inner[..c],
                    _ => {
                        return Err(InterpolationProblem::BadSyntax {
                            rest: rest.to_string(),
                        });
                    }
                };
                rest = &inner[name.len() + 2..];
                let var = py::lower(name);
                let Some(v) = self.lookup(&var) else {
                    return Err(InterpolationProblem::MissingReference {
                        name: var,
                        raw: self.raw.to_string(),
                    });
                };
                if v.contains('%') {
                    self.expand(accum, &v, depth + 1)?;
                } else {
                    accum.push_str(&v);
                }
            } else {
                return Err(InterpolationProblem::BadSyntax {
                    rest: rest.to_string(),
                });
            }
        }
        Ok(())
    }
}

/// Expands `value`, read from option `option` of `section`.
pub(crate) fn interpolate<S: SectionSource>(
    sections: &S,
    section: &str,
    chain: &Chain<'_>,
    value: &str,
) -> Result<String, InterpolationProblem> {
    let mut interp = Interp {
        sections,
        section,
        chain,
        overlay: Vec::new(),
        raw: value,
    };
    let mut out = String::new();
    interp.expand(&mut out, value, 1)?;
    Ok(out)
}
