//! Passkey ceremonies against the manual clock (SPEC §15): a registration or sign-in begun
//! lapses at five minutes, to the second, wherever it is finished.

use gatehouse_core::Error;
use gatehouse_core::error::AuthFailure;
use gatehouse_core::secret::ExposeSecret;
use gatehouse_core::service::ClientInfo;
use gatehouse_core::service::auth::SessionPrincipal;
use serde_json::{Value, json};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::Url;

use crate::harness::Fresh;
use crate::world::{ISSUER, PASSWORD, World, secs};

async fn principal(w: &World, email: &str) -> SessionPrincipal {
    w.user(email).await;
    let login = w.login(email).await;
    w.s.auth
        .authenticate_session(login.token.expose_secret())
        .await
        .unwrap()
}

fn origin() -> Url {
    Url::parse(ISSUER).unwrap()
}

fn create(auth: &mut SoftPasskey, options: &Value) -> Value {
    let options = serde_json::from_value(json!({ "publicKey": options["publicKey"] })).unwrap();
    serde_json::to_value(auth.do_registration(origin(), options).unwrap()).unwrap()
}

fn get(auth: &mut SoftPasskey, options: &Value) -> Value {
    let options = serde_json::from_value(json!({ "publicKey": options["publicKey"] })).unwrap();
    serde_json::to_value(auth.do_authentication(origin(), options).unwrap()).unwrap()
}

fn lapsed_registration(r: &Result<(), Error>) -> bool {
    matches!(r, Err(Error::Validation(f)) if f.get("ceremony_id").map(String::as_str) == Some("unknown"))
}

async fn ceremonies_lapse_at_five_minutes(f: Fresh) {
    let w = World::new(f, &[]).await;
    let p = principal(&w, "ann@example.com").await;
    let client = ClientInfo::default();
    let mut auth = SoftPasskey::new(true);
    let register = |name: &'static str| {
        let (w, p, client) = (&w, &p, &client);
        async move {
            w.s.auth
                .start_passkey_registration(p, name, Some(PASSWORD), None, client)
                .await
                .unwrap()
        }
    };
    let late = register("Late").await;
    let on_time = register("On time").await;
    w.advance(secs(299));
    let answer = create(&mut auth, &on_time.options);
    w.s.auth
        .finish_passkey_registration(&p, &on_time.ceremony_id.to_string(), &answer, &client)
        .await
        .unwrap();
    w.advance(secs(1));
    let answer = create(&mut auth, &late.options);
    let r =
        w.s.auth
            .finish_passkey_registration(&p, &late.ceremony_id.to_string(), &answer, &client)
            .await
            .map(|_| ());
    assert!(lapsed_registration(&r), "{r:?}");

    let sign_in = || w.s.auth.start_passkey_login(Some("ann@example.com"));
    let late = sign_in().await.unwrap();
    w.advance(secs(60));
    let on_time = sign_in().await.unwrap();
    w.advance(secs(240));
    let finish = |ceremony: String, answer: Value| {
        let w = &w;
        async move {
            w.s.auth
                .login_passkey(&ceremony, &answer, ClientInfo::default(), None)
                .await
                .map(|_| ())
        }
    };
    let r = finish(late.ceremony_id.to_string(), get(&mut auth, &late.options)).await;
    assert!(
        matches!(
            r,
            Err(Error::Unauthenticated(AuthFailure::InvalidCredentials))
        ),
        "lapsed at its instant: {r:?}"
    );
    finish(
        on_time.ceremony_id.to_string(),
        get(&mut auth, &on_time.options),
    )
    .await
    .unwrap();
}

crate::conformance!(ceremonies_lapse_at_five_minutes);
