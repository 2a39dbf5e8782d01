//! Test doubles for the outbound client: a loopback HTTP listener that counts connections and
//! answers by a hand-written script, and a fake DNS server on loopback UDP that answers `A`
//! questions from a script (one list per question, the last repeating) and counts questions.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

type Script = dyn Fn(&str) -> Option<Vec<u8>> + Send + Sync;

/// An HTTP/1.1 listener: each connection's request (head and body) goes to the script, whose
/// bytes are written back before the connection closes (`None`: never answer).
pub(super) struct Http {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Http {
    pub(super) async fn start(
        bind: &str,
        respond: impl Fn(&str) -> Option<Vec<u8>> + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind(bind).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let respond: Arc<Script> = Arc::new(respond);
        let (count, seen) = (accepted.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let (respond, seen) = (respond.clone(), seen.clone());
                tokio::spawn(async move {
                    let request = read_request(&mut stream).await;
                    seen.lock().unwrap().push(request.clone());
                    match respond(&request) {
                        Some(bytes) => {
                            let _ = stream.write_all(&bytes).await;
                            let _ = stream.shutdown().await;
                        }
                        None => tokio::time::sleep(std::time::Duration::from_secs(60)).await,
                    }
                });
            }
        });
        Self {
            addr,
            accepted,
            requests,
        }
    }

    pub(super) fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far.
    pub(super) fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    pub(super) fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

async fn read_request(stream: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n) = stream.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length = text[..head_end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= head_end + 4 + length {
                break;
            }
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// `200 OK` with `body`, closing the connection.
pub(super) fn ok(body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// `302 Found` to `location`.
pub(super) fn redirect(location: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// The request line's path.
pub(super) fn path(request: &str) -> &str {
    request.split(' ').nth(1).unwrap_or("")
}

/// A DNS server for one purpose: the n-th `A` question gets `script[n]` (the last list once
/// past the end); `AAAA` and other questions get no records.
pub(super) struct FakeDns {
    pub addr: SocketAddr,
    a_questions: Arc<AtomicUsize>,
}

impl FakeDns {
    pub(super) async fn start(script: Vec<Vec<Ipv4Addr>>) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let a_questions = Arc::new(AtomicUsize::new(0));
        let counter = a_questions.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                let query = &buf[..n];
                let Some((question_end, qtype)) = question(query) else {
                    continue;
                };
                let records = if qtype == 1 {
                    let i = counter.fetch_add(1, Ordering::SeqCst);
                    script[i.min(script.len() - 1)].clone()
                } else {
                    Vec::new()
                };
                let mut out = query[..2].to_vec(); // the id
                out.extend_from_slice(&[0x81, 0x80, 0, 1]); // response, RD+RA, one question
                out.extend_from_slice(&(records.len() as u16).to_be_bytes());
                out.extend_from_slice(&[0, 0, 0, 0]);
                out.extend_from_slice(&query[12..question_end]);
                for a in records {
                    // Name by pointer to the question, A, IN, TTL 0, four bytes.
                    out.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4]);
                    out.extend_from_slice(&a.octets());
                }
                let _ = socket.send_to(&out, from).await;
            }
        });
        Self { addr, a_questions }
    }

    /// `A` questions answered so far.
    pub(super) fn a_questions(&self) -> usize {
        self.a_questions.load(Ordering::SeqCst)
    }
}

/// Where the (single) question ends, and its type.
fn question(query: &[u8]) -> Option<(usize, u16)> {
    let mut at = 12;
    while *query.get(at)? != 0 {
        at += 1 + query[at] as usize;
    }
    let qtype = u16::from_be_bytes([*query.get(at + 1)?, *query.get(at + 2)?]);
    Some((at + 5, qtype))
}
