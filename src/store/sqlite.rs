//! SQLite store (embedded default): WAL journal, one writer connection, a read pool.
//!
//! Every write goes through the single writer connection (SQLite allows one writer at a time;
//! serialising in-process avoids `SQLITE_BUSY` storms). Webhook ingestion is group-committed: calls
//! to [`Store::ingest`] queue on a channel, one task drains everything pending into a single
//! `BEGIN IMMEDIATE … COMMIT`, and only then answers each caller. With `synchronous = FULL` that is
//! one fsync per batch instead of one per request, and no caller is answered before its rows are
//! durable.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Connection, Row, SqlitePool};
use tokio::sync::{mpsc, oneshot, Mutex};

use super::rows::now_ms;
use super::*;

super::rows::row_mappers!(SqliteRow);
super::overview::overview_statements!(sqlx::Sqlite);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Most deliveries committed in one transaction.
const MAX_BATCH: usize = 512;

type IngestReply = oneshot::Sender<StoreResult<DeliveryOutcome>>;

pub struct SqliteStore {
    read: SqlitePool,
    writer: Arc<Mutex<SqliteConnection>>,
    ingest_tx: mpsc::Sender<(Delivery, IngestReply)>,
}

impl SqliteStore {
    pub async fn open(url: &str) -> StoreResult<Self> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("invalid sqlite url: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        if let Some(dir) = sqlite_parent_dir(url) {
            std::fs::create_dir_all(&dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let mut writer = SqliteConnection::connect_with(&opts).await?;
        MIGRATOR
            .run(&mut writer)
            .await
            .map_err(|e| StoreError::Other(format!("migration failed: {e}")))?;
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(opts.read_only(true))
            .await?;
        let writer = Arc::new(Mutex::new(writer));
        let (ingest_tx, rx) = mpsc::channel(4096);
        tokio::spawn(group_commit_loop(writer.clone(), rx));
        Ok(Self {
            read,
            writer,
            ingest_tx,
        })
    }

    /// Runs `f` inside `BEGIN IMMEDIATE … COMMIT` on the writer connection.
    async fn write_tx<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: for<'c> FnOnce(
            &'c mut SqliteConnection,
        ) -> futures::future::BoxFuture<'c, StoreResult<T>>,
    {
        let mut conn = self.writer.lock().await;
        in_immediate_tx(&mut conn, f).await
    }
}

fn sqlite_parent_dir(url: &str) -> Option<std::path::PathBuf> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or("");
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    std::path::Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| p.to_path_buf())
}

async fn in_immediate_tx<T, F>(conn: &mut SqliteConnection, f: F) -> StoreResult<T>
where
    F: for<'c> FnOnce(&'c mut SqliteConnection) -> futures::future::BoxFuture<'c, StoreResult<T>>,
{
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    match f(conn).await {
        Ok(v) => {
            if let Err(e) = sqlx::query("COMMIT").execute(&mut *conn).await {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                return Err(e.into());
            }
            Ok(v)
        }
        Err(e) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            Err(e)
        }
    }
}

async fn group_commit_loop(
    writer: Arc<Mutex<SqliteConnection>>,
    mut rx: mpsc::Receiver<(Delivery, IngestReply)>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        // Take the writer first: while it is busy, more requests pile up and join this batch.
        let mut conn = writer.lock().await;
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let deliveries: Vec<Delivery> = batch.iter().map(|(d, _)| d.clone()).collect();
        let result = in_immediate_tx(&mut conn, move |c| {
            Box::pin(async move {
                let mut outs = Vec::with_capacity(deliveries.len());
                for d in &deliveries {
                    outs.push(ingest_one(c, d).await?);
                }
                Ok(outs)
            })
        })
        .await;
        drop(conn);
        metrics::histogram!("bridge_store_group_commit_size").record(batch.len() as f64);
        match result {
            Ok(outs) => {
                for ((_, reply), out) in batch.into_iter().zip(outs) {
                    let _ = reply.send(Ok(out));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                let unavailable = matches!(e, StoreError::Unavailable(_));
                for (_, reply) in batch {
                    let err = if unavailable {
                        StoreError::Unavailable(msg.clone())
                    } else {
                        StoreError::Other(msg.clone())
                    };
                    let _ = reply.send(Err(err));
                }
            }
        }
    }
}

async fn ingest_one(c: &mut SqliteConnection, d: &Delivery) -> StoreResult<DeliveryOutcome> {
    let now = now_ms();
    if let Some(id) = &d.delivery_id {
        let inserted =
            sqlx::query("INSERT OR IGNORE INTO deliveries (id, received_at) VALUES (?, ?)")
                .bind(id)
                .bind(now)
                .execute(&mut *c)
                .await?
                .rows_affected();
        if inserted == 0 {
            return Ok(DeliveryOutcome {
                duplicate: true,
                jobs: vec![],
            });
        }
    }
    let mut jobs = Vec::with_capacity(d.jobs.len());
    for j in &d.jobs {
        jobs.push(enqueue_one(c, j, now).await?);
    }
    Ok(DeliveryOutcome {
        duplicate: false,
        jobs,
    })
}

async fn enqueue_one(c: &mut SqliteConnection, j: &NewJob, now: i64) -> StoreResult<Job> {
    if let Some(key) = &j.dedupe_key {
        let existing =
            sqlx::query("SELECT * FROM jobs WHERE dedupe_key = ? AND state = 'queued' LIMIT 1")
                .bind(key)
                .fetch_optional(&mut *c)
                .await?;
        if let Some(row) = existing {
            return job_from_row(&row);
        }
    }
    let row = sqlx::query(
        "INSERT INTO jobs (kind, state, attempts, dedupe_key, payload, run_at, created_at, updated_at)
         VALUES (?, 'queued', 0, ?, ?, ?, ?, ?) RETURNING *",
    )
    .bind(&j.kind)
    .bind(&j.dedupe_key)
    .bind(j.payload.to_string())
    .bind(now)
    .bind(now)
    .bind(now)
    .fetch_one(&mut *c)
    .await?;
    job_from_row(&row)
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    async fn ingest(&self, delivery: Delivery) -> StoreResult<DeliveryOutcome> {
        let (tx, rx) = oneshot::channel();
        self.ingest_tx
            .send((delivery, tx))
            .await
            .map_err(|_| StoreError::Unavailable("store is shutting down".into()))?;
        rx.await
            .map_err(|_| StoreError::Unavailable("store is shutting down".into()))?
    }

    async fn claim(&self, worker: &str, limit: u32, lease: Duration) -> StoreResult<Vec<Job>> {
        let worker = worker.to_string();
        let lease_ms = lease.as_millis() as i64;
        self.write_tx(move |c| {
            Box::pin(async move {
                let now = now_ms();
                let rows = sqlx::query(
                    "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = ?,
                            lease_expires_at = ?, updated_at = ?
                     WHERE id IN (SELECT id FROM jobs WHERE state IN ('queued', 'failed') AND run_at <= ?
                                  ORDER BY run_at, id LIMIT ?)
                     RETURNING *",
                )
                .bind(&worker)
                .bind(now + lease_ms)
                .bind(now)
                .bind(now)
                .bind(limit as i64)
                .fetch_all(&mut *c)
                .await?;
                rows.iter().map(job_from_row).collect()
            })
        })
        .await
    }

    async fn renew_lease(&self, job_id: i64, worker: &str, lease: Duration) -> StoreResult<bool> {
        let mut c = self.writer.lock().await;
        let now = now_ms();
        let n = sqlx::query(
            "UPDATE jobs SET lease_expires_at = ?, updated_at = ?
             WHERE id = ? AND state = 'running' AND lease_owner = ?",
        )
        .bind(now + lease.as_millis() as i64)
        .bind(now)
        .bind(job_id)
        .bind(worker)
        .execute(&mut *c)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    async fn finish(&self, job_id: i64, worker: &str, outcome: JobOutcome) -> StoreResult<bool> {
        let mut c = self.writer.lock().await;
        let now = now_ms();
        let (state, error, result, run_at) = outcome_columns(outcome);
        let n = sqlx::query(
            "UPDATE jobs SET state = ?, last_error = ?, result = COALESCE(?, result),
                    run_at = COALESCE(?, run_at), lease_owner = NULL, lease_expires_at = NULL,
                    updated_at = ?
             WHERE id = ? AND state = 'running' AND lease_owner = ?",
        )
        .bind(state)
        .bind(error)
        .bind(result)
        .bind(run_at)
        .bind(now)
        .bind(job_id)
        .bind(worker)
        .execute(&mut *c)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    async fn release(&self, job_id: i64, worker: &str) -> StoreResult<()> {
        let mut c = self.writer.lock().await;
        sqlx::query(
            "UPDATE jobs SET state = 'failed', attempts = MAX(attempts - 1, 0), lease_owner = NULL,
                    lease_expires_at = NULL, updated_at = ?
             WHERE id = ? AND state = 'running' AND lease_owner = ?",
        )
        .bind(now_ms())
        .bind(job_id)
        .bind(worker)
        .execute(&mut *c)
        .await?;
        Ok(())
    }

    async fn requeue_expired(&self) -> StoreResult<u64> {
        let mut c = self.writer.lock().await;
        let now = now_ms();
        // An expired lease means the worker died: the attempt it claimed counts, and the job
        // waits in `failed` (due now) so dedupe of newer queued jobs is unaffected.
        let n = sqlx::query(
            "UPDATE jobs SET state = 'failed', last_error = COALESCE(last_error, 'lease expired'),
                    lease_owner = NULL, lease_expires_at = NULL, run_at = ?, updated_at = ?
             WHERE state = 'running' AND lease_expires_at < ?",
        )
        .bind(now)
        .bind(now)
        .bind(now)
        .execute(&mut *c)
        .await?
        .rows_affected();
        Ok(n)
    }

    async fn get_job(&self, id: i64) -> StoreResult<Option<Job>> {
        let row = sqlx::query("SELECT * FROM jobs WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    async fn list_jobs(&self, f: &JobFilter) -> StoreResult<Vec<Job>> {
        let rows = sqlx::query(
            "SELECT * FROM jobs
             WHERE (? IS NULL OR state = ?) AND (? IS NULL OR kind = ?) AND (? IS NULL OR id < ?)
             ORDER BY id DESC LIMIT ?",
        )
        .bind(f.state.map(|s| s.as_str()))
        .bind(f.state.map(|s| s.as_str()))
        .bind(&f.kind)
        .bind(&f.kind)
        .bind(f.before_id)
        .bind(f.before_id)
        .bind(f.limit as i64)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    async fn retry_dead(&self, id: i64) -> StoreResult<Job> {
        self.write_tx(move |c| {
            Box::pin(async move {
                let row = sqlx::query("SELECT * FROM jobs WHERE id = ?")
                    .bind(id)
                    .fetch_optional(&mut *c)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                let job = job_from_row(&row)?;
                if job.state != JobState::Dead {
                    return Err(StoreError::Conflict(format!(
                        "job {id} is {}, only dead jobs can be retried",
                        job.state.as_str()
                    )));
                }
                let now = now_ms();
                // Re-driven as `failed` (due now) rather than `queued` so it never collides with
                // a queued job of the same dedupe key.
                let row = sqlx::query(
                    "UPDATE jobs SET state = 'failed', attempts = 0, run_at = ?, updated_at = ?
                     WHERE id = ? RETURNING *",
                )
                .bind(now)
                .bind(now)
                .bind(id)
                .fetch_one(&mut *c)
                .await?;
                job_from_row(&row)
            })
        })
        .await
    }

    async fn queue_depth(&self) -> StoreResult<BTreeMap<JobState, i64>> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
            .fetch_all(&self.read)
            .await?;
        let mut out: BTreeMap<JobState, i64> = JobState::ALL.iter().map(|s| (*s, 0)).collect();
        for r in rows {
            let s: String = r.try_get("state")?;
            if let Some(st) = JobState::parse(&s) {
                out.insert(st, r.try_get("n")?);
            }
        }
        Ok(out)
    }

    async fn oldest_due_job(&self) -> StoreResult<Option<Job>> {
        overview::oldest_due_job(&mut *self.read.acquire().await?).await
    }

    async fn prune_deliveries(&self, retention: Duration) -> StoreResult<u64> {
        let mut c = self.writer.lock().await;
        let cutoff = now_ms() - retention.as_millis() as i64;
        Ok(sqlx::query("DELETE FROM deliveries WHERE received_at < ?")
            .bind(cutoff)
            .execute(&mut *c)
            .await?
            .rows_affected())
    }

    async fn group_folder(&self, group_id: &str) -> StoreResult<Option<GroupFolder>> {
        let row = sqlx::query("SELECT * FROM group_folders WHERE group_id = ?")
            .bind(group_id)
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(group_folder_from_row).transpose()
    }

    async fn group_folders(&self) -> StoreResult<Vec<GroupFolder>> {
        let rows = sqlx::query("SELECT * FROM group_folders ORDER BY group_id")
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(group_folder_from_row).collect()
    }

    async fn group_folder_summaries(&self) -> StoreResult<Vec<GroupFolderSummary>> {
        overview::group_folder_summaries(&mut *self.read.acquire().await?).await
    }

    async fn put_group_folder(&self, f: &GroupFolder) -> StoreResult<()> {
        let mut c = self.writer.lock().await;
        sqlx::query(
            "INSERT INTO group_folders (group_id, group_name, path, path_lower, shared_folder_id, active, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (group_id) DO UPDATE SET group_name = excluded.group_name, path = excluded.path,
                 path_lower = excluded.path_lower, shared_folder_id = excluded.shared_folder_id,
                 active = excluded.active, updated_at = excluded.updated_at",
        )
        .bind(&f.group_id)
        .bind(&f.group_name)
        .bind(&f.path)
        .bind(f.path.to_lowercase())
        .bind(&f.shared_folder_id)
        .bind(f.active as i64)
        .bind(now_ms())
        .execute(&mut *c)
        .await?;
        Ok(())
    }

    async fn added_members(&self, group_id: &str) -> StoreResult<Vec<String>> {
        let rows =
            sqlx::query("SELECT email FROM group_members_added WHERE group_id = ? ORDER BY email")
                .bind(group_id)
                .fetch_all(&self.read)
                .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("email").map_err(Into::into))
            .collect()
    }

    async fn record_member_added(&self, group_id: &str, email: &str) -> StoreResult<()> {
        let mut c = self.writer.lock().await;
        let email = email.to_lowercase();
        sqlx::query(
            "INSERT OR IGNORE INTO group_members_added (group_id, email, added_at) VALUES (?, ?, ?)",
        )
        .bind(group_id)
        .bind(&email)
        .bind(now_ms())
        .execute(&mut *c)
        .await?;
        sqlx::query("DELETE FROM group_member_refusals WHERE group_id = ? AND email = ?")
            .bind(group_id)
            .bind(&email)
            .execute(&mut *c)
            .await?;
        Ok(())
    }

    async fn record_member_refused(
        &self,
        group_id: &str,
        email: &str,
        tag: &str,
    ) -> StoreResult<()> {
        let mut c = self.writer.lock().await;
        sqlx::query(
            "INSERT INTO group_member_refusals (group_id, email, tag, refused_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (group_id, email) DO UPDATE SET tag = excluded.tag, refused_at = excluded.refused_at",
        )
        .bind(group_id)
        .bind(email.to_lowercase())
        .bind(tag)
        .bind(now_ms())
        .execute(&mut *c)
        .await?;
        Ok(())
    }

    async fn member_refusals(
        &self,
        group_id: &str,
        max_age: Duration,
    ) -> StoreResult<Vec<(String, String)>> {
        let since_ms = now_ms().saturating_sub(max_age.as_millis().try_into().unwrap_or(i64::MAX));
        let rows = sqlx::query(
            "SELECT email, tag FROM group_member_refusals
             WHERE group_id = ? AND refused_at >= ? ORDER BY email",
        )
        .bind(group_id)
        .bind(since_ms)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("email")?, r.try_get("tag")?)))
            .collect()
    }

    async fn record_member_removed(&self, group_id: &str, email: &str) -> StoreResult<()> {
        let mut c = self.writer.lock().await;
        sqlx::query("DELETE FROM group_members_added WHERE group_id = ? AND email = ?")
            .bind(group_id)
            .bind(email.to_lowercase())
            .execute(&mut *c)
            .await?;
        Ok(())
    }

    async fn export(&self, file_id: &str) -> StoreResult<Option<ExportRecord>> {
        let row = sqlx::query("SELECT * FROM exports WHERE file_id = ?")
            .bind(file_id)
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(export_from_row).transpose()
    }

    async fn exports_under(&self, dropbox_path: &str) -> StoreResult<Vec<ExportRecord>> {
        let lower = dropbox_path.to_lowercase();
        let rows = sqlx::query(
            "SELECT * FROM exports WHERE dropbox_path_lower = ? OR dropbox_path_lower LIKE ? ESCAPE '\\'
             ORDER BY file_id",
        )
        .bind(&lower)
        .bind(below_pattern(&lower))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(export_from_row).collect()
    }

    async fn latest_exports(&self, limit: u32) -> StoreResult<Vec<ExportSummary>> {
        overview::latest_exports(&mut *self.read.acquire().await?, limit).await
    }

    async fn put_export(&self, r: &ExportRecord) -> StoreResult<()> {
        let mut c = self.writer.lock().await;
        sqlx::query(
            "INSERT INTO exports (file_id, docspace_version, dropbox_path, dropbox_path_lower, dropbox_id, rev, content_hash, size, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (file_id) DO UPDATE SET docspace_version = excluded.docspace_version,
                 dropbox_path = excluded.dropbox_path, dropbox_path_lower = excluded.dropbox_path_lower,
                 dropbox_id = excluded.dropbox_id, rev = excluded.rev, content_hash = excluded.content_hash,
                 size = excluded.size, updated_at = excluded.updated_at",
        )
        .bind(&r.file_id)
        .bind(r.docspace_version)
        .bind(&r.dropbox_path)
        .bind(r.dropbox_path.to_lowercase())
        .bind(&r.dropbox_id)
        .bind(&r.rev)
        .bind(&r.content_hash)
        .bind(r.size)
        .bind(now_ms())
        .execute(&mut *c)
        .await?;
        Ok(())
    }

    async fn cursor(&self, account_id: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT cursor FROM dropbox_cursors WHERE account_id = ?")
            .bind(account_id)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.map(|r| r.try_get("cursor")).transpose()?)
    }

    async fn put_cursor(&self, account_id: &str, cursor: &str) -> StoreResult<()> {
        let mut c = self.writer.lock().await;
        sqlx::query(
            "INSERT INTO dropbox_cursors (account_id, cursor, updated_at) VALUES (?, ?, ?)
             ON CONFLICT (account_id) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
        )
        .bind(account_id)
        .bind(cursor)
        .bind(now_ms())
        .execute(&mut *c)
        .await?;
        Ok(())
    }
}

/// Column values for a finished run: (state, last_error, result JSON, run_at ms).
pub(super) fn outcome_columns(
    outcome: JobOutcome,
) -> (&'static str, Option<String>, Option<String>, Option<i64>) {
    match outcome {
        JobOutcome::Succeeded { result } => ("succeeded", None, Some(result.to_string()), None),
        JobOutcome::Retry { error, run_at } => {
            ("failed", Some(error), None, Some(run_at.timestamp_millis()))
        }
        JobOutcome::Dead { error, result } => {
            ("dead", Some(error), result.map(|r| r.to_string()), None)
        }
    }
}
