//! Sealing secrets at rest (SPEC §10): AES-256-GCM under a key derived per write with
//! HKDF-SHA256 from the master secret and a fresh random salt, with a fresh random nonce, and
//! associated data that binds the ciphertext to where it belongs (org, name, version; a signing
//! key's id), so a sealed value moved elsewhere does not open.
//!
//! Blob layout: `v1` (1 byte = 1) ‖ salt (16) ‖ nonce (12) ‖ ciphertext with tag.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::random::{self, Random};
use crate::secret::MasterSecret;
use crate::{Error, Result};

const VERSION: u8 = 1;
const SALT: usize = 16;
const NONCE: usize = 12;

fn record_key(master: &MasterSecret, salt: &[u8]) -> Result<Aes256Gcm> {
    let hk = Hkdf::<Sha256>::new(Some(salt), master.expose_for_derivation());
    let mut okm = Zeroizing::new([0u8; 32]);
    hk.expand(b"gatehouse/vault/v1", okm.as_mut_slice())
        .map_err(Error::internal)?;
    let key = Key::<Aes256Gcm>::try_from(&okm[..]).map_err(Error::internal)?;
    Ok(Aes256Gcm::new(&key))
}

/// Seals `plaintext` for the place `aad` names, with salt and nonce from `random`.
pub fn seal(
    master: &MasterSecret,
    random: &dyn Random,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let salt = random::bytes::<SALT>(random)?;
    let nonce = random::bytes::<NONCE>(random)?;
    let cipher = record_key(master, &salt)?;
    let n = Nonce::try_from(&nonce[..]).map_err(Error::internal)?;
    let ct = cipher
        .encrypt(
            &n,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| Error::internal("sealing failed"))?;
    let mut blob = Vec::with_capacity(1 + SALT + NONCE + ct.len());
    blob.push(VERSION);
    blob.extend_from_slice(&salt);
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&ct);
    Ok(blob)
}

/// Opens a sealed blob with the current master secret or, failing that, a previous one. The
/// plaintext is wiped when the caller drops it.
pub fn open(masters: &[&MasterSecret], aad: &[u8], blob: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    if blob.len() < 1 + SALT + NONCE + 16 || blob[0] != VERSION {
        return Err(Error::internal("sealed value is malformed"));
    }
    let (salt, rest) = blob[1..].split_at(SALT);
    let (nonce, ct) = rest.split_at(NONCE);
    let n = Nonce::try_from(nonce).map_err(Error::internal)?;
    for master in masters {
        if let Ok(plain) = record_key(master, salt)?.decrypt(&n, Payload { msg: ct, aad }) {
            return Ok(Zeroizing::new(plain));
        }
    }
    Err(Error::Unsealable)
}

/// A short public name of a master secret (hex of 8 bytes of HMAC-SHA256 under it): stored
/// beside what it sealed so re-encryption knows what is left, and reveals nothing of it.
#[must_use]
pub fn fingerprint(master: &MasterSecret) -> String {
    let mac = crate::secret::hmac_sha256(
        master.expose_for_derivation(),
        &[b"gatehouse/master-secret-fingerprint/v1"],
    );
    mac[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The master secrets a process holds: the current one seals, every one opens.
#[derive(Clone)]
pub struct Keyring {
    current: MasterSecret,
    current_id: String,
    previous: Vec<(MasterSecret, String)>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current_id)
            .field("previous", &self.previous.len())
            .finish()
    }
}

/// What [`Keyring::open`] found.
pub struct Opened {
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The value was sealed by the current secret (nothing to re-seal).
    pub current: bool,
}

impl Keyring {
    #[must_use]
    pub fn new(current: MasterSecret, previous: Vec<MasterSecret>) -> Self {
        let current_id = fingerprint(&current);
        let previous = previous
            .into_iter()
            .map(|m| {
                let id = fingerprint(&m);
                (m, id)
            })
            .filter(|(_, id)| *id != current_id)
            .collect();
        Self {
            current,
            current_id,
            previous,
        }
    }

    /// The fingerprint of the secret that seals.
    #[must_use]
    pub fn current_id(&self) -> &str {
        &self.current_id
    }

    /// Seals under the current secret.
    pub fn seal(&self, random: &dyn Random, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        seal(&self.current, random, aad, plaintext)
    }

    /// Opens with the secret `sealed_by` names first (when known), then every other one.
    pub fn open(&self, sealed_by: Option<&str>, aad: &[u8], blob: &[u8]) -> Result<Opened> {
        let mut order: Vec<(&MasterSecret, &str)> =
            std::iter::once((&self.current, &*self.current_id))
                .chain(self.previous.iter().map(|(m, id)| (m, id.as_str())))
                .collect();
        if let Some(hint) = sealed_by
            && let Some(at) = order.iter().position(|(_, id)| *id == hint)
        {
            order.swap(0, at);
        }
        for (master, id) in order {
            if let Ok(plaintext) = open(&[master], aad, blob) {
                return Ok(Opened {
                    plaintext,
                    current: id == self.current_id,
                });
            }
        }
        Err(Error::Unsealable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_bindings() {
        let m = MasterSecret::new(vec![1; 32]);
        let other = MasterSecret::new(vec![2; 32]);
        let random = crate::random::SystemRandom;
        let a = seal(&m, &random, b"org-a/db-password/1", b"hunter2").unwrap();
        let b = seal(&m, &random, b"org-a/db-password/1", b"hunter2").unwrap();
        assert_ne!(a, b, "fresh salt and nonce per write");
        assert!(!a.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(
            open(&[&m], b"org-a/db-password/1", &a).unwrap().as_slice(),
            b"hunter2"
        );
        assert!(
            open(&[&m], b"org-b/db-password/1", &a).is_err(),
            "moved to another place"
        );
        assert!(
            open(&[&other], b"org-a/db-password/1", &a).is_err(),
            "another master secret"
        );
        assert_eq!(
            open(&[&other, &m], b"org-a/db-password/1", &a)
                .unwrap()
                .as_slice(),
            b"hunter2",
            "a previous secret"
        );
        let mut tampered = a;
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(open(&[&m], b"org-a/db-password/1", &tampered).is_err());
    }
}
