//! Fuzz target: the INI reader (one filter file: includes, interpolation, init options).
//! The body lives in `ferroban::fuzzing` so tests/fuzz_regressions.rs replays
//! the corpus and crashes through the same code on stable Rust.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ferroban::fuzzing::ini(data));
