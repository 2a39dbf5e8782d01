//! Access and refresh tokens (SPEC §5): the password and refresh grants, rotation with reuse
//! detection, revocation (RFC 7009), the signing key ring (sealed private keys, rotation, the
//! JWKS), and authentication of requests by access token.

use crate::secret::SecretString;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde_json::json;
use sha2::Digest;
use time::OffsetDateTime;

use crate::ambient::Ambient;
use crate::audit::{Actor, Category, Chain, NewEvent, Outcome, Target};
use crate::error::AuthFailure;
use crate::gateway::{ASSERTION_TTL_SECS, ASSERTION_TYP, AssertionClaims};
use crate::ids::{FamilyId, OrgId, UserId};
use crate::jwt::{self, AccessClaims, JwtError, Signer25519};
use crate::scope::Scopes;
use crate::service::user_cache::UserCache;
use crate::service::{AuthService, ClientInfo};
use crate::store::{RefreshToken, Rotation, Store, TokenFamily, TokenState, User};
use crate::token_policy::{Refusal, role_may_hold};
use crate::vault::Keyring;
use crate::{Error, Result, token};

pub(crate) mod keys;

/// Most verified tokens remembered (cleared when full, and whenever the keys are reloaded).
const VERIFIED_CAPACITY: usize = 50_000;

/// Refresh tokens start with this.
pub const REFRESH_PREFIX: &str = "grt_";

/// What the token service is configured with.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

/// A token response (`POST /v1/auth/token`).
pub struct Issued {
    pub access_token: SecretString,
    pub expires_in: u64,
    pub refresh_token: SecretString,
    pub scope: String,
}

/// A request authenticated by an access token.
#[derive(Debug, Clone)]
pub struct TokenPrincipal {
    pub claims: AccessClaims,
    pub user: User,
    pub org_id: Option<OrgId>,
    pub scopes: Vec<String>,
}

#[derive(Default)]
struct Ring {
    signer: Option<Arc<Signer25519>>,
    published: HashMap<String, ed25519_dalek::VerifyingKey>,
    loaded: Option<Instant>,
}

pub struct TokenService {
    store: Arc<dyn Store>,
    ambient: Ambient,
    auth: Arc<AuthService>,
    keyring: Arc<Keyring>,
    settings: TokenSettings,
    ring: RwLock<Ring>,
    /// Tokens whose signature and claims verified, by SHA-256 of the whole token: a client
    /// presents one access token many times, and a hit costs a hash instead of an EdDSA check.
    verified: RwLock<HashMap<[u8; 32], AccessClaims>>,
    /// Revocation states already read (SPEC §6's rule: dropped on every committed change).
    user_cache: Option<Arc<UserCache>>,
}

fn unauthenticated() -> Error {
    Error::Unauthenticated(AuthFailure::Unauthenticated)
}

fn revoked() -> Error {
    Error::Unauthenticated(AuthFailure::Revoked)
}

impl TokenService {
    pub fn new(
        store: Arc<dyn Store>,
        ambient: Ambient,
        auth: Arc<AuthService>,
        keyring: Arc<Keyring>,
        settings: TokenSettings,
    ) -> Self {
        TokenService {
            store,
            ambient,
            auth,
            keyring,
            settings,
            ring: RwLock::new(Ring::default()),
            verified: RwLock::new(HashMap::new()),
            user_cache: None,
        }
    }

    /// Reads revocation states through `cache`.
    pub fn with_user_cache(mut self, cache: Arc<UserCache>) -> Self {
        self.user_cache = Some(cache);
        self
    }

    async fn token_state(&self, family: FamilyId, jti: &str, user: UserId) -> Result<TokenState> {
        let Some(cache) = &self.user_cache else {
            return self.store.token_state(family, jti, user).await;
        };
        if let Some(hit) = cache.token(family, jti) {
            return Ok(hit);
        }
        let generation = cache.generation();
        let state = self.store.token_state(family, jti, user).await?;
        cache.put_token(generation, family, jti, user, &state);
        Ok(state)
    }

    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    /// The full offline check (EdDSA signature, header, claims), without the cache of tokens
    /// already verified.
    pub fn verify_uncached(&self, token: &str) -> std::result::Result<AccessClaims, JwtError> {
        let now = self.ambient.now().unix_timestamp();
        jwt::verify(
            token,
            |kid| self.public_key(kid),
            &self.settings.issuer,
            &self.settings.audience,
            now,
        )
    }

    /// Signature and claims only, as any resource server would check them offline.
    pub fn verify_offline(&self, token: &str) -> std::result::Result<AccessClaims, JwtError> {
        let now = self.ambient.now().unix_timestamp();
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        if let Some(claims) = self
            .verified
            .read()
            .ok()
            .and_then(|v| v.get(&digest).cloned())
        {
            // Same bytes as a token whose signature and claims already checked out: only time
            // can have changed its verdict.
            if now >= claims.exp + jwt::LEEWAY_SECS {
                return Err(JwtError::Expired);
            }
            return Ok(claims);
        }
        let claims = self.verify_uncached(token)?;
        if let Ok(mut v) = self.verified.write() {
            if v.len() >= VERIFIED_CAPACITY {
                v.clear();
            }
            v.insert(digest, claims.clone());
        }
        Ok(claims)
    }

    /// An access token on one of gatehouse's own routes: offline checks, then revocation (its
    /// `jti`, its family, the user's last logout-all or password change, a disabled user).
    pub async fn authenticate(&self, token: &str) -> Result<TokenPrincipal> {
        let mut result = self.verify_offline(token);
        if result == Err(JwtError::UnknownKey) && self.may_reload() {
            self.reload_keys().await?;
            result = self.verify_offline(token);
        }
        let claims = match result {
            Ok(c) => c,
            Err(JwtError::Expired) => return Err(Error::Unauthenticated(AuthFailure::Expired)),
            Err(_) => return Err(unauthenticated()),
        };
        let (Ok(user_id), Ok(family)) = (claims.sub.parse(), claims.sid.parse::<FamilyId>()) else {
            return Err(unauthenticated());
        };
        let state = self.token_state(family, &claims.jti, user_id).await?;
        let Some(user) = state.user else {
            return Err(unauthenticated());
        };
        if state.family_revoked
            || state.jti_revoked
            || user.disabled
            || claims.iat < user.credentials_valid_after.unix_timestamp()
        {
            return Err(revoked());
        }
        let org_id = match &claims.org_id {
            Some(o) => Some(o.parse().map_err(|_| unauthenticated())?),
            None => None,
        };
        let scopes = claims
            .scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(TokenPrincipal {
            claims,
            user,
            org_id,
            scopes,
        })
    }

    /// `grant_type=password`: the user's credentials, an optional org they belong to, and the
    /// scopes asked for (at most what their role there allows).
    pub async fn password_grant(
        &self,
        email: &str,
        password: &str,
        org: Option<&str>,
        scope: Option<&str>,
        client: &ClientInfo,
    ) -> Result<Issued> {
        let user = self.auth.check_password(email, password, client).await?;
        let requested: Vec<String> = scope
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let (org_id, scopes) = match org {
            None if requested.is_empty() => (None, Vec::new()),
            None => return Err(Error::field("scope", "needs_org")),
            Some(o) => {
                let org_id: OrgId = o
                    .parse()
                    .map_err(|_| Error::field("org_id", "not_a_member"))?;
                let role = self
                    .store
                    .org_for_member(org_id, user.id)
                    .await?
                    .map(|m| m.role)
                    .ok_or_else(|| Error::field("org_id", "not_a_member"))?;
                let scopes = Scopes::parse_for_token(&requested)?.as_slice().to_vec();
                let policy = self.store.token_scope_policy(org_id).await?;
                if !scopes.iter().all(|s| role_may_hold(role, s, &policy)) {
                    return Err(Error::field("scope", "not_allowed"));
                }
                (Some(org_id), scopes)
            }
        };
        let now = self.ambient.now();
        let family = TokenFamily {
            id: self.ambient.id()?,
            user_id: user.id,
            org_id,
            scope: scopes.join(" "),
            created_at: now,
            expires_at: now + self.settings.refresh_ttl,
            revoked_at: None,
            credential_epoch: user.credential_epoch,
        };
        let (refresh, secret) = self.new_refresh(&family, now)?;
        let event = token_event("token.issued", &family, Actor::User(user.id), client, now)
            .details(json!({ "grant": "password", "org_id": org_id, "scope": family.scope }));
        self.store
            .create_family(&family, &refresh, &token::digest(&secret), &[event])
            .await?;
        self.issue(&family, secret, now)
    }

    /// `grant_type=refresh_token`: spends the token and returns a new pair. A token presented
    /// twice revokes its whole family and records `token.refresh_reuse`.
    pub async fn refresh_grant(&self, presented: &str, client: &ClientInfo) -> Result<Issued> {
        let invalid = Error::Unauthenticated(AuthFailure::InvalidCredentials);
        if !presented
            .strip_prefix(REFRESH_PREFIX)
            .is_some_and(token::looks_like_token)
        {
            return Err(invalid);
        }
        let (old, family) = self
            .store
            .refresh_by_digest(&token::digest(presented))
            .await?
            .ok_or(invalid)?;
        let now = self.ambient.now();
        if family.revoked_at.is_some() {
            return Err(revoked());
        }
        if old.used_at.is_some() {
            self.reuse_detected(&family, client, now).await?;
            return Err(revoked());
        }
        if old.expires_at <= now {
            return Err(Error::Unauthenticated(AuthFailure::Expired));
        }
        let (next, secret) = self.new_refresh(&family, now)?;
        let event = token_event(
            "token.refreshed",
            &family,
            Actor::User(family.user_id),
            client,
            now,
        );
        let rotation = self
            .store
            .rotate_refresh(
                &family,
                old.id,
                &next,
                &token::digest(&secret),
                now,
                &[event],
            )
            .await?;
        match rotation {
            Rotation::Rotated => self.issue(&family, secret, now),
            Rotation::Spent => {
                // Spent in the meantime (a concurrent refresh with the same token): reuse.
                self.reuse_detected(&family, client, now).await?;
                Err(revoked())
            }
            // Revoked meanwhile (a logout-all, a demotion): no reuse, just over.
            Rotation::Revoked => Err(revoked()),
            // Its lifetime is over: nothing to revoke, sign in again.
            Rotation::Refused(Refusal::Expired) => {
                Err(Error::Unauthenticated(AuthFailure::Expired))
            }
            Rotation::Refused(refusal) => {
                self.refused(&family, refusal, client, now).await?;
                Err(revoked())
            }
        }
    }

    /// The re-check refused the family: it is revoked for good, with the reason recorded.
    async fn refused(
        &self,
        family: &TokenFamily,
        refusal: Refusal,
        client: &ClientInfo,
        now: OffsetDateTime,
    ) -> Result<()> {
        let reason = match refusal {
            Refusal::Expired => "family_expired",
            Refusal::Revoked(reason) => reason,
        };
        let event = token_event("token.revoked", family, Actor::System, client, now)
            .outcome(Outcome::Denied)
            .details(json!({ "kind": "refresh_family", "reason": reason }));
        self.store
            .revoke_family(family, now, &[event])
            .await
            .map(|_| ())
    }

    async fn reuse_detected(
        &self,
        family: &TokenFamily,
        client: &ClientInfo,
        now: OffsetDateTime,
    ) -> Result<()> {
        let event = NewEvent::new(
            Chain::System,
            Category::Security,
            "token.refresh_reuse",
            Actor::System,
            client,
            now,
        )
        .outcome(Outcome::Denied)
        .target(Target::new("token_family", family.id))
        .subject(Some(family.user_id));
        self.store
            .revoke_family(family, now, &[event])
            .await
            .map(|_| ())
    }

    /// `POST /v1/auth/revoke` (RFC 7009): a refresh token revokes its family; an access token its
    /// `jti` (until it expires). Anything else is ignored: the answer is the same. No credential
    /// authenticates the request (holding the token is enough), so the events' actor is
    /// `anonymous`; the token's owner is their subject.
    pub async fn revoke(&self, presented: &str, client: &ClientInfo) -> Result<()> {
        let now = self.ambient.now();
        if presented.starts_with(REFRESH_PREFIX) {
            if let Some((_, family)) = self
                .store
                .refresh_by_digest(&token::digest(presented))
                .await?
            {
                let event = token_event("token.revoked", &family, Actor::Anonymous, client, now)
                    .details(json!({ "kind": "refresh_token" }));
                self.store.revoke_family(&family, now, &[event]).await?;
            }
            return Ok(());
        }
        // An expired access token needs no revoking: it no longer works anyway.
        if let Ok(claims) = self.verify_offline(presented) {
            let expires =
                OffsetDateTime::from_unix_timestamp(claims.exp + jwt::LEEWAY_SECS).unwrap_or(now);
            let subject = claims.sub.parse().ok();
            let event = NewEvent::new(
                Chain::System,
                Category::Security,
                "token.revoked",
                Actor::Anonymous,
                client,
                now,
            )
            .target(Target::new("access_token", &claims.jti))
            .details(json!({ "kind": "access_token", "sid": claims.sid }))
            .subject(subject);
            self.store
                .revoke_jti(&claims.jti, expires, now, &[event])
                .await?;
        }
        Ok(())
    }

    /// A new refresh token of `family`: it expires with the family at the latest.
    fn new_refresh(
        &self,
        family: &TokenFamily,
        now: OffsetDateTime,
    ) -> Result<(RefreshToken, String)> {
        let secret = format!("{REFRESH_PREFIX}{}", self.ambient.token()?);
        let t = RefreshToken {
            id: self.ambient.id()?,
            family_id: family.id,
            created_at: now,
            expires_at: (now + self.settings.refresh_ttl).min(family.expires_at),
            used_at: None,
        };
        Ok((t, secret))
    }

    fn current_signer(&self) -> Result<Arc<Signer25519>> {
        self.ring
            .read()
            .ok()
            .and_then(|r| r.signer.clone())
            .ok_or_else(|| Error::Unavailable("no signing key".into()))
    }

    /// A gateway assertion (SPEC §11) with the current signing key: `claims` with `iss`,
    /// `jti` and the times filled in here.
    pub fn sign_assertion(&self, mut claims: AssertionClaims) -> Result<String> {
        let signer = self.current_signer()?;
        let iat = self.ambient.now().unix_timestamp();
        claims.iss = self.settings.issuer.clone();
        claims.jti = self.ambient.uuid_v7()?.to_string();
        claims.iat = iat;
        claims.nbf = iat;
        claims.exp = iat + ASSERTION_TTL_SECS;
        Ok(signer.sign_typed(ASSERTION_TYP, &claims))
    }

    fn issue(
        &self,
        family: &TokenFamily,
        refresh_token: String,
        now: OffsetDateTime,
    ) -> Result<Issued> {
        let signer = self.current_signer()?;
        let iat = now.unix_timestamp();
        let ttl = self.settings.access_ttl.as_secs();
        let claims = AccessClaims {
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            sub: family.user_id.to_string(),
            org_id: family.org_id.map(|o| o.to_string()),
            scope: family.scope.clone(),
            sid: family.id.to_string(),
            jti: self.ambient.uuid_v7()?.to_string(),
            iat,
            nbf: iat,
            exp: iat + ttl as i64,
        };
        Ok(Issued {
            access_token: signer.sign(&claims).into(),
            expires_in: ttl,
            refresh_token: refresh_token.into(),
            scope: family.scope.clone(),
        })
    }
}

fn token_event(
    action: &str,
    family: &TokenFamily,
    actor: Actor,
    client: &ClientInfo,
    at: OffsetDateTime,
) -> NewEvent {
    NewEvent::new(Chain::System, Category::Security, action, actor, client, at)
        .target(Target::new("token_family", family.id))
        .subject(Some(family.user_id))
}
