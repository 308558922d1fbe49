//! fail2ban-regex on two cores: a reader thread reads the lines and runs
//! stage one of matching (dates, prefilter: `filter::cutter`), and the
//! caller runs the matcher on what it sends, in order.
//!
//! Lines travel in batches so that handing them over costs little, and
//! the line buffers of a finished batch go back to the reader for reuse,
//! so no line is allocated. The channel is bounded: a slow matcher holds
//! the reader back instead of letting lines pile up in memory.

use std::sync::mpsc::{channel, sync_channel};

use crate::filter::cutter::{LineCutter, Prepared};

use super::LineSource;

/// Lines per batch, and batches in flight.
const BATCH: usize = 128;
const IN_FLIGHT: usize = 2;
/// Lines between two readings of the clock.
const CLOCK_EVERY: u32 = 64;

/// One line, prepared by stage one at time `now`.
pub struct Item {
    pub line: String,
    pub prepared: Prepared,
    pub now: f64,
}

/// Feeds every line of `lines` (comments and empty lines left out, as
/// fail2ban-regex does) through `cutter` on a reader thread, and `each` on
/// this one. Returns the cutter, whose date statistics the report prints.
pub fn run(
    mut lines: Box<dyn LineSource + Send>,
    mut cutter: LineCutter,
    mut each: impl FnMut(&Item),
) -> LineCutter {
    let (tx, rx) = sync_channel::<Vec<Item>>(IN_FLIGHT);
    let (back_tx, back_rx) = channel::<Vec<String>>();
    let reader = std::thread::spawn(move || {
        let mut batch = Vec::with_capacity(BATCH);
        let mut spare: Vec<String> = Vec::new();
        let mut raw = String::new();
        let mut now = super::now();
        let mut count = 0u32;
        while lines.next_line(&mut raw) {
            // Python's `rstrip('\r\n')`.
            let end = raw.trim_end_matches(['\r', '\n']).len();
            raw.truncate(end);
            if raw.is_empty() || raw.starts_with('#') {
                continue;
            }
            // The clock moves on little between lines: read it now and then.
            count = count.wrapping_add(1);
            if count.is_multiple_of(CLOCK_EVERY) {
                now = super::now();
            }
            let prepared = cutter.prepare(&raw, now);
            if spare.is_empty() {
                spare = back_rx.try_recv().unwrap_or_default();
            }
            let line = match spare.pop() {
                Some(mut s) => {
                    s.clear();
                    s.push_str(&raw);
                    s
                }
                None => raw.clone(),
            };
            batch.push(Item {
                line,
                prepared,
                now,
            });
            if batch.len() == BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                if tx.send(full).is_err() {
                    break;
                }
            }
        }
        if !batch.is_empty() {
            let _ = tx.send(batch);
        }
        cutter
    });
    for batch in rx {
        for item in &batch {
            each(item);
        }
        // The line buffers go back to the reader.
        let _ = back_tx.send(batch.into_iter().map(|i| i.line).collect());
    }
    // The reader does not panic on input; should it fail anyway, the run's
    // results stand and only the date statistics are lost.
    reader.join().unwrap_or_default()
}
