//! Named users signing in to the dashboard API: session cookies (HttpOnly, SameSite=Strict),
//! viewers reading but never editing or seeing secrets, admins editing, the CSRF rule for
//! cookie-authenticated requests, and no password or session token in a log line or a row.

use std::sync::Arc;

use parking_lot::Mutex;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

const VIEWER_PW: &str = "viewer-plaintext-pw-8152";
const ADMIN_PW: &str = "admin-plaintext-pw-9263";

fn one_provider(mock: &switchboard_mock_upstream::MockUpstream) -> String {
    format!(
        "{}[[routes]]\nalias = \"m\"\ntargets = [{{ provider = \"p\", model = \"m\" }}]\n",
        provider_toml("p", mock, &["sk-upstream-key-1"])
    )
}

async fn add_users(sb: &Sb) {
    for (name, role, pw) in [("vera", "viewer", VIEWER_PW), ("ada", "admin", ADMIN_PW)] {
        let (s, v) = sb
            .admin(
                Method::POST,
                "/api/v1/users",
                Some(json!({"name": name, "role": role, "password": pw})),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["role"], role);
        assert!(!v.to_string().contains(pw));
    }
}

/// A request as the dashboard's page makes it: same origin, with the session cookie.
async fn with_cookie(
    sb: &Sb,
    method: Method,
    path: &str,
    cookie: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = sb
        .http
        .request(method, format!("{}{path}", sb.url))
        .header("Origin", &sb.url)
        .header("Cookie", format!("sb_session={cookie}"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Signs in; returns the cookie's value and the whole `Set-Cookie` header.
async fn sign_in(sb: &Sb, name: &str, password: &str) -> (String, String) {
    let resp = sb
        .http
        .post(format!("{}/api/v1/session", sb.url))
        .header("Origin", &sb.url)
        .json(&json!({"name": name, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let set = resp
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let value = set
        .strip_prefix("sb_session=")
        .and_then(|r| r.split(';').next())
        .unwrap()
        .to_owned();
    assert!(value.starts_with("sbses-"), "{set}");
    (value, set)
}

fn example_value(path: &str) -> String {
    // Path parameters: something that parses where a number is expected.
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                "1".to_owned()
            } else {
                seg.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn a_viewer_reads_the_dashboard_api_but_every_edit_and_secret_is_refused() {
    let sb = Sb::start(one_provider).await;
    add_users(&sb).await;
    let (cookie, set) = sign_in(&sb, "vera", VIEWER_PW).await;
    // The cookie: this origin only, every path, no script access, never cross-site; plain
    // http here, so not `Secure`.
    let attrs: Vec<&str> = set.split(';').map(str::trim).collect();
    for a in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(attrs.contains(&a), "{set}");
    }
    assert!(!attrs.iter().any(|a| a.starts_with("Domain")), "{set}");
    assert!(!attrs.contains(&"Secure"), "{set}");

    let (s, me) = with_cookie(&sb, Method::GET, "/api/v1/session", &cookie, None).await;
    assert_eq!(s, 200);
    assert_eq!(me["name"], "vera");
    assert_eq!(me["role"], "viewer");

    // Reads work.
    for path in [
        "/api/v1/status",
        "/api/v1/providers",
        "/api/v1/keys",
        "/api/v1/routes",
        "/api/v1/settings",
        "/api/v1/health",
        "/api/v1/requests",
        "/api/v1/users",
    ] {
        let (s, v) = with_cookie(&sb, Method::GET, path, &cookie, None).await;
        assert_eq!(s, 200, "GET {path}: {v}");
    }
    // Secrets are not for viewers.
    let (s, v) = with_cookie(&sb, Method::GET, "/api/v1/access-key", &cookie, None).await;
    assert_eq!(s, 403, "{v}");
    assert!(!v.to_string().contains(ACCESS));
    assert!(v["error"]["message"].as_str().unwrap().contains("secrets"));

    // Every mutating route of the admin API, as the OpenAPI document lists it.
    let doc: Value = serde_json::from_str(&switchboard_server::openapi_json()).unwrap();
    let mut tried = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if path == "/api/v1/session" {
            continue; // signing in and out
        }
        for method in ["post", "put", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let (s, v) = with_cookie(&sb, m, &example_value(path), &cookie, Some(json!({}))).await;
            assert_eq!(s, 403, "{method} {path}: {v}");
            assert!(
                v["error"]["message"].as_str().unwrap().contains("Viewers"),
                "{method} {path}: {v}"
            );
            tried += 1;
        }
    }
    assert!(tried > 35, "only {tried} mutating routes found");
    // Nothing changed.
    assert_eq!(sb.get("/api/v1/users").await.as_array().unwrap().len(), 2);
    assert_eq!(
        sb.get("/api/v1/providers").await.as_array().unwrap().len(),
        1
    );

    // An admin's session edits.
    let (admin_cookie, _) = sign_in(&sb, "ada", ADMIN_PW).await;
    let (s, v) = with_cookie(&sb, Method::GET, "/api/v1/access-key", &admin_cookie, None).await;
    assert_eq!((s, v["access_key"].as_str()), (200, Some(ACCESS)));
    let (s, v) = with_cookie(
        &sb,
        Method::PATCH,
        "/api/v1/users/vera",
        &admin_cookie,
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    // Disabling ended vera's session.
    let (s, _) = with_cookie(&sb, Method::GET, "/api/v1/status", &cookie, None).await;
    assert_eq!(s, 401);

    // Signing out ends the session and clears the cookie.
    let resp = sb
        .http
        .delete(format!("{}/api/v1/session", sb.url))
        .header("Origin", &sb.url)
        .header("Cookie", format!("sb_session={admin_cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let cleared = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cleared.starts_with("sb_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    let (s, _) = with_cookie(&sb, Method::GET, "/api/v1/status", &admin_cookie, None).await;
    assert_eq!(s, 401);
    // The admin token keeps working beside sessions, as an admin.
    let me = sb.get("/api/v1/session").await;
    assert_eq!(
        (me["role"].as_str(), me["via"].as_str()),
        (Some("admin"), Some("token"))
    );
}

#[tokio::test]
async fn wrong_credentials_get_one_answer_and_failures_are_limited() {
    let sb = Sb::start(one_provider).await;
    add_users(&sb).await;
    let attempt = |name: &'static str, pw: &'static str| {
        let sb = &sb;
        async move {
            let resp = sb
                .http
                .post(format!("{}/api/v1/session", sb.url))
                .json(&json!({"name": name, "password": pw}))
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            assert!(resp.headers().get("set-cookie").is_none());
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    let (s1, unknown) = attempt("nobody", "whatever-password").await;
    let (s2, wrong) = attempt("vera", "wrong-password-123").await;
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(
        unknown, wrong,
        "the same answer for an unknown user and a wrong password"
    );
    // Without a session or token, the API stays closed.
    let resp = sb
        .http
        .get(format!("{}/api/v1/session", sb.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // Failures for one name from one address are limited (then even the right password
    // waits there).
    let mut failures = 2;
    while attempt("vera", "wrong-password-123").await.0 == 401 {
        failures += 1;
        assert!(failures <= 20, "no limit after {failures} failures");
    }
    assert!(failures >= 5, "limited after only {failures} failures");
    assert_eq!(attempt("vera", VIEWER_PW).await.0, 429);
    // Other names, from this address, are limited as well (per peer).
    assert_eq!(attempt("ada", ADMIN_PW).await.0, 429);
}

#[tokio::test]
async fn a_cross_site_request_with_the_cookie_is_refused() {
    let sb = Sb::start(one_provider).await;
    add_users(&sb).await;
    let (cookie, _) = sign_in(&sb, "ada", ADMIN_PW).await;
    let before = sb.get("/api/v1/routes").await;
    let new_route = r#"{"alias":"x","targets":[{"provider":"p","model":"m"}]}"#;
    let post = |headers: Vec<(&'static str, String)>, ct: &'static str| {
        let sb = &sb;
        let cookie = cookie.clone();
        async move {
            let mut req = sb
                .http
                .post(format!("{}/api/v1/routes", sb.url))
                .header("Cookie", format!("sb_session={cookie}"))
                .header("Content-Type", ct)
                .body(new_route);
            for (n, v) in headers {
                req = req.header(n, v);
            }
            req.send().await.unwrap().status().as_u16()
        }
    };
    // A cross-site form POST (the browser sends Origin and fetch metadata).
    for (h, ct) in [
        (
            vec![
                ("Origin", "http://evil.example".to_owned()),
                ("Sec-Fetch-Site", "cross-site".to_owned()),
            ],
            "application/x-www-form-urlencoded",
        ),
        (
            vec![("Origin", "http://evil.example".to_owned())],
            "application/json",
        ),
        (
            vec![("Sec-Fetch-Site", "cross-site".to_owned())],
            "application/json",
        ),
        // No evidence of the origin at all: a cookie alone authorises no change.
        (vec![], "application/json"),
        (
            vec![("Sec-Fetch-Site", "same-site".to_owned())],
            "application/json",
        ),
    ] {
        assert_eq!(post(h.clone(), ct).await, 403, "{h:?} {ct}");
    }
    // Same origin but not JSON: the content-type guard still holds.
    assert_eq!(
        post(vec![("Origin", sb.url.clone())], "text/plain").await,
        415
    );
    assert_eq!(sb.get("/api/v1/routes").await, before, "nothing was added");
    // The dashboard's own request goes through.
    assert_eq!(
        post(
            vec![("Sec-Fetch-Site", "same-origin".to_owned())],
            "application/json"
        )
        .await,
        200
    );
}

/// A `MakeWriter` keeping every formatted log line.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn no_password_or_session_token_in_a_log_line_or_the_database() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);
    let mut sb = Sb::start(one_provider).await;
    // Callsites other tests (without this subscriber) met first are asked again.
    tracing::callsite::rebuild_interest_cache();
    add_users(&sb).await;
    tracing::callsite::rebuild_interest_cache();
    let (cookie, _) = sign_in(&sb, "ada", ADMIN_PW).await;
    let (s, _) = with_cookie(&sb, Method::GET, "/api/v1/status", &cookie, None).await;
    assert_eq!(s, 200);
    // Failed attempts are logged without what was typed.
    let resp = sb
        .http
        .post(format!("{}/api/v1/session", sb.url))
        .json(&json!({"name": "ada", "password": "typo-admin-plaintext-pw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let (s, _) = sb
        .admin(
            Method::PATCH,
            "/api/v1/users/vera",
            Some(json!({"password": "new-viewer-plaintext-pw"})),
        )
        .await;
    assert_eq!(s, 200);
    // Stop, so every row is written and the WAL folded in.
    let data = sb.dir.path().join("data");
    sb.handle.take().unwrap().shutdown().await;

    let lines = logs.0.lock().clone();
    assert!(
        holds(&lines, "signed in"),
        "the sign-in is logged: {}",
        String::from_utf8_lossy(&lines)
    );
    for secret in [
        VIEWER_PW,
        ADMIN_PW,
        "typo-admin-plaintext-pw",
        "new-viewer-plaintext-pw",
        cookie.as_str(),
    ] {
        assert!(!holds(&lines, secret), "a log line holds {secret}");
        for entry in std::fs::read_dir(&data).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                assert!(!holds(&bytes, secret), "{} holds {secret}", path.display());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Single sign-on against a local identity provider.

mod idp {
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use axum::extract::{Query, State};
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use parking_lot::Mutex;
    use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair, RsaPublicKeyComponents};
    use serde_json::{Value, json};
    use sha2::{Digest, Sha256};

    pub const CLIENT_ID: &str = "switchboard-test";

    /// What the provider puts in the next ID token besides the truth.
    #[derive(Default, Clone)]
    pub struct Twist {
        pub nonce: Option<String>,
        pub aud: Option<String>,
        pub email: Option<String>,
        pub groups: Vec<String>,
    }

    pub struct Idp {
        pub url: String,
        pub twist: Arc<Mutex<Twist>>,
        st: Arc<St>,
        _task: tokio::task::JoinHandle<()>,
    }

    impl Idp {
        /// How often the discovery document and the JWKS were read.
        pub fn reads(&self) -> (usize, usize) {
            (
                self.st.discoveries.load(Ordering::SeqCst),
                self.st.jwks_reads.load(Ordering::SeqCst),
            )
        }

        /// Rotates the signing key: tokens are signed with the next one (`k2`), and the
        /// JWKS publishes only it.
        pub fn rotate(&self) {
            self.st.active.store(1, Ordering::SeqCst);
        }

        /// Takes the discovery document away (a provider without one answers 404).
        pub fn without_discovery(&self) {
            self.st.no_discovery.store(true, Ordering::SeqCst);
        }
    }

    impl Drop for Idp {
        fn drop(&mut self) {
            self._task.abort();
        }
    }

    struct St {
        url: String,
        /// The signing keys (`k1`, `k2`); `active` indexes the one in use.
        keys: [RsaKeyPair; 2],
        active: AtomicUsize,
        discoveries: AtomicUsize,
        jwks_reads: AtomicUsize,
        no_discovery: AtomicBool,
        twist: Arc<Mutex<Twist>>,
        /// code → (nonce, PKCE challenge)
        codes: Mutex<HashMap<String, (String, String)>>,
        /// The token's `exp` (seconds): after the server's manual clock.
        exp: i64,
    }

    pub async fn start(exp: i64) -> Idp {
        let key = |file: &str| {
            let der = std::fs::read(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/testdata")
                    .join(file),
            )
            .unwrap();
            RsaKeyPair::from_der(&der).unwrap()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let twist = Arc::new(Mutex::new(Twist::default()));
        let st = Arc::new(St {
            url: url.clone(),
            keys: [key("oidc-test-key.der"), key("oidc-test-key-2.der")],
            active: AtomicUsize::new(0),
            discoveries: AtomicUsize::new(0),
            jwks_reads: AtomicUsize::new(0),
            no_discovery: AtomicBool::new(false),
            twist: twist.clone(),
            codes: Mutex::default(),
            exp,
        });
        let app = axum::Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(st.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Idp {
            url,
            twist,
            st,
            _task: task,
        }
    }

    /// The key in use and its id.
    fn active(s: &St) -> (&RsaKeyPair, String) {
        let i = s.active.load(Ordering::SeqCst);
        (&s.keys[i], format!("k{}", i + 1))
    }

    async fn discovery(State(s): State<Arc<St>>) -> Response {
        if s.no_discovery.load(Ordering::SeqCst) {
            return http::StatusCode::NOT_FOUND.into_response();
        }
        s.discoveries.fetch_add(1, Ordering::SeqCst);
        axum::Json(json!({
            "issuer": s.url,
            "authorization_endpoint": format!("{}/authorize", s.url),
            "token_endpoint": format!("{}/token", s.url),
            "jwks_uri": format!("{}/jwks", s.url),
        }))
        .into_response()
    }

    async fn jwks(State(s): State<Arc<St>>) -> axum::Json<Value> {
        s.jwks_reads.fetch_add(1, Ordering::SeqCst);
        let (key, kid) = active(&s);
        let RsaPublicKeyComponents { n, e } = RsaPublicKeyComponents::<Vec<u8>>::from(key.public());
        axum::Json(json!({"keys": [
            {"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": B64.encode(n), "e": B64.encode(e)}
        ]}))
    }

    async fn authorize(
        State(s): State<Arc<St>>,
        Query(q): Query<HashMap<String, String>>,
    ) -> Response {
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], CLIENT_ID);
        assert_eq!(q["code_challenge_method"], "S256");
        assert!(q["scope"].split(' ').any(|x| x == "openid"));
        let code = format!("code-{}", s.codes.lock().len());
        s.codes.lock().insert(
            code.clone(),
            (q["nonce"].clone(), q["code_challenge"].clone()),
        );
        let back = format!("{}?code={code}&state={}", q["redirect_uri"], q["state"]);
        (http::StatusCode::FOUND, [(http::header::LOCATION, back)]).into_response()
    }

    async fn token(State(s): State<Arc<St>>, body: String) -> Response {
        let f: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(f["grant_type"], "authorization_code");
        let Some((nonce, challenge)) = s.codes.lock().remove(&f["code"]) else {
            return (http::StatusCode::BAD_REQUEST, "invalid_grant").into_response();
        };
        // PKCE: the verifier must hash to the challenge.
        if B64.encode(Sha256::digest(f["code_verifier"].as_bytes())) != challenge {
            return (http::StatusCode::BAD_REQUEST, "invalid_grant").into_response();
        }
        let t = s.twist.lock().clone();
        let claims = json!({
            "iss": s.url,
            "aud": t.aud.unwrap_or_else(|| CLIENT_ID.to_owned()),
            "sub": "user-1",
            "email": t.email.unwrap_or_else(|| "ops@example.com".to_owned()),
            "email_verified": true,
            "exp": s.exp,
            "iat": s.exp - 3600,
            "nonce": t.nonce.unwrap_or(nonce),
            "groups": t.groups,
        });
        let (key, kid) = active(&s);
        let header = json!({"alg": "RS256", "kid": kid, "typ": "JWT"});
        let signing = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let mut sig = vec![0; key.public().modulus_len()];
        key.sign(
            &RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            signing.as_bytes(),
            &mut sig,
        )
        .unwrap();
        let id_token = format!("{signing}.{}", B64.encode(sig));
        axum::Json(json!({"access_token": "at", "token_type": "Bearer", "id_token": id_token}))
            .into_response()
    }
}

/// Runs the browser's side of a single sign-on; the callback's status and cookie.
async fn sso(sb: &Sb, tamper_state: bool) -> (u16, Option<String>) {
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let start = no_redirects
        .get(format!("{}/api/v1/session/oidc/start", sb.url))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 303);
    let to_idp = start.headers()["location"].to_str().unwrap().to_owned();
    let back = no_redirects.get(&to_idp).send().await.unwrap();
    assert_eq!(back.status(), 302);
    let back = reqwest::Url::parse(back.headers()["location"].to_str().unwrap()).unwrap();
    let mut query = back.query().unwrap().to_owned();
    if tamper_state {
        query = query.replace("state=", "state=x");
    }
    let cb = no_redirects
        .get(format!("{}{}?{query}", sb.url, back.path()))
        // The identity provider's redirect is a cross-site navigation.
        .header("Sec-Fetch-Site", "cross-site")
        .send()
        .await
        .unwrap();
    let status = cb.status().as_u16();
    let cookie = cb.headers().get("set-cookie").map(|c| {
        let c = c.to_str().unwrap();
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Strict"),
            "{c}"
        );
        c.strip_prefix("sb_session=")
            .and_then(|r| r.split(';').next())
            .unwrap()
            .to_owned()
    });
    (status, cookie)
}

#[tokio::test]
async fn single_sign_on_against_a_local_identity_provider_opens_a_session() {
    let idp = idp::start(T0 / 1000 + 3600).await;
    let issuer = idp.url.clone();
    let sb = Sb::start(move |mock| {
        format!(
            "[server.oidc]\nissuer = {issuer:?}\nclient_id = {:?}\nredirect_url = \"http://localhost/api/v1/session/oidc/callback\"\nrole_claim = \"groups\"\nadmin_values = [\"sb-admins\"]\nallowed_emails = [\"ops@example.com\"]\ndefault_role = \"viewer\"\n\n{}",
            idp::CLIENT_ID,
            one_provider(mock)
        )
    })
    .await;

    // An allow-listed email: a viewer, who can read the dashboard API.
    let (status, cookie) = sso(&sb, false).await;
    assert_eq!(status, 200);
    let cookie = cookie.unwrap();
    let (s, me) = with_cookie(&sb, Method::GET, "/api/v1/session", &cookie, None).await;
    assert_eq!(s, 200);
    assert_eq!(
        (me["name"].as_str(), me["role"].as_str()),
        (Some("ops@example.com"), Some("viewer"))
    );
    let (s, _) = with_cookie(&sb, Method::GET, "/api/v1/providers", &cookie, None).await;
    assert_eq!(s, 200);
    let (s, _) = with_cookie(&sb, Method::DELETE, "/api/v1/providers/p", &cookie, None).await;
    assert_eq!(s, 403);

    // The role claim makes an admin.
    *idp.twist.lock() = idp::Twist {
        email: Some("lead@example.com".into()),
        groups: vec!["sb-admins".into()],
        ..Default::default()
    };
    let (status, cookie) = sso(&sb, false).await;
    assert_eq!(status, 200);
    let (s, me) = with_cookie(&sb, Method::GET, "/api/v1/session", &cookie.unwrap(), None).await;
    assert_eq!((s, me["role"].as_str()), (200, Some("admin")));

    // Refused: a wrong nonce, a wrong audience, a state this server never issued, an email
    // neither listed nor in an admin group.
    for twist in [
        idp::Twist {
            nonce: Some("another-nonce".into()),
            ..Default::default()
        },
        idp::Twist {
            aud: Some("another-client".into()),
            ..Default::default()
        },
        idp::Twist {
            email: Some("stranger@example.com".into()),
            ..Default::default()
        },
    ] {
        *idp.twist.lock() = twist;
        let (status, cookie) = sso(&sb, false).await;
        assert_eq!((status, cookie), (401, None));
    }
    *idp.twist.lock() = idp::Twist::default();
    assert_eq!(sso(&sb, true).await, (401, None));
}

#[tokio::test]
async fn single_sign_on_refuses_an_expired_id_token_and_answers_404_when_not_configured() {
    // Expired an hour before the server's clock.
    let idp = idp::start(T0 / 1000 - 3600).await;
    let issuer = idp.url.clone();
    let sb = Sb::start(move |mock| {
        format!(
            "[server.oidc]\nissuer = {issuer:?}\nclient_id = {:?}\nredirect_url = \"http://localhost/api/v1/session/oidc/callback\"\nallowed_emails = [\"*\"]\ndefault_role = \"viewer\"\n\n{}",
            idp::CLIENT_ID,
            one_provider(mock)
        )
    })
    .await;
    assert_eq!(sso(&sb, false).await, (401, None));
    let opts: Value = sb
        .http
        .get(format!("{}/api/v1/session/oidc/options", sb.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(opts["enabled"], true);

    let plain = Sb::start(one_provider).await;
    let opts: Value = plain
        .http
        .get(format!("{}/api/v1/session/oidc/options", plain.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(opts["enabled"], false);
    let resp = plain
        .http
        .get(format!("{}/api/v1/session/oidc/start", plain.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn single_sign_on_keeps_the_discovery_and_the_jwks_and_follows_a_key_rotation() {
    // Valid for two days of the server's clock.
    let idp = idp::start(T0 / 1000 + 2 * 86_400).await;
    let issuer = idp.url.clone();
    let sb = Sb::start(move |mock| {
        format!(
            "[server.oidc]\nissuer = {issuer:?}\nclient_id = {:?}\nredirect_url = \"http://localhost/api/v1/session/oidc/callback\"\nallowed_emails = [\"*\"]\ndefault_role = \"viewer\"\n\n{}",
            idp::CLIENT_ID,
            one_provider(mock)
        )
    })
    .await;
    assert_eq!(sso(&sb, false).await.0, 200);
    assert_eq!(idp.reads(), (1, 1), "(discovery documents, JWKS) read");
    // Both are kept: the next sign-in reads neither.
    assert_eq!(sso(&sb, false).await.0, 200);
    assert_eq!(idp.reads(), (1, 1));

    // The provider rotates its key: a token naming the new key makes the JWKS read again,
    // once.
    idp.rotate();
    assert_eq!(sso(&sb, false).await.0, 200);
    assert_eq!(idp.reads(), (1, 2));
    assert_eq!(sso(&sb, false).await.0, 200);
    assert_eq!(idp.reads(), (1, 2));

    // Both are read again once they are an hour old.
    sb.clock.advance_ms(61 * 60 * 1000);
    assert_eq!(sso(&sb, false).await.0, 200);
    assert_eq!(idp.reads(), (2, 3));
}

#[tokio::test]
async fn single_sign_on_with_configured_endpoints_needs_no_discovery_document() {
    let idp = idp::start(T0 / 1000 + 3600).await;
    idp.without_discovery();
    let base = idp.url.clone();
    let sb = Sb::start(move |mock| {
        format!(
            "[server.oidc]\nissuer = {base:?}\nauthorization_endpoint = \"{base}/authorize\"\ntoken_endpoint = \"{base}/token\"\njwks_uri = \"{base}/jwks\"\nclient_id = {:?}\nredirect_url = \"http://localhost/api/v1/session/oidc/callback\"\nallowed_emails = [\"*\"]\ndefault_role = \"viewer\"\n\n{}",
            idp::CLIENT_ID,
            one_provider(mock)
        )
    })
    .await;
    let (status, cookie) = sso(&sb, false).await;
    assert_eq!(status, 200);
    assert!(cookie.is_some());
    assert_eq!(idp.reads(), (0, 1));
}

// ---------------------------------------------------------------------------------------
// Team mode: users and sessions live in the shared PostgreSQL database.

async fn team_instance(
    database: &str,
    id: &str,
    dir: &tempfile::TempDir,
) -> (switchboard_server::SwitchboardHandle, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut o = switchboard_server::Options::new(dir.path().join(id));
    o.port = 0;
    o.database_url = Some(database.to_owned());
    o.team_master_key = Some(switchboard_router::Secret::new(
        "team test master key, long enough to be a passphrase",
    ));
    o.instance_id = Some(id.to_owned());
    o.access_key = Some(switchboard_router::Secret::new(ACCESS));
    o.admin_token = Some(switchboard_router::Secret::new(ADMIN));
    o.shutdown_grace = std::time::Duration::from_secs(2);
    let h = switchboard_server::Switchboard::start(o).await.unwrap();
    let url = format!("http://{}", h.local_addr());
    (h, url)
}

#[tokio::test]
async fn in_team_mode_a_session_opened_on_one_instance_holds_on_another() {
    let database = switchboard_store::testing::fresh_postgres_url().await;
    let dir = tempfile::tempdir().unwrap();
    let (one, url1) = team_instance(&database, "one", &dir).await;
    let (two, url2) = team_instance(&database, "two", &dir).await;
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{url1}/api/v1/users"))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "vera", "role": "viewer", "password": VIEWER_PW}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Signed in through instance one …
    let resp = http
        .post(format!("{url1}/api/v1/session"))
        .header("Origin", &url1)
        .json(&json!({"name": "vera", "password": VIEWER_PW}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let set = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    let cookie = set.split(';').next().unwrap().to_owned();
    let call = |method: Method, url: &str, path: &str| {
        http.request(method, format!("{url}{path}"))
            .header("Origin", url)
            .header("Cookie", &cookie)
            .json(&json!({}))
            .send()
    };
    // … the session holds on instance two, with its role.
    let me: Value = call(Method::GET, &url2, "/api/v1/session")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (me["name"].as_str(), me["role"].as_str()),
        (Some("vera"), Some("viewer"))
    );
    assert_eq!(
        call(Method::DELETE, &url2, "/api/v1/providers/x")
            .await
            .unwrap()
            .status(),
        403
    );
    // Signing out on two ends it on one.
    assert_eq!(
        call(Method::DELETE, &url2, "/api/v1/session")
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        call(Method::GET, &url1, "/api/v1/status")
            .await
            .unwrap()
            .status(),
        401
    );
    one.shutdown().await;
    two.shutdown().await;
}
