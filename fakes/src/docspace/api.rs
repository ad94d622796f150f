//! DocSpace API routes on the portal origin and the gate every API call passes: statistics,
//! latency, API-key auth, concurrency limits, scripted and random failures.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Path, RawQuery, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::envelope::{self, bad_request, not_found};
use super::state::{File, Folder, ListOrder, SortBy, State as PortalState};
use super::{control, routes, scopes, stream, Inner};

pub fn router(inner: Arc<Inner>) -> Router {
    let api = Router::new()
        .route("/api/2.0/group", get(list_groups).post(create_group))
        .route(
            "/api/2.0/group/{id}",
            get(get_group).put(update_group).delete(delete_group),
        )
        .route("/api/2.0/people/@self", get(get_self))
        .route("/api/2.0/people/{id}", get(get_person))
        .route("/api/2.0/files/file/{id}", get(get_file))
        .route("/api/2.0/files/file/{id}/presigneduri", get(presigned_uri))
        .route("/api/2.0/files/folder/{id}", get(get_folder))
        .route("/api/2.0/files/rooms", get(list_rooms))
        .route("/api/2.0/files/{folder_id}", get(list_folder))
        .route("/filehandler.ashx", get(stream::portal_handler))
        .route_layer(middleware::from_fn_with_state(Arc::clone(&inner), gate))
        .with_state(Arc::clone(&inner));
    api.merge(control::router(inner)).fallback(fallback)
}

async fn fallback(uri: Uri) -> Response {
    not_found(&format!("No route for {}", uri.path()))
}

fn route_name(method: &Method, path: &str) -> &'static str {
    match (method.as_str(), path) {
        ("GET", "/api/2.0/group") => routes::GROUP_LIST,
        ("POST", "/api/2.0/group") => routes::GROUP_CREATE,
        ("GET", "/api/2.0/group/{id}") => routes::GROUP_GET,
        ("PUT", "/api/2.0/group/{id}") => routes::GROUP_UPDATE,
        ("DELETE", "/api/2.0/group/{id}") => routes::GROUP_DELETE,
        ("GET", "/api/2.0/people/@self") => routes::PEOPLE_SELF,
        ("GET", "/api/2.0/people/{id}") => routes::PEOPLE_GET,
        ("GET", "/api/2.0/files/file/{id}") => routes::FILE_GET,
        ("GET", "/api/2.0/files/file/{id}/presigneduri") => routes::FILE_PRESIGNED_URI,
        ("GET", "/api/2.0/files/folder/{id}") => routes::FOLDER_GET,
        ("GET", "/api/2.0/files/rooms") => routes::ROOMS_LIST,
        ("GET", "/api/2.0/files/{folder_id}") => routes::FOLDER_LIST,
        (_, "/filehandler.ashx") => routes::STREAM,
        _ => "other",
    }
}

/// `429` as the DocSpace rate limiter sends it: empty body, `X-RateLimit-Limit` and
/// `X-RateLimit-Remaining`; `X-RateLimit-Reset` (the window's end, Unix seconds) only on writes
/// unless `ratelimit_reset_on_get`; `Retry-After` only when a test asks for it.
pub(crate) fn too_many(inner: &Inner, is_get: bool) -> Response {
    let knobs = inner.knobs();
    let mut resp = StatusCode::TOO_MANY_REQUESTS.into_response();
    let h = resp.headers_mut();
    h.insert(
        "x-ratelimit-limit",
        HeaderValue::from(knobs.ratelimit_limit),
    );
    h.insert("x-ratelimit-remaining", HeaderValue::from(0u32));
    if !is_get || knobs.ratelimit_reset_on_get {
        let reset = chrono::Utc::now()
            .timestamp()
            .saturating_add(i64::try_from(knobs.ratelimit_reset_secs).unwrap_or(i64::MAX / 2));
        h.insert("x-ratelimit-reset", HeaderValue::from(reset));
    }
    if let Some(secs) = knobs.retry_after_secs {
        h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

fn injected(inner: &Inner, status: u16, is_get: bool) -> Response {
    match StatusCode::from_u16(status) {
        Ok(StatusCode::TOO_MANY_REQUESTS) => too_many(inner, is_get),
        Ok(s) => envelope::error(
            s,
            "Injected failure (fake DocSpace knob)",
            "System.Exception",
        ),
        Err(_) => envelope::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Injected failure (fake DocSpace knob)",
            "System.Exception",
        ),
    }
}

/// Takes one scripted failure matching `route`, if any.
fn take_scripted(inner: &Inner, route: &str) -> Option<u16> {
    let mut list = inner.failures.lock().ok()?;
    let idx = list
        .iter()
        .position(|f| f.times > 0 && f.route.as_deref().map(|r| r == route).unwrap_or(true))?;
    let status = list[idx].status;
    list[idx].times -= 1;
    if list[idx].times == 0 {
        list.remove(idx);
    }
    Some(status)
}

/// The routes the bridge calls that DocSpace marks `[AllowAnonymous]` (`FilesController`
/// `file/{fileId}`, `FoldersController` `{folderId}` and `folder/{folderId}`).
const SERVED_TO_ANONYMOUS: [&str; 3] = [routes::FILE_GET, routes::FOLDER_LIST, routes::FOLDER_GET];

/// `Authorization` in the form DocSpace takes for an API key: `Bearer sk-…`.
fn is_api_key_form(authorization: &str) -> bool {
    authorization
        .strip_prefix("Bearer ")
        .is_some_and(|t| t.trim().starts_with("sk-"))
}

async fn gate(State(inner): State<Arc<Inner>>, req: Request, next: Next) -> Response {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let route = route_name(req.method(), &path);
    inner.stats.count(route);
    let knobs = inner.knobs();
    let is_get = req.method() == Method::GET || req.method() == Method::HEAD;
    // The stream handler has its own rules (stream_auth or the key); everything else needs the key.
    if route != routes::STREAM {
        let auth = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let permissions = match auth {
            // Missing credentials: bare 401 (DocSpace may answer with an empty body).
            None => return StatusCode::UNAUTHORIZED.into_response(),
            Some(a) => match inner.key_permissions(Some(a)) {
                Some(p) => p,
                // A key the portal does not know (expired, revoked, wrong) is no credentials;
                // on a route DocSpace also serves to anonymous callers (`[AllowAnonymous]`) the
                // request goes on, and the scope filter for API keys (`Bearer sk-…`) forbids it
                // with an empty 403 (`ApiKeyScopesFilter`).
                None if SERVED_TO_ANONYMOUS.contains(&route) && is_api_key_form(a) => {
                    return StatusCode::FORBIDDEN.into_response()
                }
                None => {
                    return envelope::error(
                        StatusCode::UNAUTHORIZED,
                        "Unauthorized",
                        "System.Security.Authentication.AuthenticationException",
                    )
                }
            },
        };
        // A key without the route's scope: ASP.NET authorization forbids, with no body.
        if let Some(required) = scopes::required(is_get, &path) {
            if !scopes::allows(&permissions, &required) {
                return StatusCode::FORBIDDEN.into_response();
            }
        }
    }
    let (guard, in_flight) = inner.stats.enter();
    let limit = if is_get {
        knobs.max_concurrent_gets
    } else {
        knobs.max_concurrent_writes
    };
    if limit.map(|l| in_flight > l).unwrap_or(false) {
        return too_many(&inner, is_get);
    }
    // Latency counts as time in flight, like a slow server.
    if knobs.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(knobs.latency_ms)).await;
    }
    if let Some(status) = take_scripted(&inner, route) {
        return injected(&inner, status, is_get);
    }
    if knobs.rate_429 > 0.0 && rand::random::<f64>() < knobs.rate_429 {
        return too_many(&inner, is_get);
    }
    if knobs.rate_5xx > 0.0 && rand::random::<f64>() < knobs.rate_5xx {
        return injected(&inner, 500, is_get);
    }
    let resp = next.run(req).await;
    if route == routes::STREAM {
        // A download stays "in flight" until its body is finished or dropped.
        let (parts, body) = resp.into_parts();
        let body = body.into_data_stream().map(move |chunk| {
            let _keep = &guard;
            chunk
        });
        return Response::from_parts(parts, Body::from_stream(body));
    }
    drop(guard);
    resp
}

/// Query parameters, names matched case-insensitively (ASP.NET binding).
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    pub fn parse(raw: Option<String>) -> Params {
        let raw = raw.unwrap_or_default();
        Params(
            url::form_urlencoded::parse(raw.as_bytes())
                .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    /// `Ok(None)` when absent; `Err` (400) when present but not a non-negative integer.
    pub fn usize(&self, name: &str) -> Result<Option<usize>, Response> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse::<usize>()
                .map(Some)
                .map_err(|_| bad_request(&format!("The value '{v}' is not valid for {name}."))),
        }
    }

    pub fn bool(&self, name: &str, default: bool) -> Result<bool, Response> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(bad_request(&format!(
                "The value '{v}' is not valid for {name}."
            ))),
        }
    }

    /// `count` (1..=100, default 100) and `startIndex` (default 0), or the model-validation
    /// errors ASP.NET reports for them (`[Range(1, 100)]` on `Count`, values that do not bind).
    /// The server puts no range on `startIndex`; what it does with a negative one is
    /// unconfirmed, so the stand-in refuses it the same way rather than guess.
    pub fn page(&self) -> Result<(usize, usize), Vec<(&'static str, String)>> {
        let mut errors = Vec::new();
        let count = match self.int("count", "Count", &mut errors) {
            None => 100,
            Some(c) if (1..=100).contains(&c) => c as usize,
            Some(_) => {
                errors.push((
                    "count",
                    "The field Count must be between 1 and 100.".to_string(),
                ));
                100
            }
        };
        let start = match self.int("startIndex", "StartIndex", &mut errors) {
            None => 0,
            Some(s) if s >= 0 => s as usize,
            Some(_) => {
                errors.push((
                    "startIndex",
                    "The field StartIndex must be between 0 and 2147483647.".to_string(),
                ));
                0
            }
        };
        if errors.is_empty() {
            Ok((count, start))
        } else {
            Err(errors)
        }
    }

    /// An `int` query parameter; a value that does not bind adds ASP.NET's binding error.
    fn int(
        &self,
        name: &'static str,
        display: &str,
        errors: &mut Vec<(&'static str, String)>,
    ) -> Option<i64> {
        match self.get(name) {
            None | Some("") => None,
            Some(v) => match v.trim().parse::<i32>() {
                Ok(n) => Some(i64::from(n)),
                Err(_) => {
                    errors.push((name, format!("The value '{v}' is not valid for {display}.")));
                    None
                }
            },
        }
    }
}

/// `searchArea` of `files/rooms` (`SearchArea` in the server: Active = 0, Archive = 1, Any = 2,
/// RecentByLinks = 3, Templates = 4, Knowledge = 5, ResultStorage = 6, AiAgents = 7), bound by
/// name (case-insensitive) or number like any ASP.NET enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SearchArea {
    Active,
    Archive,
    Any,
    /// The other areas (links, templates, AI storage and agents): no rooms in this stand-in.
    Other,
}

fn search_area(params: &Params) -> Result<SearchArea, (&'static str, String)> {
    let Some(raw) = params.get("searchArea").filter(|v| !v.is_empty()) else {
        return Ok(SearchArea::Active);
    };
    const NAMES: [&str; 8] = [
        "active",
        "archive",
        "any",
        "recentbylinks",
        "templates",
        "knowledge",
        "resultstorage",
        "aiagents",
    ];
    let lower = raw.trim().to_ascii_lowercase();
    let index = match lower.parse::<i64>() {
        Ok(n) => usize::try_from(n).ok().filter(|n| *n < NAMES.len()),
        Err(_) => NAMES.iter().position(|n| *n == lower),
    };
    match index {
        Some(0) => Ok(SearchArea::Active),
        Some(1) => Ok(SearchArea::Archive),
        Some(2) => Ok(SearchArea::Any),
        Some(_) => Ok(SearchArea::Other),
        None => Err((
            "searchArea",
            format!("The value '{raw}' is not valid for SearchArea."),
        )),
    }
}

fn href(inner: &Inner, uri: &Uri) -> String {
    format!(
        "{}{}",
        inner.base_url,
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    )
}

fn parse_guid(raw: &str) -> Option<Uuid> {
    Uuid::parse_str(raw).ok()
}

fn group_not_found() -> Response {
    envelope::error(
        StatusCode::NOT_FOUND,
        "The group could not be found",
        "System.Collections.Generic.KeyNotFoundException",
    )
}

fn user_not_found() -> Response {
    envelope::error(
        StatusCode::NOT_FOUND,
        "The user could not be found",
        "System.Collections.Generic.KeyNotFoundException",
    )
}

fn file_not_found() -> Response {
    not_found("The required file was not found")
}

fn folder_not_found() -> Response {
    not_found("The required folder was not found")
}

macro_rules! try_resp {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(resp) => return resp,
        }
    };
}

async fn list_groups(State(inner): State<Arc<Inner>>, uri: Uri, RawQuery(q): RawQuery) -> Response {
    let params = Params::parse(q);
    let (count, start) = match params.page() {
        Ok(p) => p,
        Err(errors) => return envelope::validation(&errors, &href(&inner, &uri), "GET"),
    };
    let filter = params.get("filterValue").map(str::to_lowercase);
    let descending = params.get("sortOrder") == Some("1");
    let state = inner.read();
    let mut groups: Vec<_> = state
        .groups
        .values()
        .filter(|g| {
            filter
                .as_deref()
                .map(|f| g.name.to_lowercase().contains(f))
                .unwrap_or(true)
        })
        .collect();
    groups.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    if descending {
        groups.reverse();
    }
    let total = groups.len();
    let render = inner.render(&state);
    let page: Vec<Value> = groups
        .into_iter()
        .skip(start)
        .take(count)
        .map(|g| render.group(g, false))
        .collect();
    envelope::ok_paged(page, total, &href(&inner, &uri))
}

async fn get_group(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> Response {
    let params = Params::parse(q);
    let include = try_resp!(params.bool("includeMembers", true));
    let Some(id) = parse_guid(&id) else {
        return group_not_found();
    };
    let state = inner.read();
    match state.groups.get(&id) {
        Some(g) => envelope::ok(
            inner.render(&state).group(g, include),
            &href(&inner, &uri),
            "GET",
        ),
        None => group_not_found(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupRequest {
    group_name: Option<String>,
    group_manager: Option<Uuid>,
    #[serde(default)]
    members: Vec<Uuid>,
    #[serde(default)]
    members_to_add: Vec<Uuid>,
    #[serde(default)]
    members_to_remove: Vec<Uuid>,
}

fn parse_body(body: &Bytes) -> Result<GroupRequest, Response> {
    serde_json::from_slice(body).map_err(|e| bad_request(&format!("Invalid request body: {e}")))
}

async fn create_group(State(inner): State<Arc<Inner>>, uri: Uri, body: Bytes) -> Response {
    let req = try_resp!(parse_body(&body));
    let Some(name) = req.group_name.filter(|n| !n.trim().is_empty()) else {
        return bad_request("groupName is required");
    };
    let mut state = inner.write();
    let id = match state.create_group(&name, req.group_manager, &req.members) {
        Ok(id) => id,
        Err(e) => return bad_request(&e.to_string()),
    };
    let render = inner.render(&state);
    match state.groups.get(&id) {
        Some(g) => envelope::ok(render.group(g, true), &href(&inner, &uri), "POST"),
        None => group_not_found(),
    }
}

async fn update_group(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Response {
    let req = try_resp!(parse_body(&body));
    let Some(id) = parse_guid(&id) else {
        return group_not_found();
    };
    let mut state = inner.write();
    if !state.groups.contains_key(&id) {
        return group_not_found();
    }
    let result = (|| {
        if let Some(name) = req.group_name.as_deref().filter(|n| !n.trim().is_empty()) {
            state.rename_group(id, name)?;
        }
        if req.group_manager.is_some() {
            state.set_group_manager(id, req.group_manager)?;
        }
        for m in &req.members_to_add {
            state.add_group_member(id, *m)?;
        }
        for m in &req.members_to_remove {
            state.remove_group_member(id, *m)?;
        }
        Ok::<_, super::StateError>(())
    })();
    if let Err(e) = result {
        return bad_request(&e.to_string());
    }
    let render = inner.render(&state);
    match state.groups.get(&id) {
        Some(g) => envelope::ok(render.group(g, true), &href(&inner, &uri), "PUT"),
        None => group_not_found(),
    }
}

async fn delete_group(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    uri: Uri,
) -> Response {
    let Some(id) = parse_guid(&id) else {
        return group_not_found();
    };
    let mut state = inner.write();
    let rendered = match state.groups.get(&id) {
        Some(g) => inner.render(&state).group(g, false),
        None => return group_not_found(),
    };
    let _ = state.delete_group(id);
    envelope::ok(rendered, &href(&inner, &uri), "DELETE")
}

async fn get_self(State(inner): State<Arc<Inner>>, uri: Uri) -> Response {
    let state = inner.read();
    match state.users.get(&state.self_user) {
        Some(u) => envelope::ok(
            inner.render(&state).employee_full(u),
            &href(&inner, &uri),
            "GET",
        ),
        None => user_not_found(),
    }
}

async fn get_person(State(inner): State<Arc<Inner>>, Path(id): Path<String>, uri: Uri) -> Response {
    let state = inner.read();
    match parse_guid(&id).and_then(|id| state.users.get(&id)) {
        Some(u) => envelope::ok(
            inner.render(&state).employee_full(u),
            &href(&inner, &uri),
            "GET",
        ),
        None => user_not_found(),
    }
}

const READ_FILE_DENIED: &str = "You don't have enough permission to view the file";
const READ_FOLDER_DENIED: &str = "You don't have enough permission to view the folder content";

async fn get_file(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> Response {
    let params = Params::parse(q);
    let version = try_resp!(params.usize("version"));
    let Ok(id) = id.parse::<i64>() else {
        return file_not_found();
    };
    let unreadable = inner.knobs().unreadable_folder_ids;
    let state = inner.read();
    let Some(file) = state.files.get(&id) else {
        return file_not_found();
    };
    if state.under_any(file.folder_id, &unreadable) {
        return envelope::forbidden(READ_FILE_DENIED);
    }
    let version = match version {
        None => file.version(),
        Some(v) => match u32::try_from(v)
            .ok()
            .filter(|v| file.version_info(*v).is_some())
        {
            Some(v) => v,
            None => return file_not_found(),
        },
    };
    envelope::ok(
        inner.render(&state).file(file, version),
        &href(&inner, &uri),
        "GET",
    )
}

async fn presigned_uri(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    uri: Uri,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return file_not_found();
    };
    let knobs = inner.knobs();
    let version = {
        let state = inner.read();
        match state.files.get(&id) {
            Some(f) if state.under_any(f.folder_id, &knobs.unreadable_folder_ids) => {
                return envelope::forbidden(READ_FILE_DENIED)
            }
            Some(f) => f.version(),
            None => return file_not_found(),
        }
    };
    let origin = if knobs.foreign_origin {
        &inner.foreign_url
    } else {
        &inner.base_url
    };
    let token = inner.stream_token(id, version);
    let url = format!(
        "{origin}/filehandler.ashx?action=stream&fileid={id}&version={version}&stream_auth={token}"
    );
    envelope::ok(Value::String(url), &href(&inner, &uri), "GET")
}

async fn get_folder(State(inner): State<Arc<Inner>>, Path(id): Path<String>, uri: Uri) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return folder_not_found();
    };
    let unreadable = inner.knobs().unreadable_folder_ids;
    let state = inner.read();
    match state.folders.get(&id) {
        Some(_) if state.under_any(id, &unreadable) => envelope::forbidden(READ_FOLDER_DENIED),
        Some(f) => envelope::ok(inner.render(&state).folder(f), &href(&inner, &uri), "GET"),
        None => folder_not_found(),
    }
}

/// The order a listing is sorted in: the `sortBy` it names, which DocSpace then saves as the
/// user's default, or that default (`ListOrder`). `sortOrder` is `ascending` (0, also when
/// absent) or `descending` (1).
fn list_order(inner: &Inner, params: &Params) -> ListOrder {
    match params.get("sortBy").and_then(SortBy::parse) {
        Some(by) => {
            let ascending = !params
                .get("sortOrder")
                .is_some_and(|o| o == "1" || o.eq_ignore_ascii_case("descending"));
            let order = ListOrder { by, ascending };
            inner.write().list_order = order;
            order
        }
        None => inner.read().list_order,
    }
}

/// `GET files/{folderId}`: one page of a folder's subfolders and files (the ones the key's user
/// may read), `total` inside `response`.
async fn list_folder(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> Response {
    let params = Params::parse(q);
    let here = href(&inner, &uri);
    let (count, start) = match params.page() {
        Ok(p) => p,
        Err(errors) => return envelope::validation(&errors, &here, "GET"),
    };
    let Ok(id) = id.parse::<i64>() else {
        return folder_not_found();
    };
    let unreadable = inner.knobs().unreadable_folder_ids;
    let order = list_order(&inner, &params);
    let state = inner.read();
    let Some(folder) = state.folders.get(&id) else {
        return folder_not_found();
    };
    if state.under_any(id, &unreadable) {
        return envelope::forbidden(READ_FOLDER_DENIED);
    }
    let filter = params.get("filterValue").map(str::to_lowercase);
    let matches = |title: &str| {
        filter
            .as_deref()
            .is_none_or(|q| title.to_lowercase().contains(q))
    };
    let mut folders: Vec<&Folder> = state
        .subfolders(id)
        .filter(|f| !unreadable.contains(&f.id) && matches(&f.title))
        .collect();
    PortalState::sort_folders(&mut folders, order);
    let mut files: Vec<&File> = state
        .folder_files(id)
        .filter(|f| matches(&f.title))
        .collect();
    PortalState::sort_files(&mut files, order);
    let page = inner.render(&state).content_page(
        folder,
        folders,
        files.iter().copied(),
        files.len(),
        start,
        count,
    );
    envelope::ok(page, &here, "GET")
}

/// `GET files/rooms`: one page of the rooms the key's user may read, from the "Rooms" section
/// (`searchArea` Active, the default), the "Archive" section (Archive) or both (Any).
async fn list_rooms(State(inner): State<Arc<Inner>>, uri: Uri, RawQuery(q): RawQuery) -> Response {
    let params = Params::parse(q);
    let here = href(&inner, &uri);
    let (count, start, area) = match (params.page(), search_area(&params)) {
        (Ok((count, start)), Ok(area)) => (count, start, area),
        (page, area) => {
            let mut errors = page.err().unwrap_or_default();
            errors.extend(area.err());
            return envelope::validation(&errors, &here, "GET");
        }
    };
    let unreadable = inner.knobs().unreadable_folder_ids;
    let order = list_order(&inner, &params);
    let state = inner.read();
    let (current, sections): (i64, &[i64]) = match area {
        SearchArea::Active => (super::ROOMS_ROOT_ID, &[super::ROOMS_ROOT_ID]),
        SearchArea::Archive => (super::ARCHIVE_ROOT_ID, &[super::ARCHIVE_ROOT_ID]),
        SearchArea::Any => (
            super::ROOMS_ROOT_ID,
            &[super::ROOMS_ROOT_ID, super::ARCHIVE_ROOT_ID],
        ),
        SearchArea::Other => (super::ROOMS_ROOT_ID, &[]),
    };
    let Some(current) = state.folders.get(&current) else {
        return folder_not_found();
    };
    let filter = params.get("filterValue").map(str::to_lowercase);
    let mut rooms: Vec<&Folder> = sections
        .iter()
        .flat_map(|s| state.subfolders(*s))
        .filter(|r| !unreadable.contains(&r.id))
        .filter(|r| {
            filter
                .as_deref()
                .is_none_or(|q| r.title.to_lowercase().contains(q))
        })
        .collect();
    PortalState::sort_folders(&mut rooms, order);
    envelope::ok(
        inner
            .render(&state)
            .content_page(current, rooms, std::iter::empty(), 0, start, count),
        &here,
        "GET",
    )
}
