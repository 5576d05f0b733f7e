//! OpenAI's media endpoints (embeddings, audio, images) and Gemini's `embedContent`,
//! `batchEmbedContents` and `countTokens`, answered deterministically. The model comes from
//! the JSON body, the multipart form's `model` field or the Gemini path, so key, model and
//! header directives choose faults here as for generation.

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Value, json};

/// A media request the mock serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Media {
    Embeddings,
    Transcriptions,
    Translations,
    Speech,
    ImageGenerations,
    ImageEdits,
    GeminiEmbed { model: String, batch: bool },
    GeminiCountTokens { model: String },
}

impl Media {
    /// The OpenAI media endpoint at `path`, if it is one.
    pub(crate) fn openai(path: &str) -> Option<Media> {
        Some(match path {
            "/v1/embeddings" => Media::Embeddings,
            "/v1/audio/transcriptions" => Media::Transcriptions,
            "/v1/audio/translations" => Media::Translations,
            "/v1/audio/speech" => Media::Speech,
            "/v1/images/generations" => Media::ImageGenerations,
            "/v1/images/edits" => Media::ImageEdits,
            _ => return None,
        })
    }

    /// Gemini's `models/{model}:{action}` media actions.
    pub(crate) fn gemini(model: &str, action: &str) -> Option<Media> {
        let model = model.to_owned();
        Some(match action {
            "embedContent" => Media::GeminiEmbed {
                model,
                batch: false,
            },
            "batchEmbedContents" => Media::GeminiEmbed { model, batch: true },
            "countTokens" => Media::GeminiCountTokens { model },
            _ => return None,
        })
    }

    pub(crate) fn is_gemini(&self) -> bool {
        matches!(
            self,
            Media::GeminiEmbed { .. } | Media::GeminiCountTokens { .. }
        )
    }
}

/// A form field's text and a file part's bytes, found by field name (the mock reads forms
/// leniently: the router under test is what must get them right).
pub(crate) struct Form<'a> {
    body: &'a [u8],
    boundary: String,
}

impl<'a> Form<'a> {
    pub(crate) fn new(body: &'a [u8], content_type: &str) -> Option<Form<'a>> {
        let boundary = content_type
            .split(';')
            .find_map(|p| p.trim().strip_prefix("boundary="))?
            .trim_matches('"')
            .to_owned();
        Some(Form { body, boundary })
    }

    /// The content of part `name`.
    pub(crate) fn part(&self, name: &str) -> Option<&'a [u8]> {
        let delimiter = format!("\r\n--{}", self.boundary);
        let needle = format!("name=\"{name}\"");
        let at = find(self.body, needle.as_bytes())?;
        let start = at + find(&self.body[at..], b"\r\n\r\n")? + 4;
        let len = find(&self.body[start..], delimiter.as_bytes())?;
        Some(&self.body[start..start + len])
    }

    pub(crate) fn text(&self, name: &str) -> Option<&'a str> {
        std::str::from_utf8(self.part(name)?).ok()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A deterministic vector for `text`.
fn vector(text: &str, dims: usize) -> Vec<f32> {
    let seed = text
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b.into()));
    (0..dims)
        .map(|i| ((seed.wrapping_add(i as u32 * 97) % 1000) as f32) / 1000.0)
        .collect()
}

const DIMS: usize = 8;

/// The mock's answer: status 200 with a content type and body, or a 400 message.
pub(crate) enum Answer {
    Json(Value),
    Bytes(&'static str, Bytes),
    Invalid(String),
}

/// A 200 answer to `media` for `model` (the name the upstream was sent).
pub(crate) fn answer(
    media: &Media,
    model: &str,
    body: &[u8],
    content_type: &str,
    seq: u64,
) -> Answer {
    match media {
        Media::Embeddings => embeddings(body, model),
        Media::Transcriptions | Media::Translations => transcript(body, content_type),
        Media::Speech => speech(body),
        Media::ImageGenerations => {
            let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            if v.get("prompt").and_then(Value::as_str).is_none() {
                return Answer::Invalid("`prompt` is required.".into());
            }
            images(
                v.get("n").and_then(Value::as_u64).unwrap_or(1),
                v.get("response_format").and_then(Value::as_str) == Some("url"),
                seq,
            )
        }
        Media::ImageEdits => {
            let Some(form) = Form::new(body, content_type) else {
                return Answer::Invalid("Expected a multipart form.".into());
            };
            if form.part("image").is_none_or(<[u8]>::is_empty)
                && form.part("image[]").is_none_or(<[u8]>::is_empty)
            {
                return Answer::Invalid("An `image` file is required.".into());
            }
            images(
                form.text("n").and_then(|n| n.parse().ok()).unwrap_or(1),
                form.text("response_format") == Some("url"),
                seq,
            )
        }
        Media::GeminiEmbed { batch, .. } => gemini_embed(body, *batch),
        Media::GeminiCountTokens { .. } => {
            Answer::Json(json!({ "totalTokens": (body.len() / 4).max(1) }))
        }
    }
}

fn embeddings(body: &[u8], model: &str) -> Answer {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let texts: Vec<String> = match v.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) if !a.is_empty() => a.iter().map(Value::to_string).collect(),
        _ => return Answer::Invalid("`input` is required.".into()),
    };
    let base64 = v.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let data: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let vec = vector(t, DIMS);
            let embedding = if base64 {
                let bytes: Vec<u8> = vec.iter().flat_map(|f| f.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vec)
            };
            json!({ "object": "embedding", "index": i, "embedding": embedding })
        })
        .collect();
    let tokens: usize = texts.iter().map(|t| (t.len() / 4).max(1)).sum();
    Answer::Json(json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": { "prompt_tokens": tokens, "total_tokens": tokens },
    }))
}

/// The length of a WAV file in seconds, from its header (`None` for anything else).
fn wav_seconds(file: &[u8]) -> Option<f64> {
    if file.get(..4)? != b"RIFF" || file.get(8..12)? != b"WAVE" {
        return None;
    }
    let byte_rate = u32::from_le_bytes(file.get(28..32)?.try_into().ok()?);
    let data = find(file, b"data")?;
    let len = u32::from_le_bytes(file.get(data + 4..data + 8)?.try_into().ok()?);
    (byte_rate > 0).then(|| f64::from(len) / f64::from(byte_rate))
}

fn transcript(body: &[u8], content_type: &str) -> Answer {
    let Some(form) = Form::new(body, content_type) else {
        return Answer::Invalid("Expected a multipart form.".into());
    };
    let Some(file) = form.part("file").filter(|f| !f.is_empty()) else {
        return Answer::Invalid("A `file` is required.".into());
    };
    let seconds = wav_seconds(file).unwrap_or(1.0);
    let text = format!("Mock transcript of {} bytes.", file.len());
    match form.text("response_format").unwrap_or("json") {
        "text" | "srt" | "vtt" => Answer::Bytes("text/plain; charset=utf-8", Bytes::from(text)),
        "verbose_json" => Answer::Json(json!({
            "task": "transcribe", "language": "english", "duration": seconds,
            "text": text, "segments": [],
        })),
        _ => Answer::Json(json!({
            "text": text,
            "usage": { "type": "duration", "seconds": seconds.ceil() },
        })),
    }
}

/// Synthesised "audio": an ID3 tag, then one byte per input character.
fn speech(body: &[u8]) -> Answer {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let Some(input) = v.get("input").and_then(Value::as_str) else {
        return Answer::Invalid("`input` is required.".into());
    };
    let mut audio = b"ID3\x04\x00mock-audio:".to_vec();
    audio.extend(input.bytes().map(|b| b.wrapping_add(1)));
    Answer::Bytes("audio/mpeg", Bytes::from(audio))
}

fn images(n: u64, url: bool, seq: u64) -> Answer {
    let data: Vec<Value> = (0..n.clamp(1, 10))
        .map(|i| {
            if url {
                json!({ "url": format!("https://mock.invalid/images/{seq}-{i}.png") })
            } else {
                let png = format!("\u{89}PNG mock image {seq}-{i}");
                json!({ "b64_json": base64::engine::general_purpose::STANDARD.encode(png) })
            }
        })
        .collect();
    Answer::Json(json!({ "created": 0, "data": data }))
}

fn gemini_embed(body: &[u8], batch: bool) -> Answer {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let text = |c: &Value| -> Option<String> {
        let parts = c.pointer("/content/parts")?.as_array()?;
        Some(
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect(),
        )
    };
    let dims = |c: &Value| {
        c.get("outputDimensionality")
            .and_then(Value::as_u64)
            .map_or(DIMS, |d| d as usize)
    };
    if batch {
        let Some(requests) = v.get("requests").and_then(Value::as_array) else {
            return Answer::Invalid("`requests` is required.".into());
        };
        let mut out = Vec::new();
        for r in requests {
            let Some(t) = text(r) else {
                return Answer::Invalid("Each request needs `content.parts`.".into());
            };
            out.push(json!({ "values": vector(&t, dims(r)) }));
        }
        return Answer::Json(json!({ "embeddings": out }));
    }
    match text(&v) {
        Some(t) => Answer::Json(json!({ "embedding": { "values": vector(&t, dims(&v)) } })),
        None => Answer::Invalid("`content.parts` is required.".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_forms_and_wav_lengths() {
        let mut wav = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
        wav.extend([16, 0, 0, 0, 1, 0, 1, 0]);
        wav.extend(8000u32.to_le_bytes()); // sample rate
        wav.extend(16000u32.to_le_bytes()); // byte rate
        wav.extend([2, 0, 16, 0]);
        wav.extend(b"data");
        wav.extend(32000u32.to_le_bytes());
        assert_eq!(wav_seconds(&wav), Some(2.0));
        let body = [
            &b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\n"[..],
            &wav,
            b"\r\n--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n--b--\r\n",
        ]
        .concat();
        let form = Form::new(&body, "multipart/form-data; boundary=b").unwrap();
        assert_eq!(form.text("model"), Some("whisper-1"));
        assert_eq!(form.part("file"), Some(&wav[..]));
    }
}
