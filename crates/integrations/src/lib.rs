//! One-click setup of AI tools against a local Switchboard: Codex CLI, Claude Code, OpenCode,
//! Gemini CLI, Aider, Qwen Code, Crush, Kilo Code CLI, Cline, Roo Code, Goose, Zed, OpenClaw
//! and the pi coding agent. For each tool it detects the binary and its config, shows the exact
//! change as a diff, merges only the keys Switchboard owns into the tool's own config file
//! (comments, order, formatting, line endings and everything else stay byte for byte), backs
//! the original up first, writes atomically, and undoes: byte for byte when the file is as we
//! left it, otherwise by removing only our keys so the user's later edits survive.
//!
//! This crate stands alone: it depends on none of the engine crates (protocol, router, store,
//! server). The CLI and the desktop app call it with the endpoint, key and aliases they know.
//!
//! State lives under a directory the caller passes: `<state_dir>/<tool>.json` records the
//! keys we own (with their previous values), the hash of each file as we wrote it and where
//! the backup is; backups are `<state_dir>/backups/<tool>-<file>-<timestamp>.orig`.

mod env;
mod error;
mod format;
mod plan;
mod state;
mod tools;
mod write;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub use env::Env;
pub use error::{Error, Result};
pub use plan::{AccessKey, Endpoint, KeyDelivery, Limits, Models, Plan, RouterStatus, Warning};
pub use tools::{ToolId, tools};
#[doc(hidden)]
pub use write::Fault;

use format::{EditError, Format, Text};
use state::{FileState, Manifest, OwnedKey, Store, sha256, value_hash};
use tools::{FilePlan, inspect, plan_files};
use write::{read, write_atomic};

/// What is on this machine for one tool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detection {
    /// The binary is on `PATH` or the config file exists.
    pub installed: bool,
    pub binary: Option<PathBuf>,
    /// From `<binary> --version`, when it answers within a few seconds.
    pub version: Option<String>,
    pub config_path: PathBuf,
    pub config_exists: bool,
}

/// Whether Switchboard configured the tool, and whether the config changed since.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    NotInstalled,
    NotConfigured,
    /// Every file is exactly as we wrote it.
    Configured,
    /// Configured by us, but a file changed since. `changed_keys` lists keys we own whose
    /// value is no longer ours (empty when only other content changed).
    Drifted {
        changed_files: Vec<PathBuf>,
        changed_keys: Vec<String>,
    },
}

/// The change to one file, with the access key masked everywhere.
#[derive(Clone, PartialEq, Eq)]
pub struct FilePreview {
    pub path: PathBuf,
    /// Unified diff (`similar`); empty when nothing would change.
    pub diff: String,
    pub before: Option<String>,
    pub after: String,
    pub changed: bool,
}

impl std::fmt::Debug for FilePreview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilePreview")
            .field("path", &self.path)
            .field("changed", &self.changed)
            .finish_non_exhaustive()
    }
}

/// What [`Integrations::apply`] would do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preview {
    pub files: Vec<FilePreview>,
    pub warnings: Vec<Warning>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedFile {
    pub path: PathBuf,
    /// The original's copy, when the file existed before our first change.
    pub backup: Option<PathBuf>,
    pub changed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub files: Vec<AppliedFile>,
    /// False when the config already was exactly what we would write.
    pub changed: bool,
    pub warnings: Vec<Warning>,
}

/// How undo left one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restored {
    /// The original bytes are back.
    Exact,
    /// The user changed the file since: only our keys were removed (or given back their
    /// previous values); the user's edits stay.
    OursRemoved,
    /// The file did not exist before us and was still exactly ours: deleted.
    Deleted,
    /// Nothing of ours was left in it.
    Unchanged,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UndoneFile {
    pub path: PathBuf,
    pub restored: Restored,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Undone {
    pub files: Vec<UndoneFile>,
}

/// Detects, previews, applies and undoes tool configurations.
#[derive(Debug)]
pub struct Integrations {
    env: Env,
    state_dir: PathBuf,
    fault: Option<Fault>,
}

/// One file's planned change.
struct Change {
    plan: FilePlan,
    before: Option<String>,
    after: String,
    /// The manifest entry from an earlier apply that landed.
    entry: Option<FileState>,
}

struct Computed {
    changes: Vec<Change>,
    warnings: Vec<Warning>,
}

impl Integrations {
    pub fn new(env: Env, state_dir: impl Into<PathBuf>) -> Self {
        Integrations {
            env,
            state_dir: state_dir.into(),
            fault: None,
        }
    }

    /// Makes the next writes fail at `fault` (crash-safety tests).
    #[doc(hidden)]
    pub fn inject_fault(&mut self, fault: Option<Fault>) {
        self.fault = fault;
    }

    fn store(&self) -> Store<'_> {
        Store {
            dir: &self.state_dir,
        }
    }

    pub fn detect(&self, tool: ToolId) -> Result<Detection> {
        let binary = self.env.which(tool.binary());
        let version = binary.as_deref().and_then(version_of);
        let config_path = tool.config_path(&self.env)?;
        let config_exists = config_path.exists();
        Ok(Detection {
            installed: binary.is_some() || config_exists,
            binary,
            version,
            config_path,
            config_exists,
        })
    }

    pub fn status(&self, tool: ToolId) -> Result<Status> {
        let Some(manifest) = self.store().load(tool)? else {
            let config_exists = tool.config_path(&self.env)?.exists();
            let installed = config_exists || self.env.which(tool.binary()).is_some();
            return Ok(if installed {
                Status::NotConfigured
            } else {
                Status::NotInstalled
            });
        };
        let mut landed = false;
        let mut changed_files = Vec::new();
        let mut changed_keys = Vec::new();
        for file in &manifest.files {
            let bytes = read(&file.path)?;
            let hash = bytes.as_deref().map(sha256);
            if hash.as_deref() == Some(file.written_sha256.as_str()) {
                landed = true;
                continue;
            }
            if hash == file.original_sha256 {
                // The write never landed (interrupted apply).
                continue;
            }
            landed = true;
            changed_files.push(file.path.clone());
            let text = bytes.and_then(|b| String::from_utf8(b).ok());
            for key in &file.keys {
                let current = text
                    .as_deref()
                    .and_then(|t| file.format.get(t, &key.path).ok().flatten());
                if current.as_ref().map(value_hash) != key.written {
                    changed_keys.push(key.path.join("."));
                }
            }
        }
        Ok(if !landed {
            Status::NotConfigured
        } else if changed_files.is_empty() {
            Status::Configured
        } else {
            Status::Drifted {
                changed_files,
                changed_keys,
            }
        })
    }

    /// [`Integrations::status`], plus drift when the limits the tool was configured with
    /// are no longer those of its main alias's route (`limits_of` gives the current ones).
    pub fn status_with_limits(
        &self,
        tool: ToolId,
        limits_of: impl Fn(&str) -> Limits,
    ) -> Result<Status> {
        let status = self.status(tool)?;
        if !tool.writes_limits() {
            return Ok(status);
        }
        let Some(manifest) = self.store().load(tool)? else {
            return Ok(status);
        };
        let Some(model) = &manifest.model else {
            return Ok(status);
        };
        let current = limits_of(model);
        if current == manifest.limits {
            return Ok(status);
        }
        let mut stale = Vec::new();
        if current.context_window != manifest.limits.context_window {
            stale.push("context window (the route's targets changed)".to_owned());
        }
        if current.max_output != manifest.limits.max_output {
            stale.push("output limit (the route's targets changed)".to_owned());
        }
        Ok(match status {
            Status::Configured => Status::Drifted {
                changed_files: Vec::new(),
                changed_keys: stale,
            },
            Status::Drifted {
                changed_files,
                mut changed_keys,
            } => {
                changed_keys.extend(stale);
                Status::Drifted {
                    changed_files,
                    changed_keys,
                }
            }
            other => other,
        })
    }

    fn compute(&self, tool: ToolId, plan: &Plan, manifest: Option<&Manifest>) -> Result<Computed> {
        let root = plan.root_url()?;
        let mut warnings = plan::router_warnings(plan);
        let mut changes = Vec::new();
        for file in plan_files(tool, &self.env, plan, &root)? {
            let before = read(&file.path)?
                .map(|bytes| utf8(&file.path, bytes))
                .transpose()?;
            let text = before.clone().unwrap_or_default();
            let fail = |e: EditError| edit_error(&file.path, &text, e);
            file.format.check(&text).map_err(fail)?;
            let hash = before.as_deref().map(|t| sha256(t.as_bytes()));
            let entry = manifest
                .and_then(|m| m.files.iter().find(|f| f.path == file.path))
                .filter(|e| {
                    hash.as_deref() == Some(e.written_sha256.as_str()) || hash != e.original_sha256
                })
                .cloned();
            let lookup = |p: &[&str]| {
                let p: Vec<String> = p.iter().map(|s| (*s).to_owned()).collect();
                file.format.get(&text, &p).ok().flatten()
            };
            warnings.extend(inspect(
                tool,
                &file,
                &lookup,
                &root,
                plan,
                &self.env,
                entry.is_some(),
            )?);
            let mut after = text.clone();
            if let Some(entry) = &entry {
                for key in &entry.keys {
                    if !file.keys.iter().any(|(p, _)| *p == key.path) {
                        after = revert(file.format, &after, key).map_err(fail)?;
                    }
                }
            }
            for (path, want) in &file.keys {
                let current = file.format.get(&after, path).map_err(fail)?;
                if current.as_ref() == want.as_ref() {
                    continue;
                }
                after = match want {
                    Some(v) => file.format.set(&after, path, v),
                    None => file.format.remove(&after, path),
                }
                .map_err(fail)?;
            }
            changes.push(Change {
                plan: file,
                before,
                after,
                entry,
            });
        }
        Ok(Computed { changes, warnings })
    }

    /// The exact change [`Integrations::apply`] would make, with the access key masked.
    pub fn preview(&self, tool: ToolId, plan: &Plan) -> Result<Preview> {
        let manifest = self.store().load(tool)?;
        let computed = self.compute(tool, plan, manifest.as_ref())?;
        let key = &plan.endpoint.access_key;
        let mask = |s: &str| s.replace(key.expose(), &key.masked());
        let files = computed
            .changes
            .iter()
            .map(|c| {
                let before = c.before.as_deref().map(mask);
                let after = mask(&c.after);
                let changed = c.before.as_deref() != Some(c.after.as_str());
                let name = c.plan.path.display().to_string();
                let diff = if changed {
                    similar::TextDiff::from_lines(before.as_deref().unwrap_or(""), after.as_str())
                        .unified_diff()
                        .context_radius(3)
                        .header(if before.is_some() { &name } else { "/dev/null" }, &name)
                        .to_string()
                } else {
                    String::new()
                };
                FilePreview {
                    path: c.plan.path.clone(),
                    diff,
                    before,
                    after,
                    changed,
                }
            })
            .collect();
        Ok(Preview {
            files,
            warnings: computed.warnings,
        })
    }

    /// Merges our keys into the tool's config. Backs up each original before the first
    /// change; applying the same plan again changes nothing.
    pub fn apply(&self, tool: ToolId, plan: &Plan) -> Result<Applied> {
        let store = self.store();
        let old = store.load(tool)?;
        let Computed { changes, warnings } = self.compute(tool, plan, old.as_ref())?;
        let unchanged = |c: &Change| c.before.as_deref() == Some(c.after.as_str());
        let recorded = if tool.writes_limits() {
            plan.limits
        } else {
            Limits::default()
        };
        if let Some(old) = old
            .as_ref()
            .filter(|_| changes.iter().all(|c| unchanged(c) && c.entry.is_some()))
        {
            if old.model.as_deref() != Some(plan.models.main.as_str()) || old.limits != recorded {
                store.save(&Manifest {
                    model: Some(plan.models.main.clone()),
                    limits: recorded,
                    ..old.clone()
                })?;
            }
            return Ok(Applied {
                files: changes
                    .iter()
                    .map(|c| AppliedFile {
                        path: c.plan.path.clone(),
                        backup: c.entry.as_ref().and_then(|e| e.backup.clone()),
                        changed: false,
                    })
                    .collect(),
                changed: false,
                warnings,
            });
        }
        let mut states = Vec::new();
        for change in &changes {
            states.push(self.file_state(tool, change)?);
        }
        if let Some(old) = &old {
            for stale in &old.files {
                if !states.iter().any(|s| s.path == stale.path) {
                    states.push(stale.clone());
                }
            }
        }
        store.save(&Manifest {
            tool,
            files: states.clone(),
            model: Some(plan.models.main.clone()),
            limits: recorded,
        })?;
        let mut written_any = false;
        for change in changes.iter().filter(|c| !unchanged(c)) {
            if let Err(e) = write_atomic(&change.plan.path, change.after.as_bytes(), self.fault) {
                if !written_any {
                    // Nothing landed: the old state is still the truth.
                    match &old {
                        Some(m) => store.save(m)?,
                        None => store.delete(tool)?,
                    }
                }
                return Err(e);
            }
            written_any = true;
        }
        Ok(Applied {
            files: changes
                .iter()
                .zip(&states)
                .map(|(c, s)| AppliedFile {
                    path: c.plan.path.clone(),
                    backup: s.backup.clone(),
                    changed: !unchanged(c),
                })
                .collect(),
            changed: written_any,
            warnings,
        })
    }

    /// The manifest entry for a file after this apply (backing the original up when this is
    /// our first change to it).
    fn file_state(&self, tool: ToolId, change: &Change) -> Result<FileState> {
        let before = change.before.as_deref().unwrap_or("");
        let format = change.plan.format;
        let hash = change.before.as_deref().map(|t| sha256(t.as_bytes()));
        let previous = |path: &[String]| format.get(before, path).ok().flatten();
        let mut state = match &change.entry {
            Some(entry) => {
                let mut entry = entry.clone();
                if hash.as_deref() != Some(entry.written_sha256.as_str()) {
                    entry.exact_restore = false;
                }
                entry
                    .keys
                    .retain(|k| change.plan.keys.iter().any(|(p, _)| *p == k.path));
                entry
            }
            None => FileState {
                path: change.plan.path.clone(),
                format,
                existed: change.before.is_some(),
                backup: match &change.before {
                    Some(text) => Some(self.store().backup(
                        tool,
                        &change.plan.path,
                        text.as_bytes(),
                    )?),
                    None => None,
                },
                original_sha256: hash,
                written_sha256: String::new(),
                exact_restore: true,
                keys: Vec::new(),
                created: Vec::new(),
            },
        };
        for (path, want) in &change.plan.keys {
            let written = want.as_ref().map(value_hash);
            match state.keys.iter_mut().find(|k| k.path == *path) {
                Some(k) => k.written = written,
                None => state.keys.push(OwnedKey {
                    path: path.clone(),
                    previous: previous(path),
                    written,
                }),
            }
            if want.is_some() {
                for depth in 1..path.len() {
                    let prefix = path[..depth].to_vec();
                    if previous(&prefix).is_none() && !state.created.contains(&prefix) {
                        state.created.push(prefix);
                    }
                }
            }
        }
        state.written_sha256 = sha256(change.after.as_bytes());
        Ok(state)
    }

    /// Restores the tool's config: the original bytes when the files are exactly as we left
    /// them, otherwise only our keys are taken out (previous values restored).
    pub fn undo(&self, tool: ToolId) -> Result<Undone> {
        let store = self.store();
        let manifest = store.load(tool)?.ok_or(Error::NotConfigured(tool))?;
        let mut files = Vec::new();
        for file in &manifest.files {
            let restored = self.undo_file(file)?;
            files.push(UndoneFile {
                path: file.path.clone(),
                restored,
            });
        }
        store.delete(tool)?;
        Ok(Undone { files })
    }

    fn undo_file(&self, file: &FileState) -> Result<Restored> {
        let Some(bytes) = read(&file.path)? else {
            return Ok(Restored::Unchanged);
        };
        let hash = sha256(&bytes);
        if hash == file.written_sha256 && file.exact_restore {
            return match &file.backup {
                Some(backup) if file.existed => {
                    let original = read(backup)?.ok_or_else(|| Error::State {
                        path: backup.clone(),
                        detail: "the backup is missing".into(),
                    })?;
                    write_atomic(&file.path, &original, self.fault)?;
                    Ok(Restored::Exact)
                }
                _ => {
                    let target = write::resolve(&file.path);
                    std::fs::remove_file(&target).map_err(|e| Error::io(&target, e))?;
                    Ok(Restored::Deleted)
                }
            };
        }
        if Some(&hash) == file.original_sha256.as_ref() {
            return Ok(Restored::Unchanged);
        }
        let text = utf8(&file.path, bytes)?;
        let fail = |e: EditError| edit_error(&file.path, &text, e);
        let mut out = text.clone();
        for key in file.keys.iter().rev() {
            out = revert(file.format, &out, key).map_err(fail)?;
        }
        let mut created = file.created.clone();
        created.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for container in &created {
            let empty = matches!(file.format.get(&out, container).map_err(fail)?,
                Some(Value::Object(m)) if m.is_empty());
            if empty {
                out = file.format.remove(&out, container).map_err(fail)?;
            }
        }
        if out == text {
            return Ok(Restored::Unchanged);
        }
        write_atomic(&file.path, out.as_bytes(), self.fault)?;
        Ok(Restored::OursRemoved)
    }
}

/// Gives a key back its previous value (or removes it) if it still holds what we wrote.
fn revert(format: Format, text: &str, key: &OwnedKey) -> Result<String, EditError> {
    let current = format.get(text, &key.path)?;
    if current.as_ref().map(value_hash) != key.written {
        return Ok(text.to_owned());
    }
    match &key.previous {
        Some(v) if current.as_ref() != Some(v) => format.set(text, &key.path, v),
        Some(_) => Ok(text.to_owned()),
        None if current.is_some() => format.remove(text, &key.path),
        None => Ok(text.to_owned()),
    }
}

fn utf8(path: &Path, bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let prefix = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
        let (line, column) = Text::line_col(&prefix, valid);
        Error::Unparseable {
            path: path.to_owned(),
            line,
            column,
            message: "not valid UTF-8".into(),
        }
    })
}

fn edit_error(path: &Path, text: &str, e: EditError) -> Error {
    match e {
        EditError::Syntax { offset, message } => {
            let (line, column) = Text::line_col(text, offset);
            Error::Unparseable {
                path: path.to_owned(),
                line,
                column,
                message,
            }
        }
        EditError::Shape(detail) => Error::UnsupportedShape {
            path: path.to_owned(),
            detail,
        },
    }
}

/// Runs `<binary> --version` with a short deadline and picks the version out of its output.
fn version_of(binary: &Path) -> Option<String> {
    let mut child = Command::new(binary)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                // Best effort: the child is ours and is being abandoned either way.
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut out = String::new();
    child.stdout.take()?.read_to_string(&mut out).ok()?;
    let line = out.lines().find(|l| !l.trim().is_empty())?.trim();
    let token = line
        .split_whitespace()
        .map(|t| t.trim_start_matches('v'))
        .find(|t| t.starts_with(|c: char| c.is_ascii_digit()) && t.contains('.'));
    Some(token.unwrap_or(line).chars().take(80).collect())
}
