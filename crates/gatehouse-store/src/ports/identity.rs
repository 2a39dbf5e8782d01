//! Users and sessions: the SQL of `UserStore` and `SessionStore`.

use super::prelude::*;

pub(crate) const USER_COLUMNS: &str = "id, email, name, password_hash, platform_admin_since, disabled_at, \
                            created_at, credentials_valid_after, credential_epoch, email_verified_at";

pub(crate) const SESSION_COLUMNS: &str = "s.id AS s_id, s.user_id AS s_user_id, s.created_at AS s_created_at, \
     s.last_seen_at AS s_last_seen_at, s.expires_at AS s_expires_at, s.revoked_at AS s_revoked_at, \
     s.ip AS s_ip, s.user_agent AS s_user_agent";

pub(crate) const INSERT_USER: &str = "INSERT INTO users (id, email, email_key, name, password_hash, \
     platform_admin_since, created_at, credentials_valid_after) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// A user as the database returns it (the columns of [`USER_COLUMNS`]).
#[derive(FromRow)]
pub(crate) struct UserRow {
    id: String,
    email: String,
    name: Option<String>,
    password_hash: Option<String>,
    platform_admin_since: Option<i64>,
    disabled_at: Option<i64>,
    created_at: i64,
    credentials_valid_after: i64,
    credential_epoch: i64,
    email_verified_at: Option<i64>,
}

/// A session as the database returns it (the `s_`-prefixed columns of [`SESSION_COLUMNS`]).
#[derive(FromRow)]
struct SessionRow {
    s_id: String,
    s_user_id: String,
    s_created_at: i64,
    s_last_seen_at: i64,
    s_expires_at: i64,
    s_revoked_at: Option<i64>,
    s_ip: Option<String>,
    s_user_agent: Option<String>,
}

/// A session joined with its user.
#[derive(FromRow)]
struct SessionUserRow {
    #[sqlx(flatten)]
    session: SessionRow,
    #[sqlx(flatten)]
    user: UserRow,
}

/// A user's credential epoch, and whether it is disabled.
#[derive(FromRow)]
struct EpochRow {
    credential_epoch: i64,
    disabled_at: Option<i64>,
}

impl UserRow {
    pub(crate) fn into_user(self) -> Result<User> {
        Ok(User {
            id: parse_id(&self.id)?,
            email: self.email,
            name: self.name,
            password_hash: self.password_hash,
            is_platform_admin: self.platform_admin_since.is_some(),
            disabled: self.disabled_at.is_some(),
            created_at: time_of(self.created_at),
            credentials_valid_after: time_of(self.credentials_valid_after),
            credential_epoch: self.credential_epoch,
            email_verified_at: self.email_verified_at.map(time_of),
        })
    }
}

impl SessionRow {
    fn into_session(self) -> Result<Session> {
        Ok(Session {
            id: parse_id(&self.s_id)?,
            user_id: parse_id(&self.s_user_id)?,
            created_at: time_of(self.s_created_at),
            last_seen_at: time_of(self.s_last_seen_at),
            expires_at: time_of(self.s_expires_at),
            revoked_at: self.s_revoked_at.map(time_of),
            ip: self.s_ip,
            user_agent: self.s_user_agent,
        })
    }
}

impl SessionUserRow {
    fn into_pair(self) -> Result<(Session, User)> {
        Ok((self.session.into_session()?, self.user.into_user()?))
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
        let row: Option<EpochRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(user.to_string())
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?;
        let Some(EpochRow {
            credential_epoch: current,
            disabled_at: None,
        }) = row
        else {
            return Err(Error::Unauthenticated(
                gatehouse_core::error::AuthFailure::InvalidCredentials,
            ));
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
        let row: Option<UserRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(email_key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.map(UserRow::into_user).transpose()
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row: Option<UserRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.map(UserRow::into_user).transpose()
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
        // Every cookie-authenticated request reads this: a hot read (no sqlx ping around it).
        let mut hot = self.hot_read().await?;
        let row: Option<SessionUserRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(digest)
            .fetch_optional(hot.conn())
            .await
            .map_err(db_err)?;
        hot.release();
        row.map(SessionUserRow::into_pair).transpose()
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
        let rows: Vec<SessionRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(user.to_string())
            .bind(unix(now))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(SessionRow::into_session).collect()
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
        keep: Option<SessionId>,
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
        Self::revoke_others(&mut tx, user, keep, at).await?;
        Self::append_in(&mut tx, audit).await?;
        Self::publish_in(&mut tx, &Change::User(user)).await?;
        tx.commit().await.map_err(db_err)?;
        self.committed(Change::User(user));
        Ok(())
    }
}
