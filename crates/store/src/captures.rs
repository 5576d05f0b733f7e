//! The inspector's captures: each sealed with the one AEAD routine (`secrets/envelope.rs`)
//! under a random key kept in the secret store (beside the provider keys), bound to its
//! request id; written by a batched writer (`writer.rs`), deleted after the retention period.
//! What is sealed is already scrubbed of every key the request used
//! ([`FinishedCapture::clean_json`]).

use std::sync::Arc;

use sqlx::QueryBuilder;
use switchboard_router::Secret;
use switchboard_router::inspect::{Capture, CaptureSink, FinishedCapture};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use crate::db::{Store, on_pool, on_tx};
use crate::error::StoreError;
use crate::secrets::envelope::{self, KEY_LEN};
use crate::writer::{BatchSink, Rows};

/// Where the capture key is kept in the secret store.
const CAPTURE_KEY_ID: &str = "inspector:capture_key";

/// The key captures are sealed with. Cheap to clone; zeroed when the last clone goes.
#[derive(Clone)]
pub struct CaptureKey(Arc<Zeroizing<[u8; KEY_LEN]>>);

impl std::fmt::Debug for CaptureKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CaptureKey(****)")
    }
}

/// The inspector's sending side: queues finished captures for the writer, never blocks.
pub type CaptureQueue = BatchSink<FinishedCapture>;

impl CaptureSink for CaptureQueue {
    fn capture(&self, capture: FinishedCapture) {
        self.send(capture);
    }
}

/// A stored capture as listed (not opened).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ToSchema)]
pub struct CaptureInfo {
    pub request_id: String,
    pub started_at_ms: i64,
    /// When it was captured (the router's clock).
    pub captured_at_ms: i64,
    /// Size of the (scrubbed) capture in bytes.
    pub size_bytes: i64,
}

impl Rows for FinishedCapture {
    const WHAT: &'static str = "captures";
    type Ctx = CaptureKey;

    async fn write(store: &Store, key: &CaptureKey, batch: &[Self]) -> Result<(), StoreError> {
        store.insert_captures(key, batch).await
    }
}

fn hex_key(key: &Secret) -> Option<[u8; KEY_LEN]> {
    let bytes = hex::decode(key.expose()).ok()?;
    bytes.try_into().ok()
}

impl Store {
    /// The capture key, created (random) on first use.
    pub async fn capture_key(&self) -> Result<CaptureKey, StoreError> {
        let secret = self
            .with_secrets(|st| {
                st.get_or_insert(CAPTURE_KEY_ID, &mut || {
                    Secret::new(hex::encode(envelope::random::<KEY_LEN>()))
                })
            })
            .await?;
        let key = hex_key(&secret).ok_or_else(|| {
            StoreError::invalid(CAPTURE_KEY_ID, "the stored capture key is not 32 hex bytes")
        })?;
        Ok(CaptureKey(Arc::new(Zeroizing::new(key))))
    }

    /// Seals and writes captures (one transaction); a request captured again replaces its row.
    pub async fn insert_captures(
        &self,
        key: &CaptureKey,
        batch: &[FinishedCapture],
    ) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut rows = Vec::with_capacity(batch.len());
        for c in batch {
            let id = &c.capture.request_id;
            let plain = Zeroizing::new(c.clean_json());
            let (nonce, sealed) =
                envelope::seal(&key.0, id.as_bytes(), &plain).map_err(|source| {
                    StoreError::Sealed {
                        request_id: id.clone(),
                        source,
                    }
                })?;
            rows.push((c, plain.len(), nonce, sealed));
        }
        let mut tx = self.begin("writing captures").await?;
        for chunk in rows.chunks(100) {
            on_tx!(&mut tx, |c| {
                let mut q = QueryBuilder::new(
                    "INSERT INTO captures \
                     (request_id, started_at_ms, stored_at_ms, size_bytes, nonce, sealed) ",
                );
                q.push_values(chunk, |mut b, (c, size, nonce, sealed)| {
                    b.push_bind(&c.capture.request_id)
                        .push_bind(c.capture.started_at_ms)
                        .push_bind(c.capture.captured_at_ms)
                        .push_bind(i64::try_from(*size).unwrap_or(i64::MAX))
                        .push_bind(&nonce[..])
                        .push_bind(sealed);
                });
                q.push(
                    " ON CONFLICT (request_id) DO UPDATE SET \
                     started_at_ms = excluded.started_at_ms, stored_at_ms = excluded.stored_at_ms, \
                     size_bytes = excluded.size_bytes, nonce = excluded.nonce, \
                     sealed = excluded.sealed",
                );
                q.build().persistent(false).execute(c).await.map(drop)
            })
            .map_err(StoreError::db("writing captures"))?;
        }
        tx.commit()
            .await
            .map_err(StoreError::db("writing captures"))
    }

    /// Captures, newest first; of one request when `request_id` is given.
    pub async fn list_captures(
        &self,
        request_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<CaptureInfo>, StoreError> {
        let rows: Vec<(String, i64, i64, i64)> = on_pool!(&self.pool, |p| sqlx::query_as(
            "SELECT request_id, started_at_ms, stored_at_ms, size_bytes FROM captures \
             WHERE ($1 IS NULL OR request_id = $1) ORDER BY request_id DESC LIMIT $2",
        )
        .bind(request_id)
        .bind(i64::from(limit.clamp(1, 1000)))
        .fetch_all(p)
        .await)
        .map_err(StoreError::db("listing captures"))?;
        Ok(rows
            .into_iter()
            .map(
                |(request_id, started_at_ms, captured_at_ms, size_bytes)| CaptureInfo {
                    request_id,
                    started_at_ms,
                    captured_at_ms,
                    size_bytes,
                },
            )
            .collect())
    }

    /// One capture, opened.
    pub async fn get_capture(
        &self,
        key: &CaptureKey,
        request_id: &str,
    ) -> Result<Option<Capture>, StoreError> {
        let row: Option<(Vec<u8>, Vec<u8>)> = on_pool!(&self.pool, |p| sqlx::query_as(
            "SELECT nonce, sealed FROM captures WHERE request_id = $1"
        )
        .bind(request_id)
        .fetch_optional(p)
        .await)
        .map_err(StoreError::db("reading a capture"))?;
        let Some((nonce, sealed)) = row else {
            return Ok(None);
        };
        let plain =
            envelope::open(&key.0, &nonce, request_id.as_bytes(), &sealed).map_err(|source| {
                StoreError::Sealed {
                    request_id: request_id.to_owned(),
                    source,
                }
            })?;
        serde_json::from_slice(&plain)
            .map(Some)
            .map_err(|source| StoreError::Corrupt {
                what: format!("capture of request {request_id}"),
                source,
            })
    }

    /// Deletes one capture; whether there was one.
    pub async fn delete_capture(&self, request_id: &str) -> Result<bool, StoreError> {
        let done = on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM captures WHERE request_id = $1"
        )
        .bind(request_id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(StoreError::db("deleting a capture"))?;
        Ok(done > 0)
    }

    /// Deletes captures made before `cutoff_ms` (the router's clock); how many.
    pub async fn delete_captures_before(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM captures WHERE stored_at_ms < $1"
        )
        .bind(cutoff_ms)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(StoreError::db("deleting old captures"))
    }
}
