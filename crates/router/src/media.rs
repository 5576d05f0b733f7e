//! The endpoints besides generation on one attempt — OpenAI's media endpoints (embeddings,
//! audio, images) and Gemini's `:countTokens`: which provider kinds serve them, the upstream
//! URL and body, and the answer made ready for the client with what its record counts. The
//! failover around it is the dispatcher's, as for generation.

use bytes::Bytes;
use http::HeaderValue;
use serde_json::Value;
use switchboard_protocol::media::{
    GeminiEmbedding, embeddings_from_gemini, embeddings_to_gemini, form_boundary,
    gemini_embed_to_openai, openai_embeddings_to_gemini, replace_form_field,
};
use switchboard_protocol::passthrough::{replace_top_level_str, top_level_value};
use switchboard_protocol::{ClientError, Dialect, ErrorKind, Usage};

use crate::model::Provider;
use crate::request::{Endpoint, IngressRequest, Media};

/// Whether a provider of `kind` serves `media`: the OpenAI-compatible kinds serve every media
/// endpoint, Gemini embeddings only (through `embedContent`), Anthropic none.
pub fn serves(kind: Dialect, media: Media) -> bool {
    match kind {
        Dialect::OpenaiChat | Dialect::OpenaiResponses => true,
        Dialect::Gemini => media == Media::Embeddings,
        Dialect::Anthropic => false,
    }
}

/// Whether a provider of `kind` serves `endpoint` (every kind generates; `:countTokens` goes
/// to Gemini providers only).
pub fn endpoint_served(kind: Dialect, endpoint: Endpoint) -> bool {
    match endpoint {
        Endpoint::Generate | Endpoint::Compact => true,
        Endpoint::Media(m) => serves(kind, m),
        Endpoint::CountTokens => kind == Dialect::Gemini,
        Endpoint::GeminiEmbed { .. } => serves(kind, Media::Embeddings),
    }
}

/// The client-facing name of an endpoint, for errors.
pub(crate) fn endpoint_name(endpoint: Endpoint) -> String {
    match endpoint {
        Endpoint::Media(m) => format!("/v1/{}", m.path()),
        Endpoint::CountTokens => ":countTokens".to_owned(),
        Endpoint::GeminiEmbed { batch } => gemini_embed_action(batch).to_owned(),
        Endpoint::Generate | Endpoint::Compact => "generation".to_owned(),
    }
}

/// How the upstream's answer is read back.
pub(crate) enum Read {
    /// OpenAI's own shape: passed through, the model name patched.
    Same,
    /// Gemini's `embedContent` / `batchEmbedContents`, translated to OpenAI's list.
    GeminiEmbedding(GeminiEmbedding),
    /// OpenAI's embeddings list, translated to Gemini's (`batch`: `embeddings`).
    OpenaiEmbeddings { batch: bool },
}

fn gemini_embed_action(batch: bool) -> &'static str {
    if batch {
        "batchEmbedContents"
    } else {
        "embedContent"
    }
}

/// One media call: where it goes, what it sends, how its answer is read.
pub(crate) struct Call {
    pub(crate) url: String,
    pub(crate) body: Bytes,
    pub(crate) read: Read,
}

/// The upstream call for a request that is not generation (`None` for generation) with
/// `model` on `provider`. The client's form or JSON goes as it came, only its `model`
/// replaced; a Gemini target gets its own embedding request; a Gemini token count goes as it
/// came (Gemini names the model in the path).
pub(crate) fn call(
    req: &IngressRequest,
    provider: &Provider,
    model: &str,
) -> Option<Result<Call, ClientError>> {
    let base = provider.base_url.trim_end_matches('/');
    match req.endpoint {
        Endpoint::Generate | Endpoint::Compact => None,
        Endpoint::CountTokens => Some(Ok(Call {
            url: format!("{base}/models/{model}:countTokens"),
            body: count_body(&req.body, model),
            read: Read::Same,
        })),
        Endpoint::Media(media) => Some(media_call(req, media, provider, model, base)),
        Endpoint::GeminiEmbed { batch } if provider.kind == Dialect::Gemini => Some(Ok(Call {
            url: format!("{base}/models/{model}:{}", gemini_embed_action(batch)),
            body: if batch {
                batch_models(&req.body, model)
            } else {
                req.body.clone()
            },
            read: Read::Same,
        })),
        Endpoint::GeminiEmbed { batch } => Some(
            gemini_embed_to_openai(&req.body, batch, model).map(|body| Call {
                url: format!("{base}/{}", Media::Embeddings.path()),
                body: Bytes::from(body),
                read: Read::OpenaiEmbeddings { batch },
            }),
        ),
    }
}

/// A `batchEmbedContents` body whose every request names the upstream model (Gemini
/// requires each to equal the one in the path).
fn batch_models(body: &Bytes, model: &str) -> Bytes {
    let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
        return body.clone();
    };
    let Some(requests) = v.get_mut("requests").and_then(Value::as_array_mut) else {
        return body.clone();
    };
    for r in requests.iter_mut().filter_map(Value::as_object_mut) {
        r.insert("model".into(), Value::String(format!("models/{model}")));
    }
    serde_json::to_vec(&v).map_or_else(|_| body.clone(), Bytes::from)
}

/// A Gemini token count as sent, except that a whole `generateContentRequest` names the
/// upstream model (Gemini requires `models/{model}` there).
fn count_body(body: &Bytes, model: &str) -> Bytes {
    if top_level_value(body, "generateContentRequest").is_none() {
        return body.clone();
    }
    let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
        return body.clone();
    };
    if let Some(inner) = v
        .get_mut("generateContentRequest")
        .and_then(Value::as_object_mut)
    {
        inner.insert("model".into(), Value::String(format!("models/{model}")));
    }
    serde_json::to_vec(&v).map_or_else(|_| body.clone(), Bytes::from)
}

fn media_call(
    req: &IngressRequest,
    media: Media,
    provider: &Provider,
    model: &str,
    base: &str,
) -> Result<Call, ClientError> {
    if provider.kind == Dialect::Gemini {
        let asked = embeddings_to_gemini(&req.body, model)?;
        let action = if asked.batch {
            "batchEmbedContents"
        } else {
            "embedContent"
        };
        return Ok(Call {
            url: format!("{base}/models/{model}:{action}"),
            body: Bytes::from(asked.body.clone()),
            read: Read::GeminiEmbedding(asked),
        });
    }
    let boundary = req
        .content_type
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .and_then(form_boundary);
    let body = match boundary {
        Some(b) => replace_form_field(&req.body, b, "model", model),
        None => replace_top_level_str(&req.body, "model", model),
    }
    .ok_or_else(|| {
        ClientError::new(ErrorKind::InvalidRequest, "`model` must be a string").with_param("model")
    })?;
    Ok(Call {
        url: format!("{base}/{}", media.path()),
        body: Bytes::from(body),
        read: Read::Same,
    })
}

/// A media answer ready for the client.
pub(crate) struct Answer {
    pub(crate) body: Bytes,
    pub(crate) content_type: HeaderValue,
    pub(crate) usage: Usage,
    pub(crate) units: Units,
}

/// What a media request is priced by besides tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Units {
    /// Seconds of audio transcribed or translated, when the answer says.
    pub audio_seconds: Option<f64>,
    /// Images made.
    pub images: Option<u64>,
}

fn unreadable(what: &str) -> ClientError {
    ClientError::new(ErrorKind::BadGateway, what.to_owned())
}

/// The upstream's 2xx answer (already scrubbed) for the client named `alias`. JSON must be
/// an object without an error member (else it is the provider's failure and fails over);
/// a transcript asked for as text, SRT or VTT passes as it came.
pub(crate) fn answer(
    read: &Read,
    alias: &str,
    body: &[u8],
    content_type: Option<&HeaderValue>,
) -> Result<Answer, ClientError> {
    let json_type = HeaderValue::from_static("application/json");
    if let Read::OpenaiEmbeddings { batch } = read {
        let (out, usage) = openai_embeddings_to_gemini(body, *batch)?;
        return Ok(Answer {
            body: Bytes::from(out),
            content_type: json_type,
            usage,
            units: Units::default(),
        });
    }
    if let Read::GeminiEmbedding(asked) = read {
        let out = embeddings_from_gemini(body, asked, alias)?;
        return Ok(Answer {
            body: Bytes::from(out),
            content_type: json_type,
            usage: Usage {
                prompt_tokens: asked.tokens,
                ..Usage::default()
            },
            units: Units::default(),
        });
    }
    let is_json = content_type
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.trim_start().starts_with("application/json"));
    if !is_json {
        return Ok(Answer {
            body: Bytes::copy_from_slice(body),
            content_type: content_type.cloned().unwrap_or(json_type),
            usage: Usage::default(),
            units: Units::default(),
        });
    }
    let v: Value =
        serde_json::from_slice(body).map_err(|_| unreadable("a body that is not JSON"))?;
    let Some(obj) = v.as_object() else {
        return Err(unreadable("a body that is not a JSON object"));
    };
    if obj.get("error").is_some_and(|e| !e.is_null()) {
        return Err(switchboard_protocol::decode_error(
            Dialect::OpenaiChat,
            502,
            body,
        ));
    }
    let out = if top_level_value(body, "model").is_some() {
        replace_top_level_str(body, "model", alias).unwrap_or_else(|| body.to_vec())
    } else {
        body.to_vec()
    };
    let (usage, units) = counts(obj);
    Ok(Answer {
        body: Bytes::from(out),
        content_type: json_type,
        usage,
        units,
    })
}

/// Tokens, audio seconds and images as OpenAI's answers state them: embeddings'
/// `usage.prompt_tokens`, transcription `usage` (tokens, or `type: duration` with `seconds`)
/// or a verbose transcript's `duration`, images' `data` and `usage`.
fn counts(obj: &serde_json::Map<String, Value>) -> (Usage, Units) {
    let usage = obj.get("usage");
    let num = |k: &str| usage.and_then(|u| u.get(k)).and_then(Value::as_u64);
    let usage_out = Usage {
        prompt_tokens: num("prompt_tokens").or(num("input_tokens")).unwrap_or(0),
        completion_tokens: num("output_tokens").unwrap_or(0),
        ..Usage::default()
    };
    let audio_seconds = usage
        .filter(|u| u.get("type").and_then(Value::as_str) == Some("duration"))
        .and_then(|u| u.get("seconds"))
        .or(obj.get("duration"))
        .and_then(Value::as_f64);
    let images = obj
        .get("data")
        .and_then(Value::as_array)
        .filter(|d| {
            d.iter()
                .any(|i| i.get("b64_json").is_some() || i.get("url").is_some())
        })
        .map(|d| d.len() as u64);
    (
        usage_out,
        Units {
            audio_seconds,
            images,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_declare_the_media_they_serve() {
        assert!(serves(Dialect::OpenaiChat, Media::Speech));
        assert!(serves(Dialect::OpenaiResponses, Media::ImageEdits));
        assert!(serves(Dialect::Gemini, Media::Embeddings));
        assert!(!serves(Dialect::Gemini, Media::Transcriptions));
        assert!(!serves(Dialect::Anthropic, Media::Embeddings));
    }

    #[test]
    fn answers_are_counted_and_renamed() {
        let a = answer(
            &Read::Same,
            "emb",
            br#"{"object":"list","data":[{"embedding":[1]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":7,"total_tokens":7}}"#,
            None,
        )
        .unwrap();
        assert_eq!(a.usage.prompt_tokens, 7);
        assert!(
            std::str::from_utf8(&a.body)
                .unwrap()
                .contains(r#""model":"emb""#)
        );
        let a = answer(
            &Read::Same,
            "img",
            br#"{"created":1,"data":[{"b64_json":"AA=="},{"b64_json":"AA=="}]}"#,
            None,
        )
        .unwrap();
        assert_eq!(a.units.images, Some(2));
        let a = answer(
            &Read::Same,
            "stt",
            br#"{"text":"hi","usage":{"type":"duration","seconds":3}}"#,
            None,
        )
        .unwrap();
        assert_eq!(a.units.audio_seconds, Some(3.0));
        let text = HeaderValue::from_static("text/plain");
        let a = answer(&Read::Same, "stt", b"hello", Some(&text)).unwrap();
        assert_eq!(&a.body[..], b"hello");
        assert_eq!(a.content_type, "text/plain");
        assert!(answer(&Read::Same, "x", b"<html>", None).is_err());
        assert!(answer(&Read::Same, "x", br#"{"error":{"message":"no"}}"#, None).is_err());
    }
}
