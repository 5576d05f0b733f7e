//! What we remember about each configured tool: a manifest per tool under the caller's state
//! directory, and backups of the original files under `<state_dir>/backups/`.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::ToolId;
use crate::error::{Error, Result};
use crate::format::Format;
use crate::plan::Limits;
use crate::write::{read, write_atomic};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub(crate) tool: ToolId,
    pub(crate) files: Vec<FileState>,
    /// The main alias and the route limits the tool was configured with, so a change of
    /// the route's targets shows as drift.
    #[serde(default)]
    pub(crate) model: Option<String>,
    #[serde(default)]
    pub(crate) limits: Limits,
}

/// One file we changed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct FileState {
    pub(crate) path: PathBuf,
    pub(crate) format: Format,
    /// The file existed before our first change. When it did not, undo deletes it (only if
    /// it is still exactly what we wrote).
    pub(crate) existed: bool,
    pub(crate) backup: Option<PathBuf>,
    pub(crate) original_sha256: Option<String>,
    /// The file as we last wrote it.
    pub(crate) written_sha256: String,
    /// False once the user edited the file between two applies: restoring the backup would
    /// lose those edits, so undo removes our keys instead.
    pub(crate) exact_restore: bool,
    pub(crate) keys: Vec<OwnedKey>,
    /// Containers (objects, tables) that did not exist before and were created for our keys;
    /// removed on undo when empty.
    pub(crate) created: Vec<Vec<String>>,
}

/// A key we own: its value before our first change, and a hash of what we wrote (`None`
/// when we made sure it is absent). Values we wrote are not stored: they hold the key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct OwnedKey {
    pub(crate) path: Vec<String>,
    pub(crate) previous: Option<Value>,
    pub(crate) written: Option<String>,
}

pub(crate) fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Hash of a value, independent of object key order.
pub(crate) fn value_hash(value: &Value) -> String {
    fn canonical(v: &Value, out: &mut String) {
        match v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for k in keys {
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    if let Some(item) = map.get(k) {
                        canonical(item, out);
                    }
                    out.push(',');
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for item in items {
                    canonical(item, out);
                    out.push(',');
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut s = String::new();
    canonical(value, &mut s);
    sha256(s.as_bytes())
}

pub(crate) struct Store<'a> {
    pub(crate) dir: &'a Path,
}

impl Store<'_> {
    fn manifest_path(&self, tool: ToolId) -> PathBuf {
        self.dir.join(format!("{}.json", tool.slug()))
    }

    pub(crate) fn load(&self, tool: ToolId) -> Result<Option<Manifest>> {
        let path = self.manifest_path(tool);
        let Some(bytes) = read(&path)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::State {
                path,
                detail: format!("line {}, column {}: {}", e.line(), e.column(), category(&e)),
            })
    }

    pub(crate) fn save(&self, manifest: &Manifest) -> Result<()> {
        let path = self.manifest_path(manifest.tool);
        let bytes = serde_json::to_vec_pretty(manifest).map_err(|e| Error::State {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        write_atomic(&path, &bytes, None)
    }

    pub(crate) fn delete(&self, tool: ToolId) -> Result<()> {
        let path = self.manifest_path(tool);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path, e)),
            _ => Ok(()),
        }
    }

    /// Copies the original bytes to `backups/<tool>-<file>-<timestamp>.orig` (private).
    pub(crate) fn backup(&self, tool: ToolId, file: &Path, bytes: &[u8]) -> Result<PathBuf> {
        let now = time::OffsetDateTime::now_utc();
        let stamp = format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}.{:09}Z",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second(),
            now.nanosecond()
        );
        let name = file.file_name().map_or_else(
            || "config".to_owned(),
            |n| n.to_string_lossy().trim_start_matches('.').to_owned(),
        );
        let path = self
            .dir
            .join("backups")
            .join(format!("{}-{name}-{stamp}.orig", tool.slug()));
        write_atomic(&path, bytes, None)?;
        Ok(path)
    }
}

fn category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected content",
        serde_json::error::Category::Eof => "truncated",
    }
}
