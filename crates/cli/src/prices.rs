//! `switchboard prices`: which price table is in use, and replacing it from a file or URL in
//! the dataset's format (LiteLLM's `model_prices_and_context_window.json`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use crate::DataDir;

/// The most bytes read from a price file or URL.
const MAX_BYTES: usize = 32 * 1024 * 1024;

#[derive(Subcommand)]
pub enum PricesAction {
    /// Show the table in use (source, date, number of models).
    Show {
        #[command(flatten)]
        data_dir: DataDir,
    },
    /// Replace the table from a file or an http(s) URL in the same format. A file of the wrong
    /// shape is refused naming the entry and field, and the old table stays.
    Update {
        /// A path, or an `http://` / `https://` URL.
        #[arg(long = "from")]
        from: String,
        #[command(flatten)]
        data_dir: DataDir,
    },
}

pub async fn run(action: PricesAction) -> anyhow::Result<()> {
    match action {
        PricesAction::Show { data_dir } => {
            let control = crate::open_control(&data_dir.resolve()?).await?;
            let view = control.price_table().await;
            control.close().await;
            let view = view?;
            crate::say(&format!("{} ({} models)", view.source, view.models));
            Ok(())
        }
        PricesAction::Update { from, data_dir } => {
            let body = read(&from).await?;
            let control = crate::open_control(&data_dir.resolve()?).await?;
            let view = control.load_prices(&body, &from).await;
            control.close().await;
            let view = view.with_context(|| {
                format!("the price table from {from} was refused; the old one stays")
            })?;
            crate::say(&format!(
                "loaded {} models from {}; a running Switchboard uses them from its next start or configuration change",
                view.models, view.source
            ));
            Ok(())
        }
    }
}

async fn read(from: &str) -> anyhow::Result<Vec<u8>> {
    if from.starts_with("http://") || from.starts_with("https://") {
        let resp = reqwest::get(from)
            .await
            .with_context(|| format!("cannot fetch {from}"))?
            .error_for_status()
            .with_context(|| format!("cannot fetch {from}"))?;
        if resp.content_length().is_some_and(|n| n > MAX_BYTES as u64) {
            anyhow::bail!("{from} is larger than {MAX_BYTES} bytes");
        }
        let body = resp
            .bytes()
            .await
            .with_context(|| format!("cannot read {from}"))?;
        anyhow::ensure!(
            body.len() <= MAX_BYTES,
            "{from} is larger than {MAX_BYTES} bytes"
        );
        return Ok(body.to_vec());
    }
    let path = PathBuf::from(from);
    let len = std::fs::metadata(&path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    anyhow::ensure!(
        len <= MAX_BYTES as u64,
        "{} is larger than {MAX_BYTES} bytes",
        path.display()
    );
    std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
}
