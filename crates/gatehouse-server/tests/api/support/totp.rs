//! TOTP codes computed by pyotp (an RFC 6238 implementation independent of the server's, run
//! through `python3`; `pip install pyotp`), and the second-factor steps the MFA tests share.
//!
//! The server accepts the steps now-1, now and now+1, and only a step later than the last one
//! used. Codes at offsets 0 and +1 stay inside that window whatever step boundary falls between
//! computing a code and the server checking it (-1 would not), so a test uses offset 0 (the
//! enrollment confirmation, [`enable_totp`]) and then offset +1 (its one TOTP sign-in), never
//! sleeps, and takes recovery codes for anything more.

use std::collections::HashSet;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::*;

/// The TOTP code of `secret` at `offset_steps` 30 s steps from now.
pub(crate) fn totp_at(secret: &str, offset_steps: i64) -> String {
    let offset = offset_steps.to_string();
    python(
        "import pyotp,sys,time; \
         print(pyotp.TOTP(sys.argv[1]).at(int(time.time()) + 30*int(sys.argv[2])))",
        &[secret, offset.as_str()],
    )
}

/// A six-digit code that is the code of no step within three of now: wrong for certain.
pub(crate) fn wrong_totp(secret: &str) -> String {
    python(
        "import pyotp,sys,time\n\
         t = pyotp.TOTP(sys.argv[1]); now = int(time.time())\n\
         near = {t.at(now + 30*k) for k in range(-3, 4)}\n\
         print(next(c for c in ('000000', '111111', '222222', '333333', '444444', '555555', \
         '666666', '777777', '888888') if c not in near))",
        &[secret],
    )
}

fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("TOTP codes need python3 with pyotp (`pip install pyotp`): {e}")
        });
    assert!(
        out.status.success(),
        "pyotp failed; is it installed? (`pip install pyotp`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let code = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "pyotp printed no TOTP code: {code:?}"
    );
    code
}

/// What [`enable_totp`] leaves behind.
pub(crate) struct Enrolled {
    pub secret: String,
    /// The code that confirmed the enrollment (offset 0): its step is spent.
    pub confirmed_with: String,
    pub recovery_codes: Vec<String>,
}

/// Turns TOTP on for `c`'s user (a session with its CSRF token). Its first sign-in code is
/// `totp_at(&secret, 1)`.
pub(crate) async fn enable_totp(c: &Client) -> Enrolled {
    let r = c
        .post("/v1/auth/mfa/totp", json!({ "current_password": PASSWORD }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let secret = r.body["secret"].as_str().unwrap().to_owned();
    let code = totp_at(&secret, 0);
    let r = c
        .post("/v1/auth/mfa/totp/confirm", json!({ "code": code }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    Enrolled {
        secret,
        confirmed_with: code,
        recovery_codes: recovery_codes(&r),
    }
}

/// The `recovery_codes` of an answer: ten distinct `xxxx-xxxx-xxxx` in uppercase Crockford
/// base32 (asserted).
pub(crate) fn recovery_codes(r: &Reply) -> Vec<String> {
    const CROCKFORD: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let codes: Vec<String> = r.body["recovery_codes"]
        .as_array()
        .unwrap_or_else(|| panic!("no recovery_codes: {}", r.text))
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10, "{}", r.text);
    for code in &codes {
        let groups: Vec<&str> = code.split('-').collect();
        assert!(
            groups.len() == 3
                && groups
                    .iter()
                    .all(|g| g.len() == 4 && g.chars().all(|ch| CROCKFORD.contains(ch))),
            "not xxxx-xxxx-xxxx Crockford base32: {code}"
        );
    }
    assert_eq!(codes.iter().collect::<HashSet<_>>().len(), 10, "distinct");
    codes
}

/// `POST /v1/auth/login` with the right password and `otp` (`None`: no `otp` field); a `200`
/// keeps the session on `c`.
pub(crate) async fn sign_in(c: &mut Client, email: &str, otp: Option<&str>) -> Reply {
    let mut body = json!({ "email": email, "password": PASSWORD });
    if let Some(otp) = otp {
        body["otp"] = json!(otp);
    }
    let r = c.post("/v1/auth/login", body).await;
    keep_session(c, &r);
    r
}

/// `POST /v1/auth/login/mfa`; a `200` keeps the session on `c`.
pub(crate) async fn second_step(c: &mut Client, mfa_token: &str, otp: &str) -> Reply {
    let r = c
        .post(
            "/v1/auth/login/mfa",
            json!({ "mfa_token": mfa_token, "otp": otp }),
        )
        .await;
    keep_session(c, &r);
    r
}

pub(crate) fn keep_session(c: &mut Client, r: &Reply) {
    if r.status == StatusCode::OK {
        let set = r.header("set-cookie").expect("a sign-in sets the cookie");
        c.cookie = Some(set.split(';').next().expect("pair").to_owned());
        c.csrf = r.body["csrf_token"].as_str().map(str::to_owned);
    }
}

/// Asserts the answer to a right password without `otp`: `401 mfa_required` with the methods
/// and a future `expires_at`, and no cookie. Its `mfa_token`.
pub(crate) fn mfa_required(r: &Reply) -> String {
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "mfa_required"),
        "{}",
        r.text
    );
    assert!(
        r.header("set-cookie").is_none(),
        "no session before the second step"
    );
    let error = &r.body["error"];
    assert_eq!(
        error["methods"],
        json!(["totp", "recovery_code"]),
        "{}",
        r.text
    );
    assert!(
        rfc3339(&error["expires_at"]) > OffsetDateTime::now_utc(),
        "{}",
        r.text
    );
    let token = error["mfa_token"].as_str().unwrap_or_default().to_owned();
    assert!(!token.is_empty(), "an mfa_token: {}", r.text);
    token
}

/// `401 invalid_credentials`, telling nothing of a second factor.
pub(crate) fn invalid_credentials(r: &Reply) -> bool {
    r.status == StatusCode::UNAUTHORIZED
        && r.code() == "invalid_credentials"
        && r.body["error"]["mfa_token"].is_null()
}

/// An RFC 3339 time (panics on anything else).
pub(crate) fn rfc3339(v: &Value) -> OffsetDateTime {
    let text = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    OffsetDateTime::parse(text, &Rfc3339).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// `GET /v1/auth/mfa`'s body.
pub(crate) async fn mfa_status(c: &Client) -> Value {
    let r = c.get("/v1/auth/mfa").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body
}

/// The events of `c`'s user with `action` (`GET /v1/auth/events`, newest first).
pub(crate) async fn my_events(c: &Client, action: &str) -> Vec<Value> {
    let r = c.get("/v1/auth/events").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}
