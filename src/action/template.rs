//! Action commands from their templates, with log-derived values kept out
//! of the shell text.
//!
//! An action.d command such as `echo "<F-USER> from <ip>" >> <logpath>` is
//! filled in two steps, as fail2ban does:
//! - **static** tags (`<port>`, `<chain>`, `<name>`, other options of the
//!   action) are replaced by their text, recursively, with the
//!   `name?family=inet6` variants for IPv6 addresses;
//! - **dynamic** tags describe the ban (`<ip>`, `<failures>`, `<matches>`,
//!   `<F-USER>` ...). Values the program made itself (numbers, an address
//!   in canonical form) are put in as text. Every value that came from a
//!   log line is **never** put in the text: the tag becomes a reference to
//!   an environment variable (`"${f2bV_F_USER}"`, quoted as its place in
//!   the command needs), and the value travels in the environment of
//!   `/bin/sh`. A user name like `$(touch /tmp/x)` stays a string.

use std::collections::HashSet;

use crate::config::omap::OrderedMap;
use crate::config::tags::{find_tag, substitute_recursive_tags};

/// fail2ban's extra tags, usable in any command.
fn extra_tag(tag: &str) -> Option<&'static str> {
    match tag {
        "br" => Some("\n"),
        "sp" => Some(" "),
        _ => None,
    }
}

/// Tags whose values hold log lines (left for the dynamic step).
pub const LOG_TAGS: [&str; 3] = ["matches", "ipmatches", "ipjailmatches"];

/// fail2ban's limit on repeated substitution passes.
const MAX_PASSES: usize = 26;

#[derive(Debug, Clone, PartialEq)]
pub enum TemplateError {
    /// The options refer to each other in a loop.
    Recursive { command: String },
    /// A problem in the options' own tags (reported by the config layer).
    Config(String),
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TemplateError::Recursive { command } => write!(
                f,
                "unexpected too long replacement interpolation, possible self referencing definitions in query: {command}"
            ),
            TemplateError::Config(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for TemplateError {}

/// fail2ban's `replaceTag` on the action's options: `command` with every
/// option tag replaced; `conditional` (`family=inet6`) prefers the
/// `tag?family=inet6` variant. Unknown tags stay for the dynamic step.
pub fn fill_static(
    command: &str,
    props: &OrderedMap<String>,
    conditional: &str,
) -> Result<String, TemplateError> {
    if !command.contains('<') {
        return Ok(command.to_string());
    }
    let ignore: HashSet<String> = LOG_TAGS.iter().map(|t| t.to_string()).collect();
    let sub = substitute_recursive_tags(props, conditional, &ignore, |_| Ok(None))
        .map_err(|e| TemplateError::Config(e.to_string()))?;
    let value_of = |tag: &str| -> Option<String> {
        if !conditional.is_empty()
            && let Some(v) = sub.get(&format!("{tag}?{conditional}"))
        {
            return Some(v.clone());
        }
        sub.get(tag)
            .cloned()
            .or_else(|| extra_tag(tag).map(str::to_string))
    };
    let mut query = command.to_string();
    for _ in 0..MAX_PASSES {
        let value = replace_tags(&query, |tag| value_of(tag));
        if value == query || !value.contains('<') {
            return Ok(value);
        }
        query = value;
    }
    Err(TemplateError::Recursive { command: query })
}

/// `<tag>`s in plain text (no shell) replaced by `value`; `None` keeps
/// the tag. For option values that are no commands (mail addresses).
pub fn fill_text(text: &str, value: impl FnMut(&str) -> Option<String>) -> String {
    replace_tags(text, value)
}

/// One pass of `<tag>` replacement; `None` keeps the tag.
fn replace_tags(text: &str, mut value: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some((start, end, name)) = find_tag(text, at) {
        out.push_str(&text[at..start]);
        match value(name) {
            Some(v) => out.push_str(&v),
            None => out.push_str(&text[start..end]),
        }
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

/// A dynamic value and whether it may appear in shell text.
#[derive(Clone, Debug, PartialEq)]
pub enum Dynamic {
    /// Made by the program (a number, a canonical address): put in as is.
    Trusted(String),
    /// From a log line: passed in the environment only.
    Untrusted(String),
}

/// A command ready for `/bin/sh -c`, with the environment it needs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShellCommand {
    pub script: String,
    pub env: Vec<(String, String)>,
}

/// Where a position in shell text stands with respect to quoting.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Quote {
    None,
    Single,
    Double,
}

/// The quoting state at each tag start, scanning `sh` syntax: `'...'`,
/// `"..."` and backslash escapes.
fn quote_at(text: &str, pos: usize) -> Quote {
    let mut q = Quote::None;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if i >= pos {
            break;
        }
        if escaped {
            escaped = false;
            continue;
        }
        match (q, c) {
            (Quote::None | Quote::Double, '\\') => escaped = true,
            (Quote::None, '\'') => q = Quote::Single,
            (Quote::Single, '\'') => q = Quote::None,
            (Quote::None, '"') => q = Quote::Double,
            (Quote::Double, '"') => q = Quote::None,
            _ => {}
        }
    }
    q
}

/// The variable a tag's value travels in (fail2ban's `f2bV_` names).
fn var_name(tag: &str) -> String {
    let safe: String = tag
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("f2bV_{safe}")
}

/// A reference to `var` that the shell expands to exactly its value.
fn reference(var: &str, q: Quote) -> String {
    match q {
        Quote::None => format!("\"${{{var}}}\""),
        Quote::Double => format!("${{{var}}}"),
        // Close the single quotes, expand in double quotes, reopen.
        Quote::Single => format!("'\"${{{var}}}\"'"),
    }
}

/// fail2ban's `replaceDynamicTags`, made safe: `<tag>` and `<F-NAME>`
/// looked up with `value`, untrusted values moved to the environment.
/// Unknown `<F-NAME>` tags become empty; other unknown tags stay.
pub fn fill_dynamic(command: &str, mut value: impl FnMut(&str) -> Option<Dynamic>) -> ShellCommand {
    let mut out = ShellCommand::default();
    let mut script = String::with_capacity(command.len());
    let mut at = 0;
    while let Some((start, end, name)) = find_tag(command, at) {
        script.push_str(&command[at..start]);
        let v = value(name).or_else(|| extra_tag(name).map(|t| Dynamic::Trusted(t.to_string())));
        match v {
            Some(Dynamic::Trusted(t)) => script.push_str(&t),
            Some(Dynamic::Untrusted(t)) => {
                let var = var_name(name);
                let q = quote_at(command, start);
                script.push_str(&reference(&var, q));
                if !out.env.iter().any(|(k, _)| *k == var) {
                    out.env.push((var, t));
                }
            }
            None if name.starts_with("F-") => {}
            None => script.push_str(&command[start..end]),
        }
        at = end;
    }
    script.push_str(&command[at..]);
    out.script = script;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> OrderedMap<String> {
        pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
    }

    #[test]
    fn static_tags_resolve_recursively_with_family_variants() {
        let p = props(&[
            (
                "actionban",
                "<iptables> -I f2b-<name> 1 -s <ip> -j <blocktype>",
            ),
            ("name", "sshd"),
            ("iptables", "iptables <lockingopt>"),
            ("iptables?family=inet6", "ip6tables <lockingopt>"),
            ("lockingopt", "-w"),
            ("blocktype", "REJECT"),
        ]);
        let cmd = p.get("actionban").expect("set");
        assert_eq!(
            fill_static(cmd, &p, "").expect("fills"),
            "iptables -w -I f2b-sshd 1 -s <ip> -j REJECT"
        );
        assert_eq!(
            fill_static(cmd, &p, "family=inet6").expect("fills"),
            "ip6tables -w -I f2b-sshd 1 -s <ip> -j REJECT"
        );
        assert_eq!(fill_static("a<br>b", &p, "").expect("fills"), "a\nb");
    }

    #[test]
    fn log_values_never_become_shell_text() {
        let hostile = [
            "$(touch${IFS}/tmp/x)",
            "`touch /tmp/x`",
            "';touch /tmp/x;'",
            "\";touch /tmp/x;\"",
            "a\nb",
        ];
        for h in hostile {
            let c = fill_dynamic(
                "echo <F-USER> \"<F-USER>\" '<F-USER>' <ip> <F-MISSING>",
                |t| match t {
                    "F-USER" => Some(Dynamic::Untrusted(h.to_string())),
                    "ip" => Some(Dynamic::Trusted("192.0.2.1".into())),
                    _ => None,
                },
            );
            assert!(!c.script.contains(h), "{h:?} spliced into {}", c.script);
            assert_eq!(
                c.script,
                "echo \"${f2bV_F_USER}\" \"${f2bV_F_USER}\" ''\"${f2bV_F_USER}\"'' 192.0.2.1 "
            );
            assert_eq!(c.env, [("f2bV_F_USER".to_string(), h.to_string())]);
        }
    }

    #[test]
    fn quoting_state_follows_sh() {
        let t = r#"a 'b"c' "d\"e'f" g\'h"#;
        assert_eq!(quote_at(t, t.find('c').expect("c")), Quote::Single);
        assert_eq!(quote_at(t, t.find('f').expect("f")), Quote::Double);
        assert_eq!(quote_at(t, t.find('h').expect("h")), Quote::None);
    }

    #[test]
    fn self_reference_is_an_error() {
        let p = props(&[("a", "<b>x"), ("b", "<a>y")]);
        assert!(fill_static("<a>", &p, "").is_err());
    }
}
