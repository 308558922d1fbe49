//! The filter stage: turn one log line into zero or one failure.
//!
//! `pyre` translates Python `re` patterns, `tags` expands fail2ban's
//! `<HOST>`-style tags, `date` finds and cuts the timestamp, and `matcher`
//! runs prefregex/failregex/ignoreregex with multi-line buffers. All of it
//! is pure: no file, socket or clock access happens here.

pub(crate) mod backtrack;
pub mod branches;
pub mod compiled;
pub mod cutter;
pub mod date;
pub mod failure;
pub mod matcher;
pub mod mlfid;
pub mod prefsplit;
pub mod pyre;
pub mod tags;
pub mod unfancy;
