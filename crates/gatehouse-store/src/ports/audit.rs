//! The audit log's SQL: appending sealed events to their chains (inside whatever transaction
//! carries the change they describe) and reading chains back.

use async_trait::async_trait;
use gatehouse_core::audit::chain::{GENESIS, event_id, seal};
use gatehouse_core::audit::{Category, Chain, NewEvent, StoredEvent};
use gatehouse_core::ids::UserId;
use gatehouse_core::store::AuditStore;
use gatehouse_core::{Error, Result};
use sqlx::{
    ColumnIndex, Database, Decode, Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type,
};

use crate::dialect::{DbRow, Dialect, Tx};
use crate::rows::db_err;
use crate::sql_store::{ORG_SETTING, SYSTEM_SETTING, SqlStore, USER_SETTING};

/// Rows per multi-row INSERT (10 binds each, well under both databases' limits).
const AUDIT_INSERT_CHUNK: usize = 500;

/// Creates the chain's head row when missing and returns the head, in one statement; on
/// PostgreSQL the `DO UPDATE` locks the row until commit (what `FOR UPDATE` did), on SQLite
/// `BEGIN IMMEDIATE` already serializes writers.
const LOCK_HEAD: &str = "INSERT INTO audit_chains (chain, head_seq, head_hash) \
     VALUES ($1, 0, $2) ON CONFLICT (chain) DO UPDATE SET chain = excluded.chain \
     RETURNING head_seq, head_hash";
const INSERT_EVENTS: &str = "INSERT INTO audit_events \
     (chain, seq, id, org_id, at_ms, category, action, subject_user, body, hash) ";
const MOVE_HEAD: &str = "UPDATE audit_chains SET head_seq = $1, head_hash = $2 WHERE chain = $3";

/// A stored event as the database returns it.
#[derive(FromRow)]
struct EventRow {
    seq: i64,
    body: String,
    hash: String,
}

impl From<EventRow> for StoredEvent {
    fn from(r: EventRow) -> Self {
        Self {
            seq: r.seq,
            body: r.body,
            hash: r.hash,
        }
    }
}

/// Lets the transaction see and write `chain`.
async fn scope_chain<D: Dialect>(tx: &mut Tx<D>, chain: Chain) -> Result<()> {
    match chain {
        Chain::Org(org) => D::set_local(tx, ORG_SETTING, &org.to_string()).await,
        Chain::System => D::set_local(tx, SYSTEM_SETTING, "on").await,
    }
}

impl<D: Dialect> SqlStore<D>
where
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> String: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> i32: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> Vec<u8>: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<String>: Encode<'q, D::Db>,
    for<'q> Option<i64>: Encode<'q, D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + ColumnIndex<DbRow<D>>,
    usize: ColumnIndex<DbRow<D>>,
    for<'q> &'q [u8]: Encode<'q, D::Db>,
    str: Type<D::Db>,
    [u8]: Type<D::Db>,
{
    /// Seals and inserts `events` inside `tx`: per chain (in name order, so transactions lock
    /// chains in one order), lock the chain's head row, continue from it, move it.
    pub(crate) async fn append_in(tx: &mut Tx<D>, events: &[NewEvent]) -> Result<Vec<StoredEvent>> {
        let mut chains: Vec<Chain> = Vec::new();
        for e in events {
            if !chains.contains(&e.chain) {
                chains.push(e.chain);
            }
        }
        chains.sort_by_key(|c| c.name());
        let mut sealed: Vec<Option<StoredEvent>> = vec![None; events.len()];
        for chain in chains {
            let name = chain.name();
            scope_chain::<D>(tx, chain).await?;
            let (mut seq, mut prev): (i64, String) = sqlx::query_as(LOCK_HEAD)
                .bind(&name)
                .bind(GENESIS)
                .fetch_one(&mut **tx)
                .await
                .map_err(db_err)?;
            let mut rows: Vec<(&NewEvent, StoredEvent, String)> = Vec::new();
            for (i, e) in events.iter().enumerate().filter(|(_, e)| e.chain == chain) {
                seq += 1;
                let id = event_id(&e.chain, seq, &prev, e.at).to_string();
                let s = seal(e, seq, &prev);
                prev = s.hash.clone();
                sealed[i] = Some(s.clone());
                rows.push((e, s, id));
            }
            for chunk in rows.chunks(AUDIT_INSERT_CHUNK) {
                let mut q = QueryBuilder::<D::Db>::new(INSERT_EVENTS);
                q.push_values(chunk, |mut b, (e, s, id)| {
                    b.push_bind(name.clone())
                        .push_bind(s.seq)
                        .push_bind(id.clone())
                        .push_bind(e.chain.org().map(|o| o.to_string()))
                        .push_bind((e.at.unix_timestamp_nanos() / 1_000_000) as i64)
                        .push_bind(e.category.as_str())
                        .push_bind(e.action.clone())
                        .push_bind(e.subject.map(|u| u.to_string()))
                        .push_bind(s.body.clone())
                        .push_bind(s.hash.clone());
                });
                q.build().execute(&mut **tx).await.map_err(db_err)?;
            }
            sqlx::query(MOVE_HEAD)
                .bind(seq)
                .bind(&prev)
                .bind(&name)
                .execute(&mut **tx)
                .await
                .map_err(db_err)?;
        }
        Ok(sealed.into_iter().flatten().collect())
    }
}

#[async_trait]
impl<D: Dialect> AuditStore for SqlStore<D>
where
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> String: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> i32: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> Vec<u8>: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<String>: Encode<'q, D::Db>,
    for<'q> Option<i64>: Encode<'q, D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + ColumnIndex<DbRow<D>>,
    usize: ColumnIndex<DbRow<D>>,
    for<'q> &'q [u8]: Encode<'q, D::Db>,
    str: Type<D::Db>,
    [u8]: Type<D::Db>,
{
    async fn append_events(&self, events: &[NewEvent]) -> Result<Vec<StoredEvent>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.write_tx().await?;
        let sealed = Self::append_in(&mut tx, events).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(sealed)
    }

    async fn chain_events(
        &self,
        chain: Chain,
        after: i64,
        limit: u32,
        category: Option<Category>,
    ) -> Result<Vec<StoredEvent>> {
        let mut tx = self.read_tx().await?;
        scope_chain::<D>(&mut tx, chain).await?;
        let rows: Vec<EventRow> = match category {
            Some(c) => {
                sqlx::query_as(
                    "SELECT seq, body, hash FROM audit_events \
                     WHERE chain = $1 AND seq > $2 AND category = $3 ORDER BY seq LIMIT $4",
                )
                .bind(chain.name())
                .bind(after)
                .bind(c.as_str())
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await
            }
            None => {
                sqlx::query_as(
                    "SELECT seq, body, hash FROM audit_events \
                     WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                )
                .bind(chain.name())
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await
            }
        }
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(rows.into_iter().map(StoredEvent::from).collect())
    }

    async fn chain_head(&self, chain: Chain) -> Result<Option<(i64, String)>> {
        sqlx::query_as("SELECT head_seq, head_hash FROM audit_chains WHERE chain = $1")
            .bind(chain.name())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn user_events(&self, user: UserId, limit: u32) -> Result<Vec<StoredEvent>> {
        let mut tx = self.read_tx().await?;
        D::set_local(&mut tx, USER_SETTING, &user.to_string()).await?;
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT seq, body, hash FROM audit_events WHERE subject_user = $1 \
             AND category = 'security' ORDER BY at_ms DESC, chain, seq DESC LIMIT $2",
        )
        .bind(user.to_string())
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(rows.into_iter().map(StoredEvent::from).collect())
    }

    async fn chains(&self) -> Result<Vec<Chain>> {
        let names: Vec<(String,)> = sqlx::query_as("SELECT chain FROM audit_chains ORDER BY chain")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        names
            .into_iter()
            .map(|(name,)| {
                Chain::parse(&name).ok_or_else(|| Error::internal(format!("unknown chain {name}")))
            })
            .collect()
    }

    async fn verified_head(&self, chain: Chain) -> Result<Option<(i64, String)>> {
        sqlx::query_as(
            "SELECT verified_seq, verified_hash FROM audit_chains \
             WHERE chain = $1 AND verified_seq > 0",
        )
        .bind(chain.name())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn record_verified(&self, chain: Chain, seq: i64, hash: &str) -> Result<()> {
        sqlx::query(
            "UPDATE audit_chains SET verified_seq = $1, verified_hash = $2 \
             WHERE chain = $3 AND verified_seq < $1",
        )
        .bind(seq)
        .bind(hash)
        .bind(chain.name())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }
}
