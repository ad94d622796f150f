//! Row ↔ type conversions shared by the SQLite and PostgreSQL stores (both keep timestamps as
//! Unix milliseconds and JSON as text, so one conversion serves both).

use chrono::{DateTime, TimeZone, Utc};

use super::{Claimed, Job, JobState, Lease, StoreError, StoreResult};

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

pub struct JobParts {
    pub id: i64,
    pub kind: String,
    pub state: String,
    pub attempts: i64,
    pub dedupe_key: Option<String>,
    pub payload: String,
    pub last_error: Option<String>,
    pub result: Option<String>,
    pub run_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn job_from_parts(p: JobParts) -> StoreResult<Job> {
    let state = JobState::parse(&p.state)
        .ok_or_else(|| StoreError::Other(format!("job {} has unknown state {}", p.id, p.state)))?;
    let payload = serde_json::from_str(&p.payload)
        .map_err(|e| StoreError::Other(format!("job {} payload: {e}", p.id)))?;
    let result = p
        .result
        .map(|r| serde_json::from_str(&r))
        .transpose()
        .map_err(|e| StoreError::Other(format!("job {} result: {e}", p.id)))?;
    Ok(Job {
        id: p.id,
        kind: p.kind,
        state,
        attempts: p.attempts as i32,
        dedupe_key: p.dedupe_key,
        payload,
        last_error: p.last_error,
        result,
        run_at: from_ms(p.run_at),
        created_at: from_ms(p.created_at),
        updated_at: from_ms(p.updated_at),
    })
}

/// A claimed job and the token its claim returned (a claim always sets one).
pub fn claimed(job: Job, token: Option<String>) -> StoreResult<Claimed> {
    let token = token
        .ok_or_else(|| StoreError::Other(format!("claimed job {} has no lease token", job.id)))?;
    Ok(Claimed {
        lease: Lease {
            job_id: job.id,
            token,
        },
        job,
    })
}

/// Defines `job_from_row`, `group_folder_from_row` and `export_from_row` for
/// one backend's row type. A macro rather than generic functions: sqlx's per-database
/// `Decode`/`ColumnIndex` bounds would make generic signatures longer than the bodies.
macro_rules! row_mappers {
    ($row:ty) => {
        fn job_from_row(r: &$row) -> StoreResult<Job> {
            super::rows::job_from_parts(super::rows::JobParts {
                id: r.try_get("id")?,
                kind: r.try_get("kind")?,
                state: r.try_get("state")?,
                attempts: r.try_get("attempts")?,
                dedupe_key: r.try_get("dedupe_key")?,
                payload: r.try_get("payload")?,
                last_error: r.try_get("last_error")?,
                result: r.try_get("result")?,
                run_at: r.try_get("run_at")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
            })
        }

        fn group_folder_from_row(r: &$row) -> StoreResult<GroupFolder> {
            Ok(GroupFolder {
                group_id: r.try_get("group_id")?,
                group_name: r.try_get("group_name")?,
                path: r.try_get("path")?,
                shared_folder_id: r.try_get("shared_folder_id")?,
                active: r.try_get::<i64, _>("active")? != 0,
            })
        }

        fn export_from_row(r: &$row) -> StoreResult<ExportRecord> {
            Ok(ExportRecord {
                file_id: r.try_get("file_id")?,
                docspace_version: r.try_get("docspace_version")?,
                dropbox_path: r.try_get("dropbox_path")?,
                dropbox_id: r.try_get("dropbox_id")?,
                rev: r.try_get("rev")?,
                content_hash: r.try_get("content_hash")?,
                size: r.try_get("size")?,
            })
        }
    };
}
pub(crate) use row_mappers;
