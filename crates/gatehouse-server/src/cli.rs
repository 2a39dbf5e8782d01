//! The command line: `serve`, `migrate`, `admin create`, `users import`, `secret generate`,
//! `doctor`. Every command reads the same configuration as `serve`.

use std::io::Read;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use gatehouse_core::ambient::Ambient;

use crate::app::{self, Application, StartError};
use crate::cli_support::{fail, open_for_cli};
use crate::config::{Config, ConfigError, Overrides};

#[derive(Parser, Debug)]
#[command(
    name = "gatehouse",
    version,
    about = "The security layer of a multi-tenant web API"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalFlags,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags that override the file and the environment.
#[derive(Args, Debug, Clone, Default)]
pub struct GlobalFlags {
    /// TOML configuration file (also GATEHOUSE_CONFIG)
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// development or production
    #[arg(long, global = true)]
    pub env: Option<String>,
    /// Address to bind, e.g. 127.0.0.1:8080 (port 0 picks a free one)
    #[arg(long, global = true)]
    pub listen: Option<String>,
    /// sqlite://FILE or postgres://...
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// External origin; the JWT issuer; https turns on Secure cookies and HSTS
    #[arg(long, global = true)]
    pub public_url: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server
    Serve,
    /// Apply database migrations
    Migrate,
    /// Platform administrators
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Users
    #[command(subcommand)]
    Users(UsersCommand),
    /// The master secret and what it seals (`secret` and `secrets` are the same command)
    #[command(subcommand, visible_alias = "secrets")]
    Secret(SecretCommand),
    /// Check the live configuration against the production checklist
    Doctor,
    /// The audit log
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Access-token signing keys
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Make a new signing key; older public keys stay in the JWKS until their tokens expire
    RotateSigning,
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Verify hash chains: exit 0 when valid, 1 when broken (the first bad seq is printed)
    Verify {
        /// Only this org's chain (`system` for the system chain)
        #[arg(long)]
        org: Option<String>,
    },
    /// Write a chain as JSON lines with hashes, verifiable without gatehouse
    Export {
        /// The org (`system` for the system chain)
        #[arg(long)]
        org: String,
        /// Output file (mode 0600); standard output when absent
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create a platform admin who owns a new org
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        org: String,
        /// Read the password from standard input (the only way: never on the command line)
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Import users with existing password hashes from a JSON-lines file
    Import { file: PathBuf },
    /// Lift a sign-in lockout for an email (also clears its failed attempts)
    Unlock { email: String },
    /// Disable an account: its sessions and tokens stop working at once, sign-in is refused
    Disable { email: String },
    /// Enable a disabled account again (the user signs in anew)
    Enable { email: String },
}

#[derive(Subcommand, Debug)]
pub enum SecretCommand {
    /// Print a new random master secret
    Generate,
    /// Re-seal every stored secret and signing key under the current master secret
    /// (GATEHOUSE_SECRET), opening with GATEHOUSE_PREVIOUS_SECRETS; resumable
    Reencrypt {
        /// Secret versions re-sealed per transaction
        #[arg(long, default_value_t = 500)]
        batch: u32,
    },
}

impl GlobalFlags {
    fn overrides(&self) -> Overrides {
        let mut values = Vec::new();
        let mut add = |key: &'static str, v: &Option<String>| {
            if let Some(v) = v {
                values.push((key, v.clone()));
            }
        };
        add("env", &self.env);
        add("listen", &self.listen);
        add("database_url", &self.database_url);
        add("public_url", &self.public_url);
        Overrides {
            config_file: self.config.clone(),
            values,
        }
    }
}

/// Runs a command; the result is the process exit code.
pub async fn run(cli: Cli) -> i32 {
    let config = match Config::load(&cli.global.overrides()) {
        Ok(c) => c,
        Err(e) => return fail(&StartError::Config(e)),
    };
    crate::telemetry::init_logs(&config.log, matches!(cli.command, Command::Serve));
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Migrate => match gatehouse_store::migrate(&config.database_url).await {
            Ok(()) => {
                println!("migrations applied");
                0
            }
            Err(e) => fail(&StartError::Database(e.to_string())),
        },
        Command::Admin(AdminCommand::Create { email, org, .. }) => {
            admin_create(config, &email, &org).await
        }
        Command::Users(UsersCommand::Import { file }) => users_import(config, &file).await,
        Command::Users(UsersCommand::Unlock { email }) => users_unlock(config, &email).await,
        Command::Users(UsersCommand::Disable { email }) => {
            users_set_disabled(config, &email, true).await
        }
        Command::Users(UsersCommand::Enable { email }) => {
            users_set_disabled(config, &email, false).await
        }
        Command::Secret(SecretCommand::Generate) => {
            match gatehouse_core::token::random_token(&gatehouse_core::random::SystemRandom) {
                Ok(secret) => {
                    println!("{secret}");
                    0
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    1
                }
            }
        }
        Command::Secret(SecretCommand::Reencrypt { batch }) => {
            crate::secrets_cli::reencrypt(config, batch).await
        }
        Command::Doctor => crate::doctor::run(config).await,
        Command::Keys(KeysCommand::RotateSigning) => rotate_signing(config).await,
        Command::Audit(AuditCommand::Verify { org }) => {
            crate::audit_cli::verify(config, org.as_deref()).await
        }
        Command::Audit(AuditCommand::Export { org, out }) => {
            crate::audit_cli::export(config, &org, out.as_deref()).await
        }
    }
}

async fn serve(config: Config) -> i32 {
    let app = match Application::build(config, Ambient::system()).await {
        Ok(app) => app,
        Err(e) => return fail(&e),
    };
    match app.run().await {
        Ok(()) => 0,
        Err(e) => fail(&StartError::Listen(e.to_string())),
    }
}

/// The database and the sign-in service, for commands that act on accounts.
async fn auth_for_cli(config: Config) -> Result<gatehouse_core::service::AuthService, StartError> {
    let (config, opened) = open_for_cli(config).await?;
    let writer = gatehouse_core::service::AuditWriter::start(opened.store.clone());
    app::auth_service(&config, &opened, writer, &Ambient::system())
}

async fn admin_create(config: Config, email: &str, org: &str) -> i32 {
    let mut password = String::new();
    if std::io::stdin().read_to_string(&mut password).is_err() {
        return fail(&StartError::Config(ConfigError(
            "--password-stdin: could not read standard input".into(),
        )));
    }
    let password = password
        .strip_suffix('\n')
        .map(|p| p.strip_suffix('\r').unwrap_or(p))
        .unwrap_or(&password);
    let auth = match auth_for_cli(config).await {
        Ok(a) => a,
        Err(e) => return fail(&e),
    };
    let client = gatehouse_core::service::ClientInfo::default();
    match auth.create_admin(email, password, org, None, &client).await {
        Ok((user, org)) => {
            println!(
                "{}",
                serde_json::json!({ "user_id": user.id, "org_id": org.id })
            );
            0
        }
        Err(gatehouse_core::Error::Validation(fields)) => {
            for (field, code) in fields {
                eprintln!("error: {field}: {code}");
            }
            1
        }
        Err(gatehouse_core::Error::Conflict(_)) => {
            eprintln!("error: email: a user with this email already exists");
            1
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

async fn rotate_signing(config: Config) -> i32 {
    let (config, opened) = match open_for_cli(config).await {
        Ok(x) => x,
        Err(e) => return fail(&e),
    };
    let writer = gatehouse_core::service::AuditWriter::start(opened.store.clone());
    let issuer = config.public_url.clone().unwrap_or_default();
    let ambient = Ambient::system();
    let tokens = match app::auth_service(&config, &opened, writer, &ambient).and_then(|auth| {
        app::token_service(
            &config,
            &opened,
            std::sync::Arc::new(auth),
            &issuer,
            &ambient,
        )
    }) {
        Ok(t) => t,
        Err(e) => return fail(&e),
    };
    match tokens.rotate_signing_key().await {
        Ok(kid) => {
            println!("{}", serde_json::json!({ "kid": kid }));
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// `gatehouse users disable|enable EMAIL`: exit 0 when done or already so, 1 for an unknown
/// email or a database error.
async fn users_set_disabled(config: Config, email: &str, disabled: bool) -> i32 {
    let auth = match auth_for_cli(config).await {
        Ok(a) => a,
        Err(e) => return fail(&e),
    };
    let state = if disabled { "disabled" } else { "enabled" };
    match auth.set_disabled(email, disabled).await {
        Ok(true) => {
            println!("{} {state}", email.trim());
            0
        }
        Ok(false) => {
            println!("{} was already {state}", email.trim());
            0
        }
        Err(gatehouse_core::Error::NotFound | gatehouse_core::Error::Validation(_)) => {
            eprintln!("error: no account has the email {}", email.trim());
            1
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

async fn users_unlock(config: Config, email: &str) -> i32 {
    let key = match gatehouse_core::email::Email::parse(email) {
        Ok(e) => e.key().to_owned(),
        Err(_) => email.trim().to_lowercase(),
    };
    let (_, opened) = match open_for_cli(config).await {
        Ok(x) => x,
        Err(e) => return fail(&e),
    };
    match opened.store.unlock(&key).await {
        Ok(true) => {
            let event = gatehouse_core::service::events::unlocked(&key, Ambient::system().now());
            if let Err(e) = opened.store.append_events(&[event]).await {
                eprintln!("error: unlocked {key}, but recording it in the audit log failed: {e}");
                return 1;
            }
            println!("unlocked {key}");
            0
        }
        Ok(false) => {
            println!("{key} was not locked");
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

async fn users_import(config: Config, file: &std::path::Path) -> i32 {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            return 1;
        }
    };
    let (_, opened) = match open_for_cli(config).await {
        Ok(x) => x,
        Err(e) => return fail(&e),
    };
    let ambient = Ambient::system();
    match gatehouse_core::service::import::import_users(opened.store.as_ref(), &text, &ambient)
        .await
    {
        Ok(n) => {
            println!("imported {n} users");
            0
        }
        Err(bad) => {
            for b in &bad {
                eprintln!("line {}: {}", b.line, b.reason);
            }
            eprintln!("error: nothing imported ({} bad line(s))", bad.len());
            1
        }
    }
}
