//! Access tokens: JWTs in the RFC 9068 profile (`typ: at+jwt`), signed EdDSA (Ed25519) with a
//! `kid`. Verification accepts exactly that: any other `alg` (`none`, HS256 keyed with the
//! public key…), an unknown `kid`, a header that asks to fetch or embed keys, a bad signature,
//! the wrong issuer or audience, or a token outside its validity (30 s leeway) is refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The only algorithm gatehouse signs with or accepts.
pub const ALG: &str = "EdDSA";
/// RFC 9068 access-token type.
pub const TYP: &str = "at+jwt";
/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: i64 = 30;

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    pub scope: String,
    /// The refresh family the token came from.
    pub sid: String,
    pub jti: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

/// Why a token was refused (all `401`; `Expired` answers `token_expired`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtError {
    Malformed,
    Algorithm,
    UnknownKey,
    Signature,
    Issuer,
    Audience,
    Expired,
    NotYetValid,
}

/// A private signing key with its id.
pub struct Signer25519 {
    pub kid: String,
    key: SigningKey,
}

impl std::fmt::Debug for Signer25519 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer25519({})", self.kid)
    }
}

impl Signer25519 {
    #[must_use]
    pub fn from_seed(kid: String, seed: &[u8; 32]) -> Self {
        Self {
            kid,
            key: SigningKey::from_bytes(seed),
        }
    }

    #[must_use]
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    #[must_use]
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// An access token: `header.claims.signature`, base64url without padding.
    #[must_use]
    pub fn sign(&self, claims: &AccessClaims) -> String {
        self.sign_typed(TYP, claims)
    }

    /// A JWT of type `typ` (access tokens and gateway assertions share the keys, never the
    /// type: each verifier refuses the other's).
    pub fn sign_typed<T: Serialize>(&self, typ: &str, claims: &T) -> String {
        let header = json!({ "alg": ALG, "typ": typ, "kid": self.kid });
        let claims = serde_json::to_vec(claims).unwrap_or_default();
        let signing_input = format!(
            "{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(claims)
        );
        let signature: Signature = self.key.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", B64URL.encode(signature.to_bytes()))
    }
}

/// The public half of a signing key, as published in the JWKS.
#[must_use]
pub fn jwk(kid: &str, public_key: &[u8; 32]) -> Value {
    json!({ "kty": "OKP", "crv": "Ed25519", "x": B64URL.encode(public_key), "kid": kid, "use": "sig", "alg": ALG })
}

/// The `kid` a token claims, without verifying anything (to pick the key).
pub fn kid(token: &str) -> Option<String> {
    let header = token.split('.').next()?;
    let header: Value = serde_json::from_slice(&B64URL.decode(header).ok()?).ok()?;
    header.get("kid")?.as_str().map(str::to_owned)
}

/// Verifies `token` with the key `key_for(kid)` returns, for `issuer` and `audience` at `now`.
/// Keys are passed decompressed (`VerifyingKey`): decompressing a point on every call would
/// cost as much as a third of the verification.
pub fn verify(
    token: &str,
    key_for: impl Fn(&str) -> Option<VerifyingKey>,
    issuer: &str,
    audience: &str,
    now: i64,
) -> Result<AccessClaims, JwtError> {
    let claims: AccessClaims = verify_signed(token, &["at+jwt", "application/at+jwt"], key_for)?;
    check_registered(
        &claims.iss,
        &claims.aud,
        claims.exp,
        claims.nbf,
        issuer,
        audience,
        now,
    )?;
    Ok(claims)
}

/// The header rules (EdDSA only, `typ` one of `typs` ignoring case, no key-fetching or
/// critical headers, a known `kid`) and the signature; returns the claims unchecked.
pub fn verify_signed<T: serde::de::DeserializeOwned>(
    token: &str,
    typs: &[&str],
    key_for: impl Fn(&str) -> Option<VerifyingKey>,
) -> Result<T, JwtError> {
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header: Value = B64URL
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(JwtError::Malformed)?;
    let header = header.as_object().ok_or(JwtError::Malformed)?;
    if header.get("alg").and_then(Value::as_str) != Some(ALG) {
        return Err(JwtError::Algorithm);
    }
    let typ = header
        .get("typ")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase);
    if !typ.as_deref().is_some_and(|t| typs.contains(&t)) {
        return Err(JwtError::Malformed);
    }
    if ["jku", "jwk", "x5u", "x5c", "crit"]
        .iter()
        .any(|k| header.contains_key(*k))
    {
        return Err(JwtError::Malformed);
    }
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or(JwtError::UnknownKey)?;
    let key = key_for(kid).ok_or(JwtError::UnknownKey)?;
    let sig_bytes: [u8; 64] = B64URL
        .decode(s)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(JwtError::Signature)?;
    let signing_input = &token[..h.len() + 1 + c.len()];
    key.verify_strict(signing_input.as_bytes(), &Signature::from_bytes(&sig_bytes))
        .map_err(|_| JwtError::Signature)?;
    B64URL
        .decode(c)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(JwtError::Malformed)
}

/// `iss`, `aud`, and the validity window with [`LEEWAY_SECS`].
pub fn check_registered(
    iss: &str,
    aud: &str,
    exp: i64,
    nbf: i64,
    issuer: &str,
    audience: &str,
    now: i64,
) -> Result<(), JwtError> {
    if iss != issuer {
        return Err(JwtError::Issuer);
    }
    if aud != audience {
        return Err(JwtError::Audience);
    }
    if now >= exp + LEEWAY_SECS {
        return Err(JwtError::Expired);
    }
    if now + LEEWAY_SECS < nbf {
        return Err(JwtError::NotYetValid);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: i64) -> AccessClaims {
        AccessClaims {
            iss: "https://auth.example.com".into(),
            aud: "gatehouse".into(),
            sub: "user-1".into(),
            org_id: Some("org-1".into()),
            scope: "tasks:read".into(),
            sid: "fam-1".into(),
            jti: "jti-1".into(),
            iat: now,
            nbf: now,
            exp: now + 900,
        }
    }

    fn check(token: &str, signer: &Signer25519, now: i64) -> Result<AccessClaims, JwtError> {
        let public = signer.verifying_key();
        let kid = signer.kid.clone();
        verify(
            token,
            |k| (k == kid).then_some(public),
            "https://auth.example.com",
            "gatehouse",
            now,
        )
    }

    #[allow(clippy::needless_pass_by_value)] // each test builds the header it forges
    fn forge(header: Value, claims: &AccessClaims, sig: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(serde_json::to_vec(claims).unwrap()),
            B64URL.encode(sig)
        )
    }

    #[test]
    fn round_trip_and_every_refusal() {
        let signer = Signer25519::from_seed("k1".into(), &[7; 32]);
        let now = 1_800_000_000;
        let token = signer.sign(&claims(now));
        assert_eq!(check(&token, &signer, now).unwrap(), claims(now));
        assert_eq!(kid(&token).as_deref(), Some("k1"));

        let c = claims(now);
        let none = forge(
            json!({ "alg": "none", "typ": "at+jwt", "kid": "k1" }),
            &c,
            b"",
        );
        assert_eq!(check(&none, &signer, now), Err(JwtError::Algorithm));
        let hs = {
            use hmac::{Hmac, KeyInit, Mac};
            let h =
                B64URL.encode(json!({ "alg": "HS256", "typ": "at+jwt", "kid": "k1" }).to_string());
            let body = B64URL.encode(serde_json::to_vec(&c).unwrap());
            let mut mac =
                <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&signer.public_key()).unwrap();
            mac.update(format!("{h}.{body}").as_bytes());
            format!("{h}.{body}.{}", B64URL.encode(mac.finalize().into_bytes()))
        };
        assert_eq!(check(&hs, &signer, now), Err(JwtError::Algorithm));
        let other = Signer25519::from_seed("k2".into(), &[8; 32]);
        assert_eq!(
            check(&other.sign(&c), &signer, now),
            Err(JwtError::UnknownKey)
        );
        let impostor = Signer25519::from_seed("k1".into(), &[9; 32]);
        assert_eq!(
            check(&impostor.sign(&c), &signer, now),
            Err(JwtError::Signature)
        );
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut tampered = c.clone();
        tampered.sub = "admin".into();
        parts[1] = B64URL.encode(serde_json::to_vec(&tampered).unwrap());
        assert_eq!(
            check(&parts.join("."), &signer, now),
            Err(JwtError::Signature)
        );
        let embedded = forge(
            json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": "k1", "jwk": {} }),
            &c,
            &[0; 64],
        );
        assert_eq!(check(&embedded, &signer, now), Err(JwtError::Malformed));
        let mut wrong_iss = c.clone();
        wrong_iss.iss = "https://evil.example".into();
        assert_eq!(
            check(&signer.sign(&wrong_iss), &signer, now),
            Err(JwtError::Issuer)
        );
        let mut wrong_aud = c;
        wrong_aud.aud = "someone-else".into();
        assert_eq!(
            check(&signer.sign(&wrong_aud), &signer, now),
            Err(JwtError::Audience)
        );
        assert!(
            check(&token, &signer, now + 900 + 29).is_ok(),
            "within the leeway"
        );
        assert_eq!(
            check(&token, &signer, now + 900 + 30),
            Err(JwtError::Expired)
        );
        assert_eq!(check(&token, &signer, now - 31), Err(JwtError::NotYetValid));
        assert_eq!(check("a.b", &signer, now), Err(JwtError::Malformed));
        assert_eq!(
            check(&format!("{token}.x"), &signer, now),
            Err(JwtError::Malformed)
        );
    }
}
