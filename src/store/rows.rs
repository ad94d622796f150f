//! Row ↔ type conversions shared by the SQLite and PostgreSQL stores (both keep timestamps as
//! Unix milliseconds and JSON as text, so one conversion serves both).

use chrono::{DateTime, TimeZone, Utc};

use super::{Job, JobState, StoreError, StoreResult};

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
