//! `DropboxClient` and its single call path. [`DropboxClient::call_rpc`] and
//! [`DropboxClient::call_upload`] are the only places that talk HTTP to Dropbox; they own the
//! bearer token (and its refresh), `Dropbox-API-Path-Root`, the header-safe `Dropbox-API-Arg`,
//! timeouts, error decoding, the provider-wide pause on 429, bounded retries and metrics.
//! Route functions (`routes.rs`, `upload.rs`) only build arguments and read results.

use std::sync::Arc;
use std::time::Duration;

use backon::Retryable;
use bytes::Bytes;
use reqwest::header::{HeaderMap, CONTENT_LENGTH, CONTENT_TYPE, USER_AGENT};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::{Mutex, Semaphore};
use url::Url;

use super::auth::{transport_error, TokenSource};
use super::chunk::Chunk;
use super::error::{tag_path, DropboxError};
use super::header_json::to_header_json;
use super::wire::{self, ApiErrorBody, PathRootHeader, RateLimitError, RateLimitReason};
use crate::config::{DropboxConfig, PathRoot, Secret};
use crate::provider::{record, redact, retry_after_header, Pacer, RetryPolicy};

const PROVIDER: &str = "dropbox";
/// Upload requests carrying data in flight at once, per process. Each is timed out as a whole
/// (`BRIDGE_HTTP_TIMEOUT`), so they must not split a slow uplink so many ways that none of
/// them can finish in time: 8 × 4 MiB in 60 s needs about 0.55 MiB/s.
const MAX_UPLOADS_IN_FLIGHT: usize = 8;
const UA: &str = concat!("docspace-dropbox-bridge/", env!("CARGO_PKG_VERSION"));

/// Dropbox API client. Cheap to clone (one `Arc`); all clones share the token, the root
/// namespace, and the provider-wide pause.
#[derive(Clone)]
pub struct DropboxClient {
    pub(super) inner: Arc<Inner>,
    http: reqwest::Client,
}

pub(super) struct Inner {
    api_url: Url,
    content_url: Url,
    tokens: TokenSource,
    path_root: PathRoot,
    /// Root namespace id for `Dropbox-API-Path-Root`; cleared when Dropbox says it changed.
    root_namespace: Mutex<Option<String>>,
    /// `users/get_current_account`, read once: who owns the folders this client shares.
    pub(super) account: tokio::sync::OnceCell<super::wire::FullAccount>,
    pacer: Pacer,
    retry: RetryPolicy,
    timeout: Duration,
    secrets: Vec<String>,
    upload_slots: Semaphore,
}

#[derive(Clone, Copy)]
enum Host {
    Api,
    Content,
}

enum Payload {
    Rpc(Bytes),
    Upload { arg: String, body: Chunk },
}

impl DropboxClient {
    pub fn new(cfg: &DropboxConfig, http: reqwest::Client) -> Self {
        Self::with_retry_policy(cfg, http, RetryPolicy::default())
    }

    /// Like [`DropboxClient::new`] with a custom in-client retry policy (tests shorten delays).
    pub fn with_retry_policy(
        cfg: &DropboxConfig,
        http: reqwest::Client,
        retry: RetryPolicy,
    ) -> Self {
        let tokens = TokenSource::new(
            cfg.auth.clone(),
            cfg.app_key.clone(),
            cfg.app_secret.clone(),
            &cfg.api_url,
        );
        let secrets = tokens.long_lived_secrets();
        Self {
            http,
            inner: Arc::new(Inner {
                api_url: cfg.api_url.clone(),
                content_url: cfg.content_url.clone(),
                tokens,
                path_root: cfg.path_root,
                root_namespace: Mutex::new(None),
                account: tokio::sync::OnceCell::new(),
                pacer: Pacer::new(PROVIDER),
                retry,
                timeout: cfg.http_timeout,
                secrets,
                upload_slots: Semaphore::new(MAX_UPLOADS_IN_FLIGHT),
            }),
        }
    }

    /// The provider-wide pause shared by every caller of this client.
    pub fn pacer(&self) -> &Pacer {
        &self.inner.pacer
    }

    /// The same client (shared token, root namespace and pause) sending through `http`'s
    /// connections.
    pub fn with_http(&self, http: reqwest::Client) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            http,
        }
    }

    /// Calls an RPC-style route (JSON in, JSON out) on the API host. `R = ()` for `null` results.
    pub async fn call_rpc<A, R>(&self, route: &'static str, arg: &A) -> Result<R, DropboxError>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let body = serde_json::to_vec(arg).map_err(|e| DropboxError::InvalidArgument {
            route,
            message: e.to_string(),
        })?;
        let out = self
            .execute(route, Host::Api, Payload::Rpc(body.into()), true)
            .await?;
        decode(route, &out)
    }

    /// Calls an upload-style route on the content host: argument in `Dropbox-API-Arg`
    /// (header-safe JSON), `body` as raw bytes, JSON result. `body` is made of cheap-to-clone
    /// buffers so that retries resend it.
    pub async fn call_upload<A, R>(
        &self,
        route: &'static str,
        arg: &A,
        body: Chunk,
    ) -> Result<R, DropboxError>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let arg = to_header_json(arg).map_err(|e| DropboxError::InvalidArgument {
            route,
            message: e.to_string(),
        })?;
        let out = self
            .execute(route, Host::Content, Payload::Upload { arg, body }, true)
            .await?;
        decode(route, &out)
    }

    /// Retries transient failures of one logical call with exponential backoff + jitter.
    async fn execute(
        &self,
        route: &'static str,
        host: Host,
        payload: Payload,
        with_path_root: bool,
    ) -> Result<Bytes, DropboxError> {
        let policy = self.inner.retry;
        let payload = &payload;
        (|| self.attempt(route, host, payload, with_path_root))
            .retry(policy.backoff())
            .when(|e: &DropboxError| policy.should_retry(e.is_retryable(), e.retry_after()))
            .notify(|e: &DropboxError, delay: Duration| {
                tracing::warn!(
                    provider = PROVIDER,
                    route,
                    error = %e,
                    delay_ms = delay.as_millis() as u64,
                    "transient dropbox failure; retrying"
                );
            })
            .await
    }

    /// One HTTP exchange (plus, at most once, a token refresh and a repeat on
    /// `expired_access_token`).
    async fn attempt(
        &self,
        route: &'static str,
        host: Host,
        payload: &Payload,
        with_path_root: bool,
    ) -> Result<Bytes, DropboxError> {
        let inner = &self.inner;
        let path_root = if with_path_root {
            self.path_root_header().await?
        } else {
            None
        };
        let base = match host {
            Host::Api => &inner.api_url,
            Host::Content => &inner.content_url,
        };
        let url = base
            .join(&format!("2/{route}"))
            .map_err(|e| DropboxError::InvalidArgument {
                route,
                message: e.to_string(),
            })?;
        let mut refreshed = false;
        loop {
            inner.pacer.ready().await;
            let token = match inner.tokens.get(&self.http, inner.timeout).await {
                Ok(t) => t,
                Err(e) => {
                    // A rate-limited token endpoint holds back every caller, as any 429 does.
                    if let Some(d) = e.retry_after() {
                        inner.pacer.pause_for(d);
                    }
                    return Err(e);
                }
            };
            let mut req = self
                .http
                .post(url.clone())
                .timeout(inner.timeout)
                .bearer_auth(token.expose())
                .header(USER_AGENT, UA);
            if let Some(pr) = &path_root {
                req = req.header("Dropbox-API-Path-Root", pr.as_str());
            }
            req = match payload {
                Payload::Rpc(body) => req
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone()),
                Payload::Upload { arg, body } => req
                    .header("Dropbox-API-Arg", arg.as_str())
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, body.len())
                    .body(body.body()),
            };
            let _slot = match payload {
                Payload::Upload { body, .. } if !body.is_empty() => {
                    inner.upload_slots.acquire().await.ok()
                }
                _ => None,
            };
            let started = std::time::Instant::now();
            let result = self.exchange(route, req, &token).await;
            let outcome = match &result {
                Ok(_) => "ok",
                Err(e) => e.outcome(),
            };
            record(PROVIDER, route, outcome, started.elapsed());
            match result {
                Err(DropboxError::Auth { tag, .. })
                    if tag == "expired_access_token" && !refreshed =>
                {
                    refreshed = true;
                    if !inner
                        .tokens
                        .invalidate(&token, &self.http, inner.timeout)
                        .await?
                    {
                        return Err(DropboxError::Auth { route, tag });
                    }
                }
                Err(e) => {
                    if let Some(d) = e.retry_after() {
                        inner.pacer.pause_for(d);
                    }
                    if e.has_tag("invalid_root") {
                        // The user's root moved (e.g. joined a team): look it up again on retry.
                        *inner.root_namespace.lock().await = None;
                    }
                    return Err(e);
                }
                Ok(b) => return Ok(b),
            }
        }
    }

    async fn exchange(
        &self,
        route: &'static str,
        req: reqwest::RequestBuilder,
        token: &Secret,
    ) -> Result<Bytes, DropboxError> {
        let resp = req.send().await.map_err(|e| transport_error(route, &e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(|e| transport_error(route, &e))?;
        if status.is_success() {
            return Ok(body);
        }
        let request_id = headers
            .get("x-dropbox-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        let mut secrets: Vec<&str> = self.inner.secrets.iter().map(String::as_str).collect();
        secrets.push(token.expose());
        let err = decode_error(route, status, &headers, &body, &secrets);
        tracing::debug!(provider = PROVIDER, route, request_id, error = %err, "dropbox call failed");
        Err(err)
    }

    /// `Dropbox-API-Path-Root` value for `DROPBOX_PATH_ROOT=root`: the root namespace id from
    /// `users/get_current_account`, fetched once and again after a 422 `invalid_root`.
    async fn path_root_header(&self) -> Result<Option<String>, DropboxError> {
        if self.inner.path_root == PathRoot::Home {
            return Ok(None);
        }
        // Held across the fetch so that concurrent first callers share one lookup.
        let mut cached = self.inner.root_namespace.lock().await;
        let ns = match cached.as_ref() {
            Some(ns) => ns.clone(),
            None => {
                // Boxed: `execute` → `attempt` → here is recursive in type (never at run time,
                // since this call asks for no path root).
                let out = Box::pin(self.execute(
                    "users/get_current_account",
                    Host::Api,
                    Payload::Rpc(Bytes::from_static(b"null")),
                    false,
                ))
                .await?;
                let acct: wire::FullAccount = decode("users/get_current_account", &out)?;
                let ns = acct.root_info.root_namespace_id;
                *cached = Some(ns.clone());
                ns
            }
        };
        drop(cached);
        let header = PathRootHeader::Root { root: ns };
        to_header_json(&header)
            .map(Some)
            .map_err(|e| DropboxError::InvalidArgument {
                route: "users/get_current_account",
                message: e.to_string(),
            })
    }
}

fn decode<R: DeserializeOwned>(route: &'static str, body: &[u8]) -> Result<R, DropboxError> {
    // Void results come back as `null` or, from some servers, an empty body.
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"null"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| DropboxError::Decode {
        route,
        message: e.to_string(),
    })
}

/// Decodes a non-2xx answer per status.
pub(super) fn decode_error(
    route: &'static str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    secrets: &[&str],
) -> DropboxError {
    let is_json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json"))
        || body.first() == Some(&b'{');
    let json: Option<ApiErrorBody> = if is_json {
        serde_json::from_slice(body).ok()
    } else {
        None
    };
    let text = || redact(&String::from_utf8_lossy(body), secrets);
    let tag = |j: &Option<ApiErrorBody>| {
        j.as_ref()
            .and_then(|b| tag_path(&b.error))
            .unwrap_or_else(|| "unknown".to_string())
    };
    match status.as_u16() {
        400 => DropboxError::BadRequest {
            route,
            message: text(),
        },
        401 => DropboxError::Auth {
            route,
            tag: tag(&json),
        },
        403 => DropboxError::Access {
            route,
            tag: tag(&json),
        },
        409 => match json {
            Some(b) => DropboxError::Route {
                route,
                tag: tag_path(&b.error).unwrap_or_else(|| "unknown".into()),
                error: b.error,
                user_message: b.user_message.map(|m| redact(&m.text, secrets)),
            },
            None => DropboxError::Route {
                route,
                tag: "unknown".into(),
                error: serde_json::Value::Null,
                user_message: Some(text()),
            },
        },
        422 => DropboxError::PathRoot {
            route,
            tag: tag(&json),
            error: json.map(|b| b.error).unwrap_or_default(),
        },
        429 => {
            let rl: Option<RateLimitError> = json
                .as_ref()
                .and_then(|b| serde_json::from_value(b.error.clone()).ok());
            let reason = match rl.as_ref().and_then(|r| r.reason.clone()) {
                Some(RateLimitReason::TooManyWriteOperations) => "too_many_write_operations",
                _ => "too_many_requests",
            };
            // Header first; then the body field; then the spec default (1 s) for JSON bodies,
            // or the Python SDK's 5 s for plain-text ones.
            let retry_after = retry_after_header(headers)
                .or_else(|| {
                    rl.as_ref()
                        .and_then(|r| r.retry_after)
                        .map(Duration::from_secs)
                })
                .unwrap_or(if json.is_some() {
                    Duration::from_secs(1)
                } else {
                    Duration::from_secs(5)
                });
            DropboxError::RateLimited {
                route,
                reason: reason.into(),
                retry_after,
            }
        }
        s @ 500..=599 => DropboxError::Server { route, status: s },
        s => DropboxError::Status {
            route,
            status: s,
            message: text(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderValue, RETRY_AFTER};

    fn hdrs(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_str(ct).expect("hv"));
        h
    }

    #[test]
    fn decodes_each_status() {
        let e = decode_error(
            "files/upload",
            StatusCode::BAD_REQUEST,
            &hdrs("text/plain"),
            b"Error in call to API function: could not decode input as JSON",
            &[],
        );
        assert!(matches!(e, DropboxError::BadRequest { .. }));
        assert!(!e.is_retryable());

        let e = decode_error(
            "r",
            StatusCode::UNAUTHORIZED,
            &hdrs("application/json"),
            br#"{"error_summary":"expired_access_token/..","error":{".tag":"expired_access_token"}}"#,
            &[],
        );
        assert_eq!(e.tag(), Some("expired_access_token"));

        let e = decode_error(
            "files/create_folder_v2",
            StatusCode::CONFLICT,
            &hdrs("application/json"),
            br#"{"error_summary":"path/conflict/folder/...","error":{".tag":"path","path":{".tag":"conflict","conflict":{".tag":"folder"}}}}"#,
            &[],
        );
        assert_eq!(e.tag(), Some("path/conflict/folder"));
        let typed: Option<wire::CreateFolderError> = e.route_error();
        assert!(typed.is_some());
        let shown = e.to_string();
        assert!(
            shown.contains("dropbox")
                && shown.contains("409")
                && shown.contains("path/conflict/folder"),
            "{shown}"
        );

        let mut h = hdrs("text/plain");
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        let e = decode_error("r", StatusCode::TOO_MANY_REQUESTS, &h, b"slow down", &[]);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert!(e.is_retryable());

        let e = decode_error(
            "r",
            StatusCode::TOO_MANY_REQUESTS,
            &hdrs("application/json"),
            br#"{"error_summary":"too_many_write_operations/..","error":{"reason":{".tag":"too_many_write_operations"},"retry_after":3}}"#,
            &[],
        );
        assert_eq!(e.tag(), Some("too_many_write_operations"));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));

        let e = decode_error(
            "r",
            StatusCode::BAD_GATEWAY,
            &hdrs("text/html"),
            b"<html>",
            &[],
        );
        assert!(e.is_retryable());
        assert_eq!(e.status(), Some(502));
    }

    #[test]
    fn error_text_is_redacted() {
        let e = decode_error(
            "r",
            StatusCode::BAD_REQUEST,
            &hdrs("text/plain"),
            b"bad token sl.SECRETTOKEN",
            &["sl.SECRETTOKEN"],
        );
        assert!(!e.to_string().contains("SECRETTOKEN"));
    }
}
