//! `gatehouse secrets reencrypt` (SPEC §10): re-seal every stored secret value, signing key and TOTP seed
//! under the current master secret. Work is found by the fingerprint stored beside each sealed
//! value, so a run stopped at any point (even `kill -9`) is resumed by running it again: each
//! batch is its own transaction, and what a finished batch re-sealed is not looked at again.

use serde_json::json;

use crate::ambient::Ambient;
use crate::audit::{Actor, Category, Chain, NewEvent};
use crate::service::ClientInfo;
use crate::service::auth::seed_aad;
use crate::service::secrets::secret_aad;
use crate::service::tokens::keys::key_aad;
use crate::store::{Resealed, ResealedSeed, Store};
use crate::vault::Keyring;
use crate::{Error, Result};

/// Where a long run reports how far it got (a progress bar on the CLI).
pub trait Progress: Send + Sync {
    /// How many values the run will look at.
    fn total(&self, values: u64);
    /// This many more are done.
    fn advance(&self, values: u64);
}

/// A run that reports nothing.
pub struct Quiet;

impl Progress for Quiet {
    fn total(&self, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Secret versions re-sealed under the current master secret.
    pub secrets: u64,
    /// Signing keys re-sealed.
    pub signing_keys: u64,
    /// TOTP seeds re-sealed.
    pub totp_seeds: u64,
    /// Values that opened with no configured master secret (left as they are).
    pub unopenable: u64,
}

/// Re-seals what an older master secret sealed, `batch` secret versions per transaction.
pub async fn reencrypt(
    store: &dyn Store,
    keyring: &Keyring,
    ambient: &Ambient,
    batch: u32,
    progress: &dyn Progress,
) -> Result<Counts> {
    let current = keyring.current_id().to_owned();
    let keys = store.signing_keys().await?;
    let stale_keys: Vec<_> = keys
        .into_iter()
        .filter(|k| k.sealed_by.as_deref() != Some(current.as_str()))
        .collect();
    let orgs = store.org_ids().await?;
    let mut total = stale_keys.len() as u64 + store.count_seeds_to_reseal(&current).await?;
    for org in &orgs {
        total += store.count_to_reseal(*org, &current).await?;
    }
    progress.total(total);

    let mut counts = Counts::default();
    for key in stale_keys {
        let aad = key_aad(&key.kid);
        match keyring.open(key.sealed_by.as_deref(), &aad, &key.sealed_private) {
            Ok(opened) => {
                let sealed = if opened.current {
                    key.sealed_private.clone()
                } else {
                    keyring.seal(ambient.random(), &aad, &opened.plaintext)?
                };
                if store
                    .reseal_signing_key(&key.kid, &key.sealed_private, &sealed, &current)
                    .await?
                {
                    counts.signing_keys += 1;
                }
            }
            Err(Error::Unsealable) => {
                tracing::error!(kid = %key.kid, "signing key does not open with any configured master secret");
                counts.unopenable += 1;
            }
            Err(e) => return Err(e),
        }
        progress.advance(1);
    }

    for org in orgs {
        let mut after: Option<(String, i64)> = None;
        loop {
            let rows = store
                .secrets_to_reseal(org, &current, after.clone(), batch)
                .await?;
            let Some(last) = rows.last() else { break };
            after = Some((last.name.clone(), last.version));
            let mut resealed = Vec::with_capacity(rows.len());
            for row in &rows {
                let aad = secret_aad(org, &row.name, row.version);
                match keyring.open(Some(&row.sealed_by), &aad, &row.sealed) {
                    Ok(opened) => resealed.push(Resealed {
                        name: row.name.clone(),
                        version: row.version,
                        sealed: if opened.current {
                            row.sealed.clone()
                        } else {
                            keyring.seal(ambient.random(), &aad, &opened.plaintext)?
                        },
                        sealed_by: current.clone(),
                        old_sealed_by: row.sealed_by.clone(),
                    }),
                    Err(Error::Unsealable) => {
                        tracing::error!(%org, name = %row.name, version = row.version, "secret does not open with any configured master secret");
                        counts.unopenable += 1;
                    }
                    Err(e) => return Err(e),
                }
            }
            counts.secrets += store.reseal_secrets(org, &resealed).await?;
            progress.advance(rows.len() as u64);
        }
    }

    let mut after = None;
    loop {
        let seeds = store.seeds_to_reseal(&current, after, batch).await?;
        let Some(last) = seeds.last() else { break };
        after = Some(last.user_id);
        let mut resealed = Vec::with_capacity(seeds.len());
        for seed in &seeds {
            let aad = seed_aad(seed.user_id);
            match keyring.open(Some(&seed.sealed_by), &aad, &seed.sealed) {
                Ok(opened) => resealed.push(ResealedSeed {
                    user_id: seed.user_id,
                    sealed: if opened.current {
                        seed.sealed.clone()
                    } else {
                        keyring.seal(ambient.random(), &aad, &opened.plaintext)?
                    },
                    sealed_by: current.clone(),
                    old_sealed: seed.sealed.clone(),
                    old_sealed_by: seed.sealed_by.clone(),
                }),
                Err(Error::Unsealable) => {
                    tracing::error!(user = %seed.user_id, "TOTP seed does not open with any configured master secret");
                    counts.unopenable += 1;
                }
                Err(e) => return Err(e),
            }
        }
        counts.totp_seeds += store.reseal_seeds(&resealed).await?;
        progress.advance(seeds.len() as u64);
    }

    let event = NewEvent::new(
        Chain::System,
        Category::Audit,
        "secret.reencrypted",
        Actor::System,
        &ClientInfo::default(),
        ambient.now(),
    )
    .details(json!({
        "secrets": counts.secrets,
        "signing_keys": counts.signing_keys,
        "totp_seeds": counts.totp_seeds,
        "unopenable": counts.unopenable,
        "master_secret": current,
    }));
    store.append_events(&[event]).await?;
    Ok(counts)
}
