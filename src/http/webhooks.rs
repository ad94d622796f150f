//! Webhook receivers. Each handler reads the raw body (size-limited), verifies the provider's
//! signature over those exact bytes, and only then parses it into the typed bodies below (the
//! fields the bridge reads; anything else is ignored). Which job an event makes is decided here,
//! built from the job kinds' types. Jobs are committed before the 2xx.

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use bytes::Bytes;
use serde::de::{DeserializeOwned, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;

use super::error::ApiError;
use super::AppState;
use crate::jobs::{DropboxChanges, FileExport, GroupDelete, GroupSync, JobKind};
use crate::signature::{self, SignatureError};
use crate::store::{Delivery, NewJob, Received};

const DOCSPACE_SIGNATURE: &str = "x-docspace-signature-256";
const DROPBOX_SIGNATURE: &str = "x-dropbox-signature";

/// What one webhook request made of its delivery: counted in `bridge_deliveries_total` (outcomes:
/// [`crate::telemetry::DELIVERY_OUTCOMES`]) and handed to the access line through the response's
/// extensions, which then names the event, the outcome and the jobs. Plain fields of that one line
/// rather than fields recorded on the request's span: the JSON log formatter serialises a span's
/// fields again at every record, three times per webhook.
#[derive(Clone, Debug, Default)]
pub struct DeliveryLog {
    source: &'static str,
    pub outcome: Option<&'static str>,
    pub event_id: Option<String>,
    pub job_ids: Option<Vec<i64>>,
}

impl DeliveryLog {
    fn new(source: &'static str) -> Self {
        Self {
            source,
            ..Self::default()
        }
    }

    fn count(&mut self, outcome: &'static str) {
        metrics::counter!("bridge_deliveries_total", "source" => self.source, "outcome" => outcome)
            .increment(1);
        self.outcome = Some(outcome);
    }

    /// The record of a delivery whose handler never finished, by the status it was answered
    /// with: 408 (the request timed out) `timeout`, 500 (a panic) `internal`; counted here. It
    /// names the event the handler had read, if it got that far.
    pub fn unfinished(source: &'static str, status: StatusCode, event: &EventSeen) -> Option<Self> {
        let outcome = match status {
            StatusCode::REQUEST_TIMEOUT => "timeout",
            StatusCode::INTERNAL_SERVER_ERROR => "internal",
            _ => return None,
        };
        Some(Self::cut_short(source, outcome, event))
    }

    /// The record of a delivery whose client closed the connection before it was answered,
    /// counted here as `abandoned`. It names the event the handler had read, if it got that far.
    pub fn abandoned(source: &'static str, event: &EventSeen) -> Self {
        Self::cut_short(source, "abandoned", event)
    }

    /// The record of a delivery turned away unread because `BRIDGE_MAX_REQUESTS` requests were
    /// in flight (answered 503), counted here as `overloaded`.
    pub fn overloaded(source: &'static str) -> Self {
        Self::cut_short(source, "overloaded", &EventSeen::default())
    }

    /// A delivery the handler did not finish, counted as `outcome`, with the event it had read.
    fn cut_short(source: &'static str, outcome: &'static str, event: &EventSeen) -> Self {
        let mut log = Self::new(source);
        log.count(outcome);
        log.event_id = event.0.get().cloned();
        log
    }

    /// The response of a handled delivery, carrying this record for the access line.
    fn attach(self, result: Result<Response, ApiError>) -> Response {
        let mut resp = result.unwrap_or_else(IntoResponse::into_response);
        resp.extensions_mut().insert(self);
        resp
    }
}

/// The event id a webhook handler has read, kept where the layer around it still finds it when
/// the handler is dropped unfinished (the request timed out) or panicked: set once, by the
/// handler, through the request's extensions.
#[derive(Clone, Debug, Default)]
pub struct EventSeen(std::sync::Arc<std::sync::OnceLock<String>>);

/// The DocSpace receiver: its path, and the source its deliveries are kept and counted under.
pub const DOCSPACE: (&str, &str) = ("/webhooks/docspace", "docspace");
/// The Dropbox receiver: its path, and the source its deliveries are kept and counted under.
pub const DROPBOX: (&str, &str) = ("/webhooks/dropbox", "dropbox");

/// The source of a request that carries a webhook delivery (`POST` to a receiver), if it is one.
pub fn delivery_source(method: &axum::http::Method, path: &str) -> Option<&'static str> {
    [DOCSPACE, DROPBOX]
        .into_iter()
        .find(|(p, _)| *method == axum::http::Method::POST && *p == path)
        .map(|(_, source)| source)
}

/// `x-request-id` of the request (set by the request-id layer before any handler runs).
fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Commits a delivery; a database that cannot take it is counted as `unavailable`.
async fn ingest(
    st: &AppState,
    log: &mut DeliveryLog,
    delivery: Delivery,
) -> Result<crate::store::DeliveryOutcome, ApiError> {
    st.store.ingest(delivery).await.map_err(|e| {
        log.count("unavailable");
        ApiError::from(e)
    })
}

/// Reads the whole body, refusing more than `limit` bytes with 413 and a body that cannot be
/// read with 400.
async fn read_limited(
    log: &mut DeliveryLog,
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let too_large = |log: &mut DeliveryLog| {
        log.count("bad_request");
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
        return Err(too_large(log));
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        // Only the limit makes a 413; a body that cannot be read (a malformed chunk, a
        // connection cut mid-body) is a bad request.
        let e = e.into_inner();
        if over_limit(e.as_ref()) {
            too_large(log)
        } else if cut_off(e.as_ref()) {
            // Nobody reads this answer: the sender is gone and sends the delivery again.
            log.count("abandoned");
            ApiError::bad_request(
                "body_incomplete",
                format!("the body could not be read: {e}"),
            )
        } else {
            bad_body(log, format!("the body could not be read: {e}"))
        }
    })
}

/// Whether reading a body failed because the client closed or lost the connection before the
/// body was complete (as opposed to sending one that is malformed).
fn cut_off(e: &(dyn std::error::Error + 'static)) -> bool {
    causes(e).any(|e| {
        e.downcast_ref::<hyper::Error>()
            .is_some_and(|h| h.is_incomplete_message() || h.is_closed() || h.is_canceled())
            || e.downcast_ref::<std::io::Error>().is_some_and(|io| {
                matches!(
                    io.kind(),
                    std::io::ErrorKind::UnexpectedEof
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::BrokenPipe
                )
            })
    })
}

/// An error and every error it was caused by.
fn causes<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |e| e.source())
}

/// Whether reading a body failed because it outgrew its limit.
fn over_limit(e: &(dyn std::error::Error + 'static)) -> bool {
    causes(e).any(|e| e.is::<http_body_util::LengthLimitError>())
}

/// The answer to a delivery whose jobs are committed: `{"status": "accepted", "job_ids": [...]}`,
/// written straight from the ids (no tree of JSON values on the way); the access line names the
/// same ids.
fn accepted(log: &mut DeliveryLog, out: crate::store::DeliveryOutcome) -> Response {
    #[derive(Serialize)]
    struct Accepted<'a> {
        status: &'static str,
        job_ids: &'a [i64],
    }
    log.count("accepted");
    let resp = Json(Accepted {
        status: "accepted",
        job_ids: &out.job_ids,
    })
    .into_response();
    log.job_ids = Some(out.job_ids);
    resp
}

fn signature_error(log: &mut DeliveryLog, e: SignatureError) -> ApiError {
    log.count("bad_signature");
    let code = match e {
        SignatureError::Missing => "missing_signature",
        SignatureError::Malformed => "malformed_signature",
        SignatureError::Mismatch => "invalid_signature",
    };
    ApiError::unauthorized(code, e.to_string())
}

fn bad_body(log: &mut DeliveryLog, message: impl Into<String>) -> ApiError {
    log.count("bad_request");
    ApiError::bad_request("invalid_body", message)
}

/// A DocSpace webhook body: `{"event": {...}, "payload": {...}, "webhook": {...}}`. Only what
/// the bridge reads; every field it reads is taken leniently (absent when of another type), so a
/// signed body is refused only for lacking what the bridge needs.
#[derive(Deserialize)]
struct DocSpaceBody {
    #[serde(default, deserialize_with = "lenient")]
    event: Option<DocSpaceEvent>,
    #[serde(default, deserialize_with = "lenient")]
    payload: Option<DocSpacePayload>,
    /// Not read, but named: DocSpace sends it, so a body with it twice is refused like one
    /// with `event` twice (serde refuses a repeated field only among the fields it names).
    #[serde(rename = "webhook", default)]
    _webhook: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct DocSpaceEvent {
    /// The delivery-log id: the same for DocSpace's retries of one event.
    #[serde(default, deserialize_with = "lenient")]
    id: Option<Id>,
    #[serde(default, deserialize_with = "lenient")]
    trigger: Option<String>,
    /// The acting user. Recorded on export jobs; who it was changes nothing.
    #[serde(rename = "createBy", default, deserialize_with = "lenient")]
    create_by: Option<String>,
}

/// The entity the event is about: a group (`id` a GUID, `name`) or a file (`id` a number).
#[derive(Deserialize)]
struct DocSpacePayload {
    #[serde(default, deserialize_with = "lenient")]
    id: Option<Id>,
    #[serde(default, deserialize_with = "lenient")]
    name: Option<String>,
}

/// An id DocSpace sends as a number or as a string.
enum Id {
    Text(String),
    Number(serde_json::Number),
}

impl Id {
    /// The id as text; `None` when blank.
    fn text(&self) -> Option<String> {
        let s = match self {
            Id::Text(s) => s.trim().to_string(),
            Id::Number(n) => n.to_string(),
        };
        (!s.is_empty()).then_some(s)
    }
}

/// A Dropbox notification body: `{"list_folder": {"accounts": [...]}, "delta": {...}}`.
#[derive(Deserialize)]
struct DropboxBody {
    #[serde(default, deserialize_with = "lenient")]
    list_folder: Option<DropboxListFolder>,
}

#[derive(Deserialize)]
struct DropboxListFolder {
    #[serde(default, deserialize_with = "lenient")]
    accounts: Option<Vec<AccountEntry>>,
}

/// An entry of `list_folder.accounts`: an account id, or something that is not one.
#[derive(Deserialize)]
#[serde(untagged)]
enum AccountEntry {
    Id(String),
    Other(serde::de::IgnoredAny),
}

/// A field as `T`, or absent when its JSON value is of a kind `T` is not read from; such a value
/// is skipped. Read in the one pass over the body, with nothing buffered: taking each field's
/// text first and parsing it again on its own cost a webhook a twentieth of its CPU. (serde's
/// own fallbacks, such as untagged enums, buffer every value they try.)
fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Lenient<'de>,
{
    d.deserialize_any(OrAbsent(std::marker::PhantomData))
}

/// What a field the bridge reads leniently is read from; every other kind of value makes it
/// absent.
trait Lenient<'de>: Sized {
    fn from_str(_: &str) -> Option<Self> {
        None
    }
    fn from_number(_: serde_json::Number) -> Option<Self> {
        None
    }
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Option<Self>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Option<Self>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

impl Lenient<'_> for String {
    fn from_str(s: &str) -> Option<Self> {
        Some(s.to_string())
    }
}

impl Lenient<'_> for Id {
    fn from_str(s: &str) -> Option<Self> {
        Some(Id::Text(s.to_string()))
    }
    fn from_number(n: serde_json::Number) -> Option<Self> {
        Some(Id::Number(n))
    }
}

/// Objects read as the struct `$t`.
macro_rules! lenient_object {
    ($($t:ty),*) => {$(
        impl<'de> Lenient<'de> for $t {
            fn from_map<A: MapAccess<'de>>(map: A) -> Result<Option<Self>, A::Error> {
                Self::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Some)
            }
        }
    )*};
}
lenient_object!(DocSpaceEvent, DocSpacePayload, DropboxListFolder);

impl<'de> Lenient<'de> for Vec<AccountEntry> {
    fn from_seq<A: SeqAccess<'de>>(seq: A) -> Result<Option<Self>, A::Error> {
        Self::deserialize(serde::de::value::SeqAccessDeserializer::new(seq)).map(Some)
    }
}

/// Reads any JSON value as a [`Lenient`] `T`, or as absent.
struct OrAbsent<T>(std::marker::PhantomData<T>);

impl<'de, T: Lenient<'de>> Visitor<'de> for OrAbsent<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E>(self, s: &str) -> Result<Option<T>, E> {
        Ok(T::from_str(s))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Option<T>, E> {
        Ok(T::from_number(n.into()))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Option<T>, E> {
        Ok(T::from_number(n.into()))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Option<T>, E> {
        Ok(serde_json::Number::from_f64(n).and_then(T::from_number))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<T>, A::Error> {
        T::from_map(map)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Option<T>, A::Error> {
        T::from_seq(seq)
    }
}

/// Parses a verified body: `400` when it is not JSON or not of the expected shape. Straight
/// from the bytes into `T`, whose fields are read leniently.
fn parse<T: DeserializeOwned>(log: &mut DeliveryLog, raw: &[u8]) -> Result<T, ApiError> {
    // A struct would also be read from a JSON array; a body must be an object.
    if raw.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        let json = serde_json::from_slice::<serde::de::IgnoredAny>(raw).is_ok();
        let message = if json {
            "body is not a JSON object"
        } else {
            "body is not JSON"
        };
        return Err(bad_body(log, message));
    }
    serde_json::from_slice(raw).map_err(|e| match e.is_data() {
        true => bad_body(log, format!("unexpected body: {e}")),
        false => bad_body(log, "body is not JSON"),
    })
}

/// The kinds of job a DocSpace event can ask for.
enum DocSpaceJob {
    GroupSync,
    GroupDelete,
    FileExport,
}

/// The job a DocSpace trigger asks for; `None` for a trigger the bridge does not act on.
fn docspace_job(trigger: &str, export_triggers: &[String]) -> Option<DocSpaceJob> {
    match trigger {
        "group.created" | "group.updated" => Some(DocSpaceJob::GroupSync),
        "group.deleted" => Some(DocSpaceJob::GroupDelete),
        t if export_triggers.iter().any(|e| e == t) => Some(DocSpaceJob::FileExport),
        _ => None,
    }
}

pub async fn docspace_head() -> StatusCode {
    StatusCode::OK
}

pub async fn docspace(
    State(st): State<AppState>,
    seen: Option<Extension<EventSeen>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut log = DeliveryLog::new(DOCSPACE.1);
    let seen = seen.map(|Extension(s)| s).unwrap_or_default();
    let result = docspace_delivery(&st, &headers, body, &mut log, &seen).await;
    log.attach(result)
}

async fn docspace_delivery(
    st: &AppState,
    headers: &HeaderMap,
    body: Body,
    log: &mut DeliveryLog,
    seen: &EventSeen,
) -> Result<Response, ApiError> {
    let raw = read_limited(log, headers, body, st.config.http.webhook_body_limit).await?;
    let sig = headers
        .get(DOCSPACE_SIGNATURE)
        .and_then(|v| v.to_str().ok());
    signature::verify_docspace(
        st.config.http.docspace_webhook_secret.expose().as_bytes(),
        &raw,
        sig,
    )
    .map_err(|e| signature_error(log, e))?;

    let body: DocSpaceBody = parse(log, &raw)?;
    let event = body
        .event
        .ok_or_else(|| bad_body(log, "event is missing"))?;
    let trigger = event
        .trigger
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad_body(log, "event.trigger is missing"))?;
    let event_id = event
        .id
        .as_ref()
        .and_then(Id::text)
        .ok_or_else(|| bad_body(log, "event.id is missing"))?;
    log.event_id = Some(event_id.clone());
    let _ = seen.0.set(event_id.clone());

    let Some(wanted) = docspace_job(&trigger, &st.config.export.triggers) else {
        log.count("ignored");
        return Ok(
            Json(json!({ "status": "ignored", "reason": "trigger not handled" })).into_response(),
        );
    };
    let payload = body
        .payload
        .ok_or_else(|| bad_body(log, "payload is missing"))?;
    let entity_id = payload
        .id
        .as_ref()
        .and_then(Id::text)
        .ok_or_else(|| bad_body(log, "payload.id is missing"))?;
    let job: NewJob = match wanted {
        DocSpaceJob::GroupSync => GroupSync::new(entity_id).to_new_job(),
        DocSpaceJob::GroupDelete => {
            GroupDelete::new(entity_id, payload.name.as_deref()).to_new_job()
        }
        DocSpaceJob::FileExport => {
            FileExport::event(entity_id, &trigger, event.create_by.as_deref()).to_new_job()
        }
    };
    let delivery = Delivery {
        delivery_id: Some(format!("docspace:{event_id}")),
        jobs: vec![job],
        received: Some(Received {
            source: log.source.into(),
            event_id: Some(event_id),
            trigger: Some(trigger),
            request_id: request_id(headers),
        }),
    };
    let out = ingest(st, log, delivery).await?;
    if out.duplicate {
        log.count("duplicate");
        return Ok(Json(json!({ "status": "duplicate" })).into_response());
    }
    st.wake.notify();
    Ok(accepted(log, out))
}

/// Dropbox's verification request. Other parameters are left alone (Dropbox may add some), but
/// `challenge` given twice is refused: which one to echo would be a guess.
#[derive(Deserialize)]
pub struct Challenge {
    challenge: Option<String>,
}

pub async fn dropbox_challenge(Query(q): Query<Challenge>) -> Result<Response, ApiError> {
    let challenge = q.challenge.filter(|c| !c.is_empty()).ok_or_else(|| {
        ApiError::bad_request(
            "missing_challenge",
            "query parameter challenge is required and not empty",
        )
    })?;
    let mut resp = challenge.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(resp)
}

/// Most account ids one Dropbox notification may list. Dropbox batches the accounts of one app
/// whose files changed; the bridge is linked to one account, so a real notification names a few.
/// A body with more entries is refused with 400 rather than turned into thousands of jobs.
pub const MAX_NOTIFIED_ACCOUNTS: usize = 1000;

pub async fn dropbox(State(st): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let mut log = DeliveryLog::new(DROPBOX.1);
    let result = dropbox_delivery(&st, &headers, body, &mut log).await;
    log.attach(result)
}

async fn dropbox_delivery(
    st: &AppState,
    headers: &HeaderMap,
    body: Body,
    log: &mut DeliveryLog,
) -> Result<Response, ApiError> {
    let raw = read_limited(log, headers, body, st.config.http.webhook_body_limit).await?;
    let sig = headers.get(DROPBOX_SIGNATURE).and_then(|v| v.to_str().ok());
    signature::verify_dropbox(
        st.config.http.dropbox_app_secret.expose().as_bytes(),
        &raw,
        sig,
    )
    .map_err(|e| signature_error(log, e))?;
    let body: DropboxBody = parse(log, &raw)?;
    let accounts = body
        .list_folder
        .and_then(|l| l.accounts)
        .ok_or_else(|| bad_body(log, "list_folder.accounts is missing"))?;
    if accounts.len() > MAX_NOTIFIED_ACCOUNTS {
        return Err(bad_body(
            log,
            format!("list_folder.accounts holds more than {MAX_NOTIFIED_ACCOUNTS} entries"),
        ));
    }
    let mut ids = Vec::with_capacity(accounts.len());
    for entry in accounts {
        match entry {
            AccountEntry::Id(id) if !id.is_empty() => ids.push(id),
            _ => return Err(bad_body(log, "list_folder.accounts must hold account ids")),
        }
    }
    // Every `dropbox.changes` run reads the bridge's own account, whichever account queued it:
    // one job (named after the first account) is all a notification needs.
    let jobs: Vec<NewJob> = ids
        .into_iter()
        .next()
        .map(|a| DropboxChanges::for_account(a).to_new_job())
        .into_iter()
        .collect();
    let n = jobs.len();
    let delivery = Delivery {
        delivery_id: None,
        jobs,
        received: Some(Received {
            source: log.source.into(),
            request_id: request_id(headers),
            ..Received::default()
        }),
    };
    let out = ingest(st, log, delivery).await?;
    if n > 0 {
        st.wake.notify();
    }
    Ok(accepted(log, out))
}
