//! What the mock answers, independent of dialect: the text (or tool call), optional reasoning,
//! token counts and how the text is split into stream chunks.

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::Value;

use crate::directive::Directives;
use crate::structured::Structured;

/// The only tool the mock ever calls.
pub(crate) const TOOL_NAME: &str = "get_weather";
/// Its arguments, as the JSON text a model would stream.
pub(crate) const TOOL_ARGS: &str = r#"{"city":"Paris"}"#;

/// What a request asks for, read from its body by the dialect module.
#[derive(Debug, Default)]
pub(crate) struct Ask {
    /// The model named in the body (Gemini names it in the path instead).
    pub model: Option<String>,
    pub stream: bool,
    /// OpenAI Chat `stream_options.include_usage`.
    pub include_usage: bool,
    pub has_tools: bool,
    pub last: Last,
    /// The answer must be JSON (fitting a schema), or a call to a forced tool.
    pub structured: Option<Structured>,
    /// Why the provider would reject a tool declaration's schema.
    pub tools_problem: Option<String>,
}

/// The last message of the conversation, as far as the mock cares.
#[derive(Debug, Default)]
pub(crate) enum Last {
    User(String),
    ToolResult(String),
    #[default]
    Other,
}

pub(crate) enum Answer {
    Text(String),
    Tool,
}

/// One planned reply.
pub(crate) struct Turn {
    /// Unique per request within one server, used to derive response and item ids.
    pub id: String,
    pub model: String,
    pub input_tokens: u64,
    /// Of `input_tokens`, read from the prompt cache.
    pub cached_tokens: u64,
    pub output_tokens: u64,
    pub reasoning: Option<String>,
    pub answer: Answer,
    /// The tool an `Answer::Tool` calls and its arguments, when not [`TOOL_NAME`] with
    /// [`TOOL_ARGS`] (a forced tool is called with an instance of its schema).
    pub call: Option<(String, String)>,
    pub chunks: usize,
}

impl Turn {
    pub fn plan(
        seq: u64,
        model: &str,
        ask: &Ask,
        body_len: usize,
        directives: &Directives,
        default_chunks: usize,
    ) -> Turn {
        let force_tool = directives.tool;
        let reasoning = directives.reasoning;
        let chunks = directives.chunks.unwrap_or(default_chunks);
        let cached = directives.cached;
        let wants_tool = match &ask.last {
            Last::User(text) => force_tool || mentions_weather(text),
            Last::ToolResult(_) | Last::Other => force_tool,
        };
        let structured = ask.structured.as_ref();
        let forced = structured.and_then(|s| Some((s.tool.clone()?, s.answer(model))));
        let answer = match &ask.last {
            Last::ToolResult(result) => {
                Answer::Text(format!("Mock model {model} read the tool result: {result}"))
            }
            _ if forced.is_some() => Answer::Tool,
            _ if ask.has_tools && wants_tool => Answer::Tool,
            _ => match structured {
                Some(s) => Answer::Text(s.answer(model)),
                None => Answer::Text(format!("Hello from mock model {model}.")),
            },
        };
        let reasoning =
            reasoning.then(|| format!("Mock model {model} considers the request step by step."));
        let words = |s: &str| s.split_whitespace().count() as u64;
        let output_tokens = match &answer {
            Answer::Text(t) => words(t),
            Answer::Tool => 5,
        } + reasoning.as_deref().map_or(0, words);
        // About four bytes per token, like real tokenizers on English text.
        let input_tokens = (body_len / 4).max(1) as u64;
        Turn {
            id: format!("mock{seq}"),
            model: model.to_owned(),
            input_tokens,
            cached_tokens: cached.unwrap_or(0).min(input_tokens),
            output_tokens,
            reasoning,
            answer,
            call: forced,
            chunks: chunks.max(1),
        }
    }

    pub fn text(&self) -> Option<&str> {
        match &self.answer {
            Answer::Text(t) => Some(t),
            Answer::Tool => None,
        }
    }

    /// The tool an `Answer::Tool` calls.
    pub fn tool_name(&self) -> &str {
        self.call.as_ref().map_or(TOOL_NAME, |(name, _)| name)
    }

    /// The arguments of that call, as JSON text.
    pub fn tool_args(&self) -> &str {
        self.call.as_ref().map_or(TOOL_ARGS, |(_, args)| args)
    }

    pub fn total_tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

fn mentions_weather(text: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric())
        .any(|w| w.eq_ignore_ascii_case("weather"))
}

/// Splits `s` into at most `n` non-empty pieces of about equal length, on char boundaries.
pub(crate) fn pieces(s: &str, n: usize) -> Vec<&str> {
    let chars = s.chars().count();
    let n = n.clamp(1, chars.max(1));
    let mut out = Vec::with_capacity(n);
    let mut rest = s;
    for i in 0..n {
        let take = chars * (i + 1) / n - chars * i / n;
        let end = rest.char_indices().nth(take).map_or(rest.len(), |(b, _)| b);
        let (head, tail) = rest.split_at(end);
        out.push(head);
        rest = tail;
    }
    out
}

/// Text of a message `content` that is either a string or a list of parts with `text`.
pub(crate) fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `data: <json>\n\n`
pub(crate) fn sse_data(v: &Value) -> Bytes {
    frame(None, v, "\n\n")
}

/// `event: <name>\ndata: <json>\n\n`
pub(crate) fn sse_event(name: &str, v: &Value) -> Bytes {
    frame(Some(name), v, "\n\n")
}

/// Gemini ends its events with CRLF pairs, which clients and routers must accept.
pub(crate) fn sse_data_crlf(v: &Value) -> Bytes {
    frame(None, v, "\r\n\r\n")
}

fn frame(event: Option<&str>, v: &Value, end: &str) -> Bytes {
    let mut buf = BytesMut::with_capacity(128).writer();
    if let Some(name) = event {
        buf.get_mut().put_slice(b"event: ");
        buf.get_mut().put_slice(name.as_bytes());
        buf.get_mut().put_slice(b"\n");
    }
    buf.get_mut().put_slice(b"data: ");
    // Writing a Value into memory cannot fail.
    let _ = serde_json::to_writer(&mut buf, v);
    buf.get_mut().put_slice(end.as_bytes());
    buf.into_inner().freeze()
}

pub(crate) fn json_bytes(v: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_text() {
        let s = "Hello from mock model gpt-é.";
        for n in 1..40 {
            let p = pieces(s, n);
            assert_eq!(p.concat(), s);
            assert!(p.iter().all(|x| !x.is_empty()));
            assert_eq!(p.len(), n.min(s.chars().count()));
        }
        assert_eq!(pieces("", 3), vec![""]);
    }

    #[test]
    fn weather_is_a_word() {
        assert!(mentions_weather("What's the Weather in Paris?"));
        assert!(!mentions_weather("weatherproof"));
    }
}
