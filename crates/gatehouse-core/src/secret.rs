//! The master secret and the keys derived from it; `Debug` never shows the value.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Minimum length of the master secret, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;
/// Fewest distinct byte values a production secret may hold (SPEC §1).
pub const MIN_DISTINCT_BYTES: usize = 16;

/// The master secret. Its only exits are key derivations.
#[derive(Clone)]
pub struct MasterSecret(Vec<u8>);

impl std::fmt::Debug for MasterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterSecret([redacted])")
    }
}

impl Drop for MasterSecret {
    fn drop(&mut self) {
        self.0.iter_mut().for_each(|b| *b = 0);
    }
}

impl MasterSecret {
    pub fn new(bytes: Vec<u8>) -> Self {
        MasterSecret(bytes)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many different byte values the secret holds (32 × `a` has one): a secret with fewer
    /// than [`MIN_DISTINCT_BYTES`] is visibly without entropy.
    pub fn distinct_bytes(&self) -> usize {
        let mut seen = [false; 256];
        self.0.iter().for_each(|b| seen[usize::from(*b)] = true);
        seen.iter().filter(|s| **s).count()
    }

    /// The raw bytes, for key derivation only (HKDF in the vault).
    pub(crate) fn expose_for_derivation(&self) -> &[u8] {
        &self.0
    }

    /// A 256-bit key for one purpose: HMAC-SHA256(secret, "gatehouse/" + purpose).
    pub fn derive(&self, purpose: &str) -> DerivedKey {
        DerivedKey(hmac_sha256(&self.0, &[b"gatehouse/", purpose.as_bytes()]))
    }
}

/// HMAC-SHA256 over the concatenation of `parts`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length (RFC 2104), so this constructor cannot fail.
    #[allow(clippy::expect_used)]
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// A purpose-bound key derived from the master secret.
#[derive(Clone)]
pub struct DerivedKey([u8; 32]);

impl std::fmt::Debug for DerivedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DerivedKey([redacted])")
    }
}

impl DerivedKey {
    pub fn mac(&self, data: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.0, &[data])
    }
}
