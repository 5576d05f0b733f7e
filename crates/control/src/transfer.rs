//! Configuration export and import: providers, keys, routes and settings as one JSON document
//! (or the same document as a copyable `sbx1.` token), shared by `switchboard config
//! export|import` and the admin API.
//!
//! API keys are left out unless asked for; then they are sealed together in one envelope
//! (`store::secrets::envelope`, the routine the secrets file uses too): Argon2id (random
//! salt, parameters stored beside it) derives a key from the user's passphrase,
//! XChaCha20-Poly1305 (random nonce) encrypts the list. A wrong passphrase and a tampered
//! envelope fail the same way, before anything is written.
//!
//! Import is a merge that never drops data silently:
//! - providers, routes and settings in the export are added or replace the one of the same
//!   name; anything the store holds that the export does not is kept and listed as such;
//! - keys are matched within their provider by `env:` reference or by fingerprint; a matched
//!   key takes the export's label, weight and enabled flag;
//! - a key the export carries without its secret (an export made without secrets) that is
//!   not already here cannot be created: it is listed as `needs_secret` and skipped, so the
//!   user sees exactly which keys to add by hand;
//! - an export of an unknown format version, or with fields this version does not know, is
//!   refused as a whole;
//! - an export that points a provider already here at another server (scheme, host or port of
//!   its `base_url`) is applied only when that is confirmed: its keys would be sent there.
//!
//! [`Control::plan_import`] says what [`Control::import`] would change; both validate
//! everything first, so an invalid export changes nothing, and the import is one edit (lock,
//! writes, snapshot swap).

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchboard_router::health::CooldownPolicy;
use switchboard_router::{KeyInfo, Provider, ProxySetting, Route, Secret, Settings};
use switchboard_store::secrets::envelope::{self, KdfParams, NONCE_LEN};
use switchboard_store::{KeyPatch, KeySecret, Store, StoreError};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use crate::Control;

/// The `format` field of every export.
pub const FORMAT: &str = "switchboard-export";
/// The export format version this build writes and reads.
pub const VERSION: u32 = 1;
/// Prefix of the copyable token form: `sbx1.` + base64url (no padding) of the JSON.
pub const TOKEN_PREFIX: &str = "sbx1.";
/// Shortest passphrase accepted for sealing keys.
pub const MIN_PASSPHRASE: usize = 8;

const KDF: &str = "argon2id";
const CIPHER: &str = "xchacha20-poly1305";
const SALT_LEN: usize = 16;
/// Bounds on stored KDF parameters, so a crafted export cannot make import allocate
/// gigabytes or spin for minutes.
const MAX_M_COST_KIB: u32 = 1024 * 1024;
const MAX_T_COST: u32 = 16;
const MAX_P_COST: u32 = 16;
/// Largest export accepted (JSON or token).
pub const MAX_EXPORT_BYTES: usize = 16 * 1024 * 1024;

/// The whole exported configuration.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Export {
    /// Always `switchboard-export`.
    pub format: String,
    pub version: u32,
    /// RFC 3339, UTC.
    pub exported_at: String,
    pub providers: Vec<Provider>,
    pub keys: Vec<ExportedKey>,
    pub routes: Vec<Route>,
    pub settings: Settings,
    /// Cooldown lengths, when they were changed from the defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldowns: Option<CooldownPolicy>,
    /// The sealed API keys, present only in an export made with secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<Envelope>,
}

/// A key as exported: never the secret itself (that is in [`Envelope`], when at all).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportedKey {
    pub provider: String,
    pub label: String,
    pub weight: u32,
    pub enabled: bool,
    /// `env:NAME` when the key is read from the environment (not a secret: exported as is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_ref: Option<String>,
    /// First 12 hex digits of SHA-256 of the secret: identifies the key on import.
    #[serde(default)]
    pub fingerprint: String,
    #[serde(default)]
    pub last4: String,
    /// The secret is in the export's sealed envelope.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret_sealed: bool,
}

/// Argon2id parameters and salt, stored beside the ciphertext.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Kdf {
    /// Always `argon2id`.
    pub alg: String,
    /// Memory, KiB.
    pub m_cost: u32,
    /// Iterations.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
    /// Base64.
    pub salt: String,
}

/// One encrypted block holding every exported secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub kdf: Kdf,
    /// Always `xchacha20-poly1305`.
    pub cipher: String,
    /// Base64, 24 bytes.
    pub nonce: String,
    /// Base64.
    pub ciphertext: String,
}

/// The sealed plaintext: secrets by index into [`Export::keys`].
#[derive(Serialize, Deserialize)]
struct SealedSecrets {
    secrets: Vec<SealedSecret>,
}

#[derive(Serialize, Deserialize)]
struct SealedSecret {
    key: usize,
    secret: String,
}

impl Drop for SealedSecrets {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for s in &mut self.secrets {
            s.secret.zeroize();
        }
    }
}

/// Argon2id cost. The default follows the OWASP recommendation (19 MiB, 2 passes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SealParams {
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
}

impl Default for SealParams {
    fn default() -> Self {
        SealParams {
            m_cost_kib: 19 * 1024,
            t_cost: 2,
            p_cost: 1,
        }
    }
}

/// Why an export or import failed. Never carries a secret or the passphrase.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("not a Switchboard export: {0}")]
    NotAnExport(String),
    #[error(
        "this export has format version {found}; this Switchboard reads version {VERSION} (update Switchboard to import it)"
    )]
    UnsupportedVersion { found: u64 },
    #[error("invalid export: {0}")]
    Invalid(String),
    #[error("this export holds encrypted API keys: give its passphrase to import it")]
    PassphraseRequired,
    #[error("wrong passphrase or corrupted export")]
    WrongPassphrase,
    #[error("the passphrase must be at least {MIN_PASSPHRASE} characters")]
    WeakPassphrase,
    #[error("encryption failed")]
    Crypto,
    /// The import points existing providers (and their keys) at other servers, and that was
    /// not confirmed.
    #[error(
        "this import sends the keys of existing providers to other servers ({0}); confirm the new addresses to apply it"
    )]
    HostsNotConfirmed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Export {
    /// Pretty JSON (the file form).
    pub fn to_json(&self) -> String {
        // Serialising plain data structures cannot fail; fall back to the compact form.
        serde_json::to_string_pretty(self).unwrap_or_else(|_| self.to_compact_json())
    }

    fn to_compact_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The copyable token form: `sbx1.` + base64url of the compact JSON.
    pub fn to_token(&self) -> String {
        format!(
            "{TOKEN_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(self.to_compact_json())
        )
    }

    /// Parses an export given as JSON or as a token (surrounding whitespace ignored).
    pub fn parse(input: &str) -> Result<Export, TransferError> {
        if input.len() > MAX_EXPORT_BYTES {
            return Err(TransferError::Invalid("larger than 16 MiB".into()));
        }
        let input = input.trim();
        let decoded;
        let json = if let Some(token) = input.strip_prefix(TOKEN_PREFIX) {
            let compact: String = token.chars().filter(|c| !c.is_whitespace()).collect();
            decoded = URL_SAFE_NO_PAD
                .decode(compact.trim_end_matches('='))
                .map_err(|_| {
                    TransferError::NotAnExport("the token is not valid base64url".into())
                })?;
            std::str::from_utf8(&decoded)
                .map_err(|_| TransferError::NotAnExport("the token does not hold text".into()))?
        } else if input.starts_with("sbx") && !input.starts_with('{') {
            return Err(TransferError::NotAnExport(
                "unknown token version (this Switchboard reads `sbx1.` tokens)".into(),
            ));
        } else {
            input
        };
        let value: Value = serde_json::from_str(json).map_err(|e| {
            TransferError::NotAnExport(format!(
                "not JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        if value.get("format").and_then(Value::as_str) != Some(FORMAT) {
            return Err(TransferError::NotAnExport(format!(
                "the `format` field is not `{FORMAT}`"
            )));
        }
        let version = value
            .get("version")
            .and_then(Value::as_u64)
            .ok_or_else(|| TransferError::Invalid("`version` is missing".into()))?;
        if version != u64::from(VERSION) {
            return Err(TransferError::UnsupportedVersion { found: version });
        }
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            TransferError::Invalid(format!("{path}: {}", e.into_inner()))
        })
    }
}

/// Reads the configuration out of `store`. With a passphrase, every key's secret (other than
/// `env:` references, which are exported as references) is sealed into the export.
async fn export(store: &Store, passphrase: Option<&Secret>) -> Result<Export, TransferError> {
    export_with(store, passphrase, SealParams::default()).await
}

/// [`export`] with explicit Argon2id cost.
async fn export_with(
    store: &Store,
    passphrase: Option<&Secret>,
    params: SealParams,
) -> Result<Export, TransferError> {
    if passphrase.is_some_and(|p| p.expose().chars().count() < MIN_PASSPHRASE) {
        return Err(TransferError::WeakPassphrase);
    }
    let providers = store.list_providers().await?;
    let infos = store.list_keys(None).await?;
    let routes = store.list_routes().await?;
    let settings = store.get_settings().await?;
    let cooldowns = store
        .get_value(crate::settings::COOLDOWNS)
        .await?
        .and_then(|v| serde_json::from_value(v).ok());
    let mut keys = Vec::with_capacity(infos.len());
    let mut sealed = SealedSecrets {
        secrets: Vec::new(),
    };
    for (index, info) in infos.iter().enumerate() {
        let seal = passphrase.is_some() && info.env_ref.is_none();
        if seal {
            let secret = store.key_secret(info.id).await?;
            sealed.secrets.push(SealedSecret {
                key: index,
                secret: secret.expose().to_owned(),
            });
        }
        keys.push(ExportedKey {
            provider: info.provider.clone(),
            label: info.label.clone(),
            weight: info.weight,
            enabled: info.enabled,
            env_ref: info.env_ref.clone(),
            fingerprint: info.fingerprint.clone(),
            last4: info.last4.clone(),
            secret_sealed: seal,
        });
    }
    let sealed = match passphrase {
        Some(p) => Some(seal(&sealed, p, params)?),
        None => None,
    };
    Ok(Export {
        format: FORMAT.to_owned(),
        version: VERSION,
        exported_at: now_rfc3339(),
        providers,
        keys,
        routes,
        settings,
        cooldowns,
        sealed,
    })
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc())
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn aad() -> Vec<u8> {
    format!("{FORMAT}/{VERSION}").into_bytes()
}

fn kdf(params: SealParams) -> KdfParams {
    KdfParams {
        m_cost_kib: params.m_cost_kib,
        t_cost: params.t_cost,
        p_cost: params.p_cost,
    }
}

fn seal(
    secrets: &SealedSecrets,
    passphrase: &Secret,
    params: SealParams,
) -> Result<Envelope, TransferError> {
    let plain = Zeroizing::new(serde_json::to_vec(secrets).map_err(|_| TransferError::Crypto)?);
    let salt = envelope::random::<SALT_LEN>();
    let key = envelope::derive_key(passphrase.expose().as_bytes(), &salt, Some(kdf(params)))
        .map_err(|_| TransferError::Crypto)?;
    let (nonce, ciphertext) =
        envelope::seal(&key, &aad(), &plain).map_err(|_| TransferError::Crypto)?;
    Ok(Envelope {
        kdf: Kdf {
            alg: KDF.to_owned(),
            m_cost: params.m_cost_kib,
            t_cost: params.t_cost,
            p_cost: params.p_cost,
            salt: STANDARD.encode(salt),
        },
        cipher: CIPHER.to_owned(),
        nonce: STANDARD.encode(nonce),
        ciphertext: STANDARD.encode(ciphertext),
    })
}

fn unseal(sealed: &Envelope, passphrase: &Secret) -> Result<SealedSecrets, TransferError> {
    let bad = |what: &str| TransferError::Invalid(format!("sealed.{what} is not valid"));
    if sealed.kdf.alg != KDF {
        return Err(bad("kdf.alg"));
    }
    if sealed.cipher != CIPHER {
        return Err(bad("cipher"));
    }
    let k = &sealed.kdf;
    if k.m_cost > MAX_M_COST_KIB || k.t_cost > MAX_T_COST || k.p_cost > MAX_P_COST {
        return Err(TransferError::Invalid(
            "sealed.kdf asks for more memory or time than Switchboard allows".into(),
        ));
    }
    let salt = STANDARD.decode(&k.salt).map_err(|_| bad("kdf.salt"))?;
    let nonce = STANDARD.decode(&sealed.nonce).map_err(|_| bad("nonce"))?;
    if nonce.len() != NONCE_LEN {
        return Err(bad("nonce"));
    }
    let ciphertext = STANDARD
        .decode(&sealed.ciphertext)
        .map_err(|_| bad("ciphertext"))?;
    let params = SealParams {
        m_cost_kib: k.m_cost,
        t_cost: k.t_cost,
        p_cost: k.p_cost,
    };
    let key = envelope::derive_key(passphrase.expose().as_bytes(), &salt, Some(kdf(params)))
        .map_err(|_| TransferError::Invalid("unusable key derivation parameters".into()))?;
    let plain = envelope::open(&key, &nonce, &aad(), &ciphertext)
        .map_err(|_| TransferError::WrongPassphrase)?;
    serde_json::from_slice(&plain).map_err(|_| TransferError::WrongPassphrase)
}

/// An export ready to import: validated, secrets (if any) decrypted.
pub struct Import {
    export: Export,
    /// Aligned with `export.keys`.
    secrets: Vec<Option<Secret>>,
}

impl std::fmt::Debug for Import {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Import")
            .field("providers", &self.export.providers.len())
            .field("keys", &self.export.keys.len())
            .field("routes", &self.export.routes.len())
            .finish_non_exhaustive()
    }
}

impl Import {
    /// Validates `export` and decrypts its keys. An export with sealed keys needs the
    /// passphrase; a wrong one is [`TransferError::WrongPassphrase`].
    pub fn open(export: Export, passphrase: Option<&Secret>) -> Result<Import, TransferError> {
        validate(&export)?;
        let mut secrets: Vec<Option<Secret>> = vec![None; export.keys.len()];
        if let Some(envelope) = &export.sealed {
            let passphrase = passphrase
                .filter(|p| !p.expose().is_empty())
                .ok_or(TransferError::PassphraseRequired)?;
            let opened = unseal(envelope, passphrase)?;
            for s in &opened.secrets {
                let key = export
                    .keys
                    .get(s.key)
                    .filter(|k| k.secret_sealed)
                    .ok_or(TransferError::WrongPassphrase)?;
                let secret = Secret::new(s.secret.clone());
                if !key.fingerprint.is_empty() && secret.fingerprint() != key.fingerprint {
                    return Err(TransferError::WrongPassphrase);
                }
                if let Some(slot) = secrets.get_mut(s.key) {
                    *slot = Some(secret);
                }
            }
            if export
                .keys
                .iter()
                .zip(&secrets)
                .any(|(k, s)| k.secret_sealed && s.is_none())
            {
                return Err(TransferError::WrongPassphrase);
            }
        } else if export.keys.iter().any(|k| k.secret_sealed) {
            return Err(TransferError::Invalid(
                "keys are marked as sealed but the export has no sealed block".into(),
            ));
        }
        Ok(Import { export, secrets })
    }

    pub fn export(&self) -> &Export {
        &self.export
    }
}

fn validate(export: &Export) -> Result<(), TransferError> {
    let invalid = |what: String, e: switchboard_router::model::Invalid| {
        TransferError::Invalid(format!("{what}: {e}"))
    };
    let mut names = BTreeSet::new();
    for p in &export.providers {
        p.validate()
            .map_err(|e| invalid(format!("provider `{}`", p.name), e))?;
        if !names.insert(p.name.as_str()) {
            return Err(TransferError::Invalid(format!(
                "provider `{}` appears twice",
                p.name
            )));
        }
    }
    let mut aliases = BTreeSet::new();
    for r in &export.routes {
        r.validate()
            .map_err(|e| invalid(format!("route `{}`", r.alias), e))?;
        if !aliases.insert(r.alias.as_str()) {
            return Err(TransferError::Invalid(format!(
                "route `{}` appears twice",
                r.alias
            )));
        }
    }
    for (i, k) in export.keys.iter().enumerate() {
        if k.weight == 0 {
            return Err(TransferError::Invalid(format!(
                "keys[{i}].weight: must be at least 1"
            )));
        }
        if k.label.trim().is_empty() {
            return Err(TransferError::Invalid(format!(
                "keys[{i}].label: must not be empty"
            )));
        }
        if k.env_ref.is_some() && k.secret_sealed {
            return Err(TransferError::Invalid(format!(
                "keys[{i}]: an env reference cannot also carry a sealed secret"
            )));
        }
    }
    if export.settings.attempt_budget == 0 {
        return Err(TransferError::Invalid(
            "settings.attempt_budget: must be at least 1".into(),
        ));
    }
    if export.settings.body_limit_bytes < 1024 {
        return Err(TransferError::Invalid(
            "settings.body_limit_bytes: must be at least 1024".into(),
        ));
    }
    Ok(())
}

/// What importing does to one item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Added,
    Changed,
    Unchanged,
    /// A key exported without its secret that is not here yet: skipped (add its secret by
    /// hand, or import an export made with secrets).
    NeedsSecret,
    /// Here but not in the export: left as it is (import never deletes).
    Kept,
}

/// One provider, route or settings block in an [`ImportPlan`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PlannedItem {
    pub name: String,
    pub change: Change,
    /// Top-level fields whose value changes (for `changed`).
    #[serde(default)]
    pub fields: Vec<String>,
}

/// One key in an [`ImportPlan`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PlannedKey {
    pub provider: String,
    pub label: String,
    /// Last four characters of the secret, when known.
    pub last4: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_ref: Option<String>,
    pub change: Change,
    #[serde(default)]
    pub fields: Vec<String>,
}

/// What an import changes, item by item. Nothing in the store is ever removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportPlan {
    pub providers: Vec<PlannedItem>,
    pub keys: Vec<PlannedKey>,
    pub routes: Vec<PlannedItem>,
    /// `settings` and `cooldowns`.
    pub settings: Vec<PlannedItem>,
    /// Existing providers whose address (scheme, host and port of `base_url`) changes: their
    /// keys would be sent to another server. Applying needs an explicit confirmation.
    #[serde(default)]
    pub host_changes: Vec<HostChange>,
}

/// A provider of this Switchboard that the import points at another server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HostChange {
    pub provider: String,
    /// `https://api.example.com` (scheme, host, port).
    pub from: String,
    pub to: String,
}

impl std::fmt::Display for HostChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} → {}", self.provider, self.from, self.to)
    }
}

/// The part of a base URL that says which server gets the key: scheme, host and port, in
/// lower case (`HTTPS://Api.Example.com:443/v1` → `https://api.example.com:443`).
pub fn origin(base_url: &str) -> String {
    let url = base_url.trim();
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // Credentials in the URL are not part of the server's name (and must not be shown).
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        host.to_ascii_lowercase()
    )
}

impl ImportPlan {
    /// Whether applying would write anything.
    pub fn has_changes(&self) -> bool {
        let writes = |c: Change| matches!(c, Change::Added | Change::Changed);
        self.providers.iter().any(|i| writes(i.change))
            || self.routes.iter().any(|i| writes(i.change))
            || self.settings.iter().any(|i| writes(i.change))
            || self.keys.iter().any(|k| writes(k.change))
    }

    /// Keys skipped because the export does not carry their secret.
    pub fn needs_secret(&self) -> impl Iterator<Item = &PlannedKey> {
        self.keys.iter().filter(|k| k.change == Change::NeedsSecret)
    }

    /// Counts of (added, changed, unchanged, needs_secret, kept) across every item.
    pub fn counts(&self) -> [usize; 5] {
        let mut out = [0; 5];
        let changes = self
            .providers
            .iter()
            .chain(&self.routes)
            .chain(&self.settings)
            .map(|i| i.change)
            .chain(self.keys.iter().map(|k| k.change));
        for c in changes {
            out[match c {
                Change::Added => 0,
                Change::Changed => 1,
                Change::Unchanged => 2,
                Change::NeedsSecret => 3,
                Change::Kept => 4,
            }] += 1;
        }
        out
    }
}

enum KeyAction {
    Add { index: usize, secret: KeySecret },
    Update { id: i64, patch: KeyPatch },
}

struct Planned {
    report: ImportPlan,
    providers: Vec<usize>,
    routes: Vec<usize>,
    settings: bool,
    cooldowns: bool,
    keys: Vec<KeyAction>,
}

/// Top-level fields whose values differ between two serialisable values.
fn changed_fields<T: Serialize>(old: &T, new: &T) -> Vec<String> {
    let (Ok(Value::Object(old)), Ok(Value::Object(new))) =
        (serde_json::to_value(old), serde_json::to_value(new))
    else {
        return vec!["(whole)".to_owned()];
    };
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    names
        .into_iter()
        .filter(|n| old.get(*n) != new.get(*n))
        .cloned()
        .collect()
}

fn item(name: &str, change: Change, fields: Vec<String>) -> PlannedItem {
    PlannedItem {
        name: name.to_owned(),
        change,
        fields,
    }
}

async fn plan(store: &Store, import: &Import) -> Result<Planned, TransferError> {
    let export = &import.export;
    let mut report = ImportPlan::default();
    let mut out_providers = Vec::new();
    let mut out_routes = Vec::new();

    let current: BTreeMap<String, Provider> = store
        .list_providers()
        .await?
        .into_iter()
        .map(|p| (p.name.clone(), p))
        .collect();
    for (i, p) in export.providers.iter().enumerate() {
        match current.get(&p.name) {
            None => {
                report.providers.push(item(&p.name, Change::Added, vec![]));
                out_providers.push(i);
            }
            Some(old) if old == p => {
                report
                    .providers
                    .push(item(&p.name, Change::Unchanged, vec![]));
            }
            Some(old) => {
                report
                    .providers
                    .push(item(&p.name, Change::Changed, changed_fields(old, p)));
                out_providers.push(i);
                let (from, to) = (origin(&old.base_url), origin(&p.base_url));
                if from != to {
                    report.host_changes.push(HostChange {
                        provider: p.name.clone(),
                        from,
                        to,
                    });
                }
            }
        }
    }
    for name in current.keys() {
        if !export.providers.iter().any(|p| &p.name == name) {
            report.providers.push(item(name, Change::Kept, vec![]));
        }
    }

    // Keys: matched within their provider by env reference or fingerprint.
    let existing: Vec<KeyInfo> = store.list_keys(None).await?;
    let mut claimed: BTreeSet<i64> = BTreeSet::new();
    let mut added: BTreeSet<(String, String)> = BTreeSet::new();
    let mut keys = Vec::new();
    for (index, k) in export.keys.iter().enumerate() {
        let in_export = export.providers.iter().any(|p| p.name == k.provider);
        if !in_export && !current.contains_key(&k.provider) {
            return Err(TransferError::Invalid(format!(
                "key `{}` belongs to provider `{}`, which is neither in the export nor here",
                k.label, k.provider
            )));
        }
        let secret = import.secrets.get(index).cloned().flatten();
        let fingerprint = secret
            .as_ref()
            .map(Secret::fingerprint)
            .unwrap_or_else(|| k.fingerprint.clone());
        let identity = match &k.env_ref {
            Some(env) => format!("env:{}", env.strip_prefix("env:").unwrap_or(env)),
            None => format!("fp:{fingerprint}"),
        };
        let found = existing.iter().find(|e| {
            e.provider == k.provider
                && !claimed.contains(&e.id)
                && match (&k.env_ref, &e.env_ref) {
                    (Some(_), Some(theirs)) => {
                        identity == format!("env:{}", theirs.strip_prefix("env:").unwrap_or(theirs))
                    }
                    (None, None) => !fingerprint.is_empty() && e.fingerprint == fingerprint,
                    _ => false,
                }
        });
        let planned = |change: Change, fields: Vec<String>| PlannedKey {
            provider: k.provider.clone(),
            label: k.label.clone(),
            last4: k.last4.clone(),
            env_ref: k.env_ref.clone(),
            change,
            fields,
        };
        match found {
            Some(e) => {
                claimed.insert(e.id);
                let mut fields = Vec::new();
                let mut patch = KeyPatch::default();
                if e.label != k.label {
                    fields.push("label".to_owned());
                    patch.label = Some(k.label.clone());
                }
                if e.weight != k.weight {
                    fields.push("weight".to_owned());
                    patch.weight = Some(k.weight);
                }
                if e.enabled != k.enabled {
                    fields.push("enabled".to_owned());
                    patch.enabled = Some(k.enabled);
                }
                if fields.is_empty() {
                    report.keys.push(planned(Change::Unchanged, fields));
                } else {
                    report.keys.push(planned(Change::Changed, fields));
                    keys.push(KeyAction::Update { id: e.id, patch });
                }
            }
            None if !added.insert((k.provider.clone(), identity.clone())) => {
                // The same key twice in the export: the first one carries it.
                report.keys.push(planned(
                    Change::Unchanged,
                    vec!["duplicate in the export".into()],
                ));
            }
            None => match (&k.env_ref, secret) {
                (Some(env), _) => {
                    report.keys.push(planned(Change::Added, vec![]));
                    keys.push(KeyAction::Add {
                        index,
                        secret: KeySecret::Env(env.clone()),
                    });
                }
                (None, Some(secret)) => {
                    report.keys.push(planned(Change::Added, vec![]));
                    keys.push(KeyAction::Add {
                        index,
                        secret: KeySecret::Literal(secret),
                    });
                }
                (None, None) => {
                    added.remove(&(k.provider.clone(), identity));
                    report.keys.push(planned(Change::NeedsSecret, vec![]));
                }
            },
        }
    }

    let current_routes: BTreeMap<String, Route> = store
        .list_routes()
        .await?
        .into_iter()
        .map(|r| (r.alias.clone(), r))
        .collect();
    for (i, r) in export.routes.iter().enumerate() {
        match current_routes.get(&r.alias) {
            None => {
                report.routes.push(item(&r.alias, Change::Added, vec![]));
                out_routes.push(i);
            }
            Some(old) if old == r => {
                report
                    .routes
                    .push(item(&r.alias, Change::Unchanged, vec![]));
            }
            Some(old) => {
                report
                    .routes
                    .push(item(&r.alias, Change::Changed, changed_fields(old, r)));
                out_routes.push(i);
            }
        }
    }
    for alias in current_routes.keys() {
        if !export.routes.iter().any(|r| &r.alias == alias) {
            report.routes.push(item(alias, Change::Kept, vec![]));
        }
    }

    let settings_now = store.get_settings().await?;
    let settings = settings_now != export.settings;
    report.settings.push(if settings {
        item(
            "settings",
            Change::Changed,
            changed_fields(&settings_now, &export.settings),
        )
    } else {
        item("settings", Change::Unchanged, vec![])
    });
    let mut cooldowns = false;
    let cooldowns_now: CooldownPolicy = store
        .get_value(crate::settings::COOLDOWNS)
        .await?
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    match &export.cooldowns {
        Some(c) if *c != cooldowns_now => {
            cooldowns = true;
            report.settings.push(item(
                "cooldowns",
                Change::Changed,
                changed_fields(&cooldowns_now, c),
            ));
        }
        Some(_) => report
            .settings
            .push(item("cooldowns", Change::Unchanged, vec![])),
        None => report
            .settings
            .push(item("cooldowns", Change::Kept, vec![])),
    }

    Ok(Planned {
        report,
        providers: out_providers,
        routes: out_routes,
        settings,
        cooldowns,
        keys,
    })
}

impl Control {
    /// Exports the configuration; keys' secrets only with a passphrase, sealed with it.
    pub async fn export(&self, passphrase: Option<&Secret>) -> Result<Export, TransferError> {
        export(&self.store, passphrase).await
    }

    /// What importing would change; writes nothing.
    pub async fn plan_import(&self, import: &Import) -> Result<ImportPlan, TransferError> {
        self.refuse_loops(import)?;
        Ok(plan(&self.store, import).await?.report)
    }

    /// An imported provider may not point at this router's own listen address either.
    fn refuse_loops(&self, import: &Import) -> Result<(), TransferError> {
        let Some(addr) = self.listen_addr() else {
            return Ok(());
        };
        match import.export.providers.iter().find(|p| p.points_at(addr)) {
            Some(p) => Err(TransferError::Invalid(format!(
                "provider `{}`: base_url points at this Switchboard ({addr}): every request would come back to it",
                p.name
            ))),
            None => Ok(()),
        }
    }

    /// Applies the import (never deletes anything) and swaps the snapshot, also after a
    /// partial failure, so routing matches what the store now holds. When the import points
    /// existing providers at other servers ([`ImportPlan::host_changes`]), `accept_new_hosts`
    /// must say the user saw and accepted that; otherwise nothing is written.
    pub async fn import(
        &self,
        import: &Import,
        accept_new_hosts: bool,
    ) -> Result<ImportPlan, TransferError> {
        self.refuse_loops(import)?;
        let applied = self
            .edit(async |store| {
                let planned = plan(store, import).await?;
                if !accept_new_hosts && !planned.report.host_changes.is_empty() {
                    let hosts: Vec<String> = planned
                        .report
                        .host_changes
                        .iter()
                        .map(ToString::to_string)
                        .collect();
                    return Err(TransferError::HostsNotConfirmed(hosts.join(", ")));
                }
                apply_planned(store, import, planned).await
            })
            .await?;
        tracing::info!(
            providers = import.export().providers.len(),
            routes = import.export().routes.len(),
            "configuration imported"
        );
        Ok(applied)
    }
}

/// Proxy credentials are not exported: an export names them by their secret-store id, which
/// only the Switchboard it came from holds. A reference this one does not hold for the same
/// setting is dropped (the credentials are entered again after the import).
fn keep_only_own_credential(proxy: &mut ProxySetting, here: Option<&ProxySetting>) {
    let held = here.and_then(|h| h.credential_ref.as_ref());
    if proxy.credential_ref.as_ref() != held {
        proxy.credential_ref = None;
    }
}

/// Applies a plan made under the same edit lock (providers, then keys, routes and settings)
/// and returns what it did.
async fn apply_planned(
    store: &Store,
    import: &Import,
    planned: Planned,
) -> Result<ImportPlan, TransferError> {
    let export = &import.export;
    for &i in &planned.providers {
        if let Some(p) = export.providers.get(i) {
            let mut p = p.clone();
            let here = store.get_provider(&p.name).await?.and_then(|h| h.proxy);
            if let Some(proxy) = &mut p.proxy {
                keep_only_own_credential(proxy, here.as_ref());
            }
            store.upsert_provider(&p).await?;
        }
    }
    for action in planned.keys {
        match action {
            KeyAction::Add { index, secret } => {
                if let Some(k) = export.keys.get(index) {
                    store
                        .add_key(&k.provider, &k.label, secret, k.weight, k.enabled)
                        .await?;
                }
            }
            KeyAction::Update { id, patch } => {
                store.update_key(id, patch).await?;
            }
        }
    }
    for &i in &planned.routes {
        if let Some(r) = export.routes.get(i) {
            store.upsert_route(r).await?;
        }
    }
    if planned.settings {
        let mut settings = export.settings.clone();
        let here = store.get_settings().await?.proxy;
        keep_only_own_credential(&mut settings.proxy, Some(&here));
        store.put_settings(&settings).await?;
    }
    if let Some(c) = export.cooldowns.as_ref().filter(|_| planned.cooldowns) {
        let v = serde_json::to_value(c)
            .map_err(|_| TransferError::Invalid("cooldowns cannot be encoded".into()))?;
        store.put_value(crate::settings::COOLDOWNS, &v).await?;
    }
    Ok(planned.report)
}
