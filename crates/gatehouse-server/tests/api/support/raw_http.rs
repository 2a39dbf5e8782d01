//! A raw HTTP/1.1 client for the proxy tests: requests written byte for byte (reqwest would
//! normalise `%2e%2e` away), replies parsed by hand (chunked bodies decoded), and `%XX`
//! decoding for reading `return_to` back.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

/// A request written byte for byte as given (the target is not normalised).
pub(crate) struct Raw {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Raw {
    pub(crate) fn new(method: &str, target: &str) -> Self {
        Self {
            method: method.into(),
            target: target.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
    pub(crate) fn get(target: &str) -> Self {
        Self::new("GET", target)
    }
    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    pub(crate) fn bearer(self, key: &str) -> Self {
        self.header("Authorization", &format!("Bearer {key}"))
    }
    pub(crate) fn body(mut self, content_type: &str, body: &str) -> Self {
        self.body = body.as_bytes().to_vec();
        self.header("Content-Type", content_type)
    }
}

#[derive(Debug)]
pub(crate) struct RawReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawReply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub(crate) fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

/// Sends `req` to `127.0.0.1:port` with `Host: app.example.com` and `Connection: close`.
pub(crate) async fn send_raw(port: u16, req: &Raw) -> RawReply {
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {APP_HOST}\r\n",
        req.method, req.target
    );
    for (k, v) in &req.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !req.body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", req.body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    let io = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(head.as_bytes()).await?;
        s.write_all(&req.body).await?;
        // A proxy that answers before reading the whole request may close with a reset after
        // its answer (Traefik does, now and then, on a refused POST): what came first counts.
        let mut all = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match s.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !all.is_empty() => {
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok::<_, std::io::Error>(all)
    };
    let all = tokio::time::timeout(Duration::from_secs(10), io)
        .await
        .expect("answer within 10 s")
        .expect("io");
    parse_reply(&all, req.method == "HEAD")
}

fn parse_reply(all: &[u8], head_only: bool) -> RawReply {
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(all)));
    let head = String::from_utf8_lossy(&all[..split]).into_owned();
    let rest = &all[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut reply = RawReply {
        status,
        headers,
        body: Vec::new(),
    };
    if head_only {
        return reply;
    }
    let chunked = reply
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"));
    reply.body = if chunked {
        dechunk(rest)
    } else if let Some(n) = reply.header("content-length").and_then(|n| n.parse().ok()) {
        rest[..usize::min(n, rest.len())].to_vec()
    } else {
        rest.to_vec()
    };
    reply
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..end]);
        let size_hex = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16).expect("chunk size");
        data = &data[end + 2..];
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
    out
}

/// `%XX` decoded (for reading `return_to` back).
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
