//! The vault in-process: sealing and opening a 1 KiB value (goal: under 5 µs each), a write and
//! a read through the secret service (store, audit) on SQLite and PostgreSQL, and
//! `secrets reencrypt` throughput over 10,000 values on SQLite (goal: 10,000 values/s).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{BenchDb, signed_in};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gatehouse_core::ambient::Ambient;
use gatehouse_core::random::SystemRandom;
use gatehouse_core::secret::{MasterSecret, SecretString};
use gatehouse_core::service::reencrypt::{Quiet, reencrypt};
use gatehouse_core::service::{ClientInfo, Principal};
use gatehouse_core::vault::Keyring;

const REENCRYPT_VALUES: usize = 10_000;

fn secret(text: &str) -> MasterSecret {
    MasterSecret::new(text.as_bytes().to_vec())
}

fn vault(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut group = c.benchmark_group("vault");
    group.throughput(Throughput::Elements(1));

    let keyring = Keyring::new(secret(&"b".repeat(43)), vec![]);
    let value = vec![7u8; 1024];
    let aad = b"gatehouse/secret/v1\0org\0name\x001";
    group.bench_function("seal_1kib", |b| {
        b.iter(|| keyring.seal(&SystemRandom, aad, &value).unwrap())
    });
    let sealed = keyring.seal(&SystemRandom, aad, &value).unwrap();
    group.bench_function("open_1kib", |b| {
        b.iter(|| {
            keyring
                .open(Some(keyring.current_id()), aad, &sealed)
                .unwrap()
        })
    });

    let sqlite = rt.block_on(BenchDb::sqlite());
    let postgres = rt.block_on(BenchDb::postgres());
    for (label, db) in [("sqlite", Some(&sqlite)), ("postgres", postgres.as_ref())] {
        let Some(db) = db else { continue };
        let services = rt.block_on(db.services(Some("m=1024,t=1,p=1")));
        let token = rt.block_on(signed_in(&services.auth, "vault@example.com"));
        let session = rt
            .block_on(services.auth.authenticate_session(&token))
            .unwrap();
        let principal = Principal::Session(Box::new(session));
        let client = ClientInfo::default();
        let org = rt
            .block_on(services.orgs.create(&principal, "Vault", &client))
            .unwrap();
        let access = rt
            .block_on(services.orgs.access(&principal, org.id))
            .unwrap();
        let writer = services.secrets.writer(&access).unwrap();
        let reader = services.secrets.reader(&access).unwrap();
        let value = SecretString::from("v".repeat(1024));
        group.bench_function(format!("put_1kib_{label}"), |b| {
            b.iter(|| {
                rt.block_on(services.secrets.put(&writer, "bench", &value, &client))
                    .unwrap()
            })
        });
        group.bench_function(format!("read_1kib_{label}"), |b| {
            b.iter(|| {
                rt.block_on(services.secrets.read(&reader, "bench", None, &client))
                    .unwrap()
            })
        });
        if label == "sqlite" {
            for i in 0..REENCRYPT_VALUES {
                rt.block_on(services.secrets.put(
                    &writer,
                    &format!("bulk-{i:05}"),
                    &value,
                    &client,
                ))
                .unwrap();
            }
        }
    }
    group.finish();

    // Each run re-seals every value under the other secret (b→c, then c→b, …).
    let mut group = c.benchmark_group("vault_reencrypt");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(REENCRYPT_VALUES as u64));
    let opened = rt.block_on(sqlite.opened());
    let (b, c2) = ("b".repeat(43), "c".repeat(43));
    let ambient = Ambient::system();
    let mut to_c = true;
    group.bench_function("reencrypt_10k_sqlite", |bench| {
        bench.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let ring = if to_c {
                    Keyring::new(secret(&c2), vec![secret(&b)])
                } else {
                    Keyring::new(secret(&b), vec![secret(&c2)])
                };
                to_c = !to_c;
                let start = Instant::now();
                let counts = rt
                    .block_on(reencrypt(
                        opened.store.as_ref(),
                        &ring,
                        &ambient,
                        500,
                        &Quiet,
                    ))
                    .unwrap();
                spent += start.elapsed();
                assert!(counts.secrets >= REENCRYPT_VALUES as u64, "{counts:?}");
            }
            spent
        })
    });
    group.finish();
    if let Some(pg) = postgres {
        rt.block_on(pg.drop_now());
    }
}

criterion_group!(benches, vault);
criterion_main!(benches);
