//! What operators rely on: deliveries they can follow to their jobs, the runs of every job,
//! filters and bulk re-drives, manual triggers that check what they name, the metrics the alert
//! rules read, the `jobs` command line and one-shot commands that never create a database.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use crate::common::*;
use docspace_dropbox_bridge::jobs::{FileExport, GroupSync, JobKind};
use docspace_dropbox_bridge::store::{DynStore, GroupFolder, JobOutcome, NewJob};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Connection;

const BIN: &str = env!("CARGO_BIN_EXE_docspace-dropbox-bridge");

/// Enqueues `jobs`, claims them and records them as dead; their ids.
async fn dead_jobs(store: &DynStore, jobs: Vec<NewJob>) -> Vec<i64> {
    let n = jobs.len() as u32;
    store.enqueue(jobs).await.expect("enqueue");
    let claimed = store
        .claim("operator-test", n, Duration::from_secs(60))
        .await
        .expect("claim");
    let mut ids = Vec::new();
    for j in claimed {
        let dead = JobOutcome::Dead {
            error: format!("docspace group/{{id}}: 403 forbidden ({})", j.kind),
            result: None,
        };
        assert!(store.finish(&j.lease, dead).await.expect("finish"));
        ids.push(j.id);
    }
    ids.sort_unstable();
    ids
}

async fn get(app: &TestApp, path: &str) -> Value {
    let (status, v) = app.api(Method::GET, path, None).await;
    assert_eq!(status, 200, "{path}: {v}");
    v
}

fn ids(list: &Value, key: &str) -> Vec<i64> {
    list[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} in {list}"))
        .iter()
        .filter_map(|j| j["id"].as_i64())
        .collect()
}

// --- deliveries ----------------------------------------------------------------------------

#[tokio::test]
async fn every_accepted_delivery_is_kept_and_leads_to_its_jobs() {
    let app = spawn_app(no_workers).await;
    let post = |id: i64, trigger: &str, entity: &str, request_id: &str| {
        let body = docspace_event(id, trigger, json!({ "id": entity }));
        app.http
            .post(format!("{}/webhooks/docspace", app.url))
            .header("x-request-id", request_id)
            .header("x-docspace-signature-256", docspace_signature_upper(&body))
            .body(body)
            .send()
    };
    let first = post(501, "group.updated", "g-1", "req-first")
        .await
        .expect("post");
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.expect("json");
    // A second event for the same group coalesces into the queued job; a retry of the first
    // event by DocSpace is a duplicate and is not kept again.
    let second: Value = post(502, "group.created", "g-1", "req-second")
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(second["job_ids"], first["job_ids"]);
    let dup: Value = post(501, "group.updated", "g-1", "req-retry")
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(dup["status"], "duplicate");
    // Ignored triggers are not deliveries the bridge acted on.
    post(503, "room.created", "r-1", "req-ignored")
        .await
        .expect("post");
    let sig = docspace_dropbox_bridge::signature::sign_hex(
        DROPBOX_SECRET.as_bytes(),
        br#"{"list_folder":{"accounts":["dbid:A"]},"delta":{"users":[1]}}"#,
    );
    let resp = app
        .http
        .post(format!("{}/webhooks/dropbox", app.url))
        .header("x-request-id", "req-dropbox")
        .header("X-Dropbox-Signature", sig)
        .body(r#"{"list_folder":{"accounts":["dbid:A"]},"delta":{"users":[1]}}"#)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 200);
    let dropbox: Value = resp.json().await.expect("json");

    let all = get(&app, "/api/v1/deliveries").await;
    let list = all["deliveries"].as_array().expect("deliveries");
    assert_eq!(list.len(), 3, "{all}");
    assert_eq!(all["next_cursor"], Value::Null);
    // Newest first.
    assert_eq!(list[0]["source"], "dropbox");
    assert_eq!(list[0]["event_id"], Value::Null);
    assert_eq!(list[0]["trigger"], Value::Null);
    assert_eq!(list[0]["request_id"], "req-dropbox");
    assert_eq!(list[0]["job_ids"], dropbox["job_ids"]);
    assert_eq!(list[1]["event_id"], "502");
    assert_eq!(list[1]["trigger"], "group.created");
    assert_eq!(list[2]["source"], "docspace");
    assert_eq!(list[2]["event_id"], "501");
    assert_eq!(list[2]["trigger"], "group.updated");
    assert_eq!(list[2]["request_id"], "req-first");
    assert_eq!(list[2]["job_ids"], first["job_ids"]);
    for key in [
        "id",
        "source",
        "event_id",
        "trigger",
        "request_id",
        "received_at",
        "job_ids",
    ] {
        assert!(list[0].get(key).is_some(), "delivery JSON lacks {key}");
    }

    // Filters and pages.
    let docspace = get(&app, "/api/v1/deliveries?source=docspace").await;
    assert_eq!(docspace["deliveries"].as_array().map(Vec::len), Some(2));
    let created = get(&app, "/api/v1/deliveries?trigger=group.created").await;
    assert_eq!(
        ids(&created, "deliveries"),
        vec![list[1]["id"].as_i64().expect("id")]
    );
    let recent = get(&app, "/api/v1/deliveries?since=1h").await;
    assert_eq!(recent["deliveries"].as_array().map(Vec::len), Some(3));
    let future = get(&app, "/api/v1/deliveries?since=2099-01-01T00:00:00Z").await;
    assert_eq!(future["deliveries"].as_array().map(Vec::len), Some(0));
    let page1 = get(&app, "/api/v1/deliveries?limit=2").await;
    assert_eq!(page1["deliveries"].as_array().map(Vec::len), Some(2));
    let cursor = page1["next_cursor"].as_str().expect("cursor");
    let page2 = get(&app, &format!("/api/v1/deliveries?limit=2&cursor={cursor}")).await;
    assert_eq!(
        ids(&page2, "deliveries"),
        vec![list[2]["id"].as_i64().expect("id")]
    );
    for bad in ["source=slack", "since=yesterday", "limit=0", "cursor=x"] {
        let (s, v) = app
            .api(Method::GET, &format!("/api/v1/deliveries?{bad}"), None)
            .await;
        assert_eq!(s, 400, "{bad}: {v}");
        assert!(v["error"]["code"].is_string(), "{v}");
    }

    // The job names both deliveries that asked for it.
    let job_id = first["job_ids"][0].as_i64().expect("job id");
    let job = get(&app, &format!("/api/v1/jobs/{job_id}")).await;
    let events: Vec<&str> = job["job"]["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .filter_map(|d| d["event_id"].as_str())
        .collect();
    assert_eq!(events, vec!["502", "501"], "{job}");

    // Kept for BRIDGE_DELIVERY_RETENTION, then pruned.
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(
        app.store
            .prune_deliveries(Duration::ZERO)
            .await
            .expect("prune"),
        3
    );
    let none = get(&app, "/api/v1/deliveries").await;
    assert_eq!(none["deliveries"].as_array().map(Vec::len), Some(0));
    let job = get(&app, &format!("/api/v1/jobs/{job_id}")).await;
    assert_eq!(job["job"]["deliveries"], json!([]));
}

#[tokio::test]
async fn a_delivery_is_found_by_its_docspace_event_id_exactly() {
    let app = spawn_app(no_workers).await;
    let mut job_of = HashMap::new();
    for (event, group) in [(4711, "g-a"), (47110, "g-b"), (471, "g-c")] {
        let body = docspace_event(event, "group.updated", json!({ "id": group }));
        let (status, v) = app.deliver_docspace(&body).await;
        assert_eq!(status, 200, "{v}");
        job_of.insert(event, v["job_ids"].clone());
    }

    let found = get(&app, "/api/v1/deliveries?event_id=4711").await;
    let list = found["deliveries"].as_array().expect("deliveries");
    assert_eq!(list.len(), 1, "{found}");
    assert_eq!(list[0]["source"], "docspace");
    assert_eq!(list[0]["event_id"], "4711");
    assert_eq!(list[0]["trigger"], "group.updated");
    assert_eq!(list[0]["job_ids"], job_of[&4711]);
    let job_id = list[0]["job_ids"][0].as_i64().expect("job id");
    let job = get(&app, &format!("/api/v1/jobs/{job_id}")).await;
    assert_eq!(job["job"]["payload"]["group_id"], "g-a", "{job}");

    // Exact: neither a prefix nor a longer id matches; other filters still apply.
    let short = get(&app, "/api/v1/deliveries?event_id=471").await;
    let events: Vec<&str> = short["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .filter_map(|d| d["event_id"].as_str())
        .collect();
    assert_eq!(events, vec!["471"], "{short}");
    for none in [
        "event_id=47",
        "event_id=9999",
        "event_id=4711&source=dropbox",
        "event_id=4711&trigger=group.created",
    ] {
        let v = get(&app, &format!("/api/v1/deliveries?{none}")).await;
        assert_eq!(v["deliveries"], json!([]), "{none}: {v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_line_of_a_delivery_names_its_event_outcome_and_jobs() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let mut env = base_env();
    env.insert("BRIDGE_LISTEN".into(), format!("127.0.0.1:{port}"));
    env.insert("BRIDGE_WORKERS".into(), "false".into());
    env.insert("BRIDGE_REQUEST_TIMEOUT".into(), "1s".into());
    env.insert("BRIDGE_MAX_REQUESTS".into(), "1".into());
    let database_url = format!("sqlite://{}", dir.path().join("bridge.db").display());
    env.insert("BRIDGE_DATABASE_URL".into(), database_url.clone());
    let log = dir.path().join("stderr.log");
    let mut child = std::process::Command::new(BIN)
        .env_clear()
        .envs(&env)
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("bridge starts");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..400 {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
            ready = r.status() == 200;
            if ready {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "the bridge did not become ready");
    let body = docspace_event(777_001, "group.updated", json!({ "id": "g-log" }));
    let stalled = docspace_event(777_003, "group.updated", json!({ "id": "g-log" }));
    let resp = http
        .post(format!("{base}/webhooks/docspace"))
        .header("x-request-id", "req-follow-me")
        .header("x-docspace-signature-256", docspace_signature_upper(&body))
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.expect("json");
    let job_id = v["job_ids"][0].as_i64().expect("job id");
    // A refused delivery's line names why it was refused.
    let resp = http
        .post(format!("{base}/webhooks/docspace"))
        .header("x-request-id", "req-refused")
        .header("x-docspace-signature-256", "sha256=00")
        .body(docspace_event(
            777_002,
            "group.updated",
            json!({ "id": "g-log" }),
        ))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 401);
    // A request id that is not UTF-8 is logged with its bytes escaped, not as `-`.
    let resp = http
        .get(format!("{base}/api/v1/deliveries?limit=1"))
        .bearer_auth(API_TOKEN)
        .header(
            "x-request-id",
            reqwest::header::HeaderValue::from_bytes(b"req-\xff-latin").expect("obs-text"),
        )
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"].as_bytes(), b"req-\xff-latin");
    // A delivery whose commit outlasts BRIDGE_REQUEST_TIMEOUT (another process holds the
    // database's write lock) is answered 408, and its line still names its event.
    let blocker = WriteLock::at(&database_url).await;
    let resp = http
        .post(format!("{base}/webhooks/docspace"))
        .header("x-request-id", "req-stalled")
        .header(
            "x-docspace-signature-256",
            docspace_signature_upper(&stalled),
        )
        .body(stalled.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 408);
    // A client that hangs up while its delivery is being committed gets no answer, but the
    // delivery still has its line and its count.
    let abandoned = docspace_event(777_004, "group.updated", json!({ "id": "g-log" }));
    let stream = raw_webhook(port, "req-abandoned", &abandoned, abandoned.len()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(stream);
    tokio::time::sleep(Duration::from_millis(300)).await;
    blocker.release().await;
    // A sender that hangs up halfway through its body has abandoned its delivery; the body is not
    // a bad request.
    let cut = docspace_event(777_005, "group.updated", json!({ "id": "g-log" }));
    let stream = raw_webhook(port, "req-cut-off", &cut, cut.len() / 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // While that request holds the only slot (BRIDGE_MAX_REQUESTS), a delivery is turned away:
    // its line names it, and it is the one line of its request (no error line besides).
    let shed = docspace_event(777_006, "group.updated", json!({ "id": "g-log" }));
    let resp = http
        .post(format!("{base}/webhooks/docspace"))
        .header("x-request-id", "req-shed")
        .header("x-docspace-signature-256", docspace_signature_upper(&shed))
        .body(shed)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 503);
    drop(stream);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let metrics = scrape(&base).await;
    assert_eq!(
        sample(
            &metrics,
            r#"bridge_deliveries_total{source="docspace",outcome="abandoned"}"#
        ),
        Some(2.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            r#"bridge_deliveries_total{source="docspace",outcome="bad_request"}"#
        ),
        Some(0.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            r#"bridge_deliveries_total{source="docspace",outcome="overloaded"}"#
        ),
        Some(1.0),
        "{metrics}"
    );
    // SAFETY: sending a signal to the child this test started.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    child.wait().expect("bridge stops");

    let text = std::fs::read_to_string(&log).expect("log");
    let accepted: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l.to_string().contains("777001"))
        .collect();
    assert!(!accepted.is_empty(), "no log line names the event:\n{text}");
    // One line per delivery at `info`: the access line, with the event, the outcome and the jobs.
    assert_eq!(accepted.len(), 1, "{text}");
    let line = &accepted[0];
    assert_eq!(line["message"], "finished processing request", "{line}");
    assert_eq!(line["level"], "INFO", "{line}");
    assert!(line["timestamp"].is_string(), "{line}");
    assert!(line["target"].is_string(), "{line}");
    assert!(line["latency_ms"].is_f64(), "{line}");
    assert_eq!(line["status"], 200, "{line}");
    assert_eq!(line["event_id"], "777001", "{line}");
    assert_eq!(line["span"]["request_id"], "req-follow-me", "{line}");
    // The request's span is named once per line, not again in a list of spans.
    assert!(line.get("spans").is_none(), "{line}");
    assert_eq!(line["delivery"], "accepted", "{line}");
    assert!(
        line["job_ids"].to_string().contains(&job_id.to_string()),
        "{line}"
    );
    let lines_of = |request_id: &str| -> Vec<Value> {
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["span"]["request_id"] == request_id)
            .collect()
    };
    let refused = lines_of("req-refused");
    assert_eq!(refused.len(), 1, "{text}");
    assert_eq!(refused[0]["status"], 401, "{text}");
    assert_eq!(refused[0]["delivery"], "bad_signature", "{text}");
    let stalled = lines_of("req-stalled");
    assert_eq!(stalled.len(), 1, "{text}");
    assert_eq!(stalled[0]["status"], 408, "{text}");
    assert_eq!(stalled[0]["delivery"], "timeout", "{text}");
    assert_eq!(stalled[0]["event_id"], "777003", "{text}");
    let latin = lines_of(r"req-\xff-latin");
    assert_eq!(latin.len(), 1, "{text}");
    assert_eq!(latin[0]["status"], 200, "{text}");
    let abandoned = lines_of("req-abandoned");
    assert_eq!(abandoned.len(), 1, "{text}");
    assert_eq!(abandoned[0]["delivery"], "abandoned", "{text}");
    assert_eq!(abandoned[0]["event_id"], "777004", "{text}");
    assert_eq!(abandoned[0]["level"], "INFO", "{text}");
    let cut = lines_of("req-cut-off");
    assert_eq!(cut.len(), 1, "{text}");
    assert_eq!(cut[0]["delivery"], "abandoned", "{text}");
    let shed = lines_of("req-shed");
    assert_eq!(shed.len(), 1, "{text}");
    assert_eq!(shed[0]["status"], 503, "{text}");
    assert_eq!(shed[0]["delivery"], "overloaded", "{text}");
    assert!(
        !text.lines().any(|l| l.contains(r#""level":"ERROR""#)),
        "{text}"
    );
}

/// A signed DocSpace webhook sent by hand on a connection of its own to the bridge on `port`, with
/// its full `content-length` but only the first `sent` bytes of `body`; the open connection.
async fn raw_webhook(
    port: u16,
    request_id: &str,
    body: &[u8],
    sent: usize,
) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt as _;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let head = format!(
        "POST /webhooks/docspace HTTP/1.1\r\nhost: x\r\nx-request-id: {request_id}\r\n\
         x-docspace-signature-256: {}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        docspace_signature_upper(body),
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("send head");
    stream.write_all(&body[..sent]).await.expect("send body");
    stream
}

// --- runs and re-drives --------------------------------------------------------------------

#[tokio::test]
async fn a_job_shows_its_runs_and_a_redriven_dead_job_is_queued_with_its_error_history() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}", dir.path().join("runs.db").display());
    let id;
    {
        let w = spawn_world(|c| c.database_url = url.clone()).await;
        let dead;
        (id, dead) = w.dead_group_job("g-runs").await;
        let runs = dead["attempts_history"].as_array().expect("history");
        assert_eq!(runs.len(), 1, "{dead}");
        assert_eq!(runs[0]["attempt"], 1);
        assert_eq!(runs[0]["outcome"], "dead");
        assert!(
            runs[0]["error"].as_str().is_some_and(|e| e.contains("403")),
            "{dead}"
        );
        assert!(runs[0]["duration_ms"].as_i64().is_some_and(|d| d >= 0));
        assert!(runs[0]["started_at"].as_str() <= runs[0]["finished_at"].as_str());
        let mut w = w;
        w.app.stop().await;
    }
    // Re-driven on a replica that runs no workers, so that nothing picks it up meanwhile.
    let app = spawn_app(|c| {
        c.database_url = url.clone();
        no_workers(c);
    })
    .await;
    let (s, r) = app
        .api(Method::POST, &format!("/api/v1/jobs/{id}/retry"), None)
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["job"]["state"], "queued", "{r}");
    assert_eq!(r["job"]["attempts"], 0);
    assert_eq!(r["job"]["last_error"], Value::Null, "{r}");
    let job = get(&app, &format!("/api/v1/jobs/{id}")).await;
    assert_eq!(job["job"]["state"], "queued");
    let runs = job["job"]["attempts_history"].as_array().expect("history");
    assert_eq!(runs.len(), 1, "the error history stays: {job}");
    assert!(runs[0]["error"].as_str().is_some_and(|e| e.contains("403")));
}

#[tokio::test]
async fn bulk_retry_redrives_only_the_dead_jobs_that_match() {
    let app = spawn_app(no_workers).await;
    let dead = dead_jobs(
        &app.store,
        vec![
            GroupSync::new("g1").to_new_job(),
            GroupSync::new("g2").to_new_job(),
            FileExport::manual("f1", None).to_new_job(),
        ],
    )
    .await;
    let (g1, g2, f1) = (dead[0], dead[1], dead[2]);
    // A queued job that matches the filters is not touched; `state`, when given, must be `dead`.
    let queued = app
        .store
        .enqueue(vec![GroupSync::new("g1").to_new_job()])
        .await
        .expect("enqueue")[0]
        .id;

    let (s, v) = app
        .api(
            Method::POST,
            "/api/v1/jobs/retry?kind=group.sync&group_id=g2&state=queued",
            None,
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["code"], "invalid_state", "{v}");
    let (s, v) = app
        .api(
            Method::POST,
            "/api/v1/jobs/retry?kind=group.sync&group_id=g2&state=dead",
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v, json!({ "retried": 1, "job_ids": [g2] }));
    let job = get(&app, &format!("/api/v1/jobs/{g2}")).await;
    assert_eq!(job["job"]["state"], "queued");

    let (_, v) = app
        .api(Method::POST, "/api/v1/jobs/retry?file_id=f1&since=1h", None)
        .await;
    assert_eq!(v, json!({ "retried": 1, "job_ids": [f1] }));
    let (_, v) = app
        .api(
            Method::POST,
            "/api/v1/jobs/retry?until=2000-01-01T00:00:00Z",
            None,
        )
        .await;
    assert_eq!(v["retried"], 0, "{v}");

    // g1 has a queued job of its key already: re-driven all the same, due at once as failed.
    let (_, v) = app.api(Method::POST, "/api/v1/jobs/retry", None).await;
    assert_eq!(v, json!({ "retried": 1, "job_ids": [g1] }));
    let job = get(&app, &format!("/api/v1/jobs/{g1}")).await;
    assert_eq!(job["job"]["state"], "failed", "{job}");
    assert_eq!(job["job"]["last_error"], Value::Null);
    assert_eq!(job["job"]["attempts"], 0);
    let job = get(&app, &format!("/api/v1/jobs/{queued}")).await;
    assert_eq!(job["job"]["state"], "queued");

    let (_, v) = app.api(Method::POST, "/api/v1/jobs/retry", None).await;
    assert_eq!(v, json!({ "retried": 0, "job_ids": [] }));
    let (s, v) = app
        .api(Method::POST, "/api/v1/jobs/retry?since=soon", None)
        .await;
    assert_eq!(s, 400, "{v}");
}

#[tokio::test]
async fn two_dead_jobs_of_one_key_are_both_redriven_and_one_is_queued() {
    let dir = tempfile::tempdir().expect("tmp");
    for url in store_urls(dir.path()).await {
        let app = spawn_app(|c| {
            c.database_url = url.clone();
            no_workers(c);
        })
        .await;
        let a = dead_jobs(&app.store, vec![GroupSync::new("same").to_new_job()]).await;
        let b = dead_jobs(&app.store, vec![GroupSync::new("same").to_new_job()]).await;
        let (_, v) = app
            .api(Method::POST, "/api/v1/jobs/retry?group_id=same", None)
            .await;
        assert_eq!(v, json!({ "retried": 2, "job_ids": [a[0], b[0]] }), "{url}");
        let states: Vec<Value> = [a[0], b[0]]
            .iter()
            .map(|id| {
                let app = &app;
                async move { get(app, &format!("/api/v1/jobs/{id}")).await["job"]["state"].clone() }
            })
            .collect::<futures::stream::FuturesOrdered<_>>()
            .collect::<Vec<_>>()
            .await;
        assert_eq!(states, vec![json!("failed"), json!("queued")], "{url}");
    }
}

use futures::StreamExt;

#[tokio::test]
async fn jobs_are_filtered_by_group_file_and_creation_time() {
    let app = spawn_app(no_workers).await;
    let jobs = app
        .store
        .enqueue(vec![
            GroupSync::new("g-a").to_new_job(),
            GroupSync::new("g-b").to_new_job(),
            FileExport::manual("4711", None).to_new_job(),
            FileExport::manual("4712", Some("/Reports")).to_new_job(),
        ])
        .await
        .expect("enqueue");
    let by = |q: &'static str| {
        let app = &app;
        async move { ids(&get(app, &format!("/api/v1/jobs?{q}")).await, "jobs") }
    };
    assert_eq!(by("group_id=g-a").await, vec![jobs[0].id]);
    assert_eq!(by("group_id=g-b&kind=group.sync").await, vec![jobs[1].id]);
    assert_eq!(
        by("group_id=g-b&kind=group.delete").await,
        Vec::<i64>::new()
    );
    assert_eq!(by("file_id=4712").await, vec![jobs[3].id]);
    assert_eq!(by("file_id=4711&state=queued").await, vec![jobs[2].id]);
    assert_eq!(by("since=10m").await.len(), 4);
    assert_eq!(by("since=2099-01-01T00:00:00Z").await.len(), 0);
    assert_eq!(by("until=2000-01-01T00:00:00%2B02:00").await.len(), 0);
    assert_eq!(
        by("until=2099-01-01T00:00:00Z&group_id=g-a").await,
        vec![jobs[0].id]
    );
    for bad in ["since=tomorrow", "until=12", "state=bogus"] {
        let (s, v) = app
            .api(Method::GET, &format!("/api/v1/jobs?{bad}"), None)
            .await;
        assert_eq!(s, 400, "{bad}: {v}");
    }
}

// --- manual triggers -----------------------------------------------------------------------

#[tokio::test]
async fn manual_triggers_refuse_groups_and_files_docspace_does_not_know() {
    let w = spawn_world(no_workers).await;
    let app = &w.app;
    let known = w
        .docspace
        .create_group("Known", &[])
        .expect("group")
        .to_string();
    let missing = "0f8fad5b-d9cb-469f-a165-70867728950e";

    let (s, v) = app
        .api(
            Method::POST,
            &format!("/api/v1/groups/{missing}/sync"),
            None,
        )
        .await;
    assert_eq!(s, 404, "{v}");
    assert_eq!(v["error"]["code"], "not_found");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(missing)),
        "{v}"
    );
    let (s, v) = app
        .api(Method::POST, &format!("/api/v1/groups/{known}/sync"), None)
        .await;
    assert_eq!(s, 202, "{v}");

    let (s, v) = app
        .api(
            Method::POST,
            "/api/v1/groups/sync",
            Some(json!({ "group_ids": [known, missing, "not-a-guid"] })),
        )
        .await;
    assert_eq!(s, 404, "{v}");
    let message = v["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains(missing) && message.contains("not-a-guid"),
        "{v}"
    );
    assert!(!message.contains(&known), "{v}");
    let (s, v) = app
        .api(
            Method::POST,
            "/api/v1/groups/sync",
            Some(json!({ "group_ids": [] })),
        )
        .await;
    assert_eq!(s, 400, "an empty list is not a full reconcile: {v}");
    assert_eq!(v["error"]["code"], "invalid_body");
    // Refused requests enqueued nothing: only the known group's job exists.
    let jobs = app.all_jobs().await;
    assert_eq!(jobs.len(), 1, "{jobs:#?}");
    assert_eq!(jobs[0]["payload"]["group_id"], known);

    // A group deleted in DocSpace whose folder the bridge keeps is still a valid target.
    app.store
        .put_group_folder(&GroupFolder {
            group_id: missing.into(),
            group_name: "Gone".into(),
            path: "/DocSpace Groups/Gone".into(),
            shared_folder_id: Some("123".into()),
            active: true,
        })
        .await
        .expect("mapping");
    let (s, v) = app
        .api(
            Method::POST,
            &format!("/api/v1/groups/{missing}/sync"),
            None,
        )
        .await;
    assert_eq!(s, 202, "{v}");

    let room = w.docspace.create_room("Room");
    let file = w.docspace.create_file(room, "a.txt", 10).expect("file");
    let (s, v) = app
        .api(Method::POST, &format!("/api/v1/files/{file}/export"), None)
        .await;
    assert_eq!(s, 202, "{v}");
    let (s, v) = app
        .api(Method::POST, "/api/v1/files/987654/export", None)
        .await;
    assert_eq!(s, 404, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("987654")),
        "{v}"
    );
}

#[tokio::test]
async fn manual_triggers_are_accepted_when_docspace_cannot_be_asked() {
    let w = spawn_world(no_workers).await;
    let app = &w.app;
    let route = bridge_fakes::docspace::routes::GROUP_GET;
    // Rate-limited: the check sees a 429 and accepts; DocSpace is then paused for every
    // caller, so the next check does not even ask.
    w.docspace.fail_next(Some(route), 429, 1);
    let (s, v) = app
        .api(Method::POST, "/api/v1/groups/unknown-1/sync", None)
        .await;
    assert_eq!(s, 202, "{v}");
    let asked = w.docspace.calls(route);
    let (s, v) = app
        .api(Method::POST, "/api/v1/groups/unknown-2/sync", None)
        .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(
        w.docspace.calls(route),
        asked,
        "asked DocSpace while paused"
    );

    // Down: the job is accepted and finds out itself.
    let down = spawn_app(no_workers).await;
    let (s, v) = down
        .api(Method::POST, "/api/v1/groups/unknown-3/sync", None)
        .await;
    assert_eq!(s, 202, "{v}");
    let (s, v) = down.api(Method::POST, "/api/v1/files/1/export", None).await;
    assert_eq!(s, 202, "{v}");
}

// --- metrics -------------------------------------------------------------------------------

#[tokio::test]
async fn metrics_read_the_queue_from_the_database_and_describe_every_series() {
    let app = spawn_app(no_workers).await;
    let text = scrape(&app.url).await;
    for state in ["queued", "running", "failed", "dead"] {
        assert_eq!(
            sample(&text, &format!("bridge_queue_depth{{state=\"{state}\"}}")),
            Some(0.0),
            "{state} counted from 0:\n{text}"
        );
    }
    assert!(
        !text.contains(r#"bridge_queue_depth{state="succeeded"}"#),
        "{text}"
    );
    assert_eq!(
        sample(&text, "bridge_oldest_due_job_age_seconds"),
        Some(0.0)
    );
    assert_eq!(sample(&text, "bridge_db_up"), Some(1.0), "{text}");
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        sample(
            &text,
            &format!("bridge_build_info{{version=\"{version}\"}}")
        ),
        Some(1.0),
        "{text}"
    );
    for kind in ["groups.sync_all", "files.sync_all"] {
        assert!(
            sample(
                &text,
                &format!("bridge_last_success_timestamp_seconds{{kind=\"{kind}\"}}")
            )
            .is_some(),
            "{kind}:\n{text}"
        );
    }
    for source in ["docspace", "dropbox"] {
        for outcome in [
            "accepted",
            "duplicate",
            "ignored",
            "bad_signature",
            "bad_request",
            "unavailable",
            "timeout",
            "internal",
            "abandoned",
        ] {
            let series =
                format!("bridge_deliveries_total{{source=\"{source}\",outcome=\"{outcome}\"}}");
            assert!(sample(&text, &series).is_some(), "{series}:\n{text}");
        }
    }
    // CPU time is counted in whole seconds: a fresh test process may not have used one yet.
    assert!(
        sample(&text, "process_cpu_seconds_total").is_some(),
        "{text}"
    );
    assert!(
        text.contains("# TYPE process_cpu_seconds_total counter"),
        "{text}"
    );
    for process in [
        "process_resident_memory_bytes",
        "process_start_time_seconds",
    ] {
        assert!(
            sample(&text, process).is_some_and(|v| v > 0.0),
            "{process}:\n{text}"
        );
    }
    // Every family on the page has its HELP and TYPE.
    let families: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(|n| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| n.strip_suffix(s))
                .unwrap_or(n)
        })
        .collect();
    for f in families {
        assert!(
            text.contains(&format!("# HELP {f} ")),
            "no HELP for {f}:\n{text}"
        );
        assert!(
            text.contains(&format!("# TYPE {f} ")),
            "no TYPE for {f}:\n{text}"
        );
    }

    // Two due jobs, the older an hour overdue; a failed job waiting for later is not due.
    let dead = dead_jobs(&app.store, vec![GroupSync::new("m3").to_new_job()]).await;
    let jobs = app
        .store
        .enqueue(vec![
            GroupSync::new("m1").to_new_job(),
            GroupSync::new("m2").to_new_job(),
        ])
        .await
        .expect("enqueue");
    let url = app.config.database_url.clone();
    let mut db = sqlx::SqliteConnection::connect(&url).await.expect("db");
    sqlx::query("UPDATE jobs SET run_at = run_at - 3600000 WHERE id = $1")
        .bind(jobs[0].id)
        .execute(&mut db)
        .await
        .expect("backdate");
    sqlx::query("UPDATE jobs SET state = 'failed', run_at = run_at + 86400000 WHERE id = $1")
        .bind(dead[0])
        .execute(&mut db)
        .await
        .expect("later");
    let text = scrape(&app.url).await;
    assert_eq!(
        sample(&text, r#"bridge_queue_depth{state="queued"}"#),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, r#"bridge_queue_depth{state="failed"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, r#"bridge_queue_depth{state="dead"}"#),
        Some(0.0)
    );
    let age = sample(&text, "bridge_oldest_due_job_age_seconds").expect("age");
    assert!((3600.0..4000.0).contains(&age), "{age}");
}

#[tokio::test]
async fn histograms_have_buckets_that_fit_what_they_measure() {
    let w = spawn_world(|_| {}).await;
    let known = w.docspace.create_group("Buckets", &[]).expect("group");
    let body = docspace_event(880_001, "group.updated", json!({ "id": known.to_string() }));
    let (s, v) = w.app.deliver_docspace(&body).await;
    assert_eq!(s, 200, "{v}");
    w.settle(30).await;
    let text = scrape(&w.app.url).await;
    for le in ["1", "512"] {
        let series = format!("bridge_store_group_commit_size_bucket{{le=\"{le}\"}}");
        assert!(sample(&text, &series).is_some(), "{series}:\n{text}");
    }
    assert!(!text.contains(r#"bridge_store_group_commit_size_bucket{le="0.005"}"#));
    assert!(
        sample(
            &text,
            r#"bridge_job_duration_seconds_bucket{kind="group.sync",le="3600"}"#
        )
        .is_some(),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with(
            r#"bridge_provider_request_duration_seconds_bucket{provider="docspace",route="group/{id}",le="0.005"}"#
        )),
        "{text}"
    );
    assert!(text.contains("# TYPE bridge_job_duration_seconds histogram"));
}

#[tokio::test]
async fn metrics_can_have_a_listener_of_their_own() {
    let app = spawn_app(|c| {
        no_workers(c);
        c.metrics_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    })
    .await;
    let metrics = app
        .app
        .as_ref()
        .and_then(|a| a.metrics_addr)
        .expect("metrics listener");
    let text = scrape(&format!("http://{metrics}")).await;
    assert!(text.contains("bridge_queue_depth"), "{text}");
    let main = reqwest::get(format!("{}/metrics", app.url))
        .await
        .expect("get");
    assert_eq!(main.status(), 404, "the main port no longer serves metrics");
    let other = reqwest::get(format!("http://{metrics}/api/v1/jobs"))
        .await
        .expect("get");
    assert_eq!(other.status(), 404, "the metrics port serves only metrics");
    // Its answers carry a request id like the main listener's: the caller's, or a fresh one.
    assert!(
        other
            .headers()
            .get("x-request-id")
            .is_some_and(|v| !v.is_empty()),
        "{:?}",
        other.headers()
    );
    let given = reqwest::Client::new()
        .get(format!("http://{metrics}/metrics"))
        .header("x-request-id", "scrape-1")
        .send()
        .await
        .expect("get");
    assert_eq!(given.headers()["x-request-id"], "scrape-1");
    let (s, _) = app.api(Method::GET, "/api/v1/jobs", None).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn the_metrics_listener_answers_errors_as_json_like_the_main_one() {
    let app = spawn_app(|c| {
        no_workers(c);
        c.metrics_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    })
    .await;
    let metrics = app
        .app
        .as_ref()
        .and_then(|a| a.metrics_addr)
        .expect("metrics listener");
    let http = reqwest::Client::new();
    for (method, path, status, code) in [
        (Method::POST, "/metrics", 405, "method_not_allowed"),
        (Method::DELETE, "/metrics", 405, "method_not_allowed"),
        (Method::GET, "/no-such-page", 404, "not_found"),
    ] {
        let resp = http
            .request(method.clone(), format!("http://{metrics}{path}"))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status().as_u16(), status, "{method} {path}");
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(
            content_type.starts_with("application/json"),
            "{method} {path}: {content_type}"
        );
        if status == 405 {
            let allow = resp
                .headers()
                .get("allow")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            assert!(allow.contains("GET"), "{method} {path}: Allow {allow:?}");
        }
        let v: Value = resp.json().await.expect("a JSON error");
        assert_eq!(v["error"]["code"], code, "{method} {path}: {v}");
        assert!(v["error"]["message"].is_string(), "{method} {path}: {v}");
    }
}

#[tokio::test]
async fn a_webhook_whose_commit_stalls_is_answered_408_counted_and_kept_once_the_database_is_back()
{
    let app = spawn_app(|c| {
        no_workers(c);
        c.http.request_timeout = Duration::from_millis(500);
    })
    .await;
    let series = r#"bridge_deliveries_total{source="docspace",outcome="timeout"}"#;
    let before = sample(&scrape(&app.url).await, series).expect("series from 0");
    // Another connection holds SQLite's write lock: the delivery cannot be committed.
    let blocker = WriteLock::take(&app).await;
    let body = docspace_event(990_777, "group.updated", json!({ "id": "g-stalled" }));
    let (status, v) = app.deliver_docspace(&body).await;
    assert_eq!(status, 408, "{v}");
    assert_eq!(v["error"]["code"], "timeout", "{v}");
    let after = sample(&scrape(&app.url).await, series).expect("series");
    assert!(
        after - before >= 1.0,
        "the stalled delivery is counted as timed out"
    );
    blocker.release().await;
    // The delivery was handed to the database before the answer; it is committed once the lock
    // is free, so DocSpace's retry finds it: one job, no second one.
    let (status, v) = app.deliver_docspace(&body).await;
    assert_eq!(
        (status, v["status"].as_str()),
        (200, Some("duplicate")),
        "{v}"
    );
    let jobs = app
        .store
        .list_jobs(&docspace_dropbox_bridge::store::JobFilter {
            group_id: Some("g-stalled".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("jobs");
    assert_eq!(jobs.len(), 1, "{jobs:?}");
}

#[tokio::test]
async fn bridge_db_up_follows_what_readiness_sees() {
    let app = spawn_app(no_workers).await;
    assert_eq!(sample(&scrape(&app.url).await, "bridge_db_up"), Some(1.0));
    // Another connection holds SQLite's write lock: the writer cannot write.
    let blocker = WriteLock::take(&app).await;
    let ready = reqwest::get(format!("{}/readyz", app.url))
        .await
        .expect("get");
    assert_eq!(ready.status(), 503);
    assert_eq!(sample(&scrape(&app.url).await, "bridge_db_up"), Some(0.0));
    blocker.release().await;
    let ready = reqwest::get(format!("{}/readyz", app.url))
        .await
        .expect("get");
    assert_eq!(ready.status(), 200);
    assert_eq!(sample(&scrape(&app.url).await, "bridge_db_up"), Some(1.0));
}

#[tokio::test]
async fn deliveries_are_counted_by_source_and_outcome() {
    let app = spawn_app(no_workers).await;
    let series = |outcome: &str| {
        format!("bridge_deliveries_total{{source=\"docspace\",outcome=\"{outcome}\"}}")
    };
    let before = scrape(&app.url).await;
    let body = docspace_event(990_001, "group.updated", json!({ "id": "g-count" }));
    assert_eq!(app.deliver_docspace(&body).await.0, 200);
    assert_eq!(app.deliver_docspace(&body).await.0, 200);
    let bad = app.post_docspace(&body, Some("sha256=00")).await;
    assert_eq!(bad.status(), 401);
    let unsigned = b"not json".to_vec();
    let resp = app
        .post_docspace(&unsigned, Some(&docspace_signature_upper(&unsigned)))
        .await;
    assert_eq!(resp.status(), 400);
    let after = scrape(&app.url).await;
    // Other tests in this process count too: at least this test's deliveries were added.
    for (outcome, n) in [
        ("accepted", 1.0),
        ("duplicate", 1.0),
        ("bad_signature", 1.0),
        ("bad_request", 1.0),
    ] {
        let grew = sample(&after, &series(outcome)).unwrap_or(0.0)
            - sample(&before, &series(outcome)).unwrap_or(0.0);
        assert!(grew >= n, "{outcome} grew by {grew}");
    }
    assert!(!after.contains("bridge_webhooks_total"), "{after}");
}

// --- command line --------------------------------------------------------------------------

/// Runs the binary with `args` in `dir` with `env` only; (exit code, stdout, stderr).
fn run_cli(
    dir: &std::path::Path,
    env: &HashMap<String, String>,
    args: &[&str],
) -> (i32, String, String) {
    let out = std::process::Command::new(BIN)
        .args(args)
        .env_clear()
        .envs(env)
        .current_dir(dir)
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An SQLite database in a new directory holding two dead jobs (`group.sync` of `cli-g`, then
/// `file.export` of `cli-f`): the directory, the database URL, the store and the jobs' ids.
async fn cli_database_with_dead_jobs() -> (tempfile::TempDir, String, DynStore, Vec<i64>) {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}", dir.path().join("bridge.db").display());
    let store = docspace_dropbox_bridge::store::connect(&url)
        .await
        .expect("store");
    let dead = dead_jobs(
        &store,
        vec![
            GroupSync::new("cli-g").to_new_job(),
            FileExport::manual("cli-f", None).to_new_job(),
        ],
    )
    .await;
    (dir, url, store, dead)
}

#[tokio::test]
async fn jobs_command_lists_shows_and_redrives_jobs() {
    let (dir, url, store, dead) = cli_database_with_dead_jobs().await;
    store
        .enqueue(vec![GroupSync::new("cli-q").to_new_job()])
        .await
        .expect("enqueue");
    let mut env = base_env();
    env.insert("BRIDGE_DATABASE_URL".into(), url.clone());

    let (code, out, err) = run_cli(dir.path(), &env, &["jobs", "list", "--state", "dead"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains(&format!("database: {url}")), "{err}");
    for id in &dead {
        assert!(
            out.lines()
                .any(|l| l.trim_start().starts_with(&format!("{id} "))),
            "{out}"
        );
    }
    assert!(out.contains("403 forbidden"), "{out}");
    assert!(!out.contains("cli-q"), "{out}");
    let (_, out, _) = run_cli(dir.path(), &env, &["jobs", "list", "--kind", "file.export"]);
    assert_eq!(out.lines().count(), 2, "header and one job:\n{out}");

    let (code, out, err) = run_cli(dir.path(), &env, &["jobs", "show", &dead[0].to_string()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("job {}: group.sync (dead)", dead[0])),
        "{out}"
    );
    assert!(out.contains(r#""group_id":"cli-g""#), "{out}");
    let (code, _, err) = run_cli(dir.path(), &env, &["jobs", "show", "999999"]);
    assert_eq!(code, 1);
    assert!(err.contains("job 999999 does not exist"), "{err}");

    let (code, out, err) = run_cli(dir.path(), &env, &["jobs", "retry", &dead[0].to_string()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("it is queued"), "{out}");
    let (code, _, err) = run_cli(dir.path(), &env, &["jobs", "retry", &dead[0].to_string()]);
    assert_eq!(code, 1, "not dead any more");
    assert!(err.contains("only dead jobs can be retried"), "{err}");
    let (code, out, _) = run_cli(
        dir.path(),
        &env,
        &["jobs", "retry", "--dead", "--kind", "group.sync"],
    );
    assert_eq!(code, 0);
    assert!(out.contains("no dead group.sync jobs"), "{out}");
    let (code, out, _) = run_cli(dir.path(), &env, &["jobs", "retry", "--dead"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("re-drove 1 dead jobs: {}", dead[1])),
        "{out}"
    );
    let job = store.get_job(dead[1]).await.expect("get").expect("job");
    assert_eq!(job.state.as_str(), "queued");
    let (code, _, _) = run_cli(dir.path(), &env, &["jobs", "retry"]);
    assert_eq!(code, 2, "an id or --dead is required");
}

#[tokio::test]
async fn the_command_line_refuses_what_it_would_drop_or_misread() {
    let (dir, url, store, dead) = cli_database_with_dead_jobs().await;
    let mut env = base_env();
    env.insert("BRIDGE_DATABASE_URL".into(), url.clone());
    let (g, f) = (dead[0].to_string(), dead[1].to_string());
    let plus = format!("+{g}");
    for args in [
        // `--kind` goes with `--dead` only; beside an id it was dropped.
        vec!["jobs", "retry", g.as_str(), "--kind", "file.export"],
        vec!["jobs", "retry", "--kind", "file.export"],
        // A job id is digits, as the API takes it.
        vec!["jobs", "retry", plus.as_str()],
        vec!["jobs", "show", plus.as_str()],
        vec!["jobs", "show", "--", "-1"],
        vec!["jobs", "show", "0"],
        // An empty value (a script's unset variable) is refused, not used as a filter or id.
        vec!["jobs", "list", "--kind", ""],
        vec!["jobs", "list", "--group", ""],
        vec!["jobs", "list", "--state", ""],
        vec!["jobs", "retry", "--dead", "--kind", ""],
        // `--event-id` lists one delivery's jobs and takes no other filter, `--limit` included.
        vec!["jobs", "list", "--event-id", "1002", "--limit", "0"],
        vec!["export", ""],
        // An export folder as the API takes it: absolute, without `.`, `..` or control characters.
        vec!["export", "1", "--folder", "/a/../b"],
        vec!["export", "1", "--folder", "Reports"],
        vec!["export", "1", "--folder", "/Rep\torts"],
        vec!["sync-groups", "--group", ""],
        vec!["sync-files", "--folder", ""],
    ] {
        let (code, out, err) = run_cli(dir.path(), &env, &args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains("error:"), "{args:?}: {err}");
    }
    for id in [&dead[0], &dead[1]] {
        let job = store.get_job(*id).await.expect("get").expect("job");
        assert_eq!(job.state.as_str(), "dead", "job {id} was re-driven");
    }
    let (code, out, err) = run_cli(dir.path(), &env, &["jobs", "show", &format!("000{f}")]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("job {f}: file.export (dead)")),
        "{out}"
    );
}

#[tokio::test]
async fn jobs_list_follows_a_docspace_event_to_its_jobs_and_their_outcome() {
    let w = spawn_world(|_| {}).await;
    let research = w.docspace.create_group("Research", &[]).expect("group");
    let finance = w.docspace.create_group("Finance", &[]).expect("group");
    let body = docspace_event(4711, "group.updated", json!({ "id": research.to_string() }));
    let (status, ok) = w.app.deliver_docspace(&body).await;
    assert_eq!(status, 200, "{ok}");
    w.settle(30).await;
    // DocSpace refuses the next job's read of its group: that job dies.
    w.docspace
        .fail_next(Some(bridge_fakes::docspace::routes::GROUP_GET), 403, 1);
    let body = docspace_event(4712, "group.updated", json!({ "id": finance.to_string() }));
    let (status, dead) = w.app.deliver_docspace(&body).await;
    assert_eq!(status, 200, "{dead}");
    w.settle(30).await;

    let dir = tempfile::tempdir().expect("tmp");
    let mut env = base_env();
    env.insert(
        "BRIDGE_DATABASE_URL".into(),
        w.app.config.database_url.clone(),
    );
    let row = |out: &str, id: &Value| -> String {
        let id = id.as_i64().expect("job id").to_string();
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(id.as_str()))
            .unwrap_or_else(|| panic!("no row for job {id}:\n{out}"))
            .to_string()
    };

    let (code, out, err) = run_cli(dir.path(), &env, &["jobs", "list", "--event-id", "4711"]);
    assert_eq!(code, 0, "{out}{err}");
    let first = out.lines().next().unwrap_or_default();
    assert!(
        first.contains("of docspace event 4711: group.updated, received "),
        "{out}"
    );
    assert!(first.contains("1 job(s)"), "{out}");
    let line = row(&out, &ok["job_ids"][0]);
    assert!(line.contains(" succeeded "), "{line}");
    assert!(line.contains(" group.sync "), "{line}");
    assert!(
        line.contains(r#"{"added":[]"#),
        "the result is shown: {line}"
    );

    let (code, out, err) = run_cli(dir.path(), &env, &["jobs", "list", "--event-id", "4712"]);
    assert_eq!(code, 0, "{out}{err}");
    let line = row(&out, &dead["job_ids"][0]);
    assert!(line.contains(" dead "), "{line}");
    assert!(line.contains("403"), "the last error is shown: {line}");

    let (code, out, err) = run_cli(dir.path(), &env, &["jobs", "list", "--event-id", "471"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        err.contains("no delivery of DocSpace event 471 is kept"),
        "{err}"
    );
    let (code, _, err) = run_cli(
        dir.path(),
        &env,
        &["jobs", "list", "--event-id", "4711", "--state", "dead"],
    );
    assert_eq!(code, 2, "--event-id names the jobs itself: {err}");
}

#[test]
fn one_shot_commands_say_which_database_and_never_create_one() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut env = base_env();
    env.remove("BRIDGE_DATABASE_URL");
    let expected = dir.path().join("data").join("bridge.db");
    for args in [
        &["jobs", "list"][..],
        &["sync-groups", "--dry-run"][..],
        &["sync-files", "--dry-run"][..],
        &["export", "42"][..],
    ] {
        let (code, out, err) = run_cli(dir.path(), &env, args);
        assert_eq!(code, 1, "{args:?}: {out}{err}");
        assert!(
            err.contains(&format!(
                "database: sqlite://data/bridge.db ({})",
                expected.display()
            )),
            "{args:?}: {err}"
        );
        assert!(
            err.contains(&format!("no database at {}", expected.display())),
            "{args:?}: {err}"
        );
        assert!(
            !dir.path().join("data").exists(),
            "{args:?} created a database"
        );
    }
    // `check` says which database the bridge would use, and opens nothing.
    let (_, out, _) = run_cli(dir.path(), &env, &["check"]);
    assert!(
        out.contains("database: SQLite data/bridge.db (not created yet"),
        "{out}"
    );
    assert!(
        !dir.path().join("data").exists(),
        "check created a database"
    );
    // An empty file is no bridge database either.
    std::fs::create_dir_all(dir.path().join("data")).expect("dir");
    std::fs::write(&expected, b"").expect("file");
    let (code, _, err) = run_cli(dir.path(), &env, &["jobs", "list"]);
    assert_eq!(code, 1);
    assert!(err.contains("holds no bridge database"), "{err}");
    std::fs::remove_dir_all(dir.path().join("data")).expect("rm");
    // `migrate` creates it, after which the one-shot commands work.
    let (code, _, err) = run_cli(dir.path(), &env, &["migrate"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("database: sqlite://data/bridge.db"), "{err}");
    let (code, out, err) = run_cli(dir.path(), &env, &["jobs", "list"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "no jobs\n");
}

#[test]
fn secrets_can_be_read_from_files() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}", dir.path().join("bridge.db").display());
    let mut env = base_env();
    env.insert("BRIDGE_DATABASE_URL".into(), url.clone());
    let (code, _, err) = run_cli(dir.path(), &env, &["migrate"]);
    assert_eq!(code, 0, "{err}");
    // Every secret from a file (as Docker and Kubernetes mount them, ending in a line break).
    for name in [
        "BRIDGE_DATABASE_URL",
        "BRIDGE_API_TOKEN",
        "DOCSPACE_API_KEY",
        "DOCSPACE_WEBHOOK_SECRET",
        "DROPBOX_APP_SECRET",
        "DROPBOX_ACCESS_TOKEN",
    ] {
        let value = env.remove(name).expect("set in base_env");
        let file = dir.path().join(name.to_lowercase());
        std::fs::write(&file, format!("{value}\n")).expect("secret file");
        env.insert(format!("{name}_FILE"), file.display().to_string());
    }
    let (code, out, err) = run_cli(dir.path(), &env, &["jobs", "list"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains(&format!("database: {url}")), "{err}");

    // Both ways at once, or a file that cannot be read: one line each, no secret shown.
    env.insert("DOCSPACE_API_KEY".into(), "sk-also-set".into());
    env.insert(
        "DROPBOX_APP_SECRET_FILE".into(),
        dir.path().join("missing").display().to_string(),
    );
    let (code, _, err) = run_cli(dir.path(), &env, &["jobs", "list"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("config error: set DOCSPACE_API_KEY or DOCSPACE_API_KEY_FILE, not both"),
        "{err}"
    );
    assert!(
        err.contains("config error: DROPBOX_APP_SECRET_FILE: cannot read"),
        "{err}"
    );
    assert!(
        !err.contains("sk-also-set") && !err.contains(DOCSPACE_SECRET),
        "{err}"
    );

    // A file of two lines (a key and a comment, two keys pasted): a secret is one line; sent
    // in a header it would fail every call with an obscure error.
    env.remove("DOCSPACE_API_KEY");
    env.remove("DROPBOX_APP_SECRET_FILE");
    let two_lines = dir.path().join("two_lines");
    std::fs::write(&two_lines, "sk-first-line\nsk-second-line\n").expect("secret file");
    env.insert(
        "DOCSPACE_API_KEY_FILE".into(),
        two_lines.display().to_string(),
    );
    let (code, _, err) = run_cli(dir.path(), &env, &["jobs", "list"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("config error: DOCSPACE_API_KEY holds a line break"),
        "{err}"
    );
    assert!(!err.contains("sk-first-line"), "{err}");
}

#[test]
fn a_dot_env_file_is_read_from_the_working_directory_only_and_a_bad_line_is_an_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let child = dir.path().join("child");
    std::fs::create_dir(&child).expect("child dir");
    let env = base_env();
    let db = dir.path().join("from-dotenv.db");
    // A line that is not NAME=value: every line after it was dropped in silence (here the
    // database), and the line may hold a secret, so only its number is shown.
    let dropped = format!(
        "# settings\nDOCSPACE_API_KEY sk-not-shown-1234\nBRIDGE_DATABASE_URL=sqlite://{}\n",
        db.display()
    );
    // The line is counted, not searched for: a comment above it that holds the same text is not
    // it; a quote left open is named by the line that opens it.
    for (text, line) in [
        (dropped.as_str(), 2),
        (
            "# was: DOCSPACE_API_KEY sk-x\nA=1\nDOCSPACE_API_KEY sk-x\n",
            3,
        ),
        (
            "# GROUPS_ROOT=/DocSpace Groups\nGROUPS_ROOT=/DocSpace Groups\n",
            2,
        ),
        ("A=1\nDOCSPACE_API_KEY='sk-unterminated\nB=2\nC=3\n", 2),
    ] {
        std::fs::write(dir.path().join(".env"), text).expect(".env");
        let (code, out, err) = run_cli(dir.path(), &env, &["jobs", "list"]);
        assert_eq!(code, 2, "{out}{err}");
        assert!(
            err.contains(&format!("config error: .env line {line} cannot be read")),
            "{text}: {err}"
        );
        assert!(!err.contains("sk-"), "{err}");
    }
    // A `.env` in a parent directory is not the working directory's: it is not read.
    std::fs::write(
        dir.path().join(".env"),
        format!("BRIDGE_DATABASE_URL=sqlite://{}\n", db.display()),
    )
    .expect(".env");
    let (_, out, err) = run_cli(&child, &env, &["jobs", "list"]);
    assert!(!err.contains("from-dotenv.db"), "{out}{err}");
    assert!(
        err.contains("data/bridge.db"),
        "the default database: {out}{err}"
    );
    // In the working directory it is read.
    let (_, out, err) = run_cli(dir.path(), &env, &["jobs", "list"]);
    assert!(err.contains("from-dotenv.db"), "{out}{err}");
}

#[test]
fn help_lists_every_environment_variable_with_its_default() {
    let dir = tempfile::tempdir().expect("tmp");
    let (code, help, _) = run_cli(dir.path(), &HashMap::new(), &["--help"]);
    assert_eq!(code, 0);
    let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.env.example"))
        .expect(".env.example");
    for (name, default) in docspace_dropbox_bridge::config::variables() {
        let line = help
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name.as_str()))
            .unwrap_or_else(|| panic!("{name} not in --help:\n{help}"));
        assert!(line.contains("[default: "), "{line}");
        if !default.is_empty() && name != "LOG_FORMAT" {
            assert!(line.contains(&format!("[default: {default}]")), "{line}");
        }
        assert!(
            example.lines().any(|l| l
                .trim_start_matches(['#', ' '])
                .starts_with(&format!("{name}="))),
            "{name} not in .env.example"
        );
    }
    assert!(help.contains("DOCSPACE_API_KEY_FILE"), "{help}");
}

/// A pseudo-terminal: (the side the test reads, the side the child writes to).
fn pty() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two new descriptors into the locals; the other arguments may be null.
    let r = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(r, 0, "openpty");
    // SAFETY: both descriptors are fresh and owned by nothing else.
    unsafe {
        (
            std::fs::File::from_raw_fd(master),
            std::fs::File::from_raw_fd(slave),
        )
    }
}

/// Starts `serve` with `stdout` and `stderr`, reads `logs` until the startup line, stops it;
/// the line.
fn startup_log_line(
    stdout: Stdio,
    stderr: Stdio,
    mut logs: impl std::io::Read + Send + 'static,
) -> String {
    let dir = tempfile::tempdir().expect("tmp");
    let mut env = base_env();
    env.remove("LOG_FORMAT");
    env.insert(
        "BRIDGE_DATABASE_URL".into(),
        format!("sqlite://{}", dir.path().join("bridge.db").display()),
    );
    let mut child = std::process::Command::new(BIN)
        .env_clear()
        .envs(&env)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("bridge starts");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = logs.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let line = loop {
        if let Some(l) = seen.lines().find(|l| l.contains("bridge listening")) {
            break l.to_string();
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(chunk) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            Err(_) => panic!("no startup line in:\n{seen}"),
        }
    };
    // SAFETY: sending a signal to the child this test started.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    child.wait().expect("bridge stops");
    line
}

#[test]
fn the_log_format_follows_stderr_where_the_logs_go_not_stdout() {
    // stdout on a terminal, logs into a pipe: JSON.
    let (_terminal, stdout) = pty();
    let (read, write) = std::io::pipe().expect("pipe");
    let line = startup_log_line(Stdio::from(stdout), Stdio::from(write), read);
    let v: Value = serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(v["message"], "bridge listening", "{v}");

    // Logs on a terminal, stdout into a pipe: pretty.
    let (terminal, stderr) = pty();
    let line = startup_log_line(Stdio::piped(), Stdio::from(stderr), terminal);
    assert!(!line.trim_start().starts_with('{'), "{line}");
    assert!(line.contains("INFO"), "{line}");
}
