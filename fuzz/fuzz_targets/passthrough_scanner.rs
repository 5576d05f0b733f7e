//! The pass-through scanner: reads top-level objects as serde does, finds duplicate keys.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard_fuzz::passthrough_scanner(data));
