//! The audit log: sealed appends, gapless sequences under concurrency, events committed with
//! their change (and not without it), immutability, and tampering found at the exact `seq`.

use gatehouse_core::Error;
use gatehouse_core::audit::chain::GENESIS;
use gatehouse_core::audit::{Actor, Category, Chain, NewEvent, StoredEvent};
use gatehouse_core::ids::{OrgId, UserId};
use gatehouse_core::service::ClientInfo;
use gatehouse_core::service::audit::verify_chain;
use gatehouse_store::Backend;
use serde_json::json;
use sqlx::Connection;

use crate::conformance;
use crate::harness::{Fresh, at};

pub(crate) fn event(chain: Chain, action: &str) -> NewEvent {
    let client = ClientInfo {
        ip: Some("192.0.2.7".into()),
        user_agent: Some("conformance".into()),
        request_id: Some("req-1".into()),
    };
    NewEvent::new(
        chain,
        Category::Audit,
        action,
        Actor::System,
        &client,
        at(0),
    )
    .details(json!({ "n": 1 }))
}

/// Runs raw SQL as the privileged test user with the append-only triggers out of the way: what
/// an attacker with direct database access could do.
pub(crate) async fn tamper(f: &Fresh, statements: &[&str]) {
    match f.opened.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&f.url).await.unwrap();
            for s in [
                "DROP TRIGGER IF EXISTS audit_events_no_update",
                "DROP TRIGGER IF EXISTS audit_events_no_delete",
            ]
            .iter()
            .chain(statements)
            {
                sqlx::query(sqlx::AssertSqlSafe(s.to_string()))
                    .execute(&mut c)
                    .await
                    .unwrap();
            }
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&f.url).await.unwrap();
            sqlx::query("SET session_replication_role = replica")
                .execute(&mut c)
                .await
                .unwrap();
            for s in statements {
                sqlx::query(sqlx::AssertSqlSafe(s.to_string()))
                    .execute(&mut c)
                    .await
                    .unwrap();
            }
        }
    }
}

async fn filled(f: &Fresh, chain: Chain, n: usize) -> Vec<StoredEvent> {
    let events: Vec<NewEvent> = (0..n)
        .map(|i| event(chain, &format!("thing.{i}")))
        .collect();
    f.store.append_events(&events).await.unwrap()
}

conformance!(
    appends_are_sealed_in_order,
    reading_pages_filters_and_heads,
    concurrent_appenders_never_fork_a_chain,
    events_commit_with_their_change_only,
    events_cannot_be_updated_or_deleted,
    tampering_is_found_at_the_exact_seq
);

async fn appends_are_sealed_in_order(f: Fresh) {
    let org = Chain::Org(OrgId::new());
    let sealed = filled(&f, org, 3).await;
    let more = f
        .store
        .append_events(&[event(Chain::System, "s.one"), event(org, "thing.3")])
        .await
        .unwrap();
    let seqs: Vec<i64> = sealed.iter().chain(&more).map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        vec![1, 2, 3, 1, 4],
        "seq per chain, from 1, in the order given"
    );
    let first: serde_json::Value = serde_json::from_str(&sealed[0].body).unwrap();
    assert_eq!(first["prev_hash"], GENESIS);
    assert_eq!(
        (first["ip"].as_str(), first["request_id"].as_str()),
        (Some("192.0.2.7"), Some("req-1"))
    );
    let second: serde_json::Value = serde_json::from_str(&sealed[1].body).unwrap();
    assert_eq!(second["prev_hash"], sealed[0].hash.as_str());
    let r = verify_chain(f.store.as_ref(), org).await.unwrap();
    assert!(r.valid && r.events == 4 && r.head_seq == 4, "{r:?}");
    assert_eq!(r.head_hash, more[1].hash);
}

async fn reading_pages_filters_and_heads(f: Fresh) {
    let org = Chain::Org(OrgId::new());
    filled(&f, org, 5).await;
    let mut security = event(org, "auth.thing");
    security.category = Category::Security;
    let user = UserId::new();
    security.subject = Some(user);
    f.store.append_events(&[security]).await.unwrap();
    let page = f.store.chain_events(org, 2, 2, None).await.unwrap();
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3, 4]);
    let sec = f
        .store
        .chain_events(org, 0, 100, Some(Category::Security))
        .await
        .unwrap();
    assert_eq!(sec.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![6]);
    assert_eq!(f.store.chain_head(org).await.unwrap().map(|h| h.0), Some(6));
    assert!(
        f.store
            .chain_head(Chain::Org(OrgId::new()))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        f.store
            .chain_events(Chain::System, 0, 10, None)
            .await
            .unwrap()
            .is_empty(),
        "chains are separate"
    );
    let mine = f.store.user_events(user, 10).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert!(
        f.store
            .user_events(UserId::new(), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(f.store.chains().await.unwrap().contains(&org));
}

async fn concurrent_appenders_never_fork_a_chain(f: Fresh) {
    let org = Chain::Org(OrgId::new());
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = f.store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append_events(&[
                    event(org, &format!("writer.{i}")),
                    event(Chain::System, "writer.sys"),
                ])
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    for chain in [org, Chain::System] {
        let r = verify_chain(f.store.as_ref(), chain).await.unwrap();
        assert!(
            r.valid && r.events == 40 && r.head_seq == 40,
            "{chain:?}: {r:?}"
        );
    }
}

async fn events_commit_with_their_change_only(f: Fresh) {
    let org_id = OrgId::new();
    let chain = Chain::Org(org_id);
    let owner = crate::orgs::user(&f, "o@example.com").await;
    let org = gatehouse_core::store::Org {
        id: org_id,
        name: "O".into(),
        created_at: at(0),
    };
    f.store
        .create_org(&org, owner, &[event(chain, "org.created")])
        .await
        .unwrap();
    let key = crate::api_keys::key(org_id, "k");
    f.store
        .create_api_key(&key, &[event(chain, "api_key.created")])
        .await
        .unwrap();
    let mut twin = crate::api_keys::key(org_id, "twin");
    twin.public_id = key.public_id.clone();
    let failed = f
        .store
        .create_api_key(&twin, &[event(chain, "api_key.created")])
        .await;
    assert!(matches!(failed, Err(Error::Conflict(_))));
    let events = f.store.chain_events(chain, 0, 10, None).await.unwrap();
    assert_eq!(events.len(), 2, "the failed change left no event");
    // A no-op change (revoking a key of another org) records nothing either.
    assert!(
        f.store
            .revoke_api_key(
                OrgId::new(),
                key.id,
                at(1),
                &[event(chain, "api_key.revoked")]
            )
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        f.store.chain_head(chain).await.unwrap().map(|h| h.0),
        Some(2)
    );
}

async fn events_cannot_be_updated_or_deleted(f: Fresh) {
    filled(&f, Chain::System, 2).await;
    for sql in [
        "UPDATE audit_events SET body = 'x'",
        "DELETE FROM audit_events",
    ] {
        let refused = match f.opened.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&f.url).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                    .execute(&mut c)
                    .await
                    .is_err()
            }
            Backend::Postgres => {
                // As the server's role (no UPDATE or DELETE granted), and as the owner (trigger).
                let (store, _) = gatehouse_store::postgres::PgStore::open(&f.url)
                    .await
                    .unwrap();
                let mut tx = store.pool().begin().await.unwrap();
                sqlx::query("SELECT set_config('gatehouse.system', 'on', true)")
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                let as_app = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                    .execute(&mut *tx)
                    .await;
                assert!(
                    as_app
                        .unwrap_err()
                        .to_string()
                        .contains("permission denied"),
                    "{sql}"
                );
                let mut owner = sqlx::PgConnection::connect(&f.url).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                    .execute(&mut owner)
                    .await
                    .is_err()
                    && sqlx::query("TRUNCATE audit_events")
                        .execute(&mut owner)
                        .await
                        .is_err()
            }
        };
        assert!(refused, "{sql} went through");
    }
    assert!(
        verify_chain(f.store.as_ref(), Chain::System)
            .await
            .unwrap()
            .valid
    );
}

async fn tampering_is_found_at_the_exact_seq(f: Fresh) {
    let (a, b, c, d) = (OrgId::new(), OrgId::new(), OrgId::new(), OrgId::new());
    for org in [a, b, c, d] {
        filled(&f, Chain::Org(org), 6).await;
    }
    let bad = |org: OrgId| {
        let store = f.store.clone();
        async move {
            verify_chain(store.as_ref(), Chain::Org(org))
                .await
                .unwrap()
                .first_bad_seq
        }
    };
    tamper(&f, &[&format!("UPDATE audit_events SET body = replace(body, 'thing.2', 'thing.X') WHERE chain = '{a}' AND seq = 3")]).await;
    assert_eq!(bad(a).await, Some(3), "edited");
    tamper(
        &f,
        &[&format!(
            "DELETE FROM audit_events WHERE chain = '{b}' AND seq = 4"
        )],
    )
    .await;
    assert_eq!(bad(b).await, Some(4), "deleted");
    tamper(
        &f,
        &[
            &format!("UPDATE audit_events SET seq = 100 WHERE chain = '{c}' AND seq = 2"),
            &format!("UPDATE audit_events SET seq = 2 WHERE chain = '{c}' AND seq = 5"),
            &format!("UPDATE audit_events SET seq = 5 WHERE chain = '{c}' AND seq = 100"),
        ],
    )
    .await;
    assert_eq!(bad(c).await, Some(2), "reordered");
    tamper(
        &f,
        &[&format!(
            "DELETE FROM audit_events WHERE chain = '{d}' AND seq = 6"
        )],
    )
    .await;
    assert_eq!(
        bad(d).await,
        Some(6),
        "the last event deleted: the recorded head tells"
    );
}
