//! The real OpenID provider (npm `oidc-provider`, run by `oidc_provider.mjs`) for one test, and
//! a headless browser of sorts for its development login and consent pages.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub(crate) struct RealOp {
    child: Child,
}

/// The folder `.ci/run` installs `oidc-provider` into.
fn tool_dir() -> String {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| format!("{root}/target"));
    format!("{target}/tools/oidc")
}

impl RealOp {
    pub(crate) fn start(port: u16, client_id: &str, secret: &str, redirect_uri: &str) -> Self {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/api/support/oidc_provider.mjs"
        );
        let mut child = Command::new("node")
            .arg(script)
            .arg(port.to_string())
            .arg(client_id)
            .arg(secret)
            .arg(redirect_uri)
            .arg(tool_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs the provider (npm install oidc-provider into target/tools/oidc)");
        let stdout = child.stdout.take().expect("stdout");
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .expect("the provider says it listens");
        assert!(
            line.starts_with("listening"),
            "the provider did not start: {line:?}"
        );
        // Keep reading: the provider writes notices later, and a closed pipe would kill it.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while reader.read_line(&mut sink).is_ok_and(|n| n > 0) {
                sink.clear();
            }
        });
        Self { child }
    }
}

impl Drop for RealOp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every `name="…" value="…"` hidden input of a form.
fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for tag in html.split("<input").skip(1) {
        let tag = tag.split('>').next().unwrap_or_default();
        if !tag.contains("type=\"hidden\"") {
            continue;
        }
        let attr = |name: &str| {
            tag.split(&format!("{name}=\""))
                .nth(1)
                .and_then(|v| v.split('"').next())
                .map(str::to_owned)
        };
        if let (Some(n), Some(v)) = (attr("name"), attr("value")) {
            out.push((n, v));
        }
    }
    out
}

fn absolute(base: &str, location: &str) -> String {
    url::Url::parse(base)
        .and_then(|b| b.join(location))
        .map(|u| u.to_string())
        .unwrap_or_else(|_| location.to_owned())
}

/// Signs in at the provider as `login` from `authorization_url` (its login page, then its
/// consent page), following redirects by hand until one leaves for `callback_prefix`; that URL.
pub(crate) async fn log_in_at_provider(
    authorization_url: &str,
    login: &str,
    callback_prefix: &str,
) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        // A fresh connection each time: the provider closes idle ones early.
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let mut next = authorization_url.to_owned();
    let mut post: Option<Vec<(String, String)>> = None;
    for _ in 0..20 {
        let response = match post.take() {
            Some(form) => {
                let mut body = url::form_urlencoded::Serializer::new(String::new());
                for (k, v) in &form {
                    body.append_pair(k, v);
                }
                http.post(&next)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body.finish())
                    .send()
                    .await
            }
            None => http.get(&next).send().await,
        }
        .expect("the provider answers");
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .expect("a redirect says where")
                .to_owned();
            let location = absolute(&next, &location);
            if location.starts_with(callback_prefix) {
                return location;
            }
            next = location;
            continue;
        }
        let html = response.text().await.expect("a page");
        assert!(status.is_success(), "{status}: {html}");
        let action = html
            .split("action=\"")
            .nth(1)
            .and_then(|a| a.split('"').next())
            .unwrap_or_else(|| panic!("a form on {next}: {html}"))
            .to_owned();
        let mut form = hidden_inputs(&html);
        if html.contains("name=\"login\"") {
            form.push(("login".into(), login.into()));
            form.push(("password".into(), "anything".into()));
        }
        next = absolute(&next, &action);
        post = Some(form);
    }
    panic!("the provider never sent the browser back");
}
