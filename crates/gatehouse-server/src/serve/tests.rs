//! The serving loop in process, with short deadlines (the black-box tests in
//! `tests/api/serving.rs` use the real ones where that stays quick).

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::routing::{get, post};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

#[test]
fn cap_fits_the_open_file_limit() {
    assert_eq!(connection_cap(10_000, None), 10_000);
    assert_eq!(connection_cap(10_000, Some(1024)), 896);
    assert_eq!(connection_cap(100, Some(1024)), 100);
    assert_eq!(connection_cap(10_000, Some(10)), 1);
    assert!(open_file_limit().is_some_and(|l| l > 0));
}

const SHORT: Timeouts = Timeouts {
    header: Duration::from_millis(400),
    body: Duration::from_millis(400),
    idle: Duration::from_millis(800),
    send: Duration::from_millis(800),
    shutdown: Duration::from_millis(400),
};

/// Serves a small router with [`SHORT`] deadlines; its address and the shutdown trigger.
async fn start() -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let router = Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route("/echo", post(|body: Bytes| async move { body }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        serve(listener, router, 100, SHORT, shutdown).await.unwrap();
    });
    (addr, stop, served)
}

/// Reads until the server closes; what it sent and when it closed.
async fn read_to_close(s: &mut TcpStream, limit: Duration) -> (String, Option<Duration>) {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(limit.saturating_sub(started.elapsed()), s.read(&mut buf)).await
        {
            Err(_) => return (String::from_utf8_lossy(&got).into(), None),
            Ok(Ok(0) | Err(_)) => {
                return (
                    String::from_utf8_lossy(&got).into(),
                    Some(started.elapsed()),
                );
            }
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn idle_keep_alive_connections_close_after_the_idle_deadline() {
    let (addr, _stop, _served) = start().await;
    let mut s = TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let (text, closed) = read_to_close(&mut s, Duration::from_secs(3)).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let closed = closed.expect("closed when idle");
    // Idle, not the (shorter) header deadline.
    assert!(closed >= Duration::from_millis(700), "{closed:?}");
}

#[tokio::test]
async fn a_body_that_stalls_fails_at_the_body_deadline() {
    let (addr, _stop, _served) = start().await;
    let mut s = TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly a few")
        .await
        .unwrap();
    let (text, closed) = read_to_close(&mut s, Duration::from_secs(3)).await;
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(
        closed.is_some_and(|c| c >= Duration::from_millis(350)),
        "{closed:?}"
    );
}

#[tokio::test]
async fn shutdown_gives_in_flight_requests_a_deadline_then_closes() {
    let (addr, stop, served) = start().await;
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let _silent = TcpStream::connect(&addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(3), served)
        .await
        .expect("serve returns after the shutdown deadline")
        .unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(350) && took < Duration::from_secs(2),
        "{took:?}"
    );
    let (_, closed) = read_to_close(&mut slow, Duration::from_secs(2)).await;
    assert!(
        closed.is_some(),
        "the unfinished request's connection is closed"
    );
}
