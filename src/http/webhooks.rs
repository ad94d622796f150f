//! Webhook receivers. Each handler reads the raw body (size-limited), verifies the provider's
//! signature over those exact bytes, and only then parses. Jobs are committed before the 2xx.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::AppState;
use crate::signature::{self, SignatureError};
use crate::store::{Delivery, NewJob};
use crate::triggers::{self, DocSpaceAction};

const DOCSPACE_SIGNATURE: &str = "x-docspace-signature-256";
const DROPBOX_SIGNATURE: &str = "x-dropbox-signature";

fn count(source: &'static str, outcome: &'static str) {
    metrics::counter!("bridge_webhooks_total", "source" => source, "outcome" => outcome)
        .increment(1);
}

/// Reads the whole body, refusing more than `limit` bytes with 413.
async fn read_limited(
    source: &'static str,
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        count(source, "too_large");
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("webhook bodies are limited to {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())
}

fn signature_error(source: &'static str, e: SignatureError) -> ApiError {
    count(source, "bad_signature");
    let code = match e {
        SignatureError::Missing => "missing_signature",
        SignatureError::Malformed => "malformed_signature",
        SignatureError::Mismatch => "invalid_signature",
    };
    ApiError::unauthorized(code, e.to_string())
}

fn bad_body(source: &'static str, message: impl Into<String>) -> ApiError {
    count(source, "bad_request");
    ApiError::bad_request("invalid_body", message)
}

/// A JSON value that DocSpace may send as a number or a string (ids), as a string.
fn id_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub async fn docspace_head() -> StatusCode {
    StatusCode::OK
}

pub async fn docspace(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    const SRC: &str = "docspace";
    let raw = read_limited(SRC, &headers, body, st.config.http.webhook_body_limit).await?;
    let sig = headers
        .get(DOCSPACE_SIGNATURE)
        .and_then(|v| v.to_str().ok());
    signature::verify_docspace(
        st.config.http.docspace_webhook_secret.expose().as_bytes(),
        &raw,
        sig,
    )
    .map_err(|e| signature_error(SRC, e))?;

    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad_body(SRC, "body is not JSON"))?;
    let event = v
        .get("event")
        .filter(|e| e.is_object())
        .ok_or_else(|| bad_body(SRC, "event is missing"))?;
    let trigger = event
        .get("trigger")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad_body(SRC, "event.trigger is missing"))?;
    let event_id =
        id_string(event.get("id")).ok_or_else(|| bad_body(SRC, "event.id is missing"))?;
    let created_by = event.get("createBy").and_then(Value::as_str);

    let action = triggers::docspace_action(trigger, &st.config.export.triggers);
    if action == DocSpaceAction::Ignore {
        count(SRC, "ignored");
        return Ok(
            Json(json!({ "status": "ignored", "reason": "trigger not handled" })).into_response(),
        );
    }
    if let (Some(me), Some(by)) = (st.self_user_id().as_deref(), created_by) {
        if me.eq_ignore_ascii_case(by) {
            count(SRC, "own_event");
            return Ok(Json(
                json!({ "status": "ignored", "reason": "event caused by the bridge" }),
            )
            .into_response());
        }
    }
    let payload = v
        .get("payload")
        .filter(|p| p.is_object())
        .ok_or_else(|| bad_body(SRC, "payload is missing"))?;
    let entity_id =
        id_string(payload.get("id")).ok_or_else(|| bad_body(SRC, "payload.id is missing"))?;
    let job: NewJob = match action {
        DocSpaceAction::GroupSync => triggers::group_sync(&entity_id),
        DocSpaceAction::GroupDelete => {
            triggers::group_delete(&entity_id, payload.get("name").and_then(Value::as_str))
        }
        DocSpaceAction::FileExport => {
            triggers::file_export(&entity_id, None, Some(trigger), created_by)
        }
        DocSpaceAction::Ignore => unreachable!("handled above"),
    };
    let out = st
        .store
        .ingest(Delivery {
            delivery_id: Some(format!("docspace:{event_id}")),
            jobs: vec![job],
        })
        .await?;
    if out.duplicate {
        count(SRC, "duplicate");
        return Ok(Json(json!({ "status": "duplicate" })).into_response());
    }
    st.wake.notify();
    count(SRC, "accepted");
    let ids: Vec<i64> = out.jobs.iter().map(|j| j.id).collect();
    Ok(Json(json!({ "status": "accepted", "job_ids": ids })).into_response())
}

#[derive(Deserialize)]
pub struct Challenge {
    challenge: Option<String>,
}

pub async fn dropbox_challenge(Query(q): Query<Challenge>) -> Result<Response, ApiError> {
    let challenge = q.challenge.ok_or_else(|| {
        ApiError::bad_request("missing_challenge", "query parameter challenge is required")
    })?;
    count("dropbox", "challenge");
    let mut resp = challenge.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(resp)
}

pub async fn dropbox(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    const SRC: &str = "dropbox";
    let raw = read_limited(SRC, &headers, body, st.config.http.webhook_body_limit).await?;
    let sig = headers.get(DROPBOX_SIGNATURE).and_then(|v| v.to_str().ok());
    signature::verify_dropbox(
        st.config.http.dropbox_app_secret.expose().as_bytes(),
        &raw,
        sig,
    )
    .map_err(|e| signature_error(SRC, e))?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad_body(SRC, "body is not JSON"))?;
    let accounts = v
        .pointer("/list_folder/accounts")
        .and_then(Value::as_array)
        .ok_or_else(|| bad_body(SRC, "list_folder.accounts is missing"))?;
    let mut ids: Vec<&str> = Vec::with_capacity(accounts.len());
    for a in accounts {
        let id = a
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad_body(SRC, "list_folder.accounts must hold account ids"))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let jobs: Vec<NewJob> = ids
        .iter()
        .map(|a| triggers::dropbox_changes(Some(a)))
        .collect();
    let n = jobs.len();
    let out = st
        .store
        .ingest(Delivery {
            delivery_id: None,
            jobs,
        })
        .await?;
    if n > 0 {
        st.wake.notify();
    }
    count(SRC, "accepted");
    let ids: Vec<i64> = out.jobs.iter().map(|j| j.id).collect();
    Ok(Json(json!({ "status": "accepted", "job_ids": ids })).into_response())
}
