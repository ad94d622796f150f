//! Liveness, readiness and Prometheus metrics.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use super::error::ApiError;
use super::AppState;

pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Ready when the store can serve requests: the database answers and, where the store has a
/// single writer (SQLite), that writer can write.
pub async fn readyz(State(st): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    match st.store.ping().await {
        Ok(()) => Ok(Json(json!({ "status": "ready" }))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "the database cannot serve requests; retry later",
            ))
        }
    }
}

pub async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    // Queue depth is read at scrape time so the gauge is right whichever replica answers; the
    // count leaves succeeded jobs out and stays cheap however many the table keeps.
    if let Ok(depth) = st.store.queue_gauges().await {
        for (state, n) in depth {
            metrics::gauge!("bridge_queue_depth", "state" => state.as_str()).set(n as f64);
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.metrics.render(),
    )
}
