//! Settings about serving connections and counting clients (`MAX_CONNECTIONS`,
//! `RATE_LIMIT_IPV6_PREFIX`), and the production checks of SPEC §1 that look at a secret's
//! entropy, plain-http origins and proxies trusted for every address.

use gatehouse_core::secret::MIN_DISTINCT_BYTES;

use super::Config;

/// At most this many connections are open at once unless configured.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// A whole number from `min` to `max`, or the default when unset.
pub(super) fn number(
    value: Option<String>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, String> {
    match value {
        None => Ok(default),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| format!("expected a whole number from {min} to {max}, got {v:?}")),
    }
}

/// Production refusals beyond length and presence: a secret of fewer than 16 distinct bytes,
/// `http://` allowed origins.
pub(super) fn problems(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(s) = &config.secret
        && s.distinct_bytes() < MIN_DISTINCT_BYTES
    {
        out.push(format!(
            "GATEHOUSE_SECRET: visibly without entropy (fewer than {MIN_DISTINCT_BYTES} distinct bytes); use `gatehouse secret generate`"
        ));
    }
    if let Some(o) = config
        .allowed_origins
        .iter()
        .find(|o| o.starts_with("http://"))
    {
        out.push(format!(
            "GATEHOUSE_ALLOWED_ORIGINS: {o} is plain http; production allows https:// origins only"
        ));
    }
    out
}

impl Config {
    /// What production warns about but does not refuse (SQLite is reported once the database
    /// is open): trusted proxies of `/0`, which let every client choose its own address.
    #[must_use]
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.trusted_proxies.iter().any(|c| c.is_everything()) {
            out.push(
                "GATEHOUSE_TRUSTED_PROXIES: contains a /0, so every client can choose its own address with X-Forwarded-For (rate limits and audit IPs)"
                    .to_owned(),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, crate::config::ConfigError> {
        let env = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::from_sources(&Overrides::default(), env)
    }

    #[test]
    fn connection_cap_and_ipv6_prefix() {
        let c = config(&[]).unwrap();
        assert_eq!(
            (c.max_connections, c.rate_limit_ipv6_prefix),
            (DEFAULT_MAX_CONNECTIONS, 64)
        );
        let c = config(&[
            ("GATEHOUSE_MAX_CONNECTIONS", "50"),
            ("GATEHOUSE_RATE_LIMIT_IPV6_PREFIX", "56"),
        ])
        .unwrap();
        assert_eq!((c.max_connections, c.rate_limit_ipv6_prefix), (50, 56));
        for (k, v) in [
            ("GATEHOUSE_MAX_CONNECTIONS", "0"),
            ("GATEHOUSE_MAX_CONNECTIONS", "lots"),
            ("GATEHOUSE_RATE_LIMIT_IPV6_PREFIX", "129"),
            ("GATEHOUSE_RATE_LIMIT_IPV6_PREFIX", "0"),
        ] {
            assert!(config(&[(k, v)]).unwrap_err().0.starts_with(k), "{k}={v}");
        }
    }

    #[test]
    fn entropy_origins_and_open_proxies() {
        let prod = [
            ("GATEHOUSE_ENV", "production"),
            ("GATEHOUSE_PUBLIC_URL", "https://auth.example.com"),
        ];
        let with = |extra: &[(&str, &str)]| {
            let mut all = prod.to_vec();
            all.extend_from_slice(extra);
            config(&all).unwrap()
        };
        let flat = "a".repeat(32);
        let p = with(&[("GATEHOUSE_SECRET", &flat)]).production_problems();
        assert!(
            p.len() == 1 && p[0].starts_with("GATEHOUSE_SECRET"),
            "{p:?}"
        );
        let good = "0123456789abcdef0123456789abcdef";
        assert!(
            with(&[("GATEHOUSE_SECRET", good)])
                .production_problems()
                .is_empty()
        );
        let p = with(&[
            ("GATEHOUSE_SECRET", good),
            (
                "GATEHOUSE_ALLOWED_ORIGINS",
                "https://a.example.com,http://b.example.com",
            ),
        ])
        .production_problems();
        assert!(
            p.len() == 1 && p[0].starts_with("GATEHOUSE_ALLOWED_ORIGINS"),
            "{p:?}"
        );
        let c = with(&[
            ("GATEHOUSE_SECRET", good),
            ("GATEHOUSE_TRUSTED_PROXIES", "10.0.0.0/8,::/0"),
        ]);
        assert!(c.production_problems().is_empty(), "a /0 only warns");
        assert!(c.warnings()[0].starts_with("GATEHOUSE_TRUSTED_PROXIES"));
        assert!(
            with(&[("GATEHOUSE_TRUSTED_PROXIES", "10.0.0.0/8")])
                .warnings()
                .is_empty()
        );
    }
}
