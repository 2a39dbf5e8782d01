//! The sign-in lockout: the failure that reaches the limit locks the email for the window;
//! the lock ends exactly when the window does.

use gatehouse_core::Error;
use gatehouse_core::service::ClientInfo;

use crate::harness::Fresh;
use crate::world::{PASSWORD, World, secs};

async fn attempt(w: &World, password: &str) -> Result<(), Error> {
    w.s.auth
        .login("locked@example.com", password, ClientInfo::default(), None)
        .await
        .map(|_| ())
}

fn retry_after(r: Result<(), Error>) -> Option<u64> {
    match r {
        Err(Error::RateLimited { retry_after_secs }) => Some(retry_after_secs),
        _ => None,
    }
}

async fn lockout_window(f: Fresh) {
    let w = World::new(f, &[("LOCKOUT", "3/15m")]).await;
    w.user("locked@example.com").await;
    for i in 0..3 {
        let r = attempt(&w, "wrong password!").await;
        assert!(
            matches!(r, Err(Error::Unauthenticated(_))),
            "failure {i}: {r:?}"
        );
        w.advance(secs(10));
    }
    // Locked at 20 s for 15 minutes: even the right password is refused, with no hashing.
    assert_eq!(retry_after(attempt(&w, PASSWORD).await), Some(900 - 10));
    w.advance(secs(900 - 10 - 1));
    assert_eq!(retry_after(attempt(&w, PASSWORD).await), Some(1));
    w.advance(secs(1));
    assert!(attempt(&w, PASSWORD).await.is_ok(), "the window is over");
}

/// Failures spread wider than the window never lock.
async fn lockout_counts_within_the_window_only(f: Fresh) {
    let w = World::new(f, &[("LOCKOUT", "3/15m")]).await;
    w.user("locked@example.com").await;
    for i in 0..6 {
        let r = attempt(&w, "wrong password!").await;
        assert!(
            matches!(r, Err(Error::Unauthenticated(_))),
            "failure {i}: {r:?}"
        );
        w.advance(secs(451));
    }
    assert!(attempt(&w, PASSWORD).await.is_ok());
}

crate::conformance!(lockout_window, lockout_counts_within_the_window_only);
