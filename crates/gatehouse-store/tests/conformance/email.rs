//! Mailed flows: one live flow per address and kind (a new one voids the old), code attempts
//! counted up to the limit and never past it, a flow taken once (parallel takers: one wins),
//! tokens bound to their kind and lapsing, verification only while the address is the same,
//! and per-address send limits that two parallel senders cannot both pass.

use std::sync::Arc;

use gatehouse_core::ids::{EmailFlowId, UserId};
use gatehouse_core::store::{EmailFlow, EmailFlowKind, SendDecision, SendLimits};

use crate::conformance;
use crate::harness::{Fresh, at};
use crate::orgs::user;

const LIMITS: SendLimits = SendLimits {
    per_minute: 1,
    per_hour: 5,
};

fn flow(kind: EmailFlowKind, email: &str, user: Option<UserId>, token: &[u8]) -> EmailFlow {
    EmailFlow {
        id: EmailFlowId::new(),
        kind,
        email_key: email.into(),
        email: email.into(),
        user_id: user,
        code_digest: (kind == EmailFlowKind::SignIn).then(|| b"code-digest".to_vec()),
        token_digest: token.to_vec(),
        return_to: Some("/console/orgs".into()),
        attempts: 0,
        created_at: at(0),
        expires_at: at(600),
    }
}

conformance!(
    a_new_flow_voids_the_old_one_of_its_kind,
    code_attempts_stop_at_the_limit,
    a_flow_is_taken_once,
    tokens_are_bound_to_their_kind_and_lapse,
    verification_holds_only_for_the_same_address,
    parallel_sends_pass_the_limit_once
);

async fn a_new_flow_voids_the_old_one_of_its_kind(f: Fresh) {
    let ann = user(&f, "ann@example.com").await;
    let first = flow(EmailFlowKind::SignIn, "ann@example.com", Some(ann), b"t1");
    let reset = flow(
        EmailFlowKind::PasswordReset,
        "ann@example.com",
        Some(ann),
        b"t2",
    );
    let second = flow(EmailFlowKind::SignIn, "ann@example.com", Some(ann), b"t3");
    f.store.create_email_flow(&first, &[]).await.unwrap();
    f.store.create_email_flow(&reset, &[]).await.unwrap();
    f.store.create_email_flow(&second, &[]).await.unwrap();
    assert!(!f.store.take_email_flow(first.id).await.unwrap(), "voided");
    assert!(
        f.store.take_email_flow(reset.id).await.unwrap(),
        "another kind stays"
    );
    let back = f
        .store
        .attempt_email_code(second.id, at(1), 5)
        .await
        .unwrap()
        .expect("live");
    assert_eq!(back.attempts, 1);
    assert_eq!(back.user_id, Some(ann));
    assert_eq!(back.return_to.as_deref(), Some("/console/orgs"));
    assert_eq!(back.code_digest.as_deref(), Some(b"code-digest".as_slice()));
}

async fn code_attempts_stop_at_the_limit(f: Fresh) {
    let sign_in = flow(EmailFlowKind::SignIn, "ann@example.com", None, b"t1");
    f.store.create_email_flow(&sign_in, &[]).await.unwrap();
    for n in 1..=5 {
        let got = f
            .store
            .attempt_email_code(sign_in.id, at(1), 5)
            .await
            .unwrap();
        assert_eq!(got.map(|g| g.attempts), Some(n));
    }
    assert!(
        f.store
            .attempt_email_code(sign_in.id, at(1), 5)
            .await
            .unwrap()
            .is_none()
    );
    let reset = flow(EmailFlowKind::PasswordReset, "bob@example.com", None, b"t2");
    f.store.create_email_flow(&reset, &[]).await.unwrap();
    assert!(
        f.store
            .attempt_email_code(reset.id, at(1), 5)
            .await
            .unwrap()
            .is_none(),
        "a flow without a code takes no code"
    );
    let late = flow(EmailFlowKind::SignIn, "cat@example.com", None, b"t3");
    f.store.create_email_flow(&late, &[]).await.unwrap();
    assert!(
        f.store
            .attempt_email_code(late.id, at(600), 5)
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_flow_is_taken_once(f: Fresh) {
    let sign_in = flow(EmailFlowKind::SignIn, "ann@example.com", None, b"t1");
    f.store.create_email_flow(&sign_in, &[]).await.unwrap();
    let takers: Vec<_> = (0..4)
        .map(|_| {
            let store = f.store.clone();
            let id = sign_in.id;
            tokio::spawn(async move { store.take_email_flow(id).await.unwrap() })
        })
        .collect();
    let mut won = 0;
    for t in takers {
        if t.await.unwrap() {
            won += 1;
        }
    }
    assert_eq!(won, 1);
}

async fn tokens_are_bound_to_their_kind_and_lapse(f: Fresh) {
    let ann = user(&f, "ann@example.com").await;
    let reset = flow(
        EmailFlowKind::PasswordReset,
        "ann@example.com",
        Some(ann),
        b"reset",
    );
    f.store.create_email_flow(&reset, &[]).await.unwrap();
    let store = &f.store;
    assert!(
        store
            .take_email_flow_by_token(EmailFlowKind::Verify, b"reset", at(1), 5)
            .await
            .unwrap()
            .is_none(),
        "another kind's token"
    );
    assert!(
        store
            .email_flow_by_token(EmailFlowKind::PasswordReset, b"reset", at(600))
            .await
            .unwrap()
            .is_none(),
        "lapsed at its instant"
    );
    let peeked = store
        .email_flow_by_token(EmailFlowKind::PasswordReset, b"reset", at(599))
        .await
        .unwrap();
    assert_eq!(peeked.map(|p| p.id), Some(reset.id));
    let taken = store
        .take_email_flow_by_token(EmailFlowKind::PasswordReset, b"reset", at(599), 5)
        .await
        .unwrap();
    assert_eq!(taken.map(|t| t.id), Some(reset.id));
    assert!(
        store
            .take_email_flow_by_token(EmailFlowKind::PasswordReset, b"reset", at(599), 5)
            .await
            .unwrap()
            .is_none(),
        "once"
    );
}

async fn verification_holds_only_for_the_same_address(f: Fresh) {
    let ann = user(&f, "ann@example.com").await;
    assert!(
        !f.store
            .set_email_verified(ann, "old@example.com", at(5), &[])
            .await
            .unwrap()
    );
    let before = f.store.user_by_id(ann).await.unwrap().unwrap();
    assert_eq!(before.email_verified_at, None);
    assert!(
        f.store
            .set_email_verified(ann, "ann@example.com", at(5), &[])
            .await
            .unwrap()
    );
    assert!(
        f.store
            .set_email_verified(ann, "ann@example.com", at(9), &[])
            .await
            .unwrap(),
        "again: still verified"
    );
    let after = f.store.user_by_id(ann).await.unwrap().unwrap();
    assert_eq!(
        after.email_verified_at,
        Some(at(5)),
        "the first proof counts"
    );
}

async fn parallel_sends_pass_the_limit_once(f: Fresh) {
    let senders: Vec<_> = (0..6)
        .map(|_| {
            let store = Arc::clone(&f.store);
            tokio::spawn(async move {
                store
                    .reserve_send("ann@example.com", at(100), LIMITS)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut allowed = 0;
    for s in senders {
        match s.await.unwrap() {
            SendDecision::Allowed => allowed += 1,
            SendDecision::Limited { retry_after_secs } => assert_eq!(retry_after_secs, 60),
        }
    }
    assert_eq!(allowed, 1);
    let next = f
        .store
        .reserve_send("ann@example.com", at(160), LIMITS)
        .await
        .unwrap();
    assert_eq!(next, SendDecision::Allowed, "a minute later");
    let other = f
        .store
        .reserve_send("bob@example.com", at(160), LIMITS)
        .await
        .unwrap();
    assert_eq!(other, SendDecision::Allowed, "per address");
}
