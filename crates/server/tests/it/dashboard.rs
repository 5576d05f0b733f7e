//! The dashboard is served at `/` and as the SPA fallback, with a strict CSP on HTML; API
//! paths never fall through to it.

use std::sync::Arc;

use switchboard_router::Secret;
use switchboard_server::{Options, Switchboard, SwitchboardHandle};
use switchboard_store::MemorySecretStore;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

async fn start(dir: &tempfile::TempDir) -> SwitchboardHandle {
    let mut opts = Options::new(dir.path());
    opts.port = 0;
    opts.secrets = Some(Arc::new(MemorySecretStore::new()));
    opts.admin_token = Some(Secret::new("admin-test-token"));
    opts.access_key = Some(Secret::new("sk-sb-test-access"));
    match Switchboard::start(opts).await {
        Ok(h) => h,
        Err(e) => panic!("start: {e}"),
    }
}

async fn get(sb: &SwitchboardHandle, path: &str) -> reqwest::Response {
    let url = format!("http://{}{path}", sb.local_addr());
    match reqwest::Client::new().get(url).send().await {
        Ok(r) => r,
        Err(e) => panic!("GET {path}: {e}"),
    }
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn root_and_app_routes_serve_html_with_a_strict_policy() {
    let dir = tempfile::tempdir().unwrap();
    let sb = start(&dir).await;
    for path in ["/", "/providers", "/routes/gpt-5.5", "/requests?status=5xx"] {
        let r = get(&sb, path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(header(&r, "content-security-policy"), CSP, "{path}");
        assert!(!header(&r, "content-security-policy").contains("unsafe"));
        assert!(
            header(&r, "content-type").starts_with("text/html"),
            "{path}"
        );
        assert_eq!(header(&r, "x-content-type-options"), "nosniff");
        assert_eq!(header(&r, "referrer-policy"), "no-referrer");
        assert_eq!(header(&r, "cache-control"), "no-cache");
        assert!(r.headers().get("access-control-allow-origin").is_none());
        let body = r.text().await.unwrap();
        assert!(body.contains("Switchboard"), "{path}: {body}");
        // No inline scripts or styles: the policy would block them.
        assert!(
            !body.contains("<script>") && !body.contains("<style"),
            "{path}"
        );
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn hashed_assets_are_immutable_and_missing_ones_are_404() {
    let dir = tempfile::tempdir().unwrap();
    let sb = start(&dir).await;
    let index = get(&sb, "/").await.text().await.unwrap();
    // When the dashboard is built, its entry script is a hashed asset.
    if let Some(start) = index.find("/assets/") {
        let rest = &index[start..];
        let end = rest.find('"').unwrap_or(rest.len());
        let asset = &rest[..end];
        let r = get(&sb, asset).await;
        assert_eq!(r.status(), 200, "{asset}");
        assert!(header(&r, "cache-control").contains("immutable"));
        assert!(
            header(&r, "content-type").starts_with("text/javascript")
                || header(&r, "content-type").starts_with("text/css")
        );
    }
    let r = get(&sb, "/assets/no-such-file-1234.js").await;
    assert_eq!(r.status(), 404);
    sb.shutdown().await;
}

#[tokio::test]
async fn api_paths_keep_their_json_404() {
    let dir = tempfile::tempdir().unwrap();
    let sb = start(&dir).await;
    let client = reqwest::Client::new();
    for path in ["/api/v1/no-such-thing", "/api/nope"] {
        let r = client
            .get(format!("http://{}{path}", sb.local_addr()))
            .bearer_auth("admin-test-token")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert!(
            header(&r, "content-type").starts_with("application/json"),
            "{path}"
        );
        assert!(r.headers().get("content-security-policy").is_none());
        let v: serde_json::Value = r.json().await.unwrap();
        assert!(v.get("error").is_some(), "{path}: {v}");
    }
    let r = client
        .get(format!("http://{}/v1/no-such-thing", sb.local_addr()))
        .bearer_auth("sk-sb-test-access")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(header(&r, "content-type").starts_with("application/json"));
    // Non-GET methods on dashboard paths are not the dashboard.
    let r = client
        .post(format!("http://{}/providers", sb.local_addr()))
        .bearer_auth("admin-test-token")
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 200);
    // HEAD / stays the cheap connectivity probe.
    let r = client
        .head(format!("http://{}/", sb.local_addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    sb.shutdown().await;
}
