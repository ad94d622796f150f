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
/// single writer (SQLite), that writer can write. The answer is also what `bridge_db_up` shows.
pub async fn readyz(State(st): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    match st.store.ping().await {
        Ok(()) => {
            st.db.set(true);
            Ok(Json(json!({ "status": "ready" })))
        }
        Err(e) => {
            st.db.set(false);
            tracing::warn!(error = %e, "readiness check failed");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "the database cannot serve requests; retry later",
            ))
        }
    }
}

/// Prometheus text format; queue figures are read from the database at scrape time, so they
/// are right whichever replica answers.
pub async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::render(&st.store, &st.db).await,
    )
}
