//! The storage ports' SQL, written once and instantiated for each backend by `impl_ports!`.
//! The SQL is the dialect both databases share: `$N` placeholders, BIGINT unix seconds, TEXT
//! ids, `ON CONFLICT`, `RETURNING`. What differs lives in `sqlite.rs` and `postgres.rs`, behind
//! three items every backend store provides:
//! - `async fn set_local(tx, setting, value)`: a per-transaction setting (PostgreSQL
//!   `set_config(…, true)`, read by the row-level security policies; a no-op on SQLite);
//! - `async fn notify_key_change(tx, public_id)`: tells every instance a key changed, at commit;
//! - `const FOR_UPDATE`: the row-lock suffix (SQLite serializes writers with `BEGIN IMMEDIATE`).
//!
//! Every org-scoped method opens its transaction with [`ORG_SETTING`] set to its org, so under
//! PostgreSQL a query that forgot its `org_id` filter still sees only that org.

mod api_keys;
mod audit;
mod identity;
mod invitations;
mod limits;
mod orgs;
mod system;
mod tokens;

pub(crate) use api_keys::impl_api_keys;
pub(crate) use audit::impl_audit;
pub(crate) use identity::impl_identity;
pub(crate) use invitations::impl_invitations;
pub(crate) use limits::impl_limits;
pub(crate) use orgs::impl_orgs;
pub(crate) use system::impl_system;
pub(crate) use tokens::impl_tokens;

/// The change-feed payload that drops every cached key (an org renamed or deleted).
pub const ALL_KEYS: &str = "*";

/// The org a transaction may see (`current_setting('gatehouse.org_id')` in the policies).
pub const ORG_SETTING: &str = "gatehouse.org_id";
/// The user whose memberships a transaction may list across orgs.
pub const USER_SETTING: &str = "gatehouse.user_id";
/// Lets a transaction see and write the `system` audit chain.
pub const SYSTEM_SETTING: &str = "gatehouse.system";
/// The one refresh family a presented token names (read only).
pub const TOKEN_FAMILY_SETTING: &str = "gatehouse.token_family";
/// The one API key a lookup by public id may see.
pub const API_KEY_SETTING: &str = "gatehouse.api_key";
/// The one invitation (hex digest of its token) a lookup may see.
pub const INVITATION_SETTING: &str = "gatehouse.invitation";

/// Implements every core storage port for `$store` (a struct with `pool: sqlx::Pool<$db>`).
/// `$begin` is the statement that opens a write transaction.
macro_rules! impl_ports {
    ($store:ty, $db:ty, $begin:expr) => {
        use async_trait::async_trait;
        use gatehouse_core::clock::unix;
        use gatehouse_core::error::AuthFailure;
        use gatehouse_core::ids::{ApiKeyId, OrgId, SessionId, UserId};
        use gatehouse_core::role::Role;
        use gatehouse_core::store::*;
        use gatehouse_core::{Error, Result};
        use sqlx::Row as _;
        use time::OffsetDateTime;
        use $crate::ports::{
            ALL_KEYS, API_KEY_SETTING, INVITATION_SETTING, ORG_SETTING, SYSTEM_SETTING,
            TOKEN_FAMILY_SETTING, USER_SETTING,
        };
        use $crate::rows::*;

        type DbRow = <$db as sqlx::Database>::Row;
        type Tx = sqlx::Transaction<'static, $db>;

        impl $store {
            async fn read_tx(&self) -> Result<Tx> {
                self.pool.begin().await.map_err(db_err)
            }

            async fn write_tx(&self) -> Result<Tx> {
                self.pool.begin_with($begin).await.map_err(db_err)
            }

            /// A transaction that may see `org` only.
            async fn org_tx(&self, org: OrgId, write: bool) -> Result<Tx> {
                let mut tx = if write {
                    self.write_tx().await?
                } else {
                    self.read_tx().await?
                };
                Self::set_local(&mut tx, ORG_SETTING, &org.to_string()).await?;
                Ok(tx)
            }
        }

        $crate::ports::impl_audit!($store, $db);
        $crate::ports::impl_identity!($store, $db);
        $crate::ports::impl_orgs!($store, $db);
        $crate::ports::impl_invitations!($store, $db);
        $crate::ports::impl_api_keys!($store, $db);
        $crate::ports::impl_system!($store, $db);
        $crate::ports::impl_tokens!($store, $db);
        $crate::ports::impl_limits!($store, $db);
    };
}

pub(crate) use impl_ports;
