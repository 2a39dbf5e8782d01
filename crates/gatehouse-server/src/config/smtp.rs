//! The mail settings (SPEC §16): `SMTP_URL` turns mailed flows on and then needs `SMTP_FROM`.
//! `smtp://host[:587]` speaks STARTTLS (required), `smtps://host[:465]` TLS from the first byte,
//! and `smtp+insecure://host:port` plain text, only to a loopback address and never in
//! production. A user and password may come in the URL (`smtp://user:pass@host`); they are never
//! shown.

use gatehouse_core::secret::SecretString;

use super::{ConfigError, bad};

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    StartTls,
    Implicit,
    /// Plain text (loopback only, outside production).
    Insecure,
}

/// Where mail goes, and who it is from.
#[derive(Clone)]
pub struct SmtpConfig {
    pub security: SmtpSecurity,
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<SecretString>,
    pub from: String,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("security", &self.security)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user.as_ref().map(|_| "[set]"))
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The mail settings, or `None` when no SMTP URL is configured. Reasons never repeat the URL
/// (it may carry a password).
pub(super) fn parse(
    get: &dyn Fn(&str) -> Option<String>,
    name: &dyn Fn(&str) -> String,
    production: bool,
) -> Result<Option<SmtpConfig>, ConfigError> {
    let Some(raw) = get("smtp_url") else {
        if get("smtp_from").is_some() {
            return Err(bad(&name("smtp_from"), "set without GATEHOUSE_SMTP_URL"));
        }
        return Ok(None);
    };
    let key = name("smtp_url");
    let url = url::Url::parse(&raw).map_err(|_| {
        bad(
            &key,
            "expected smtp://host[:port], smtps://host[:port] or smtp+insecure://host:port",
        )
    })?;
    let (security, default_port) = match url.scheme() {
        "smtp" => (SmtpSecurity::StartTls, 587),
        "smtps" => (SmtpSecurity::Implicit, 465),
        "smtp+insecure" => (SmtpSecurity::Insecure, 25),
        _ => {
            return Err(bad(
                &key,
                "the scheme must be smtp (STARTTLS), smtps (TLS) or smtp+insecure (loopback only)",
            ));
        }
    };
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad(&key, "no host"))?
        .to_owned();
    if security == SmtpSecurity::Insecure {
        if production {
            return Err(bad(&key, "smtp+insecure:// is refused in production"));
        }
        if !is_loopback(&host) {
            return Err(bad(
                &key,
                "smtp+insecure:// may only reach a loopback address",
            ));
        }
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| bad(&key, "the user or password is not valid UTF-8"))
    };
    let user = match url.username() {
        "" => None,
        u => Some(decode(u)?),
    };
    let password = url
        .password()
        .map(decode)
        .transpose()?
        .map(SecretString::from);
    let from = get("smtp_from").ok_or_else(|| {
        bad(
            &name("smtp_from"),
            "required with GATEHOUSE_SMTP_URL (the sender address of every mail)",
        )
    })?;
    if from.parse::<lettre::message::Mailbox>().is_err() {
        return Err(bad(
            &name("smtp_from"),
            "expected an address like gatehouse@example.com or \"Name <gatehouse@example.com>\"",
        ));
    }
    Ok(Some(SmtpConfig {
        security,
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port: url.port().unwrap_or(default_port),
        user,
        password,
        from,
    }))
}
