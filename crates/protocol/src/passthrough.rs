//! Same-dialect traffic is not re-serialised: these helpers find and patch single top-level
//! fields of a JSON object in place (the `model` name both ways, the `usage` object), leaving
//! every other byte as the upstream or client wrote it. The usage readers here serve both
//! the request log of pass-through traffic and the dialect decoders.

use std::ops::Range;

use serde::Deserialize;

/// A same-dialect request body with the reasoning another provider issued taken out of its
/// history (thinking-safe switching): Anthropic thinking blocks that are unsigned or whose
/// signature came through another dialect, Responses reasoning items whose encrypted content
/// did. `None` when there is nothing to take out — decided by a byte search for the markers
/// such reasoning carries before anything is parsed, so ordinary traffic stays byte-exact.
pub fn strip_foreign_reasoning(dialect: crate::Dialect, body: &[u8]) -> Option<Vec<u8>> {
    match dialect {
        crate::Dialect::Anthropic => crate::anthropic::strip_foreign_thinking(body),
        crate::Dialect::OpenaiResponses => crate::openai_responses::strip_foreign_reasoning(body),
        // Chat carries no signatures; Gemini clients only ever receive Gemini's.
        crate::Dialect::OpenaiChat | crate::Dialect::Gemini => None,
    }
}

/// Whether `body` holds a signature tagged with another origin.
pub(crate) fn has_tagged_signature(body: &[u8]) -> bool {
    memchr::memmem::find(body, crate::ir::SIGNATURE_TAG.as_bytes()).is_some()
}

/// Whether `body` holds `"signature"` with an empty string value (whitespace allowed).
pub(crate) fn has_empty_signature(body: &[u8]) -> bool {
    const KEY: &[u8] = b"\"signature\"";
    memchr::memmem::find_iter(body, KEY).any(|at| {
        let rest = &body[at + KEY.len()..];
        let mut it = rest.iter().copied().skip_while(u8::is_ascii_whitespace);
        it.next() == Some(b':') && it.skip_while(u8::is_ascii_whitespace).take(2).eq(*b"\"\"")
    })
}

/// Top-level keys the router reads or rewrites on a client's request (the model name and the
/// stream flag, the Responses conversation fields). A body that names one of them twice is
/// refused: upstream parsers keep the last, this scanner would read the first.
pub const ROUTED_KEYS: &[&str] = &["model", "stream", "previous_response_id", "store"];

/// One top-level member of a JSON object: its key (unescaped) and its value's byte range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member<'a> {
    pub key: std::borrow::Cow<'a, str>,
    pub value: Range<usize>,
}

/// The members of the top-level JSON object `json`, in order, with keys unescaped (so
/// `"mod\u0065l"` is `model`); `None` if `json` is not a well-formed object at the top level.
/// Nested values are skipped, never searched.
pub fn top_level_members(json: &[u8]) -> Option<Vec<Member<'_>>> {
    let mut out = Vec::new();
    scan_members(json, |m| {
        out.push(m);
        false
    })?;
    Some(out)
}

/// Walks the top-level members of `json`, stopping early when `visit` returns `true`.
/// Returns `None` when the object is malformed before the walk ended.
fn scan_members<'a>(json: &'a [u8], mut visit: impl FnMut(Member<'a>) -> bool) -> Option<()> {
    let mut s = Scanner { b: json, i: 0 };
    s.ws();
    if s.peek()? != b'{' {
        return None;
    }
    s.i += 1;
    let mut expect_member = true;
    loop {
        s.ws();
        match s.peek()? {
            b'}' => return Some(()),
            b',' if !expect_member => {
                s.i += 1;
                expect_member = true;
                continue;
            }
            b'"' if expect_member => {}
            _ => return None,
        }
        let k = s.string()?;
        s.ws();
        if s.peek()? != b':' {
            return None;
        }
        s.i += 1;
        s.ws();
        let start = s.i;
        s.value()?;
        if start == s.i {
            return None;
        }
        expect_member = false;
        let raw = &json[k.start + 1..k.end - 1];
        let key = if memchr::memchr(b'\\', raw).is_none() {
            std::borrow::Cow::Borrowed(std::str::from_utf8(raw).ok()?)
        } else {
            std::borrow::Cow::Owned(serde_json::from_slice::<String>(&json[k]).ok()?)
        };
        if visit(Member {
            key,
            value: start..s.i,
        }) {
            return Some(());
        }
    }
}

/// Byte range of the value of top-level `key` in the JSON object `json`, or `None` if `json`
/// is not an object or has no such key. Keys are compared unescaped; of duplicates the first
/// is returned (requests with duplicate [`ROUTED_KEYS`] are refused before this matters, see
/// [`duplicate_key`]). Nested objects are skipped, never searched.
pub fn top_level_value(json: &[u8], key: &str) -> Option<Range<usize>> {
    let mut found = None;
    scan_members(json, |m| {
        if m.key == key {
            found = Some(m.value);
            true
        } else {
            false
        }
    })?;
    found
}

/// The first of `keys` that the top-level object `json` names more than once (in any
/// spelling: escaped keys are compared unescaped).
pub fn duplicate_key<'k>(json: &[u8], keys: &[&'k str]) -> Option<&'k str> {
    let mut seen = vec![false; keys.len()];
    let mut dup = None;
    scan_members(json, |m| {
        if let Some(i) = keys.iter().position(|k| m.key == *k) {
            if seen[i] {
                dup = Some(keys[i]);
                return true;
            }
            seen[i] = true;
        }
        false
    });
    dup
}

/// The top-level string field `key`, unescaped.
pub fn top_level_str(json: &[u8], key: &str) -> Option<String> {
    let r = top_level_value(json, key)?;
    serde_json::from_slice::<String>(&json[r]).ok()
}

/// The top-level boolean field `key` (`None` when missing or not a boolean).
pub fn top_level_bool(json: &[u8], key: &str) -> Option<bool> {
    match &json[top_level_value(json, key)?] {
        b"true" => Some(true),
        b"false" => Some(false),
        _ => None,
    }
}

/// Returns `json` with the top-level string `key` replaced by `value`; `None` when the field
/// is absent (the caller decides whether that is an error).
pub fn replace_top_level_str(json: &[u8], key: &str, value: &str) -> Option<Vec<u8>> {
    let r = top_level_value(json, key)?;
    let encoded = serde_json::to_vec(value).ok()?;
    let mut out = Vec::with_capacity(json.len() + encoded.len());
    out.extend_from_slice(&json[..r.start]);
    out.extend_from_slice(&encoded);
    out.extend_from_slice(&json[r.end..]);
    Some(out)
}

/// Token counts as an upstream reported them (OpenAI Chat naming; other dialects convert).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub cached_tokens: u64,
    #[serde(default)]
    pub reasoning_tokens: u64,
    /// Input written to the provider's prompt cache (Anthropic's cache creation), part of
    /// `prompt_tokens`.
    #[serde(default)]
    pub cache_write_tokens: u64,
}

#[derive(Deserialize)]
struct ChatUsageWire {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<CachedWire>,
    #[serde(default)]
    completion_tokens_details: Option<ReasoningWire>,
}

#[derive(Deserialize, Default)]
pub(crate) struct CachedWire {
    #[serde(default)]
    pub cached_tokens: u64,
}

#[derive(Deserialize, Default)]
pub(crate) struct ReasoningWire {
    #[serde(default)]
    pub reasoning_tokens: u64,
}

/// Reads an OpenAI Chat `usage` object from a response body or stream chunk, if present and
/// not null. Cheap when absent: a byte search before any parsing.
pub fn openai_chat_usage(json: &[u8]) -> Option<Usage> {
    memchr::memmem::find(json, b"\"usage\"")?;
    let r = top_level_value(json, "usage")?;
    let wire: ChatUsageWire = serde_json::from_slice(&json[r]).ok()?;
    Some(Usage {
        prompt_tokens: wire.prompt_tokens,
        completion_tokens: wire.completion_tokens,
        cached_tokens: wire.prompt_tokens_details.map_or(0, |d| d.cached_tokens),
        reasoning_tokens: wire
            .completion_tokens_details
            .map_or(0, |d| d.reasoning_tokens),
        cache_write_tokens: 0,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct AnthropicUsageWire {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_input_tokens: Option<u64>,
    pub cache_creation_input_tokens: Option<u64>,
}

impl AnthropicUsageWire {
    /// Anthropic's `input_tokens` excludes cache reads and writes; the IR counts all input.
    pub(crate) fn to_usage(&self) -> Usage {
        let cached = self.cache_read_input_tokens.unwrap_or(0);
        let written = self.cache_creation_input_tokens.unwrap_or(0);
        Usage {
            prompt_tokens: self.input_tokens + cached + written,
            completion_tokens: self.output_tokens,
            cached_tokens: cached,
            reasoning_tokens: 0,
            cache_write_tokens: written,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct ResponsesUsageWire {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub input_tokens_details: Option<CachedWire>,
    pub output_tokens_details: Option<ReasoningWire>,
}

impl ResponsesUsageWire {
    pub(crate) fn to_usage(&self) -> Usage {
        Usage {
            prompt_tokens: self.input_tokens,
            completion_tokens: self.output_tokens,
            cached_tokens: self
                .input_tokens_details
                .as_ref()
                .map_or(0, |d| d.cached_tokens),
            reasoning_tokens: self
                .output_tokens_details
                .as_ref()
                .map_or(0, |d| d.reasoning_tokens),
            cache_write_tokens: 0,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct GeminiUsageWire {
    pub prompt_token_count: u64,
    pub candidates_token_count: u64,
    pub cached_content_token_count: u64,
    pub thoughts_token_count: u64,
}

impl GeminiUsageWire {
    /// Gemini counts thoughts apart from candidates; the IR's output includes reasoning.
    pub(crate) fn to_usage(&self) -> Usage {
        Usage {
            prompt_tokens: self.prompt_token_count,
            completion_tokens: self.candidates_token_count + self.thoughts_token_count,
            cached_tokens: self.cached_content_token_count,
            reasoning_tokens: self.thoughts_token_count,
            cache_write_tokens: 0,
        }
    }
}

fn field<T: serde::de::DeserializeOwned>(json: &[u8], key: &str) -> Option<T> {
    memchr::memmem::find(json, key.as_bytes())?;
    let r = top_level_value(json, key)?;
    serde_json::from_slice(&json[r]).ok()
}

/// Usage of an Anthropic Messages response body.
pub fn anthropic_usage(json: &[u8]) -> Option<Usage> {
    field::<AnthropicUsageWire>(json, "usage").map(|u| u.to_usage())
}

/// Usage in one Anthropic stream event: input in `message_start`, output in `message_delta`.
pub fn anthropic_event_usage(json: &[u8]) -> Option<Usage> {
    #[derive(Deserialize)]
    struct Start {
        usage: AnthropicUsageWire,
    }
    if let Some(start) = field::<Start>(json, "message") {
        return Some(start.usage.to_usage());
    }
    anthropic_usage(json)
}

/// Usage of a Responses body.
pub fn responses_usage(json: &[u8]) -> Option<Usage> {
    field::<ResponsesUsageWire>(json, "usage").map(|u| u.to_usage())
}

/// Usage in a Responses stream event (`response.completed` / `.incomplete` carry it).
pub fn responses_event_usage(json: &[u8]) -> Option<Usage> {
    #[derive(Deserialize)]
    struct Wrapped {
        usage: Option<ResponsesUsageWire>,
    }
    field::<Wrapped>(json, "response")?
        .usage
        .map(|u| u.to_usage())
}

/// Usage of a Gemini response body or stream chunk (`usageMetadata`).
pub fn gemini_usage(json: &[u8]) -> Option<Usage> {
    field::<GeminiUsageWire>(json, "usageMetadata").map(|u| u.to_usage())
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// Consumes a string starting at `"`, returning its range including quotes.
    fn string(&mut self) -> Option<Range<usize>> {
        let start = self.i;
        self.i += 1;
        loop {
            let off = memchr::memchr2(b'"', b'\\', self.b.get(self.i..)?)?;
            self.i += off;
            if self.b[self.i] == b'\\' {
                self.i += 2;
            } else {
                self.i += 1;
                return Some(start..self.i);
            }
        }
    }

    fn value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => {
                self.string()?;
            }
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            _ => {
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    self.i += 1;
                }
            }
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use crate::Dialect;

    #[test]
    fn foreign_reasoning_is_found_by_its_markers_only() {
        assert!(has_empty_signature(br#"{"signature" :  "" }"#));
        assert!(has_empty_signature(br#"{"a":{"signature":""}}"#));
        assert!(!has_empty_signature(br#"{"signature":"abc"}"#));
        assert!(!has_empty_signature(br#"{"signature":"\"\""}"#));
        assert!(has_tagged_signature(
            br#"{"signature":"sbsig:openai_responses:x"}"#
        ));
        // Nothing to take out: no parse, no copy.
        let native = br#"{"model":"m","messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"abc"},{"type":"text","text":"hi"}]}]}"#;
        assert_eq!(strip_foreign_reasoning(Dialect::Anthropic, native), None);
    }

    #[test]
    fn anthropic_history_loses_foreign_thinking_and_an_unsigned_tool_turn_its_thinking() {
        let body = br#"{"model":"m","thinking":{"type":"enabled","budget_tokens":2048},"messages":[
            {"role":"user","content":"q"},
            {"role":"assistant","content":[{"type":"thinking","thinking":"a","signature":"own"},{"type":"text","text":"x"}]},
            {"role":"user","content":"q2"},
            {"role":"assistant","content":[{"type":"thinking","thinking":"b","signature":""},{"type":"redacted_thinking","data":"sbsig:gemini:zz"},{"type":"tool_use","id":"t","name":"f","input":{}}]},
            {"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"r"}]}]}"#;
        let out: serde_json::Value =
            serde_json::from_slice(&strip_foreign_reasoning(Dialect::Anthropic, body).unwrap())
                .unwrap();
        assert_eq!(
            out["messages"][1]["content"][0]["signature"], "own",
            "its own stays"
        );
        assert_eq!(out["messages"][3]["content"].as_array().unwrap().len(), 1);
        assert_eq!(out["messages"][3]["content"][0]["type"], "tool_use");
        assert!(out.get("thinking").is_none(), "{out}");
    }

    #[test]
    fn responses_input_loses_reasoning_items_issued_elsewhere() {
        let body = br#"{"model":"m","input":[
            {"type":"reasoning","summary":[],"encrypted_content":"sbsig:anthropic:sig"},
            {"type":"reasoning","summary":[],"encrypted_content":"gAAAA-own"},
            {"type":"message","role":"user","content":"hi"}]}"#;
        let out: serde_json::Value = serde_json::from_slice(
            &strip_foreign_reasoning(Dialect::OpenaiResponses, body).unwrap(),
        )
        .unwrap();
        let input = out["input"].as_array().unwrap();
        assert_eq!(input.len(), 2);
        assert_eq!(input[0]["encrypted_content"], "gAAAA-own");
        let own = br#"{"model":"m","input":[{"type":"reasoning","encrypted_content":"gAAAA"}]}"#;
        assert_eq!(strip_foreign_reasoning(Dialect::OpenaiResponses, own), None);
    }

    use super::*;

    #[test]
    fn patches_only_the_top_level_model() {
        let body = br#"{"messages":[{"role":"user","content":"{\"model\":\"x\"}","model":"inner"}], "model" : "gpt-5.5","stream":true}"#;
        let out = replace_top_level_str(body, "model", "deepseek-chat").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["model"], "deepseek-chat");
        assert_eq!(v["messages"][0]["model"], "inner");
        assert_eq!(v["messages"][0]["content"], "{\"model\":\"x\"}");
        assert_eq!(top_level_bool(body, "stream"), Some(true));
        assert_eq!(top_level_str(body, "model").as_deref(), Some("gpt-5.5"));
    }

    #[test]
    fn escaped_keys_are_read_and_duplicates_found() {
        let body = br#"{"mod\u0065l":"a","stream":true}"#;
        assert_eq!(top_level_str(body, "model").as_deref(), Some("a"));
        assert_eq!(duplicate_key(body, ROUTED_KEYS), None);
        let body = br#"{"model":"alias","messages":[{"model":"x"}],"mod\u0065l":"other"}"#;
        assert_eq!(duplicate_key(body, ROUTED_KEYS), Some("model"));
        let body = br#"{"stream":false,"model":"m","stream":true}"#;
        assert_eq!(duplicate_key(body, ROUTED_KEYS), Some("stream"));
        assert_eq!(duplicate_key(br#"{"n":1,"n":2}"#, ROUTED_KEYS), None);
    }

    #[test]
    fn escapes_the_new_value() {
        let out = replace_top_level_str(br#"{"model":"a"}"#, "model", "we\"ird\\").unwrap();
        assert_eq!(out, br#"{"model":"we\"ird\\"}"#);
    }

    #[test]
    fn missing_or_malformed_is_none() {
        assert_eq!(top_level_value(b"[1,2]", "model"), None);
        assert_eq!(top_level_value(br#"{"a":1}"#, "model"), None);
        assert_eq!(top_level_value(br#"{"model":"unterminated"#, "model"), None);
        assert_eq!(top_level_value(b"", "model"), None);
        assert_eq!(top_level_value(br#"{"a":1 "model":2}"#, "model"), None);
        assert_eq!(top_level_value(br#"{"model":}"#, "model"), None);
    }

    #[test]
    fn reads_usage_with_details() {
        let chunk = br#"{"id":"c","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":2}}}"#;
        assert_eq!(
            openai_chat_usage(chunk),
            Some(Usage {
                prompt_tokens: 12,
                completion_tokens: 5,
                cached_tokens: 4,
                reasoning_tokens: 2,
                cache_write_tokens: 0,
            })
        );
        assert_eq!(openai_chat_usage(br#"{"usage":null}"#), None);
        assert_eq!(openai_chat_usage(br#"{"choices":[]}"#), None);
    }
}
