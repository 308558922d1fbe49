//! fail2ban's recursive `<tag>` substitution between definition options.
//!
//! After `%(name)s` interpolation, filter and action definitions still
//! refer to each other with `<name>` tags: `<mdre-<mode>>`, `<_daemon>`,
//! `<lt_file/__prefix_line>`. fail2ban resolves them with
//! `substituteRecursiveTags`: innermost tags first, repeated passes while
//! something changed, each tag replaced at most 25 times per option, a
//! tag naming its own option is an error, and tags nobody defines
//! (`<HOST>`, `<F-USER>`, `<SKIPLINES>`) stay as they are for later
//! stages. Filters and actions both use it; actions also pass a
//! `conditional` such as `family=inet6` to prefer `name?family=inet6`.

use std::collections::{HashMap, HashSet};

use super::error::{ConfigError, Location};
use super::omap::OrderedMap;

/// fail2ban's `MAX_TAG_REPLACE_COUNT`.
const MAX_REPLACE: usize = 25;

/// The longest value a substitution may build. Each of the 25 allowed
/// replacements replaces every occurrence, so tags that use one another
/// twice double a value each time: fail2ban then runs out of memory; we
/// refuse it as a recursion (found by fuzzing). Real values stay far below.
const MAX_VALUE_LEN: usize = 1 << 20;

/// The next `<name>` at or after byte `from` (`<([^ <>]+)>`), as
/// (start, end, name).
pub fn find_tag(value: &str, from: usize) -> Option<(usize, usize, &str)> {
    let bytes = value.as_bytes();
    let mut i = from;
    while let Some(p) = value.get(i..)?.find('<') {
        let start = i + p;
        let name_end = value[start + 1..]
            .find([' ', '<', '>'])
            .map_or(value.len(), |j| start + 1 + j);
        if name_end > start + 1 && bytes.get(name_end) == Some(&b'>') {
            return Some((start, name_end + 1, &value[start + 1..name_end]));
        }
        i = start + 1;
    }
    None
}

/// Resolves tags between the values of `tags` (in their order) and
/// returns the substituted copy. `ignore` names options left alone and
/// tags never replaced; `extra` supplies values for tags that are not
/// keys of `tags` (`None`: leave the tag). `conditional` (e.g.
/// `family=inet6`) makes `name?conditional` win over `name`.
pub fn substitute_recursive_tags<F>(
    tags: &OrderedMap<String>,
    conditional: &str,
    ignore: &HashSet<String>,
    mut extra: F,
) -> Result<OrderedMap<String>, ConfigError>
where
    F: FnMut(&str) -> Result<Option<String>, ConfigError>,
{
    let mut tags = tags.clone();
    let names: Vec<String> = tags.keys().map(str::to_string).collect();
    let mut done: HashSet<String> = HashSet::new();
    let mut rep_counts: HashMap<String, HashMap<String, usize>> = HashMap::new();
    loop {
        let mut repeat = false;
        for tag in &names {
            if ignore.contains(tag) || done.contains(tag) {
                continue;
            }
            let Some(orig) = tags.get(tag).cloned() else {
                continue;
            };
            let mut value = orig.clone();
            // fail2ban keeps a tag's counts across passes only once they
            // were stored, which happens when a replacement left tags.
            let known_counts = rep_counts.contains_key(tag);
            let mut counts = rep_counts.remove(tag).unwrap_or_default();
            let mut m = find_tag(&value, 0).map(|(s, e, n)| (s, e, n.to_string()));
            while let Some((start, end, rtag)) = m {
                if ignore.contains(&rtag) {
                    m = find_tag(&value, end).map(|(s, e, n)| (s, e, n.to_string()));
                    continue;
                }
                if rtag == *tag || counts.get(&rtag).copied().unwrap_or(1) > MAX_REPLACE {
                    return Err(ConfigError::TagRecursion {
                        at: Box::new(Location::default().with_option(tag)),
                        tag: tag.clone(),
                        found: rtag,
                        value,
                    });
                }
                let mut repl = None;
                if !conditional.is_empty() {
                    repl = tags.get(&format!("{rtag}?{conditional}")).cloned();
                }
                if repl.is_none() {
                    repl = tags.get(&rtag).cloned();
                }
                if repl.is_none() {
                    repl = extra(&rtag)?;
                }
                let Some(repl) = repl else {
                    m = find_tag(&value, end).map(|(s, e, n)| (s, e, n.to_string()));
                    continue;
                };
                let pattern = format!("<{rtag}>");
                let grown = value.matches(&pattern).count() * repl.len();
                if value.len().saturating_add(grown) > MAX_VALUE_LEN {
                    let mut cut = value.len().min(200);
                    while !value.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    return Err(ConfigError::TagRecursion {
                        at: Box::new(Location::default().with_option(tag)),
                        tag: tag.clone(),
                        found: rtag,
                        value: format!("{}...", &value[..cut]),
                    });
                }
                value = value.replace(&pattern, &repl);
                *counts.entry(rtag).or_insert(0) += 1;
                m = find_tag(&value, start).map(|(s, e, n)| (s, e, n.to_string()));
            }
            let changed = value != orig;
            let still_tagged = changed && find_tag(&value, 0).is_some();
            if known_counts || still_tagged {
                rep_counts.insert(tag.clone(), counts);
            }
            if still_tagged {
                repeat = true;
            }
            if !value.contains('<') {
                done.insert(tag.clone());
            }
            if changed {
                tags.insert(tag.clone(), value);
            }
        }
        if !repeat {
            return Ok(tags);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> OrderedMap<String> {
        pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
    }

    fn subst(pairs: &[(&str, &str)]) -> OrderedMap<String> {
        substitute_recursive_tags(&map(pairs), "", &HashSet::new(), |_| Ok(None)).expect("resolves")
    }

    #[test]
    fn doubling_tags_stop_at_the_value_bound() {
        let names: Vec<(String, String)> = (0..24)
            .map(|i| (format!("t{i}"), format!("<t{0}><t{0}>", i + 1)))
            .chain([("t24".to_string(), "x".repeat(100))])
            .collect();
        let pairs: Vec<(&str, &str)> = names
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let got = substitute_recursive_tags(&map(&pairs), "", &HashSet::new(), |_| Ok(None));
        assert!(
            matches!(got, Err(ConfigError::TagRecursion { .. })),
            "{got:?}"
        );
    }

    #[test]
    fn find_tag_is_innermost_first() {
        assert_eq!(find_tag("<mdre-<mode>>", 0), Some((6, 12, "mode")));
        assert_eq!(find_tag("a < b> <x>", 0), Some((7, 10, "x")));
        assert_eq!(find_tag("<>", 0), None);
    }

    // Expected results were printed by fail2ban 1.0.2's substituteRecursiveTags.

    #[test]
    fn nested_and_unknown_tags() {
        let out = subst(&[
            ("failregex", "^<mdre-<mode>> <HOST> <F-USER>x</F-USER>"),
            ("mode", "normal"),
            ("mdre-normal", "N<_daemon>"),
            ("_daemon", "sshd"),
        ]);
        assert_eq!(
            out.get("failregex").map(String::as_str),
            Some("^Nsshd <HOST> <F-USER>x</F-USER>")
        );
    }

    #[test]
    fn a_b_example_from_fail2ban_docs() {
        let out = subst(&[("a", "3"), ("b", "<a>_3")]);
        assert_eq!(out.get("b").map(String::as_str), Some("3_3"));
    }

    #[test]
    fn extra_lookup_for_tags_outside_the_map() {
        let out = substitute_recursive_tags(
            &map(&[("x", "<lt_file/p> <HOST>")]),
            "",
            &HashSet::new(),
            |t| Ok((t == "lt_file/p").then(|| "P<y>".to_string())),
        )
        .expect("resolves");
        assert_eq!(out.get("x").map(String::as_str), Some("P<y> <HOST>"));
    }

    #[test]
    fn self_reference_is_an_error() {
        let r =
            substitute_recursive_tags(&map(&[("a", "x<a>")]), "", &HashSet::new(), |_| Ok(None));
        assert!(matches!(r, Err(ConfigError::TagRecursion { .. })));
        let r = substitute_recursive_tags(
            &map(&[("a", "<b>"), ("b", "<a>")]),
            "",
            &HashSet::new(),
            |_| Ok(None),
        );
        assert!(matches!(r, Err(ConfigError::TagRecursion { .. })));
    }

    #[test]
    fn ignore_and_conditional() {
        let ignore: HashSet<String> = ["b".to_string()].into_iter().collect();
        let out = substitute_recursive_tags(
            &map(&[
                ("a", "<b><c>"),
                ("b", "B<c>"),
                ("c", "C"),
                ("c?family=inet6", "C6"),
            ]),
            "family=inet6",
            &ignore,
            |_| Ok(None),
        )
        .expect("resolves");
        assert_eq!(out.get("a").map(String::as_str), Some("<b>C6"));
        assert_eq!(out.get("b").map(String::as_str), Some("B<c>"));
    }
}
