//! The PostgreSQL store's bindings of the writes `sql.rs` states once for both stores (SQLite
//! binds the same statements with rusqlite, in `sqlite_direct.rs`).

use std::time::Duration;

use sqlx::PgConnection;

use super::claimed_from_row;
use super::shared::{ACQUIRE_EXPORT_GUARD, CLAIM_JOBS, FINISH_JOB, RENEW_EXPORT_GUARD};
use crate::store::path_key;
use crate::store::rows::now_ms;
use crate::store::sql::{
    millis, outcome_columns, END_EXPORT_GUARD, PUT_EXPORT, RECORD_ATTEMPT, SET_EXPORT_INTENT,
};
use crate::store::{Attempt, Claimed, ExportIntent, ExportRecord, JobOutcome, Lease, StoreResult};

pub(super) async fn record_attempt(
    c: &mut PgConnection,
    job_id: i64,
    a: &Attempt,
) -> StoreResult<()> {
    sqlx::query(RECORD_ATTEMPT)
        .bind(job_id)
        .bind(i64::from(a.attempt))
        .bind(&a.worker)
        .bind(a.started_at.timestamp_millis())
        .bind(a.finished_at.timestamp_millis())
        .bind(&a.outcome)
        .bind(&a.error)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Claims up to `limit` due jobs, oldest due first, each under a fresh token.
pub(super) async fn claim(
    c: &mut PgConnection,
    worker: &str,
    limit: u32,
    lease: Duration,
) -> StoreResult<Vec<Claimed>> {
    let rows = sqlx::query(CLAIM_JOBS)
        .bind(worker)
        .bind(millis(lease))
        .bind(now_ms())
        .bind(i64::from(limit))
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(claimed_from_row).collect()
}

pub(super) async fn finish(
    c: &mut PgConnection,
    lease: &Lease,
    outcome: JobOutcome,
) -> StoreResult<bool> {
    let (state, error, result, after) = outcome_columns(outcome);
    let n = sqlx::query(FINISH_JOB)
        .bind(state)
        .bind(error)
        .bind(result)
        .bind(after)
        .bind(now_ms())
        .bind(lease.job_id)
        .bind(&lease.token)
        .execute(&mut *c)
        .await?
        .rows_affected();
    Ok(n == 1)
}

pub(super) async fn put_export(c: &mut PgConnection, r: &ExportRecord) -> StoreResult<()> {
    sqlx::query(PUT_EXPORT)
        .bind(&r.file_id)
        .bind(r.docspace_version)
        .bind(&r.dropbox_path)
        .bind(path_key(&r.dropbox_path))
        .bind(&r.dropbox_id)
        .bind(&r.rev)
        .bind(&r.content_hash)
        .bind(r.size)
        .bind(now_ms())
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub(super) async fn acquire_export_guard(
    c: &mut PgConnection,
    file_id: &str,
    holder: &str,
    lease: Duration,
) -> StoreResult<bool> {
    let n = sqlx::query(ACQUIRE_EXPORT_GUARD)
        .bind(file_id)
        .bind(holder)
        .bind(millis(lease))
        .execute(&mut *c)
        .await?
        .rows_affected();
    Ok(n == 1)
}

pub(super) async fn renew_export_guard(
    c: &mut PgConnection,
    file_id: &str,
    holder: &str,
    lease: Duration,
) -> StoreResult<bool> {
    let n = sqlx::query(RENEW_EXPORT_GUARD)
        .bind(millis(lease))
        .bind(file_id)
        .bind(holder)
        .execute(&mut *c)
        .await?
        .rows_affected();
    Ok(n == 1)
}

pub(super) async fn end_export_guard(
    c: &mut PgConnection,
    file_id: &str,
    holder: &str,
) -> StoreResult<()> {
    sqlx::query(END_EXPORT_GUARD)
        .bind(file_id)
        .bind(holder)
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub(super) async fn set_export_intent(
    c: &mut PgConnection,
    file_id: &str,
    holder: &str,
    intent: Option<&ExportIntent>,
) -> StoreResult<bool> {
    let n = sqlx::query(SET_EXPORT_INTENT)
        .bind(intent.map(|i| i.dropbox_path.as_str()))
        .bind(intent.map(|i| i.content_hash.as_str()))
        .bind(intent.map(|i| i.docspace_version))
        .bind(intent.and_then(|i| i.stamp.as_deref()))
        .bind(now_ms())
        .bind(file_id)
        .bind(holder)
        .execute(&mut *c)
        .await?
        .rows_affected();
    Ok(n == 1)
}
