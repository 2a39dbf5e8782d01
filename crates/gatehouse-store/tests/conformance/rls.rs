//! PostgreSQL row-level security, proven with queries that forget their org filter. These run
//! on PostgreSQL only: SQLite has no RLS, and its isolation is the filters the other tests check.

use gatehouse_core::role::Role;
use gatehouse_store::postgres::PgStore;
use sqlx::Row;

use crate::harness::{Fresh, at};
use crate::orgs::{org_with, user};

async fn fresh_pg() -> Option<Fresh> {
    Fresh::new(gatehouse_store::Backend::Postgres).await
}

/// Runs `sql` as the server's role, in a transaction with `settings` applied, returning the
/// first column of every row.
async fn as_app(url: &str, settings: &[(&str, &str)], sql: &str) -> Vec<String> {
    let (store, _) = PgStore::open(url).await.unwrap();
    let mut tx = store.pool().begin().await.unwrap();
    for (k, v) in settings {
        sqlx::query("SELECT set_config($1, $2, true)")
            .bind(k)
            .bind(v)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get::<String, _>(0).unwrap())
        .collect()
}

#[tokio::test]
async fn a_query_without_its_org_filter_sees_only_its_org() {
    let Some(f) = fresh_pg().await else { return };
    let ann = user(&f, "ann@example.com").await;
    let bob = user(&f, "bob@example.com").await;
    let a = org_with(&f, "A", ann, &[]).await;
    let b = org_with(&f, "B", bob, &[(ann, Role::Member)]).await;
    for (org, name) in [(a, "key-a"), (b, "key-b")] {
        f.store
            .create_api_key(&crate::api_keys::key(org, name), &[])
            .await
            .unwrap();
    }
    let a_text = a.to_string();
    let only_a = [("gatehouse.org_id", a_text.as_str())];
    for table in ["api_keys", "org_members"] {
        let seen = as_app(&f.url, &only_a, &format!("SELECT org_id FROM {table}")).await;
        assert!(
            !seen.is_empty() && seen.iter().all(|o| *o == a_text),
            "{table}: {seen:?}"
        );
        let none = as_app(&f.url, &[], &format!("SELECT org_id FROM {table}")).await;
        assert!(none.is_empty(), "{table} without a setting: {none:?}");
    }
    // Writes are held to the org too: an UPDATE without a filter touches only org A.
    let renamed = as_app(
        &f.url,
        &only_a,
        "UPDATE api_keys SET name = 'x' RETURNING org_id",
    )
    .await;
    assert_eq!(renamed, vec![a_text.clone()]);
    let b_keys = f.store.api_keys(b).await.unwrap();
    assert_eq!(b_keys[0].name, "key-b", "org B's row was not touched");
    // The user setting lists one user's memberships across orgs, nobody else's.
    let ann_text = ann.to_string();
    let mine = as_app(
        &f.url,
        &[("gatehouse.user_id", ann_text.as_str())],
        "SELECT user_id FROM org_members",
    )
    .await;
    assert_eq!(mine.len(), 2);
    assert!(mine.iter().all(|u| *u == ann_text));
}

#[tokio::test]
async fn inserting_into_another_org_is_refused() {
    let Some(f) = fresh_pg().await else { return };
    let ann = user(&f, "ann@example.com").await;
    let a = org_with(&f, "A", ann, &[]).await;
    let b = org_with(&f, "B", ann, &[]).await;
    let (store, _) = PgStore::open(&f.url).await.unwrap();
    let mut tx = store.pool().begin().await.unwrap();
    sqlx::query("SELECT set_config('gatehouse.org_id', $1, true)")
        .bind(a.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    let err = sqlx::query(
        "INSERT INTO org_members (org_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)",
    )
    .bind(b.to_string())
    .bind(ann.to_string())
    .bind(at(0).unix_timestamp())
    .execute(&mut *tx)
    .await
    .unwrap_err();
    assert!(err.to_string().contains("row-level security"), "{err}");
}

#[tokio::test]
async fn every_org_table_has_forced_rls_and_the_role_cannot_bypass_it() {
    let Some(f) = fresh_pg().await else { return };
    let report = f.store.role_report().await.unwrap().unwrap();
    assert!(!report.superuser && !report.bypass_rls, "{report:?}");
    let names: Vec<&str> = report
        .org_tables
        .iter()
        .map(|(n, _, _)| n.as_str())
        .collect();
    for table in [
        "api_keys",
        "grants",
        "invitations",
        "org_members",
        "secrets",
    ] {
        assert!(names.contains(&table), "{table} in {names:?}");
    }
    for (name, enabled, forced) in &report.org_tables {
        assert!(
            *enabled && *forced,
            "{name}: enabled={enabled} forced={forced}"
        );
    }
    // The role can neither switch the policies off for itself nor drop them.
    let (store, _) = PgStore::open(&f.url).await.unwrap();
    let mut tx = store.pool().begin().await.unwrap();
    sqlx::query("SET LOCAL row_security = off")
        .execute(&mut *tx)
        .await
        .unwrap();
    let off = sqlx::query("SELECT org_id FROM api_keys")
        .fetch_all(&mut *tx)
        .await;
    assert!(
        off.is_err(),
        "row_security=off must fail for a role without BYPASSRLS"
    );
    drop(tx);
    let disabled = sqlx::query("ALTER TABLE api_keys DISABLE ROW LEVEL SECURITY")
        .execute(store.pool())
        .await;
    assert!(disabled.is_err(), "the app role does not own the tables");
}

#[tokio::test]
async fn one_statement_read_functions_leave_no_setting_and_run_as_their_caller() {
    let Some(f) = fresh_pg().await else { return };
    let ann = user(&f, "ann@example.com").await;
    let a = org_with(&f, "A", ann, &[]).await;
    let b = org_with(&f, "B", ann, &[]).await;
    let key_b = crate::api_keys::key(b, "key-b");
    f.store.create_api_key(&key_b, &[]).await.unwrap();
    let (store, _) = PgStore::open(&f.url).await.unwrap();
    let mut conn = store.pool().acquire().await.unwrap();
    let standing = |org: String| {
        sqlx::query("SELECT key_expires_at FROM gatehouse_key_standing($1, 'page:1', $2, $3)")
            .bind(org)
            .bind(format!("api_key:{}", key_b.id))
            .bind(key_b.id.to_string())
    };
    let found = standing(b.to_string()).fetch_all(&mut *conn).await.unwrap();
    assert_eq!(found.len(), 1, "org B's key, read in org B");
    let other = standing(a.to_string()).fetch_all(&mut *conn).await.unwrap();
    assert!(other.is_empty(), "org B's key is not seen from org A");
    // The setting ended with the call's own transaction: the same connection sees nothing.
    let left: Option<String> =
        sqlx::query_scalar("SELECT current_setting('gatehouse.org_id', true)")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    assert!(
        left.unwrap_or_default().is_empty(),
        "no org left on the connection"
    );
    let seen: Vec<String> = sqlx::query_scalar("SELECT org_id FROM api_keys")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    assert!(seen.is_empty(), "{seen:?}");
    // None of gatehouse's functions runs with its owner's rights.
    let definers: Vec<String> = sqlx::query_scalar(
        "SELECT proname::text FROM pg_proc WHERE proname LIKE 'gatehouse%' AND prosecdef",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert!(definers.is_empty(), "SECURITY DEFINER: {definers:?}");
}

#[tokio::test]
async fn an_invited_address_sees_its_invitations_across_orgs_and_nothing_else() {
    use gatehouse_core::ids::InvitationId;
    use gatehouse_core::store::Invitation;
    let Some(f) = fresh_pg().await else { return };
    let ann = user(&f, "ann@example.com").await;
    for (name, invited, digest) in [
        ("A", "bob@example.com", [1u8; 32]),
        ("B", "cat@example.com", [2u8; 32]),
    ] {
        let org = org_with(&f, name, ann, &[]).await;
        let inv = Invitation {
            id: InvitationId::new(),
            org_id: org,
            email: invited.into(),
            email_key: invited.into(),
            role: Role::Member,
            created_by: ann,
            created_at: at(0),
            expires_at: at(100),
            accepted_at: None,
        };
        f.store.create_invitation(&inv, &digest, &[]).await.unwrap();
    }
    let sql = "SELECT email_key FROM invitations";
    let bob = [("gatehouse.invited_email", "bob@example.com")];
    assert_eq!(as_app(&f.url, &bob, sql).await, ["bob@example.com"]);
    assert!(as_app(&f.url, &[], sql).await.is_empty());
    let nobody = [("gatehouse.invited_email", "dan@example.com")];
    assert!(as_app(&f.url, &nobody, sql).await.is_empty());
    let write = as_app(
        &f.url,
        &bob,
        "UPDATE invitations SET role = 'owner' RETURNING email_key",
    )
    .await;
    assert!(write.is_empty(), "read only");
}

#[tokio::test]
async fn personal_tokens_are_seen_by_org_presented_id_or_own_user_only() {
    use gatehouse_core::ids::PersonalTokenId;
    use gatehouse_core::store::PersonalToken;
    let Some(f) = fresh_pg().await else { return };
    let ann = user(&f, "ann@example.com").await;
    let bob = user(&f, "bob@example.com").await;
    let a = org_with(&f, "A", ann, &[(bob, Role::Member)]).await;
    for (who, public_id) in [(ann, "aaaaaaaaaaaa"), (bob, "bbbbbbbbbbbb")] {
        let t = PersonalToken {
            id: PersonalTokenId::new(),
            user_id: who,
            org_id: a,
            name: "t".into(),
            public_id: public_id.into(),
            scopes: vec![],
            created_at: at(0),
            expires_at: at(100),
            revoked_at: None,
            last_used_at: None,
        };
        f.store
            .create_personal_token(&t, &[1; 32], &[])
            .await
            .unwrap();
    }
    let sql = "SELECT public_id FROM personal_tokens ORDER BY public_id";
    assert!(as_app(&f.url, &[], sql).await.is_empty());
    let org = a.to_string();
    assert_eq!(
        as_app(&f.url, &[("gatehouse.org_id", &org)], sql).await,
        ["aaaaaaaaaaaa", "bbbbbbbbbbbb"]
    );
    let presented = [("gatehouse.personal_token", "bbbbbbbbbbbb")];
    assert_eq!(as_app(&f.url, &presented, sql).await, ["bbbbbbbbbbbb"]);
    let anns = ann.to_string();
    let own = [("gatehouse.user_id", anns.as_str())];
    assert_eq!(as_app(&f.url, &own, sql).await, ["aaaaaaaaaaaa"]);
    let revoked = as_app(
        &f.url,
        &own,
        "UPDATE personal_tokens SET revoked_at = 1 RETURNING public_id",
    )
    .await;
    assert!(revoked.is_empty(), "a user's own setting does not write");
}
