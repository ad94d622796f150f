//! The lease of a running job, as its worker sees it: renewing it while the job runs, stopping
//! the run when it cannot be renewed in time, and recording the result while it still holds.
//!
//! The store grants and renews leases by the database's clock; a worker only has its own
//! monotonic clock. A lease granted or renewed by a request the worker sent at instant `t`
//! expires at the database no earlier than `t + lease` (the database did its part after the
//! request left), so `t + lease` is a bound the worker can keep without knowing the database's
//! time. A run whose lease was not renewed stops a margin before that bound: once the lease has
//! expired, any replica may requeue the job and run it again, and two runs of one job must never
//! overlap.

use std::time::Duration;

use tokio::time::Instant;

use crate::store::{Attempt, DynStore, JobOutcome, Lease};

/// Shortest wait before trying a failed renewal or result again.
const MIN_RETRY_GAP: Duration = Duration::from_millis(50);

/// The first and the longest wait between two tries to record a result.
const FIRST_RECORD_GAP: Duration = Duration::from_millis(100);
const MAX_RECORD_GAP: Duration = Duration::from_secs(2);

/// Where a held lease stands on this worker's clock.
#[derive(Debug, Clone, Copy)]
pub(super) struct LeaseClock {
    /// `BRIDGE_LEASE`.
    length: Duration,
    /// When the request behind the newest grant or renewal was sent.
    granted: Instant,
}

impl LeaseClock {
    /// A lease granted by a request sent at `sent`.
    pub(super) fn granted(sent: Instant, length: Duration) -> Self {
        Self {
            length,
            granted: sent,
        }
    }

    /// The earliest moment the database may consider the lease expired.
    pub(super) fn expires(&self) -> Instant {
        self.granted + self.length
    }

    /// The moment a run that could not renew its lease stops: a tenth of the lease before it
    /// may expire, so that the run has ended before anyone can take the job over.
    pub(super) fn stop_at(&self) -> Instant {
        self.expires() - self.length / 10
    }

    /// When to renew next: a third of the way into the lease.
    fn renew_at(&self) -> Instant {
        self.granted + self.length / 3
    }

    fn retry_gap(&self) -> Duration {
        (self.length / 10).max(MIN_RETRY_GAP)
    }
}

/// Why a run must stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lost {
    /// The store refused the renewal: the lease expired or the job was taken over.
    Refused,
    /// No renewal succeeded before the run had to stop (the database did not answer in time).
    NotRenewed,
}

/// Renews the lease a third of the way into it (sooner again after a failed try) until it is
/// lost; never returns while the lease holds. Run it beside the job and stop the job when it
/// returns.
pub(super) async fn keep(store: &DynStore, lease: &Lease, clock: &mut LeaseClock) -> Lost {
    let mut next = clock.renew_at();
    loop {
        tokio::time::sleep_until(next.min(clock.stop_at())).await;
        if Instant::now() >= clock.stop_at() {
            return Lost::NotRenewed;
        }
        let sent = Instant::now();
        let renewal = store.renew_lease(lease, clock.length);
        match tokio::time::timeout_at(clock.stop_at(), renewal).await {
            Err(_) => return Lost::NotRenewed,
            Ok(Ok(true)) => {
                *clock = LeaseClock::granted(sent, clock.length);
                next = clock.renew_at();
            }
            Ok(Ok(false)) => return Lost::Refused,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "lease renewal failed; trying again");
                next = Instant::now() + clock.retry_gap();
            }
        }
    }
}

/// What became of a run's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Recorded {
    Yes,
    /// The store refused it: the job was requeued or taken over since.
    Refused,
    /// The store did not take it before the lease may have expired; the job will run again.
    GaveUp,
}

/// Records the run in the job's history and its outcome (one transaction), trying again while the
/// store fails and the lease may still hold.
pub(super) async fn record(
    store: &DynStore,
    lease: &Lease,
    outcome: &JobOutcome,
    attempt: &Attempt,
    clock: &LeaseClock,
) -> Recorded {
    let mut gap = FIRST_RECORD_GAP;
    loop {
        let finish = store.finish_run(lease, outcome.clone(), attempt);
        match tokio::time::timeout_at(clock.expires(), finish).await {
            Ok(Ok(true)) => return Recorded::Yes,
            Ok(Ok(false)) => return Recorded::Refused,
            Ok(Err(e)) => {
                if Instant::now() + gap >= clock.expires() {
                    tracing::warn!(error = %e, "recording the job result failed; giving up");
                    return Recorded::GaveUp;
                }
                tracing::warn!(error = %e, "recording the job result failed; trying again");
                tokio::time::sleep(gap).await;
                gap = (gap * 2).min(MAX_RECORD_GAP);
            }
            Err(_) => return Recorded::GaveUp,
        }
    }
}
