//! Webhook ingestion through HTTP: signatures, parsing, dedupe, coalescing, limits.

use crate::common::*;
use docspace_dropbox_bridge::signature::sign_hex;
use serde_json::{json, Value};

fn group_payload(id: &str) -> Value {
    json!({ "id": id, "name": "Marketing", "authenticationType": "ASC", "key": id })
}

#[tokio::test]
async fn docspace_signature_matrix_only_valid_deliveries_enqueue() {
    let app = spawn_app(no_workers).await;
    let body = docspace_event(1, "group.updated", group_payload("g-upper"));
    let upper = docspace_signature_upper(&body);
    assert_eq!(app.post_docspace(&body, Some(&upper)).await.status(), 200);

    let body2 = docspace_event(2, "group.updated", group_payload("g-lower"));
    let lower = format!("sha256={}", sign_hex(DOCSPACE_SECRET.as_bytes(), &body2));
    assert_eq!(app.post_docspace(&body2, Some(&lower)).await.status(), 200);

    let body3 = docspace_event(3, "group.updated", group_payload("g-bad"));
    let wrong_secret = format!(
        "sha256={}",
        sign_hex(b"not-the-secret", &body3).to_uppercase()
    );
    let tampered = {
        let mut t = body3.clone();
        let pos = t.len() - 3;
        t[pos] = b' ';
        t
    };
    let good3 = docspace_signature_upper(&body3);
    let cases: Vec<(&str, Vec<u8>, Option<String>, &str)> = vec![
        (
            "wrong secret",
            body3.clone(),
            Some(wrong_secret),
            "invalid_signature",
        ),
        (
            "tampered body",
            tampered,
            Some(good3.clone()),
            "invalid_signature",
        ),
        ("missing header", body3.clone(), None, "missing_signature"),
        (
            "no sha256= prefix",
            body3.clone(),
            Some(good3.trim_start_matches("sha256=").to_string()),
            "malformed_signature",
        ),
        (
            "not hex",
            body3.clone(),
            Some("sha256=XYZ".to_string()),
            "malformed_signature",
        ),
        (
            "empty body",
            vec![],
            Some(good3.clone()),
            "invalid_signature",
        ),
    ];
    for (name, body, sig, code) in cases {
        let resp = app.post_docspace(&body, sig.as_deref()).await;
        assert_eq!(resp.status(), 401, "{name}");
        let v: Value = resp.json().await.expect("json error");
        assert_eq!(v["error"]["code"], code, "{name}");
    }
    let jobs = app.all_jobs().await;
    let keys: Vec<&str> = jobs
        .iter()
        .filter_map(|j| j["dedupe_key"].as_str())
        .collect();
    assert_eq!(
        keys,
        vec!["group:g-upper", "group:g-lower"],
        "only valid deliveries enqueue"
    );
}

#[tokio::test]
async fn dropbox_signature_matrix_only_valid_notifications_enqueue() {
    let app = spawn_app(no_workers).await;
    let body = br#"{"list_folder":{"accounts":["dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc"]},"delta":{"users":[12345]}}"#;
    let good = sign_hex(DROPBOX_SECRET.as_bytes(), body);
    let cases: Vec<(&str, &[u8], Option<String>)> = vec![
        ("wrong secret", body, Some(sign_hex(b"other", body))),
        (
            "tampered",
            br#"{"list_folder":{"accounts":["dbid:someone-else"]}}"#,
            Some(good.clone()),
        ),
        ("missing", body, None),
        ("malformed", body, Some("sha256=abc".into())),
        ("empty body", b"", Some(good.clone())),
    ];
    for (name, b, sig) in cases {
        assert_eq!(
            app.post_dropbox(b, sig.as_deref()).await.status(),
            401,
            "{name}"
        );
    }
    assert!(app.all_jobs().await.is_empty());
    // Upper-case hex is accepted too.
    assert_eq!(
        app.post_dropbox(body, Some(&good.to_uppercase()))
            .await
            .status(),
        200
    );
    let jobs = app.all_jobs().await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["kind"], "dropbox.changes");
    assert_eq!(
        jobs[0]["payload"]["account_id"],
        "dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc"
    );
}

#[tokio::test]
async fn dropbox_notifications_for_any_accounts_coalesce_into_one_job() {
    let app = spawn_app(no_workers).await;
    let body = br#"{"list_folder":{"accounts":["dbid:a","dbid:b","dbid:a"]}}"#;
    let sig = sign_hex(DROPBOX_SECRET.as_bytes(), body);
    for _ in 0..3 {
        assert_eq!(app.post_dropbox(body, Some(&sig)).await.status(), 200);
    }
    let jobs = app.all_jobs().await;
    let keys: Vec<&str> = jobs
        .iter()
        .filter_map(|j| j["dedupe_key"].as_str())
        .collect();
    assert_eq!(keys, vec!["dropbox.changes"]);
    assert_eq!(jobs[0]["payload"]["account_id"], "dbid:a");
}

#[tokio::test]
async fn dropbox_challenge_is_echoed_as_plain_text() {
    let app = spawn_app(no_workers).await;
    for challenge in ["abc123", "<script>alert(1)</script>"] {
        let resp = app
            .http
            .get(format!("{}/webhooks/dropbox", app.url))
            .query(&[("challenge", challenge)])
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "text/plain");
        assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
        assert_eq!(resp.text().await.expect("body"), challenge);
    }
    // Left out, empty or given twice: refused, as openapi.yaml says.
    for query in ["", "?challenge=", "?challenge=a&challenge=b"] {
        let resp = app
            .http
            .get(format!("{}/webhooks/dropbox{query}", app.url))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 400, "{query}");
        let v: Value = resp.json().await.expect("a JSON error");
        assert!(v["error"]["code"].is_string(), "{query}: {v}");
    }
}

#[tokio::test]
async fn docspace_head_answers_200_empty() {
    let app = spawn_app(no_workers).await;
    let resp = app
        .http
        .head(format!("{}/webhooks/docspace", app.url))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    assert!(resp.bytes().await.expect("body").is_empty());
}

#[tokio::test]
async fn duplicate_event_id_makes_one_job() {
    let app = spawn_app(no_workers).await;
    let body = docspace_event(77, "group.created", group_payload("g1"));
    let sig = docspace_signature_upper(&body);
    let first: Value = app
        .post_docspace(&body, Some(&sig))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(first["status"], "accepted");
    let second = app.post_docspace(&body, Some(&sig)).await;
    assert_eq!(second.status(), 200);
    let second: Value = second.json().await.expect("json");
    assert_eq!(second["status"], "duplicate");
    assert_eq!(app.all_jobs().await.len(), 1);
}

#[tokio::test]
async fn many_updates_for_one_group_coalesce_while_queued() {
    let app = spawn_app(no_workers).await;
    for id in 100..120 {
        let body = docspace_event(id, "group.updated", group_payload("g-busy"));
        let sig = docspace_signature_upper(&body);
        assert_eq!(app.post_docspace(&body, Some(&sig)).await.status(), 200);
    }
    let body = docspace_event(200, "group.updated", group_payload("g-other"));
    app.post_docspace(&body, Some(&docspace_signature_upper(&body)))
        .await;
    let jobs = app.all_jobs().await;
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    assert_eq!(jobs[0]["dedupe_key"], "group:g-busy");
    assert_eq!(jobs[0]["state"], "queued");
}

#[tokio::test]
async fn triggers_map_to_jobs_and_unknown_ones_are_acknowledged() {
    let app = spawn_app(no_workers).await;
    let file = json!({ "id": 4711, "title": "Budget.xlsx", "parentId": 12, "rootId": 5, "fileEntryType": 2 });
    let events = [
        (1, "group.deleted", group_payload("g-del")),
        (2, "file.updated", file.clone()),
        (3, "room.created", json!({ "id": 9, "title": "Room" })),
        (4, "file.trashed", file.clone()),
    ];
    for (id, trigger, payload) in events {
        let body = docspace_event(id, trigger, payload);
        let resp = app
            .post_docspace(&body, Some(&docspace_signature_upper(&body)))
            .await;
        assert_eq!(resp.status(), 200, "{trigger}");
    }
    let jobs = app.all_jobs().await;
    let kinds: Vec<(&str, &str)> = jobs
        .iter()
        .map(|j| {
            (
                j["kind"].as_str().unwrap_or(""),
                j["dedupe_key"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("group.delete", "group:g-del"),
            ("file.export", "file.export:4711")
        ]
    );
    assert_eq!(
        jobs[1]["payload"]["created_by"],
        "7c9e6679-7425-40de-944b-e07fc1f90ae7"
    );
    let metrics = app
        .http
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(r#"bridge_deliveries_total{source="docspace",outcome="ignored"}"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn oversized_body_is_413_and_nothing_is_stored() {
    let app = spawn_app(|c| {
        no_workers(c);
        c.http.webhook_body_limit = 2048;
    })
    .await;
    let big = docspace_event(
        1,
        "group.updated",
        json!({ "id": "g", "name": "x".repeat(4096) }),
    );
    let resp = app
        .post_docspace(&big, Some(&docspace_signature_upper(&big)))
        .await;
    assert_eq!(resp.status(), 413);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["error"]["code"], "payload_too_large");
    let big_dropbox = format!(
        r#"{{"list_folder":{{"accounts":["{}"]}}}}"#,
        "a".repeat(4096)
    );
    let sig = sign_hex(DROPBOX_SECRET.as_bytes(), big_dropbox.as_bytes());
    assert_eq!(
        app.post_dropbox(big_dropbox.as_bytes(), Some(&sig))
            .await
            .status(),
        413
    );
    assert!(app.all_jobs().await.is_empty());
}

#[tokio::test]
async fn signed_but_malformed_bodies_are_400_and_nothing_is_stored() {
    let app = spawn_app(no_workers).await;
    let bodies: Vec<(&[u8], &str)> = vec![
        (b"not json at all", "body is not JSON"),
        (
            br#"{"event":{"id":1,"trigger":"group.updated"},"payload":{"id":"g"}} and more"#,
            "body is not JSON",
        ),
        (
            br#"{"event":{"id":1,"trigger":"group.upd"#,
            "body is not JSON",
        ),
        (
            br#"{"event":{"id":1},"payload":{"id":"g"}}"#,
            "event.trigger is missing",
        ),
        (
            br#"{"event":{"trigger":"group.updated"},"payload":{"id":"g"}}"#,
            "event.id is missing",
        ),
        (
            br#"{"event":{"id":1,"trigger":"group.updated"},"payload":{"name":"no id"}}"#,
            "payload.id is missing",
        ),
        // A field of another type counts as absent.
        (
            br#"{"event":{"id":{"n":1},"trigger":"group.updated"},"payload":{"id":"g"}}"#,
            "event.id is missing",
        ),
        (
            br#"{"event":[{"id":1,"trigger":"group.updated"}],"payload":{"id":"g"}}"#,
            "event is missing",
        ),
        (
            br#"{"event":{"id":1,"trigger":{"name":"group.updated"}},"payload":{"id":"g"}}"#,
            "event.trigger is missing",
        ),
        (br#"[1,2,3]"#, "body is not a JSON object"),
        (
            br#"[{"id":1,"trigger":"group.updated"},{"id":"g"}]"#,
            "body is not a JSON object",
        ),
        (br#" "a string""#, "body is not a JSON object"),
    ];
    for (b, message) in bodies {
        let resp = app
            .post_docspace(b, Some(&docspace_signature_upper(b)))
            .await;
        assert_eq!(resp.status(), 400, "{}", String::from_utf8_lossy(b));
        let v: Value = resp.json().await.expect("json");
        assert_eq!(v["error"]["code"], "invalid_body");
        assert_eq!(
            v["error"]["message"],
            message,
            "{}",
            String::from_utf8_lossy(b)
        );
    }
    // A repeated key is malformed, not "the last one wins", at the top (`webhook` too, which
    // the bridge does not read) and inside the event.
    let repeated: [(&[u8], &str); 3] = [
        (
            br#"{"event":{"id":1,"trigger":"group.updated"},"event":{"id":2,"trigger":"group.updated"},"payload":{"id":"g"}}"#,
            "event",
        ),
        (
            br#"{"event":{"id":1,"trigger":"group.updated"},"payload":{"id":"g"},"webhook":{"id":1},"webhook":{"id":2}}"#,
            "webhook",
        ),
        (
            br#"{"event":{"id":1,"id":2,"trigger":"group.updated"},"payload":{"id":"g"}}"#,
            "id",
        ),
    ];
    for (b, key) in repeated {
        let resp = app
            .post_docspace(b, Some(&docspace_signature_upper(b)))
            .await;
        assert_eq!(resp.status(), 400);
        let v: Value = resp.json().await.expect("json");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with(&format!("unexpected body: duplicate field `{key}`")),
            "{message}"
        );
    }
    let b = br#"{"delta":{"users":[1]}}"#;
    assert_eq!(
        app.post_dropbox(b, Some(&sign_hex(DROPBOX_SECRET.as_bytes(), b)))
            .await
            .status(),
        400
    );
    // Extra unknown fields are fine.
    let ok = br#"{"event":{"id":9,"trigger":"group.updated","extra":true},"payload":{"id":"g9","x":[1]},"more":{}}"#;
    assert_eq!(
        app.post_docspace(ok, Some(&docspace_signature_upper(ok)))
            .await
            .status(),
        200
    );
    assert_eq!(app.all_jobs().await.len(), 1);
}

#[tokio::test]
async fn fields_the_bridge_reads_only_optionally_may_hold_anything() {
    let app = spawn_app(no_workers).await;
    let bodies: Vec<Vec<u8>> = vec![
        // `createBy` and the group's `name` of unexpected types; `webhook` not an object.
        br#"{"event":{"id":1,"trigger":"group.deleted","createBy":5},"payload":{"id":"g1","name":[1]},"webhook":7}"#.to_vec(),
        // The file id as a number, the event id as a string.
        br#"{"event":{"id":"2","trigger":"file.updated","createBy":null},"payload":{"id":4711}}"#.to_vec(),
        // A trigger the bridge does not act on needs no payload at all.
        br#"{"event":{"id":3,"trigger":"room.created"},"payload":"none"}"#.to_vec(),
    ];
    for b in &bodies {
        let resp = app
            .post_docspace(b, Some(&docspace_signature_upper(b)))
            .await;
        assert_eq!(resp.status(), 200, "{}", String::from_utf8_lossy(b));
    }
    let jobs = app.all_jobs().await;
    let keys: Vec<&str> = jobs
        .iter()
        .filter_map(|j| j["dedupe_key"].as_str())
        .collect();
    assert_eq!(keys, vec!["group:g1", "file.export:4711"]);
    assert_eq!(jobs[0]["payload"]["group_name"], Value::Null);
    assert_eq!(jobs[1]["payload"]["created_by"], Value::Null);
    // A numeric account id is not an account id.
    let b = br#"{"list_folder":{"accounts":["dbid:a",12]}}"#;
    let resp = app
        .post_dropbox(b, Some(&sign_hex(DROPBOX_SECRET.as_bytes(), b)))
        .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(app.all_jobs().await.len(), 2);
}

#[tokio::test]
async fn dropbox_notification_of_many_accounts_makes_one_job_and_refuses_more_than_the_cap() {
    let app = spawn_app(no_workers).await;
    // Many repeats of few accounts: one job, which reads the bridge's own account.
    let mut accounts: Vec<String> = Vec::new();
    for i in 0..1000 {
        accounts.push(format!("dbid:account-{}", i % 3));
    }
    let body = serde_json::to_vec(&serde_json::json!({ "list_folder": { "accounts": accounts } }))
        .expect("json");
    let sig = sign_hex(DROPBOX_SECRET.as_bytes(), &body);
    assert_eq!(app.post_dropbox(&body, Some(&sig)).await.status(), 200);
    assert_eq!(app.all_jobs().await.len(), 1);
    // More entries than any real notification: refused, nothing enqueued.
    let accounts: Vec<String> = (0..1001).map(|i| format!("dbid:other-{i}")).collect();
    let body = serde_json::to_vec(&serde_json::json!({ "list_folder": { "accounts": accounts } }))
        .expect("json");
    let sig = sign_hex(DROPBOX_SECRET.as_bytes(), &body);
    let resp = app.post_dropbox(&body, Some(&sig)).await;
    assert_eq!(resp.status(), 400);
    let err: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(err["error"]["code"], "invalid_body");
    assert_eq!(app.all_jobs().await.len(), 1);
}

/// Arbitrary JSON values, nested a few levels, with the field names the parser looks for.
fn arb_json() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![
            Just("event".to_string()),
            Just("payload".to_string()),
            Just("id".to_string()),
            Just("trigger".to_string()),
            Just("createBy".to_string()),
            Just("name".to_string()),
            Just("list_folder".to_string()),
            Just("accounts".to_string()),
            "[a-z]{1,6}",
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            proptest::collection::btree_map(key, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Signed bodies of any bytes or any JSON shape are classified: 200 (accepted or ignored) or
/// 400 (not usable), never a panic, a 5xx or a dropped connection.
#[test]
fn webhook_parsing_classifies_any_signed_body_as_200_or_400() {
    use proptest::prelude::*;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let app = rt.block_on(spawn_app(no_workers));
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let body = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        arb_json().prop_map(|v| serde_json::to_vec(&v).expect("json")),
    ];
    runner
        .run(&body, |raw| {
            let (docspace, dropbox) = rt.block_on(async {
                let ds = app
                    .post_docspace(&raw, Some(&docspace_signature_upper(&raw)))
                    .await
                    .status()
                    .as_u16();
                let sig = sign_hex(DROPBOX_SECRET.as_bytes(), &raw);
                let db = app.post_dropbox(&raw, Some(&sig)).await.status().as_u16();
                (ds, db)
            });
            prop_assert!(docspace == 200 || docspace == 400, "docspace {docspace}");
            prop_assert!(dropbox == 200 || dropbox == 400, "dropbox {dropbox}");
            Ok(())
        })
        .expect("every body is classified");
    rt.block_on(async move { drop(app) });
}

#[test]
fn the_export_triggers_taken_are_the_file_triggers_docspace_sends() {
    // The stand-in's list is checked against DocSpace's reference (`trigger_ids_match_reference`
    // in the stand-ins); the bridge refuses an EXPORT_TRIGGERS name outside its own list.
    let sent: Vec<&str> = bridge_fakes::webhooks::DOCSPACE_TRIGGERS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| name.starts_with("file."))
        .collect();
    assert_eq!(
        docspace_dropbox_bridge::config::FILE_TRIGGERS.to_vec(),
        sent
    );
}
