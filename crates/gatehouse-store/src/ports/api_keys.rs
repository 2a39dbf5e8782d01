//! API keys: the SQL of `ApiKeyStore`. Revocation and deletion announce the key's public id in
//! the same transaction, so every instance drops it from its cache when the change commits.

/// Implements `ApiKeyStore` (expanded inside `impl_ports!`).
macro_rules! impl_api_keys {
    ($store:ty, $db:ty) => {
        const KEY_COLUMNS: &str = "id, org_id, name, public_id, digest, scopes, created_by, created_at, \
                                   expires_at, last_used_at, revoked_at";
        /// The same columns, qualified, for the join with `orgs`.
        const KEY_COLUMNS_K: &str = "k.id, k.org_id, k.name, k.public_id, k.digest, k.scopes, k.created_by, \
                                     k.created_at, k.expires_at, k.last_used_at, k.revoked_at";

        fn key_row(r: &DbRow) -> Result<ApiKey> {
            let scopes: String = r.try_get("scopes").map_err(db_err)?;
            Ok(ApiKey {
                id: parse_id(r.try_get::<String, _>("id").map_err(db_err)?)?,
                org_id: parse_id(r.try_get::<String, _>("org_id").map_err(db_err)?)?,
                name: r.try_get("name").map_err(db_err)?,
                public_id: r.try_get("public_id").map_err(db_err)?,
                digest: r.try_get("digest").map_err(db_err)?,
                scopes: scopes.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
                created_by: r.try_get::<Option<String>, _>("created_by").map_err(db_err)?.map(parse_id).transpose()?,
                created_at: time_of(r.try_get("created_at").map_err(db_err)?),
                expires_at: r.try_get::<Option<i64>, _>("expires_at").map_err(db_err)?.map(time_of),
                last_used_at: r.try_get::<Option<i64>, _>("last_used_at").map_err(db_err)?.map(time_of),
                revoked_at: r.try_get::<Option<i64>, _>("revoked_at").map_err(db_err)?.map(time_of),
            })
        }

        #[async_trait]
        impl ApiKeyStore for $store {
            async fn create_api_key(&self, k: &ApiKey, audit: &[NewEvent]) -> Result<()> {
                let mut tx = self.org_tx(k.org_id, true).await?;
                sqlx::query(
                    "INSERT INTO api_keys (id, org_id, name, public_id, digest, scopes, created_by, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(k.id.to_string())
                .bind(k.org_id.to_string())
                .bind(&k.name)
                .bind(&k.public_id)
                .bind(&k.digest)
                .bind(k.scopes.join(" "))
                .bind(k.created_by.map(|u| u.to_string()))
                .bind(unix(k.created_at))
                .bind(k.expires_at.map(unix))
                .execute(&mut *tx)
                .await
                .map_err(|e| conflict_or(e, "key_collision"))?;
                append_in(&mut tx, audit).await?;
                tx.commit().await.map_err(db_err)
            }

            async fn api_keys(&self, org: OrgId) -> Result<Vec<ApiKey>> {
                let mut tx = self.org_tx(org, false).await?;
                let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id = $1 ORDER BY created_at, id");
                let rows = sqlx::query(&sql).bind(org.to_string()).fetch_all(&mut *tx).await.map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                rows.iter().map(key_row).collect()
            }

            async fn api_key(&self, org: OrgId, id: ApiKeyId) -> Result<Option<ApiKey>> {
                let mut tx = self.org_tx(org, false).await?;
                let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id = $1 AND id = $2");
                let row = sqlx::query(&sql)
                    .bind(org.to_string())
                    .bind(id.to_string())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                row.as_ref().map(key_row).transpose()
            }

            async fn api_key_by_public_id(&self, public_id: &str) -> Result<Option<(ApiKey, Org)>> {
                let mut tx = self.read_tx().await?;
                Self::set_local(&mut tx, API_KEY_SETTING, public_id).await?;
                let sql = format!(
                    "SELECT {KEY_COLUMNS_K}, o.id AS o_id, o.name AS o_name, o.created_at AS o_created_at \
                     FROM api_keys k JOIN orgs o ON o.id = k.org_id WHERE k.public_id = $1"
                );
                let row = sqlx::query(&sql).bind(public_id).fetch_optional(&mut *tx).await.map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                row.map(|r| Ok((key_row(&r)?, org_row(&r)?))).transpose()
            }

            async fn revoke_api_key(&self, org: OrgId, id: ApiKeyId, at: OffsetDateTime, audit: &[NewEvent]) -> Result<Option<ApiKey>> {
                let mut tx = self.org_tx(org, true).await?;
                let sql = format!(
                    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE org_id = $2 AND id = $3 \
                     RETURNING {KEY_COLUMNS}"
                );
                let row = sqlx::query(&sql)
                    .bind(unix(at))
                    .bind(org.to_string())
                    .bind(id.to_string())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?;
                let Some(key) = row.as_ref().map(key_row).transpose()? else {
                    return Ok(None);
                };
                Self::notify_key_change(&mut tx, &key.public_id).await?;
                append_in(&mut tx, audit).await?;
                tx.commit().await.map_err(db_err)?;
                Ok(Some(key))
            }

            async fn delete_api_key(&self, org: OrgId, id: ApiKeyId, audit: &[NewEvent]) -> Result<Option<ApiKey>> {
                let mut tx = self.org_tx(org, true).await?;
                let sql = format!("DELETE FROM api_keys WHERE org_id = $1 AND id = $2 RETURNING {KEY_COLUMNS}");
                let row = sqlx::query(&sql)
                    .bind(org.to_string())
                    .bind(id.to_string())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?;
                let Some(key) = row.as_ref().map(key_row).transpose()? else {
                    return Ok(None);
                };
                Self::notify_key_change(&mut tx, &key.public_id).await?;
                append_in(&mut tx, audit).await?;
                tx.commit().await.map_err(db_err)?;
                Ok(Some(key))
            }

            async fn touch_api_key(&self, org: OrgId, id: ApiKeyId, at: OffsetDateTime) -> Result<()> {
                let mut tx = self.org_tx(org, true).await?;
                sqlx::query(
                    "UPDATE api_keys SET last_used_at = $1 \
                     WHERE org_id = $2 AND id = $3 AND (last_used_at IS NULL OR last_used_at < $1)",
                )
                .bind(unix(at))
                .bind(org.to_string())
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                tx.commit().await.map_err(db_err)
            }
        }
    };
}

pub(crate) use impl_api_keys;
