//! The audit webhook sink against a real receiver on loopback (SPEC §12): signed batches in
//! `seq` order, resumed after a restart without gaps, retried (with backoff) while the receiver
//! fails without holding up requests, stopped for a chain at a break; and refused, never
//! reaching the receiver, when its address is not explicitly allowed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::audit_chain::tamper;
use crate::both;
use crate::support::*;

both!(
    webhook_delivers_signed_batches_and_resumes_after_restart,
    webhook_retries_a_failing_receiver_and_stops_at_a_break
);

const SECRET: &str = "webhook-secret-0123456789";

fn env(receiver: &Receiver) -> Vec<(&'static str, String)> {
    vec![
        ("GATEHOUSE_AUDIT_WEBHOOK_URL", receiver.url()),
        ("GATEHOUSE_AUDIT_WEBHOOK_SECRET", SECRET.to_owned()),
        ("GATEHOUSE_AUDIT_WEBHOOK_EVERY", "1s".to_owned()),
        ("GATEHOUSE_AUDIT_WEBHOOK_BATCH", "3".to_owned()),
        ("GATEHOUSE_OUTBOUND_ALLOW", "127.0.0.1/32".to_owned()),
    ]
}

fn as_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Checks `X-Gatehouse-Signature: t=…,v1=…` over the raw body, as a receiver would.
fn signature_holds(header: &str, body: &[u8]) -> bool {
    let parts: BTreeMap<&str, &str> = header
        .split(',')
        .filter_map(|p| p.split_once('='))
        .collect();
    let (Some(t), Some(v1)) = (parts.get("t"), parts.get("v1")) else {
        return false;
    };
    let Ok(t_num) = t.parse::<i64>() else {
        return false;
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if (now - t_num).abs() > 300 {
        return false;
    }
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    hex == *v1
}

/// Waits until the receiver acknowledged an event of `chain` with `action`.
async fn wait_for(receiver: &Receiver, chain: &str, action: &str) {
    wait_for_count(receiver, chain, action, 1).await
}

/// Waits until the receiver acknowledged `n` events of `chain` with `action`.
async fn wait_for_count(receiver: &Receiver, chain: &str, action: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while receiver
        .acknowledged(chain)
        .iter()
        .filter(|e| e["action"] == action)
        .count()
        < n
    {
        assert!(
            Instant::now() < deadline,
            "{action} never reached the receiver for {chain}: {:?}",
            receiver.hits().len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn seqs(events: &[Value]) -> Vec<i64> {
    events.iter().map(|e| e["seq"].as_i64().unwrap()).collect()
}

async fn post_events(server: &Server, key: &str, org: &str, prefix: &str, n: usize) {
    let k = server.client().with_key(key);
    for i in 0..n {
        let r = k
            .post(
                &format!("/v1/orgs/{org}/audit/events"),
                json!({ "action": format!("app.{prefix}"), "details": { "i": i } }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
}

async fn webhook_delivers_signed_batches_and_resumes_after_restart(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let receiver = Receiver::start().await;
    let env = env(&receiver);
    let (mut server, owner, _) = with_admin(&db, &as_refs(&env)).await;
    let org = first_org(&owner).await;
    let (_, key) = owner.create_key(&org, &["audit:write"]).await;
    post_events(&server, &key, &org, "before", 4).await;
    wait_for_count(&receiver, &org, "app.before", 4).await;
    wait_for(&receiver, "system", "setup.completed").await;
    server.terminate();
    let before_restart = receiver.acknowledged(&org).len();

    let server = Server::start(&db, &as_refs(&env));
    post_events(&server, &key, &org, "after", 4).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while receiver
        .acknowledged(&org)
        .iter()
        .filter(|e| e["action"] == "app.after")
        .count()
        < 4
    {
        assert!(
            Instant::now() < deadline,
            "the restarted sink did not resume"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    for hit in receiver.hits() {
        assert_eq!(hit.content_type.as_deref(), Some("application/json"));
        let sig = hit.signature.clone().expect("every POST is signed");
        assert!(signature_holds(&sig, &hit.body), "bad signature {sig}");
        assert!(
            !signature_holds(&sig, b"[]"),
            "the signature covers the body"
        );
        let events = hit.events();
        assert!(
            !events.is_empty() && events.len() <= 3,
            "batches of at most 3"
        );
        let s = seqs(&events);
        assert!(
            s.windows(2).all(|w| w[1] == w[0] + 1),
            "in seq order: {s:?}"
        );
        assert!(
            events
                .iter()
                .all(|e| e["chain"] == hit.chain.clone().unwrap().as_str())
        );
        assert!(
            events
                .iter()
                .all(|e| e["hash"].as_str().is_some_and(|h| h.len() == 64))
        );
    }
    for chain in [org.as_str(), "system"] {
        let got = seqs(&receiver.acknowledged(chain));
        let mut unique = got.clone();
        unique.dedup();
        let expected: Vec<i64> = (1..=*unique.iter().max().unwrap()).collect();
        assert_eq!(
            unique, expected,
            "{chain}: no gaps, in order across the restart"
        );
        assert_eq!(got, unique, "{chain}: a clean restart repeats nothing");
    }
    let org_events = receiver.acknowledged(&org);
    assert!(org_events.len() > before_restart);
    assert!(
        !server.logs().contains(SECRET),
        "the signing secret is never logged"
    );
}

async fn webhook_retries_a_failing_receiver_and_stops_at_a_break(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let receiver = Receiver::start().await;
    receiver.fail_next(3);
    let env = env(&receiver);
    let (server, owner, _) = with_admin(&db, &as_refs(&env)).await;
    let org = first_org(&owner).await;
    let (_, key) = owner.create_key(&org, &["audit:write"]).await;
    // Requests are served while the receiver fails.
    post_events(&server, &key, &org, "step", 3).await;
    assert_eq!(owner.get("/v1/auth/me").await.status, StatusCode::OK);
    // All three (the org chain's last events) are in before the head is taken.
    wait_for_count(&receiver, &org, "app.step", 3).await;
    let refused = receiver.hits().iter().filter(|h| !h.acknowledged).count();
    assert_eq!(refused, 3, "three refusals, then delivery");
    assert!(server.logs().contains("audit webhook delivery failed"));

    let delivered = seqs(&receiver.acknowledged(&org));
    let head = *delivered.iter().max().unwrap();
    tamper(
        &db,
        &[format!(
            "UPDATE audit_events SET body = replace(body, '\"i\":1', '\"i\":7') \
             WHERE chain = '{org}' AND action = 'app.step'"
        )],
    )
    .await;
    post_events(&server, &key, &org, "after-break", 1).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let stopped = loop {
        let system = receiver.acknowledged("system");
        if let Some(e) = system
            .iter()
            .find(|e| e["action"] == "audit.export_stopped")
        {
            break e.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no audit.export_stopped delivered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(stopped["details"]["chain"], org.as_str());
    assert_eq!(stopped["details"]["sink"], "webhook");
    assert_eq!(stopped["category"], "security");
    assert!(
        seqs(&receiver.acknowledged(&org))
            .iter()
            .all(|s| *s <= head),
        "nothing of the broken chain after the break"
    );
}

/// Without `GATEHOUSE_OUTBOUND_ALLOW`, a receiver on loopback is refused however its address is
/// spelled or resolved: `ssrf_blocked` with the address in the log, nothing reaches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_to_a_loopback_receiver_is_refused_unless_allowed() {
    let Some(db) = TestDb::new(Db::Sqlite).await else {
        return;
    };
    let receiver = Receiver::start().await;
    let port = receiver.addr.port();
    let loopback = std::net::Ipv4Addr::LOCALHOST;
    let public = std::net::Ipv4Addr::new(1, 1, 1, 1);
    let rebinding = FakeDns::start(vec![vec![loopback]]).await;
    let mixed = FakeDns::start(vec![vec![public, loopback]]).await;
    let cases = [
        (format!("http://127.0.0.1:{port}/hook"), None),
        (format!("http://2130706433:{port}/hook"), None),
        (format!("http://[::ffff:127.0.0.1]:{port}/hook"), None),
        (format!("http://0x7f.1:{port}/hook"), None),
        (format!("http://rebind.test:{port}/hook"), Some(&rebinding)),
        (format!("http://mixed.test:{port}/hook"), Some(&mixed)),
    ];
    let mut first = true;
    for (url, dns) in cases {
        let nameserver = dns.map(|d| d.addr.to_string());
        let mut env = vec![
            ("GATEHOUSE_AUDIT_WEBHOOK_URL", url.as_str()),
            ("GATEHOUSE_AUDIT_WEBHOOK_SECRET", SECRET),
            ("GATEHOUSE_AUDIT_WEBHOOK_EVERY", "1s"),
        ];
        if let Some(ns) = &nameserver {
            env.push(("GATEHOUSE_OUTBOUND_NAMESERVER", ns.as_str()));
        }
        let mut server = if first {
            first = false;
            with_admin(&db, &env).await.0 // events to deliver, from the first server on
        } else {
            Server::start(&db, &env)
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while !server.logs().contains("ssrf_blocked") {
            assert!(
                Instant::now() < deadline,
                "{url}: no ssrf_blocked in {}",
                server.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let logs = server.logs();
        let line = logs.lines().find(|l| l.contains("ssrf_blocked")).unwrap();
        assert!(
            line.contains("127.0.0.1"),
            "{url}: the address is named: {line}"
        );
        if let Some(d) = dns {
            assert!(d.asked() >= 1, "{url}: resolved through the guard");
        }
        server.terminate();
        assert!(receiver.hits().is_empty(), "{url} reached the receiver");
    }
}
