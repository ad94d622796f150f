//! OAuth: `POST /oauth2/token` (refresh-token grant, client credentials in the form or HTTP
//! Basic) and the bearer check every `/2/` route runs first.
//!
//! Failure bodies: a wrong or unknown refresh token is 400 `invalid_grant` (what the Python SDK
//! turns into an invalid-token `AuthError`); wrong client credentials are 400 `invalid_client`
//! ("Invalid client_id or client_secret"), which is what Dropbox answers in practice;
//! UNCONFIRMED by a primary source.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::error::ApiError;
use super::server::Shared;
use super::state::Token;
use std::sync::Arc;

/// Decodes standard base64 (with or without padding); `None` on any invalid input.
pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut buf = 0u32;
    let mut bits = 0u32;
    for c in s.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buf = (buf << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn oauth_error(error: &'static str, description: &str) -> Response {
    ApiError::OAuth {
        error,
        description: description.to_string(),
    }
    .into_response()
}

/// `POST /oauth2/token`.
pub(crate) async fn token_endpoint(
    AxState(shared): AxState<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.count("oauth2/token");
    if let Some(err) = shared.scripted_fault("oauth2/token") {
        return err.into_response();
    }
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(&body).into_owned().collect();
    let mut client_id = form.get("client_id").cloned();
    let mut client_secret = form.get("client_secret").cloned();
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        let Some(decoded) = base64_decode(basic.trim()).and_then(|b| String::from_utf8(b).ok())
        else {
            return oauth_error("invalid_client", "Invalid client_id or client_secret");
        };
        if let Some((id, secret)) = decoded.split_once(':') {
            client_id = Some(id.to_string());
            client_secret = Some(secret.to_string());
        }
    }
    let grant_type = form.get("grant_type").map(String::as_str);
    let mut st = shared.state();
    match grant_type {
        Some("refresh_token") => {}
        Some(_) => return oauth_error("unsupported_grant_type", "unsupported grant_type"),
        None => return oauth_error("invalid_request", "No grant_type"),
    }
    if client_id.as_deref() != Some(st.app_key.as_str())
        || client_secret.as_deref() != Some(st.app_secret.as_str())
    {
        return oauth_error("invalid_client", "Invalid client_id or client_secret");
    }
    match form.get("refresh_token") {
        None => return oauth_error("invalid_request", "No refresh_token"),
        Some(rt) if *rt != st.refresh_token => {
            return oauth_error("invalid_grant", "refresh token is invalid or revoked")
        }
        Some(_) => {}
    }
    let knobs = shared.knobs();
    let lifetime = knobs.token_lifetime_secs;
    let scope = match &knobs.granted_scopes {
        Some(g) => g.join(" "),
        None => super::server::all_scopes().join(" "),
    };
    let n = st.next();
    let token = format!("sl.fake-{n}-{}", &st.new_opaque("t")[1..]);
    st.tokens.insert(
        token.clone(),
        Token {
            expires_at: Some(Instant::now() + Duration::from_secs(lifetime)),
            expired: false,
        },
    );
    drop(st);
    shared.count_ok("oauth2/token");
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"access_token": token, "token_type": "bearer", "expires_in": lifetime, "scope": scope})
            .to_string(),
    )
        .into_response()
}

/// Checks `Authorization: Bearer <token>` for a `/2/` route.
pub(crate) fn check_bearer(
    shared: &Shared,
    route: &str,
    headers: &HeaderMap,
) -> Result<String, ApiError> {
    let Some(raw) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::bad_input(
            route,
            "Must provide HTTP header \"Authorization\" or URL parameter \"authorization\".",
        ));
    };
    let value = raw.to_str().unwrap_or("");
    let Some(token) = value
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
    else {
        return Err(ApiError::bad_input(
            route,
            format!("Invalid authorization value in HTTP header \"Authorization\": \"{value}\".  Expecting \"Bearer <oauth2-access-token>\"."),
        ));
    };
    let st = shared.state();
    match st.tokens.get(token) {
        None => Err(ApiError::Auth("invalid_access_token")),
        Some(t) if t.expired || t.expires_at.is_some_and(|e| Instant::now() >= e) => {
            Err(ApiError::Auth("expired_access_token"))
        }
        Some(_) => Ok(token.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::base64_decode;

    #[test]
    fn decodes_basic_credentials() {
        assert_eq!(
            base64_decode("ZmFrZS1hcHAta2V5OmZha2UtYXBwLXNlY3JldA==").as_deref(),
            Some(&b"fake-app-key:fake-app-secret"[..])
        );
        assert_eq!(base64_decode("Zg").as_deref(), Some(&b"f"[..]));
        assert!(base64_decode("a*b").is_none());
    }
}
