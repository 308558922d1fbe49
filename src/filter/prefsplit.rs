//! A faster way to apply the commonest prefregex shape.
//!
//! Most stock prefregexes read `^<F-MLFID>P</F-MLFID>R<F-CONTENT>.+</F-CONTENT>$`
//! or `^X<F-CONTENT>.+</F-CONTENT>$`: a line prefix, then "the rest of the
//! line" as content. Running such a pattern with captures needs the
//! backtracking engine on every line. But since `.+$` accepts any
//! non-empty rest, the split point is simply where the highest-priority
//! parse of the prefix ends, and that is what a leftmost-first DFA search
//! of `^X` reports. So two DFA searches give the same groups as the full
//! captures. Where this reasoning could fail (look-around, word
//! boundaries, other groups, an empty rest) the shape is not accepted or
//! the caller falls back to the full search.

use super::pyre::{Dollar, PyRegex, walk_outside_classes};

/// The prefregex split into prefix regexes.
#[derive(Clone)]
pub struct PrefSplit {
    /// `^(?:P)R`: its end is where the content starts.
    prefix: PyRegex,
    /// `^(?:P)`: its end is where the `mlfid` group ends (None: no mlfid).
    mlfid: Option<PyRegex>,
}

/// The groups of one line, as the full prefregex would give them.
pub enum Split<'t> {
    /// The prefregex cannot match.
    NoMatch,
    /// `(mlfid, content)`.
    Groups(Option<&'t str>, &'t str),
    /// Not decidable here: run the full prefregex.
    Unsure,
}

/// Constructs whose meaning depends on text beyond the prefix, or that
/// capture: any of them and the shape is not used.
const UNSAFE: [&str; 10] = [
    "(?P", "(?=", "(?!", "(?<", "(?(", "\\b", "\\B", "$", "\\Z", "\\A",
];

fn safe(part: &str) -> bool {
    !UNSAFE.iter().any(|u| part.contains(u))
}

/// Index just past the `)` closing the group whose body starts at `from`.
fn group_end(s: &str, from: usize) -> Option<usize> {
    let (mut depth, mut end) = (1usize, None);
    walk_outside_classes(&s[from..], |i, c| {
        match c {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    end = Some(from + i + 1);
                }
            }
            _ => {}
        }
        end.is_none()
    });
    end
}

impl PrefSplit {
    /// Accepts a prefregex (tags already expanded, Python syntax) of one of
    /// the two shapes; None for anything else.
    pub fn new(resolved: &str) -> Option<PrefSplit> {
        let body = resolved
            .strip_prefix('^')?
            .strip_suffix("(?P<content>.+)$")?;
        let (p, r) = match body.strip_prefix("(?P<mlfid>") {
            Some(rest) => {
                let end = group_end(rest, 0)?;
                (Some(&rest[..end - 1]), &rest[end..])
            }
            None => (None, body),
        };
        if !p.is_none_or(safe) || !safe(r) {
            return None;
        }
        let compile = |p: String| PyRegex::with_dollar(&p, Dollar::SingleLineBuffer).ok();
        let mlfid = match p {
            Some(p) => {
                // The mlfid parse is only final if R cannot fail after it.
                let nullable = compile(format!("^(?:{r})\\Z"))?;
                if !nullable.is_match("") {
                    return None;
                }
                Some(compile(format!("^(?:{p})"))?)
            }
            None => None,
        };
        let prefix = match p {
            Some(p) => compile(format!("^(?:{p})(?:{r})"))?,
            None => compile(format!("^(?:{r})"))?,
        };
        if prefix.is_fancy() || mlfid.as_ref().is_some_and(PyRegex::is_fancy) {
            return None;
        }
        Some(PrefSplit { prefix, mlfid })
    }

    /// Applies the split to a one-line buffer (`line + "\n"`).
    pub fn apply<'t>(&self, buf: &'t str) -> Split<'t> {
        let Some((start, end)) = self.content(buf) else {
            return Split::NoMatch;
        };
        if start == end {
            return Split::Unsure;
        }
        match self.mlfid_end(buf, start) {
            Some(m) => Split::Groups(m.map(|e| &buf[..e]), &buf[start..end]),
            None => Split::Unsure,
        }
    }

    /// Where the content lies in a one-line buffer: None when the
    /// prefregex cannot match; an empty span when that is not decidable
    /// here. The first half of `apply`, for callers that may not need the
    /// `mlfid` group at all.
    pub fn content(&self, buf: &str) -> Option<(usize, usize)> {
        let (_, x_end) = self.prefix.find_at(buf, 0)?;
        let line_end = buf.len() - usize::from(buf.ends_with('\n'));
        // `.+` needs one character that is not a newline.
        if x_end >= line_end || buf[x_end..line_end].contains('\n') {
            return Some((0, 0));
        }
        Some((x_end, line_end))
    }

    /// The end of the `mlfid` group (None inside: the prefregex has none)
    /// for content starting at `content_start`; None when not decidable.
    pub fn mlfid_end(&self, buf: &str, content_start: usize) -> Option<Option<usize>> {
        match &self.mlfid {
            Some(re) => match re.find_at(buf, 0) {
                Some((_, e)) if e <= content_start => Some(Some(e)),
                _ => None,
            },
            None => Some(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::compiled::Compiled;
    use crate::filter::tags::{UseDns, resolve_tags};

    const SSHD_LIKE: &str = r"^<F-MLFID>\s*(?:\S+\s+)?(?:sshd(?:\[\d+\])?:\s+)?</F-MLFID>(?:(?:error|fatal): (?:PAM: )?)?<F-CONTENT>.+</F-CONTENT>$";

    #[test]
    fn same_groups_as_the_full_prefregex() {
        let split = PrefSplit::new(&resolve_tags(SSHD_LIKE, UseDns::Yes)).expect("shape accepted");
        let full = Compiled::new(SSHD_LIKE, UseDns::Yes, false, false).unwrap();
        for line in [
            " host sshd[12]: Failed password for x\n",
            " host sshd[12]: error: PAM: oops\n",
            " host other: text\n",
            "x\n",
            " \n",
            "host sshd[1]:\n",
        ] {
            let hit = full.search(line);
            match split.apply(line) {
                Split::NoMatch => assert!(hit.is_none(), "{line:?}"),
                Split::Unsure => {}
                Split::Groups(m, c) => {
                    let g = full.groups(&hit.expect("full matches too"));
                    assert_eq!(g["mlfid"].as_deref(), m, "{line:?}");
                    assert_eq!(g["content"].as_deref(), Some(c), "{line:?}");
                }
            }
        }
    }

    #[test]
    fn other_shapes_are_refused() {
        assert!(PrefSplit::new(r"^(?P<mlfid>a)(?=b)(?P<content>.+)$").is_none());
        assert!(PrefSplit::new(r"^x(?P<host>\S+) (?P<content>.+)$").is_none());
        assert!(PrefSplit::new(r"^(?P<mlfid>a)b(?P<content>.+)$").is_none());
        assert!(PrefSplit::new(r"^x (?P<content>.+) y$").is_none());
        assert!(PrefSplit::new(r"^x\s*(?P<content>.+)$").is_some());
    }
}

#[cfg(test)]
mod stock {
    use super::*;
    use crate::filter::tags::{UseDns, resolve_tags};

    /// The stock sshd filter's prefregex takes the fast path.
    #[test]
    fn stock_sshd_prefregex_is_split() {
        let dir = std::path::Path::new("/etc/fail2ban");
        if !dir.join("filter.d/sshd.conf").exists() {
            eprintln!("skipping: no /etc/fail2ban (apt-get install fail2ban)");
            return;
        }
        let def = crate::config::load_filter(dir, "sshd").expect("stock sshd loads");
        let pref = def.prefregex.expect("sshd has a prefregex");
        assert!(
            PrefSplit::new(&resolve_tags(&pref, UseDns::Warn)).is_some(),
            "{pref}"
        );
    }
}
