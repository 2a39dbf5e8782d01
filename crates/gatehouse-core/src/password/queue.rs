//! The hashing pool's admission: at most `slots` jobs run at once; the jobs that wait queue per
//! key (the account a password belongs to) and are started round-robin across keys, so one
//! account flooding the hasher cannot starve another's sign-in. Bounded per key and in total;
//! a job that does not fit is refused at once (the caller answers `429` with `Retry-After`).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// How much the queue admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Jobs running at once (each Argon2 hash holds `m` KiB).
    pub slots: usize,
    /// Jobs waiting for one key at most.
    pub per_key: usize,
    /// Jobs waiting in all at most.
    pub total: usize,
}

impl QueueLimits {
    /// `slots` running; 4 waiting per key, `32 × slots` waiting in all.
    pub fn for_slots(slots: usize) -> QueueLimits {
        let slots = slots.max(1);
        QueueLimits {
            slots,
            per_key: 4,
            total: 32 * slots,
        }
    }
}

/// Why a job was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// Its key already has `per_key` jobs waiting.
    Key,
    /// `total` jobs are waiting.
    Total,
}

/// The bookkeeping, with no clock and no threads: the pool drives it under a lock, and tests
/// drive it step by step.
#[derive(Debug)]
pub struct FairQueue<K, W> {
    limits: QueueLimits,
    running: usize,
    waiting: usize,
    queues: HashMap<K, VecDeque<W>>,
    /// Keys with waiting jobs, in the order they are served next.
    ring: VecDeque<K>,
}

impl<K: Eq + Hash + Clone, W> FairQueue<K, W> {
    pub fn new(limits: QueueLimits) -> Self {
        FairQueue {
            limits,
            running: 0,
            waiting: 0,
            queues: HashMap::new(),
            ring: VecDeque::new(),
        }
    }

    /// Takes a free slot, if there is one and nobody is waiting (no overtaking).
    pub fn try_start(&mut self) -> bool {
        if self.running < self.limits.slots && self.waiting == 0 {
            self.running += 1;
            true
        } else {
            false
        }
    }

    /// Queues `waiter` behind its key's earlier jobs, or refuses it (giving it back).
    pub fn enqueue(&mut self, key: K, waiter: W) -> Result<(), (Full, W)> {
        if self.waiting >= self.limits.total {
            return Err((Full::Total, waiter));
        }
        if self.queues.get(&key).map_or(0, VecDeque::len) >= self.limits.per_key {
            return Err((Full::Key, waiter));
        }
        let queue = self.queues.entry(key.clone()).or_default();
        if queue.is_empty() {
            self.ring.push_back(key);
        }
        queue.push_back(waiter);
        self.waiting += 1;
        Ok(())
    }

    /// A running job ended: its slot goes to the next key in turn (its oldest job), which is
    /// returned; with nobody waiting the slot is freed.
    pub fn finish(&mut self) -> Option<W> {
        while let Some(key) = self.ring.pop_front() {
            let Some(queue) = self.queues.get_mut(&key) else {
                continue;
            };
            let next = queue.pop_front();
            if queue.is_empty() {
                self.queues.remove(&key);
            } else {
                self.ring.push_back(key);
            }
            if let Some(w) = next {
                self.waiting -= 1;
                return Some(w);
            }
        }
        self.running = self.running.saturating_sub(1);
        None
    }

    /// Drops waiters that gave up (`gone`), so they stop holding places.
    pub fn purge(&mut self, gone: impl Fn(&W) -> bool) {
        let mut removed = 0;
        for queue in self.queues.values_mut() {
            let before = queue.len();
            queue.retain(|w| !gone(w));
            removed += before - queue.len();
        }
        self.queues.retain(|_, q| !q.is_empty());
        let queues = &self.queues;
        self.ring.retain(|k| queues.contains_key(k));
        self.waiting -= removed;
    }

    /// How many waiting jobs `pred` holds for.
    pub fn count_waiting(&self, pred: impl Fn(&W) -> bool) -> usize {
        self.queues.values().flatten().filter(|w| pred(w)).count()
    }

    pub fn running(&self) -> usize {
        self.running
    }

    pub fn waiting(&self) -> usize {
        self.waiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(slots: usize, per_key: usize, total: usize) -> QueueLimits {
        QueueLimits {
            slots,
            per_key,
            total,
        }
    }

    #[test]
    fn keys_are_served_in_turn() {
        let mut q: FairQueue<&str, &str> = FairQueue::new(limits(1, 8, 64));
        assert!(q.try_start(), "a free slot runs at once");
        for job in ["a1", "a2", "a3", "a4"] {
            q.enqueue("flooder", job).unwrap();
        }
        q.enqueue("victim", "b1").unwrap();
        q.enqueue("other", "c1").unwrap();
        assert!(!q.try_start(), "no overtaking while jobs wait");
        let order: Vec<_> = std::iter::from_fn(|| q.finish()).collect();
        assert_eq!(order, ["a1", "b1", "c1", "a2", "a3", "a4"]);
        assert_eq!((q.running(), q.waiting()), (0, 0));
        assert!(q.try_start());
    }

    #[test]
    fn a_key_that_arrives_later_waits_for_one_job_of_each_other_key_at_most() {
        let mut q: FairQueue<&str, u32> = FairQueue::new(limits(2, 4, 64));
        assert!(q.try_start() && q.try_start());
        for i in 0..4 {
            q.enqueue("flooder", i).unwrap();
        }
        // The flooder's first queued job is served, then the victim's, whatever the backlog.
        assert_eq!(q.finish(), Some(0));
        q.enqueue("victim", 100).unwrap();
        assert_eq!(q.finish(), Some(1));
        assert_eq!(q.finish(), Some(100));
        assert_eq!(q.finish(), Some(2));
    }

    #[test]
    fn bounded_per_key_and_in_total() {
        let mut q: FairQueue<&str, u32> = FairQueue::new(limits(1, 2, 3));
        assert!(q.try_start());
        q.enqueue("a", 1).unwrap();
        q.enqueue("a", 2).unwrap();
        assert_eq!(q.enqueue("a", 3), Err((Full::Key, 3)));
        q.enqueue("b", 1).unwrap();
        assert_eq!(q.enqueue("c", 1), Err((Full::Total, 1)));
        assert_eq!(q.waiting(), 3);
        q.purge(|w| *w == 2);
        assert_eq!(q.waiting(), 2);
        q.enqueue("c", 1).unwrap();
        let order: Vec<_> = std::iter::from_fn(|| q.finish()).collect();
        assert_eq!(order, [1, 1, 1]);
        assert_eq!(q.running(), 0);
    }
}
