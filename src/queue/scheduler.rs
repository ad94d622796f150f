//! Periodic work: a full group reconcile every `RECONCILE_INTERVAL` (DocSpace sends no webhook for
//! some membership changes), a `dropbox.changes` poll (covers notifications that never arrive),
//! and pruning of remembered deliveries. Every replica runs it; the jobs' dedupe keys coalesce
//! the copies, so several replicas enqueue one job, not several.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::jobs::{DropboxChanges, GroupsSyncAll, JobKind};
use crate::store::DynStore;

use super::Wake;

#[derive(Clone, Debug)]
pub struct Schedule {
    pub reconcile_interval: Duration,
    pub changes_poll_interval: Duration,
    pub delivery_retention: Duration,
}

pub async fn run_scheduler(store: DynStore, s: Schedule, wake: Wake, shutdown: CancellationToken) {
    let mut reconcile = tokio::time::interval(s.reconcile_interval);
    let mut changes = tokio::time::interval(s.changes_poll_interval);
    let mut prune = tokio::time::interval(Duration::from_secs(3600));
    // The first tick of each fires at once: a fresh start reconciles right away.
    loop {
        let job = tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = reconcile.tick() => Some(GroupsSyncAll::new().to_new_job()),
            _ = changes.tick() => Some(DropboxChanges::own_account().to_new_job()),
            _ = prune.tick() => {
                match store.prune_deliveries(s.delivery_retention).await {
                    Ok(n) if n > 0 => tracing::info!(deliveries = n, "pruned old deliveries"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "pruning deliveries failed"),
                }
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
