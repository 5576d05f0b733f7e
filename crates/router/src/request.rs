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
}
