//! Webhook senders that play DocSpace and Dropbox against the bridge's webhook endpoints, byte for
//! byte as the providers send them.
//!
//! - [`DocSpaceWebhookSender`]: `{"event":..,"payload":..,"webhook":..}` bodies (System.Text.Json
//!   camelCase, default values omitted), `x-docspace-signature-256: sha256=<UPPERCASE hex>`, event
//!   ids, duplicate deliveries (`resend`) and DocSpace-style retries (`retry`: same event id, retry
//!   fields added, body and signature change).
//! - [`DropboxWebhookSender`]: notifications signed with `X-Dropbox-Signature` (lowercase hex) and
//!   the verification challenge.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use serde::Serialize;
use sha2::Sha256;
use uuid::Uuid;

use crate::docspace::{File, Group};

type HmacSha256 = Hmac<Sha256>;

fn hmac_sha256(key: &[u8], body: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// DocSpace signature header value: `sha256=` + UPPERCASE hex HMAC-SHA256 of the body (.NET
/// `Convert.ToHexString`).
pub fn docspace_signature(secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode_upper(hmac_sha256(secret.as_bytes(), body))
    )
}

/// Dropbox signature header value: lowercase hex HMAC-SHA256 of the body keyed with the app secret.
pub fn dropbox_signature(app_secret: &str, body: &[u8]) -> String {
    hex::encode(hmac_sha256(app_secret.as_bytes(), body))
}

/// DocSpace trigger names and their bit values (`event.triggerId`).
pub const DOCSPACE_TRIGGERS: &[(&str, i64)] = &[
    ("*", 0),
    ("user.created", 1),
    ("user.invited", 2),
    ("user.updated", 4),
    ("user.deleted", 8),
    ("group.created", 16),
    ("group.updated", 32),
    ("group.deleted", 64),
    ("file.created", 128),
    ("file.uploaded", 256),
    ("file.updated", 512),
    ("file.trashed", 1024),
    ("file.deleted", 2048),
    ("file.restored", 4096),
    ("file.copied", 8192),
    ("file.moved", 16384),
    ("folder.created", 32768),
    ("folder.updated", 65536),
    ("folder.trashed", 131072),
    ("folder.deleted", 262144),
    ("folder.restored", 524288),
    ("folder.copied", 1048576),
    ("folder.moved", 2097152),
    ("room.created", 4194304),
    ("room.updated", 8388608),
    ("room.archived", 16777216),
    ("room.deleted", 33554432),
    ("room.restored", 67108864),
    ("room.copied", 134217728),
    ("form.submit", 1 << 28),
    ("form.filled.out", 1 << 29),
    ("form.stopped", 1 << 30),
    ("agent.created", 1 << 31),
    ("agent.updated", 1 << 32),
    ("agent.deleted", 1 << 33),
    ("file.downloaded", 1 << 34),
    ("folder.downloaded", 1 << 35),
];

/// Bit value of a trigger name; unknown names give 0 (and are sent as such, which lets tests
/// exercise "unknown trigger" handling).
pub fn trigger_id(trigger: &str) -> i64 {
    DOCSPACE_TRIGGERS
        .iter()
        .find(|(name, _)| *name == trigger)
        .map(|(_, id)| *id)
        .unwrap_or(0)
}

fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}

/// `event` object. Defaults are omitted, as DocSpace's `WhenWritingDefault` does.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventMeta<'a> {
    id: i64,
    create_on: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    create_by: Option<Uuid>,
    trigger: &'a str,
    #[serde(skip_serializing_if = "is_zero_i64")]
    trigger_id: i64,
}

/// Retry-only fields of the `webhook` object.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryInfo {
    pub last_failure_on: String,
    pub last_failure_content: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_success_on: Option<String>,
    pub retry_count: u32,
    pub retry_on: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookMeta<'a> {
    id: i64,
    name: &'a str,
    url: &'a str,
    triggers: &'a [String],
    #[serde(flatten)]
    retry: Option<&'a RetryInfo>,
}

/// `GroupInfo` as a group webhook payload: no members, no manager.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupPayload {
    pub id: Uuid,
    pub name: String,
    pub authentication_type: &'static str,
    pub key: String,
}

impl From<&Group> for GroupPayload {
    fn from(g: &Group) -> Self {
        GroupPayload {
            id: g.id,
            name: g.name.clone(),
            authentication_type: "ASC",
            key: g.id.to_string(),
        }
    }
}

/// `FileEntry<int>` base fields as a file webhook payload. No size, version, extension or
/// MIME type: receivers must call `GET files/file/{id}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FilePayload {
    pub id: i64,
    pub title: String,
    pub parent_id: i64,
    pub folder_id_display: i64,
    pub root_id: i64,
    pub root_folder_type: i32,
    pub root_create_by: Uuid,
    pub file_entry_type: i32,
    pub create_by: Uuid,
    pub create_on: String,
    pub modified_by: Uuid,
    pub modified_on: String,
}

/// .NET `DateTime` as System.Text.Json writes a UTC value: fraction only when non-zero.
fn dotnet_date(dt: DateTime<Utc>) -> String {
    dt.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

impl From<&File> for FilePayload {
    fn from(f: &File) -> Self {
        FilePayload {
            id: f.id,
            title: f.title.clone(),
            parent_id: f.folder_id,
            folder_id_display: f.folder_id,
            root_id: f.root_folder_id,
            root_folder_type: f.root_folder_type,
            root_create_by: f.created_by,
            file_entry_type: 2,
            create_by: f.created_by,
            create_on: dotnet_date(f.created),
            modified_by: f.updated_by(),
            modified_on: dotnet_date(f.updated()),
        }
    }
}

/// One webhook body ready to send.
#[derive(Clone, Debug)]
pub struct PreparedEvent {
    pub event_id: i64,
    pub trigger: String,
    pub create_on: String,
    /// The payload JSON text (kept so `retry` rebuilds the same payload bytes).
    pub payload: String,
    pub body: Vec<u8>,
    pub signature: String,
}

/// What the receiver answered.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub event: PreparedEvent,
    pub status: u16,
    pub headers: HeaderMap,
    pub response_body: String,
}

/// Plays DocSpace's webhook sender against `url`.
pub struct DocSpaceWebhookSender {
    pub url: String,
    pub secret: String,
    /// Next `event.id` (each delivery-log row has its own id).
    pub next_event_id: AtomicI64,
    /// `event.createBy`: the acting user (set it to the API key's user to test the loop guard).
    pub actor: Option<Uuid>,
    pub webhook_id: i64,
    pub webhook_name: String,
    pub subscribed: Vec<String>,
    client: reqwest::Client,
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default()
}

impl DocSpaceWebhookSender {
    pub fn new(url: impl Into<String>, secret: impl Into<String>) -> Self {
        DocSpaceWebhookSender {
            url: url.into(),
            secret: secret.into(),
            next_event_id: AtomicI64::new(1000),
            actor: Some(Uuid::from_u128(0x7c9e_6679_7425_40de_944b_e07f_c1f9_0ae7)),
            webhook_id: 3,
            webhook_name: "dropbox-bridge".into(),
            subscribed: vec!["*".into()],
            client: client(),
        }
    }

    /// Sets `event.createBy` (`None` omits it, as DocSpace does for the empty GUID).
    pub fn with_actor(mut self, actor: Option<Uuid>) -> Self {
        self.actor = actor;
        self
    }

    pub fn sign(&self, body: &[u8]) -> String {
        docspace_signature(&self.secret, body)
    }

    fn build(
        &self,
        event_id: i64,
        trigger: &str,
        create_on: &str,
        payload: &str,
        retry: Option<&RetryInfo>,
    ) -> Vec<u8> {
        let event = EventMeta {
            id: event_id,
            create_on,
            create_by: self.actor,
            trigger,
            trigger_id: trigger_id(trigger),
        };
        let webhook = WebhookMeta {
            id: self.webhook_id,
            name: &self.webhook_name,
            url: &self.url,
            triggers: &self.subscribed,
            retry,
        };
        // Assembled by hand so the field order is DocSpace's (event, payload, webhook) and the
        // payload bytes stay identical across retries.
        let event = serde_json::to_string(&event).unwrap_or_default();
        let webhook = serde_json::to_string(&webhook).unwrap_or_default();
        format!(r#"{{"event":{event},"payload":{payload},"webhook":{webhook}}}"#).into_bytes()
    }

    /// A new event (new `event.id`, `createOn` = now) with any serializable payload.
    pub fn prepare(&self, trigger: &str, payload: &impl Serialize) -> PreparedEvent {
        let event_id = self.next_event_id.fetch_add(1, Ordering::SeqCst);
        let create_on = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
        let payload = serde_json::to_string(payload).unwrap_or_else(|_| "{}".into());
        let body = self.build(event_id, trigger, &create_on, &payload, None);
        PreparedEvent {
            event_id,
            trigger: trigger.to_string(),
            create_on,
            signature: self.sign(&body),
            payload,
            body,
        }
    }

    pub fn prepare_group(&self, trigger: &str, group: &Group) -> PreparedEvent {
        self.prepare(trigger, &GroupPayload::from(group))
    }

    pub fn prepare_file(&self, trigger: &str, file: &File) -> PreparedEvent {
        self.prepare(trigger, &FilePayload::from(file))
    }

    /// Sends a `group.*` event for `group` (e.g. `"group.updated"`).
    pub async fn group_event(&self, trigger: &str, group: &Group) -> reqwest::Result<Delivery> {
        self.deliver(self.prepare_group(trigger, group)).await
    }

    /// Sends a `file.*` event for `file` (e.g. `"file.uploaded"`).
    pub async fn file_event(&self, trigger: &str, file: &File) -> reqwest::Result<Delivery> {
        self.deliver(self.prepare_file(trigger, file)).await
    }

    /// Sends an event with an arbitrary payload.
    pub async fn event(
        &self,
        trigger: &str,
        payload: &impl Serialize,
    ) -> reqwest::Result<Delivery> {
        self.deliver(self.prepare(trigger, payload)).await
    }

    pub async fn deliver(&self, event: PreparedEvent) -> reqwest::Result<Delivery> {
        let resp = self
            .client
            .post(&self.url)
            .header("Accept", "*/*")
            .header("x-docspace-signature-256", &event.signature)
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .body(event.body.clone())
            .send()
            .await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let response_body = resp.text().await?;
        Ok(Delivery {
            event,
            status,
            headers,
            response_body,
        })
    }

    /// Duplicate delivery: the very same bytes, id and signature again.
    pub async fn resend(&self, previous: &Delivery) -> reqwest::Result<Delivery> {
        self.deliver(previous.event.clone()).await
    }

    /// DocSpace's automatic retry: same `event.id` and payload, `webhook` gains the retry fields,
    /// so body and signature differ from the first attempt.
    pub async fn retry(&self, previous: &Delivery, retry_count: u32) -> reqwest::Result<Delivery> {
        let now = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
        let retry = RetryInfo {
            last_failure_on: now.clone(),
            last_failure_content: format!("Response status code: {}", previous.status),
            last_success_on: None,
            retry_count,
            retry_on: now,
        };
        let e = &previous.event;
        let body = self.build(
            e.event_id,
            &e.trigger,
            &e.create_on,
            &e.payload,
            Some(&retry),
        );
        let event = PreparedEvent {
            signature: self.sign(&body),
            body,
            ..e.clone()
        };
        self.deliver(event).await
    }

    /// Posts `body` with the given signature header (`None` = no header).
    pub async fn send_raw(
        &self,
        body: impl Into<Vec<u8>>,
        signature: Option<&str>,
    ) -> reqwest::Result<Delivery> {
        let body = body.into();
        let event = PreparedEvent {
            event_id: 0,
            trigger: String::new(),
            create_on: String::new(),
            payload: String::new(),
            signature: signature.unwrap_or_default().to_string(),
            body: body.clone(),
        };
        let mut req = self
            .client
            .post(&self.url)
            .header("Accept", "*/*")
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .body(body);
        if let Some(sig) = signature {
            req = req.header("x-docspace-signature-256", sig);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let response_body = resp.text().await?;
        Ok(Delivery {
            event,
            status,
            headers,
            response_body,
        })
    }

    /// The `HEAD` DocSpace sends when a webhook is created or enabled; returns the status.
    pub async fn head(&self) -> reqwest::Result<u16> {
        Ok(self.client.head(&self.url).send().await?.status().as_u16())
    }
}

/// A reply to a Dropbox webhook request.
#[derive(Clone, Debug)]
pub struct WebhookReply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl WebhookReply {
    async fn from(resp: reqwest::Response) -> reqwest::Result<Self> {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text().await?;
        Ok(WebhookReply {
            status,
            headers,
            body,
        })
    }
}

/// Plays Dropbox's webhook sender against `url`.
pub struct DropboxWebhookSender {
    pub url: String,
    pub app_secret: String,
    client: reqwest::Client,
}

/// Legacy numeric v1 user id Dropbox puts in `delta.users` (stable per account id).
fn legacy_user_id(account: &str) -> u64 {
    account.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) % 1_000_000_000
}

impl DropboxWebhookSender {
    pub fn new(url: impl Into<String>, app_secret: impl Into<String>) -> Self {
        DropboxWebhookSender {
            url: url.into(),
            app_secret: app_secret.into(),
            client: client(),
        }
    }

    pub fn sign(&self, body: &[u8]) -> String {
        dropbox_signature(&self.app_secret, body)
    }

    /// The notification body for these accounts.
    pub fn body(accounts: &[&str]) -> Vec<u8> {
        let users: Vec<u64> = accounts.iter().map(|a| legacy_user_id(a)).collect();
        serde_json::to_vec(&serde_json::json!({
            "list_folder": {"accounts": accounts},
            "delta": {"users": users},
        }))
        .unwrap_or_default()
    }

    /// `POST` a signed notification naming `accounts` (`dbid:...`).
    pub async fn notify(&self, accounts: &[&str]) -> reqwest::Result<WebhookReply> {
        let body = Self::body(accounts);
        let sig = self.sign(&body);
        self.send_raw(body, Some(&sig)).await
    }

    /// `POST` `body` with the given `X-Dropbox-Signature` (`None` = no header).
    pub async fn send_raw(
        &self,
        body: impl Into<Vec<u8>>,
        signature: Option<&str>,
    ) -> reqwest::Result<WebhookReply> {
        let mut req = self
            .client
            .post(&self.url)
            .header(CONTENT_TYPE, "application/json")
            .body(body.into());
        if let Some(sig) = signature {
            req = req.header("X-Dropbox-Signature", sig);
        }
        WebhookReply::from(req.send().await?).await
    }

    /// The verification `GET ?challenge=<value>`.
    pub async fn challenge(&self, value: &str) -> reqwest::Result<WebhookReply> {
        let resp = self
            .client
            .get(&self.url)
            .query(&[("challenge", value)])
            .send()
            .await?;
        WebhookReply::from(resp).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_ids_match_reference() {
        assert_eq!(trigger_id("group.updated"), 32);
        assert_eq!(trigger_id("file.uploaded"), 256);
        assert_eq!(trigger_id("folder.downloaded"), 1 << 35);
        assert_eq!(trigger_id("nope"), 0);
    }

    #[test]
    fn docspace_signature_is_uppercase_with_prefix() {
        let sig = docspace_signature("secret", b"{}");
        assert!(sig.starts_with("sha256="));
        let hex = &sig[7..];
        assert_eq!(hex.len(), 64);
        assert!(hex
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
    }

    #[test]
    fn body_field_order_and_omitted_defaults() {
        let s = DocSpaceWebhookSender::new("http://x/webhooks/docspace", "k").with_actor(None);
        let e = s.prepare("group.created", &serde_json::json!({"id": "g"}));
        let text = String::from_utf8(e.body).unwrap();
        assert!(
            text.starts_with(r#"{"event":{"id":1000,"createOn":""#),
            "{text}"
        );
        assert!(!text.contains("createBy"), "{text}");
        assert!(text.contains(r#""trigger":"group.created","triggerId":16}"#));
        assert!(text.contains(r#","payload":{"id":"g"},"webhook":{"id":3,"#));
        assert!(!text.contains("retryCount"));
    }
}
