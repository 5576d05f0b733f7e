//! The request inspector's setting and its captures: capture windows (global or per route,
//! until a time on the router's clock), the size cap per body and the retention period, kept
//! in the store and installed in the engine ([`Engine::set_inspector`]); the captures read,
//! deleted and pruned; what a capture becomes for the user (a cURL line with the access key
//! as a placeholder, a bug report).
//!
//! [`Engine::set_inspector`]: switchboard_router::Engine::set_inspector

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchboard_protocol::Dialect;
use switchboard_router::inspect::{Capture, CaptureWindow, DEFAULT_BODY_CAP, Inspector};
use switchboard_router::log::RequestRecord;
use switchboard_store::{CaptureInfo, CaptureKey, CaptureQueue, LocalToken};
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;

use crate::{Control, ControlError, settings};

/// Minutes a capture window stays open unless asked otherwise.
pub const DEFAULT_CAPTURE_MINUTES: u32 = 15;
const MAX_CAPTURE_MINUTES: u32 = 24 * 60;
/// Hours captures are kept unless set otherwise.
pub const DEFAULT_RETENTION_HOURS: u32 = 72;
const MAX_RETENTION_HOURS: u32 = 90 * 24;
const MIN_BODY_CAP: u64 = 1024;
const MAX_BODY_CAP: u64 = 8 * 1024 * 1024;
/// How often old captures are deleted.
const PRUNE_TICK: Duration = Duration::from_secs(600);

/// The inspector's setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CaptureSettings {
    /// Open capture windows (closed ones are dropped when the setting is next read).
    pub windows: Vec<CaptureWindow>,
    /// Bytes kept of each body (and of each stream's events).
    pub body_cap_bytes: u64,
    /// Hours captures are kept.
    pub retention_hours: u32,
}

impl Default for CaptureSettings {
    fn default() -> Self {
        CaptureSettings {
            windows: Vec::new(),
            body_cap_bytes: DEFAULT_BODY_CAP as u64,
            retention_hours: DEFAULT_RETENTION_HOURS,
        }
    }
}

/// A request to capture ("the next 15 minutes", globally or for one route).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct StartCapture {
    /// The route (alias) to capture; none: every request.
    #[serde(default)]
    pub route: Option<String>,
    /// How long to capture (default 15, at most 1440).
    #[serde(default)]
    pub minutes: Option<u32>,
    /// Bytes kept per body (1 KiB … 8 MiB); unchanged when absent.
    #[serde(default)]
    pub body_cap_bytes: Option<u64>,
    /// Hours captures are kept (1 … 2160); unchanged when absent.
    #[serde(default)]
    pub retention_hours: Option<u32>,
}

/// The inspector as the dashboard shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InspectorView {
    #[serde(flatten)]
    pub settings: CaptureSettings,
    /// Captures dropped because the write queue was full.
    pub dropped: u64,
}

/// How to send a captured client request again.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Replay {
    /// The client's dialect.
    pub dialect: String,
    /// The path on this router.
    pub path: String,
    /// The client's body.
    pub body: String,
    /// The same request as a cURL command; the access key is `$SWITCHBOARD_ACCESS_KEY`.
    pub curl: String,
}

/// A capture opened: what was kept (redacted), and how to replay it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaptureView {
    pub capture: Capture,
    pub replay: Replay,
}

/// A redacted bug report: the request's log record and its capture, in one JSON file.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BugReport {
    /// `switchboard-bug-report/1`.
    pub format: String,
    /// The Switchboard version that made it.
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestRecord>,
    pub capture: Capture,
}

/// The inspector's parts the host hands over: where captures go and the key they are sealed
/// with.
pub(crate) struct Captures {
    pub(crate) queue: CaptureQueue,
    pub(crate) key: CaptureKey,
}

/// The header a client of `dialect` presents its key in, with the placeholder.
fn auth_header(dialect: Option<Dialect>) -> String {
    let var = LocalToken::AccessKey.env_var();
    match dialect {
        Some(Dialect::Anthropic) => format!("x-api-key: ${var}"),
        Some(Dialect::Gemini) => format!("x-goog-api-key: ${var}"),
        _ => format!("Authorization: Bearer ${var}"),
    }
}

/// `text` as one single-quoted shell word.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The captured client request as a cURL command against `base`.
pub fn curl_command(capture: &Capture, base: &str) -> String {
    let req = &capture.client_request;
    let dialect = Dialect::parse(&capture.dialect);
    let mut cmd = format!(
        "curl {}",
        shell_quote(&format!("{base}{}", req.url.as_deref().unwrap_or("/")))
    );
    if capture.stream {
        cmd.push_str(" -N");
    }
    cmd.push_str(&format!(" \\\n  -H \"{}\"", auth_header(dialect)));
    for h in &req.headers {
        cmd.push_str(&format!(
            " \\\n  -H {}",
            shell_quote(&format!("{}: {}", h.name, h.value))
        ));
    }
    cmd.push_str(&format!(
        " \\\n  --data-binary {}",
        shell_quote(req.body.as_deref().unwrap_or(""))
    ));
    cmd
}

fn validate(start: &StartCapture) -> Result<u32, ControlError> {
    let minutes = start.minutes.unwrap_or(DEFAULT_CAPTURE_MINUTES);
    if !(1..=MAX_CAPTURE_MINUTES).contains(&minutes) {
        return Err(ControlError::invalid(
            "minutes",
            format!("capture for 1 to {MAX_CAPTURE_MINUTES} minutes"),
        ));
    }
    if let Some(cap) = start.body_cap_bytes
        && !(MIN_BODY_CAP..=MAX_BODY_CAP).contains(&cap)
    {
        return Err(ControlError::invalid(
            "body_cap_bytes",
            format!("keep {MIN_BODY_CAP} to {MAX_BODY_CAP} bytes per body"),
        ));
    }
    if let Some(h) = start.retention_hours
        && !(1..=MAX_RETENTION_HOURS).contains(&h)
    {
        return Err(ControlError::invalid(
            "retention_hours",
            format!("keep captures 1 to {MAX_RETENTION_HOURS} hours"),
        ));
    }
    Ok(minutes)
}

impl Control {
    /// Hands the inspector its queue and key (the host spawns the capture writer) and
    /// installs the stored setting.
    pub async fn attach_captures(
        &self,
        queue: CaptureQueue,
        key: CaptureKey,
    ) -> Result<(), ControlError> {
        let _edit = self.edits.lock().await;
        let _ = self.captures.set(Captures { queue, key });
        let s = self.stored_capture_settings().await?;
        self.install_inspector(&s);
        Ok(())
    }

    fn captures(&self) -> Result<&Captures, ControlError> {
        self.captures
            .get()
            .ok_or_else(|| ControlError::Refused("the request inspector is not available".into()))
    }

    async fn stored_capture_settings(&self) -> Result<CaptureSettings, ControlError> {
        let mut s: CaptureSettings = self
            .store
            .get_value(settings::CAPTURE)
            .await?
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        let now = self.engine.clock().now_ms();
        s.windows.retain(|w| w.until_ms > now);
        Ok(s)
    }

    fn install_inspector(&self, s: &CaptureSettings) {
        let inspector = self
            .captures
            .get()
            .filter(|_| !s.windows.is_empty())
            .map(|c| Inspector {
                windows: s.windows.clone(),
                body_cap: usize::try_from(s.body_cap_bytes).unwrap_or(DEFAULT_BODY_CAP),
                sink: Arc::new(c.queue.clone()),
            });
        self.engine.set_inspector(inspector);
    }

    async fn put_capture_settings(&self, s: &CaptureSettings) -> Result<(), ControlError> {
        let value = serde_json::to_value(s)
            .map_err(|e| ControlError::Refused(format!("capture setting: {e}")))?;
        self.store.put_value(settings::CAPTURE, &value).await?;
        self.install_inspector(s);
        Ok(())
    }

    /// The inspector's setting (open windows only) and its drop count.
    pub async fn inspector(&self) -> Result<InspectorView, ControlError> {
        Ok(InspectorView {
            settings: self.stored_capture_settings().await?,
            dropped: self.captures.get().map_or(0, |c| c.queue.dropped()),
        })
    }

    /// Opens a capture window (replacing one for the same route) and sets the caps.
    pub async fn start_capture(&self, start: StartCapture) -> Result<InspectorView, ControlError> {
        let minutes = validate(&start)?;
        let route = start.route.filter(|r| !r.is_empty());
        if let Some(r) = &route
            && self.engine.snapshot().resolve(r).is_err()
        {
            return Err(ControlError::invalid(
                "route",
                format!("no route or model is named `{r}`"),
            ));
        }
        self.captures()?;
        {
            let _edit = self.edits.lock().await;
            let mut s = self.stored_capture_settings().await?;
            let until_ms = self.engine.clock().now_ms() + i64::from(minutes) * 60_000;
            s.windows.retain(|w| w.route != route);
            s.windows.push(CaptureWindow { route, until_ms });
            if let Some(cap) = start.body_cap_bytes {
                s.body_cap_bytes = cap;
            }
            if let Some(h) = start.retention_hours {
                s.retention_hours = h;
            }
            self.put_capture_settings(&s).await?;
        }
        self.inspector().await
    }

    /// Closes the window of `route` (none: the global one), or every window with `all`.
    pub async fn stop_capture(
        &self,
        route: Option<String>,
        all: bool,
    ) -> Result<InspectorView, ControlError> {
        {
            let _edit = self.edits.lock().await;
            let mut s = self.stored_capture_settings().await?;
            let route = route.filter(|r| !r.is_empty());
            s.windows.retain(|w| !all && w.route != route);
            self.put_capture_settings(&s).await?;
        }
        self.inspector().await
    }

    /// Deletes captures older than the retention period; how many went.
    pub async fn prune_captures(&self) -> Result<u64, ControlError> {
        let s = self.stored_capture_settings().await?;
        let cutoff = self.engine.clock().now_ms() - i64::from(s.retention_hours) * 3_600_000;
        Ok(self.store.delete_captures_before(cutoff).await?)
    }

    /// Stored captures (of one request when given), newest first; old ones pruned first.
    pub async fn list_captures(
        &self,
        request_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<CaptureInfo>, ControlError> {
        self.prune_captures().await?;
        Ok(self.store.list_captures(request_id, limit).await?)
    }

    /// One capture, opened, with its replay; `base` is the router's URL for the cURL line.
    pub async fn capture(&self, request_id: &str, base: &str) -> Result<CaptureView, ControlError> {
        let key = &self.captures()?.key;
        let capture = self
            .store
            .get_capture(key, request_id)
            .await?
            .ok_or_else(|| ControlError::not_found(format!("capture of request {request_id}")))?;
        let replay = Replay {
            dialect: capture.dialect.clone(),
            path: capture.client_request.url.clone().unwrap_or_default(),
            body: capture.client_request.body.clone().unwrap_or_default(),
            curl: curl_command(&capture, base),
        };
        Ok(CaptureView { capture, replay })
    }

    /// Deletes one capture.
    pub async fn delete_capture(&self, request_id: &str) -> Result<(), ControlError> {
        if self.store.delete_capture(request_id).await? {
            Ok(())
        } else {
            Err(ControlError::not_found(format!(
                "capture of request {request_id}"
            )))
        }
    }

    /// The request's record and capture as one redacted bug report.
    pub async fn bug_report(&self, request_id: &str) -> Result<BugReport, ControlError> {
        let view = self.capture(request_id, "").await?;
        Ok(BugReport {
            format: "switchboard-bug-report/1".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            request: self.store.get_request(request_id).await?,
            capture: view.capture,
        })
    }

    /// Deletes captures past their retention on a schedule, until `stop` is cancelled.
    pub async fn run_capture_retention(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(PRUNE_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            match self.prune_captures().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "old captures deleted"),
                Err(e) => tracing::warn!(error = %e, "deleting old captures failed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_router::inspect::{CapturedHeader, CapturedMessage};

    #[test]
    fn curl_uses_the_placeholder_and_quotes_the_body() {
        let capture = Capture {
            request_id: "r".into(),
            started_at_ms: 0,
            captured_at_ms: 0,
            dialect: "anthropic".into(),
            model: "m".into(),
            stream: true,
            client_request: CapturedMessage {
                url: Some("/v1/messages".into()),
                headers: vec![CapturedHeader {
                    name: "anthropic-version".into(),
                    value: "2023-06-01".into(),
                }],
                body: Some(r#"{"say":"it's"}"#.into()),
                ..CapturedMessage::default()
            },
            attempts: Vec::new(),
            client_response: None,
        };
        let curl = curl_command(&capture, "http://127.0.0.1:8080");
        assert!(curl.starts_with("curl 'http://127.0.0.1:8080/v1/messages' -N"));
        assert!(curl.contains(r#"-H "x-api-key: $SWITCHBOARD_ACCESS_KEY""#));
        assert!(
            curl.contains(r#"--data-binary '{"say":"it'\''s"}'"#),
            "{curl}"
        );
        assert!(curl.contains("'anthropic-version: 2023-06-01'"));
    }

    #[test]
    fn capture_requests_are_validated() {
        assert_eq!(validate(&StartCapture::default()).unwrap(), 15);
        let long = StartCapture {
            minutes: Some(0),
            ..StartCapture::default()
        };
        assert!(validate(&long).is_err());
        let big = StartCapture {
            body_cap_bytes: Some(MAX_BODY_CAP + 1),
            ..StartCapture::default()
        };
        assert!(validate(&big).is_err());
    }
}
