//! SSE decoding: split-invariant, byte-by-byte equal, frames round-trip, no panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard_fuzz::sse_split_invariance(data));
