//! Sign-in with an external OpenID Connect provider (SPEC §17), the parts that are pure rules:
//! PKCE (S256), the authorization URL, and the ID token's full validation: its algorithm in
//! the allow-list (RS256, ES256, EdDSA) and in what the provider announced, its `kid` among the
//! provider's keys, its signature, and its claims (`iss`, `aud`, `azp`, `exp`/`iat`/`nbf` with
//! 30 s leeway, `nonce`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

/// The algorithms an ID token may be signed with.
pub const ALLOWED_ALGS: [&str; 3] = ["RS256", "ES256", "EdDSA"];
/// Clock skew tolerated on `exp`, `iat`, `nbf`.
pub const LEEWAY_SECS: i64 = 30;

/// The PKCE challenge of `verifier` (RFC 7636 S256).
#[must_use]
pub fn pkce_challenge(verifier: &str) -> String {
    B64.encode(Sha256::digest(verifier.as_bytes()))
}

/// 32 random bytes as base64url: a PKCE verifier, a `state`, a `nonce`.
#[must_use]
pub fn random_text(bytes: [u8; 32]) -> String {
    B64.encode(bytes)
}

/// What the provider's discovery document says (the fields used).
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// RFC 9207: the provider sends `iss` with the authorization response.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

/// One key of a JWKS (the fields used).
#[derive(Debug, Clone, Deserialize)]
pub struct Jwk {
    pub kty: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub alg: Option<String>,
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
    #[serde(default)]
    pub crv: Option<String>,
    #[serde(default)]
    pub x: Option<String>,
    #[serde(default)]
    pub y: Option<String>,
    #[serde(default)]
    pub n: Option<String>,
    #[serde(default)]
    pub e: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// Why an ID token (or the answer around it) was refused: the reason recorded in
/// `auth.oidc_failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    Algorithm,
    UnknownKey,
    Signature,
    Issuer,
    Audience,
    AuthorizedParty,
    Expired,
    NotYetValid,
    IssuedInFuture,
    Nonce,
    NoSubject,
}

impl Refusal {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "id_token_malformed",
            Self::Algorithm => "id_token_algorithm",
            Self::UnknownKey => "id_token_unknown_key",
            Self::Signature => "id_token_signature",
            Self::Issuer => "id_token_issuer",
            Self::Audience => "id_token_audience",
            Self::AuthorizedParty => "id_token_azp",
            Self::Expired => "id_token_expired",
            Self::NotYetValid => "id_token_not_yet_valid",
            Self::IssuedInFuture => "id_token_issued_in_future",
            Self::Nonce => "id_token_nonce",
            Self::NoSubject => "id_token_no_subject",
        }
    }
}

/// A signed ID token split and decoded (not yet trusted).
#[derive(Debug, Clone)]
pub struct UnverifiedToken {
    pub alg: String,
    pub kid: Option<String>,
    signing_input: String,
    signature: Vec<u8>,
    pub claims: serde_json::Value,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

/// Splits and decodes a compact JWS.
pub fn parse(token: &str) -> Result<UnverifiedToken, Refusal> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::Malformed);
    };
    let decode = |part: &str| B64.decode(part).map_err(|_| Refusal::Malformed);
    let header: Header = serde_json::from_slice(&decode(h)?).map_err(|_| Refusal::Malformed)?;
    let claims: serde_json::Value =
        serde_json::from_slice(&decode(p)?).map_err(|_| Refusal::Malformed)?;
    if !claims.is_object() {
        return Err(Refusal::Malformed);
    }
    Ok(UnverifiedToken {
        alg: header.alg,
        kid: header.kid,
        signing_input: format!("{h}.{p}"),
        signature: decode(s)?,
        claims,
    })
}

/// Whether `alg` may be used: ours and the provider's (`announced`, when it announced any).
#[must_use]
pub fn algorithm_allowed(alg: &str, announced: &[String]) -> bool {
    // A provider that announces nothing signs with RS256 (OpenID Connect Discovery's default).
    let announced_ok = if announced.is_empty() {
        alg == "RS256"
    } else {
        announced.iter().any(|a| a == alg)
    };
    ALLOWED_ALGS.contains(&alg) && announced_ok
}

/// The key of `jwks` the token names (by `kid`; without one, the only key of its type).
#[must_use]
pub fn find_key<'a>(jwks: &'a Jwks, token: &UnverifiedToken) -> Option<&'a Jwk> {
    let kty = match token.alg.as_str() {
        "RS256" => "RSA",
        "ES256" => "EC",
        "EdDSA" => "OKP",
        _ => return None,
    };
    let usable = |k: &&Jwk| {
        k.kty == kty
            && k.use_.as_deref().is_none_or(|u| u == "sig")
            && k.alg.as_deref().is_none_or(|a| a == token.alg)
    };
    if let Some(kid) = &token.kid {
        return jwks
            .keys
            .iter()
            .filter(usable)
            .find(|k| k.kid.as_deref() == Some(kid));
    }
    let mut candidates = jwks.keys.iter().filter(usable);
    match (candidates.next(), candidates.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}

fn field(value: Option<&String>) -> Result<Vec<u8>, Refusal> {
    value
        .and_then(|v| B64.decode(v).ok())
        .ok_or(Refusal::UnknownKey)
}

/// Checks the token's signature with `key`.
pub fn verify_signature(token: &UnverifiedToken, key: &Jwk) -> Result<(), Refusal> {
    let message = token.signing_input.as_bytes();
    let ok = match token.alg.as_str() {
        "EdDSA" => {
            if key.crv.as_deref() != Some("Ed25519") {
                return Err(Refusal::UnknownKey);
            }
            let x: [u8; 32] = field(key.x.as_ref())?
                .try_into()
                .map_err(|_| Refusal::UnknownKey)?;
            let vk =
                ed25519_dalek::VerifyingKey::from_bytes(&x).map_err(|_| Refusal::UnknownKey)?;
            let sig = ed25519_dalek::Signature::from_slice(&token.signature)
                .map_err(|_| Refusal::Signature)?;
            vk.verify_strict(message, &sig).is_ok()
        }
        "ES256" => {
            use p256::ecdsa::signature::Verifier;
            if key.crv.as_deref() != Some("P-256") {
                return Err(Refusal::UnknownKey);
            }
            let (x, y) = (field(key.x.as_ref())?, field(key.y.as_ref())?);
            if x.len() != 32 || y.len() != 32 {
                return Err(Refusal::UnknownKey);
            }
            let mut sec1 = vec![0x04];
            sec1.extend_from_slice(&x);
            sec1.extend_from_slice(&y);
            let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                .map_err(|_| Refusal::UnknownKey)?;
            let sig = p256::ecdsa::Signature::from_slice(&token.signature)
                .map_err(|_| Refusal::Signature)?;
            vk.verify(message, &sig).is_ok()
        }
        "RS256" => {
            use rsa::signature::Verifier;
            let (n, e) = (field(key.n.as_ref())?, field(key.e.as_ref())?);
            if n.len() < 256 {
                return Err(Refusal::UnknownKey); // under 2048 bits
            }
            let bits = u32::try_from(n.len() * 8).map_err(|_| Refusal::UnknownKey)?;
            let n = rsa::BoxedUint::from_be_slice(&n, bits).map_err(|_| Refusal::UnknownKey)?;
            let e = rsa::BoxedUint::from_be_slice(&e, 64).map_err(|_| Refusal::UnknownKey)?;
            let public = rsa::RsaPublicKey::new(n, e).map_err(|_| Refusal::UnknownKey)?;
            let vk = rsa::pkcs1v15::VerifyingKey::<rsa::sha2::Sha256>::new(public);
            let sig = rsa::pkcs1v15::Signature::try_from(token.signature.as_slice())
                .map_err(|_| Refusal::Signature)?;
            vk.verify(message, &sig).is_ok()
        }
        _ => return Err(Refusal::Algorithm),
    };
    if ok { Ok(()) } else { Err(Refusal::Signature) }
}

/// What a valid ID token says about the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
}

/// What the claims must match.
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub now: OffsetDateTime,
}

/// The claims' checks (OpenID Connect Core 3.1.3.7), after the signature.
pub fn check_claims(
    claims: &serde_json::Value,
    expected: &Expected<'_>,
) -> Result<Identity, Refusal> {
    let text = |k: &str| claims.get(k).and_then(serde_json::Value::as_str);
    if text("iss") != Some(expected.issuer) {
        return Err(Refusal::Issuer);
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(serde_json::Value::String(a)) => vec![a.as_str()],
        Some(serde_json::Value::Array(all)) => all.iter().filter_map(|a| a.as_str()).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&expected.client_id) {
        return Err(Refusal::Audience);
    }
    match text("azp") {
        Some(azp) if azp != expected.client_id => return Err(Refusal::AuthorizedParty),
        None if audiences.len() > 1 => return Err(Refusal::AuthorizedParty),
        _ => {}
    }
    let now = expected.now.unix_timestamp();
    let number = |k: &str| claims.get(k).and_then(serde_json::Value::as_i64);
    match number("exp") {
        Some(exp) if now < exp + LEEWAY_SECS => {}
        _ => return Err(Refusal::Expired),
    }
    match number("iat") {
        Some(iat) if iat <= now + LEEWAY_SECS => {}
        Some(_) => return Err(Refusal::IssuedInFuture),
        None => return Err(Refusal::Malformed),
    }
    if number("nbf").is_some_and(|nbf| nbf > now + LEEWAY_SECS) {
        return Err(Refusal::NotYetValid);
    }
    let nonce_ok =
        text("nonce").is_some_and(|n| bool::from(n.as_bytes().ct_eq(expected.nonce.as_bytes())));
    if !nonce_ok {
        return Err(Refusal::Nonce);
    }
    let subject = text("sub")
        .filter(|s| !s.is_empty())
        .ok_or(Refusal::NoSubject)?;
    Ok(Identity {
        subject: subject.to_owned(),
        email: text("email").map(str::to_owned),
        email_verified: claims
            .get("email_verified")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false),
        name: text("name").map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::Signer;
    use serde_json::json;

    use super::*;

    fn key() -> (ed25519_dalek::SigningKey, Jwks) {
        let signing = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let jwks = Jwks {
            keys: vec![Jwk {
                kty: "OKP".into(),
                kid: Some("k1".into()),
                alg: Some("EdDSA".into()),
                use_: Some("sig".into()),
                crv: Some("Ed25519".into()),
                x: Some(B64.encode(signing.verifying_key().as_bytes())),
                y: None,
                n: None,
                e: None,
            }],
        };
        (signing, jwks)
    }

    fn sign(signing: &ed25519_dalek::SigningKey, claims: &serde_json::Value) -> String {
        let header = B64.encode(json!({ "alg": "EdDSA", "kid": "k1" }).to_string());
        let payload = B64.encode(claims.to_string());
        let input = format!("{header}.{payload}");
        let sig = signing.sign(input.as_bytes());
        format!("{input}.{}", B64.encode(sig.to_bytes()))
    }

    fn expected(now: i64) -> Expected<'static> {
        Expected {
            issuer: "https://op.example",
            client_id: "gh",
            nonce: "n-1",
            now: OffsetDateTime::from_unix_timestamp(now).unwrap_or(OffsetDateTime::UNIX_EPOCH),
        }
    }

    fn claims() -> serde_json::Value {
        json!({ "iss": "https://op.example", "aud": "gh", "sub": "u1", "nonce": "n-1",
                "iat": 1000, "exp": 1300, "email": "a@example.com", "email_verified": true })
    }

    #[test]
    fn a_good_token_verifies_and_says_who() {
        let (signing, jwks) = key();
        let token = parse(&sign(&signing, &claims())).unwrap_or_else(|e| panic!("{e:?}"));
        let k = find_key(&jwks, &token).unwrap_or_else(|| panic!("key"));
        assert_eq!(verify_signature(&token, k), Ok(()));
        let id = check_claims(&token.claims, &expected(1100)).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(id.subject, "u1");
        assert!(id.email_verified);
    }

    #[test]
    fn a_changed_payload_fails_the_signature() {
        let (signing, jwks) = key();
        let good = sign(&signing, &claims());
        let other = sign(&signing, &json!({ "sub": "u2" }));
        let parts: Vec<&str> = good.split('.').collect();
        let forged_payload = other.split('.').nth(1).unwrap_or_default();
        let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
        let token = parse(&forged).unwrap_or_else(|e| panic!("{e:?}"));
        let k = find_key(&jwks, &token).unwrap_or_else(|| panic!("key"));
        assert_eq!(verify_signature(&token, k), Err(Refusal::Signature));
    }

    #[test]
    fn each_claim_is_checked() {
        let cases = [
            ("iss", json!("https://evil.example"), Refusal::Issuer),
            ("aud", json!("other"), Refusal::Audience),
            ("aud", json!(["gh", "other"]), Refusal::AuthorizedParty),
            ("azp", json!("other"), Refusal::AuthorizedParty),
            ("exp", json!(1069), Refusal::Expired),
            ("iat", json!(1131), Refusal::IssuedInFuture),
            ("nbf", json!(1131), Refusal::NotYetValid),
            ("nonce", json!("n-2"), Refusal::Nonce),
            ("sub", json!(""), Refusal::NoSubject),
        ];
        for (k, v, refusal) in cases {
            let mut c = claims();
            c[k] = v;
            assert_eq!(check_claims(&c, &expected(1100)), Err(refusal), "{k}");
        }
        let mut c = claims();
        c["exp"] = json!(1071);
        assert!(
            check_claims(&c, &expected(1100)).is_ok(),
            "within the leeway"
        );
    }

    #[test]
    fn only_allowed_and_announced_algorithms() {
        assert!(algorithm_allowed("RS256", &[]));
        assert!(!algorithm_allowed("EdDSA", &[]), "unannounced: RS256 only");
        assert!(!algorithm_allowed("HS256", &[]));
        assert!(!algorithm_allowed("none", &[]));
        assert!(!algorithm_allowed("ES256", &["RS256".into()]));
    }

    #[test]
    fn es256_signatures_verify_and_a_flipped_bit_does_not() {
        use p256::ecdsa::signature::Signer as _;
        let signing =
            p256::ecdsa::SigningKey::from_slice(&[9; 32]).unwrap_or_else(|e| panic!("{e}"));
        let point = signing.verifying_key().to_sec1_point(false);
        let bytes = point.as_bytes();
        let jwk = Jwk {
            kty: "EC".into(),
            kid: None,
            alg: None,
            use_: None,
            crv: Some("P-256".into()),
            x: Some(B64.encode(&bytes[1..33])),
            y: Some(B64.encode(&bytes[33..65])),
            n: None,
            e: None,
        };
        let header = B64.encode(json!({ "alg": "ES256" }).to_string());
        let payload = B64.encode(claims().to_string());
        let input = format!("{header}.{payload}");
        let sig: p256::ecdsa::Signature = signing.sign(input.as_bytes());
        let mut raw = sig.to_bytes().to_vec();
        let token =
            parse(&format!("{input}.{}", B64.encode(&raw))).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(verify_signature(&token, &jwk), Ok(()));
        raw[5] ^= 1;
        let token =
            parse(&format!("{input}.{}", B64.encode(&raw))).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(verify_signature(&token, &jwk), Err(Refusal::Signature));
    }

    #[test]
    fn pkce_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
