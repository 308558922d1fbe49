//! Captures of a pattern that is an alternation of whole branches, taken
//! from the one branch that matched.
//!
//! `unfancy` turns the stock sshd "Failed ..." failregex into four
//! branches, each with its own copy of `<HOST>`. Taking captures with the
//! whole pattern makes the capture engine try the branches that fail
//! before the one that matches. Here a multi-pattern DFA search first says
//! which branch matched (leftmost-first across patterns is the same as the
//! alternation's order), then only that branch takes the captures, at the
//! same start. Group numbers are mapped back to the whole pattern's.

use regex_automata::meta;
use regex_automata::util::syntax;

use super::backtrack::{LazyDirect, Slots};
use super::pyre::{Dollar, ascii_build, translate_branch};

/// The branches of a linear-engine pattern, for ASCII text.
#[derive(Clone)]
pub struct Branches {
    which: meta::Regex,
    parts: Vec<regex::bytes::Regex>,
    /// Each branch's pattern and its one-pass captures (see `backtrack`).
    translated: Vec<String>,
    direct: Vec<LazyDirect>,
    /// Group number of each branch's group 1, less one, in the whole.
    offsets: Vec<usize>,
}

impl Branches {
    /// Builds the branch searchers, or None when the branches do not add
    /// up to the whole pattern's `groups` (then the whole one is used).
    pub fn build(
        py_branches: &[String],
        dollar: Dollar,
        multiline: bool,
        groups: usize,
    ) -> Option<Branches> {
        let mut translated = Vec::with_capacity(py_branches.len());
        for b in py_branches {
            let t = translate_branch(b, dollar, multiline)?;
            if !t.is_ascii() {
                return None;
            }
            translated.push(t);
        }
        let parts: Vec<regex::bytes::Regex> = translated
            .iter()
            .map(|t| ascii_build(t))
            .collect::<Option<_>>()?;
        let mut offsets = Vec::with_capacity(parts.len());
        let mut total = 0;
        for p in &parts {
            offsets.push(total);
            total += p.captures_len() - 1;
        }
        if total + 1 != groups {
            return None;
        }
        let which = meta::Regex::builder()
            .configure(meta::Config::new().utf8_empty(false))
            .syntax(syntax::Config::new().unicode(false).utf8(false))
            .build_many(&translated)
            .ok()?;
        Some(Branches {
            which,
            direct: vec![LazyDirect::default(); parts.len()],
            parts,
            translated,
            offsets,
        })
    }

    /// The captures of the branch that matches first in `text`, with the
    /// offset of its groups in the whole pattern.
    pub fn captures<'t>(&self, text: &'t [u8]) -> Option<(Slots<'t>, usize)> {
        let m = self.which.search(&regex_automata::Input::new(text))?;
        let k = m.pattern().as_usize();
        let part = self.parts.get(k)?;
        let caps = if m.start() == 0 {
            Slots::search(part, &self.direct[k], &self.translated[k], text)?
        } else {
            Slots::Regex(part.captures_at(text, m.start())?)
        };
        // The branch's own leftmost-first match at that start is the
        // alternation's match.
        debug_assert_eq!(caps.get(0), Some((m.start(), m.end())));
        Some((caps, self.offsets[k]))
    }
}
