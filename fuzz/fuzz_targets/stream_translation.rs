//! Stream translation between every pair of dialects (chosen by the first two bytes):
//! split-invariant, complete frames, no panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard_fuzz::stream_translation(data));
