//! The password hashing pool: Argon2 work on tokio's blocking threads, admitted through a
//! [`FairQueue`] keyed by account so that one account's flood waits behind everyone else's turn.

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use zeroize::Zeroizing;

use super::queue::{FairQueue, QueueLimits};
use super::{Argon2Params, Verified, hash_blocking, normalize, verify_blocking};
use crate::{Error, Result};

/// Hashes and verifies passwords on a bounded blocking pool, off the async executor. Jobs wait
/// in a [`FairQueue`] keyed by account: at most `slots` run at once, the waiting ones start
/// round-robin across accounts, and a job that does not fit (per account or in total) is
/// refused with `429` and `Retry-After: 1` instead of waiting without bound.
#[derive(Clone)]
pub struct PasswordHasherPool {
    params: Argon2Params,
    gate: Arc<Gate>,
    dummy_hash: Arc<String>,
}

impl std::fmt::Debug for PasswordHasherPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasherPool")
            .field("params", &self.params)
            .finish()
    }
}

/// The queue, shared by every clone of the pool.
struct Gate {
    queue: Mutex<FairQueue<String, oneshot::Sender<Slot>>>,
}

/// A running job's place (and the key it runs for); dropping it hands the place to the next
/// job in turn.
struct Slot {
    gate: Option<Arc<Gate>>,
    key: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(gate) = self.gate.take() {
            gate.release(std::mem::take(&mut self.key));
        }
    }
}

impl Gate {
    fn lock(&self) -> std::sync::MutexGuard<'_, FairQueue<String, oneshot::Sender<Slot>>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn release(self: &Arc<Self>, mut key: String) {
        loop {
            let Some((next, waiter)) = self.lock().finish(&key) else {
                return;
            };
            match waiter.send(Slot {
                gate: Some(self.clone()),
                key: next,
            }) {
                Ok(()) => return,
                // That caller gave up waiting: its place goes to the next one.
                Err(mut slot) => {
                    slot.gate = None;
                    key = std::mem::take(&mut slot.key);
                }
            }
        }
    }

    async fn acquire(self: &Arc<Self>, key: &str) -> Result<Slot> {
        let waiting = {
            let mut queue = self.lock();
            if queue.try_start(&key.to_owned()) {
                return Ok(Slot {
                    gate: Some(self.clone()),
                    key: key.to_owned(),
                });
            }
            let (tx, rx) = oneshot::channel();
            if let Err((_, tx)) = queue.enqueue(key.to_owned(), tx) {
                // Callers that gave up may still hold places: drop them and try once more.
                queue.purge(oneshot::Sender::is_closed);
                if queue.enqueue(key.to_owned(), tx).is_err() {
                    return Err(Error::RateLimited {
                        retry_after_secs: 1,
                    });
                }
            }
            rx
        };
        waiting.await.map_err(Error::internal)
    }
}

impl PasswordHasherPool {
    /// `concurrency` bounds how many hashes run at once (each holds `m` KiB of memory); the
    /// queue behind them is bounded by [`QueueLimits::for_slots`].
    pub fn new(params: Argon2Params, concurrency: usize) -> Result<Self> {
        Self::with_limits(params, QueueLimits::for_slots(concurrency))
    }

    pub fn with_limits(params: Argon2Params, limits: QueueLimits) -> Result<Self> {
        let dummy_hash = hash_blocking(params, "gatehouse-dummy-password-for-timing", &[0x5a; 16])?;
        Ok(Self {
            params,
            gate: Arc::new(Gate {
                queue: Mutex::new(FairQueue::new(limits)),
            }),
            dummy_hash: Arc::new(dummy_hash),
        })
    }

    #[must_use]
    pub fn params(&self) -> Argon2Params {
        self.params
    }

    /// Whether work for `key` would be refused right now: callers look before spending anything
    /// else on a request (a lockout reservation, a database write) that would end in `429`.
    #[must_use]
    pub fn is_full(&self, key: &str) -> bool {
        self.gate.lock().would_refuse(&key.to_owned())
    }

    /// Runs `job` on a blocking thread once `key`'s turn comes. The place is held until the job
    /// ends, even when the caller stops waiting for it, so the bound holds.
    async fn run<T: Send + 'static>(
        &self,
        key: &str,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let slot = self.gate.acquire(key).await?;
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            job()
        })
        .await
        .map_err(Error::internal)
    }

    /// Argon2id hash (PHC string) of the NFKC form of `password`, queued under `key` (the
    /// account it is for: its normalized email). The normalized copy handed to the hashing
    /// thread is wiped when the job ends. `salt`: 16 bytes from the caller's random source.
    pub async fn hash(&self, key: &str, password: &str, salt: [u8; 16]) -> Result<String> {
        let params = self.params;
        let password = Zeroizing::new(normalize(password));
        self.run(key, move || hash_blocking(params, &password, &salt))
            .await?
    }

    /// Verifies `password` against `stored`, queued under `key`; says whether a re-hash is due.
    pub async fn verify(&self, key: &str, password: &str, stored: &str) -> Result<Verified> {
        let params = self.params;
        let password = Zeroizing::new(normalize(password));
        let stored = stored.to_owned();
        self.run(key, move || verify_blocking(params, &password, &stored))
            .await
    }

    /// Spends the same work as a real verification, for unknown accounts.
    pub async fn verify_dummy(&self, key: &str, password: &str) -> Result<()> {
        let dummy = self.dummy_hash.clone();
        self.verify(key, password, &dummy).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Argon2Params = Argon2Params {
        m_kib: 256,
        t: 1,
        p: 1,
    };

    /// Yields to the runtime until `cond` holds (no sleeping, no timing).
    async fn until(cond: impl Fn() -> bool) {
        while !cond() {
            tokio::task::yield_now().await;
        }
    }

    /// A pool whose one slot is held by a job that ends when the returned sender is used.
    async fn blocked_pool(per_key: usize) -> (PasswordHasherPool, std::sync::mpsc::Sender<()>) {
        let limits = QueueLimits {
            slots: 1,
            running_per_key: 1,
            per_key,
            total: 16,
        };
        let pool = PasswordHasherPool::with_limits(FAST, limits).unwrap();
        let (open, gate) = std::sync::mpsc::channel::<()>();
        let blocker = pool.clone();
        tokio::spawn(async move {
            blocker
                .run("flooder", move || {
                    let _ = gate.recv();
                })
                .await
        });
        until(|| pool.gate.lock().running() == 1).await;
        (pool, open)
    }

    #[tokio::test]
    async fn a_flooded_pool_serves_accounts_in_turn_and_refuses_what_does_not_fit() {
        let (pool, open) = blocked_pool(3).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut jobs = Vec::new();
        for (i, key) in ["flooder", "flooder", "flooder", "victim"]
            .into_iter()
            .enumerate()
        {
            let (p, order) = (pool.clone(), order.clone());
            jobs.push(tokio::spawn(async move {
                p.run(key, move || order.lock().unwrap().push(format!("{key}{i}")))
                    .await
            }));
            until(|| pool.gate.lock().waiting() == i + 1).await;
        }
        // The flooder's fourth waiting job does not fit; the victim's sign-in did.
        assert!(matches!(
            pool.verify("flooder", "guess", "x").await,
            Err(Error::RateLimited {
                retry_after_secs: 1
            })
        ));
        open.send(()).unwrap();
        for job in jobs {
            job.await.unwrap().unwrap();
        }
        assert_eq!(
            *order.lock().unwrap(),
            ["flooder0", "victim3", "flooder1", "flooder2"],
            "the victim waits for one of the flooder's jobs, not for all of them"
        );
        until(|| pool.gate.lock().running() == 0).await;
        assert_eq!(pool.gate.lock().waiting(), 0);
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_frees_its_place() {
        let (pool, open) = blocked_pool(1).await;
        let p = pool.clone();
        let gave_up = tokio::spawn(async move { p.hash("victim", "pw", [1; 16]).await });
        until(|| pool.gate.lock().waiting() == 1).await;
        gave_up.abort();
        assert!(gave_up.await.unwrap_err().is_cancelled());
        // Its place is taken back, so the same account fits again, and runs.
        let p = pool.clone();
        let next = tokio::spawn(async move { p.hash("victim", "correct horse", [2; 16]).await });
        until(|| {
            let queue = pool.gate.lock();
            queue.waiting() == 1 && queue.count_waiting(|w| !w.is_closed()) == 1
        })
        .await;
        open.send(()).unwrap();
        let hash = next.await.unwrap().unwrap();
        assert_eq!(
            pool.verify("victim", "correct horse", &hash).await.unwrap(),
            Verified::Yes
        );
        until(|| pool.gate.lock().running() == 0).await;
    }
}
