//! Second factors against the manual clock (SPEC §15): a TOTP code counts once and only for a
//! later step than the last used (so the enrollment code is never the first sign-in code), the
//! steps around now are accepted and no others, a pending enrollment lapses at 15 minutes and an
//! `mfa_token` at 5, each exactly at its instant.

use gatehouse_core::Error;
use gatehouse_core::error::AuthFailure;
use gatehouse_core::secret::ExposeSecret;
use gatehouse_core::service::ClientInfo;
use gatehouse_core::service::auth::SessionPrincipal;
use gatehouse_core::totp;

use crate::harness::Fresh;
use crate::world::{PASSWORD, World, secs};

async fn principal(w: &World, email: &str) -> SessionPrincipal {
    let login = w.login(email).await;
    w.s.auth
        .authenticate_session(login.token.expose_secret())
        .await
        .unwrap()
}

/// The code of the step `offset` steps from now on `seed`.
fn code(w: &World, seed: &[u8], offset: i64) -> String {
    format!(
        "{:06}",
        totp::code_at(seed, totp::step_of(w.now()) + offset)
    )
}

/// `email` with TOTP on, confirmed with the code of the current step; the seed.
async fn enrolled(w: &World, email: &str) -> Vec<u8> {
    w.user(email).await;
    let p = principal(w, email).await;
    let client = ClientInfo::default();
    let e = w.s.auth.start_totp(&p, PASSWORD, &client).await.unwrap();
    let seed = totp::seed_from_text(e.secret.expose_secret()).unwrap();
    w.s.auth
        .confirm_totp(p.user.id, &code(w, &seed, 0), &client)
        .await
        .unwrap();
    seed
}

async fn sign_in(w: &World, email: &str, otp: &str) -> Result<(), Error> {
    w.s.auth
        .login_with(email, PASSWORD, Some(otp), ClientInfo::default(), None)
        .await
        .map(|_| ())
}

fn is_invalid(r: &Result<(), Error>) -> bool {
    matches!(
        r,
        Err(Error::Unauthenticated(AuthFailure::InvalidCredentials))
    )
}

async fn each_step_counts_once_and_only_forward(f: Fresh) {
    let w = World::new(f, &[]).await;
    let seed = enrolled(&w, "ann@example.com").await;
    // The confirmation spent the current step: its code is not a first sign-in code.
    assert!(is_invalid(
        &sign_in(&w, "ann@example.com", &code(&w, &seed, 0)).await
    ));
    assert!(is_invalid(
        &sign_in(&w, "ann@example.com", &code(&w, &seed, -1)).await
    ));
    sign_in(&w, "ann@example.com", &code(&w, &seed, 1))
        .await
        .unwrap();
    assert!(
        is_invalid(&sign_in(&w, "ann@example.com", &code(&w, &seed, 1)).await),
        "the same step twice"
    );
    // Three steps later, "now - 1" is the step after the last used one: accepted once.
    w.advance(secs(90));
    sign_in(&w, "ann@example.com", &code(&w, &seed, -1))
        .await
        .unwrap();
    assert!(is_invalid(
        &sign_in(&w, "ann@example.com", &code(&w, &seed, -1)).await
    ));
    // Two steps away from now is never accepted, in either direction.
    assert!(is_invalid(
        &sign_in(&w, "ann@example.com", &code(&w, &seed, 2)).await
    ));
    assert!(is_invalid(
        &sign_in(&w, "ann@example.com", &code(&w, &seed, -2)).await
    ));
    sign_in(&w, "ann@example.com", &code(&w, &seed, 0))
        .await
        .unwrap();
}

async fn a_code_lapses_at_the_end_of_the_step_after_its_own(f: Fresh) {
    let w = World::new(f, &[]).await;
    let seed = enrolled(&w, "bob@example.com").await;
    // Move to the first second of a step, and take the code of the next one.
    let into_step = w.now().unix_timestamp().rem_euclid(totp::STEP_SECS);
    w.advance(secs(u64::try_from(totp::STEP_SECS - into_step).unwrap()));
    let next = code(&w, &seed, 1);
    let later = code(&w, &seed, 2);
    // 90 s on, `next` is "now - 2": lapsed, though never used. `later` is "now - 1": the
    // oldest step still accepted.
    w.advance(secs(90));
    assert!(
        is_invalid(&sign_in(&w, "bob@example.com", &next).await),
        "lapsed"
    );
    sign_in(&w, "bob@example.com", &later).await.unwrap();
}

async fn a_pending_enrollment_lapses_at_fifteen_minutes(f: Fresh) {
    let w = World::new(f, &[]).await;
    w.user("cy@example.com").await;
    let p = principal(&w, "cy@example.com").await;
    let client = ClientInfo::default();
    let e = w.s.auth.start_totp(&p, PASSWORD, &client).await.unwrap();
    let seed = totp::seed_from_text(e.secret.expose_secret()).unwrap();
    assert_eq!(e.expires_at, w.now() + secs(15 * 60));
    w.advance(secs(15 * 60));
    let lapsed =
        w.s.auth
            .confirm_totp(p.user.id, &code(&w, &seed, 0), &client)
            .await;
    assert!(
        matches!(&lapsed, Err(Error::Validation(f)) if f["code"] == "no_enrollment"),
        "{lapsed:?}"
    );
}

async fn an_mfa_token_lapses_at_five_minutes(f: Fresh) {
    let w = World::new(f, &[]).await;
    let seed = enrolled(&w, "dee@example.com").await;
    let asked =
        w.s.auth
            .login_with(
                "dee@example.com",
                PASSWORD,
                None,
                ClientInfo::default(),
                None,
            )
            .await;
    let Err(Error::MfaRequired(challenge)) = asked else {
        panic!("expected mfa_required")
    };
    assert_eq!(challenge.expires_at, w.now() + secs(300));
    w.advance(secs(300));
    let late =
        w.s.auth
            .login_mfa(
                &challenge.token,
                &code(&w, &seed, 0),
                ClientInfo::default(),
                None,
            )
            .await
            .map(|_| ());
    assert!(is_invalid(&late), "lapsed at its instant");
    // A second before, a fresh token works.
    let Err(Error::MfaRequired(again)) =
        w.s.auth
            .login_with(
                "dee@example.com",
                PASSWORD,
                None,
                ClientInfo::default(),
                None,
            )
            .await
    else {
        panic!("expected mfa_required")
    };
    w.advance(secs(299));
    w.s.auth
        .login_mfa(
            &again.token,
            &code(&w, &seed, 0),
            ClientInfo::default(),
            None,
        )
        .await
        .unwrap();
}

crate::conformance!(
    each_step_counts_once_and_only_forward,
    a_code_lapses_at_the_end_of_the_step_after_its_own,
    a_pending_enrollment_lapses_at_fifteen_minutes,
    an_mfa_token_lapses_at_five_minutes
);
