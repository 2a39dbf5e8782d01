//! Session liveness: idle and absolute expiry.

use super::*;

fn session(created: OffsetDateTime, last_seen: OffsetDateTime, ttl: Duration) -> Session {
    Session {
        id: SessionId::new(),
        user_id: UserId::new(),
        created_at: created,
        last_seen_at: last_seen,
        expires_at: created + ttl,
        revoked_at: None,
        ip: None,
        user_agent: None,
    }
}

#[test]
fn idle_and_absolute_expiry() {
    let t0 = OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let day = Duration::from_secs(86_400);
    let s = session(t0, t0, 7 * day);
    assert!(session_is_live(&s, t0 + Duration::from_secs(3600), day));
    assert!(
        !session_is_live(&s, t0 + day, day),
        "idle for a whole idle window"
    );
    let active = session(t0, t0 + 6 * day + Duration::from_secs(23 * 3600), 7 * day);
    assert!(active.last_seen_at < t0 + 7 * day);
    assert!(
        !session_is_live(&active, t0 + 7 * day, day),
        "absolute expiry wins over activity"
    );
    let mut revoked = session(t0, t0, 7 * day);
    revoked.revoked_at = Some(t0);
    assert!(!session_is_live(&revoked, t0, day));
}
