//! The one place a provider key is kept out of what leaves the process: every upstream body,
//! stream chunk and message that can reach a client, a log line or a record goes through
//! [`Scrubber::scrub`] first (SECURITY.md T7).
//!
//! An upstream that echoes the key may quote it whole, truncated at either end, JSON-escaped
//! (`sk\u002d…`, `\/`) or URL-encoded (`%2B`, `%2F`, `%3D`). The text is therefore read through
//! those encodings. Two strengths:
//!
//! - [`Scrubber::scrub`], for everything that is an error — non-2xx bodies, error objects in a
//!   2xx, in-band error events, messages built from them: any run of at least [`MIN_ECHO`]
//!   bytes that also occurs in the key is masked together with the rest of the token it belongs
//!   to, whatever characters the key holds (this is where providers quote keys).
//! - [`Scrubber::scrub_content`], for a successful answer's content: only the whole key (through
//!   the same encodings), and only a key of [`CONTENT_MIN_KEY`] bytes or more. Pieces of a key
//!   are ordinary words often enough (`sk-upstream-anthropic`, a local server's dummy
//!   `not-needed`) that masking them would corrupt what the model wrote.

use std::borrow::Cow;
use std::collections::HashSet;

use crate::secret::Secret;

/// The shortest piece of a key that is masked on its own. Shorter keys are masked only whole.
pub const MIN_ECHO: usize = 8;
/// Keys shorter than this are not looked for: they would mask ordinary words.
const MIN_KEY: usize = 4;
/// Keys shorter than this are not looked for in successful content: such a key (`ollama`,
/// `none`, `lm-studio`) is a placeholder a local server ignores, and a word the model may write.
pub const CONTENT_MIN_KEY: usize = 16;
const MASK: &[u8] = b"****";

/// Finds and masks one key. Built once per attempt; cheap to run on text without the key.
pub struct Scrubber {
    /// The whole key, for [`Scrubber::scrub_content`].
    key: Secret,
    /// Length of the windows looked for: [`MIN_ECHO`], or the whole key when shorter.
    window: usize,
    /// Every `window`-byte slice of the key, packed into a `u64`.
    grams: HashSet<u64>,
    /// Byte pairs of the key (a 64 Ki-bit set): most text positions are rejected here.
    pairs: Box<[u64; 1024]>,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scrubber")
    }
}

fn pack(w: &[u8]) -> u64 {
    w.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

fn pair(a: u8, b: u8) -> usize {
    (usize::from(a) << 8) | usize::from(b)
}

impl Scrubber {
    pub fn new(secret: &Secret) -> Scrubber {
        let key = secret.expose().as_bytes();
        let window = key.len().min(MIN_ECHO);
        let mut grams = HashSet::new();
        let mut pairs = Box::new([0u64; 1024]);
        if key.len() >= MIN_KEY {
            let public = public_prefix(key);
            for (i, w) in key.windows(window).enumerate() {
                // A window inside the public prefix alone (`sk-proj-`) is no secret, and
                // models write such prefixes in ordinary text.
                if window < key.len() && i + window <= public {
                    continue;
                }
                grams.insert(pack(w));
            }
            for p in key.windows(2) {
                let i = pair(p[0], p[1]);
                pairs[i / 64] |= 1 << (i % 64);
            }
        }
        Scrubber {
            key: secret.clone(),
            window,
            grams,
            pairs,
        }
    }

    fn has_pair(&self, a: u8, b: u8) -> bool {
        let i = pair(a, b);
        self.pairs[i / 64] & (1 << (i % 64)) != 0
    }

    /// Does a window of the key start at `text[i]`, read through escapes? Returns where the
    /// window ends in `text`. Decodes only as far as needed: most positions fail on the first
    /// byte pair.
    fn match_at(&self, text: &[u8], i: usize) -> Option<usize> {
        let mut buf = [0u8; MIN_ECHO];
        let mut n = 0;
        let mut j = i;
        while n < self.window {
            let (c, len) = decode_at(text, j)?;
            buf[n] = c;
            n += 1;
            j += len;
            if n == 2 && !self.has_pair(buf[0], buf[1]) {
                return None;
            }
        }
        self.grams.contains(&pack(&buf[..n])).then_some(j)
    }

    /// Does the whole key start at `text[i]`, read through escapes? Returns where it ends.
    fn whole_at(&self, text: &[u8], i: usize) -> Option<usize> {
        let mut j = i;
        for want in self.key.expose().bytes() {
            let (c, len) = decode_at(text, j)?;
            if c != want {
                return None;
            }
            j += len;
        }
        Some(j)
    }

    /// Error text with every echo of the key, whole or in pieces, replaced by `****`;
    /// borrowed when there was none.
    pub fn scrub<'a>(&self, text: &'a [u8]) -> Cow<'a, [u8]> {
        if self.grams.is_empty() || text.len() < self.window {
            return Cow::Borrowed(text);
        }
        mask(text, |i| self.match_at(text, i))
    }

    /// A successful answer's content with every whole echo of the key replaced by `****`;
    /// borrowed when there was none.
    pub fn scrub_content<'a>(&self, text: &'a [u8]) -> Cow<'a, [u8]> {
        let key = self.key.expose().as_bytes();
        if key.len() < CONTENT_MIN_KEY || text.len() < key.len() {
            return Cow::Borrowed(text);
        }
        // Most positions fail on the first byte; a candidate starts with it or an escape.
        let first = key[0];
        mask(text, |i| {
            if text[i] != first && !matches!(text[i], b'\\' | b'%') {
                return None;
            }
            self.whole_at(text, i)
        })
    }

    /// The most bytes a whole echo of the key can span in content (every byte escaped as
    /// `\u00XX`): a stream scrubbed chunk by chunk holds back this many bytes less one, so an
    /// echo split between two chunks is still found. 0 when content is not scrubbed.
    pub fn content_span(&self) -> usize {
        let len = self.key.expose().len();
        if len < CONTENT_MIN_KEY { 0 } else { len * 6 }
    }

    /// [`Scrubber::scrub`] for text.
    pub fn scrub_str<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.scrub(text.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            Cow::Owned(b) => Cow::Owned(String::from_utf8_lossy(&b).into_owned()),
        }
    }
}

/// `text` with every match `found` reports (where a match starting at a position ends) masked,
/// together with the rest of the token it belongs to; borrowed when nothing matched.
fn mask<'a>(text: &'a [u8], found: impl Fn(usize) -> Option<usize>) -> Cow<'a, [u8]> {
    // Ranges of `text` to mask, in order.
    let mut hits: Vec<(usize, usize)> = Vec::new();
    for i in 0..text.len() {
        let Some(end) = found(i) else {
            continue;
        };
        match hits.last_mut() {
            Some(last) if i <= last.1 => last.1 = last.1.max(end),
            _ => hits.push((i, end)),
        }
    }
    if hits.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = Vec::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in hits {
        // The rest of the token the echo belongs to goes too (a truncated echo's tail,
        // a `***` the provider put in the middle).
        let mut s = start.max(at);
        while s > at && is_token_byte(text[s - 1]) {
            s -= 1;
        }
        let mut e = end.max(s);
        while e < text.len() && is_token_byte(text[e]) {
            e += 1;
        }
        out.extend_from_slice(&text[at..s]);
        if !out.ends_with(MASK) {
            out.extend_from_slice(MASK);
        }
        at = e;
    }
    out.extend_from_slice(&text[at..]);
    Cow::Owned(out)
}

/// How many leading bytes of `key` are its provider's public prefix (`sk-`, `sk-proj-`,
/// `sk-ant-api03-`): lowercase letters and digits up to the last `-` or `_` within the first
/// 16 bytes. Keys without such a prefix (`AIza…`, base64 secrets) have none.
fn public_prefix(key: &[u8]) -> usize {
    key.iter()
        .take(16)
        .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'))
        .enumerate()
        .filter(|(_, b)| matches!(b, b'-' | b'_'))
        .map(|(i, _)| i + 1)
        .last()
        .unwrap_or(0)
}

/// Characters a key (or a provider's masked rendering of one) is made of. Quotes, spaces,
/// backslashes and newlines are not: masking never crosses a JSON string or SSE line.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'*' | b'/' | b'+' | b'=' | b'%')
}

/// The byte at `text[i]` read through one JSON string escape (`\u002d`, `\/`) or URL
/// percent-encoding (`%2F`), and how many bytes of `text` it took; `None` past the end.
/// Escapes of non-ASCII characters are read as their first byte: keys are ASCII.
fn decode_at(text: &[u8], i: usize) -> Option<(u8, usize)> {
    let b = *text.get(i)?;
    let hex = |s: &[u8]| {
        std::str::from_utf8(s)
            .ok()
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(|v| u8::try_from(v).ok())
            .filter(u8::is_ascii)
    };
    let escaped = match b {
        b'\\' => match text.get(i + 1) {
            Some(b'u') => text.get(i + 2..i + 6).and_then(hex).map(|c| (c, 6)),
            Some(c @ (b'/' | b'\\' | b'"')) => Some((*c, 2)),
            _ => None,
        },
        b'%' => text.get(i + 1..i + 3).and_then(hex).map(|c| (c, 3)),
        _ => None,
    };
    Some(escaped.unwrap_or((b, 1)))
}

/// Scrubs `text` of `secret` (a one-off [`Scrubber`]).
pub fn scrub(text: &[u8], secret: &Secret) -> Vec<u8> {
    Scrubber::new(secret).scrub(text).into_owned()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn clean(key: &str, text: &str) -> String {
        String::from_utf8(scrub(text.as_bytes(), &Secret::new(key))).unwrap()
    }

    #[test]
    fn masks_whole_truncated_escaped_and_encoded_echoes() {
        let k = "sk-CANARY-abcdefghijklmnop";
        let out = clean(
            k,
            r#"{"error":"Incorrect API key provided: sk-CANARY-abcdefghijklmnop. Also sk-CANARY-abc***nop"}"#,
        );
        assert!(!out.contains("CANARY"), "{out}");
        assert!(out.contains("Incorrect API key provided: ****"), "{out}");
        for echo in [
            r#"{"m":"key sk\u002dCANARY\u002dabcdefghijklmnop"}"#,
            "key=sk-CANARY%2Dabcdefghijklmnop&x=1",
            "key ...ARY-abcdefghijklmnop",
            "key sk-CANARY-abcdefgh...",
        ] {
            let out = clean(k, echo);
            assert!(
                !out.contains("abcdefgh") && !out.contains("CANARY"),
                "{out}"
            );
            assert!(out.contains("****"), "{out}");
        }
        let b64 = "Zm9v/YmFy+YmF6cXV4==";
        let out = clean(
            b64,
            &format!("bad key {b64} and {}", b64.replace('/', "\\/")),
        );
        assert_eq!(out, "bad key **** and ****");
        assert_eq!(clean(k, "nothing to see"), "nothing to see");
        // Masking stays inside the JSON string.
        let out = clean(k, &format!(r#"{{"a":"{k}","b":1}}"#));
        assert_eq!(out, r#"{"a":"****","b":1}"#);
    }

    #[test]
    fn a_public_prefix_alone_is_left_in_ordinary_text() {
        assert_eq!(public_prefix(b"sk-proj-AbCdEfGh12345678"), 8);
        assert_eq!(public_prefix(b"sk-ant-api03-XyZ0123456789"), 13);
        assert_eq!(public_prefix(b"AIzaSyD0123456789abcdef"), 0);
        let k = "sk-proj-AbCdEfGhIjKlMnOpQrSt";
        let text = "set OPENAI_API_KEY=sk-proj-... in your shell";
        assert_eq!(clean(k, text), text);
        // The secret part still goes, with the prefix in front of it.
        assert_eq!(clean(k, "key sk-proj-AbCdEfGhIj, done"), "key ****, done");
    }

    #[test]
    fn content_loses_only_whole_echoes_of_a_real_key() {
        let k = "sk-upstream-anthropic-0123";
        let s = Scrubber::new(&Secret::new(k));
        let text = b"Mock model mock-anthropic considers the upstream request";
        assert_eq!(s.scrub_content(text).as_ref(), text.as_slice());
        // The error path still masks the piece.
        assert!(!String::from_utf8_lossy(&s.scrub(text)).contains("anthropic"));
        for echo in [
            format!("here: {k}!"),
            format!("here: {}!", k.replace('-', "\\u002d")),
            format!("here: {}!", k.replace('-', "%2D")),
        ] {
            let out = String::from_utf8(s.scrub_content(echo.as_bytes()).into_owned()).unwrap();
            assert_eq!(out, "here: ****!", "{echo}");
        }
        // A placeholder key is not looked for in content at all.
        let s = Scrubber::new(&Secret::new("not-needed"));
        let text = b"no key is not-needed here";
        assert_eq!(s.scrub_content(text).as_ref(), text.as_slice());
    }

    fn key() -> impl Strategy<Value = String> {
        (
            prop::sample::select(vec!["sk-", "sk-proj-", "AIza", ""]),
            "[A-Za-z0-9/+=_-]{16,64}",
        )
            .prop_map(|(p, k)| format!("{p}{k}"))
    }

    /// The key as an upstream might echo it.
    fn encode(key: &str, how: u8, mask: u64) -> String {
        key.chars()
            .enumerate()
            .map(|(i, c)| {
                let pick = mask >> (i % 64) & 1 == 1;
                match how {
                    1 if pick => format!("\\u{:04x}", u32::from(c)),
                    1 if c == '/' => "\\/".to_owned(),
                    2 if pick || !c.is_ascii_alphanumeric() => format!("%{:02X}", u32::from(c)),
                    _ => c.to_string(),
                }
            })
            .collect()
    }

    /// What a reader of `out` could recover: the text with JSON and URL escapes decoded.
    fn readable(out: &str) -> String {
        let b = out.as_bytes();
        let mut seen = Vec::new();
        let mut i = 0;
        while let Some((c, len)) = decode_at(b, i) {
            seen.push(c);
            i += len;
        }
        String::from_utf8_lossy(&seen).into_owned()
    }

    proptest! {
        #[test]
        fn no_piece_of_the_key_survives_any_encoding(
            key in key(),
            how in 0u8..3,
            mask in any::<u64>(),
            cut_front in 0usize..8,
            cut_back in 0usize..8,
            before in "[a-z :\"{]{0,20}",
            after in "[ ,\"}]{0,20}",
        ) {
            let echoed = &key[cut_front..key.len() - cut_back];
            let text = format!("{before}{}{after}", encode(echoed, how, mask));
            let out = String::from_utf8(scrub(text.as_bytes(), &Secret::new(&key))).unwrap();
            let seen = readable(&out);
            let public = public_prefix(key.as_bytes());
            for (i, w) in key.as_bytes().windows(MIN_ECHO).enumerate() {
                if i + MIN_ECHO <= public {
                    continue;
                }
                let w = std::str::from_utf8(w).unwrap();
                prop_assert!(!seen.contains(w), "{w:?} survives in {out:?} (from {text:?})");
            }
            prop_assert!(out.starts_with(before.trim_end_matches(|c: char| c.is_ascii_alphanumeric())));
            prop_assert!(out.ends_with(&after));
        }

        #[test]
        fn text_without_the_key_is_untouched(key in key(), text in "[a-zA-Z0-9 .,:{}\"]{0,200}") {
            prop_assume!(!key.as_bytes().windows(MIN_ECHO).any(|w| text.as_bytes().windows(MIN_ECHO).any(|t| t == w)));
            let out = scrub(text.as_bytes(), &Secret::new(&key));
            prop_assert_eq!(out, text.as_bytes());
        }
    }
}
