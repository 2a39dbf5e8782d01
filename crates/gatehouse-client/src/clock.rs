//! The time verification runs at, injectable so that expiry and the refresh interval are
//! tested without sleeping.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    /// The current time, in seconds since the Unix epoch.
    fn now_unix(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(whole_seconds)
            .unwrap_or(0)
    }
}

/// Any `Fn() -> i64` is a clock (`move || SystemClock.now_unix() + 90`, a test's fixed time).
impl<F> Clock for F
where
    F: Fn() -> i64 + Send + Sync + 'static,
{
    fn now_unix(&self) -> i64 {
        self()
    }
}

/// `d` in whole seconds, saturating.
pub(crate) fn whole_seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}
