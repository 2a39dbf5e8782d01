//! A real SMTP sink (`aiosmtpd`, run by `smtp_sink.py`) on a loopback port for one test, and
//! the mail it received.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub(crate) struct MailSink {
    child: Child,
    pub port: u16,
    file: PathBuf,
    _dir: tempfile::TempDir,
}

impl MailSink {
    pub(crate) fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("mail.jsonl");
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/api/support/smtp_sink.py"
        );
        let mut child = Command::new("python3")
            .arg(script)
            .arg(&file)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs the SMTP sink (pip install aiosmtpd)");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the sink says its port");
        let port = line
            .trim()
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the SMTP sink did not start: {line:?}"));
        Self {
            child,
            port,
            file,
            _dir: dir,
        }
    }

    /// `GATEHOUSE_SMTP_URL` for this sink.
    pub(crate) fn url(&self) -> String {
        format!("smtp+insecure://127.0.0.1:{}", self.port)
    }

    /// Every mail received so far.
    pub(crate) fn all(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The mails to `to`.
    pub(crate) fn to(&self, to: &str) -> Vec<Value> {
        self.all()
            .into_iter()
            .filter(|m| {
                m["to"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|t| t == to))
            })
            .collect()
    }

    /// Waits (the sender is another process) until `to` has received `count` mails; them.
    pub(crate) async fn wait_for(&self, to: &str, count: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let got = self.to(to);
            if got.len() >= count {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{to} received {} mails, not {count}: {:?}",
                got.len(),
                self.all()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The latest mail to `to` (waiting for the `count`th).
    pub(crate) async fn nth(&self, to: &str, count: usize) -> Value {
        self.wait_for(to, count).await[count - 1].clone()
    }
}

impl Drop for MailSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The 6-digit code in a sign-in mail.
pub(crate) fn mailed_code(mail: &Value) -> String {
    let body = mail["body"].as_str().unwrap_or_default();
    body.split_whitespace()
        .find(|w| w.len() == 6 && w.chars().all(|c| c.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no code in {body}"))
        .to_owned()
}

/// The `token` of the link in a mail, and the link's path.
pub(crate) fn mailed_link(mail: &Value) -> (String, String) {
    let body = mail["body"].as_str().unwrap_or_default();
    let link = body
        .split_whitespace()
        .find(|w| w.starts_with("http"))
        .unwrap_or_else(|| panic!("no link in {body}"));
    let (path, token) = link
        .split_once("?token=")
        .unwrap_or_else(|| panic!("no token in {link}"));
    let path = path.split_once("//").map_or(path, |(_, rest)| rest);
    let path = &path[path.find('/').unwrap_or(0)..];
    (path.to_owned(), token.to_owned())
}
