//! fail2ban's regex tags (`<HOST>`, `<F-USER>…</F-USER>`, `<SKIPLINES>`…).
//!
//! Filters are written with these tags; fail2ban expands them into Python
//! regex text before compiling. This module does that expansion (the result
//! is still Python syntax, for `pyre` to translate), and describes how the
//! named groups it creates are read back: alternate names (`alt_user_1` →
//! `user`) and tuples (`tuple_id_2` → `id`).

/// fail2ban's `usedns` setting, which decides what `<HOST>` may match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum UseDns {
    Yes,
    #[default]
    Warn,
    No,
    Raw,
}

impl UseDns {
    pub fn parse(s: &str) -> Option<UseDns> {
        match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "true" | "on" | "1" => Some(UseDns::Yes),
            "warn" => Some(UseDns::Warn),
            "no" | "false" | "off" | "0" => Some(UseDns::No),
            "raw" => Some(UseDns::Raw),
            _ => None,
        }
    }
}

const IP4: &str = r"(?:\d{1,3}\.){3}\d{1,3}";
const IP6: &str = r"(?:[0-9a-fA-F]{1,4}::?|::){1,7}(?:[0-9a-fA-F]{1,4}|(?<=:):)";

/// The same language as `IP6` without its look-behind: every repetition
/// of the first group ends in `:`, so `(?<=:)` always holds where it is
/// tested. Compiling this form keeps `<HOST>` on the linear-time engine.
const IP6_LINEAR: &str = r"(?:[0-9a-fA-F]{1,4}::?|::){1,7}(?:[0-9a-fA-F]{1,4}|:)";

/// Rewrites tag expansions into equivalent forms that need no
/// backtracking engine (reports still print `resolve_tags`' text).
pub fn linearize(resolved: &str) -> String {
    resolved.replace(IP6, IP6_LINEAR)
}

fn r_ip4() -> String {
    format!("(?:::f{{4,6}}:)?(?P<ip4>{IP4})")
}
fn r_ip6() -> String {
    format!("(?P<ip6>{IP6})")
}
const R_DNS: &str = r"(?P<dns>[\w\-.^_]*\w)";
const R_CIDR: &str = r"(?P<cidr>\d+)";
fn r_addr() -> String {
    format!(r"\[?(?:{}|{})\]?", r_ip4(), r_ip6())
}
fn r_host() -> String {
    format!("(?:{}|{})", r_addr(), R_DNS)
}
fn r_subnet() -> String {
    format!(r"\[?(?:{}|{})(?:/{})?\]?", r_ip4(), r_ip6(), R_CIDR)
}

/// The fixed replacement of a tag name, if it has one.
fn static_tag(name: &str) -> Option<String> {
    Some(match name {
        "IP4" | "F-IP4/" => r_ip4(),
        "IP6" | "F-IP6/" => r_ip6(),
        "ADDR" | "F-ADDR/" => r_addr(),
        "CIDR" | "F-CIDR/" => R_CIDR.to_string(),
        "SUBNET" | "F-SUBNET/" => r_subnet(),
        "DNS" | "F-DNS/" => R_DNS.to_string(),
        "F-ID/" => r"(?P<fid>\S+)".to_string(),
        "F-PORT/" => r"(?P<fport>\w+)".to_string(),
        _ => return None,
    })
}

/// Group name for a custom `F-NAME` tag: lower case, with fail2ban's
/// short names for the failure id and port.
pub fn tag_to_group(tag: &str) -> String {
    let lower = tag.to_ascii_lowercase();
    match lower.as_str() {
        "id" => "fid".to_string(),
        "port" => "fport".to_string(),
        _ => lower,
    }
}

/// Splits `F-NAME` / `/F-NAME` into (closing, NAME) when NAME is upper case.
fn custom_tag(tn: &str) -> Option<(bool, &str)> {
    let (close, rest) = match tn.strip_prefix('/') {
        Some(r) => (true, r),
        None => (false, tn),
    };
    let name = rest.strip_prefix("F-")?;
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    ok.then_some((close, name))
}

/// Is `c` a Python `\w` character (the tag name alphabet with `-`)?
fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

/// Finds the next `</?[\w\-]+/?>` at or after `from`: (start, end).
fn next_tag(s: &str, from: usize) -> Option<(usize, usize)> {
    let mut search = from;
    while let Some(off) = s[search..].find('<') {
        let start = search + off;
        let rest = &s[start + 1..];
        let body_start = usize::from(rest.starts_with('/'));
        let body = &rest[body_start..];
        let name_len: usize = body
            .chars()
            .take_while(|c| is_tag_char(*c))
            .map(char::len_utf8)
            .sum();
        if name_len > 0 {
            let after = &body[name_len..];
            let slash = usize::from(after.starts_with('/'));
            if after[slash..].starts_with('>') {
                let end = start + 1 + body_start + name_len + slash + 1;
                return Some((start, end));
            }
        }
        search = start + 1;
    }
    None
}

/// Expands fail2ban's tags in a failregex/ignoreregex/prefregex, as its
/// `Regex._resolveHostTag` does, then turns `((?i)x)` into `(?i:x)`.
pub fn resolve_tags(regex: &str, use_dns: UseDns) -> String {
    let mut out = String::with_capacity(regex.len() * 2);
    let mut open: Vec<String> = Vec::new();
    let mut skiplines = 0;
    let mut pos = 0;
    while let Some((start, end)) = next_tag(regex, pos) {
        out.push_str(&regex[pos..start]);
        let tag = &regex[start..end];
        let tn = &tag[1..tag.len() - 1];
        if tn == "HOST" {
            out.push_str(&if use_dns == UseDns::No {
                r_addr()
            } else {
                r_host()
            });
        } else if tn == "SKIPLINES" {
            out.push_str(&format!(r"\n(?P<skiplines{skiplines}>(?:(?:.*\n)*?))"));
            skiplines += 1;
        } else if let Some(r) = static_tag(tn) {
            out.push_str(&r);
        } else if let Some((close, name)) = custom_tag(tn) {
            if close {
                if open.iter().any(|o| o == name) {
                    out.push(')');
                } else {
                    out.push_str(tag);
                }
            } else {
                open.push(name.to_string());
                out.push_str("(?P<");
                out.push_str(&tag_to_group(name));
                out.push('>');
            }
        } else {
            out.push_str(tag);
        }
        pos = end;
    }
    out.push_str(&regex[pos..]);
    global_flags_to_local(&out)
}

/// fail2ban rewrites `((?i)x)` and `(?:(?i)x)` into `(?i:x)` so that such
/// groups compile on Python versions that reject mid-pattern global flags.
fn global_flags_to_local(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'(' && (i == 0 || b[i - 1] != b'\\') {
            let mut j = i + 1;
            if s[j..].starts_with("?:") {
                j += 2;
            }
            if s[j..].starts_with("(?") {
                let fstart = j + 2;
                let flen = b[fstart..]
                    .iter()
                    .take_while(|c| c.is_ascii_lowercase())
                    .count();
                if flen > 0 && b.get(fstart + flen) == Some(&b')') {
                    out.push_str(&s[copied..i]);
                    out.push_str(&s[j..fstart + flen]);
                    out.push(':');
                    i = fstart + flen + 1;
                    copied = i;
                    continue;
                }
            }
        }
        i += 1;
    }
    out.push_str(&s[copied..]);
    out
}

/// How a named group is folded into the failure data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Complex {
    /// `alt_NAME[_N]`: fills NAME when NAME is empty.
    Alt { group: String, target: String },
    /// `tuple_NAME[_N]`: appended to NAME as a tuple.
    Tuple { group: String, target: String },
}

/// Reads alt_/tuple_ group names, sorted as fail2ban sorts them.
pub fn complex_groups<'a>(names: impl Iterator<Item = &'a str>) -> Vec<Complex> {
    let mut alts = Vec::new();
    let mut tups = Vec::new();
    for name in names.filter(|n| n.len() > 4) {
        let (is_alt, rest) = if let Some(r) = name.strip_prefix("alt_") {
            (true, r)
        } else if let Some(r) = name.strip_prefix("tuple_") {
            (false, r)
        } else {
            continue;
        };
        // Strip one trailing `_<digits>` (the regex is non-greedy on NAME).
        let base = match rest.rfind('_') {
            Some(p) if p + 1 < rest.len() && rest[p + 1..].bytes().all(|c| c.is_ascii_digit()) => {
                &rest[..p]
            }
            _ => rest,
        };
        let target = tag_to_group(base);
        if is_alt {
            alts.push((name.to_string(), target));
        } else {
            tups.push((name.to_string(), target));
        }
    }
    alts.sort();
    tups.sort();
    alts.into_iter()
        .map(|(group, target)| Complex::Alt { group, target })
        .chain(
            tups.into_iter()
                .map(|(group, target)| Complex::Tuple { group, target }),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_follows_usedns() {
        let yes = resolve_tags("from <HOST>$", UseDns::Yes);
        assert!(yes.contains("(?P<dns>"));
        let no = resolve_tags("from <HOST>$", UseDns::No);
        assert!(!no.contains("(?P<dns>") && no.contains("(?P<ip4>"));
    }

    #[test]
    fn custom_tags_open_and_close() {
        assert_eq!(
            resolve_tags("<F-USER>.*</F-USER> <F-ID/>", UseDns::No),
            r"(?P<user>.*) (?P<fid>\S+)"
        );
        assert_eq!(resolve_tags("a</F-USER>", UseDns::No), "a</F-USER>");
        assert_eq!(
            resolve_tags("<F-ALT_USER1>x</F-ALT_USER1>", UseDns::No),
            "(?P<alt_user1>x)"
        );
        assert_eq!(
            resolve_tags("<unknown> <f-low>", UseDns::No),
            "<unknown> <f-low>"
        );
        assert_eq!(
            resolve_tags("a<SKIPLINES>b<SKIPLINES>", UseDns::No),
            r"a\n(?P<skiplines0>(?:(?:.*\n)*?))b\n(?P<skiplines1>(?:(?:.*\n)*?))"
        );
    }

    #[test]
    fn ip6_without_lookbehind_matches_the_same() {
        let fancy = fancy_regex::Regex::new(&format!("^{IP6}$")).unwrap();
        let plain = regex::Regex::new(&format!("^{IP6_LINEAR}$")).unwrap();
        for s in [
            "2001:db8::1",
            "::1",
            "fe80::",
            "1::",
            "::",
            ":::",
            "1:2:3:4:5:6:7:8",
            "2001:db8:",
            "a::b::c",
            "::ffff:1",
            "1:2:3:4:5:6:7:8:9",
        ] {
            assert_eq!(fancy.is_match(s).unwrap(), plain.is_match(s), "{s}");
        }
        assert!(!linearize(&resolve_tags("<HOST>", UseDns::Yes)).contains("(?<="));
    }

    #[test]
    fn global_flags_become_local() {
        assert_eq!(global_flags_to_local("a((?i)b)"), "a(?i:b)");
        assert_eq!(global_flags_to_local("a(?:(?i)b)"), "a(?i:b)");
        assert_eq!(global_flags_to_local(r"a\((?i)b)"), r"a\((?i)b)");
    }

    #[test]
    fn alt_and_tuple_names() {
        let c = complex_groups(["alt_user_1", "alt_user", "tuple_id_2", "user"].into_iter());
        assert_eq!(
            c,
            vec![
                Complex::Alt {
                    group: "alt_user".into(),
                    target: "user".into()
                },
                Complex::Alt {
                    group: "alt_user_1".into(),
                    target: "user".into()
                },
                Complex::Tuple {
                    group: "tuple_id_2".into(),
                    target: "fid".into()
                },
            ]
        );
    }
}
