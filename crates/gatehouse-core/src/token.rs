//! Opaque credentials: random 256-bit tokens, their SHA-256 digests, CSRF tokens, and
//! constant-time comparison.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ids::SessionId;
use crate::secret::DerivedKey;

/// 32 random bytes from the thread-local CSPRNG (ChaCha, seeded by the OS), base64url without padding (43 characters).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    B64URL.encode(bytes)
}

/// The digest stored in place of a token.
pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Hex SHA-256 of a token.
pub fn digest_hex(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// True when `token` has the shape of a session/setup token (43 base64url characters).
pub fn looks_like_token(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Constant-time equality of two byte strings.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// base64url(HMAC-SHA256(csrf key, session id)).
pub fn csrf_token(key: &DerivedKey, session: SessionId) -> String {
    B64URL.encode(key.mac(session.0.as_bytes()))
}

/// Checks a presented CSRF token for a session, in constant time.
pub fn csrf_matches(key: &DerivedKey, session: SessionId, presented: &str) -> bool {
    ct_eq(csrf_token(key, session).as_bytes(), presented.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::MasterSecret;

    #[test]
    fn tokens_are_random_and_shaped() {
        let a = random_token();
        assert!(looks_like_token(&a));
        assert_ne!(a, random_token());
        assert_eq!(digest(&a).len(), 32);
    }

    #[test]
    fn csrf_is_bound_to_session_and_key() {
        let key = MasterSecret::new(vec![7; 32]).derive("csrf");
        let other_key = MasterSecret::new(vec![8; 32]).derive("csrf");
        let (s1, s2) = (SessionId::new(), SessionId::new());
        let t = csrf_token(&key, s1);
        assert!(csrf_matches(&key, s1, &t));
        assert!(!csrf_matches(&key, s2, &t));
        assert!(!csrf_matches(&other_key, s1, &t));
        assert!(!csrf_matches(&key, s1, ""));
    }
}
