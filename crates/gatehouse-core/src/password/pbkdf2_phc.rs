//! PBKDF2-SHA256 in PHC form (`$pbkdf2-sha256$…`), verified for imported users.

use argon2::password_hash::phc::PasswordHash;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// `$pbkdf2-sha256$i=…[,l=…]$salt$hash`, judged as pbkdf2 0.12 did (the rules hashes were
/// imported under): no version, only `i` (default 600 000) and `l` (default 32, and equal to
/// the hash's length), any iteration count — pbkdf2 0.13's own verifier refuses fewer than
/// 1 000, which would lock out users imported before.
pub(super) fn matches(pw: &[u8], parsed: &PasswordHash) -> bool {
    let (Some(salt), Some(expected), None) = (&parsed.salt, &parsed.hash, &parsed.version) else {
        return false;
    };
    let (mut iterations, mut length) = (600_000, 32);
    for (name, value) in parsed.params.iter() {
        match (name.as_str(), value.decimal()) {
            ("i", Ok(i)) => iterations = i,
            ("l", Ok(l)) if l as usize == expected.len() => length = l as usize,
            _ => return false,
        }
    }
    let mut out = Zeroizing::new(vec![0u8; length]);
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(pw, salt.as_ref(), iterations, &mut out);
    bool::from(out.as_slice().ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::super::{Argon2Params, HashKind, Verified, hash_kind, verify_blocking};

    const FAST: Argon2Params = Argon2Params {
        m_kib: 256,
        t: 1,
        p: 1,
    };

    /// PHC PBKDF2 strings made elsewhere (Python's hashlib), below and above the 1 000
    /// iterations pbkdf2 0.13 insists on, with and without `l`: all verify as they always did.
    #[test]
    fn pbkdf2_phc_strings_made_elsewhere_verify() {
        let salt = "MDEyMzQ1Njc4OWFiY2RlZg";
        for hash in [
            format!("$pbkdf2-sha256$i=500,l=32${salt}$W3wbTzim8WY00e4uj+nHyJVsr5BKFiQftNdhYF1XuF0"),
            format!(
                "$pbkdf2-sha256$i=29000,l=32${salt}$8crKjBVdcE62mamLw8HYiBPCzzj34pdrjQGQzoj/PEc"
            ),
            format!("$pbkdf2-sha256$i=1200${salt}$8CicS5Vao6G/5K43ZPUCTTF+FfdtMGNju/37VfSYytw"),
        ] {
            assert_eq!(hash_kind(&hash), Some(HashKind::Pbkdf2Phc), "{hash}");
            assert_eq!(
                verify_blocking(FAST, "passlib user pw", &hash),
                Verified::YesRehash,
                "{hash}"
            );
            assert_eq!(
                verify_blocking(FAST, "passlib user pW", &hash),
                Verified::No
            );
        }
        let wrong_length =
            format!("$pbkdf2-sha256$i=500,l=31${salt}$W3wbTzim8WY00e4uj+nHyJVsr5BKFiQftNdhYF1XuF0");
        assert_eq!(
            verify_blocking(FAST, "passlib user pw", &wrong_length),
            Verified::No
        );
    }
}
