//! Mailed flows against the manual clock (SPEC §16): a flow lapses at 10 minutes to the second;
//! a new request voids the address's previous flow, a refused one voids nothing; at most one
//! mail a minute and five an hour per address, with the wait until the next one.

use gatehouse_core::Error;
use gatehouse_core::error::AuthFailure;
use gatehouse_core::service::ClientInfo;
use gatehouse_core::service::auth::FlowStarted;

use crate::harness::Fresh;
use crate::world::{World, secs};

async fn request(w: &World, email: &str) -> Result<FlowStarted, Error> {
    w.s.auth
        .request_email_code(email, None, &ClientInfo::default())
        .await
}

/// The code of the latest mail to `email`.
fn latest_code(w: &World, email: &str) -> String {
    let mails = w.mail.to(email);
    let text = &mails.last().expect("a mail").text;
    text.split_whitespace()
        .find(|t| t.len() == 6 && t.chars().all(|c| c.is_ascii_digit()))
        .expect("a code")
        .to_owned()
}

async fn sign_in(w: &World, flow: &FlowStarted, code: &str) -> Result<(), Error> {
    w.s.auth
        .verify_email_code(
            &flow.flow_id.to_string(),
            Some(code),
            None,
            ClientInfo::default(),
            None,
        )
        .await
        .map(|_| ())
}

fn invalid(r: &Result<(), Error>) -> bool {
    matches!(
        r,
        Err(Error::Unauthenticated(AuthFailure::InvalidCredentials))
    )
}

fn limited_for(r: &Result<FlowStarted, Error>) -> Option<u64> {
    match r {
        Err(Error::RateLimited { retry_after_secs }) => Some(*retry_after_secs),
        _ => None,
    }
}

async fn a_flow_lapses_at_ten_minutes(f: Fresh) {
    let w = World::new(f, &[]).await;
    w.user("ann@example.com").await;
    w.user("bob@example.com").await;
    let ann = request(&w, "ann@example.com").await.unwrap();
    let ann_code = latest_code(&w, "ann@example.com");
    let bob = request(&w, "bob@example.com").await.unwrap();
    let bob_code = latest_code(&w, "bob@example.com");
    assert_eq!(w.since_start(ann.expires_at), 600);
    w.advance(secs(599));
    sign_in(&w, &bob, &bob_code).await.unwrap();
    w.advance(secs(1));
    assert!(
        invalid(&sign_in(&w, &ann, &ann_code).await),
        "lapsed at its instant"
    );
}

async fn a_new_request_voids_the_old_one_and_a_refused_one_voids_nothing(f: Fresh) {
    let w = World::new(f, &[]).await;
    let email = "ann@example.com";
    w.user(email).await;
    let first = request(&w, email).await.unwrap();
    let first_code = latest_code(&w, email);
    w.advance(secs(30));
    assert_eq!(limited_for(&request(&w, email).await), Some(30));
    assert_eq!(w.mail.to(email).len(), 1, "no mail for a refused request");
    sign_in(&w, &first, &first_code).await.unwrap();
    w.advance(secs(31));
    let second = request(&w, email).await.unwrap();
    let second_code = latest_code(&w, email);
    w.advance(secs(61));
    let third = request(&w, email).await.unwrap();
    let third_code = latest_code(&w, email);
    assert!(invalid(&sign_in(&w, &second, &second_code).await), "voided");
    sign_in(&w, &third, &third_code).await.unwrap();
}

async fn five_mails_an_hour_per_address_known_or_not(f: Fresh) {
    // Signup by invitation: an unknown address gets no mail, and is limited all the same.
    let w = World::new(f, &[("SIGNUP", "invite")]).await;
    w.admin("ann@example.com").await;
    for email in ["ann@example.com", "nobody@example.com"] {
        let start = w.since_start(w.now());
        for _ in 0..5 {
            request(&w, email).await.unwrap();
            w.advance(secs(61));
        }
        let waited = w.since_start(w.now()) - start;
        let wait = limited_for(&request(&w, email).await).expect("the sixth is refused");
        assert_eq!(i64::try_from(wait).unwrap(), 3600 - waited, "{email}");
        w.advance(secs(wait - 1));
        assert!(
            limited_for(&request(&w, email).await).is_some(),
            "a second early"
        );
        w.advance(secs(1));
        request(&w, email).await.unwrap();
    }
    assert!(w.mail.to("nobody@example.com").is_empty());
}

crate::conformance!(
    a_flow_lapses_at_ten_minutes,
    a_new_request_voids_the_old_one_and_a_refused_one_voids_nothing,
    five_mails_an_hour_per_address_known_or_not
);
