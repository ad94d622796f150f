//! Periodic jobs: a full group reconcile every `RECONCILE_INTERVAL` (DocSpace sends no webhook for
//! some membership changes), a file reconcile every `EXPORT_RECONCILE_INTERVAL` (DocSpace gives
//! up on a webhook after about 31 s) and a `dropbox.changes` poll (covers notifications that never
//! arrive). Every replica runs it unless `BRIDGE_SCHEDULER=false`; the jobs' dedupe keys coalesce
//! the copies, so several replicas enqueue one job, not several. Pruning is not periodic work of
//! this kind: every replica prunes, scheduler or not (`super::prune`).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::jobs::{DropboxChanges, FilesSyncAll, GroupsSyncAll, JobKind};
use crate::store::DynStore;

use super::Wake;

#[derive(Clone, Debug)]
pub struct Schedule {
    pub reconcile_interval: Duration,
    /// `EXPORT_RECONCILE_INTERVAL`: the periodic `files.sync_all`.
    pub files_reconcile_interval: Duration,
    pub changes_poll_interval: Duration,
}

pub async fn run_scheduler(store: DynStore, s: Schedule, wake: Wake, shutdown: CancellationToken) {
    let mut reconcile = tokio::time::interval(s.reconcile_interval);
    let mut files = tokio::time::interval(s.files_reconcile_interval);
    let mut changes = tokio::time::interval(s.changes_poll_interval);
    // The first tick of each fires at once: a fresh start reconciles right away.
    loop {
        let job = tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = reconcile.tick() => GroupsSyncAll::new().to_new_job(),
            _ = files.tick() => FilesSyncAll::periodic().to_new_job(),
            _ = changes.tick() => DropboxChanges::own_account().to_new_job(),
        };
        let kind = job.kind.clone();
        match store.enqueue(vec![job]).await {
            Ok(_) => wake.notify(),
            Err(e) => tracing::warn!(%kind, error = %e, "periodic enqueue failed"),
        }
    }
}
