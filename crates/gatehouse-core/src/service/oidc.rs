//! Sign-in with an external OpenID Connect provider (SPEC §17): the authorization code flow
//! with `state`, `nonce` and PKCE S256 always; the flow stored (its state hashed, its verifier
//! sealed) and bound to a per-flow cookie; the callback's checks, the code exchange and the ID
//! token's full validation; linking by (issuer, subject), by verified email only when the
//! provider allows it; new accounts under the signup policy. Every failure is recorded as
//! `auth.oidc_failed` with its reason and answered the same way.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use tokio::sync::Mutex;

use crate::ambient::Ambient;
use crate::audit::{Actor, Category, Chain, NewEvent, Outcome, Target};
use crate::email::Email;
use crate::error::{AuthFailure, ConflictReason};
use crate::ids::{OidcFlowId, OidcIdentityId, SessionId, UserId};
use crate::oidc::{self, Discovery, Jwks, Refusal};
use crate::secret::SecretString;
use crate::service::ClientInfo;
use crate::service::audit_writer::AuditWriter;
use crate::service::auth::{AuthService, LoginOutcome, SessionPrincipal};
use crate::store::{OidcFlow, OidcIdentity, Store};
use crate::vault::Keyring;
use crate::{Error, Result, token};

/// A sign-in begun at a provider lasts this long.
pub const FLOW_TTL: Duration = Duration::from_secs(10 * 60);
/// The provider's keys are fetched again for an unknown `kid` at most this often.
pub const JWKS_REFETCH: Duration = Duration::from_secs(60);

/// One configured provider.
#[derive(Debug, Clone)]
pub struct Provider {
    pub id: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: SecretString,
    pub scopes: Vec<String>,
    /// When not empty, only addresses in these domains may sign in.
    pub allowed_email_domains: Vec<String>,
    pub link_by_verified_email: bool,
}

/// What the service asks of the network: JSON by GET, a form by POST (with HTTP Basic
/// credentials), both through the SSRF guard.
#[async_trait]
pub trait OidcHttp: Send + Sync {
    async fn get_json(&self, url: &str) -> std::result::Result<serde_json::Value, String>;
    async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        basic: (&str, &str),
    ) -> std::result::Result<(u16, serde_json::Value), String>;
}

/// A sign-in begun: where to send the browser, and the flow's cookie.
#[derive(Debug)]
pub struct Started {
    pub flow_id: OidcFlowId,
    /// The cookie's value (the `state` sent to the provider).
    pub state: SecretString,
    pub authorization_url: String,
}

/// Where a good callback lands: signed in, or (TOTP on) at the second step; either way with
/// the flow's return-to beside it.
pub enum Landed {
    SignedIn(Box<LoginOutcome>),
    SecondStep(Box<crate::error::MfaChallenge>),
}

/// Why a callback failed (the reason of `auth.oidc_failed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    pub reason: String,
}

/// What the callback carried.
pub struct Callback<'a> {
    pub code: Option<&'a str>,
    pub state: Option<&'a str>,
    pub iss: Option<&'a str>,
    pub error: Option<&'a str>,
    /// The flow cookie's value, found by the flow the state names.
    pub cookie: &'a (dyn Fn(OidcFlowId) -> Option<String> + Sync),
}

struct Known {
    discovery: Discovery,
    jwks: Jwks,
    jwks_fetched: OffsetDateTime,
}

pub struct OidcService {
    store: Arc<dyn Store>,
    auth: Arc<AuthService>,
    keyring: Arc<Keyring>,
    http: Arc<dyn OidcHttp>,
    ambient: Ambient,
    audit: AuditWriter,
    providers: Vec<Provider>,
    /// Where providers send the browser back: `<public URL>/v1/auth/oidc/<id>/callback`.
    public_url: String,
    known: Mutex<HashMap<String, Known>>,
}

fn fail(reason: impl Into<String>) -> Failed {
    Failed {
        reason: reason.into(),
    }
}

fn flow_aad(id: OidcFlowId) -> Vec<u8> {
    format!("gatehouse/oidc-verifier/v1\0{id}").into_bytes()
}

impl OidcService {
    #[allow(clippy::too_many_arguments)]
    #[must_use]
    pub fn new(
        store: Arc<dyn Store>,
        auth: Arc<AuthService>,
        keyring: Arc<Keyring>,
        http: Arc<dyn OidcHttp>,
        ambient: Ambient,
        audit: AuditWriter,
        providers: Vec<Provider>,
        public_url: &str,
    ) -> Self {
        Self {
            store,
            auth,
            keyring,
            http,
            ambient,
            audit,
            providers,
            public_url: public_url.trim_end_matches('/').to_owned(),
            known: Mutex::new(HashMap::new()),
        }
    }

    /// The configured providers (for the sign-in page's buttons).
    #[must_use]
    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    fn provider(&self, id: &str) -> Result<&Provider> {
        self.providers
            .iter()
            .find(|p| p.id == id)
            .ok_or(Error::NotFound)
    }

    #[must_use]
    pub fn redirect_uri(&self, provider: &str) -> String {
        format!("{}/v1/auth/oidc/{provider}/callback", self.public_url)
    }

    /// The provider's discovery document (fetched once, through the guard); its `issuer` must
    /// be the configured one.
    async fn discovery(&self, p: &Provider) -> std::result::Result<Discovery, Failed> {
        if let Some(k) = self.known.lock().await.get(&p.id) {
            return Ok(k.discovery.clone());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            p.issuer.trim_end_matches('/')
        );
        let doc = self
            .http
            .get_json(&url)
            .await
            .map_err(|e| fail(format!("discovery: {e}")))?;
        let discovery: Discovery =
            serde_json::from_value(doc).map_err(|_| fail("discovery_malformed"))?;
        if discovery.issuer != p.issuer {
            return Err(fail("discovery_issuer_mismatch"));
        }
        // An https issuer's endpoints are https too (the code and the client secret travel).
        if p.issuer.starts_with("https://")
            && ![
                &discovery.authorization_endpoint,
                &discovery.token_endpoint,
                &discovery.jwks_uri,
            ]
            .iter()
            .all(|u| u.starts_with("https://"))
        {
            return Err(fail("discovery_endpoint_not_https"));
        }
        let jwks = self.fetch_jwks(&discovery).await?;
        self.known.lock().await.insert(
            p.id.clone(),
            Known {
                discovery: discovery.clone(),
                jwks,
                jwks_fetched: self.ambient.now(),
            },
        );
        Ok(discovery)
    }

    async fn fetch_jwks(&self, d: &Discovery) -> std::result::Result<Jwks, Failed> {
        let doc = self
            .http
            .get_json(&d.jwks_uri)
            .await
            .map_err(|e| fail(format!("jwks: {e}")))?;
        serde_json::from_value(doc).map_err(|_| fail("jwks_malformed"))
    }

    /// `POST /v1/auth/oidc/{provider}/start`: the flow stored, and the authorization URL.
    pub async fn start(&self, provider: &str, return_to: Option<String>) -> Result<Started> {
        let p = self.provider(provider)?;
        let discovery = self.discovery(p).await.map_err(|f| {
            Error::Unavailable(format!("the provider is unreachable: {}", f.reason))
        })?;
        let now = self.ambient.now();
        let id =
            OidcFlowId::from(uuid::Builder::from_random_bytes(self.ambient.bytes()?).into_uuid());
        let state = oidc::random_text(self.ambient.bytes()?);
        let nonce = oidc::random_text(self.ambient.bytes()?);
        let verifier = oidc::random_text(self.ambient.bytes()?);
        let flow = OidcFlow {
            id,
            provider: p.id.clone(),
            state_digest: token::digest(&state),
            nonce: nonce.clone(),
            verifier: self.keyring.seal(
                self.ambient.random(),
                &flow_aad(id),
                verifier.as_bytes(),
            )?,
            sealed_by: self.keyring.current_id().to_owned(),
            return_to,
            created_at: now,
            expires_at: now + FLOW_TTL,
        };
        self.store.create_oidc_flow(&flow).await?;
        let mut url = url::Url::parse(&discovery.authorization_endpoint)
            .map_err(|_| Error::Unavailable("the provider's authorization endpoint".into()))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &p.client_id)
            .append_pair("redirect_uri", &self.redirect_uri(&p.id))
            .append_pair("scope", &p.scopes.join(" "))
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &oidc::pkce_challenge(&verifier))
            .append_pair("code_challenge_method", "S256");
        Ok(Started {
            flow_id: id,
            state: state.into(),
            authorization_url: url.into(),
        })
    }

    /// `GET /v1/auth/oidc/{provider}/callback`: a session for the linked (or new) account and
    /// the flow's return-to; any failure is `auth.oidc_failed` with its reason, then
    /// `401 invalid_credentials` (or `mfa_required` for an account with TOTP).
    pub async fn callback(
        &self,
        provider: &str,
        cb: &Callback<'_>,
        client: ClientInfo,
        replaces: Option<SessionId>,
    ) -> Result<(Landed, Option<String>)> {
        let p = self.provider(provider)?;
        match self.finish(p, cb, &client).await {
            Ok((user, return_to)) => {
                match self.auth.external_sign_in(user, client, replaces).await {
                    Ok(outcome) => Ok((Landed::SignedIn(Box::new(outcome)), return_to)),
                    Err(Error::MfaRequired(challenge)) => {
                        Ok((Landed::SecondStep(challenge), return_to))
                    }
                    Err(e) => Err(e),
                }
            }
            Err(failed) => {
                let now = self.ambient.now();
                let event = NewEvent::new(
                    Chain::System,
                    Category::Security,
                    "auth.oidc_failed",
                    Actor::Anonymous,
                    &client,
                    now,
                )
                .outcome(Outcome::Failure)
                .details(json!({ "provider": p.id, "reason": failed.reason }));
                self.audit.append(vec![event]).await?;
                Err(Error::Unauthenticated(AuthFailure::InvalidCredentials))
            }
        }
    }

    async fn finish(
        &self,
        p: &Provider,
        cb: &Callback<'_>,
        client: &ClientInfo,
    ) -> std::result::Result<(crate::store::User, Option<String>), Failed> {
        if let Some(error) = cb.error {
            let error: String = error
                .chars()
                .filter(char::is_ascii_graphic)
                .take(64)
                .collect();
            return Err(fail(format!("provider_error:{error}")));
        }
        let state = cb
            .state
            .filter(|s| !s.is_empty())
            .ok_or_else(|| fail("no_state"))?;
        let now = self.ambient.now();
        let flow = self
            .store
            .take_oidc_flow(&p.id, &token::digest(state), now)
            .await
            .map_err(|_| fail("store"))?
            .ok_or_else(|| fail("unknown_state"))?;
        let cookie = (cb.cookie)(flow.id).ok_or_else(|| fail("no_flow_cookie"))?;
        if !bool::from(cookie.as_bytes().ct_eq(state.as_bytes())) {
            return Err(fail("state_cookie_mismatch"));
        }
        let discovery = self.discovery(p).await?;
        match cb.iss {
            Some(iss) if iss != discovery.issuer => return Err(fail("iss_mismatch")),
            None if discovery.authorization_response_iss_parameter_supported => {
                return Err(fail("iss_missing"));
            }
            _ => {}
        }
        let code = cb
            .code
            .filter(|c| !c.is_empty())
            .ok_or_else(|| fail("no_code"))?;
        let verifier = self
            .keyring
            .open(Some(&flow.sealed_by), &flow_aad(flow.id), &flow.verifier)
            .map_err(|_| fail("verifier_unsealable"))?;
        let verifier =
            String::from_utf8(verifier.plaintext.to_vec()).map_err(|_| fail("verifier"))?;
        let redirect_uri = self.redirect_uri(&p.id);
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", verifier.as_str()),
            ("client_id", p.client_id.as_str()),
        ];
        use crate::secret::ExposeSecret;
        let (status, answer) = self
            .http
            .post_form(
                &discovery.token_endpoint,
                &form,
                (&p.client_id, p.client_secret.expose_secret()),
            )
            .await
            .map_err(|e| fail(format!("token_endpoint: {e}")))?;
        if status != 200 {
            return Err(fail(format!("token_endpoint_status:{status}")));
        }
        let id_token = answer
            .get("id_token")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| fail("no_id_token"))?;
        let identity = self
            .validate(p, &discovery, id_token, &flow.nonce)
            .await
            .map_err(|r| fail(r.as_str()))?;
        let user = self.account_for(p, &discovery, &identity, client).await?;
        Ok((user, flow.return_to))
    }

    /// The ID token's algorithm, key, signature and claims.
    async fn validate(
        &self,
        p: &Provider,
        discovery: &Discovery,
        id_token: &str,
        nonce: &str,
    ) -> std::result::Result<oidc::Identity, Refusal> {
        let token = oidc::parse(id_token)?;
        if !oidc::algorithm_allowed(&token.alg, &discovery.id_token_signing_alg_values_supported) {
            return Err(Refusal::Algorithm);
        }
        let key = {
            let known = self.known.lock().await;
            known
                .get(&p.id)
                .and_then(|k| oidc::find_key(&k.jwks, &token).cloned())
        };
        let key = match key {
            Some(key) => key,
            None => self.refetch_key(p, discovery, &token).await?,
        };
        oidc::verify_signature(&token, &key)?;
        oidc::check_claims(
            &token.claims,
            &oidc::Expected {
                issuer: &discovery.issuer,
                client_id: &p.client_id,
                nonce,
                now: self.ambient.now(),
            },
        )
    }

    /// An unknown `kid`: the keys fetched again, at most once a minute per provider.
    async fn refetch_key(
        &self,
        p: &Provider,
        discovery: &Discovery,
        token: &oidc::UnverifiedToken,
    ) -> std::result::Result<oidc::Jwk, Refusal> {
        let now = self.ambient.now();
        {
            // Claimed before fetching: parallel callbacks (or a dead endpoint) fetch once a
            // minute at most.
            let mut known = self.known.lock().await;
            match known.get_mut(&p.id) {
                Some(k) if now - k.jwks_fetched < JWKS_REFETCH => {
                    return Err(Refusal::UnknownKey);
                }
                Some(k) => k.jwks_fetched = now,
                None => return Err(Refusal::UnknownKey),
            }
        }
        let jwks = self
            .fetch_jwks(discovery)
            .await
            .map_err(|_| Refusal::UnknownKey)?;
        let key = oidc::find_key(&jwks, token).cloned();
        if let Some(k) = self.known.lock().await.get_mut(&p.id) {
            k.jwks = jwks;
        }
        key.ok_or(Refusal::UnknownKey)
    }

    /// The account the identity signs in as: its link; else, with `link_by_verified_email`, the
    /// account of its verified address (linked now); else a new account if signup is open.
    async fn account_for(
        &self,
        p: &Provider,
        discovery: &Discovery,
        identity: &oidc::Identity,
        client: &ClientInfo,
    ) -> std::result::Result<crate::store::User, Failed> {
        let store_err = |_| fail("store");
        // The address counts only when the provider verified it: for the domain allow-list
        // (checked at every sign-in), for linking and for a new account.
        let email = identity
            .email
            .as_deref()
            .filter(|_| identity.email_verified)
            .and_then(|e| Email::parse(e).ok());
        if !p.allowed_email_domains.is_empty() {
            let domain = email
                .as_ref()
                .and_then(|e| e.key().rsplit('@').next().map(str::to_owned))
                .unwrap_or_default();
            if !p
                .allowed_email_domains
                .iter()
                .any(|d| d.eq_ignore_ascii_case(&domain))
            {
                return Err(fail("email_domain_not_allowed"));
            }
        }
        if let Some(link) = self
            .store
            .oidc_identity(&discovery.issuer, &identity.subject)
            .await
            .map_err(store_err)?
        {
            return match self
                .store
                .user_by_id(link.user_id)
                .await
                .map_err(store_err)?
            {
                Some(u) if !u.disabled => Ok(u),
                _ => Err(fail("account_disabled")),
            };
        }
        let email = email.ok_or_else(|| fail("no_verified_email"))?;
        let existing = self
            .store
            .user_by_email_key(email.key())
            .await
            .map_err(store_err)?;
        let user = match existing {
            // Both sides verified: an account someone registered with this address and never
            // proved is not handed to the provider's user.
            Some(u) if p.link_by_verified_email && u.email_verified_at.is_some() && !u.disabled => {
                u
            }
            Some(_) => return Err(fail("email_taken_not_linked")),
            None => self
                .auth
                .external_sign_up(&email, identity.name.as_deref(), true, client)
                .await
                .map_err(|e| match e {
                    Error::Forbidden(_) => fail("signup_closed"),
                    _ => fail("signup_failed"),
                })?,
        };
        let now = self.ambient.now();
        let link = OidcIdentity {
            id: self.ambient.id().map_err(|_| fail("id"))?,
            user_id: user.id,
            provider: p.id.clone(),
            issuer: discovery.issuer.clone(),
            subject: identity.subject.clone(),
            email: Some(email.as_str().to_owned()),
            created_at: now,
        };
        let event = NewEvent::new(
            Chain::System,
            Category::Security,
            "auth.identity_linked",
            Actor::User(user.id),
            client,
            now,
        )
        .target(Target::new("identity", link.id))
        .subject(Some(user.id))
        .details(json!({ "provider": p.id }));
        self.store
            .link_oidc_identity(&link, &[event])
            .await
            .map_err(|_| fail("link_failed"))?;
        Ok(user)
    }

    /// `GET /v1/auth/identities`.
    pub async fn identities(&self, user: UserId) -> Result<Vec<OidcIdentity>> {
        self.store.oidc_identities(user).await
    }

    /// `DELETE /v1/auth/identities/{id}`: `404` for another user's; `409` when it is the last
    /// way to sign in (no password, no passkey, no other link).
    pub async fn unlink(
        &self,
        principal: &SessionPrincipal,
        id: &str,
        client: &ClientInfo,
    ) -> Result<()> {
        let user = &principal.user;
        let id: OidcIdentityId = id.parse()?;
        let links = self.store.oidc_identities(user.id).await?;
        if !links.iter().any(|l| l.id == id) {
            return Err(Error::NotFound);
        }
        let other_way = user.password_hash.is_some()
            || links.len() > 1
            || !self.store.passkeys(user.id).await?.is_empty();
        if !other_way {
            return Err(Error::Conflict(ConflictReason::LastSignInMethod));
        }
        let now = self.ambient.now();
        let event = NewEvent::new(
            Chain::System,
            Category::Security,
            "auth.identity_unlinked",
            Actor::User(user.id),
            client,
            now,
        )
        .target(Target::new("identity", id))
        .subject(Some(user.id));
        if self
            .store
            .unlink_oidc_identity(user.id, id, &[event])
            .await?
        {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }
}
