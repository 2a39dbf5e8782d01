//! Time is injected, so expiry rules are testable without sleeping.

use std::sync::Mutex;
use std::time::Duration;

use time::OffsetDateTime;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that stands still until a test sets or advances it (usable from other crates'
/// tests: services built over it see exactly the time the test chose, with no sleeping).
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    #[must_use]
    pub fn new(start: OffsetDateTime) -> Self {
        Self(Mutex::new(start))
    }

    /// A fixed, round start (2027-01-15 08:00:00 UTC), for tests that need no particular date.
    #[must_use]
    pub fn at_a_fixed_time() -> Self {
        Self::new(from_unix(1_800_000_000))
    }

    pub fn set(&self, to: OffsetDateTime) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = to;
    }

    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Unix seconds, the representation used in storage.
#[must_use]
pub fn unix(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

/// Back from unix seconds; out-of-range values clamp to the epoch.
#[must_use]
pub fn from_unix(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// RFC 3339 in UTC, whole seconds (what storage keeps), the wire format for times.
#[must_use]
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::at_a_fixed_time();
        let t0 = clock.now();
        assert_eq!(unix(t0), 1_800_000_000);
        assert_eq!(clock.now(), t0);
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.now(), t0 + Duration::from_millis(1500));
        clock.set(from_unix(5));
        assert_eq!(unix(clock.now()), 5);
    }
}
