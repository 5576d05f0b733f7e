//! The intermediate representation every dialect converts to and from. Translation between two
//! dialects is always `decode (A → IR)` then `encode (IR → B)`: four adapters, not twelve
//! pairwise converters. The IR keeps what at least one dialect can express and a client or
//! upstream would notice losing; fields no dialect maps are dropped at decode time.

use serde_json::Value;

use crate::Dialect;
pub use crate::passthrough::Usage;

/// A generation request, dialect-free.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Request {
    /// The model the client asked for (for Gemini: from the URL, set by the caller).
    pub model: String,
    /// System / developer instructions, in order. Instructions that appeared between turns
    /// (a `role: "system"` message inside Anthropic `messages`, a Responses `developer` item)
    /// are hoisted here: not every dialect can place them mid-conversation.
    pub system: Vec<String>,
    pub messages: Vec<Message>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    pub sampling: Sampling,
    pub response_format: Option<ResponseFormat>,
    pub reasoning: Option<ReasoningConfig>,
    pub stream: bool,
    pub metadata: Metadata,
}

/// Who said it. Tool results travel in `User` messages (as Anthropic and Gemini model them);
/// the Chat and Responses adapters split them into their own tool messages / items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Part>,
}

/// One typed piece of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    Image(Image),
    ToolCall(ToolCall),
    ToolResult(ToolResult),
    Reasoning(Reasoning),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Image {
    Url(String),
    Base64 { media_type: String, data: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as JSON text, exactly as the model produced them (it may be invalid JSON
    /// mid-stream or from a weak model; adapters that need an object parse it leniently).
    pub arguments: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    pub call_id: String,
    /// The function's name when the dialect carried it (Gemini needs it; others look it up).
    pub name: Option<String>,
    /// Text and image parts only.
    pub content: Vec<Part>,
    pub is_error: bool,
}

/// Model reasoning: its visible text (an Anthropic thinking block, a Responses summary, DeepSeek
/// `reasoning_content`, a Gemini thought) and the opaque token that lets the provider resume it.
/// `redacted` marks Anthropic `redacted_thinking`, whose data is the signature value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reasoning {
    pub text: String,
    pub signature: Option<Signature>,
    pub redacted: bool,
}

/// An opaque reasoning token: an Anthropic thinking signature, a Responses
/// `encrypted_content`, a Gemini `thoughtSignature`. Only the provider family that issued it
/// can read it, so it remembers its `origin`.
///
/// When a token reaches a client of another dialect it is written into that dialect's slot
/// tagged with its origin (`sbsig:{origin}:{value}`), so that when the client replays the
/// history the token goes back to the upstream that can read it, and nowhere else. Gemini
/// clients only ever receive Gemini tokens: their SDK types the slot as base64 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub origin: Dialect,
    pub value: String,
}

pub(crate) const SIGNATURE_TAG: &str = "sbsig:";

impl Signature {
    pub fn new(origin: Dialect, value: impl Into<String>) -> Self {
        Signature {
            origin,
            value: value.into(),
        }
    }

    /// The value to write into `client`'s slot: bare when the client's own dialect issued it,
    /// tagged with the origin otherwise.
    pub fn to_client(&self, client: Dialect) -> String {
        if self.origin == client {
            self.value.clone()
        } else {
            format!("{SIGNATURE_TAG}{}:{}", self.origin, self.value)
        }
    }

    /// Reads a token from a request's `slot` dialect: a tagged value names its origin, a bare
    /// one was issued by the slot's own dialect.
    pub fn from_client(slot: Dialect, value: &str) -> Self {
        value
            .strip_prefix(SIGNATURE_TAG)
            .and_then(|rest| rest.split_once(':'))
            .and_then(|(origin, v)| Some(Signature::new(Dialect::parse(origin)?, v)))
            .unwrap_or_else(|| Signature::new(slot, value))
    }

    /// Whether a token read from `dialect`'s slot can go to an upstream of that dialect: it is
    /// not empty and not tagged as issued elsewhere.
    pub fn is_native(slot: Dialect, value: &str) -> bool {
        !value.is_empty() && Signature::from_client(slot, value).origin == slot
    }

    /// The raw value, if an upstream of `dialect` can read it.
    pub fn for_upstream(&self, dialect: Dialect) -> Option<&str> {
        (self.origin == dialect).then_some(self.value.as_str())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Tool {
    Function(FunctionTool),
    /// A provider-hosted tool (`web_search`, Anthropic server tools) kept verbatim; only sent
    /// to an upstream speaking the dialect it came from, dropped elsewhere.
    Hosted {
        dialect: Dialect,
        spec: Value,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct FunctionTool {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema, kept intact (2020-12 keywords included).
    pub parameters: Value,
    pub strict: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    Auto,
    None,
    /// The model must call some tool.
    Required,
    /// The model must call this tool.
    Tool(String),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sampling {
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Vec<String>,
    pub max_tokens: Option<u64>,
}

/// What the answer's text must be. Schemas are standard JSON Schema here (Gemini's dialect is
/// converted on decode); each encoder writes them as its provider takes them (`schema.rs`).
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormat {
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON fitting `schema`; `strict` as the client asked (OpenAI's strict mode).
    JsonSchema {
        name: String,
        schema: Value,
        strict: Option<bool>,
    },
}

/// How much the model should think. Dialects express this as an effort level (OpenAI, Anthropic
/// `output_config`), a token budget (Anthropic `thinking`, Gemini `thinkingBudget`) or both;
/// adapters convert one to the other with [`effort_to_budget`] / [`budget_to_effort`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReasoningConfig {
    /// `minimal`, `low`, `medium`, `high`, `xhigh` (kept as the client spelled it).
    pub effort: Option<String>,
    pub budget_tokens: Option<u64>,
    /// Responses `reasoning.summary` (`auto`, `concise`, `detailed`).
    pub summary: Option<String>,
    /// Thinking explicitly switched off.
    pub disabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metadata {
    pub user_id: Option<String>,
    pub prompt_cache_key: Option<String>,
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    EndTurn,
    MaxTokens,
    StopSequence,
    ToolUse,
    ContentFilter,
}

/// A complete (non-streaming) response.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Response {
    pub id: String,
    pub model: String,
    /// The assistant's parts: text, reasoning, tool calls.
    pub content: Vec<Part>,
    pub stop_reason: Option<StopReason>,
    pub usage: Usage,
}

/// One step of a streamed response. Decoders turn upstream events into these; encoders turn
/// them into client events, opening and closing blocks / items / parts as the kind changes.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Text(String),
    Reasoning(String),
    /// The opaque token closing the current reasoning (issued by the stream's upstream).
    ReasoningSignature(String),
    /// Anthropic `redacted_thinking` data.
    RedactedReasoning(String),
    /// A tool call begins. `index` is the call's ordinal within this response.
    ToolCallStart {
        index: u32,
        id: String,
        name: String,
    },
    ToolCallArgs {
        index: u32,
        delta: String,
    },
    /// Counts seen so far; later events overwrite non-zero fields.
    Usage(Usage),
    Stop(StopReason),
    /// The upstream's terminal event.
    Done,
}

/// Default thinking budget for an effort level (Anthropic and Gemini want tokens).
pub fn effort_to_budget(effort: &str) -> u64 {
    match effort {
        "minimal" | "none" => 1024,
        "low" => 2048,
        "medium" => 8192,
        "xhigh" | "max" => 32768,
        _ => 16384, // high, and unknown levels: generous rather than crippled
    }
}

/// Effort level for a thinking budget (OpenAI wants a level).
pub fn budget_to_effort(budget: u64) -> &'static str {
    match budget {
        0..=2048 => "low",
        2049..=8192 => "medium",
        _ => "high",
    }
}

impl Usage {
    /// Folds in a later report: providers repeat or refine counts across stream events, so a
    /// non-zero field replaces the earlier one.
    pub fn merge(&mut self, later: Usage) {
        let pick = |a: &mut u64, b: u64| {
            if b != 0 {
                *a = b;
            }
        };
        pick(&mut self.prompt_tokens, later.prompt_tokens);
        pick(&mut self.completion_tokens, later.completion_tokens);
        pick(&mut self.cached_tokens, later.cached_tokens);
        pick(&mut self.reasoning_tokens, later.reasoning_tokens);
        pick(&mut self.cache_write_tokens, later.cache_write_tokens);
    }

    pub fn is_empty(&self) -> bool {
        *self == Usage::default()
    }
}

impl Message {
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Message {
            role,
            content: vec![Part::Text(text.into())],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_tagged_only_for_foreign_clients() {
        let sig = Signature::new(Dialect::Anthropic, "EqQB");
        assert_eq!(sig.to_client(Dialect::Anthropic), "EqQB");
        let tagged = sig.to_client(Dialect::OpenaiResponses);
        assert_eq!(tagged, "sbsig:anthropic:EqQB");
        assert_eq!(
            Signature::from_client(Dialect::OpenaiResponses, &tagged),
            sig
        );
        assert_eq!(
            Signature::from_client(Dialect::OpenaiResponses, "gAAAA"),
            Signature::new(Dialect::OpenaiResponses, "gAAAA")
        );
        // An unknown origin is not ours: the value is kept whole.
        assert_eq!(
            Signature::from_client(Dialect::Anthropic, "sbsig:other:x").value,
            "sbsig:other:x"
        );
        assert_eq!(sig.for_upstream(Dialect::Anthropic), Some("EqQB"));
        assert_eq!(sig.for_upstream(Dialect::Gemini), None);
    }

    #[test]
    fn usage_reports_merge_field_by_field() {
        let mut u = Usage {
            prompt_tokens: 10,
            cached_tokens: 4,
            ..Default::default()
        };
        u.merge(Usage {
            completion_tokens: 7,
            ..Default::default()
        });
        assert_eq!(
            u,
            Usage {
                prompt_tokens: 10,
                completion_tokens: 7,
                cached_tokens: 4,
                reasoning_tokens: 0,
                cache_write_tokens: 0,
            }
        );
    }
}
