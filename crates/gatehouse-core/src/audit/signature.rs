//! The audit webhook's signature (SPEC §12): `X-Gatehouse-Signature: t=<unix>,v1=<hex>` where
//! the hex is HMAC-SHA256, under the configured secret, of `"<t>.<body>"`. A receiver recomputes
//! it over the raw body and compares in constant time, and refuses an old `t` to stop replays.

use crate::secret::hmac_sha256;

/// The header's name.
pub const SIGNATURE_HEADER: &str = "X-Gatehouse-Signature";

/// The header value for `body` sent at unix time `t`.
#[must_use]
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    let t = t.to_string();
    let mac = hmac_sha256(secret, &[t.as_bytes(), b".", body]);
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

/// True when `header` is a valid signature of `body` under `secret` (compared in constant
/// time) made within `max_age` seconds of `now` (either way), so a replayed batch is refused.
#[must_use]
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: i64, max_age: i64) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = Some(v),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    if now.abs_diff(t) > max_age.unsigned_abs() {
        return false;
    }
    let expected = sign(secret, t, body);
    crate::token::ct_eq(expected.as_bytes(), format!("t={t},v1={v1}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_bound_to_secret_time_and_body() {
        let h = sign(b"0123456789abcdef", 1_700_000_000, b"[{\"seq\":1}]");
        assert!(h.starts_with("t=1700000000,v1="), "{h}");
        assert_eq!(h.len(), "t=1700000000,v1=".len() + 64);
        let now = 1_700_000_010;
        let ok = |secret: &[u8], header: &str, body: &[u8]| verify(secret, header, body, now, 300);
        assert!(ok(b"0123456789abcdef", &h, b"[{\"seq\":1}]"));
        assert!(!ok(b"0123456789abcdeX", &h, b"[{\"seq\":1}]"));
        assert!(!ok(b"0123456789abcdef", &h, b"[{\"seq\":2}]"));
        let moved = h.replace("t=1700000000", "t=1700000001");
        assert!(!ok(b"0123456789abcdef", &moved, b"[{\"seq\":1}]"));
        assert!(!ok(b"0123456789abcdef", "v1=00", b"[]"));
        let late = 1_700_000_000 + 301;
        assert!(
            !verify(b"0123456789abcdef", &h, b"[{\"seq\":1}]", late, 300),
            "a replay"
        );
    }
}
