//! The master secret and the keys derived from it: held in `secrecy`/`zeroize` wrappers (wiped
//! on drop), and `Debug` never shows the value.

use hmac::{Hmac, KeyInit, Mac};
use secrecy::SecretSlice;
/// Plaintext credentials while gatehouse holds them (wiped on drop, `[REDACTED]` in `Debug`);
/// re-exported so the other crates need no `secrecy` of their own.
pub use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Minimum length of the master secret, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;
/// Fewest distinct byte values a production secret may hold (SPEC §1).
pub const MIN_DISTINCT_BYTES: usize = 16;

/// The master secret. Its only exits are key derivations.
#[derive(Clone)]
pub struct MasterSecret(SecretSlice<u8>);

impl std::fmt::Debug for MasterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterSecret([redacted])")
    }
}

impl MasterSecret {
    #[must_use]
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(SecretSlice::from(bytes))
    }

    fn bytes(&self) -> &[u8] {
        self.0.expose_secret()
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.bytes().len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bytes().is_empty()
    }

    /// How many different byte values the secret holds (32 × `a` has one): a secret with fewer
    /// than [`MIN_DISTINCT_BYTES`] is visibly without entropy.
    #[must_use]
    pub fn distinct_bytes(&self) -> usize {
        let mut seen = [false; 256];
        self.bytes()
            .iter()
            .for_each(|b| seen[usize::from(*b)] = true);
        seen.iter().filter(|s| **s).count()
    }

    /// The raw bytes, for key derivation only (HKDF in the vault).
    pub(crate) fn expose_for_derivation(&self) -> &[u8] {
        self.bytes()
    }

    /// A 256-bit key for one purpose: HMAC-SHA256(secret, "gatehouse/" + purpose).
    #[must_use]
    pub fn derive(&self, purpose: &str) -> DerivedKey {
        DerivedKey(Zeroizing::new(hmac_sha256(
            self.bytes(),
            &[b"gatehouse/", purpose.as_bytes()],
        )))
    }
}

/// HMAC-SHA256 over the concatenation of `parts`.
#[must_use]
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length (RFC 2104), so this constructor cannot fail.
    #[allow(clippy::expect_used)]
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// A purpose-bound key derived from the master secret.
#[derive(Clone)]
pub struct DerivedKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for DerivedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DerivedKey([redacted])")
    }
}

impl DerivedKey {
    #[must_use]
    pub fn mac(&self, data: &[u8]) -> [u8; 32] {
        hmac_sha256(self.0.as_slice(), &[data])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let master = MasterSecret::new(b"correct-horse-battery-staple-0123456789".to_vec());
        let key = master.derive("csrf/v1");
        let shown = format!("{master:?} {key:?} {master:#?} {key:#?}");
        assert!(shown.contains("[redacted]"), "{shown}");
        assert!(!shown.contains("correct-horse"), "{shown}");
        // Neither the secret's text nor the derived key's bytes (a list of numbers).
        assert!(!shown.chars().any(|c| c.is_ascii_digit()), "{shown}");
    }
}
