//! Serving connections (SPEC §13): HTTP/1.1 under a cap on open connections, each connection
//! watched for its header, body, idle and send deadlines ([`connection`]), and a shutdown that
//! stops accepting, lets in-flight requests finish within a deadline and then closes the rest.
//! At the cap, a new connection takes the place of the oldest one with no request in flight
//! (silent, half-open or idle), so a flood of half-open connections cannot lock clients out;
//! when every connection is busy, the new one is refused (closed at once). A connection with
//! no request in flight is also closed at once on shutdown, so no client can delay it.

mod connection;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::config::Config;
use crate::doctor::{Check, Level};

/// The deadlines of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// A request head (line and headers) must arrive within this, counted from the accept or
    /// from its first byte on a kept-alive connection.
    pub header: Duration,
    /// A request body must arrive within this of its head.
    pub body: Duration,
    /// A kept-alive connection with no request for this long is closed.
    pub idle: Duration,
    /// A response the client does not read for this long is abandoned.
    pub send: Duration,
    /// On SIGTERM, in-flight requests have this long to finish.
    pub shutdown: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            header: Duration::from_secs(10),
            body: Duration::from_secs(30),
            idle: Duration::from_secs(60),
            send: Duration::from_secs(60),
            shutdown: Duration::from_secs(10),
        }
    }
}

/// Open files kept aside from connections: the database pool, the listener, log and data files.
const FILE_RESERVE: u64 = 128;

/// The soft limit on open files of this process (`Max open files` in `/proc/self/limits`).
#[must_use]
pub fn open_file_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The connection cap actually enforced: the configured one, lowered to fit the open-file
/// limit (so accepting never fails for want of a descriptor, which would stall every client).
#[must_use]
pub fn connection_cap(configured: usize, open_files: Option<u64>) -> usize {
    match open_files {
        Some(limit) => {
            let room = limit.saturating_sub(FILE_RESERVE).max(1);
            configured.min(usize::try_from(room).unwrap_or(usize::MAX))
        }
        None => configured,
    }
}

/// `doctor` lines: the connection cap against the open-file limit.
#[must_use]
pub fn doctor_checks(config: &Config) -> Vec<Check> {
    let limit = open_file_limit();
    let cap = connection_cap(config.max_connections, limit);
    let shown = limit.map_or("unknown".to_owned(), |l| l.to_string());
    let level = if cap < config.max_connections {
        Level::Warn
    } else {
        Level::Ok
    };
    let mut message = format!(
        "at most {cap} open connections (GATEHOUSE_MAX_CONNECTIONS {}, open-file limit {shown})",
        config.max_connections
    );
    if level == Level::Warn {
        message.push_str("; raise LimitNOFILE");
    }
    vec![Check {
        level,
        name: "connections",
        message,
    }]
}

/// What connection tasks are told: keep serving, finish what is in flight, or close now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stop {
    Serving,
    Finish,
    Close,
}

/// Serves `router` on `listener` until `shutdown` resolves, then shuts down gracefully.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    cap: usize,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let cap = cap.clamp(1, Semaphore::MAX_PERMITS);
    let permits = Arc::new(Semaphore::new(cap));
    let (stop, stopped) = watch::channel(Stop::Serving);
    let mut refusals = Refusals::default();
    let live = Live::default();
    let mut next_id: u64 = 0;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer): (tokio::net::TcpStream, SocketAddr) = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
        };
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if let Some(p) = make_room(&live, &permits).await {
                    p
                } else {
                    // Every connection is busy: refused at once (closed), so the accept loop
                    // keeps draining the backlog.
                    drop(stream);
                    refusals.note(cap);
                    continue;
                }
            }
        };
        let _ = stream.set_nodelay(true);
        next_id += 1;
        let id = next_id;
        let shared = Arc::new(connection::Shared::new());
        live.insert(id, shared.clone());
        let task = connection::Connection {
            shared,
            router: router.clone(),
            peer,
            timeouts,
            stop: stopped.clone(),
        };
        let live = live.clone();
        tokio::spawn(async move {
            metrics::gauge!("http_connections_open").increment(1.0);
            task.run(stream).await;
            metrics::gauge!("http_connections_open").decrement(1.0);
            live.remove(id);
            drop(permit);
        });
    }
    drop(listener);
    let open = cap - permits.available_permits();
    tracing::info!(
        open_connections = open,
        "no longer accepting; finishing in-flight requests"
    );
    let _ = stop.send(Stop::Finish);
    let all = u32::try_from(cap).unwrap_or(u32::MAX);
    if tokio::time::timeout(timeouts.shutdown, permits.acquire_many(all))
        .await
        .is_err()
    {
        let left = cap - permits.available_permits();
        tracing::warn!(
            open_connections = left,
            "shutdown deadline reached; closing what remains"
        );
        let _ = stop.send(Stop::Close);
        let _ = tokio::time::timeout(Duration::from_secs(1), permits.acquire_many(all)).await;
    }
    Ok(())
}

/// The open connections, oldest first.
#[derive(Clone, Default)]
struct Live(Arc<Mutex<BTreeMap<u64, Arc<connection::Shared>>>>);

impl Live {
    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<connection::Shared>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn insert(&self, id: u64, shared: Arc<connection::Shared>) {
        self.map().insert(id, shared);
    }

    fn remove(&self, id: u64) {
        self.map().remove(&id);
    }

    /// Closes the oldest connection with no request in flight; false when all are busy.
    fn evict_oldest_idle(&self) -> bool {
        self.map().values().any(|c| c.evict())
    }
}

/// At the cap: evicts the oldest connection with no request in flight and waits (briefly) for
/// its slot; `None` when every connection is busy.
async fn make_room(
    live: &Live,
    permits: &Arc<Semaphore>,
) -> Option<tokio::sync::OwnedSemaphorePermit> {
    if !live.evict_oldest_idle() {
        return None;
    }
    let wait = permits.clone().acquire_owned();
    tokio::time::timeout(Duration::from_millis(100), wait)
        .await
        .ok()?
        .ok()
}

/// Running out of descriptors or memory: pause briefly instead of spinning; anything else
/// (a client that reset before the accept) is the client's problem.
async fn accept_failed(e: &std::io::Error) {
    let resource = matches!(e.raw_os_error(), Some(23 | 24 | 12 | 105));
    if resource {
        tracing::warn!(error = %e, "accept failed; pausing 50 ms");
        tokio::time::sleep(Duration::from_millis(50)).await;
    } else {
        tracing::debug!(error = %e, "accept failed");
    }
}

/// Counts refused connections; logs at most one warning every 10 s.
#[derive(Default)]
struct Refusals {
    since_warned: u64,
    warned_at: Option<Instant>,
}

impl Refusals {
    fn note(&mut self, cap: usize) {
        metrics::counter!("http_connections_refused_total").increment(1);
        self.since_warned += 1;
        if self
            .warned_at
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(10))
        {
            tracing::warn!(
                cap,
                refused = self.since_warned,
                "connection cap reached; refusing new connections"
            );
            self.since_warned = 0;
            self.warned_at = Some(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests;
