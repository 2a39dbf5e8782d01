//! OpenID Connect flows and links: `OidcStore` over any [`Dialect`]. A flow is taken by one
//! `DELETE … RETURNING` (single use across instances); a link is unique per (issuer, subject).

use gatehouse_core::ids::OidcIdentityId;

use super::prelude::*;

const INSERT_FLOW: &str = "INSERT INTO oidc_flows (id, provider, state_digest, nonce, verifier, \
     sealed_by, return_to, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
const PRUNE_FLOWS: &str = "DELETE FROM oidc_flows WHERE expires_at <= $1";
const TAKE_FLOW: &str = "DELETE FROM oidc_flows WHERE provider = $1 AND state_digest = $2 \
     AND expires_at > $3 RETURNING id, provider, state_digest, nonce, verifier, sealed_by, \
     return_to, created_at, expires_at";
const IDENTITY_COLUMNS: &str = "id, user_id, provider, issuer, subject, email, created_at";
const INSERT_IDENTITY: &str = "INSERT INTO oidc_identities (id, user_id, provider, issuer, \
     subject, email, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
const DELETE_IDENTITY: &str = "DELETE FROM oidc_identities WHERE user_id = $1 AND id = $2";
const LOCK_USER: &str = "UPDATE users SET credential_epoch = credential_epoch WHERE id = $1";
/// The ways to sign in an account has: its links, its passkeys, its password.
const WAYS_LEFT: &str = "SELECT (SELECT COUNT(*) FROM oidc_identities WHERE user_id = $1) \
     + (SELECT COUNT(*) FROM passkeys WHERE user_id = $1) \
     + (SELECT COUNT(*) FROM users WHERE id = $1 AND password_hash IS NOT NULL)";

#[derive(FromRow)]
struct FlowRow {
    id: String,
    provider: String,
    state_digest: Vec<u8>,
    nonce: String,
    verifier: Vec<u8>,
    sealed_by: String,
    return_to: Option<String>,
    created_at: i64,
    expires_at: i64,
}

#[derive(FromRow)]
struct IdentityRow {
    id: String,
    user_id: String,
    provider: String,
    issuer: String,
    subject: String,
    email: Option<String>,
    created_at: i64,
}

impl IdentityRow {
    fn into_identity(self) -> Result<OidcIdentity> {
        Ok(OidcIdentity {
            id: parse_id(&self.id)?,
            user_id: parse_id(&self.user_id)?,
            provider: self.provider,
            issuer: self.issuer,
            subject: self.subject,
            email: self.email,
            created_at: time_of(self.created_at),
        })
    }
}

#[async_trait]
impl<D: Dialect> OidcStore for SqlStore<D>
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
    async fn create_oidc_flow(&self, f: &OidcFlow) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(PRUNE_FLOWS)
            .bind(unix(f.created_at))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query(INSERT_FLOW)
            .bind(f.id.to_string())
            .bind(f.provider.as_str())
            .bind(f.state_digest.as_slice())
            .bind(f.nonce.as_str())
            .bind(f.verifier.as_slice())
            .bind(f.sealed_by.as_str())
            .bind(f.return_to.clone())
            .bind(unix(f.created_at))
            .bind(unix(f.expires_at))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn take_oidc_flow(
        &self,
        provider: &str,
        state_digest: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<OidcFlow>> {
        let row: Option<FlowRow> = sqlx::query_as(TAKE_FLOW)
            .bind(provider)
            .bind(state_digest)
            .bind(unix(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.map(|r| {
            Ok(OidcFlow {
                id: parse_id(&r.id)?,
                provider: r.provider,
                state_digest: r.state_digest,
                nonce: r.nonce,
                verifier: r.verifier,
                sealed_by: r.sealed_by,
                return_to: r.return_to,
                created_at: time_of(r.created_at),
                expires_at: time_of(r.expires_at),
            })
        })
        .transpose()
    }

    async fn oidc_identity(&self, issuer: &str, subject: &str) -> Result<Option<OidcIdentity>> {
        let sql = format!(
            "SELECT {IDENTITY_COLUMNS} FROM oidc_identities WHERE issuer = $1 AND subject = $2"
        );
        let row: Option<IdentityRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(issuer)
            .bind(subject)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.map(IdentityRow::into_identity).transpose()
    }

    async fn oidc_identities(&self, user: UserId) -> Result<Vec<OidcIdentity>> {
        let sql = format!(
            "SELECT {IDENTITY_COLUMNS} FROM oidc_identities WHERE user_id = $1 \
             ORDER BY created_at, id"
        );
        let rows: Vec<IdentityRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(user.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(IdentityRow::into_identity).collect()
    }

    async fn link_oidc_identity(&self, i: &OidcIdentity, audit: &[NewEvent]) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(INSERT_IDENTITY)
            .bind(i.id.to_string())
            .bind(i.user_id.to_string())
            .bind(i.provider.as_str())
            .bind(i.issuer.as_str())
            .bind(i.subject.as_str())
            .bind(i.email.clone())
            .bind(unix(i.created_at))
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict_or(e, ConflictReason::IdentityLinked))?;
        Self::append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn unlink_oidc_identity(
        &self,
        user: UserId,
        id: OidcIdentityId,
        audit: &[NewEvent],
    ) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        // The user's row locked first: two unlinks at once are judged one after the other.
        sqlx::query(LOCK_USER)
            .bind(user.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let done = sqlx::query(DELETE_IDENTITY)
            .bind(user.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if D::rows_affected(&done) != 1 {
            return Ok(false);
        }
        let ways: i64 = sqlx::query_scalar(WAYS_LEFT)
            .bind(user.to_string())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        if ways == 0 {
            return Err(Error::Conflict(ConflictReason::LastSignInMethod));
        }
        Self::append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }
}
