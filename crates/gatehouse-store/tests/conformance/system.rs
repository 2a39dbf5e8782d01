//! First-run state, the platform's first admin and org, memberships, readiness and the role.

use gatehouse_core::Error;
use gatehouse_core::error::AuthFailure;
use gatehouse_core::error::ConflictReason;
use gatehouse_core::ids::OrgId;
use gatehouse_core::role::Role;
use gatehouse_core::store::{FirstAdmin, Org};
use gatehouse_store::Backend;

use crate::conformance;
use crate::harness::{Fresh, at};
use crate::identity::new_user;

fn first_admin(email: &str, org: &str) -> FirstAdmin {
    let mut user = new_user(email);
    user.is_platform_admin = true;
    FirstAdmin {
        user,
        org: Org {
            id: OrgId::new(),
            name: org.into(),
            created_at: at(0),
        },
    }
}

conformance!(
    ping_answers,
    setup_token_is_single_use,
    admin_without_token_ends_setup,
    failed_setup_changes_nothing,
    role_is_restricted
);

async fn ping_answers(f: Fresh) {
    f.store.ping().await.unwrap();
}

async fn setup_token_is_single_use(f: Fresh) {
    assert!(f.store.setup_pending().await.unwrap());
    f.store.add_setup_token(&[7; 32], at(0)).await.unwrap();
    let wrong = f
        .store
        .create_admin(&first_admin("w@example.com", "W"), Some(&[8; 32]), &[])
        .await;
    assert!(matches!(
        wrong,
        Err(Error::Unauthenticated(AuthFailure::InvalidCredentials))
    ));
    assert!(
        f.store.setup_pending().await.unwrap(),
        "a wrong token leaves setup open"
    );

    let admin = first_admin("root@example.com", "Root");
    f.store
        .create_admin(&admin, Some(&[7; 32]), &[])
        .await
        .unwrap();
    assert!(!f.store.setup_pending().await.unwrap());
    let again = f
        .store
        .create_admin(&first_admin("x@example.com", "X"), Some(&[7; 32]), &[])
        .await;
    assert!(
        matches!(again, Err(Error::NotFound)),
        "setup is over: {again:?}"
    );

    let stored = f
        .store
        .user_by_email_key("root@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(stored.is_platform_admin);
    let orgs = f.store.memberships(stored.id).await.unwrap();
    assert_eq!(orgs.len(), 1);
    assert_eq!(
        (orgs[0].org.id, orgs[0].org.name.as_str(), orgs[0].role),
        (admin.org.id, "Root", Role::Owner)
    );
}

async fn admin_without_token_ends_setup(f: Fresh) {
    f.store.add_setup_token(&[1; 32], at(0)).await.unwrap();
    f.store
        .create_admin(&first_admin("cli@example.com", "Ops"), None, &[])
        .await
        .unwrap();
    assert!(!f.store.setup_pending().await.unwrap());
    let late = f
        .store
        .create_admin(&first_admin("late@example.com", "L"), Some(&[1; 32]), &[])
        .await;
    assert!(
        matches!(late, Err(Error::NotFound)),
        "outstanding tokens die with setup"
    );
    // More admins can still be created from the CLI.
    f.store
        .create_admin(&first_admin("second@example.com", "Two"), None, &[])
        .await
        .unwrap();
    let twin = f
        .store
        .create_admin(&first_admin("SECOND@example.com", "Three"), None, &[])
        .await;
    assert!(matches!(
        twin,
        Err(Error::Conflict(ConflictReason::EmailTaken))
    ));
}

async fn failed_setup_changes_nothing(f: Fresh) {
    f.store
        .create_user(&new_user("exists@example.com"), &[])
        .await
        .unwrap();
    f.store.add_setup_token(&[3; 32], at(0)).await.unwrap();
    let clash = f
        .store
        .create_admin(
            &first_admin("EXISTS@example.com", "Org"),
            Some(&[3; 32]),
            &[],
        )
        .await;
    assert!(matches!(clash, Err(Error::Conflict(_))));
    assert!(
        f.store.setup_pending().await.unwrap(),
        "the transaction rolled back"
    );
    f.store
        .create_admin(
            &first_admin("fresh@example.com", "Org"),
            Some(&[3; 32]),
            &[],
        )
        .await
        .unwrap();
}

async fn role_is_restricted(f: Fresh) {
    let report = f.store.role_report().await.unwrap();
    match f.opened.backend {
        Backend::Sqlite => assert!(report.is_none()),
        Backend::Postgres => {
            let r = report.unwrap();
            let name = f.url.rsplit('/').next().unwrap();
            assert_eq!(r.current_user, gatehouse_store::postgres::app_role(name));
            assert!(!r.superuser && !r.bypass_rls, "{r:?}");
            assert!(f.opened.role.as_ref().unwrap().restricted);
            assert!(!f.url.is_empty());
        }
    }
}
