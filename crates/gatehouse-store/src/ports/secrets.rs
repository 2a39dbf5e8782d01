//! The vault: `SecretStore` over any [`Dialect`]. One row per kept version; a write inserts the
//! next version (the primary key refuses a version another writer took), prunes what falls out
//! of the kept window and appends its audit event, in one transaction.

use sqlx::FromRow;

use super::prelude::*;

const COLUMNS: &str = "name, version, sealed, sealed_by, secret_created_at, created_at, \
     created_by_type, created_by_id";
const INSERT: &str = "INSERT INTO secrets (org_id, name, version, sealed, sealed_by, \
     secret_created_at, created_at, created_by_type, created_by_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
const PRUNE: &str = "DELETE FROM secrets WHERE org_id = $1 AND name = $2 AND version <= $3";
const LATEST: &str = "SELECT name, version, secret_created_at, created_at, created_by_type, \
     created_by_id FROM secrets WHERE org_id = $1 AND name = $2 ORDER BY version DESC LIMIT 1";
const LIST: &str = "SELECT s.name, s.version, s.secret_created_at, s.created_at, \
     s.created_by_type, s.created_by_id FROM secrets s WHERE s.org_id = $1 AND s.version = \
     (SELECT MAX(t.version) FROM secrets t WHERE t.org_id = s.org_id AND t.name = s.name) \
     ORDER BY s.name";
const DELETE: &str = "DELETE FROM secrets WHERE org_id = $1 AND name = $2 RETURNING version";
/// Version `$3` of a secret with its sealed value, or the latest when `$3` is NULL.
const VERSION: &str = "SELECT name, version, sealed, sealed_by, secret_created_at, created_at, \
     created_by_type, created_by_id FROM secrets WHERE org_id = $1 AND name = $2 \
     AND ($3 IS NULL OR version = $3) ORDER BY version DESC LIMIT 1";
/// [`VERSION`] as PostgreSQL's one-statement read function (migration 0013).
const VERSION_FN: &str = "SELECT name, version, sealed, sealed_by, secret_created_at, \
     created_at, created_by_type, created_by_id FROM gatehouse_secret_version($1, $2, $3)";
const ORG_IDS: &str = "SELECT id FROM orgs ORDER BY id";
const COUNT_TO_RESEAL: &str = "SELECT COUNT(*) FROM secrets WHERE org_id = $1 AND sealed_by <> $2";
const RESEAL: &str = "UPDATE secrets SET sealed = $1, sealed_by = $2 \
     WHERE org_id = $3 AND name = $4 AND version = $5 AND sealed_by = $6";

/// A secret's version without its value.
#[derive(FromRow)]
struct MetaRow {
    name: String,
    version: i64,
    secret_created_at: i64,
    created_at: i64,
    created_by_type: String,
    created_by_id: Option<String>,
}

/// A stored version with its sealed value.
#[derive(FromRow)]
struct VersionRow {
    name: String,
    version: i64,
    sealed: Vec<u8>,
    sealed_by: String,
    secret_created_at: i64,
    created_at: i64,
    created_by_type: String,
    created_by_id: Option<String>,
}

impl MetaRow {
    fn into_meta(self) -> SecretMeta {
        SecretMeta {
            name: self.name,
            version: self.version,
            created_at: time_of(self.secret_created_at),
            updated_at: time_of(self.created_at),
            updated_by: Writer {
                kind: self.created_by_type,
                id: self.created_by_id,
            },
        }
    }
}

impl VersionRow {
    fn into_version(self, org: OrgId) -> SecretVersion {
        SecretVersion {
            org_id: org,
            name: self.name,
            version: self.version,
            sealed: self.sealed,
            sealed_by: self.sealed_by,
            secret_created_at: time_of(self.secret_created_at),
            created_at: time_of(self.created_at),
            created_by: Writer {
                kind: self.created_by_type,
                id: self.created_by_id,
            },
        }
    }
}

#[async_trait]
impl<D: Dialect> SecretStore for SqlStore<D>
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
    async fn latest_secret(&self, org: OrgId, name: &str) -> Result<Option<SecretMeta>> {
        let mut tx = self.org_tx(org, false).await?;
        let row: Option<MetaRow> = sqlx::query_as(LATEST)
            .bind(org.to_string())
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(row.map(MetaRow::into_meta))
    }

    async fn put_secret(&self, v: &SecretVersion, keep: i64, audit: &[NewEvent]) -> Result<()> {
        let mut tx = self.org_tx(v.org_id, true).await?;
        sqlx::query(INSERT)
            .bind(v.org_id.to_string())
            .bind(v.name.as_str())
            .bind(v.version)
            .bind(v.sealed.as_slice())
            .bind(v.sealed_by.as_str())
            .bind(unix(v.secret_created_at))
            .bind(unix(v.created_at))
            .bind(v.created_by.kind.as_str())
            .bind(v.created_by.id.clone())
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict_or(e, ConflictReason::SecretVersionTaken))?;
        sqlx::query(PRUNE)
            .bind(v.org_id.to_string())
            .bind(v.name.as_str())
            .bind(v.version - keep)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        Self::append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn secrets(&self, org: OrgId) -> Result<Vec<SecretMeta>> {
        let mut tx = self.org_tx(org, false).await?;
        let rows: Vec<MetaRow> = sqlx::query_as(LIST)
            .bind(org.to_string())
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(rows.into_iter().map(MetaRow::into_meta).collect())
    }

    async fn secret(
        &self,
        org: OrgId,
        name: &str,
        version: Option<i64>,
    ) -> Result<Option<SecretVersion>> {
        let row: Option<VersionRow> = sqlx::query_as(Self::scoped_statement(VERSION, VERSION_FN))
            .bind(org.to_string())
            .bind(name)
            .bind(version)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(row.map(|r| r.into_version(org)))
    }

    async fn delete_secret(
        &self,
        org: OrgId,
        name: &str,
        audit: &[NewEvent],
    ) -> Result<Option<i64>> {
        let mut tx = self.org_tx(org, true).await?;
        let versions: Vec<i64> = sqlx::query_scalar(DELETE)
            .bind(org.to_string())
            .bind(name)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        let Some(latest) = versions.into_iter().max() else {
            return Ok(None);
        };
        Self::append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(Some(latest))
    }

    async fn org_ids(&self) -> Result<Vec<OrgId>> {
        let mut tx = self.read_tx().await?;
        let ids: Vec<String> = sqlx::query_scalar(ORG_IDS)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        ids.iter().map(String::as_str).map(parse_id).collect()
    }

    async fn count_to_reseal(&self, org: OrgId, current: &str) -> Result<u64> {
        let mut tx = self.org_tx(org, false).await?;
        let n: i64 = sqlx::query_scalar(COUNT_TO_RESEAL)
            .bind(org.to_string())
            .bind(current)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn secrets_to_reseal(
        &self,
        org: OrgId,
        current: &str,
        after: Option<(String, i64)>,
        limit: u32,
    ) -> Result<Vec<SecretVersion>> {
        let mut tx = self.org_tx(org, false).await?;
        // No valid name sorts before "", so ("", 0) is "from the start".
        let (after_name, after_version) = after.unwrap_or_default();
        let sql = format!(
            "SELECT {COLUMNS} FROM secrets WHERE org_id = $1 AND sealed_by <> $2 \
             AND (name > $3 OR (name = $3 AND version > $4)) ORDER BY name, version LIMIT $5"
        );
        let rows: Vec<VersionRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(org.to_string())
            .bind(current)
            .bind(after_name)
            .bind(after_version)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(rows.into_iter().map(|r| r.into_version(org)).collect())
    }

    async fn reseal_secrets(&self, org: OrgId, rows: &[Resealed]) -> Result<u64> {
        let mut tx = self.org_tx(org, true).await?;
        let mut replaced = 0;
        for r in rows {
            let done = sqlx::query(RESEAL)
                .bind(r.sealed.as_slice())
                .bind(r.sealed_by.as_str())
                .bind(org.to_string())
                .bind(r.name.as_str())
                .bind(r.version)
                .bind(r.old_sealed_by.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            replaced += D::rows_affected(&done);
        }
        tx.commit().await.map_err(db_err)?;
        Ok(replaced)
    }
}
