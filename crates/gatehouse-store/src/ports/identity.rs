//! Users and sessions: the SQL of `UserStore` and `SessionStore`.

use super::prelude::*;

pub(crate) const USER_COLUMNS: &str = "id, email, name, password_hash, platform_admin_since, disabled_at, \
                            created_at, credentials_valid_after, credential_epoch, email_verified_at";

pub(crate) const SESSION_COLUMNS: &str = "s.id AS s_id, s.user_id AS s_user_id, s.created_at AS s_created_at, \
     s.last_seen_at AS s_last_seen_at, s.expires_at AS s_expires_at, s.revoked_at AS s_revoked_at, \
     s.ip AS s_ip, s.user_agent AS s_user_agent";

pub(crate) const INSERT_USER: &str = "INSERT INTO users (id, email, email_key, name, password_hash, \
     platform_admin_since, created_at, credentials_valid_after) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

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
    pub(crate) fn user_row(r: &DbRow<D>) -> Result<User> {
        Ok(User {
            id: parse_id(r.try_get::<String, _>("id").map_err(db_err)?)?,
            email: r.try_get("email").map_err(db_err)?,
            name: r.try_get("name").map_err(db_err)?,
            password_hash: r.try_get("password_hash").map_err(db_err)?,
            is_platform_admin: r
                .try_get::<Option<i64>, _>("platform_admin_since")
                .map_err(db_err)?
                .is_some(),
            disabled: r
                .try_get::<Option<i64>, _>("disabled_at")
                .map_err(db_err)?
                .is_some(),
            created_at: time_of(r.try_get("created_at").map_err(db_err)?),
            credentials_valid_after: time_of(r.try_get("credentials_valid_after").map_err(db_err)?),
            credential_epoch: r.try_get("credential_epoch").map_err(db_err)?,
            email_verified_at: r
                .try_get::<Option<i64>, _>("email_verified_at")
                .map_err(db_err)?
                .map(time_of),
        })
    }

    pub(crate) fn session_row(r: &DbRow<D>) -> Result<Session> {
        Ok(Session {
            id: parse_id(r.try_get::<String, _>("s_id").map_err(db_err)?)?,
            user_id: parse_id(r.try_get::<String, _>("s_user_id").map_err(db_err)?)?,
            created_at: time_of(r.try_get("s_created_at").map_err(db_err)?),
            last_seen_at: time_of(r.try_get("s_last_seen_at").map_err(db_err)?),
            expires_at: time_of(r.try_get("s_expires_at").map_err(db_err)?),
            revoked_at: r
                .try_get::<Option<i64>, _>("s_revoked_at")
                .map_err(db_err)?
                .map(time_of),
            ip: r.try_get("s_ip").map_err(db_err)?,
            user_agent: r.try_get("s_user_agent").map_err(db_err)?,
        })
    }

    pub(crate) fn bind_user<'q>(
        q: sqlx::query::Query<'q, D::Db, <D::Db as Database>::Arguments>,
        u: &'q NewUser,
    ) -> sqlx::query::Query<'q, D::Db, <D::Db as Database>::Arguments> {
        q.bind(u.id.to_string())
            .bind(&u.email)
            .bind(&u.email_key)
            .bind(&u.name)
            .bind(&u.password_hash)
            .bind(u.is_platform_admin.then(|| unix(u.created_at)))
            .bind(unix(u.created_at))
            .bind(unix(u.created_at))
    }

    /// Locks the user's row and refuses when its credential epoch is no longer `epoch` (a
    /// password change or logout-all committed after the check began) or it is disabled. The
    /// lock orders this transaction against the change: whichever commits second sees the
    /// other (the change revokes what this one inserted, or this one sees the new epoch).
    pub(crate) async fn require_epoch(tx: &mut Tx<D>, user: UserId, epoch: i64) -> Result<()> {
        let sql = format!(
            "SELECT credential_epoch, disabled_at FROM users WHERE id = $1{}",
            D::FOR_UPDATE
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(user.to_string())
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?;
        let current = match row {
            Some(r)
                if r.try_get::<Option<i64>, _>("disabled_at")
                    .map_err(db_err)?
                    .is_none() =>
            {
                r.try_get::<i64, _>("credential_epoch").map_err(db_err)?
            }
            _ => {
                return Err(Error::Unauthenticated(
                    gatehouse_core::error::AuthFailure::InvalidCredentials,
                ));
            }
        };
        if current != epoch {
            return Err(Error::Unauthenticated(
                gatehouse_core::error::AuthFailure::InvalidCredentials,
            ));
        }
        Ok(())
    }

    /// Revokes the user's live sessions but `keep`; credentials issued before `at` are void
    /// and the credential epoch moves on (locking the user's row first).
    pub(crate) async fn revoke_others(
        tx: &mut Tx<D>,
        user: UserId,
        keep: Option<SessionId>,
        at: OffsetDateTime,
    ) -> Result<()> {
        sqlx::query("UPDATE users SET credential_epoch = credential_epoch + 1 WHERE id = $1")
            .bind(user.to_string())
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
        sqlx::query("UPDATE users SET credentials_valid_after = $1 WHERE id = $2 AND credentials_valid_after < $1")
            .bind(unix(at))
            .bind(user.to_string())
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
        sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL AND id <> $3",
        )
        .bind(unix(at))
        .bind(user.to_string())
        .bind(keep.map(|k| k.to_string()).unwrap_or_default())
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
        // Every refresh family too: its refresh and access tokens stop working.
        D::set_local(tx, USER_SETTING, &user.to_string()).await?;
        sqlx::query(
            "UPDATE token_families SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(unix(at))
        .bind(user.to_string())
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }
}

#[async_trait]
impl<D: Dialect> UserStore for SqlStore<D>
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
    async fn create_user(&self, user: &NewUser, audit: &[NewEvent]) -> Result<()> {
        let mut tx = self.write_tx().await?;
        Self::bind_user(sqlx::query(INSERT_USER), user)
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict_or(e, ConflictReason::EmailTaken))?;
        Self::append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn import_users(&self, users: &[NewUser], audit: &[NewEvent]) -> Result<(), ImportError> {
        let mut tx = self.write_tx().await?;
        for (i, user) in users.iter().enumerate() {
            if let Err(e) = Self::bind_user(sqlx::query(INSERT_USER), user)
                .execute(&mut *tx)
                .await
            {
                return Err(if is_unique(&e) {
                    ImportError::EmailTaken(i)
                } else {
                    db_err(e).into()
                });
            }
        }
        Self::append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn user_by_email_key(&self, email_key: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email_key = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(email_key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(Self::user_row).transpose()
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(Self::user_row).transpose()
    }

    async fn set_user_disabled(
        &self,
        id: UserId,
        disabled: bool,
        at: OffsetDateTime,
        audit: &[NewEvent],
    ) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let sql = if disabled {
            "UPDATE users SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL"
        } else {
            "UPDATE users SET disabled_at = NULL WHERE id = $2 AND disabled_at IS NOT NULL AND $1 = $1"
        };
        let done = sqlx::query(sql)
            .bind(unix(at))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if D::rows_affected(&done) != 1 {
            return Ok(false);
        }
        if disabled {
            Self::revoke_others(&mut tx, id, None, at).await?;
        }
        Self::append_in(&mut tx, audit).await?;
        Self::publish_in(&mut tx, &Change::User(id)).await?;
        tx.commit().await.map_err(db_err)?;
        self.committed(Change::User(id));
        Ok(true)
    }

    async fn upgrade_password_hash(&self, id: UserId, verified: &str, fresh: &str) -> Result<bool> {
        let done =
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3")
                .bind(fresh)
                .bind(id.to_string())
                .bind(verified)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(D::rows_affected(&done) == 1)
    }
}

#[async_trait]
impl<D: Dialect> SessionStore for SqlStore<D>
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
    async fn create_session(&self, new: &NewSession, audit: &[NewEvent]) -> Result<()> {
        let s = &new.session;
        let mut tx = self.write_tx().await?;
        Self::require_epoch(&mut tx, s.user_id, new.credential_epoch).await?;
        sqlx::query(
            "INSERT INTO sessions (id, user_id, token_digest, created_at, last_seen_at, expires_at, ip, user_agent) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(s.id.to_string())
        .bind(s.user_id.to_string())
        .bind(&new.token_digest)
        .bind(unix(s.created_at))
        .bind(unix(s.last_seen_at))
        .bind(unix(s.expires_at))
        .bind(&s.ip)
        .bind(&s.user_agent)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        Self::append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn session_by_digest(&self, digest: &[u8]) -> Result<Option<(Session, User)>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS}, u.id, u.email, u.name, u.password_hash, u.platform_admin_since, \
             u.disabled_at, u.created_at, u.credentials_valid_after, u.credential_epoch, u.email_verified_at \
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_digest = $1"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(digest)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        match row {
            Some(r) => Ok(Some((Self::session_row(&r)?, Self::user_row(&r)?))),
            None => Ok(None),
        }
    }

    async fn touch_session(&self, id: SessionId, at: OffsetDateTime) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1")
            .bind(unix(at))
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn list_sessions(&self, user: UserId, now: OffsetDateTime) -> Result<Vec<Session>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions s \
             WHERE s.user_id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 ORDER BY s.created_at, s.id"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(user.to_string())
            .bind(unix(now))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(Self::session_row).collect()
    }

    async fn revoke_session(
        &self,
        user: UserId,
        id: SessionId,
        at: OffsetDateTime,
        audit: &[NewEvent],
    ) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
        )
        .bind(unix(at))
        .bind(id.to_string())
        .bind(user.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if D::rows_affected(&done) != 1 {
            return Ok(false);
        }
        Self::append_in(&mut tx, audit).await?;
        // Cached sessions are the user's: the revoked one must stop everywhere.
        Self::publish_in(&mut tx, &Change::User(user)).await?;
        tx.commit().await.map_err(db_err)?;
        self.committed(Change::User(user));
        Ok(true)
    }

    async fn revoke_all_sessions(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        at: OffsetDateTime,
        audit: &[NewEvent],
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        Self::revoke_others(&mut tx, user, keep, at).await?;
        Self::append_in(&mut tx, audit).await?;
        Self::publish_in(&mut tx, &Change::User(user)).await?;
        tx.commit().await.map_err(db_err)?;
        self.committed(Change::User(user));
        Ok(())
    }

    async fn change_password(
        &self,
        user: UserId,
        hash: &str,
        keep: SessionId,
        at: OffsetDateTime,
        audit: &[NewEvent],
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(user.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        Self::revoke_others(&mut tx, user, Some(keep), at).await?;
        Self::append_in(&mut tx, audit).await?;
        Self::publish_in(&mut tx, &Change::User(user)).await?;
        tx.commit().await.map_err(db_err)?;
        self.committed(Change::User(user));
        Ok(())
    }
}
