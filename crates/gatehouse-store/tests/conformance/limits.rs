//! The database rate-limit backend (GCRA in one statement) and sign-in lockout state.

use gatehouse_core::rate_limit::{Limit, decide};
use gatehouse_core::store::Attempt;

use crate::conformance;
use crate::harness::Fresh;

conformance!(
    rate_limit_decides_like_the_algorithm,
    concurrent_decisions_never_exceed_the_limit,
    lockout_reserves_locks_and_clears,
    parallel_reservations_stop_at_the_limit,
    a_released_reservation_is_not_a_guess
);

async fn rate_limit_decides_like_the_algorithm(f: Fresh) {
    let limit = Limit {
        count: 3,
        period: std::time::Duration::from_secs(60),
    };
    let (t, p) = (limit.interval_us(), limit.period_us());
    let mut memory = None;
    for now in [0, 0, 0, 0, 19_999_000, 20_000_000, 20_000_000] {
        let (tat, admitted) = f.store.rate_limit("k", now, t, p).await.unwrap();
        let (next, expected) = decide(memory, now, limit);
        assert_eq!(admitted, expected.allowed, "at {now}");
        if expected.allowed {
            memory = Some(next);
            assert_eq!(tat, next);
        }
    }
    assert!(
        f.store.rate_limit("other", 0, t, p).await.unwrap().1,
        "keys are separate"
    );
    assert_eq!(f.store.sweep_rate_limits(10_000_000_000).await.unwrap(), 2);
    assert!(
        f.store
            .rate_limit("k", 10_000_000_000, t, p)
            .await
            .unwrap()
            .1
    );
}

async fn concurrent_decisions_never_exceed_the_limit(f: Fresh) {
    let (t, p) = (6_000_000, 60_000_000);
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let store = f.store.clone();
            tokio::spawn(
                async move { store.rate_limit("shared", 1_000_000, t, p).await.unwrap().1 },
            )
        })
        .collect();
    let mut admitted = 0;
    for task in tasks {
        admitted += usize::from(task.await.unwrap());
    }
    assert_eq!(admitted, 10);
}

async fn lockout_reserves_locks_and_clears(f: Fresh) {
    let (limit, window) = (2, 60_000);
    let key = "a@example.com";
    assert_eq!(
        f.store
            .reserve_attempt(key, 0, limit, window)
            .await
            .unwrap(),
        Attempt::Allowed
    );
    assert_eq!(
        f.store
            .record_failure(key, 1, limit, window, &[])
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        f.store
            .reserve_attempt(key, 2, limit, window)
            .await
            .unwrap(),
        Attempt::Allowed
    );
    assert_eq!(
        f.store
            .record_failure(key, 3, limit, window, &[])
            .await
            .unwrap(),
        Some(60_003),
        "the second failure locks"
    );
    assert_eq!(
        f.store
            .reserve_attempt(key, 4, limit, window)
            .await
            .unwrap(),
        Attempt::Locked { until_ms: 60_003 }
    );
    assert_eq!(
        f.store
            .reserve_attempt(key, 60_003, limit, window)
            .await
            .unwrap(),
        Attempt::Allowed,
        "the lock ends"
    );
    assert!(
        f.store.unlock(key).await.unwrap(),
        "a success forgets the attempts"
    );
    assert_eq!(
        f.store
            .reserve_attempt(key, 60_004, limit, window)
            .await
            .unwrap(),
        Attempt::Allowed
    );
    f.store
        .record_failure(key, 60_005, limit, window, &[])
        .await
        .unwrap();
    f.store
        .reserve_attempt(key, 60_006, limit, window)
        .await
        .unwrap();
    f.store
        .record_failure(key, 60_007, limit, window, &[])
        .await
        .unwrap();
    assert!(matches!(
        f.store
            .reserve_attempt(key, 60_008, limit, window)
            .await
            .unwrap(),
        Attempt::Locked { .. }
    ));
    assert!(f.store.unlock(key).await.unwrap());
    assert!(!f.store.unlock(key).await.unwrap());
    assert_eq!(
        f.store
            .reserve_attempt(key, 60_009, limit, window)
            .await
            .unwrap(),
        Attempt::Allowed
    );
    f.store
        .reserve_attempt("old@example.com", 0, limit, window)
        .await
        .unwrap();
    assert_eq!(
        f.store.sweep_attempts(200_000, window).await.unwrap(),
        2,
        "stale state goes"
    );
}

async fn parallel_reservations_stop_at_the_limit(f: Fresh) {
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let store = f.store.clone();
            tokio::spawn(async move {
                store
                    .reserve_attempt("p@example.com", 5, 5, 900_000)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut allowed = 0;
    for task in tasks {
        let answer = task.await.unwrap();
        allowed += usize::from(answer == Attempt::Allowed);
        assert!(
            matches!(answer, Attempt::Allowed | Attempt::Busy),
            "{answer:?}"
        );
    }
    assert_eq!(allowed, 5);
}

/// A check that ended without a verdict (the hasher was full) gives its place back; a lock is
/// never undone that way.
async fn a_released_reservation_is_not_a_guess(f: Fresh) {
    let (limit, window) = (2, 60_000);
    let key = "r@example.com";
    for now in 0..2 {
        assert_eq!(
            f.store
                .reserve_attempt(key, now, limit, window)
                .await
                .unwrap(),
            Attempt::Allowed
        );
    }
    assert_eq!(
        f.store
            .reserve_attempt(key, 2, limit, window)
            .await
            .unwrap(),
        Attempt::Busy
    );
    f.store.release_attempt(key).await.unwrap();
    assert_eq!(
        f.store
            .reserve_attempt(key, 3, limit, window)
            .await
            .unwrap(),
        Attempt::Allowed,
        "the released place is free again"
    );
    f.store.release_attempt("nobody@example.com").await.unwrap();
    assert_eq!(
        f.store
            .record_failure(key, 4, limit, window, &[])
            .await
            .unwrap(),
        Some(60_004)
    );
    f.store.release_attempt(key).await.unwrap();
    assert_eq!(
        f.store
            .reserve_attempt(key, 5, limit, window)
            .await
            .unwrap(),
        Attempt::Locked { until_ms: 60_004 },
        "a release does not lift a lock"
    );
}
