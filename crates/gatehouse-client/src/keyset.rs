//! Reading gatehouse's JWKS document: the Ed25519 signing keys (`kty: OKP`, `crv: Ed25519`)
//! by `kid`, decompressed once. Entries of another kind, or meant for something other than
//! EdDSA signatures, are skipped.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::VerifyingKey;
use serde::Deserialize;

use crate::jws::ALGORITHM;

/// Public keys by `kid`.
pub(crate) type KeysById = HashMap<String, VerifyingKey>;

#[derive(Deserialize)]
struct Document {
    keys: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    kty: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    kid: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    alg: Option<String>,
}

impl Entry {
    fn signing_key(&self) -> Option<(String, VerifyingKey)> {
        let is_ed25519 =
            self.kty.as_deref() == Some("OKP") && self.crv.as_deref() == Some("Ed25519");
        let for_signatures = self.usage.as_deref().is_none_or(|u| u == "sig");
        let for_eddsa = self.alg.as_deref().is_none_or(|a| a == ALGORITHM);
        if !(is_ed25519 && for_signatures && for_eddsa) {
            return None;
        }
        let bytes: [u8; 32] = URL_SAFE_NO_PAD
            .decode(self.x.as_deref()?)
            .ok()?
            .try_into()
            .ok()?;
        let key = VerifyingKey::from_bytes(&bytes).ok()?;
        Some((self.kid.clone()?, key))
    }
}

/// The usable keys of a JWKS document, or why it is not one.
pub(crate) fn parse_key_set(json: &[u8]) -> Result<KeysById, String> {
    let doc: Document =
        serde_json::from_slice(json).map_err(|e| format!("not a JWKS document: {e}"))?;
    Ok(doc.keys.iter().filter_map(Entry::signing_key).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn x(seed: u8) -> String {
        let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes())
    }

    #[test]
    fn keeps_only_ed25519_signing_keys() {
        let doc = json!({ "keys": [
            { "kty": "OKP", "crv": "Ed25519", "x": x(1), "kid": "a", "use": "sig", "alg": "EdDSA" },
            { "kty": "OKP", "crv": "Ed25519", "x": x(2), "kid": "bare" },
            { "kty": "OKP", "crv": "Ed25519", "x": x(3), "kid": "enc", "use": "enc" },
            { "kty": "OKP", "crv": "X25519", "x": x(4), "kid": "dh" },
            { "kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "rsa" },
            { "kty": "OKP", "crv": "Ed25519", "x": "c2hvcnQ", "kid": "short" },
            { "kty": "OKP", "crv": "Ed25519", "x": x(5) },
        ]});
        let keys = parse_key_set(doc.to_string().as_bytes()).unwrap();
        let mut kids: Vec<&str> = keys.keys().map(String::as_str).collect();
        kids.sort_unstable();
        assert_eq!(kids, ["a", "bare"]);
    }

    #[test]
    fn refuses_what_is_not_a_key_set() {
        assert!(parse_key_set(b"{}").is_err());
        assert!(parse_key_set(b"<html>").is_err());
    }
}
