//! `/_fake/…` on the RPC host: an unauthenticated HTTP control API so scripts and the
//! `bridge-fakes` binary can drive the same knobs and inspection as `FakeDropboxHandle`.
//!
//! | Method, path | Body | Effect |
//! |---|---|---|
//! | `GET /_fake/knobs` | | current `Knobs` |
//! | `POST /_fake/knobs` | partial `Knobs` JSON | merge, answer the new knobs |
//! | `POST /_fake/fail_next` | `{"route","fault":{"kind":…},"times"}` | scripted faults |
//! | `POST /_fake/clear_faults` | | |
//! | `POST /_fake/expire_tokens` | | issued tokens → 401 `expired_access_token` |
//! | `POST /_fake/token` | | `{"access_token"}` minted directly |
//! | `POST /_fake/reset_cursors` | | cursors → 409 `reset` |
//! | `GET /_fake/calls` | | `{"calls":{route:n},"ok":{…},"total_write_calls":n}` |
//! | `POST /_fake/reset_counters` | | |
//! | `GET /_fake/tree` | | `[TreeEntry]` |
//! | `GET /_fake/shared_folders` | | `[SharedFolderInfo]` |
//! | `POST /_fake/users` | `{"email","account_id"?}` | register a Dropbox account |
//! | `POST /_fake/member_error` | `{"email","error": tag or null}` | add_folder_member failure knob |
//! | `POST /_fake/add_member` | `{"shared_folder_id","email","access"}` | member added by hand |
//! | `POST /_fake/put_file` | `{"path","content"}` | write a file |
//! | `POST /_fake/delete` | `{"path"}` | delete by hand: `{"deleted"}`; shared folders in it are unmounted (id, members, content kept) |
//! | `POST /_fake/unshare` | `{"path"}` or `{"shared_folder_id"}` | unshare by hand: `{"unshared"}`; the id is gone, members lose access |
//! | `POST /_fake/mount` | `{"shared_folder_id"}` | mount an unmounted shared folder by hand: `{"path_display"}` |
//! | `POST /_fake/access_error` | `{"shared_folder_id","error": tag or null}` | every sharing route on it answers this `SharedFolderAccessError` |
//! | `POST /_fake/mount_error` | `{"shared_folder_id","error": tag or null}` | `mount_folder` of it fails with this `MountFolderError` |
//!
//! Knobs include `share_folder_async_ratio` (0.0..=1.0 of `share_folder` calls answered with an
//! `async_job_id`), `async_job_polls` and `async_job_delay_ms` (when such a job completes), and
//! `granted_scopes` (the app's OAuth scopes; `null` = all, else a route outside them is 401
//! `missing_scope`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::handle::FakeDropboxHandle;
use super::model::{AccessError, AccessLevel, Fault, Knobs, MemberError, MountError};
use super::server::Shared;

type H = State<FakeDropboxHandle>;

fn bad(msg: impl std::fmt::Display) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": msg.to_string()})),
    )
        .into_response()
}

fn done() -> Response {
    Json(json!({"ok": true})).into_response()
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/knobs", get(get_knobs).post(set_knobs))
        .route("/fail_next", post(fail_next))
        .route(
            "/clear_faults",
            post(|State(h): H| async move {
                h.clear_faults();
                done()
            }),
        )
        .route(
            "/expire_tokens",
            post(|State(h): H| async move {
                h.expire_tokens();
                done()
            }),
        )
        .route(
            "/token",
            post(|State(h): H| async move { Json(json!({"access_token": h.issue_token()})) }),
        )
        .route(
            "/reset_cursors",
            post(|State(h): H| async move {
                h.reset_cursors();
                done()
            }),
        )
        .route("/calls", get(calls))
        .route(
            "/reset_counters",
            post(|State(h): H| async move {
                h.reset_counters();
                done()
            }),
        )
        .route("/tree", get(|State(h): H| async move { Json(h.tree()) }))
        .route(
            "/shared_folders",
            get(|State(h): H| async move { Json(h.shared_folders()) }),
        )
        .route("/users", post(add_user))
        .route("/member_error", post(member_error))
        .route("/add_member", post(add_member))
        .route("/put_file", post(put_file))
        .route("/delete", post(delete))
        .route("/unshare", post(unshare))
        .route("/mount", post(mount))
        .route("/access_error", post(access_error))
        .route("/mount_error", post(mount_error))
        .with_state(FakeDropboxHandle { shared })
}

async fn get_knobs(State(h): H) -> Json<Knobs> {
    Json(h.knobs())
}

async fn set_knobs(State(h): H, Json(patch): Json<Value>) -> Response {
    let mut current = match serde_json::to_value(h.knobs()) {
        Ok(v) => v,
        Err(e) => return bad(e),
    };
    let (Some(cur), Some(p)) = (current.as_object_mut(), patch.as_object()) else {
        return bad("expected a JSON object");
    };
    for (k, v) in p {
        if !cur.contains_key(k) {
            return bad(format!("unknown knob {k:?}"));
        }
        cur.insert(k.clone(), v.clone());
    }
    match serde_json::from_value::<Knobs>(current) {
        Ok(k) => {
            h.set_knobs(k.clone());
            Json(k).into_response()
        }
        Err(e) => bad(e),
    }
}

#[derive(Deserialize)]
struct FailNext {
    route: String,
    fault: Fault,
    #[serde(default = "one")]
    times: u32,
}

fn one() -> u32 {
    1
}

async fn fail_next(State(h): H, Json(f): Json<FailNext>) -> Response {
    h.fail_next(&f.route, f.fault, f.times);
    done()
}

async fn calls(State(h): H) -> Json<Value> {
    let ok: std::collections::BTreeMap<String, u64> = h
        .call_counts()
        .keys()
        .map(|r| (r.clone(), h.ok_calls(r)))
        .collect();
    Json(json!({
        "calls": h.call_counts(),
        "ok": ok,
        "total_write_calls": h.total_write_calls(),
    }))
}

#[derive(Deserialize)]
struct UserBody {
    email: String,
    #[serde(default)]
    account_id: Option<String>,
}

async fn add_user(State(h): H, Json(b): Json<UserBody>) -> Response {
    let id = match b.account_id {
        Some(id) => {
            h.add_user(&b.email, &id);
            id
        }
        None => h.add_user_auto(&b.email),
    };
    Json(json!({"account_id": id})).into_response()
}

#[derive(Deserialize)]
struct MemberErrorBody {
    email: String,
    error: Option<MemberError>,
}

async fn member_error(State(h): H, Json(b): Json<MemberErrorBody>) -> Response {
    match b.error {
        Some(e) => h.set_member_error(&b.email, e),
        None => h.clear_member_error(&b.email),
    }
    done()
}

#[derive(Deserialize)]
struct AddMemberBody {
    shared_folder_id: String,
    email: String,
    access: AccessLevel,
}

async fn add_member(State(h): H, Json(b): Json<AddMemberBody>) -> Response {
    match h.add_member_by_hand(&b.shared_folder_id, &b.email, b.access) {
        Ok(()) => done(),
        Err(e) => bad(e),
    }
}

#[derive(Deserialize)]
struct PutFileBody {
    path: String,
    #[serde(default)]
    content: String,
}

async fn put_file(State(h): H, Json(b): Json<PutFileBody>) -> Response {
    match h.put_file(&b.path, b.content.as_bytes()) {
        Ok(f) => Json(f).into_response(),
        Err(e) => bad(e),
    }
}

#[derive(Deserialize)]
struct PathBody {
    path: String,
}

async fn delete(State(h): H, Json(b): Json<PathBody>) -> Response {
    Json(json!({"deleted": h.delete(&b.path)})).into_response()
}

#[derive(Deserialize)]
#[serde(untagged)]
enum UnshareBody {
    Path { path: String },
    Id { shared_folder_id: String },
}

async fn unshare(State(h): H, Json(b): Json<UnshareBody>) -> Response {
    let unshared = match b {
        UnshareBody::Path { path } => h.unshare_path(&path),
        UnshareBody::Id { shared_folder_id } => h.unshare_by_hand(&shared_folder_id),
    };
    Json(json!({ "unshared": unshared })).into_response()
}

#[derive(Deserialize)]
struct FolderIdBody {
    shared_folder_id: String,
}

async fn mount(State(h): H, Json(b): Json<FolderIdBody>) -> Response {
    match h.mount_by_hand(&b.shared_folder_id) {
        Ok(path) => Json(json!({ "path_display": path })).into_response(),
        Err(e) => bad(e),
    }
}

#[derive(Deserialize)]
struct AccessErrorBody {
    shared_folder_id: String,
    error: Option<AccessError>,
}

async fn access_error(State(h): H, Json(b): Json<AccessErrorBody>) -> Response {
    h.set_access_error(&b.shared_folder_id, b.error);
    done()
}

#[derive(Deserialize)]
struct MountErrorBody {
    shared_folder_id: String,
    error: Option<MountError>,
}

async fn mount_error(State(h): H, Json(b): Json<MountErrorBody>) -> Response {
    h.set_mount_error(&b.shared_folder_id, b.error);
    done()
}
