//! The audit log's SQL: appending sealed events to their chains (inside whatever transaction
//! carries the change they describe) and reading chains back.

/// Implements `AuditStore` and `append_in` (expanded inside `impl_ports!`).
macro_rules! impl_audit {
    ($store:ty, $db:ty) => {
        use gatehouse_core::audit::{Category, Chain, NewEvent, StoredEvent, chain::GENESIS, chain::seal};

        /// Rows per multi-row INSERT (10 binds each, well under both databases' limits).
        const AUDIT_INSERT_CHUNK: usize = 500;

        /// Lets the transaction see and write `chain`.
        async fn scope_chain(tx: &mut Tx, chain: Chain) -> Result<()> {
            match chain {
                Chain::Org(org) => <$store>::set_local(tx, ORG_SETTING, &org.to_string()).await,
                Chain::System => <$store>::set_local(tx, SYSTEM_SETTING, "on").await,
            }
        }

        /// Seals and inserts `events` inside `tx`: per chain (in name order, so transactions
        /// lock chains in one order), lock the chain's head row, continue from it, move it.
        async fn append_in(tx: &mut Tx, events: &[NewEvent]) -> Result<Vec<StoredEvent>> {
            let mut chains: Vec<Chain> = Vec::new();
            for e in events {
                if !chains.contains(&e.chain) {
                    chains.push(e.chain);
                }
            }
            chains.sort_by_key(|c| c.name());
            let mut sealed: Vec<Option<StoredEvent>> = vec![None; events.len()];
            for chain in chains {
                let name = chain.name();
                scope_chain(tx, chain).await?;
                sqlx::query("INSERT INTO audit_chains (chain, head_seq, head_hash) VALUES ($1, 0, $2) ON CONFLICT (chain) DO NOTHING")
                    .bind(&name)
                    .bind(GENESIS)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_err)?;
                let lock = format!("SELECT head_seq, head_hash FROM audit_chains WHERE chain = $1{}", <$store>::FOR_UPDATE);
                let head = sqlx::query(&lock).bind(&name).fetch_one(&mut **tx).await.map_err(db_err)?;
                let mut seq: i64 = head.try_get("head_seq").map_err(db_err)?;
                let mut prev: String = head.try_get("head_hash").map_err(db_err)?;
                let mut rows: Vec<(&NewEvent, StoredEvent)> = Vec::new();
                for (i, e) in events.iter().enumerate().filter(|(_, e)| e.chain == chain) {
                    seq += 1;
                    let s = seal(e, seq, &prev);
                    prev = s.hash.clone();
                    sealed[i] = Some(s.clone());
                    rows.push((e, s));
                }
                for chunk in rows.chunks(AUDIT_INSERT_CHUNK) {
                    let mut q = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO audit_events (chain, seq, id, org_id, at_ms, category, action, subject_user, body, hash) ",
                    );
                    q.push_values(chunk, |mut b, (e, s)| {
                        b.push_bind(name.clone())
                            .push_bind(s.seq)
                            .push_bind(e.id.to_string())
                            .push_bind(e.chain.org().map(|o| o.to_string()))
                            .push_bind((e.at.unix_timestamp_nanos() / 1_000_000) as i64)
                            .push_bind(e.category.as_str())
                            .push_bind(e.action.clone())
                            .push_bind(e.subject.map(|u| u.to_string()))
                            .push_bind(s.body.clone())
                            .push_bind(s.hash.clone());
                    });
                    q.build().execute(&mut **tx).await.map_err(db_err)?;
                }
                sqlx::query("UPDATE audit_chains SET head_seq = $1, head_hash = $2 WHERE chain = $3")
                    .bind(seq)
                    .bind(&prev)
                    .bind(&name)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_err)?;
            }
            Ok(sealed.into_iter().flatten().collect())
        }

        fn stored_row(r: &DbRow) -> Result<StoredEvent> {
            Ok(StoredEvent {
                seq: r.try_get("seq").map_err(db_err)?,
                body: r.try_get("body").map_err(db_err)?,
                hash: r.try_get("hash").map_err(db_err)?,
            })
        }

        #[async_trait]
        impl AuditStore for $store {
            async fn append_events(&self, events: &[NewEvent]) -> Result<Vec<StoredEvent>> {
                if events.is_empty() {
                    return Ok(Vec::new());
                }
                let mut tx = self.write_tx().await?;
                let sealed = append_in(&mut tx, events).await?;
                tx.commit().await.map_err(db_err)?;
                Ok(sealed)
            }

            async fn chain_events(&self, chain: Chain, after: i64, limit: u32, category: Option<Category>) -> Result<Vec<StoredEvent>> {
                let mut tx = self.read_tx().await?;
                scope_chain(&mut tx, chain).await?;
                let rows = match category {
                    Some(c) => sqlx::query(
                        "SELECT seq, body, hash FROM audit_events WHERE chain = $1 AND seq > $2 AND category = $3 ORDER BY seq LIMIT $4",
                    )
                    .bind(chain.name())
                    .bind(after)
                    .bind(c.as_str())
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await,
                    None => sqlx::query("SELECT seq, body, hash FROM audit_events WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3")
                        .bind(chain.name())
                        .bind(after)
                        .bind(i64::from(limit))
                        .fetch_all(&mut *tx)
                        .await,
                }
                .map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                rows.iter().map(stored_row).collect()
            }

            async fn chain_head(&self, chain: Chain) -> Result<Option<(i64, String)>> {
                let row = sqlx::query("SELECT head_seq, head_hash FROM audit_chains WHERE chain = $1")
                    .bind(chain.name())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?;
                row.map(|r| Ok((r.try_get("head_seq").map_err(db_err)?, r.try_get("head_hash").map_err(db_err)?)))
                    .transpose()
            }

            async fn user_events(&self, user: UserId, limit: u32) -> Result<Vec<StoredEvent>> {
                let mut tx = self.read_tx().await?;
                <$store>::set_local(&mut tx, USER_SETTING, &user.to_string()).await?;
                let rows = sqlx::query(
                    "SELECT seq, body, hash FROM audit_events WHERE subject_user = $1 AND category = 'security' \
                     ORDER BY at_ms DESC, chain, seq DESC LIMIT $2",
                )
                .bind(user.to_string())
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                rows.iter().map(stored_row).collect()
            }

            async fn chains(&self) -> Result<Vec<Chain>> {
                let rows = sqlx::query("SELECT chain FROM audit_chains ORDER BY chain")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                rows.iter()
                    .map(|r| {
                        let name: String = r.try_get("chain").map_err(db_err)?;
                        Chain::parse(&name).ok_or_else(|| Error::internal(format!("unknown chain {name}")))
                    })
                    .collect()
            }

            async fn verified_head(&self, chain: Chain) -> Result<Option<(i64, String)>> {
                let row = sqlx::query("SELECT verified_seq, verified_hash FROM audit_chains WHERE chain = $1 AND verified_seq > 0")
                    .bind(chain.name())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?;
                row.map(|r| Ok((r.try_get("verified_seq").map_err(db_err)?, r.try_get("verified_hash").map_err(db_err)?)))
                    .transpose()
            }

            async fn record_verified(&self, chain: Chain, seq: i64, hash: &str) -> Result<()> {
                sqlx::query("UPDATE audit_chains SET verified_seq = $1, verified_hash = $2 WHERE chain = $3 AND verified_seq < $1")
                    .bind(seq)
                    .bind(hash)
                    .bind(chain.name())
                    .execute(&self.pool)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }
        }
    };
}

pub(crate) use impl_audit;
