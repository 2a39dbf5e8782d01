//! Typed identifiers (UUID v7), so a user id is never passed where an org id belongs. Services
//! make them with [`crate::ambient::Ambient::id`] (the injected clock and random source);
//! `new()` is for tests and fixtures only.

use std::fmt;
use std::str::FromStr;

macro_rules! id_type {
    ($name:ident) => {
        #[derive(
            Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A fresh id from the system clock and randomness, for tests and fixtures; the
            /// services take theirs from their [`crate::ambient::Ambient`].
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(id: uuid::Uuid) -> Self {
                Self(id)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.as_hyphenated().fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = crate::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|_| crate::Error::NotFound)
            }
        }
    };
}

id_type!(UserId);
id_type!(OrgId);
id_type!(SessionId);
id_type!(InvitationId);
id_type!(ApiKeyId);
id_type!(FamilyId);
id_type!(RefreshId);
id_type!(GrantId);
id_type!(PasskeyId);
id_type!(CeremonyId);
id_type!(EmailFlowId);
id_type!(OidcFlowId);
id_type!(OidcIdentityId);
id_type!(PersonalTokenId);
