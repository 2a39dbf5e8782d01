//! Rate-limit arrival times and sign-in attempts: the SQL of `RateLimitStore` and
//! `LockoutStore`. Neither table carries an org; both are keyed by what is being limited.

use super::prelude::*;

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
    /// Locks the email's row (creating it): (attempts, window start, locked until). One
    /// upsert-returning statement: with an insert and then a `SELECT … FOR UPDATE`, a concurrent
    /// unlock could delete the row between the two (seen as a 500 on PostgreSQL); `DO UPDATE`
    /// locks whatever row is there, or inserts one, atomically.
    pub(crate) async fn attempts_row(
        tx: &mut Tx<D>,
        email_key: &str,
        now_ms: i64,
    ) -> Result<(i64, i64, Option<i64>)> {
        let (attempts, start, locked): (i32, i64, Option<i64>) = sqlx::query_as(
            "INSERT INTO login_attempts (email_key, attempts, window_start_ms) VALUES ($1, 0, $2) \
             ON CONFLICT (email_key) DO UPDATE SET email_key = excluded.email_key \
             RETURNING attempts, window_start_ms, locked_until_ms",
        )
        .bind(email_key)
        .bind(now_ms)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err)?;
        Ok((i64::from(attempts), start, locked))
    }
}

#[async_trait]
impl<D: Dialect> RateLimitStore for SqlStore<D>
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
    async fn rate_limit(
        &self,
        key: &str,
        now_us: i64,
        interval_us: i64,
        period_us: i64,
    ) -> Result<(i64, bool)> {
        let max = D::MAX_FN;
        let sql = format!(
            "INSERT INTO rate_limits (key, tat_us) VALUES ($1, $2 + $3) \
             ON CONFLICT (key) DO UPDATE SET tat_us = {max}(rate_limits.tat_us, $2) + $3 \
             WHERE {max}(rate_limits.tat_us, $2) + $3 - $2 <= $4 \
             RETURNING tat_us"
        );
        let moved: Option<i64> = sqlx::query_scalar(AssertSqlSafe(sql))
            .bind(key)
            .bind(now_us)
            .bind(interval_us)
            .bind(period_us)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        if let Some(tat) = moved {
            return Ok((tat, true));
        }
        let tat: i64 = sqlx::query_scalar("SELECT tat_us FROM rate_limits WHERE key = $1")
            .bind(key)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        Ok((tat, false))
    }

    async fn sweep_rate_limits(&self, now_us: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM rate_limits WHERE tat_us < $1")
            .bind(now_us)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(D::rows_affected(&done))
    }
}

#[async_trait]
impl<D: Dialect> LockoutStore for SqlStore<D>
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
    async fn reserve_attempt(
        &self,
        email_key: &str,
        now_ms: i64,
        limit: u32,
        window_ms: i64,
    ) -> Result<Attempt> {
        let mut tx = self.write_tx().await?;
        let (mut attempts, mut start, locked) =
            Self::attempts_row(&mut tx, email_key, now_ms).await?;
        if let Some(until) = locked.filter(|u| *u > now_ms) {
            return Ok(Attempt::Locked { until_ms: until });
        }
        if start + window_ms <= now_ms || locked.is_some() {
            (attempts, start) = (0, now_ms);
        }
        if attempts >= i64::from(limit) {
            tx.commit().await.map_err(db_err)?;
            return Ok(Attempt::Busy);
        }
        sqlx::query(
            "UPDATE login_attempts SET attempts = $1, window_start_ms = $2, locked_until_ms = NULL WHERE email_key = $3",
        )
        .bind((attempts + 1) as i32)
        .bind(start)
        .bind(email_key)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(Attempt::Allowed)
    }

    async fn record_failure(
        &self,
        email_key: &str,
        now_ms: i64,
        limit: u32,
        window_ms: i64,
        audit: &[NewEvent],
    ) -> Result<Option<i64>> {
        let mut tx = self.write_tx().await?;
        let (attempts, _, locked) = Self::attempts_row(&mut tx, email_key, now_ms).await?;
        if attempts < i64::from(limit) || locked.is_some_and(|u| u > now_ms) {
            tx.commit().await.map_err(db_err)?;
            return Ok(None);
        }
        let until = now_ms + window_ms;
        sqlx::query("UPDATE login_attempts SET locked_until_ms = $1 WHERE email_key = $2")
            .bind(until)
            .bind(email_key)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        Self::append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(Some(until))
    }

    async fn unlock(&self, email_key: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM login_attempts WHERE email_key = $1")
            .bind(email_key)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(D::rows_affected(&done) > 0)
    }

    async fn release_attempt(&self, email_key: &str) -> Result<()> {
        sqlx::query(
            "UPDATE login_attempts SET attempts = attempts - 1 \
             WHERE email_key = $1 AND attempts > 0 AND locked_until_ms IS NULL",
        )
        .bind(email_key)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn sweep_attempts(&self, now_ms: i64, window_ms: i64) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM login_attempts WHERE window_start_ms + $2 <= $1 \
             AND (locked_until_ms IS NULL OR locked_until_ms <= $1)",
        )
        .bind(now_ms)
        .bind(window_ms)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(D::rows_affected(&done))
    }
}
