//! The webhook senders: exact DocSpace bodies and uppercase signatures, duplicate and retried
//! deliveries, and Dropbox notifications and challenges, verified by an independent HMAC.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use bridge_fakes::docspace::{DocSpaceOptions, FakeDocSpace};
use bridge_fakes::webhooks::{
    docspace_signature, dropbox_signature, trigger_id, DocSpaceWebhookSender, DropboxWebhookSender,
};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

#[derive(Clone, Debug)]
struct Captured {
    headers: HeaderMap,
    body: Bytes,
}

type Log = Arc<Mutex<Vec<Captured>>>;

async fn record(State(log): State<Log>, headers: HeaderMap, body: Bytes) -> &'static str {
    log.lock().unwrap().push(Captured { headers, body });
    "ok"
}

async fn challenge(q: Query<std::collections::HashMap<String, String>>) -> String {
    q.get("challenge").cloned().unwrap_or_default()
}

async fn receiver() -> (String, Log) {
    let log: Log = Arc::default();
    let app = Router::new()
        .route("/hook", post(record).get(challenge).head(|| async { "" }))
        .with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, log)
}

fn independent_hmac_hex(key: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[test]
fn signatures_match_an_independent_hmac() {
    let body = br#"{"event":{"id":1}}"#;
    let sig = docspace_signature("s3cr3t-Key!", body);
    let expected = independent_hmac_hex("s3cr3t-Key!", body).to_uppercase();
    assert_eq!(sig, format!("sha256={expected}"));
    assert!(sig[7..].chars().all(|c| !c.is_ascii_lowercase()));
    assert_eq!(
        dropbox_signature("app-secret", body),
        independent_hmac_hex("app-secret", body)
    );
}

#[tokio::test]
async fn group_event_body_headers_and_signature() {
    let (url, log) = receiver().await;
    let fake = FakeDocSpace::start(DocSpaceOptions::default())
        .await
        .unwrap();
    let ann = fake.add_active_user("Ann", "Able", "ann@example.com");
    let gid = fake.create_group("Marketing", &[ann]).unwrap();
    let group = fake.group(gid).unwrap();
    let sender = DocSpaceWebhookSender::new(&url, "whsec-Passw0rd!");

    let d = sender.group_event("group.updated", &group).await.unwrap();
    assert_eq!(d.status, 200);
    let got = log.lock().unwrap()[0].clone();
    assert_eq!(
        got.headers["content-type"],
        "application/json; charset=utf-8"
    );
    let sig = got.headers["x-docspace-signature-256"].to_str().unwrap();
    assert_eq!(
        sig,
        format!(
            "sha256={}",
            independent_hmac_hex("whsec-Passw0rd!", &got.body).to_uppercase()
        )
    );
    assert_eq!(&got.body[..], &d.event.body[..]);

    let text = std::str::from_utf8(&got.body).unwrap();
    assert!(text.starts_with(r#"{"event":{"id":"#), "{text}");
    let v: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(v["event"]["trigger"], "group.updated");
    assert_eq!(v["event"]["triggerId"], 32);
    assert_eq!(v["event"]["id"], d.event.event_id);
    let create_on = v["event"]["createOn"].as_str().unwrap();
    assert!(
        create_on.ends_with('Z') && create_on.len() == 20,
        "{create_on}"
    );
    assert!(v["event"]["createBy"].is_string());
    assert_eq!(
        v["payload"],
        serde_json::json!({
            "id": gid.to_string(),
            "name": "Marketing",
            "authenticationType": "ASC",
            "key": gid.to_string(),
        })
    );
    assert_eq!(v["webhook"]["url"], url);
    assert_eq!(v["webhook"]["triggers"], serde_json::json!(["*"]));
    assert!(v["webhook"].get("retryCount").is_none());
}

#[tokio::test]
async fn file_event_payload_is_a_file_entry() {
    let (url, log) = receiver().await;
    let fake = FakeDocSpace::start(DocSpaceOptions::default())
        .await
        .unwrap();
    let room = fake.create_room("Finance");
    let folder = fake.create_folder(room, "2026").unwrap();
    let id = fake.create_file(folder, "Budget.xlsx", 10).unwrap();
    let sender = DocSpaceWebhookSender::new(&url, "k").with_actor(Some(fake.self_user_id()));
    sender
        .file_event("file.uploaded", &fake.file(id).unwrap())
        .await
        .unwrap();
    let got = log.lock().unwrap()[0].clone();
    let v: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(v["event"]["triggerId"], 256);
    assert_eq!(v["event"]["createBy"], fake.self_user_id().to_string());
    let p = &v["payload"];
    assert_eq!(p["id"], id);
    assert_eq!(p["title"], "Budget.xlsx");
    assert_eq!(p["parentId"], folder);
    assert_eq!(p["folderIdDisplay"], folder);
    assert_eq!(p["rootId"], 1);
    assert_eq!(p["rootFolderType"], 14);
    assert_eq!(p["fileEntryType"], 2);
    for k in ["createBy", "createOn", "modifiedBy", "modifiedOn"] {
        assert!(p[k].is_string(), "{k}");
    }
    for absent in ["version", "contentLength", "fileExst", "contentType"] {
        assert!(p.get(absent).is_none(), "{absent}");
    }
}

#[tokio::test]
async fn resend_is_byte_identical_and_retry_keeps_the_event_id() {
    let (url, log) = receiver().await;
    let sender = DocSpaceWebhookSender::new(&url, "k").with_actor(None);
    let first = sender
        .event(
            "group.deleted",
            &serde_json::json!({"id": "x", "name": "X"}),
        )
        .await
        .unwrap();
    let dup = sender.resend(&first).await.unwrap();
    let retry = sender.retry(&first, 2).await.unwrap();
    let next = sender
        .event("group.created", &serde_json::json!({"id": "y"}))
        .await
        .unwrap();

    let log = log.lock().unwrap();
    assert_eq!(log.len(), 4);
    assert_eq!(log[0].body, log[1].body);
    assert_eq!(
        log[0].headers["x-docspace-signature-256"],
        log[1].headers["x-docspace-signature-256"]
    );
    assert_eq!(dup.event.event_id, first.event.event_id);

    let r: Value = serde_json::from_slice(&log[2].body).unwrap();
    let f: Value = serde_json::from_slice(&log[0].body).unwrap();
    assert_eq!(r["event"], f["event"]);
    assert_eq!(r["payload"], f["payload"]);
    assert_eq!(r["webhook"]["retryCount"], 2);
    assert!(r["webhook"]["lastFailureOn"].is_string());
    assert_ne!(log[2].body, log[0].body);
    assert_eq!(
        log[2].headers["x-docspace-signature-256"].to_str().unwrap(),
        sender.sign(&log[2].body)
    );
    assert!(f["event"].get("createBy").is_none(), "empty actor omitted");
    assert_eq!(retry.event.event_id, first.event.event_id);
    assert_eq!(next.event.event_id, first.event.event_id + 1);
    assert_eq!(trigger_id("group.deleted"), 64);
}

#[tokio::test]
async fn send_raw_and_head() {
    let (url, log) = receiver().await;
    let sender = DocSpaceWebhookSender::new(&url, "k");
    sender
        .send_raw("not json", Some("sha256=00"))
        .await
        .unwrap();
    sender.send_raw("{}", None).await.unwrap();
    assert_eq!(sender.head().await.unwrap(), 200);
    let log = log.lock().unwrap();
    assert_eq!(&log[0].body[..], b"not json");
    assert_eq!(log[0].headers["x-docspace-signature-256"], "sha256=00");
    assert!(log[1].headers.get("x-docspace-signature-256").is_none());
}

#[tokio::test]
async fn dropbox_notification_and_challenge() {
    let (url, log) = receiver().await;
    let sender = DropboxWebhookSender::new(&url, "fake-app-secret");
    let reply = sender.notify(&["dbid:AAA", "dbid:BBB"]).await.unwrap();
    assert_eq!(reply.status, 200);
    let got = log.lock().unwrap()[0].clone();
    let sig = got.headers["x-dropbox-signature"].to_str().unwrap();
    assert_eq!(sig, independent_hmac_hex("fake-app-secret", &got.body));
    let v: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(
        v["list_folder"]["accounts"],
        serde_json::json!(["dbid:AAA", "dbid:BBB"])
    );
    assert_eq!(v["delta"]["users"].as_array().unwrap().len(), 2);
    assert!(v["delta"]["users"][0].is_u64());

    let reply = sender.challenge("abc 123&x").await.unwrap();
    assert_eq!((reply.status, reply.body.as_str()), (200, "abc 123&x"));
}
