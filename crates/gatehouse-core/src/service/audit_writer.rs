//! Group commit for audit events that accompany no other change (failed sign-ins, denials,
//! apps' own events): requests hand their events to one writer task, which appends everything
//! waiting in one transaction — one durable commit for the batch — and then answers each
//! request. An event is durable before the request that caused it is answered.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::audit::{NewEvent, StoredEvent};
use crate::store::Store;
use crate::{Error, Result};

/// Most events appended in one transaction.
const MAX_BATCH: usize = 2_000;
/// Requests that may wait for the writer before callers feel back-pressure.
const QUEUE: usize = 10_000;

struct Job {
    events: Vec<NewEvent>,
    done: oneshot::Sender<Result<Vec<StoredEvent>>>,
}

/// A handle on the writer task; cheap to clone. The task ends (after draining) when the last
/// handle is dropped.
#[derive(Clone)]
pub struct AuditWriter {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for AuditWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditWriter")
    }
}

impl AuditWriter {
    /// Starts the writer task on the current tokio runtime (the CLI, tests, benches; the
    /// server runs [`AuditWriter::new`]'s loop under its supervisor).
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (writer, run) = Self::new(store);
        tokio::spawn(run);
        writer
    }

    /// The writer and its loop, for the caller to run; the loop ends (after draining) when
    /// the last handle is dropped.
    pub fn new(store: Arc<dyn Store>) -> (Self, impl std::future::Future<Output = ()> + Send) {
        let (jobs, queue) = mpsc::channel(QUEUE);
        (Self { jobs }, run(store, queue))
    }

    /// Appends `events` durably; returns them sealed.
    pub async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<StoredEvent>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let (done, answer) = oneshot::channel();
        self.jobs
            .send(Job { events, done })
            .await
            .map_err(|_| Error::Unavailable("audit writer stopped".into()))?;
        answer
            .await
            .map_err(|_| Error::Unavailable("audit writer stopped".into()))?
    }

    /// Returns once every event handed to the writer before this call is durable (or has
    /// failed): the shutdown flush.
    pub async fn flush(&self) -> Result<()> {
        let (done, answer) = oneshot::channel();
        let job = Job {
            events: Vec::new(),
            done,
        };
        let stopped = || Error::Unavailable("audit writer stopped".into());
        self.jobs.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?.map(|_| ())
    }
}

async fn run(store: Arc<dyn Store>, mut queue: mpsc::Receiver<Job>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        let mut count = batch[0].events.len();
        while count < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => {
                    count += job.events.len();
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        let events: Vec<NewEvent> = batch
            .iter()
            .flat_map(|j| j.events.iter().cloned())
            .collect();
        if events.is_empty() {
            batch.into_iter().for_each(|job| {
                let _ = job.done.send(Ok(Vec::new()));
            });
            continue;
        }
        match store.append_events(&events).await {
            Ok(sealed) => {
                let mut sealed = sealed.into_iter();
                for job in batch {
                    let mine: Vec<StoredEvent> = sealed.by_ref().take(job.events.len()).collect();
                    let _ = job.done.send(Ok(mine));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, events = events.len(), "audit append failed");
                for job in batch {
                    let _ = job.done.send(Err(match &e {
                        Error::Unavailable(m) => Error::Unavailable(m.clone()),
                        other => Error::Internal(other.to_string()),
                    }));
                }
            }
        }
    }
}
