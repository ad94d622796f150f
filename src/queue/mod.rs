//! Worker runtime: claims due jobs with a lease, runs them (at most `WORKER_CONCURRENCY` at once),
//! renews leases while they run, records success / retry (exponential backoff with jitter,
//! honouring a provider's Retry-After) / dead, and returns expired leases to the queue.
//!
//! Every claim carries a token of its own (`store::Lease`); renewals and results are accepted
//! only with the current claim's token. A run whose lease cannot be renewed in time (the
//! database does not answer, or the job was taken over) is stopped, its future dropped, before
//! the lease may expire (`lease`): by then another worker may start the job again.
//!
//! Workers look for due jobs when something is enqueued ([`Wake`]), when a running job ends
//! (its slot claims the next due job at once) or lends its slot out while it waits on a provider
//! ([`crate::provider::slot`]), and every `BRIDGE_POLL_INTERVAL` (jobs whose retry
//! time came, jobs of crashed workers, enqueues by other replicas). [`Idle`] lets a caller wait
//! until the queue is drained.
//!
//! Shutdown: when the token is cancelled the runtime stops claiming, gives running jobs
//! `shutdown_grace` to finish, then aborts the rest and releases them (not counted as attempts).
//!
//! Every run that ends in this process goes into its job's attempt history: with its outcome,
//! or as `lost` (stopped because its lease could not be kept) or `released` (given back at
//! shutdown). Only a process that dies mid-run leaves no row.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::Rng;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::QueueConfig;
use crate::jobs::{self, JobContext, JobError};
use crate::provider::slot::{self, Slot};
use crate::store::{Attempt, Backoff, Claimed, DynStore, Job, JobOutcome, Lease};
use lease::{LeaseClock, Lost, Recorded};

mod idle;
mod lease;
pub mod prune;
pub mod scheduler;

pub use idle::Idle;

/// How long recording a stopped run (`lost`, `released`) in its job's history may take: the
/// database that cost the run its lease may still be slow to answer.
const RECORD_STOPPED_WAIT: Duration = Duration::from_secs(5);

/// Every `outcome` a finished run is counted under in `bridge_jobs_total` (in [`run_one`]).
pub const JOB_OUTCOMES: [&str; 4] = [SUCCEEDED, RETRY, DEAD, LEASE_LOST];
const SUCCEEDED: &str = "succeeded";
const RETRY: &str = "retry";
const DEAD: &str = "dead";
/// Stopped: the lease could not be kept.
const LEASE_LOST: &str = "lease_lost";

/// A job this process runs: what releasing it at shutdown and recording that need.
struct RunningJob {
    lease: Lease,
    attempt: i32,
    started_at: DateTime<Utc>,
}

/// Handle the HTTP layer uses to wake idle workers when it enqueues something.
#[derive(Clone, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    pub fn notify(&self) {
        self.0.notify_one();
    }
}

/// Delay before attempt `attempts + 1`: `base · 2^(attempts-1)` capped at `max`, scaled by a
/// random factor in [0.5, 1) (jitter spreads retries of jobs that failed together), and never
/// shorter than a provider's Retry-After.
pub fn backoff_delay(
    settings: &QueueConfig,
    attempts: i32,
    retry_after: Option<Duration>,
) -> Duration {
    let exp = attempts.saturating_sub(1).clamp(0, 30) as u32;
    let raw = settings
        .backoff_base
        .saturating_mul(2u32.saturating_pow(exp))
        .min(settings.backoff_max);
    let jittered = raw.mul_f64(rand::thread_rng().gen_range(0.5..1.0));
    match retry_after {
        Some(ra) => jittered.max(ra),
        None => jittered,
    }
}

/// Maps a run's result to what the store records.
pub fn outcome_for(
    job: &Job,
    result: Result<serde_json::Value, JobError>,
    settings: &QueueConfig,
) -> JobOutcome {
    match result {
        Ok(result) => JobOutcome::Succeeded { result },
        Err(JobError::Permanent { message, result }) => JobOutcome::Dead {
            error: message,
            result,
        },
        Err(JobError::Retry { message, after }) => {
            if job.attempts as u32 >= settings.max_attempts {
                JobOutcome::Dead {
                    error: format!("{message} (gave up after {} attempts)", job.attempts),
                    result: None,
                }
            } else {
                let delay = backoff_delay(settings, job.attempts, after);
                JobOutcome::Retry {
                    error: message,
                    after: delay,
                }
            }
        }
    }
}

/// Runs the worker pool until `shutdown` is cancelled and running jobs are finished or released.
pub async fn run_workers(
    store: DynStore,
    ctx: Arc<JobContext>,
    settings: QueueConfig,
    wake: Wake,
    idle: Idle,
    shutdown: CancellationToken,
) {
    let worker_id = format!("{}-{}", hostname(), uuid::Uuid::new_v4().simple());
    let permits = Arc::new(Semaphore::new(settings.concurrency));
    // Told when a run lends its slot out while it waits on a provider (`provider::slot`).
    let lent = Arc::new(Notify::new());
    // Every job this process runs, for releasing them at shutdown.
    // By lease token, not job id: a run that lost its lease may still be recording that when
    // this process claims the same job again, and its end must not forget the new run.
    let running: Arc<Mutex<HashMap<String, RunningJob>>> = Arc::default();
    let mut tasks = JoinSet::new();
    let mut last_reap = Instant::now() - settings.lease;

    tracing::info!(worker = %worker_id, concurrency = settings.concurrency, "workers started");
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        // Return the jobs of crashed workers to the queue.
        if last_reap.elapsed() >= settings.lease / 4 {
            last_reap = Instant::now();
            match bounded(
                &settings,
                &shutdown,
                store.requeue_expired(
                    settings.max_attempts,
                    Backoff {
                        base: settings.backoff_base,
                        max: settings.backoff_max,
                    },
                ),
            )
            .await
            {
                Some(Ok(n)) if n > 0 => {
                    tracing::warn!(jobs = n, "requeued jobs whose lease expired")
                }
                Some(Ok(_)) | None => {}
                Some(Err(e)) => tracing::warn!(error = %e, "requeue of expired leases failed"),
            }
        }
        while tasks.try_join_next().is_some() {}
        // Read before claiming: whatever was enqueued before the ask, this claim sees.
        let ask = idle.pending();

        // The leases are measured from before the request left (see `lease`).
        let sent = tokio::time::Instant::now();
        let claimed = claim_for_free_slots(&permits, settings.concurrency, |n| {
            let claim = store.claim(&worker_id, n, settings.lease);
            let (settings, shutdown) = (&settings, &shutdown);
            async move {
                match bounded(settings, shutdown, claim).await {
                    Some(Ok(jobs)) => jobs,
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "claiming jobs failed");
                        Vec::new()
                    }
                    None => Vec::new(),
                }
            }
        })
        .await;
        let got = claimed.len();
        for (job, permit) in claimed {
            running.lock().unwrap_or_else(|p| p.into_inner()).insert(
                job.lease.token.clone(),
                RunningJob {
                    lease: job.lease.clone(),
                    attempt: job.attempts,
                    started_at: Utc::now(),
                },
            );
            let store = store.clone();
            let ctx = ctx.clone();
            let settings = settings.clone();
            let running = running.clone();
            let worker = worker_id.clone();
            let clock = LeaseClock::granted(sent, settings.lease);
            let slot = Slot::new(permits.clone(), permit, lent.clone());
            tasks.spawn(async move {
                let token = job.lease.token.clone();
                slot::hold(slot, run_one(store, ctx, settings, job, clock, worker)).await;
                running
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&token);
            });
        }
        if got > 0 && permits.available_permits() > 0 {
            continue; // there may be more due work
        }
        if let Some(ask) = ask.filter(|_| got == 0 && tasks.is_empty()) {
            if idle::drained(&store).await {
                idle.answer(ask);
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = wake.0.notified() => {},
            // A slot came free: claim the next due job now, not at the next poll.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {},
            _ = lent.notified() => {},
            _ = tokio::time::sleep(settings.poll_interval) => {},
        }
    }

    // Graceful stop: no more claims; let running jobs finish within the grace period.
    while tasks.try_join_next().is_some() {}
    let in_flight = tasks.len();
    if in_flight > 0 {
        tracing::info!(jobs = in_flight, grace = ?settings.shutdown_grace, "waiting for running jobs");
    }
    let deadline = tokio::time::sleep(settings.shutdown_grace);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = tasks.join_next() => if next.is_none() { break },
            _ = &mut deadline => {
                tracing::warn!(jobs = tasks.len(), "grace period over; releasing unfinished jobs");
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
                break;
            }
        }
    }
    let left: Vec<RunningJob> = running
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .drain()
        .map(|(_, job)| job)
        .collect();
    // Into the history first: once released, the job may start again elsewhere at once.
    let stopped_at = Utc::now();
    futures::future::join_all(left.iter().map(|job| {
        let attempt = Attempt::new(
            job.attempt,
            &worker_id,
            job.started_at,
            stopped_at,
            "released",
            Some(
                "stopped at shutdown when the grace period ran out; released, not counted as an attempt"
                    .to_string(),
            ),
        );
        record_stopped(&store, job.lease.job_id, attempt)
    }))
    .await;
    for job in left {
        if let Err(e) = store.release(&job.lease).await {
            tracing::warn!(job = job.lease.job_id, error = %e, "could not release job; its lease will expire");
        }
    }
    // Every run is over: a job this worker still holds was claimed by a claim it gave up on
    // (shutdown began while it was in flight), which committed all the same.
    match store.release_all(&worker_id).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(jobs = n, "released jobs claimed as the workers stopped"),
        Err(e) => {
            tracing::warn!(error = %e, "could not release the jobs of a claim given up on; their leases will expire")
        }
    }
    tracing::info!("workers stopped");
}

/// Takes every free worker slot (at most `most`), claims at most that many jobs with `claim`,
/// and pairs each job it returns with a slot; the slots left over are given back. The slots are
/// taken before the claim: a slot lent by a run that waits on a provider (`slot::wait`) could
/// otherwise be taken back while the claim is in flight, and a job claimed for it would wait, its
/// lease not renewed, for as long as every other run lasts.
async fn claim_for_free_slots<T, F, Fut>(
    permits: &Arc<Semaphore>,
    most: usize,
    claim: F,
) -> Vec<(T, OwnedSemaphorePermit)>
where
    F: FnOnce(u32) -> Fut,
    Fut: std::future::Future<Output = Vec<T>>,
{
    let free: Vec<_> = std::iter::from_fn(|| permits.clone().try_acquire_owned().ok())
        .take(most)
        .collect();
    if free.is_empty() {
        return Vec::new();
    }
    let jobs = claim(free.len() as u32).await;
    jobs.into_iter().zip(free).collect()
}

/// A store call of the claim loop, given up after a lease's length (a database that stopped
/// answering must not stall the loop for good) or when shutdown begins. `None` when given up.
async fn bounded<T>(
    settings: &QueueConfig,
    shutdown: &CancellationToken,
    call: impl std::future::Future<Output = T>,
) -> Option<T> {
    tokio::select! {
        r = tokio::time::timeout(settings.lease, call) => r.ok(),
        _ = shutdown.cancelled() => None,
    }
}

async fn run_one(
    store: DynStore,
    ctx: Arc<JobContext>,
    settings: QueueConfig,
    claimed: Claimed,
    mut clock: LeaseClock,
    worker: String,
) {
    let Claimed { job, lease } = claimed;
    let span = tracing::info_span!("job", id = job.id, kind = %job.kind, attempt = job.attempts);
    let started = Instant::now();
    let started_at = Utc::now();

    let work = tracing::Instrument::instrument(jobs::run(&job, &ctx), span.clone());
    let result = tokio::select! {
        r = work => r,
        lost = tracing::Instrument::instrument(lease::keep(&store, &lease, &mut clock), span.clone()) => {
            // Returning drops the job's future: the run stops here.
            let why = match lost {
                Lost::Refused => "lost the lease (expired or taken over); stopped the job",
                Lost::NotRenewed => {
                    "could not renew the lease before it expires; stopped the job, it will run again"
                }
            };
            tracing::warn!(parent: &span, "{why}");
            metrics::counter!("bridge_jobs_total", "kind" => job.kind.clone(), "outcome" => LEASE_LOST)
                .increment(1);
            let attempt = Attempt::new(
                job.attempts,
                &worker,
                started_at,
                Utc::now(),
                "lost",
                Some(why.to_string()),
            );
            record_stopped(&store, job.id, attempt).await;
            return;
        }
    };
    let elapsed = started.elapsed();
    let outcome = outcome_for(&job, result, &settings);
    let label = match &outcome {
        JobOutcome::Succeeded { .. } => SUCCEEDED,
        JobOutcome::Retry { .. } => RETRY,
        JobOutcome::Dead { .. } => DEAD,
    };
    match &outcome {
        JobOutcome::Succeeded { .. } => {
            tracing::info!(parent: &span, elapsed_ms = elapsed.as_millis() as u64, "job succeeded")
        }
        JobOutcome::Retry { error, after } => {
            tracing::warn!(parent: &span, %error, retry_in_ms = after.as_millis() as u64, "job failed; will retry")
        }
        JobOutcome::Dead { error, .. } => tracing::error!(parent: &span, %error, "job is dead"),
    }
    metrics::counter!("bridge_jobs_total", "kind" => job.kind.clone(), "outcome" => label)
        .increment(1);
    metrics::histogram!("bridge_job_duration_seconds", "kind" => job.kind.clone())
        .record(elapsed.as_secs_f64());
    // The run goes into the job's history with its result, in one transaction; a run whose
    // result is refused (the lease was lost) is in the history all the same.
    let attempt = Attempt::of_run(&job, &worker, started_at, Utc::now(), &outcome);
    match lease::record(&store, &lease, &outcome, &attempt, &clock).await {
        Recorded::Yes => {}
        Recorded::Refused => tracing::warn!(
            parent: &span,
            "the job was taken over before its result was recorded; result dropped"
        ),
        Recorded::GaveUp => tracing::warn!(
            parent: &span,
            "could not record the result before the lease may expire; the job will run again"
        ),
    }
}

/// Adds a run that was stopped to its job's history, trying again while the store fails, for
/// at most [`RECORD_STOPPED_WAIT`]: the history is for operators, the queue does not need it.
async fn record_stopped(store: &DynStore, job_id: i64, attempt: Attempt) {
    let tries = async {
        loop {
            match store.record_attempt(job_id, &attempt).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::debug!(job = job_id, error = %e, "recording a stopped run failed; trying again");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    };
    if tokio::time::timeout(RECORD_STOPPED_WAIT, tries)
        .await
        .is_err()
    {
        tracing::warn!(
            job = job_id,
            outcome = %attempt.outcome,
            "could not record the stopped run in the job's history"
        );
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "bridge".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_slot_taken_back_during_the_claim_leaves_no_claimed_job_waiting() {
        let permits = Arc::new(Semaphore::new(2));
        // One run holds a slot for a long time; the other slot is free, lent by a run that
        // waits on a provider.
        let long_run = permits.clone().acquire_owned().await.unwrap();
        let claim = claim_for_free_slots(&permits, 2, |n| {
            let pool = permits.clone();
            async move {
                assert_eq!(n, 1, "one slot is free");
                // The lending run's pause ends while the claim is in flight.
                let back = tokio::spawn(async move { pool.acquire_owned().await.unwrap() });
                tokio::time::sleep(Duration::from_millis(10)).await;
                vec![back]
            }
        });
        let claimed = tokio::time::timeout(Duration::from_secs(60), claim)
            .await
            .expect("a claimed job never waits for a slot");
        assert_eq!(claimed.len(), 1);
        let (back, slot) = claimed.into_iter().next().unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(
            !back.is_finished(),
            "the lending run waits for a slot behind the claimed job"
        );
        drop(slot);
        let _slot_back = back.await.unwrap();
        drop(long_run);
    }
}
