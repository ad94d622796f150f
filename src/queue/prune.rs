//! Retention: at start and then hourly, forgets webhook deliveries older than
//! `BRIDGE_DELIVERY_RETENTION` and deletes finished jobs past `BRIDGE_JOB_RETENTION`. Every
//! serving replica runs it, whatever `BRIDGE_WORKERS` and `BRIDGE_SCHEDULER` say, so that no
//! replica setup leaves the tables growing; prunes of several replicas that overlap delete each
//! row once. Owns no state of its own: it only calls the store's prune statements.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::{DynStore, JobRetention};

/// How often deliveries and finished jobs are pruned.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// How long deliveries and finished jobs are kept.
#[derive(Clone, Debug)]
pub struct Retention {
    pub deliveries: Duration,
    pub jobs: JobRetention,
}

impl Retention {
    /// `BRIDGE_DELIVERY_RETENTION` and `BRIDGE_JOB_RETENTION`: succeeded jobs are kept
    /// `succeeded_jobs`, dead jobs that long or the default 30 days, whichever is longer (an
    /// operator may still want to re-drive them).
    pub fn new(deliveries: Duration, succeeded_jobs: Duration) -> Self {
        Self {
            deliveries,
            jobs: JobRetention {
                succeeded: succeeded_jobs,
                dead: succeeded_jobs.max(JobRetention::DEFAULT_DEAD),
                ..JobRetention::default()
            },
        }
    }
}

/// Prunes at once, then every [`PRUNE_EVERY`], until `shutdown` is cancelled.
pub async fn run_pruning(store: DynStore, retention: Retention, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(PRUNE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => prune(&store, &retention).await,
        }
    }
}

async fn prune(store: &DynStore, r: &Retention) {
    match store.prune_deliveries(r.deliveries).await {
        Ok(n) if n > 0 => tracing::info!(deliveries = n, "pruned old deliveries"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "pruning deliveries failed"),
    }
    match store.prune_jobs(&r.jobs).await {
        Ok(n) if n > 0 => tracing::info!(jobs = n, "pruned finished jobs past their retention"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "pruning finished jobs failed"),
    }
}
