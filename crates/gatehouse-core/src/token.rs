//! Opaque credentials: random 256-bit tokens, their SHA-256 digests, CSRF tokens, and
//! constant-time comparison.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::Result;
use crate::ids::SessionId;
use crate::random::{self, Random};
use crate::secret::DerivedKey;

/// 32 bytes from `random` (in production the OS CSPRNG), base64url without padding (43
/// characters).
pub fn random_token(random: &dyn Random) -> Result<String> {
    Ok(B64URL.encode(random::bytes::<32>(random)?))
}

/// The digest stored in place of a token.
#[must_use]
pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Hex SHA-256 of a token.
#[must_use]
pub fn digest_hex(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// True when `token` has the shape of a session/setup token (43 base64url characters).
#[must_use]
pub fn looks_like_token(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// API keys start with this, so secret scanners and the `Authorization` parser recognise them.
pub const API_KEY_PREFIX: &str = "gk_";
const PUBLIC_ID_LEN: usize = 12;
const API_KEY_SECRET_LEN: usize = 43;
/// `gk_` + public id: the part of a key shown in lists (`prefix`).
pub const API_KEY_SHOWN_LEN: usize = 3 + PUBLIC_ID_LEN;

/// Personal access tokens start with this (SPEC §18).
pub const PERSONAL_TOKEN_PREFIX: &str = "gpat_";
/// The published shape of a personal access token.
pub const PERSONAL_TOKEN_REGEX: &str = "^gpat_[0-9a-z]{12}_[0-9A-Za-z]{43}$";

/// A new `<prefix><12 [0-9a-z]>_<secret_len base62>`; returns (public id, key).
fn new_prefixed(random: &dyn Random, prefix: &str, secret_len: usize) -> Result<(String, String)> {
    const LOWER36: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let public_id = random::string_from(random, LOWER36, PUBLIC_ID_LEN)?;
    // Uniform over [0-9A-Za-z]: 43 characters carry 43 * log2(62) > 256 bits.
    let secret = random::string_from(random, BASE62, secret_len)?;
    Ok((public_id.clone(), format!("{prefix}{public_id}_{secret}")))
}

/// The public id of a well-formed `<prefix><12 [0-9a-z]>_<secret_len base62>`, else `None`.
fn prefixed_public_id<'a>(key: &'a str, prefix: &str, secret_len: usize) -> Option<&'a str> {
    let rest = key.strip_prefix(prefix)?;
    let (public_id, secret) = rest.split_once('_')?;
    let id_ok = public_id.len() == PUBLIC_ID_LEN
        && public_id
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
    let secret_ok = secret.len() == secret_len && secret.bytes().all(|b| b.is_ascii_alphanumeric());
    (id_ok && secret_ok).then_some(public_id)
}

/// A new API key `gk_<12 [0-9a-z]>_<43 base62>` (a 256-bit secret); returns (public id, key).
pub fn new_api_key(random: &dyn Random) -> Result<(String, String)> {
    new_prefixed(random, API_KEY_PREFIX, API_KEY_SECRET_LEN)
}

/// The public id of a well-formed API key (`^gk_[0-9a-z]{12}_[0-9A-Za-z]{43}$`), else `None`.
#[must_use]
pub fn api_key_public_id(key: &str) -> Option<&str> {
    prefixed_public_id(key, API_KEY_PREFIX, API_KEY_SECRET_LEN)
}

/// A new personal access token (see [`PERSONAL_TOKEN_REGEX`]); returns (public id, token).
pub fn new_personal_token(random: &dyn Random) -> Result<(String, String)> {
    new_prefixed(random, PERSONAL_TOKEN_PREFIX, API_KEY_SECRET_LEN)
}

/// The public id of a well-formed personal access token, else `None`.
#[must_use]
pub fn personal_token_public_id(token: &str) -> Option<&str> {
    prefixed_public_id(token, PERSONAL_TOKEN_PREFIX, API_KEY_SECRET_LEN)
}

/// Constant-time equality of two byte strings.
#[must_use]
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// base64url(HMAC-SHA256(csrf key, session id)).
#[must_use]
pub fn csrf_token(key: &DerivedKey, session: SessionId) -> String {
    B64URL.encode(key.mac(session.0.as_bytes()))
}

/// Checks a presented CSRF token for a session, in constant time.
#[must_use]
pub fn csrf_matches(key: &DerivedKey, session: SessionId, presented: &str) -> bool {
    ct_eq(csrf_token(key, session).as_bytes(), presented.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_tokens_have_their_published_shape() {
        let (public_id, t) = new_personal_token(&SystemRandom).unwrap_or_default();
        assert!(t.starts_with("gpat_") && t.len() == 5 + 12 + 1 + 43, "{t}");
        assert_eq!(personal_token_public_id(&t), Some(public_id.as_str()));
        assert_eq!(api_key_public_id(&t), None, "not an API key");
        let key = super::new_api_key(&SystemRandom).unwrap_or_default().1;
        assert_eq!(personal_token_public_id(&key), None, "not a personal token");
        assert_eq!(personal_token_public_id(&t[..t.len() - 1]), None);
        assert_eq!(
            personal_token_public_id(&t.replace("gpat_", "gpat_X")),
            None
        );
    }
    use crate::random::SystemRandom;
    use crate::secret::MasterSecret;

    fn random_token() -> String {
        super::random_token(&SystemRandom).unwrap()
    }

    fn new_api_key() -> (String, String) {
        super::new_api_key(&SystemRandom).unwrap()
    }

    #[test]
    fn tokens_are_random_and_shaped() {
        let a = random_token();
        assert!(looks_like_token(&a));
        assert_ne!(a, random_token());
        assert_eq!(digest(&a).len(), 32);
    }

    #[test]
    fn api_keys_have_the_documented_shape() {
        for _ in 0..200 {
            let (public_id, key) = new_api_key();
            assert_eq!(key.len(), 3 + 12 + 1 + 43);
            assert_eq!(api_key_public_id(&key), Some(public_id.as_str()));
            assert!(key.starts_with(&format!("gk_{public_id}_")));
        }
        let (_, key) = new_api_key();
        for bad in [
            key.replace("gk_", "gx_"),
            format!("{key}a"),
            key[..key.len() - 1].to_owned(),
            key.to_uppercase(),
            key.replacen('_', "-", 2),
            String::new(),
        ] {
            assert_eq!(api_key_public_id(&bad), None, "{bad}");
        }
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
