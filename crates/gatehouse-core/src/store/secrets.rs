//! The vault port: an org's secrets, one row per kept version, the value only ever sealed; and
//! what `secrets reencrypt` needs to find and re-seal what an older master secret sealed.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::Result;
use crate::audit::NewEvent;
use crate::ids::OrgId;

/// Who wrote a version: `("user", Some(id))`, `("api_key", Some(id))` or `("system", None)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writer {
    pub kind: String,
    pub id: Option<String>,
}

/// One stored version of a secret: the value sealed under the master secret `sealed_by`
/// names (a fingerprint, never the secret).
#[derive(Clone)]
pub struct SecretVersion {
    pub org_id: OrgId,
    pub name: String,
    pub version: i64,
    pub sealed: Vec<u8>,
    pub sealed_by: String,
    /// When the secret's first version was written.
    pub secret_created_at: OffsetDateTime,
    /// When this version was written.
    pub created_at: OffsetDateTime,
    pub created_by: Writer,
}

impl std::fmt::Debug for SecretVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretVersion")
            .field("org_id", &self.org_id)
            .field("name", &self.name)
            .field("version", &self.version)
            .field("sealed", &"[sealed]")
            .field("sealed_by", &self.sealed_by)
            .finish_non_exhaustive()
    }
}

/// A secret's latest version, without its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretMeta {
    pub name: String,
    pub version: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub updated_by: Writer,
}

/// A version re-sealed under the current master secret, replacing what `old_sealed_by` sealed.
#[derive(Clone)]
pub struct Resealed {
    pub name: String,
    pub version: i64,
    pub sealed: Vec<u8>,
    pub sealed_by: String,
    pub old_sealed_by: String,
}

#[async_trait]
pub trait SecretStore: Send + Sync {
    /// The latest version of `name`, if the secret exists.
    async fn latest_secret(&self, org: OrgId, name: &str) -> Result<Option<SecretMeta>>;
    /// Adds `v` (its version must be the next one: another writer that took it first makes this
    /// `Conflict(SecretVersionTaken)`), keeps the `keep` latest versions, appends `audit`.
    async fn put_secret(&self, v: &SecretVersion, keep: i64, audit: &[NewEvent]) -> Result<()>;
    /// Every secret of the org, latest versions, by name.
    async fn secrets(&self, org: OrgId) -> Result<Vec<SecretMeta>>;
    /// One version (`None`: the latest).
    async fn secret(
        &self,
        org: OrgId,
        name: &str,
        version: Option<i64>,
    ) -> Result<Option<SecretVersion>>;
    /// Removes every version; the latest version number removed, or `None` if there was none.
    async fn delete_secret(
        &self,
        org: OrgId,
        name: &str,
        audit: &[NewEvent],
    ) -> Result<Option<i64>>;

    /// Every org id (for work that walks all orgs, one transaction per org).
    async fn org_ids(&self) -> Result<Vec<OrgId>>;
    /// How many versions in `org` were sealed by another master secret than `current`.
    async fn count_to_reseal(&self, org: OrgId, current: &str) -> Result<u64>;
    /// Up to `limit` versions of `org` sealed by another master secret than `current`, in
    /// (name, version) order after `after`.
    async fn secrets_to_reseal(
        &self,
        org: OrgId,
        current: &str,
        after: Option<(String, i64)>,
        limit: u32,
    ) -> Result<Vec<SecretVersion>>;
    /// Replaces the sealed values in one transaction (a row changed meanwhile — rewritten,
    /// deleted — is left alone); how many rows were replaced.
    async fn reseal_secrets(&self, org: OrgId, rows: &[Resealed]) -> Result<u64>;
}
