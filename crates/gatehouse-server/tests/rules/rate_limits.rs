//! Rate-limit windows (GCRA), on both backends the server can use: a burst of `count`, then
//! one request every `period / count`; the whole burst is back a period after the last one.

use gatehouse_core::rate_limit::Limit;

use crate::harness::Fresh;
use crate::world::{World, secs};

async fn gcra_window(backend: &str, f: Fresh) {
    let w = World::new(f, &[("RATE_LIMIT_BACKEND", backend)]).await;
    let limit = Limit {
        count: 10,
        period: secs(60),
    };
    let check = || async { w.s.limiter.check("ip:192.0.2.1", limit).await.unwrap() };
    for i in 0..10 {
        let d = check().await;
        assert!(d.allowed, "burst {i}");
        assert_eq!(d.remaining, 9 - i);
    }
    let refused = check().await;
    assert!(!refused.allowed);
    assert_eq!(refused.retry_after_secs, 6, "one every 6 s");
    assert!(
        w.s.limiter
            .check("ip:192.0.2.2", limit)
            .await
            .unwrap()
            .allowed,
        "each key counts alone"
    );
    w.advance(secs(5));
    assert!(!check().await.allowed, "5 s later: not yet");
    w.advance(secs(1));
    assert!(check().await.allowed, "6 s later: one more");
    assert!(!check().await.allowed);
    w.advance(secs(60));
    for i in 0..10 {
        assert!(check().await.allowed, "a period later, burst {i}");
    }
    assert!(!check().await.allowed);
}

async fn rate_limit_window_memory(f: Fresh) {
    gcra_window("memory", f).await
}

async fn rate_limit_window_database(f: Fresh) {
    gcra_window("database", f).await
}

crate::conformance!(rate_limit_window_memory, rate_limit_window_database);
