//! fail2ban's INI syntax: one file's text to sections and raw values.
//!
//! fail2ban reads each file with Python's `ConfigParser` configured as
//! `ConfigParser(inline_comment_prefixes=";")` in strict mode, with
//! universal newlines. This module reproduces that parser line for line
//! and keeps the line number of every option so later errors can point
//! at it. Interpolation, includes and merging live elsewhere: this is
//! text in, raw values out.
//!
//! Why not the `configparser` crate (3.3) for this part: it parses
//! differently from Python in ways the stock files hit, and none of them
//! can be switched off with its settings:
//! - inline comments: it cuts a value at any `;` (or at none), while
//!   Python cuts only at a `;` that starts the line or follows
//!   whitespace. Stock `filter.d/sshd.conf` has `authentication
//!   failure;` inside a failregex, which the crate would truncate;
//! - an indented continuation line that starts with `[` (a shell test in
//!   an action, `[ -f x ] && ...`) becomes a new section in the crate,
//!   while Python checks for continuation first;
//! - `[ name ]` is section ` name ` in Python, the crate trims it; `[]`
//!   is not a header in Python;
//! - it accepts an option line without `=`/`:`, options before the first
//!   section, and duplicate sections/options, all of which Python
//!   rejects;
//! - it has no line numbers for error messages.
//!
//! The test `configparser_crate_still_diverges` below pins these cases:
//! if the crate ever matches Python there, this module could delegate.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use super::error::{ConfigError, Location, SyntaxProblem};
use super::omap::OrderedMap;
use crate::py;

/// The section name Python routes to the defaults instead of a section.
pub const DEFAULT_SECTION: &str = "DEFAULT";

/// Where a value was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub file: Option<Arc<Path>>,
    /// Line of the `name = value` line (1-based), not of continuations.
    pub line: usize,
}

impl Origin {
    pub fn location(&self) -> Location {
        Location::in_file(self.file.as_ref().map(|p| p.to_path_buf()), self.line)
    }
}

/// A raw (not yet interpolated) option value and where it came from;
/// `origin` is `None` for values a program put in (fail2ban's
/// `merge_defaults`, jail options handed to a filter).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    pub text: String,
    pub origin: Option<Origin>,
}

impl Value {
    pub fn synthetic(text: impl Into<String>) -> Self {
        Value {
            text: text.into(),
            origin: None,
        }
    }
}

pub type Options = OrderedMap<Value>;

/// One parsed file: `[DEFAULT]` apart, other sections in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IniFile {
    pub defaults: Options,
    pub sections: OrderedMap<Options>,
}

/// Splits like Python's universal-newline text mode: `\r\n`, `\r` and
/// `\n` each end a line.
fn universal_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let s = rest?;
        match s.find(['\r', '\n']) {
            Some(i) => {
                let skip = if s[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&s[i + skip..]);
                Some(&s[..i])
            }
            None => {
                rest = None;
                // Python yields no empty line after a final newline.
                if s.is_empty() { None } else { Some(s) }
            }
        }
    })
}

/// Byte offset where an inline `;` comment starts: the first `;` at the
/// start of the line or right after whitespace.
fn inline_comment_start(line: &str) -> Option<usize> {
    let mut prev: Option<char> = None;
    for (i, c) in line.char_indices() {
        if c == ';' && prev.is_none_or(py::is_space) {
            return Some(i);
        }
        prev = Some(c);
    }
    None
}

/// `[name]` per Python's `\[(?P<header>.+)\]` matched at the start of
/// the stripped line: the name runs to the last `]` and must not be empty.
fn section_header(value: &str) -> Option<&str> {
    let inner = value.strip_prefix('[')?;
    let close = inner.rfind(']')?;
    if close == 0 {
        return None;
    }
    Some(&inner[..close])
}

/// `name = value` / `name: value` split at the first delimiter; the name
/// is right-stripped and lower-cased by the caller.
fn option_line(value: &str) -> Option<(&str, &str)> {
    let i = value.find(['=', ':'])?;
    Some((py::rstrip(&value[..i]), py::strip(&value[i + 1..])))
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Target {
    Defaults,
    Section(String),
}

struct Pending {
    pieces: Vec<String>,
    line: usize,
}

/// Parses one file's text as fail2ban's `ConfigParser` does. `file` is
/// only used for positions in values and errors.
pub fn parse(text: &str, file: Option<&Path>) -> Result<IniFile, ConfigError> {
    let file: Option<Arc<Path>> = file.map(Arc::from);
    let err = |line: usize, section: Option<&str>, problem: SyntaxProblem| {
        let mut at = Location::in_file(file.as_ref().map(|p| p.to_path_buf()), line);
        at.section = section.map(str::to_string);
        ConfigError::Syntax {
            at: Box::new(at),
            problem,
        }
    };

    let mut defaults: OrderedMap<Pending> = OrderedMap::new();
    let mut sections: OrderedMap<OrderedMap<Pending>> = OrderedMap::new();
    let mut sections_seen: HashSet<String> = HashSet::new();
    let mut options_seen: HashSet<(Target, String)> = HashSet::new();
    let mut cursect: Option<Target> = None;
    let mut optname: Option<String> = None;
    let mut indent_level = 0usize;

    for (lineno, line) in (1..).zip(universal_lines(text)) {
        let stripped_line = py::strip(line);
        let full_comment = stripped_line.starts_with('#') || stripped_line.starts_with(';');
        let comment_start = if full_comment {
            Some(0)
        } else {
            inline_comment_start(line)
        };
        let value = py::strip(&line[..comment_start.unwrap_or(line.len())]);

        if value.is_empty() {
            // A blank line inside a value is kept (empty_lines_in_values);
            // a comment-only line is not.
            if comment_start.is_none()
                && let (Some(target), Some(name)) = (&cursect, &optname)
            {
                let opts = match target {
                    Target::Defaults => &mut defaults,
                    Target::Section(s) => sections.entry_or_insert_with(s, OrderedMap::new),
                };
                if let Some(p) = opts.get_mut(name) {
                    p.pieces.push(String::new());
                }
            }
            continue;
        }

        let cur_indent = line.chars().take_while(|&c| py::is_space(c)).count();
        if let (Some(target), Some(name)) = (&cursect, &optname)
            && cur_indent > indent_level
        {
            let opts = match target {
                Target::Defaults => &mut defaults,
                Target::Section(s) => sections.entry_or_insert_with(s, OrderedMap::new),
            };
            if let Some(p) = opts.get_mut(name) {
                p.pieces.push(value.to_string());
            }
            continue;
        }

        indent_level = cur_indent;
        if let Some(name) = section_header(value) {
            if name == DEFAULT_SECTION {
                cursect = Some(Target::Defaults);
            } else {
                if !sections_seen.insert(name.to_string()) {
                    return Err(err(
                        lineno,
                        None,
                        SyntaxProblem::DuplicateSection {
                            section: name.to_string(),
                        },
                    ));
                }
                sections.entry_or_insert_with(name, OrderedMap::new);
                cursect = Some(Target::Section(name.to_string()));
            }
            optname = None;
            continue;
        }

        let Some(target) = &cursect else {
            return Err(err(
                lineno,
                None,
                SyntaxProblem::MissingSectionHeader {
                    text: line.to_string(),
                },
            ));
        };
        let section_name = match target {
            Target::Defaults => DEFAULT_SECTION,
            Target::Section(s) => s.as_str(),
        };
        let Some((name, val)) = option_line(value) else {
            return Err(err(
                lineno,
                Some(section_name),
                SyntaxProblem::NotAnOption {
                    text: line.to_string(),
                },
            ));
        };
        if name.is_empty() {
            return Err(err(
                lineno,
                Some(section_name),
                SyntaxProblem::EmptyOptionName {
                    text: line.to_string(),
                },
            ));
        }
        let name = py::lower(name);
        if !options_seen.insert((target.clone(), name.clone())) {
            return Err(err(
                lineno,
                Some(section_name),
                SyntaxProblem::DuplicateOption {
                    section: section_name.to_string(),
                    option: name,
                },
            ));
        }
        let opts = match target {
            Target::Defaults => &mut defaults,
            Target::Section(s) => sections.entry_or_insert_with(s, OrderedMap::new),
        };
        opts.insert(
            name.clone(),
            Pending {
                pieces: vec![val.to_string()],
                line: lineno,
            },
        );
        optname = Some(name);
    }

    let finish = |opts: &OrderedMap<Pending>| -> Options {
        opts.iter()
            .map(|(k, p)| {
                let text = py::rstrip(&p.pieces.join("\n")).to_string();
                let origin = Some(Origin {
                    file: file.clone(),
                    line: p.line,
                });
                (k, Value { text, origin })
            })
            .collect()
    };
    Ok(IniFile {
        defaults: finish(&defaults),
        sections: sections.iter().map(|(k, o)| (k, finish(o))).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<(String, String, String)> {
        let ini = parse(text, None).expect("parses");
        let mut out = Vec::new();
        for (k, v) in ini.defaults.iter() {
            out.push((DEFAULT_SECTION.to_string(), k.to_string(), v.text.clone()));
        }
        for (s, opts) in ini.sections.iter() {
            for (k, v) in opts.iter() {
                out.push((s.to_string(), k.to_string(), v.text.clone()));
            }
        }
        out
    }

    fn one(text: &str) -> String {
        let v = values(text);
        assert_eq!(v.len(), 1, "{v:?}");
        v[0].2.clone()
    }

    fn problem(text: &str) -> (usize, SyntaxProblem) {
        match parse(text, None) {
            Err(ConfigError::Syntax { at, problem }) => (at.line.unwrap_or(0), problem),
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    // Expected values below were printed by Python 3.11's ConfigParser
    // with inline_comment_prefixes=";" (the way fail2ban builds it).

    #[test]
    fn semicolon_is_a_comment_only_after_whitespace() {
        assert_eq!(one("[a]\nx = 1;2 ;c\n"), "1;2");
        assert_eq!(one("[a]\nx = 1 # h\n"), "1 # h");
        assert_eq!(one("[a] ; hi\nx=1\n"), "1");
    }

    #[test]
    fn continuation_wins_over_section_header() {
        assert_eq!(one("[a]\nx = v\n  [b]\n"), "v\n[b]");
    }

    #[test]
    fn blank_lines_inside_values_are_kept_trailing_ones_dropped() {
        let v = values("[a]\nx = a\n\n   b\n\n\ny=2\n");
        assert_eq!(v[0].2, "a\n\nb");
        assert_eq!(v[1].2, "2");
    }

    #[test]
    fn comment_lines_inside_values_vanish() {
        assert_eq!(one("[a]\nx = a\n   ; c\n   b\n"), "a\nb");
        assert_eq!(one("[a]\nx = a\n   #c\n   b\n"), "a\nb");
    }

    #[test]
    fn names_lowercased_colon_delimiter_and_empty_first_line() {
        assert_eq!(values("[a]\nX : 1\n")[0].1, "x");
        assert_eq!(one("[a]\nx=\n  a\n  b\n"), "\na\nb");
        assert_eq!(one("[a]\nx=1\n\t\ty\n"), "1\ny");
    }

    #[test]
    fn section_names_are_kept_verbatim() {
        assert_eq!(values("[ a ]\nx=1\n")[0].0, " a ");
        assert_eq!(values("[a]]\nx=1\n")[0].0, "a]");
        assert_eq!(
            values("[Definition?family=inet6]\nx=1\n")[0].0,
            "Definition?family=inet6"
        );
    }

    #[test]
    fn indented_options_after_a_header_are_options() {
        let v = values("[a]\n  y = 1\n  z = 2\n");
        assert_eq!(v.len(), 2);
    }

    #[test]
    fn universal_newlines() {
        assert_eq!(one("[a]\r\nx=1\r\n  2\r\n"), "1\n2");
        assert_eq!(one("[a]\rx=1\r  2\r"), "1\n2");
    }

    #[test]
    fn default_section_may_repeat() {
        let ini = parse("[DEFAULT]\na=1\n[DEFAULT]\nb=2\n", None).expect("parses");
        assert_eq!(ini.defaults.len(), 2);
        assert!(ini.sections.is_empty());
    }

    #[test]
    fn errors_match_python_strict_mode() {
        assert!(matches!(
            problem("x=1\n"),
            (1, SyntaxProblem::MissingSectionHeader { .. })
        ));
        assert!(matches!(
            problem("[]\nx=1\n"),
            (1, SyntaxProblem::MissingSectionHeader { .. })
        ));
        assert!(matches!(
            problem("[a]\nnovalue\n"),
            (2, SyntaxProblem::NotAnOption { .. })
        ));
        assert!(matches!(
            problem("[a]\nx=1\nX=2\n"),
            (3, SyntaxProblem::DuplicateOption { .. })
        ));
        assert!(matches!(
            problem("[a]\n[b]\n[a]\n"),
            (3, SyntaxProblem::DuplicateSection { .. })
        ));
        assert!(matches!(
            problem("[a]\n= v\n"),
            (2, SyntaxProblem::EmptyOptionName { .. })
        ));
        assert!(matches!(
            problem("[DEFAULT]\na=1\n[DEFAULT]\na=2\n"),
            (4, SyntaxProblem::DuplicateOption { .. })
        ));
    }

    #[test]
    fn error_display_names_file_and_line() {
        let e = parse("[a]\nx=1\nx=2\n", Some(Path::new("/etc/f.conf"))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/f.conf, line 3: [a]: option 'x' in section [a] already exists in this file"
        );
    }

    #[test]
    fn origin_line_is_the_option_line() {
        let ini = parse("[a]\n\nx = 1\n  2\ny=3\n", None).expect("parses");
        let a = ini.sections.get("a").expect("section");
        assert_eq!(
            a.get("x").and_then(|v| v.origin.as_ref()).map(|o| o.line),
            Some(3)
        );
        assert_eq!(
            a.get("y").and_then(|v| v.origin.as_ref()).map(|o| o.line),
            Some(5)
        );
    }

    #[test]
    fn bom_is_not_whitespace() {
        // Python opens config files as utf-8 (not utf-8-sig).
        assert!(matches!(
            problem("\u{feff}[a]\nx=1\n"),
            (1, SyntaxProblem::MissingSectionHeader { .. })
        ));
    }

    /// Documents why `parse` is ours (see the module comment); the crate's
    /// results are asserted as they are today.
    #[test]
    fn configparser_crate_still_diverges() {
        let crate_parse = |text: &str| {
            let mut ini = configparser::ini::Ini::new_cs();
            ini.set_multiline(true);
            ini.read(text.to_string())
        };
        // Python: "1;2"; the crate cuts at the first ';'.
        let m = crate_parse("[a]\nx = 1;2 ;c\n").expect("crate parses");
        assert_eq!(m["a"]["x"].as_deref(), Some("1"));
        // Python: "v\n[b]"; the crate opens section "b".
        let m = crate_parse("[a]\nx = v\n  [b]\n").expect("crate parses");
        assert!(m.contains_key("b"));
        // Python: a parsing error; the crate takes a value-less option.
        assert!(crate_parse("[a]\nnovalue\n").is_ok());
        // Python: section " a "; the crate trims.
        let m = crate_parse("[ a ]\nx=1\n").expect("crate parses");
        assert!(m.contains_key("a"));
    }
}
