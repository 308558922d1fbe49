//! ferroban: Fail2ban rebuilt in Rust.
//!
//! The data path reads top to bottom in this crate's layout:
//! `config` (fail2ban's INI dialect) feeds `filter` (Python-`re` dialect,
//! dates, the per-line matcher), whose failures go to `jail` (failure
//! counting, ban list) and then to actions (`action`, whose mail alerts
//! are sent by `mail`). `regex_tool` is the `fail2ban-regex` program
//! built on `config` and `filter`; binaries in `src/bin` only call into it.

pub mod action;
pub mod cli;
pub mod client;
pub mod config;
pub mod filter;
#[doc(hidden)]
pub mod fuzzing;
pub mod jail;
pub mod mail;
pub(crate) mod py;
pub mod regex_tool;
pub mod server;
pub mod watch;
