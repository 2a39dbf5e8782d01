//! Passwords: the policy (length, common list, similarity), NFKC, and hashing — Argon2id for new
//! hashes; Argon2, bcrypt and PBKDF2-SHA256 (PHC or Django form) verified for imported users.

use std::collections::HashSet;
use std::sync::OnceLock;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use subtle::ConstantTimeEq;
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

use crate::email::Email;
use crate::{Error, Result};

mod pbkdf2_phc;
mod pool;
mod queue;

pub use pool::PasswordHasherPool;
pub use queue::{FairQueue, Full, QueueLimits};

/// Longest password accepted, in bytes (protects the hasher).
pub const MAX_PASSWORD_BYTES: usize = 256;

static COMMON_LIST: &str = include_str!("../data/common-passwords.txt");

fn common_passwords() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON_LIST
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    })
}

/// How many entries the bundled common-password list holds.
#[must_use]
pub fn common_list_len() -> usize {
    common_passwords().len()
}

/// NFKC, the form every password is hashed in.
#[must_use]
pub fn normalize(password: &str) -> String {
    password.nfkc().collect()
}

/// Checks a new password against the policy. Returns the field code of the first rule broken.
pub fn check_policy(
    password: &str,
    min_chars: usize,
    email: Option<&Email>,
) -> Result<(), &'static str> {
    let normalized = Zeroizing::new(normalize(password));
    if normalized.len() > MAX_PASSWORD_BYTES || password.len() > MAX_PASSWORD_BYTES {
        return Err("too_long");
    }
    if normalized.chars().count() < min_chars {
        return Err("too_short");
    }
    let lower = Zeroizing::new(normalized.to_lowercase());
    if is_common(&lower) {
        return Err("too_common");
    }
    if let Some(email) = email {
        let local: String = email.local_part().nfkc().collect::<String>().to_lowercase();
        if !local.is_empty()
            && (*lower == local || lower.contains(&local))
            && local.chars().count() >= 3
        {
            return Err("too_similar");
        }
        if lower.as_str() == email.key() {
            return Err("too_similar");
        }
    }
    Ok(())
}

/// In the list, or a list entry followed only by digits and punctuation.
fn is_common(lower: &str) -> bool {
    let set = common_passwords();
    if set.contains(lower) {
        return true;
    }
    let stem = lower.trim_end_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation());
    !stem.is_empty() && stem.len() != lower.len() && set.contains(stem)
}

/// Policy check mapped to the `422` error with field `field`.
pub fn enforce_policy(
    field: &str,
    password: &str,
    min_chars: usize,
    email: Option<&Email>,
) -> Result<()> {
    check_policy(password, min_chars, email).map_err(|code| Error::field(field, code))
}

/// Argon2id parameters (`m=19456,t=2,p=1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    pub m_kib: u32,
    pub t: u32,
    pub p: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self {
            m_kib: 19456,
            t: 2,
            p: 1,
        }
    }
}

impl Argon2Params {
    /// Parses `m=19456,t=2,p=1` (any order, all three required).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        let (mut m, mut t, mut p) = (None, None, None);
        for part in s.split(',') {
            let (k, v) = part.trim().split_once('=')?;
            let v: u32 = v.trim().parse().ok()?;
            match k.trim() {
                "m" => m = Some(v),
                "t" => t = Some(v),
                "p" => p = Some(v),
                _ => return None,
            }
        }
        let params = Self {
            m_kib: m?,
            t: t?,
            p: p?,
        };
        params.argon2().ok()?;
        Some(params)
    }

    fn argon2(&self) -> Result<Argon2<'static>> {
        let params = Params::new(self.m_kib, self.t, self.p, None).map_err(Error::internal)?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// Result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// Matches, but the hash is not Argon2id with the current parameters: re-hash it.
    YesRehash,
}

/// The kinds of stored hash gatehouse understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashKind {
    Argon2,
    Bcrypt,
    Pbkdf2Phc,
    Pbkdf2Django,
}

/// Recognizes a stored hash's format, or `None` when gatehouse cannot verify it.
#[must_use]
pub fn hash_kind(hash: &str) -> Option<HashKind> {
    if hash.starts_with("$argon2id$")
        || hash.starts_with("$argon2i$")
        || hash.starts_with("$argon2d$")
    {
        PasswordHash::new(hash).ok().map(|_| HashKind::Argon2)
    } else if ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p)) {
        (hash.len() == 60).then_some(HashKind::Bcrypt)
    } else if hash.starts_with("$pbkdf2-sha256$") {
        PasswordHash::new(hash).ok().map(|_| HashKind::Pbkdf2Phc)
    } else if hash.starts_with("pbkdf2_sha256$") {
        parse_django(hash).map(|_| HashKind::Pbkdf2Django)
    } else {
        None
    }
}

/// The most expensive imported hashes gatehouse accepts (SPEC §4): beyond these, one sign-in
/// would take minutes or gigabytes.
pub const MAX_IMPORT_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// Bytes of PBKDF2 output: each 32 more bytes repeat every iteration.
pub const MAX_IMPORT_PBKDF2_OUTPUT: usize = 64;
pub const MAX_IMPORT_ARGON2_KIB: u32 = 1024 * 1024;
pub const MAX_IMPORT_ARGON2_T: u32 = 10;
pub const MAX_IMPORT_BCRYPT_COST: u32 = 16;

/// Checks an imported hash's cost parameters against the bounds above; the reason when one is
/// beyond them (never the hash itself). The hash must already be recognized by [`hash_kind`].
pub fn check_import_cost(hash: &str) -> Result<(), String> {
    let over = |what: &str, max: u64| Err(format!("{what} over {max}"));
    match hash_kind(hash) {
        Some(HashKind::Bcrypt) => match hash.get(4..6).and_then(|c| c.parse::<u32>().ok()) {
            Some(cost) if cost <= MAX_IMPORT_BCRYPT_COST => Ok(()),
            Some(_) => over("bcrypt cost", MAX_IMPORT_BCRYPT_COST.into()),
            None => Err("malformed bcrypt cost".into()),
        },
        Some(HashKind::Argon2) => {
            let parsed = PasswordHash::new(hash).map_err(|_| "malformed Argon2 hash".to_owned())?;
            let get = |p: &str| parsed.params.get_decimal(p).unwrap_or(0);
            if get("m") > MAX_IMPORT_ARGON2_KIB {
                return over("Argon2 memory (m, KiB)", MAX_IMPORT_ARGON2_KIB.into());
            }
            if get("t") > MAX_IMPORT_ARGON2_T {
                return over("Argon2 time (t)", MAX_IMPORT_ARGON2_T.into());
            }
            Ok(())
        }
        Some(HashKind::Pbkdf2Phc) => {
            let parsed = PasswordHash::new(hash).map_err(|_| "malformed PBKDF2 hash".to_owned())?;
            let iterations = parsed.params.get_decimal("i").unwrap_or(0);
            let output = parsed.params.get_decimal("l").unwrap_or(0) as usize;
            let output = output.max(parsed.hash.map(|h| h.len()).unwrap_or(0));
            pbkdf2_bounds(iterations, output)
        }
        Some(HashKind::Pbkdf2Django) => match parse_django(hash) {
            Some((iterations, _, expected)) => pbkdf2_bounds(iterations, expected.len()),
            None => Err("malformed PBKDF2 hash".into()),
        },
        None => Err("unsupported hash".into()),
    }
}

fn pbkdf2_bounds(iterations: u32, output: usize) -> Result<(), String> {
    if iterations > MAX_IMPORT_PBKDF2_ITERATIONS {
        return Err(format!(
            "PBKDF2 iterations over {MAX_IMPORT_PBKDF2_ITERATIONS}"
        ));
    }
    if output > MAX_IMPORT_PBKDF2_OUTPUT {
        return Err(format!(
            "PBKDF2 output over {MAX_IMPORT_PBKDF2_OUTPUT} bytes"
        ));
    }
    Ok(())
}

fn parse_django(hash: &str) -> Option<(u32, &str, Vec<u8>)> {
    let mut parts = hash.split('$');
    let (_, iter, salt, b64) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || salt.is_empty() {
        return None;
    }
    let iterations: u32 = iter.parse().ok().filter(|i| *i > 0)?;
    let expected = B64.decode(b64).ok().filter(|d| !d.is_empty())?;
    Some((iterations, salt, expected))
}

/// Synchronous Argon2id hash; the pool calls it on a blocking thread.
/// `salt` is 16 bytes the caller drew from its injected random source.
pub fn hash_blocking(
    params: Argon2Params,
    normalized_password: &str,
    salt: &[u8; 16],
) -> Result<String> {
    params
        .argon2()?
        .hash_password_with_salt(normalized_password.as_bytes(), salt)
        .map(|h| h.to_string())
        .map_err(Error::internal)
}

/// Synchronous verification of any supported hash.
#[must_use]
pub fn verify_blocking(params: Argon2Params, normalized_password: &str, stored: &str) -> Verified {
    let pw = normalized_password.as_bytes();
    let matched = match hash_kind(stored) {
        Some(HashKind::Argon2) => match PasswordHash::new(stored) {
            Ok(parsed) => {
                let ok = Argon2::default().verify_password(pw, &parsed).is_ok();
                if ok && !is_current_argon2(&parsed, params) {
                    return Verified::YesRehash;
                }
                ok
            }
            Err(_) => false,
        },
        Some(HashKind::Bcrypt) => {
            let ok = bcrypt::verify(pw, stored).unwrap_or(false);
            return if ok {
                Verified::YesRehash
            } else {
                Verified::No
            };
        }
        Some(HashKind::Pbkdf2Phc) => {
            let ok = PasswordHash::new(stored)
                .map(|parsed| pbkdf2_phc::matches(pw, &parsed))
                .unwrap_or(false);
            return if ok {
                Verified::YesRehash
            } else {
                Verified::No
            };
        }
        Some(HashKind::Pbkdf2Django) => {
            let ok = match parse_django(stored) {
                Some((iterations, salt, expected)) => {
                    let mut out = vec![0u8; expected.len()];
                    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(pw, salt.as_bytes(), iterations, &mut out);
                    bool::from(out.ct_eq(&expected))
                }
                None => false,
            };
            return if ok {
                Verified::YesRehash
            } else {
                Verified::No
            };
        }
        None => false,
    };
    if matched { Verified::Yes } else { Verified::No }
}

fn is_current_argon2(parsed: &PasswordHash, params: Argon2Params) -> bool {
    if parsed.algorithm.as_str() != "argon2id" {
        return false;
    }
    match Params::try_from(parsed) {
        Ok(p) => p.m_cost() == params.m_kib && p.t_cost() == params.t && p.p_cost() == params.p,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Argon2Params = Argon2Params {
        m_kib: 256,
        t: 1,
        p: 1,
    };

    #[test]
    fn list_is_big_enough() {
        assert!(common_list_len() >= 10_000);
    }

    #[test]
    fn policy_rules() {
        let email = Email::parse("carol.smith@example.com").unwrap();
        assert_eq!(check_policy("short", 12, None), Err("too_short"));
        assert_eq!(check_policy(&"x".repeat(257), 12, None), Err("too_long"));
        assert_eq!(check_policy("qwertyuiop", 8, None), Err("too_common"));
        assert_eq!(check_policy("Password1234", 12, None), Err("too_common"));
        assert_eq!(check_policy("qwertyuiop123!", 12, None), Err("too_common"));
        assert_eq!(
            check_policy("my carol.smith pw x", 12, Some(&email)),
            Err("too_similar")
        );
        assert_eq!(
            check_policy("correct horse battery staple", 12, Some(&email)),
            Ok(())
        );
    }

    #[test]
    fn argon2_roundtrip_and_rehash() {
        let h = hash_blocking(FAST, "correct horse battery", &[7; 16]).unwrap();
        assert_eq!(
            verify_blocking(FAST, "correct horse battery", &h),
            Verified::Yes
        );
        assert_eq!(verify_blocking(FAST, "wrong", &h), Verified::No);
        let other = Argon2Params { m_kib: 512, ..FAST };
        assert_eq!(
            verify_blocking(other, "correct horse battery", &h),
            Verified::YesRehash
        );
    }

    #[test]
    fn legacy_hashes_verify_and_ask_for_rehash() {
        let b = bcrypt::hash("hunter2 is long", 4).unwrap();
        assert_eq!(hash_kind(&b), Some(HashKind::Bcrypt));
        assert_eq!(
            verify_blocking(FAST, "hunter2 is long", &b),
            Verified::YesRehash
        );
        assert_eq!(verify_blocking(FAST, "nope", &b), Verified::No);

        let mut out = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"django pass", b"saltsalt", 1000, &mut out);
        let d = format!("pbkdf2_sha256$1000$saltsalt${}", B64.encode(out));
        assert_eq!(hash_kind(&d), Some(HashKind::Pbkdf2Django));
        assert_eq!(
            verify_blocking(FAST, "django pass", &d),
            Verified::YesRehash
        );
        assert_eq!(verify_blocking(FAST, "django pasS", &d), Verified::No);

        assert_eq!(hash_kind("plaintext"), None);
        assert_eq!(hash_kind("$2b$short"), None);
    }

    #[test]
    fn import_costs_are_bounded() {
        let tail = "abcdefghijklmnopqrstuuQ8H0bUhUyk6Xv4iW0HbS3zTe1xY3D1a";
        assert!(check_import_cost(&format!("$2b$16${tail}")).is_ok());
        let e = check_import_cost(&format!("$2y$17${tail}")).unwrap_err();
        assert!(e.contains("bcrypt cost over 16"), "{e}");
        let a2 = |m: u32, t: u32| {
            format!("$argon2id$v=19$m={m},t={t},p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA")
        };
        assert!(check_import_cost(&a2(1024 * 1024, 10)).is_ok());
        assert!(
            check_import_cost(&a2(1024 * 1024 + 1, 1))
                .unwrap_err()
                .contains("memory")
        );
        assert!(
            check_import_cost(&a2(19456, 11))
                .unwrap_err()
                .contains("time")
        );
        let phc = |i: u32| {
            format!(
                "$pbkdf2-sha256$i={i},l=32$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
            )
        };
        assert!(check_import_cost(&phc(10_000_000)).is_ok());
        assert!(
            check_import_cost(&phc(10_000_001))
                .unwrap_err()
                .contains("iterations")
        );
        let django =
            |i: u32, len: usize| format!("pbkdf2_sha256${i}$salt${}", B64.encode(vec![7u8; len]));
        assert!(check_import_cost(&django(10_000_000, 32)).is_ok());
        assert!(
            check_import_cost(&django(10_000_001, 32))
                .unwrap_err()
                .contains("iterations")
        );
        assert!(
            check_import_cost(&django(1000, 1 << 20))
                .unwrap_err()
                .contains("output")
        );
    }

    #[test]
    fn params_parse() {
        assert_eq!(
            Argon2Params::parse("m=19456,t=2,p=1"),
            Some(Argon2Params::default())
        );
        assert_eq!(Argon2Params::parse("m=19456,t=2"), None);
        assert_eq!(Argon2Params::parse("m=1,t=2,p=1"), None);
    }
}
