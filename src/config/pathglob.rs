//! Python's `glob.glob` for `logpath`: `*`, `?` and `[...]` within path
//! components, hidden names matched only by patterns that start with a dot.
//! Results come in directory order, as Python's (both read `readdir`).

use std::path::{Path, PathBuf};

fn has_magic(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// `fnmatch` of one name against one pattern component.
fn matches(pat: &[char], name: &[char]) -> bool {
    match pat.first() {
        None => name.is_empty(),
        Some('*') => (0..=name.len()).any(|i| matches(&pat[1..], &name[i..])),
        Some('?') => !name.is_empty() && matches(&pat[1..], &name[1..]),
        Some('[') => {
            let Some(c) = name.first() else { return false };
            // A class: `[!...]` negates; `]` right after the start is literal.
            let mut i = 1;
            let negate = matches!(pat.get(1), Some('!'));
            if negate {
                i += 1;
            }
            let start = i;
            let mut hit = false;
            while i < pat.len() && (pat[i] != ']' || i == start) {
                if pat.get(i + 1) == Some(&'-') && pat.get(i + 2).is_some_and(|e| *e != ']') {
                    hit |= pat[i] <= *c && *c <= pat[i + 2];
                    i += 3;
                } else {
                    hit |= pat[i] == *c;
                    i += 1;
                }
            }
            if i >= pat.len() {
                // No closing bracket: `[` is a literal.
                return *c == '[' && matches(&pat[1..], &name[1..]);
            }
            hit != negate && matches(&pat[i + 1..], &name[1..])
        }
        Some(p) => name.first() == Some(p) && matches(&pat[1..], &name[1..]),
    }
}

/// The existing paths `pattern` names.
pub fn glob(pattern: &str) -> Vec<PathBuf> {
    if pattern.is_empty() {
        return Vec::new();
    }
    if !has_magic(pattern) {
        let p = PathBuf::from(pattern);
        return if p.symlink_metadata().is_ok() {
            vec![p]
        } else {
            Vec::new()
        };
    }
    let absolute = pattern.starts_with('/');
    let mut found: Vec<PathBuf> = vec![if absolute {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    }];
    let parts: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
    for (n, part) in parts.iter().enumerate() {
        let last = n + 1 == parts.len();
        let mut next = Vec::new();
        for base in &found {
            if !has_magic(part) {
                let p = base.join(part);
                if (last && p.symlink_metadata().is_ok()) || p.is_dir() {
                    next.push(p);
                }
                continue;
            }
            let dir = if base.as_os_str().is_empty() {
                Path::new(".")
            } else {
                base.as_path()
            };
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let pat: Vec<char> = part.chars().collect();
            let names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| !name.starts_with('.') || part.starts_with('.'))
                .filter(|name| matches(&pat, &name.chars().collect::<Vec<_>>()))
                .collect();
            for name in names {
                let p = base.join(name);
                if last || p.is_dir() {
                    next.push(p);
                }
            }
        }
        found = next;
    }
    found
}

/// `glob`, keeping only paths that exist (a dangling link is left out).
pub fn existing(pattern: &str) -> Vec<PathBuf> {
    glob(pattern).into_iter().filter(|p| p.exists()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        matches(
            &p.chars().collect::<Vec<_>>(),
            &n.chars().collect::<Vec<_>>(),
        )
    }

    #[test]
    fn fnmatch_like_python() {
        assert!(m("*.log", "auth.log") && !m("*.log", "auth.log.1"));
        assert!(m("auth.log*", "auth.log.1") && m("a?th.log", "auth.log"));
        assert!(m("x[0-9].log", "x5.log") && !m("x[!0-9].log", "x5.log"));
        assert!(m("x[.log", "x[.log"));
    }

    #[test]
    fn globs_the_file_system() {
        let dir = std::env::temp_dir().join(format!("ferroban-glob-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).expect("dir");
        for f in ["a.log", "b.log", ".hidden.log", "sub/c.log"] {
            std::fs::write(dir.join(f), "").expect("file");
        }
        let d = dir.display().to_string();
        let names = |v: Vec<PathBuf>| -> Vec<String> {
            v.iter()
                .map(|p| p.strip_prefix(&dir).expect("inside").display().to_string())
                .collect()
        };
        let mut both = names(existing(&format!("{d}/*.log")));
        both.sort();
        assert_eq!(both, ["a.log", "b.log"]);
        assert_eq!(names(existing(&format!("{d}/*/c.log"))), ["sub/c.log"]);
        assert_eq!(names(existing(&format!("{d}/a.log"))), ["a.log"]);
        assert!(existing(&format!("{d}/none.log")).is_empty());
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
