//! Checks in-process (SPEC §7 budget: at least 5,000 checks/s on one core, SQLite and
//! PostgreSQL): one `/check` through the grant service (the subject's standing and its grant in
//! one indexed read), alone, and 64 at once on a single-threaded runtime (one core driving
//! them, as a busy server would).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{BenchDb, signed_in};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::future::join_all;
use gatehouse_core::service::api_keys::NewKeyRequest;
use gatehouse_core::service::grants::GrantRequest;
use gatehouse_core::service::{ClientInfo, OrgAccess, Principal};
use gatehouse_server::app::Services;

const CONCURRENT: usize = 64;

/// An org with a key granted `view` on `page:1`: the owner's access and the key's subject.
async fn granted(services: &Services) -> (OrgAccess, String) {
    let token = signed_in(&services.auth, "grants@example.com").await;
    let session = services.auth.authenticate_session(&token).await.unwrap();
    let principal = Principal::Session(Box::new(session));
    let client = ClientInfo::default();
    let org = services
        .orgs
        .create(&principal, "Grants", &client)
        .await
        .unwrap();
    let access = services.orgs.access(&principal, org.id).await.unwrap();
    let manager = access.manager().unwrap();
    let request = NewKeyRequest {
        name: "bench".into(),
        scopes: vec!["tasks:read".into()],
        expires_at: None,
    };
    let (key, _) = services
        .keys
        .create(&manager, request, &client)
        .await
        .unwrap();
    let subject = format!("api_key:{}", key.id);
    let grant = GrantRequest {
        resource: "page:1".into(),
        subject: subject.clone(),
        capabilities: vec!["view".into()],
        expires_at: None,
    };
    services.grants.put(&access, &grant, &client).await.unwrap();
    (access, subject)
}

fn grants(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("grants");
    let sqlite = rt.block_on(BenchDb::sqlite());
    let postgres = rt.block_on(BenchDb::postgres());
    for (label, db) in [("sqlite", Some(&sqlite)), ("postgres", postgres.as_ref())] {
        let Some(db) = db else { continue };
        let services = rt.block_on(db.services(Some("m=1024,t=1,p=1")));
        let (access, subject) = rt.block_on(granted(&services));
        let check = || async {
            let v = services
                .grants
                .check(&access, &subject, "page:1", "view")
                .await
                .unwrap();
            assert!(v.allowed);
        };
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("check_{label}"), |b| {
            b.iter(|| rt.block_on(check()));
        });
        group.throughput(Throughput::Elements(CONCURRENT as u64));
        group.bench_function(format!("check_{label}_{CONCURRENT}_at_once"), |b| {
            b.iter(|| rt.block_on(join_all((0..CONCURRENT).map(|_| check()))));
        });
    }
    group.finish();
    if let Some(pg) = postgres {
        rt.block_on(pg.drop_now());
    }
}

criterion_group!(benches, grants);
criterion_main!(benches);
