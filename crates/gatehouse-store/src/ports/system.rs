//! First-run state and health: the SQL of `SystemStore`.

/// Implements `SystemStore` (expanded inside `impl_ports!`).
macro_rules! impl_system {
    ($store:ty, $db:ty) => {
        #[async_trait]
        impl SystemStore for $store {
            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await.map_err(db_err)?;
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

            async fn create_admin(&self, admin: &FirstAdmin, token_digest: Option<&[u8]>, audit: &[NewEvent]) -> Result<()> {
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
                    if claimed.rows_affected() == 0 {
                        return Err(Error::NotFound);
                    }
                    let spent = sqlx::query("DELETE FROM setup_tokens WHERE token_digest = $1")
                        .bind(digest)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    if spent.rows_affected() != 1 {
                        return Err(Error::Unauthenticated(AuthFailure::InvalidCredentials));
                    }
                }
                sqlx::query("DELETE FROM setup_tokens").execute(&mut *tx).await.map_err(db_err)?;
                bind_user(sqlx::query(INSERT_USER), &admin.user)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| conflict_or(e, "email_taken"))?;
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
                append_in(&mut tx, audit).await?;
                tx.commit().await.map_err(db_err)
            }

            async fn role_report(&self) -> Result<Option<RoleReport>> {
                self.backend_role_report().await
            }
        }
    };
}

pub(crate) use impl_system;
