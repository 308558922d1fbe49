//! The fail2ban-regex summary: hit counts per regex, date templates, and
//! the matched/ignored/missed line lists, laid out as fail2ban 1.0.2 does.

use crate::filter::failure::Failure;

/// fail2ban's tree-ish list: `|- header`, `|  item`, and a closing `` `- ``.
pub fn pprint_list(items: &[String], header: Option<&str>) -> String {
    if items.is_empty() {
        return String::new();
    }
    let mut s = String::new();
    if let Some(h) = header {
        s.push_str(&format!("|- {h}\n"));
    }
    s.push_str("|  ");
    s.push_str(&items.join("\n|  "));
    s.push_str("\n`-\n");
    s
}

/// Hits of one regex, and the failures it found (for `-v`).
#[derive(Default)]
pub struct RegexStat {
    pub source: String,
    pub hits: u64,
    pub found: Vec<(Failure, bool)>,
}

impl RegexStat {
    pub fn new(source: &str) -> RegexStat {
        RegexStat {
            source: source.to_string(),
            ..RegexStat::default()
        }
    }
}

/// Line counters and the lines kept for printing.
#[derive(Default)]
pub struct LineStats {
    pub tested: u64,
    pub matched: u64,
    pub missed: u64,
    pub ignored: u64,
    pub matched_lines: Vec<String>,
    pub missed_lines: Vec<String>,
    pub ignored_lines: Vec<String>,
    /// Lines on which a search gave up at the backtracking bound.
    pub bounded: u64,
}

impl std::fmt::Display for LineStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} lines, {} ignored, {} matched, {} missed",
            self.tested, self.ignored, self.matched, self.missed
        )
    }
}

/// `Failregex: N total` (or Ignoreregex) with the per-regex lines.
pub fn regex_section(
    title: &str,
    stats: &[RegexStat],
    verbose: bool,
    fmt_time: &dyn Fn(f64) -> String,
) -> String {
    let mut total = 0;
    let mut out = Vec::new();
    for (i, r) in stats.iter().enumerate() {
        total += r.hits;
        if r.hits > 0 || verbose {
            out.push(format!("{:2}) [{}] {}", i + 1, r.hits, r.source));
        }
        if verbose {
            for (f, multi) in &r.found {
                out.push(format!(
                    "    {}  {}{}",
                    f.id.as_deref().unwrap_or("None"),
                    fmt_time(f.time),
                    if *multi {
                        " (multiple regex matched)"
                    } else {
                        ""
                    }
                ));
            }
        }
    }
    format!(
        "\n{title}: {total} total\n{}",
        pprint_list(&out, Some(" #) [# of hits] regular expression"))
    )
}

/// One of the printed line lists, or the "too many" notice.
pub fn lines_section(
    kind: &str,
    count: u64,
    lines: &[String],
    maxlines: usize,
    all: bool,
) -> String {
    if count == 0 {
        return String::new();
    }
    let mut cap = kind.to_string();
    if let Some(first) = cap.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    let header = format!("{cap} line(s):");
    if (count as usize) < maxlines || all {
        let items: Vec<String> = lines.iter().map(|l| l.trim_end().to_string()).collect();
        pprint_list(&items, Some(&header))
    } else {
        format!("{header} too many to print.  Use --print-all-{kind} to print all {count} lines\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_layout() {
        assert_eq!(
            pprint_list(&["a".into(), "b".into()], Some("h")),
            "|- h\n|  a\n|  b\n`-\n"
        );
        assert_eq!(pprint_list(&[], Some("h")), "");
    }

    #[test]
    fn too_many_lines() {
        let s = lines_section("missed", 30, &[], 20, false);
        assert_eq!(
            s,
            "Missed line(s): too many to print.  Use --print-all-missed to print all 30 lines\n"
        );
    }
}
