//! Loop guard: DocSpace events caused by the bridge's own API-key user enqueue nothing.

use crate::common::*;
use serde_json::json;

#[tokio::test]
async fn events_from_the_api_key_user_are_ignored() {
    let w = spawn_world(&[("BRIDGE_WORKERS", "false")]).await;
    let me = w.docspace.self_user_id().to_string();
    let body = |id: i64, by: &str| {
        serde_json::to_vec(&json!({
            "event": { "id": id, "createOn": "2026-05-20T10:15:30Z", "createBy": by, "trigger": "file.updated", "triggerId": 512 },
            "payload": { "id": 4711, "title": "Report.docx", "fileEntryType": 2 },
        }))
        .expect("json")
    };
    // The bridge learns its DocSpace user at start; wait until own events are recognised.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut n = 1;
    loop {
        let b = body(n, &me.to_uppercase());
        let (_, v) = w.app.deliver_docspace(&b).await;
        n += 1;
        if v["status"] == "ignored" {
            assert_eq!(v["reason"], "event caused by the bridge");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "own events were never recognised: {v}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let before = w.app.all_jobs().await.len();
    let b = body(9999, &me);
    let (_, v) = w.app.deliver_docspace(&b).await;
    assert_eq!(v["status"], "ignored");
    assert_eq!(
        w.app.all_jobs().await.len(),
        before,
        "own event enqueued a job"
    );
    // Someone else's event is accepted.
    let b = body(10000, "7c9e6679-7425-40de-944b-e07fc1f90ae7");
    let (_, v) = w.app.deliver_docspace(&b).await;
    assert_eq!(v["status"], "accepted");
}
