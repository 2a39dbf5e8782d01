//! The audit webhook sink's settings (SPEC §12): `AUDIT_WEBHOOK_URL` turns it on and then
//! needs `AUDIT_WEBHOOK_SECRET` (at least 16 bytes) to sign with; `AUDIT_WEBHOOK_EVERY` is how
//! often new events are looked for (and the first retry's wait), `AUDIT_WEBHOOK_BATCH` how many
//! events one POST carries at most.

use std::time::Duration;

use gatehouse_core::secret::SecretString;

use super::{ConfigError, bad, parse_duration, serving};

/// The shortest signing secret accepted.
pub(super) const MIN_WEBHOOK_SECRET_BYTES: usize = 16;

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
    // The outbound guard's own reading of a URL; which addresses it may reach is judged when
    // it is called. The reason never repeats the URL (it may carry a token).
    gatehouse_core::outbound::check_url(&url)
        .map_err(|why| bad(&name("audit_webhook_url"), why))?;
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

#[cfg(test)]
mod tests {
    use crate::config::{Config, Overrides};

    fn config(pairs: &[(&str, &str)]) -> Result<Config, crate::config::ConfigError> {
        let env = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::from_sources(&Overrides::default(), env)
    }

    const SECRET: (&str, &str) = ("GATEHOUSE_AUDIT_WEBHOOK_SECRET", "0123456789abcdef");

    #[test]
    fn the_webhook_needs_a_url_it_can_request_and_a_signing_secret() {
        assert!(config(&[]).unwrap().audit_webhook.is_none());
        let url = (
            "GATEHOUSE_AUDIT_WEBHOOK_URL",
            "https://siem.example/hook?token=t0k3n",
        );
        let w = config(&[url, SECRET]).unwrap().audit_webhook.unwrap();
        assert_eq!((w.every.as_secs(), w.batch), (5, 100));
        assert!(
            !format!("{w:?}").contains("0123456789abcdef"),
            "the secret is redacted"
        );

        let refused = |pairs: &[(&str, &str)], key: &str| {
            let e = config(pairs).unwrap_err().to_string();
            assert!(e.starts_with(key), "{e}");
            assert!(!e.contains("t0k3n"), "the URL is not repeated: {e}");
        };
        refused(&[url], "GATEHOUSE_AUDIT_WEBHOOK_SECRET");
        refused(
            &[url, ("GATEHOUSE_AUDIT_WEBHOOK_SECRET", "short")],
            "GATEHOUSE_AUDIT_WEBHOOK_SECRET",
        );
        refused(&[SECRET], "GATEHOUSE_AUDIT_WEBHOOK_SECRET");
        for bad in [
            "ftp://siem.example/?token=t0k3n",
            "https://user:t0k3n@siem.example/",
            "siem.example/hook?token=t0k3n",
            "http://",
        ] {
            refused(
                &[("GATEHOUSE_AUDIT_WEBHOOK_URL", bad), SECRET],
                "GATEHOUSE_AUDIT_WEBHOOK_URL",
            );
        }
        refused(
            &[url, SECRET, ("GATEHOUSE_AUDIT_WEBHOOK_BATCH", "0")],
            "GATEHOUSE_AUDIT_WEBHOOK_BATCH",
        );
        refused(
            &[url, SECRET, ("GATEHOUSE_AUDIT_WEBHOOK_EVERY", "soon")],
            "GATEHOUSE_AUDIT_WEBHOOK_EVERY",
        );
    }
}
