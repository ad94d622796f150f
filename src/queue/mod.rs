//! Worker runtime: claims due jobs with a lease, runs them (at most `WORKER_CONCURRENCY` at once),
//! renews leases while they run, records success / retry (exponential backoff with jitter,
//! honouring a provider's Retry-After) / dead, and returns expired leases to the queue.
//!
//! Workers look for due jobs when something is enqueued ([`Wake`]), when a running job ends
//! (its slot claims the next due job at once), and every `BRIDGE_POLL_INTERVAL` (jobs whose retry
//! time came, jobs of crashed workers, enqueues by other replicas). [`Idle`] lets a caller wait
//! until the queue is drained.
//!
//! Shutdown: when the token is cancelled the runtime stops claiming, gives running jobs
//! `shutdown_grace` to finish, then aborts the rest and releases them (not counted as attempts).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::Rng;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::QueueConfig;
use crate::jobs::{self, JobContext, JobError};
use crate::store::{Attempt, DynStore, Job, JobOutcome};

mod idle;
pub mod scheduler;

pub use idle::Idle;

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
                    run_at: Utc::now()
                        + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero()),
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
    let running: Arc<Mutex<HashMap<i64, ()>>> = Arc::default();
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
            match store.requeue_expired().await {
                Ok(n) if n > 0 => tracing::warn!(jobs = n, "requeued jobs whose lease expired"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "requeue of expired leases failed"),
            }
        }
        while tasks.try_join_next().is_some() {}
        // Read before claiming: whatever was enqueued before the ask, this claim sees.
        let ask = idle.pending();

        let free = permits.available_permits();
        let mut claimed = Vec::new();
        if free > 0 {
            match store.claim(&worker_id, free as u32, settings.lease).await {
                Ok(jobs) => claimed = jobs,
                Err(e) => tracing::warn!(error = %e, "claiming jobs failed"),
            }
        }
        let got = claimed.len();
        for job in claimed {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            running
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(job.id, ());
            let store = store.clone();
            let ctx = ctx.clone();
            let settings = settings.clone();
            let worker = worker_id.clone();
            let running = running.clone();
            let id = job.id;
            tasks.spawn(async move {
                run_one(store, ctx, settings, &worker, job).await;
                running
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
                drop(permit);
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
    let left: Vec<i64> = running
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .keys()
        .copied()
        .collect();
    for id in left {
        if let Err(e) = store.release(id, &worker_id).await {
            tracing::warn!(job = id, error = %e, "could not release job; its lease will expire");
        }
    }
    tracing::info!("workers stopped");
}

async fn run_one(
    store: DynStore,
    ctx: Arc<JobContext>,
    settings: QueueConfig,
    worker: &str,
    job: Job,
) {
    let span = tracing::info_span!("job", id = job.id, kind = %job.kind, attempt = job.attempts);
    let started = Instant::now();
    let started_at = Utc::now();
    let renew_every = settings.lease / 3;
    let lease = settings.lease;

    let work = tracing::Instrument::instrument(jobs::run(&job, &ctx), span.clone());
    tokio::pin!(work);
    let result = loop {
        tokio::select! {
            r = &mut work => break r,
            _ = tokio::time::sleep(renew_every) => {
                match store.renew_lease(job.id, worker, lease).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(parent: &span, "lost the lease; another worker owns the job now");
                        return;
                    }
                    Err(e) => tracing::warn!(parent: &span, error = %e, "lease renewal failed"),
                }
            }
        }
    };
    let elapsed = started.elapsed();
    let outcome = outcome_for(&job, result, &settings);
    let label = match &outcome {
        JobOutcome::Succeeded { .. } => "succeeded",
        JobOutcome::Retry { .. } => "retry",
        JobOutcome::Dead { .. } => "dead",
    };
    match &outcome {
        JobOutcome::Succeeded { .. } => {
            tracing::info!(parent: &span, elapsed_ms = elapsed.as_millis() as u64, "job succeeded")
        }
        JobOutcome::Retry { error, run_at } => {
            tracing::warn!(parent: &span, %error, %run_at, "job failed; will retry")
        }
        JobOutcome::Dead { error, .. } => tracing::error!(parent: &span, %error, "job is dead"),
    }
    metrics::counter!("bridge_jobs_total", "kind" => job.kind.clone(), "outcome" => label)
        .increment(1);
    metrics::histogram!("bridge_job_duration_seconds", "kind" => job.kind.clone())
        .record(elapsed.as_secs_f64());
    if matches!(outcome, JobOutcome::Succeeded { .. }) {
        crate::telemetry::job_succeeded(&job.kind);
    }
    // The run goes into the job's history before its result: a run whose result is then
    // refused (the lease was lost) or never written (the process died) still happened.
    let attempt = Attempt::of_run(&job, worker, started_at, Utc::now(), &outcome);
    if let Err(e) = store.record_attempt(job.id, &attempt).await {
        tracing::warn!(parent: &span, error = %e, "recording the run in the job's history failed");
    }
    // The store write must not be lost to a transient hiccup: retry briefly.
    for attempt in 0..5 {
        match store.finish(job.id, worker, outcome.clone()).await {
            Ok(true) => break,
            Ok(false) => {
                tracing::warn!(parent: &span, "job lease was lost before its result was recorded");
                break;
            }
            Err(e) => {
                tracing::warn!(parent: &span, error = %e, attempt, "recording job result failed");
                tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
            }
        }
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "bridge".into())
}
