//! Signing keys, refresh-token families, refresh tokens and revoked access-token ids: the SQL
//! of `TokenStore`. Family rows are under row-level security on PostgreSQL; every transaction
//! here names the user it acts for, or the one family a presented token names.

use super::prelude::*;
use gatehouse_core::ids::{FamilyId, RefreshId};
use gatehouse_core::token_policy::{FamilyFacts, refresh_refusal};

pub(crate) const FAMILY_COLUMNS: &str = "f.id AS f_id, f.user_id AS f_user_id, f.org_id AS f_org_id, f.scope AS f_scope, \
     f.created_at AS f_created_at, f.expires_at AS f_expires_at, f.revoked_at AS f_revoked_at, \
     f.credential_epoch AS f_credential_epoch";

/// A refresh-token family as the database returns it (the `f_`-prefixed columns of
/// [`FAMILY_COLUMNS`]).
#[derive(FromRow)]
struct FamilyRow {
    f_id: String,
    f_user_id: String,
    f_org_id: Option<String>,
    f_scope: String,
    f_created_at: i64,
    f_expires_at: i64,
    f_revoked_at: Option<i64>,
    f_credential_epoch: i64,
}

/// A refresh token as the database returns it.
#[derive(FromRow)]
struct RefreshRow {
    id: String,
    family_id: String,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

/// A signing key as the database returns it.
#[derive(FromRow)]
struct SigningKeyRow {
    kid: String,
    public_key: Vec<u8>,
    sealed_private: Vec<u8>,
    sealed_by: Option<String>,
    created_at: i64,
    retired_at: Option<i64>,
}

impl FamilyRow {
    fn into_family(self) -> Result<TokenFamily> {
        Ok(TokenFamily {
            id: parse_id(&self.f_id)?,
            user_id: parse_id(&self.f_user_id)?,
            org_id: self.f_org_id.as_deref().map(parse_id).transpose()?,
            scope: self.f_scope,
            created_at: time_of(self.f_created_at),
            expires_at: time_of(self.f_expires_at),
            revoked_at: self.f_revoked_at.map(time_of),
            credential_epoch: self.f_credential_epoch,
        })
    }
}

impl RefreshRow {
    fn into_refresh(self) -> Result<RefreshToken> {
        Ok(RefreshToken {
            id: parse_id(&self.id)?,
            family_id: parse_id(&self.family_id)?,
            created_at: time_of(self.created_at),
            expires_at: time_of(self.expires_at),
            used_at: self.used_at.map(time_of),
        })
    }
}

impl SigningKeyRow {
    fn into_key(self) -> StoredSigningKey {
        StoredSigningKey {
            kid: self.kid,
            public_key: self.public_key,
            sealed_private: self.sealed_private,
            sealed_by: self.sealed_by,
            created_at: time_of(self.created_at),
            retired_at: self.retired_at.map(time_of),
        }
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
    pub(crate) async fn insert_refresh(
        tx: &mut Tx<D>,
        t: &RefreshToken,
        digest: &[u8],
    ) -> Result<()> {
        sqlx::query("INSERT INTO refresh_tokens (id, family_id, digest, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(t.id.to_string())
            .bind(t.family_id.to_string())
            .bind(digest)
            .bind(unix(t.created_at))
            .bind(unix(t.expires_at))
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// The user, their role in the family's org and the org's token policy, as they stand
    /// inside `tx` (which acts for the family's user).
    pub(crate) async fn family_facts(tx: &mut Tx<D>, family: &TokenFamily) -> Result<FamilyFacts> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let user: Option<UserRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(family.user_id.to_string())
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?;
        let user = user.map(UserRow::into_user).transpose()?;
        let (role, policy) = match family.org_id {
            None => (
                None,
                gatehouse_core::token_policy::TokenScopePolicy::default(),
            ),
            Some(org) => (
                Self::role_in(tx, org, family.user_id).await?,
                Self::policy_in(tx, org).await?,
            ),
        };
        Ok(FamilyFacts { user, role, policy })
    }
}

#[async_trait]
impl<D: Dialect> TokenStore for SqlStore<D>
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
    async fn signing_keys(&self) -> Result<Vec<StoredSigningKey>> {
        let rows: Vec<SigningKeyRow> = sqlx::query_as(
            "SELECT kid, public_key, sealed_private, sealed_by, created_at, retired_at FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(SigningKeyRow::into_key).collect())
    }

    async fn add_signing_key(&self, key: &StoredSigningKey, audit: &[NewEvent]) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
            .bind(unix(key.created_at))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query("INSERT INTO signing_keys (kid, public_key, sealed_private, sealed_by, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&key.kid)
            .bind(&key.public_key)
            .bind(&key.sealed_private)
            .bind(key.sealed_by.clone())
            .bind(unix(key.created_at))
            .execute(&mut *tx)
            .await
            .map_err(|e| conflict_or(e, ConflictReason::KidTaken))?;
        Self::append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn reseal_signing_key(
        &self,
        kid: &str,
        old_sealed: &[u8],
        sealed: &[u8],
        sealed_by: &str,
    ) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE signing_keys SET sealed_private = $1, sealed_by = $2 \
             WHERE kid = $3 AND sealed_private = $4",
        )
        .bind(sealed)
        .bind(sealed_by)
        .bind(kid)
        .bind(old_sealed)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(D::rows_affected(&done) == 1)
    }

    async fn create_family(
        &self,
        f: &TokenFamily,
        first: &RefreshToken,
        digest: &[u8],
        audit: &[NewEvent],
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        D::set_local(&mut tx, USER_SETTING, &f.user_id.to_string()).await?;
        Self::require_epoch(&mut tx, f.user_id, f.credential_epoch).await?;
        if let Some(org) = f.org_id {
            // Queued behind (or ahead of) any membership change of the org: either the
            // change revokes this family, or this judges the role the change left.
            let lock = format!("SELECT id FROM orgs WHERE id = $1{}", D::FOR_UPDATE);
            sqlx::query(AssertSqlSafe(lock))
                .bind(org.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
            let facts = Self::family_facts(&mut tx, f).await?;
            match refresh_refusal(f, &facts, f.created_at) {
                None => {}
                Some(gatehouse_core::token_policy::Refusal::Revoked("left_org")) => {
                    return Err(Error::field("org_id", "not_a_member"));
                }
                Some(_) => return Err(Error::field("scope", "not_allowed")),
            }
        }
        sqlx::query(
            "INSERT INTO token_families (id, user_id, org_id, scope, created_at, expires_at, credential_epoch) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(f.id.to_string())
        .bind(f.user_id.to_string())
        .bind(f.org_id.map(|o| o.to_string()))
        .bind(&f.scope)
        .bind(unix(f.created_at))
        .bind(unix(f.expires_at))
        .bind(f.credential_epoch)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        Self::insert_refresh(&mut tx, first, digest).await?;
        Self::append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn refresh_by_digest(
        &self,
        digest: &[u8],
    ) -> Result<Option<(RefreshToken, TokenFamily)>> {
        let mut tx = self.read_tx().await?;
        let row: Option<RefreshRow> = sqlx::query_as("SELECT id, family_id, created_at, expires_at, used_at FROM refresh_tokens WHERE digest = $1")
            .bind(digest)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        let Some(token) = row.map(RefreshRow::into_refresh).transpose()? else {
            return Ok(None);
        };
        D::set_local(&mut tx, TOKEN_FAMILY_SETTING, &token.family_id.to_string()).await?;
        let sql = format!("SELECT {FAMILY_COLUMNS} FROM token_families f WHERE f.id = $1");
        let family: Option<FamilyRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(token.family_id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(family
            .map(FamilyRow::into_family)
            .transpose()?
            .map(|f| (token, f)))
    }

    async fn rotate_refresh(
        &self,
        family: &TokenFamily,
        old: RefreshId,
        next: &RefreshToken,
        digest: &[u8],
        at: OffsetDateTime,
        audit: &[NewEvent],
    ) -> Result<Rotation> {
        let mut tx = self.write_tx().await?;
        D::set_local(&mut tx, USER_SETTING, &family.user_id.to_string()).await?;
        let lock = format!(
            "SELECT {FAMILY_COLUMNS} FROM token_families f WHERE f.id = $1{}",
            D::FOR_UPDATE
        );
        let row: Option<FamilyRow> = sqlx::query_as(AssertSqlSafe(lock))
            .bind(family.id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        let Some(current) = row.map(FamilyRow::into_family).transpose()? else {
            return Ok(Rotation::Revoked);
        };
        if current.revoked_at.is_some() {
            return Ok(Rotation::Revoked);
        }
        let facts = Self::family_facts(&mut tx, &current).await?;
        if let Some(refusal) = refresh_refusal(&current, &facts, at) {
            return Ok(Rotation::Refused(refusal));
        }
        let spent = sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE id = $2 AND family_id = $3 AND used_at IS NULL")
            .bind(unix(at))
            .bind(old.to_string())
            .bind(family.id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if D::rows_affected(&spent) != 1 {
            return Ok(Rotation::Spent);
        }
        Self::insert_refresh(&mut tx, next, digest).await?;
        Self::append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(Rotation::Rotated)
    }

    async fn revoke_family(
        &self,
        family: &TokenFamily,
        at: OffsetDateTime,
        audit: &[NewEvent],
    ) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        D::set_local(&mut tx, USER_SETTING, &family.user_id.to_string()).await?;
        let done = sqlx::query(
            "UPDATE token_families SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(unix(at))
        .bind(family.id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        Self::append_in(&mut tx, audit).await?;
        let change = Change::User(family.user_id);
        Self::publish_in(&mut tx, &change).await?;
        tx.commit().await.map_err(db_err)?;
        self.committed(change);
        Ok(D::rows_affected(&done) == 1)
    }

    async fn revoke_jti(
        &self,
        jti: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
        audit: &[NewEvent],
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("INSERT INTO revoked_jti (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING")
            .bind(jti)
            .bind(unix(expires_at))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query("DELETE FROM revoked_jti WHERE expires_at < $1")
            .bind(unix(now) - 3600)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        Self::append_in(&mut tx, audit).await?;
        let change = Change::Jti(jti.to_owned());
        Self::publish_in(&mut tx, &change).await?;
        tx.commit().await.map_err(db_err)?;
        self.committed(change);
        Ok(())
    }

    async fn token_state(&self, family: FamilyId, jti: &str, user: UserId) -> Result<TokenState> {
        let mut tx = self.read_tx().await?;
        D::set_local(&mut tx, TOKEN_FAMILY_SETTING, &family.to_string()).await?;
        let (live, revoked): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM token_families WHERE id = $1 AND revoked_at IS NULL AND user_id = $3) AS live, \
                    (SELECT COUNT(*) FROM revoked_jti WHERE jti = $2) AS revoked",
        )
        .bind(family.to_string())
        .bind(jti)
        .bind(user.to_string())
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let found_user: Option<UserRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(user.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(TokenState {
            family_revoked: live == 0,
            jti_revoked: revoked > 0,
            user: found_user.map(UserRow::into_user).transpose()?,
        })
    }
}
