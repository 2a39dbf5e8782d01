//! Time-based one-time passwords (RFC 6238 over RFC 4226): HMAC-SHA1, six digits, 30-second
//! steps, the steps around now accepted; and recovery codes, `xxxx-xxxx-xxxx` in Crockford
//! base32. Which step was used last is the store's to keep (a code is accepted once).

use data_encoding::{BASE32_NOPAD, Encoding};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

/// Seconds per step.
pub const STEP_SECS: i64 = 30;
/// Bytes of a new seed (160 bits, RFC 4226's recommendation).
pub const SEED_BYTES: usize = 20;
/// Steps either side of now that are accepted (clock drift of the authenticator).
pub const DRIFT_STEPS: i64 = 1;
/// Recovery codes in a set.
pub const RECOVERY_CODES: usize = 10;

/// The step `at` falls in.
#[must_use]
pub fn step_of(at: OffsetDateTime) -> i64 {
    at.unix_timestamp().div_euclid(STEP_SECS)
}

/// The six-digit code of `seed` for `step` (RFC 4226 dynamic truncation).
#[must_use]
pub fn code_at(seed: &[u8], step: i64) -> u32 {
    // HMAC takes keys of any length, so this cannot fail.
    #[allow(clippy::expect_used)]
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(seed).expect("any key length");
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let word = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    word % 1_000_000
}

/// The step whose code `code` is, among now ± [`DRIFT_STEPS`] and later than `after` (the last
/// step used), the latest such step when several match. `None`: wrong, reused or malformed.
#[must_use]
pub fn matching_step(seed: &[u8], code: &str, now: OffsetDateTime, after: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let presented = code.as_bytes();
    let current = step_of(now);
    let mut found = None;
    for step in (current - DRIFT_STEPS)..=(current + DRIFT_STEPS) {
        let expected = format!("{:06}", code_at(seed, step));
        // Every step is compared, whatever matched before: the time does not tell which.
        if bool::from(expected.as_bytes().ct_eq(presented)) && step > after {
            found = Some(step);
        }
    }
    found
}

/// A seed as authenticator apps take it: RFC 4648 base32 without padding.
#[must_use]
pub fn seed_text(seed: &[u8]) -> String {
    BASE32_NOPAD.encode(seed)
}

/// The seed [`seed_text`] wrote, read back (`None`: not base32).
#[must_use]
pub fn seed_from_text(text: &str) -> Option<Vec<u8>> {
    BASE32_NOPAD.decode(text.as_bytes()).ok()
}

/// The `otpauth://` URI of a seed (what the QR code carries).
#[must_use]
pub fn otpauth_uri(issuer: &str, account: &str, seed: &[u8]) -> String {
    let label = format!("{issuer}:{account}");
    format!(
        "otpauth://totp/{}?secret={}&issuer={}&algorithm=SHA1&digits=6&period={STEP_SECS}",
        percent(&label),
        seed_text(seed),
        percent(issuer)
    )
}

fn percent(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Crockford's base32 alphabet (no I, L, O, U).
const CROCKFORD: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

fn crockford() -> Encoding {
    let mut spec = data_encoding::Specification::new();
    spec.symbols.push_str(CROCKFORD);
    // A spec made of 32 distinct ASCII symbols is always valid.
    #[allow(clippy::expect_used)]
    spec.encoding().expect("a valid base32 alphabet")
}

/// A recovery code from 60 random bits: `xxxx-xxxx-xxxx`.
#[must_use]
pub fn recovery_code(random60: u64) -> String {
    let bytes = (random60 << 4).to_be_bytes();
    let text = crockford().encode(&bytes);
    let text = &text[..12];
    format!("{}-{}-{}", &text[..4], &text[4..8], &text[8..12])
}

/// The canonical form of a presented recovery code (upper case, no dashes or spaces, Crockford's
/// look-alikes read as digits), or `None` when it cannot be one.
#[must_use]
pub fn normalize_recovery_code(presented: &str) -> Option<String> {
    let mut out = String::with_capacity(12);
    for c in presented.chars() {
        match c.to_ascii_uppercase() {
            '-' | ' ' => {}
            'O' => out.push('0'),
            'I' | 'L' => out.push('1'),
            c if CROCKFORD.contains(c) => out.push(c),
            _ => return None,
        }
    }
    (out.len() == 12).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B: the SHA-1 seed is the ASCII string "12345678901234567890"; the
    /// appendix lists eight digits, whose last six are these codes.
    #[test]
    fn rfc6238_appendix_b_vectors() {
        let seed = b"12345678901234567890";
        for (unix, eight) in [
            (59_i64, 94_287_082_u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            let at = OffsetDateTime::from_unix_timestamp(unix).unwrap();
            assert_eq!(code_at(seed, step_of(at)), eight % 1_000_000, "T={unix}");
        }
    }

    #[test]
    fn steps_around_now_pass_once_and_in_order() {
        let seed = b"12345678901234567890";
        let now = OffsetDateTime::from_unix_timestamp(1_111_111_111).unwrap();
        let step = step_of(now);
        let code = |s: i64| format!("{:06}", code_at(seed, s));
        for s in [step - 1, step, step + 1] {
            assert_eq!(matching_step(seed, &code(s), now, -1), Some(s));
        }
        assert_eq!(matching_step(seed, &code(step - 2), now, -1), None);
        assert_eq!(matching_step(seed, &code(step + 2), now, -1), None);
        // Used already (or an earlier step than the last used): refused.
        assert_eq!(matching_step(seed, &code(step), now, step), None);
        assert_eq!(matching_step(seed, &code(step - 1), now, step), None);
        assert_eq!(
            matching_step(seed, &code(step + 1), now, step),
            Some(step + 1)
        );
        assert_eq!(matching_step(seed, "12345", now, -1), None);
        assert_eq!(matching_step(seed, "abcdef", now, -1), None);
    }

    #[test]
    fn a_step_boundary_is_exact() {
        let seed = b"12345678901234567890";
        let last = OffsetDateTime::from_unix_timestamp(59).unwrap();
        let next = OffsetDateTime::from_unix_timestamp(60).unwrap();
        assert_eq!(step_of(last) + 1, step_of(next));
        let two_back = format!("{:06}", code_at(seed, step_of(last) - 1));
        assert!(matching_step(seed, &two_back, last, -1).is_some());
        assert!(matching_step(seed, &two_back, next, -1).is_none());
    }

    #[test]
    fn recovery_codes_read_back_however_typed() {
        let code = recovery_code(0x0FFF_FFFF_FFFF_FFFF);
        assert_eq!(code, "ZZZZ-ZZZZ-ZZZZ");
        let code = recovery_code(0x0123_4567_89AB_CDEF);
        assert_eq!(code.len(), 14);
        let canonical = code.replace('-', "");
        assert_eq!(normalize_recovery_code(&code).unwrap(), canonical);
        assert_eq!(
            normalize_recovery_code(&code.to_lowercase().replace('-', "")).unwrap(),
            canonical
        );
        assert_eq!(normalize_recovery_code("0000-0000-000"), None);
        assert_eq!(normalize_recovery_code("0000-0000-000U"), None);
        assert_eq!(
            normalize_recovery_code("oooo-iiii-llll").unwrap(),
            "000011111111"
        );
    }

    #[test]
    fn seeds_are_base32_for_the_apps() {
        let uri = otpauth_uri("gatehouse", "ann@example.com", b"12345678901234567890");
        assert!(uri.starts_with("otpauth://totp/gatehouse%3Aann@example.com?secret="));
        assert!(uri.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=gatehouse"));
    }
}
