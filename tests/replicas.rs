//! Several replicas on one PostgreSQL database (runs when TEST_DATABASE_URL is set).

mod common;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_dedupe_and_never_run_a_job_twice() {
    let Some(url) = fresh_postgres_url().await else {
        eprintln!("TEST_DATABASE_URL unset: PostgreSQL replica test skipped");
        return;
    };
    let a = spawn_app(&[("BRIDGE_DATABASE_URL", &url)]).await;
    let b = spawn_app(&[("BRIDGE_DATABASE_URL", &url)]).await;
    // The same delivery reaches both replicas (DocSpace retry through a load balancer).
    for id in 0..40 {
        let body = docspace_event(
            id,
            "group.updated",
            json!({ "id": format!("g{id}"), "name": "n" }),
        );
        let sig = docspace_signature_upper(&body);
        let (ra, rb) = tokio::join!(
            a.post_docspace(&body, Some(&sig)),
            b.post_docspace(&body, Some(&sig))
        );
        assert_eq!(ra.status(), 200);
        assert_eq!(rb.status(), 200);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let jobs = a.all_jobs().await;
        let settled = jobs
            .iter()
            .all(|j| j["state"] == "dead" || j["state"] == "succeeded");
        if jobs.len() == 40 && settled {
            // Each ran exactly once, on one replica or the other.
            assert!(jobs.iter().all(|j| j["attempts"] == 1), "{jobs:?}");
            break;
        }
        assert!(jobs.len() <= 40, "a delivery was enqueued twice");
        assert!(
            std::time::Instant::now() < deadline,
            "jobs did not settle: {jobs:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
