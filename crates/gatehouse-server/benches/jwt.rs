//! Access-token verification in-process: the offline check a resource server makes (EdDSA
//! signature, header and claims; goal 30,000 a second per core), the same through gatehouse's
//! cache of tokens already verified, and gatehouse's own full check (plus revocation state from
//! the database) on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{BenchDb, PASSWORD, signed_in};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gatehouse_core::secret::ExposeSecret;
use gatehouse_core::service::ClientInfo;

fn jwt(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut group = c.benchmark_group("jwt");
    group.throughput(Throughput::Elements(1));
    let sqlite = rt.block_on(BenchDb::sqlite());
    let postgres = rt.block_on(BenchDb::postgres());
    let mut offline_done = false;
    for (label, db) in [("sqlite", Some(&sqlite)), ("postgres", postgres.as_ref())] {
        let Some(db) = db else { continue };
        let services = rt.block_on(db.services(Some("m=1024,t=1,p=1")));
        rt.block_on(signed_in(&services.auth, "jwt@example.com"));
        let issued = rt
            .block_on(services.tokens.password_grant(
                "jwt@example.com",
                PASSWORD,
                None,
                None,
                &ClientInfo::default(),
            ))
            .unwrap();
        let token = issued.access_token.expose_secret().to_owned();
        if !offline_done {
            group.bench_function("verify_signature_and_claims", |b| {
                b.iter(|| services.tokens.verify_uncached(&token).unwrap())
            });
            group.bench_function("verify_offline_cached", |b| {
                b.iter(|| services.tokens.verify_offline(&token).unwrap())
            });
            offline_done = true;
        }
        group.bench_function(format!("authenticate_{label}"), |b| {
            b.to_async(&rt)
                .iter(|| async { services.tokens.authenticate(&token).await.unwrap() })
        });
    }
    group.finish();
    if let Some(db) = postgres {
        rt.block_on(db.drop_now());
    }
}

criterion_group!(benches, jwt);
criterion_main!(benches);
