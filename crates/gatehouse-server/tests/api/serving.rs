//! Slow and silent clients (SPEC §13): header deadline, connection cap, half-open floods, a
//! shutdown no connection can delay; and metrics whose labels no request can multiply.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::both;
use crate::support::*;

both!(
    silent_connections_do_not_delay_shutdown,
    slow_request_heads_are_cut_at_the_header_deadline,
    half_open_flood_leaves_the_service_answering,
    connection_cap_refuses_only_when_every_connection_is_busy,
    metrics_labels_come_from_a_closed_set
);

fn addr(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

async fn connect(server: &Server) -> TcpStream {
    TcpStream::connect(addr(server)).await.expect("connect")
}

/// Reads until the server closes the connection (or `limit` passes); how long that took.
async fn closed_after(
    stream: &mut TcpStream,
    started: Instant,
    limit: Duration,
) -> Option<Duration> {
    let mut buf = [0u8; 1024];
    let deadline = started + limit;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// Sends one `GET /healthz` on `stream` and reads its answer; true on a `200`.
async fn healthz_on(stream: &mut TcpStream) -> bool {
    let sent = stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: gatehouse\r\n\r\n")
        .await;
    if sent.is_err() {
        return false;
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.ends_with(b"{\"status\":\"ok\"}") {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => return false,
        }
    }
    got.starts_with(b"HTTP/1.1 200")
}

/// A client that opens a new connection for every request.
fn fresh_client() -> reqwest::Client {
    gatehouse_server::outbound::install_crypto_provider();
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

async fn silent_connections_do_not_delay_shutdown(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let mut server = Server::start(&db, &[]);
    let _silent = connect(&server).await;
    let mut half = connect(&server).await;
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: gatehouse\r\n")
        .await
        .unwrap();
    let mut kept_alive = connect(&server).await;
    assert!(healthz_on(&mut kept_alive).await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let (status, logs) = tokio::task::spawn_blocking(move || {
        let status = server.terminate_within(Duration::from_secs(12));
        (status, server.logs())
    })
    .await
    .unwrap();
    let status = status.expect("SIGTERM ends the server although connections are open");
    assert!(status.success(), "{status:?}: {logs}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "connections with nothing in flight are closed at once: {:?}",
        started.elapsed()
    );
}

async fn slow_request_heads_are_cut_at_the_header_deadline(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let server = Server::start(&db, &[]);
    let started = Instant::now();
    let mut silent = connect(&server).await;
    // A slowloris: one header line a second, never the blank line that ends the head.
    let drip = connect(&server).await;
    let (mut drip_read, mut drip_write) = drip.into_split();
    tokio::spawn(async move {
        let _ = drip_write.write_all(b"GET /healthz HTTP/1.1\r\n").await;
        for i in 0..30 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if drip_write
                .write_all(format!("X-Drip-{i}: x\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    });
    // A kept-alive connection idle through the header window stays open (the idle timeout is
    // 60 s), and serves again.
    let mut idle = connect(&server).await;
    assert!(healthz_on(&mut idle).await);

    let limit = Duration::from_secs(20);
    let silent_closed = closed_after(&mut silent, started, limit).await;
    let mut buf = [0u8; 64];
    let drip_closed = loop {
        let left = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, drip_read.read(&mut buf)).await {
            Err(_) => break None,
            Ok(Ok(0) | Err(_)) => break Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    };
    for (what, closed) in [("silent", silent_closed), ("dripping", drip_closed)] {
        let closed = closed.unwrap_or_else(|| panic!("the {what} connection stays open"));
        assert!(
            closed >= Duration::from_secs(9) && closed <= Duration::from_secs(13),
            "the {what} connection is closed at the 10 s header deadline: {closed:?}"
        );
    }
    assert!(
        healthz_on(&mut idle).await,
        "an idle kept-alive connection outlives the header deadline"
    );
}

async fn half_open_flood_leaves_the_service_answering(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    // 512 open files: fewer than the flood, as a default `ulimit -n` of 1024 was to ~1,050.
    let server = Server::start_wrapped(
        &db,
        &[("GATEHOUSE_SIGNUP", "open")],
        &["prlimit", "--nofile=512:512", "--"],
    );
    let client = fresh_client();
    let signup = client
        .post(format!("{}/v1/auth/signup", server.base))
        .json(&json!({ "email": "flood@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(signup.status(), StatusCode::CREATED);
    let mut flood = Vec::new();
    for _ in 0..700 {
        let connect = TcpStream::connect(addr(&server));
        if let Ok(Ok(mut s)) = tokio::time::timeout(Duration::from_secs(1), connect).await {
            let _ = s
                .write_all(b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\n")
                .await;
            flood.push(s);
        }
    }
    for i in 0..10 {
        let started = Instant::now();
        let r = client
            .get(format!("{}/healthz", server.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("/healthz {i} under the flood: {e}"));
        assert_eq!(r.status(), StatusCode::OK);
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    let login = client
        .post(format!("{}/v1/auth/login", server.base))
        .json(&json!({ "email": "flood@example.com", "password": PASSWORD }))
        .send()
        .await
        .expect("sign-in under the flood");
    assert_eq!(login.status(), StatusCode::OK);
    drop(flood);
}

async fn connection_cap_refuses_only_when_every_connection_is_busy(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    // Slow hashing keeps a sign-in's connection in flight.
    let server = Server::start(
        &db,
        &[
            ("GATEHOUSE_MAX_CONNECTIONS", "2"),
            ("GATEHOUSE_SIGNUP", "open"),
            ("GATEHOUSE_ARGON2", "m=65536,t=4,p=1"),
            // A line when a request starts being served: the test's signal that it is busy.
            ("GATEHOUSE_LOG", "info,tower_http::trace=debug"),
        ],
    );
    gatehouse_server::outbound::install_crypto_provider();
    // No pooling, and room for two slow hashes on a loaded machine.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let body = json!({ "email": "cap@example.com", "password": PASSWORD });
    let url = format!("{}/v1/auth/signup", server.base);
    assert_eq!(
        client.post(&url).json(&body).send().await.unwrap().status(),
        StatusCode::CREATED
    );
    // Two silent connections fill the cap; a new client takes the place of the oldest.
    let mut oldest = connect(&server).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _newer = connect(&server).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = client.get(format!("{}/healthz", server.base)).send().await;
    assert_eq!(r.expect("served at the cap").status(), StatusCode::OK);
    assert!(
        closed_after(&mut oldest, Instant::now(), Duration::from_secs(2))
            .await
            .is_some(),
        "the oldest silent connection made room"
    );
    // Two sign-ins in flight fill the cap with busy connections: a third client is refused.
    let login = json!({ "email": "cap@example.com", "password": PASSWORD });
    let started = |logs: &str| logs.matches("started processing request").count();
    let before = started(&server.logs());
    let busy: Vec<_> = (0..2)
        .map(|_| {
            let (c, u, b) = (
                client.clone(),
                format!("{}/v1/auth/login", server.base),
                login.clone(),
            );
            tokio::spawn(async move { c.post(u).json(&b).send().await.map(|r| r.status()) })
        })
        .collect();
    // Both sign-ins are being served (the server logged their start) before the third arrives.
    let deadline = Instant::now() + Duration::from_secs(30);
    while started(&server.logs()) < before + 2 {
        assert!(
            Instant::now() < deadline,
            "the sign-ins never started: {}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut third = connect(&server).await;
    let refused = closed_after(&mut third, Instant::now(), Duration::from_secs(1)).await;
    for b in busy {
        assert_eq!(
            b.await.unwrap().unwrap(),
            StatusCode::OK,
            "busy ones finish"
        );
    }
    assert!(
        refused.is_some(),
        "over the cap with every connection busy: refused"
    );
    let r = client.get(format!("{}/healthz", server.base)).send().await;
    assert_eq!(r.expect("served again").status(), StatusCode::OK);
}

/// Lines of `http_requests_total` and `http_request_duration_seconds` in the exposition.
async fn series(c: &Client) -> Vec<String> {
    let r = c.get("/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    r.text
        .lines()
        .filter(|l| {
            l.starts_with("http_requests_total{") || l.starts_with("http_request_duration_seconds")
        })
        .map(|l| {
            l.rsplit_once(' ')
                .map(|(k, _)| k.to_owned())
                .unwrap_or_default()
        })
        .collect()
}

async fn metrics_labels_come_from_a_closed_set(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let server = Server::start(&db, &[]);
    let c = server.client();
    let odd = |i: usize, path: String| {
        let method = Method::from_bytes(format!("BREW{i}").as_bytes()).unwrap();
        Client::send(c.request(method, &path))
    };
    // One of each kind first, so their series exist.
    odd(0, "/healthz".into()).await;
    odd(0, "/no/such/path/0".into()).await;
    c.get("/no/such/path/x").await;
    let before = series(&c).await;
    for i in 1..60 {
        odd(i, "/healthz".into()).await;
        odd(i, format!("/no/such/path/{i}")).await;
        c.get(&format!("/v1/nothing/here/{i}")).await;
    }
    let after = series(&c).await;
    let new: Vec<&String> = after.iter().filter(|s| !before.contains(s)).collect();
    assert!(
        new.iter().all(|s| s.contains("/metrics")),
        "no series from methods or paths: {new:?}"
    );
    assert!(
        after.iter().any(|s| s.contains("method=\"other\"")),
        "{after:?}"
    );
    assert!(
        after.iter().any(|s| s.contains("route=\"unmatched\"")),
        "{after:?}"
    );
    assert!(!after.iter().any(|s| s.contains("BREW")));
}
