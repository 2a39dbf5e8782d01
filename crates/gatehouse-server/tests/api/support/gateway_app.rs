//! The app behind the gateway in the gateway tests: an echo of every request, a slow answer,
//! a stream the test paces (server-sent events), an HTML 404 of its own, and a raw upgrade
//! that echoes bytes (a WebSocket's handshake without the framing).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Clone, Default)]
struct AppState {
    seen: Arc<Mutex<Vec<Value>>>,
    /// Releases the second event of `/sse` (the test sends one after reading the first).
    release: Arc<tokio::sync::Notify>,
}

pub(crate) struct GatewayApp {
    pub addr: SocketAddr,
    state: AppState,
    task: tokio::task::JoinHandle<()>,
}

fn headers_json(headers: &HeaderMap) -> Vec<Value> {
    headers
        .iter()
        .map(|(k, v)| json!([k.as_str(), String::from_utf8_lossy(v.as_bytes())]))
        .collect()
}

async fn echo(State(state): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    if path.ends_with("/slow") {
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
    if path.ends_with("/missing") {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/html")],
            "<p>the app's own 404</p>",
        )
            .into_response();
    }
    if path.ends_with("/sse") {
        let release = state.release.clone();
        let stream = async_stream(release);
        return (
            [(header::CONTENT_TYPE, "text/event-stream")],
            Body::from_stream(stream),
        )
            .into_response();
    }
    if path.ends_with("/upgrade") {
        return upgrade(parts).await;
    }
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let hit = json!({
        "method": parts.method.as_str(),
        "target": parts.uri.to_string(),
        "headers": headers_json(&parts.headers),
        "body": String::from_utf8_lossy(&body),
        "body_len": body.len(),
    });
    state.seen.lock().expect("lock").push(hit.clone());
    (
        [
            ("x-app", "echo"),
            ("connection", "x-app-hop"),
            ("x-app-hop", "drop me"),
        ],
        axum::Json(hit),
    )
        .into_response()
}

/// `data: one`, then (once released) `data: two`.
fn async_stream(
    release: Arc<tokio::sync::Notify>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::unfold(0u8, move |step| {
        let release = release.clone();
        async move {
            match step {
                0 => Some((Ok(Bytes::from_static(b"data: one\n\n")), 1)),
                1 => {
                    release.notified().await;
                    Some((Ok(Bytes::from_static(b"data: two\n\n")), 2))
                }
                _ => None,
            }
        }
    })
}

async fn upgrade(mut parts: axum::http::request::Parts) -> Response {
    let Some(on) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() else {
        return (StatusCode::BAD_REQUEST, "no upgrade").into_response();
    };
    tokio::spawn(async move {
        if let Ok(upgraded) = on.await {
            let mut io = hyper_util::rt::TokioIo::new(upgraded);
            let mut buf = [0u8; 1024];
            while let Ok(n) = io.read(&mut buf).await {
                if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .body(Body::empty())
        .expect("response")
}

/// Serves `app` on a free loopback port until the handle is aborted.
pub(crate) async fn serve_on_loopback(
    app: axum::Router,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, task)
}

impl GatewayApp {
    pub(crate) async fn start() -> Self {
        let state = AppState::default();
        let app = axum::Router::new().fallback(echo).with_state(state.clone());
        let (addr, task) = serve_on_loopback(app).await;
        Self { addr, state, task }
    }

    pub(crate) fn seen(&self) -> Vec<Value> {
        self.state.seen.lock().expect("lock").clone()
    }

    /// The one request seen since the last call.
    pub(crate) fn take_one(&self) -> Value {
        let mut seen = self.state.seen.lock().expect("lock");
        assert_eq!(seen.len(), 1, "{seen:#?}");
        seen.pop().expect("one")
    }

    /// Lets `/sse` send its second event.
    pub(crate) fn release(&self) {
        self.state.release.notify_one();
    }
}

impl Drop for GatewayApp {
    fn drop(&mut self) {
        self.task.abort();
    }
}
