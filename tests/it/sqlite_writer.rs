//! The SQLite writer under pressure from outside: another connection holding the write lock,
//! clients that hang up while their write waits, and what `/readyz` says about it.

use std::time::Duration;

use crate::common::*;
use serde_json::json;
use sqlx::{Connection, SqliteConnection};

/// Sends `req` and gives up after a moment, as an impatient client does; the request must not
/// have been answered by then (it waits for the write lock).
async fn send_and_hang_up(req: reqwest::RequestBuilder) {
    let outcome = req.timeout(Duration::from_millis(300)).send().await;
    let err = outcome.expect_err("the request waits for the write lock");
    assert!(err.is_timeout(), "{err}");
    // The server notices the closed connection and drops the handler while its write is still
    // waiting for the lock.
    tokio::time::sleep(Duration::from_millis(200)).await;
}

fn group_created(event_id: i64, group_id: &str) -> Vec<u8> {
    docspace_event(
        event_id,
        "group.created",
        json!({ "id": group_id, "name": "Marketing" }),
    )
}

#[tokio::test]
async fn a_retry_request_abandoned_while_waiting_for_the_lock_does_not_wedge_later_webhooks() {
    let app = spawn_app(no_workers).await;
    let lock = WriteLock::take(&app).await;
    send_and_hang_up(
        app.http
            .post(format!("{}/api/v1/jobs/999/retry", app.url))
            .bearer_auth(API_TOKEN),
    )
    .await;
    lock.release().await;

    let (status, body) = app.deliver_docspace(&group_created(1, "g-after")).await;
    assert_eq!(status, 200, "{body}");
    let jobs = app.all_jobs().await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0]["dedupe_key"], "group:g-after");
    assert_eq!(jobs[0]["state"], "queued");

    // Single-statement writes land in the database, not in an abandoned transaction: a new
    // connection sees the job.
    let mut fresh = SqliteConnection::connect(&app.config.database_url)
        .await
        .expect("connect");
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs")
        .fetch_one(&mut fresh)
        .await
        .expect("count");
    assert_eq!(n, 1);
    let (status, _) = app.api(reqwest::Method::GET, "/readyz", None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn readyz_is_unavailable_while_the_writer_cannot_take_the_write_lock() {
    let app = spawn_app(no_workers).await;
    let readyz = || async {
        let resp = app
            .http
            .get(format!("{}/readyz", app.url))
            .send()
            .await
            .expect("request");
        let retry_after = resp.headers().get("retry-after").cloned();
        (
            resp.status().as_u16(),
            retry_after,
            resp.json::<serde_json::Value>().await.expect("json"),
        )
    };
    assert_eq!(readyz().await.0, 200);

    let lock = WriteLock::take(&app).await;
    let (status, retry_after, body) = readyz().await;
    assert_eq!(status, 503, "{body}");
    assert!(retry_after.is_some());
    assert_eq!(body["error"]["code"], "database_unavailable");
    // Reads still work meanwhile.
    let (status, _) = app.api(reqwest::Method::GET, "/api/v1/jobs", None).await;
    assert_eq!(status, 200);

    lock.release().await;
    let (status, _, body) = readyz().await;
    assert_eq!(status, 200, "{body}");
}
