//! Option lists: `sshd[mode=aggressive, k="v, w"]`.
//!
//! Jails name their filter and actions this way and `fail2ban-regex`
//! accepts it on the command line. The rules are those of fail2ban's
//! `extractOptions`: the name is everything before the first `[`, the
//! list runs to the last `]` followed only by whitespace, groups may be
//! chained (`a[x=1][y=2]`), values are `"..."`, `'...'` or bare text up
//! to `,` or `]`, and a later duplicate name replaces an earlier one's
//! value. Positions in messages are character offsets into the list, as
//! fail2ban reports them.

use super::error::ConfigError;
use super::omap::OrderedMap;
use crate::py;

fn is_name_char(c: char) -> bool {
    py::is_word(c) || c == '-' || c == '.'
}

fn char_pos(s: &str, byte: usize) -> usize {
    s[..byte].chars().count()
}

fn first_chars(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// What fail2ban's end-of-string `$` accepts: the end, or a single
/// newline that ends the string.
fn at_end(rest: &str) -> bool {
    rest.is_empty() || rest == "\n"
}

/// Parses the inside of the brackets into `(name, value)` pairs.
fn parse_list(optstr: &str) -> Result<OrderedMap<String>, String> {
    let mut out = OrderedMap::new();
    let mut pos = 0;
    loop {
        let rest = &optstr[pos..];
        let lead = rest.len() - rest.trim_start_matches(py::is_space).len();
        let name_len = rest[lead..]
            .char_indices()
            .find(|&(_, c)| !is_name_char(c))
            .map_or(rest.len() - lead, |(i, _)| i);
        let after_name = &rest[lead + name_len..];
        if name_len > 0 && after_name.starts_with('=') {
            let name = &rest[lead..lead + name_len];
            let v = &after_name[1..];
            let quoted = ['"', '\''].into_iter().find_map(|q| {
                let inner = v.strip_prefix(q)?;
                let close = inner.find(q)?;
                Some((&inner[..close], &inner[close + 1..]))
            });
            let (value, tail) = quoted.unwrap_or_else(|| {
                let end = v.find([',', ']']).unwrap_or(v.len());
                (&v[..end], &v[end..])
            });
            let consumed = if tail.starts_with(',') {
                1
            } else if let Some(t) = tail.strip_prefix(']')
                && t.trim_start_matches(py::is_space).starts_with('[')
            {
                let t2 = t.trim_start_matches(py::is_space);
                tail.len() - t2.len() + 1
            } else if at_end(tail) {
                0
            } else {
                let at = optstr.len() - tail.len();
                return Err(format!(
                    "unexpected syntax at {} after option '{name}': {}",
                    char_pos(optstr, at),
                    first_chars(tail, 25)
                ));
            };
            out.insert(py::strip(name), py::strip(value).to_string());
            pos = optstr.len() - tail.len() + consumed;
            continue;
        }
        // Trailing `,` and whitespace end the list quietly.
        let trailing = rest.strip_prefix(',').unwrap_or(rest);
        if trailing.chars().all(py::is_space) {
            return Ok(out);
        }
        return Err(format!(
            "expected option, wrong syntax at {}: {}",
            char_pos(optstr, pos),
            first_chars(rest, 25)
        ));
    }
}

/// Splits `name[opt=value, ...]` into the name (verbatim, not stripped)
/// and its options in order (fail2ban's `extractOptions`).
pub fn split_name_options(text: &str) -> Result<(String, Vec<(String, String)>), ConfigError> {
    let bad = |problem: String| ConfigError::OptionList {
        at: Box::default(),
        text: text.to_string(),
        problem,
    };
    let name_end = text.find('[').unwrap_or(text.len());
    if name_end == 0 {
        return Err(bad("unexpected option syntax".to_string()));
    }
    let name = &text[..name_end];
    let rest = &text[name_end..];
    if rest.is_empty() {
        return Ok((name.to_string(), Vec::new()));
    }
    let trimmed = rest.trim_end_matches(py::is_space);
    let Some(optstr) = trimmed.strip_suffix(']').filter(|_| trimmed.len() >= 2) else {
        return Err(bad("unexpected option syntax".to_string()));
    };
    let optstr = &optstr[1..];
    let opts = parse_list(optstr).map_err(bad)?;
    Ok((
        name.to_string(),
        opts.iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    ))
}

/// Matcher for one item of a list like `a[x=1] b[y="2, 3"]` starting at
/// a given position. fail2ban splits such lists with a backtracking
/// regex; the same choices are explored here in the same priority order
/// (memoized per position, so long inputs stay polynomial).
struct ItemMatcher<'a> {
    s: &'a [char],
    /// Length of the whitespace run starting at each position.
    ws: Vec<usize>,
    memo: std::collections::HashMap<usize, Option<usize>>,
}

impl<'a> ItemMatcher<'a> {
    fn new(s: &'a [char]) -> Self {
        let mut ws = vec![0; s.len() + 1];
        for i in (0..s.len()).rev() {
            if py::is_space(s[i]) {
                ws[i] = ws[i + 1] + 1;
            }
        }
        ItemMatcher {
            s,
            ws,
            memo: std::collections::HashMap::new(),
        }
    }

    /// Trailing whitespace, then the item must be followed by whitespace
    /// or the end: the match keeps all but the last whitespace character,
    /// or all of it at the end of the text.
    fn finish(&self, r: usize) -> Option<usize> {
        let w = self.ws[r];
        if r + w == self.s.len() {
            Some(self.s.len())
        } else if w > 0 {
            Some(r + w - 1)
        } else {
            None
        }
    }

    /// The closing `]` of a group and what follows it.
    fn close(&self, pos: usize) -> Option<usize> {
        (self.s.get(pos) == Some(&']')).then_some(())?;
        self.finish(pos + 1)
    }

    /// Ends of one `name=value` entry at `pos`, best first. The regex
    /// tries value, whitespace, separator, whitespace in nested greedy
    /// loops, so an entry may end anywhere inside trailing whitespace;
    /// but what follows an entry is another entry or `]`, neither of
    /// which starts with whitespace, so only ends at the end of a
    /// whitespace run can succeed. Those are listed once each, in the
    /// order the regex first reaches them.
    fn entry_ends(&self, pos: usize) -> Vec<usize> {
        let s = self.s;
        let name = s[pos..].iter().take_while(|&&c| is_name_char(c)).count();
        if name == 0 || s.get(pos + name) != Some(&'=') {
            return Vec::new();
        }
        let v = pos + name + 1;
        let mut value_ends = Vec::new();
        for q in ['"', '\''] {
            if s.get(v) == Some(&q)
                && let Some(j) = s[v + 1..].iter().position(|&c| c == q)
            {
                value_ends.push(v + 1 + j + 1);
            }
        }
        let bare = s[v..].iter().take_while(|&&c| c != ',' && c != ']').count();
        value_ends.extend((v..=v + bare).rev());

        let mut ends = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for ve in value_ends {
            let a = ve + self.ws[ve];
            if !seen.insert(a) {
                continue;
            }
            if s.get(a) == Some(&',') {
                ends.push(a + 1 + self.ws[a + 1]);
            }
            if s.get(a) == Some(&']') {
                let w = self.ws[a + 1];
                if s.get(a + 1 + w) == Some(&'[') {
                    let b = a + 1 + w + 1;
                    ends.push(b + self.ws[b]);
                }
            }
            ends.push(a);
        }
        ends
    }

    /// Entries (as many as possible first) then the closing `]`.
    fn entries(&mut self, pos: usize) -> Option<usize> {
        if let Some(r) = self.memo.get(&pos) {
            return *r;
        }
        let mut result = None;
        for e in self.entry_ends(pos) {
            if let Some(r) = self.entries(e) {
                result = Some(r);
                break;
            }
        }
        if result.is_none() {
            result = self.close(pos);
        }
        self.memo.insert(pos, result);
        result
    }

    /// End of the item starting at `p` (a non-space character).
    fn item(&mut self, p: usize) -> usize {
        let s = self.s;
        let non_space_end = p + s[p..].iter().take_while(|&&c| !py::is_space(c)).count();
        if s[p] != '[' {
            let q = p + s[p..]
                .iter()
                .take_while(|&&c| c != '[' && !py::is_space(c))
                .count();
            let w = self.ws[q];
            if s.get(q + w) == Some(&'[') {
                let inner = q + w + 1;
                let start = inner + self.ws[inner];
                if let Some(end) = self.entries(start) {
                    return end;
                }
            }
            if let Some(end) = self.finish(q) {
                return end;
            }
        }
        non_space_end
    }
}

/// Splits a list of names with options (a jail's `action = ...`) into
/// its items, keeping brackets with their name even across spaces and
/// newlines (fail2ban's `splitWithOptions`). Items are returned as
/// fail2ban returns them, possibly with trailing whitespace.
pub fn split_with_options(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut p = 0;
    while p < chars.len() {
        if py::is_space(chars[p]) {
            p += 1;
            continue;
        }
        let mut m = ItemMatcher::new(&chars);
        let end = m.item(p);
        out.push(chars[p..end].iter().collect());
        p = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> (String, Vec<(String, String)>) {
        split_name_options(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn opts(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn err(text: &str) -> String {
        match split_name_options(text) {
            Err(ConfigError::OptionList { problem, .. }) => problem,
            other => panic!("{text:?}: expected an error, got {other:?}"),
        }
    }

    // Expected results were printed by fail2ban 1.0.2's extractOptions.

    #[test]
    fn accepted_lists() {
        assert_eq!(ok("sshd"), ("sshd".into(), vec![]));
        assert_eq!(ok("sshd "), ("sshd ".into(), vec![]));
        assert_eq!(
            ok("sshd[mode=aggressive, k=\"v, w\"]"),
            (
                "sshd".into(),
                opts(&[("mode", "aggressive"), ("k", "v, w")])
            )
        );
        assert_eq!(ok("a[x=1][y=2]").1, opts(&[("x", "1"), ("y", "2")]));
        assert_eq!(ok("a[x=1] [y=2]  ").1, opts(&[("x", "1"), ("y", "2")]));
        assert_eq!(ok("a[k=\"v\"\n]").1, opts(&[("k", "v")]));
        assert_eq!(
            ok("a[k='x]y', z=\"q\"]").1,
            opts(&[("k", "x]y"), ("z", "q")])
        );
        assert_eq!(ok("a[k=\"abc]").1, opts(&[("k", "\"abc")]));
        assert_eq!(ok("a[]").1, vec![]);
        assert_eq!(ok("a[x=1,]").1, opts(&[("x", "1")]));
        assert_eq!(ok("a[x=1,x=2, y=3]").1, opts(&[("x", "2"), ("y", "3")]));
        assert_eq!(ok("a[k=a b\n c]").1, opts(&[("k", "a b\n c")]));
        assert_eq!(ok("a[k=v,  ]").1, opts(&[("k", "v")]));
        assert_eq!(ok("a[k=]").1, opts(&[("k", "")]));
        assert_eq!(ok("a[k.a-b_c=1]").1, opts(&[("k.a-b_c", "1")]));
        assert_eq!(ok("a[é=1]").1, opts(&[("é", "1")]));
        assert_eq!(ok("a[x=1]\n").1, opts(&[("x", "1")]));
    }

    #[test]
    fn rejected_lists() {
        assert_eq!(
            err("a[k=\"v\" ]"),
            "unexpected syntax at 5 after option 'k':  "
        );
        assert_eq!(err("a[k=\"a,b]"), "expected option, wrong syntax at 5: b");
        assert_eq!(
            err("a[x=1,,y=2]"),
            "expected option, wrong syntax at 4: ,y=2"
        );
        assert_eq!(err("[x=1]"), "unexpected option syntax");
        assert_eq!(err("a[x=1]b"), "unexpected option syntax");
        assert_eq!(
            err("a[ k = v ]"),
            "expected option, wrong syntax at 0:  k = v "
        );
        assert_eq!(
            err("a[k=v]z]"),
            "unexpected syntax at 3 after option 'k': ]z"
        );
        assert_eq!(err("a[x=1, y]"), "expected option, wrong syntax at 4:  y");
        assert_eq!(err("a[ =v]"), "expected option, wrong syntax at 0:  =v");
    }

    #[test]
    fn split_lists_like_fail2ban() {
        let split = |s: &str| split_with_options(s);
        assert_eq!(
            split("iptables[name=SSH, port=ssh]\n  sendmail-whois[name=SSH, dest=\"a b\"]"),
            vec![
                "iptables[name=SSH, port=ssh]\n ",
                "sendmail-whois[name=SSH, dest=\"a b\"]"
            ]
        );
        assert_eq!(split("a b  c"), vec!["a", "b ", "c"]);
        assert_eq!(split("a [x=1] b"), vec!["a [x=1]", "b"]);
        assert_eq!(split("a[x=1 b"), vec!["a[x=1", "b"]);
        assert_eq!(split("a[x=\"1 2\"]  \n"), vec!["a[x=\"1 2\"]  \n"]);
        assert_eq!(split(""), Vec::<String>::new());
    }
}
