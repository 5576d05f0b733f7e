//! Atomic replacement of a file: write a temp file beside it, fsync, give it the original's
//! permissions, rename over the original, fsync the directory. A crash at any point leaves
//! either the old file or the new one, never a mix.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A point where a write can be made to fail on purpose, to test crash safety.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// After the backup and the temp file are written and synced, before the rename.
    BeforeRename,
}

/// Where the bytes must land: a symlinked config (dotfile managers) is written through, so
/// the link stays a link.
pub(crate) fn resolve(path: &Path) -> PathBuf {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
        }
        _ => path.to_owned(),
    }
}

/// Replaces (or creates) `path` with `bytes`. New files are private (0600 on Unix): tool
/// configs hold the access key.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], fault: Option<Fault>) -> Result<()> {
    let target = resolve(path);
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let permissions = fs::metadata(&target).ok().map(|m| m.permissions());
    let name = target
        .file_name()
        .map_or_else(|| "config".to_owned(), |n| n.to_string_lossy().into_owned());
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(|e| Error::io(&dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(tmp.path(), e))?;
    match permissions {
        Some(p) => fs::set_permissions(tmp.path(), p),
        None => private(tmp.path()),
    }
    .map_err(|e| Error::io(tmp.path(), e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(tmp.path(), e))?;
    if fault == Some(Fault::BeforeRename) {
        return Err(Error::io(
            &target,
            std::io::Error::other("injected failure before rename"),
        ));
    }
    tmp.persist(&target)
        .map_err(|e| Error::io(&target, e.error))?;
    sync_dir(&dir)
}

#[cfg(unix)]
fn private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn private(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<()> {
    Ok(())
}

/// Reads a file; `None` when it does not exist.
pub(crate) fn read(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}
