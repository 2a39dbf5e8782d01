//! Browser sessions: idle expiry, absolute expiry, and how often `last_seen_at` is written.

use gatehouse_core::Error;
use gatehouse_core::error::AuthFailure;
use gatehouse_core::secret::ExposeSecret;
use gatehouse_core::token;

use crate::harness::Fresh;
use crate::world::{World, secs};

fn refused(r: Result<impl std::fmt::Debug, Error>) -> bool {
    matches!(r, Err(Error::Unauthenticated(AuthFailure::Unauthenticated)))
}

/// Unused for a whole idle lifetime: refused; used within it: alive, each use restarting it.
async fn session_idle_expiry(f: Fresh) {
    let w = World::new(f, &[("SESSION_TTL", "7d"), ("SESSION_IDLE_TTL", "1h")]).await;
    let (idle, _) = w.admin("idle@example.com").await;
    let busy = w.login("idle@example.com").await;
    w.advance(secs(3599));
    assert!(
        w.s.auth
            .authenticate_session(busy.token.expose_secret())
            .await
            .is_ok()
    );
    w.advance(secs(1));
    assert!(
        refused(
            w.s.auth
                .authenticate_session(idle.token.expose_secret())
                .await
        ),
        "an hour without use"
    );
    // 7198 s in: the busy session was last used 3599 s ago.
    w.advance(secs(3598));
    assert!(
        w.s.auth
            .authenticate_session(busy.token.expose_secret())
            .await
            .is_ok(),
        "each use restarts the idle window"
    );
    w.advance(secs(3600));
    assert!(refused(
        w.s.auth
            .authenticate_session(busy.token.expose_secret())
            .await
    ));
    assert!(
        w.s.auth.sessions(busy.user.id).await.unwrap().is_empty(),
        "idle sessions are not listed"
    );
}

/// Used all the time, a session still ends at its absolute lifetime.
async fn session_absolute_expiry(f: Fresh) {
    let w = World::new(f, &[("SESSION_TTL", "2h"), ("SESSION_IDLE_TTL", "1h")]).await;
    let (login, _) = w.admin("abs@example.com").await;
    assert_eq!(login.session.expires_at, w.now() + secs(7200));
    for _ in 0..7 {
        w.advance(secs(1020));
        assert!(
            w.s.auth
                .authenticate_session(login.token.expose_secret())
                .await
                .is_ok()
        );
    }
    // 7140 s in, used 17 minutes ago.
    w.advance(secs(59));
    assert!(
        w.s.auth
            .authenticate_session(login.token.expose_secret())
            .await
            .is_ok()
    );
    w.advance(secs(1));
    assert!(
        refused(
            w.s.auth
                .authenticate_session(login.token.expose_secret())
                .await
        ),
        "absolute expiry wins over activity"
    );
}

async fn stored_last_seen(w: &World, session_token: &str) -> i64 {
    let (session, _) =
        w.f.store
            .session_by_digest(&token::digest(session_token))
            .await
            .unwrap()
            .unwrap();
    w.since_start(session.last_seen_at)
}

/// `last_seen_at` is written at most once a minute, or a quarter of the idle lifetime when that
/// is shorter.
async fn last_seen_write_interval(f: Fresh) {
    let w = World::new(f, &[("SESSION_IDLE_TTL", "1h")]).await;
    let (login, _) = w.admin("seen@example.com").await;
    assert_eq!(stored_last_seen(&w, login.token.expose_secret()).await, 0);
    w.advance(secs(59));
    w.s.auth
        .authenticate_session(login.token.expose_secret())
        .await
        .unwrap();
    assert_eq!(
        stored_last_seen(&w, login.token.expose_secret()).await,
        0,
        "59 s: no write"
    );
    w.advance(secs(1));
    let seen =
        w.s.auth
            .authenticate_session(login.token.expose_secret())
            .await
            .unwrap();
    assert_eq!(
        stored_last_seen(&w, login.token.expose_secret()).await,
        60,
        "60 s: written"
    );
    assert_eq!(seen.session.last_seen_at, w.now());
    w.advance(secs(30));
    w.s.auth
        .authenticate_session(login.token.expose_secret())
        .await
        .unwrap();
    assert_eq!(stored_last_seen(&w, login.token.expose_secret()).await, 60);

    // A 2-minute idle lifetime: written every 30 s.
    let w = World::new(
        crate::harness::Fresh::new(w.f.opened.backend)
            .await
            .unwrap(),
        &[("SESSION_IDLE_TTL", "2m")],
    )
    .await;
    let (login, _) = w.admin("short@example.com").await;
    w.advance(secs(29));
    w.s.auth
        .authenticate_session(login.token.expose_secret())
        .await
        .unwrap();
    assert_eq!(stored_last_seen(&w, login.token.expose_secret()).await, 0);
    w.advance(secs(1));
    w.s.auth
        .authenticate_session(login.token.expose_secret())
        .await
        .unwrap();
    assert_eq!(stored_last_seen(&w, login.token.expose_secret()).await, 30);
}

crate::conformance!(
    session_idle_expiry,
    session_absolute_expiry,
    last_seen_write_interval
);
