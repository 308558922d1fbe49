//! POSIX shell-like word splitting, as Python's `shlex.split(s)`.
//!
//! fail2ban turns each `journalmatch` line into journal match arguments
//! with `shlex.split`, so quoting in a filter's journalmatch must be read
//! the same way.

const WHITESPACE: &[char] = &[' ', '\t', '\r', '\n'];

#[derive(Clone, Copy, PartialEq)]
enum State {
    Space,
    Word,
    Quote(char),
    Escape { back_to: Option<char> },
}

/// Splits `s` into words; `Err` with Python's message on an unclosed
/// quote or a trailing backslash.
pub fn split(s: &str) -> Result<Vec<String>, &'static str> {
    let mut words = Vec::new();
    let mut token = String::new();
    let mut quoted = false;
    let mut state = State::Space;
    for c in s.chars() {
        match state {
            State::Space | State::Word => {
                if WHITESPACE.contains(&c) {
                    if !token.is_empty() || quoted {
                        words.push(std::mem::take(&mut token));
                        quoted = false;
                    }
                    state = State::Space;
                } else if c == '\\' {
                    state = State::Escape { back_to: None };
                } else if c == '"' || c == '\'' {
                    state = State::Quote(c);
                } else {
                    token.push(c);
                    state = State::Word;
                }
            }
            State::Quote(q) => {
                quoted = true;
                if c == q {
                    state = State::Word;
                } else if c == '\\' && q == '"' {
                    state = State::Escape { back_to: Some(q) };
                } else {
                    token.push(c);
                }
            }
            State::Escape { back_to } => {
                // Inside double quotes a backslash only escapes `\` and `"`.
                if let Some(q) = back_to
                    && c != q
                    && c != '\\'
                {
                    token.push('\\');
                }
                token.push(c);
                state = match back_to {
                    Some(q) => State::Quote(q),
                    None => State::Word,
                };
            }
        }
    }
    match state {
        State::Quote(_) => Err("No closing quotation"),
        State::Escape { .. } => Err("No escaped character"),
        State::Space | State::Word => {
            if !token.is_empty() || quoted {
                words.push(token);
            }
            Ok(words)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        split(s).expect("splits")
    }

    // Expected results were printed by Python 3.11's shlex.split.

    #[test]
    fn like_python() {
        assert_eq!(
            words("_SYSTEMD_UNIT=sshd.service + _COMM=sshd"),
            vec!["_SYSTEMD_UNIT=sshd.service", "+", "_COMM=sshd"]
        );
        assert_eq!(words("a\"b c\"d 'e f' ''"), vec!["ab cd", "e f", ""]);
        assert_eq!(words("a\\ b \"x\\\"y\\z\""), vec!["a b", "x\"y\\z"]);
        assert_eq!(words("'a\\b' #c"), vec!["a\\b", "#c"]);
        assert_eq!(words("  "), Vec::<String>::new());
        assert_eq!(split("'open"), Err("No closing quotation"));
        assert_eq!(split("x\\"), Err("No escaped character"));
    }
}
