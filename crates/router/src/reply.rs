//! What the engine hands back to the server for one client request: a status, headers and a
//! whole body or a stream of bytes.

use std::convert::Infallible;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;
use http::{HeaderMap, HeaderValue};
use switchboard_protocol::{ClientError, Dialect};

use crate::log::{MESSAGE_MAX, truncated};

pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, Infallible>> + Send>>;

pub enum ReplyBody {
    Full(Bytes),
    Stream(ByteStream),
}

impl std::fmt::Debug for ReplyBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplyBody::Full(b) => write!(f, "Full({} bytes)", b.len()),
            ReplyBody::Stream(_) => f.write_str("Stream"),
        }
    }
}

/// What the server sends back.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: ReplyBody,
}

impl Reply {
    pub fn json(status: u16, body: impl Into<Bytes>) -> Reply {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Reply {
            status,
            headers,
            body: ReplyBody::Full(body.into()),
        }
    }

    /// An error in the client's dialect; a message that quotes client input at length (a
    /// decoder's "invalid type: string …") is cut to [`MESSAGE_MAX`].
    pub fn error(dialect: Dialect, err: &ClientError) -> Reply {
        let body = match truncated(&err.message, MESSAGE_MAX) {
            std::borrow::Cow::Borrowed(_) => err.to_body(dialect),
            std::borrow::Cow::Owned(message) => ClientError {
                message,
                ..err.clone()
            }
            .to_body(dialect),
        };
        let body = serde_json::to_vec(&body).unwrap_or_default();
        Reply::json(err.status(), body)
    }

    pub fn sse(stream: ByteStream) -> Reply {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        );
        Reply {
            status: 200,
            headers,
            body: ReplyBody::Stream(stream),
        }
    }

    pub(crate) fn with_retry_after(mut self, secs: u64) -> Reply {
        if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
            self.headers.insert(http::header::RETRY_AFTER, v);
        }
        self
    }
}
