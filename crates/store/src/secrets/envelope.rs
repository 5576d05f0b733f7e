//! The one AEAD routine: XChaCha20-Poly1305 with a fresh random nonce per sealing, keys
//! either given (32 bytes) or derived from a passphrase with Argon2id. Used by the secrets
//! file ([`super::EncryptedFileStore`]) and by sealed configuration exports.

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use zeroize::Zeroizing;

pub const KEY_LEN: usize = 32;
pub const NONCE_LEN: usize = 24;
/// Poly1305 tag appended to every ciphertext.
pub const TAG_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("encryption failed")]
    Seal,
    /// A wrong key and tampered data fail the same way.
    #[error("wrong key or corrupted data")]
    Open,
    #[error("deriving the key: {0}")]
    Kdf(String),
}

/// Argon2id cost, stored beside what it sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    pub m_cost_kib: u32,
    pub t_cost: u32,
    pub p_cost: u32,
}

/// A key from a passphrase and a salt: Argon2id with `params`, or Argon2's defaults.
pub fn derive_key(
    passphrase: &[u8],
    salt: &[u8],
    params: Option<KdfParams>,
) -> Result<Zeroizing<[u8; KEY_LEN]>, EnvelopeError> {
    let argon = match params {
        Some(p) => {
            let params = Params::new(p.m_cost_kib, p.t_cost, p.p_cost, Some(KEY_LEN))
                .map_err(|e| EnvelopeError::Kdf(e.to_string()))?;
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        }
        None => Argon2::default(),
    };
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    argon
        .hash_password_into(passphrase, salt, key.as_mut())
        .map_err(|e| EnvelopeError::Kdf(e.to_string()))?;
    Ok(key)
}

/// `N` random bytes (salts, nonces).
pub fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand::rng().fill_bytes(&mut out);
    out
}

/// Encrypts `plain` under `key`, authenticating `aad` too; returns the fresh nonce and the
/// ciphertext with its tag.
pub fn seal(
    key: &[u8; KEY_LEN],
    aad: &[u8],
    plain: &[u8],
) -> Result<([u8; NONCE_LEN], Vec<u8>), EnvelopeError> {
    let nonce = random::<NONCE_LEN>();
    let sealed = XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(key))
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad })
        .map_err(|_| EnvelopeError::Seal)?;
    Ok((nonce, sealed))
}

/// Decrypts what [`seal`] made; fails when the key, the nonce, the AAD or a byte differs.
pub fn open(
    key: &[u8; KEY_LEN],
    nonce: &[u8],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
    if nonce.len() != NONCE_LEN {
        return Err(EnvelopeError::Open);
    }
    XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(key))
        .decrypt(XNonce::from_slice(nonce), Payload { msg: sealed, aad })
        .map(Zeroizing::new)
        .map_err(|_| EnvelopeError::Open)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_tamper_fails() {
        let key = derive_key(b"passphrase", b"0123456789abcdef", None).unwrap();
        let (nonce, sealed) = seal(&key, b"aad", b"secret").unwrap();
        assert_eq!(sealed.len(), b"secret".len() + TAG_LEN);
        assert_eq!(&open(&key, &nonce, b"aad", &sealed).unwrap()[..], b"secret");
        assert!(open(&key, &nonce, b"other", &sealed).is_err());
        let mut bad = sealed.clone();
        bad[0] ^= 1;
        assert!(open(&key, &nonce, b"aad", &bad).is_err());
        let other = derive_key(b"passphrase", b"fedcba9876543210", None).unwrap();
        assert!(open(&other, &nonce, b"aad", &sealed).is_err());
        assert!(open(&key, &nonce[1..], b"aad", &sealed).is_err());
        let (nonce2, _) = seal(&key, b"aad", b"secret").unwrap();
        assert_ne!(nonce, nonce2, "a fresh nonce every time");
        let cheap = KdfParams {
            m_cost_kib: 64,
            t_cost: 1,
            p_cost: 1,
        };
        assert_ne!(
            *derive_key(b"p", b"0123456789abcdef", Some(cheap)).unwrap(),
            *derive_key(b"p", b"0123456789abcdef", None).unwrap()
        );
    }
}
