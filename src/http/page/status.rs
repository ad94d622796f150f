//! `GET /api/v1/status` (bearer token): what the status page shows, in one read-only answer:
//! queue depth by state, the due job that has waited longest, the newest successful full reconcile
//! of groups and of files (a file reconcile of named folders or a backfill does not count), every
//! group folder with the number of members the bridge invited, and the
//! latest exports. Dead jobs come from `GET /api/v1/jobs?state=dead`.

use axum::extract::State;
use axum::Json;
use chrono::Utc;
use serde_json::{json, Map, Value};

use crate::http::api::{NoBody, NoQuery};
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::jobs::{FilesSyncAll, GroupsSyncAll, JobKind};
use crate::store::{Job, JobFilter, JobState};

/// How many exports the answer lists, newest first.
pub const LATEST_EXPORTS: u32 = 20;

pub async fn status(
    State(st): State<AppState>,
    _: NoQuery,
    _: NoBody,
) -> Result<Json<Value>, ApiError> {
    let store = &st.store;
    let (depth, oldest_due, groups, files, folders, exports) = tokio::try_join!(
        store.queue_depth(),
        store.oldest_due_job(),
        last_succeeded(&st, GroupsSyncAll::NAME, None),
        last_succeeded(
            &st,
            FilesSyncAll::NAME,
            Some(FilesSyncAll::periodic().dedupe_key())
        ),
        store.group_folder_summaries(),
        store.latest_exports(LATEST_EXPORTS),
    )?;
    let queue: Map<String, Value> = JobState::ALL
        .iter()
        .map(|s| {
            (
                s.as_str().to_string(),
                json!(depth.get(s).copied().unwrap_or(0)),
            )
        })
        .collect();
    Ok(Json(json!({
        "now": Utc::now(),
        "queue": queue,
        "oldest_due": oldest_due,
        "last_reconcile": { "groups": groups, "files": files },
        "group_folders": folders,
        "exports": exports,
    })))
}

/// The newest job of `kind` (of the scope `dedupe_key`, when given) that succeeded.
async fn last_succeeded(
    st: &AppState,
    kind: &str,
    dedupe_key: Option<String>,
) -> Result<Option<Job>, crate::store::StoreError> {
    let mut jobs = st
        .store
        .list_jobs(&JobFilter {
            state: Some(JobState::Succeeded),
            kind: Some(kind.to_string()),
            dedupe_key,
            limit: 1,
            ..JobFilter::default()
        })
        .await?;
    Ok(jobs.pop())
}
