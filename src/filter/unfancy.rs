//! Rewrites some backtracking-only Python patterns into equal patterns the
//! linear engine runs.
//!
//! The stock sshd filter's busiest failregex ("Failed password for ...")
//! uses two conditionals, `(?(cond_inv)A|B)`, and `(?:(?! from ).)*`, a
//! run of characters that never starts " from ". Both need the backtracking
//! engine, which is several times slower than the linear one. Neither needs
//! it in fact:
//! - A conditional that tests a group decided earlier in the same sequence
//!   becomes an alternation: the pattern is split into one branch per way
//!   the deciding groups can take part, in the order Python's backtracking
//!   tries them, and each branch keeps the arm its conditional would pick.
//!   Group names that then occur in several branches get a suffix that
//!   `canonical_name` removes again.
//! - `(?:(?!L).)*` and `(?:(?!L).)*?`, for a literal `L`, followed by a
//!   literal that starts with `L` or by the end of the line, can match only
//!   one length: up to the first `L` (or the end). That run is a regular
//!   language, written out here from the small automaton that looks for `L`.
//!
//! Anything else, or anything this module does not fully understand, is
//! left alone (`rewrite` returns None) and runs on the backtracking engine
//! as before: this is a speed-up, never a change of meaning.

use std::collections::BTreeSet;

/// Group names this module adds a suffix to end with this and a number.
const DUP: &str = "__v";

/// The name a rewritten pattern's group stands for.
pub fn canonical_name(name: &str) -> &str {
    match name.rfind(DUP) {
        Some(i) if name[i + DUP.len()..].bytes().all(|b| b.is_ascii_digit()) => &name[..i],
        _ => name,
    }
}

/// A Python pattern without conditionals and literal-guarded runs, when
/// the rewrite applies.
///
/// A `$` after a run counts as the end of a line in every mode: the run
/// cannot hold a newline, and `$` only matches before one or at the end.
pub fn rewrite(py: &str) -> Option<String> {
    rewrite_branches(py).map(|(p, _)| p)
}

/// `rewrite`, also giving the top-level branches of the result when it is
/// an alternation (each a whole pattern, in order).
pub fn rewrite_branches(py: &str) -> Option<(String, Vec<String>)> {
    if !py.contains("(?(") && !py.contains("(?!") {
        return None;
    }
    let tree = Parser { s: py, pos: 0 }.parse()?;
    let conds = tree.cond_names();
    let tree = if conds.is_empty() {
        tree
    } else {
        let variants = tree.variants(&BTreeSet::new(), &conds)?;
        if variants.len() > MAX_VARIANTS {
            return None;
        }
        Node::Alt(variants.into_iter().map(|(n, _)| n).collect())
    };
    let tree = tree.unguard(&Follow::Unknown)?;
    if tree.needs_backtracking() {
        return None;
    }
    let mut out = String::new();
    let mut seen = std::collections::HashMap::new();
    tree.emit(&mut out, &mut seen);
    // The same text, branch by branch (group names numbered as above).
    let mut branches = Vec::new();
    if let Node::Alt(bs) = &tree {
        let mut seen = std::collections::HashMap::new();
        for b in bs {
            let mut t = String::new();
            b.emit(&mut t, &mut seen);
            branches.push(t);
        }
    }
    Some((out, branches))
}

/// Above this many branches the pattern is left as it is.
const MAX_VARIANTS: usize = 16;

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Seq(Vec<Node>),
    Alt(Vec<Node>),
    /// A group: `(?:`, `(`, `(?P<name>`, or a look-around (`?=`, `?!`, ...).
    Group(Kind, Box<Node>),
    /// A quantified node; the quantifier's text as written (`*?`, `{0,2}`).
    Repeat(Box<Node>, String),
    Cond(String, Box<Node>, Box<Node>),
    /// One character, escape or class, as written; `Some(c)` when it
    /// stands for the literal character `c`.
    Atom(String, Option<char>),
}

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    NonCapturing,
    Numbered,
    Named(String),
    Look(&'static str),
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn parse(mut self) -> Option<Node> {
        let n = self.alt()?;
        (self.pos == self.s.len()).then_some(n)
    }

    fn rest(&self) -> &str {
        &self.s[self.pos..]
    }

    fn alt(&mut self) -> Option<Node> {
        let mut branches = vec![self.seq()?];
        while self.rest().starts_with('|') {
            self.pos += 1;
            branches.push(self.seq()?);
        }
        Some(if branches.len() == 1 {
            branches.pop()?
        } else {
            Node::Alt(branches)
        })
    }

    fn seq(&mut self) -> Option<Node> {
        let mut items = Vec::new();
        loop {
            let c = self.rest().chars().next();
            let item = match c {
                None | Some('|') | Some(')') => return Some(Node::Seq(items)),
                Some('(') => self.group()?,
                Some('[') => self.class()?,
                Some('\\') => self.escape()?,
                Some('*' | '+' | '?') => return None,
                Some(c) => {
                    self.pos += c.len_utf8();
                    let lit = (!".^${}".contains(c)).then_some(c);
                    Node::Atom(c.to_string(), lit)
                }
            };
            items.push(self.quantified(item)?);
        }
    }

    fn quantified(&mut self, item: Node) -> Option<Node> {
        let r = self.rest();
        let len = match r.chars().next() {
            Some('*' | '+' | '?') => 1,
            Some('{') => {
                let end = r.find('}')?;
                let body = &r[1..end];
                let valid = !body.is_empty()
                    && body.bytes().all(|b| b.is_ascii_digit() || b == b',')
                    && body.matches(',').count() <= 1;
                if !valid {
                    // A literal `{`, which the translator handles; not here.
                    return None;
                }
                end + 1
            }
            _ => return Some(item),
        };
        let mut q = r[..len].to_string();
        match r[len..].chars().next() {
            Some('?') => q.push('?'),
            // Possessive quantifiers (Python 3.11) and doubled ones.
            Some('+' | '*' | '{') => return None,
            _ => {}
        }
        if matches!(item, Node::Atom(ref t, _) if t == "^" || t == "$") {
            return None;
        }
        self.pos += q.len();
        Some(Node::Repeat(Box::new(item), q))
    }

    fn group(&mut self) -> Option<Node> {
        let r = self.rest();
        let (kind, skip) = if let Some(n) = r.strip_prefix("(?P<") {
            let end = n.find('>')?;
            (Kind::Named(n[..end].to_string()), 4 + end + 1)
        } else if r.starts_with("(?:") {
            (Kind::NonCapturing, 3)
        } else if let Some(n) = r.strip_prefix("(?(") {
            let end = n.find(')')?;
            let name = n[..end].to_string();
            if name.is_empty()
                || name
                    .bytes()
                    .any(|b| !(b.is_ascii_alphanumeric() || b == b'_'))
            {
                return None;
            }
            if name.bytes().all(|b| b.is_ascii_digit()) {
                // Numbered conditionals would need group numbers kept.
                return None;
            }
            self.pos += 3 + end + 1;
            let yes = self.seq()?;
            let no = if self.rest().starts_with('|') {
                self.pos += 1;
                self.seq()?
            } else {
                Node::Seq(Vec::new())
            };
            if !self.rest().starts_with(')') {
                return None;
            }
            self.pos += 1;
            return Some(Node::Cond(name, Box::new(yes), Box::new(no)));
        } else {
            let look = ["(?=", "(?!", "(?<=", "(?<!"]
                .into_iter()
                .find(|p| r.starts_with(p));
            match look {
                Some(p) => (Kind::Look(&p[1..]), p.len()),
                // Flags, comments, back-references, atomic groups: left alone.
                None if r.starts_with("(?") => return None,
                None => (Kind::Numbered, 1),
            }
        };
        self.pos += skip;
        let body = self.alt()?;
        if !self.rest().starts_with(')') {
            return None;
        }
        self.pos += 1;
        Some(Node::Group(kind, Box::new(body)))
    }

    fn class(&mut self) -> Option<Node> {
        let r = self.rest();
        let b = r.as_bytes();
        let mut i = 1;
        if b.get(i) == Some(&b'^') {
            i += 1;
        }
        if b.get(i) == Some(&b']') {
            i += 1;
        }
        loop {
            match b.get(i)? {
                b'\\' => i += 2,
                b']' => break,
                _ => i += 1,
            }
        }
        let text = r.get(..=i)?.to_string();
        self.pos += text.len();
        Some(Node::Atom(text, None))
    }

    fn escape(&mut self) -> Option<Node> {
        let r = self.rest();
        let c = r[1..].chars().next()?;
        let len = match c {
            // Back-references and octal escapes: left alone.
            '0'..='9' => return None,
            'x' => 4,
            'u' => 6,
            'U' => 10,
            'N' => return None,
            c => 1 + c.len_utf8(),
        };
        let text = r.get(..len)?.to_string();
        self.pos += len;
        let lit = (!c.is_ascii_alphanumeric()).then_some(c);
        Some(Node::Atom(text, lit))
    }
}

/// What is known to follow a node.
#[derive(Clone, Debug)]
enum Follow {
    Unknown,
    /// The end of the line (`$` of a single-line buffer).
    End,
    /// This text comes next (what comes after it is not known).
    Text(String),
}

impl Node {
    fn children(&self) -> Vec<&Node> {
        match self {
            Node::Seq(v) | Node::Alt(v) => v.iter().collect(),
            Node::Group(_, b) | Node::Repeat(b, _) => vec![b],
            Node::Cond(_, y, n) => vec![y, n],
            Node::Atom(..) => Vec::new(),
        }
    }

    fn cond_names(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        if let Node::Cond(n, ..) = self {
            out.insert(n.clone());
        }
        for c in self.children() {
            out.extend(c.cond_names());
        }
        out
    }

    /// Named groups defined anywhere inside.
    fn defines(&self, names: &BTreeSet<String>) -> bool {
        matches!(self, Node::Group(Kind::Named(n), _) if names.contains(n))
            || self.children().iter().any(|c| c.defines(names))
    }

    fn has_cond(&self) -> bool {
        matches!(self, Node::Cond(..)) || self.children().iter().any(|c| c.has_cond())
    }

    fn needs_backtracking(&self) -> bool {
        matches!(self, Node::Cond(..) | Node::Group(Kind::Look(_), _))
            || self.children().iter().any(|c| c.needs_backtracking())
    }

    /// The ways this node can match, in the order Python tries them, each
    /// with the conditional groups that took part (given those before it).
    /// Nodes that neither define such a group nor hold a conditional stay
    /// whole.
    fn variants(
        &self,
        before: &BTreeSet<String>,
        conds: &BTreeSet<String>,
    ) -> Option<Vec<(Node, BTreeSet<String>)>> {
        if !self.defines(conds) && !self.has_cond() {
            return Some(vec![(self.clone(), before.clone())]);
        }
        let out = match self {
            Node::Cond(name, yes, no) => {
                let arm = if before.contains(name) { yes } else { no };
                arm.variants(before, conds)?
            }
            Node::Seq(items) => {
                let mut acc = vec![(Vec::new(), before.clone())];
                for item in items {
                    let mut next = Vec::new();
                    for (prefix, set) in acc {
                        for (v, s) in item.variants(&set, conds)? {
                            let mut p = prefix.clone();
                            p.push(v);
                            next.push((p, s));
                        }
                    }
                    if next.len() > MAX_VARIANTS {
                        return None;
                    }
                    acc = next;
                }
                acc.into_iter().map(|(v, s)| (Node::Seq(v), s)).collect()
            }
            Node::Alt(branches) => {
                let mut out = Vec::new();
                for b in branches {
                    out.extend(b.variants(before, conds)?);
                }
                out
            }
            Node::Group(Kind::Look(_), _) => return None,
            Node::Group(kind, body) => {
                if let Kind::Named(n) = kind
                    && body.cond_names().contains(n)
                {
                    return None;
                }
                body.variants(before, conds)?
                    .into_iter()
                    .map(|(b, mut s)| {
                        if let Kind::Named(n) = kind {
                            s.insert(n.clone());
                        }
                        (Node::Group(kind.clone(), Box::new(b)), s)
                    })
                    .collect()
            }
            Node::Repeat(body, q) if q == "?" || q == "??" => {
                let taken = body.variants(before, conds)?;
                let skipped = (Node::Seq(Vec::new()), before.clone());
                if q == "?" {
                    taken.into_iter().chain([skipped]).collect()
                } else {
                    std::iter::once(skipped).chain(taken).collect()
                }
            }
            // A group decided inside a repetition: left alone.
            Node::Repeat(..) | Node::Atom(..) => return None,
        };
        (out.len() <= MAX_VARIANTS).then_some(out)
    }

    /// The literal text this node always matches, if it is one.
    fn literal(&self) -> Option<String> {
        match self {
            Node::Atom(_, Some(c)) => Some(c.to_string()),
            Node::Seq(items) => items.iter().map(Node::literal).collect(),
            Node::Group(Kind::NonCapturing | Kind::Numbered | Kind::Named(_), b) => b.literal(),
            _ => None,
        }
    }

    /// Replaces literal-guarded runs, knowing what follows this node.
    fn unguard(&self, follow: &Follow) -> Option<Node> {
        Some(match self {
            Node::Repeat(body, q) if q == "*" || q == "*?" => match guarded_literal(body) {
                Some(l) => run_without(&l, follow)?,
                None => Node::Repeat(Box::new(body.unguard(&Follow::Unknown)?), q.clone()),
            },
            Node::Repeat(body, q) => {
                Node::Repeat(Box::new(body.unguard(&Follow::Unknown)?), q.clone())
            }
            Node::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let f = follow_of(&items[i + 1..], follow);
                    out.push(item.unguard(&f)?);
                }
                Node::Seq(out)
            }
            Node::Alt(bs) => Node::Alt(
                bs.iter()
                    .map(|b| b.unguard(follow))
                    .collect::<Option<_>>()?,
            ),
            Node::Group(Kind::Look(k), b) => {
                Node::Group(Kind::Look(k), Box::new(b.unguard(&Follow::Unknown)?))
            }
            Node::Group(k, b) => Node::Group(k.clone(), Box::new(b.unguard(follow)?)),
            Node::Cond(..) | Node::Atom(..) => self.clone(),
        })
    }

    fn emit(&self, out: &mut String, seen: &mut std::collections::HashMap<String, usize>) {
        match self {
            Node::Seq(items) => items.iter().for_each(|i| i.emit(out, seen)),
            Node::Alt(bs) => {
                for (i, b) in bs.iter().enumerate() {
                    if i > 0 {
                        out.push('|');
                    }
                    b.emit(out, seen);
                }
            }
            Node::Group(kind, b) => {
                match kind {
                    Kind::NonCapturing => out.push_str("(?:"),
                    Kind::Numbered => out.push('('),
                    Kind::Look(k) => {
                        out.push('(');
                        out.push_str(k);
                    }
                    Kind::Named(n) => {
                        let count = seen.entry(n.clone()).or_insert(0);
                        out.push_str("(?P<");
                        out.push_str(n);
                        if *count > 0 {
                            out.push_str(&format!("{DUP}{count}"));
                        }
                        *count += 1;
                        out.push('>');
                    }
                }
                b.emit(out, seen);
                out.push(')');
            }
            Node::Repeat(b, q) => {
                // Quantifiers bind to one atom or group: wrap anything else.
                let wrap = matches!(**b, Node::Seq(_) | Node::Alt(_));
                if wrap {
                    out.push_str("(?:");
                }
                b.emit(out, seen);
                if wrap {
                    out.push(')');
                }
                out.push_str(q);
            }
            Node::Cond(n, y, no) => {
                out.push_str("(?(");
                out.push_str(n);
                out.push(')');
                y.emit(out, seen);
                out.push('|');
                no.emit(out, seen);
                out.push(')');
            }
            Node::Atom(t, _) => out.push_str(t),
        }
    }
}

/// What follows `rest` (the items after a node in its sequence), then `outer`.
fn follow_of(rest: &[Node], outer: &Follow) -> Follow {
    let mut text = String::new();
    for item in rest {
        match item.literal() {
            Some(l) => text.push_str(&l),
            None => {
                return match item {
                    _ if !text.is_empty() => Follow::Text(text),
                    Node::Atom(t, None) if t == "$" => Follow::End,
                    _ => Follow::Unknown,
                };
            }
        }
    }
    match outer {
        _ if text.is_empty() => outer.clone(),
        Follow::Text(t) => Follow::Text(text + t),
        _ => Follow::Text(text),
    }
}

/// `L` when `body` is `(?:(?!L).)` for a literal `L` without a newline.
fn guarded_literal(body: &Node) -> Option<String> {
    let Node::Group(Kind::NonCapturing, inner) = body else {
        return None;
    };
    let Node::Seq(items) = &**inner else {
        return None;
    };
    match items.as_slice() {
        [Node::Group(Kind::Look("?!"), l), Node::Atom(dot, None)] if dot == "." => {
            let l = l.literal()?;
            (!l.is_empty() && !l.contains('\n')).then_some(l)
        }
        _ => None,
    }
}

/// A regular pattern for the run `(?:(?!L).)*` (greedy or lazy) followed by
/// `follow`, or None when the rewrite would not be exact.
///
/// Only one run length can then match: up to the first `L`, or to the end
/// of the line. The pattern walks the automaton that looks for `L`, whose
/// first character must not recur inside it (e.g. " from "), so that any
/// mismatch returns to the start, or just past that first character.
fn run_without(l: &str, follow: &Follow) -> Option<Node> {
    let lc: Vec<char> = l.chars().collect();
    let m = lc.len();
    let a = lc[0];
    if lc[1..m.saturating_sub(1)].contains(&a) {
        return None;
    }
    // May the run end having read the first k characters of L?
    let allowed = |k: usize| -> Option<bool> {
        match follow {
            Follow::End => Some(true),
            Follow::Text(f) => {
                let rest: String = lc[k..].iter().collect();
                if f.starts_with(&rest) {
                    Some(false)
                } else if rest.starts_with(f.as_str()) {
                    // Too little is known of what follows to tell.
                    None
                } else {
                    Some(true)
                }
            }
            Follow::Unknown => None,
        }
    };
    match follow {
        Follow::End => {}
        Follow::Text(f) if f.starts_with(l) => {}
        _ => return None,
    }
    let lit = |cs: &[char]| cs.iter().map(|c| esc(*c)).collect::<String>();
    let not = |cs: &[char]| {
        let mut set: Vec<char> = cs.to_vec();
        set.push('\n');
        set.sort_unstable();
        set.dedup();
        format!(
            "[^{}]",
            set.iter().map(|c| esc_class(*c)).collect::<String>()
        )
    };
    if m == 1 {
        return Some(raw(format!("{}*", not(&[a]))));
    }
    let mut loops = Vec::new();
    let mut exits = Vec::new();
    let mut tails = Vec::new();
    for k in 1..m {
        let mid = lit(&lc[1..k]);
        exits.push(format!("{mid}{}", not(&[lc[k], a])));
        if lc[k] != a {
            loops.push(format!("{mid}{}", esc(a)));
        }
        if allowed(k)? {
            tails.push(mid);
        }
    }
    let loop_ = if loops.is_empty() {
        String::new()
    } else {
        format!("(?:{})*", loops.join("|"))
    };
    let c0 = format!("(?:{}|{}{loop_}(?:{}))", not(&[a]), esc(a), exits.join("|"));
    let tail = if tails.is_empty() {
        String::new()
    } else {
        format!("(?:{}{loop_}(?:{}))?", esc(a), tails.join("|"))
    };
    Some(raw(format!("(?:{c0}*{tail})")))
}

fn raw(text: String) -> Node {
    Node::Atom(text, None)
}

fn esc(c: char) -> String {
    if ".^$*+?{}[]\\|()".contains(c) {
        format!("\\{c}")
    } else {
        c.to_string()
    }
}

fn esc_class(c: char) -> String {
    match c {
        '\n' => "\\n".to_string(),
        '\\' | ']' | '^' | '-' | '[' => format!("\\{c}"),
        c => c.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::pyre::{Dollar, PyRegex};

    /// A pattern of the same shape as sshd's "Failed ..." failregex (two
    /// conditionals, guarded runs), written for this test with other words.
    const FAILED: &str = r"^Rejected (?:(?P<nofail>token)|\S+) for (?P<cond_inv>unknown account )?(?P<user>(?P<cond_user>\S+)|(?(cond_inv)(?:(?! via ).)*?|[^:]+)) via (?P<ip4>\d+\.\d+\.\d+\.\d+)(?: (?:port \d+|on \S+)){0,2}(?: proto\d*)?(?(cond_user): |(?:(?:(?! via ).)*)$)";

    /// Every named group's text, by canonical name.
    fn groups(re: &PyRegex, text: &str) -> Option<Vec<(String, Option<String>)>> {
        let caps = re.captures(text)?;
        let mut out: Vec<(String, Option<String>)> = Vec::new();
        for (i, n) in re.group_names().iter().enumerate() {
            let Some(n) = n else { continue };
            let v = caps.text(i).map(str::to_string);
            let n = canonical_name(n).to_string();
            match out.iter_mut().find(|(k, _)| *k == n) {
                Some(slot) => {
                    if slot.1.is_none() {
                        slot.1 = v;
                    }
                }
                None => out.push((n, v)),
            }
        }
        out.sort();
        Some(out)
    }

    #[test]
    fn sshd_shaped_pattern_becomes_linear_and_matches_alike() {
        let new = rewrite(FAILED).expect("rewritten");
        let fancy = PyRegex::with_dollar(FAILED, Dollar::SingleLineBuffer).unwrap();
        let linear = PyRegex::with_dollar(&new, Dollar::SingleLineBuffer).unwrap();
        assert!(fancy.is_fancy() && !linear.is_fancy(), "{new}");
        let lines = [
            "Rejected secret for root via 192.0.2.1 port 22 proto2",
            "Rejected secret for unknown account admin via 192.0.2.2 port 22 proto2",
            "Rejected secret for unknown account a via b via 192.0.2.3 port 22 proto2",
            "Rejected secret for unknown account  via 192.0.2.4 port 22 proto2",
            "Rejected token for bob via 192.0.2.5 port 22 proto2: RSA SHA256:xyz",
            "Rejected secret for odd: name via 192.0.2.6 port 22 proto2",
            "Rejected secret for x via 192.0.2.7 port 22 proto2 via 192.0.2.8",
            "Rejected secret for unknown account via via 192.0.2.9",
            "Rejected secret for unknown account u vi via 192.0.2.10 tail vi",
            "Rejected secret for unknown account u via 192.0.2.11 tail via",
            "Rejected secret for unknown account u via 192.0.2.12 x via y",
            "Rejected none for unknown account  via  via 192.0.2.13",
            "Rejected secret for user via 192.0.2.14 port 1: extra",
        ];
        for l in lines {
            for text in [l.to_string(), format!("{l}\n")] {
                assert_eq!(groups(&fancy, &text), groups(&linear, &text), "{text:?}");
            }
        }
    }

    #[test]
    fn generated_lines_agree() {
        // Deterministic strings built from the pieces that matter.
        let parts = [
            " ",
            "via",
            " via ",
            "vi",
            "unknown account ",
            "x",
            ":",
            "192.0.2.1",
            " port 22",
            " proto2",
            "v",
            "a ",
        ];
        let fancy = PyRegex::with_dollar(FAILED, Dollar::SingleLineBuffer).unwrap();
        let linear =
            PyRegex::with_dollar(&rewrite(FAILED).unwrap(), Dollar::SingleLineBuffer).unwrap();
        // The same, taking captures from the matching branch only.
        let (whole, branches) = rewrite_branches(FAILED).unwrap();
        assert_eq!(branches.len(), 4);
        let split =
            PyRegex::with_branches(&whole, &branches, Dollar::SingleLineBuffer, false).unwrap();
        assert!(split.has_branches());
        let mut seed = 7u64;
        let mut matched = 0;
        for _ in 0..4000 {
            let mut text = String::from("Rejected secret for ");
            for i in 0..6 {
                if i == 3 {
                    text.push_str(" via 192.0.2.1");
                }
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                text.push_str(parts[(seed >> 33) as usize % parts.len()]);
            }
            let g = groups(&fancy, &text);
            matched += usize::from(g.is_some());
            assert_eq!(g, groups(&linear, &text), "{text:?}");
            assert_eq!(g, groups(&split, &text), "branches: {text:?}");
        }
        // Both sides of the comparison were exercised.
        assert!((400..3600).contains(&matched), "{matched} of 4000 matched");
    }

    #[test]
    fn what_is_left_alone() {
        // No conditional or guard.
        assert_eq!(rewrite(r"^a(?P<x>b)?"), None);
        // A guard followed by text that does not start with its literal.
        assert_eq!(rewrite(r"^(?:(?! via ).)*x"), None);
        // A group decided inside a repetition.
        assert_eq!(rewrite(r"^(?:(?P<g>a)|b)*(?(g)c|d)"), None);
        // Back-references stay on the backtracking engine.
        assert_eq!(rewrite(r"^(?P<g>a)(?P=g)(?(g)c|d)"), None);
    }

    #[test]
    fn names_come_back() {
        assert_eq!(canonical_name("user__v2"), "user");
        assert_eq!(canonical_name("user"), "user");
        assert_eq!(canonical_name("a__vx"), "a__vx");
    }
}
