//! Every way the fake answers "no", rendered exactly as Dropbox does:
//! 400 plain text, 401 `AuthError` JSON, 409 route-error envelope, 422 `PathRootError`,
//! 429 `RateLimitError` (JSON or plain text) with `Retry-After`, 5xx plain text, and the
//! OAuth token endpoint's own `{"error","error_description"}` body.

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// Why a rate-limited call was refused (`auth.RateLimitReason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitReason {
    /// Plain rate limit.
    TooManyRequests,
    /// Namespace lock contention.
    TooManyWriteOperations,
}

impl RateLimitReason {
    /// The wire tag.
    pub fn tag(self) -> &'static str {
        match self {
            Self::TooManyRequests => "too_many_requests",
            Self::TooManyWriteOperations => "too_many_write_operations",
        }
    }
}

/// A refusal, turned into the matching Dropbox response by `IntoResponse`.
#[derive(Debug, Clone)]
pub enum ApiError {
    /// 400 `text/plain`: malformed input (bad JSON, pattern mismatch, bad headers).
    BadRequest(String),
    /// 401 `auth.AuthError` with the given Void tag.
    Auth(&'static str),
    /// 401 `auth.AuthError` `missing_scope`: the token was not granted this scope.
    MissingScope(&'static str),
    /// 409 route error: `{"error_summary","error"}`.
    Route {
        /// The route error union value.
        error: Value,
        /// Tag chain for `error_summary`, without the trailing dots.
        summary: String,
    },
    /// 422 `common.PathRootError`.
    PathRoot(Value),
    /// 429.
    RateLimited {
        /// Reason tag in the JSON body.
        reason: RateLimitReason,
        /// Seconds, in the body and the `Retry-After` header.
        retry_after: u64,
        /// Send `text/plain` instead of JSON (Dropbox does both).
        plain_text: bool,
    },
    /// 5xx with a plain-text body.
    Server(u16),
    /// `/oauth2/token` failure: 400 `{"error","error_description"}`.
    OAuth {
        /// OAuth error code, e.g. `invalid_grant`.
        error: &'static str,
        /// Human readable description.
        description: String,
    },
}

static DOTS: AtomicUsize = AtomicUsize::new(0);

/// Dropbox appends a varying run of dots to `error_summary` precisely so nobody parses it.
fn dots() -> &'static str {
    const RUNS: [&str; 3] = ["..", "...", "...."];
    RUNS[DOTS.fetch_add(1, Ordering::Relaxed) % RUNS.len()]
}

/// Follows `{".tag":"a","a":{".tag":"b",...}}` nesting to build `a/b`.
fn tag_chain(v: &Value) -> String {
    let mut parts = Vec::new();
    let mut cur = v;
    while let Some(tag) = cur.get(".tag").and_then(Value::as_str) {
        parts.push(tag.to_string());
        match cur.get(tag) {
            Some(next) if next.get(".tag").is_some() => cur = next,
            _ => break,
        }
    }
    parts.join("/")
}

impl ApiError {
    /// A 409 route error whose summary follows the union nesting.
    pub fn route(error: Value) -> Self {
        let summary = tag_chain(&error);
        Self::Route { error, summary }
    }

    /// A 409 route error with an explicit summary (for inlined structs that hide the chain).
    pub fn route_with_summary(error: Value, summary: impl Into<String>) -> Self {
        Self::Route {
            error,
            summary: summary.into(),
        }
    }

    /// A 409 whose error is just a Void tag.
    pub fn tag(tag: &str) -> Self {
        Self::route(json!({ ".tag": tag }))
    }

    /// 400 with the "Error in call to API function" prefix Dropbox uses.
    pub fn bad_input(route: &str, msg: impl std::fmt::Display) -> Self {
        Self::BadRequest(format!("Error in call to API function \"{route}\": {msg}"))
    }
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

fn json_response(status: StatusCode, body: Value) -> Response {
    // Dropbox SDKs compare Content-Type to exactly "application/json".
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::BadRequest(msg) => text(StatusCode::BAD_REQUEST, msg),
            ApiError::Auth(tag) => json_response(
                StatusCode::UNAUTHORIZED,
                json!({"error_summary": format!("{tag}/{}", dots()), "error": {".tag": tag}}),
            ),
            ApiError::MissingScope(scope) => json_response(
                StatusCode::UNAUTHORIZED,
                json!({
                    "error_summary": format!("missing_scope/{}", dots()),
                    "error": {".tag": "missing_scope", "required_scope": scope},
                }),
            ),
            ApiError::Route { error, summary } => json_response(
                StatusCode::CONFLICT,
                json!({"error_summary": format!("{summary}/{}", dots()), "error": error}),
            ),
            ApiError::PathRoot(error) => json_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"error_summary": format!("{}/{}", tag_chain(&error), dots()), "error": error}),
            ),
            ApiError::RateLimited {
                reason,
                retry_after,
                plain_text,
            } => {
                let mut resp = if plain_text {
                    text(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests".into())
                } else {
                    json_response(
                        StatusCode::TOO_MANY_REQUESTS,
                        json!({
                            "error_summary": format!("{}/{}", reason.tag(), dots()),
                            "error": {"reason": {".tag": reason.tag()}, "retry_after": retry_after},
                        }),
                    )
                };
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                resp
            }
            ApiError::Server(code) => {
                let status =
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                text(
                    status,
                    status
                        .canonical_reason()
                        .unwrap_or("Internal Server Error")
                        .to_string(),
                )
            }
            ApiError::OAuth { error, description } => json_response(
                StatusCode::BAD_REQUEST,
                json!({"error": error, "error_description": description}),
            ),
        }
    }
}

/// Result of a route handler.
pub type ApiResult<T = Value> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_follows_nested_unions() {
        let e = json!({".tag":"path","path":{".tag":"conflict","conflict":{".tag":"folder"}}});
        assert_eq!(tag_chain(&e), "path/conflict/folder");
        let e = json!({".tag":"incorrect_offset","correct_offset":5});
        assert_eq!(tag_chain(&e), "incorrect_offset");
    }
}
