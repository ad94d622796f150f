//! `/_fake/...`: an unauthenticated HTTP control API mirroring the Rust methods of `FakeDocSpace`,
//! for the `bridge-fakes` binary (docker-compose, benchmarks, manual poking). JSON in and out,
//! snake_case names; errors are `{"error": "..."}` with 400/404. Not subject to knobs or stats.
//!
//! Besides state (`/users`, `/groups`, `/rooms`, `/folders`, `/files`, `/seed`), knobs
//! (`/knobs`: e.g. `ratelimit_reset_on_get`, `download_denied_file_ids`,
//! `unreadable_folder_ids`), scripted failures (`/failures`) and stats (`/stats`):
//!
//! | Method, path | Body | Effect |
//! |---|---|---|
//! | `POST /_fake/api_keys` | `{"permissions": [..]}` | `{"key"}`: another key of the key's user |
//! | `PUT /_fake/api_keys/{key}` | `{"permissions": [..]}` | new scopes for a key (empty = full) |
//! | `POST /_fake/rooms/{id}/archive`, `/unarchive` | | move a room to or from the Archive |
//! | `PUT /_fake/folders/{id}/readable` | `{"readable": bool}` | 403 on the folder and below |
//! | `POST /_fake/files/bulk` | `{"folder_id","count","size"?,"prefix"?,"ext"?}` | `{"ids"}` |
//! | `PUT /_fake/files/{id}/updated` | `{"updated": RFC 3339}` | the file's `updated` |
//! | `POST /_fake/files/{id}/trash`, `/restore` | | to the trash and back |
//! | `PUT /_fake/files/{id}/download` | `{"denied": bool}` | stream handler 403 with the key |

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::api::Params;
use super::state::{NewUser, StateError, UserStatus};
use super::{content, Inner, Knobs, ScriptedFailure};

pub fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/_fake/health", get(|| async { "ok" }))
        .route("/_fake/info", get(info))
        .route("/_fake/state", get(dump_state))
        .route("/_fake/stats", get(stats))
        .route("/_fake/stats/reset", post(reset_stats))
        .route("/_fake/knobs", get(get_knobs).post(patch_knobs))
        .route("/_fake/failures", post(add_failure))
        .route("/_fake/seed", post(seed))
        .route("/_fake/users", post(add_user))
        .route("/_fake/users/{id}/status", put(set_user_status))
        .route("/_fake/groups", post(create_group))
        .route("/_fake/groups/{id}", put(update_group).delete(delete_group))
        .route(
            "/_fake/groups/{id}/members/{user}",
            post(add_member).delete(remove_member),
        )
        .route("/_fake/api_keys", post(add_api_key))
        .route("/_fake/api_keys/{key}", put(set_api_key))
        .route("/_fake/rooms", post(create_room))
        .route("/_fake/rooms/{id}/archive", post(archive_room))
        .route("/_fake/rooms/{id}/unarchive", post(unarchive_room))
        .route("/_fake/folders", post(create_folder))
        .route("/_fake/folders/{id}/readable", put(set_folder_readable))
        .route("/_fake/files", post(create_file))
        .route("/_fake/files/bulk", post(create_files))
        .route("/_fake/files/{id}", axum::routing::delete(delete_file))
        .route("/_fake/files/{id}/versions", post(new_version))
        .route("/_fake/files/{id}/updated", put(set_file_updated))
        .route("/_fake/files/{id}/trash", post(trash_file))
        .route("/_fake/files/{id}/restore", post(restore_file))
        .route("/_fake/files/{id}/download", put(set_download_denied))
        .route("/_fake/files/{id}/content-hash", get(content_hash))
        .with_state(inner)
}

fn err(status: StatusCode, msg: impl std::fmt::Display) -> Response {
    (status, Json(json!({"error": msg.to_string()}))).into_response()
}

fn state_err(e: StateError) -> Response {
    let status = match e {
        StateError::NotAllowed(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::NOT_FOUND,
    };
    err(status, e)
}

fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, Response> {
    serde_json::from_slice(bytes).map_err(|e| err(StatusCode::BAD_REQUEST, e))
}

fn guid(raw: &str) -> Result<Uuid, Response> {
    Uuid::parse_str(raw).map_err(|e| err(StatusCode::BAD_REQUEST, e))
}

macro_rules! try_resp {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(resp) => return resp,
        }
    };
}

async fn info(State(inner): State<Arc<Inner>>) -> Response {
    let self_user = inner.read().self_user;
    Json(json!({
        "url": inner.base_url,
        "foreign_url": inner.foreign_url,
        "api_key": inner.api_key,
        "self_user_id": self_user,
    }))
    .into_response()
}

async fn dump_state(State(inner): State<Arc<Inner>>) -> Response {
    let s = inner.read();
    Json(json!({
        "self_user": s.self_user,
        "users": s.users.values().collect::<Vec<_>>(),
        "groups": s.groups.values().collect::<Vec<_>>(),
        "folders": s.folders.values().collect::<Vec<_>>(),
        "files": s.files.values().collect::<Vec<_>>(),
    }))
    .into_response()
}

async fn stats(State(inner): State<Arc<Inner>>) -> Response {
    Json(inner.stats.snapshot()).into_response()
}

async fn reset_stats(State(inner): State<Arc<Inner>>) -> Response {
    inner.stats.reset();
    Json(inner.stats.snapshot()).into_response()
}

async fn get_knobs(State(inner): State<Arc<Inner>>) -> Response {
    Json(inner.knobs()).into_response()
}

/// Merges the given fields into the current knobs (`{"rate_429": 0.2}` changes only that).
async fn patch_knobs(State(inner): State<Arc<Inner>>, bytes: Bytes) -> Response {
    let patch: Value = try_resp!(body(&bytes));
    let Some(patch) = patch.as_object() else {
        return err(StatusCode::BAD_REQUEST, "expected a JSON object");
    };
    let Ok(mut knobs) = inner.knobs.lock() else {
        return err(StatusCode::INTERNAL_SERVER_ERROR, "knobs lock poisoned");
    };
    let mut current = json!(*knobs);
    for (k, v) in patch {
        if current.get(k).is_none() {
            return err(StatusCode::BAD_REQUEST, format!("unknown knob {k}"));
        }
        current[k] = v.clone();
    }
    match serde_json::from_value::<Knobs>(current) {
        Ok(new) => {
            *knobs = new.clone();
            Json(new).into_response()
        }
        Err(e) => err(StatusCode::BAD_REQUEST, e),
    }
}

async fn add_failure(State(inner): State<Arc<Inner>>, bytes: Bytes) -> Response {
    let f: ScriptedFailure = try_resp!(body(&bytes));
    if let Ok(mut list) = inner.failures.lock() {
        list.push(f);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn seed(State(inner): State<Arc<Inner>>) -> Response {
    Json(super::seed_demo_into(&mut inner.write())).into_response()
}

fn status_from(code: i32) -> Result<UserStatus, Response> {
    match code {
        1 => Ok(UserStatus::Active),
        2 => Ok(UserStatus::Terminated),
        4 => Ok(UserStatus::Pending),
        other => Err(err(
            StatusCode::BAD_REQUEST,
            format!("status must be 1, 2 or 4, not {other}"),
        )),
    }
}

#[derive(Deserialize)]
struct AddUser {
    first_name: String,
    last_name: String,
    email: String,
    #[serde(default)]
    status: Option<i32>,
    #[serde(default)]
    is_admin: bool,
    #[serde(default)]
    is_visitor: bool,
}

async fn add_user(State(inner): State<Arc<Inner>>, bytes: Bytes) -> Response {
    let req: AddUser = try_resp!(body(&bytes));
    let mut new = NewUser::new(&req.first_name, &req.last_name, &req.email);
    match try_resp!(req.status.map(status_from).transpose()) {
        Some(UserStatus::Pending) => new = new.pending(),
        Some(UserStatus::Terminated) => new = new.terminated(),
        _ => {}
    }
    new.is_admin = req.is_admin;
    new.is_visitor = req.is_visitor;
    let id = inner.write().add_user(new);
    Json(json!({"id": id})).into_response()
}

#[derive(Deserialize)]
struct SetStatus {
    status: i32,
}

async fn set_user_status(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Response {
    let id = try_resp!(guid(&id));
    let req: SetStatus = try_resp!(body(&bytes));
    let status = try_resp!(status_from(req.status));
    match inner.write().set_user_status(id, status) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => state_err(e),
    }
}

#[derive(Deserialize)]
struct GroupReq {
    name: Option<String>,
    manager: Option<Uuid>,
    members: Option<Vec<Uuid>>,
}

async fn create_group(State(inner): State<Arc<Inner>>, bytes: Bytes) -> Response {
    let req: GroupReq = try_resp!(body(&bytes));
    let Some(name) = req.name else {
        return err(StatusCode::BAD_REQUEST, "name is required");
    };
    match inner
        .write()
        .create_group(&name, req.manager, &req.members.unwrap_or_default())
    {
        Ok(id) => Json(json!({"id": id})).into_response(),
        Err(e) => state_err(e),
    }
}

async fn update_group(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Response {
    let id = try_resp!(guid(&id));
    let req: GroupReq = try_resp!(body(&bytes));
    let mut s = inner.write();
    let result = (|| {
        if let Some(name) = &req.name {
            s.rename_group(id, name)?;
        }
        if let Some(members) = &req.members {
            s.set_group_members(id, members)?;
        }
        if req.manager.is_some() {
            s.set_group_manager(id, req.manager)?;
        }
        s.group_mut(id).map(|_| ())
    })();
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => state_err(e),
    }
}

async fn delete_group(State(inner): State<Arc<Inner>>, Path(id): Path<String>) -> Response {
    let id = try_resp!(guid(&id));
    match inner.write().delete_group(id) {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => state_err(e),
    }
}

async fn add_member(
    State(inner): State<Arc<Inner>>,
    Path((id, user)): Path<(String, String)>,
) -> Response {
    let (id, user) = (try_resp!(guid(&id)), try_resp!(guid(&user)));
    match inner.write().add_group_member(id, user) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => state_err(e),
    }
}

async fn remove_member(
    State(inner): State<Arc<Inner>>,
    Path((id, user)): Path<(String, String)>,
) -> Response {
    let (id, user) = (try_resp!(guid(&id)), try_resp!(guid(&user)));
    match inner.write().remove_group_member(id, user) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => state_err(e),
    }
}

#[derive(Deserialize)]
struct TitleReq {
    title: String,
    parent_id: Option<i64>,
}

async fn create_room(State(inner): State<Arc<Inner>>, bytes: Bytes) -> Response {
    let req: TitleReq = try_resp!(body(&bytes));
    let id = inner.write().create_room(&req.title);
    Json(json!({"id": id})).into_response()
}

async fn create_folder(State(inner): State<Arc<Inner>>, bytes: Bytes) -> Response {
    let req: TitleReq = try_resp!(body(&bytes));
    let Some(parent) = req.parent_id else {
        return err(StatusCode::BAD_REQUEST, "parent_id is required");
    };
    match inner.write().create_folder(parent, &req.title) {
        Ok(id) => Json(json!({"id": id})).into_response(),
        Err(e) => state_err(e),
    }
}

#[derive(Deserialize)]
struct FileReq {
    folder_id: i64,
    title: String,
    size: u64,
    created_by: Option<Uuid>,
    /// RFC 3339; the file's `updated` (default: now).
    updated: Option<DateTime<Utc>>,
}

async fn create_file(State(inner): State<Arc<Inner>>, bytes: Bytes) -> Response {
    let req: FileReq = try_resp!(body(&bytes));
    let mut s = inner.write();
    let created = s
        .create_file(req.folder_id, &req.title, req.size, req.created_by)
        .and_then(|id| match req.updated {
            Some(at) => s.set_file_updated(id, at).map(|()| id),
            None => Ok(id),
        });
    match created {
        Ok(id) => Json(json!({"id": id})).into_response(),
        Err(e) => state_err(e),
    }
}

#[derive(Deserialize)]
struct BulkFilesReq {
    folder_id: i64,
    count: usize,
    #[serde(default)]
    size: u64,
    #[serde(default = "default_prefix")]
    prefix: String,
    #[serde(default = "default_ext")]
    ext: String,
}

fn default_prefix() -> String {
    "File ".to_string()
}

fn default_ext() -> String {
    ".docx".to_string()
}

/// `{"ids": [..]}` of `count` new files `<prefix><n><ext>`.
async fn create_files(State(inner): State<Arc<Inner>>, bytes: Bytes) -> Response {
    let req: BulkFilesReq = try_resp!(body(&bytes));
    match inner
        .write()
        .create_files(req.folder_id, &req.prefix, &req.ext, req.count, req.size)
    {
        Ok(ids) => Json(json!({ "ids": ids })).into_response(),
        Err(e) => state_err(e),
    }
}

#[derive(Deserialize)]
struct UpdatedReq {
    updated: DateTime<Utc>,
}

async fn set_file_updated(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Response {
    let id = try_resp!(file_id(&id));
    let req: UpdatedReq = try_resp!(body(&bytes));
    match inner.write().set_file_updated(id, req.updated) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => state_err(e),
    }
}

async fn trash_file(State(inner): State<Arc<Inner>>, Path(id): Path<String>) -> Response {
    let id = try_resp!(file_id(&id));
    match inner.write().trash_file(id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => state_err(e),
    }
}

async fn restore_file(State(inner): State<Arc<Inner>>, Path(id): Path<String>) -> Response {
    let id = try_resp!(file_id(&id));
    match inner.write().restore_file(id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => state_err(e),
    }
}

#[derive(Deserialize)]
struct DeniedReq {
    denied: bool,
}

/// `{"denied": true}`: the API key's user may not download the file (stream handler 403).
async fn set_download_denied(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Response {
    let id = try_resp!(file_id(&id));
    let req: DeniedReq = try_resp!(body(&bytes));
    let Ok(mut knobs) = inner.knobs.lock() else {
        return err(StatusCode::INTERNAL_SERVER_ERROR, "knobs lock poisoned");
    };
    knobs.download_denied_file_ids.retain(|f| *f != id);
    if req.denied {
        knobs.download_denied_file_ids.push(id);
    }
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct ReadableReq {
    readable: bool,
}

/// `{"readable": false}`: the API key's user cannot read the folder or room (403 on it).
async fn set_folder_readable(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Response {
    let id = try_resp!(file_id(&id));
    let req: ReadableReq = try_resp!(body(&bytes));
    let Ok(mut knobs) = inner.knobs.lock() else {
        return err(StatusCode::INTERNAL_SERVER_ERROR, "knobs lock poisoned");
    };
    knobs.unreadable_folder_ids.retain(|f| *f != id);
    if !req.readable {
        knobs.unreadable_folder_ids.push(id);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn archive_room(State(inner): State<Arc<Inner>>, Path(id): Path<String>) -> Response {
    let id = try_resp!(file_id(&id));
    match inner.write().archive_room(id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => state_err(e),
    }
}

async fn unarchive_room(State(inner): State<Arc<Inner>>, Path(id): Path<String>) -> Response {
    let id = try_resp!(file_id(&id));
    match inner.write().unarchive_room(id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => state_err(e),
    }
}

#[derive(Deserialize)]
struct KeyReq {
    #[serde(default)]
    permissions: Vec<String>,
}

/// `{"key": "sk-…"}`: a new API key of the key's user with these permissions (empty = full).
async fn add_api_key(State(inner): State<Arc<Inner>>, bytes: Bytes) -> Response {
    let req: KeyReq = try_resp!(body(&bytes));
    let key = format!("sk-{}", hex::encode(rand::random::<[u8; 16]>()));
    let Ok(mut keys) = inner.keys.lock() else {
        return err(StatusCode::INTERNAL_SERVER_ERROR, "keys lock poisoned");
    };
    keys.insert(key.clone(), req.permissions);
    Json(json!({ "key": key })).into_response()
}

/// Replaces the permissions of a known key (the default one too).
async fn set_api_key(
    State(inner): State<Arc<Inner>>,
    Path(key): Path<String>,
    bytes: Bytes,
) -> Response {
    let req: KeyReq = try_resp!(body(&bytes));
    let Ok(mut keys) = inner.keys.lock() else {
        return err(StatusCode::INTERNAL_SERVER_ERROR, "keys lock poisoned");
    };
    match keys.get_mut(&key) {
        Some(p) => {
            *p = req.permissions;
            StatusCode::NO_CONTENT.into_response()
        }
        None => err(StatusCode::NOT_FOUND, "unknown API key"),
    }
}

#[derive(Deserialize)]
struct VersionReq {
    size: u64,
}

/// A numeric id in the path (files, folders, rooms).
fn file_id(raw: &str) -> Result<i64, Response> {
    raw.parse::<i64>()
        .map_err(|e| err(StatusCode::BAD_REQUEST, e))
}

async fn new_version(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Response {
    let id = try_resp!(file_id(&id));
    let req: VersionReq = try_resp!(body(&bytes));
    match inner.write().new_version(id, req.size, None) {
        Ok(version) => Json(json!({"version": version})).into_response(),
        Err(e) => state_err(e),
    }
}

async fn delete_file(State(inner): State<Arc<Inner>>, Path(id): Path<String>) -> Response {
    let id = try_resp!(file_id(&id));
    match inner.write().delete_file(id) {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => state_err(e),
    }
}

/// `{"version": V, "size": N, "content_hash": "..."}` (current version unless `?version=`).
async fn content_hash(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let id = try_resp!(file_id(&id));
    let params = Params::parse(q);
    let wanted = try_resp!(params.usize("version"));
    let (version, size) = {
        let s = inner.read();
        let Some(f) = s.files.get(&id) else {
            return state_err(StateError::UnknownFile(id));
        };
        let version = wanted
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(f.version());
        match f.version_info(version) {
            Some(v) => (version, v.size),
            None => return err(StatusCode::NOT_FOUND, "unknown version"),
        }
    };
    // Hashing a large file takes a while: keep it off the async workers.
    let hash =
        tokio::task::spawn_blocking(move || content::dropbox_content_hash(id, version, size))
            .await
            .unwrap_or_default();
    Json(json!({"version": version, "size": size, "content_hash": hash})).into_response()
}
