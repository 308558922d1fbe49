//! Fuzz target: the date parser (default detector; first line as a datepattern).
//! The body lives in `ferroban::fuzzing` so tests/fuzz_regressions.rs replays
//! the corpus and crashes through the same code on stable Rust.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ferroban::fuzzing::date(data));
