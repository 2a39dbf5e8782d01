//! `POST /v1/introspect` (RFC 7662): whether a token is active, for an API key holding the
//! `introspect` scope. A key of org A learns only about credentials of org A: its own keys, and
//! sessions of A's members; everything else is `{"active": false}`. Database trouble is an
//! error, never "inactive".

use crate::Error;
use crate::Result;
use crate::service::access::{KeyPrincipal, Principal, insufficient_scope};
use crate::service::{
    ApiKeyService, AuthService, OrgService, SessionPrincipal, TokenPrincipal, TokenService,
};
use crate::token;

/// What introspection found.
#[derive(Debug)]
pub enum Introspection {
    Inactive,
    Session(Box<SessionPrincipal>),
    ApiKey(KeyPrincipal),
    Token(Box<TokenPrincipal>),
}

/// Checks the caller, then the token.
pub async fn introspect(
    caller: &Principal,
    token: &str,
    auth: &AuthService,
    keys: &ApiKeyService,
    tokens: &TokenService,
    orgs: &OrgService,
) -> Result<Introspection> {
    let Principal::ApiKey(caller) = caller else {
        return Err(insufficient_scope());
    };
    if !caller.scopes.allows(crate::scope::INTROSPECT) {
        return Err(insufficient_scope());
    }
    let org = caller.org_id();
    if token::api_key_public_id(token).is_some() {
        return match keys.authenticate(token).await {
            Ok(k) if k.org_id() == org => Ok(Introspection::ApiKey(k)),
            Ok(_) | Err(Error::Unauthenticated(_)) => Ok(Introspection::Inactive),
            Err(e) => Err(e),
        };
    }
    if token.matches('.').count() == 2 {
        return match tokens.authenticate(token).await {
            Ok(t)
                if t.org_id.is_none_or(|bound| bound == org)
                    && orgs.is_member(org, t.user.id).await? =>
            {
                Ok(Introspection::Token(Box::new(t)))
            }
            Ok(_) | Err(Error::Unauthenticated(_)) => Ok(Introspection::Inactive),
            Err(e) => Err(e),
        };
    }
    if token::looks_like_token(token) {
        return match auth.authenticate_session(token).await {
            Ok(s) if orgs.is_member(org, s.user.id).await? => {
                Ok(Introspection::Session(Box::new(s)))
            }
            Ok(_) | Err(Error::Unauthenticated(_)) => Ok(Introspection::Inactive),
            Err(e) => Err(e),
        };
    }
    Ok(Introspection::Inactive)
}
