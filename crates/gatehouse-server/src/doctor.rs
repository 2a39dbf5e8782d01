//! `gatehouse doctor`: the production checklist against the live configuration.

use gatehouse_core::secret::{MIN_DISTINCT_BYTES, MIN_SECRET_BYTES};
use gatehouse_store::Backend;

use crate::config::{Config, SecretSource};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Check {
    pub level: Level,
    pub name: &'static str,
    pub message: String,
}

fn check(level: Level, name: &'static str, message: impl Into<String>) -> Check {
    Check {
        level,
        name,
        message: message.into(),
    }
}

/// Passkeys need the public URL's host to be a domain name (SPEC §15).
fn passkeys_check(config: &Config) -> Check {
    let url = config.public_url_or(config.listen);
    match gatehouse_core::passkey::relying_party_id(&url) {
        Ok(id) => check(Level::Ok, "passkeys", format!("relying party {id}")),
        Err(why) => check(Level::Warn, "passkeys", format!("off: {why}")),
    }
}

/// The checks that need no database.
pub fn static_checks(config: &Config) -> Vec<Check> {
    let prod = config.is_production();
    let strict = if prod { Level::Fail } else { Level::Warn };
    let mut out = Vec::new();
    out.push(check(
        Level::Ok,
        "env",
        if prod {
            "production"
        } else {
            "development (strict checks are warnings)"
        },
    ));
    let source = match &config.secret_source {
        SecretSource::Setting => "GATEHOUSE_SECRET".to_owned(),
        SecretSource::File(p) => format!("file {}", p.display()),
        SecretSource::Generated(p) => format!("generated into {}", p.display()),
        SecretSource::Missing => "missing".to_owned(),
    };
    out.push(match &config.secret {
        None => check(strict, "secret", "no master secret (set GATEHOUSE_SECRET)"),
        Some(s) if s.len() < MIN_SECRET_BYTES => check(
            Level::Fail,
            "secret",
            format!(
                "{} bytes from {source}; at least {MIN_SECRET_BYTES} required",
                s.len()
            ),
        ),
        Some(s) if s.distinct_bytes() < MIN_DISTINCT_BYTES => check(
            strict,
            "secret",
            format!(
                "{} bytes from {source} but fewer than {MIN_DISTINCT_BYTES} distinct: visibly without entropy",
                s.len()
            ),
        ),
        Some(s) if prod && config.secret_source != SecretSource::Setting => check(
            Level::Fail,
            "secret",
            format!(
                "{} bytes from {source}; production takes it from GATEHOUSE_SECRET",
                s.len()
            ),
        ),
        Some(s) => check(
            Level::Ok,
            "secret",
            format!("{} bytes from {source}", s.len()),
        ),
    });
    out.push(match config.public_url.as_deref() {
        Some(u) if u.starts_with("https://") => check(Level::Ok, "public_url", u),
        Some(u) => check(strict, "public_url", format!("{u} is not https")),
        None => check(
            strict,
            "public_url",
            "not set (defaults to http://<listen>)",
        ),
    });
    let plain: Vec<&str> = config
        .allowed_origins
        .iter()
        .filter(|o| o.starts_with("http://"))
        .map(String::as_str)
        .collect();
    out.push(if config.allowed_origins.iter().any(|o| o == "*") {
        check(strict, "allowed_origins", "contains *")
    } else if !plain.is_empty() {
        check(
            strict,
            "allowed_origins",
            format!("plain http: {}", plain.join(", ")),
        )
    } else if config.allowed_origins.is_empty() {
        check(Level::Ok, "allowed_origins", "none (same-origin only)")
    } else {
        check(
            Level::Ok,
            "allowed_origins",
            config.allowed_origins.join(", "),
        )
    });
    out.push(
        if config.trusted_proxies.iter().any(|c| c.is_everything()) {
            check(
                Level::Warn,
                "trusted_proxies",
                "contains a /0: every client can choose its own address",
            )
        } else if config.trusted_proxies.is_empty() {
            check(
                Level::Ok,
                "trusted_proxies",
                "none (the peer is the client)",
            )
        } else {
            check(
                Level::Ok,
                "trusted_proxies",
                format!("{} range(s)", config.trusted_proxies.len()),
            )
        },
    );
    if let Some(domain) = &config.cookie_domain {
        out.push(check(
            Level::Warn,
            "cookie_domain",
            format!(
                "the session cookie goes to every host under {domain}: each one is trusted with it"
            ),
        ));
    }
    out.push(check(
        Level::Ok,
        "gateway",
        match config.gateway.routes().len() {
            0 => "no routes".to_owned(),
            n => format!("{n} route(s)"),
        },
    ));
    out.extend(crate::serve::doctor_checks(config));
    out.push(passkeys_check(config));
    out.push(check(
        Level::Ok,
        "rate_limits",
        format!(
            "auth {}/{}s per IP, api {}/{}s per credential, {} backend",
            config.rate_limit_auth.count,
            config.rate_limit_auth.per.as_secs(),
            config.rate_limit_api.count,
            config.rate_limit_api.per.as_secs(),
            if config.rate_limit_backend_database {
                "database"
            } else {
                "memory"
            }
        ),
    ));
    out
}

/// The database checks: reachability, the PostgreSQL role, SQLite in production.
pub async fn database_checks(config: &Config) -> Vec<Check> {
    let mut out = Vec::new();
    let backend = Backend::of_url(&config.database_url);
    if backend == Some(Backend::Sqlite) {
        out.push(if config.is_production() {
            check(
                Level::Warn,
                "database",
                "SQLite in production: a single instance only",
            )
        } else {
            check(Level::Ok, "database", "SQLite")
        });
    }
    let opened = match gatehouse_store::open(&config.database_url).await {
        Ok(o) => o,
        Err(e) => {
            out.push(check(Level::Fail, "database", e.to_string()));
            return out;
        }
    };
    if let Err(e) = opened.store.ping().await {
        out.push(check(Level::Fail, "database", format!("unreachable: {e}")));
        return out;
    }
    if let Some(role) = &opened.role {
        let app = &role.app_role;
        let report = opened.store.role_report().await.ok().flatten();
        let effective = report
            .as_ref()
            .map(|r| r.current_user.clone())
            .unwrap_or_default();
        out.push(if role.restricted {
            check(
                Level::Ok,
                "database_role",
                format!(
                    "{} runs queries as {app} (no superuser, no BYPASSRLS)",
                    role.session_user
                ),
            )
        } else {
            check(
                if config.is_production() {
                    Level::Fail
                } else {
                    Level::Warn
                },
                "database_role",
                format!(
                    "queries run as {effective}: {} cannot SET ROLE {app}",
                    role.session_user
                ),
            )
        });
        out.push(if role.is_unsafe() {
            check(
                if config.is_production() {
                    Level::Fail
                } else {
                    Level::Warn
                },
                "login_role",
                format!(
                    "{} {}; SET ROLE is undone by RESET ROLE: serve with a login role that \
                     only holds {app}, migrate with the owner",
                    role.session_user,
                    role.problems().join(", ")
                ),
            )
        } else {
            check(
                Level::Ok,
                "login_role",
                format!(
                    "{}: no superuser, no BYPASSRLS, owns no table",
                    role.session_user
                ),
            )
        });
        out.push(
            match gatehouse_store::postgres::pending_migrations(&config.database_url).await {
                Ok(0) => check(Level::Ok, "migrations", "all applied"),
                Ok(n) => check(
                    Level::Fail,
                    "migrations",
                    format!("{n} not applied: run `gatehouse migrate --database-url <owner URL>`"),
                ),
                Err(e) => check(Level::Fail, "migrations", e.to_string()),
            },
        );
        if let Some(r) = report {
            let privileged = r.superuser || r.bypass_rls;
            out.push(check(
                if privileged { Level::Fail } else { Level::Ok },
                "bypass_rls",
                format!(
                    "effective role {}: superuser={} bypassrls={}",
                    r.current_user, r.superuser, r.bypass_rls
                ),
            ));
            out.push(rls_check(&r.org_tables, config.is_production()));
        }
    }
    out.push(audit_check(opened.store.as_ref()).await);
    out.push(signing_key_check(opened.store.as_ref()).await);
    out
}

/// Rotate signing keys at least every this many days.
const SIGNING_KEY_MAX_AGE_DAYS: i64 = 90;

/// The age of the key that signs access tokens.
async fn signing_key_check(store: &dyn gatehouse_core::store::Store) -> Check {
    let keys = match store.signing_keys().await {
        Ok(k) => k,
        Err(e) => {
            return check(
                Level::Fail,
                "signing_key",
                format!("cannot read signing keys: {e}"),
            );
        }
    };
    let Some(current) = keys
        .iter()
        .filter(|k| k.retired_at.is_none())
        .max_by_key(|k| k.created_at)
    else {
        return check(Level::Ok, "signing_key", "none yet (made at first start)");
    };
    let age = (gatehouse_core::clock::Clock::now(&gatehouse_core::clock::SystemClock)
        - current.created_at)
        .whole_days();
    if age > SIGNING_KEY_MAX_AGE_DAYS {
        check(
            Level::Warn,
            "signing_key",
            format!(
                "{} is {age} days old; rotate with `gatehouse keys rotate-signing`",
                current.kid
            ),
        )
    } else {
        check(
            Level::Ok,
            "signing_key",
            format!("{} is {age} days old", current.kid),
        )
    }
}

/// Every audit chain verifies (a broken chain fails the checklist in any environment).
async fn audit_check(store: &dyn gatehouse_core::store::Store) -> Check {
    let chains = match store.chains().await {
        Ok(c) => c,
        Err(e) => return check(Level::Fail, "audit", format!("cannot list chains: {e}")),
    };
    let mut events = 0;
    for chain in &chains {
        match gatehouse_core::service::audit::verify_chain(store, *chain).await {
            Ok(r) if r.valid => events += r.events,
            Ok(r) => {
                return check(
                    Level::Fail,
                    "audit",
                    format!(
                        "chain {} is broken: first bad seq {}",
                        chain.name(),
                        r.first_bad_seq.unwrap_or(0)
                    ),
                );
            }
            Err(e) => return check(Level::Fail, "audit", format!("chain {}: {e}", chain.name())),
        }
    }
    check(
        Level::Ok,
        "audit",
        format!("{} chain(s), {events} events, all valid", chains.len()),
    )
}

/// Row-level security enabled and forced on every table with an `org_id` column.
fn rls_check(tables: &[(String, bool, bool)], production: bool) -> Check {
    let strict = if production { Level::Fail } else { Level::Warn };
    let wrong: Vec<&str> = tables
        .iter()
        .filter(|(_, enabled, forced)| !(*enabled && *forced))
        .map(|(name, _, _)| name.as_str())
        .collect();
    if tables.is_empty() {
        check(strict, "rls", "no org tables found: migrations missing?")
    } else if wrong.is_empty() {
        let names: Vec<&str> = tables.iter().map(|(n, _, _)| n.as_str()).collect();
        check(
            Level::Ok,
            "rls",
            format!("enabled and forced on {}", names.join(", ")),
        )
    } else {
        check(
            strict,
            "rls",
            format!("not enabled and forced on {}", wrong.join(", ")),
        )
    }
}

/// Prints the report; non-zero exit on any failure.
pub async fn run(mut config: Config) -> i32 {
    if !config.is_production() {
        let _ = config.ensure_dev_secret();
    }
    let mut checks = static_checks(&config);
    checks.extend(database_checks(&config).await);
    for c in &checks {
        let tag = match c.level {
            Level::Ok => "ok  ",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        println!("{tag}  {:<16} {}", c.name, c.message);
    }
    let failures = checks.iter().filter(|c| c.level == Level::Fail).count();
    if failures > 0 {
        println!("{failures} check(s) failed");
        1
    } else {
        println!("all checks passed");
        0
    }
}
