//! Passkeys and WebAuthn ceremonies: `PasskeyStore` over any [`Dialect`]. A ceremony is taken
//! by one `DELETE … RETURNING` (single use across instances); a sign-in's counter is recorded
//! by one conditional `UPDATE` (a regression, or a parallel sign-in that counted first, changes
//! nothing).

use gatehouse_core::ids::{CeremonyId, PasskeyId};

use super::prelude::*;

const PASSKEY_COLUMNS: &str = "id, user_id, name, credential_id, credential, sign_count, \
     backup_eligible, created_at, last_used_at";
const INSERT_PASSKEY: &str = "INSERT INTO passkeys (id, user_id, name, credential_id, \
     credential, sign_count, backup_eligible, created_at, last_used_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)";
/// Only a higher counter is recorded, or none at all (an authenticator that keeps no counter
/// reports zero every time).
const RECORD_USE: &str = "UPDATE passkeys SET credential = $2, sign_count = $3, \
     last_used_at = $4 WHERE id = $1 AND (sign_count < $3 OR (sign_count = 0 AND $3 = 0))";
const DELETE_PASSKEY: &str = "DELETE FROM passkeys WHERE user_id = $1 AND id = $2";
const INSERT_CEREMONY: &str = "INSERT INTO webauthn_ceremonies (id, kind, user_id, state, \
     created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)";
const PRUNE_CEREMONIES: &str = "DELETE FROM webauthn_ceremonies WHERE expires_at <= $1";
const TAKE_CEREMONY: &str = "DELETE FROM webauthn_ceremonies WHERE id = $1 AND kind = $2 \
     AND expires_at > $3 RETURNING id, kind, user_id, state, created_at, expires_at";

#[derive(FromRow)]
struct PasskeyRow {
    id: String,
    user_id: String,
    name: String,
    credential_id: Vec<u8>,
    credential: String,
    sign_count: i64,
    backup_eligible: i64,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl PasskeyRow {
    fn into_passkey(self) -> Result<StoredPasskey> {
        Ok(StoredPasskey {
            id: parse_id(&self.id)?,
            user_id: parse_id(&self.user_id)?,
            name: self.name,
            credential_id: self.credential_id,
            credential: self.credential,
            sign_count: self.sign_count,
            backup_eligible: self.backup_eligible != 0,
            created_at: time_of(self.created_at),
            last_used_at: self.last_used_at.map(time_of),
        })
    }
}

#[derive(FromRow)]
struct CeremonyRow {
    id: String,
    kind: String,
    user_id: Option<String>,
    state: String,
    created_at: i64,
    expires_at: i64,
}

impl CeremonyRow {
    fn into_ceremony(self) -> Result<Ceremony> {
        Ok(Ceremony {
            id: parse_id(&self.id)?,
            kind: match self.kind.as_str() {
                "register" => CeremonyKind::Register,
                "login" => CeremonyKind::Login,
                other => return Err(Error::internal(format!("ceremony kind {other:?}"))),
            },
            user_id: self.user_id.as_deref().map(parse_id).transpose()?,
            state: self.state,
            created_at: time_of(self.created_at),
            expires_at: time_of(self.expires_at),
        })
    }
}

#[async_trait]
impl<D: Dialect> PasskeyStore for SqlStore<D>
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
    async fn create_ceremony(&self, c: &Ceremony) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(PRUNE_CEREMONIES)
            .bind(unix(c.created_at))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query(INSERT_CEREMONY)
            .bind(c.id.to_string())
            .bind(c.kind.as_str())
            .bind(c.user_id.map(|u| u.to_string()))
            .bind(c.state.as_str())
            .bind(unix(c.created_at))
            .bind(unix(c.expires_at))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn take_ceremony(
        &self,
        id: CeremonyId,
        kind: CeremonyKind,
        now: OffsetDateTime,
    ) -> Result<Option<Ceremony>> {
        let row: Option<CeremonyRow> = sqlx::query_as(TAKE_CEREMONY)
            .bind(id.to_string())
            .bind(kind.as_str())
            .bind(unix(now))
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.map(CeremonyRow::into_ceremony).transpose()
    }

    async fn add_passkey(&self, p: &StoredPasskey, audit: &[NewEvent]) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(INSERT_PASSKEY)
            .bind(p.id.to_string())
            .bind(p.user_id.to_string())
            .bind(p.name.as_str())
            .bind(p.credential_id.as_slice())
            .bind(p.credential.as_str())
            .bind(p.sign_count)
            .bind(i64::from(p.backup_eligible))
            .bind(unix(p.created_at))
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict_or(e, ConflictReason::PasskeyRegistered))?;
        Self::append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn passkeys(&self, user: UserId) -> Result<Vec<StoredPasskey>> {
        let sql = format!(
            "SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE user_id = $1 ORDER BY created_at, id"
        );
        let rows: Vec<PasskeyRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(user.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(PasskeyRow::into_passkey).collect()
    }

    async fn passkey_by_credential(&self, credential_id: &[u8]) -> Result<Option<StoredPasskey>> {
        let sql = format!("SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE credential_id = $1");
        let row: Option<PasskeyRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(credential_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.map(PasskeyRow::into_passkey).transpose()
    }

    async fn record_passkey_use(
        &self,
        id: PasskeyId,
        credential: &str,
        sign_count: i64,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let done = sqlx::query(RECORD_USE)
            .bind(id.to_string())
            .bind(credential)
            .bind(sign_count)
            .bind(unix(now))
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(D::rows_affected(&done) == 1)
    }

    async fn delete_passkey(
        &self,
        user: UserId,
        id: PasskeyId,
        audit: &[NewEvent],
    ) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(DELETE_PASSKEY)
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
