//! Signing keys, refresh-token families, refresh tokens and revoked access-token ids: the SQL
//! of `TokenStore`. Family rows are under row-level security on PostgreSQL; every transaction
//! here names the user it acts for, or the one family a presented token names.

use super::prelude::*;
use gatehouse_core::ids::{FamilyId, RefreshId};
use gatehouse_core::token_policy::{FamilyFacts, refresh_refusal};

pub(crate) const FAMILY_COLUMNS: &str = "f.id AS f_id, f.user_id AS f_user_id, f.org_id AS f_org_id, f.scope AS f_scope, \
     f.created_at AS f_created_at, f.expires_at AS f_expires_at, f.revoked_at AS f_revoked_at, \
     f.credential_epoch AS f_credential_epoch";

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
    pub(crate) fn family_row(r: &DbRow<D>) -> Result<TokenFamily> {
        Ok(TokenFamily {
            id: parse_id(r.try_get::<String, _>("f_id").map_err(db_err)?)?,
            user_id: parse_id(r.try_get::<String, _>("f_user_id").map_err(db_err)?)?,
            org_id: r
                .try_get::<Option<String>, _>("f_org_id")
                .map_err(db_err)?
                .map(parse_id)
                .transpose()?,
            scope: r.try_get("f_scope").map_err(db_err)?,
            created_at: time_of(r.try_get("f_created_at").map_err(db_err)?),
            expires_at: time_of(r.try_get("f_expires_at").map_err(db_err)?),
            revoked_at: r
                .try_get::<Option<i64>, _>("f_revoked_at")
                .map_err(db_err)?
                .map(time_of),
            credential_epoch: r.try_get("f_credential_epoch").map_err(db_err)?,
        })
    }

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
        let user = sqlx::query(AssertSqlSafe(sql))
            .bind(family.user_id.to_string())
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?;
        let user = user.as_ref().map(Self::user_row).transpose()?;
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
        let rows = sqlx::query(
            "SELECT kid, public_key, sealed_private, sealed_by, created_at, retired_at FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(StoredSigningKey {
                    kid: r.try_get("kid").map_err(db_err)?,
                    public_key: r.try_get("public_key").map_err(db_err)?,
                    sealed_private: r.try_get("sealed_private").map_err(db_err)?,
                    sealed_by: r.try_get("sealed_by").map_err(db_err)?,
                    created_at: time_of(r.try_get("created_at").map_err(db_err)?),
                    retired_at: r
                        .try_get::<Option<i64>, _>("retired_at")
                        .map_err(db_err)?
                        .map(time_of),
                })
            })
            .collect()
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
        let row = sqlx::query("SELECT id, family_id, created_at, expires_at, used_at FROM refresh_tokens WHERE digest = $1")
            .bind(digest)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        let Some(r) = row else { return Ok(None) };
        let token = RefreshToken {
            id: parse_id(r.try_get::<String, _>("id").map_err(db_err)?)?,
            family_id: parse_id(r.try_get::<String, _>("family_id").map_err(db_err)?)?,
            created_at: time_of(r.try_get("created_at").map_err(db_err)?),
            expires_at: time_of(r.try_get("expires_at").map_err(db_err)?),
            used_at: r
                .try_get::<Option<i64>, _>("used_at")
                .map_err(db_err)?
                .map(time_of),
        };
        D::set_local(&mut tx, TOKEN_FAMILY_SETTING, &token.family_id.to_string()).await?;
        let sql = format!("SELECT {FAMILY_COLUMNS} FROM token_families f WHERE f.id = $1");
        let family = sqlx::query(AssertSqlSafe(sql))
            .bind(token.family_id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        match family {
            Some(f) => Ok(Some((token, Self::family_row(&f)?))),
            None => Ok(None),
        }
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
        let row = sqlx::query(AssertSqlSafe(lock))
            .bind(family.id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        let Some(current) = row.as_ref().map(Self::family_row).transpose()? else {
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
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM token_families WHERE id = $1 AND revoked_at IS NULL AND user_id = $3) AS live, \
                    (SELECT COUNT(*) FROM revoked_jti WHERE jti = $2) AS revoked",
        )
        .bind(family.to_string())
        .bind(jti)
        .bind(user.to_string())
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let live: i64 = row.try_get("live").map_err(db_err)?;
        let revoked: i64 = row.try_get("revoked").map_err(db_err)?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let found_user = sqlx::query(AssertSqlSafe(sql))
            .bind(user.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(TokenState {
            family_revoked: live == 0,
            jti_revoked: revoked > 0,
            user: found_user.as_ref().map(Self::user_row).transpose()?,
        })
    }
}
