//! Worker slots a run gives back while it only waits on a provider.
//!
//! A worker runs at most `WORKER_CONCURRENCY` jobs at once; each holds a slot (a semaphore
//! permit) for its whole run. Some runs spend most of that time waiting on the provider rather
//! than calling it: an asynchronous Dropbox sharing job is polled every few hundred milliseconds
//! until it is done. [`wait`] lets such a run hand its slot to the next due job for the length of
//! the pause and take one again before its next call, so a queue of groups keeps the providers'
//! capacity busy instead of sleeping on it.
//!
//! The worker runtime puts each run in [`hold`]; code outside a run (one-shot commands, tests
//! calling a client directly) has no slot, and [`wait`] is then a plain sleep.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

tokio::task_local! {
    static SLOT: Slot;
}

/// The slot of one run: the pool's semaphore, the permit the run holds, and who to tell when
/// the run gives it back.
#[derive(Clone)]
pub struct Slot {
    pool: Arc<Semaphore>,
    permit: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
    freed: Arc<Notify>,
}

impl Slot {
    /// A run holding `permit` of `pool`; `freed` is notified whenever the run gives it back.
    pub fn new(pool: Arc<Semaphore>, permit: OwnedSemaphorePermit, freed: Arc<Notify>) -> Self {
        Self {
            pool,
            permit: Arc::new(Mutex::new(Some(permit))),
            freed,
        }
    }

    fn put(&self, permit: Option<OwnedSemaphorePermit>) -> Option<OwnedSemaphorePermit> {
        let mut held = self.permit.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::replace(&mut held, permit)
    }
}

/// Runs `work` as the run holding `slot`; its permit is released when `work` ends or is dropped.
pub async fn hold<F: Future>(slot: Slot, work: F) -> F::Output {
    let out = SLOT.scope(slot.clone(), work).await;
    drop(slot.put(None));
    out
}

/// Sleeps `pause` without holding a worker slot, then waits for one again (behind runs that
/// asked before). Outside a run: a plain sleep.
pub async fn wait(pause: Duration) {
    let Ok(slot) = SLOT.try_with(Slot::clone) else {
        tokio::time::sleep(pause).await;
        return;
    };
    if let Some(permit) = slot.put(None) {
        drop(permit);
        slot.freed.notify_one();
    }
    tokio::time::sleep(pause).await;
    // The pool is never closed while runs are alive; if it were, the run carries on unlimited.
    let permit = slot.pool.clone().acquire_owned().await.ok();
    drop(slot.put(permit));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_waiting_run_lends_its_slot_and_takes_one_back() {
        let pool = Arc::new(Semaphore::new(1));
        let freed = Arc::new(Notify::new());
        let permit = pool.clone().acquire_owned().await.unwrap();
        let slot = Slot::new(pool.clone(), permit, freed.clone());
        let probe = pool.clone();
        let run = tokio::spawn(hold(slot, async move {
            assert_eq!(probe.available_permits(), 0, "the run holds the only slot");
            wait(Duration::from_millis(100)).await;
            assert_eq!(
                probe.available_permits(),
                0,
                "the slot is held again after the pause"
            );
        }));
        freed.notified().await;
        // While the run waits, another job can take the slot, and must give it back for the run
        // to go on.
        let other = pool
            .clone()
            .try_acquire_owned()
            .expect("the slot is free while waiting");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            !run.is_finished(),
            "the run waits for a slot after its pause"
        );
        drop(other);
        run.await.unwrap();
        assert_eq!(
            pool.available_permits(),
            1,
            "the slot is free after the run"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn outside_a_run_it_is_a_sleep() {
        let t = tokio::time::Instant::now();
        wait(Duration::from_millis(250)).await;
        assert_eq!(t.elapsed(), Duration::from_millis(250));
    }
}
