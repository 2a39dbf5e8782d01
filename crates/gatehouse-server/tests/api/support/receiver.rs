//! A webhook receiver on loopback for the audit sink tests: records every POST (headers and
//! body) and answers `200`, or `503` while told to fail.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

/// One POST the receiver saw.
#[derive(Clone, Debug)]
pub(crate) struct Hit {
    pub signature: Option<String>,
    pub chain: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// Whether it was answered `200`.
    pub acknowledged: bool,
}

impl Hit {
    pub(crate) fn events(&self) -> Vec<Value> {
        serde_json::from_slice(&self.body).expect("a JSON array")
    }
}

#[derive(Clone, Default)]
struct Shared {
    hits: Arc<Mutex<Vec<Hit>>>,
    failing: Arc<AtomicU32>,
}

pub(crate) struct Receiver {
    pub addr: SocketAddr,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

async fn record(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let fail = s
        .failing
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    s.hits.lock().unwrap().push(Hit {
        signature: header("x-gatehouse-signature"),
        chain: header("x-gatehouse-chain"),
        content_type: header("content-type"),
        body: body.to_vec(),
        acknowledged: !fail,
    });
    if fail {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}

impl Receiver {
    pub(crate) async fn start() -> Self {
        let shared = Shared::default();
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(record))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, shared, task }
    }

    /// `http://127.0.0.1:PORT/hook`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The next `n` POSTs are answered `503`.
    pub(crate) fn fail_next(&self, n: u32) {
        self.shared.failing.store(n, Ordering::SeqCst);
    }

    pub(crate) fn hits(&self) -> Vec<Hit> {
        self.shared.hits.lock().unwrap().clone()
    }

    /// Every acknowledged event of `chain`, in arrival order (duplicates kept).
    pub(crate) fn acknowledged(&self, chain: &str) -> Vec<Value> {
        self.hits()
            .iter()
            .filter(|h| h.acknowledged && h.chain.as_deref() == Some(chain))
            .flat_map(Hit::events)
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
