//! One connection: HTTP/1.1 by hyper, and a watchdog that closes it when the client is too slow.
//! The phase it is in decides its deadline: a fresh connection must deliver a request head
//! within the header timeout of the accept; a kept-alive one may sit idle for the idle timeout,
//! and once the next head's first byte arrives the header timeout runs again; while a request
//! is in flight the body deadline is enforced on the body itself, and a response the client
//! stops reading is abandoned after the send timeout.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tower::ServiceExt;

use super::{Stop, Timeouts};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Accepted; the first request head has not arrived.
    Fresh,
    /// Kept alive between requests, no byte of the next one yet.
    Idle,
    /// Some bytes of a request head on a kept-alive connection.
    Head,
    /// A request in flight (from its parsed head until its response is sent).
    Busy,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    pub phase: Phase,
    /// When the phase began.
    pub since: Instant,
    pub in_flight: u32,
    /// Since when the socket has refused our writes (the client is not reading).
    pub send_blocked: Option<Instant>,
    /// Closed to make room for a newer connection (the cap was reached).
    pub evicted: bool,
}

/// Why a watched connection is closed (a metrics label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    Header,
    Idle,
    Send,
    Evicted,
}

/// The moment this connection is closed unless something happens first, and why.
pub(crate) fn deadline(t: &Timing, to: &Timeouts) -> Option<(Instant, Expiry)> {
    if t.evicted {
        return Some((t.since, Expiry::Evicted));
    }
    let send = t.send_blocked.map(|at| (at + to.send, Expiry::Send));
    let phase = match t.phase {
        Phase::Fresh | Phase::Head => Some((t.since + to.header, Expiry::Header)),
        Phase::Idle => Some((t.since + to.idle, Expiry::Idle)),
        Phase::Busy => None,
    };
    match (phase, send) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// The state the socket, the request service, the watchdog and the accept loop share.
pub(crate) struct Shared {
    timing: Mutex<Timing>,
    changed: Notify,
}

impl Shared {
    pub(crate) fn new() -> Self {
        Self {
            timing: Mutex::new(Timing {
                phase: Phase::Fresh,
                since: Instant::now(),
                in_flight: 0,
                send_blocked: None,
                evicted: false,
            }),
            changed: Notify::new(),
        }
    }

    fn timing(&self) -> MutexGuard<'_, Timing> {
        self.timing.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bytes_read(&self) {
        let mut t = self.timing();
        if t.phase == Phase::Idle {
            t.phase = Phase::Head;
            t.since = Instant::now();
            drop(t);
            self.changed.notify_one();
        }
    }

    fn send_blocked(&self, blocked: bool) {
        let mut t = self.timing();
        match (blocked, t.send_blocked) {
            (true, None) => {
                t.send_blocked = Some(Instant::now());
                drop(t);
                self.changed.notify_one();
            }
            (false, Some(_)) => t.send_blocked = None,
            _ => {}
        }
    }

    fn begin_request(self: &Arc<Self>) -> InFlight {
        let mut t = self.timing();
        t.in_flight += 1;
        t.phase = Phase::Busy;
        InFlight(self.clone())
    }

    fn busy(&self) -> bool {
        self.timing().phase == Phase::Busy
    }

    /// Closes the connection unless a request is in flight; true when it will close.
    pub(crate) fn evict(&self) -> bool {
        let mut t = self.timing();
        if t.phase == Phase::Busy || t.evicted {
            return false;
        }
        t.evicted = true;
        drop(t);
        self.changed.notify_one();
        true
    }

    /// Returns when the deadline passes, with its reason.
    async fn expired(&self, to: &Timeouts) -> Expiry {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let next = deadline(&self.timing(), to);
            match next {
                Some((at, why)) if at <= Instant::now() => return why,
                Some((at, _)) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

/// A request in flight; dropped with its response body, once that is sent (or abandoned).
struct InFlight(Arc<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut t = self.0.timing();
        t.in_flight = t.in_flight.saturating_sub(1);
        if t.in_flight == 0 {
            t.phase = Phase::Idle;
            t.since = Instant::now();
            drop(t);
            self.0.changed.notify_one();
        }
    }
}

/// The socket, reporting reads and stalled writes to the watchdog.
struct Watched {
    inner: TcpStream,
    shared: Arc<Shared>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.shared.bytes_read();
        }
        polled
    }
}

impl Watched {
    fn note<T>(&self, polled: &Poll<std::io::Result<T>>) {
        self.shared.send_blocked(polled.is_pending());
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.note(&polled);
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.note(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The error a request body gives once its deadline has passed.
#[derive(Debug)]
struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimedOut {}

/// A request body that must be complete by a deadline (a timer is set only if it stalls).
struct DeadlineBody {
    inner: Incoming,
    deadline: Instant,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl hyper::body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(BoxError::from))),
            Poll::Pending => {
                let deadline = this.deadline;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        metrics::counter!("http_connections_closed_total", "reason" => "body_timeout")
                            .increment(1);
                        Poll::Ready(Some(Err(Box::new(BodyTimedOut))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that ends its request's flight when dropped.
struct Tracked {
    inner: Body,
    _flight: InFlight,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// One accepted connection and what it needs.
pub(crate) struct Connection {
    pub shared: Arc<Shared>,
    pub router: Router,
    pub peer: SocketAddr,
    pub timeouts: Timeouts,
    pub stop: watch::Receiver<Stop>,
}

impl Connection {
    /// Serves the connection until the client closes it, a deadline passes, or shutdown.
    pub(super) async fn run(self, stream: TcpStream) {
        let Self {
            shared,
            router,
            peer,
            timeouts,
            mut stop,
        } = self;
        let io = TokioIo::new(Watched {
            inner: stream,
            shared: shared.clone(),
        });
        let service_shared = shared.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let flight = service_shared.begin_request();
            let router = router.clone();
            let deadline = Instant::now() + timeouts.body;
            async move {
                let mut req = req.map(|inner| {
                    Body::new(DeadlineBody {
                        inner,
                        deadline,
                        timer: None,
                    })
                });
                req.extensions_mut().insert(ConnectInfo(peer));
                let response = router.oneshot(req).await?;
                Ok::<_, std::convert::Infallible>(response.map(|inner| Tracked {
                    inner,
                    _flight: flight,
                }))
            }
        });
        // The header deadline is the watchdog's: hyper's own (which needs a timer) would also
        // cut idle keep-alive connections at the header timeout.
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.header_read_timeout(None).keep_alive(true);
        let conn = builder.serve_connection(io, service).with_upgrades();
        tokio::pin!(conn);
        let mut finishing = false;
        loop {
            tokio::select! {
                served = conn.as_mut() => {
                    if let Err(e) = served {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    return;
                }
                why = shared.expired(&timeouts) => {
                    let reason = match why {
                        Expiry::Header => "header_timeout",
                        Expiry::Idle => "idle_timeout",
                        Expiry::Send => "send_timeout",
                        Expiry::Evicted => "evicted",
                    };
                    metrics::counter!("http_connections_closed_total", "reason" => reason)
                        .increment(1);
                    return;
                }
                changed = stop.changed() => {
                    let now = *stop.borrow();
                    if changed.is_err() || now == Stop::Close || !shared.busy() {
                        return;
                    }
                    if !finishing {
                        finishing = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(t0: Instant, secs: u64) -> Instant {
        t0 + Duration::from_secs(secs)
    }

    #[test]
    fn deadlines_by_phase() {
        let to = Timeouts::default();
        let t0 = Instant::now();
        let timing = |phase, send_blocked| Timing {
            phase,
            since: t0,
            in_flight: u32::from(phase == Phase::Busy),
            send_blocked,
            evicted: false,
        };
        assert_eq!(
            deadline(&timing(Phase::Fresh, None), &to),
            Some((at(t0, 10), Expiry::Header))
        );
        assert_eq!(
            deadline(&timing(Phase::Idle, None), &to),
            Some((at(t0, 60), Expiry::Idle))
        );
        assert_eq!(
            deadline(&timing(Phase::Head, None), &to),
            Some((at(t0, 10), Expiry::Header))
        );
        assert_eq!(deadline(&timing(Phase::Busy, None), &to), None);
        assert_eq!(
            deadline(&timing(Phase::Busy, Some(at(t0, 5))), &to),
            Some((at(t0, 65), Expiry::Send))
        );
        assert_eq!(
            deadline(&timing(Phase::Fresh, Some(t0)), &to),
            Some((at(t0, 10), Expiry::Header)),
            "the earlier deadline wins"
        );
        let mut evicted = timing(Phase::Idle, None);
        evicted.evicted = true;
        assert_eq!(deadline(&evicted, &to), Some((t0, Expiry::Evicted)));
    }
}
