//! Building and running the server: configuration checks, database, listener, setup token.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_core::ambient::Ambient;
use gatehouse_core::changes::{ChangeSink, FanOut};
use gatehouse_core::mail::Mailer;
use gatehouse_core::passkey::RelyingParty;
use gatehouse_core::password::PasswordHasherPool;
use gatehouse_core::rate_limit::{Limit, MemoryLimiter};
use gatehouse_core::secret::ExposeSecret;
use gatehouse_core::service::GatewayService;
use gatehouse_core::service::auth::{EmailSettings, MfaKeys};
use gatehouse_core::service::key_cache::{KEY_CACHE_CAPACITY, KEY_CACHE_TTL, KeyCache};
use gatehouse_core::service::last_used;
use gatehouse_core::service::limiter::{Backend as LimiterBackend, RateLimiter};
use gatehouse_core::service::orgs::InvitationLimit;
use gatehouse_core::service::tokens::TokenSettings;
use gatehouse_core::service::user_cache::{USER_CACHE_TTL, UserCache};
use gatehouse_core::service::{
    ApiKeyService, AuditService, AuditWriter, AuthService, AuthSettings, GrantService, OrgService,
    Readiness, SecretService, TokenService,
};
use gatehouse_core::vault::Keyring;
use gatehouse_store::{Backend, Opened};
use tokio::net::TcpListener;

use crate::config::{Config, ConfigError, origin_of};
use crate::state::{AppState, Inner};
use crate::supervisor::Supervisor;

/// Why the server did not start; `exit_code` is 2 for configuration refusals.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("database: {0}")]
    Database(String),
    #[error("listen: {0}")]
    Listen(String),
}

impl StartError {
    #[must_use]
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Config(_) => 2,
            _ => 1,
        }
    }
}

/// Configuration refusals that do not need the database.
pub fn check_config(config: &mut Config) -> Result<(), StartError> {
    if config.is_production()
        && let Some(first) = config.production_problems().into_iter().next()
    {
        return Err(ConfigError(first).into());
    }
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    config.ensure_dev_secret()?;
    Ok(())
}

/// Opens the database (migrating it first, except PostgreSQL in production, where the owner
/// migrates with `gatehouse migrate --database-url …`); in production refuses a PostgreSQL login
/// role that is a superuser, has BYPASSRLS or owns the tables, one that cannot step down to the
/// application role, and a schema with migrations missing.
pub async fn open_database(config: &Config) -> Result<Opened, StartError> {
    let url = &config.database_url;
    let production = config.is_production();
    let owner_migrates = production && Backend::of_url(url) == Some(Backend::Postgres);
    if !owner_migrates {
        gatehouse_store::migrate(url)
            .await
            .map_err(|e| StartError::Database(e.to_string()))?;
    }
    let opened = gatehouse_store::open(url)
        .await
        .map_err(|e| StartError::Database(e.to_string()))?;
    if let Some(role) = &opened.role {
        if role.is_unsafe() {
            let line = format!(
                "GATEHOUSE_DATABASE_URL: login role {:?} {} (SET ROLE is undone by RESET ROLE); \
                 serve with a login role that only holds {}",
                role.session_user,
                role.problems().join(", "),
                role.app_role
            );
            if production {
                return Err(ConfigError(line).into());
            }
            tracing::warn!("{line} (refused in production)");
        }
        if owner_migrates {
            let pending = gatehouse_store::postgres::pending_migrations(url)
                .await
                .map_err(|e| StartError::Database(e.to_string()))?;
            if pending > 0 {
                return Err(ConfigError(format!(
                    "GATEHOUSE_DATABASE_URL: {pending} migration(s) not applied; run \
                     `gatehouse migrate --database-url <owner URL>` first"
                ))
                .into());
            }
            if !role.restricted {
                return Err(ConfigError(format!(
                    "GATEHOUSE_DATABASE_URL: login role {:?} cannot SET ROLE {}; grant it that role",
                    role.session_user, role.app_role
                ))
                .into());
            }
        }
    }
    if opened.backend == Backend::Sqlite && production {
        tracing::warn!("SQLite in production: one instance only; use PostgreSQL to run several");
    }
    Ok(opened)
}

/// Passkeys for the public URL's host; when that is an IP address (or the URL is no WebAuthn
/// origin) they are off, with a warning at start and a `doctor` line (SPEC §15).
fn with_passkeys(
    auth: AuthService,
    config: &Config,
    public_url: &str,
) -> Result<AuthService, StartError> {
    let secret = config
        .secret
        .as_ref()
        .ok_or_else(|| ConfigError("GATEHOUSE_SECRET: missing".into()))?;
    match RelyingParty::new(public_url, secret.derive("passkeys/decoy/v1")) {
        Ok(rp) => Ok(auth.with_passkeys(rp)),
        Err(why) => {
            tracing::warn!("passkeys are off: {why}");
            Ok(auth)
        }
    }
}

/// Mailed flows when SMTP is configured (SPEC §16): the sender runs under the supervisor.
fn with_mail(
    auth: AuthService,
    config: &Config,
    public_url: &str,
    supervisor: &mut Supervisor,
    given: Option<Arc<dyn Mailer>>,
) -> Result<AuthService, StartError> {
    let mailer: Arc<dyn Mailer> = match (given, &config.smtp) {
        (Some(mailer), _) => mailer,
        (None, Some(smtp)) => crate::mail::start(smtp, supervisor)
            .map_err(|why| StartError::Config(ConfigError(format!("GATEHOUSE_SMTP_URL: {why}"))))?,
        (None, None) => return Ok(auth),
    };
    let secret = config
        .secret
        .as_ref()
        .ok_or_else(|| ConfigError("GATEHOUSE_SECRET: missing".into()))?;
    Ok(auth.with_email(EmailSettings {
        mailer,
        public_url: public_url.to_owned(),
        code_key: secret.derive("email-codes/v1"),
    }))
}

/// The auth service over an open store.
pub fn auth_service(
    config: &Config,
    opened: &Opened,
    audit: AuditWriter,
    ambient: &Ambient,
) -> Result<AuthService, StartError> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(2);
    let hasher = PasswordHasherPool::new(config.argon2, workers)
        .map_err(|e| StartError::Config(ConfigError(format!("GATEHOUSE_ARGON2: {e}"))))?;
    let secret = config
        .secret
        .as_ref()
        .ok_or_else(|| ConfigError("GATEHOUSE_SECRET: missing".into()))?;
    Ok(AuthService::new(
        opened.store.clone(),
        hasher,
        ambient.clone(),
        AuthSettings {
            session_ttl: config.session_ttl,
            session_idle_ttl: config.session_idle_ttl,
            password_min_chars: config.password_min_length,
            signup_open: config.signup_open,
            lockout: Some(Limit {
                count: config.lockout.count,
                period: config.lockout.per,
            }),
        },
        secret.derive("csrf/v1"),
        audit,
    )
    .with_mfa(MfaKeys {
        keyring: keyring(config)?,
        issuer: "gatehouse".to_owned(),
    }))
}

/// The use cases the server runs, over one open store.
pub struct Services {
    pub auth: Arc<AuthService>,
    pub orgs: OrgService,
    pub keys: ApiKeyService,
    pub audit: AuditService,
    pub tokens: Arc<TokenService>,
    pub limiter: Arc<RateLimiter>,
    pub secrets: SecretService,
    pub grants: Arc<GrantService>,
    pub gateway: Arc<GatewayService>,
    /// Sign-in with external providers (`None` without `[[oidc.providers]]`).
    pub oidc: Option<Arc<gatehouse_core::service::oidc::OidcService>>,
}

/// The master secrets of `config`: the current one seals, the previous ones still open.
pub fn keyring(config: &Config) -> Result<Arc<Keyring>, StartError> {
    let secret = config
        .secret
        .clone()
        .ok_or_else(|| ConfigError("GATEHOUSE_SECRET: missing".into()))?;
    Ok(Arc::new(Keyring::new(
        secret,
        config.previous_secrets.clone(),
    )))
}

/// Builds every service as `serve` does (benchmarks and the in-process rule tests build them
/// the same way). `issuer` is the public URL (the `iss` of access tokens); `ambient` is the one
/// clock and random source every service uses; the services' own loops (audit writer,
/// last-used writer) are started under `supervisor`.
pub fn services(
    config: &Config,
    opened: &Opened,
    issuer: &str,
    ambient: &Ambient,
    supervisor: &mut Supervisor,
) -> Result<Services, StartError> {
    services_with_mailer(config, opened, issuer, ambient, supervisor, None)
}

/// [`services`] with mail handed to `mailer` instead of the configured SMTP server (the
/// service-level tests read what would be sent).
pub fn services_with_mailer(
    config: &Config,
    opened: &Opened,
    issuer: &str,
    ambient: &Ambient,
    supervisor: &mut Supervisor,
    mailer: Option<Arc<dyn Mailer>>,
) -> Result<Services, StartError> {
    let keyring = keyring(config)?;
    let (writer, write_audit) = AuditWriter::new(opened.store.clone());
    supervisor.start("audit writer", write_audit);
    let (last_used, write_last_used) = last_used::writer(opened.store.clone());
    supervisor.start("last-used writer", write_last_used);
    let clock = ambient.clock();
    // Live at once when one process owns the database; else only while the change feed listens,
    // which `services` starts under `supervisor` too.
    let feed = opened.change_feed();
    let key_cache = Arc::new(KeyCache::new(
        feed.is_none(),
        KEY_CACHE_TTL,
        KEY_CACHE_CAPACITY,
    ));
    // Token revocation states and memberships (SPEC §11: those two only; sessions are read
    // fresh), under the same rule; this process's commits reach it directly, other processes'
    // through the feed.
    // On SQLite another process (the CLI) may commit too: a watch over the database's version
    // stands in for the feed, and the cache is live only while it runs.
    let watch = opened.sqlite_watch();
    let user_cache = Arc::new(UserCache::new(
        feed.is_none() && watch.is_none(),
        clock.clone(),
        USER_CACHE_TTL,
    ));
    opened.store.subscribe_local(user_cache.clone());
    if let Some(watch) = watch {
        supervisor.start("sqlite change watch", watch.run(user_cache.clone()));
    }
    let auth = with_passkeys(
        auth_service(config, opened, writer.clone(), ambient)?,
        config,
        issuer,
    )?;
    let auth = Arc::new(with_mail(auth, config, issuer, supervisor, mailer)?);
    if let Some(feed) = feed {
        let sinks: Vec<Arc<dyn ChangeSink>> = vec![key_cache.clone(), user_cache.clone()];
        supervisor.start("change feed", feed.run(Arc::new(FanOut(sinks))));
    }
    let backend = if config.rate_limit_backend_database {
        LimiterBackend::Database(opened.store.clone())
    } else {
        LimiterBackend::Memory(MemoryLimiter::default())
    };
    let limiter = Arc::new(RateLimiter::new(backend, clock.clone()));
    let invitation_limit = InvitationLimit::new(
        limiter.clone(),
        Limit {
            count: config.rate_limit_invitations.count,
            period: config.rate_limit_invitations.per,
        },
    );
    let orgs = OrgService::new(
        opened.store.clone(),
        ambient.clone(),
        auth.clone(),
        key_cache.clone(),
        config.invitation_ttl,
        invitation_limit,
    )
    .with_user_cache(user_cache.clone());
    let keys = ApiKeyService::new(opened.store.clone(), ambient.clone(), key_cache, last_used);
    let oidc = oidc_service(config, opened, &auth, &keyring, ambient, &writer, issuer)?;
    let secrets = SecretService::new(
        opened.store.clone(),
        ambient.clone(),
        keyring,
        writer.clone(),
    );
    let audit = AuditService::new(opened.store.clone(), clock.clone(), writer)
        .with_verify_concurrency(config.audit_verify_concurrency);
    let tokens = Arc::new(
        token_service(config, opened, auth.clone(), issuer, ambient)?
            .with_user_cache(user_cache.clone()),
    );
    let grants = Arc::new(GrantService::new(opened.store.clone(), ambient.clone()));
    let gateway = Arc::new(
        GatewayService::new(opened.store.clone(), tokens.clone(), grants.clone())
            .with_user_cache(user_cache),
    );
    Ok(Services {
        auth,
        orgs,
        keys,
        audit,
        tokens,
        limiter,
        secrets,
        grants,
        gateway,
        oidc,
    })
}

/// The OpenID Connect service when providers are configured; its network goes through the
/// guarded outbound client, redirects not followed.
fn oidc_service(
    config: &Config,
    opened: &Opened,
    auth: &Arc<AuthService>,
    keyring: &Arc<Keyring>,
    ambient: &Ambient,
    writer: &AuditWriter,
    public_url: &str,
) -> Result<Option<Arc<gatehouse_core::service::oidc::OidcService>>, StartError> {
    if config.oidc_providers.is_empty() {
        return Ok(None);
    }
    let settings = crate::outbound::OutboundSettings {
        follow_redirects: false,
        ..config.outbound.clone()
    };
    let client = crate::outbound::OutboundClient::new(settings)
        .map_err(|e| StartError::Config(ConfigError(format!("oidc: {e}"))))?;
    Ok(Some(Arc::new(
        gatehouse_core::service::oidc::OidcService::new(
            opened.store.clone(),
            auth.clone(),
            keyring.clone(),
            Arc::new(crate::oidc_http::GuardedOidcHttp { client }),
            ambient.clone(),
            writer.clone(),
            config.oidc_providers.clone(),
            public_url,
        ),
    )))
}

/// The token service (also used by `gatehouse keys rotate-signing`).
pub fn token_service(
    config: &Config,
    opened: &Opened,
    auth: Arc<AuthService>,
    issuer: &str,
    ambient: &Ambient,
) -> Result<TokenService, StartError> {
    Ok(TokenService::new(
        opened.store.clone(),
        ambient.clone(),
        auth,
        keyring(config)?,
        TokenSettings {
            issuer: issuer.to_owned(),
            audience: config.token_audience.clone(),
            access_ttl: config.access_ttl,
            refresh_ttl: config.refresh_ttl,
        },
    ))
}

/// A bound, ready-to-serve application.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    timeouts: crate::serve::Timeouts,
    supervisor: Supervisor,
}

impl Application {
    /// Everything up to accepting connections; binds `config.listen` (port 0 picks one). Every
    /// service reads time and draws randomness from `ambient` ([`Ambient::system`] to serve).
    pub async fn build(mut config: Config, ambient: Ambient) -> Result<Self, StartError> {
        check_config(&mut config)?;
        let opened = open_database(&config).await?;
        let mut supervisor = Supervisor::new();
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| StartError::Listen(e.to_string()))?;
        let bound = listener
            .local_addr()
            .map_err(|e| StartError::Listen(e.to_string()))?;
        let public_url = config.public_url_or(bound);
        let Services {
            auth,
            orgs,
            keys,
            audit,
            tokens,
            limiter,
            secrets,
            grants,
            gateway,
            oidc,
        } = services(&config, &opened, &public_url, &ambient, &mut supervisor)?;
        supervisor.start(
            "sweeper",
            sweeper(opened.store.clone(), limiter.clone(), config.lockout.per),
        );
        tokens.start().await.map_err(|e| match e {
            gatehouse_core::Error::Unsealable => StartError::Config(ConfigError(
                "GATEHOUSE_SECRET: the signing keys do not open with it (nor with \
                 GATEHOUSE_PREVIOUS_SECRETS); put the secret that sealed them back, or list it in \
                 GATEHOUSE_PREVIOUS_SECRETS"
                    .into(),
            )),
            e => StartError::Database(format!("signing keys: {e}")),
        })?;
        supervisor.start("signing-key reload", key_reload(tokens.clone()));
        crate::audit_tasks::start(&mut supervisor, audit.clone(), &config);
        crate::audit_webhook::start(&mut supervisor, audit.clone(), &config)?;
        let https = public_url.starts_with("https://");
        let upstreams = if config.gateway.has_upstreams() {
            Some(crate::gateway::proxy::Upstreams::new().map_err(|e| {
                StartError::Config(ConfigError(format!(
                    "gateway: TLS roots for upstreams: {e}"
                )))
            })?)
        } else {
            None
        };
        let state = AppState {
            inner: Arc::new(Inner {
                public_origin: origin_of(&public_url),
                loopback_origin: config.defaulted_loopback_origin(bound),
                public_url: public_url.clone(),
                gateway,
                oidc,
                upstreams,
                https,
                cookie_name: match (https, config.cookie_domain.is_some()) {
                    (true, false) => "__Host-gatehouse_session",
                    (true, true) => "__Secure-gatehouse_session",
                    (false, _) => "gatehouse_session",
                },
                metrics: crate::telemetry::metrics_handle(),
                readiness: Readiness::new(opened.store.clone(), Duration::from_secs(2)),
                auth,
                orgs,
                keys,
                audit,
                tokens,
                limiter,
                secrets,
                grants,
                config,
                ambient,
            }),
        };
        if let Some(token) = state
            .auth
            .issue_setup_token()
            .await
            .map_err(|e| StartError::Database(e.to_string()))?
        {
            let token = token.expose_secret();
            eprintln!("setup: open {public_url}/console/setup?token={token}");
        }
        Ok(Self {
            listener,
            state,
            timeouts: crate::serve::Timeouts::default(),
            supervisor,
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Other connection deadlines than SPEC §13's (in-process tests only).
    #[must_use]
    pub fn with_timeouts(mut self, timeouts: crate::serve::Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Serves until SIGTERM or Ctrl-C; then finishes in-flight requests within the shutdown
    /// deadline, closes what remains and flushes audit writes.
    pub async fn run(self) -> std::io::Result<()> {
        let addr = self.listener.local_addr()?;
        let router = crate::routes::router(self.state.clone());
        let configured = self.state.config.max_connections;
        let files = crate::serve::open_file_limit();
        let cap = crate::serve::connection_cap(configured, files);
        if cap < configured {
            tracing::warn!(
                cap,
                open_file_limit = files,
                "GATEHOUSE_MAX_CONNECTIONS {configured} exceeds the open-file limit; serving at most {cap} connections (raise LimitNOFILE)"
            );
        }
        tracing::info!(%addr, max_connections = cap, "listening");
        eprintln!("gatehouse listening on http://{addr}");
        crate::serve::serve(self.listener, router, cap, self.timeouts, shutdown_signal()).await?;
        let flush = self.state.audit.writer().flush();
        match tokio::time::timeout(std::time::Duration::from_secs(5), flush).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "flushing audit writes failed"),
            Err(_) => tracing::error!("flushing audit writes took over 5 s; giving up"),
        }
        self.supervisor.stop().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Forgets rate-limit and lockout state that no longer limits anything, once a minute.
async fn sweeper(
    store: Arc<dyn gatehouse_core::store::Store>,
    limiter: Arc<RateLimiter>,
    window: std::time::Duration,
) {
    {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            let now_ms = limiter.now_ms();
            if let Err(e) = limiter.sweep().await {
                tracing::debug!(error = %e, "sweeping rate limits failed");
            }
            if let Err(e) = store
                .sweep_attempts(now_ms, window.as_millis() as i64)
                .await
            {
                tracing::debug!(error = %e, "sweeping sign-in attempts failed");
            }
        }
    }
}

/// Picks up signing keys rotated by another instance or the CLI (tokens with an unknown `kid`
/// also trigger a reload at once).
async fn key_reload(tokens: Arc<TokenService>) {
    {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = tokens.reload_keys().await {
                tracing::warn!(error = %e, "reloading signing keys failed");
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
