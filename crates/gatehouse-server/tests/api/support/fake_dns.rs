//! A DNS server on loopback UDP for the outbound-guard tests: answers every `A` question with
//! the next list of addresses from a script (the last list repeats), `AAAA` with nothing, and
//! counts the questions. Enough of RFC 1035 for one question per message.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub(crate) struct FakeDns {
    pub addr: SocketAddr,
    asked: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

/// The answer to `query` with `addrs` as `A` records (none for other types).
fn answer(query: &[u8], addrs: &[Ipv4Addr]) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    let mut end = 12;
    while end < query.len() && query[end] != 0 {
        end += 1 + query[end] as usize;
    }
    let question_end = end + 5;
    if question_end > query.len() {
        return None;
    }
    let qtype = u16::from_be_bytes([query[end + 1], query[end + 2]]);
    let records: &[Ipv4Addr] = if qtype == 1 { addrs } else { &[] };
    let mut out = Vec::with_capacity(question_end + records.len() * 16);
    out.extend_from_slice(&query[..2]); // id
    out.extend_from_slice(&[0x81, 0x80]); // response, recursion desired and available
    out.extend_from_slice(&[0, 1]); // one question
    out.extend_from_slice(&(records.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&query[12..question_end]);
    for a in records {
        out.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4]); // name ptr, A, IN, TTL 0
        out.extend_from_slice(&a.octets());
    }
    Some(out)
}

impl FakeDns {
    /// Answers the n-th `A` question with `script[n]` (the last entry once past the end).
    pub(crate) async fn start(script: Vec<Vec<Ipv4Addr>>) -> Self {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let asked = Arc::new(AtomicUsize::new(0));
        let counter = asked.clone();
        let script = Arc::new(Mutex::new(script));
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 512];
            loop {
                let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let query = &buf[..n];
                let is_a = query.len() > 12 && {
                    let mut end = 12;
                    while end < n && query[end] != 0 {
                        end += 1 + query[end] as usize;
                    }
                    end + 2 < n && u16::from_be_bytes([query[end + 1], query[end + 2]]) == 1
                };
                let addrs = if is_a {
                    let i = counter.fetch_add(1, Ordering::SeqCst);
                    let s = script.lock().unwrap();
                    s.get(i).or(s.last()).cloned().unwrap_or_default()
                } else {
                    Vec::new()
                };
                if let Some(reply) = answer(query, &addrs) {
                    let _ = socket.send_to(&reply, from).await;
                }
            }
        });
        Self { addr, asked, task }
    }

    /// How many `A` questions were asked.
    pub(crate) fn asked(&self) -> usize {
        self.asked.load(Ordering::SeqCst)
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.task.abort();
    }
}
