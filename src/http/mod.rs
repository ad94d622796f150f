//! HTTP surface: webhook receivers, the operator API, health and metrics.
//! Handlers build jobs from the typed kinds of [`crate::jobs::kinds`] and enqueue them through
//! the store. They never call the providers; manual triggers ask [`crate::jobs::check`] whether
//! what they name exists.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, Request};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::config::Config;
use crate::jobs::JobContext;
use crate::queue::Wake;
use crate::store::DynStore;
use crate::telemetry::DbHealth;

pub mod api;
pub mod error;
pub mod health;
pub mod page;
pub mod webhooks;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: DynStore,
    pub wake: Wake,
    /// Whether the database answers (`/readyz` and the periodic probe keep it).
    pub db: DbHealth,
    /// The service's job context: manual triggers ask it whether what they name exists.
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
            "/webhooks/docspace",
            post(webhooks::docspace).head(webhooks::docspace_head),
            false,
        ),
        (
            &["GET", "POST"],
            "/webhooks/dropbox",
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
    let private = private.route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        api::require_token,
    ));
    let request_id = HeaderName::from_static("x-request-id");
    public
        .merge(private)
        .fallback(|| async { error::ApiError::not_found("no such route") })
        .with_state(state)
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(CatchPanicLayer::new())
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                // `event_id` is filled in by the webhook handlers once they know it.
                tracing::info_span!("request", request_id = %id, event_id = tracing::field::Empty, method = %req.method(), path = %req.uri().path())
            })
            .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// The router of the metrics listener (`BRIDGE_METRICS_LISTEN`): `GET /metrics` only.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route(METRICS_PATH, get(health::metrics))
        .fallback(|| async { error::ApiError::not_found("no such route") })
        .with_state(state)
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(CatchPanicLayer::new())
}
