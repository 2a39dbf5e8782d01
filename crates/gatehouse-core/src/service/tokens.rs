//! Access and refresh tokens (SPEC §5): the password and refresh grants, rotation with reuse
//! detection, revocation (RFC 7009), the signing key ring (sealed private keys, rotation, the
//! JWKS), and authentication of requests by access token.

use crate::secret::SecretString;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sha2::Digest;
use time::OffsetDateTime;

use crate::ambient::Ambient;
use crate::audit::{Actor, Category, Chain, NewEvent, Target};
use crate::error::AuthFailure;
use crate::gateway::{ASSERTION_TTL_SECS, ASSERTION_TYP, AssertionClaims};
use crate::ids::{FamilyId, OrgId, UserId};
use crate::jwt::{self, AccessClaims, JwtError, Signer25519};
use crate::service::user_cache::UserCache;
use crate::service::{AuthService, ClientInfo};
use crate::store::{Store, TokenFamily, TokenState, User};
use crate::vault::Keyring;
use crate::{Error, Result};

mod grants;
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
        Self {
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
    #[must_use]
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
