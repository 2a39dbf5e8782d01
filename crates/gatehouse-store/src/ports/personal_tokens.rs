//! Personal access tokens: `PersonalTokenStore` over any [`Dialect`]. Under PostgreSQL every
//! statement runs with the setting its row-security policy reads: the org for the org's
//! tokens, the presented public id for a lookup, the user for the user's own.

use gatehouse_core::ids::PersonalTokenId;

use super::prelude::*;

const COLUMNS: &str = "id, user_id, org_id, name, public_id, scopes, created_at, expires_at, \
     revoked_at, last_used_at";
const INSERT: &str = "INSERT INTO personal_tokens (id, user_id, org_id, name, public_id, digest, \
     scopes, created_at, expires_at, revoked_at, last_used_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL)";
const REVOKE: &str = "UPDATE personal_tokens SET revoked_at = COALESCE(revoked_at, $3) \
     WHERE org_id = $1 AND id = $2";
const DELETE: &str = "DELETE FROM personal_tokens WHERE user_id = $1 AND id = $2";

#[derive(FromRow)]
struct Row {
    id: String,
    user_id: String,
    org_id: String,
    name: String,
    public_id: String,
    scopes: String,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
}

impl Row {
    fn into_token(self) -> Result<PersonalToken> {
        Ok(PersonalToken {
            id: parse_id(&self.id)?,
            user_id: parse_id(&self.user_id)?,
            org_id: parse_id(&self.org_id)?,
            name: self.name,
            public_id: self.public_id,
            scopes: self.scopes.split_whitespace().map(str::to_owned).collect(),
            created_at: time_of(self.created_at),
            expires_at: time_of(self.expires_at),
            revoked_at: self.revoked_at.map(time_of),
            last_used_at: self.last_used_at.map(time_of),
        })
    }
}

#[derive(FromRow)]
struct RowWithDigest {
    #[sqlx(flatten)]
    token: Row,
    digest: Vec<u8>,
}

#[async_trait]
impl<D: Dialect> PersonalTokenStore for SqlStore<D>
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
    async fn create_personal_token(
        &self,
        t: &PersonalToken,
        digest: &[u8],
        audit: &[NewEvent],
    ) -> Result<()> {
        let mut tx = self.org_tx(t.org_id, true).await?;
        sqlx::query(INSERT)
            .bind(t.id.to_string())
            .bind(t.user_id.to_string())
            .bind(t.org_id.to_string())
            .bind(t.name.as_str())
            .bind(t.public_id.as_str())
            .bind(digest)
            .bind(t.scopes.join(" "))
            .bind(unix(t.created_at))
            .bind(unix(t.expires_at))
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict_or(e, ConflictReason::KeyCollision))?;
        Self::append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn personal_token_by_public_id(
        &self,
        public_id: &str,
    ) -> Result<Option<(PersonalToken, Vec<u8>)>> {
        let mut tx = self.read_tx().await?;
        D::set_local(&mut tx, PERSONAL_TOKEN_SETTING, public_id).await?;
        let sql = format!("SELECT {COLUMNS}, digest FROM personal_tokens WHERE public_id = $1");
        let row: Option<RowWithDigest> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(public_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        row.map(|r| Ok((r.token.into_token()?, r.digest)))
            .transpose()
    }

    async fn personal_tokens_of_user(&self, user: UserId) -> Result<Vec<PersonalToken>> {
        let mut tx = self.read_tx().await?;
        D::set_local(&mut tx, USER_SETTING, &user.to_string()).await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM personal_tokens WHERE user_id = $1 \
             ORDER BY created_at DESC, id DESC"
        );
        let rows: Vec<Row> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(user.to_string())
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        rows.into_iter().map(Row::into_token).collect()
    }

    async fn personal_tokens_of_org(&self, org: OrgId) -> Result<Vec<PersonalToken>> {
        let mut tx = self.org_tx(org, false).await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM personal_tokens WHERE org_id = $1 \
             ORDER BY created_at DESC, id DESC"
        );
        let rows: Vec<Row> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(org.to_string())
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        rows.into_iter().map(Row::into_token).collect()
    }

    async fn revoke_personal_token(
        &self,
        org: OrgId,
        id: PersonalTokenId,
        at: OffsetDateTime,
        audit: &[NewEvent],
    ) -> Result<bool> {
        let mut tx = self.org_tx(org, true).await?;
        let done = sqlx::query(REVOKE)
            .bind(org.to_string())
            .bind(id.to_string())
            .bind(unix(at))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if D::rows_affected(&done) != 1 {
            return Ok(false);
        }
        Self::append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn delete_personal_token(
        &self,
        user: UserId,
        id: PersonalTokenId,
        audit: &[NewEvent],
    ) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        D::set_local(&mut tx, USER_SETTING, &user.to_string()).await?;
        let done = sqlx::query(DELETE)
            .bind(user.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if D::rows_affected(&done) != 1 {
            return Ok(false);
        }
        Self::append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }
}
