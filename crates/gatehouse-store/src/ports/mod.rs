//! The storage ports' SQL, written once over [`Dialect`](crate::dialect::Dialect) for both
//! backends, one file per port.

mod api_keys;
mod audit;
mod email;
mod export_cursors;
mod grants;
mod identity;
mod invitations;
mod limits;
mod mfa;
mod oidc;
mod orgs;
mod passkeys;
mod personal_tokens;
mod secrets;
mod system;
mod tokens;

/// What every port file uses.
mod prelude {
    pub(crate) use async_trait::async_trait;
    pub(crate) use gatehouse_core::audit::NewEvent;
    pub(crate) use gatehouse_core::changes::Change;
    pub(crate) use gatehouse_core::clock::unix;
    pub(crate) use gatehouse_core::error::{AuthFailure, ConflictReason};
    pub(crate) use gatehouse_core::ids::{OrgId, SessionId, UserId};
    pub(crate) use gatehouse_core::role::Role;
    pub(crate) use gatehouse_core::store::*;
    pub(crate) use gatehouse_core::{Error, Result};
    pub(crate) use sqlx::{
        AssertSqlSafe, ColumnIndex, Database, Decode, Encode, Executor, FromRow, IntoArguments,
        Type,
    };
    pub(crate) use time::OffsetDateTime;

    pub(crate) use super::identity::{INSERT_USER, USER_COLUMNS, UserRow};
    pub(crate) use super::orgs::{ORG_COLUMNS, OrgRow};
    pub(crate) use crate::dialect::{DbRow, Dialect, Tx};
    pub(crate) use crate::rows::*;
    pub(crate) use crate::sql_store::{
        ALL_KEYS, INVITATION_SETTING, INVITED_EMAIL_SETTING, PERSONAL_TOKEN_SETTING, SqlStore,
        TOKEN_FAMILY_SETTING, USER_SETTING,
    };
}
