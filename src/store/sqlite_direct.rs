//! The SQLite writer's busiest writes, run straight on SQLite's handle with rusqlite.
//!
//! sqlx hands every SQLite statement to its connection's worker thread and back through the
//! async runtime: a worker's claim, finish and export writes cost one such round trip per
//! statement and two more per savepoint, and the writer's task spent most of its time on them
//! when small files were exported. The writer runs these writes in its batch instead, with the
//! handle locked out of sqlx's thread (one hand-off for all of them; see `sqlite.rs`).
//!
//! The statements are the shared ones of `sql.rs` that PostgreSQL runs too; only their binding
//! is written again here, in the order the statements number their parameters.

use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::rows::{claimed, job_from_parts, now_ms, JobParts};
use super::sql::{
    millis, outcome_columns, END_EXPORT_GUARD, PUT_EXPORT, RECORD_ATTEMPT, SET_EXPORT_INTENT,
};
use super::sqlite::shared::{
    ACQUIRE_EXPORT_GUARD, CLAIM_JOBS, FINISH_JOB, RENEW_EXPORT_GUARD, SCHEDULE_WAIT, TAKE_SCHEDULE,
};
use super::StoreResult;
use super::{path_key, Attempt, Claimed, ExportIntent, ExportRecord, Job, JobOutcome, Lease};
use super::{sqlite_ingest, NewJob, Scheduled, StoreError};

pub(super) fn claim(
    c: &Connection,
    worker: &str,
    limit: u32,
    lease: Duration,
) -> StoreResult<Vec<Claimed>> {
    let mut stmt = c.prepare_cached(CLAIM_JOBS)?;
    let rows = stmt.query_map(
        params![worker, millis(lease), now_ms(), i64::from(limit)],
        |r| Ok((job_of(r)?, r.get::<_, Option<String>>(11)?)),
    )?;
    let mut out = Vec::new();
    for row in rows {
        let (job, token) = row?;
        out.push(claimed(job?, token)?);
    }
    Ok(out)
}

/// [`Store::enqueue_scheduled`](super::Store::enqueue_scheduled), in the savepoint the writer
/// gives each direct write.
pub(super) fn enqueue_scheduled(
    c: &Connection,
    job: &NewJob,
    every: Duration,
    force: bool,
) -> StoreResult<Scheduled> {
    let taken = c
        .prepare_cached(TAKE_SCHEDULE)?
        .query_row(params![job.kind, millis(every), force], |_| Ok(()))
        .optional()?;
    if taken.is_none() {
        let wait: i64 = c
            .prepare_cached(SCHEDULE_WAIT)?
            .query_row(params![job.kind], |r| r.get(0))?;
        return Ok(Scheduled::NotDue(Duration::from_millis(
            u64::try_from(wait).unwrap_or(0),
        )));
    }
    match sqlite_ingest::queue_job(c, job, now_ms(), true)? {
        (_, Some(row)) => Ok(Scheduled::Enqueued(row)),
        (id, None) => Err(StoreError::Other(format!(
            "job {id} was queued but not read"
        ))),
    }
}

pub(super) fn record_attempt(c: &Connection, job_id: i64, a: &Attempt) -> StoreResult<()> {
    c.prepare_cached(RECORD_ATTEMPT)?.execute(params![
        job_id,
        i64::from(a.attempt),
        a.worker,
        a.started_at.timestamp_millis(),
        a.finished_at.timestamp_millis(),
        a.outcome,
        a.error
    ])?;
    Ok(())
}

pub(super) fn finish(c: &Connection, lease: &Lease, outcome: JobOutcome) -> StoreResult<bool> {
    let (state, error, result, after) = outcome_columns(outcome);
    let n = c.prepare_cached(FINISH_JOB)?.execute(params![
        state,
        error,
        result,
        after,
        now_ms(),
        lease.job_id,
        lease.token
    ])?;
    Ok(n == 1)
}

pub(super) fn put_export(c: &Connection, r: &ExportRecord) -> StoreResult<()> {
    c.prepare_cached(PUT_EXPORT)?.execute(params![
        r.file_id,
        r.docspace_version,
        r.dropbox_path,
        path_key(&r.dropbox_path),
        r.dropbox_id,
        r.rev,
        r.content_hash,
        r.size,
        now_ms()
    ])?;
    Ok(())
}

pub(super) fn acquire_export_guard(
    c: &Connection,
    file_id: &str,
    holder: &str,
    lease: Duration,
) -> StoreResult<bool> {
    let n =
        c.prepare_cached(ACQUIRE_EXPORT_GUARD)?
            .execute(params![file_id, holder, millis(lease)])?;
    Ok(n == 1)
}

pub(super) fn renew_export_guard(
    c: &Connection,
    file_id: &str,
    holder: &str,
    lease: Duration,
) -> StoreResult<bool> {
    let n =
        c.prepare_cached(RENEW_EXPORT_GUARD)?
            .execute(params![millis(lease), file_id, holder])?;
    Ok(n == 1)
}

pub(super) fn end_export_guard(c: &Connection, file_id: &str, holder: &str) -> StoreResult<()> {
    c.prepare_cached(END_EXPORT_GUARD)?
        .execute(params![file_id, holder])?;
    Ok(())
}

pub(super) fn set_export_intent(
    c: &Connection,
    file_id: &str,
    holder: &str,
    intent: Option<&ExportIntent>,
) -> StoreResult<bool> {
    let n = c.prepare_cached(SET_EXPORT_INTENT)?.execute(params![
        intent.map(|i| i.dropbox_path.as_str()),
        intent.map(|i| i.content_hash.as_str()),
        intent.map(|i| i.docspace_version),
        intent.and_then(|i| i.stamp.as_deref()),
        now_ms(),
        file_id,
        holder
    ])?;
    Ok(n == 1)
}

/// A job read by position from a statement whose columns are `job_columns!` (its first 11), which
/// spares a lookup by name per column and row.
pub(super) fn job_of(r: &Row<'_>) -> rusqlite::Result<StoreResult<Job>> {
    Ok(job_from_parts(JobParts {
        id: r.get(0)?,
        kind: r.get(1)?,
        state: r.get(2)?,
        attempts: r.get(3)?,
        dedupe_key: r.get(4)?,
        payload: r.get(5)?,
        last_error: r.get(6)?,
        result: r.get(7)?,
        run_at: r.get(8)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
    }))
}
