//! `Debug` for the types that hold a password hash, a token, a digest or a secret: every other
//! field as derived, those as `[redacted]`, so a `{:?}` in a log line or a panic message never
//! carries one.

use std::fmt;

use crate::service::LoginOutcome;
use crate::service::orgs::IssuedInvitation;
use crate::service::tokens::Issued;
use crate::store::{ApiKey, NewSession, NewUser, StoredSigningKey, User};

/// What a redacted field prints.
pub const REDACTED: &str = "[redacted]";

/// A field that is present but not shown.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// `Some([redacted])` or `None`: whether a value is there is not a secret.
fn redacted_option<T>(value: Option<&T>) -> Option<Redacted> {
    value.map(|_| Redacted)
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("name", &self.name)
            .field(
                "password_hash",
                &redacted_option(self.password_hash.as_ref()),
            )
            .field("is_platform_admin", &self.is_platform_admin)
            .field("disabled", &self.disabled)
            .field("created_at", &self.created_at)
            .field("credentials_valid_after", &self.credentials_valid_after)
            .field("credential_epoch", &self.credential_epoch)
            .field("email_verified_at", &self.email_verified_at)
            .finish()
    }
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("email_key", &self.email_key)
            .field("name", &self.name)
            .field("password_hash", &Redacted)
            .field("is_platform_admin", &self.is_platform_admin)
            .field("created_at", &self.created_at)
            .finish()
    }
}

impl fmt::Debug for NewSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSession")
            .field("session", &self.session)
            .field("token_digest", &Redacted)
            .field("credential_epoch", &self.credential_epoch)
            .finish()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("name", &self.name)
            .field("public_id", &self.public_id)
            .field("digest", &Redacted)
            .field("scopes", &self.scopes)
            .field("created_by", &self.created_by)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("last_used_at", &self.last_used_at)
            .field("revoked_at", &self.revoked_at)
            .finish()
    }
}

impl fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSigningKey")
            .field("kid", &self.kid)
            .field("public_key", &self.public_key)
            .field("sealed_private", &Redacted)
            .field("sealed_by", &self.sealed_by)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish()
    }
}

impl fmt::Debug for LoginOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginOutcome")
            .field("user", &self.user)
            .field("session", &self.session)
            .field("token", &Redacted)
            .field("csrf_token", &Redacted)
            .finish()
    }
}

impl fmt::Debug for IssuedInvitation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedInvitation")
            .field("invitation", &self.invitation)
            .field("token", &Redacted)
            .finish()
    }
}

impl fmt::Debug for Issued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued")
            .field("access_token", &Redacted)
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &Redacted)
            .field("scope", &self.scope)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;
    use uuid::Uuid;

    use super::*;
    use crate::ids::{ApiKeyId, InvitationId, OrgId, SessionId, UserId};
    use crate::role::Role;
    use crate::store::{Invitation, Session};

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2VjcmV0c2FsdA$SECRETHASHSECRETHASH";
    const TOKEN: &str = "SECRETTOKENsecrettokenSECRETTOKENsecrettok";
    const DIGEST: [u8; 4] = [0xde, 0xad, 0xbe, 0xef];

    fn user() -> User {
        User {
            id: UserId(Uuid::nil()),
            email: "carol@example.com".into(),
            name: None,
            password_hash: Some(HASH.into()),
            is_platform_admin: false,
            disabled: false,
            created_at: OffsetDateTime::UNIX_EPOCH,
            credentials_valid_after: OffsetDateTime::UNIX_EPOCH,
            credential_epoch: 0,
            email_verified_at: None,
        }
    }

    fn session() -> Session {
        Session {
            id: SessionId(Uuid::nil()),
            user_id: UserId(Uuid::nil()),
            created_at: OffsetDateTime::UNIX_EPOCH,
            last_seen_at: OffsetDateTime::UNIX_EPOCH,
            expires_at: OffsetDateTime::UNIX_EPOCH,
            revoked_at: None,
            ip: None,
            user_agent: None,
        }
    }

    /// Neither the hash, the token nor the digest (as the list of numbers `Vec<u8>` prints).
    fn assert_clean(shown: &str) {
        assert!(shown.contains(REDACTED), "{shown}");
        for secret in ["SECRET", "secret", "c2VjcmV0", "222, 173", "0xde"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }

    #[test]
    fn debug_of_secret_holders_shows_no_secret() {
        let new_user = NewUser {
            id: UserId(Uuid::nil()),
            email: "carol@example.com".into(),
            email_key: "carol@example.com".into(),
            name: None,
            password_hash: Some(HASH.into()),
            is_platform_admin: false,
            created_at: OffsetDateTime::UNIX_EPOCH,
        };
        let key = ApiKey {
            id: ApiKeyId(Uuid::nil()),
            org_id: OrgId(Uuid::nil()),
            name: "ci".into(),
            public_id: "abcdefghijkl".into(),
            digest: DIGEST.to_vec(),
            scopes: vec![],
            created_by: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
        };
        let signing = StoredSigningKey {
            kid: "k1".into(),
            public_key: vec![],
            sealed_private: DIGEST.to_vec(),
            sealed_by: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            retired_at: None,
        };
        let invitation = IssuedInvitation {
            invitation: Invitation {
                id: InvitationId(Uuid::nil()),
                org_id: OrgId(Uuid::nil()),
                email: "dave@example.com".into(),
                email_key: "dave@example.com".into(),
                role: Role::Member,
                created_by: UserId(Uuid::nil()),
                created_at: OffsetDateTime::UNIX_EPOCH,
                expires_at: OffsetDateTime::UNIX_EPOCH,
                accepted_at: None,
            },
            token: TOKEN.into(),
        };
        let login = LoginOutcome {
            user: user(),
            session: session(),
            token: secrecy::SecretString::from(TOKEN),
            csrf_token: TOKEN.into(),
        };
        let issued = Issued {
            access_token: TOKEN.into(),
            expires_in: 900,
            refresh_token: TOKEN.into(),
            scope: "tasks:read".into(),
        };
        let new_session = NewSession {
            session: session(),
            token_digest: DIGEST.to_vec(),
            credential_epoch: 0,
        };
        for shown in [
            format!("{:?}", user()),
            format!("{new_user:?}"),
            format!("{key:?}"),
            format!("{signing:?}"),
            format!("{invitation:?}"),
            format!("{login:#?}"),
            format!("{issued:?}"),
            format!("{new_session:?}"),
        ] {
            assert_clean(&shown);
        }
        let mut no_password = user();
        no_password.password_hash = None;
        assert!(format!("{no_password:?}").contains("password_hash: None"));
    }
}
