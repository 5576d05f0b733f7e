//! `secrets.enc`: every secret in one XChaCha20-Poly1305-encrypted JSON map in the data
//! directory, for machines without a usable keychain (headless Linux, containers).
//!
//! The encryption key never sits beside the file. It is either `SWITCHBOARD_MASTER_KEY`
//! (32 bytes as hex or base64, or any passphrase, stretched with Argon2id and the file's salt)
//! or a random key in a machine-local key file in another directory
//! (`<config dir>/switchboard/master.key` by default).
//!
//! File layout (all integers single bytes):
//!
//! ```text
//! "SWBSEC" | version=1 | key source | salt[16] | nonce[24] | ciphertext+tag
//! ```
//!
//! The first 24 bytes (magic to salt) are authenticated as associated data. The nonce is fresh
//! for every write; the salt is chosen when the file is created and kept. Writes are atomic
//! (temporary file, fsync, rename) and serialised across processes with a lock file; each
//! write re-reads the file first so two processes adding secrets do not lose each other's.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine as _;
use rand::RngCore;
use switchboard_router::Secret;
use zeroize::Zeroizing;

use super::envelope::{self, NONCE_LEN, TAG_LEN};
use super::{SecretError, SecretStore, SecretStoreKind, check_id};

/// The environment variable holding the master key or passphrase.
pub const MASTER_KEY_ENV: &str = "SWITCHBOARD_MASTER_KEY";

const FILE_NAME: &str = "secrets.enc";
const LOCK_NAME: &str = "secrets.enc.lock";
const MAGIC: &[u8; 6] = b"SWBSEC";
const VERSION: u8 = 1;
const SALT_LEN: usize = 16;
const HEADER_LEN: usize = MAGIC.len() + 2 + SALT_LEN;

/// How the file's key was obtained; recorded in the header so a mismatch gets a useful hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeySource {
    Raw = 1,
    Passphrase = 2,
    KeyFile = 3,
}

impl KeySource {
    fn from_byte(b: u8) -> Option<KeySource> {
        match b {
            1 => Some(KeySource::Raw),
            2 => Some(KeySource::Passphrase),
            3 => Some(KeySource::KeyFile),
            _ => None,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            KeySource::Raw => "a 32-byte SWITCHBOARD_MASTER_KEY",
            KeySource::Passphrase => "a SWITCHBOARD_MASTER_KEY passphrase",
            KeySource::KeyFile => "a machine-local master key file",
        }
    }
}

/// Where the key that encrypts `secrets.enc` comes from.
pub enum MasterKey {
    /// A value (normally from `SWITCHBOARD_MASTER_KEY`): 64 hex digits or base64 of 32 bytes
    /// is used as the key itself; anything else is a passphrase stretched with Argon2id.
    Value(Secret),
    /// A file holding a random key, created (0600, in a 0700 directory) if missing. It must
    /// not be inside the data directory.
    KeyFile(PathBuf),
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MasterKey::Value(_) => f.write_str("MasterKey::Value(****)"),
            MasterKey::KeyFile(p) => f.debug_tuple("MasterKey::KeyFile").field(p).finish(),
        }
    }
}

/// The default machine-local key file: `<config dir>/switchboard/master.key`.
pub fn default_key_file() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("switchboard").join("master.key"))
}

/// The first of [`default_key_file`], `<config dir>/switchboard-master-key/master.key` and
/// `~/.switchboard-master-key/master.key` that is not inside `data_dir` (on macOS and Windows
/// the config and data directories are the same folder). `None` if each of them would be.
pub fn default_key_file_for(data_dir: &Path) -> Option<PathBuf> {
    let data = canonical_or_self(data_dir);
    let candidates = [
        default_key_file(),
        dirs::config_dir().map(|d| d.join("switchboard-master-key").join("master.key")),
        dirs::home_dir().map(|d| d.join(".switchboard-master-key").join("master.key")),
    ];
    candidates.into_iter().flatten().find(|k| {
        !k.parent()
            .map(canonical_or_self)
            .is_some_and(|d| d.starts_with(&data))
    })
}

impl MasterKey {
    /// `SWITCHBOARD_MASTER_KEY` if set and not empty, else `key_file`, else
    /// [`default_key_file_for`] `data_dir`. What the server uses.
    pub fn resolve(data_dir: &Path, key_file: Option<PathBuf>) -> Result<MasterKey, SecretError> {
        Self::from_env_or_key_file(key_file.or_else(|| default_key_file_for(data_dir)))
    }

    /// `SWITCHBOARD_MASTER_KEY` if set and not empty, else `key_file` (or
    /// [`default_key_file`] when `None`).
    pub fn from_env_or_key_file(key_file: Option<PathBuf>) -> Result<MasterKey, SecretError> {
        if let Some(v) = std::env::var_os(MASTER_KEY_ENV) {
            let v = v.into_string().map_err(|_| {
                SecretError::MasterKey(format!("{MASTER_KEY_ENV} is not valid UTF-8"))
            })?;
            if !v.is_empty() {
                return Ok(MasterKey::Value(Secret::new(v)));
            }
        }
        match key_file.or_else(default_key_file) {
            Some(p) => Ok(MasterKey::KeyFile(p)),
            None => Err(SecretError::MasterKey(format!(
                "no configuration directory for the master key file; set {MASTER_KEY_ENV}"
            ))),
        }
    }
}

/// The resolved key material: a fixed key, or a passphrase still to be stretched per salt.
pub(crate) enum Material {
    Key(Zeroizing<[u8; 32]>, KeySource),
    Passphrase(Secret),
}

impl Material {
    fn source(&self) -> KeySource {
        match self {
            Material::Key(_, s) => *s,
            Material::Passphrase(_) => KeySource::Passphrase,
        }
    }
}

pub(crate) fn parse_value(value: &Secret) -> Result<Material, SecretError> {
    let v = value.expose().trim();
    if v.is_empty() {
        return Err(SecretError::MasterKey(format!("{MASTER_KEY_ENV} is empty")));
    }
    if v.len() == 64 {
        let mut key = Zeroizing::new([0u8; 32]);
        if hex::decode_to_slice(v, key.as_mut()).is_ok() {
            return Ok(Material::Key(key, KeySource::Raw));
        }
    }
    for engine in [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        if let Ok(bytes) = engine.decode(v).map(Zeroizing::new)
            && bytes.len() == 32
        {
            let mut key = Zeroizing::new([0u8; 32]);
            key.copy_from_slice(&bytes);
            return Ok(Material::Key(key, KeySource::Raw));
        }
    }
    Ok(Material::Passphrase(value.clone()))
}

fn io_err(path: &Path, action: &'static str) -> impl FnOnce(std::io::Error) -> SecretError {
    let path = path.to_path_buf();
    move |source| SecretError::Io {
        path,
        action,
        source,
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

/// Creates `dir` (and parents) and makes it private (0700 on Unix).
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    set_mode(dir, 0o700)
}

/// Writes `bytes` to `path` atomically: a 0600 temporary file in the same directory, fsync,
/// rename over the target, fsync the directory.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SecretError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".secrets-")
        .tempfile_in(dir)
        .map_err(io_err(path, "creating a temporary file"))?;
    set_mode(tmp.path(), 0o600).map_err(io_err(path, "setting permissions"))?;
    tmp.write_all(bytes)
        .map_err(io_err(path, "writing a temporary file"))?;
    tmp.as_file()
        .sync_all()
        .map_err(io_err(path, "syncing a temporary file"))?;
    tmp.persist(path)
        .map_err(|e| io_err(path, "replacing the file")(e.error))?;
    sync_dir(dir);
    Ok(())
}

fn sync_dir(dir: &Path) {
    // Makes the rename durable on Unix; directories cannot be opened this way on Windows.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Reads the key file, or creates it with 32 random bytes if it does not exist. Two processes
/// creating it at once agree on one key: the file appears atomically and never replaces an
/// existing one.
fn load_or_create_key_file(path: &Path) -> Result<Zeroizing<[u8; 32]>, SecretError> {
    match fs::read_to_string(path).map(Zeroizing::new) {
        Ok(text) => return parse_key_file(path, &text),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(path, "reading the master key file")(e)),
    }
    let dir = path.parent().ok_or_else(|| {
        SecretError::MasterKey(format!(
            "master key file {} has no parent directory",
            path.display()
        ))
    })?;
    create_private_dir(dir).map_err(io_err(dir, "creating the master key directory"))?;
    let mut key = Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(key.as_mut());
    let text = Zeroizing::new(format!("{}\n", hex::encode(key.as_ref())));
    let mut tmp = tempfile::Builder::new()
        .prefix(".master-")
        .tempfile_in(dir)
        .map_err(io_err(path, "creating the master key file"))?;
    set_mode(tmp.path(), 0o600).map_err(io_err(path, "setting permissions"))?;
    tmp.write_all(text.as_bytes())
        .map_err(io_err(path, "writing the master key file"))?;
    tmp.as_file()
        .sync_all()
        .map_err(io_err(path, "syncing the master key file"))?;
    match tmp.persist_noclobber(path) {
        Ok(_) => {
            sync_dir(dir);
            tracing::info!(path = %path.display(), "created a new master key file");
            Ok(key)
        }
        Err(e) if e.error.kind() == ErrorKind::AlreadyExists => {
            let text = fs::read_to_string(path)
                .map(Zeroizing::new)
                .map_err(io_err(path, "reading the master key file"))?;
            parse_key_file(path, &text)
        }
        Err(e) => Err(io_err(path, "creating the master key file")(e.error)),
    }
}

fn parse_key_file(path: &Path, text: &str) -> Result<Zeroizing<[u8; 32]>, SecretError> {
    let mut key = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text.trim(), key.as_mut()).map_err(|_| {
        SecretError::MasterKey(format!(
            "master key file {} does not hold 64 hex digits",
            path.display()
        ))
    })?;
    Ok(key)
}

fn canonical_or_self(p: &Path) -> PathBuf {
    fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

struct State {
    /// Every secret the file held at the last read or write.
    cache: BTreeMap<String, Secret>,
    /// The derived key for the last salt seen (passphrases only).
    derived: Option<([u8; SALT_LEN], Zeroizing<[u8; 32]>)>,
}

/// The encrypted-file secret store. See the module documentation for the format.
pub struct EncryptedFileStore {
    path: PathBuf,
    lock_path: PathBuf,
    material: Material,
    state: Mutex<State>,
}

impl std::fmt::Debug for EncryptedFileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedFileStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// What one read of the file yields.
struct Loaded {
    salt: [u8; SALT_LEN],
    map: BTreeMap<String, Secret>,
}

impl EncryptedFileStore {
    /// Opens (or prepares to create) `<data_dir>/secrets.enc`, decrypting it once. Fails with
    /// [`SecretError::WrongMasterKey`] when the key does not fit the file, and refuses a key
    /// file inside the data directory.
    pub fn open(data_dir: &Path, master: MasterKey) -> Result<EncryptedFileStore, SecretError> {
        create_private_dir(data_dir).map_err(io_err(data_dir, "creating the data directory"))?;
        let material = match master {
            MasterKey::Value(v) => parse_value(&v)?,
            MasterKey::KeyFile(key_path) => {
                let data = canonical_or_self(data_dir);
                let key_dir = key_path.parent().map(canonical_or_self).unwrap_or_default();
                if key_dir.starts_with(&data) {
                    return Err(SecretError::MasterKey(format!(
                        "the master key file {} must not be inside the data directory {}",
                        key_path.display(),
                        data_dir.display()
                    )));
                }
                Material::Key(load_or_create_key_file(&key_path)?, KeySource::KeyFile)
            }
        };
        let store = EncryptedFileStore {
            path: data_dir.join(FILE_NAME),
            lock_path: data_dir.join(LOCK_NAME),
            material,
            state: Mutex::new(State {
                cache: BTreeMap::new(),
                derived: None,
            }),
        };
        {
            let _lock = store.lock_file(false)?;
            let mut state = store.state()?;
            if let Some(loaded) = store.read_file(&mut state)? {
                state.cache = loaded.map;
            }
        }
        Ok(store)
    }

    /// [`EncryptedFileStore::open`] with [`MasterKey::resolve`]: `SWITCHBOARD_MASTER_KEY`,
    /// else `key_file`, else the default key file for this data directory.
    pub fn open_default(
        data_dir: &Path,
        key_file: Option<PathBuf>,
    ) -> Result<EncryptedFileStore, SecretError> {
        Self::open(data_dir, MasterKey::resolve(data_dir, key_file)?)
    }

    /// The path of `secrets.enc`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `data_dir` holds a secrets file (without opening it or needing its key).
    pub fn exists_in(data_dir: &Path) -> bool {
        data_dir.join(FILE_NAME).is_file()
    }

    /// The ids the file holds now (re-read under the lock), for moving them to another
    /// backend. Ids only; values stay inside.
    pub fn ids(&self) -> Result<Vec<String>, SecretError> {
        let _lock = self.lock_file(false)?;
        let mut state = self.state()?;
        if let Some(loaded) = self.read_file(&mut state)? {
            state.cache = loaded.map;
        }
        Ok(state.cache.keys().cloned().collect())
    }

    fn state(&self) -> Result<std::sync::MutexGuard<'_, State>, SecretError> {
        self.state.lock().map_err(|_| SecretError::Corrupt {
            path: self.path.clone(),
            reason: "in-memory state lock poisoned".into(),
        })
    }

    /// Locks the lock file beside `secrets.enc`: exclusive for writes, shared for reads. The
    /// lock is released when the returned file is dropped.
    fn lock_file(&self, exclusive: bool) -> Result<File, SecretError> {
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let f = opts
            .open(&self.lock_path)
            .map_err(io_err(&self.lock_path, "opening the lock file"))?;
        let r = if exclusive { f.lock() } else { f.lock_shared() };
        r.map_err(io_err(&self.lock_path, "locking"))?;
        Ok(f)
    }

    fn key_for(
        &self,
        state: &mut State,
        salt: &[u8; SALT_LEN],
    ) -> Result<Zeroizing<[u8; 32]>, SecretError> {
        match &self.material {
            Material::Key(k, _) => Ok(k.clone()),
            Material::Passphrase(p) => {
                if let Some((s, k)) = &state.derived
                    && s == salt
                {
                    return Ok(k.clone());
                }
                let key = envelope::derive_key(p.expose().as_bytes(), salt, None)
                    .map_err(|e| SecretError::MasterKey(e.to_string()))?;
                state.derived = Some((*salt, key.clone()));
                Ok(key)
            }
        }
    }

    /// Reads and decrypts the file; `None` if it does not exist yet.
    fn read_file(&self, state: &mut State) -> Result<Option<Loaded>, SecretError> {
        let mut bytes = Vec::new();
        match File::open(&self.path) {
            Ok(mut f) => {
                f.read_to_end(&mut bytes)
                    .map_err(io_err(&self.path, "reading"))?;
            }
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&self.path, "opening")(e)),
        }
        let corrupt = |reason: &str| SecretError::Corrupt {
            path: self.path.clone(),
            reason: reason.to_owned(),
        };
        if bytes.len() < HEADER_LEN + NONCE_LEN + TAG_LEN || &bytes[..MAGIC.len()] != MAGIC {
            return Err(corrupt("not a Switchboard secrets file"));
        }
        if bytes[MAGIC.len()] != VERSION {
            return Err(corrupt("written by a newer version of Switchboard"));
        }
        let file_source = KeySource::from_byte(bytes[MAGIC.len() + 1])
            .ok_or_else(|| corrupt("unknown key source"))?;
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(&bytes[MAGIC.len() + 2..HEADER_LEN]);
        let key = self.key_for(state, &salt)?;
        let plain = envelope::open(
            &key,
            &bytes[HEADER_LEN..HEADER_LEN + NONCE_LEN],
            &bytes[..HEADER_LEN],
            &bytes[HEADER_LEN + NONCE_LEN..],
        )
        .map_err(|_| {
            let current = self.material.source();
            let hint = (file_source != current).then(|| {
                format!(
                    "it was written with {}, this process has {}",
                    file_source.describe(),
                    current.describe()
                )
            });
            SecretError::WrongMasterKey {
                path: self.path.clone(),
                hint,
            }
        })?;
        let mut doc: FileDoc = serde_json::from_slice(&plain)
            .map_err(|_| corrupt("decrypted contents are not valid"))?;
        let map = std::mem::take(&mut doc.secrets)
            .into_iter()
            .map(|(k, v)| (k, Secret::new(v)))
            .collect();
        Ok(Some(Loaded { salt, map }))
    }

    fn write_file(
        &self,
        state: &mut State,
        salt: &[u8; SALT_LEN],
        map: &BTreeMap<String, Secret>,
    ) -> Result<(), SecretError> {
        let doc = FileDocRef {
            version: 1,
            secrets: map.iter().map(|(k, v)| (k.as_str(), v.expose())).collect(),
        };
        let plain = Zeroizing::new(serde_json::to_vec(&doc).map_err(|e| SecretError::Corrupt {
            path: self.path.clone(),
            reason: format!("cannot encode: {e}"),
        })?);
        drop(doc);
        let key = self.key_for(state, salt)?;
        let mut header = Vec::with_capacity(HEADER_LEN + NONCE_LEN + plain.len() + TAG_LEN);
        header.extend_from_slice(MAGIC);
        header.push(VERSION);
        header.push(self.material.source() as u8);
        header.extend_from_slice(salt);
        let (nonce, sealed) =
            envelope::seal(&key, &header, &plain).map_err(|_| SecretError::Corrupt {
                path: self.path.clone(),
                reason: "encryption failed".into(),
            })?;
        let mut bytes = header;
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        write_atomic(&self.path, &bytes)
    }

    /// Re-reads the file under the exclusive lock, applies `change`, writes it back and
    /// refreshes the cache.
    fn modify(
        &self,
        change: impl FnOnce(&mut BTreeMap<String, Secret>) -> bool,
    ) -> Result<(), SecretError> {
        let _lock = self.lock_file(true)?;
        let mut state = self.state()?;
        let (salt, mut map) = match self.read_file(&mut state)? {
            Some(l) => (l.salt, l.map),
            None => (envelope::random::<SALT_LEN>(), BTreeMap::new()),
        };
        if change(&mut map) {
            self.write_file(&mut state, &salt, &map)?;
        }
        state.cache = map;
        Ok(())
    }
}

#[derive(serde::Deserialize)]
struct FileDoc {
    #[allow(dead_code)]
    version: u32,
    secrets: BTreeMap<String, String>,
}

impl Drop for FileDoc {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for v in self.secrets.values_mut() {
            v.zeroize();
        }
    }
}

#[derive(serde::Serialize)]
struct FileDocRef<'a> {
    version: u32,
    secrets: BTreeMap<&'a str, &'a str>,
}

impl SecretStore for EncryptedFileStore {
    fn kind(&self) -> SecretStoreKind {
        SecretStoreKind::EncryptedFile
    }

    fn put(&self, id: &str, secret: &Secret) -> Result<(), SecretError> {
        check_id(id)?;
        self.modify(|map| {
            if map.get(id) == Some(secret) {
                return false;
            }
            map.insert(id.to_owned(), secret.clone());
            true
        })
    }

    fn get(&self, id: &str) -> Result<Option<Secret>, SecretError> {
        {
            let state = self.state()?;
            if let Some(s) = state.cache.get(id) {
                return Ok(Some(s.clone()));
            }
        }
        // Not cached: another process may have added it since we last read the file.
        let _lock = self.lock_file(false)?;
        let mut state = self.state()?;
        if let Some(loaded) = self.read_file(&mut state)? {
            state.cache = loaded.map;
        }
        Ok(state.cache.get(id).cloned())
    }

    fn delete(&self, id: &str) -> Result<(), SecretError> {
        self.modify(|map| map.remove(id).is_some())
    }

    fn get_or_insert(
        &self,
        id: &str,
        make: &mut dyn FnMut() -> Secret,
    ) -> Result<Secret, SecretError> {
        check_id(id)?;
        if let Some(s) = self.state()?.cache.get(id) {
            return Ok(s.clone());
        }
        let mut out = None;
        self.modify(|map| {
            if let Some(s) = map.get(id) {
                out = Some(s.clone());
                return false;
            }
            let s = make();
            map.insert(id.to_owned(), s.clone());
            out = Some(s);
            true
        })?;
        out.ok_or_else(|| SecretError::Backend {
            id: id.to_owned(),
            reason: "no value produced".into(),
        })
    }
}
