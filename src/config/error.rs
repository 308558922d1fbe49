//! One error type for everything under `config`, with a position.
//!
//! A bad config is found by an administrator reading a log line, so every
//! error says where it is as precisely as we know: file, line, section,
//! option (`/etc/fail2ban/jail.local, line 12: [sshd] option 'bantime': …`).

use std::fmt;
use std::path::PathBuf;

/// Where a problem is; every part is optional because some errors (a
/// value built from several files, an option list given on a command
/// line) have no single source line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    pub section: Option<String>,
    pub option: Option<String>,
}

impl Location {
    pub fn in_file(file: Option<PathBuf>, line: usize) -> Self {
        Location {
            file,
            line: Some(line),
            ..Location::default()
        }
    }

    pub fn with_section(mut self, section: &str) -> Self {
        self.section = Some(section.to_string());
        self
    }

    /// The file, when the value's own origin does not say it.
    pub fn with_file(mut self, file: &std::path::Path) -> Self {
        self.file.get_or_insert_with(|| file.to_path_buf());
        self
    }

    pub fn with_option(mut self, option: &str) -> Self {
        self.option = Some(option.to_string());
        self
    }
}

/// Writes the location followed by `": "`, or nothing when it is empty,
/// so that messages read `<where>: <what>`.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut head = String::new();
        if let Some(file) = &self.file {
            head.push_str(&file.display().to_string());
        }
        if let Some(line) = self.line {
            if !head.is_empty() {
                head.push_str(", ");
            }
            head.push_str(&format!("line {line}"));
        }
        let mut what = String::new();
        if let Some(section) = &self.section {
            what.push_str(&format!("[{section}]"));
        }
        if let Some(option) = &self.option {
            if !what.is_empty() {
                what.push(' ');
            }
            what.push_str(&format!("option '{option}'"));
        }
        match (head.is_empty(), what.is_empty()) {
            (true, true) => Ok(()),
            (false, true) => write!(f, "{head}: "),
            (true, false) => write!(f, "{what}: "),
            (false, false) => write!(f, "{head}: {what}: "),
        }
    }
}

/// What is wrong with the INI text itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyntaxProblem {
    /// An option line before any `[section]`.
    MissingSectionHeader { text: String },
    /// A line that is neither a section header, an option, a comment
    /// nor a continuation.
    NotAnOption { text: String },
    /// `= value` with nothing before the delimiter.
    EmptyOptionName { text: String },
    /// The same `[section]` twice in one file (Python's strict mode).
    DuplicateSection { section: String },
    /// The same option twice in one section of one file.
    DuplicateOption { section: String, option: String },
}

/// What is wrong with a `%(name)s` reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InterpolationProblem {
    /// `%(name)s` names nothing in vars, the section or `[DEFAULT]`.
    MissingReference { name: String, raw: String },
    /// More than 10 nested references: Python's limit, which is also
    /// how a reference loop ends.
    TooDeep { raw: String },
    /// A `%` not followed by `%` or a complete `(name)s`.
    BadSyntax { rest: String },
}

#[derive(Debug)]
pub enum ConfigError {
    /// The configuration directory itself does not exist.
    BaseDirMissing { dir: PathBuf },
    /// No `name.conf`, `name.local` or `name.d/*` could be read.
    NotFound { name: String, dir: PathBuf },
    /// A filter given by name or path that resolves to no file.
    FilterNotFound { spec: String, dir: PathBuf },
    /// A file that exists but could not be read or decoded.
    Unreadable { path: PathBuf, reason: String },
    Syntax {
        at: Box<Location>,
        problem: SyntaxProblem,
    },
    Interpolation {
        at: Box<Location>,
        problem: InterpolationProblem,
    },
    /// `<tag>` substitution that refers back to itself.
    TagRecursion {
        at: Box<Location>,
        tag: String,
        found: String,
        value: String,
    },
    /// `name[opt=value, ...]` that fail2ban would refuse.
    OptionList {
        at: Box<Location>,
        text: String,
        problem: String,
    },
    /// A value of the wrong shape (`maxlines = 0`, unbalanced quotes in
    /// `journalmatch`, ...).
    BadValue { at: Box<Location>, problem: String },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::BaseDirMissing { dir } => write!(
                f,
                "base configuration directory {} does not exist",
                dir.display()
            ),
            ConfigError::NotFound { name, dir } => write!(
                f,
                "found no accessible config files for '{name}' under {}",
                dir.display()
            ),
            ConfigError::FilterNotFound { spec, dir } => write!(
                f,
                "filter '{spec}' not found (looked in {} and as a path)",
                dir.join("filter.d").display()
            ),
            ConfigError::Unreadable { path, reason } => {
                write!(f, "{}: cannot read: {reason}", path.display())
            }
            ConfigError::Syntax { at, problem } => {
                write!(f, "{at}")?;
                match problem {
                    SyntaxProblem::MissingSectionHeader { text } => {
                        write!(f, "option before any [section] header: {text:?}")
                    }
                    SyntaxProblem::NotAnOption { text } => write!(
                        f,
                        "not a section header, option or continuation line: {text:?}"
                    ),
                    SyntaxProblem::EmptyOptionName { text } => {
                        write!(f, "option without a name: {text:?}")
                    }
                    SyntaxProblem::DuplicateSection { section } => {
                        write!(f, "section [{section}] already exists in this file")
                    }
                    SyntaxProblem::DuplicateOption { section, option } => write!(
                        f,
                        "option '{option}' in section [{section}] already exists in this file"
                    ),
                }
            }
            ConfigError::Interpolation { at, problem } => {
                write!(f, "{at}")?;
                match problem {
                    InterpolationProblem::MissingReference { name, raw } => write!(
                        f,
                        "%({name})s refers to an option that does not exist (raw value: {raw:?})"
                    ),
                    InterpolationProblem::TooDeep { raw } => write!(
                        f,
                        "more than 10 nested %(...)s references, probably a loop (raw value: {raw:?})"
                    ),
                    InterpolationProblem::BadSyntax { rest } => write!(
                        f,
                        "'%' must be followed by '%' or '(name)s', found: {rest:?}"
                    ),
                }
            }
            ConfigError::TagRecursion {
                at,
                tag,
                found,
                value,
            } => write!(
                f,
                "{at}tag <{found}> in '{tag}' refers to itself or recurses too deep, value: {value:?}"
            ),
            ConfigError::OptionList { at, text, problem } => {
                write!(f, "{at}bad option list in {text:?}: {problem}")
            }
            ConfigError::BadValue { at, problem } => write!(f, "{at}{problem}"),
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_line_section_option() {
        let at = Location::in_file(Some("/etc/fail2ban/jail.local".into()), 12)
            .with_section("sshd")
            .with_option("bantime");
        let e = ConfigError::BadValue {
            at: Box::new(at),
            problem: "not a time".into(),
        };
        assert_eq!(
            e.to_string(),
            "/etc/fail2ban/jail.local, line 12: [sshd] option 'bantime': not a time"
        );
    }

    #[test]
    fn display_without_location_has_no_prefix() {
        let e = ConfigError::BadValue {
            at: Box::default(),
            problem: "x".into(),
        };
        assert_eq!(e.to_string(), "x");
    }
}
