//! Durable state: the job queue, webhook deliveries seen, the mappings the jobs keep
//! (group ↔ shared folder, members the bridge added, exported files, Dropbox cursors), and
//! named instants (watermarks) such as when the bridge started exporting files.
//!
//! One trait, [`Store`], with an SQLite implementation (embedded default) and a PostgreSQL one
//! (several replicas). The statements both run are written once in `sql.rs`; each backend keeps
//! only what its engine does differently. The store knows nothing of HTTP or of the providers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub mod postgres;
mod rows;
mod sql;
pub mod sqlite;
mod sqlite_direct;
mod sqlite_ingest;

/// Messages of `Unavailable` and `Other` may hold database text: log them, never send them.
/// The message of `Conflict` is the store's own and safe to show to a client.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("not found")]
    NotFound,
    /// The write contradicts stored state (a unique key is taken, the job is not dead).
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Other(String),
    /// The database does not exist or holds no bridge schema (opening without creating).
    #[error("{0}")]
    Missing(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => StoreError::Unavailable(e.to_string()),
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                tracing::debug!(error = %db.message(), "unique violation");
                StoreError::Conflict("a record with the same key already exists".into())
            }
            sqlx::Error::Database(db)
                if db.message().contains("locked") || db.message().contains("busy") =>
            {
                StoreError::Unavailable(db.message().to_string())
            }
            _ => StoreError::Other(e.to_string()),
        }
    }
}

/// The same mapping for the SQLite writes made with rusqlite (`sqlite_ingest.rs`,
/// `sqlite_direct.rs`).
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi::{ErrorCode, SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE};
        match &e {
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
            rusqlite::Error::SqliteFailure(f, _)
                if f.extended_code == SQLITE_CONSTRAINT_UNIQUE
                    || f.extended_code == SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                tracing::debug!(error = %e, "unique violation");
                StoreError::Conflict("a record with the same key already exists".into())
            }
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(f.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) =>
            {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Other(e.to_string()),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    /// Failed and waiting for its next attempt.
    Failed,
    Dead,
}

impl JobState {
    pub const ALL: [JobState; 5] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Dead,
    ];
    /// The states [`Store::queue_gauges`] counts: all but succeeded.
    pub const GAUGED: [JobState; 4] = [
        JobState::Queued,
        JobState::Running,
        JobState::Failed,
        JobState::Dead,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Dead => "dead",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// A job to enqueue. `dedupe_key` coalesces it with a queued job of the same key. The store
/// treats `kind` and `payload` as opaque; the job layer (`jobs::kinds`) gives them meaning.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub kind: String,
    pub dedupe_key: Option<String>,
    pub payload: serde_json::Value,
}

impl NewJob {
    pub fn new(kind: &str, dedupe_key: Option<String>, payload: serde_json::Value) -> Self {
        Self {
            kind: kind.to_string(),
            dedupe_key,
            payload,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub state: JobState,
    pub attempts: i32,
    pub dedupe_key: Option<String>,
    pub payload: serde_json::Value,
    pub last_error: Option<String>,
    pub result: Option<serde_json::Value>,
    pub run_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One webhook delivery to commit atomically: remember it, enqueue its jobs and link the two.
/// A delivery whose dedupe id was seen before enqueues nothing and is not kept again.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    /// `docspace:<event.id>`; `None` for sources without delivery ids (Dropbox).
    pub delivery_id: Option<String>,
    pub jobs: Vec<NewJob>,
    /// What an operator follows the delivery by; `None` for jobs enqueued by the API, the
    /// scheduler and jobs themselves, which are not deliveries and are not kept as such.
    pub received: Option<Received>,
}

/// Where a delivery came from: kept with it and listed by `GET /api/v1/deliveries`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Received {
    /// `docspace` or `dropbox`.
    pub source: String,
    /// DocSpace `event.id`; `None` for Dropbox notifications.
    pub event_id: Option<String>,
    /// DocSpace `event.trigger`; `None` for Dropbox notifications.
    pub trigger: Option<String>,
    /// `x-request-id` of the request that brought it.
    pub request_id: Option<String>,
}

/// A kept delivery, as the operator API shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeliveryRecord {
    pub id: i64,
    pub source: String,
    pub event_id: Option<String>,
    pub trigger: Option<String>,
    pub request_id: Option<String>,
    pub received_at: DateTime<Utc>,
    /// The jobs it created or coalesced into (jobs pruned since are still named).
    pub job_ids: Vec<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub source: Option<String>,
    /// DocSpace `event.id`, exactly.
    pub event_id: Option<String>,
    pub trigger: Option<String>,
    /// Received at or after.
    pub since: Option<DateTime<Utc>>,
    pub limit: u32,
    /// Return deliveries with an id lower than this (listing is newest first).
    pub before_id: Option<i64>,
}

/// One finished run of a job, kept in its attempt history.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Attempt {
    /// The job's attempt count during this run (it starts again at 1 after a re-drive).
    pub attempt: i32,
    pub worker: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// `succeeded`, `retry` or `dead`; `lost` for a run stopped because its lease could not be
    /// kept, `released` for a run given back at shutdown when the grace period ran out.
    pub outcome: String,
    pub error: Option<String>,
    pub duration_ms: i64,
}

impl Attempt {
    /// The history row of a run of `job` that started at `started_at` and ended as `outcome`.
    pub fn of_run(
        job: &Job,
        worker: &str,
        started_at: DateTime<Utc>,
        finished_at: DateTime<Utc>,
        outcome: &JobOutcome,
    ) -> Self {
        let (label, error) = match outcome {
            JobOutcome::Succeeded { .. } => ("succeeded", None),
            JobOutcome::Retry { error, .. } => ("retry", Some(error.clone())),
            JobOutcome::Dead { error, .. } => ("dead", Some(error.clone())),
        };
        Self::new(job.attempts, worker, started_at, finished_at, label, error)
    }

    /// The history row of a run that ended as `outcome` (see [`Attempt::outcome`]).
    pub fn new(
        attempt: i32,
        worker: &str,
        started_at: DateTime<Utc>,
        finished_at: DateTime<Utc>,
        outcome: &str,
        error: Option<String>,
    ) -> Self {
        Self {
            attempt,
            worker: worker.to_string(),
            started_at,
            finished_at,
            outcome: outcome.to_string(),
            error,
            duration_ms: (finished_at - started_at).num_milliseconds().max(0),
        }
    }
}

#[derive(Debug, Clone)]
pub struct DeliveryOutcome {
    pub duplicate: bool,
    /// The job each of the delivery's jobs was queued as or coalesced into, in order.
    pub job_ids: Vec<i64>,
    /// Those jobs' rows as the delivery's transaction left them, for a delivery that is not kept
    /// (what [`Store::enqueue`] returns); empty for a kept one: a webhook answers with the ids,
    /// and reading whole rows for it would cost every delivery a parse of the job's payload.
    pub jobs: Vec<Job>,
}

impl DeliveryOutcome {
    /// A delivery seen before: nothing enqueued.
    pub(crate) fn duplicate() -> Self {
        Self {
            duplicate: true,
            job_ids: vec![],
            jobs: vec![],
        }
    }

    /// The jobs a delivery made or joined; their rows stay only when it is not `kept`.
    pub(crate) fn enqueued(jobs: Vec<Job>, kept: bool) -> Self {
        Self {
            duplicate: false,
            job_ids: jobs.iter().map(|j| j.id).collect(),
            jobs: if kept { vec![] } else { jobs },
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub state: Option<JobState>,
    pub kind: Option<String>,
    /// `group_id` of the payload (group jobs).
    pub group_id: Option<String>,
    /// `file_id` of the payload (file jobs).
    pub file_id: Option<String>,
    /// Created at or after.
    pub since: Option<DateTime<Utc>>,
    /// Created before.
    pub until: Option<DateTime<Utc>>,
    pub limit: u32,
    /// Return jobs with an id lower than this (listing is newest first).
    pub before_id: Option<i64>,
    /// Exactly this dedupe key (one scope of a kind, e.g. the full `files.sync_all`).
    pub dedupe_key: Option<String>,
}

/// Which dead jobs a bulk re-drive takes: those matching every field that is set.
#[derive(Debug, Clone, Default)]
pub struct RetryFilter {
    pub id: Option<i64>,
    pub kind: Option<String>,
    pub group_id: Option<String>,
    pub file_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// One claim of a job: the right to run it until the lease expires. The token is new for every
/// claim, so renewals and results are accepted only from the run that holds the job now, never
/// from an earlier run of it (in another process or in the same one).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Lease {
    pub job_id: i64,
    pub token: String,
}

/// A job as claimed, with the lease its run holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub job: Job,
    pub lease: Lease,
}

impl std::ops::Deref for Claimed {
    type Target = Job;
    fn deref(&self) -> &Job {
        &self.job
    }
}

/// How a run ended, as recorded by the worker.
#[derive(Debug, Clone)]
pub enum JobOutcome {
    Succeeded {
        result: serde_json::Value,
    },
    /// Retry once `after` has passed, by the database's clock.
    Retry {
        error: String,
        after: Duration,
    },
    Dead {
        error: String,
        result: Option<serde_json::Value>,
    },
}

/// How long a job whose worker was lost waits before it runs again: `base` doubled for each
/// attempt after the first, at most `max` (`BRIDGE_BACKOFF_BASE`, `BRIDGE_BACKOFF_MAX`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

/// What became of a periodic job offered to its schedule ([`Store::enqueue_scheduled`]).
#[derive(Debug, Clone)]
pub enum Scheduled {
    /// The schedule was due (or the run was forced): the job it was queued as or coalesced into.
    Enqueued(Job),
    /// Another run took the schedule; it is next due after this long.
    NotDue(Duration),
}

/// How long finished jobs are kept. Jobs that are still to run (queued, running, failed) are
/// never pruned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobRetention {
    /// Succeeded jobs, counted from when they finished.
    pub succeeded: Duration,
    /// Dead jobs, counted from when they died; kept longer so an operator can still re-drive them.
    pub dead: Duration,
    /// Most rows one statement deletes; each batch is its own short write.
    pub batch: u32,
}

impl JobRetention {
    pub const DEFAULT_SUCCEEDED: Duration = Duration::from_secs(7 * 86_400);
    pub const DEFAULT_DEAD: Duration = Duration::from_secs(30 * 86_400);
    pub const DEFAULT_BATCH: u32 = 500;
}

impl Default for JobRetention {
    fn default() -> Self {
        Self {
            succeeded: Self::DEFAULT_SUCCEEDED,
            dead: Self::DEFAULT_DEAD,
            batch: Self::DEFAULT_BATCH,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupFolder {
    pub group_id: String,
    pub group_name: String,
    /// Display path as created, e.g. `/DocSpace Groups/Marketing`.
    pub path: String,
    pub shared_folder_id: Option<String>,
    /// `true` while the group exists in DocSpace; `false` after `group.deleted`.
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportRecord {
    pub file_id: String,
    pub docspace_version: i64,
    pub dropbox_path: String,
    pub dropbox_id: Option<String>,
    pub rev: String,
    pub content_hash: String,
    pub size: i64,
}

/// Where a first export of a file is about to be committed, recorded before the commit: an
/// attempt that finds no export record but this intent looks there for its own bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportIntent {
    /// The path the commit asks for (Dropbox may autorename it).
    pub dropbox_path: String,
    /// Dropbox content hash of the bytes being committed.
    pub content_hash: String,
    pub docspace_version: i64,
    /// The `client_modified` timestamp the commit carries (`%Y-%m-%dT%H:%M:%SZ`): a file found
    /// with the intent's bytes is the commit's only if it carries it too. `None` for an intent
    /// recorded by an older build.
    pub stamp: Option<String>,
}

/// A group folder with the number of members the bridge invited to it and has not removed since
/// (people added by hand in Dropbox and the folder's owner are not counted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupFolderSummary {
    #[serde(flatten)]
    pub folder: GroupFolder,
    pub members: i64,
}

/// An exported file and when its record was last written (its latest export).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportSummary {
    #[serde(flatten)]
    pub record: ExportRecord,
    pub exported_at: DateTime<Utc>,
}

/// Where a backend's ingest batcher answers one delivery: after the commit that holds it.
type IngestReply = tokio::sync::oneshot::Sender<StoreResult<DeliveryOutcome>>;
/// Deliveries on their way to a backend's ingest batcher.
type IngestQueue = tokio::sync::mpsc::Sender<(Delivery, IngestReply)>;

/// Hands `d` to the batcher behind `queue` and waits for the commit that holds it.
async fn ingest_through(queue: &IngestQueue, d: Delivery) -> StoreResult<DeliveryOutcome> {
    fn gone<E>(_: E) -> StoreError {
        StoreError::Unavailable("store is shutting down".into())
    }
    let (reply, answer) = tokio::sync::oneshot::channel();
    queue.send((d, reply)).await.map_err(gone)?;
    answer.await.map_err(|_| {
        StoreError::Unavailable("the batch holding the delivery ended without an answer".into())
    })?
}

/// What a caught panic said (its message when it is text), for the callers of the batch it failed.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic")
}

/// Moves what else is waiting on `rx` into `batch`, up to `max` items in all.
fn take_pending<T>(rx: &mut tokio::sync::mpsc::Receiver<T>, batch: &mut Vec<T>, max: usize) {
    while batch.len() < max {
        match rx.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Readiness: the database answers, and a store with a single writer (SQLite) proves that the
    /// writer can write now. Bounded: answers within a few seconds either way.
    async fn ping(&self) -> StoreResult<()>;

    // --- queue -------------------------------------------------------------------------------

    /// Commits a delivery (dedupe + jobs) durably. Implementations may group-commit concurrent
    /// calls into one transaction; none returns before its transaction has committed.
    async fn ingest(&self, delivery: Delivery) -> StoreResult<DeliveryOutcome>;

    /// Enqueues jobs (coalescing on dedupe key with queued jobs); returns the job each maps to.
    async fn enqueue(&self, jobs: Vec<NewJob>) -> StoreResult<Vec<Job>> {
        Ok(self
            .ingest(Delivery {
                jobs,
                ..Delivery::default()
            })
            .await?
            .jobs)
    }

    /// Enqueues periodic `job` if its schedule (named after its kind) is due by the database's
    /// clock, or at once when `force`, and then sets the schedule's next run `every` from now;
    /// both in one transaction. Every replica's scheduler offers its runs here, so that a
    /// periodic job runs once per interval however many replicas there are.
    async fn enqueue_scheduled(
        &self,
        job: NewJob,
        every: Duration,
        force: bool,
    ) -> StoreResult<Scheduled>;

    /// Claims up to `limit` due jobs for `worker` (the process, kept for operators), leasing
    /// each for `lease` under a fresh token and counting an attempt. Lease times are the
    /// database's clock, not the caller's.
    async fn claim(&self, worker: &str, limit: u32, lease: Duration) -> StoreResult<Vec<Claimed>>;

    /// Extends a lease that is still held and not yet expired by another `duration` from now;
    /// `false` if the lease expired or the job was taken over since.
    async fn renew_lease(&self, lease: &Lease, duration: Duration) -> StoreResult<bool>;

    /// Records the end of a run; refused (`false`, nothing written) unless `lease` is still the
    /// job's current claim.
    async fn finish(&self, lease: &Lease, outcome: JobOutcome) -> StoreResult<bool>;

    /// Ends a run in one transaction: `attempt` goes into the job's history whatever happens to
    /// the result, then the result is recorded as by [`Store::finish`] (`false`: refused, the
    /// lease is no longer the job's claim). One commit instead of two for every job run.
    async fn finish_run(
        &self,
        lease: &Lease,
        outcome: JobOutcome,
        attempt: &Attempt,
    ) -> StoreResult<bool>;

    /// Gives a claimed job back without counting the attempt (graceful shutdown); nothing
    /// happens unless `lease` is still the job's current claim.
    async fn release(&self, lease: &Lease) -> StoreResult<()>;

    /// Gives back every job `worker` still holds, without counting their attempts (the end of a
    /// graceful shutdown, once its runs are over: what is left was claimed by a claim it gave up
    /// on, which may still have committed). The number of jobs given back.
    async fn release_all(&self, worker: &str) -> StoreResult<u64>;

    /// Returns jobs whose lease expired (by the database's clock) to the queue, due at once;
    /// the number returned. The lost run counts as an attempt: a job that has had
    /// `max_attempts` of them is `dead` instead.
    async fn requeue_expired(&self, max_attempts: u32, backoff: Backoff) -> StoreResult<u64>;

    async fn get_job(&self, id: i64) -> StoreResult<Option<Job>>;
    async fn list_jobs(&self, filter: &JobFilter) -> StoreResult<Vec<Job>>;
    /// Re-drives a dead job (see [`Store::retry_dead_matching`]). `NotFound` / `Conflict` (not
    /// dead).
    async fn retry_dead(&self, id: i64) -> StoreResult<Job> {
        let filter = RetryFilter {
            id: Some(id),
            ..RetryFilter::default()
        };
        if self.retry_dead_matching(&filter).await?.is_empty() {
            return match self.get_job(id).await? {
                None => Err(StoreError::NotFound),
                Some(j) => Err(StoreError::Conflict(format!(
                    "job {id} is {}, only dead jobs can be retried",
                    j.state.as_str()
                ))),
            };
        }
        self.get_job(id).await?.ok_or(StoreError::NotFound)
    }
    /// Re-drives every dead job that matches: attempts reset, last error cleared (the attempt
    /// history keeps it), due now. It is `queued`, except where a queued job of the same dedupe
    /// key exists or another job of the key is re-driven at the same time: then it waits as
    /// `failed`, due at once. The ids re-driven.
    async fn retry_dead_matching(&self, filter: &RetryFilter) -> StoreResult<Vec<i64>>;
    /// Adds a finished run to the job's attempt history.
    async fn record_attempt(&self, job_id: i64, attempt: &Attempt) -> StoreResult<()>;
    /// The job's runs, oldest first.
    async fn attempts(&self, job_id: i64) -> StoreResult<Vec<Attempt>>;
    /// Kept deliveries, newest first.
    async fn list_deliveries(&self, filter: &DeliveryFilter) -> StoreResult<Vec<DeliveryRecord>>;
    /// The kept deliveries that created or coalesced into `job`, newest first (at most 100).
    async fn job_deliveries(&self, job: &Job) -> StoreResult<Vec<DeliveryRecord>>;
    /// Number of jobs in every state (succeeded and dead: those still retained). Counts every
    /// row: for one-shot commands and tests, not for anything that runs periodically.
    async fn queue_depth(&self) -> StoreResult<BTreeMap<JobState, i64>>;
    /// The due job that has waited longest: queued, or failed and waiting for its retry, with
    /// `run_at` now or earlier (oldest `run_at` first).
    async fn oldest_due_job(&self) -> StoreResult<Option<Job>>;
    /// Number of jobs queued, running, failed (waiting for a retry) and dead, each state present
    /// (0 included). Succeeded jobs, most of the table, are not counted: this reads only the
    /// other states' index entries and is cheap enough for every metrics scrape.
    async fn queue_gauges(&self) -> StoreResult<BTreeMap<JobState, i64>>;
    /// Forgets deliveries older than `retention`.
    async fn prune_deliveries(&self, retention: Duration) -> StoreResult<u64>;
    /// Deletes succeeded and dead jobs that finished longer ago than `retention` says, in
    /// batches of `retention.batch` rows; the number deleted.
    async fn prune_jobs(&self, retention: &JobRetention) -> StoreResult<u64>;

    // --- group folders -----------------------------------------------------------------------

    async fn group_folder(&self, group_id: &str) -> StoreResult<Option<GroupFolder>>;
    async fn group_folders(&self) -> StoreResult<Vec<GroupFolder>>;
    /// The mapping (of any group, active or not) that holds `path` (compared by [`path_key`]).
    async fn group_folder_at(&self, path: &str) -> StoreResult<Option<GroupFolder>>;
    /// The mapping (of any group, active or not) of this shared folder.
    async fn group_folder_of_share(
        &self,
        shared_folder_id: &str,
    ) -> StoreResult<Option<GroupFolder>>;
    /// Every group folder with its count of members the bridge invited, by group name.
    async fn group_folder_summaries(&self) -> StoreResult<Vec<GroupFolderSummary>>;
    /// Inserts or replaces the mapping of `folder.group_id`. `Conflict` if another group already
    /// maps to the same path (compared by [`path_key`]) or to the same shared folder: a shared
    /// folder belongs to one group only.
    async fn put_group_folder(&self, folder: &GroupFolder) -> StoreResult<()>;
    /// Emails (lower-case) the bridge invited to this group's folder and has not removed since.
    async fn added_members(&self, group_id: &str) -> StoreResult<Vec<String>>;
    /// Remembers that the bridge invited `emails` to the group's folder, all in one transaction
    /// (one commit for a whole invitation call, not one per member).
    async fn record_members_added(&self, group_id: &str, emails: &[String]) -> StoreResult<()>;
    async fn record_member_removed(&self, group_id: &str, email: &str) -> StoreResult<()>;
    /// The Dropbox accounts of the members the bridge added to the group's folder, where known
    /// ([`Store::record_member_accounts`]): recorded e-mail → account id.
    async fn member_accounts(&self, group_id: &str) -> StoreResult<BTreeMap<String, String>>;
    /// Remembers the Dropbox account each member the bridge added was listed under, as
    /// (recorded e-mail, account id), all in one transaction.
    async fn record_member_accounts(
        &self,
        group_id: &str,
        accounts: &[(String, String)],
    ) -> StoreResult<()>;
    /// Remembers that Dropbox refused to have `email` invited to the group's folder, and why.
    /// [`Store::record_members_added`] forgets it again.
    async fn record_member_refused(
        &self,
        group_id: &str,
        email: &str,
        tag: &str,
    ) -> StoreResult<()>;
    /// `(email, tag)` of the refusals recorded within `max_age`.
    async fn member_refusals(
        &self,
        group_id: &str,
        max_age: Duration,
    ) -> StoreResult<Vec<(String, String)>>;

    // --- exports -----------------------------------------------------------------------------

    async fn export(&self, file_id: &str) -> StoreResult<Option<ExportRecord>>;
    /// Exports at `dropbox_path` or below it (case-insensitive): what a deletion of that path
    /// removed from Dropbox.
    async fn exports_under(&self, dropbox_path: &str) -> StoreResult<Vec<ExportRecord>>;
    async fn put_export(&self, record: &ExportRecord) -> StoreResult<()>;
    /// Takes the export guard of `file_id` for `holder` until `lease` from now: one export of a
    /// file at a time across every process on this database. `false` while another holder's
    /// guard has not expired.
    async fn acquire_export_guard(
        &self,
        file_id: &str,
        holder: &str,
        lease: Duration,
    ) -> StoreResult<bool>;
    /// Extends `holder`'s guard to `lease` from now; `false` if it no longer holds it.
    async fn renew_export_guard(
        &self,
        file_id: &str,
        holder: &str,
        lease: Duration,
    ) -> StoreResult<bool>;
    /// Lets `holder`'s guard go (nothing happens when it no longer holds it). The intent stays.
    async fn release_export_guard(&self, file_id: &str, holder: &str) -> StoreResult<()>;
    /// Records (or, with `None`, forgets) the intent of `holder`'s first export of the file;
    /// `false` if it no longer holds the guard.
    async fn set_export_intent(
        &self,
        file_id: &str,
        holder: &str,
        intent: Option<&ExportIntent>,
    ) -> StoreResult<bool>;
    async fn export_intent(&self, file_id: &str) -> StoreResult<Option<ExportIntent>>;
    /// Ends `holder`'s export of the file in one transaction: keeps `record`, forgets the intent
    /// and lets the guard go. What [`Store::put_export`], forgetting the intent with
    /// [`Store::set_export_intent`] and [`Store::release_export_guard`] do one after another.
    async fn complete_export(&self, record: &ExportRecord, holder: &str) -> StoreResult<()>;

    /// The exports recorded for any of `file_ids` (in no particular order; ids without one are
    /// left out). One statement per [`EXPORTS_OF_CHUNK`] ids.
    async fn exports_of(&self, file_ids: &[String]) -> StoreResult<Vec<ExportRecord>>;

    // --- watermarks --------------------------------------------------------------------------

    /// The instant stored under `name`; if there is none yet, stores `at` first. Replicas racing
    /// to store one all read back the same instant.
    async fn watermark_or_init(&self, name: &str, at: DateTime<Utc>) -> StoreResult<DateTime<Utc>>;
    /// The `limit` most recently written export records, newest first.
    async fn latest_exports(&self, limit: u32) -> StoreResult<Vec<ExportSummary>>;

    // --- Dropbox cursors ---------------------------------------------------------------------

    async fn cursor(&self, account_id: &str) -> StoreResult<Option<String>>;
    async fn put_cursor(&self, account_id: &str, cursor: &str) -> StoreResult<()>;
}

pub type DynStore = Arc<dyn Store>;

/// A job id as it is written (API paths, the command line): digits only, above 0; `+3` is no
/// more a job id than `-3`.
pub fn parse_job_id(s: &str) -> Option<i64> {
    Some(s)
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|n| *n > 0)
}

/// The key under which a Dropbox path is unique: NFC-normalised, then lower-cased. Dropbox
/// compares names case-insensitively, and the same visible name can arrive composed (`é`) or
/// decomposed (`e` + `◌́`).
pub fn path_key(path: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    path.nfc().collect::<String>().to_lowercase()
}

/// Most file ids one [`Store::exports_of`] statement asks for.
pub const EXPORTS_OF_CHUNK: usize = 200;

/// Watermark: when the bridge started exporting files (its first start, or the oldest export of
/// an installation that predates watermarks).
pub const WATERMARK_EXPORTING_SINCE: &str = "files.exporting_since";

/// `LIKE` pattern matching everything below `path_lower` (wildcards in the path escaped with `\`).
pub(crate) fn below_pattern(path_lower: &str) -> String {
    let escaped = path_lower
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("{}/%", escaped.trim_end_matches('/'))
}

/// Opens the store named by `database_url` and runs migrations; an SQLite file (and its
/// directory) is created when missing. For `serve` and `migrate`.
pub async fn connect(database_url: &str) -> StoreResult<DynStore> {
    open(database_url, true).await
}

/// Opens an existing bridge database and brings its schema up to date. Creates nothing: an
/// SQLite file that does not exist, or a database without the bridge's schema, is
/// [`StoreError::Missing`]. For the one-shot commands.
pub async fn connect_existing(database_url: &str) -> StoreResult<DynStore> {
    open(database_url, false).await
}

async fn open(database_url: &str, create: bool) -> StoreResult<DynStore> {
    if database_url.starts_with("sqlite:") {
        Ok(Arc::new(
            sqlite::SqliteStore::open_with(database_url, create).await?,
        ))
    } else {
        Ok(Arc::new(
            postgres::PgStore::open_with(database_url, create).await?,
        ))
    }
}
