//! Rate limiting with GCRA (the generic cell rate algorithm): each key keeps one number, its
//! theoretical arrival time (TAT). A limit of `count` per `period` admits one request every
//! `period / count` on average and a burst of `count`. The decision is a pure function of the
//! stored TAT and the time (in microseconds), so the memory backend and the database backend (one atomic upsert)
//! decide identically.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// `count` requests per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub count: u32,
    pub period: Duration,
}

impl Limit {
    /// Microseconds between two requests at the sustained rate.
    #[must_use]
    pub fn interval_us(&self) -> i64 {
        (self.period.as_micros() as i64 / i64::from(self.count.max(1))).max(1)
    }

    #[must_use]
    pub fn period_us(&self) -> i64 {
        self.period.as_micros() as i64
    }
}

/// The verdict on one request, with what the rate-limit headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the full burst is available again.
    pub reset_after_secs: u64,
    /// Seconds until the next request would be admitted (0 when allowed).
    pub retry_after_secs: u64,
}

fn ceil_secs(us: i64) -> u64 {
    (us.max(0) as u64).div_ceil(1_000_000)
}

/// GCRA: `tat` is the stored TAT (absent: never seen). Returns the new TAT to store (unchanged
/// when denied) and the decision.
#[must_use]
pub fn decide(tat: Option<i64>, now_us: i64, limit: Limit) -> (i64, Decision) {
    let (t, period) = (limit.interval_us(), limit.period_us());
    let tat = tat.unwrap_or(now_us).max(now_us);
    let new_tat = tat + t;
    if new_tat - now_us <= period {
        let remaining = ((period - (new_tat - now_us)) / t).max(0) as u32;
        let decision = Decision {
            allowed: true,
            limit: limit.count,
            remaining: remaining.min(limit.count),
            reset_after_secs: ceil_secs(new_tat - now_us),
            retry_after_secs: 0,
        };
        (new_tat, decision)
    } else {
        let decision = Decision {
            allowed: false,
            limit: limit.count,
            remaining: 0,
            reset_after_secs: ceil_secs(tat - now_us),
            retry_after_secs: ceil_secs(new_tat - period - now_us).max(1),
        };
        (tat, decision)
    }
}

/// The decision of a TAT the database already moved (or refused to move).
#[must_use]
pub fn decision_after(stored_tat: i64, admitted: bool, now_us: i64, limit: Limit) -> Decision {
    let (t, period) = (limit.interval_us(), limit.period_us());
    if admitted {
        let remaining = ((period - (stored_tat - now_us)) / t).max(0) as u32;
        Decision {
            allowed: true,
            limit: limit.count,
            remaining: remaining.min(limit.count),
            reset_after_secs: ceil_secs(stored_tat - now_us),
            retry_after_secs: 0,
        }
    } else {
        Decision {
            allowed: false,
            limit: limit.count,
            remaining: 0,
            reset_after_secs: ceil_secs(stored_tat - now_us),
            retry_after_secs: ceil_secs(stored_tat + t - period - now_us).max(1),
        }
    }
}

const SHARDS: usize = 16;
/// Keys kept per shard before stale ones are swept.
const SWEEP_AT: usize = 10_000;

/// The in-memory backend: sharded maps of TATs, for one instance.
#[derive(Debug)]
pub struct MemoryLimiter {
    shards: Vec<Mutex<HashMap<String, i64>>>,
}

impl Default for MemoryLimiter {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

impl MemoryLimiter {
    #[must_use]
    pub fn check(&self, key: &str, now_us: i64, limit: Limit) -> Decision {
        let shard = {
            use std::hash::{Hash, Hasher};
            let mut h = FxLike(0);
            key.hash(&mut h);
            (h.finish() as usize) % SHARDS
        };
        let Ok(mut map) = self.shards[shard].lock() else {
            return Decision {
                allowed: false,
                limit: limit.count,
                remaining: 0,
                reset_after_secs: 1,
                retry_after_secs: 1,
            };
        };
        if map.len() >= SWEEP_AT {
            // A key whose TAT has passed holds a full burst: forgetting it changes nothing.
            map.retain(|_, tat| *tat > now_us);
        }
        let (tat, decision) = decide(map.get(key).copied(), now_us, limit);
        if decision.allowed {
            map.insert(key.to_owned(), tat);
        }
        decision
    }
}

/// A small, fixed (not DoS-sensitive: keys are bounded by the sweep) hasher to pick a shard.
struct FxLike(u64);

impl std::hash::Hasher for FxLike {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 =
                (self.0.rotate_left(5) ^ u64::from(*b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(count: u32, secs: u64) -> Limit {
        Limit {
            count,
            period: Duration::from_secs(secs),
        }
    }

    #[test]
    fn admits_the_burst_then_one_per_interval() {
        let l = limit(10, 60);
        let mut tat = None;
        let mut remaining = Vec::new();
        for _ in 0..10 {
            let (t, d) = decide(tat, 0, l);
            assert!(d.allowed);
            remaining.push(d.remaining);
            tat = Some(t);
        }
        assert_eq!(remaining, vec![9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
        let (t, d) = decide(tat, 0, l);
        assert!(
            !d.allowed && d.retry_after_secs == 6 && t == tat.unwrap(),
            "{d:?}"
        );
        assert!(!decide(tat, 5_999_000, l).1.allowed);
        assert!(
            decide(tat, 6_000_000, l).1.allowed,
            "one interval later, one more"
        );
        assert!(
            decide(tat, 60_000_000, l).1.remaining == 9,
            "a full period later, the whole burst"
        );
    }

    #[test]
    fn database_and_memory_decide_alike() {
        let l = limit(3, 1);
        let (t1, d1) = decide(None, 1_000_000, l);
        assert_eq!(decision_after(t1, true, 1_000_000, l), d1);
        let (t3, _) = decide(decide(Some(t1), 1_000_000, l).0.into(), 1_000_000, l);
        let (_, denied) = decide(Some(t3), 1_000_000, l);
        assert_eq!(decision_after(t3, false, 1_000_000, l), denied);
    }

    #[test]
    fn memory_limiter_keys_are_separate() {
        let m = MemoryLimiter::default();
        let l = limit(2, 60);
        assert!(m.check("a", 0, l).allowed && m.check("a", 0, l).allowed);
        assert!(!m.check("a", 0, l).allowed);
        assert!(m.check("b", 0, l).allowed);
    }
}
