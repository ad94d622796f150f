//! Several replicas on one PostgreSQL database (runs when TEST_DATABASE_URL is set).

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_dedupe_and_never_run_a_job_twice() {
    let Some(url) = fresh_postgres_url().await else {
        eprintln!("TEST_DATABASE_URL unset: PostgreSQL replica test skipped");
        return;
    };
    let a = spawn_world(|c| c.database_url = url.clone()).await;
    let b = spawn_app(|c| {
        use_fakes(c, &a.docspace, &a.dropbox);
        c.database_url = url.clone();
    })
    .await;

    let member = a
        .docspace
        .add_active_user("Ada", "Lovelace", "ada@example.com");
    let mut groups = Vec::new();
    for i in 0..20 {
        groups.push(
            a.docspace
                .create_group(&format!("Team {i}"), &[member])
                .expect("group"),
        );
    }
    // Every delivery reaches both replicas (DocSpace retrying through a load balancer).
    let sender_a = a.docspace_sender();
    let sender_b = bridge_fakes::webhooks::DocSpaceWebhookSender::new(
        format!("{}/webhooks/docspace", b.url),
        DOCSPACE_SECRET,
    );
    for g in &groups {
        let group = a.docspace.group(*g).expect("group exists");
        let d = sender_a
            .group_event("group.updated", &group)
            .await
            .expect("deliver to a");
        assert_eq!(d.status, 200);
        let again = sender_b.resend(&d).await.expect("deliver to b");
        assert_eq!(again.status, 200);
    }
    let jobs = a.settle(60).await;
    assert_eq!(jobs.len(), 20, "one job per delivery: {jobs:#?}");
    for j in &jobs {
        assert_eq!(j["state"], "succeeded", "{j}");
        assert_eq!(j["attempts"], 1, "ran once: {j}");
    }
    assert_eq!(
        a.dropbox.calls("sharing/share_folder"),
        20,
        "each folder shared by exactly one replica"
    );
    assert_eq!(a.dropbox.shared_folders().len(), 20);
}

/// Each replica kept its own timer for the periodic jobs, so with three replicas the group
/// reconcile ran three times per `RECONCILE_INTERVAL`. Now each replica runs it once when it
/// starts, and after that the schedule in the database hands out one run per interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_periodic_job_runs_once_per_interval_however_many_replicas_run() {
    let Some(url) = fresh_postgres_url().await else {
        eprintln!("TEST_DATABASE_URL unset: PostgreSQL replica test skipped");
        return;
    };
    let every = std::time::Duration::from_secs(1);
    let schedule = |c: &mut docspace_dropbox_bridge::config::Config| {
        c.database_url = url.clone();
        c.queue.run_scheduler = true;
        c.groups.reconcile_interval = every;
        c.export.reconcile_interval = std::time::Duration::from_secs(3600);
        c.queue.changes_poll_interval = std::time::Duration::from_secs(3600);
    };
    let started = std::time::Instant::now();
    let a = spawn_world(schedule).await;
    let mut others = Vec::new();
    for _ in 0..2 {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        others.push(
            spawn_app(|c| {
                use_fakes(c, &a.docspace, &a.dropbox);
                schedule(c);
            })
            .await,
        );
    }
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let elapsed = started.elapsed();
    let runs = a
        .app
        .all_jobs()
        .await
        .into_iter()
        .filter(|j| j["kind"] == "groups.sync_all")
        .count();
    // One run per replica start, and one per interval since the first start (plus one for a
    // run that was due as the count was taken). A timer per replica makes about three per
    // interval.
    let most = 3 + elapsed.as_secs() as usize + 1;
    assert!(
        runs <= most,
        "{runs} group reconciles in {elapsed:?} with 3 replicas, at most {most} expected"
    );
    assert!(
        runs >= 3 + 2,
        "{runs} group reconciles in {elapsed:?}: the periodic runs did not happen"
    );
}
