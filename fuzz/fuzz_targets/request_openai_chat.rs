//! openai_chat client requests: decoding never panics, decode → encode → decode is stable.
#![no_main]

use switchboard_protocol::Dialect;

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchboard_fuzz::request_round_trip(
    Dialect::OpenaiChat,
    data
));
