//! A local input-token estimate for `/v1/messages/count_tokens`: no tokenizer download, no
//! upstream call. Text is split the way byte-pair encoders split it (letter runs, digit runs,
//! punctuation runs, line breaks) and each piece is charged what a BPE vocabulary of ~100k
//! entries typically charges; Anthropic's documented fixed costs are added on top (the hidden
//! tool-use system prompt, per-message framing, images).

use crate::ir::{self, Image, Part, Tool, ToolChoice};

/// Framing of the request as a whole.
const REQUEST_OVERHEAD: u64 = 1;
/// Framing of each message and of the system prompt (role markers, separators).
const MESSAGE_OVERHEAD: u64 = 3;
/// The system prompt Anthropic adds when tools are present (Claude 4 models, per Anthropic's
/// tool-use pricing table: 346 with `auto`/`none` tool choice, 313 with `any`/`tool`).
const TOOL_PROMPT_AUTO: u64 = 346;
const TOOL_PROMPT_FORCED: u64 = 313;
/// An image of unknown size: Anthropic charges width×height/750, capped near 1,600 for the
/// largest images it does not downscale; without decoding the image, assume a large one.
const IMAGE_TOKENS: u64 = 1_600;

/// Estimated input tokens of `req` (system prompt, messages and tools), as Anthropic would
/// count them. Reasoning from earlier turns is not counted: Anthropic strips it from input.
pub fn count_tokens(req: &ir::Request) -> u64 {
    let mut n = REQUEST_OVERHEAD;
    for s in &req.system {
        n += MESSAGE_OVERHEAD + text_tokens(s);
    }
    for m in &req.messages {
        n += MESSAGE_OVERHEAD;
        n += m.content.iter().map(part_tokens).sum::<u64>();
    }
    let functions: Vec<_> = req
        .tools
        .iter()
        .filter_map(|t| match t {
            Tool::Function(f) => Some(f),
            Tool::Hosted { .. } => None,
        })
        .collect();
    if !functions.is_empty() {
        n += match req.tool_choice {
            Some(ToolChoice::Required | ToolChoice::Tool(_)) => TOOL_PROMPT_FORCED,
            _ => TOOL_PROMPT_AUTO,
        };
        for f in functions {
            n += text_tokens(&f.name);
            n += f.description.as_deref().map_or(0, text_tokens);
            n += text_tokens(&f.parameters.to_string());
        }
    }
    n
}

fn part_tokens(p: &Part) -> u64 {
    match p {
        Part::Text(t) => text_tokens(t),
        Part::Image(Image::Url(_) | Image::Base64 { .. }) => IMAGE_TOKENS,
        Part::ToolCall(c) => text_tokens(&c.name) + text_tokens(&c.arguments),
        Part::ToolResult(r) => MESSAGE_OVERHEAD + r.content.iter().map(part_tokens).sum::<u64>(),
        Part::Reasoning(_) => 0,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Letter,
    Digit,
    Space,
    Newline,
    Punct,
    /// Han, kana, hangul: roughly one token per character.
    Ideograph,
}

fn class(c: char) -> Class {
    match c {
        '\n' | '\r' => Class::Newline,
        c if c.is_whitespace() => Class::Space,
        c if c.is_ascii_digit() => Class::Digit,
        '\u{3040}'..='\u{30ff}' | '\u{3400}'..='\u{9fff}' | '\u{ac00}'..='\u{d7af}' => {
            Class::Ideograph
        }
        c if c.is_alphabetic() => Class::Letter,
        _ => Class::Punct,
    }
}

/// Estimated tokens of one piece of text.
pub(crate) fn text_tokens(text: &str) -> u64 {
    let mut total = 0u64;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let k = class(c);
        let mut len = 1u64;
        while chars
            .peek()
            .is_some_and(|&n| class(n) == k && k != Class::Ideograph)
        {
            chars.next();
            len += 1;
        }
        total += match k {
            // Common words are single vocabulary entries; long ones split every ~5 letters.
            Class::Letter if len <= 10 => 1,
            Class::Letter => len.div_ceil(5),
            // Digits are grouped in threes by most current vocabularies.
            Class::Digit => len.div_ceil(3),
            // A single space merges into the next word; indentation runs are chunked.
            Class::Space => (len - 1).div_ceil(4),
            Class::Newline => 1,
            // Punctuation runs such as `":"` or `"},` are usually one entry per ~3 chars.
            Class::Punct => len.div_ceil(3),
            Class::Ideograph => 1,
        };
    }
    total
}
