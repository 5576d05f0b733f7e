//! API keys and access tokens as a type: masked in Debug/Display, not `Serialize`, zeroed on
//! drop, readable only through [`Secret::expose`].

use std::fmt;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// A secret string. There is deliberately no `Serialize` impl: writing a secret anywhere
/// requires calling [`Secret::expose`], which is easy to find in review.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Zeroizing::new(value.into()))
    }

    /// The secret's value. Call sites are the only places a secret leaves this type.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A stable, non-reversible identifier to show users ("which key is this?"):
    /// the first 12 hex digits of SHA-256.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.0.as_bytes());
        hex::encode(&digest[..6])
    }

    /// The last four characters, as providers' dashboards show them; shorter secrets show none.
    pub fn last4(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        if chars.len() < 12 {
            return String::new();
        }
        chars[chars.len() - 4..].iter().collect()
    }

    /// Constant-time comparison, for checking presented tokens.
    pub fn ct_eq(&self, presented: &[u8]) -> bool {
        let expected = Sha256::digest(self.0.as_bytes());
        let got = Sha256::digest(presented);
        // Comparing fixed-length digests byte-wise with a fold takes the same time for every input.
        expected
            .iter()
            .zip(got.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_its_value() {
        let s = Secret::new("sk-CANARY-1234567890abcdef");
        assert_eq!(format!("{s:?}"), "Secret(****)");
        assert_eq!(format!("{s}"), "****");
        assert!(!format!("{:?}", Some(&s)).contains("CANARY"));
        assert_eq!(s.last4(), "cdef");
        assert_eq!(s.fingerprint().len(), 12);
        assert!(s.ct_eq(b"sk-CANARY-1234567890abcdef"));
        assert!(!s.ct_eq(b"sk-CANARY-1234567890abcdeX"));
        assert_eq!(Secret::new("short").last4(), "");
    }
}
