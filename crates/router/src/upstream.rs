//! The upstream HTTP client: one pooled client per network setting (connect timeout,
//! proxy, extra trusted roots), URLs and auth per provider dialect. A network without a proxy
//! gets the direct HTTP/1.1 client (`h1.rs`); one with a proxy gets reqwest. Redirects are
//! never followed (a redirect would carry the key elsewhere).

use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt, TryStreamExt};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use parking_lot::Mutex;
use switchboard_protocol::Dialect;

use rustls::pki_types::CertificateDer;

use crate::model::{Config, Provider, ProxyMode, ProxySetting, parse_ca_bundle};
use crate::secret::Secret;

/// Why a client could not be built (its CA file went missing, its proxy credentials are not
/// in the secret store). Never carries a credential.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot build the upstream HTTP client: {0}")]
pub struct ClientBuildError(String);

/// What makes two providers' clients differ: the pool key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NetworkKey {
    connect_ms: u64,
    /// The provider's own proxy, else the global one.
    proxy: ProxySetting,
    ca_file: Option<String>,
    ca_pem: Option<String>,
}

/// A provider's network setting with its proxy credentials resolved.
#[derive(Debug, Clone)]
pub struct Network {
    pub key: NetworkKey,
    credential: Option<Secret>,
}

impl Network {
    /// `provider`'s network under `config`'s global proxy setting.
    pub fn of(provider: &Provider, config: &Config) -> Network {
        let mut proxy = provider
            .proxy
            .clone()
            .unwrap_or_else(|| config.settings.proxy.clone());
        if proxy.mode == ProxyMode::System
            && let Some(system) = &config.system_proxy
        {
            proxy = system.clone();
        }
        let credential = proxy
            .credential_ref
            .as_ref()
            .and_then(|r| config.proxy_credentials.get(r).cloned());
        Network {
            key: NetworkKey {
                connect_ms: provider.timeouts.connect_ms,
                proxy,
                ca_file: provider.ca_file.clone(),
                ca_pem: provider.ca_pem.clone(),
            },
            credential,
        }
    }

    /// Whether calls on this network go through a proxy (reqwest's environment variables
    /// included, as reqwest would read them).
    fn proxied(&self) -> bool {
        match self.key.proxy.mode {
            ProxyMode::Direct => false,
            ProxyMode::Url => true,
            ProxyMode::System => [
                "ALL_PROXY",
                "all_proxy",
                "HTTP_PROXY",
                "http_proxy",
                "HTTPS_PROXY",
                "https_proxy",
            ]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty())),
        }
    }

    /// The extra trusted roots, DER.
    fn extra_roots(&self) -> Result<Vec<CertificateDer<'static>>, ClientBuildError> {
        let key = &self.key;
        let pem = match (&key.ca_file, &key.ca_pem) {
            (Some(path), _) => Some(std::fs::read(path.trim()).map_err(|e| {
                ClientBuildError(format!("the CA file {path} cannot be read: {e}"))
            })?),
            (None, Some(pem)) => Some(pem.as_bytes().to_vec()),
            (None, None) => None,
        };
        match pem {
            Some(pem) => parse_ca_bundle(&pem).map_err(|m| ClientBuildError(format!("the CA {m}"))),
            None => Ok(Vec::new()),
        }
    }

    /// This network's client: the direct one unless a proxy is in the way. This is where
    /// that is decided.
    fn build(&self) -> Result<Upstream, ClientBuildError> {
        if self.proxied() {
            return self.build_reqwest().map(Upstream::Proxied);
        }
        let roots = self.extra_roots()?;
        let tls = tls_config(&roots)?;
        let connect = (self.key.connect_ms > 0).then(|| Duration::from_millis(self.key.connect_ms));
        Ok(Upstream::Direct(Arc::new(crate::h1::Client::new(
            connect,
            tls,
            HeaderValue::from_static(USER_AGENT),
        ))))
    }

    fn build_reqwest(&self) -> Result<reqwest::Client, ClientBuildError> {
        let key = &self.key;
        let mut builder = reqwest::Client::builder()
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .user_agent(USER_AGENT);
        if key.connect_ms > 0 {
            builder = builder.connect_timeout(Duration::from_millis(key.connect_ms));
        }
        builder = match key.proxy.mode {
            // reqwest reads the proxy environment variables itself.
            ProxyMode::System => builder,
            ProxyMode::Direct => builder.no_proxy(),
            // Header names in title case over HTTP/1: some proxies read `Proxy-Authorization`
            // case-sensitively (HTTP itself does not care).
            ProxyMode::Url => builder.proxy(self.proxy()?).http1_title_case_headers(),
        };
        let certs = self.extra_roots()?;
        if !certs.is_empty() {
            let certs = certs
                .iter()
                .map(|der| reqwest::Certificate::from_der(der))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ClientBuildError(format!("the CA cannot be used: {e}")))?;
            builder = builder.tls_certs_merge(certs);
        }
        builder.build().map_err(|e| ClientBuildError(e.to_string()))
    }

    /// The proxy of a `url` setting, its credentials put back into the URL (reqwest takes
    /// them from there for HTTP and SOCKS5 proxies alike). Errors never echo the URL.
    fn proxy(&self) -> Result<reqwest::Proxy, ClientBuildError> {
        let proxy = &self.key.proxy;
        let bad = || ClientBuildError("the proxy URL is not usable".into());
        let mut url = match proxy.parsed_url() {
            Some(Ok(url)) => url,
            _ => return Err(bad()),
        };
        match (&proxy.credential_ref, &self.credential) {
            (Some(_), Some(cred)) => {
                let (user, pass) = cred.expose().split_once(':').unwrap_or((cred.expose(), ""));
                url.set_username(user).map_err(|()| bad())?;
                url.set_password(Some(pass).filter(|p| !p.is_empty()))
                    .map_err(|()| bad())?;
            }
            (Some(r), None) => {
                return Err(ClientBuildError(format!(
                    "the proxy credentials ({r}) are missing from the secret store"
                )));
            }
            (None, _) => {}
        }
        let no_proxy = reqwest::NoProxy::from_string(&proxy.no_proxy.join(","));
        Ok(reqwest::Proxy::all(url.as_str())
            .map_err(|_| bad())?
            .no_proxy(no_proxy))
    }
}

const USER_AGENT: &str = concat!("switchboard/", env!("CARGO_PKG_VERSION"));

/// The TLS setup of direct connections, as reqwest's: the process's crypto provider, the
/// platform's verifier with the extra roots added, HTTP/1.1 by ALPN.
pub(crate) fn tls_config(
    extra_roots: &[CertificateDer<'static>],
) -> Result<Arc<rustls::ClientConfig>, ClientBuildError> {
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let verifier = if extra_roots.is_empty() {
        rustls_platform_verifier::Verifier::new(provider.clone())
    } else {
        rustls_platform_verifier::Verifier::new_with_extra_roots(
            extra_roots.iter().cloned(),
            provider.clone(),
        )
    }
    .map_err(|e| ClientBuildError(format!("the TLS verifier cannot be set up: {e}")))?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientBuildError(format!("the TLS setup failed: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// How an upstream call failed before or while its answer was read. Never carries a URL or
/// a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Transport {
    #[error("could not connect")]
    Connect,
    #[error("timed out")]
    Timeout,
    #[error("the connection broke")]
    Broken,
}

impl From<reqwest::Error> for Transport {
    fn from(e: reqwest::Error) -> Transport {
        if e.is_connect() {
            Transport::Connect
        } else if e.is_timeout() {
            Transport::Timeout
        } else {
            Transport::Broken
        }
    }
}

/// An answer's body, chunk by chunk.
pub(crate) type UpstreamStream = Pin<Box<dyn Stream<Item = Result<Bytes, Transport>> + Send>>;

/// An upstream answer: its head, and its body to read.
pub(crate) struct UpstreamResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: UpstreamStream,
}

impl UpstreamResponse {
    /// A 2xx answer.
    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The whole body.
    pub(crate) async fn bytes(mut self) -> Result<Bytes, Transport> {
        let mut buf = BytesMut::new();
        while let Some(chunk) = self.body.try_next().await? {
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }
}

/// The client of one network setting.
#[derive(Debug, Clone)]
pub enum Upstream {
    /// Straight to the provider: the exchange runs on the caller's task.
    Direct(Arc<crate::h1::Client>),
    /// Through a proxy.
    Proxied(reqwest::Client),
}

impl Upstream {
    /// Sends one request; the answer's body is read from the answer.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<UpstreamResponse, Transport> {
        match self {
            Upstream::Direct(c) => c.send(method, url, headers, body).await,
            Upstream::Proxied(c) => {
                let mut resp = c
                    .request(method, url)
                    .headers(headers)
                    .body(body)
                    .send()
                    .await?;
                Ok(UpstreamResponse {
                    status: resp.status().as_u16(),
                    headers: std::mem::take(resp.headers_mut()),
                    body: Box::pin(resp.bytes_stream().map(|r| r.map_err(Transport::from))),
                })
            }
        }
    }
}

/// Pooled clients by network setting. Providers that share a setting share a pool; a client
/// is built the first time a snapshot needs it and dropped once no provider uses its setting.
#[derive(Debug, Clone, Default)]
pub struct Clients {
    by_network: Arc<Mutex<HashMap<NetworkKey, Upstream>>>,
}

impl Clients {
    pub fn get(&self, network: &Network) -> Result<Upstream, ClientBuildError> {
        let mut map = self.by_network.lock();
        if let Some(c) = map.get(&network.key) {
            return Ok(c.clone());
        }
        let client = network.build()?;
        map.insert(network.key.clone(), client.clone());
        Ok(client)
    }

    /// Drops the clients of settings no provider uses any more.
    pub fn retain(&self, used: &HashSet<&NetworkKey>) {
        self.by_network.lock().retain(|k, _| used.contains(k));
    }
}

/// The URL of the generation endpoint for `provider` and `model`.
pub fn endpoint_url(provider: &Provider, model: &str, stream: bool) -> String {
    let base = provider.base_url.trim_end_matches('/');
    match provider.kind {
        Dialect::OpenaiChat => format!("{base}/chat/completions"),
        Dialect::OpenaiResponses => format!("{base}/responses"),
        Dialect::Anthropic => format!("{base}/messages"),
        Dialect::Gemini if stream => format!("{base}/models/{model}:streamGenerateContent?alt=sse"),
        Dialect::Gemini => format!("{base}/models/{model}:generateContent"),
    }
}

/// The compaction endpoint of a Responses provider.
pub fn compact_url(provider: &Provider) -> String {
    format!(
        "{}/responses/compact",
        provider.base_url.trim_end_matches('/')
    )
}

/// The model-list URL, used by discovery and by probes.
pub fn models_url(provider: &Provider) -> String {
    format!("{}/models", provider.base_url.trim_end_matches('/'))
}

/// Names the Switchboard instances a request has passed, comma-separated: a request that
/// arrives carrying our own id has come back to us (a provider points at this router).
pub const HOP_HEADER: &str = "x-switchboard-hop";
/// Hops kept in the header (the oldest are dropped beyond it).
const HOP_MAX: usize = 16;

/// The ids in an incoming hop header.
fn hops(incoming: Option<&HeaderValue>) -> impl Iterator<Item = &str> {
    incoming
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
}

/// Whether a request that arrived with `incoming` has been through this instance (`own`).
pub fn has_looped(incoming: Option<&HeaderValue>, own: &str) -> bool {
    hops(incoming).any(|h| h == own)
}

/// The hop header for an upstream call: the incoming hops, then our own id.
pub fn hop_chain(incoming: Option<&HeaderValue>, own: &str) -> Option<HeaderValue> {
    let mut all: Vec<&str> = hops(incoming).collect();
    all.push(own);
    let start = all.len().saturating_sub(HOP_MAX);
    HeaderValue::from_str(&all[start..].join(", ")).ok()
}

/// Default `anthropic-version` when the client did not send one.
const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Headers for one upstream call: the provider's extras, then auth for its dialect. Auth is
/// marked sensitive so no tracing layer prints it.
pub fn request_headers(
    provider: &Provider,
    key: &Secret,
    forwarded: &[(HeaderName, HeaderValue)],
) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in &provider.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            h.insert(n, v);
        }
    }
    for (n, v) in forwarded {
        h.insert(n.clone(), v.clone());
    }
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let auth = |prefix: &str| {
        HeaderValue::from_str(&format!("{prefix}{}", key.expose())).map(|mut v| {
            v.set_sensitive(true);
            v
        })
    };
    match provider.kind {
        Dialect::OpenaiChat | Dialect::OpenaiResponses => {
            if let Ok(v) = auth("Bearer ") {
                h.insert(http::header::AUTHORIZATION, v);
            }
        }
        Dialect::Anthropic => {
            if let Ok(v) = auth("") {
                h.insert(HeaderName::from_static("x-api-key"), v);
            }
            h.entry(HeaderName::from_static("anthropic-version"))
                .or_insert(HeaderValue::from_static(ANTHROPIC_VERSION));
        }
        Dialect::Gemini => {
            if let Ok(v) = auth("") {
                h.insert(HeaderName::from_static("x-goog-api-key"), v);
            }
        }
    }
    h
}

/// Headers that carry a credential, masked wherever headers are shown or kept.
pub const CREDENTIAL_HEADERS: [&str; 5] = [
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "x-goog-api-key",
    "cookie",
];

/// Headers as the inspector keeps them: credentials (and every value marked sensitive,
/// like the auth [`request_headers`] sets) replaced by `[redacted]`.
pub fn redacted_headers(headers: &HeaderMap) -> Vec<crate::inspect::CapturedHeader> {
    headers
        .iter()
        .map(|(n, v)| crate::inspect::CapturedHeader {
            name: n.as_str().to_owned(),
            value: if v.is_sensitive() || CREDENTIAL_HEADERS.contains(&n.as_str()) {
                "[redacted]".to_owned()
            } else {
                String::from_utf8_lossy(v.as_bytes()).into_owned()
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hops_chain_and_a_loop_is_seen() {
        assert_eq!(hop_chain(None, "aa").unwrap(), "aa");
        let incoming = HeaderValue::from_static("11, 22");
        assert_eq!(hop_chain(Some(&incoming), "aa").unwrap(), "11, 22, aa");
        assert!(!has_looped(Some(&incoming), "aa"));
        assert!(has_looped(Some(&incoming), "22"));
        assert!(!has_looped(None, "aa"));
        assert!(!has_looped(Some(&HeaderValue::from_static("")), "aa"));
        // A long chain keeps its newest hops, ours last.
        let long: Vec<String> = (0..40).map(|i| format!("h{i}")).collect();
        let incoming = HeaderValue::from_str(&long.join(",")).unwrap();
        let out = hop_chain(Some(&incoming), "aa").unwrap();
        let hops: Vec<&str> = out.to_str().unwrap().split(", ").collect();
        assert_eq!(hops.len(), HOP_MAX);
        assert_eq!(hops.last(), Some(&"aa"));
        assert_eq!(hops[0], "h25");
    }

    #[test]
    fn credentials_are_redacted_from_kept_headers() {
        let mut h = HeaderMap::new();
        h.insert("x-goog-api-key", HeaderValue::from_static("AIza-secret"));
        h.insert(
            "authorization",
            HeaderValue::from_static("Bearer sk-secret"),
        );
        let mut marked = HeaderValue::from_static("other-secret");
        marked.set_sensitive(true);
        h.insert("x-custom-auth", marked);
        h.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
        let kept = redacted_headers(&h);
        let text = format!("{kept:?}");
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("2023-06-01"));
        assert_eq!(kept.len(), 4);
    }
}

#[cfg(test)]
mod network_tests {
    use super::*;
    use crate::model::Config;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn provider(proxy: ProxySetting) -> Provider {
        serde_json::from_value(serde_json::json!({
            "name": "p", "kind": "openai_chat", "base_url": "http://127.0.0.1:9/v1",
            "proxy": proxy,
        }))
        .unwrap()
    }

    /// What the client sends a plain-HTTP proxy: the request head.
    async fn head_seen_by_proxy(network: &Network) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut net = network.clone();
        net.key.proxy.url = Some(format!("http://127.0.0.1:{port}"));
        let client = net.build().unwrap();
        assert!(matches!(client, Upstream::Proxied(_)));
        let send = tokio::spawn(async move {
            client
                .send(
                    Method::GET,
                    "http://upstream.example/v1",
                    HeaderMap::new(),
                    Bytes::new(),
                )
                .await
                .map(|r| r.status)
        });
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).await.unwrap();
        s.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
            .await
            .unwrap();
        let _ = send.await;
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[tokio::test]
    async fn proxy_credentials_from_the_secret_store_reach_the_proxy() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let setting = ProxySetting {
            mode: ProxyMode::Url,
            url: Some("http://127.0.0.1:1".into()),
            credential_ref: Some("proxy/t".into()),
            no_proxy: vec![],
        };
        let mut config = Config::default();
        config
            .proxy_credentials
            .insert("proxy/t".into(), Secret::new("sb:pa%40ss"));
        let net = Network::of(&provider(setting), &config);
        let head = head_seen_by_proxy(&net).await;
        assert!(
            head.starts_with("GET http://upstream.example/v1 HTTP/1.1"),
            "{head}"
        );
        // base64("sb:pa@ss")
        assert!(
            head.contains("Proxy-Authorization: Basic c2I6cGFAc3M="),
            "{head}"
        );
    }

    /// A TLS server on localhost whose certificate is signed by testdata/ca.pem; answers one
    /// request per connection with `200 ok`.
    async fn tls_server() -> u16 {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(include_bytes!("../testdata/server.pem"))
                .collect::<Result<_, _>>()
                .unwrap();
        let key = PrivateKeyDer::from_pem_slice(include_bytes!("../testdata/server.key")).unwrap();
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(mut tls) = acceptor.accept(tcp).await {
                        let mut buf = vec![0u8; 4096];
                        let _ = tls.read(&mut buf).await;
                        let _ = tls
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                            .await;
                        let _ = tls.shutdown().await;
                    }
                });
            }
        });
        port
    }

    fn tls_provider(port: u16, ca_file: Option<String>, ca_pem: Option<&str>) -> Provider {
        let mut p = provider(ProxySetting {
            mode: ProxyMode::Direct,
            ..ProxySetting::default()
        });
        p.base_url = format!("https://localhost:{port}/v1");
        p.ca_file = ca_file;
        p.ca_pem = ca_pem.map(str::to_owned);
        p
    }

    #[tokio::test]
    async fn a_providers_custom_ca_is_trusted_for_that_provider_only() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = tls_server().await;
        let url = format!("https://localhost:{port}/v1");
        let config = Config::default();
        let ca = include_str!("../testdata/ca.pem");
        let get = |p: Provider| {
            let url = url.clone();
            let net = Network::of(&p, &config);
            async move {
                let client = net.build().unwrap();
                assert!(matches!(client, Upstream::Direct(_)));
                let r = client
                    .send(Method::GET, &url, HeaderMap::new(), Bytes::new())
                    .await?;
                Ok::<_, Transport>((r.status, r.bytes().await?))
            }
        };
        // Inline PEM.
        let r = get(tls_provider(port, None, Some(ca))).await.unwrap();
        assert_eq!(r, (200, Bytes::from_static(b"ok")));
        // A PEM file.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ca.pem");
        std::fs::write(&file, ca).unwrap();
        let with_file = tls_provider(port, Some(file.display().to_string()), None);
        assert!(with_file.validate().is_ok());
        let r = get(with_file).await.unwrap();
        assert_eq!(r.0, 200);
        // Without it the certificate is not trusted.
        let err = get(tls_provider(port, None, None)).await.unwrap_err();
        assert_eq!(err, Transport::Connect);
        // A CA file gone since it was saved: the client cannot be built, and says why.
        std::fs::remove_file(&file).unwrap();
        let gone = Network::of(
            &tls_provider(port, Some(file.display().to_string()), None),
            &config,
        );
        let err = Clients::default().get(&gone).unwrap_err();
        assert!(err.to_string().contains("the CA file"), "{err}");
    }
}
