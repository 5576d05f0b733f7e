//! "Follow the system proxy" on the desktop: the operating system's proxy setting, read where
//! this app can read it (GNOME's settings through `gsettings` on Linux), handed to the engine
//! and read again every few seconds, so a change in the OS settings applies without a restart.
//! Where it cannot be read (another desktop, a proxy auto-config URL) the engine follows the
//! proxy environment variables, as the headless server does.

use switchboard_router::{ProxyMode, ProxySetting};

/// How often the OS setting is read again.
pub const POLL: std::time::Duration = std::time::Duration::from_secs(5);

/// A `gsettings get` value without its GVariant quoting: `'manual'` → `manual`.
fn unquote(v: &str) -> &str {
    v.trim().trim_matches('\'')
}

/// A GVariant string list (`['localhost', '*.corp']`, `@as []`) as its items.
fn string_list(v: &str) -> Vec<String> {
    let v = v.trim().trim_start_matches("@as").trim();
    v.trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(|x| unquote(x).to_owned())
        .filter(|x| !x.is_empty())
        .collect()
}

/// GNOME's proxy settings as a [`ProxySetting`]; `get(schema, key)` is `gsettings get`. `None`
/// when there is nothing this app can follow (no schema, a PAC URL): the environment applies.
pub fn from_gnome(get: impl Fn(&str, &str) -> Option<String>) -> Option<ProxySetting> {
    let mode = get("org.gnome.system.proxy", "mode")?;
    match unquote(&mode) {
        "none" => Some(ProxySetting {
            mode: ProxyMode::Direct,
            ..ProxySetting::default()
        }),
        "manual" => {
            let endpoint = |schema: &str| {
                let host = get(schema, "host").map(|h| unquote(&h).to_owned())?;
                let port = get(schema, "port")?.trim().parse::<u16>().ok()?;
                (!host.is_empty() && port != 0).then_some((host, port))
            };
            // An HTTPS proxy carries every provider (all are https but local ones); then the
            // HTTP one; then SOCKS (its names resolved by the proxy).
            let url = if let Some((h, p)) = endpoint("org.gnome.system.proxy.https")
                .or_else(|| endpoint("org.gnome.system.proxy.http"))
            {
                format!("http://{}:{p}", bracket(&h))
            } else {
                let (h, p) = endpoint("org.gnome.system.proxy.socks")?;
                format!("socks5h://{}:{p}", bracket(&h))
            };
            let no_proxy = get("org.gnome.system.proxy", "ignore-hosts")
                .map(|v| string_list(&v))
                .unwrap_or_default()
                .into_iter()
                // GNOME writes `*.corp.example`; a NO_PROXY entry is `.corp.example`.
                .map(|h| match h.strip_prefix("*.") {
                    Some(rest) => format!(".{rest}"),
                    None => h,
                })
                .collect();
            let setting = ProxySetting {
                mode: ProxyMode::Url,
                url: Some(url),
                credential_ref: None,
                no_proxy,
            };
            setting.validate("system_proxy").ok().map(|()| setting)
        }
        _ => None,
    }
}

/// An IPv6 literal in brackets, as a URL needs it.
fn bracket(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// The OS proxy setting now (blocking: runs `gsettings`).
pub fn read() -> Option<ProxySetting> {
    if cfg!(target_os = "linux") {
        from_gnome(|schema, key| {
            let out = std::process::Command::new("gsettings")
                .args(["get", schema, key])
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn gnome(values: &[(&str, &str)]) -> impl Fn(&str, &str) -> Option<String> {
        let map: HashMap<String, String> = values
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |schema, key| map.get(&format!("{schema} {key}")).cloned()
    }

    #[test]
    fn a_manual_gnome_proxy_is_followed_with_its_ignored_hosts() {
        let got = from_gnome(gnome(&[
            ("org.gnome.system.proxy mode", "'manual'"),
            ("org.gnome.system.proxy.https host", "'proxy.corp.example'"),
            ("org.gnome.system.proxy.https port", "3128"),
            ("org.gnome.system.proxy.socks host", "'socks.corp.example'"),
            ("org.gnome.system.proxy.socks port", "1080"),
            (
                "org.gnome.system.proxy ignore-hosts",
                "['localhost', '127.0.0.0/8', '::1', '*.corp.example']",
            ),
        ]))
        .unwrap();
        assert_eq!(got.mode, ProxyMode::Url);
        assert_eq!(got.url.as_deref(), Some("http://proxy.corp.example:3128"));
        assert_eq!(
            got.no_proxy,
            ["localhost", "127.0.0.0/8", "::1", ".corp.example"]
        );
    }

    #[test]
    fn socks_only_none_and_auto() {
        let socks = from_gnome(gnome(&[
            ("org.gnome.system.proxy mode", "'manual'"),
            ("org.gnome.system.proxy.https host", "''"),
            ("org.gnome.system.proxy.https port", "0"),
            ("org.gnome.system.proxy.socks host", "'::1'"),
            ("org.gnome.system.proxy.socks port", "1080"),
            ("org.gnome.system.proxy ignore-hosts", "@as []"),
        ]))
        .unwrap();
        assert_eq!(socks.url.as_deref(), Some("socks5h://[::1]:1080"));
        assert!(socks.no_proxy.is_empty());
        let none = from_gnome(gnome(&[("org.gnome.system.proxy mode", "'none'")])).unwrap();
        assert_eq!(none.mode, ProxyMode::Direct);
        // A PAC URL, a manual mode without any proxy, or no GNOME: the environment applies.
        assert_eq!(
            from_gnome(gnome(&[("org.gnome.system.proxy mode", "'auto'")])),
            None
        );
        assert_eq!(
            from_gnome(gnome(&[("org.gnome.system.proxy mode", "'manual'")])),
            None
        );
        assert_eq!(from_gnome(gnome(&[])), None);
    }
}
