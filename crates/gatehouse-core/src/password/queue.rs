//! The hashing pool's admission: at most `slots` jobs run at once, and at most
//! `running_per_key` of them for one key (the account a password belongs to); the jobs that
//! wait queue per key and are started round-robin across keys, so one account flooding the
//! hasher cannot starve another's sign-in. Bounded per key and in total; a job that does not
//! fit is refused at once (the caller answers `429` with `Retry-After`).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// How much the queue admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Jobs running at once (each Argon2 hash holds `m` KiB).
    pub slots: usize,
    /// Jobs of one key running at once, so a flooding key leaves slots to the others.
    pub running_per_key: usize,
    /// Jobs waiting for one key at most.
    pub per_key: usize,
    /// Jobs waiting in all at most.
    pub total: usize,
}

impl QueueLimits {
    /// `slots` running, half of them (at least one) for one key; 8 waiting per key,
    /// `32 × slots` waiting in all.
    #[must_use]
    pub fn for_slots(slots: usize) -> Self {
        let slots = slots.max(1);
        Self {
            slots,
            running_per_key: (slots / 2).max(1),
            per_key: 8,
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
    running_by_key: HashMap<K, usize>,
    waiting: usize,
    queues: HashMap<K, VecDeque<W>>,
    /// Keys with waiting jobs, in the order they are served next.
    ring: VecDeque<K>,
}

impl<K: Eq + Hash + Clone, W> FairQueue<K, W> {
    #[must_use]
    pub fn new(limits: QueueLimits) -> Self {
        Self {
            limits,
            running: 0,
            running_by_key: HashMap::new(),
            waiting: 0,
            queues: HashMap::new(),
            ring: VecDeque::new(),
        }
    }

    /// Takes a free slot for a job of `key`, if there is one, `key` is under its share, and no
    /// earlier job of `key` waits (no overtaking within a key; jobs of other keys that wait
    /// are held back by their own share, so starting this one passes nobody who could run).
    pub fn try_start(&mut self, key: &K) -> bool {
        if self.startable(key) {
            self.start(key.clone());
            true
        } else {
            false
        }
    }

    fn startable(&self, key: &K) -> bool {
        self.running < self.limits.slots
            && self.running_of(key) < self.limits.running_per_key
            && self.queues.get(key).is_none_or(VecDeque::is_empty)
    }

    /// Whether a job of `key` arriving now would be refused (a cheap look before any other work).
    pub fn would_refuse(&self, key: &K) -> bool {
        !self.startable(key)
            && (self.waiting >= self.limits.total
                || self.queues.get(key).map_or(0, VecDeque::len) >= self.limits.per_key)
    }

    fn running_of(&self, key: &K) -> usize {
        self.running_by_key.get(key).copied().unwrap_or(0)
    }

    fn start(&mut self, key: K) {
        self.running += 1;
        *self.running_by_key.entry(key).or_default() += 1;
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

    /// A running job of `key` ended: its slot goes to the oldest job of the next key in turn
    /// that is under its share, which is returned (with its key) and counts as running; with
    /// nobody who may run, the slot is freed.
    pub fn finish(&mut self, key: &K) -> Option<(K, W)> {
        self.running = self.running.saturating_sub(1);
        if let Some(n) = self.running_by_key.get_mut(key) {
            *n -= 1;
            if *n == 0 {
                self.running_by_key.remove(key);
            }
        }
        if self.running >= self.limits.slots {
            return None;
        }
        let cap = self.limits.running_per_key;
        let running_by_key = &self.running_by_key;
        let at = self
            .ring
            .iter()
            .position(|k| running_by_key.get(k).copied().unwrap_or(0) < cap)?;
        let next = self.ring.remove(at)?;
        let queue = self.queues.get_mut(&next)?;
        let waiter = queue.pop_front()?;
        if queue.is_empty() {
            self.queues.remove(&next);
        } else {
            self.ring.push_back(next.clone());
        }
        self.waiting -= 1;
        self.start(next.clone());
        Some((next, waiter))
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

    #[must_use]
    pub fn running(&self) -> usize {
        self.running
    }

    #[must_use]
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
            running_per_key: 1,
            per_key,
            total,
        }
    }

    /// Ends running jobs one by one (each started job ends next), in the order they start.
    fn drain<W>(q: &mut FairQueue<&'static str, W>, first: &'static str) -> Vec<W> {
        let mut order = Vec::new();
        let mut key = first;
        while let Some((next, w)) = q.finish(&key) {
            order.push(w);
            key = next;
        }
        order
    }

    #[test]
    fn keys_are_served_in_turn() {
        let mut q: FairQueue<&str, &str> = FairQueue::new(limits(1, 8, 64));
        assert!(q.try_start(&"flooder"), "a free slot runs at once");
        for job in ["a1", "a2", "a3", "a4"] {
            q.enqueue("flooder", job).unwrap();
        }
        q.enqueue("victim", "b1").unwrap();
        q.enqueue("other", "c1").unwrap();
        assert!(!q.try_start(&"victim"), "no free slot");
        assert_eq!(
            drain(&mut q, "flooder"),
            ["a1", "b1", "c1", "a2", "a3", "a4"]
        );
        assert_eq!((q.running(), q.waiting()), (0, 0));
        assert!(q.try_start(&"victim"));
    }

    #[test]
    fn a_flooding_key_leaves_the_other_slots_to_everyone_else() {
        let mut q: FairQueue<&str, u32> = FairQueue::new(limits(2, 4, 64));
        assert!(q.try_start(&"flooder"));
        assert!(!q.try_start(&"flooder"), "one slot per key");
        for i in 0..4 {
            q.enqueue("flooder", i).unwrap();
        }
        assert!(q.try_start(&"victim"), "the victim starts at once");
        assert!(!q.try_start(&"other"), "both slots busy");
        q.enqueue("other", 100).unwrap();
        // The victim's job ends: the flooder already holds its share, so the other key runs.
        assert_eq!(q.finish(&"victim"), Some(("other", 100)));
        assert_eq!(q.finish(&"flooder"), Some(("flooder", 0)));
        assert_eq!(q.finish(&"other"), None, "the flooder stays at one slot");
        assert_eq!((q.running(), q.waiting()), (1, 3));
    }

    #[test]
    fn no_overtaking_within_a_key() {
        let mut q: FairQueue<&str, u32> = FairQueue::new(QueueLimits {
            running_per_key: 2,
            ..limits(2, 4, 64)
        });
        assert!(q.try_start(&"a") && q.try_start(&"a"));
        q.enqueue("a", 1).unwrap();
        assert_eq!(q.finish(&"a"), Some(("a", 1)));
        assert!(!q.try_start(&"a"));
    }

    #[test]
    fn bounded_per_key_and_in_total() {
        let mut q: FairQueue<&str, u32> = FairQueue::new(limits(1, 2, 3));
        assert!(q.try_start(&"a"));
        q.enqueue("a", 1).unwrap();
        q.enqueue("a", 2).unwrap();
        assert!(q.would_refuse(&"a") && !q.would_refuse(&"b"));
        assert_eq!(q.enqueue("a", 3), Err((Full::Key, 3)));
        q.enqueue("b", 1).unwrap();
        assert_eq!(q.enqueue("c", 1), Err((Full::Total, 1)));
        assert_eq!(q.waiting(), 3);
        q.purge(|w| *w == 2);
        assert_eq!(q.waiting(), 2);
        q.enqueue("c", 1).unwrap();
        assert_eq!(drain(&mut q, "a"), [1, 1, 1]);
        assert_eq!(q.running(), 0);
    }
}
