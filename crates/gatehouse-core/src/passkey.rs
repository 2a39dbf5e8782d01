//! The WebAuthn relying party (SPEC §15) on `webauthn-rs`: its id is the public URL's host, which
//! must be a domain name; user verification is always required. Also the made-up credential ids
//! a sign-in for an unknown email is answered with, stable per email so that asking twice gives
//! the same answer.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration, Url, Webauthn,
    WebauthnBuilder,
};

use crate::secret::{DerivedKey, hmac_sha256};
use crate::{Error, Result};

/// How long a ceremony may take, in the options and in the database.
pub const CEREMONY_TTL: Duration = Duration::from_secs(5 * 60);

/// A passkey name is at most this many characters.
pub const MAX_PASSKEY_NAME_CHARS: usize = 64;

/// The relying party id for `public_url`: its host, when that is a domain name. The reason
/// otherwise, for the startup warning and `doctor`.
pub fn relying_party_id(public_url: &str) -> std::result::Result<String, String> {
    let url = Url::parse(public_url).map_err(|e| format!("the public URL does not parse: {e}"))?;
    let Some(host) = url.host_str() else {
        return Err("the public URL has no host".to_owned());
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<std::net::IpAddr>().is_ok() {
        return Err(format!(
            "the public URL's host {host} is an IP address; WebAuthn needs a domain name \
             (GATEHOUSE_PUBLIC_URL)"
        ));
    }
    Ok(host.to_ascii_lowercase())
}

/// The relying party of this deployment.
pub struct RelyingParty {
    webauthn: Webauthn,
    id: String,
    decoy_key: DerivedKey,
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelyingParty")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A ceremony's state as the database keeps it until it is finished.
#[derive(Serialize, Deserialize)]
#[serde(tag = "flow", rename_all = "snake_case")]
pub enum CeremonyState {
    /// Registering a passkey named `name`.
    Register {
        name: String,
        state: PasskeyRegistration,
    },
    /// Signing in as the ceremony's user with one of their passkeys.
    User { state: PasskeyAuthentication },
    /// Signing in with whatever discoverable passkey the authenticator offers.
    Discoverable { state: DiscoverableAuthentication },
    /// The answer to an email without passkeys: nothing finishes it.
    Decoy,
}

impl CeremonyState {
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::internal(format!("ceremony state: {e}")))
    }

    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(|e| Error::internal(format!("ceremony state: {e}")))
    }
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(rp_error)`
fn rp_error(e: webauthn_rs::prelude::WebauthnError) -> Error {
    Error::internal(format!("webauthn: {e}"))
}

fn options_json<T: Serialize>(options: &T) -> Result<serde_json::Value> {
    serde_json::to_value(options).map_err(|e| Error::internal(format!("webauthn options: {e}")))
}

impl RelyingParty {
    /// The relying party for `public_url` (its origin is the only one accepted); `decoy_key`
    /// makes the credential ids shown for unknown emails.
    pub fn new(public_url: &str, decoy_key: DerivedKey) -> std::result::Result<Self, String> {
        let id = relying_party_id(public_url)?;
        let origin = Url::parse(public_url).map_err(|e| e.to_string())?;
        let webauthn = WebauthnBuilder::new(&id, &origin)
            .map_err(|e| format!("the public URL is no WebAuthn origin: {e}"))?
            .rp_name("gatehouse")
            .timeout(CEREMONY_TTL)
            .build()
            .map_err(|e| format!("the public URL is no WebAuthn origin: {e}"))?;
        Ok(Self {
            webauthn,
            id,
            decoy_key,
        })
    }

    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Creation options for a new passkey of the user `handle` (their id), excluding the ones
    /// they have. A discoverable credential is preferred (so it can sign in without an email).
    pub fn start_registration(
        &self,
        handle: uuid::Uuid,
        email: &str,
        display_name: &str,
        existing: Vec<Vec<u8>>,
    ) -> Result<(serde_json::Value, PasskeyRegistration)> {
        let exclude = (!existing.is_empty()).then_some(existing);
        let (options, state) = self
            .webauthn
            .start_passkey_registration(handle, email, display_name, exclude)
            .map_err(rp_error)?;
        let mut options = options_json(&options)?;
        if let Some(selection) = options
            .pointer_mut("/publicKey/authenticatorSelection")
            .and_then(serde_json::Value::as_object_mut)
        {
            selection.insert("residentKey".into(), "preferred".into());
        }
        Ok((options, state))
    }

    /// The passkey the authenticator answered with; `None` when the answer does not verify.
    #[must_use]
    pub fn finish_registration(
        &self,
        credential: &serde_json::Value,
        state: &PasskeyRegistration,
    ) -> Option<Passkey> {
        let credential = serde_json::from_value(credential.clone()).ok()?;
        self.webauthn
            .finish_passkey_registration(&credential, state)
            .ok()
    }

    /// Request options for the user's passkeys.
    pub fn start_user_sign_in(
        &self,
        passkeys: &[Passkey],
    ) -> Result<(serde_json::Value, PasskeyAuthentication)> {
        let (options, state) = self
            .webauthn
            .start_passkey_authentication(passkeys)
            .map_err(rp_error)?;
        let mut options = options_json(&options)?;
        // Listed as the decoys are (transports would tell a real list from a made-up one).
        if let Some(listed) = options
            .pointer_mut("/publicKey/allowCredentials")
            .and_then(serde_json::Value::as_array_mut)
        {
            for entry in listed
                .iter_mut()
                .filter_map(serde_json::Value::as_object_mut)
            {
                entry.remove("transports");
            }
        }
        Ok((options, state))
    }

    /// Request options for any discoverable passkey (no credential list).
    pub fn start_discoverable_sign_in(
        &self,
    ) -> Result<(serde_json::Value, DiscoverableAuthentication)> {
        let (options, state) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(rp_error)?;
        Ok((options_json(&options)?, state))
    }

    /// Request options that look like [`Self::start_user_sign_in`]'s for an account that does
    /// not exist (or has no passkey): a fresh challenge, and one or two made-up credential ids
    /// that are the same every time for `email_key`.
    pub fn decoy_sign_in(&self, email_key: &str) -> Result<serde_json::Value> {
        let (options, _) = self.start_discoverable_sign_in()?;
        let mut options = options;
        let listed: Vec<serde_json::Value> = self
            .decoy_credential_ids(email_key)
            .iter()
            .map(|id| {
                serde_json::json!({
                    "type": "public-key",
                    "id": data_encoding::BASE64URL_NOPAD.encode(id),
                })
            })
            .collect();
        if let Some(all) = options.as_object_mut() {
            all.remove("mediation");
        }
        if let Some(public_key) = options
            .get_mut("publicKey")
            .and_then(serde_json::Value::as_object_mut)
        {
            public_key.remove("extensions");
            public_key.insert("allowCredentials".into(), listed.into());
        }
        Ok(options)
    }

    /// One credential id for most emails, two for some, in lengths real authenticators use.
    fn decoy_credential_ids(&self, email_key: &str) -> Vec<Vec<u8>> {
        let seed = self.decoy_key.mac(email_key.as_bytes());
        let count = if seed[0].is_multiple_of(5) { 2 } else { 1 };
        (0..count)
            .map(|i: u8| {
                let len = [16, 20, 32, 64][usize::from(seed[1 + usize::from(i)] % 4)];
                let mut id = Vec::with_capacity(len);
                let mut block = 0u8;
                while id.len() < len {
                    id.extend_from_slice(&hmac_sha256(&seed, &[&[i, block]]));
                    block += 1;
                }
                id.truncate(len);
                id
            })
            .collect()
    }

    /// The result of a sign-in with `passkey`, verified against `state`.
    pub fn finish_user_sign_in(
        &self,
        credential: &webauthn_rs::prelude::PublicKeyCredential,
        state: &PasskeyAuthentication,
    ) -> std::result::Result<webauthn_rs::prelude::AuthenticationResult, SignInRefusal> {
        self.webauthn
            .finish_passkey_authentication(credential, state)
            .map_err(SignInRefusal::from)
    }

    /// The result of a discoverable sign-in with `passkey` (the one the answer names).
    pub fn finish_discoverable_sign_in(
        &self,
        credential: &webauthn_rs::prelude::PublicKeyCredential,
        state: DiscoverableAuthentication,
        passkey: &Passkey,
    ) -> std::result::Result<webauthn_rs::prelude::AuthenticationResult, SignInRefusal> {
        self.webauthn
            .finish_discoverable_authentication_v2(credential, state, passkey)
            .map_err(SignInRefusal::from)
    }
}

/// Why an answer did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInRefusal {
    /// The signature counter did not go up: a cloned authenticator.
    CounterRegressed,
    /// Anything else (wrong challenge, origin, signature, no user verification…).
    Invalid,
}

impl From<webauthn_rs::prelude::WebauthnError> for SignInRefusal {
    fn from(e: webauthn_rs::prelude::WebauthnError) -> Self {
        match e {
            webauthn_rs::prelude::WebauthnError::CredentialPossibleCompromise => {
                Self::CounterRegressed
            }
            _ => Self::Invalid,
        }
    }
}

/// A stored passkey as the relying party reads it.
pub fn passkey_from_json(json: &str) -> Result<Passkey> {
    serde_json::from_str(json).map_err(|e| Error::internal(format!("stored passkey: {e}")))
}

pub fn passkey_to_json(passkey: &Passkey) -> Result<String> {
    serde_json::to_string(passkey).map_err(|e| Error::internal(format!("stored passkey: {e}")))
}

/// Whether the passkey may be synced to other devices (the authenticator's backup-eligible flag,
/// read from the stored form since `webauthn-rs` keeps it private).
#[must_use]
pub fn backup_eligible(passkey: &Passkey) -> bool {
    serde_json::to_value(passkey)
        .ok()
        .and_then(|v| {
            v.pointer("/cred/backup_eligible")
                .and_then(serde_json::Value::as_bool)
        })
        .unwrap_or(false)
}

/// The signature counter the authenticator reported at registration.
#[must_use]
pub fn stored_counter(passkey: &Passkey) -> i64 {
    serde_json::to_value(passkey)
        .ok()
        .and_then(|v| {
            v.pointer("/cred/counter")
                .and_then(serde_json::Value::as_i64)
        })
        .unwrap_or(0)
}

/// A credential the client sent, parsed; `None` when it is no WebAuthn assertion.
#[must_use]
pub fn parse_assertion(
    credential: &serde_json::Value,
) -> Option<webauthn_rs::prelude::PublicKeyCredential> {
    serde_json::from_value(credential.clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::MasterSecret;

    fn party() -> RelyingParty {
        let secret = MasterSecret::new(vec![7; 32]);
        RelyingParty::new("http://localhost:8080", secret.derive("passkeys/decoy/v1"))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_relying_party_id_is_the_public_urls_domain_and_never_an_address() {
        assert_eq!(
            relying_party_id("https://Auth.Example.com/x").as_deref(),
            Ok("auth.example.com")
        );
        assert!(relying_party_id("http://127.0.0.1:8080").is_err());
        assert!(relying_party_id("http://[::1]:8080").is_err());
        assert!(
            RelyingParty::new(
                "http://10.0.0.1",
                MasterSecret::new(vec![1; 32]).derive("x")
            )
            .is_err()
        );
    }

    #[test]
    fn decoy_ids_are_stable_per_email_and_differ_between_emails() {
        let rp = party();
        let a = rp.decoy_credential_ids("a@example.com");
        assert_eq!(a, rp.decoy_credential_ids("a@example.com"));
        assert_ne!(a, rp.decoy_credential_ids("b@example.com"));
        assert!(!a.is_empty() && a.iter().all(|id| id.len() >= 16));
        let options = rp.decoy_sign_in("a@example.com").unwrap_or_default();
        let listed = options
            .pointer("/publicKey/allowCredentials")
            .and_then(serde_json::Value::as_array)
            .map_or(0, Vec::len);
        assert_eq!(listed, a.len());
        assert!(options.get("mediation").is_none());
    }

    #[test]
    fn registration_prefers_a_discoverable_credential_and_requires_verification() {
        let rp = party();
        let (options, _) = rp
            .start_registration(uuid::Uuid::nil(), "a@example.com", "A", vec![])
            .unwrap_or_else(|e| panic!("{e}"));
        let selection = &options["publicKey"]["authenticatorSelection"];
        assert_eq!(selection["residentKey"], "preferred");
        assert_eq!(selection["userVerification"], "required");
        assert_eq!(options["publicKey"]["rp"]["id"], "localhost");
    }
}
