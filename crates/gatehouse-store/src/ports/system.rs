//! First-run state and health: the SQL of `SystemStore`.

use super::prelude::*;

#[async_trait]
impl<D: Dialect> SystemStore for SqlStore<D>
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
    fn subscribe_local(&self, sink: std::sync::Arc<dyn gatehouse_core::changes::ChangeSink>) {
        self.set_local_sink(sink);
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn setup_pending(&self) -> Result<bool> {
        let row = sqlx::query("SELECT value FROM system_state WHERE key = 'setup_completed_at'")
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(row.is_none())
    }

    async fn add_setup_token(&self, digest: &[u8], at: OffsetDateTime) -> Result<()> {
        sqlx::query("INSERT INTO setup_tokens (token_digest, created_at) VALUES ($1, $2)")
            .bind(digest)
            .bind(unix(at))
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn create_admin(
        &self,
        admin: &FirstAdmin,
        token_digest: Option<&[u8]>,
        audit: &[NewEvent],
    ) -> Result<()> {
        let mut tx = self.org_tx(admin.org.id, true).await?;
        let at = unix(admin.user.created_at);
        // Claim "setup is over" first: it is the write that serializes concurrent setups.
        let claimed = sqlx::query(
            "INSERT INTO system_state (key, value) VALUES ('setup_completed_at', $1) ON CONFLICT (key) DO NOTHING",
        )
        .bind(at.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if let Some(digest) = token_digest {
            if D::rows_affected(&claimed) == 0 {
                return Err(Error::NotFound);
            }
            let spent = sqlx::query("DELETE FROM setup_tokens WHERE token_digest = $1")
                .bind(digest)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            if D::rows_affected(&spent) != 1 {
                return Err(Error::Unauthenticated(AuthFailure::InvalidCredentials));
            }
        }
        sqlx::query("DELETE FROM setup_tokens")
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        Self::bind_user(sqlx::query(INSERT_USER), &admin.user)
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict_or(e, ConflictReason::EmailTaken))?;
        sqlx::query("INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(admin.org.id.to_string())
            .bind(&admin.org.name)
            .bind(unix(admin.org.created_at))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query("INSERT INTO org_members (org_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)")
            .bind(admin.org.id.to_string())
            .bind(admin.user.id.to_string())
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        Self::append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn role_report(&self) -> Result<Option<RoleReport>> {
        D::role_report(&self.pool).await
    }
}
