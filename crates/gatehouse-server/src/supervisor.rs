//! The one owner of the background loops (audit writer, verification, export sink, coalesced
//! events, key feed, last-used writer, signing-key reload, sweeper): each is started by name,
//! a loop that ends or panics on its own is logged, and shutdown stops them all.

use std::future::Future;

use tokio::task::JoinSet;

/// The running background loops of one instance.
#[derive(Default)]
pub struct Supervisor {
    tasks: JoinSet<()>,
    names: Vec<&'static str>,
}

impl Supervisor {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `task` until shutdown. Loops are not expected to end: one that does is logged.
    pub fn start<F>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.names.push(name);
        self.tasks.spawn(async move {
            task.await;
            tracing::warn!(task = name, "background task ended");
        });
    }

    /// The names of the loops started so far, in start order.
    #[must_use]
    pub fn names(&self) -> &[&'static str] {
        &self.names
    }

    /// Lets the loops run on unsupervised until the runtime ends (benchmarks that only need
    /// the services).
    pub fn detach(mut self) {
        self.tasks.detach_all();
    }

    /// Stops every loop and waits until each has: a panic in one is logged, never re-raised.
    pub async fn stop(mut self) {
        self.tasks.abort_all();
        while let Some(ended) = self.tasks.join_next().await {
            if let Err(e) = ended
                && e.is_panic()
            {
                tracing::error!("a background task panicked");
            }
        }
        tracing::debug!(tasks = self.names.len(), "background tasks stopped");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn stop_ends_every_loop() {
        let mut supervisor = Supervisor::new();
        let dropped = Arc::new(AtomicBool::new(false));
        let guard = SetOnDrop(dropped.clone());
        supervisor.start("forever", async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        supervisor.start("ends", async {});
        assert_eq!(supervisor.names(), ["forever", "ends"]);
        supervisor.stop().await;
        assert!(
            dropped.load(Ordering::SeqCst),
            "the pending loop was dropped"
        );
    }
}
