//! The console end to end in a real browser (SPEC §14): runs `tests/console/console_e2e.py`
//! (Selenium driving Debian's headless Chromium) against the built binary, once per database.
//! Screenshots of every page land in `target/tmp/console-screenshots/<db>/`. Without Chromium,
//! ChromeDriver or Selenium the test fails: `.ci/run` installs them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");

fn postgres_reachable() -> bool {
    let addr = "127.0.0.1:5432".parse().expect("address");
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
}

fn run(db: &str) {
    if db == "postgres" && !postgres_reachable() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "PostgreSQL is required when CI=true"
        );
        eprintln!("SKIPPED (PostgreSQL not reachable at 127.0.0.1:5432)");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console/console_e2e.py");
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("console-screenshots")
        .join(db);
    let out = Command::new("python3")
        .arg(&script)
        .args(["--bin", BIN, "--db", db, "--shots"])
        .arg(&shots)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "console end to end on {db} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("console end to end: all passed"),
        "{stdout}"
    );
}

#[test]
fn console_in_chromium_on_sqlite() {
    run("sqlite");
}

#[test]
fn console_in_chromium_on_postgres() {
    run("postgres");
}

/// Sign-in with a real OpenID provider in Chromium (SPEC §17), with a `Strict` session cookie.
#[test]
fn provider_sign_in_in_chromium() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console/oidc_e2e.py");
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("oidc-screenshots");
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../target")
            .to_string_lossy()
            .into_owned()
    });
    let tools = Path::new(&target).join("tools/oidc");
    let out = Command::new("python3")
        .arg(&script)
        .args(["--bin", BIN, "--tools"])
        .arg(&tools)
        .arg("--shots")
        .arg(&shots)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("oidc in chromium: all passed"),
        "provider sign-in in Chromium failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}

/// The console's mailed flows in Chromium against a real SMTP server (SPEC §16).
#[test]
fn mail_flows_in_chromium() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console/email_e2e.py");
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("email-screenshots");
    let out = Command::new("python3")
        .arg(&script)
        .args(["--bin", BIN, "--shots"])
        .arg(&shots)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("mail flows in chromium: all passed"),
        "mail flows in Chromium failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}
