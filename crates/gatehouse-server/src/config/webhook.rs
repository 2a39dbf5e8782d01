//! The audit webhook sink's settings (SPEC §12): `AUDIT_WEBHOOK_URL` turns it on and then
//! needs `AUDIT_WEBHOOK_SECRET` (at least 16 bytes) to sign with; `AUDIT_WEBHOOK_EVERY` is how
//! often new events are looked for (and the first retry's wait), `AUDIT_WEBHOOK_BATCH` how many
//! events one POST carries at most.

use std::time::Duration;

use gatehouse_core::secret::SecretString;

use super::{ConfigError, bad, parse_duration, serving};

/// The shortest signing secret accepted.
pub const MIN_WEBHOOK_SECRET_BYTES: usize = 16;

/// Where and how the audit log is POSTed.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub url: String,
    /// The HMAC key of `X-Gatehouse-Signature` (never logged: `SecretString` redacts itself).
    pub secret: SecretString,
    pub every: Duration,
    pub batch: u32,
}

/// The sink's settings, or `None` when no URL is configured.
pub(super) fn parse(
    get: &dyn Fn(&str) -> Option<String>,
    name: &dyn Fn(&str) -> String,
) -> Result<Option<WebhookConfig>, ConfigError> {
    let Some(url) = get("audit_webhook_url") else {
        for k in [
            "audit_webhook_secret",
            "audit_webhook_every",
            "audit_webhook_batch",
        ] {
            if get(k).is_some() {
                return Err(bad(&name(k), "set without GATEHOUSE_AUDIT_WEBHOOK_URL"));
            }
        }
        return Ok(None);
    };
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(bad(
            &name("audit_webhook_url"),
            "expected an http:// or https:// URL",
        ));
    }
    let secret = match get("audit_webhook_secret") {
        Some(s) if s.len() >= MIN_WEBHOOK_SECRET_BYTES => SecretString::from(s),
        Some(_) => {
            return Err(bad(
                &name("audit_webhook_secret"),
                format!("must be at least {MIN_WEBHOOK_SECRET_BYTES} bytes"),
            ));
        }
        None => {
            return Err(bad(
                &name("audit_webhook_secret"),
                "required with GATEHOUSE_AUDIT_WEBHOOK_URL (the receiver checks signatures with it)",
            ));
        }
    };
    let every = parse_duration(&get("audit_webhook_every").unwrap_or_else(|| "5s".into()))
        .map_err(|why| bad(&name("audit_webhook_every"), why))?;
    let batch = serving::number(get("audit_webhook_batch"), 100, 1, 1000)
        .map_err(|why| bad(&name("audit_webhook_batch"), why))? as u32;
    Ok(Some(WebhookConfig {
        url,
        secret,
        every,
        batch,
    }))
}
