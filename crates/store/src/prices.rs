//! The price table Switchboard prices requests with: a loaded one kept in the database, else
//! the bundled snapshot. Parsed once per load, not once per configuration read.

use std::sync::Arc;

use parking_lot::Mutex;
use switchboard_router::pricing::PriceTable;

use crate::db::Store;
use crate::db::on_pool;
use crate::error::StoreError;

/// The parsed table of the stored row loaded at `loaded_at_ms`.
#[derive(Debug, Default)]
pub(crate) struct PriceCache(Mutex<Option<(i64, Arc<PriceTable>)>>);

/// Which table is in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceTableInfo {
    pub source: String,
    /// When it was loaded; `None` for the bundled table.
    pub loaded_at_ms: Option<i64>,
    pub models: usize,
}

impl Store {
    /// The table in use: the loaded one, else the bundled snapshot.
    pub async fn price_table(&self) -> Result<Arc<PriceTable>, StoreError> {
        let version: Option<(i64,)> = on_pool!(&self.pool, |p| sqlx::query_as(
            "SELECT loaded_at_ms FROM price_table"
        )
        .fetch_optional(p)
        .await)
        .map_err(StoreError::db("reading the price table"))?;
        let Some((version,)) = version else {
            return Ok(PriceTable::bundled());
        };
        if let Some((v, t)) = &*self.prices.0.lock()
            && *v == version
        {
            return Ok(t.clone());
        }
        let (source, body): (String, Vec<u8>) = on_pool!(&self.pool, |p| sqlx::query_as(
            "SELECT source, body FROM price_table"
        )
        .fetch_one(p)
        .await)
        .map_err(StoreError::db("reading the price table"))?;
        let table = match PriceTable::parse(&body, &source) {
            Ok(t) => Arc::new(t),
            Err(e) => {
                // It was checked before it was saved: only a damaged database gets here.
                tracing::warn!(error = %e, "the stored price table is unreadable; using the bundled one");
                PriceTable::bundled()
            }
        };
        *self.prices.0.lock() = Some((version, table.clone()));
        Ok(table)
    }

    /// Checks `body` and makes it the table in use; the old one stays if it is refused.
    pub async fn save_price_table(
        &self,
        body: &[u8],
        source: &str,
    ) -> Result<PriceTableInfo, StoreError> {
        let table = PriceTable::parse(body, source).map_err(|e| StoreError::Invalid {
            field: format!("{} → {}", e.entry, e.field),
            message: e.message,
        })?;
        let loaded_at_ms = crate::now_ms();
        on_pool!(&self.pool, |p| sqlx::query(
            "INSERT INTO price_table (id, source, loaded_at_ms, body) VALUES (1, $1, $2, $3) \
             ON CONFLICT(id) DO UPDATE SET source = excluded.source, \
             loaded_at_ms = excluded.loaded_at_ms, body = excluded.body",
        )
        .bind(source)
        .bind(loaded_at_ms)
        .bind(body)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(StoreError::db("saving the price table"))?;
        let models = table.len();
        *self.prices.0.lock() = Some((loaded_at_ms, Arc::new(table)));
        Ok(PriceTableInfo {
            source: source.to_owned(),
            loaded_at_ms: Some(loaded_at_ms),
            models,
        })
    }

    /// Which table is in use.
    pub async fn price_table_info(&self) -> Result<PriceTableInfo, StoreError> {
        let table = self.price_table().await?;
        let loaded: Option<(i64,)> = on_pool!(&self.pool, |p| sqlx::query_as(
            "SELECT loaded_at_ms FROM price_table"
        )
        .fetch_optional(p)
        .await)
        .map_err(StoreError::db("reading the price table"))?;
        Ok(PriceTableInfo {
            source: table.source.clone(),
            loaded_at_ms: loaded.map(|(v,)| v),
            models: table.len(),
        })
    }
}
