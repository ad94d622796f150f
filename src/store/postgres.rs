//! PostgreSQL store, for several replicas behind a load balancer. Jobs are claimed with
//! `FOR UPDATE SKIP LOCKED`, and lease times are taken from PostgreSQL's clock (`now()`), the one
//! clock all replicas share; dedupe of deliveries and queued jobs and the mappings are enforced by
//! unique constraints, so replicas never double-act. Same schema and semantics as the SQLite store.
//!
//! Transactions are sqlx [`sqlx::Transaction`]s: a caller that goes away mid-transaction leaves
//! a connection that is rolled back before the pool hands it out again.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{PgConnection, Postgres, Row};

use super::rows::now_ms;
use super::*;

super::rows::row_mappers!(PgRow);

fn claimed_from_row(r: &PgRow) -> StoreResult<Claimed> {
    super::rows::claimed(job_from_row(r)?, r.try_get("lease_token")?)
}
super::sql::shared_statements!(sqlx::Postgres, {
    now: "(FLOOR(EXTRACT(EPOCH FROM now()) * 1000))::BIGINT",
    new_token: "gen_random_uuid()::text",
    skip_locked: "FOR UPDATE SKIP LOCKED",
});

mod ingest;
mod writes;

/// A job inserted due now by PostgreSQL's clock, not the replica's: a replica whose clock ran
/// ahead would otherwise enqueue work that no replica claims until that clock's time.
const INSERT_JOB: &str =
    super::sql::insert_job!("(FLOOR(EXTRACT(EPOCH FROM now()) * 1000))::BIGINT");

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Times a write is tried when it runs into a unique violation.
const CONFLICT_ATTEMPTS: usize = 3;

/// Runs `attempt` (a transaction of its own) again while it ends in a unique violation, at most
/// [`CONFLICT_ATTEMPTS`] times in all: the violation is another replica's transaction that
/// committed between this one's look and its write, and the next attempt sees what it wrote.
async fn again_on_conflict<T, F, Fut>(what: &str, mut attempt: F) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = StoreResult<T>>,
{
    for _ in 0..CONFLICT_ATTEMPTS {
        match attempt().await {
            Err(StoreError::Conflict(_)) => continue,
            other => return other,
        }
    }
    Err(StoreError::Unavailable(format!(
        "{what} hit a unique violation {CONFLICT_ATTEMPTS} times"
    )))
}

pub struct PgStore {
    pool: PgPool,
    /// Deliveries on their way to the ingest task (`ingest.rs`).
    ingest: super::IngestQueue,
}

impl PgStore {
    pub async fn open(url: &str) -> StoreResult<Self> {
        Self::open_with(url, true).await
    }

    /// Opens the database at `url`; with `create` false, a database that holds no bridge
    /// schema is [`StoreError::Missing`] and no table is created. (PostgreSQL databases
    /// themselves are never created by the bridge.)
    pub async fn open_with(url: &str, create: bool) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        if !create {
            let found: Option<String> =
                sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
                    .fetch_one(&pool)
                    .await?;
            if found.is_none() {
                return Err(StoreError::Missing(
                    "the database holds no bridge schema".into(),
                ));
            }
        }
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Other(format!("migration failed: {e}")))?;
        let ingest = ingest::start(pool.clone());
        Ok(Self { pool, ingest })
    }

    async fn conn(&self) -> StoreResult<PoolConnection<Postgres>> {
        Ok(self.pool.acquire().await?)
    }
}

/// Commits one delivery in a transaction of its own. The statements coalesce with the rows they
/// can see; a unique violation is a race with another replica's transaction that committed in
/// between, and running the delivery again sees that row.
async fn ingest_alone(pool: PgPool, d: Delivery) -> StoreResult<DeliveryOutcome> {
    let (pool, d) = (&pool, &d);
    again_on_conflict("delivery", || ingest_once(pool, d)).await
}

async fn ingest_once(pool: &PgPool, d: &Delivery) -> StoreResult<DeliveryOutcome> {
    let mut tx = pool.begin().await?;
    let now = now_ms();
    let Some(kept) = keep_delivery(&mut tx, d, now).await? else {
        tx.rollback().await?;
        return Ok(DeliveryOutcome::duplicate());
    };
    let mut jobs = Vec::with_capacity(d.jobs.len());
    for j in &d.jobs {
        jobs.push(enqueue(&mut tx, j).await?);
    }
    if let Some(id) = kept {
        link_delivery(&mut tx, id, &jobs).await?;
    }
    tx.commit().await?;
    Ok(DeliveryOutcome::enqueued(jobs, kept.is_some()))
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn ingest(&self, d: Delivery) -> StoreResult<DeliveryOutcome> {
        super::ingest_through(&self.ingest, d).await
    }

    async fn enqueue_scheduled(
        &self,
        job: NewJob,
        every: Duration,
        force: bool,
    ) -> StoreResult<Scheduled> {
        // A unique violation is a job of the same key queued by another transaction between
        // the enqueue's look and its insert: run it again, as a delivery is.
        let (pool, job) = (&self.pool, &job);
        again_on_conflict("periodic enqueue", || async move {
            let mut tx = pool.begin().await?;
            let taken = sqlx::query(shared::TAKE_SCHEDULE)
                .bind(&job.kind)
                .bind(super::sql::millis(every))
                .bind(force)
                .fetch_optional(&mut *tx)
                .await?;
            if taken.is_none() {
                let wait: i64 = sqlx::query_scalar(shared::SCHEDULE_WAIT)
                    .bind(&job.kind)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.rollback().await?;
                return Ok(Scheduled::NotDue(Duration::from_millis(
                    u64::try_from(wait).unwrap_or(0),
                )));
            }
            let row = enqueue(&mut tx, job).await?;
            tx.commit().await?;
            Ok(Scheduled::Enqueued(row))
        })
        .await
    }

    async fn claim(&self, worker: &str, limit: u32, lease: Duration) -> StoreResult<Vec<Claimed>> {
        // A unique violation is another replica's claim, committed while this one ran, of a job
        // with the key of one this claim took (at most one job of a key runs): claim again,
        // which sees that job running.
        again_on_conflict("claim", || async move {
            writes::claim(&mut *self.conn().await?, worker, limit, lease).await
        })
        .await
    }

    async fn renew_lease(&self, lease: &Lease, duration: Duration) -> StoreResult<bool> {
        shared::renew_lease(&mut *self.conn().await?, lease, duration).await
    }

    async fn finish(&self, lease: &Lease, outcome: JobOutcome) -> StoreResult<bool> {
        writes::finish(&mut *self.conn().await?, lease, outcome).await
    }

    async fn finish_run(
        &self,
        lease: &Lease,
        outcome: JobOutcome,
        attempt: &Attempt,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        writes::record_attempt(&mut tx, lease.job_id, attempt).await?;
        let recorded = writes::finish(&mut tx, lease, outcome).await?;
        tx.commit().await?;
        Ok(recorded)
    }

    async fn release(&self, lease: &Lease) -> StoreResult<()> {
        shared::release(&mut *self.conn().await?, lease).await
    }

    async fn release_all(&self, worker: &str) -> StoreResult<u64> {
        shared::release_all(&mut *self.conn().await?, worker).await
    }

    async fn requeue_expired(&self, max_attempts: u32, backoff: Backoff) -> StoreResult<u64> {
        shared::requeue_expired(&mut *self.conn().await?, max_attempts, backoff).await
    }

    async fn get_job(&self, id: i64) -> StoreResult<Option<Job>> {
        shared::get_job(&mut *self.conn().await?, id).await
    }

    async fn list_jobs(&self, f: &JobFilter) -> StoreResult<Vec<Job>> {
        shared::list_jobs(&mut *self.conn().await?, f).await
    }

    async fn retry_dead_matching(&self, filter: &RetryFilter) -> StoreResult<Vec<i64>> {
        // A job of the same key queued by another transaction between the statements' look
        // and their write is a unique violation: look again.
        let pool = &self.pool;
        again_on_conflict("re-drive", || async move {
            let mut tx = pool.begin().await?;
            let ids = shared::retry_dead_matching(&mut tx, filter).await?;
            tx.commit().await?;
            Ok(ids)
        })
        .await
    }

    async fn record_attempt(&self, job_id: i64, attempt: &Attempt) -> StoreResult<()> {
        writes::record_attempt(&mut *self.conn().await?, job_id, attempt).await
    }

    async fn attempts(&self, job_id: i64) -> StoreResult<Vec<Attempt>> {
        shared::attempts(&mut *self.conn().await?, job_id).await
    }

    async fn list_deliveries(&self, filter: &DeliveryFilter) -> StoreResult<Vec<DeliveryRecord>> {
        shared::list_deliveries(&mut *self.conn().await?, filter).await
    }

    async fn job_deliveries(&self, job: &Job) -> StoreResult<Vec<DeliveryRecord>> {
        // Found by the index of links by job, whenever they were received.
        shared::job_deliveries(&mut *self.conn().await?, job.id, i64::MIN, i64::MAX).await
    }

    async fn queue_depth(&self) -> StoreResult<BTreeMap<JobState, i64>> {
        shared::queue_depth(&mut *self.conn().await?).await
    }

    async fn oldest_due_job(&self) -> StoreResult<Option<Job>> {
        shared::oldest_due_job(&mut *self.conn().await?).await
    }

    async fn queue_gauges(&self) -> StoreResult<BTreeMap<JobState, i64>> {
        shared::queue_gauges(&mut *self.conn().await?).await
    }

    async fn prune_deliveries(&self, retention: Duration) -> StoreResult<u64> {
        shared::prune_deliveries(&mut *self.conn().await?, retention).await
    }

    async fn prune_jobs(&self, retention: &JobRetention) -> StoreResult<u64> {
        super::sql::prune_jobs_in_batches(retention, |state, cutoff, batch| async move {
            shared::prune_jobs_batch(&mut *self.conn().await?, state, cutoff, batch).await
        })
        .await
    }

    async fn group_folder(&self, group_id: &str) -> StoreResult<Option<GroupFolder>> {
        shared::group_folder(&mut *self.conn().await?, group_id).await
    }

    async fn group_folders(&self) -> StoreResult<Vec<GroupFolder>> {
        shared::group_folders(&mut *self.conn().await?).await
    }

    async fn group_folder_at(&self, path: &str) -> StoreResult<Option<GroupFolder>> {
        shared::group_folder_at(&mut *self.conn().await?, path).await
    }

    async fn group_folder_of_share(
        &self,
        shared_folder_id: &str,
    ) -> StoreResult<Option<GroupFolder>> {
        shared::group_folder_of_share(&mut *self.conn().await?, shared_folder_id).await
    }

    async fn group_folder_summaries(&self) -> StoreResult<Vec<GroupFolderSummary>> {
        shared::group_folder_summaries(&mut *self.conn().await?).await
    }

    async fn put_group_folder(&self, f: &GroupFolder) -> StoreResult<()> {
        shared::put_group_folder(&mut *self.conn().await?, f).await
    }

    async fn added_members(&self, group_id: &str) -> StoreResult<Vec<String>> {
        shared::added_members(&mut *self.conn().await?, group_id).await
    }

    async fn record_members_added(&self, group_id: &str, emails: &[String]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        shared::record_members_added(&mut tx, group_id, emails).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_member_refused(
        &self,
        group_id: &str,
        email: &str,
        tag: &str,
    ) -> StoreResult<()> {
        shared::record_member_refused(&mut *self.conn().await?, group_id, email, tag).await
    }

    async fn member_refusals(
        &self,
        group_id: &str,
        max_age: Duration,
    ) -> StoreResult<Vec<(String, String)>> {
        shared::member_refusals(&mut *self.conn().await?, group_id, max_age).await
    }

    async fn member_accounts(&self, group_id: &str) -> StoreResult<BTreeMap<String, String>> {
        shared::member_accounts(&mut *self.conn().await?, group_id).await
    }

    async fn record_member_accounts(
        &self,
        group_id: &str,
        accounts: &[(String, String)],
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        shared::record_member_accounts(&mut tx, group_id, accounts).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_member_removed(&self, group_id: &str, email: &str) -> StoreResult<()> {
        shared::record_member_removed(&mut *self.conn().await?, group_id, email).await
    }

    async fn export(&self, file_id: &str) -> StoreResult<Option<ExportRecord>> {
        shared::export(&mut *self.conn().await?, file_id).await
    }

    async fn exports_under(&self, dropbox_path: &str) -> StoreResult<Vec<ExportRecord>> {
        shared::exports_under(&mut *self.conn().await?, dropbox_path).await
    }

    async fn latest_exports(&self, limit: u32) -> StoreResult<Vec<ExportSummary>> {
        shared::latest_exports(&mut *self.conn().await?, limit).await
    }

    async fn put_export(&self, r: &ExportRecord) -> StoreResult<()> {
        writes::put_export(&mut *self.conn().await?, r).await
    }

    async fn acquire_export_guard(
        &self,
        file_id: &str,
        holder: &str,
        lease: Duration,
    ) -> StoreResult<bool> {
        writes::acquire_export_guard(&mut *self.conn().await?, file_id, holder, lease).await
    }

    async fn renew_export_guard(
        &self,
        file_id: &str,
        holder: &str,
        lease: Duration,
    ) -> StoreResult<bool> {
        writes::renew_export_guard(&mut *self.conn().await?, file_id, holder, lease).await
    }

    async fn complete_export(&self, r: &ExportRecord, holder: &str) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        writes::put_export(&mut tx, r).await?;
        writes::end_export_guard(&mut tx, &r.file_id, holder).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn release_export_guard(&self, file_id: &str, holder: &str) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        shared::release_export_guard(&mut tx, file_id, holder).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn set_export_intent(
        &self,
        file_id: &str,
        holder: &str,
        intent: Option<&ExportIntent>,
    ) -> StoreResult<bool> {
        writes::set_export_intent(&mut *self.conn().await?, file_id, holder, intent).await
    }

    async fn export_intent(&self, file_id: &str) -> StoreResult<Option<ExportIntent>> {
        shared::export_intent(&mut *self.conn().await?, file_id).await
    }

    async fn exports_of(&self, file_ids: &[String]) -> StoreResult<Vec<ExportRecord>> {
        shared::exports_of(&mut *self.conn().await?, file_ids).await
    }

    async fn watermark_or_init(&self, name: &str, at: DateTime<Utc>) -> StoreResult<DateTime<Utc>> {
        let ms = shared::watermark_or_init(&mut *self.conn().await?, name, at.timestamp_millis())
            .await?;
        Ok(super::rows::from_ms(ms))
    }

    async fn cursor(&self, account_id: &str) -> StoreResult<Option<String>> {
        shared::cursor(&mut *self.conn().await?, account_id).await
    }

    async fn put_cursor(&self, account_id: &str, cursor: &str) -> StoreResult<()> {
        shared::put_cursor(&mut *self.conn().await?, account_id, cursor).await
    }
}

// --- ingestion of one delivery alone (batches: `ingest.rs`) ---

/// Times an enqueue looks again when the queued job it coalesced with was claimed
/// between its insert and its read (another replica's worker).
const ENQUEUE_ROUNDS: usize = 5;

/// Keeps a delivery (one insert, which also dedupes on its delivery id). `None` if
/// its delivery id was seen before; `Some(None)` for a delivery that is not kept
/// (no delivery id and nothing received: jobs of the API, the scheduler, jobs);
/// else the id it is kept under.
async fn keep_delivery(
    c: &mut PgConnection,
    d: &Delivery,
    now: i64,
) -> StoreResult<Option<Option<i64>>> {
    let Some(source) = super::sql::delivery_source(d) else {
        return Ok(Some(None));
    };
    let received = d.received.clone().unwrap_or_default();
    let row = sqlx::query(super::sql::INSERT_DELIVERY)
        .bind(&d.delivery_id)
        .bind(source)
        .bind(&received.event_id)
        .bind(&received.trigger)
        .bind(&received.request_id)
        .bind(now)
        .fetch_optional(&mut *c)
        .await?;
    match row {
        Some(r) => Ok(Some(Some(r.try_get("id")?))),
        None => Ok(None),
    }
}

/// Links a kept delivery to the jobs it created or coalesced into (one insert).
async fn link_delivery(c: &mut PgConnection, delivery_id: i64, jobs: &[Job]) -> StoreResult<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    let mut qb =
        sqlx::QueryBuilder::<Postgres>::new("INSERT INTO delivery_jobs (delivery_id, job_id) ");
    qb.push_values(jobs, |mut b, j| {
        b.push_bind(delivery_id).push_bind(j.id);
    });
    qb.push(" ON CONFLICT DO NOTHING");
    qb.build().execute(&mut *c).await?;
    Ok(())
}

/// Inserts a queued job, or returns the queued job with the same dedupe key.
async fn enqueue(c: &mut PgConnection, j: &NewJob) -> StoreResult<Job> {
    for _ in 0..ENQUEUE_ROUNDS {
        let inserted = sqlx::query(INSERT_JOB)
            .bind(&j.kind)
            .bind(&j.dedupe_key)
            .bind(j.payload.to_string())
            .fetch_optional(&mut *c)
            .await?;
        if let Some(row) = inserted {
            return job_from_row(&row);
        }
        // Planned at each run, like the batch's lookup (`ingest.rs`): a plan kept from an empty
        // table may read every queued job by state instead of probing the unique index.
        let existing = sqlx::query(super::sql::QUEUED_JOB)
            .persistent(false)
            .bind(&j.dedupe_key)
            .fetch_optional(&mut *c)
            .await?;
        if let Some(row) = existing {
            return job_from_row(&row);
        }
    }
    Err(StoreError::Unavailable(format!(
        "enqueue of {} lost {ENQUEUE_ROUNDS} races with claimers",
        j.kind
    )))
}
