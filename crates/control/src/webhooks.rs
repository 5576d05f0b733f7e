//! Alert webhooks: the control plane's alerts (`alerts.rs`, coalesced the same way as the
//! desktop notifications) delivered to HTTP receivers as generic JSON or a Slack-compatible
//! body, signed with HMAC-SHA256, retried with backoff. URLs and signing secrets live in the
//! secret store; no log line, error or listing carries either.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use switchboard_store::{WebhookRow, WebhookTarget};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;

use crate::alerts::{Coalescer, Incident, IncidentTracker, Notice, Pacing, budget_incident};
use crate::{Control, ControlError};

/// The header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub const SIGNATURE_HEADER: &str = "x-switchboard-signature";
/// Deliveries tried per message (the first and the retries).
const ATTEMPTS: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// `{"type": "switchboard.alert", "summary", "text", "subjects", "link", "sent_at_ms"}`.
    Json,
    /// `{"text": …}`, what Slack's (and Mattermost's, Discord's `/slack`) incoming webhooks take.
    Slack,
}

impl WebhookFormat {
    fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Json => "json",
            WebhookFormat::Slack => "slack",
        }
    }

    fn parse(s: &str) -> WebhookFormat {
        if s == "slack" {
            WebhookFormat::Slack
        } else {
            WebhookFormat::Json
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewWebhook {
    #[serde(default)]
    pub label: String,
    /// `https://…` (or `http://`); kept in the secret store, shown only as a hint.
    pub url: String,
    #[serde(default = "json")]
    pub format: WebhookFormat,
}

fn json() -> WebhookFormat {
    WebhookFormat::Json
}

/// A webhook as listed: never its URL or signing secret.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: i64,
    pub label: String,
    pub format: WebhookFormat,
    pub enabled: bool,
    /// Scheme and host, and the last four characters of the rest.
    pub url_hint: String,
    pub created_at_ms: i64,
}

impl From<WebhookRow> for WebhookView {
    fn from(r: WebhookRow) -> Self {
        WebhookView {
            id: r.id,
            label: r.label,
            format: WebhookFormat::parse(&r.format),
            enabled: r.enabled,
            url_hint: r.url_hint,
            created_at_ms: r.created_at_ms,
        }
    }
}

/// A new webhook and its signing secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    pub webhook: WebhookView,
    pub signing_secret: String,
}

/// How one delivery went.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DeliveryReport {
    pub delivered: bool,
    pub attempts: u32,
    /// The receiver's last status, if it answered.
    pub status: Option<u16>,
    /// Why it failed (never the URL).
    pub error: Option<String>,
}

/// Scheme and host of `url`, and the last four characters of the rest.
fn url_hint(url: &reqwest::Url) -> String {
    let rest = &url.as_str()[url.origin().ascii_serialization().len()..];
    let tail: String = rest
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{}/…{tail}", url.origin().ascii_serialization())
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &[u8], unix_secs: i64, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        // HMAC takes keys of any length; this branch cannot be reached.
        return String::new();
    };
    mac.update(unix_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={unix_secs},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

fn body(format: WebhookFormat, notice: &Notice, now_ms: i64) -> Vec<u8> {
    let v = match format {
        WebhookFormat::Json => serde_json::json!({
            "type": "switchboard.alert",
            "summary": notice.summary,
            "text": notice.body,
            "subjects": notice.subjects,
            "link": notice.link,
            "sent_at_ms": now_ms,
        }),
        WebhookFormat::Slack => serde_json::json!({
            "text": format!("*{}*\n{}", notice.summary, notice.body),
        }),
    };
    serde_json::to_vec(&v).unwrap_or_default()
}

/// Delivers messages: one pooled client that follows no redirect.
#[derive(Debug, Clone)]
pub struct Deliverer {
    http: reqwest::Client,
    /// The wait before the first retry; doubled for each next one.
    backoff: Duration,
}

impl Deliverer {
    pub fn new(backoff: Duration) -> Deliverer {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Deliverer { http, backoff }
    }

    /// Sends `notice` to `target`, retrying network errors, 429 and 5xx with backoff.
    pub async fn deliver(&self, target: &WebhookTarget, notice: &Notice) -> DeliveryReport {
        let format = WebhookFormat::parse(&target.row.format);
        let now_ms = switchboard_store::now_ms();
        let payload = body(format, notice, now_ms);
        let sig = signature(
            target.signing_secret.expose().as_bytes(),
            now_ms / 1000,
            &payload,
        );
        let mut report = DeliveryReport {
            delivered: false,
            attempts: 0,
            status: None,
            error: None,
        };
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(self.backoff * 2u32.pow(attempt - 1)).await;
            }
            report.attempts = attempt + 1;
            let sent = self
                .http
                .post(target.url.expose())
                .header("content-type", "application/json")
                .header("user-agent", "Switchboard")
                .header(SIGNATURE_HEADER, &sig)
                .body(payload.clone())
                .send()
                .await;
            match sent {
                Ok(resp) => {
                    let status = resp.status();
                    report.status = Some(status.as_u16());
                    if status.is_success() {
                        report.delivered = true;
                        report.error = None;
                        return report;
                    }
                    report.error = Some(format!("the receiver answered {status}"));
                    if !(status.is_server_error() || status.as_u16() == 429) {
                        break;
                    }
                }
                Err(e) => {
                    // Without the URL: a Slack URL is a credential.
                    report.error = Some(e.without_url().to_string());
                }
            }
        }
        tracing::warn!(
            webhook = target.row.id,
            label = %target.row.label,
            attempts = report.attempts,
            error = report.error.as_deref().unwrap_or(""),
            "webhook not delivered"
        );
        report
    }
}

impl Control {
    pub async fn webhooks(&self) -> Result<Vec<WebhookView>, ControlError> {
        Ok(self
            .store
            .list_webhooks()
            .await?
            .into_iter()
            .map(WebhookView::from)
            .collect())
    }

    pub async fn add_webhook(&self, w: NewWebhook) -> Result<CreatedWebhook, ControlError> {
        let url = reqwest::Url::parse(w.url.trim())
            .map_err(|e| ControlError::invalid("url", e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ControlError::invalid("url", "an http:// or https:// URL"));
        }
        let label = w.label.trim();
        if label.chars().count() > 64 {
            return Err(ControlError::invalid("label", "at most 64 characters"));
        }
        let hint = url_hint(&url);
        let label = if label.is_empty() {
            url.host_str().unwrap_or("webhook").to_owned()
        } else {
            label.to_owned()
        };
        let (row, signing) = self
            .store
            .add_webhook(
                &label,
                w.format.as_str(),
                switchboard_router::Secret::new(url.as_str()),
                &hint,
            )
            .await?;
        Ok(CreatedWebhook {
            webhook: row.into(),
            signing_secret: signing.expose().to_owned(),
        })
    }

    pub async fn set_webhook_enabled(&self, id: i64, enabled: bool) -> Result<(), ControlError> {
        Ok(self.store.set_webhook_enabled(id, enabled).await?)
    }

    pub async fn delete_webhook(&self, id: i64) -> Result<(), ControlError> {
        Ok(self.store.delete_webhook(id).await?)
    }

    /// Sends a test message to one webhook now (enabled or not) and says how it went.
    pub async fn test_webhook(&self, id: i64) -> Result<DeliveryReport, ControlError> {
        let target = self
            .store
            .webhook_targets(Some(id))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ControlError::not_found(format!("webhook {id}")))?;
        let notice = Notice {
            summary: "Switchboard: test alert".into(),
            body: "Alerts from this Switchboard reach this receiver.".into(),
            link: String::new(),
            subjects: Vec::new(),
        };
        Ok(self.deliverer.deliver(&target, &notice).await)
    }

    /// Follows key standings, unusable aliases and client budgets until `stop`, and delivers each coalesced message to every enabled
    /// webhook. Deliveries run beside the loop and end with it.
    pub async fn run_alerts(self: Arc<Self>, stop: CancellationToken) {
        let mut rx = self.subscribe_standings();
        let mut budgets = self.budget_events();
        let mut tracker = IncidentTracker::new(&self.key_views(None), &self.summary());
        let mut coalescer = Coalescer::new(Pacing::default());
        let mut deliveries = JoinSet::new();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let push = |c: &mut Coalescer, incidents: Vec<Incident>| {
            for i in incidents {
                c.push(i, Instant::now());
            }
        };
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                ev = rx.recv() => match ev {
                    Ok(change) => push(&mut coalescer, tracker.on_change(&change).into_iter().collect()),
                    Err(RecvError::Lagged(_)) => push(&mut coalescer, tracker.resync(&self.key_views(None))),
                    Err(RecvError::Closed) => break,
                },
                ev = budgets.recv() => match ev {
                    Ok(ev) => push(&mut coalescer, vec![budget_incident(&ev)]),
                    Err(RecvError::Lagged(n)) => tracing::warn!(skipped = n, "budget alerts skipped"),
                    Err(RecvError::Closed) => break,
                },
                _ = tick.tick() => {
                    push(&mut coalescer, tracker.on_summary(&self.summary()));
                    let Some(notice) = coalescer.poll(Instant::now()) else { continue };
                    let targets = match self.store.webhook_targets(None).await {
                        Ok(t) => t,
                        Err(e) => {
                            tracing::warn!(error = %e, "alerts not delivered: cannot read webhooks");
                            continue;
                        }
                    };
                    let notice = Arc::new(notice);
                    for target in targets {
                        let (d, n) = (self.deliverer.clone(), notice.clone());
                        deliveries.spawn(async move { d.deliver(&target, &n).await; });
                    }
                    while deliveries.try_join_next().is_some() {}
                }
            }
        }
        deliveries.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_of_time_and_body() {
        // RFC 4231 test case 2 key and data, with our "<t>." prefix folded into the data.
        let sig = signature(b"Jefe", 0, b"what do ya want for nothing?");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"0.what do ya want for nothing?");
        assert_eq!(
            sig,
            format!("t=0,v1={}", hex::encode(mac.finalize().into_bytes()))
        );
        assert_ne!(signature(b"other", 0, b"x"), signature(b"Jefe", 0, b"x"));
    }

    #[test]
    fn hints_show_the_host_and_four_characters() {
        let u =
            reqwest::Url::parse("https://hooks.slack.com/services/T0/B0/abcdSECRETwxyz").unwrap();
        assert_eq!(url_hint(&u), "https://hooks.slack.com/…wxyz");
        assert!(!url_hint(&u).contains("SECRET"));
    }
}
