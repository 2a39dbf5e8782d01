//! `SqlStore<D>`: every storage port over one backend's pool, the SQL written once for both
//! databases in the shared dialect (`$N` placeholders, BIGINT unix seconds, TEXT ids,
//! `ON CONFLICT`, `RETURNING`); what differs comes from `D:` [`Dialect`].
//!
//! Every org-scoped method opens its transaction with [`ORG_SETTING`] set to its org, so under
//! PostgreSQL a query that forgot its `org_id` filter still sees only that org.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, OnceLock};

use gatehouse_core::Result;
use gatehouse_core::changes::{Change, ChangeSink};
use gatehouse_core::ids::OrgId;
use sqlx::pool::PoolConnection;
use sqlx::{Database, Pool};

use crate::dialect::{Dialect, Tx};
use crate::hot_reads::{HotConn, HotReads};
use crate::rows::db_err;

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
/// Lets a lookup read the one personal access token whose public id was presented.
pub const PERSONAL_TOKEN_SETTING: &str = "gatehouse.personal_token";
/// Lets a transaction see the invitations for one address (its case-folded key), across orgs.
pub const INVITED_EMAIL_SETTING: &str = "gatehouse.invited_email";

/// The storage ports on one database.
pub struct SqlStore<D: Dialect> {
    pub(crate) pool: Pool<D::Db>,
    /// Connections for the hottest one-statement reads (see [`SqlStore::hot_read`]).
    hot: Arc<HotReads<D::Db>>,
    /// This process's caches, told of each user change once it has committed.
    local: Arc<OnceLock<Arc<dyn ChangeSink>>>,
}

/// The change-feed payload of a user change (`u:<id>`, `u:*`) or a revoked token id (`j:<jti>`).
pub(crate) fn payload(change: &Change) -> String {
    match change {
        Change::User(user) => format!("u:{user}"),
        Change::AllUsers => "u:*".to_owned(),
        Change::Jti(jti) => format!("j:{jti}"),
        Change::ApiKey(public_id) => public_id.clone(),
        Change::AllKeys => ALL_KEYS.to_owned(),
    }
}

/// The change a payload names (the inverse of [`payload`]; empty: the heartbeat).
pub(crate) fn change_of(payload: &str) -> Option<Change> {
    Some(match payload {
        "" => return None,
        ALL_KEYS => Change::AllKeys,
        "u:*" => Change::AllUsers,
        p => match (p.strip_prefix("u:"), p.strip_prefix("j:")) {
            (Some(user), _) => Change::User(user.parse().ok()?),
            (_, Some(jti)) => Change::Jti(jti.to_owned()),
            _ => Change::ApiKey(p.to_owned()),
        },
    })
}

impl<D: Dialect> SqlStore<D> {
    pub(crate) fn new(pool: Pool<D::Db>) -> Self {
        Self {
            hot: Arc::new(HotReads::new(pool.clone(), D::HOT_READ_CONNECTIONS)),
            pool,
            local: Arc::new(OnceLock::new()),
        }
    }

    /// Whom to tell of user changes committed here.
    pub fn set_local_sink(&self, sink: Arc<dyn ChangeSink>) {
        let _ = self.local.set(sink);
    }

    /// Announces `change` to the other instances; delivered when `tx` commits (PostgreSQL).
    pub(crate) async fn publish_in(tx: &mut Tx<D>, change: &Change) -> Result<()> {
        D::notify_key_change(tx, &payload(change)).await
    }

    /// Tells this process's caches, after the commit.
    pub(crate) fn committed(&self, change: Change) {
        if let Some(sink) = self.local.get() {
            sink.changed(change);
        }
    }

    #[must_use]
    pub fn pool(&self) -> &Pool<D::Db> {
        &self.pool
    }

    pub(crate) async fn read_tx(&self) -> Result<Tx<D>> {
        self.pool.begin().await.map_err(db_err)
    }

    pub(crate) async fn write_tx(&self) -> Result<Tx<D>> {
        self.pool.begin_with(D::BEGIN_WRITE).await.map_err(db_err)
    }

    /// A connection for one read statement that may see `org` only: a transaction with the
    /// org setting where the backend's row security needs one, a plain pooled connection
    /// otherwise. Hot single reads (a vault read) use it; end it with [`OrgRead::finish`].
    pub(crate) async fn org_read(&self, org: OrgId) -> Result<OrgRead<D>> {
        if D::SCOPED_READS_NEED_TX {
            Ok(OrgRead::Tx(self.org_tx(org, false).await?))
        } else {
            Ok(OrgRead::Conn(self.pool.acquire().await.map_err(db_err)?))
        }
    }

    /// A connection for one hot read statement, outside any transaction; release it once the
    /// statement has succeeded (see [`crate::hot_reads`]).
    pub(crate) async fn hot_read(&self) -> Result<HotConn<'_, D::Db>> {
        self.hot.acquire().await
    }

    /// The statement of a hot one-statement read scoped to an org, to run on the pool outside
    /// any transaction: `plain` where a bare statement needs no setting (SQLite), `function`
    /// where row security does (PostgreSQL: a read function of migration 0013 that sets the
    /// org and reads in the statement's own transaction, one round trip instead of three).
    pub(crate) const fn scoped_statement(
        plain: &'static str,
        function: &'static str,
    ) -> &'static str {
        if D::SCOPED_READS_NEED_TX {
            function
        } else {
            plain
        }
    }

    /// A transaction that may see `org` only.
    pub(crate) async fn org_tx(&self, org: OrgId, write: bool) -> Result<Tx<D>> {
        D::begin_scoped(&self.pool, write, ORG_SETTING, &org.to_string()).await
    }
}

/// See [`SqlStore::org_read`].
pub(crate) enum OrgRead<D: Dialect> {
    Tx(Tx<D>),
    Conn(PoolConnection<D::Db>),
}

impl<D: Dialect> OrgRead<D> {
    /// Commits the read's transaction, if it has one.
    pub(crate) async fn finish(self) -> Result<()> {
        match self {
            Self::Tx(tx) => tx.commit().await.map_err(db_err),
            Self::Conn(_) => Ok(()),
        }
    }
}

impl<D: Dialect> Deref for OrgRead<D> {
    type Target = <D::Db as Database>::Connection;
    fn deref(&self) -> &Self::Target {
        match self {
            Self::Tx(tx) => tx,
            Self::Conn(c) => c,
        }
    }
}

impl<D: Dialect> DerefMut for OrgRead<D> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match self {
            Self::Tx(tx) => tx,
            Self::Conn(c) => c,
        }
    }
}
