//! PostgreSQL store, for several replicas behind a load balancer. Jobs are claimed with
//! `FOR UPDATE SKIP LOCKED`; dedupe of deliveries and queued jobs and the mappings are enforced by
//! unique constraints, so replicas never double-act. Same schema and semantics as the SQLite store.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{PgConnection, Row};

use super::rows::now_ms;
use super::sqlite::outcome_columns;
use super::*;

super::rows::row_mappers!(PgRow);
super::overview::overview_statements!(sqlx::Postgres);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub async fn open(url: &str) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Other(format!("migration failed: {e}")))?;
        Ok(Self { pool })
    }
}

async fn enqueue_one(c: &mut PgConnection, j: &NewJob, now: i64) -> StoreResult<Job> {
    // A concurrent replica may claim the queued job between our insert attempt and our read;
    // then the insert succeeds on the next round.
    for _ in 0..5 {
        let inserted = sqlx::query(
            "INSERT INTO jobs (kind, state, attempts, dedupe_key, payload, run_at, created_at, updated_at)
             VALUES ($1, 'queued', 0, $2, $3, $4, $4, $4)
             ON CONFLICT (dedupe_key) WHERE state = 'queued' AND dedupe_key IS NOT NULL DO NOTHING
             RETURNING *",
        )
        .bind(&j.kind)
        .bind(&j.dedupe_key)
        .bind(j.payload.to_string())
        .bind(now)
        .fetch_optional(&mut *c)
        .await?;
        if let Some(row) = inserted {
            return job_from_row(&row);
        }
        let existing = sqlx::query("SELECT * FROM jobs WHERE dedupe_key = $1 AND state = 'queued'")
            .bind(&j.dedupe_key)
            .fetch_optional(&mut *c)
            .await?;
        if let Some(row) = existing {
            return job_from_row(&row);
        }
    }
    Err(StoreError::Conflict(
        "could not enqueue under contention".into(),
    ))
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn ingest(&self, d: Delivery) -> StoreResult<DeliveryOutcome> {
        let mut tx = self.pool.begin().await?;
        let now = now_ms();
        if let Some(id) = &d.delivery_id {
            let n = sqlx::query(
                "INSERT INTO deliveries (id, received_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 0 {
                tx.rollback().await?;
                return Ok(DeliveryOutcome {
                    duplicate: true,
                    jobs: vec![],
                });
            }
        }
        let mut jobs = Vec::with_capacity(d.jobs.len());
        for j in &d.jobs {
            jobs.push(enqueue_one(&mut tx, j, now).await?);
        }
        tx.commit().await?;
        Ok(DeliveryOutcome {
            duplicate: false,
            jobs,
        })
    }

    async fn claim(&self, worker: &str, limit: u32, lease: Duration) -> StoreResult<Vec<Job>> {
        let now = now_ms();
        let rows = sqlx::query(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = $1,
                    lease_expires_at = $2, updated_at = $3
             WHERE id IN (SELECT id FROM jobs WHERE state IN ('queued', 'failed') AND run_at <= $3
                          ORDER BY run_at, id LIMIT $4 FOR UPDATE SKIP LOCKED)
             RETURNING *",
        )
        .bind(worker)
        .bind(now + lease.as_millis() as i64)
        .bind(now)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    async fn renew_lease(&self, job_id: i64, worker: &str, lease: Duration) -> StoreResult<bool> {
        let now = now_ms();
        let n = sqlx::query(
            "UPDATE jobs SET lease_expires_at = $1, updated_at = $2
             WHERE id = $3 AND state = 'running' AND lease_owner = $4",
        )
        .bind(now + lease.as_millis() as i64)
        .bind(now)
        .bind(job_id)
        .bind(worker)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    async fn finish(&self, job_id: i64, worker: &str, outcome: JobOutcome) -> StoreResult<bool> {
        let (state, error, result, run_at) = outcome_columns(outcome);
        let n = sqlx::query(
            "UPDATE jobs SET state = $1, last_error = $2, result = COALESCE($3, result),
                    run_at = COALESCE($4, run_at), lease_owner = NULL, lease_expires_at = NULL,
                    updated_at = $5
             WHERE id = $6 AND state = 'running' AND lease_owner = $7",
        )
        .bind(state)
        .bind(error)
        .bind(result)
        .bind(run_at)
        .bind(now_ms())
        .bind(job_id)
        .bind(worker)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    async fn release(&self, job_id: i64, worker: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE jobs SET state = 'failed', attempts = GREATEST(attempts - 1, 0), lease_owner = NULL,
                    lease_expires_at = NULL, updated_at = $1
             WHERE id = $2 AND state = 'running' AND lease_owner = $3",
        )
        .bind(now_ms())
        .bind(job_id)
        .bind(worker)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn requeue_expired(&self) -> StoreResult<u64> {
        let now = now_ms();
        Ok(sqlx::query(
            "UPDATE jobs SET state = 'failed', last_error = COALESCE(last_error, 'lease expired'),
                    lease_owner = NULL, lease_expires_at = NULL, run_at = $1, updated_at = $1
             WHERE state = 'running' AND lease_expires_at < $1",
        )
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    async fn get_job(&self, id: i64) -> StoreResult<Option<Job>> {
        let row = sqlx::query("SELECT * FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    async fn list_jobs(&self, f: &JobFilter) -> StoreResult<Vec<Job>> {
        let rows = sqlx::query(
            "SELECT * FROM jobs
             WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR kind = $2)
               AND ($3::bigint IS NULL OR id < $3)
             ORDER BY id DESC LIMIT $4",
        )
        .bind(f.state.map(|s| s.as_str()))
        .bind(&f.kind)
        .bind(f.before_id)
        .bind(f.limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    async fn retry_dead(&self, id: i64) -> StoreResult<Job> {
        let now = now_ms();
        let row = sqlx::query(
            "UPDATE jobs SET state = 'failed', attempts = 0, run_at = $1, updated_at = $1
             WHERE id = $2 AND state = 'dead' RETURNING *",
        )
        .bind(now)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => job_from_row(&r),
            None => match self.get_job(id).await? {
                None => Err(StoreError::NotFound),
                Some(j) => Err(StoreError::Conflict(format!(
                    "job {id} is {}, only dead jobs can be retried",
                    j.state.as_str()
                ))),
            },
        }
    }

    async fn queue_depth(&self) -> StoreResult<BTreeMap<JobState, i64>> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
            .fetch_all(&self.pool)
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
        overview::oldest_due_job(&mut *self.pool.acquire().await?).await
    }

    async fn prune_deliveries(&self, retention: Duration) -> StoreResult<u64> {
        let cutoff = now_ms() - retention.as_millis() as i64;
        Ok(sqlx::query("DELETE FROM deliveries WHERE received_at < $1")
            .bind(cutoff)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    async fn group_folder(&self, group_id: &str) -> StoreResult<Option<GroupFolder>> {
        let row = sqlx::query("SELECT * FROM group_folders WHERE group_id = $1")
            .bind(group_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(group_folder_from_row).transpose()
    }

    async fn group_folders(&self) -> StoreResult<Vec<GroupFolder>> {
        let rows = sqlx::query("SELECT * FROM group_folders ORDER BY group_id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(group_folder_from_row).collect()
    }

    async fn group_folder_summaries(&self) -> StoreResult<Vec<GroupFolderSummary>> {
        overview::group_folder_summaries(&mut *self.pool.acquire().await?).await
    }

    async fn put_group_folder(&self, f: &GroupFolder) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO group_folders (group_id, group_name, path, path_lower, shared_folder_id, active, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
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
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn added_members(&self, group_id: &str) -> StoreResult<Vec<String>> {
        let rows =
            sqlx::query("SELECT email FROM group_members_added WHERE group_id = $1 ORDER BY email")
                .bind(group_id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("email").map_err(Into::into))
            .collect()
    }

    async fn record_member_added(&self, group_id: &str, email: &str) -> StoreResult<()> {
        // One statement, so that the two tables cannot disagree after a crash.
        sqlx::query(
            "WITH forgotten AS (
                 DELETE FROM group_member_refusals WHERE group_id = $1 AND email = $2
             )
             INSERT INTO group_members_added (group_id, email, added_at) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(group_id)
        .bind(email.to_lowercase())
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn record_member_refused(
        &self,
        group_id: &str,
        email: &str,
        tag: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO group_member_refusals (group_id, email, tag, refused_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (group_id, email) DO UPDATE SET tag = EXCLUDED.tag, refused_at = EXCLUDED.refused_at",
        )
        .bind(group_id)
        .bind(email.to_lowercase())
        .bind(tag)
        .bind(now_ms())
        .execute(&self.pool)
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
             WHERE group_id = $1 AND refused_at >= $2 ORDER BY email",
        )
        .bind(group_id)
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("email")?, r.try_get("tag")?)))
            .collect()
    }

    async fn record_member_removed(&self, group_id: &str, email: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM group_members_added WHERE group_id = $1 AND email = $2")
            .bind(group_id)
            .bind(email.to_lowercase())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn export(&self, file_id: &str) -> StoreResult<Option<ExportRecord>> {
        let row = sqlx::query("SELECT * FROM exports WHERE file_id = $1")
            .bind(file_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(export_from_row).transpose()
    }

    async fn exports_under(&self, dropbox_path: &str) -> StoreResult<Vec<ExportRecord>> {
        let lower = dropbox_path.to_lowercase();
        let rows = sqlx::query(
            "SELECT * FROM exports WHERE dropbox_path_lower = $1 OR dropbox_path_lower LIKE $2 ESCAPE '\\'
             ORDER BY file_id",
        )
        .bind(&lower)
        .bind(below_pattern(&lower))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(export_from_row).collect()
    }

    async fn latest_exports(&self, limit: u32) -> StoreResult<Vec<ExportSummary>> {
        overview::latest_exports(&mut *self.pool.acquire().await?, limit).await
    }

    async fn put_export(&self, r: &ExportRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO exports (file_id, docspace_version, dropbox_path, dropbox_path_lower, dropbox_id, rev, content_hash, size, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
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
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn cursor(&self, account_id: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT cursor FROM dropbox_cursors WHERE account_id = $1")
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("cursor")).transpose()?)
    }

    async fn put_cursor(&self, account_id: &str, cursor: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO dropbox_cursors (account_id, cursor, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (account_id) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
        )
        .bind(account_id)
        .bind(cursor)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
