//! Periodic jobs: a full group reconcile every `RECONCILE_INTERVAL` (DocSpace sends no webhook for
//! some membership changes), a file reconcile every `EXPORT_RECONCILE_INTERVAL` (DocSpace gives
//! up on a webhook after about 31 s) and a `dropbox.changes` poll (covers notifications that never
//! arrive). Every replica runs it unless `BRIDGE_SCHEDULER=false`.
//!
//! Each replica runs each periodic job once when it starts (events may have been missed while it
//! was down). After that the runs are the database's: each job's schedule (a row named after its
//! kind) says when it is next due by the database's clock, and the replica that finds it due
//! takes it and enqueues the run in one transaction ([`crate::store::Store::enqueue_scheduled`]).
//! So a periodic job runs once per interval whether one replica runs or ten, and however far
//! their clocks and start times disagree. Pruning is not periodic work of this kind: every
//! replica prunes, scheduler or not (`super::prune`).

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::jobs::{DropboxChanges, FilesSyncAll, GroupsSyncAll, JobKind};
use crate::store::{DynStore, NewJob, Scheduled};

use super::Wake;

/// How soon a replica offers a run again after the store failed to take it.
const AFTER_FAILURE: Duration = Duration::from_secs(10);

/// How long after its schedule says a run is due a replica offers it: a replica whose timer
/// fires a little before the database's clock reaches the time would otherwise find it not due
/// and wait a whole interval.
const SLACK: Duration = Duration::from_millis(20);

#[derive(Clone, Debug)]
pub struct Schedule {
    pub reconcile_interval: Duration,
    /// `EXPORT_RECONCILE_INTERVAL`: the periodic `files.sync_all`.
    pub files_reconcile_interval: Duration,
    pub changes_poll_interval: Duration,
}

/// One periodic job as this replica sees it.
struct Periodic {
    every: Duration,
    make: fn() -> NewJob,
    /// When to offer a run next.
    at: Instant,
    /// The start's run has not been enqueued yet: it is enqueued whatever the schedule says.
    starting: bool,
}

pub async fn run_scheduler(store: DynStore, s: Schedule, wake: Wake, shutdown: CancellationToken) {
    let now = Instant::now();
    let periodic = |every, make| Periodic {
        every,
        make,
        at: now,
        starting: true,
    };
    let mut jobs = [
        periodic(s.reconcile_interval, || GroupsSyncAll::new().to_new_job()),
        periodic(s.files_reconcile_interval, || {
            FilesSyncAll::periodic().to_new_job()
        }),
        periodic(s.changes_poll_interval, || {
            DropboxChanges::own_account().to_new_job()
        }),
    ];
    loop {
        let Some(p) = jobs.iter_mut().min_by_key(|p| p.at) else {
            return;
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(p.at) => {}
        }
        let job = (p.make)();
        let kind = job.kind.clone();
        match store.enqueue_scheduled(job, p.every, p.starting).await {
            Ok(Scheduled::Enqueued(job)) => {
                tracing::debug!(%kind, job = job.id, "periodic job enqueued");
                wake.notify();
                p.starting = false;
                p.at = Instant::now() + p.every;
            }
            Ok(Scheduled::NotDue(wait)) => p.at = Instant::now() + wait.min(p.every) + SLACK,
            Err(e) => {
                tracing::warn!(%kind, error = %e, "periodic enqueue failed");
                p.at = Instant::now() + AFTER_FAILURE.min(p.every);
            }
        }
    }
}
