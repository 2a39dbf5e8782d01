//! One test's gatehouse: the services `serve` builds, over a fresh database, reading a manual
//! clock and a seeded random source.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_core::ambient::Ambient;
use gatehouse_core::clock::{Clock, ManualClock};
use gatehouse_core::mail::{Mail, Mailer};
use gatehouse_core::random::SeededRandom;
use gatehouse_core::secret::ExposeSecret;
use gatehouse_core::service::{ClientInfo, LoginOutcome, OrgAccess, Principal};
use gatehouse_core::store::{Org, User};
use gatehouse_server::app::{Services, services_with_mailer};
use gatehouse_server::config::{Config, Overrides};
use gatehouse_server::supervisor::Supervisor;
use time::OffsetDateTime;

use crate::harness::Fresh;

pub(crate) const PASSWORD: &str = "correct horse battery staple";
pub(crate) const ISSUER: &str = "https://gatehouse.test";

/// The mail the services would have sent.
#[derive(Default)]
pub(crate) struct CapturedMail(std::sync::Mutex<Vec<Mail>>);

impl Mailer for CapturedMail {
    fn send(&self, mail: Mail) {
        self.0.lock().expect("lock").push(mail);
    }
}

impl CapturedMail {
    /// Every mail to `to` so far.
    pub(crate) fn to(&self, to: &str) -> Vec<Mail> {
        self.0
            .lock()
            .expect("lock")
            .iter()
            .filter(|m| m.to == to)
            .cloned()
            .collect()
    }
}

pub(crate) struct World {
    pub f: Fresh,
    pub mail: Arc<CapturedMail>,
    pub clock: Arc<ManualClock>,
    pub s: Services,
    start: OffsetDateTime,
    /// The services' background loops (audit writer, last-used writer), stopped with the world.
    _loops: Supervisor,
}

impl World {
    /// Services configured by `settings` (env names without `GATEHOUSE_`, e.g. `("SESSION_TTL",
    /// "2h")`), the clock standing at [`ManualClock::at_a_fixed_time`].
    pub(crate) async fn new(f: Fresh, settings: &[(&str, &str)]) -> Self {
        let mut env: Vec<(String, String)> = vec![
            ("GATEHOUSE_DATABASE_URL".into(), f.url.clone()),
            ("GATEHOUSE_SECRET".into(), "r".repeat(43)),
            ("GATEHOUSE_SIGNUP".into(), "open".into()),
            ("GATEHOUSE_ARGON2".into(), "m=1024,t=1,p=1".into()),
            ("GATEHOUSE_LOCKOUT".into(), "1000/15m".into()),
        ];
        env.extend(
            settings
                .iter()
                .map(|(k, v)| (format!("GATEHOUSE_{k}"), (*v).to_owned())),
        );
        let config = Config::from_sources(&Overrides::default(), env).expect("config");
        let clock = Arc::new(ManualClock::at_a_fixed_time());
        let start = clock.now();
        let ambient = Ambient::new(clock.clone(), Arc::new(SeededRandom::new(11)));
        let mut loops = Supervisor::new();
        let mail = Arc::new(CapturedMail::default());
        let s = services_with_mailer(
            &config,
            &f.opened,
            ISSUER,
            &ambient,
            &mut loops,
            Some(mail.clone()),
        )
        .expect("services");
        s.tokens.start().await.expect("signing key");
        Self {
            f,
            mail,
            clock,
            s,
            start,
            _loops: loops,
        }
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Whole seconds from the start of the test to `t`.
    pub(crate) fn since_start(&self, t: OffsetDateTime) -> i64 {
        (t - self.start).whole_seconds()
    }

    pub(crate) fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// An admin owning an org, signed in.
    pub(crate) async fn admin(&self, email: &str) -> (LoginOutcome, Org) {
        let client = ClientInfo::default();
        let (_, org) = self
            .s
            .auth
            .create_admin(email, PASSWORD, "Acme", None, &client)
            .await
            .expect("admin");
        (self.login(email).await, org)
    }

    /// A new account (open sign-up), not signed in.
    pub(crate) async fn user(&self, email: &str) -> User {
        self.s
            .auth
            .signup(email, PASSWORD, None, &ClientInfo::default())
            .await
            .expect("signup")
    }

    pub(crate) async fn login(&self, email: &str) -> LoginOutcome {
        self.s
            .auth
            .login(email, PASSWORD, ClientInfo::default(), None)
            .await
            .expect("login")
    }

    /// The org as the signed-in user sees it.
    pub(crate) async fn access(&self, login: &LoginOutcome, org: &Org) -> OrgAccess {
        let principal = Principal::Session(Box::new(
            self.s
                .auth
                .authenticate_session(login.token.expose_secret())
                .await
                .expect("session"),
        ));
        self.s
            .orgs
            .access(&principal, org.id)
            .await
            .expect("access")
    }
}

pub(crate) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
