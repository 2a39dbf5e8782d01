//! The secrets vault (SPEC §10): writing, listing, reading and deleting an org's secrets, each
//! version sealed under the master secret with associated data binding org, name and version.
//! A value is opened only to answer a read, which is audited before it is answered; a value
//! that does not open (another secret, or a ciphertext moved to another row) is never returned
//! and raises `secret.unsealable`.

use std::sync::Arc;

use serde_json::json;

use crate::ambient::Ambient;
use crate::audit::{Category, Chain, NewEvent, Outcome, Target};
use crate::error::ConflictReason;
use crate::ids::OrgId;
use crate::scope::{SECRETS_READ, SECRETS_WRITE};
use crate::secret::{ExposeSecret, SecretString};
use crate::service::ClientInfo;
use crate::service::access::{OrgAccess, OrgActor};
use crate::service::audit_writer::AuditWriter;
use crate::store::{SecretMeta, SecretVersion, Store, Writer};
use crate::vault::Keyring;
use crate::{Error, Result};

/// The latest versions kept of each secret.
pub const KEEP_VERSIONS: i64 = 10;
/// Largest value, in bytes of UTF-8.
pub const MAX_VALUE_BYTES: usize = 32 * 1024;
/// Longest name.
const MAX_NAME_LEN: usize = 128;
/// How often a write retries when another writer took its version number.
const WRITE_ATTEMPTS: usize = 5;

/// `^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`
#[must_use]
pub fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= MAX_NAME_LEN
        && bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// What the sealed value of `org`'s `name` at `version` is bound to.
#[must_use]
pub fn secret_aad(org: OrgId, name: &str, version: i64) -> Vec<u8> {
    format!("gatehouse/secret/v1\0{org}\0{name}\0{version}").into_bytes()
}

/// Proof that the caller may read the org's secrets (owner/admin, or `secrets:read`): only
/// [`SecretService::reader`] makes one.
#[derive(Debug)]
pub struct SecretReader<'a> {
    org: OrgId,
    actor: &'a OrgActor,
}

/// Proof that the caller may write and delete the org's secrets (owner/admin, or
/// `secrets:write`): only [`SecretService::writer`] makes one.
#[derive(Debug)]
pub struct SecretWriter<'a> {
    org: OrgId,
    actor: &'a OrgActor,
}

/// A secret's value, opened for one answer (wiped when dropped).
#[derive(Debug)]
pub struct OpenedSecret {
    pub name: String,
    pub version: i64,
    pub value: SecretString,
    pub updated_at: time::OffsetDateTime,
}

pub struct SecretService {
    store: Arc<dyn Store>,
    ambient: Ambient,
    keyring: Arc<Keyring>,
    writer: AuditWriter,
}

fn stored_writer(actor: &OrgActor) -> Writer {
    match actor {
        OrgActor::User { id, .. } => Writer {
            kind: "user".to_owned(),
            id: Some(id.to_string()),
        },
        OrgActor::Key { id, .. } => Writer {
            kind: "api_key".to_owned(),
            id: Some(id.to_string()),
        },
    }
}

fn check_name(name: &str) -> Result<()> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(Error::field("name", "invalid"))
    }
}

impl SecretService {
    pub fn new(
        store: Arc<dyn Store>,
        ambient: Ambient,
        keyring: Arc<Keyring>,
        writer: AuditWriter,
    ) -> Self {
        Self {
            store,
            ambient,
            keyring,
            writer,
        }
    }

    /// Owners and admins, or a key (or token) holding `secrets:read`; members `403`.
    pub fn reader<'a>(&self, access: &'a OrgAccess) -> Result<SecretReader<'a>> {
        access.manager_or_scope(SECRETS_READ)?;
        Ok(SecretReader {
            org: access.org().id,
            actor: access.actor(),
        })
    }

    /// Owners and admins, or a key (or token) holding `secrets:write`; members `403`.
    pub fn writer<'a>(&self, access: &'a OrgAccess) -> Result<SecretWriter<'a>> {
        access.manager_or_scope(SECRETS_WRITE)?;
        Ok(SecretWriter {
            org: access.org().id,
            actor: access.actor(),
        })
    }

    fn event(
        &self,
        org: OrgId,
        action: &str,
        actor: &OrgActor,
        name: &str,
        version: i64,
        client: &ClientInfo,
    ) -> NewEvent {
        NewEvent::new(
            Chain::Org(org),
            Category::Audit,
            action,
            actor.audit_actor(),
            client,
            self.ambient.now(),
        )
        .target(Target::new("secret", name))
        .details(json!({ "name": name, "version": version }))
    }

    /// `PUT /v1/orgs/{org}/secrets/{name}`: the new version's metadata, and whether the secret
    /// is new (`201`) rather than a new version (`200`).
    pub async fn put(
        &self,
        w: &SecretWriter<'_>,
        name: &str,
        value: &SecretString,
        client: &ClientInfo,
    ) -> Result<(SecretMeta, bool)> {
        check_name(name)?;
        if value.expose_secret().len() > MAX_VALUE_BYTES {
            return Err(Error::field("value", "too_long"));
        }
        for _ in 0..WRITE_ATTEMPTS {
            let latest = self.store.latest_secret(w.org, name).await?;
            let now = self.ambient.now();
            let version = latest.as_ref().map_or(1, |m| m.version + 1);
            let sealed = self.keyring.seal(
                self.ambient.random(),
                &secret_aad(w.org, name, version),
                value.expose_secret().as_bytes(),
            )?;
            let row = SecretVersion {
                org_id: w.org,
                name: name.to_owned(),
                version,
                sealed,
                sealed_by: self.keyring.current_id().to_owned(),
                secret_created_at: latest.as_ref().map_or(now, |m| m.created_at),
                created_at: now,
                created_by: stored_writer(w.actor),
            };
            let event = self.event(w.org, "secret.written", w.actor, name, version, client);
            match self.store.put_secret(&row, KEEP_VERSIONS, &[event]).await {
                Ok(()) => {
                    let meta = SecretMeta {
                        name: row.name,
                        version,
                        created_at: row.secret_created_at,
                        updated_at: now,
                        updated_by: row.created_by,
                    };
                    return Ok((meta, latest.is_none()));
                }
                Err(Error::Conflict(ConflictReason::SecretVersionTaken)) => {}
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict(ConflictReason::SecretVersionTaken))
    }

    /// `GET /v1/orgs/{org}/secrets`: names and metadata, never values.
    pub async fn list(&self, r: &SecretReader<'_>) -> Result<Vec<SecretMeta>> {
        self.store.secrets(r.org).await
    }

    /// `GET /v1/orgs/{org}/secrets/{name}[?version=N]`: opened, and audited as `secret.read`
    /// before the value is handed out (no read goes unrecorded).
    pub async fn read(
        &self,
        r: &SecretReader<'_>,
        name: &str,
        version: Option<i64>,
        client: &ClientInfo,
    ) -> Result<OpenedSecret> {
        check_name(name)?;
        if version.is_some_and(|v| v < 1) {
            return Err(Error::field("version", "invalid"));
        }
        let row = self
            .store
            .secret(r.org, name, version)
            .await?
            .ok_or(Error::NotFound)?;
        let aad = secret_aad(r.org, &row.name, row.version);
        let Ok(opened) = self.keyring.open(Some(&row.sealed_by), &aad, &row.sealed) else {
            return Err(self.unsealable(r, &row, client).await);
        };
        let value = match String::from_utf8(opened.plaintext.to_vec()) {
            Ok(v) => SecretString::from(v),
            Err(_) => return Err(self.unsealable(r, &row, client).await),
        };
        let event = self.event(r.org, "secret.read", r.actor, name, row.version, client);
        self.writer.append(vec![event]).await?;
        Ok(OpenedSecret {
            name: row.name,
            version: row.version,
            value,
            updated_at: row.created_at,
        })
    }

    /// Records `secret.unsealable` (the org's chain, security) and answers an internal error.
    async fn unsealable(
        &self,
        r: &SecretReader<'_>,
        row: &SecretVersion,
        client: &ClientInfo,
    ) -> Error {
        tracing::error!(
            org = %r.org,
            name = %row.name,
            version = row.version,
            "secret does not open: moved, altered, or sealed by an unknown master secret"
        );
        let event = NewEvent::new(
            Chain::Org(r.org),
            Category::Security,
            "secret.unsealable",
            r.actor.audit_actor(),
            client,
            self.ambient.now(),
        )
        .outcome(Outcome::Failure)
        .target(Target::new("secret", &row.name))
        .details(json!({ "name": row.name, "version": row.version }));
        if let Err(e) = self.writer.append(vec![event]).await {
            tracing::error!(error = %e, "recording secret.unsealable failed");
        }
        Error::Unsealable
    }

    /// `DELETE /v1/orgs/{org}/secrets/{name}`: every version goes.
    pub async fn delete(
        &self,
        w: &SecretWriter<'_>,
        name: &str,
        client: &ClientInfo,
    ) -> Result<()> {
        check_name(name)?;
        let Some(latest) = self.store.latest_secret(w.org, name).await? else {
            return Err(Error::NotFound);
        };
        let event = self.event(
            w.org,
            "secret.deleted",
            w.actor,
            name,
            latest.version,
            client,
        );
        match self.store.delete_secret(w.org, name, &[event]).await? {
            Some(_) => Ok(()),
            None => Err(Error::NotFound),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "A9", "db.password", "x_y-z.1", &"a".repeat(128)] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "",
            ".a",
            "-a",
            "_a",
            "a/b",
            "a b",
            "é",
            "a%2f",
            &"a".repeat(129),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn aad_binds_org_name_and_version() {
        let org: OrgId = "01900000-0000-7000-8000-000000000000".parse().unwrap();
        let a = secret_aad(org, "db", 1);
        assert_ne!(a, secret_aad(org, "db", 2));
        assert_ne!(a, secret_aad(org, "dc", 1));
        // The separator keeps "a" + "b1" apart from "ab" + "1".
        assert_ne!(secret_aad(org, "a", 11), secret_aad(org, "a1", 1));
    }
}
