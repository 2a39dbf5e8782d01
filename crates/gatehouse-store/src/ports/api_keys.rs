//! API keys: `ApiKeyStore` over any [`Dialect`]. Revocation and deletion announce the key's
//! public id in the same transaction, so every instance drops it from its cache when the change
//! commits.

use async_trait::async_trait;
use gatehouse_core::Result;
use gatehouse_core::audit::NewEvent;
use gatehouse_core::clock::unix;
use gatehouse_core::error::ConflictReason;
use gatehouse_core::ids::{ApiKeyId, OrgId};
use gatehouse_core::store::{ApiKey, ApiKeyStore, Org};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, FromRow, IntoArguments, Type};
use time::OffsetDateTime;

use crate::dialect::{DbRow, Dialect};
use crate::rows::{conflict_or, db_err, parse_id, time_of};
use crate::sql_store::{API_KEY_SETTING, SqlStore};

const INSERT: &str = "INSERT INTO api_keys \
     (id, org_id, name, public_id, digest, scopes, created_by, created_at, expires_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
const LIST: &str = "SELECT id, org_id, name, public_id, digest, scopes, created_by, created_at, \
     expires_at, last_used_at, revoked_at FROM api_keys WHERE org_id = $1 ORDER BY created_at, id";
const ONE: &str = "SELECT id, org_id, name, public_id, digest, scopes, created_by, created_at, \
     expires_at, last_used_at, revoked_at FROM api_keys WHERE org_id = $1 AND id = $2";
const BY_PUBLIC_ID: &str = "SELECT k.id, k.org_id, k.name, k.public_id, k.digest, k.scopes, \
     k.created_by, k.created_at, k.expires_at, k.last_used_at, k.revoked_at, \
     o.id AS o_id, o.name AS o_name, o.created_at AS o_created_at \
     FROM api_keys k JOIN orgs o ON o.id = k.org_id WHERE k.public_id = $1";
const REVOKE: &str = "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) \
     WHERE org_id = $2 AND id = $3 RETURNING id, org_id, name, public_id, digest, scopes, \
     created_by, created_at, expires_at, last_used_at, revoked_at";
const DELETE: &str = "DELETE FROM api_keys WHERE org_id = $1 AND id = $2 RETURNING id, org_id, \
     name, public_id, digest, scopes, created_by, created_at, expires_at, last_used_at, revoked_at";
const TOUCH: &str = "UPDATE api_keys SET last_used_at = $1 \
     WHERE org_id = $2 AND id = $3 AND (last_used_at IS NULL OR last_used_at < $1)";

/// A stored API key as the database returns it.
#[derive(FromRow)]
struct KeyRow {
    id: String,
    org_id: String,
    name: String,
    public_id: String,
    digest: Vec<u8>,
    scopes: String,
    created_by: Option<String>,
    created_at: i64,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

/// A key joined with its org.
#[derive(FromRow)]
struct KeyOrgRow {
    #[sqlx(flatten)]
    key: KeyRow,
    o_id: String,
    o_name: String,
    o_created_at: i64,
}

impl KeyRow {
    fn into_key(self) -> Result<ApiKey> {
        Ok(ApiKey {
            id: parse_id(&self.id)?,
            org_id: parse_id(&self.org_id)?,
            name: self.name,
            public_id: self.public_id,
            digest: self.digest,
            scopes: self
                .scopes
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            created_by: self.created_by.as_deref().map(parse_id).transpose()?,
            created_at: time_of(self.created_at),
            expires_at: self.expires_at.map(time_of),
            last_used_at: self.last_used_at.map(time_of),
            revoked_at: self.revoked_at.map(time_of),
        })
    }
}

impl KeyOrgRow {
    fn into_pair(self) -> Result<(ApiKey, Org)> {
        let org = Org {
            id: parse_id(&self.o_id)?,
            name: self.o_name,
            created_at: time_of(self.o_created_at),
        };
        Ok((self.key.into_key()?, org))
    }
}

#[async_trait]
impl<D: Dialect> ApiKeyStore for SqlStore<D>
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
    async fn create_api_key(&self, k: &ApiKey, audit: &[NewEvent]) -> Result<()> {
        let mut tx = self.org_tx(k.org_id, true).await?;
        sqlx::query(INSERT)
            .bind(k.id.to_string())
            .bind(k.org_id.to_string())
            .bind(k.name.clone())
            .bind(k.public_id.clone())
            .bind(k.digest.clone())
            .bind(k.scopes.join(" "))
            .bind(k.created_by.map(|u| u.to_string()))
            .bind(unix(k.created_at))
            .bind(k.expires_at.map(unix))
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict_or(e, ConflictReason::KeyCollision))?;
        Self::append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn api_keys(&self, org: OrgId) -> Result<Vec<ApiKey>> {
        let mut tx = self.org_tx(org, false).await?;
        let rows: Vec<KeyRow> = sqlx::query_as(LIST)
            .bind(org.to_string())
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        rows.into_iter().map(KeyRow::into_key).collect()
    }

    async fn api_key(&self, org: OrgId, id: ApiKeyId) -> Result<Option<ApiKey>> {
        let mut tx = self.org_tx(org, false).await?;
        let row: Option<KeyRow> = sqlx::query_as(ONE)
            .bind(org.to_string())
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        row.map(KeyRow::into_key).transpose()
    }

    async fn api_key_by_public_id(&self, public_id: &str) -> Result<Option<(ApiKey, Org)>> {
        let mut tx = self.read_tx().await?;
        D::set_local(&mut tx, API_KEY_SETTING, public_id).await?;
        let row: Option<KeyOrgRow> = sqlx::query_as(BY_PUBLIC_ID)
            .bind(public_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        row.map(KeyOrgRow::into_pair).transpose()
    }

    async fn revoke_api_key(
        &self,
        org: OrgId,
        id: ApiKeyId,
        at: OffsetDateTime,
        audit: &[NewEvent],
    ) -> Result<Option<ApiKey>> {
        let mut tx = self.org_tx(org, true).await?;
        let row: Option<KeyRow> = sqlx::query_as(REVOKE)
            .bind(unix(at))
            .bind(org.to_string())
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        let Some(key) = row.map(KeyRow::into_key).transpose()? else {
            return Ok(None);
        };
        D::notify_key_change(&mut tx, &key.public_id).await?;
        Self::append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(Some(key))
    }

    async fn delete_api_key(
        &self,
        org: OrgId,
        id: ApiKeyId,
        audit: &[NewEvent],
    ) -> Result<Option<ApiKey>> {
        let mut tx = self.org_tx(org, true).await?;
        let row: Option<KeyRow> = sqlx::query_as(DELETE)
            .bind(org.to_string())
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        let Some(key) = row.map(KeyRow::into_key).transpose()? else {
            return Ok(None);
        };
        // The key's grants go with it (SPEC §7).
        sqlx::query("DELETE FROM grants WHERE org_id = $1 AND subject = $2")
            .bind(org.to_string())
            .bind(format!("api_key:{id}"))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        D::notify_key_change(&mut tx, &key.public_id).await?;
        Self::append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(Some(key))
    }

    async fn touch_api_key(&self, org: OrgId, id: ApiKeyId, at: OffsetDateTime) -> Result<()> {
        let mut tx = self.org_tx(org, true).await?;
        sqlx::query(TOUCH)
            .bind(unix(at))
            .bind(org.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }
}
