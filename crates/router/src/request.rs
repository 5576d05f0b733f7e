//! A client request as the ingress hands it to the engine.

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use switchboard_protocol::Dialect;
use tokio::time::Instant;

use crate::conversations::Owner;

/// A parsed client request, as the ingress hands it to the engine.
#[derive(Debug)]
pub struct IngressRequest {
    pub dialect: Dialect,
    /// Which of the dialect's endpoints was called.
    pub endpoint: Endpoint,
    /// The model name the client asked for (from the body, or the URL for Gemini).
    pub model: String,
    pub stream: bool,
    /// The client's body, unchanged.
    pub body: Bytes,
    /// The client's `Content-Type` when it is not JSON (a media endpoint's multipart form,
    /// boundary included): the upstream gets the same.
    pub content_type: Option<HeaderValue>,
    /// Client headers that carry meaning upstream (`anthropic-version`, `anthropic-beta`),
    /// forwarded only to providers of the same dialect. Nothing else is forwarded (T5).
    pub forward_headers: Vec<(HeaderName, HeaderValue)>,
    /// Conversation id for session affinity.
    pub session: Option<u64>,
    /// Who is asking (a hash of the presented credential): stored conversations are theirs.
    pub owner: Owner,
    /// The client (named access key) the request is attributed to.
    pub client: Option<String>,
    /// The `x-switchboard-hop` header the request arrived with: the routers it has passed.
    pub hop: Option<HeaderValue>,
    pub received_at: Instant,
    pub received_at_ms: i64,
}

/// The endpoint a request was sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// The dialect's generation endpoint.
    Generate,
    /// `POST /v1/responses/compact`: a Responses conversation compacted by a Responses
    /// upstream's own endpoint, or on other upstreams by a summary turn (`pipe.rs`).
    Compact,
    /// One of OpenAI's media endpoints (`media.rs`).
    Media(Media),
    /// Gemini's `:countTokens`, sent to Gemini targets (the ingress answers it with the local
    /// estimate when a model has none).
    CountTokens,
    /// Gemini's `:embedContent` (or with `batch`, `:batchEmbedContents`) from a Gemini client:
    /// passed to Gemini targets, translated for OpenAI-compatible ones.
    GeminiEmbed { batch: bool },
}

/// OpenAI's media endpoints, served with the same keys, health and failover as generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    Embeddings,
    Transcriptions,
    Translations,
    Speech,
    ImageGenerations,
    ImageEdits,
}

impl Media {
    pub const ALL: [Media; 6] = [
        Media::Embeddings,
        Media::Transcriptions,
        Media::Translations,
        Media::Speech,
        Media::ImageGenerations,
        Media::ImageEdits,
    ];

    /// The path under an OpenAI-compatible base URL (and under `/v1` on Switchboard).
    pub fn path(self) -> &'static str {
        match self {
            Media::Embeddings => "embeddings",
            Media::Transcriptions => "audio/transcriptions",
            Media::Translations => "audio/translations",
            Media::Speech => "audio/speech",
            Media::ImageGenerations => "images/generations",
            Media::ImageEdits => "images/edits",
        }
    }

    /// Whether the client sends a multipart form (an upload) rather than JSON.
    pub fn multipart(self) -> bool {
        matches!(
            self,
            Media::Transcriptions | Media::Translations | Media::ImageEdits
        )
    }
}
