//! Python `re` patterns, run on Rust engines.
//!
//! fail2ban's filters are written for Python's `re` module. This module
//! rewrites such a pattern into the syntax of the `regex` crate and, only
//! when the pattern needs backtracking (look-around, back-references,
//! conditionals, atomic groups), of `fancy-regex`. Where the two dialects
//! disagree on meaning the rewrite keeps Python's meaning:
//! - `$` outside MULTILINE mode matches at the end or before a final `\n`;
//! - `\Z` is Rust's `\z`; `{` that is no quantifier is a literal;
//! - `[` and `&&`/`--`/`~~` inside classes are literals in Python;
//! - `\<`, `\>` and other escaped punctuation are plain literals.
//!
//! Anything that cannot be translated faithfully is an error naming the
//! construct, never a silent change of meaning. Backtracking is bounded
//! (fancy-regex's backtrack limit), so a hostile line cannot hang a jail.

use std::fmt;

use super::backtrack::{LazyDirect, Slots};

/// How `$` (outside MULTILINE mode) is translated.
///
/// fail2ban always searches `text + "\n"`. On such a one-line buffer `(?m:$)`
/// is exactly Python's `$` and keeps the pattern linear-time; a multi-line
/// buffer (maxlines > 1) needs the exact look-ahead form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dollar {
    /// The searched text holds one line plus a final `\n`.
    SingleLineBuffer,
    /// Exact Python semantics for any text.
    Exact,
}

/// Upper bound on backtracking steps for one search (fancy-regex counts
/// them); beyond it the search counts as "no match" and is reported.
const BACKTRACK_LIMIT: usize = 200_000;

thread_local! {
    /// Searches on this thread that gave up at the bound (or failed in the
    /// backtracking engine otherwise) since `take_bound_hits`.
    static BOUND_HITS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// A backtracking search's result, "no match" when it gave up; counted
/// for the caller, which reports such lines (see `take_bound_hits`).
fn bounded<T>(r: Result<Option<T>, fancy_regex::Error>) -> Option<T> {
    r.unwrap_or_else(|_| {
        BOUND_HITS.with(|c| c.set(c.get().saturating_add(1)));
        None
    })
}

/// How many searches on this thread gave up at the backtracking bound
/// since the last call (the count restarts at zero).
pub fn take_bound_hits() -> u32 {
    BOUND_HITS.with(|c| c.replace(0))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PyReError {
    /// A Python construct we cannot express with the same meaning.
    Unsupported { pattern: String, construct: String },
    /// The pattern is invalid (for Python too, or for the engine).
    Invalid { pattern: String, reason: String },
}

impl fmt::Display for PyReError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PyReError::Unsupported { pattern, construct } => write!(
                f,
                "Unable to compile regular expression '{pattern}':\nunsupported Python regex construct {construct}"
            ),
            PyReError::Invalid { pattern, reason } => {
                write!(
                    f,
                    "Unable to compile regular expression '{pattern}':\n{reason}"
                )
            }
        }
    }
}

impl std::error::Error for PyReError {}

#[derive(Clone)]
enum Engine {
    Plain(Plain),
    Fancy(fancy_regex::Regex),
}

/// The ASCII build of a linear-engine pattern (see `Plain`).
pub(crate) fn ascii_build(pattern: &str) -> Option<regex::bytes::Regex> {
    regex::bytes::RegexBuilder::new(pattern)
        .unicode(false)
        .size_limit(50 << 20)
        .dfa_size_limit(256 << 10)
        .build()
        .ok()
}

/// A pattern for the linear-time engine, in two builds.
///
/// Log lines are nearly always ASCII, and on ASCII text the ASCII classes
/// (`\w`, `\s`, `\d`, `\b`, case folding) mean exactly what the Unicode
/// ones mean. The ASCII build is far smaller and faster, so it serves every
/// ASCII line; the Unicode build is made the first time a line needs it.
#[derive(Clone)]
struct Plain {
    pattern: String,
    ascii: Option<regex::bytes::Regex>,
    unicode: std::sync::OnceLock<Option<regex::Regex>>,
    /// Captures on ASCII text in one pass, for a start-anchored pattern.
    direct: LazyDirect,
}

impl Plain {
    fn new(pattern: &str) -> Result<Plain, String> {
        let ascii = if pattern.is_ascii() {
            ascii_build(pattern)
        } else {
            None
        };
        let plain = Plain {
            pattern: pattern.to_string(),
            ascii,
            unicode: std::sync::OnceLock::new(),
            direct: LazyDirect::default(),
        };
        if plain.ascii.is_none() {
            // No ASCII build: the Unicode one is needed now, and its error
            // is the pattern's error.
            let re = Self::build_unicode(pattern)?;
            let _ = plain.unicode.set(Some(re));
        }
        Ok(plain)
    }

    fn build_unicode(pattern: &str) -> Result<regex::Regex, String> {
        // A filter holds dozens of these: a small lazy-DFA cache each
        // keeps a jail within a few MB (it only grows as lines need).
        regex::RegexBuilder::new(pattern)
            .size_limit(50 << 20)
            .dfa_size_limit(256 << 10)
            .build()
            .map_err(|e| e.to_string())
    }

    /// The build for this text: ASCII when it serves.
    fn pick(&self, text: &str) -> Option<Either<'_>> {
        match &self.ascii {
            Some(a) if text.is_ascii() => Some(Either::Ascii(a)),
            _ => self
                .unicode
                .get_or_init(|| Self::build_unicode(&self.pattern).ok())
                .as_ref()
                .map(Either::Unicode),
        }
    }
}

enum Either<'r> {
    Ascii(&'r regex::bytes::Regex),
    Unicode(&'r regex::Regex),
}

/// A compiled Python-dialect pattern.
#[derive(Clone)]
pub struct PyRegex {
    engine: Engine,
    source: String,
    /// For a top-level alternation: captures from the matching branch
    /// alone (see `branches`).
    branches: Option<super::branches::Branches>,
}

/// Captures of one successful search.
pub enum PyCaptures<'t> {
    Plain(regex::Captures<'t>),
    /// From the ASCII build, over the same (ASCII) text.
    Ascii(Slots<'t>, &'t str),
    /// From one branch of the pattern (ASCII text), whose group 1 is the
    /// whole pattern's group `offset + 1`.
    Branch(Slots<'t>, &'t str, usize),
    Fancy(fancy_regex::Captures<'t, str>),
}

impl<'t> PyCaptures<'t> {
    /// Span of group `i` (0 = whole match).
    pub fn get(&self, i: usize) -> Option<(usize, usize)> {
        match self {
            PyCaptures::Plain(c) => c.get(i).map(|m| (m.start(), m.end())),
            PyCaptures::Ascii(c, _) => c.get(i),
            PyCaptures::Branch(c, _, off) => branch_group(i, *off).and_then(|j| c.get(j)),
            PyCaptures::Fancy(c) => c.get(i).map(|m| (m.start(), m.end())),
        }
    }

    /// Text of group `i` (0 = whole match).
    pub fn text(&self, i: usize) -> Option<&'t str> {
        match self {
            PyCaptures::Plain(c) => c.get(i).map(|m| m.as_str()),
            PyCaptures::Ascii(c, t) => c.get(i).and_then(|(a, b)| t.get(a..b)),
            PyCaptures::Branch(..) => self.get(i).and_then(|(a, b)| self.haystack()?.get(a..b)),
            PyCaptures::Fancy(c) => c.get(i).map(|m| m.as_str()),
        }
    }

    fn haystack(&self) -> Option<&'t str> {
        match self {
            PyCaptures::Ascii(_, t) | PyCaptures::Branch(_, t, _) => Some(t),
            _ => None,
        }
    }
}

/// The branch's group for the whole pattern's group `i`.
fn branch_group(i: usize, offset: usize) -> Option<usize> {
    if i == 0 {
        Some(0)
    } else {
        i.checked_sub(offset).filter(|j| *j > 0)
    }
}

/// A branch of a pattern in the linear engine's syntax; None when it needs
/// the backtracking engine or does not translate.
pub(crate) fn translate_branch(py: &str, dollar: Dollar, multiline: bool) -> Option<String> {
    translate_with(py, dollar, multiline)
        .ok()
        .filter(|t| !t.fancy)
        .map(|t| t.pattern)
}

impl PyRegex {
    /// Compiles `py_pattern`, which is the alternation of `branches` (in
    /// this order, each a whole Python pattern): captures then come from
    /// the matching branch alone.
    pub fn with_branches(
        py_pattern: &str,
        branches: &[String],
        dollar: Dollar,
        multiline: bool,
    ) -> Result<PyRegex, PyReError> {
        let mut re = Self::with_options(py_pattern, dollar, multiline)?;
        if !re.is_fancy() && branches.len() > 1 {
            let groups = re.group_names().len();
            re.branches = super::branches::Branches::build(branches, dollar, multiline, groups);
        }
        Ok(re)
    }

    /// True when captures come from the matching branch alone.
    pub fn has_branches(&self) -> bool {
        self.branches.is_some()
    }

    /// Compiles a Python pattern with exact `$` semantics.
    pub fn new(py_pattern: &str) -> Result<PyRegex, PyReError> {
        Self::with_dollar(py_pattern, Dollar::Exact)
    }

    /// Compiles a Python pattern, choosing how `$` is translated.
    pub fn with_dollar(py_pattern: &str, dollar: Dollar) -> Result<PyRegex, PyReError> {
        Self::with_options(py_pattern, dollar, false)
    }

    /// `multiline` is Python's `re.MULTILINE` flag given at compile time.
    pub fn with_options(
        py_pattern: &str,
        dollar: Dollar,
        multiline: bool,
    ) -> Result<PyRegex, PyReError> {
        let tr = translate_with(py_pattern, dollar, multiline)?;
        let invalid = |reason: String| PyReError::Invalid {
            pattern: py_pattern.to_string(),
            reason,
        };
        let engine = if tr.fancy {
            let re = fancy_regex::RegexBuilder::new(&tr.pattern)
                .backtrack_limit(BACKTRACK_LIMIT)
                .build()
                .map_err(|e| invalid(e.to_string()))?;
            Engine::Fancy(re)
        } else {
            Engine::Plain(Plain::new(&tr.pattern).map_err(invalid)?)
        };
        Ok(PyRegex {
            engine,
            source: py_pattern.to_string(),
            branches: None,
        })
    }

    /// The Python pattern this was compiled from.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The pattern in the `regex` crate's syntax, for the linear engine.
    pub fn linear_pattern(&self) -> Option<&str> {
        match &self.engine {
            Engine::Plain(p) => Some(&p.pattern),
            Engine::Fancy(_) => None,
        }
    }

    /// True when the pattern needed the backtracking engine.
    pub fn is_fancy(&self) -> bool {
        matches!(self.engine, Engine::Fancy(_))
    }

    /// Python's `re.search`: the first match anywhere in `text`. A search
    /// that exceeds the backtracking bound is treated as no match.
    pub fn captures<'t>(&self, text: &'t str) -> Option<PyCaptures<'t>> {
        if let Some(b) = self.branches.as_ref().filter(|_| text.is_ascii()) {
            return b
                .captures(text.as_bytes())
                .map(|(c, off)| PyCaptures::Branch(c, text, off));
        }
        match &self.engine {
            Engine::Plain(p) => match p.pick(text)? {
                Either::Ascii(re) => Slots::search(re, &p.direct, &p.pattern, text.as_bytes())
                    .map(|c| PyCaptures::Ascii(c, text)),
                Either::Unicode(re) => re.captures(text).map(PyCaptures::Plain),
            },
            Engine::Fancy(re) => bounded(re.captures(text)).map(PyCaptures::Fancy),
        }
    }

    /// Like `captures`, starting the search at byte `start` (look-behind
    /// still sees the text before it, as Python's `pos` argument does).
    pub fn captures_from<'t>(&self, text: &'t str, start: usize) -> Option<PyCaptures<'t>> {
        match &self.engine {
            Engine::Plain(p) => match p.pick(text)? {
                Either::Ascii(re) => re
                    .captures_at(text.as_bytes(), start)
                    .map(|c| PyCaptures::Ascii(Slots::Regex(c), text)),
                Either::Unicode(re) => re.captures_at(text, start).map(PyCaptures::Plain),
            },
            Engine::Fancy(re) => bounded(re.captures_from_pos(text, start)).map(PyCaptures::Fancy),
        }
    }

    /// Span of the first match.
    pub fn find_at(&self, text: &str, start: usize) -> Option<(usize, usize)> {
        match &self.engine {
            Engine::Plain(p) => match p.pick(text)? {
                Either::Ascii(re) => re.find_at(text.as_bytes(), start).map(|m| m.range()),
                Either::Unicode(re) => re.find_at(text, start).map(|m| m.range()),
            }
            .map(|m| (m.start, m.end)),
            Engine::Fancy(re) => {
                bounded(re.find_from_pos(text, start)).map(|m| (m.start(), m.end()))
            }
        }
    }

    pub fn is_match(&self, text: &str) -> bool {
        match &self.engine {
            Engine::Plain(p) => match p.pick(text) {
                Some(Either::Ascii(re)) => re.is_match(text.as_bytes()),
                Some(Either::Unicode(re)) => re.is_match(text),
                None => false,
            },
            Engine::Fancy(re) => bounded(re.is_match(text).map(Some)).unwrap_or(false),
        }
    }

    /// Group names in group-number order (index 0 is the whole match).
    pub fn group_names(&self) -> Vec<Option<String>> {
        match &self.engine {
            // Both builds have the same groups; "" picks the one at hand.
            Engine::Plain(p) => match p.pick("") {
                Some(Either::Ascii(re)) => {
                    re.capture_names().map(|n| n.map(str::to_string)).collect()
                }
                Some(Either::Unicode(re)) => {
                    re.capture_names().map(|n| n.map(str::to_string)).collect()
                }
                None => Vec::new(),
            },
            Engine::Fancy(re) => re.capture_names().map(|n| n.map(str::to_string)).collect(),
        }
    }
}

/// The outcome of translating one pattern.
#[derive(Debug, PartialEq, Eq)]
pub struct Translated {
    pub pattern: String,
    /// The pattern uses a construct only the backtracking engine has.
    pub fancy: bool,
}

/// Characters the `regex` crate treats as meta and so must stay escaped.
fn is_rust_meta(c: char) -> bool {
    matches!(
        c,
        '\\' | '.'
            | '+'
            | '*'
            | '?'
            | '('
            | ')'
            | '|'
            | '['
            | ']'
            | '{'
            | '}'
            | '^'
            | '$'
            | '#'
            | '&'
            | '-'
            | '~'
    )
}

fn push_literal(out: &mut String, c: char) {
    if is_rust_meta(c) {
        out.push('\\');
    }
    out.push(c);
}

struct Translator<'a> {
    src: &'a str,
    chars: Vec<char>,
    pos: usize,
    out: String,
    fancy: bool,
    dollar: Dollar,
    /// MULTILINE flag given at the start of the pattern.
    multiline: bool,
    /// Group names seen so far: Python refuses a name given twice.
    names: Vec<String>,
    /// Build a linear-time superset instead (see `relaxed`).
    relaxed: bool,
    /// Open groups; true for a conditional (relaxed mode closes it with `|)`).
    open: Vec<bool>,
    /// The last item was an anchor (`^`, `$`, `\A`, `\Z`, `\b`, `\B`),
    /// which Python refuses to repeat.
    after_anchor: bool,
}

/// True when every match of `py` (compiled without MULTILINE) starts at
/// the start of the searched text: it begins with `^`, has no top-level
/// `|` and no inline `m` flag. Conservative: false means "not known".
pub fn anchored_at_start(py: &str) -> bool {
    let Some(rest) = py.strip_prefix('^') else {
        return false;
    };
    let b = rest.as_bytes();
    let (mut depth, mut anchored) = (0usize, true);
    walk_outside_classes(rest, |i, c| {
        match c {
            b'(' => {
                depth += 1;
                let flags = b[i + 1..]
                    .strip_prefix(b"?")
                    .unwrap_or_default()
                    .iter()
                    .take_while(|c| c.is_ascii_alphabetic() || **c == b'-');
                anchored = !flags.clone().any(|c| *c == b'm');
            }
            b')' => depth = depth.saturating_sub(1),
            b'|' if depth == 0 => anchored = false,
            _ => {}
        }
        anchored
    });
    anchored
}

/// Walks the bytes of a Python pattern that are neither escaped nor inside
/// a character class, calling `f(index, byte)` until it returns false.
pub(crate) fn walk_outside_classes(py: &str, mut f: impl FnMut(usize, u8) -> bool) {
    let b = py.as_bytes();
    let (mut i, mut in_class) = (0, false);
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'[' if !in_class => {
                in_class = true;
                // `]` first in a class is a literal.
                if b.get(i + 1) == Some(&b'^') {
                    i += 1;
                }
                if b.get(i + 1) == Some(&b']') {
                    i += 1;
                }
            }
            b']' if in_class => in_class = false,
            c if !in_class && !f(i, c) => return,
            _ => {}
        }
        i += 1;
    }
}

/// A `regex`-crate pattern that matches wherever `py` could match inside
/// a longer text: anchors, word boundaries and look-around are dropped,
/// back-references become `.*`, conditionals an alternation of both arms.
/// The matcher runs all of a filter's relaxed failregexes as one
/// `RegexSet` to skip, in one linear pass, lines no failregex can match.
/// None when the pattern cannot be translated at all.
pub fn relaxed(py: &str) -> Option<String> {
    let mut t = Translator::new(py, Dollar::SingleLineBuffer, false, true);
    t.run().ok()?;
    Some(t.out)
}

/// Rewrites a Python pattern for the Rust engines (see the module header).
pub fn translate(py: &str, dollar: Dollar) -> Result<Translated, PyReError> {
    translate_with(py, dollar, false)
}

fn translate_with(py: &str, dollar: Dollar, multiline: bool) -> Result<Translated, PyReError> {
    let mut t = Translator::new(py, dollar, multiline, false);
    if multiline {
        t.out.push_str("(?m)");
    }
    t.run()?;
    Ok(Translated {
        pattern: t.out,
        fancy: t.fancy,
    })
}

impl<'a> Translator<'a> {
    fn new(src: &'a str, dollar: Dollar, multiline: bool, relaxed: bool) -> Translator<'a> {
        Translator {
            src,
            chars: src.chars().collect(),
            pos: 0,
            out: String::with_capacity(src.len() + 16),
            fancy: false,
            dollar,
            multiline,
            names: Vec::new(),
            relaxed,
            open: Vec::new(),
            after_anchor: false,
        }
    }

    fn unsupported(&self, construct: &str) -> PyReError {
        PyReError::Unsupported {
            pattern: self.src.to_string(),
            construct: construct.to_string(),
        }
    }

    fn invalid(&self, reason: &str) -> PyReError {
        PyReError::Invalid {
            pattern: self.src.to_string(),
            reason: format!("{reason} at position {}", self.pos),
        }
    }

    fn peek(&self, off: usize) -> Option<char> {
        self.chars.get(self.pos + off).copied()
    }

    fn starts_with(&self, s: &str) -> bool {
        (self.pos..)
            .zip(s.chars())
            .all(|(i, c)| self.chars.get(i) == Some(&c))
    }

    fn run(&mut self) -> Result<(), PyReError> {
        while let Some(c) = self.peek(0) {
            let after_anchor = std::mem::take(&mut self.after_anchor);
            match c {
                '\\' => self.escape(false)?,
                '[' => self.class()?,
                '(' => self.group()?,
                ')' => {
                    self.pos += 1;
                    let conditional = self.open.pop().unwrap_or(false);
                    self.out.push_str(if conditional && self.relaxed {
                        "|)"
                    } else {
                        ")"
                    });
                }
                '^' => {
                    if !self.relaxed {
                        self.out.push('^');
                    }
                    self.pos += 1;
                    self.after_anchor = true;
                }
                '$' if self.relaxed => {
                    self.pos += 1;
                    self.after_anchor = true;
                }
                '{' => self.brace(after_anchor)?,
                '}' => {
                    self.out.push_str("\\}");
                    self.pos += 1;
                }
                '$' => {
                    self.pos += 1;
                    self.after_anchor = true;
                    if self.multiline {
                        self.out.push_str("(?m:$)");
                    } else {
                        match self.dollar {
                            Dollar::SingleLineBuffer => self.out.push_str("(?m:$)"),
                            Dollar::Exact => {
                                self.out.push_str("(?=\\n?\\z)");
                                self.fancy = true;
                            }
                        }
                    }
                }
                '*' | '+' | '?' if after_anchor => return Err(self.invalid("nothing to repeat")),
                '*' | '+' | '?' => {
                    self.out.push(c);
                    self.pos += 1;
                    self.quantifier_suffix();
                }
                '#' | '&' | '-' | '~' => {
                    self.out.push('\\');
                    self.out.push(c);
                    self.pos += 1;
                }
                _ => {
                    self.out.push(c);
                    self.pos += 1;
                }
            }
        }
        Ok(())
    }

    /// Lazy `?` passes through; a possessive `+` needs the backtracking engine.
    fn quantifier_suffix(&mut self) {
        match self.peek(0) {
            Some('?') => {
                self.out.push('?');
                self.pos += 1;
            }
            Some('+') => {
                if !self.relaxed {
                    self.out.push('+');
                }
                self.pos += 1;
                self.fancy = true;
            }
            _ => {}
        }
    }

    /// `{m,n}` when it is a quantifier for Python, else a literal brace.
    /// `after_anchor`: what precedes cannot be repeated.
    fn brace(&mut self, after_anchor: bool) -> Result<(), PyReError> {
        let rest: String = self.chars[self.pos..].iter().take(24).collect();
        let bytes = rest.as_bytes();
        let mut i = 1;
        let lo_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let lo = &rest[lo_start..i];
        let mut hi: Option<&str> = None;
        if i < bytes.len() && bytes[i] == b',' {
            i += 1;
            let hi_start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            hi = Some(&rest[hi_start..i]);
        }
        let closed = i < bytes.len() && bytes[i] == b'}';
        let valid = closed && (!lo.is_empty() || hi.is_some_and(|h| !h.is_empty()));
        if !valid {
            self.out.push_str("\\{");
            self.pos += 1;
            return Ok(());
        }
        if after_anchor {
            return Err(self.invalid("nothing to repeat"));
        }
        let lo = if lo.is_empty() { "0" } else { lo };
        match hi {
            None => self.out.push_str(&format!("{{{lo}}}")),
            Some("") => self.out.push_str(&format!("{{{lo},}}")),
            Some(h) => self.out.push_str(&format!("{{{lo},{h}}}")),
        }
        self.pos += i + 1;
        self.quantifier_suffix();
        Ok(())
    }

    fn escape(&mut self, in_class: bool) -> Result<(), PyReError> {
        let Some(c) = self.peek(1) else {
            return Err(self.invalid("bad escape (end of pattern)"));
        };
        self.pos += 2;
        self.after_anchor = !in_class && matches!(c, 'A' | 'b' | 'B' | 'Z');
        match c {
            // Anchors and boundaries only narrow matches.
            'A' | 'b' | 'B' | 'Z' if !in_class && self.relaxed => {}
            'd' | 'D' | 's' | 'S' | 'w' | 'W' | 'n' | 't' | 'r' | 'f' | 'v' => {
                self.out.push('\\');
                self.out.push(c);
            }
            'b' if in_class => self.out.push_str("\\x08"),
            'A' | 'b' | 'B' if !in_class => {
                self.out.push('\\');
                self.out.push(c);
            }
            'Z' if !in_class => self.out.push_str("\\z"),
            'a' => self.out.push_str("\\x07"),
            'x' => {
                let h: String = self.chars[self.pos..].iter().take(2).collect();
                if h.len() != 2 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(self.invalid("incomplete escape \\x"));
                }
                self.out.push_str("\\x");
                self.out.push_str(&h);
                self.pos += 2;
            }
            'u' | 'U' => {
                let n = if c == 'u' { 4 } else { 8 };
                let h: String = self.chars[self.pos..].iter().take(n).collect();
                if h.chars().count() != n || !h.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(self.invalid("incomplete escape \\u"));
                }
                self.out.push_str(&format!("\\x{{{h}}}"));
                self.pos += n;
            }
            '0' => {
                // Octal escape: up to two more octal digits.
                let mut v = 0u32;
                let mut n = 0;
                while n < 2 && self.peek(0).is_some_and(|d| ('0'..='7').contains(&d)) {
                    v = v * 8 + self.peek(0).and_then(|d| d.to_digit(8)).unwrap_or(0);
                    self.pos += 1;
                    n += 1;
                }
                self.out.push_str(&format!("\\x{{{v:x}}}"));
            }
            '1'..='9' if !in_class => {
                let mut num = String::from(c);
                if let Some(d) = self.peek(0).filter(char::is_ascii_digit) {
                    num.push(d);
                    self.pos += 1;
                }
                if self.relaxed {
                    self.out.push_str("(?s:.*)");
                } else {
                    self.out.push('\\');
                    self.out.push_str(&num);
                }
                self.fancy = true;
            }
            c if c.is_ascii_alphanumeric() => {
                return Err(self.invalid(&format!("bad escape \\{c}")));
            }
            c => push_literal(&mut self.out, c),
        }
        Ok(())
    }

    fn class(&mut self) -> Result<(), PyReError> {
        self.pos += 1;
        self.out.push('[');
        if self.peek(0) == Some('^') {
            self.out.push('^');
            self.pos += 1;
        }
        // A `]` first in the class is a literal in Python.
        let mut first = true;
        // Whether the last output item can start a range.
        let mut prev_atom = false;
        loop {
            let Some(c) = self.peek(0) else {
                return Err(self.invalid("unterminated character set"));
            };
            match c {
                ']' if !first => {
                    self.out.push(']');
                    self.pos += 1;
                    return Ok(());
                }
                '\\' => {
                    let next = self.peek(1);
                    self.escape(true)?;
                    prev_atom = !matches!(next, Some('d' | 'D' | 's' | 'S' | 'w' | 'W'));
                }
                '-' => {
                    let next = self.peek(1);
                    self.pos += 1;
                    if prev_atom && next.is_some_and(|n| n != ']') {
                        self.out.push('-');
                        prev_atom = false;
                        // the range end
                        if self.peek(0) == Some('\\') {
                            self.escape(true)?;
                        } else if let Some(e) = self.peek(0) {
                            push_literal(&mut self.out, e);
                            self.pos += 1;
                        }
                        continue;
                    }
                    self.out.push_str("\\-");
                    prev_atom = true;
                }
                _ => {
                    push_literal(&mut self.out, c);
                    self.pos += 1;
                    prev_atom = true;
                }
            }
            first = false;
        }
    }

    fn group(&mut self) -> Result<(), PyReError> {
        let conditional = self.starts_with("(?(");
        let lookaround = ["(?=", "(?!", "(?<=", "(?<!"]
            .iter()
            .any(|p| self.starts_with(p));
        if self.relaxed && lookaround {
            // An assertion only narrows matches: leave it out.
            return self.skip_group();
        }
        let before = self.out.len();
        self.group_open()?;
        // Back-references, comments and global flags end in their own `)`;
        // a conditional's `(?(name)` does too, but its group stays open.
        let self_closed = !conditional && self.pos > 0 && self.chars[self.pos - 1] == ')';
        if !self_closed {
            self.open.push(conditional);
        }
        if self.relaxed {
            if conditional {
                self.out.truncate(before);
                self.out.push_str("(?:");
            } else if self.out[before..].starts_with("(?>") {
                self.out.replace_range(before..before + 3, "(?:");
            } else if self.out[before..].starts_with("\\k<") {
                self.out.truncate(before);
                self.out.push_str("(?s:.*)");
            }
        }
        Ok(())
    }

    /// Skips a whole group, nested groups and classes included.
    fn skip_group(&mut self) -> Result<(), PyReError> {
        let mut depth = 0usize;
        while let Some(c) = self.peek(0) {
            match c {
                '\\' => self.pos += 1,
                '[' => {
                    // Skip the class; `]` right after `[` or `[^` is literal.
                    self.pos += 1;
                    if self.peek(0) == Some('^') {
                        self.pos += 1;
                    }
                    if self.peek(0) == Some(']') {
                        self.pos += 1;
                    }
                    while let Some(d) = self.peek(0) {
                        if d == '\\' {
                            self.pos += 1;
                        } else if d == ']' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                '(' => depth += 1,
                ')' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        self.pos += 1;
                        self.out.push_str("(?:)");
                        return Ok(());
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        Err(self.invalid("missing ), unterminated subpattern"))
    }

    fn group_open(&mut self) -> Result<(), PyReError> {
        if self.peek(1) != Some('?') {
            self.out.push('(');
            self.pos += 1;
            return Ok(());
        }
        if self.starts_with("(?P<") {
            let end = self.find_from(self.pos + 4, '>')?;
            let name: String = self.chars[self.pos + 4..end].iter().collect();
            if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                return Err(self.invalid(&format!("bad character in group name '{name}'")));
            }
            if self.names.contains(&name) {
                return Err(self.invalid(&format!("redefinition of group name '{name}'")));
            }
            self.names.push(name.clone());
            self.out.push_str("(?P<");
            self.out.push_str(&name);
            self.out.push('>');
            self.pos = end + 1;
            return Ok(());
        }
        if self.starts_with("(?P=") {
            let end = self.find_from(self.pos + 4, ')')?;
            let name: String = self.chars[self.pos + 4..end].iter().collect();
            self.out.push_str(&format!("\\k<{name}>"));
            self.pos = end + 1;
            self.fancy = true;
            return Ok(());
        }
        for (py, fancy) in [
            ("(?:", false),
            ("(?=", true),
            ("(?!", true),
            ("(?<=", true),
            ("(?<!", true),
            ("(?>", true),
        ] {
            if self.starts_with(py) {
                self.out.push_str(py);
                self.pos += py.chars().count();
                self.fancy |= fancy;
                return Ok(());
            }
        }
        if self.starts_with("(?#") {
            let end = self.find_from(self.pos + 3, ')')?;
            self.pos = end + 1;
            return Ok(());
        }
        if self.starts_with("(?(") {
            let end = self.find_from(self.pos + 3, ')')?;
            let cond: String = self.chars[self.pos + 3..end].iter().collect();
            if cond.chars().all(|c| c.is_ascii_digit()) && !cond.is_empty() {
                self.out.push_str(&format!("(?({cond})"));
            } else if !cond.is_empty() && cond.chars().all(|c| c.is_alphanumeric() || c == '_') {
                self.out.push_str(&format!("(?(<{cond}>)"));
            } else {
                return Err(self.invalid(&format!("bad group name '{cond}' in conditional")));
            }
            self.pos = end + 1;
            self.fancy = true;
            return Ok(());
        }
        self.flags()
    }

    /// `(?flags)` at the start of the pattern, or scoped `(?flags-flags:...)`.
    fn flags(&mut self) -> Result<(), PyReError> {
        let start = self.pos;
        let mut i = self.pos + 2;
        let mut on = String::new();
        let mut off = String::new();
        let mut negate = false;
        loop {
            let Some(c) = self.chars.get(i).copied() else {
                return Err(self.invalid("missing ), unterminated flags"));
            };
            match c {
                'i' | 'm' | 's' | 'x' | 'a' | 'u' | 'L' => {
                    if negate {
                        off.push(c)
                    } else {
                        on.push(c)
                    }
                }
                '-' => negate = true,
                ':' | ')' => break,
                _ => return Err(self.invalid(&format!("unknown extension ?{c}"))),
            }
            i += 1;
        }
        let scoped = self.chars[i] == ':';
        for f in on.chars().chain(off.chars()) {
            match f {
                'a' => return Err(self.unsupported("(?a) (ASCII-only classes)")),
                'L' => return Err(self.unsupported("(?L) (locale-dependent classes)")),
                'x' => return Err(self.unsupported("(?x) (verbose mode)")),
                _ => {}
            }
        }
        let keep = |s: &str| s.chars().filter(|c| *c != 'u').collect::<String>();
        let (on, off) = (keep(&on), keep(&off));
        if !scoped {
            // Python 3.11 only accepts global flags at the very start.
            if start != 0 {
                return Err(self.invalid("global flags not at the start of the expression"));
            }
            if on.contains('m') {
                self.multiline = true;
            }
            if !on.is_empty() {
                self.out.push_str(&format!("(?{on})"));
            }
            self.pos = i + 1;
            return Ok(());
        }
        let mut spec = on;
        if !off.is_empty() {
            spec.push('-');
            spec.push_str(&off);
        }
        if spec.is_empty() {
            self.out.push_str("(?:");
        } else {
            self.out.push_str(&format!("(?{spec}:"));
        }
        self.pos = i + 1;
        Ok(())
    }

    fn find_from(&self, from: usize, needle: char) -> Result<usize, PyReError> {
        self.chars[from.min(self.chars.len())..]
            .iter()
            .position(|c| *c == needle)
            .map(|p| p + from)
            .ok_or_else(|| self.invalid(&format!("missing {needle}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr(p: &str) -> String {
        translate(p, Dollar::SingleLineBuffer).unwrap().pattern
    }

    fn search(p: &str, text: &str) -> Option<String> {
        let re = PyRegex::new(p).unwrap();
        re.captures(text)
            .and_then(|c| c.text(0).map(str::to_string))
    }

    #[test]
    fn repeated_anchors_are_refused_as_python_does() {
        // Python: "nothing to repeat". Found by fuzzing: `^?x` was taken
        // as anchored at the start while it also matches elsewhere.
        for p in [r"^?x", r"^*", r"a$+", r"\b?x", r"\A{2}", r"x|\Z??", r"(^?)"] {
            assert!(translate(p, Dollar::Exact).is_err(), "{p}");
            assert!(
                relaxed(p)
                    .and_then(|r| regex::Regex::new(&r).ok())
                    .is_none(),
                "{p}"
            );
        }
        for p in [r"(?:^)?x", r"^{x}", r"^\??", r"[\b]?", r"\\b?"] {
            assert!(translate(p, Dollar::Exact).is_ok(), "{p}");
        }
    }

    #[test]
    fn plain_patterns_stay_linear() {
        let t = translate(
            r"^Failed (?P<user>\S+) from \d{1,3}$",
            Dollar::SingleLineBuffer,
        )
        .unwrap();
        assert!(!t.fancy);
        assert_eq!(t.pattern, r"^Failed (?P<user>\S+) from \d{1,3}(?m:$)");
    }

    #[test]
    fn dollar_matches_before_final_newline_only() {
        assert_eq!(search("a$", "a\n").as_deref(), Some("a"));
        assert_eq!(search("a$", "a\nb\n"), None);
        assert_eq!(search("a$", "a"), Some("a".into()));
        let single = PyRegex::with_dollar("a$", Dollar::SingleLineBuffer).unwrap();
        assert!(single.is_match("xa\n"));
        assert!(!single.is_match("ax\n"));
    }

    #[test]
    fn literal_braces_and_classes() {
        assert_eq!(tr("a{b}"), r"a\{b\}");
        assert_eq!(tr("a{,3}"), "a{0,3}");
        assert_eq!(tr("a{2,}?"), "a{2,}?");
        assert_eq!(tr(r"[[\]]"), r"[\[\]]");
        assert_eq!(tr("[]a]"), r"[\]a]");
        assert_eq!(tr("[a-z&&-]"), r"[a-z\&\&\-]");
        assert_eq!(tr(r"[\w.-]"), r"[\w\.\-]");
        assert_eq!(tr(r"\<x\>"), "<x>");
        assert!(search(r"[\[\(]?x", "(x").is_some());
    }

    #[test]
    fn backtracking_features() {
        assert_eq!(
            search(r"(?P<a>x)?y(?(a)z|w)", "xyz").as_deref(),
            Some("xyz")
        );
        assert_eq!(search(r"(?P<a>x)?y(?(a)z|w)", "yw").as_deref(), Some("yw"));
        assert_eq!(search(r"(?P<q>['])a(?P=q)", "'a'").as_deref(), Some("'a'"));
        assert_eq!(search(r"(?<=a)b", "ab").as_deref(), Some("b"));
        assert_eq!(search(r"b(?! from )", "b from ").as_deref(), None);
        assert_eq!(search(r"x\Z", "x\n"), None);
    }

    #[test]
    fn flags() {
        assert_eq!(search("(?i)abc", "ABC").as_deref(), Some("ABC"));
        assert_eq!(search("a(?i:b)c", "aBc").as_deref(), Some("aBc"));
        assert!(PyRegex::new("a(?i)b").is_err());
        assert!(matches!(
            PyRegex::new("(?x)a b"),
            Err(PyReError::Unsupported { .. })
        ));
        assert!(PyRegex::new(r"\q").is_err());
        assert!(PyRegex::new(r"(?P<a>x)(?<=y)(?P<a>z)").is_err());
        assert!(PyRegex::new("(").is_err());
    }

    #[test]
    fn anchored_patterns_are_recognised() {
        assert!(anchored_at_start(r"^Failed (?:a|b) for (?P<user>\S+)"));
        assert!(anchored_at_start(r"^x[|(]y(?(g)a|b)"));
        assert!(!anchored_at_start(r"^a|b"));
        assert!(!anchored_at_start(r"a^b"));
        assert!(!anchored_at_start(r"^a(?m)b"));
        assert!(!anchored_at_start(r"^a(?im:b)"));
        assert!(!anchored_at_start(r"^a\(|b\)"));
        assert!(anchored_at_start(r"^a(?:\(|\))b"));
        assert!(!anchored_at_start(r"^a\\|b"));
    }

    #[test]
    fn relaxed_is_a_linear_superset() {
        let cases = [
            (r"^Failed (?P<u>\S+)(?! from ) x$", "Failed bob x"),
            (r"(?P<a>x)?y(?(a)z|w)$", "yz"),
            (r"(?P<a>x)?y(?(a)z)$", "y"),
            (r"(?P<q>['])a(?P=q)", "'a'"),
            (r"\bword\b(?<=d)", "aword"),
            (r"(?>a+)b", "aab"),
        ];
        for (p, text) in cases {
            let r = relaxed(p).unwrap();
            let re = regex::Regex::new(&r).unwrap_or_else(|e| panic!("{p} -> {r}: {e}"));
            assert!(re.is_match(text), "{p} -> {r} should match {text:?}");
        }
        assert!(
            !regex::Regex::new(&relaxed("^abc$").unwrap())
                .unwrap()
                .is_match("abd")
        );
    }

    #[test]
    fn runaway_backtracking_is_bounded() {
        let re = PyRegex::new(r"^(a+)+(?=b)").unwrap();
        let text = "a".repeat(40);
        assert!(re.captures(&text).is_none());
    }
}
