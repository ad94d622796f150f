//! The two HTTP servers and the one pipeline every `/2/` call goes through: route table (which
//! host, which style), call counting, concurrency cap, latency, bearer auth, injected faults,
//! `Dropbox-API-Path-Root`, argument decoding (JSON body or header-safe `Dropbox-API-Arg`), then
//! the route handler. Handlers never see HTTP details except the upload body stream.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State as AxState};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use futures::StreamExt;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult, RateLimitReason};
use super::knobs::{Counters, FaultBox, InflightGuard};
use super::model::{DropboxOptions, Knobs};
use super::state::{PathRoot, State};
use super::{auth, control, routes_files, routes_sharing, routes_upload};

/// Which of the two Dropbox hosts a listener plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Host {
    /// `api.dropboxapi.com`: RPC routes and `/oauth2/token`.
    Api,
    /// `content.dropboxapi.com`: upload-style routes.
    Content,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    Rpc,
    /// Argument JSON in the body is `null` (or the body is empty).
    RpcVoid,
    Upload,
}

/// Every route the fake serves, with its host, style and the OAuth scope a token needs for it
/// (SPEC `host`/`style`/`scope` attributes; `None`: no scope, any valid token).
const ROUTES: &[(&str, Host, Style, Option<&str>)] = &[
    (
        "users/get_current_account",
        Host::Api,
        Style::RpcVoid,
        Some(ACCOUNT_INFO_READ),
    ),
    ("auth/token/revoke", Host::Api, Style::RpcVoid, None),
    (
        "files/create_folder_v2",
        Host::Api,
        Style::Rpc,
        Some(CONTENT_WRITE),
    ),
    ("files/get_metadata", Host::Api, Style::Rpc, Some(META_READ)),
    (
        "files/get_temporary_link",
        Host::Api,
        Style::Rpc,
        Some(CONTENT_READ),
    ),
    ("files/move_v2", Host::Api, Style::Rpc, Some(CONTENT_WRITE)),
    (
        "files/delete_v2",
        Host::Api,
        Style::Rpc,
        Some(CONTENT_WRITE),
    ),
    ("files/list_folder", Host::Api, Style::Rpc, Some(META_READ)),
    (
        "files/list_folder/continue",
        Host::Api,
        Style::Rpc,
        Some(META_READ),
    ),
    (
        "files/list_folder/get_latest_cursor",
        Host::Api,
        Style::Rpc,
        Some(META_READ),
    ),
    (
        "files/upload_session/start_batch",
        Host::Api,
        Style::Rpc,
        Some(CONTENT_WRITE),
    ),
    (
        "files/upload_session/finish_batch_v2",
        Host::Api,
        Style::Rpc,
        Some(CONTENT_WRITE),
    ),
    (
        "sharing/share_folder",
        Host::Api,
        Style::Rpc,
        Some(SHARING_WRITE),
    ),
    (
        "sharing/check_share_job_status",
        Host::Api,
        Style::Rpc,
        Some(SHARING_WRITE),
    ),
    (
        "sharing/check_job_status",
        Host::Api,
        Style::Rpc,
        Some(SHARING_WRITE),
    ),
    (
        "sharing/add_folder_member",
        Host::Api,
        Style::Rpc,
        Some(SHARING_WRITE),
    ),
    (
        "sharing/remove_folder_member",
        Host::Api,
        Style::Rpc,
        Some(SHARING_WRITE),
    ),
    (
        "sharing/update_folder_member",
        Host::Api,
        Style::Rpc,
        Some(SHARING_WRITE),
    ),
    (
        "sharing/check_remove_member_job_status",
        Host::Api,
        Style::Rpc,
        Some(SHARING_WRITE),
    ),
    (
        "sharing/list_folder_members",
        Host::Api,
        Style::Rpc,
        Some(SHARING_READ),
    ),
    (
        "sharing/list_folder_members/continue",
        Host::Api,
        Style::Rpc,
        Some(SHARING_READ),
    ),
    (
        "sharing/get_folder_metadata",
        Host::Api,
        Style::Rpc,
        Some(SHARING_READ),
    ),
    (
        "sharing/unshare_folder",
        Host::Api,
        Style::Rpc,
        Some(SHARING_WRITE),
    ),
    (
        "sharing/mount_folder",
        Host::Api,
        Style::Rpc,
        Some(SHARING_WRITE),
    ),
    (
        "sharing/unmount_folder",
        Host::Api,
        Style::Rpc,
        Some(SHARING_WRITE),
    ),
    (
        "files/upload",
        Host::Content,
        Style::Upload,
        Some(CONTENT_WRITE),
    ),
    (
        "files/upload_session/start",
        Host::Content,
        Style::Upload,
        Some(CONTENT_WRITE),
    ),
    (
        "files/upload_session/append_v2",
        Host::Content,
        Style::Upload,
        Some(CONTENT_WRITE),
    ),
    (
        "files/upload_session/finish",
        Host::Content,
        Style::Upload,
        Some(CONTENT_WRITE),
    ),
];

const ACCOUNT_INFO_READ: &str = "account_info.read";
const META_READ: &str = "files.metadata.read";
const CONTENT_READ: &str = "files.content.read";
const CONTENT_WRITE: &str = "files.content.write";
const SHARING_READ: &str = "sharing.read";
const SHARING_WRITE: &str = "sharing.write";

/// Every scope some route needs: what a token carries when `Knobs::granted_scopes` is unset.
pub fn all_scopes() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = ROUTES.iter().filter_map(|r| r.3).collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// Names of all routes served (for documentation and the control API).
pub fn route_names() -> Vec<&'static str> {
    ROUTES.iter().map(|r| r.0).collect()
}

/// Everything the servers share.
pub(crate) struct Shared {
    state: Mutex<State>,
    knobs: Mutex<Knobs>,
    faults: Mutex<FaultBox>,
    counters: Mutex<Counters>,
    inflight: AtomicUsize,
    request_seq: AtomicU64,
}

fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in another handler must not wedge the fake for the rest of the test.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub fn new(opts: &DropboxOptions) -> Arc<Self> {
        let knobs = Knobs {
            token_lifetime_secs: opts.token_lifetime.as_secs(),
            ..opts.knobs.clone()
        };
        Arc::new(Self {
            state: Mutex::new(State::new(opts)),
            knobs: Mutex::new(knobs),
            faults: Mutex::new(FaultBox::new(opts.seed)),
            counters: Mutex::new(Counters::default()),
            inflight: AtomicUsize::new(0),
            request_seq: AtomicU64::new(0),
        })
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        relock(&self.state)
    }

    pub fn knobs(&self) -> Knobs {
        relock(&self.knobs).clone()
    }

    pub fn set_knobs(&self, k: Knobs) {
        *relock(&self.knobs) = k;
    }

    pub fn faults(&self) -> MutexGuard<'_, FaultBox> {
        relock(&self.faults)
    }

    pub fn counters(&self) -> MutexGuard<'_, Counters> {
        relock(&self.counters)
    }

    pub fn count(&self, route: &str) {
        *self.counters().calls.entry(route.to_string()).or_default() += 1;
    }

    pub fn count_ok(&self, route: &str) {
        *self.counters().ok.entry(route.to_string()).or_default() += 1;
    }

    pub fn scripted_fault(&self, route: &str) -> Option<ApiError> {
        self.faults().pick_scripted(route, false)
    }

    /// Fires the `webhook_url` notification after a successful namespace write.
    fn after_write(&self, route: &str) {
        if !super::knobs::WRITE_ROUTES.contains(&route) {
            return;
        }
        let Some(url) = self.knobs().webhook_url else {
            return;
        };
        let n = {
            let st = self.state();
            super::webhook::notification(&st.owner.account_id, &st.app_secret)
        };
        tokio::spawn(async move {
            if let Err(e) = super::webhook::deliver(&url, &n).await {
                tracing::debug!(error = %e, "fake dropbox webhook delivery failed");
            }
        });
    }

    fn request_id(&self) -> String {
        let n = self.request_seq.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{n:032x}")
    }
}

/// What a route handler gets.
pub(crate) struct Call<'a> {
    pub shared: &'a Shared,
    pub route: &'a str,
    pub root: PathRoot,
    pub token: String,
}

#[derive(Clone)]
struct HostCtx {
    shared: Arc<Shared>,
    host: Host,
}

/// Router of the RPC host: `/2/…`, `/oauth2/token`, and the `/_fake/…` control API.
pub(crate) fn api_router(shared: Arc<Shared>) -> Router {
    let ctx = HostCtx {
        shared: shared.clone(),
        host: Host::Api,
    };
    Router::new()
        .route("/2/{*route}", post(dispatch).with_state(ctx))
        .route(
            "/oauth2/token",
            post(auth::token_endpoint).with_state(shared.clone()),
        )
        .nest("/_fake", control::router(shared))
        .fallback(not_found)
}

/// Router of the content host: `/2/…` only.
pub(crate) fn content_router(shared: Arc<Shared>) -> Router {
    let ctx = HostCtx {
        shared,
        host: Host::Content,
    };
    Router::new()
        .route("/2/{*route}", post(dispatch).with_state(ctx))
        .fallback(not_found)
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found").into_response()
}

/// Reads and discards a body, so that an early error still reaches a client that is busy
/// sending a large upload (hyper would otherwise close the connection under it).
pub(crate) async fn drain(body: Body) {
    let mut stream = body.into_data_stream();
    while let Some(Ok(_)) = stream.next().await {}
}

fn ok_json(v: &Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

async fn dispatch(
    AxState(ctx): AxState<HostCtx>,
    Path(route): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let shared = ctx.shared.clone();
    let request_id = shared.request_id();
    let mut resp = match handle(&ctx, &route, query, &headers, body).await {
        Ok(v) => {
            shared.count_ok(&route);
            shared.after_write(&route);
            ok_json(&v)
        }
        Err(e) => e.into_response(),
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-dropbox-request-id", v);
    }
    resp
}

async fn handle(
    ctx: &HostCtx,
    route: &str,
    query: Option<String>,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult {
    let shared = &*ctx.shared;
    let Some(&(name, host, style, scope)) = ROUTES.iter().find(|r| r.0 == route) else {
        drain(body).await;
        return Err(ApiError::bad_input(
            route,
            format!("Unknown API function: /2/{route}"),
        ));
    };
    if host != ctx.host {
        // Real Dropbox refuses a route sent to the other host with a 400 plain-text body; the
        // exact wording is UNCONFIRMED, this mirrors its "Error in call to API function" form.
        drain(body).await;
        let want = match host {
            Host::Api => "api.dropboxapi.com",
            Host::Content => "content.dropboxapi.com",
        };
        return Err(ApiError::bad_input(
            name,
            format!("Unknown API function: /2/{name}. This function must be called on {want}."),
        ));
    }
    shared.count(name);
    let (_guard, in_flight) = InflightGuard::enter(&shared.inflight);
    let knobs = shared.knobs();
    if knobs.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(knobs.latency_ms)).await;
    }
    let prelude = prelude(shared, name, scope, headers, &knobs, in_flight);
    let (token, root) = match prelude {
        Ok(x) => x,
        Err(e) => {
            drain(body).await;
            return Err(e);
        }
    };
    let call = Call {
        shared,
        route: name,
        root,
        token,
    };
    let lost = shared.faults().take_lost(name);
    let result = match style {
        Style::Rpc | Style::RpcVoid => match rpc_arg(name, style, headers, body).await {
            Ok(arg) => rpc(&call, arg),
            Err(e) => Err(e),
        },
        Style::Upload => match upload_arg(name, headers, query.as_deref()) {
            Ok(arg) => routes_upload::upload(&call, arg, body).await,
            Err(e) => {
                drain(body).await;
                Err(e)
            }
        },
    };
    match lost {
        Some(status) => {
            if result.is_ok() {
                shared.after_write(name);
            }
            Err(ApiError::Server(status))
        }
        None => result,
    }
}

/// Auth (token, then the route's scope), injected faults and the path-root header, in that
/// order.
fn prelude(
    shared: &Shared,
    route: &str,
    scope: Option<&'static str>,
    headers: &HeaderMap,
    knobs: &Knobs,
    in_flight: usize,
) -> Result<(String, PathRoot), ApiError> {
    let token = auth::check_bearer(shared, route, headers)?;
    if let Some(scope) = scope {
        if !knobs.grants(scope) {
            return Err(ApiError::MissingScope(scope));
        }
    }
    if knobs
        .max_concurrent_requests
        .is_some_and(|max| in_flight > max)
    {
        return Err(ApiError::RateLimited {
            reason: RateLimitReason::TooManyRequests,
            retry_after: knobs.retry_after_secs,
            plain_text: knobs.rate_limit_plain_text,
        });
    }
    if let Some(err) = shared.faults().pick(route, knobs) {
        return Err(err);
    }
    let root = path_root(shared, route, headers)?;
    Ok((token, root))
}

fn path_root(shared: &Shared, route: &str, headers: &HeaderMap) -> Result<PathRoot, ApiError> {
    let Some(raw) = headers.get("dropbox-api-path-root") else {
        return Ok(PathRoot::Home);
    };
    let bad = || {
        ApiError::bad_input(
            route,
            format!(
                "Invalid value for HTTP header \"Dropbox-API-Path-Root\": {:?}",
                String::from_utf8_lossy(raw.as_bytes())
            ),
        )
    };
    let v: Value = serde_json::from_slice(raw.as_bytes()).map_err(|_| bad())?;
    let tag = v.get(".tag").and_then(Value::as_str).ok_or_else(bad)?;
    let st = shared.state();
    let root_info =
        json!({".tag": "user", "root_namespace_id": st.root_ns, "home_namespace_id": st.root_ns});
    match tag {
        "home" => Ok(PathRoot::Home),
        "root" => {
            let id = v.get("root").and_then(Value::as_str).ok_or_else(bad)?;
            if id == st.root_ns {
                Ok(PathRoot::Home)
            } else {
                Err(ApiError::PathRoot(
                    json!({".tag": "invalid_root", "invalid_root": root_info}),
                ))
            }
        }
        "namespace_id" => {
            let id = v
                .get("namespace_id")
                .and_then(Value::as_str)
                .ok_or_else(bad)?;
            if id == st.root_ns {
                Ok(PathRoot::Home)
            } else if st.shared.contains_key(id) {
                Ok(PathRoot::SharedFolder(id.to_string()))
            } else {
                Err(ApiError::PathRoot(json!({".tag": "no_permission"})))
            }
        }
        _ => Err(bad()),
    }
}

const RPC_CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/json; charset=utf-8",
    "text/plain; charset=dropbox-cors-hack",
];

async fn rpc_arg(route: &str, style: Style, headers: &HeaderMap, body: Body) -> ApiResult {
    let bytes = axum::body::to_bytes(body, 32 * 1024 * 1024)
        .await
        .map_err(|_| ApiError::bad_input(route, "request body too large or unreadable"))?;
    let ct = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).to_string());
    let void_and_empty = style == Style::RpcVoid && bytes.is_empty();
    match &ct {
        None if void_and_empty => return Ok(Value::Null),
        Some(c) if RPC_CONTENT_TYPES.contains(&c.to_ascii_lowercase().as_str()) => {}
        other => {
            return Err(ApiError::bad_input(
                route,
                format!(
                    "Bad HTTP \"Content-Type\" header: \"{}\".  Expecting one of \"application/json\", \"application/json; charset=utf-8\", \"text/plain; charset=dropbox-cors-hack\".",
                    other.as_deref().unwrap_or("")
                ),
            ))
        }
    }
    if void_and_empty {
        return Ok(Value::Null);
    }
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|_| ApiError::bad_input(route, "request body: could not decode input as JSON"))?;
    if style == Style::RpcVoid && !v.is_null() {
        return Err(ApiError::bad_input(
            route,
            format!("request body: expected null, got value {v}"),
        ));
    }
    Ok(v)
}

/// `Dropbox-API-Arg` (or the `arg` URL parameter) of an upload-style call.
fn upload_arg(route: &str, headers: &HeaderMap, query: Option<&str>) -> ApiResult {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).to_ascii_lowercase());
    match ct.as_deref() {
        Some("application/octet-stream") | Some("text/plain; charset=dropbox-cors-hack") => {}
        other => {
            return Err(ApiError::bad_input(
                route,
                format!(
                    "Bad HTTP \"Content-Type\" header: \"{}\".  Expecting one of \"application/octet-stream\", \"text/plain; charset=dropbox-cors-hack\".",
                    other.unwrap_or("")
                ),
            ))
        }
    }
    let could_not_decode = || ApiError::bad_input(route, "Could not decode input as JSON");
    let raw: Vec<u8> =
        match headers.get("dropbox-api-arg") {
            Some(h) => {
                // Dropbox requires header-safe JSON: every byte ≥ 0x7F must have been escaped.
                if h.as_bytes().iter().any(|&b| b >= 0x7F) {
                    return Err(could_not_decode());
                }
                h.as_bytes().to_vec()
            }
            None => {
                let params: HashMap<String, String> = query
                    .map(|q| {
                        url::form_urlencoded::parse(q.as_bytes())
                            .into_owned()
                            .collect()
                    })
                    .unwrap_or_default();
                match params.get("arg") {
                    Some(a) => a.as_bytes().to_vec(),
                    None => return Err(ApiError::bad_input(
                        route,
                        "Must provide HTTP header \"Dropbox-API-Arg\" or URL parameter \"arg\".",
                    )),
                }
            }
        };
    serde_json::from_slice(&raw).map_err(|_| could_not_decode())
}

fn rpc(call: &Call<'_>, arg: Value) -> ApiResult {
    match call.route {
        "users/get_current_account" => Ok(routes_files::current_account(call)),
        "auth/token/revoke" => {
            call.shared.state().tokens.remove(&call.token);
            Ok(Value::Null)
        }
        "files/create_folder_v2" => routes_files::create_folder(call, arg),
        "files/get_metadata" => routes_files::get_metadata(call, arg),
        "files/get_temporary_link" => routes_files::get_temporary_link(call, arg),
        "files/move_v2" => routes_files::move_v2(call, arg),
        "files/delete_v2" => routes_files::delete_v2(call, arg),
        "files/list_folder" => routes_files::list_folder(call, arg, false),
        "files/list_folder/get_latest_cursor" => routes_files::list_folder(call, arg, true),
        "files/list_folder/continue" => routes_files::list_folder_continue(call, arg),
        "files/upload_session/start_batch" => routes_upload::start_batch(call, arg),
        "files/upload_session/finish_batch_v2" => routes_upload::finish_batch(call, arg),
        "sharing/share_folder" => routes_sharing::share_folder(call, arg),
        "sharing/check_share_job_status"
        | "sharing/check_job_status"
        | "sharing/check_remove_member_job_status" => routes_sharing::check_job(call, arg),
        "sharing/add_folder_member" => routes_sharing::add_folder_member(call, arg),
        "sharing/remove_folder_member" => routes_sharing::remove_folder_member(call, arg),
        "sharing/update_folder_member" => routes_sharing::update_folder_member(call, arg),
        "sharing/list_folder_members" => routes_sharing::list_folder_members(call, arg),
        "sharing/list_folder_members/continue" => {
            routes_sharing::list_folder_members_continue(call, arg)
        }
        "sharing/get_folder_metadata" => routes_sharing::get_folder_metadata(call, arg),
        "sharing/unshare_folder" => routes_sharing::unshare_folder(call, arg),
        "sharing/mount_folder" => routes_sharing::mount_folder(call, arg),
        "sharing/unmount_folder" => routes_sharing::unmount_folder(call, arg),
        other => Err(ApiError::bad_input(
            other,
            format!("Unknown API function: /2/{other}"),
        )),
    }
}
