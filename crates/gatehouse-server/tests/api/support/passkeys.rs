//! A software authenticator (`webauthn-authenticator-rs`'s `SoftPasskey`, which claims user
//! verification) speaking to a running server at its public URL's origin, and the ceremonies
//! of SPEC §15 driven through it.

use reqwest::StatusCode;
use serde_json::{Value, json};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};

use super::{Client, PASSWORD, Reply, Server, keep_session};

/// One authenticator holding the passkeys it made, for one origin.
pub(crate) struct Authenticator {
    inner: SoftPasskey,
    origin: Url,
}

impl Authenticator {
    pub(crate) fn new(server: &Server) -> Self {
        Self::for_origin(&server.public_url())
    }

    pub(crate) fn for_origin(origin: &str) -> Self {
        Self {
            inner: SoftPasskey::new(true),
            origin: Url::parse(origin).expect("origin"),
        }
    }

    /// The answer to a `register/start` body (its `publicKey`).
    pub(crate) fn create(&mut self, start: &Value) -> Value {
        let options: CreationChallengeResponse =
            serde_json::from_value(json!({ "publicKey": start["publicKey"] }))
                .expect("creation options");
        let credential = self
            .inner
            .do_registration(self.origin.clone(), options)
            .expect("the authenticator registers");
        serde_json::to_value(credential).expect("json")
    }

    /// The answer to request options (`publicKey`); `None` when the authenticator holds none of
    /// the listed credentials.
    pub(crate) fn get(&mut self, start: &Value) -> Option<Value> {
        let options: RequestChallengeResponse =
            serde_json::from_value(json!({ "publicKey": start["publicKey"] }))
                .expect("request options");
        let credential = self
            .inner
            .do_authentication(self.origin.clone(), options)
            .ok()?;
        Some(serde_json::to_value(credential).expect("json"))
    }

    /// A discoverable answer: what a resident-key authenticator sends for options without a
    /// credential list. (The soft authenticator needs the id listed to find its key; the list
    /// is not signed, and the user handle is added as such an authenticator would.)
    pub(crate) fn get_discoverable(
        &mut self,
        start: &Value,
        credential_id: &str,
        user: &str,
    ) -> Value {
        let mut options = start.clone();
        options["publicKey"]["allowCredentials"] =
            json!([{ "type": "public-key", "id": credential_id }]);
        let mut answer = self.get(&options).expect("the authenticator answers");
        let handle = uuid::Uuid::parse_str(user).expect("user id");
        answer["response"]["userHandle"] =
            json!(data_encoding::BASE64URL_NOPAD.encode(handle.as_bytes()));
        answer
    }
}

/// Registers a passkey named `name` for `c`'s user (confirmed with the password); the `201` body.
pub(crate) async fn register_passkey(c: &Client, auth: &mut Authenticator, name: &str) -> Value {
    let start = c
        .post(
            "/v1/auth/passkeys/register/start",
            json!({ "name": name, "current_password": PASSWORD }),
        )
        .await;
    assert_eq!(start.status, StatusCode::OK, "{}", start.text);
    let credential = auth.create(&start.body);
    let r = c
        .post(
            "/v1/auth/passkeys/register/finish",
            json!({ "ceremony_id": start.body["ceremony_id"], "credential": credential }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.body
}

/// `login/start` with this body; asserts `200`.
pub(crate) async fn passkey_login_start(c: &Client, body: Value) -> Value {
    let r = c.post("/v1/auth/passkeys/login/start", body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    r.body
}

/// `login/finish`; a `200` keeps the session on `c`.
pub(crate) async fn passkey_login_finish(
    c: &mut Client,
    ceremony: &Value,
    credential: Value,
) -> Reply {
    let r = c
        .post(
            "/v1/auth/passkeys/login/finish",
            json!({ "ceremony_id": ceremony["ceremony_id"], "credential": credential }),
        )
        .await;
    keep_session(c, &r);
    r
}

/// Signs `c` in with a passkey of `email` held by `auth`: start, answer, finish.
pub(crate) async fn passkey_sign_in(
    c: &mut Client,
    auth: &mut Authenticator,
    email: &str,
) -> Reply {
    let start = passkey_login_start(c, json!({ "email": email })).await;
    let credential = auth
        .get(&start)
        .expect("the authenticator holds a listed passkey");
    passkey_login_finish(c, &start, credential).await
}
