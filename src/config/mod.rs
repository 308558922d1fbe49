//! fail2ban's configuration dialect, read exactly as fail2ban 1.0.2 reads it.
//!
//! Every later stage (filters, jails, actions) starts from these values,
//! so the aim here is byte-identical results to fail2ban's Python
//! readers on the same files. Layers, from text to a loaded filter:
//! - `ini`: one file's INI text as Python's `ConfigParser` parses it;
//! - `layered`: `X.conf`, `X.d/*.conf`, `X.local`, `X.d/*.local` and
//!   `[INCLUDES]` merged into one `Config` (with `KNOWN/` values);
//! - `store` + `interp`: `get` with `%(name)s` interpolation;
//! - `options`: `name[param=value, ...]` lists;
//! - `tags`: recursive `<tag>` substitution between options;
//! - `definition`: `[Definition]`/`[Init]` readers (filters, actions);
//! - `filter`: `load_filter` for `fail2ban-regex` and jails.
//!
//! Parsing works on `&str`; file access goes through `layered::ConfigFs`
//! (`RealFs` in production, an in-memory tree in tests).

pub mod definition;
mod error;
pub mod filter;
pub mod ini;
mod interp;
pub mod jail;
pub mod jailspec;
pub mod layered;
pub mod omap;
pub mod options;
pub mod pathglob;
mod shlex;
mod store;
pub mod stream;
pub mod tags;

pub use error::{ConfigError, InterpolationProblem, Location, SyntaxProblem};
pub use filter::{FilterDef, FilterLoad, FilterSource, load_filter, load_filter_with};
pub use omap::OrderedMap;
pub use options::split_name_options;
pub use store::Config;
