//! HTTP surface: webhook receivers, the operator API, health and metrics. Handlers build jobs
//! from the typed kinds of [`crate::jobs::kinds`] and enqueue them through the store. They never
//! call the providers themselves: manual triggers ask [`crate::jobs::check`] whether the group or
//! file they name exists, and `POST /api/v1/files/sync` asks the job context's DocSpace client
//! whether the folders it names exist, so that a mistyped id is a 404 at once rather than a job
//! that does nothing.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, Request};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use axum::extract::State;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::config::Config;
use crate::jobs::JobContext;
use crate::queue::Wake;
use crate::store::DynStore;
use crate::telemetry::DbHealth;

pub mod api;
pub mod error;
pub mod health;
pub mod page;
pub mod server;
pub mod webhooks;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: DynStore,
    pub wake: Wake,
    /// Whether the database answers (`/readyz` and the periodic probe keep it).
    pub db: DbHealth,
    /// The service's job context: manual triggers ask it whether what they name exists
    /// (through `jobs::check`).
    pub jobs: Arc<JobContext>,
}

/// A route as (methods, path, handler, whether it needs the API bearer token).
pub type Route = (
    &'static [&'static str],
    &'static str,
    MethodRouter<AppState>,
    bool,
);

/// Every route. The router is built from this list and the OpenAPI test compares the list with
/// `openapi.yaml`, so the two cannot drift apart silently.
pub fn routes() -> Vec<Route> {
    let mut routes: Vec<Route> = vec![
        (
            &["POST", "HEAD"],
            webhooks::DOCSPACE.0,
            post(webhooks::docspace).head(webhooks::docspace_head),
            false,
        ),
        (
            &["GET", "POST"],
            webhooks::DROPBOX.0,
            get(webhooks::dropbox_challenge).post(webhooks::dropbox),
            false,
        ),
        (
            &["POST"],
            "/api/v1/groups/sync",
            post(api::sync_groups),
            true,
        ),
        (
            &["POST"],
            "/api/v1/groups/{group_id}/sync",
            post(api::sync_group),
            true,
        ),
        (
            &["POST"],
            "/api/v1/files/{file_id}/export",
            post(api::export_file),
            true,
        ),
        (&["POST"], "/api/v1/files/sync", post(api::sync_files), true),
        (&["GET"], "/api/v1/jobs", get(api::list_jobs), true),
        (&["POST"], "/api/v1/jobs/retry", post(api::retry_jobs), true),
        (&["GET"], "/api/v1/jobs/{id}", get(api::get_job), true),
        (
            &["POST"],
            "/api/v1/jobs/{id}/retry",
            post(api::retry_job),
            true,
        ),
        (
            &["GET"],
            "/api/v1/deliveries",
            get(api::list_deliveries),
            true,
        ),
        (&["GET"], "/healthz", get(health::healthz), false),
        (&["GET"], "/readyz", get(health::readyz), false),
        (&["GET"], METRICS_PATH, get(health::metrics), false),
    ];
    routes.extend(page::routes());
    routes
}

/// Path of the Prometheus endpoint; served on its own listener when `BRIDGE_METRICS_LISTEN` is
/// set, and then not on the main one.
pub const METRICS_PATH: &str = "/metrics";

/// The router of the main listener.
pub fn router(state: AppState) -> Router {
    let separate_metrics = state.config.metrics_listen.is_some();
    let in_flight = Arc::new(Semaphore::new(state.config.http.max_requests));
    let mut public = Router::new();
    let mut private = Router::new();
    for (_, path, handler, auth) in routes() {
        if separate_metrics && path == METRICS_PATH {
            continue;
        }
        if auth {
            private = private.route(path, handler);
        } else {
            public = public.route(path, handler);
        }
    }
    let private = private
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            api::require_token,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(api::BODY_LIMIT));
    let request_id = HeaderName::from_static("x-request-id");
    let request_timeout = state.config.http.request_timeout;
    public
        .merge(private)
        .fallback(|| async { error::ApiError::not_found("no such route") })
        .with_state(state)
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .layer(CatchPanicLayer::new())
        .layer(axum::middleware::from_fn(unfinished_deliveries))
        .layer(axum::middleware::from_fn(json_errors))
        .layer(axum::middleware::from_fn_with_state(in_flight, shed_load))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            // One line per request: the access line. tower-http would add an `error` line for
            // every 5xx answer (a shed request, a probe while the database is down).
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(access_log)
                .on_failure(()),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// Paths polled by probes and scrapers: their requests are logged at `debug`, not `info`, so
/// that a liveness probe every few seconds does not fill the log (nor cost every request a line).
const PROBE_PATHS: [&str; 3] = ["/healthz", "/readyz", METRICS_PATH];

/// The span every line of a request is logged in: its request id, method and path, formatted
/// once when the request starts. An id that is not UTF-8 (HTTP allows any byte from 0x80 in a
/// header) is logged with those bytes escaped (`\xff`), as the caller can still find it.
fn request_span<B>(req: &Request<B>) -> tracing::Span {
    let id = match req.headers().get("x-request-id") {
        None => std::borrow::Cow::Borrowed("-"),
        Some(v) => match v.to_str() {
            Ok(s) => std::borrow::Cow::Borrowed(s),
            Err(_) => std::borrow::Cow::Owned(v.as_bytes().escape_ascii().to_string()),
        },
    };
    let (method, path) = (req.method(), req.uri().path());
    if PROBE_PATHS.contains(&path) {
        tracing::debug_span!("request", request_id = %id, %method, %path)
    } else {
        tracing::info_span!("request", request_id = %id, %method, %path)
    }
}

/// The access log: one line per request with its status and latency, at the level of its span
/// (`info`, probes `debug`). A webhook's line also names its `event_id`, the `delivery` outcome
/// (accepted, duplicate, ignored, …) and the `job_ids` it made, so that this line alone tells
/// what a delivery made.
fn access_log<B>(resp: &axum::http::Response<B>, latency: Duration, span: &tracing::Span) {
    if span.is_disabled() {
        return;
    }
    let status = resp.status().as_u16();
    let latency_ms = latency.as_secs_f64() * 1e3;
    if span
        .metadata()
        .is_some_and(|m| *m.level() == tracing::Level::DEBUG)
    {
        tracing::debug!(status, latency_ms, "finished processing request");
    } else if let Some(d) = resp.extensions().get::<webhooks::DeliveryLog>() {
        tracing::info!(
            status,
            latency_ms,
            event_id = d.event_id.as_deref(),
            delivery = d.outcome,
            job_ids = d.job_ids.as_ref().map(tracing::field::debug),
            "finished processing request"
        );
    } else {
        tracing::info!(status, latency_ms, "finished processing request");
    }
}

/// The router of the metrics listener (`BRIDGE_METRICS_LISTEN`): `GET /metrics` only. Its errors
/// (a wrong method, an unknown path) are JSON like the main listener's.
pub fn metrics_router(state: AppState) -> Router {
    let request_timeout = state.config.http.request_timeout;
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route(METRICS_PATH, get(health::metrics))
        .fallback(|| async { error::ApiError::not_found("no such route") })
        .with_state(state)
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .layer(CatchPanicLayer::new())
        .layer(axum::middleware::from_fn(json_errors))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// A webhook delivery the handler did not finish (answered 408 because its body or its commit
/// took longer than `BRIDGE_REQUEST_TIMEOUT`, or 500 because the handler panicked) is still a
/// delivery: counted in `bridge_deliveries_total` as `timeout` or `internal`, and named as such on
/// its access line, with its event id when the handler had read it, so that a database that
/// stalls instead of failing shows up where operators watch deliveries.
///
/// A delivery whose client hung up before it was answered is dropped here mid-way, the handler
/// with it (hyper drops a request's future when its connection closes); no response means no
/// access line. [`HungUp`] gives it one, and counts it as `abandoned`: it may have been committed
/// or not, and the sender, having no answer, sends it again.
async fn unfinished_deliveries(mut req: axum::extract::Request, next: Next) -> Response {
    let Some(source) = webhooks::delivery_source(req.method(), req.uri().path()) else {
        return next.run(req).await;
    };
    let seen = webhooks::EventSeen::default();
    req.extensions_mut().insert(seen.clone());
    let mut hung_up = HungUp {
        source,
        seen: seen.clone(),
        started: std::time::Instant::now(),
        span: tracing::Span::current(),
        answered: false,
    };
    let mut resp = next.run(req).await;
    hung_up.answered = true;
    let handled = resp.extensions().get::<webhooks::DeliveryLog>().is_some();
    if let Some(log) = (!handled)
        .then(|| webhooks::DeliveryLog::unfinished(source, resp.status(), &seen))
        .flatten()
    {
        resp.extensions_mut().insert(log);
    }
    resp
}

/// The access line and count of a delivery dropped before it was answered
/// ([`unfinished_deliveries`]); silent once the delivery has its response.
struct HungUp {
    source: &'static str,
    seen: webhooks::EventSeen,
    started: std::time::Instant,
    span: tracing::Span,
    answered: bool,
}

impl Drop for HungUp {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        let log = webhooks::DeliveryLog::abandoned(self.source, &self.seen);
        tracing::info!(
            parent: &self.span,
            latency_ms = self.started.elapsed().as_secs_f64() * 1e3,
            event_id = log.event_id.as_deref(),
            delivery = log.outcome,
            "request abandoned: the client closed the connection before it was answered"
        );
    }
}

/// Handles a request if fewer than `BRIDGE_MAX_REQUESTS` are in flight; otherwise answers 503
/// with `Retry-After` at once instead of queueing. Probes and scrapes (`PROBE_PATHS`) are never
/// shed nor counted: clients holding every slot must not fail the liveness probe and get the
/// process restarted.
async fn shed_load(
    State(in_flight): State<Arc<Semaphore>>,
    req: axum::extract::Request,
    next: Next,
) -> Response {
    if PROBE_PATHS.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    match in_flight.try_acquire_owned() {
        Ok(permit) => {
            let resp = next.run(req).await;
            drop(permit);
            resp
        }
        Err(_) => {
            metrics::counter!("bridge_http_requests_shed_total").increment(1);
            let mut resp = error::ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "too many requests in flight; retry later",
            )
            .into_response();
            // A webhook turned away is still a delivery: counted, and named on its access line.
            if let Some(source) = webhooks::delivery_source(req.method(), req.uri().path()) {
                resp.extensions_mut()
                    .insert(webhooks::DeliveryLog::overloaded(source));
            }
            resp
        }
    }
}

/// Turns every error response that is not already JSON (axum's extractor rejections: malformed
/// query strings, JSON bodies and path segments, wrong methods, a caught panic) into the
/// `{"error": {"code", "message"}}` body with the same status.
async fn json_errors(req: axum::extract::Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = match axum::body::to_bytes(body, 64 * 1024).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
        Err(_) => String::new(),
    };
    let code = match status.as_u16() {
        400 => "bad_request",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "timeout",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "invalid_body",
        500 => "internal",
        503 => "unavailable",
        _ => "error",
    };
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_string()
    } else {
        text
    };
    let mut out = error::ApiError::new(status, code, message).into_response();
    *out.extensions_mut() = parts.extensions;
    for name in [axum::http::header::ALLOW, axum::http::header::RETRY_AFTER] {
        if let Some(v) = parts.headers.get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}
