//! Sign-in cost against the Argon2id hash alone, in one run, at production parameters
//! (m=19456,t=2,p=1): the ratio shows what sign-in adds on top of the deliberate hashing cost
//! (user lookup, session insert with a durable commit, token and CSRF derivation).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{BenchDb, PASSWORD, signed_in};
use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse_core::password::{
    Argon2Params, PasswordHasherPool, hash_blocking, normalize, verify_blocking,
};
use gatehouse_core::service::ClientInfo;

fn login(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("login");
    group.sample_size(30);
    let params = Argon2Params::default();
    let password = normalize(PASSWORD);
    group.bench_function("argon2id_hash_alone", |b| {
        b.iter(|| hash_blocking(params, &password, &[9; 16]).expect("hash"))
    });
    let stored = hash_blocking(params, &password, &[9; 16]).expect("hash");
    group.bench_function("argon2id_verify_inline", |b| {
        b.iter(|| verify_blocking(params, &password, &stored))
    });
    let pool = PasswordHasherPool::new(params, 2).expect("pool");
    group.bench_function("argon2id_verify_on_pool", |b| {
        b.to_async(&rt).iter(|| async {
            pool.verify("bench@example.com", PASSWORD, &stored)
                .await
                .expect("verify")
        })
    });
    let sqlite = rt.block_on(BenchDb::sqlite());
    let postgres = rt.block_on(BenchDb::postgres());
    for (label, db) in [("sqlite", Some(&sqlite)), ("postgres", postgres.as_ref())] {
        let Some(db) = db else { continue };
        let auth = rt.block_on(db.auth(None));
        rt.block_on(signed_in(&auth, "login@example.com"));
        group.bench_function(format!("login_{label}"), |b| {
            b.to_async(&rt).iter(|| async {
                auth.login("login@example.com", PASSWORD, ClientInfo::default(), None)
                    .await
                    .expect("login")
            })
        });
        group.bench_function(format!("login_unknown_email_{label}"), |b| {
            b.to_async(&rt).iter(|| async {
                auth.login("nobody@example.com", PASSWORD, ClientInfo::default(), None)
                    .await
                    .is_err()
            })
        });
    }
    group.finish();
    if let Some(db) = postgres {
        rt.block_on(db.drop_now());
    }
}

criterion_group!(benches, login);
criterion_main!(benches);
