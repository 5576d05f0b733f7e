//! The fuzz targets' properties under proptest, on stable: arbitrary bytes, and the seeds
//! mutated (bytes replaced, inserted, removed; cut anywhere). Case counts are bounded so
//! the run takes seconds; `PROPTEST_CASES` raises them.

#![allow(clippy::unwrap_used, clippy::panic)]

use proptest::prelude::*;
use switchboard_fuzz::{
    dialect, passthrough_scanner, request_round_trip, response_round_trip, seeds, sse_split_invariance,
    stream_translation,
};
use switchboard_protocol::Dialect;

/// A seed with a few byte-level mutations.
fn mutated(seeds: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(seeds.to_vec()),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 0..6),
        any::<prop::sample::Index>(),
        any::<bool>(),
    )
        .prop_map(|(seed, edits, cut, truncate)| {
            let mut b = seed.as_bytes().to_vec();
            for (at, byte, op) in edits {
                let i = at.index(b.len() + 1);
                match op {
                    0 if i < b.len() => b[i] = byte,
                    1 => b.insert(i, byte),
                    _ if i < b.len() => {
                        b.remove(i);
                    }
                    _ => {}
                }
            }
            if truncate {
                b.truncate(cut.index(b.len() + 1));
            }
            b
        })
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..256),
        4 => mutated(&seeds::REQUESTS),
        4 => mutated(&seeds::RESPONSES),
        4 => mutated(&seeds::STREAMS),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn sse_decoder(cuts in prop::collection::vec(any::<u8>(), 0..32), data in input()) {
        let mut i = vec![u8::try_from(cuts.len()).unwrap()];
        i.extend(cuts);
        i.extend(data);
        sse_split_invariance(&i);
    }

    #[test]
    fn scanner(data in input()) {
        passthrough_scanner(&data);
    }

    #[test]
    fn requests(d in 0u8..4, data in input()) {
        request_round_trip(dialect(d), &data);
    }

    #[test]
    fn requests_from_their_own_seed(d in 0u8..4, data in mutated(&seeds::REQUESTS)) {
        request_round_trip(dialect(d), &data);
    }

    #[test]
    fn responses(d in 0u8..4, data in input()) {
        response_round_trip(dialect(d), &data);
    }

    #[test]
    fn stream_translation_pairs(from in 0u8..4, to in 0u8..4, cuts in prop::collection::vec(any::<u8>(), 0..32), data in mutated(&seeds::STREAMS)) {
        let mut i = vec![from, to, u8::try_from(cuts.len()).unwrap()];
        i.extend(cuts);
        i.extend(data);
        stream_translation(&i);
    }
}

/// The unmutated seeds satisfy every property (and decode: they are meaningful inputs).
#[test]
fn seeds_hold() {
    for d in Dialect::ALL {
        let i = switchboard_fuzz::seed_index(d);
        assert!(
            switchboard_protocol::decode_request(d, seeds::REQUESTS[i].as_bytes()).is_ok(),
            "{d} request seed"
        );
        assert!(
            switchboard_protocol::decode_response(d, seeds::RESPONSES[i].as_bytes()).is_ok(),
            "{d} response seed"
        );
        request_round_trip(d, seeds::REQUESTS[i].as_bytes());
        response_round_trip(d, seeds::RESPONSES[i].as_bytes());
        for to in 0..4u8 {
            let mut input = vec![u8::try_from(i).unwrap(), to, 0];
            input.extend_from_slice(seeds::STREAMS[i].as_bytes());
            stream_translation(&input);
        }
        let mut input = vec![0];
        input.extend_from_slice(seeds::STREAMS[i].as_bytes());
        sse_split_invariance(&input);
        passthrough_scanner(seeds::REQUESTS[i].as_bytes());
    }
}

/// `WRITE_CORPUS=1 cargo test --manifest-path fuzz/Cargo.toml write_corpus` refreshes the
/// seed corpora in `fuzz/corpus/<target>/` from the seeds above.
#[test]
fn write_corpus() {
    if std::env::var_os("WRITE_CORPUS").is_none() {
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    for d in Dialect::ALL {
        let i = switchboard_fuzz::seed_index(d);
        write(
            &format!("request_{}", d.as_str()),
            "seed",
            seeds::REQUESTS[i].as_bytes(),
        );
        write(
            &format!("response_{}", d.as_str()),
            "seed",
            seeds::RESPONSES[i].as_bytes(),
        );
        let mut sse = vec![3, 7, 1, 13];
        sse.extend_from_slice(seeds::STREAMS[i].as_bytes());
        write("sse_decoder", &format!("seed-{}", d.as_str()), &sse);
        write(
            "passthrough_scanner",
            &format!("seed-{}", d.as_str()),
            seeds::REQUESTS[i].as_bytes(),
        );
        for to in 0..4u8 {
            let mut input = vec![u8::try_from(i).unwrap(), to, 2, 5, 11];
            input.extend_from_slice(seeds::STREAMS[i].as_bytes());
            write(
                "stream_translation",
                &format!("seed-{}-{to}", d.as_str()),
                &input,
            );
        }
    }
}

/// Found by the fuzzer: a float written with more digits than an f64 holds must decode to the
/// same value after the request is encoded again (serde_json's exact float parsing).
#[test]
fn long_float_literals_round_trip() {
    let body = br#"{"model":"gpt","temperature":1111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111110.2,"messages":[{"role":"user","content":"hi"}]}"#;
    request_round_trip(Dialect::OpenaiChat, body);
}
