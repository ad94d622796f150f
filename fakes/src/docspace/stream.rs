//! File downloads: `filehandler.ashx` on the portal origin (`action=stream` with `stream_auth`
//! and/or the API key, `action=download` with the API key) and the same path on the foreign
//! origin, which behaves like a presigned storage URL: it only honours `stream_auth`, records any
//! `Authorization` header it receives and refuses such requests with `400` (as S3 does when a
//! presigned URL also carries an Authorization header).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::StreamExt;

use super::api::{too_many, Params};
use super::{content, routes, Inner, TokenCheck};

pub fn foreign_router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/filehandler.ashx", get(foreign_handler))
        .fallback(|| async { (StatusCode::NOT_FOUND, "NoSuchKey") })
        .with_state(inner)
}

fn text(status: StatusCode, msg: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        msg,
    )
        .into_response()
}

fn auth_header(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("<non-ascii>"))
}

/// The handler's `403` body when a `stream_auth` link does not check out.
const SECURITY_MESSAGE: &str = "You don't have enough permission to perform the operation";

/// A bare status, as the handler sets it without writing a body (404, and 403 when the
/// authenticated user may not download the file).
fn bare(status: StatusCode) -> Response {
    status.into_response()
}

/// (file id, version) named by the query; version defaults to the current one.
fn target(inner: &Inner, params: &Params) -> Result<(i64, u32, u64, String), Response> {
    let file_id = params
        .get("fileid")
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or_else(|| text(StatusCode::BAD_REQUEST, "fileid is required"))?;
    let state = inner.read();
    let file = state
        .files
        .get(&file_id)
        .ok_or_else(|| bare(StatusCode::NOT_FOUND))?;
    let version = match params.get("version").filter(|v| !v.is_empty()) {
        None => file.version(),
        Some(v) => v
            .parse::<u32>()
            .map_err(|_| text(StatusCode::BAD_REQUEST, "version is invalid"))?,
    };
    let size = file
        .version_info(version)
        .map(|v| v.size)
        .ok_or_else(|| bare(StatusCode::NOT_FOUND))?;
    Ok((file_id, version, size, file.title.clone()))
}

pub async fn portal_handler(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let params = Params::parse(q);
    let auth = auth_header(&headers);
    if auth.is_some() {
        inner
            .stats
            .portal_stream_auth_headers
            .fetch_add(1, Ordering::SeqCst);
    }
    let has_key = inner.is_api_key(auth);
    if auth.is_some() && !has_key {
        return text(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let (file_id, version, size, title) = match target(&inner, &params) {
        Ok(t) => t,
        Err(resp) => return resp,
    };
    let knobs = inner.knobs();
    match params.get("action").unwrap_or_default() {
        "stream" => {
            // With valid auth the handler skips stream_auth and checks download rights instead.
            if !has_key {
                if knobs.require_api_key_on_stream {
                    return text(StatusCode::FORBIDDEN, SECURITY_MESSAGE);
                }
                let token = params.get("stream_auth").unwrap_or_default();
                match inner.check_stream_token(file_id, version, token) {
                    TokenCheck::Valid => {}
                    TokenCheck::Invalid | TokenCheck::Expired => {
                        return text(StatusCode::FORBIDDEN, SECURITY_MESSAGE)
                    }
                }
            }
        }
        "download" => {
            if !has_key {
                return text(StatusCode::UNAUTHORIZED, "Unauthorized");
            }
        }
        _ => return text(StatusCode::BAD_REQUEST, "Unknown action"),
    }
    if has_key && !may_download(&inner, &knobs, file_id) {
        return bare(StatusCode::FORBIDDEN);
    }
    serve(&inner, file_id, version, size, &title, &headers)
}

/// `CanDownloadAsync` for the API key's user: refused for files named by the
/// `download_denied_file_ids` knob and for files below an unreadable folder.
fn may_download(inner: &Inner, knobs: &super::Knobs, file_id: i64) -> bool {
    if knobs.download_denied_file_ids.contains(&file_id) {
        return false;
    }
    let state = inner.read();
    state
        .files
        .get(&file_id)
        .is_none_or(|f| !state.under_any(f.folder_id, &knobs.unreadable_folder_ids))
}

async fn foreign_handler(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    inner.stats.count(routes::FOREIGN_STREAM);
    inner.stats.foreign_requests.fetch_add(1, Ordering::SeqCst);
    if auth_header(&headers).is_some() {
        inner
            .stats
            .foreign_auth_headers
            .fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "application/xml")],
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InvalidArgument</Code>\
             <Message>Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, \
             Signature query string parameter or the Authorization header should be specified\
             </Message></Error>",
        )
            .into_response();
    }
    let params = Params::parse(q);
    let (file_id, version, size, title) = match target(&inner, &params) {
        Ok(t) => t,
        Err(resp) => return resp,
    };
    let token = params.get("stream_auth").unwrap_or_default();
    match inner.check_stream_token(file_id, version, token) {
        TokenCheck::Valid => {}
        TokenCheck::Invalid => return text(StatusCode::FORBIDDEN, "AccessDenied"),
        TokenCheck::Expired => return text(StatusCode::FORBIDDEN, "Request has expired"),
    }
    serve(&inner, file_id, version, size, &title, &headers)
}

/// Parses a single `bytes=` range against `size`. `Ok(None)` = whole file; `Err` = unsatisfiable.
fn parse_range(value: &str, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None); // unknown unit: ignore, serve everything (RFC 9110)
    };
    if spec.contains(',') {
        return Ok(None); // multipart ranges not supported: serve everything
    }
    let (start, end) = spec.split_once('-').ok_or(())?;
    let (start, end) = (start.trim(), end.trim());
    let range = if start.is_empty() {
        let n: u64 = end.parse().map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        (size.saturating_sub(n), size.saturating_sub(1))
    } else {
        let s: u64 = start.parse().map_err(|_| ())?;
        let e: u64 = if end.is_empty() {
            size.saturating_sub(1)
        } else {
            end.parse::<u64>()
                .map_err(|_| ())?
                .min(size.saturating_sub(1))
        };
        (s, e)
    };
    if size == 0 || range.0 >= size || range.0 > range.1 {
        return Err(());
    }
    Ok(Some(range))
}

fn serve(
    inner: &Arc<Inner>,
    file_id: i64,
    version: u32,
    size: u64,
    title: &str,
    headers: &HeaderMap,
) -> Response {
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(v) => match parse_range(v, size) {
            Ok(r) => r,
            Err(()) => {
                let mut resp = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    resp.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return resp;
            }
        },
    };
    let cut = {
        let Ok(mut knobs) = inner.knobs.lock() else {
            return too_many(inner, true);
        };
        if knobs.cut_always {
            knobs.cut_after_bytes
        } else {
            knobs.cut_after_bytes.take()
        }
    };
    let (status, start, end) = match range {
        Some((s, e)) => (StatusCode::PARTIAL_CONTENT, s, e + 1),
        None => (StatusCode::OK, 0, size),
    };
    let stats = Arc::clone(&inner.stats);
    let body = content::stream(file_id, version, start..end, cut).map(move |chunk| {
        if let Ok(c) = &chunk {
            stats
                .bytes_streamed
                .fetch_add(c.len() as u64, Ordering::Relaxed);
        }
        chunk
    });
    let mut resp = Response::new(Body::from_stream(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    let encoded: String = url::form_urlencoded::byte_serialize(title.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename*=UTF-8''{encoded}")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{size}", end - 1)) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok(Some((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Ok(Some((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Ok(Some((90, 99))));
        assert_eq!(parse_range("bytes=50-500", 100), Ok(Some((50, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Err(()));
        assert_eq!(parse_range("bytes=9-3", 100), Err(()));
        assert_eq!(parse_range("bytes=x-3", 100), Err(()));
        assert_eq!(parse_range("items=0-3", 100), Ok(None));
    }
}
