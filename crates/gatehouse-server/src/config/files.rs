//! The files configuration touches: the TOML file itself, and in development the generated
//! master secret `gatehouse.secret` (mode 0600) beside the database.

use std::collections::BTreeMap;
use std::path::Path;

use gatehouse_core::secret::MasterSecret;
use serde::Deserialize;

use super::{Config, ConfigError, KEYS, SecretSource, bad};

impl Config {
    /// Development only: reads or creates `gatehouse.secret` (mode 0600) beside the database.
    pub fn ensure_dev_secret(&mut self) -> Result<(), ConfigError> {
        if self.secret.is_some() || self.is_production() {
            return Ok(());
        }
        let dir = gatehouse_store::sqlite_path(&self.database_url)
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        let path = dir.join("gatehouse.secret");
        let setting = "GATEHOUSE_SECRET";
        if path.exists() {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| bad(setting, format!("{}: {e}", path.display())))?;
            self.secret = Some(MasterSecret::new(text.trim().as_bytes().to_vec()));
            self.secret_source = SecretSource::File(path);
        } else {
            let value = gatehouse_core::token::random_token(&gatehouse_core::random::SystemRandom)
                .map_err(|e| bad(setting, e.to_string()))?;
            write_private(&path, &value)
                .map_err(|e| bad(setting, format!("{}: {e}", path.display())))?;
            self.secret = Some(MasterSecret::new(value.into_bytes()));
            self.secret_source = SecretSource::Generated(path);
        }
        Ok(())
    }
}

/// A TOML value as given: a string, a number, or a list (for the comma-list settings).
#[derive(Deserialize)]
#[serde(untagged)]
enum TomlValue {
    Str(String),
    Int(i64),
    List(Vec<String>),
}

fn write_private(path: &Path, value: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(value.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// The file's tables read apart from the settings: `gateway` and `oidc`.
pub(super) struct Tables {
    pub gateway: Option<toml::Value>,
    pub oidc: Option<toml::Value>,
}

/// Reads the file's settings into `raw`; returns its `gateway` and `oidc` tables.
pub(super) fn read_file(
    path: &Path,
    raw: &mut BTreeMap<&'static str, String>,
) -> Result<Tables, ConfigError> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("config file {shown}: {e}")))?;
    let mut table: toml::Table = toml::from_str(&text)
        .map_err(|e| ConfigError(format!("config file {shown}: {}", e.message())))?;
    let gateway = table.remove("gateway");
    let oidc = table.remove("oidc");
    for (key, value) in table {
        let Some(known) = KEYS.iter().find(|k| **k == key) else {
            return Err(ConfigError(format!(
                "config file {shown}: unknown key {key:?}"
            )));
        };
        let value: TomlValue = value.try_into().map_err(|_| {
            ConfigError(format!(
                "config file {shown}: {key}: expected a string, a number or a list of strings"
            ))
        })?;
        let value = match value {
            TomlValue::Str(s) => s,
            TomlValue::Int(i) => i.to_string(),
            TomlValue::List(items) => items.join(","),
        };
        raw.insert(known, value);
    }
    Ok(Tables { gateway, oidc })
}
