//! Alert webhooks: a label, a body format and a switch in the database; the URL and the
//! signing secret in the secret store (a Slack webhook URL is itself a credential).

use rand::Rng;
use rand::distr::Alphanumeric;
use switchboard_router::Secret;

use crate::db::Store;
use crate::db::on_pool;
use crate::error::StoreError;
use crate::now_ms;

/// A webhook as listed: never its URL or secret.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WebhookRow {
    pub id: i64,
    pub label: String,
    /// `json` or `slack`.
    pub format: String,
    pub enabled: bool,
    /// Scheme and host of the URL, and the last four characters of the rest.
    pub url_hint: String,
    pub created_at_ms: i64,
}

/// A webhook with what delivering to it needs.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    pub row: WebhookRow,
    pub url: Secret,
    pub signing_secret: Secret,
}

/// Random characters of a signing secret (base62: about 238 bits).
const SIGNING_CHARS: usize = 40;

impl Store {
    /// Adds a webhook; returns it and its signing secret (shown once).
    pub async fn add_webhook(
        &self,
        label: &str,
        format: &str,
        url: Secret,
        url_hint: &str,
    ) -> Result<(WebhookRow, Secret), StoreError> {
        let tag: String = rand::rng()
            .sample_iter(Alphanumeric)
            .take(16)
            .map(char::from)
            .collect();
        let url_ref = format!("webhook/{tag}/url");
        let signing_ref = format!("webhook/{tag}/signing");
        let signing = Secret::new(format!(
            "whsec-{}",
            rand::rng()
                .sample_iter(Alphanumeric)
                .take(SIGNING_CHARS)
                .map(char::from)
                .collect::<String>()
        ));
        let (u, s, ur, sr) = (url, signing.clone(), url_ref.clone(), signing_ref.clone());
        self.with_secrets(move |st| {
            st.put(&ur, &u)?;
            st.put(&sr, &s)
        })
        .await?;
        let row: Result<WebhookRow, sqlx::Error> = on_pool!(&self.pool, |p| sqlx::query_as(
            "INSERT INTO webhooks (label, format, enabled, url_hint, url_ref, signing_ref, \
             created_at_ms) VALUES ($1, $2, TRUE, $3, $4, $5, $6) \
             RETURNING id, label, format, enabled, url_hint, created_at_ms",
        )
        .bind(label)
        .bind(format)
        .bind(url_hint)
        .bind(&url_ref)
        .bind(&signing_ref)
        .bind(now_ms())
        .fetch_one(p)
        .await);
        match row {
            Ok(row) => Ok((row, signing)),
            Err(e) => {
                self.forget_secrets(vec![url_ref, signing_ref]).await;
                Err(StoreError::db("adding a webhook")(e))
            }
        }
    }

    pub async fn list_webhooks(&self) -> Result<Vec<WebhookRow>, StoreError> {
        on_pool!(&self.pool, |p| sqlx::query_as(
            "SELECT id, label, format, enabled, url_hint, created_at_ms FROM webhooks ORDER BY id",
        )
        .fetch_all(p)
        .await)
        .map_err(StoreError::db("listing webhooks"))
    }

    /// Switches a webhook on or off.
    pub async fn set_webhook_enabled(&self, id: i64, enabled: bool) -> Result<(), StoreError> {
        let done = on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE webhooks SET enabled = $1 WHERE id = $2"
        )
        .bind(enabled)
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(StoreError::db("updating a webhook"))?;
        if done == 0 {
            return Err(StoreError::NotFound {
                what: format!("webhook {id}"),
            });
        }
        Ok(())
    }

    pub async fn delete_webhook(&self, id: i64) -> Result<(), StoreError> {
        let refs: Option<(String, String)> = on_pool!(&self.pool, |p| sqlx::query_as(
            "DELETE FROM webhooks WHERE id = $1 RETURNING url_ref, signing_ref"
        )
        .bind(id)
        .fetch_optional(p)
        .await)
        .map_err(StoreError::db("deleting a webhook"))?;
        let (u, s) = refs.ok_or_else(|| StoreError::NotFound {
            what: format!("webhook {id}"),
        })?;
        self.forget_secrets(vec![u, s]).await;
        Ok(())
    }

    /// The webhooks to deliver to (`only`: that one, enabled or not), secrets resolved; one
    /// whose secrets cannot be read is left out, loudly.
    pub async fn webhook_targets(
        &self,
        only: Option<i64>,
    ) -> Result<Vec<WebhookTarget>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            row: WebhookRow,
            url_ref: String,
            signing_ref: String,
        }
        let rows: Vec<Row> = on_pool!(&self.pool, |p| sqlx::query_as(
            "SELECT id, label, format, enabled, url_hint, created_at_ms, url_ref, signing_ref \
             FROM webhooks WHERE ($1 IS NULL AND enabled = TRUE) OR id = $2 ORDER BY id",
        )
        .bind(only)
        .bind(only)
        .fetch_all(p)
        .await)
        .map_err(StoreError::db("reading webhooks"))?;
        let mut out = Vec::with_capacity(rows.len());
        for Row {
            row,
            url_ref,
            signing_ref,
        } in rows
        {
            let id = row.id;
            let secrets = self
                .with_secrets(move |st| Ok((st.get(&url_ref)?, st.get(&signing_ref)?)))
                .await;
            match secrets {
                Ok((Some(url), Some(signing_secret))) => out.push(WebhookTarget {
                    row,
                    url,
                    signing_secret,
                }),
                Ok(_) => tracing::warn!(webhook = id, "webhook left out: its secrets are missing"),
                Err(e) => tracing::warn!(webhook = id, error = %e, "webhook left out"),
            }
        }
        Ok(out)
    }
}
