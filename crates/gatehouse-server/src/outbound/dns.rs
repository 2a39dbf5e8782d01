//! A minimal DNS client over UDP (RFC 1035: one question, A or AAAA, no recursion of its own)
//! for `GATEHOUSE_OUTBOUND_NAMESERVER`, so tests can serve names from a fake server on loopback.
//! Without that setting the system resolver is used.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use async_trait::async_trait;
use gatehouse_core::outbound::Resolve;
use gatehouse_core::random::{self, SystemRandom};
use tokio::net::UdpSocket;

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;

/// Asks one nameserver for `A` and `AAAA` records.
#[derive(Debug, Clone)]
pub struct Nameserver {
    pub server: SocketAddr,
    pub timeout: Duration,
}

#[async_trait]
impl Resolve for Nameserver {
    async fn resolve(&self, name: &str, _port: u16) -> io::Result<Vec<IpAddr>> {
        let (a, aaaa) = tokio::join!(self.query(name, TYPE_A), self.query(name, TYPE_AAAA));
        match (a, aaaa) {
            (Err(e), Err(_)) => Err(e),
            (a, aaaa) => Ok(a
                .unwrap_or_default()
                .into_iter()
                .chain(aaaa.unwrap_or_default())
                .collect()),
        }
    }
}

fn invalid(why: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

impl Nameserver {
    async fn query(&self, name: &str, qtype: u16) -> io::Result<Vec<IpAddr>> {
        let local: SocketAddr = if self.server.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local).await?;
        socket.connect(self.server).await?;
        let id = u16::from_be_bytes(
            random::bytes::<2>(&SystemRandom).map_err(|e| io::Error::other(e.to_string()))?,
        );
        socket.send(&encode_query(id, name, qtype)?).await?;
        let mut buf = vec![0u8; 4096];
        tokio::time::timeout(self.timeout, async {
            loop {
                let n = socket.recv(&mut buf).await?;
                // Answers to other questions (a stale or spoofed id) are ignored.
                if let Some(addrs) = parse_answer(&buf[..n], id, qtype)? {
                    return Ok(addrs);
                }
            }
        })
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "DNS query timed out"))?
    }
}

/// A recursive query for `name`'s records of `qtype`.
pub fn encode_query(id: u16, name: &str, qtype: u16) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(name.len() + 18);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // RD; one question
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 || !label.is_ascii() {
            return Err(invalid("not a DNS name"));
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&[0, 1]); // class IN
    Ok(out)
}

/// The addresses of type `qtype` in an answer to query `id`; `None` when the message answers
/// another query. NXDOMAIN is no address; other error codes are errors.
pub fn parse_answer(msg: &[u8], id: u16, qtype: u16) -> io::Result<Option<Vec<IpAddr>>> {
    let short = || invalid("short DNS message");
    let header = msg.get(..12).ok_or_else(short)?;
    let u16_at = |i: usize| u16::from_be_bytes([header[i], header[i + 1]]);
    if u16_at(0) != id || header[2] & 0x80 == 0 {
        return Ok(None);
    }
    match header[3] & 0x0f {
        0 => {}
        3 => return Ok(Some(Vec::new())),
        _ => return Err(io::Error::other("DNS server answered with an error")),
    }
    let (questions, answers) = (u16_at(4), u16_at(6));
    let mut at = 12;
    for _ in 0..questions {
        at = skip_name(msg, at).ok_or_else(short)? + 4;
    }
    let mut addrs = Vec::new();
    for _ in 0..answers {
        at = skip_name(msg, at).ok_or_else(short)?;
        let fixed = msg.get(at..at + 10).ok_or_else(short)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let len = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
        let data = msg.get(at + 10..at + 10 + len).ok_or_else(short)?;
        at += 10 + len;
        if rtype != qtype {
            continue; // CNAME and the like: the server's own answers for the target follow
        }
        if let Ok(v4) = <[u8; 4]>::try_from(data)
            && rtype == TYPE_A
        {
            addrs.push(IpAddr::from(v4));
        } else if let Ok(v6) = <[u8; 16]>::try_from(data)
            && rtype == TYPE_AAAA
        {
            addrs.push(IpAddr::from(v6));
        } else {
            return Err(invalid("bad address record"));
        }
    }
    Ok(Some(addrs))
}

/// The offset just past the (possibly compressed) name at `at`.
fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *msg.get(at)?;
        match len {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return msg.get(at + 1).map(|_| at + 2),
            l => at += 1 + l as usize,
        }
    }
}
