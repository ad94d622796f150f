//! Finished jobs are deleted once past their retention (`BRIDGE_JOB_RETENTION` for succeeded
//! jobs, at least 30 days for dead ones) and deliveries past `BRIDGE_DELIVERY_RETENTION` by every
//! running replica, whether it runs the scheduler and workers or not, and the queue-depth gauge
//! counts only the states an operator watches.

use std::time::Duration;

use crate::common::*;
use docspace_dropbox_bridge::store::{
    self, Delivery, DynStore, JobOutcome, JobState, NewJob, Received,
};
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

    // The service prunes once at start, then hourly.
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

/// A kept DocSpace delivery of event `event_id`, received `days_ago` days ago.
async fn delivery(s: &DynStore, db: &mut SqliteConnection, event_id: &str, days_ago: i64) {
    s.ingest(Delivery {
        delivery_id: Some(format!("docspace:{event_id}")),
        jobs: Vec::new(),
        received: Some(Received {
            source: "docspace".into(),
            event_id: Some(event_id.into()),
            trigger: Some("group.updated".into()),
            request_id: None,
        }),
    })
    .await
    .expect("ingest");
    sqlx::query("UPDATE deliveries SET received_at = received_at - $1 WHERE event_id = $2")
        .bind(days_ago * DAY_MS)
        .bind(event_id)
        .execute(&mut *db)
        .await
        .expect("age the delivery");
}

#[tokio::test]
async fn a_replica_without_scheduler_or_workers_prunes_deliveries_and_jobs_too() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}", dir.path().join("web-only.db").display());
    let s = store::connect(&url).await.expect("store");
    let mut db = SqliteConnection::connect(&url).await.expect("connect");
    let old_ok = finished(&s, &mut db, "old-ok", succeeded(), 1).await;
    let new_ok = finished(&s, &mut db, "new-ok", succeeded(), 0).await;
    delivery(&s, &mut db, "7001", 1).await;
    delivery(&s, &mut db, "7002", 0).await;
    db.close().await.expect("close");
    drop(s);

    // A web-only replica that enqueues no periodic jobs, with the shortest retentions allowed.
    let app = spawn_app(|c| {
        c.database_url = url.clone();
        no_workers(c);
        c.queue.run_scheduler = false;
        c.queue.job_retention = Duration::from_secs(3600);
        c.http.delivery_retention = Duration::from_secs(3600);
    })
    .await;
    let events = || async {
        let (code, v) = app.api(Method::GET, "/api/v1/deliveries", None).await;
        assert_eq!(code, 200, "{v}");
        v["deliveries"]
            .as_array()
            .expect("deliveries")
            .iter()
            .filter_map(|d| d["event_id"].as_str().map(str::to_string))
            .collect::<Vec<_>>()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let job_gone = app
            .api(Method::GET, &format!("/api/v1/jobs/{old_ok}"), None)
            .await
            .0
            == 404;
        if job_gone && events().await == vec!["7002".to_string()] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no prune: jobs {:#?}, deliveries {:?}",
            app.all_jobs().await,
            events().await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (code, v) = app
        .api(Method::GET, &format!("/api/v1/jobs/{new_ok}"), None)
        .await;
    assert_eq!(code, 200, "a job within its retention was pruned: {v}");
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
