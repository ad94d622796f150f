//! Periodic work: a full group reconcile every `RECONCILE_INTERVAL` (DocSpace sends no webhook for
//! some membership changes), a file reconcile every `EXPORT_RECONCILE_INTERVAL` (DocSpace gives
//! up on a webhook after about 31 s), a `dropbox.changes` poll (covers notifications that never
//! arrive), and, at start and then hourly, pruning of remembered deliveries and of finished jobs
//! past their retention. Every replica runs it; the jobs' dedupe keys coalesce the copies, so several
//! replicas enqueue one job, not several, and prunes that overlap delete each row once.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::jobs::{DropboxChanges, FilesSyncAll, GroupsSyncAll, JobKind};
use crate::store::{DynStore, JobRetention};

use super::Wake;

#[derive(Clone, Debug)]
pub struct Schedule {
    pub reconcile_interval: Duration,
    /// `EXPORT_RECONCILE_INTERVAL`: the periodic `files.sync_all`.
    pub files_reconcile_interval: Duration,
    pub changes_poll_interval: Duration,
    pub delivery_retention: Duration,
    pub job_retention: JobRetention,
}

/// How often deliveries and finished jobs are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

impl Schedule {
    /// What `BRIDGE_JOB_RETENTION` keeps: succeeded jobs that long, dead jobs that long or the
    /// default 30 days, whichever is longer (an operator may still want to re-drive them).
    pub fn job_retention(succeeded: Duration) -> JobRetention {
        JobRetention {
            succeeded,
            dead: succeeded.max(JobRetention::DEFAULT_DEAD),
            ..JobRetention::default()
        }
    }
}

pub async fn run_scheduler(store: DynStore, s: Schedule, wake: Wake, shutdown: CancellationToken) {
    let mut reconcile = tokio::time::interval(s.reconcile_interval);
    let mut files = tokio::time::interval(s.files_reconcile_interval);
    let mut changes = tokio::time::interval(s.changes_poll_interval);
    let mut pruning = tokio::time::interval(PRUNE_EVERY);
    // The first tick of each fires at once: a fresh start reconciles right away.
    loop {
        let job = tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = reconcile.tick() => Some(GroupsSyncAll::new().to_new_job()),
            _ = files.tick() => Some(FilesSyncAll::periodic().to_new_job()),
            _ = changes.tick() => Some(DropboxChanges::own_account().to_new_job()),
            _ = pruning.tick() => {
                prune(&store, &s).await;
                None
            }
        };
        if let Some(job) = job {
            let kind = job.kind.clone();
            match store.enqueue(vec![job]).await {
                Ok(_) => wake.notify(),
                Err(e) => tracing::warn!(%kind, error = %e, "periodic enqueue failed"),
            }
        }
    }
}

async fn prune(store: &DynStore, s: &Schedule) {
    match store.prune_deliveries(s.delivery_retention).await {
        Ok(n) if n > 0 => tracing::info!(deliveries = n, "pruned old deliveries"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "pruning deliveries failed"),
    }
    match store.prune_jobs(&s.job_retention).await {
        Ok(n) if n > 0 => tracing::info!(jobs = n, "pruned finished jobs past their retention"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "pruning finished jobs failed"),
    }
}
