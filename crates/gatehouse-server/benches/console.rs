//! The console's audit page with 1,000 events, server-side (goal: under 20 ms): reading them
//! from the store through the same listing and filter as the page, turning each into a row, and
//! rendering the askama template — on SQLite and PostgreSQL. Rendering alone is measured too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use askama::Template;
use common::{BenchDb, signed_in};
use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse_core::audit::{Actor, Category, Chain, NewEvent};
use gatehouse_core::service::{ClientInfo, Principal};
use gatehouse_server::console::{AuditPage, AuditQuery, Chrome, audit_rows};

const EVENTS: usize = 1000;

fn page_of(rows: Vec<gatehouse_server::console::EventRow>, org: &str) -> AuditPage {
    AuditPage {
        chrome: Chrome::anonymous("Audit log"),
        org_id: org.to_owned(),
        categories: ["audit", "security"],
        category: String::new(),
        action: String::new(),
        events: rows,
        next_after: None,
    }
}

fn console(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut group = c.benchmark_group("console_audit_page_1000");
    let sqlite = rt.block_on(BenchDb::sqlite());
    let postgres = rt.block_on(BenchDb::postgres());
    let mut render_done = false;
    for (label, db) in [("sqlite", Some(&sqlite)), ("postgres", postgres.as_ref())] {
        let Some(db) = db else { continue };
        let services = rt.block_on(db.services(Some("m=1024,t=1,p=1")));
        let token = rt.block_on(signed_in(&services.auth, "console@example.com"));
        let session = rt
            .block_on(services.auth.authenticate_session(&token))
            .unwrap();
        let user = session.user.id;
        let principal = Principal::Session(Box::new(session));
        let org = rt
            .block_on(
                services
                    .orgs
                    .create(&principal, "Bench Org", &ClientInfo::default()),
            )
            .unwrap();
        let client = ClientInfo {
            ip: Some("203.0.113.7".into()),
            user_agent: Some("Mozilla/5.0 (bench)".into()),
            request_id: None,
        };
        let now = services.audit.now();
        let events: Vec<NewEvent> = (0..EVENTS)
            .map(|i| {
                NewEvent::new(
                    Chain::Org(org.id),
                    Category::Audit,
                    if i % 2 == 0 {
                        "api_key.created"
                    } else {
                        "secret.written"
                    },
                    Actor::User(user),
                    &client,
                    now,
                )
            })
            .collect();
        rt.block_on(services.audit.writer().append(events)).unwrap();
        let access = rt
            .block_on(services.orgs.access(&principal, org.id))
            .unwrap();
        let query = AuditQuery {
            limit: Some(1000),
            ..AuditQuery::default()
        };
        let org_id = org.id.to_string();
        let (rows, _) = rt
            .block_on(audit_rows(&services.audit, &access, &query, EVENTS))
            .unwrap();
        assert!(rows.len() >= EVENTS, "{} rows", rows.len());
        if !render_done {
            render_done = true;
            group.bench_function("render_only", |b| {
                b.iter_batched(
                    || {
                        rt.block_on(audit_rows(&services.audit, &access, &query, EVENTS))
                            .unwrap()
                            .0
                    },
                    |rows| page_of(rows, &org_id).render().unwrap(),
                    criterion::BatchSize::SmallInput,
                )
            });
        }
        group.bench_function(format!("read_and_render/{label}"), |b| {
            b.to_async(&rt).iter(|| async {
                let (rows, _) = audit_rows(&services.audit, &access, &query, EVENTS)
                    .await
                    .unwrap();
                page_of(rows, &org_id).render().unwrap()
            })
        });
    }
    group.finish();
    rt.block_on(sqlite.drop_now());
    if let Some(pg) = postgres {
        rt.block_on(pg.drop_now());
    }
}

criterion_group!(benches, console);
criterion_main!(benches);
