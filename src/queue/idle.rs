//! The idle signal: lets a caller (tests, the demo) wait until the workers find the queue
//! drained, instead of polling job states with sleeps.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::watch;

use super::Wake;
use crate::store::{DynStore, JobState};

/// Tells waiters when the workers found the queue drained: no job queued, running (in any
/// process) or waiting for a retry. Each wait asks for a fresh look, so a job enqueued before
/// [`Idle::wait`] is called is always waited for.
#[derive(Clone)]
pub struct Idle(Arc<IdleState>);

struct IdleState {
    /// Looks asked for so far.
    asked: AtomicU64,
    /// The newest ask a look answered with "drained".
    answered: watch::Sender<u64>,
}

impl Default for Idle {
    fn default() -> Self {
        Self(Arc::new(IdleState {
            asked: AtomicU64::new(0),
            answered: watch::Sender::new(0),
        }))
    }
}

impl Idle {
    /// Waits until the workers, looking after this call began, find the queue drained. Only
    /// meaningful while workers run: without them nothing ever drains the queue.
    pub async fn wait(&self, wake: &Wake) {
        let mut answered = self.0.answered.subscribe();
        let ticket = self.0.asked.fetch_add(1, Ordering::SeqCst) + 1;
        wake.notify();
        // The sender lives as long as `self`, so this only returns once answered.
        let _ = answered.wait_for(|a| *a >= ticket).await;
    }

    /// The newest ask not answered yet, if any.
    pub(super) fn pending(&self) -> Option<u64> {
        let asked = self.0.asked.load(Ordering::SeqCst);
        (asked > *self.0.answered.borrow()).then_some(asked)
    }

    pub(super) fn answer(&self, ask: u64) {
        self.0.answered.send_if_modified(|a| {
            let newer = ask > *a;
            if newer {
                *a = ask;
            }
            newer
        });
    }
}

/// Whether nothing is queued, running or waiting for a retry.
pub(super) async fn drained(store: &DynStore) -> bool {
    match store.queue_gauges().await {
        Ok(depth) => [JobState::Queued, JobState::Running, JobState::Failed]
            .iter()
            .all(|s| depth.get(s).copied().unwrap_or(0) == 0),
        Err(e) => {
            tracing::warn!(error = %e, "reading the queue depth failed");
            false
        }
    }
}
