//! Operator API under `/api/v1` (bearer token): enqueue manual jobs, inspect and re-drive jobs,
//! follow webhook deliveries.
//!
//! Manual triggers check that what they name exists before enqueueing ([`check`]), bounded in
//! time: an unknown group or file is a 404. When DocSpace cannot be asked right now (down, slow,
//! pausing after a 429) the job is accepted as it is and finds out itself.

use std::time::Duration;

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::json;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::AppState;
use crate::config::parse_when;
use crate::jobs::check::{self, FolderCheckError, Known};
use crate::jobs::kinds::explicit_folder;
use crate::jobs::{FileExport, FilesSyncAll, GroupSync, GroupsSyncAll, JobKind};
use crate::store::{DeliveryFilter, Job, JobFilter, JobState, NewJob, RetryFilter, StoreError};

const MAX_LIMIT: u32 = 500;
/// Most bytes an API request body may have (413 above): 1,000 group ids of 200 characters fit,
/// even of 4-byte characters.
pub const BODY_LIMIT: usize = 1 << 20;
const DEFAULT_LIMIT: u32 = 50;
/// Most group ids one `POST /api/v1/groups/sync` may name.
const MAX_GROUP_IDS: usize = 1000;
/// How long the existence checks of one manual trigger may take in all.
const CHECK_WAIT: Duration = Duration::from_secs(5);
/// Most folders one file reconcile request may name.
const MAX_FOLDER_IDS: usize = 100;
/// How long a file reconcile request waits for DocSpace to say whether its folders exist.
const FOLDER_CHECK_WAIT: Duration = Duration::from_secs(10);

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
    // The scheme's name is case-insensitive (RFC 9110, 11.1): `bearer` is `Bearer`.
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
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

/// The query string of a route that takes no parameters: any is refused with 400, never
/// dropped (`POST /api/v1/groups/sync?group_ids=g1` would reconcile every group). The routes
/// that take parameters refuse those they do not define through their `Query` struct.
pub struct NoQuery;

impl<S: Send + Sync> FromRequestParts<S> for NoQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let given: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, _)| format!("`{k}`"))
            .collect();
        if given.is_empty() {
            return Ok(NoQuery);
        }
        Err(ApiError::bad_request(
            "bad_request",
            format!(
                "this route takes no query parameters; got {}",
                given.join(", ")
            ),
        ))
    }
}

/// The body of a route that takes none: one with anything but whitespace is refused with 400,
/// never dropped (filters sent as a body to `POST /api/v1/jobs/retry` would re-drive every
/// dead job).
pub struct NoBody;

impl<S: Send + Sync> FromRequest<S> for NoBody {
    /// A body that cannot be read (over the limit) is answered as axum answers it, made JSON
    /// like every other rejection by the router's error layer.
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let body = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(NoBody);
        }
        Err(ApiError::bad_request(
            "invalid_body",
            "this route takes no body; its filters and options are query parameters or path segments",
        )
        .into_response())
    }
}

/// 1 to 200 characters (not bytes: DocSpace ids may be any text), none of them a control
/// character; `openapi.yaml` says the same as `DocSpaceId`.
fn check_id(what: &str, id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.chars().count() > 200 || id.chars().any(|c| c.is_control()) {
        return Err(ApiError::bad_request(
            "invalid_id",
            format!("{what} must be 1-200 printable characters"),
        ));
    }
    Ok(())
}

/// An optional field of a JSON body: left out it is `None`; `null` is refused like any other
/// value of the wrong type, so a script's unset variable is not read as "left out"
/// (`{"group_ids": null}` would otherwise reconcile every group).
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// Parses an optional JSON body: empty means "no options". Anything else must be a JSON object
/// (serde would also read a struct from an array: `[]` would mean "no options").
fn optional_json<T: for<'de> Deserialize<'de> + Default>(body: &Bytes) -> Result<T, ApiError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return Ok(T::default()),
        Some(b'{') => {}
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_body",
                "the body must be a JSON object (or empty)",
            ))
        }
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
    #[serde(default, deserialize_with = "present")]
    group_ids: Option<Vec<String>>,
}

fn unknown_ids_error(what: &str, ids: &[String]) -> ApiError {
    ApiError::not_found(check::unknown_ids_message(what, ids))
}

pub async fn sync_groups(
    State(st): State<AppState>,
    _: NoQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b: SyncAllBody = optional_json(&body)?;
    match b.group_ids {
        Some(ids) => {
            if ids.is_empty() {
                return Err(ApiError::bad_request(
                    "invalid_body",
                    "group_ids must name at least one group; leave it out to reconcile all groups",
                ));
            }
            if ids.len() > MAX_GROUP_IDS {
                return Err(ApiError::bad_request(
                    "invalid_body",
                    format!("group_ids may name at most {MAX_GROUP_IDS} groups"),
                ));
            }
            for id in &ids {
                check_id("group_ids[]", id)?;
            }
            let unknown = check::unknown_groups(&st.jobs, &ids, CHECK_WAIT).await;
            if !unknown.is_empty() {
                return Err(unknown_ids_error("group", &unknown));
            }
            let jobs = ids
                .iter()
                .map(|id| GroupSync::new(id.as_str()).to_new_job())
                .collect();
            let jobs = enqueue(&st, jobs).await?;
            Ok((StatusCode::ACCEPTED, Json(json!({ "jobs": jobs }))).into_response())
        }
        None => {
            let mut jobs = enqueue(&st, vec![GroupsSyncAll::new().to_new_job()]).await?;
            Ok((StatusCode::ACCEPTED, Json(json!({ "job": jobs.remove(0) }))).into_response())
        }
    }
}

pub async fn sync_group(
    State(st): State<AppState>,
    Path(group_id): Path<String>,
    _: NoQuery,
    _: NoBody,
) -> Result<Response, ApiError> {
    check_id("group_id", &group_id)?;
    let unknown =
        check::unknown_groups(&st.jobs, std::slice::from_ref(&group_id), CHECK_WAIT).await;
    if !unknown.is_empty() {
        return Err(unknown_ids_error("group", &unknown));
    }
    let mut jobs = enqueue(&st, vec![GroupSync::new(group_id).to_new_job()]).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "job": jobs.remove(0) }))).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ExportBody {
    #[serde(default, deserialize_with = "present")]
    folder: Option<String>,
}

pub async fn export_file(
    State(st): State<AppState>,
    Path(file_id): Path<String>,
    _: NoQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_id("file_id", &file_id)?;
    let b: ExportBody = optional_json(&body)?;
    let folder = match b.folder.as_deref() {
        None => None,
        Some(f) => explicit_folder(f)
            .map_err(|why| ApiError::bad_request("invalid_folder", format!("folder {why}")))?,
    };
    let known = tokio::time::timeout(CHECK_WAIT, check::file(&st.jobs, &file_id)).await;
    if known == Ok(Known::No) {
        return Err(unknown_ids_error("file", std::slice::from_ref(&file_id)));
    }
    let job = FileExport::manual(file_id, folder).to_new_job();
    let mut jobs = enqueue(&st, vec![job]).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "job": jobs.remove(0) }))).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FilesSyncBody {
    #[serde(default, deserialize_with = "present")]
    folder_ids: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    backfill: bool,
}

/// `POST /api/v1/files/sync`: a file reconcile of every room (or `EXPORT_FOLDER_IDS`), or of the
/// folders named in `folder_ids`, each of which must exist in DocSpace.
pub async fn sync_files(
    State(st): State<AppState>,
    _: NoQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
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
                    // Checked as sent: a control character is refused, not trimmed away.
                    serde_json::Value::String(s) if !s.trim().is_empty() => {
                        check_id("folder_ids[]", &s)?;
                        s.trim().to_string()
                    }
                    serde_json::Value::Number(n) => match whole_number(&n) {
                        Some(id) => id.to_string(),
                        None => return Err(bad_folder_ids()),
                    },
                    _ => return Err(bad_folder_ids()),
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

fn bad_folder_ids() -> ApiError {
    ApiError::bad_request(
        "invalid_folder_ids",
        "folder_ids[] must be DocSpace folder or room ids (strings or whole numbers)",
    )
}

/// `n` as a u64 when it is a whole number in range, also when written with a fraction (`812.0`:
/// JSON Schema's `integer` takes it, and so do many encoders write whole floats).
fn whole_number(n: &serde_json::Number) -> Option<u64> {
    if let Some(u) = n.as_u64() {
        return Some(u);
    }
    // 2^64: the first whole f64 beyond u64::MAX.
    let f = n.as_f64()?;
    (f.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&f)).then_some(f as u64)
}

/// 404 for a folder DocSpace does not have, 503 when DocSpace does not say, 502 when it refuses.
/// A folder the API key may not read exists: the job reports it as skipped.
async fn check_folders_exist(st: &AppState, ids: &[String]) -> Result<(), ApiError> {
    check::folders(&st.jobs, ids, FOLDER_CHECK_WAIT)
        .await
        .map_err(|e| match e {
            FolderCheckError::Unknown(_) => ApiError::not_found(e.to_string()),
            FolderCheckError::Unavailable => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "docspace_unavailable",
                format!("{e}; retry later"),
            ),
            FolderCheckError::Refused { .. } => {
                ApiError::new(StatusCode::BAD_GATEWAY, "docspace_error", e.to_string())
            }
        })
}

fn parse_job_id(id: &str) -> Result<i64, ApiError> {
    crate::store::parse_job_id(id)
        .ok_or_else(|| ApiError::bad_request("invalid_id", "job id must be a positive integer"))
}

/// A job with its attempt history and the deliveries that caused it.
pub async fn get_job(
    State(st): State<AppState>,
    Path(id): Path<String>,
    _: NoQuery,
    _: NoBody,
) -> Result<Response, ApiError> {
    let id = parse_job_id(&id)?;
    let job = st
        .store
        .get_job(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("job {id} does not exist")))?;
    let attempts = st.store.attempts(id).await?;
    let deliveries = st.store.job_deliveries(&job).await?;
    let mut v = serde_json::to_value(&job)
        .map_err(|e| ApiError::from(StoreError::Other(format!("job {id}: {e}"))))?;
    v["attempts_history"] = json!(attempts);
    v["deliveries"] = json!(deliveries);
    Ok(Json(json!({ "job": v })).into_response())
}

/// Query parameters that choose jobs; every one optional, none of them empty ([`given`]).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct JobQuery {
    state: Option<String>,
    kind: Option<String>,
    group_id: Option<String>,
    file_id: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// A query parameter as given: `None` when left out. An empty value (`?since=`) is refused
/// rather than read as "no filter", so a script's unset variable cannot widen a listing, or a
/// re-drive, to every job.
fn given(name: &str, v: Option<String>) -> Result<Option<String>, ApiError> {
    match v {
        Some(s) if s.is_empty() => Err(ApiError::bad_request(
            "empty_parameter",
            format!("{name} is empty: give it a value or leave it out"),
        )),
        v => Ok(v),
    }
}

/// `since`, `until`: an RFC 3339 time or a duration back from now written as a whole number (at
/// most five digits) and one unit of s, m, h, d, w, as `openapi.yaml` says. [`parse_when`]
/// reads more (`1h 30m`, `0`), which the command line takes; the API takes what its spec says.
fn time_param(name: &str, v: Option<String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(s) = given(name, v)? else {
        return Ok(None);
    };
    let short_duration = matches!(
        s.as_bytes().split_last(),
        Some((unit, digits)) if b"smhdw".contains(unit)
            && (1..=5).contains(&digits.len())
            && digits.iter().all(u8::is_ascii_digit)
    );
    let when = if short_duration || DateTime::parse_from_rfc3339(&s).is_ok() {
        parse_when(&s, Utc::now())
    } else {
        Err(
            "must be an RFC 3339 time (2026-05-20T10:15:30Z) or a duration back from now (15m, 2h, 7d)"
                .to_string(),
        )
    };
    when.map(Some)
        .map_err(|e| ApiError::bad_request("invalid_time", format!("{name} {e}")))
}

fn limit_param(v: Option<String>) -> Result<u32, ApiError> {
    match given("limit", v)? {
        None => Ok(DEFAULT_LIMIT),
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request("invalid_limit", format!("limit must be 1-{MAX_LIMIT}"))
            }),
    }
}

/// A `next_cursor` as handed out: the decimal digits of an id (at most 18, so it fits an i64;
/// no sign), as `openapi.yaml` says.
fn cursor_param(v: Option<String>) -> Result<Option<i64>, ApiError> {
    let Some(c) = given("cursor", v)? else {
        return Ok(None);
    };
    c.bytes()
        .all(|b| b.is_ascii_digit())
        .then_some(c)
        .filter(|c| c.len() <= 18)
        .and_then(|c| c.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_cursor",
                "cursor must be the next_cursor of a previous page",
            )
        })
}

pub async fn list_jobs(
    State(st): State<AppState>,
    Query(q): Query<JobQuery>,
    _: NoBody,
) -> Result<Response, ApiError> {
    let state = match given("state", q.state)? {
        None => None,
        Some(s) => Some(JobState::parse(&s).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_state",
                "state must be one of queued, running, succeeded, failed, dead",
            )
        })?),
    };
    let limit = limit_param(q.limit)?;
    let before_id = cursor_param(q.cursor)?;
    let jobs = st
        .store
        .list_jobs(&JobFilter {
            state,
            kind: given("kind", q.kind)?,
            group_id: given("group_id", q.group_id)?,
            file_id: given("file_id", q.file_id)?,
            since: time_param("since", q.since)?,
            until: time_param("until", q.until)?,
            limit,
            before_id,
            ..JobFilter::default()
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
    _: NoQuery,
    _: NoBody,
) -> Result<Response, ApiError> {
    let id = parse_job_id(&id)?;
    let job = st.store.retry_dead(id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found(format!("job {id} does not exist")),
        other => other.into(),
    })?;
    st.wake.notify();
    Ok(Json(json!({ "job": job })).into_response())
}

/// The filters of a re-drive: those of the listing that choose jobs, without its paging.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RetryQuery {
    /// Only dead jobs are re-driven; `dead` (as copied from a listing of dead jobs) is taken.
    state: Option<String>,
    kind: Option<String>,
    group_id: Option<String>,
    file_id: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

/// `POST /api/v1/jobs/retry`: re-drives every dead job that matches the filters; answers how
/// many and which.
pub async fn retry_jobs(
    State(st): State<AppState>,
    Query(q): Query<RetryQuery>,
    _: NoBody,
) -> Result<Response, ApiError> {
    if given("state", q.state)?.is_some_and(|s| s != "dead") {
        return Err(ApiError::bad_request(
            "invalid_state",
            "only dead jobs are re-driven: leave state out or give dead",
        ));
    }
    let ids = st
        .store
        .retry_dead_matching(&RetryFilter {
            id: None,
            kind: given("kind", q.kind)?,
            group_id: given("group_id", q.group_id)?,
            file_id: given("file_id", q.file_id)?,
            since: time_param("since", q.since)?,
            until: time_param("until", q.until)?,
        })
        .await?;
    if !ids.is_empty() {
        st.wake.notify();
    }
    tracing::info!(jobs = ids.len(), "re-drove dead jobs");
    Ok(Json(json!({ "retried": ids.len(), "job_ids": ids })).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    source: Option<String>,
    event_id: Option<String>,
    trigger: Option<String>,
    since: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /api/v1/deliveries`: kept webhook deliveries, newest first, paginated like jobs.
pub async fn list_deliveries(
    State(st): State<AppState>,
    Query(q): Query<DeliveryQuery>,
    _: NoBody,
) -> Result<Response, ApiError> {
    let source = given("source", q.source)?;
    if let Some(s) = &source {
        if s != "docspace" && s != "dropbox" {
            return Err(ApiError::bad_request(
                "invalid_source",
                "source must be docspace or dropbox",
            ));
        }
    }
    let limit = limit_param(q.limit)?;
    let deliveries = st
        .store
        .list_deliveries(&DeliveryFilter {
            source,
            event_id: given("event_id", q.event_id)?,
            trigger: given("trigger", q.trigger)?,
            since: time_param("since", q.since)?,
            limit,
            before_id: cursor_param(q.cursor)?,
        })
        .await?;
    let next_cursor = if deliveries.len() as u32 == limit {
        deliveries.last().map(|d| d.id.to_string())
    } else {
        None
    };
    Ok(Json(json!({ "deliveries": deliveries, "next_cursor": next_cursor })).into_response())
}
