//! The harness: a fresh database per test (SQLite file or PostgreSQL database), the real
//! `gatehouse` binary on a loopback port, captured logs, and an HTTP client that keeps a session.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection;

mod db;
mod fake_dns;
mod gateway_app;
mod mail_sink;
mod mock_op;
mod passkeys;
mod proxies;
mod proxy;
mod raw_http;
mod real_op;
mod receiver;
mod totp;
pub(crate) use db::*;
pub(crate) use fake_dns::*;
pub(crate) use gateway_app::*;
pub(crate) use mail_sink::*;
pub(crate) use mock_op::*;
pub(crate) use passkeys::*;
pub(crate) use proxies::*;
pub(crate) use proxy::*;
pub(crate) use raw_http::*;
pub(crate) use real_op::*;
pub(crate) use receiver::*;
pub(crate) use totp::*;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");
pub(crate) const PASSWORD: &str = "correct horse battery staple";
/// Argon2 parameters for tests that are not about hashing cost (speed only).
pub(crate) const FAST_ARGON2: &str = "m=1024,t=1,p=1";

/// A running `gatehouse serve`.
pub(crate) struct Server {
    child: Option<Child>,
    pub base: String,
    pub stdout: Arc<Mutex<String>>,
    pub stderr: Arc<Mutex<String>>,
}

/// The environment every test server gets, before its own settings.
pub(crate) fn base_env() -> Vec<(String, String)> {
    vec![
        ("GATEHOUSE_ARGON2".into(), FAST_ARGON2.into()),
        ("GATEHOUSE_LOG".into(), "info".into()),
        // Generous limits, so tests about something else are never throttled; the rate-limit
        // and lockout tests set their own.
        ("GATEHOUSE_RATE_LIMIT_AUTH".into(), "100000/1m".into()),
        ("GATEHOUSE_RATE_LIMIT_API".into(), "100000/1m".into()),
        ("GATEHOUSE_LOCKOUT".into(), "1000/15m".into()),
    ]
}

pub(crate) fn command(db_url: &str, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("GATEHOUSE_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in base_env() {
        cmd.env(k, v);
    }
    cmd.env("GATEHOUSE_DATABASE_URL", db_url);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn capture(stream: impl std::io::Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let mut buf = into.lock().expect("lock");
            buf.push_str(&line);
            buf.push('\n');
        }
    });
}

impl Server {
    pub(crate) fn start(db: &TestDb, env: &[(&str, &str)]) -> Self {
        Self::start_url(&db.url, db.dir.path(), env)
    }

    /// Starts on `url` with `dir` as working directory; panics if it does not come up.
    pub(crate) fn start_url(url: &str, dir: &std::path::Path, env: &[(&str, &str)]) -> Self {
        Self::start_cmd(command(url, env), dir)
    }

    /// Starts `gatehouse serve` under `wrapper` (e.g. `prlimit --nofile=512:512`).
    pub(crate) fn start_wrapped(db: &TestDb, env: &[(&str, &str)], wrapper: &[&str]) -> Self {
        let inner = command(&db.url, env);
        let mut cmd = Command::new(wrapper[0]);
        cmd.args(&wrapper[1..]).arg(BIN);
        for (k, v) in inner.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        Self::start_cmd(cmd, db.dir.path())
    }

    fn start_cmd(mut cmd: Command, dir: &std::path::Path) -> Self {
        let mut child = cmd
            .args(["serve", "--listen", "127.0.0.1:0"])
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gatehouse");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        capture(child.stdout.take().expect("stdout"), stdout.clone());
        capture(child.stderr.take().expect("stderr"), stderr.clone());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = stderr.lock().expect("lock").clone();
            if let Some(line) = text
                .lines()
                .find(|l| l.starts_with("gatehouse listening on "))
            {
                let base = line
                    .trim_start_matches("gatehouse listening on ")
                    .trim()
                    .to_owned();
                return Self {
                    child: Some(child),
                    base,
                    stdout,
                    stderr,
                };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("gatehouse exited early ({status}): {text}");
            }
            assert!(Instant::now() < deadline, "gatehouse did not start: {text}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The public URL while it is defaulted: `localhost` on the bound port (SPEC §14); `base`
    /// is the bound address itself.
    pub(crate) fn public_url(&self) -> String {
        self.base.replacen("127.0.0.1", "localhost", 1)
    }

    /// The setup token printed on stderr, if any.
    pub(crate) fn setup_token(&self) -> Option<String> {
        let text = self.stderr.lock().expect("lock").clone();
        text.lines()
            .find_map(|l| l.strip_prefix("setup: open "))
            .and_then(|l| l.split("token=").nth(1))
            .map(|t| t.trim().to_owned())
    }

    pub(crate) fn logs(&self) -> String {
        format!(
            "{}{}",
            self.stdout.lock().expect("lock"),
            self.stderr.lock().expect("lock")
        )
    }

    /// The first log line containing `needle`, waiting up to 5 s for it (lines are written off
    /// the request path, so one may land just after its response).
    pub(crate) async fn log_line(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(line) = self.logs().lines().find(|l| l.contains(needle)) {
                return line.to_owned();
            }
            assert!(Instant::now() < deadline, "no log line with {needle:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `kill -9`.
    pub(crate) fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then the exit status if the process ends within `limit` (else it is killed
    /// when the server is dropped).
    pub(crate) fn terminate_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let c = self.child.as_mut().expect("running");
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// SIGTERM, then the exit status.
    pub(crate) fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        c.wait().expect("wait")
    }

    pub(crate) fn client(&self) -> Client {
        Client::new(&self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
        // A failing test shows what its server logged above warnings, so a 500 seen only in
        // CI says why.
        if std::thread::panicking() {
            let logs = self.logs();
            let loud: Vec<&str> = logs
                .lines()
                .filter(|l| l.contains("ERROR") || l.contains("WARN"))
                .collect();
            let tail = &loud[loud.len().saturating_sub(40)..];
            eprintln!("server {} logged:\n{}", self.base, tail.join("\n"));
        }
    }
}

/// Runs a gatehouse command to completion: (exit code, stdout, stderr).
pub(crate) fn run_cli(
    db: &TestDb,
    env: &[(&str, &str)],
    args: &[&str],
    stdin: Option<&str>,
) -> (i32, String, String) {
    use std::io::Write;
    let mut cmd = command(&db.url, env);
    let mut child = cmd
        .args(args)
        .current_dir(db.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gatehouse");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An HTTP client with an optional session cookie and CSRF token, set by hand (no cookie jar,
/// so tests see exactly what travels).
#[derive(Clone)]
pub(crate) struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
    /// Sent as `Authorization: Bearer …` (an API key).
    pub bearer: Option<String>,
}

pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub(crate) fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

impl Client {
    pub(crate) fn new(base: &str) -> Self {
        // reqwest's rustls needs a process-wide provider (ring) before a client is built.
        gatehouse_server::outbound::install_crypto_provider();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            http,
            base: base.to_owned(),
            cookie: None,
            csrf: None,
            bearer: None,
        }
    }

    pub(crate) fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let unsafe_method = method != Method::GET;
        let mut rb = self.http.request(method, format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            rb = rb.header("cookie", c);
        }
        if let (Some(t), true) = (&self.csrf, unsafe_method) {
            rb = rb.header("x-csrf-token", t);
        }
        if let Some(key) = &self.bearer {
            rb = rb.header("authorization", format!("Bearer {key}"));
        }
        rb
    }

    pub(crate) async fn send(rb: reqwest::RequestBuilder) -> Reply {
        let resp = rb.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    pub(crate) async fn get(&self, path: &str) -> Reply {
        Self::send(self.request(Method::GET, path)).await
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> Reply {
        Self::send(self.request(Method::POST, path).json(&body)).await
    }

    pub(crate) async fn post_empty(&self, path: &str) -> Reply {
        Self::send(self.request(Method::POST, path)).await
    }

    pub(crate) async fn delete(&self, path: &str) -> Reply {
        Self::send(self.request(Method::DELETE, path)).await
    }

    pub(crate) async fn put(&self, path: &str, body: Value) -> Reply {
        Self::send(self.request(Method::PUT, path).json(&body)).await
    }

    pub(crate) async fn patch(&self, path: &str, body: Value) -> Reply {
        Self::send(self.request(Method::PATCH, path).json(&body)).await
    }

    /// A client that authenticates with an API key only.
    pub(crate) fn with_key(&self, key: &str) -> Self {
        Self {
            http: self.http.clone(),
            base: self.base.clone(),
            cookie: None,
            csrf: None,
            bearer: Some(key.to_owned()),
        }
    }

    /// Creates an org; its id.
    pub(crate) async fn create_org(&self, name: &str) -> String {
        let r = self.post("/v1/orgs", json!({ "name": name })).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body["id"].as_str().unwrap().to_owned()
    }

    /// Creates an API key in `org` with `scopes`; (key id, key).
    pub(crate) async fn create_key(&self, org: &str, scopes: &[&str]) -> (String, String) {
        let r = self
            .post(
                &format!("/v1/orgs/{org}/api-keys"),
                json!({ "name": "test key", "scopes": scopes }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        (
            r.body["id"].as_str().unwrap().to_owned(),
            r.body["key"].as_str().unwrap().to_owned(),
        )
    }

    /// Invites `email` into `org` with `role`; the invitation token.
    pub(crate) async fn invite(&self, org: &str, email: &str, role: &str) -> String {
        let r = self
            .post(
                &format!("/v1/orgs/{org}/invitations"),
                json!({ "email": email, "role": role }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body["token"].as_str().unwrap().to_owned()
    }

    /// Signs in; keeps the cookie and CSRF token on success.
    pub(crate) async fn login(&mut self, email: &str, password: &str) -> Reply {
        let r = self
            .post(
                "/v1/auth/login",
                json!({ "email": email, "password": password }),
            )
            .await;
        if r.status == StatusCode::OK {
            let set = r.header("set-cookie").expect("set-cookie");
            self.cookie = Some(set.split(';').next().expect("pair").to_owned());
            self.csrf = r.body["csrf_token"].as_str().map(str::to_owned);
        }
        r
    }
}

/// A server with setup done: returns (server, admin client signed in, admin email).
pub(crate) async fn with_admin(db: &TestDb, env: &[(&str, &str)]) -> (Server, Client, String) {
    let server = Server::start(db, env);
    let token = server.setup_token().expect("setup token printed");
    let email = "owner@example.com".to_owned();
    let c = server.client();
    let r = c
        .post(
            "/v1/setup",
            json!({ "token": token, "email": email, "password": PASSWORD, "org_name": "Acme" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let mut admin = server.client();
    let r = admin.login(&email, PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    (server, admin, email)
}

/// Declares `NAME::sqlite` and `NAME::postgres` tests for `async fn NAME(db: Db)`.
#[macro_export]
macro_rules! both {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() { super::$name($crate::support::Db::Sqlite).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() { super::$name($crate::support::Db::Postgres).await }
        }
    )* };
}

impl Server {
    /// A new user in `org` with `role` (invited by `inviter`, accepted with a new account),
    /// signed in; (client, user id).
    pub(crate) async fn member(
        &self,
        inviter: &Client,
        org: &str,
        email: &str,
        role: &str,
    ) -> (Client, String) {
        let token = inviter.invite(org, email, role).await;
        let r = self
            .client()
            .post(
                "/v1/invitations/accept",
                json!({ "token": token, "password": PASSWORD }),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
        let mut c = self.client();
        assert_eq!(c.login(email, PASSWORD).await.status, StatusCode::OK);
        let me = c.get("/v1/auth/me").await;
        (c, me.body["user"]["id"].as_str().unwrap().to_owned())
    }
}

/// The id of the first org `c` belongs to.
pub(crate) async fn first_org(c: &Client) -> String {
    let r = c.get("/v1/orgs").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["orgs"][0]["id"].as_str().unwrap().to_owned()
}
