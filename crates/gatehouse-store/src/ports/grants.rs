//! Per-resource grants: `GrantStore` over any [`Dialect`]. A grant is one row per (org,
//! resource, subject); putting one again replaces its capabilities and expiry in place.

use gatehouse_core::ids::GrantId;
use gatehouse_core::permission::Subject;

use super::prelude::*;

const COLUMNS: &str = "id, org_id, resource, subject, capabilities, expires_at, created_by, \
     created_at, updated_at";
/// Inserts, or on the (org, resource, subject) key replaces what a re-grant changes, returning
/// the stored row: the new id when it inserted, the existing grant's id when it replaced.
const UPSERT: &str = "INSERT INTO grants (id, org_id, resource, subject, capabilities, expires_at, \
     created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
     ON CONFLICT (org_id, resource, subject) DO UPDATE SET \
     capabilities = excluded.capabilities, expires_at = excluded.expires_at, \
     updated_at = excluded.updated_at \
     RETURNING id, org_id, resource, subject, capabilities, expires_at, created_by, created_at, \
     updated_at";
/// A member's standing: their role, and their grant on the resource when they have one.
const MEMBER_STANDING: &str = "SELECT m.role AS role, CAST(NULL AS BIGINT) AS revoked_at, \
     CAST(NULL AS BIGINT) AS key_expires_at, g.capabilities AS capabilities, \
     g.expires_at AS expires_at FROM org_members m LEFT JOIN grants g \
     ON g.org_id = m.org_id AND g.resource = $2 AND g.subject = $3 \
     WHERE m.org_id = $1 AND m.user_id = $4";
/// A key's standing: whether it still works, and its grant on the resource.
const KEY_STANDING: &str = "SELECT CAST(NULL AS TEXT) AS role, k.revoked_at AS revoked_at, \
     k.expires_at AS key_expires_at, g.capabilities AS capabilities, \
     g.expires_at AS expires_at FROM api_keys k LEFT JOIN grants g \
     ON g.org_id = k.org_id AND g.resource = $2 AND g.subject = $3 \
     WHERE k.org_id = $1 AND k.id = $4";
/// [`MEMBER_STANDING`] and [`KEY_STANDING`] as PostgreSQL's one-statement read functions
/// (migration 0013), which set the org for row security themselves.
const MEMBER_STANDING_FN: &str = "SELECT role, revoked_at, key_expires_at, capabilities, \
     expires_at FROM gatehouse_member_standing($1, $2, $3, $4)";
const KEY_STANDING_FN: &str = "SELECT role, revoked_at, key_expires_at, capabilities, \
     expires_at FROM gatehouse_key_standing($1, $2, $3, $4)";
const DELETE: &str = "DELETE FROM grants WHERE org_id = $1 AND id = $2 RETURNING id";

/// A stored grant as the database returns it.
#[derive(FromRow)]
struct GrantRow {
    id: String,
    org_id: String,
    resource: String,
    subject: String,
    capabilities: String,
    expires_at: Option<i64>,
    created_by: String,
    created_at: i64,
    updated_at: i64,
}

/// A subject's standing as [`MEMBER_STANDING`] and [`KEY_STANDING`] return it.
#[derive(FromRow)]
struct StandingRow {
    role: Option<String>,
    revoked_at: Option<i64>,
    key_expires_at: Option<i64>,
    capabilities: Option<String>,
    expires_at: Option<i64>,
}

impl StandingRow {
    fn into_standing(self) -> Result<Standing> {
        let holder = match self.role {
            Some(role) => Holder::Member(parse_role(&role)?),
            None => Holder::Key {
                revoked: self.revoked_at.is_some(),
                expires_at: self.key_expires_at.map(time_of),
            },
        };
        Ok(Standing {
            holder,
            held: self.capabilities.map(|c| Held {
                capabilities: split_capabilities(&c),
                expires_at: self.expires_at.map(time_of),
            }),
        })
    }
}

fn split_capabilities(stored: &str) -> Vec<String> {
    stored
        .split(' ')
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

impl GrantRow {
    fn into_grant(self) -> Result<Grant> {
        Ok(Grant {
            id: parse_id(&self.id)?,
            org_id: parse_id(&self.org_id)?,
            resource: self.resource,
            subject: self.subject,
            capabilities: split_capabilities(&self.capabilities),
            expires_at: self.expires_at.map(time_of),
            created_by: self.created_by,
            created_at: time_of(self.created_at),
            updated_at: time_of(self.updated_at),
        })
    }
}

#[async_trait]
impl<D: Dialect> GrantStore for SqlStore<D>
where
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> String: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> i32: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> Vec<u8>: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<String>: Encode<'q, D::Db> + Decode<'q, D::Db>,
    for<'q> Option<i64>: Encode<'q, D::Db> + Decode<'q, D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + ColumnIndex<DbRow<D>>,
    usize: ColumnIndex<DbRow<D>>,
    for<'q> &'q [u8]: Encode<'q, D::Db>,
    str: Type<D::Db>,
    [u8]: Type<D::Db>,
{
    async fn put_grant(&self, g: &Grant, audit: GrantAudit<'_>) -> Result<(Grant, bool)> {
        let mut tx = self.org_tx(g.org_id, true).await?;
        let row: GrantRow = sqlx::query_as(UPSERT)
            .bind(g.id.to_string())
            .bind(g.org_id.to_string())
            .bind(g.resource.as_str())
            .bind(g.subject.as_str())
            .bind(g.capabilities.join(" "))
            .bind(g.expires_at.map(unix))
            .bind(g.created_by.as_str())
            .bind(unix(g.updated_at))
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        let stored = row.into_grant()?;
        let created = stored.id == g.id;
        Self::append_in(&mut tx, &audit(&stored, created)).await?;
        tx.commit().await.map_err(db_err)?;
        Ok((stored, created))
    }

    async fn grants_of_resource(&self, org: OrgId, resource: &str) -> Result<Vec<Grant>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM grants WHERE org_id = $1 AND resource = $2 ORDER BY subject"
        );
        let mut tx = self.org_read(org).await?;
        let rows: Vec<GrantRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(org.to_string())
            .bind(resource)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.finish().await?;
        rows.into_iter().map(GrantRow::into_grant).collect()
    }

    async fn grants_of_subject(&self, org: OrgId, subject: &str) -> Result<Vec<Grant>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM grants WHERE org_id = $1 AND subject = $2 ORDER BY resource"
        );
        let mut tx = self.org_read(org).await?;
        let rows: Vec<GrantRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(org.to_string())
            .bind(subject)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.finish().await?;
        rows.into_iter().map(GrantRow::into_grant).collect()
    }

    async fn grant(&self, org: OrgId, id: GrantId) -> Result<Option<Grant>> {
        let sql = format!("SELECT {COLUMNS} FROM grants WHERE org_id = $1 AND id = $2");
        let mut tx = self.org_read(org).await?;
        let row: Option<GrantRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(org.to_string())
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.finish().await?;
        row.map(GrantRow::into_grant).transpose()
    }

    async fn grant_for(&self, org: OrgId, resource: &str, subject: &str) -> Result<Option<Grant>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM grants WHERE org_id = $1 AND resource = $2 AND subject = $3"
        );
        let mut tx = self.org_read(org).await?;
        let row: Option<GrantRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(org.to_string())
            .bind(resource)
            .bind(subject)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.finish().await?;
        row.map(GrantRow::into_grant).transpose()
    }

    async fn standing(
        &self,
        org: OrgId,
        resource: &str,
        subject: Subject,
    ) -> Result<Option<Standing>> {
        let (sql, id) = match subject {
            Subject::User(id) => (
                Self::scoped_statement(MEMBER_STANDING, MEMBER_STANDING_FN),
                id.to_string(),
            ),
            Subject::ApiKey(id) => (
                Self::scoped_statement(KEY_STANDING, KEY_STANDING_FN),
                id.to_string(),
            ),
        };
        let mut hot = self.hot_read().await?;
        let row: Option<StandingRow> = sqlx::query_as(sql)
            .bind(org.to_string())
            .bind(resource)
            .bind(subject.to_string())
            .bind(id)
            .fetch_optional(hot.conn())
            .await
            .map_err(db_err)?;
        hot.release();
        row.map(StandingRow::into_standing).transpose()
    }

    async fn delete_grant(&self, org: OrgId, id: GrantId, audit: &[NewEvent]) -> Result<bool> {
        let mut tx = self.org_tx(org, true).await?;
        let deleted: Option<String> = sqlx::query_scalar(DELETE)
            .bind(org.to_string())
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        if deleted.is_none() {
            return Ok(false);
        }
        Self::append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }
}
