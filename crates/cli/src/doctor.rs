//! `switchboard doctor`: checks the installation end to end and says what to fix — the data
//! directory, the master key and secrets file, the database, keys that cannot be used, routes
//! that point nowhere, and whether the router is up and routing.

use std::time::Duration;

use serde_json::Value;
use switchboard_store::{LocalToken, MASTER_KEY_ENV};

use crate::DataDir;

#[derive(clap::Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    data_dir: DataDir,
    /// Port the router is expected on.
    #[arg(long, default_value_t = 9911)]
    port: u16,
}

#[derive(Default)]
struct Report {
    failures: usize,
    warnings: usize,
}

impl Report {
    fn ok(&mut self, what: &str) {
        crate::say(&format!("  ok    {what}"));
    }

    fn warn(&mut self, what: &str) {
        self.warnings += 1;
        crate::say(&format!("  warn  {what}"));
    }

    fn fail(&mut self, what: &str) {
        self.failures += 1;
        crate::say(&format!("  FAIL  {what}"));
    }
}

/// Runs every check; the error (non-zero exit) says how many failed.
pub async fn run(args: DoctorArgs) -> anyhow::Result<()> {
    let mut r = Report::default();
    let data_dir = args.data_dir.resolve()?;
    crate::say(&format!(
        "Switchboard doctor ({})",
        env!("CARGO_PKG_VERSION")
    ));
    if data_dir.is_dir() {
        r.ok(&format!("data directory {}", data_dir.display()));
    } else {
        r.warn(&format!(
            "data directory {} does not exist yet (created at first start)",
            data_dir.display()
        ));
    }
    match std::env::var(MASTER_KEY_ENV).ok().filter(|v| !v.is_empty()) {
        Some(_) => r.ok(&format!("master key from {MASTER_KEY_ENV}")),
        None => match switchboard_store::default_key_file_for(&data_dir) {
            Some(p) if p.exists() => r.ok(&format!("master key file {}", p.display())),
            Some(p) => r.warn(&format!(
                "master key file {} does not exist yet (created at first start)",
                p.display()
            )),
            None => r.fail(&format!(
                "no place for a master key file: set {MASTER_KEY_ENV}"
            )),
        },
    }
    let store = match crate::open_store(&data_dir).await {
        Ok(s) => {
            r.ok("secrets file and database open");
            s
        }
        Err(e) => {
            r.fail(&format!("{e:#}"));
            return finish(&r);
        }
    };
    match store.integrity_check().await {
        Ok(()) => r.ok("database integrity"),
        Err(e) => r.fail(&format!("database integrity: {e}")),
    }
    match store.load_config_with_problems().await {
        Ok((config, problems)) => {
            r.ok(&format!(
                "{} providers, {} usable keys, {} routes",
                config.providers.len(),
                config.keys.len(),
                config.routes.len()
            ));
            for p in problems {
                r.warn(&format!(
                    "key {} of `{}` is left out: {}",
                    p.key_id, p.provider, p.error
                ));
            }
            for route in &config.routes {
                for t in &route.targets {
                    match config.providers.iter().find(|p| p.name == t.provider) {
                        None => r.warn(&format!(
                            "route `{}` targets unknown provider `{}`",
                            route.alias, t.provider
                        )),
                        Some(p) if !p.enabled => r.warn(&format!(
                            "route `{}` targets disabled provider `{}`",
                            route.alias, t.provider
                        )),
                        Some(p) if !config.keys.iter().any(|k| k.info.provider == p.name) => {
                            r.warn(&format!(
                                "route `{}` targets `{}`, which has no usable key",
                                route.alias, t.provider
                            ));
                        }
                        Some(_) => {}
                    }
                }
            }
            if config.providers.is_empty() {
                r.warn("no providers yet: add one in the dashboard or with --config");
            }
        }
        Err(e) => r.fail(&format!("reading the configuration: {e}")),
    }
    let admin = store
        .local_token(
            LocalToken::AdminToken,
            crate::env_secret("SWITCHBOARD_ADMIN_TOKEN"),
        )
        .await?;
    store.close().await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()?;
    let base = format!("http://127.0.0.1:{}", args.port);
    match http.get(format!("{base}/health")).send().await {
        Ok(resp) if resp.status().is_success() => {
            r.ok(&format!("router answering on {base}"));
            match http.get(format!("{base}/api/v1/status")).bearer_auth(admin.expose()).send().await {
                Ok(resp) if resp.status().is_success() => {
                    let s: Value = resp.json().await.unwrap_or_default();
                    if s["routing"] == Value::Bool(false) {
                        r.warn("routing is switched off");
                    } else {
                        r.ok("routing is on");
                    }
                    let failed = s["keys_failed"].as_u64().unwrap_or(0);
                    let cooling = s["keys_cooling"].as_u64().unwrap_or(0);
                    if failed > 0 {
                        r.warn(&format!("{failed} keys failed authentication: fix them in the dashboard"));
                    }
                    if cooling > 0 {
                        r.warn(&format!("{cooling} keys are cooling down"));
                    }
                }
                Ok(resp) => r.warn(&format!(
                    "the router on {base} refused this data directory's admin token ({}): is it running with another data directory?",
                    resp.status()
                )),
                Err(e) => r.warn(&format!("admin status: {e}")),
            }
        }
        Ok(resp) => r.fail(&format!(
            "something else answers on {base} ({})",
            resp.status()
        )),
        Err(_) => r.warn(&format!(
            "router not running on {base} (start it with `switchboard serve`)"
        )),
    }
    finish(&r)
}

fn finish(r: &Report) -> anyhow::Result<()> {
    crate::say(&format!("{} failed, {} warnings", r.failures, r.warnings));
    if r.failures > 0 {
        anyhow::bail!("{} checks failed", r.failures);
    }
    Ok(())
}
