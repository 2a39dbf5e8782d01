//! Mailed flows and send limits: `EmailStore` over any [`Dialect`]. A flow is taken by one
//! `DELETE` (single use across instances); a code attempt is one conditional `UPDATE … RETURNING`;
//! a send is counted in a transaction that first locks the address's row, so two instances
//! cannot both pass the same limit.

use gatehouse_core::ids::EmailFlowId;

use super::prelude::*;

const FLOW_COLUMNS: &str = "id, kind, email_key, email, user_id, code_digest, token_digest, \
     return_to, attempts, created_at, expires_at";
const VOID_FLOWS: &str = "DELETE FROM email_flows WHERE email_key = $1 AND kind = $2";
const PRUNE_FLOWS: &str = "DELETE FROM email_flows WHERE expires_at <= $1";
const INSERT_FLOW: &str = "INSERT INTO email_flows (id, kind, email_key, email, user_id, \
     code_digest, token_digest, return_to, attempts, created_at, expires_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10)";
const TAKE_FLOW: &str = "DELETE FROM email_flows WHERE id = $1";
/// Locks the address (an upsert takes the row lock on PostgreSQL; SQLite writes one at a time).
const LOCK_ADDRESS: &str = "INSERT INTO mail_addresses (email_key) VALUES ($1) \
     ON CONFLICT (email_key) DO UPDATE SET email_key = excluded.email_key";
const PRUNE_SENDS: &str = "DELETE FROM mail_sends WHERE email_key = $1 AND sent_at <= $2";
const SENDS_SINCE: &str = "SELECT sent_at FROM mail_sends WHERE email_key = $1 AND sent_at > $2 \
     ORDER BY sent_at";
const INSERT_SEND: &str = "INSERT INTO mail_sends (email_key, sent_at) VALUES ($1, $2)";
const SET_VERIFIED: &str = "UPDATE users SET email_verified_at = $3 \
     WHERE id = $1 AND email_key = $2 AND email_verified_at IS NULL";
const VOID_ALL_FLOWS: &str = "DELETE FROM email_flows WHERE email_key = $1";
const CLAIM_ACCOUNT: &str = "UPDATE users SET email_verified_at = $3, password_hash = NULL \
     WHERE id = $1 AND email_key = $2 AND email_verified_at IS NULL";
/// Addresses with no send in the last hour need no row to lock on any more.
const PRUNE_ADDRESSES: &str = "DELETE FROM mail_addresses WHERE email_key IN \
     (SELECT a.email_key FROM mail_addresses a WHERE NOT EXISTS \
     (SELECT 1 FROM mail_sends s WHERE s.email_key = a.email_key) LIMIT 100)";
const STILL_ADDRESS: &str = "SELECT COUNT(*) FROM users WHERE id = $1 AND email_key = $2";

#[derive(FromRow)]
struct FlowRow {
    id: String,
    kind: String,
    email_key: String,
    email: String,
    user_id: Option<String>,
    code_digest: Option<Vec<u8>>,
    token_digest: Vec<u8>,
    return_to: Option<String>,
    attempts: i64,
    created_at: i64,
    expires_at: i64,
}

impl FlowRow {
    fn into_flow(self) -> Result<EmailFlow> {
        Ok(EmailFlow {
            id: parse_id(&self.id)?,
            kind: EmailFlowKind::parse(&self.kind)
                .ok_or_else(|| Error::internal(format!("email flow kind {:?}", self.kind)))?,
            email_key: self.email_key,
            email: self.email,
            user_id: self.user_id.as_deref().map(parse_id).transpose()?,
            code_digest: self.code_digest,
            token_digest: self.token_digest,
            return_to: self.return_to,
            attempts: self.attempts,
            created_at: time_of(self.created_at),
            expires_at: time_of(self.expires_at),
        })
    }
}

/// The seconds until a send leaves the window that holds `limit` sends already.
fn retry_after(sends: &[i64], limit: i64, window_secs: i64, now: i64) -> Option<u64> {
    let in_window: Vec<i64> = sends
        .iter()
        .copied()
        .filter(|t| *t > now - window_secs)
        .collect();
    let limit = usize::try_from(limit).unwrap_or(0);
    if in_window.len() < limit {
        return None;
    }
    // The oldest send that must leave for one more to fit.
    let leaving = in_window[in_window.len() - limit];
    Some(
        u64::try_from(leaving + window_secs - now)
            .unwrap_or(1)
            .max(1),
    )
}

#[async_trait]
impl<D: Dialect> EmailStore for SqlStore<D>
where
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> String: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> i32: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> Vec<u8>: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<String>: Encode<'q, D::Db> + Decode<'q, D::Db>,
    for<'q> Option<i64>: Encode<'q, D::Db> + Decode<'q, D::Db>,
    for<'q> Option<Vec<u8>>: Encode<'q, D::Db> + Decode<'q, D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + ColumnIndex<DbRow<D>>,
    usize: ColumnIndex<DbRow<D>>,
    for<'q> &'q [u8]: Encode<'q, D::Db>,
    str: Type<D::Db>,
    [u8]: Type<D::Db>,
{
    async fn reserve_send(
        &self,
        email_key: &str,
        now: OffsetDateTime,
        limits: SendLimits,
    ) -> Result<SendDecision> {
        let now = unix(now);
        let mut tx = self.write_tx().await?;
        sqlx::query(LOCK_ADDRESS)
            .bind(email_key)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query(PRUNE_SENDS)
            .bind(email_key)
            .bind(now - 3600)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let sends: Vec<i64> = sqlx::query_scalar(SENDS_SINCE)
            .bind(email_key)
            .bind(now - 3600)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        let wait = [
            retry_after(&sends, limits.per_minute, 60, now),
            retry_after(&sends, limits.per_hour, 3600, now),
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(retry_after_secs) = wait {
            tx.commit().await.map_err(db_err)?;
            return Ok(SendDecision::Limited { retry_after_secs });
        }
        sqlx::query(INSERT_SEND)
            .bind(email_key)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        // Outside the address's transaction: a few addresses no longer sending lose their row.
        sqlx::query(PRUNE_ADDRESSES)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(SendDecision::Allowed)
    }

    async fn create_email_flow(&self, f: &EmailFlow, audit: &[NewEvent]) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(PRUNE_FLOWS)
            .bind(unix(f.created_at))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query(VOID_FLOWS)
            .bind(f.email_key.as_str())
            .bind(f.kind.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query(INSERT_FLOW)
            .bind(f.id.to_string())
            .bind(f.kind.as_str())
            .bind(f.email_key.as_str())
            .bind(f.email.as_str())
            .bind(f.user_id.map(|u| u.to_string()))
            .bind(f.code_digest.clone())
            .bind(f.token_digest.as_slice())
            .bind(f.return_to.clone())
            .bind(unix(f.created_at))
            .bind(unix(f.expires_at))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        Self::append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn attempt_email_code(
        &self,
        id: EmailFlowId,
        now: OffsetDateTime,
        max: i64,
    ) -> Result<Option<EmailFlow>> {
        let sql = format!(
            "UPDATE email_flows SET attempts = attempts + 1 WHERE id = $1 AND expires_at > $2 \
             AND attempts < $3 AND code_digest IS NOT NULL RETURNING {FLOW_COLUMNS}"
        );
        let row: Option<FlowRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(id.to_string())
            .bind(unix(now))
            .bind(max)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.map(FlowRow::into_flow).transpose()
    }

    async fn take_email_flow(&self, id: EmailFlowId) -> Result<bool> {
        let done = sqlx::query(TAKE_FLOW)
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(D::rows_affected(&done) == 1)
    }

    async fn email_flow_by_token(
        &self,
        kind: EmailFlowKind,
        token_digest: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<EmailFlow>> {
        let sql = format!(
            "SELECT {FLOW_COLUMNS} FROM email_flows WHERE token_digest = $1 AND kind = $2 \
             AND expires_at > $3"
        );
        let row: Option<FlowRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(token_digest)
            .bind(kind.as_str())
            .bind(unix(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.map(FlowRow::into_flow).transpose()
    }

    async fn take_email_flow_by_token(
        &self,
        kind: EmailFlowKind,
        token_digest: &[u8],
        now: OffsetDateTime,
        max: i64,
    ) -> Result<Option<EmailFlow>> {
        let sql = format!(
            "DELETE FROM email_flows WHERE token_digest = $1 AND kind = $2 AND expires_at > $3 \
             AND attempts < $4 RETURNING {FLOW_COLUMNS}"
        );
        let row: Option<FlowRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(token_digest)
            .bind(kind.as_str())
            .bind(unix(now))
            .bind(max)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.map(FlowRow::into_flow).transpose()
    }

    async fn void_email_flows(&self, email_key: &str) -> Result<()> {
        sqlx::query(VOID_ALL_FLOWS)
            .bind(email_key)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn claim_unverified_account(
        &self,
        user: UserId,
        email_key: &str,
        at: OffsetDateTime,
        audit: &[NewEvent],
    ) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(CLAIM_ACCOUNT)
            .bind(user.to_string())
            .bind(email_key)
            .bind(unix(at))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if D::rows_affected(&done) != 1 {
            return Ok(false);
        }
        Self::revoke_others(&mut tx, user, None, at).await?;
        // Links to providers made before the address was proven go too.
        sqlx::query("DELETE FROM oidc_identities WHERE user_id = $1")
            .bind(user.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        Self::append_in(&mut tx, audit).await?;
        Self::publish_in(&mut tx, &Change::User(user)).await?;
        tx.commit().await.map_err(db_err)?;
        self.committed(Change::User(user));
        Ok(true)
    }

    async fn set_email_verified(
        &self,
        user: UserId,
        email_key: &str,
        at: OffsetDateTime,
        audit: &[NewEvent],
    ) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let still: i64 = sqlx::query_scalar(STILL_ADDRESS)
            .bind(user.to_string())
            .bind(email_key)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        if still != 1 {
            return Ok(false);
        }
        // Already verified: nothing to change, nothing to record, and still a success.
        let done = sqlx::query(SET_VERIFIED)
            .bind(user.to_string())
            .bind(email_key)
            .bind(unix(at))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if D::rows_affected(&done) == 1 {
            Self::append_in(&mut tx, audit).await?;
            Self::publish_in(&mut tx, &Change::User(user)).await?;
        }
        tx.commit().await.map_err(db_err)?;
        self.committed(Change::User(user));
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::retry_after;

    #[test]
    fn retry_after_is_when_the_oldest_counted_send_leaves_the_window() {
        assert_eq!(retry_after(&[], 1, 60, 1000), None);
        assert_eq!(retry_after(&[990], 1, 60, 1000), Some(50));
        assert_eq!(retry_after(&[900], 1, 60, 1000), None);
        assert_eq!(retry_after(&[100, 200, 300, 400], 5, 3600, 1000), None);
        assert_eq!(
            retry_after(&[100, 200, 300, 400, 500], 5, 3600, 1000),
            Some(2700)
        );
    }
}
