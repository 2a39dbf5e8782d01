//! `[[oidc.providers]]` of the config file (SPEC §17): each provider's id (used in its URLs),
//! issuer, client id, the environment variable holding its client secret, scopes (`openid`
//! always among them), the allowed email domains and whether a verified email links an
//! existing account. Refused at start, naming the provider, when anything is wrong.

use gatehouse_core::secret::SecretString;
use gatehouse_core::service::oidc::Provider;
use serde::Deserialize;

use super::ConfigError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    #[serde(default)]
    providers: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    issuer: String,
    client_id: String,
    client_secret_env: String,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    allowed_email_domains: Vec<String>,
    #[serde(default)]
    link_by_verified_email: bool,
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 32
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The providers, their secrets read from `env`.
pub(super) fn parse(
    shown: &str,
    value: Option<toml::Value>,
    env: &[(String, String)],
    production: bool,
) -> Result<Vec<Provider>, ConfigError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let bad = |what: String| ConfigError(format!("config file {shown}: oidc: {what}"));
    let table: Table = value
        .try_into()
        .map_err(|e: toml::de::Error| bad(e.message().to_owned()))?;
    let mut providers: Vec<Provider> = Vec::new();
    for e in table.providers {
        let named = |what: &str| bad(format!("provider {:?}: {what}", e.id));
        if !valid_id(&e.id) {
            return Err(named("id must be 1 to 32 of a-z, 0-9 and -"));
        }
        if providers.iter().any(|p| p.id == e.id) {
            return Err(named("id is used twice"));
        }
        let issuer = url::Url::parse(&e.issuer).map_err(|_| named("issuer is not a URL"))?;
        match issuer.scheme() {
            "https" => {}
            "http" if !production => {}
            _ => return Err(named("issuer must be an https:// URL")),
        }
        if e.client_id.is_empty() {
            return Err(named("client_id is empty"));
        }
        let secret = env
            .iter()
            .find(|(k, _)| *k == e.client_secret_env)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| named(&format!("{} is not set", e.client_secret_env)))?;
        let scopes = e
            .scopes
            .unwrap_or_else(|| vec!["openid".into(), "email".into(), "profile".into()]);
        if !scopes.iter().any(|s| s == "openid") {
            return Err(named("scopes must include openid"));
        }
        providers.push(Provider {
            id: e.id,
            issuer: e.issuer,
            client_id: e.client_id,
            client_secret: SecretString::from(secret),
            scopes,
            allowed_email_domains: e.allowed_email_domains,
            link_by_verified_email: e.link_by_verified_email,
        });
    }
    Ok(providers)
}
