//! The media endpoints' wire shapes: multipart forms read and patched as bytes (the upload
//! is never decoded), and OpenAI embeddings translated to and from Gemini's `embedContent` /
//! `batchEmbedContents`.

use std::ops::Range;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::error::{ClientError, ErrorKind};

/// The boundary of a `multipart/form-data` content type.
pub fn form_boundary(content_type: &str) -> Option<&str> {
    let mut parts = content_type.split(';');
    let mime = parts.next()?.trim();
    if !mime.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"'))
            .filter(|b| !b.is_empty())
    })
}

/// One part of a form: its field name and where its content lies in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormPart {
    pub name: String,
    pub filename: Option<String>,
    pub data: Range<usize>,
}

/// The parts of a multipart form body; `None` when it is not one with this boundary.
pub fn form_parts(body: &[u8], boundary: &str) -> Option<Vec<FormPart>> {
    let dash = format!("--{boundary}");
    let delimiter = format!("\r\n--{boundary}");
    let first = memchr::memmem::find(body, dash.as_bytes())?;
    let mut pos = first + dash.len();
    let mut parts = Vec::new();
    loop {
        let rest = body.get(pos..)?;
        if rest.starts_with(b"--") {
            return Some(parts);
        }
        if !rest.starts_with(b"\r\n") {
            return None;
        }
        let head_start = pos + 2;
        let head_len = memchr::memmem::find(body.get(head_start..)?, b"\r\n\r\n")?;
        let head = std::str::from_utf8(&body[head_start..head_start + head_len]).ok()?;
        let data_start = head_start + head_len + 4;
        let data_len = memchr::memmem::find(body.get(data_start..)?, delimiter.as_bytes())?;
        let (name, filename) = disposition(head)?;
        parts.push(FormPart {
            name,
            filename,
            data: data_start..data_start + data_len,
        });
        pos = data_start + data_len + delimiter.len();
    }
}

/// The `name` and `filename` of a part's `Content-Disposition: form-data` header.
fn disposition(head: &str) -> Option<(String, Option<String>)> {
    let line = head.split("\r\n").find(|l| {
        l.split_once(':')
            .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case("content-disposition"))
    })?;
    let (_, value) = line.split_once(':')?;
    let param = |key: &str| {
        value.split(';').find_map(|p| {
            let (k, v) = p.split_once('=')?;
            (k.trim() == key).then(|| v.trim().trim_matches('"').to_owned())
        })
    };
    Some((param("name")?, param("filename")))
}

/// A text field of a form, when present and UTF-8.
pub fn form_field<'a>(body: &'a [u8], boundary: &str, name: &str) -> Option<&'a str> {
    let part = form_parts(body, boundary)?
        .into_iter()
        .find(|p| p.name == name && p.filename.is_none())?;
    std::str::from_utf8(&body[part.data]).ok()
}

/// The form with field `name`'s content replaced by `value` (everything else byte for byte).
pub fn replace_form_field(body: &[u8], boundary: &str, name: &str, value: &str) -> Option<Vec<u8>> {
    let part = form_parts(body, boundary)?
        .into_iter()
        .find(|p| p.name == name && p.filename.is_none())?;
    let mut out = Vec::with_capacity(body.len() + value.len());
    out.extend_from_slice(&body[..part.data.start]);
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(&body[part.data.end..]);
    Some(out)
}

/// An OpenAI embeddings request made into Gemini's, and what its answer needs to be read back.
#[derive(Debug, Clone, PartialEq)]
pub struct GeminiEmbedding {
    pub body: Vec<u8>,
    /// Several inputs: `batchEmbedContents`, else `embedContent`.
    pub batch: bool,
    /// The client asked for `encoding_format: "base64"` (the OpenAI SDKs' default).
    pub base64: bool,
    /// The input's estimated tokens (Gemini's answer carries no usage).
    pub tokens: u64,
}

fn invalid(message: impl Into<String>) -> ClientError {
    ClientError::new(ErrorKind::InvalidRequest, message)
}

/// An OpenAI `/v1/embeddings` body as Gemini's request for `model`.
pub fn embeddings_to_gemini(body: &[u8], model: &str) -> Result<GeminiEmbedding, ClientError> {
    let req: Value =
        serde_json::from_slice(body).map_err(|e| invalid(format!("invalid JSON: {e}")))?;
    let texts: Vec<&str> = match req.get("input") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|v| {
                v.as_str().ok_or_else(|| {
                    invalid("Gemini embeddings take text inputs only, not token arrays.")
                        .with_param("input")
                })
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(
                invalid("`input` must be a string or a non-empty array of strings.")
                    .with_param("input"),
            );
        }
    };
    let dims = req.get("dimensions").and_then(Value::as_u64);
    let base64 = req.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let content = |text: &str| {
        let mut c = json!({ "content": { "parts": [{ "text": text }] } });
        if let Some(d) = dims {
            c["outputDimensionality"] = d.into();
        }
        c
    };
    let batch = matches!(req.get("input"), Some(Value::Array(_)));
    let out = if batch {
        let requests: Vec<Value> = texts
            .iter()
            .map(|t| {
                let mut c = content(t);
                c["model"] = format!("models/{model}").into();
                c
            })
            .collect();
        json!({ "requests": requests })
    } else {
        content(texts[0])
    };
    Ok(GeminiEmbedding {
        body: serde_json::to_vec(&out).unwrap_or_default(),
        batch,
        base64,
        tokens: texts.iter().map(|t| crate::tokens::text_tokens(t)).sum(),
    })
}

/// Gemini's embedding answer in OpenAI's list shape, named `alias`.
pub fn embeddings_from_gemini(
    body: &[u8],
    asked: &GeminiEmbedding,
    alias: &str,
) -> Result<Vec<u8>, ClientError> {
    let bad = || ClientError::new(ErrorKind::BadGateway, "an unreadable embedding answer");
    let resp: Value = serde_json::from_slice(body).map_err(|_| bad())?;
    let vectors: Vec<&Vec<Value>> = if asked.batch {
        resp.get("embeddings")
            .and_then(Value::as_array)
            .ok_or_else(bad)?
            .iter()
            .map(|e| e.get("values").and_then(Value::as_array))
            .collect::<Option<_>>()
            .ok_or_else(bad)?
    } else {
        vec![
            resp.pointer("/embedding/values")
                .and_then(Value::as_array)
                .ok_or_else(bad)?,
        ]
    };
    let data: Vec<Value> = vectors
        .iter()
        .enumerate()
        .map(|(i, values)| {
            let embedding = if asked.base64 {
                let bytes: Vec<u8> = values
                    .iter()
                    .flat_map(|v| (v.as_f64().unwrap_or(0.0) as f32).to_le_bytes())
                    .collect();
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                Value::Array((*values).clone())
            };
            json!({ "object": "embedding", "index": i, "embedding": embedding })
        })
        .collect();
    let out = json!({
        "object": "list",
        "data": data,
        "model": alias,
        "usage": { "prompt_tokens": asked.tokens, "total_tokens": asked.tokens },
    });
    Ok(serde_json::to_vec(&out).unwrap_or_default())
}

/// A Gemini `embedContent` (or with `batch`, `batchEmbedContents`) body as an OpenAI
/// embeddings request for `model`: one text input per content (its text parts joined), with
/// `outputDimensionality` as `dimensions`.
pub fn gemini_embed_to_openai(
    body: &[u8],
    batch: bool,
    model: &str,
) -> Result<Vec<u8>, ClientError> {
    let req: Value =
        serde_json::from_slice(body).map_err(|e| invalid(format!("invalid JSON: {e}")))?;
    let requests: Vec<&Value> = if batch {
        req.get("requests")
            .and_then(Value::as_array)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| invalid("`requests` must be a non-empty array."))?
            .iter()
            .collect()
    } else {
        vec![&req]
    };
    let mut texts = Vec::with_capacity(requests.len());
    for r in &requests {
        let parts = r
            .pointer("/content/parts")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("`content.parts` is required."))?;
        let text: String = parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect();
        texts.push(Value::String(text));
    }
    let mut out = json!({ "model": model, "input": texts, "encoding_format": "float" });
    if let Some(d) = requests
        .first()
        .and_then(|r| r.get("outputDimensionality"))
        .and_then(Value::as_u64)
    {
        out["dimensions"] = d.into();
    }
    Ok(serde_json::to_vec(&out).unwrap_or_default())
}

/// An OpenAI embeddings answer in Gemini's shape (`embedding`, or with `batch`,
/// `embeddings`), with its usage.
pub fn openai_embeddings_to_gemini(
    body: &[u8],
    batch: bool,
) -> Result<(Vec<u8>, crate::Usage), ClientError> {
    let bad = || ClientError::new(ErrorKind::BadGateway, "an unreadable embedding answer");
    let resp: Value = serde_json::from_slice(body).map_err(|_| bad())?;
    let data = resp.get("data").and_then(Value::as_array).ok_or_else(bad)?;
    let mut vectors = Vec::with_capacity(data.len());
    for d in data {
        match d.get("embedding") {
            Some(Value::Array(values)) => vectors.push(json!({ "values": values })),
            Some(Value::String(b64)) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|_| bad())?;
                let values: Vec<f32> = bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                vectors.push(json!({ "values": values }));
            }
            _ => return Err(bad()),
        }
    }
    let usage = crate::Usage {
        prompt_tokens: resp
            .pointer("/usage/prompt_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        ..crate::Usage::default()
    };
    let out = if batch {
        json!({ "embeddings": vectors })
    } else {
        json!({ "embedding": vectors.into_iter().next().ok_or_else(bad)? })
    };
    Ok((serde_json::to_vec(&out).unwrap_or_default(), usage))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: &[u8] = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFF\r\n--X\x00\xff\r\n--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-alias\r\n--XyZ--\r\n";

    #[test]
    fn forms_are_read_and_patched_byte_for_byte() {
        assert_eq!(
            form_boundary("multipart/form-data; boundary=\"XyZ\""),
            Some("XyZ")
        );
        assert_eq!(form_boundary("application/json"), None);
        let parts = form_parts(FORM, "XyZ").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].filename.as_deref(), Some("a.wav"));
        assert_eq!(&FORM[parts[0].data.clone()], b"RIFF\r\n--X\x00\xff");
        assert_eq!(form_field(FORM, "XyZ", "model"), Some("whisper-alias"));
        let patched = replace_form_field(FORM, "XyZ", "model", "whisper-1").unwrap();
        assert_eq!(form_field(&patched, "XyZ", "model"), Some("whisper-1"));
        assert_eq!(
            &patched[..FORM.len() - 40],
            &FORM[..FORM.len() - 40],
            "the file part is unchanged"
        );
        assert_eq!(form_field(FORM, "XyZ", "file"), None);
        assert_eq!(form_parts(b"--XyZ\r\nno end", "XyZ"), None);
    }

    #[test]
    fn embeddings_go_to_gemini_and_come_back_in_openai_shape() {
        let one =
            embeddings_to_gemini(br#"{"model":"e","input":"hello","dimensions":3}"#, "m").unwrap();
        assert!(!one.batch);
        let v: Value = serde_json::from_slice(&one.body).unwrap();
        assert_eq!(v["content"]["parts"][0]["text"], "hello");
        assert_eq!(v["outputDimensionality"], 3);
        let out =
            embeddings_from_gemini(br#"{"embedding":{"values":[0.5,1.0]}}"#, &one, "e").unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["data"][0]["embedding"], json!([0.5, 1.0]));
        assert_eq!(v["model"], "e");
        assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0);

        let many = embeddings_to_gemini(
            br#"{"model":"e","input":["a","b"],"encoding_format":"base64"}"#,
            "m",
        )
        .unwrap();
        assert!(many.batch && many.base64);
        let v: Value = serde_json::from_slice(&many.body).unwrap();
        assert_eq!(v["requests"][1]["model"], "models/m");
        let out = embeddings_from_gemini(
            br#"{"embeddings":[{"values":[1.0]},{"values":[2.0]}]}"#,
            &many,
            "e",
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        let b = base64::engine::general_purpose::STANDARD
            .decode(v["data"][1]["embedding"].as_str().unwrap())
            .unwrap();
        assert_eq!(b, 2.0f32.to_le_bytes());
        assert!(embeddings_to_gemini(br#"{"model":"e","input":[[1,2]]}"#, "m").is_err());
        // And the other way: a Gemini client on an OpenAI-compatible upstream.
        let up = gemini_embed_to_openai(
            br#"{"requests":[{"model":"models/g","content":{"parts":[{"text":"a"},{"text":"b"}]},"outputDimensionality":2}]}"#,
            true,
            "text-embedding-3-small",
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&up).unwrap();
        assert_eq!(v["input"], json!(["ab"]));
        assert_eq!(v["dimensions"], 2);
        assert_eq!(v["model"], "text-embedding-3-small");
        let (back, usage) = openai_embeddings_to_gemini(
            br#"{"data":[{"embedding":[0.25,0.5]}],"usage":{"prompt_tokens":3}}"#,
            false,
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&back).unwrap();
        assert_eq!(v["embedding"]["values"], json!([0.25, 0.5]));
        assert_eq!(usage.prompt_tokens, 3);
        assert!(gemini_embed_to_openai(br#"{"content":{}}"#, false, "m").is_err());
        assert!(embeddings_from_gemini(b"{}", &one, "e").is_err());
    }
}
