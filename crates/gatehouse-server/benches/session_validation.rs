//! Session validation, cookie value to principal, in-process on SQLite and PostgreSQL: the work
//! every cookie-authenticated request does (shape check, SHA-256, one indexed join, expiry).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{BenchDb, signed_in};
use criterion::{Criterion, criterion_group, criterion_main};

fn session_validation(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("session_validation");
    let sqlite = rt.block_on(BenchDb::sqlite());
    let postgres = rt.block_on(BenchDb::postgres());
    for (label, db) in [("sqlite", Some(&sqlite)), ("postgres", postgres.as_ref())] {
        let Some(db) = db else { continue };
        let auth = rt.block_on(db.auth(Some("m=1024,t=1,p=1")));
        let token = rt.block_on(signed_in(&auth, "bench@example.com"));
        group.bench_function(label, |b| {
            b.to_async(&rt).iter(|| async {
                auth.authenticate_session(&token)
                    .await
                    .expect("valid session")
            })
        });
        group.bench_function(format!("{label}_unknown_token"), |b| {
            let unknown =
                gatehouse_core::token::random_token(&gatehouse_core::random::SystemRandom)
                    .expect("random");
            b.to_async(&rt)
                .iter(|| async { auth.authenticate_session(&unknown).await.is_err() })
        });
    }
    group.finish();
    if let Some(db) = postgres {
        rt.block_on(db.drop_now());
    }
}

criterion_group!(benches, session_validation);
criterion_main!(benches);
