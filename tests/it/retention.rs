//! Finished jobs are deleted once past their retention (`BRIDGE_JOB_RETENTION` for succeeded
//! jobs, at least 30 days for dead ones) by the running service, and the queue-depth gauge counts
//! only the states an operator watches.

use std::time::Duration;

use crate::common::*;
use docspace_dropbox_bridge::store::{self, DynStore, JobOutcome, JobState, NewJob};
use reqwest::Method;
use serde_json::json;
use sqlx::{Connection, SqliteConnection};

const DAY_MS: i64 = 86_400_000;

/// A job run to `outcome` and then made to look as if it finished `days_ago` days ago.
async fn finished(
    s: &DynStore,
    db: &mut SqliteConnection,
    key: &str,
    outcome: JobOutcome,
    days_ago: i64,
) -> i64 {
    s.enqueue(vec![NewJob::new(
        "group.sync",
        Some(format!("group.sync:{key}")),
        json!({ "group_id": key }),
    )])
    .await
    .expect("enqueue");
    let c = s
        .claim("setup", 1, Duration::from_secs(30))
        .await
        .expect("claim")
        .remove(0);
    assert!(s.finish(&c.lease, outcome).await.expect("finish"));
    sqlx::query("UPDATE jobs SET updated_at = updated_at - $1 WHERE id = $2")
        .bind(days_ago * DAY_MS)
        .bind(c.id)
        .execute(&mut *db)
        .await
        .expect("age the job");
    c.id
}

fn succeeded() -> JobOutcome {
    JobOutcome::Succeeded { result: json!({}) }
}

fn dead() -> JobOutcome {
    JobOutcome::Dead {
        error: "sharing/add_folder_member: bad_member".into(),
        result: None,
    }
}

#[tokio::test]
async fn the_service_prunes_finished_jobs_past_their_retention_and_keeps_the_rest() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}", dir.path().join("retention.db").display());
    let s = store::connect(&url).await.expect("store");
    let mut db = SqliteConnection::connect(&url).await.expect("connect");
    let old_ok = finished(&s, &mut db, "old-ok", succeeded(), 3).await;
    let recent_ok = finished(&s, &mut db, "recent-ok", succeeded(), 1).await;
    let dead_10d = finished(&s, &mut db, "dead-10d", dead(), 10).await;
    let dead_31d = finished(&s, &mut db, "dead-31d", dead(), 31).await;
    db.close().await.expect("close");
    drop(s);

    // The scheduler prunes once at start, then hourly.
    let w = spawn_world(|c| {
        c.database_url = url.clone();
        c.queue.run_scheduler = true;
        c.queue.job_retention = Duration::from_secs(2 * 86_400);
    })
    .await;
    let status = |id: i64| {
        let app = &w.app;
        async move {
            app.api(Method::GET, &format!("/api/v1/jobs/{id}"), None)
                .await
                .0
        }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while status(old_ok).await != 404 || status(dead_31d).await != 404 {
        assert!(
            std::time::Instant::now() < deadline,
            "no prune: {:#?}",
            w.app.all_jobs().await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (id, what) in [
        (recent_ok, "a succeeded job within BRIDGE_JOB_RETENTION"),
        (dead_10d, "a dead job within its 30 days"),
    ] {
        let (code, v) = w
            .app
            .api(Method::GET, &format!("/api/v1/jobs/{id}"), None)
            .await;
        assert_eq!(code, 200, "{what} was pruned: {v}");
    }
}

#[tokio::test]
async fn queue_gauges_count_every_state_but_succeeded_zero_included() {
    let dir = tempfile::tempdir().expect("tmp");
    for url in store_urls(dir.path()).await {
        let s = store::connect(&url).await.expect("connect");
        let empty = s.queue_gauges().await.expect("gauges");
        assert_eq!(
            empty.keys().copied().collect::<Vec<_>>(),
            JobState::GAUGED.to_vec(),
            "{url}"
        );
        assert!(empty.values().all(|n| *n == 0), "{url}: {empty:?}");

        s.enqueue(vec![
            NewJob::new("group.sync", Some("a".into()), json!({ "group_id": "a" })),
            NewJob::new("group.sync", Some("b".into()), json!({ "group_id": "b" })),
            NewJob::new("group.sync", Some("c".into()), json!({ "group_id": "c" })),
        ])
        .await
        .expect("enqueue");
        let c = s
            .claim("w", 2, Duration::from_secs(30))
            .await
            .expect("claim");
        assert!(s.finish(&c[0].lease, succeeded()).await.expect("finish"));
        let g = s.queue_gauges().await.expect("gauges");
        assert_eq!(g[&JobState::Queued], 1, "{url}");
        assert_eq!(g[&JobState::Running], 1, "{url}");
        assert_eq!(g[&JobState::Failed], 0, "{url}");
        assert_eq!(g[&JobState::Dead], 0, "{url}");
        assert!(!g.contains_key(&JobState::Succeeded), "{url}");
    }
}

#[tokio::test]
async fn metrics_export_the_depth_of_queued_running_failed_and_dead_jobs() {
    let app = spawn_app(no_workers).await;
    let text = app
        .http
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    for state in ["queued", "running", "failed", "dead"] {
        let series = format!(r#"bridge_queue_depth{{state="{state}"}} "#);
        assert!(text.contains(&series), "{series} missing:\n{text}");
    }
    assert!(
        !text.contains(r#"bridge_queue_depth{state="succeeded"}"#),
        "succeeded jobs are not a queue depth:\n{text}"
    );
}
