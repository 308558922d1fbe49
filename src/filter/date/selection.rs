//! Which template's match wins for a line, and how winners move up.
//!
//! This is fail2ban's `matchTime`/`_reorderTemplate`: the last winner is
//! tried first (inside its old span if the text around it looks the same),
//! otherwise all templates are searched in order; a match further into the
//! line than before is only a fallback, and a winner is moved towards the
//! front by its weight (hits per distance). Positions are in characters,
//! as Python counts them.

use super::DateDetector;
use super::template::{Hit, Template};

/// A template as one detector uses it (fail2ban's `DateDetectorTemplate`).
#[derive(Clone)]
pub(super) struct Entry {
    pub(super) tpl: Template,
    /// Lines this template won.
    pub(super) hits: u64,
    pub(super) last_used: f64,
    /// Character offset of its last match in its line.
    pub(super) distance: usize,
}

pub(super) const FAR: usize = 0x7fff_ffff;
/// fail2ban moves a template over one unused for this long (seconds).
const UNUSED_TIME: f64 = 300.0;

impl Entry {
    pub(super) fn new(tpl: Template) -> Entry {
        Entry {
            tpl,
            hits: 0,
            last_used: 0.0,
            distance: FAR,
        }
    }

    pub(super) fn weight(&self) -> f64 {
        self.hits as f64 * self.tpl.weight / self.distance.max(1) as f64
    }
}

/// Where the last winning match was, with the characters around its edges
/// (`None` stands for Python's empty slice).
#[derive(Clone, Copy)]
pub(super) struct Edge {
    pub(super) pos: usize,
    pub(super) before: Option<char>,
    pub(super) after: Option<char>,
}

impl DateDetector {
    /// fail2ban's `matchTime`: the winning match and its template's index
    /// (after reordering).
    pub(super) fn match_time<'t>(&mut self, line: &'t str, now: f64) -> Option<(Hit<'t>, usize)> {
        let n = self.entries.len();
        let ascii = line.is_ascii();
        let chars = |byte: usize| {
            if ascii {
                byte
            } else {
                line[..byte].chars().count()
            }
        };
        let mut found: Option<(Hit<'t>, usize, usize, usize)> = None;
        let mut ignore = usize::MAX;
        let mut winner: Option<(Hit<'t>, usize, usize)> = None;
        let mut i = self.last_index;

        if i < n {
            let anchored = self.entries[i].tpl.anchored();
            let hit = if anchored {
                ignore = i;
                self.entries[i].tpl.search(line, None, &self.years)
            } else if self.same_surroundings(line, ascii) {
                let from = char_to_byte(line, ascii, self.last_start.pos);
                let to = char_to_byte(line, ascii, self.last_end.pos);
                if from <= to {
                    self.entries[i]
                        .tpl
                        .search(line, Some((from, to)), &self.years)
                } else {
                    None
                }
            } else {
                ignore = i;
                self.entries[i].tpl.search(line, None, &self.years)
            };
            if let Some(h) = hit {
                let (d, e) = (chars(h.whole.0), chars(h.whole.1));
                if n == 1 || anchored || (d == self.last_start.pos && e == self.last_end.pos) {
                    winner = Some((h, d, e));
                } else {
                    // The date moved: keep it as a fallback, look for better.
                    found = Some((h, d, e, i));
                }
            }
        }

        if winner.is_none() {
            let mut idx = 0;
            while idx < n {
                if idx == ignore {
                    idx += 1;
                    continue;
                }
                let Some(h) = self.entries[idx].tpl.search(line, None, &self.years) else {
                    idx += 1;
                    continue;
                };
                let (d, e) = (chars(h.whole.0), chars(h.whole.1));
                let stop = idx + 1 >= n
                    || self.entries[idx].tpl.anchored()
                    || (d == 0
                        && self.entries[idx].hits > 0
                        && self.entries[idx + 1].tpl.regex_hits == 0);
                if !stop && (d > self.entries[idx].distance || d > self.last_start.pos) {
                    // Found further into the line than before: maybe a
                    // date-like text in the message; keep the nearest.
                    if d < found.as_ref().map_or(FAR, |f| f.1) {
                        found = Some((h, d, e, idx));
                    }
                    idx += 1;
                    continue;
                }
                winner = Some((h, d, e));
                i = idx;
                break;
            }
            if winner.is_none()
                && let Some((h, d, e, fi)) = found
            {
                winner = Some((h, d, e));
                i = fi;
            }
        }

        let (hit, d, e) = winner?;
        let entry = &mut self.entries[i];
        entry.hits += 1;
        entry.last_used = now;
        entry.distance = d;
        if self.first_unused == i {
            self.first_unused += 1;
        }
        self.last_start = Edge {
            pos: d,
            before: d.checked_sub(1).and_then(|p| char_at(line, ascii, p)),
            after: char_at(line, ascii, d),
        };
        self.last_end = Edge {
            pos: e,
            // Python's `line[e-1]` reads the last character when e == 0.
            before: match e.checked_sub(1) {
                Some(p) => char_at(line, ascii, p),
                None => line.chars().next_back(),
            },
            after: char_at(line, ascii, e),
        };
        if i != 0 && i != self.last_index {
            i = self.reorder(i);
        }
        self.last_index = i;
        Some((hit, i))
    }

    /// fail2ban only searches the old span of the last template when the
    /// line has the same characters around it (or non-alphanumeric ones
    /// inside the edges), so the date has not moved.
    fn same_surroundings(&self, line: &str, ascii: bool) -> bool {
        let (s, e) = (self.last_start, self.last_end);
        let at = |i: usize| char_at(line, ascii, i);
        let before_s = s.pos.checked_sub(1).and_then(at);
        let start_ok = before_s == s.before
            || (at(s.pos) == s.after && s.after.is_some_and(|c| !c.is_alphanumeric()));
        let before_e = e.pos.checked_sub(1).and_then(at);
        let end_ok = at(e.pos) == e.after
            || (before_e == e.before && e.before.is_some_and(|c| !c.is_alphanumeric()));
        start_ok && end_ok
    }

    /// fail2ban's `_reorderTemplate`: move a template that just won
    /// towards the front if it weighs more than (or the target was unused
    /// for 5 minutes before) the one in its way.
    fn reorder(&mut self, num: usize) -> usize {
        // Template indexes change: a remembered conversion no longer
        // names its template.
        self.memo.value = None;
        let weight = self.entries[num].weight();
        let untime = self.entries[num].last_used - UNUSED_TIME;
        let movable = |entries: &[Entry], pos: usize| {
            weight > entries[pos].weight() || untime > entries[pos].last_used
        };
        let mut pos = if self.first_unused < num {
            self.first_unused
        } else {
            num / 2
        };
        if !movable(&self.entries, pos) {
            if pos == num - 1 {
                return num;
            }
            pos = num - 1;
            if !movable(&self.entries, pos) {
                return num;
            }
        }
        let e = self.entries.remove(num);
        self.entries.insert(pos, e);
        while self.first_unused < self.entries.len() && self.entries[self.first_unused].hits > 0 {
            self.first_unused += 1;
        }
        pos
    }
}

/// Python's `line[index]` with character indices (`ascii`: the line is
/// ASCII, so they are byte indices).
fn char_at(line: &str, ascii: bool, index: usize) -> Option<char> {
    if ascii {
        line.as_bytes().get(index).map(|&b| char::from(b))
    } else {
        line.chars().nth(index)
    }
}

fn char_to_byte(line: &str, ascii: bool, index: usize) -> usize {
    if ascii {
        index.min(line.len())
    } else {
        line.char_indices()
            .nth(index)
            .map_or(line.len(), |(b, _)| b)
    }
}
