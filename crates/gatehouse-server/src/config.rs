//! Configuration: defaults, then the TOML file, then `GATEHOUSE_*` environment, then flags.
//! Unknown keys are errors. Production refusals are listed by [`Config::production_problems`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use gatehouse_core::password::Argon2Params;
use gatehouse_core::secret::{MIN_SECRET_BYTES, MasterSecret};

use crate::net::{Cidr, DEFAULT_IPV6_PREFIX};

mod files;
mod gateway;
mod oidc;
mod outbound;
mod serving;
mod smtp;
mod syntax;
mod webhook;
use files::read_file;
pub use gateway::parse_size;
pub use serving::DEFAULT_MAX_CONNECTIONS;
pub use smtp::{SmtpConfig, SmtpSecurity};
use syntax::{list, parse_origin, parse_public_url};
pub use syntax::{origin_of, parse_duration, parse_rate};
pub use webhook::WebhookConfig;

/// Why configuration could not be built: one line naming the setting.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn bad(setting: &str, why: impl std::fmt::Display) -> ConfigError {
    ConfigError(format!("{setting}: {why}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Env {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Strict,
    Lax,
}

/// `COUNT/DURATION`, e.g. `10/15m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

/// Where the master secret came from (reported by `doctor`, never the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Setting,
    File(PathBuf),
    Generated(PathBuf),
    Missing,
}

/// The whole, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub env: Env,
    pub listen: SocketAddr,
    /// `None` until the listener is bound when not configured (then `http://<bound address>`).
    pub public_url: Option<String>,
    pub database_url: String,
    pub secret: Option<MasterSecret>,
    pub secret_source: SecretSource,
    pub previous_secrets: Vec<MasterSecret>,
    pub allowed_origins: Vec<String>,
    pub trusted_proxies: Vec<Cidr>,
    pub signup_open: bool,
    pub session_ttl: Duration,
    pub session_idle_ttl: Duration,
    pub session_samesite: SameSite,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// The `aud` of access tokens.
    pub token_audience: String,
    pub invitation_ttl: Duration,
    /// How often every audit chain is verified in the background (`None`: never).
    pub audit_verify_every: Option<Duration>,
    /// Where each chain is exported as `<chain>.jsonl` (`None`: no export sink).
    pub audit_export_dir: Option<PathBuf>,
    pub audit_export_every: Duration,
    /// Where the audit log is POSTed, signed (`None`: no webhook sink).
    pub audit_webhook: Option<WebhookConfig>,
    /// Audit verifications that may run at once in this instance (the API answers `429` past it).
    pub audit_verify_concurrency: usize,
    pub rate_limit_auth: Rate,
    pub rate_limit_api: Rate,
    /// Invitations one inviter may issue per window (SPEC §6).
    pub rate_limit_invitations: Rate,
    pub rate_limit_backend_database: bool,
    pub lockout: Rate,
    pub password_min_length: usize,
    pub argon2: Argon2Params,
    pub log: String,
    /// Connections open at once (`GATEHOUSE_MAX_CONNECTIONS`).
    pub max_connections: usize,
    /// An IPv6 client is counted by its network of this many bits (SPEC §8).
    pub rate_limit_ipv6_prefix: u8,
    /// The guarded outbound client's settings (SPEC §12).
    pub outbound: crate::outbound::OutboundSettings,
    /// `GATEHOUSE_COOKIE_DOMAIN`: the session cookie is sent to every host under it (SPEC §11).
    pub cookie_domain: Option<String>,
    /// `[[oidc.providers]]` (SPEC §17).
    pub oidc_providers: Vec<gatehouse_core::service::oidc::Provider>,
    /// Where mail goes (SPEC §16; `None`: no mailed flows).
    pub smtp: Option<SmtpConfig>,
    /// `[[gateway.routes]]` of the config file, checked.
    pub gateway: std::sync::Arc<gatehouse_core::gateway::RouteTable>,
}

/// Every setting, by its key (TOML key = env name without `GATEHOUSE_`, lowercased).
pub const KEYS: &[&str] = &[
    "env",
    "listen",
    "public_url",
    "database_url",
    "secret",
    "previous_secrets",
    "allowed_origins",
    "trusted_proxies",
    "signup",
    "session_ttl",
    "session_idle_ttl",
    "session_samesite",
    "access_ttl",
    "refresh_ttl",
    "token_audience",
    "invitation_ttl",
    "audit_verify_every",
    "audit_export_dir",
    "audit_export_every",
    "audit_webhook_url",
    "audit_webhook_secret",
    "audit_webhook_every",
    "audit_webhook_batch",
    "audit_verify_concurrency",
    "rate_limit_auth",
    "rate_limit_api",
    "rate_limit_invitations",
    "rate_limit_backend",
    "lockout",
    "password_min_length",
    "argon2",
    "log",
    "max_connections",
    "rate_limit_ipv6_prefix",
    "outbound_allow",
    "outbound_nameserver",
    "cookie_domain",
    "smtp_url",
    "smtp_from",
];

/// Settings from the command line (they win over file and environment).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub values: Vec<(&'static str, String)>,
}

impl Config {
    /// Builds the configuration from the process environment.
    pub fn load(overrides: &Overrides) -> Result<Self, ConfigError> {
        Self::from_sources(overrides, std::env::vars())
    }

    /// Builds the configuration from explicit sources (tests pass their own environment).
    pub fn from_sources(
        overrides: &Overrides,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut raw: BTreeMap<&'static str, String> = BTreeMap::new();
        let mut gateway_value = None;
        let mut oidc_value = None;
        let mut file_shown = String::new();
        let env: Vec<(String, String)> = env.into_iter().collect();
        let file = overrides.config_file.clone().or_else(|| {
            env.iter()
                .find(|(k, _)| k == "GATEHOUSE_CONFIG")
                .map(|(_, v)| PathBuf::from(v))
        });
        if let Some(path) = file {
            let tables = read_file(&path, &mut raw)?;
            gateway_value = tables.gateway;
            oidc_value = tables.oidc;
            file_shown = path.display().to_string();
        }
        for (name, value) in &env {
            let Some(rest) = name.strip_prefix("GATEHOUSE_") else {
                continue;
            };
            // GATEHOUSE_CONFIG names the file; GATEHOUSE_OIDC_* hold providers' client secrets
            // (named by their `client_secret_env`).
            if rest == "CONFIG" || rest.starts_with("OIDC_") {
                continue;
            }
            let key = rest.to_ascii_lowercase();
            let Some(known) = KEYS.iter().find(|k| **k == key) else {
                return Err(ConfigError(format!("{name}: unknown setting")));
            };
            raw.insert(known, value.clone());
        }
        for (key, value) in &overrides.values {
            raw.insert(key, value.clone());
        }
        let mut config = Self::from_raw(&raw)?;
        config.gateway = std::sync::Arc::new(gateway::parse(&file_shown, gateway_value)?);
        config.oidc_providers = oidc::parse(&file_shown, oidc_value, &env, config.is_production())?;
        Ok(config)
    }

    fn from_raw(raw: &BTreeMap<&'static str, String>) -> Result<Self, ConfigError> {
        let get = |k: &str| {
            raw.get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let name = |k: &str| format!("GATEHOUSE_{}", k.to_ascii_uppercase());

        let env = match get("env").as_deref() {
            None | Some("development") => Env::Development,
            Some("production") => Env::Production,
            Some(other) => {
                return Err(bad(
                    &name("env"),
                    format!("expected development or production, got {other:?}"),
                ));
            }
        };
        let listen: SocketAddr = get("listen")
            .unwrap_or_else(|| "127.0.0.1:8080".into())
            .parse()
            .map_err(|_| bad(&name("listen"), "expected an address like 127.0.0.1:8080"))?;
        let public_url = match get("public_url") {
            Some(url) => Some(parse_public_url(&url).map_err(|why| bad(&name("public_url"), why))?),
            None => None,
        };
        let database_url = get("database_url").unwrap_or_else(|| "sqlite://gatehouse.db".into());
        if gatehouse_store::Backend::of_url(&database_url).is_none() {
            return Err(bad(
                &name("database_url"),
                "expected sqlite://FILE or postgres://...",
            ));
        }
        let (secret, secret_source) = match get("secret") {
            Some(s) => (
                Some(MasterSecret::new(s.into_bytes())),
                SecretSource::Setting,
            ),
            None => (None, SecretSource::Missing),
        };
        let previous_secrets = list(get("previous_secrets"))
            .into_iter()
            .map(|s| MasterSecret::new(s.into_bytes()))
            .collect();
        let allowed_origins = list(get("allowed_origins"))
            .into_iter()
            .map(|o| if o == "*" { Ok(o) } else { parse_origin(&o) })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|why| bad(&name("allowed_origins"), why))?;
        let trusted_proxies = list(get("trusted_proxies"))
            .iter()
            .map(|c| {
                c.parse::<Cidr>()
                    .map_err(|_| bad(&name("trusted_proxies"), format!("not a CIDR: {c:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let signup_open = match get("signup").as_deref() {
            None | Some("invite") => false,
            Some("open") => true,
            Some(other) => {
                return Err(bad(
                    &name("signup"),
                    format!("expected open or invite, got {other:?}"),
                ));
            }
        };
        let duration = |k: &str, default: &str| {
            parse_duration(&get(k).unwrap_or_else(|| default.into()))
                .map_err(|why| bad(&name(k), why))
        };
        let rate = |k: &str, default: &str| {
            parse_rate(&get(k).unwrap_or_else(|| default.into())).map_err(|why| bad(&name(k), why))
        };
        let session_samesite = match get("session_samesite").as_deref() {
            None | Some("strict") => SameSite::Strict,
            Some("lax") => SameSite::Lax,
            Some(other) => {
                return Err(bad(
                    &name("session_samesite"),
                    format!("expected strict or lax, got {other:?}"),
                ));
            }
        };
        let rate_limit_backend_database = match get("rate_limit_backend").as_deref() {
            None | Some("memory") => false,
            Some("database") => true,
            Some(other) => {
                return Err(bad(
                    &name("rate_limit_backend"),
                    format!("expected memory or database, got {other:?}"),
                ));
            }
        };
        let password_min_length = match get("password_min_length") {
            None => 12,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (8..=256).contains(n))
                .ok_or_else(|| {
                    bad(
                        &name("password_min_length"),
                        "expected a number from 8 to 256",
                    )
                })?,
        };
        let audit_verify_concurrency = match get("audit_verify_concurrency") {
            None => gatehouse_core::service::audit::DEFAULT_VERIFY_CONCURRENCY,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=64).contains(n))
                .ok_or_else(|| {
                    bad(
                        &name("audit_verify_concurrency"),
                        "expected a number from 1 to 64",
                    )
                })?,
        };
        let argon2 = match get("argon2") {
            None => Argon2Params::default(),
            Some(v) => Argon2Params::parse(&v).ok_or_else(|| {
                bad(
                    &name("argon2"),
                    "expected m=KIB,t=PASSES,p=LANES with valid Argon2 values",
                )
            })?,
        };
        Ok(Self {
            env,
            listen,
            public_url,
            database_url,
            secret,
            secret_source,
            previous_secrets,
            allowed_origins,
            trusted_proxies,
            signup_open,
            session_ttl: duration("session_ttl", "7d")?,
            session_idle_ttl: duration("session_idle_ttl", "24h")?,
            session_samesite,
            access_ttl: duration("access_ttl", "15m")?,
            refresh_ttl: duration("refresh_ttl", "30d")?,
            token_audience: get("token_audience").unwrap_or_else(|| "gatehouse".into()),
            invitation_ttl: duration("invitation_ttl", "7d")?,
            audit_verify_every: match get("audit_verify_every").as_deref() {
                Some("off") => None,
                _ => Some(duration("audit_verify_every", "1h")?),
            },
            audit_export_dir: get("audit_export_dir").map(PathBuf::from),
            audit_export_every: duration("audit_export_every", "10s")?,
            audit_webhook: webhook::parse(&get, &name)?,
            smtp: smtp::parse(&get, &name, env == Env::Production)?,
            audit_verify_concurrency,
            rate_limit_auth: rate("rate_limit_auth", "10/15m")?,
            rate_limit_api: rate("rate_limit_api", "600/1m")?,
            rate_limit_invitations: rate("rate_limit_invitations", "30/1h")?,
            rate_limit_backend_database,
            lockout: rate("lockout", "5/15m")?,
            password_min_length,
            argon2,
            log: get("log").unwrap_or_else(|| "info".into()),
            max_connections: serving::number(
                get("max_connections"),
                DEFAULT_MAX_CONNECTIONS as u64,
                1,
                1_000_000,
            )
            .map_err(|why| bad(&name("max_connections"), why))?
                as usize,
            rate_limit_ipv6_prefix: serving::number(
                get("rate_limit_ipv6_prefix"),
                DEFAULT_IPV6_PREFIX.into(),
                1,
                128,
            )
            .map_err(|why| bad(&name("rate_limit_ipv6_prefix"), why))?
                as u8,
            outbound: outbound::parse(&get, &name)?,
            cookie_domain: get("cookie_domain")
                .map(|d| parse_cookie_domain(&d).map_err(|why| bad(&name("cookie_domain"), why)))
                .transpose()?,
            gateway: Default::default(),
            oidc_providers: Vec::new(),
        })
    }

    #[must_use]
    pub fn is_production(&self) -> bool {
        self.env == Env::Production
    }

    /// The public URL; unset, `http://localhost:<port>` on a loopback address (passkeys refuse
    /// IP addresses, SPEC §14), else `http://<addr>` for the address actually bound.
    #[must_use]
    pub fn public_url_or(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.clone(),
            None if bound.ip().is_loopback() => format!("http://localhost:{}", bound.port()),
            None => format!("http://{bound}"),
        }
    }

    /// While the public URL is defaulted to `localhost`, the bound loopback address is an
    /// accepted origin too (`http://127.0.0.1:<port>`).
    #[must_use]
    pub fn defaulted_loopback_origin(&self, bound: SocketAddr) -> Option<String> {
        (self.public_url.is_none() && bound.ip().is_loopback()).then(|| format!("http://{bound}"))
    }

    /// Every reason production refuses this configuration, each naming its setting.
    /// (The database role is checked once the database is open.)
    #[must_use]
    pub fn production_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        match &self.secret {
            None => problems.push("GATEHOUSE_SECRET: required in production".to_owned()),
            Some(s) if s.len() < MIN_SECRET_BYTES => problems.push(format!(
                "GATEHOUSE_SECRET: must be at least {MIN_SECRET_BYTES} bytes"
            )),
            Some(_) => {}
        }
        if self.allowed_origins.iter().any(|o| o == "*") {
            problems.push("GATEHOUSE_ALLOWED_ORIGINS: must not contain *".to_owned());
        }
        problems.extend(serving::problems(self));
        if !self
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
        {
            problems.push("GATEHOUSE_PUBLIC_URL: must be an https:// URL in production".to_owned());
        }
        problems
    }
}

/// A registrable-looking domain (`example.com`; a leading dot is dropped), lower case.
fn parse_cookie_domain(s: &str) -> Result<String, String> {
    let d = s.trim().trim_start_matches('.').to_ascii_lowercase();
    let labels_ok = d.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    });
    if !labels_ok || !d.contains('.') || d.parse::<std::net::IpAddr>().is_ok() {
        return Err(format!("expected a domain like example.com, got {s:?}"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests;
