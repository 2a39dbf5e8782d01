//! `gatehouse users import`: users with existing password hashes, one JSON object a line.
//! The whole file is checked first; any bad line is reported and nothing is imported.

use std::collections::HashMap;

use serde::Deserialize;

use crate::ambient::Ambient;
use crate::email::Email;
use crate::ids::UserId;
use crate::password::{check_import_cost, hash_kind};
use crate::store::{ImportError, NewUser, UserStore};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportLine {
    email: String,
    password_hash: String,
    #[serde(default)]
    name: Option<String>,
}

/// A line that cannot be imported, with its 1-based number and the reason (never the hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub line: usize,
    pub reason: String,
}

/// Parses and checks every line; returns the users, or every bad line.
pub fn parse_import(text: &str, ambient: &Ambient) -> Result<Vec<NewUser>, Vec<BadLine>> {
    let now = ambient.now();
    let mut users = Vec::new();
    let mut bad = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let reject = |reason: &str| BadLine {
            line,
            reason: reason.to_owned(),
        };
        let parsed: ImportLine = match serde_json::from_str(raw) {
            Ok(p) => p,
            Err(e) => {
                bad.push(reject(&format!(
                    "not a JSON object with email and password_hash ({})",
                    e.classify_name()
                )));
                continue;
            }
        };
        let email = match Email::parse(&parsed.email) {
            Ok(email) => email,
            Err(crate::Error::Validation(f)) => {
                let code = f.get("email").map(String::as_str).unwrap_or("invalid");
                bad.push(reject(&format!("invalid email ({code})")));
                continue;
            }
            Err(_) => {
                bad.push(reject("invalid email"));
                continue;
            }
        };
        if hash_kind(&parsed.password_hash).is_none() {
            bad.push(reject(
                "unsupported or malformed password_hash (bcrypt, PBKDF2-SHA256 or Argon2 expected)",
            ));
            continue;
        }
        if let Err(why) = check_import_cost(&parsed.password_hash) {
            bad.push(reject(&format!(
                "password_hash parameters beyond the import bounds: {why}"
            )));
            continue;
        }
        let Ok(name) = crate::identity_chars::optional_name("name", parsed.name.as_deref()) else {
            bad.push(reject(
                "invalid name (too long or invisible/control characters)",
            ));
            continue;
        };
        if let Some(first) = seen.insert(email.key().to_owned(), line) {
            bad.push(reject(&format!("duplicate email (also on line {first})")));
            continue;
        }
        let id: UserId = match ambient.id() {
            Ok(id) => id,
            Err(e) => {
                bad.push(reject(&format!("no id for the user: {e}")));
                continue;
            }
        };
        users.push((
            line,
            NewUser {
                id,
                email: email.as_str().to_owned(),
                email_key: email.key().to_owned(),
                name,
                password_hash: Some(parsed.password_hash),
                is_platform_admin: false,
                created_at: now,
            },
        ));
    }
    if bad.is_empty() {
        Ok(users.into_iter().map(|(_, u)| u).collect())
    } else {
        Err(bad)
    }
}

/// Parses, then imports in one transaction; an email already present is reported by line.
pub async fn import_users(
    store: &dyn UserStore,
    text: &str,
    ambient: &Ambient,
) -> Result<usize, Vec<BadLine>> {
    let users = parse_import(text, ambient)?;
    let now = ambient.now();
    let lines: Vec<usize> = line_numbers(text);
    let event = crate::service::events::users_imported(users.len(), now);
    match store.import_users(&users, &[event]).await {
        Ok(()) => Ok(users.len()),
        Err(ImportError::EmailTaken(i)) => Err(vec![BadLine {
            line: lines.get(i).copied().unwrap_or(0),
            reason: "email already exists".into(),
        }]),
        Err(ImportError::Store(e)) => Err(vec![BadLine {
            line: 0,
            reason: format!("database error: {e}"),
        }]),
    }
}

fn line_numbers(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, _)| i + 1)
        .collect()
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "wrong or missing fields",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_bad_line_by_number() {
        let text = concat!(
            r#"{"email":"a@example.com","password_hash":"$2b$04$abcdefghijklmnopqrstuuQ8H0bUhUyk6Xv4iW0HbS3zTe1xY3D1a"}"#,
            "\n",
            "not json\n",
            "\n",
            r#"{"email":"b@example.com","password_hash":"plain"}"#,
            "\n",
            r#"{"email":"A@example.com","password_hash":"$2b$04$abcdefghijklmnopqrstuuQ8H0bUhUyk6Xv4iW0HbS3zTe1xY3D1a"}"#,
        );
        let bad = parse_import(text, &Ambient::system()).unwrap_err();
        let lines: Vec<usize> = bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, vec![2, 4, 5]);
        assert!(
            !bad.iter().any(|b| b.reason.contains("plain")),
            "the hash is never echoed"
        );
    }
}
