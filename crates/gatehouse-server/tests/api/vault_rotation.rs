//! Master-secret rotation (SPEC §10) with a restart at every step: the old secret kept as a
//! previous one, a server that refuses to start when its signing keys do not open,
//! `gatehouse secrets reencrypt`, and a `kill -9` in the middle of it followed by a run that
//! finishes.

use std::process::Stdio;
use std::time::{Duration, Instant};

use gatehouse_core::ids::OrgId;
use gatehouse_core::random::SystemRandom;
use gatehouse_core::secret::MasterSecret;
use gatehouse_core::service::secrets::secret_aad;
use gatehouse_core::vault;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both;
use crate::support::*;

const S1: &str = "first-master-secret-0123456789abcdefghijklmnopqrstuvwxyz";
const S2: &str = "second-master-secret-ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210";

both!(rotation_step_by_step, reencrypt_resumes_after_kill_9);

fn fingerprint(secret: &str) -> String {
    vault::fingerprint(&MasterSecret::new(secret.as_bytes().to_vec()))
}

async fn signed_in(server: &Server, email: &str) -> Client {
    let mut c = server.client();
    assert_eq!(c.login(email, PASSWORD).await.status, StatusCode::OK);
    c
}

/// Signs in with a second factor (`otp`: a TOTP or recovery code).
async fn signed_in_with(server: &Server, email: &str, otp: &str) -> Client {
    let mut c = server.client();
    let r = sign_in(&mut c, email, Some(otp)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    c
}

async fn sealed_by_counts(db: &TestDb) -> Vec<String> {
    db.query_strings(
        "SELECT sealed_by || ':' || CAST(COUNT(*) AS TEXT) FROM secrets GROUP BY sealed_by ORDER BY sealed_by",
    )
    .await
}

async fn rotation_step_by_step(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let only_s1 = [("GATEHOUSE_SECRET", S1)];
    let rotated = [("GATEHOUSE_SECRET", S2), ("GATEHOUSE_PREVIOUS_SECRETS", S1)];
    let only_s2 = [("GATEHOUSE_SECRET", S2)];

    // 1. Under the first secret.
    let (mut server, owner, email) = with_admin(&db, &only_s1).await;
    let org = first_org(&owner).await;
    let path = |name: &str| format!("/v1/orgs/{org}/secrets/{name}");
    owner
        .put(&path("one"), json!({ "value": "rotation-one" }))
        .await;
    owner
        .put(&path("two"), json!({ "value": "rotation-two" }))
        .await;
    for n in 1..=3 {
        owner
            .put(
                &path("multi"),
                json!({ "value": format!("rotation-multi-{n}") }),
            )
            .await;
    }
    let kid = server.client().get("/.well-known/jwks.json").await.body["keys"][0]["kid"].clone();
    // The owner's TOTP seed is sealed under the first secret too.
    let totp = enable_totp(&owner).await;
    assert_eq!(server.terminate().code(), Some(0));

    // 2. The new secret, the old one kept as previous: everything opens, new writes use the new.
    let mut server = Server::start(&db, &rotated);
    let owner = signed_in_with(&server, &email, &totp.recovery_codes[0]).await;
    for (name, value) in [
        ("one", "rotation-one"),
        ("two", "rotation-two"),
        ("multi", "rotation-multi-3"),
    ] {
        let r = owner.get(&path(name)).await;
        assert_eq!(
            (r.status, r.body["value"].as_str()),
            (StatusCode::OK, Some(value)),
            "{}",
            r.text
        );
    }
    let r = owner
        .put(&path("multi"), json!({ "value": "rotation-multi-4" }))
        .await;
    assert_eq!(r.body["version"], 4, "{}", r.text);
    let counts = sealed_by_counts(&db).await;
    let (f1, f2) = (fingerprint(S1), fingerprint(S2));
    assert!(
        counts.contains(&format!("{f1}:5")) && counts.contains(&format!("{f2}:1")),
        "{counts:?}"
    );
    assert_eq!(server.terminate().code(), Some(0));

    // 3. Dropping the old secret too early: the server refuses to start, in one line.
    let (code, _, err) = run_cli(&db, &only_s2, &["serve", "--listen", "127.0.0.1:0"], None);
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("GATEHOUSE_SECRET") && err.contains("signing keys"),
        "{err}"
    );

    // 4. Re-encrypt: five versions and the signing key; a second run has nothing to do.
    let (code, out, err) = run_cli(&db, &rotated, &["secrets", "reencrypt"], None);
    assert_eq!(code, 0, "{out}{err}");
    let counts: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        counts,
        json!({ "secrets": 5, "signing_keys": 1, "totp_seeds": 1, "unopenable": 0 }),
        "{err}"
    );
    assert!(err.contains("previous secrets can now be removed"), "{err}");
    assert_eq!(sealed_by_counts(&db).await, vec![format!("{f2}:6")]);
    let (code, out, _) = run_cli(&db, &rotated, &["secrets", "reencrypt"], None);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(out.trim()).unwrap(),
        json!({ "secrets": 0, "signing_keys": 0, "totp_seeds": 0, "unopenable": 0 })
    );

    // 5. The new secret alone: the server starts, every value opens, the signing key is the
    // same, and the re-sealed TOTP seed still signs in.
    let server = Server::start(&db, &only_s2);
    let owner = signed_in_with(&server, &email, &totp_at(&totp.secret, 1)).await;
    for n in 1..=4 {
        let r = owner.get(&format!("{}?version={n}", path("multi"))).await;
        assert_eq!(r.body["value"], format!("rotation-multi-{n}"), "{}", r.text);
    }
    assert_eq!(owner.get(&path("one")).await.body["value"], "rotation-one");
    assert_eq!(
        server.client().get("/.well-known/jwks.json").await.body["keys"][0]["kid"],
        kid
    );
    let r = owner.get("/v1/system/audit?limit=1000").await;
    let reencrypted = r.body["events"].as_array().map(|events| {
        events
            .iter()
            .filter(|e| e["action"] == "secret.reencrypted" && e["actor"]["type"] == "system")
            .count()
    });
    assert_eq!(reencrypted, Some(2), "{}", r.text);

    // 6. No master secret and no value in the logs or the database.
    let dump = db.everything().await;
    let logs = server.logs();
    for needle in [S1, S2, "rotation-one", "rotation-multi-4"] {
        assert!(!dump.contains(needle), "{needle} in the database");
        assert!(!logs.contains(needle), "{needle} in the logs");
    }
}

async fn reencrypt_resumes_after_kill_9(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    const VALUES: usize = 3000;
    let (mut server, owner, email) = with_admin(&db, &[("GATEHOUSE_SECRET", S1)]).await;
    let org = first_org(&owner).await;
    assert_eq!(server.terminate().code(), Some(0));
    // Many values sealed under the first secret, written straight into the database (as the
    // server would have sealed them) so the run takes long enough to be stopped in the middle.
    let org_id: OrgId = org.parse().unwrap();
    let master = MasterSecret::new(S1.as_bytes().to_vec());
    let f1 = fingerprint(S1);
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    for chunk in (0..VALUES).collect::<Vec<_>>().chunks(500) {
        let rows: Vec<String> = chunk
            .iter()
            .map(|i| {
                let name = format!("bulk-{i:05}");
                let value = format!("bulk-value-{i:05}");
                let sealed = vault::seal(
                    &master,
                    &SystemRandom,
                    &secret_aad(org_id, &name, 1),
                    value.as_bytes(),
                )
                .unwrap();
                let blob = match db.kind {
                    Db::Sqlite => format!("X'{}'", hex(&sealed)),
                    Db::Postgres => format!("decode('{}', 'hex')", hex(&sealed)),
                };
                format!("('{org}', '{name}', 1, {blob}, '{f1}', 0, 0, 'system', NULL)")
            })
            .collect();
        db.query_strings(&format!(
            "INSERT INTO secrets (org_id, name, version, sealed, sealed_by, secret_created_at, \
             created_at, created_by_type, created_by_id) VALUES {}",
            rows.join(", ")
        ))
        .await;
    }
    let rotated = [("GATEHOUSE_SECRET", S2), ("GATEHOUSE_PREVIOUS_SECRETS", S1)];
    let f2 = fingerprint(S2);
    let done_count = || async {
        let n = db
            .query_strings(&format!(
                "SELECT CAST(COUNT(*) AS TEXT) FROM secrets WHERE sealed_by = '{f2}'"
            ))
            .await;
        n[0].parse::<usize>().unwrap()
    };

    // One version per transaction; killed as soon as some are done.
    let mut child = command(&db.url, &rotated)
        .args(["secrets", "reencrypt", "--batch", "1"])
        .current_dir(db.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while done_count().await == 0 {
        assert!(Instant::now() < deadline, "no progress within a minute");
        assert!(child.try_wait().unwrap().is_none(), "reencrypt ended early");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done = done_count().await;
    assert!(
        done > 0 && done < VALUES,
        "stopped in the middle: {done} of {VALUES}"
    );

    // A second run finishes exactly what is left.
    let (code, out, err) = run_cli(&db, &rotated, &["secrets", "reencrypt"], None);
    assert_eq!(code, 0, "{out}{err}");
    let counts: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(counts["secrets"], (VALUES - done) as u64, "{out}");
    assert_eq!(counts["unopenable"], 0);
    assert_eq!(done_count().await, VALUES);

    // Everything opens under the new secret alone.
    let server = Server::start(&db, &[("GATEHOUSE_SECRET", S2)]);
    let owner = signed_in(&server, &email).await;
    for i in [0, done.saturating_sub(1), done, VALUES - 1] {
        let r = owner
            .get(&format!("/v1/orgs/{org}/secrets/bulk-{i:05}"))
            .await;
        assert_eq!(r.body["value"], format!("bulk-value-{i:05}"), "{}", r.text);
    }
}
