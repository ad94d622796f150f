//! The DocSpace response envelope: every API answer, success or error, is wrapped,
//! and the HTTP status mirrors `statusCode`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// `{"response": .., "count": N, "links": [..], "status": 0, "statusCode": 200}`; `count` is the
/// array length for arrays, 1 for anything else (0 for null).
pub fn ok(response: Value, href: &str, method: &str) -> Response {
    let count = match &response {
        Value::Array(items) => items.len(),
        Value::Null => 0,
        _ => 1,
    };
    envelope(response, count, None, href, method)
}

/// A page of a list endpoint that also reports `total` in the envelope (e.g. `GET group`).
pub fn ok_paged(items: Vec<Value>, total: usize, href: &str) -> Response {
    let count = items.len();
    envelope(Value::Array(items), count, Some(total), href, "GET")
}

fn envelope(
    response: Value,
    count: usize,
    total: Option<usize>,
    href: &str,
    method: &str,
) -> Response {
    let mut body = json!({
        "response": response,
        "count": count,
        "links": [{"href": href, "action": method}],
        "status": 0,
        "statusCode": 200,
    });
    if let Some(total) = total {
        body["total"] = json!(total);
    }
    json_response(StatusCode::OK, &body)
}

/// `{"error": {"message","type","stack","hresult"}, "status": 1, "statusCode": N}` with HTTP N.
pub fn error(status: StatusCode, message: &str, kind: &str) -> Response {
    let body = json!({
        "error": {
            "message": message,
            "type": kind,
            "stack": Value::Null,
            "hresult": -2146233088,
        },
        "status": 1,
        "statusCode": status.as_u16(),
    });
    json_response(status, &body)
}

/// A model-validation failure (`[Range]` on `count`, a query value that does not bind): ASP.NET's
/// `ValidationProblemDetails` wrapped as the *response* of the success envelope, with `status` 1
/// and `statusCode` 400 (DocSpace's `SuccessApiResponse` does this), HTTP 400. `errors` maps the
/// query parameter to its messages.
pub fn validation(errors: &[(&str, String)], href: &str, method: &str) -> Response {
    let mut map = serde_json::Map::new();
    for (key, message) in errors {
        map.insert((*key).to_string(), json!([message]));
    }
    let trace_id = format!(
        "00-{}-{}-00",
        hex::encode(rand::random::<[u8; 16]>()),
        hex::encode(rand::random::<[u8; 8]>())
    );
    let body = json!({
        "response": {
            "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
            "title": "One or more validation errors occurred.",
            "status": 400,
            "errors": map,
            "traceId": trace_id,
        },
        "count": 1,
        "links": [{"href": href, "action": method}],
        "status": 1,
        "statusCode": 400,
    });
    json_response(StatusCode::BAD_REQUEST, &body)
}

/// `403` for a folder or file the caller may not read: DocSpace throws an
/// `InvalidOperationException`, which its error handler turns into a 403 envelope.
pub fn forbidden(message: &str) -> Response {
    error(
        StatusCode::FORBIDDEN,
        message,
        "System.InvalidOperationException",
    )
}

pub fn not_found(message: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        message,
        "System.IO.FileNotFoundException",
    )
}

pub fn bad_request(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, message, "System.ArgumentException")
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        )],
        bytes,
    )
        .into_response()
}
