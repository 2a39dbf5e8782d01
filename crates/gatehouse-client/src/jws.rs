//! The compact-JWS rules gatehouse itself applies: three base64url parts, `alg` exactly
//! `EdDSA`, the expected `typ` (compared ignoring case), no header that points at or carries
//! a key (`jku`, `jwk`, `x5u`, `x5c`) or marks fields critical, a `kid`, then a strict Ed25519
//! signature over the first two parts.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::VerifyError;

/// The only signing algorithm accepted.
pub(crate) const ALGORITHM: &str = "EdDSA";

/// Header members that would let a token choose its own key.
const KEY_BEARING_HEADERS: [&str; 5] = ["jku", "jwk", "x5u", "x5c", "crit"];

/// A token whose header passed, waiting for its key.
#[derive(Debug)]
pub(crate) struct Unverified<'t> {
    pub kid: String,
    signing_input: &'t str,
    payload: &'t str,
    signature: &'t str,
}

fn decode_json(part: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn check_header(header: &Map<String, Value>, types: &[&str]) -> Result<String, VerifyError> {
    if header.get("alg").and_then(Value::as_str) != Some(ALGORITHM) {
        return Err(VerifyError::Algorithm);
    }
    let typ = header
        .get("typ")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase);
    if !typ.is_some_and(|t| types.contains(&t.as_str())) {
        return Err(VerifyError::WrongType);
    }
    if KEY_BEARING_HEADERS.iter().any(|k| header.contains_key(*k)) {
        return Err(VerifyError::ForbiddenHeader);
    }
    header
        .get("kid")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or(VerifyError::UnknownKey)
}

/// Splits `token` and applies the header rules for a token of one of `types`.
pub(crate) fn parse<'t>(token: &'t str, types: &[&str]) -> Result<Unverified<'t>, VerifyError> {
    let mut parts = token.split('.');
    let (Some(encoded_header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VerifyError::Malformed);
    };
    let header = decode_json(encoded_header).ok_or(VerifyError::Malformed)?;
    let header = header.as_object().ok_or(VerifyError::Malformed)?;
    let kid = check_header(header, types)?;
    Ok(Unverified {
        kid,
        signing_input: &token[..encoded_header.len() + 1 + payload.len()],
        payload,
        signature,
    })
}

impl Unverified<'_> {
    /// Checks the signature with `key` and decodes the claims (not yet judged).
    pub(crate) fn verify<T: DeserializeOwned>(&self, key: &VerifyingKey) -> Result<T, VerifyError> {
        let signature: [u8; 64] = URL_SAFE_NO_PAD
            .decode(self.signature)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(VerifyError::Signature)?;
        key.verify_strict(
            self.signing_input.as_bytes(),
            &Signature::from_bytes(&signature),
        )
        .map_err(|_| VerifyError::Signature)?;
        let claims = decode_json(self.payload).ok_or(VerifyError::Malformed)?;
        serde_json::from_value(claims).map_err(|_| VerifyError::Malformed)
    }
}
