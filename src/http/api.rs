//! Operator API under `/api/v1` (bearer token): enqueue manual jobs, inspect and re-drive jobs.

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::AppState;
use crate::jobs::{FileExport, FilesSyncAll, GroupSync, GroupsSyncAll, JobKind};
use crate::store::{Job, JobFilter, JobState, NewJob};

const MAX_LIMIT: u32 = 500;
const DEFAULT_LIMIT: u32 = 50;
/// Most folders one file reconcile request may name.
const MAX_FOLDER_IDS: usize = 100;
/// How long a file reconcile request waits for DocSpace to say whether its folders exist.
const FOLDER_CHECK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Bearer-token check for every `/api/v1` route.
pub async fn require_token(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let Some(expected) = st.config.api_token.as_ref() else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "api_disabled",
            "the API is disabled: set BRIDGE_API_TOKEN to enable it",
        )
        .into_response();
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(t) if bool::from(t.as_bytes().ct_eq(expected.expose().as_bytes())) => {
            next.run(req).await
        }
        Some(_) => {
            ApiError::unauthorized("invalid_token", "the bearer token is not valid").into_response()
        }
        None => ApiError::unauthorized(
            "missing_token",
            "send Authorization: Bearer <BRIDGE_API_TOKEN>",
        )
        .into_response(),
    }
}

fn check_id(what: &str, id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > 200 || id.chars().any(|c| c.is_control()) {
        return Err(ApiError::bad_request(
            "invalid_id",
            format!("{what} must be 1-200 printable characters"),
        ));
    }
    Ok(())
}

/// Parses an optional JSON body: empty means "no options".
fn optional_json<T: for<'de> Deserialize<'de> + Default>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("invalid_body", format!("invalid JSON body: {e}")))
}

async fn enqueue(st: &AppState, jobs: Vec<NewJob>) -> Result<Vec<Job>, ApiError> {
    let jobs = st.store.enqueue(jobs).await?;
    st.wake.notify();
    Ok(jobs)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SyncAllBody {
    #[serde(default)]
    group_ids: Option<Vec<String>>,
}

pub async fn sync_groups(State(st): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let b: SyncAllBody = optional_json(&body)?;
    match b.group_ids {
        Some(ids) if !ids.is_empty() => {
            for id in &ids {
                check_id("group_ids[]", id)?;
            }
            let jobs = ids
                .iter()
                .map(|id| GroupSync::new(id.as_str()).to_new_job())
                .collect();
            let jobs = enqueue(&st, jobs).await?;
            Ok((StatusCode::ACCEPTED, Json(json!({ "jobs": jobs }))).into_response())
        }
        _ => {
            let mut jobs = enqueue(&st, vec![GroupsSyncAll::new().to_new_job()]).await?;
            Ok((StatusCode::ACCEPTED, Json(json!({ "job": jobs.remove(0) }))).into_response())
        }
    }
}

pub async fn sync_group(
    State(st): State<AppState>,
    Path(group_id): Path<String>,
) -> Result<Response, ApiError> {
    check_id("group_id", &group_id)?;
    let mut jobs = enqueue(&st, vec![GroupSync::new(group_id).to_new_job()]).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "job": jobs.remove(0) }))).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ExportBody {
    #[serde(default)]
    folder: Option<String>,
}

pub async fn export_file(
    State(st): State<AppState>,
    Path(file_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_id("file_id", &file_id)?;
    let b: ExportBody = optional_json(&body)?;
    if let Some(f) = &b.folder {
        let bad = !f.starts_with('/')
            || f.split('/').any(|c| c == "." || c == "..")
            || f.chars().any(|c| c.is_control());
        if bad {
            return Err(ApiError::bad_request(
                "invalid_folder",
                "folder must be an absolute Dropbox path such as /Reports/2026",
            ));
        }
    }
    let folder = b.folder.as_deref().map(|f| f.trim_end_matches('/'));
    let folder = folder.filter(|f| !f.is_empty());
    let job = FileExport::manual(file_id, folder).to_new_job();
    let mut jobs = enqueue(&st, vec![job]).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "job": jobs.remove(0) }))).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FilesSyncBody {
    #[serde(default)]
    folder_ids: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    backfill: bool,
}

/// `POST /api/v1/files/sync`: a file reconcile of every room (or `EXPORT_FOLDER_IDS`), or of the
/// folders named in `folder_ids`, each of which must exist in DocSpace.
pub async fn sync_files(State(st): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let b: FilesSyncBody = optional_json(&body)?;
    let folder_ids = match b.folder_ids {
        None => None,
        Some(ids) if ids.is_empty() => {
            return Err(ApiError::bad_request(
                "invalid_folder_ids",
                "folder_ids must not be empty; leave it out to reconcile every folder in scope",
            ))
        }
        Some(ids) if ids.len() > MAX_FOLDER_IDS => {
            return Err(ApiError::bad_request(
                "invalid_folder_ids",
                format!("at most {MAX_FOLDER_IDS} folder_ids per request"),
            ))
        }
        Some(ids) => {
            let mut out: Vec<String> = Vec::with_capacity(ids.len());
            for v in ids {
                let id = match v {
                    serde_json::Value::String(s) if !s.trim().is_empty() => s.trim().to_string(),
                    serde_json::Value::Number(n) if n.is_u64() => n.to_string(),
                    _ => {
                        return Err(ApiError::bad_request(
                            "invalid_folder_ids",
                            "folder_ids[] must be DocSpace folder or room ids (strings or whole numbers)",
                        ))
                    }
                };
                check_id("folder_ids[]", &id)?;
                if !out.contains(&id) {
                    out.push(id);
                }
            }
            check_folders_exist(&st, &out).await?;
            Some(out)
        }
    };
    let job = FilesSyncAll::new(folder_ids, b.backfill).to_new_job();
    let mut jobs = enqueue(&st, vec![job]).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "job": jobs.remove(0) }))).into_response())
}

/// 404 for a folder DocSpace does not have. A folder the API key may not read exists: the job
/// reports it as skipped.
async fn check_folders_exist(st: &AppState, ids: &[String]) -> Result<(), ApiError> {
    let answers = futures::future::join_all(ids.iter().map(|id| st.docspace.folder_info(id)));
    let answers = tokio::time::timeout(FOLDER_CHECK_WAIT, answers)
        .await
        .map_err(|_| docspace_unavailable())?;
    for (id, answer) in ids.iter().zip(answers) {
        match answer {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(ApiError::not_found(format!(
                    "DocSpace has no folder or room {id}"
                )))
            }
            Err(e) if e.status() == Some(403) && e.missing_scope().is_none() => {}
            Err(e) if e.is_retryable() => {
                tracing::warn!(folder_id = %id, error = %e, "cannot check a folder");
                return Err(docspace_unavailable());
            }
            Err(e) => {
                tracing::warn!(folder_id = %id, error = %e, "cannot check a folder");
                return Err(ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "docspace_error",
                    format!("DocSpace refused to show folder {id}: {e}"),
                ));
            }
        }
    }
    Ok(())
}

fn docspace_unavailable() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "docspace_unavailable",
        "DocSpace did not answer whether the folders exist; retry later",
    )
}

fn parse_job_id(id: &str) -> Result<i64, ApiError> {
    id.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::bad_request("invalid_id", "job id must be a positive integer"))
}

pub async fn get_job(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_job_id(&id)?;
    let job = st
        .store
        .get_job(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("job {id} does not exist")))?;
    Ok(Json(json!({ "job": job })).into_response())
}

#[derive(Deserialize)]
pub struct ListQuery {
    state: Option<String>,
    kind: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

pub async fn list_jobs(
    State(st): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let state = match q.state.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(JobState::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_state",
                "state must be one of queued, running, succeeded, failed, dead",
            )
        })?),
    };
    let limit = match q.limit.as_deref() {
        None | Some("") => DEFAULT_LIMIT,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request("invalid_limit", format!("limit must be 1-{MAX_LIMIT}"))
            })?,
    };
    let before_id = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(
            c.parse::<i64>()
                .map_err(|_| ApiError::bad_request("invalid_cursor", "cursor is not valid"))?,
        ),
    };
    let kind = q.kind.filter(|k| !k.is_empty());
    let jobs = st
        .store
        .list_jobs(&JobFilter {
            state,
            kind,
            limit,
            before_id,
        })
        .await?;
    let next_cursor = if jobs.len() as u32 == limit {
        jobs.last().map(|j| j.id.to_string())
    } else {
        None
    };
    Ok(Json(json!({ "jobs": jobs, "next_cursor": next_cursor })).into_response())
}

pub async fn retry_job(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_job_id(&id)?;
    let job = st.store.retry_dead(id).await.map_err(|e| match e {
        crate::store::StoreError::NotFound => {
            ApiError::not_found(format!("job {id} does not exist"))
        }
        other => other.into(),
    })?;
    st.wake.notify();
    Ok(Json(json!({ "job": job })).into_response())
}
