//! User changes the store announces (the user state cache's invalidation): this process hears
//! each after it commits, in order; on PostgreSQL every instance also hears it through the
//! change feed. A write that changes nothing announces nothing.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gatehouse_core::changes::{Change, ChangeSink};
use gatehouse_core::ids::{OrgId, SessionId};
use gatehouse_core::store::{NewSession, Org, Session};

use crate::conformance;
use crate::harness::{Fresh, at};
use crate::identity::new_user;

#[derive(Default)]
struct Heard {
    live: Mutex<bool>,
    changes: Mutex<Vec<Change>>,
}

impl ChangeSink for Heard {
    fn feed_live(&self, live: bool) {
        *self.live.lock().unwrap() = live;
    }
    fn changed(&self, change: Change) {
        self.changes.lock().unwrap().push(change);
    }
}

impl Heard {
    fn users(&self) -> Vec<Change> {
        self.changes
            .lock()
            .unwrap()
            .iter()
            .filter(|c| !matches!(c, Change::ApiKey(_) | Change::AllKeys))
            .cloned()
            .collect()
    }
}

conformance!(user_changes_are_announced_after_commit);

async fn user_changes_are_announced_after_commit(f: Fresh) {
    let local = Arc::new(Heard::default());
    f.store.subscribe_local(local.clone());
    // PostgreSQL: another instance's view, through the feed.
    let remote = Arc::new(Heard::default());
    let feed = f
        .opened
        .change_feed()
        .map(|feed| tokio::spawn(feed.run(remote.clone())));
    if feed.is_some() {
        let since = Instant::now();
        while !*remote.live.lock().unwrap() {
            assert!(
                since.elapsed() < Duration::from_secs(5),
                "feed never listened"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    let u = new_user("c@example.com");
    f.store.create_user(&u, &[]).await.unwrap();
    assert!(
        local.users().is_empty(),
        "a new user is no change to cached state"
    );
    let session = Session {
        id: SessionId::new(),
        user_id: u.id,
        created_at: at(0),
        last_seen_at: at(0),
        expires_at: at(1000),
        revoked_at: None,
        ip: None,
        user_agent: None,
    };
    let new = NewSession {
        session: session.clone(),
        token_digest: vec![7; 32],
        credential_epoch: 0,
    };
    f.store.create_session(&new, &[]).await.unwrap();
    assert!(
        f.store
            .revoke_session(u.id, session.id, at(0), &[])
            .await
            .unwrap()
    );
    let org = Org {
        id: OrgId::new(),
        name: "Changes".into(),
        created_at: at(0),
    };
    f.store.create_org(&org, u.id, &[]).await.unwrap();
    f.store
        .revoke_all_sessions(u.id, None, at(1), &[])
        .await
        .unwrap();
    assert!(
        f.store
            .set_user_disabled(u.id, true, at(2), &[])
            .await
            .unwrap()
    );
    // Already disabled: nothing changed, nothing announced.
    assert!(
        !f.store
            .set_user_disabled(u.id, true, at(3), &[])
            .await
            .unwrap()
    );
    f.store
        .revoke_jti("jti-1", at(100), at(4), &[])
        .await
        .unwrap();
    assert!(
        f.store
            .set_user_disabled(u.id, false, at(5), &[])
            .await
            .unwrap()
    );
    assert!(f.store.delete_org(org.id, u.id, &[]).await.unwrap());
    let expected = vec![
        Change::User(u.id),
        Change::User(u.id),
        Change::User(u.id),
        Change::User(u.id),
        Change::Jti("jti-1".into()),
        Change::User(u.id),
        Change::AllUsers,
    ];
    assert_eq!(local.users(), expected);

    if let Some(feed) = feed {
        let since = Instant::now();
        while remote.users().len() < expected.len() {
            assert!(
                since.elapsed() < Duration::from_secs(1),
                "feed: {:?}",
                remote.users()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(remote.users(), expected);
        feed.abort();
    }
}
