//! A TOTP verification in-process, everything but the database: opening the user's sealed seed
//! and checking a code against the steps around now (goal: under 5 µs beyond the database
//! write that takes the step); and a recovery code's digest.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gatehouse_core::ids::UserId;
use gatehouse_core::random::SystemRandom;
use gatehouse_core::secret::{MasterSecret, hmac_sha256};
use gatehouse_core::service::auth::seed_aad;
use gatehouse_core::totp;
use gatehouse_core::vault::Keyring;
use time::OffsetDateTime;

fn totp_verification(c: &mut Criterion) {
    let mut group = c.benchmark_group("totp");
    group.throughput(Throughput::Elements(1));
    let keyring = Keyring::new(MasterSecret::new(vec![b'b'; 43]), vec![]);
    let user = UserId::new();
    let aad = seed_aad(user);
    let seed = [9u8; totp::SEED_BYTES];
    let sealed = keyring.seal(&SystemRandom, &aad, &seed).unwrap();
    let now = OffsetDateTime::now_utc();
    // The worst case: the code of the last step tried, so every step is computed and compared.
    let code = format!("{:06}", totp::code_at(&seed, totp::step_of(now) + 1));
    group.bench_function("check_code_only", |b| {
        b.iter(|| totp::matching_step(&seed, &code, now, -1).unwrap())
    });
    group.bench_function("open_seed_and_check_code", |b| {
        b.iter(|| {
            let opened = keyring
                .open(Some(keyring.current_id()), &aad, &sealed)
                .unwrap();
            totp::matching_step(&opened.plaintext, &code, now, -1).unwrap()
        })
    });
    group.bench_function("recovery_code_digest", |b| {
        b.iter(|| {
            let canonical = totp::normalize_recovery_code("7k2m-q9xd-4rta").unwrap();
            let key = hmac_sha256(&seed, &[b"gatehouse/recovery-codes/v1"]);
            hmac_sha256(&key, &[canonical.as_bytes()])
        })
    });
    group.finish();
}

criterion_group!(benches, totp_verification);
criterion_main!(benches);
