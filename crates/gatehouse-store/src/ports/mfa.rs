//! Second factors: `MfaStore` over any [`Dialect`]. Each "accepted once" is one conditional
//! write whose affected-row count decides: a TOTP step later than the last used, an unused
//! recovery code, an `mfa_token` with attempts left.

use super::prelude::*;

const TOTP_COLUMNS: &str = "user_id, sealed, sealed_by, created_at, pending_until, confirmed_at, \
     last_used_step, last_used_at";
/// A pending enrollment, replacing a pending one; a confirmed seed is left alone.
const PUT_PENDING: &str = "INSERT INTO mfa_totp (user_id, sealed, sealed_by, created_at, \
     pending_until, confirmed_at, last_used_step, last_used_at) \
     VALUES ($1, $2, $3, $4, $5, NULL, -1, NULL) \
     ON CONFLICT (user_id) DO UPDATE SET sealed = excluded.sealed, \
     sealed_by = excluded.sealed_by, created_at = excluded.created_at, \
     pending_until = excluded.pending_until, last_used_step = -1, last_used_at = NULL \
     WHERE mfa_totp.confirmed_at IS NULL";
const CONFIRM: &str = "UPDATE mfa_totp SET confirmed_at = $3, last_used_step = $4, \
     last_used_at = $3 WHERE user_id = $1 AND sealed = $2 AND confirmed_at IS NULL \
     AND pending_until > $3";
const ADVANCE: &str = "UPDATE mfa_totp SET last_used_step = $2, last_used_at = $3 \
     WHERE user_id = $1 AND confirmed_at IS NOT NULL AND last_used_step < $2";
const DELETE_TOTP: &str = "DELETE FROM mfa_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL";
const DELETE_CODES: &str = "DELETE FROM mfa_recovery_codes WHERE user_id = $1";
const INSERT_CODE: &str =
    "INSERT INTO mfa_recovery_codes (user_id, digest, used_at) VALUES ($1, $2, NULL)";
const USE_CODE: &str = "UPDATE mfa_recovery_codes SET used_at = $3 \
     WHERE user_id = $1 AND digest = $2 AND used_at IS NULL";
const CODES_LEFT: &str =
    "SELECT COUNT(*) FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL";
const INSERT_TOKEN: &str = "INSERT INTO mfa_tokens (digest, user_id, credential_epoch, \
     created_at, expires_at, attempts) VALUES ($1, $2, $3, $4, $5, 0)";
/// Counts an attempt on a live token with attempts left, returning its user and the count.
const ATTEMPT_TOKEN: &str = "UPDATE mfa_tokens SET attempts = attempts + 1 \
     WHERE digest = $1 AND expires_at > $2 AND attempts < $3 RETURNING user_id, credential_epoch, attempts";
const SPEND_TOKEN: &str = "DELETE FROM mfa_tokens WHERE digest = $1";
const PRUNE_TOKENS: &str = "DELETE FROM mfa_tokens WHERE expires_at <= $1";
/// Only the very seed that was read: a seed replaced meanwhile (TOTP off and on again) stays.
const RESEAL_SEED: &str = "UPDATE mfa_totp SET sealed = $1, sealed_by = $2 \
     WHERE user_id = $3 AND sealed_by = $4 AND sealed = $5";

#[derive(FromRow)]
struct TotpRow {
    user_id: String,
    sealed: Vec<u8>,
    sealed_by: String,
    created_at: i64,
    pending_until: i64,
    confirmed_at: Option<i64>,
    last_used_step: i64,
    last_used_at: Option<i64>,
}

impl TotpRow {
    fn into_record(self) -> Result<TotpRecord> {
        Ok(TotpRecord {
            user_id: parse_id(&self.user_id)?,
            sealed: self.sealed,
            sealed_by: self.sealed_by,
            created_at: time_of(self.created_at),
            pending_until: time_of(self.pending_until),
            confirmed_at: self.confirmed_at.map(time_of),
            last_used_step: self.last_used_step,
            last_used_at: self.last_used_at.map(time_of),
        })
    }
}

impl<D: Dialect> SqlStore<D>
where
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q [u8]: Encode<'q, D::Db>,
    [u8]: Type<D::Db>,
{
    async fn insert_codes(tx: &mut Tx<D>, user: UserId, digests: &[Vec<u8>]) -> Result<()> {
        for digest in digests {
            sqlx::query(INSERT_CODE)
                .bind(user.to_string())
                .bind(digest.as_slice())
                .execute(&mut **tx)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }
}

#[async_trait]
impl<D: Dialect> MfaStore for SqlStore<D>
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
    async fn totp(&self, user: UserId) -> Result<Option<TotpRecord>> {
        let sql = format!("SELECT {TOTP_COLUMNS} FROM mfa_totp WHERE user_id = $1");
        let row: Option<TotpRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(user.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.map(TotpRow::into_record).transpose()
    }

    async fn put_pending_totp(&self, r: &TotpRecord) -> Result<bool> {
        let done = sqlx::query(PUT_PENDING)
            .bind(r.user_id.to_string())
            .bind(r.sealed.as_slice())
            .bind(r.sealed_by.as_str())
            .bind(unix(r.created_at))
            .bind(unix(r.pending_until))
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(D::rows_affected(&done) == 1)
    }

    async fn confirm_totp(
        &self,
        user: UserId,
        sealed: &[u8],
        step: i64,
        now: OffsetDateTime,
        recovery_digests: &[Vec<u8>],
        audit: &[NewEvent],
    ) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(CONFIRM)
            .bind(user.to_string())
            .bind(sealed)
            .bind(unix(now))
            .bind(step)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if D::rows_affected(&done) != 1 {
            return Ok(false);
        }
        sqlx::query(DELETE_CODES)
            .bind(user.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        Self::insert_codes(&mut tx, user, recovery_digests).await?;
        Self::append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn advance_totp_step(
        &self,
        user: UserId,
        step: i64,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let done = sqlx::query(ADVANCE)
            .bind(user.to_string())
            .bind(step)
            .bind(unix(now))
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(D::rows_affected(&done) == 1)
    }

    async fn delete_totp(&self, user: UserId, audit: &[NewEvent]) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(DELETE_TOTP)
            .bind(user.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if D::rows_affected(&done) != 1 {
            return Ok(false);
        }
        sqlx::query(DELETE_CODES)
            .bind(user.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        Self::append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn replace_recovery_codes(
        &self,
        user: UserId,
        digests: &[Vec<u8>],
        audit: &[NewEvent],
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(DELETE_CODES)
            .bind(user.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        Self::insert_codes(&mut tx, user, digests).await?;
        Self::append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn use_recovery_code(
        &self,
        user: UserId,
        digest: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<i64>> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(USE_CODE)
            .bind(user.to_string())
            .bind(digest)
            .bind(unix(now))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if D::rows_affected(&done) != 1 {
            return Ok(None);
        }
        let left: i64 = sqlx::query_scalar(CODES_LEFT)
            .bind(user.to_string())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(Some(left))
    }

    async fn recovery_codes_left(&self, user: UserId) -> Result<i64> {
        sqlx::query_scalar(CODES_LEFT)
            .bind(user.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn create_mfa_token(
        &self,
        digest: &[u8],
        user: UserId,
        credential_epoch: i64,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        // Lapsed tokens go as new ones come: the table holds only the last few minutes'.
        sqlx::query(PRUNE_TOKENS)
            .bind(unix(now))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query(INSERT_TOKEN)
            .bind(digest)
            .bind(user.to_string())
            .bind(credential_epoch)
            .bind(unix(now))
            .bind(unix(expires_at))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn attempt_mfa_token(
        &self,
        digest: &[u8],
        now: OffsetDateTime,
        max: i64,
    ) -> Result<MfaTokenAttempt> {
        let row: Option<(String, i64, i64)> = sqlx::query_as(ATTEMPT_TOKEN)
            .bind(digest)
            .bind(unix(now))
            .bind(max)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(match row {
            Some((user, credential_epoch, n)) => MfaTokenAttempt::Counted {
                user_id: parse_id(&user)?,
                credential_epoch,
                n,
            },
            None => MfaTokenAttempt::Refused,
        })
    }

    async fn spend_mfa_token(&self, digest: &[u8]) -> Result<bool> {
        let done = sqlx::query(SPEND_TOKEN)
            .bind(digest)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(D::rows_affected(&done) == 1)
    }

    async fn seeds_to_reseal(
        &self,
        current: &str,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<TotpRecord>> {
        let sql = format!(
            "SELECT {TOTP_COLUMNS} FROM mfa_totp WHERE sealed_by <> $1 AND user_id > $2 \
             ORDER BY user_id LIMIT $3"
        );
        let rows: Vec<TotpRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(current)
            .bind(after.map(|u| u.to_string()).unwrap_or_default())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(TotpRow::into_record).collect()
    }

    async fn reseal_seeds(&self, seeds: &[ResealedSeed]) -> Result<u64> {
        let mut tx = self.write_tx().await?;
        let mut replaced = 0;
        for s in seeds {
            let done = sqlx::query(RESEAL_SEED)
                .bind(s.sealed.as_slice())
                .bind(s.sealed_by.as_str())
                .bind(s.user_id.to_string())
                .bind(s.old_sealed_by.as_str())
                .bind(s.old_sealed.as_slice())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            replaced += D::rows_affected(&done);
        }
        tx.commit().await.map_err(db_err)?;
        Ok(replaced)
    }

    async fn count_seeds_to_reseal(&self, current: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mfa_totp WHERE sealed_by <> $1")
            .bind(current)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
