//! The CLI: `admin create`, `users import`, `secret generate`, `migrate`, and the audit events
//! of its mutations (actor `system`).

use argon2::password_hash::PasswordHasher;
use base64::Engine;
use reqwest::StatusCode;

use crate::both;
use crate::support::*;

both!(
    admin_create_makes_an_owner,
    users_import_and_upgrade,
    users_import_is_all_or_nothing,
    users_import_refuses_extreme_hash_costs,
    secret_generate_and_migrate,
    cli_mutations_are_audited_as_system
);

async fn admin_create_makes_an_owner(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let args = [
        "admin",
        "create",
        "--email",
        "ops@example.com",
        "--org",
        "Ops Team",
        "--password-stdin",
    ];
    let (code, out, err) = run_cli(&db, &[], &args, Some(&format!("{PASSWORD}\n")));
    assert_eq!(code, 0, "{err}");
    let printed: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(
        printed["user_id"].is_string() && printed["org_id"].is_string(),
        "{out}"
    );

    let server = Server::start(&db, &[]);
    assert_eq!(server.setup_token(), None, "an admin exists: setup is over");
    let mut c = server.client();
    assert_eq!(
        c.login("ops@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
    let me = c.get("/v1/auth/me").await;
    assert_eq!(me.body["user"]["id"], printed["user_id"]);
    assert_eq!(me.body["orgs"][0]["id"], printed["org_id"]);
    assert_eq!(me.body["orgs"][0]["role"], "owner");
    assert_eq!(me.body["user"]["platform_admin"], true);
    assert!(!server.logs().contains(PASSWORD));

    let (code, _, err) = run_cli(&db, &[], &args, Some(PASSWORD));
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");
    let weak = [
        "admin",
        "create",
        "--email",
        "x@example.com",
        "--org",
        "X",
        "--password-stdin",
    ];
    let (code, _, err) = run_cli(&db, &[], &weak, Some("short\n"));
    assert_eq!(code, 1);
    assert!(err.contains("password: too_short"), "{err}");
}

fn legacy_hashes() -> Vec<(&'static str, String)> {
    let bcrypt_b = bcrypt::hash("bcrypt user passphrase", 4).unwrap();
    let bcrypt_y = bcrypt_b.replacen("$2b$", "$2y$", 1);
    let mut dk = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
        b"django user passphrase",
        b"SaltySalt123",
        10_000,
        &mut dk,
    );
    let django = format!(
        "pbkdf2_sha256$10000$SaltySalt123${}",
        base64::engine::general_purpose::STANDARD.encode(dk)
    );
    // The salt `c2FsdHNhbHRzYWx0c2FsdA` (base64 of these bytes) the strings have always had.
    let salt = b"saltsaltsaltsalt";
    let phc = pbkdf2::Pbkdf2::SHA256
        .hash_password_with_salt(b"phc user passphrase", salt)
        .unwrap()
        .to_string();
    let params = argon2::Params::new(2048, 1, 1, None).unwrap();
    let a2 = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password_with_salt(b"argon user passphrase", salt)
        .unwrap()
        .to_string();
    vec![
        ("bcrypt user passphrase", bcrypt_b),
        ("bcrypt user passphrase", bcrypt_y),
        ("django user passphrase", django),
        ("phc user passphrase", phc),
        ("argon user passphrase", a2),
    ]
}

async fn users_import_and_upgrade(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let hashes = legacy_hashes();
    let lines: Vec<String> = hashes
        .iter()
        .enumerate()
        .map(|(i, (_, h))| serde_json::json!({ "email": format!("user{i}@example.com"), "password_hash": h, "name": "Imported" }).to_string())
        .collect();
    let file = db.dir.path().join("users.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let (code, out, err) = run_cli(&db, &[], &["users", "import", file.to_str().unwrap()], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("imported 5 users"), "{out}");

    let server = Server::start(&db, &[]);
    for (i, (password, _)) in hashes.iter().enumerate() {
        let email = format!("user{i}@example.com");
        let mut c = server.client();
        assert_eq!(
            c.login(&email, "wrong passphrase").await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            c.login(&email, password).await.status,
            StatusCode::OK,
            "{email}"
        );
        let stored = db
            .query_strings(&format!(
                "SELECT password_hash FROM users WHERE email_key = '{email}'"
            ))
            .await;
        assert!(
            stored[0].starts_with("$argon2id$v=19$m=1024,t=1,p=1$"),
            "upgraded at sign-in: {}",
            stored[0]
        );
        let mut again = server.client();
        assert_eq!(
            again.login(&email, password).await.status,
            StatusCode::OK,
            "{email} after upgrade"
        );
    }
}

async fn users_import_is_all_or_nothing(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let good = legacy_hashes().remove(0).1;
    let text = [
        serde_json::json!({ "email": "fine@example.com", "password_hash": good }).to_string(),
        "{\"email\": \"broken@example.com\"".to_owned(),
        serde_json::json!({ "email": "plain@example.com", "password_hash": "hunter2-in-clear" })
            .to_string(),
    ]
    .join("\n");
    let file = db.dir.path().join("bad.jsonl");
    std::fs::write(&file, text).unwrap();
    let (code, _, err) = run_cli(&db, &[], &["users", "import", file.to_str().unwrap()], None);
    assert_eq!(code, 1);
    assert!(err.contains("line 2:") && err.contains("line 3:"), "{err}");
    assert!(!err.contains("line 1:"));
    assert!(
        !err.contains("hunter2-in-clear"),
        "a bad hash is never echoed: {err}"
    );
    assert!(err.contains("nothing imported"), "{err}");
    let n = db
        .query_strings("SELECT CAST(COUNT(*) AS TEXT) FROM users")
        .await;
    assert_eq!(n, vec!["0".to_owned()]);
}

/// Hashes whose parameters would make one sign-in take minutes or gigabytes are refused at
/// import, by line, and nothing of the file is imported.
async fn users_import_refuses_extreme_hash_costs(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let good = legacy_hashes().remove(0).1;
    let tail = &good[7..];
    let b64 = |n: usize| base64::engine::general_purpose::STANDARD.encode(vec![7u8; n]);
    let hashes = [
        good.clone(),
        format!("$2b$17${tail}"),
        "$argon2id$v=19$m=2097152,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA".to_owned(),
        "$argon2id$v=19$m=19456,t=11,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA".to_owned(),
        format!("pbkdf2_sha256$20000000$salt${}", b64(32)),
        format!(
            "$pbkdf2-sha256$i=10000001,l=32$c2FsdHNhbHQ${}",
            b64(32).trim_end_matches('=')
        ),
        format!("$2b$16${tail}"),
        format!("pbkdf2_sha256$10000000$salt${}", b64(32)),
    ];
    let lines: Vec<String> = hashes
        .iter()
        .enumerate()
        .map(|(i, h)| {
            serde_json::json!({ "email": format!("u{i}@example.com"), "password_hash": h })
                .to_string()
        })
        .collect();
    let file = db.dir.path().join("costly.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let (code, _, err) = run_cli(&db, &[], &["users", "import", file.to_str().unwrap()], None);
    assert_eq!(code, 1, "{err}");
    for (line, what) in [
        (2, "bcrypt cost over 16"),
        (3, "Argon2 memory"),
        (4, "Argon2 time"),
        (5, "PBKDF2 iterations over 10000000"),
        (6, "PBKDF2 iterations over 10000000"),
    ] {
        let reported = err
            .lines()
            .find(|l| l.contains(&format!("line {line}:")))
            .unwrap_or_else(|| panic!("line {line} not reported: {err}"));
        assert!(reported.contains(what), "{reported}");
    }
    for fine in [1, 7, 8] {
        assert!(!err.contains(&format!("line {fine}:")), "{err}");
    }
    assert!(err.contains("nothing imported"), "{err}");
    assert!(!err.contains(tail), "a hash is never echoed: {err}");
    let n = db
        .query_strings("SELECT CAST(COUNT(*) AS TEXT) FROM users")
        .await;
    assert_eq!(n, vec!["0".to_owned()]);
}

async fn secret_generate_and_migrate(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (code, out, _) = run_cli(&db, &[], &["secret", "generate"], None);
    assert_eq!(code, 0);
    let secret = out.trim();
    assert!(secret.len() >= 43, "at least 256 bits: {secret}");
    let (_, out2, _) = run_cli(&db, &[], &["secret", "generate"], None);
    assert_ne!(secret, out2.trim());
    let (code, out, err) = run_cli(&db, &[], &["migrate"], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("migrations applied"));
    let (code, _, _) = run_cli(&db, &[], &["migrate"], None);
    assert_eq!(code, 0, "migrate is idempotent");
    if db.kind == Db::Sqlite {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(db.dir.path().join("gatehouse.db"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the database file is private to its owner"
        );
    }
}

async fn cli_mutations_are_audited_as_system(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let env = [
        ("GATEHOUSE_PUBLIC_URL", "http://gatehouse.test"),
        ("GATEHOUSE_LOCKOUT", "2/15m"),
    ];
    let create = [
        "admin",
        "create",
        "--email",
        "ops@example.com",
        "--org",
        "Ops",
        "--password-stdin",
    ];
    let (code, _, err) = run_cli(&db, &env, &create, Some(&format!("{PASSWORD}\n")));
    assert_eq!(code, 0, "{err}");
    let good = legacy_hashes().remove(0).1;
    let file = db.dir.path().join("one.jsonl");
    let line = serde_json::json!({ "email": "imported@example.com", "password_hash": good });
    std::fs::write(&file, format!("{line}\n")).unwrap();
    let (code, _, err) = run_cli(
        &db,
        &env,
        &["users", "import", file.to_str().unwrap()],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run_cli(&db, &env, &["keys", "rotate-signing"], None);
    assert_eq!(code, 0, "{err}");
    {
        let server = Server::start(&db, &env);
        for _ in 0..3 {
            let mut c = server.client();
            c.login("locked@example.com", "wrong passphrase").await;
        }
    }
    let (code, out, err) = run_cli(&db, &env, &["users", "unlock", "Locked@example.com"], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("unlocked"), "{out}");

    let (code, exported, err) = run_cli(&db, &env, &["audit", "export", "--org", "system"], None);
    assert_eq!(code, 0, "{err}");
    let events: Vec<serde_json::Value> = exported
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for action in [
        "user.created",
        "users.imported",
        "signing_key.rotated",
        "auth.unlocked",
    ] {
        let e = events
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("{action} missing"));
        assert_eq!(e["actor"]["type"], "system", "{e}");
    }
    let unlocked = events
        .iter()
        .find(|e| e["action"] == "auth.unlocked")
        .unwrap();
    assert_eq!(unlocked["details"]["email"], "locked@example.com");
}
