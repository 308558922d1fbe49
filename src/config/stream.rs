//! The command stream a configuration turns into.
//!
//! fail2ban's client reads fail2ban.conf and the jails, and turns them into
//! a list of commands (`['set', 'sshd', 'maxretry', 5]`, `['start',
//! 'sshd']`) that the server applies one by one; `fail2ban-client -d`
//! prints that list. ferroban builds the same list: the server starts from
//! it, and `-d` prints it with Python's `repr`, so it can be compared with
//! fail2ban's own output line by line.

use crate::py::py_repr;

/// One value in a command, with the Python type fail2ban gives it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    None,
    List(Vec<Value>),
    /// A Python tuple (status replies are lists of pairs).
    Tuple(Vec<Value>),
    /// A Python dict, in insertion order.
    Dict(Vec<(Value, Value)>),
}

impl Value {
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    /// The text of a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Python's `repr()`.
    pub fn repr(&self) -> String {
        match self {
            Value::Str(s) => py_repr(s),
            Value::Int(i) => i.to_string(),
            Value::Bool(true) => "True".into(),
            Value::Bool(false) => "False".into(),
            Value::None => "None".into(),
            Value::List(items) => {
                let inner: Vec<String> = items.iter().map(Value::repr).collect();
                format!("[{}]", inner.join(", "))
            }
            Value::Tuple(items) => {
                let inner: Vec<String> = items.iter().map(Value::repr).collect();
                match inner.len() {
                    1 => format!("({},)", inner[0]),
                    _ => format!("({})", inner.join(", ")),
                }
            }
            Value::Dict(pairs) => {
                let inner: Vec<String> = pairs
                    .iter()
                    .map(|(k, v)| format!("{}: {}", k.repr(), v.repr()))
                    .collect();
                format!("{{{}}}", inner.join(", "))
            }
        }
    }

    /// Python's `str()`: strings as they are, everything else as `repr`.
    pub fn text(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            other => other.repr(),
        }
    }
}

/// One command: `['set', 'sshd', 'bantime', '10m']`.
pub type Command = Vec<Value>;

/// A command from its leading words and a final value.
pub fn cmd(words: &[&str], rest: impl IntoIterator<Item = Value>) -> Command {
    words.iter().map(|w| Value::str(*w)).chain(rest).collect()
}

/// A command as `fail2ban-client -d` prints it.
pub fn repr(c: &Command) -> String {
    Value::List(c.clone()).repr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_python() {
        let c = cmd(
            &["multi-set", "sshd", "action", "x"],
            [Value::List(vec![Value::List(vec![
                Value::str("actionban"),
                Value::str("echo 'a' \\ b"),
            ])])],
        );
        assert_eq!(
            repr(&c),
            r#"['multi-set', 'sshd', 'action', 'x', [['actionban', "echo 'a' \\ b"]]]"#
        );
        assert_eq!(
            repr(&cmd(&["set", "j", "maxretry"], [Value::Int(5)])),
            "['set', 'j', 'maxretry', 5]"
        );
        assert_eq!(
            Value::List(vec![Value::Bool(true), Value::None]).repr(),
            "[True, None]"
        );
        let banned = Value::List(vec![Value::Dict(vec![(
            Value::str("sshd"),
            Value::List(vec![Value::str("192.0.2.1")]),
        )])]);
        assert_eq!(banned.text(), "[{'sshd': ['192.0.2.1']}]");
        assert_eq!(Value::Tuple(vec![Value::Int(1)]).repr(), "(1,)");
    }
}
