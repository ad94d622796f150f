//! `DocSpaceClient`: the one place that talks HTTP to DocSpace. Every API call goes through
//! [`DocSpaceClient::get`], which owns the API-key header, the 10-in-flight cap, the
//! provider-wide pause on 429, timeouts, bounded retries, envelope and error decoding, and
//! metrics. API calls follow no redirect. Downloads follow redirects hop by hop and send the API
//! key only to hops on the portal's own origin (scheme, host and port).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use backon::Retryable;
use bytes::Bytes;
use futures::stream::{BoxStream, Stream, StreamExt};
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, LOCATION, USER_AGENT};
use serde::de::DeserializeOwned;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use url::Url;

use super::error::DocSpaceError;
use super::scopes::{required_scope, served_to_anonymous};
use super::types::{
    FileInfo, FolderInfo, FolderPage, Group, GroupWithMembers, Page, PathPart, RoomsArea, User,
};
use super::wire::{self, Envelope, ErrorEnvelope, PathPartDto};
use crate::config::{DocSpaceConfig, Secret};
use crate::provider::{
    describe_reqwest, ratelimit_reset_header, record, redact, retry_after_header, Pacer,
    RetryPolicy,
};

const PROVIDER: &str = "docspace";
const UA: &str = concat!("docspace-dropbox-bridge/", env!("CARGO_PKG_VERSION"));
/// At most 10 concurrent requests to DocSpace per process, so that the bridge never crowds the
/// portal however many jobs run.
pub const MAX_IN_FLIGHT: usize = 10;
/// Downloads in flight at once: a download holds a request slot while its body streams, so
/// two of the ten stay free for API calls (group syncs are not starved by slow exports).
pub const MAX_DOWNLOADS: usize = MAX_IN_FLIGHT - 2;
/// Page size for listings (DocSpace's maximum).
pub const PAGE_SIZE: u32 = 100;

/// Readings of the group list after one that changed while it was read.
const GROUP_REREADS: usize = 2;
/// Redirects a download follows (portal → storage, storage → CDN, ...).
const MAX_REDIRECTS: usize = 5;
/// Provider-wide pause after a `429` that named no wait (DocSpace's GET limiter sends neither
/// `Retry-After` nor `X-RateLimit-Reset`): every caller holds back a moment while the retrying
/// call backs off exponentially.
const UNNAMED_429_PAUSE: Duration = Duration::from_secs(1);

type Result<T> = std::result::Result<T, DocSpaceError>;

/// DocSpace REST client. Cheap to clone; clones share the concurrency cap and the pause.
#[derive(Clone)]
pub struct DocSpaceClient {
    inner: Arc<Inner>,
    http: reqwest::Client,
}

struct Inner {
    base: Url,
    origin: url::Origin,
    api_key: Secret,
    permits: Arc<Semaphore>,
    downloads: Arc<Semaphore>,
    pacer: Pacer,
    retry: RetryPolicy,
    timeout: Duration,
}

/// A download in progress: the body as a stream of chunks, and its length when announced.
/// Holds one of the 10 DocSpace request slots and one of the 8 download slots until dropped.
pub struct Download {
    pub content_length: Option<u64>,
    stream: BoxStream<'static, Result<Bytes>>,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("content_length", &self.content_length)
            .finish_non_exhaustive()
    }
}

impl Stream for Download {
    type Item = Result<Bytes>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.stream.as_mut().poll_next(cx)
    }
}

impl DocSpaceClient {
    /// `http` must follow no redirects ([`crate::provider::http_client`]): the client follows
    /// download redirects itself so that the API key never leaves the portal's origin.
    pub fn new(cfg: &DocSpaceConfig, http: reqwest::Client) -> Self {
        Self::with_retry_policy(cfg, http, RetryPolicy::default())
    }

    /// Like [`DocSpaceClient::new`] with a custom in-client retry policy (tests shorten delays).
    pub fn with_retry_policy(
        cfg: &DocSpaceConfig,
        http: reqwest::Client,
        retry: RetryPolicy,
    ) -> Self {
        Self {
            http,
            inner: Arc::new(Inner {
                base: cfg.url.clone(),
                origin: cfg.origin(),
                api_key: cfg.api_key.clone(),
                permits: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
                downloads: Arc::new(Semaphore::new(MAX_DOWNLOADS)),
                pacer: Pacer::new(PROVIDER),
                retry,
                timeout: cfg.http_timeout,
            }),
        }
    }

    /// The provider-wide pause shared by every caller of this client.
    pub fn pacer(&self) -> &Pacer {
        &self.inner.pacer
    }

    /// The same client (shared request slots, pause and key) sending through `http`'s
    /// connections.
    pub fn with_http(&self, http: reqwest::Client) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            http,
        }
    }

    // --- groups and people -----------------------------------------------------------------

    /// `GET group?count&startIndex`: one page of groups (without members). DocSpace takes
    /// `count` from 1 to 100 and answers anything else with a validation error.
    pub async fn list_groups_page(&self, start_index: u32, count: u32) -> Result<Page<Group>> {
        let url = self.api_url(
            &["group"],
            &[
                ("count", count.to_string()),
                ("startIndex", start_index.to_string()),
            ],
        )?;
        let env: Envelope<Vec<wire::GroupDto>> = self.get("group", url).await?;
        Ok(Page {
            items: env
                .response
                .unwrap_or_default()
                .into_iter()
                .map(Group::from)
                .collect(),
            start_index,
            total: env.total.and_then(|t| u64::try_from(t).ok()),
        })
    }

    /// Every group, page by page until `startIndex + count >= total` (or a short page when
    /// DocSpace sends no total). DocSpace sorts groups by title, so a group created, renamed or
    /// deleted between two pages moves the ones after it by one: one can be read twice or
    /// missed. A reading whose total changed or that met a group twice is followed by another
    /// (at most [`GROUP_REREADS`]); the groups of every reading are kept, each once.
    pub async fn list_all_groups(&self) -> Result<Vec<Group>> {
        let mut all: Vec<Group> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..=GROUP_REREADS {
            let (groups, shifted) = self.read_all_groups().await?;
            all.extend(groups.into_iter().filter(|g| seen.insert(g.id.clone())));
            if !shifted {
                break;
            }
            tracing::info!("the group list changed while it was read; reading it again");
        }
        Ok(all)
    }

    /// One reading of every group's page, and whether the list changed while it was read.
    async fn read_all_groups(&self) -> Result<(Vec<Group>, bool)> {
        let mut all: Vec<Group> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut shifted = false;
        let mut first_total = None;
        let mut start = 0u32;
        loop {
            let page = self.list_groups_page(start, PAGE_SIZE).await?;
            let n = page.items.len() as u32;
            if start == 0 {
                first_total = page.total;
            } else {
                shifted |= page.total != first_total;
            }
            for g in page.items {
                if seen.insert(g.id.clone()) {
                    all.push(g);
                } else {
                    shifted = true;
                }
            }
            start += n;
            let done = match page.total {
                Some(total) => u64::from(start) >= total,
                None => n < PAGE_SIZE,
            };
            if done || n == 0 {
                break;
            }
        }
        Ok((all, shifted))
    }

    /// `GET group/{id}?includeMembers=true`; `None` when the group does not exist.
    pub async fn group_with_members(&self, id: &str) -> Result<Option<GroupWithMembers>> {
        let query = [("includeMembers", "true".into())];
        let group = self
            .entity::<wire::GroupDto>("group/{id}", &["group", id], &query)
            .await?;
        Ok(group.map(GroupWithMembers::from))
    }

    /// Whether group `id` exists, from one request (no in-client retry, members left out): for
    /// checks that must answer at once. An id DocSpace refuses as malformed (400) names no group.
    pub async fn group_exists(&self, id: &str) -> Result<bool> {
        let query = [("includeMembers", "false".into())];
        self.exists::<wire::GroupDto>("group/{id}", &["group", id], &query)
            .await
    }

    /// Whether file `id` exists, from one request (no in-client retry); as [`Self::group_exists`].
    pub async fn file_exists(&self, id: &str) -> Result<bool> {
        self.exists::<wire::FileDto>("files/file/{id}", &["files", "file", id], &[])
            .await
    }

    /// `GET people/@self`: the API key's own user (what `check` prints). Needs the separate
    /// `accounts.self:read` permission; no job depends on it.
    pub async fn me(&self) -> Result<User> {
        let url = self.api_url(&["people", "@self"], &[])?;
        let env: Envelope<wire::EmployeeDto> = self.get("people/@self", url).await?;
        required("people/@self", env.response).map(User::from)
    }

    // --- files -----------------------------------------------------------------------------

    /// `GET files/file/{id}`; `None` when the file does not exist.
    pub async fn file_info(&self, id: &str) -> Result<Option<FileInfo>> {
        let file = self
            .entity::<wire::FileDto>("files/file/{id}", &["files", "file", id], &[])
            .await?;
        Ok(file.map(FileInfo::from))
    }

    /// Folders from the section root (e.g. "Rooms") down to and including `folder_id`, from
    /// `GET files/{folderId}` `pathParts`. Older servers send bare ids; their titles are then
    /// read with `GET files/folder/{id}`.
    pub async fn folder_path(&self, folder_id: &str) -> Result<Vec<PathPart>> {
        const ROUTE: &str = "files/{folderId}";
        let url = self.api_url(&["files", folder_id], &[("count", "1".into())])?;
        let env: Envelope<wire::FolderContentDto> = self.get(ROUTE, url).await?;
        let content = required(ROUTE, env.response)?;
        let mut out = Vec::with_capacity(content.path_parts.len());
        for part in content.path_parts {
            let (id, title) = match part {
                PathPartDto::Full {
                    id, title: Some(t), ..
                } => (id, t),
                PathPartDto::Full {
                    id, title: None, ..
                }
                | PathPartDto::Id(id) => {
                    let title = match &content.current {
                        Some(cur) if cur.id == id => cur.title.clone(),
                        _ => self.folder_title(&id).await?,
                    };
                    (id, title)
                }
            };
            out.push(PathPart { id, title });
        }
        Ok(out)
    }

    async fn folder_title(&self, id: &str) -> Result<String> {
        const ROUTE: &str = "files/folder/{id}";
        let url = self.api_url(&["files", "folder", id], &[])?;
        let env: Envelope<wire::FolderDto> = self.get(ROUTE, url).await?;
        required(ROUTE, env.response).map(|f| f.title)
    }

    /// `GET files/folder/{id}`: a folder or room; `None` when it does not exist.
    pub async fn folder_info(&self, id: &str) -> Result<Option<FolderInfo>> {
        let folder = self
            .entity::<wire::FolderDto>("files/folder/{id}", &["files", "folder", id], &[])
            .await?;
        Ok(folder.map(FolderInfo::from))
    }

    /// `GET files/{folderId}?count&startIndex`: one page of a folder's (or room's) subfolders
    /// and files, folders first. Page on with `start_index + page.len()` until `total`.
    pub async fn list_folder_page(
        &self,
        folder_id: &str,
        start_index: u32,
        count: u32,
    ) -> Result<FolderPage> {
        const ROUTE: &str = "files/{folderId}";
        let url = self.api_url(&["files", folder_id], &page_query(start_index, count))?;
        let env: Envelope<wire::FolderContentDto> = self.get(ROUTE, url).await?;
        required(ROUTE, env.response).map(|c| folder_page(c, start_index))
    }

    /// `GET files/rooms?searchArea&count&startIndex`: one page of the rooms the key's user may
    /// read (in `folders`), from the "Rooms" section or the archive.
    pub async fn list_rooms_page(
        &self,
        area: RoomsArea,
        start_index: u32,
        count: u32,
    ) -> Result<FolderPage> {
        const ROUTE: &str = "files/rooms";
        let mut query = page_query(start_index, count);
        let area = match area {
            RoomsArea::Active => "Active",
            RoomsArea::Archive => "Archive",
        };
        query.push(("searchArea", area.to_string()));
        let url = self.api_url(&["files", "rooms"], &query)?;
        let env: Envelope<wire::FolderContentDto> = self.get(ROUTE, url).await?;
        required(ROUTE, env.response).map(|c| folder_page(c, start_index))
    }

    /// `GET files/file/{id}/presigneduri`: a download URL valid for about 16 minutes.
    pub async fn presigned_uri(&self, file_id: &str) -> Result<String> {
        const ROUTE: &str = "files/file/{id}/presigneduri";
        let url = self.api_url(&["files", "file", file_id, "presigneduri"], &[])?;
        let env: Envelope<String> = self.get(ROUTE, url).await?;
        required(ROUTE, env.response)
    }

    /// Calls one of the routes in [`super::ROUTES`] with arguments that name nothing (ids that do
    /// not exist, one-item pages) and discards the answer: `Ok`, or an error such as `404`,
    /// means the key may call the route; [`DocSpaceError::MissingScope`] that it lacks the
    /// route's permission. Changes nothing.
    pub async fn probe(&self, route: &'static str) -> Result<()> {
        const NO_GROUP: &str = "00000000-0000-0000-0000-000000000000";
        let one = || vec![("count", "1".to_string())];
        let (segments, query): (Vec<&str>, _) = match route {
            "group" => (vec!["group"], one()),
            "group/{id}" => (
                vec!["group", NO_GROUP],
                vec![("includeMembers", "false".to_string())],
            ),
            "people/@self" => (vec!["people", "@self"], vec![]),
            "files/file/{id}" => (vec!["files", "file", "0"], vec![]),
            "files/file/{id}/presigneduri" => (vec!["files", "file", "0", "presigneduri"], vec![]),
            "files/{folderId}" => (vec!["files", "0"], one()),
            "files/folder/{id}" => (vec!["files", "folder", "0"], vec![]),
            "files/rooms" => (vec!["files", "rooms"], one()),
            other => {
                return Err(DocSpaceError::InvalidArgument {
                    route: other,
                    message: "not a route the bridge probes".into(),
                })
            }
        };
        let url = self.api_url(&segments, &query)?;
        self.get::<serde_json::Value>(route, url).await.map(drop)
    }

    /// Starts downloading `url` (a presigned URL), following redirects hop by hop. Sends
    /// `Authorization: Bearer <API key>` only to hops whose origin (scheme, host, port) is the
    /// portal's. A 403 from the portal, asked with the key, is
    /// [`DocSpaceError::DownloadDenied`] (the key's user may not download the file; permanent);
    /// a 403 from another origin is [`DocSpaceError::PresignedExpired`] (ask for a fresh URL).
    /// Retries transient failures before the body starts; a body that breaks off mid-way
    /// surfaces as a stream error.
    pub async fn download(&self, url: &str) -> Result<Download> {
        const ROUTE: &str = "download";
        let url = self
            .inner
            .base
            .join(url)
            .map_err(|e| DocSpaceError::InvalidArgument {
                route: ROUTE,
                message: format!("download URL: {e}"),
            })?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(DocSpaceError::InvalidArgument {
                route: ROUTE,
                message: "download URL must be http(s)".into(),
            });
        }
        let policy = self.inner.retry;
        let (resp, permit) = (|| self.start_download(&url))
            .retry(policy.backoff())
            .when(|e: &DocSpaceError| {
                !matches!(e, DocSpaceError::PresignedExpired)
                    && policy.should_retry(e.is_retryable(), e.retry_after())
            })
            .notify(|e: &DocSpaceError, d: Duration| {
                tracing::warn!(provider = PROVIDER, route = ROUTE, error = %e, delay_ms = d.as_millis() as u64, "transient docspace failure; retrying");
            })
            .await?;
        let content_length = resp.content_length();
        let idle = self.inner.timeout;
        let body = resp.bytes_stream();
        let stream =
            futures::stream::unfold((body, Some(permit)), move |(mut body, permit)| async move {
                permit.as_ref()?;
                match tokio::time::timeout(idle, body.next()).await {
                    Ok(Some(Ok(b))) => Some((Ok(b), (body, permit))),
                    Ok(Some(Err(e))) => Some((Err(transport_error(ROUTE, &e)), (body, None))),
                    Ok(None) => None,
                    Err(_) => Some((Err(DocSpaceError::Timeout { route: ROUTE }), (body, None))),
                }
            });
        Ok(Download {
            content_length,
            stream: stream.boxed(),
        })
    }

    async fn start_download(
        &self,
        url: &Url,
    ) -> Result<(reqwest::Response, [OwnedSemaphorePermit; 2])> {
        const ROUTE: &str = "download";
        let inner = &self.inner;
        inner.pacer.ready().await;
        let closed = |_| DocSpaceError::Network {
            route: ROUTE,
            message: "client shut down".into(),
        };
        // The download slot first, so that waiting downloads hold no request slot.
        let download = inner
            .downloads
            .clone()
            .acquire_owned()
            .await
            .map_err(closed)?;
        let permit = inner
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(closed)?;
        let permit = [download, permit];
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(inner.timeout, self.follow(url))
            .await
            .unwrap_or(Err(DocSpaceError::Timeout { route: ROUTE }));
        self.finish_attempt(ROUTE, &result, started);
        result.map(|r| (r, permit))
    }

    /// Sends the download request and follows redirects by hand, deciding for every hop
    /// whether the API key goes along: only to the portal's own origin, so neither another host
    /// nor the same host over another scheme or port ever sees it.
    async fn follow(&self, start: &Url) -> Result<reqwest::Response> {
        const ROUTE: &str = "download";
        let inner = &self.inner;
        let mut url = start.clone();
        for hop in 0..=MAX_REDIRECTS {
            let send_key = url.origin() == inner.origin;
            let mut req = self.http.get(url.clone()).header(USER_AGENT, UA);
            if send_key {
                req = req.header(AUTHORIZATION, format!("Bearer {}", inner.api_key.expose()));
            }
            let resp = req.send().await.map_err(|e| transport_error(ROUTE, &e))?;
            let status = resp.status();
            if status.is_success() {
                return Ok(resp);
            }
            if status.is_redirection() && status != reqwest::StatusCode::NOT_MODIFIED {
                let next = resp
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| url.join(l).ok())
                    .filter(|u| u.scheme() == "http" || u.scheme() == "https");
                match next {
                    Some(next) if hop < MAX_REDIRECTS => {
                        url = next;
                        continue;
                    }
                    Some(_) => {
                        return Err(DocSpaceError::Network {
                            route: ROUTE,
                            message: format!("more than {MAX_REDIRECTS} redirects"),
                        })
                    }
                    None => {
                        return Err(DocSpaceError::Decode {
                            route: ROUTE,
                            message: format!(
                                "{} redirect without a usable http(s) Location",
                                status.as_u16()
                            ),
                        })
                    }
                }
            }
            if status == reqwest::StatusCode::FORBIDDEN {
                // With the key DocSpace checks the user's download right, not the link's age.
                return Err(if send_key {
                    DocSpaceError::DownloadDenied {
                        file_id: file_id_of(start),
                    }
                } else {
                    DocSpaceError::PresignedExpired
                });
            }
            let headers = resp.headers().clone();
            let body = resp.bytes().await.unwrap_or_default();
            return Err(self.decode_failure(ROUTE, status.as_u16(), &headers, &body));
        }
        Err(DocSpaceError::Network {
            route: ROUTE,
            message: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }

    // --- the call path ---------------------------------------------------------------------

    /// `api/2.0/<segments>?<query>`, segments percent-encoded.
    fn api_url(&self, segments: &[&str], query: &[(&str, String)]) -> Result<Url> {
        // `.` and `..` cannot travel as path segments: `extend` drops them, and `%2E` would be
        // resolved by the server, so the request would reach another route (`group/..` lists
        // every group). No DocSpace id is either; such an id names nothing.
        if let Some(id) = segments.iter().find(|s| matches!(**s, "." | "..")) {
            return Err(DocSpaceError::Unaddressable { id: id.to_string() });
        }
        let mut url = self.inner.base.clone();
        {
            let mut p = url
                .path_segments_mut()
                .map_err(|_| DocSpaceError::InvalidArgument {
                    route: "url",
                    message: "DOCSPACE_URL cannot be a base".into(),
                })?;
            p.pop_if_empty().extend(["api", "2.0"]).extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        Ok(url)
    }

    /// GETs the entity `segments` name, retrying transient failures; `None` when nothing has its
    /// id (a 404, or an id no URL path can carry).
    async fn entity<T: DeserializeOwned>(
        &self,
        route: &'static str,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Option<T>> {
        let answer = async { self.get::<T>(route, self.api_url(segments, query)?).await };
        match answer.await {
            Ok(env) => Ok(env.response),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether the entity `segments` name exists, from one request (no retry). An id DocSpace
    /// refuses as malformed (400), or one no URL path can carry, names nothing.
    async fn exists<T: DeserializeOwned>(
        &self,
        route: &'static str,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<bool> {
        let answer = async {
            self.get_once::<T>(route, &self.api_url(segments, query)?)
                .await
        };
        match answer.await {
            Ok(env) => Ok(env.response.is_some()),
            Err(e) if e.is_not_found() || e.status() == Some(400) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// GETs an enveloped JSON answer, retrying transient failures.
    async fn get<T: DeserializeOwned>(&self, route: &'static str, url: Url) -> Result<Envelope<T>> {
        let policy = self.inner.retry;
        let url = &url;
        (|| self.get_once(route, url))
            .retry(policy.backoff())
            .when(|e: &DocSpaceError| policy.should_retry(e.is_retryable(), e.retry_after()))
            .notify(|e: &DocSpaceError, d: Duration| {
                tracing::warn!(provider = PROVIDER, route, error = %e, delay_ms = d.as_millis() as u64, "transient docspace failure; retrying");
            })
            .await
    }

    async fn get_once<T: DeserializeOwned>(
        &self,
        route: &'static str,
        url: &Url,
    ) -> Result<Envelope<T>> {
        let inner = &self.inner;
        inner.pacer.ready().await;
        let _permit = inner
            .permits
            .acquire()
            .await
            .map_err(|_| DocSpaceError::Network {
                route,
                message: "client shut down".into(),
            })?;
        let started = std::time::Instant::now();
        let result = match self.exchange(route, url).await {
            Err(e @ DocSpaceError::MissingScope { .. }) if served_to_anonymous(route) => {
                Err(self.missing_scope_or_unknown_key(route, e).await)
            }
            other => other,
        };
        self.finish_attempt(route, &result, started);
        result
    }

    /// `missing`, a bare 403 on a route DocSpace also serves to anonymous callers, unless the
    /// key is one DocSpace does not know: it answers that with the same 403 there, and with 401
    /// on `people/@self`, asked once to tell the two apart.
    async fn missing_scope_or_unknown_key(
        &self,
        route: &'static str,
        missing: DocSpaceError,
    ) -> DocSpaceError {
        const SELF: &str = "people/@self";
        let Ok(url) = self.api_url(&["people", "@self"], &[]) else {
            return missing;
        };
        match self.exchange::<serde::de::IgnoredAny>(SELF, &url).await {
            Err(e) if e.status() == Some(401) => DocSpaceError::Api {
                route,
                status: 401,
                message: "the API key was refused: it is expired, revoked or wrong (403 here, \
                          401 on people/@self)"
                    .into(),
            },
            _ => missing,
        }
    }

    async fn exchange<T: DeserializeOwned>(
        &self,
        route: &'static str,
        url: &Url,
    ) -> Result<Envelope<T>> {
        let inner = &self.inner;
        let resp = self
            .http
            .get(url.clone())
            .timeout(inner.timeout)
            .header(AUTHORIZATION, format!("Bearer {}", inner.api_key.expose()))
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, UA)
            .send()
            .await
            .map_err(|e| transport_error(route, &e))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(|e| transport_error(route, &e))?;
        if !(200..300).contains(&status) {
            return Err(self.decode_failure(route, status, &headers, &body));
        }
        // Some endpoints report errors with a 2xx status: look at the envelope first.
        if let Ok(env) = serde_json::from_slice::<ErrorEnvelope>(&body) {
            if env.error.is_some() || env.status == Some(1) {
                let code = env
                    .status_code
                    .and_then(|c| u16::try_from(c).ok())
                    .filter(|c| *c >= 400)
                    .unwrap_or(500);
                return Err(self.decode_failure(route, code, &headers, &body));
            }
        }
        serde_json::from_slice(&body).map_err(|e| DocSpaceError::Decode {
            route,
            message: e.to_string(),
        })
    }

    fn finish_attempt<T>(
        &self,
        route: &'static str,
        result: &Result<T>,
        started: std::time::Instant,
    ) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(e) => e.class(),
        };
        record(PROVIDER, route, outcome, started.elapsed());
        if let Err(DocSpaceError::RateLimited { retry_after, .. }) = result {
            self.inner
                .pacer
                .pause_for(retry_after.unwrap_or(UNNAMED_429_PAUSE));
        }
    }

    /// Error of a failed answer: a 429 with the wait DocSpace named (`Retry-After`, else the end
    /// of the limiter's window in `X-RateLimit-Reset`, else none); a bare 403 as the missing
    /// permission of the route; a redirect as not followed; otherwise the envelope's message,
    /// validation problem details included.
    fn decode_failure(
        &self,
        route: &'static str,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
    ) -> DocSpaceError {
        if status == 429 {
            return DocSpaceError::RateLimited {
                route,
                retry_after: retry_after_header(headers)
                    .or_else(|| ratelimit_reset_header(headers, std::time::SystemTime::now())),
            };
        }
        let message = if status == 403 && body.iter().all(u8::is_ascii_whitespace) {
            match required_scope(route) {
                Some(scope) => return DocSpaceError::MissingScope { route, scope },
                None => String::from("forbidden"),
            }
        } else if (300..400).contains(&status) {
            let to = headers
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| self.inner.base.join(l).ok())
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_else(|| "elsewhere".into());
            format!("redirected to {to}, not followed; check DOCSPACE_URL")
        } else {
            ErrorEnvelope::text_of(body)
                .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned())
        };
        DocSpaceError::Api {
            route,
            status,
            message: redact(message.trim(), &[self.inner.api_key.expose()]),
        }
    }
}

fn page_query(start_index: u32, count: u32) -> Vec<(&'static str, String)> {
    vec![
        ("count", count.clamp(1, PAGE_SIZE).to_string()),
        ("startIndex", start_index.to_string()),
    ]
}

fn folder_page(c: wire::FolderContentDto, asked_start: u32) -> FolderPage {
    let current = c.current.map(FolderInfo::from);
    let path = c
        .path_parts
        .into_iter()
        .map(|p| match p {
            PathPartDto::Full {
                id, title: Some(t), ..
            } => PathPart { id, title: t },
            PathPartDto::Full {
                id, title: None, ..
            }
            | PathPartDto::Id(id) => {
                let title = match &current {
                    Some(cur) if cur.id == id => cur.title.clone(),
                    _ => String::new(),
                };
                PathPart { id, title }
            }
        })
        .collect();
    FolderPage {
        current,
        path,
        folders: c.folders.into_iter().map(FolderInfo::from).collect(),
        files: c.files.into_iter().map(FileInfo::from).collect(),
        start_index: c
            .start_index
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(asked_start),
        total: c.total.and_then(|t| u64::try_from(t).ok()),
    }
}

/// The `fileid` a DocSpace stream URL names (`filehandler.ashx?action=stream&fileid=N`).
fn file_id_of(url: &Url) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k.eq_ignore_ascii_case("fileid"))
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty() && v.len() <= 64)
}

fn required<T>(route: &'static str, v: Option<T>) -> Result<T> {
    v.ok_or_else(|| DocSpaceError::Decode {
        route,
        message: "envelope has no response".into(),
    })
}

fn transport_error(route: &'static str, e: &reqwest::Error) -> DocSpaceError {
    if e.is_timeout() {
        DocSpaceError::Timeout { route }
    } else {
        DocSpaceError::Network {
            route,
            message: describe_reqwest(e),
        }
    }
}
