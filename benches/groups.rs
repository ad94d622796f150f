//! Group reconcile benchmark: 200 groups × 25 members against the DocSpace and Dropbox stand-ins
//! with 20 ms latency per call. Measures the one-shot reconcile (`sync-groups` code path, 8 groups
//! at a time) from scratch and with nothing to change, the API calls it makes per group, and the
//! same calls made by a plain sequential loop for comparison. Then the service path: the same
//! groups from scratch through `POST /api/v1/groups/sync` (one `group.sync` job per group, run by
//! `WORKER_CONCURRENCY` workers) with a share of `share_folder` calls answered as asynchronous
//! jobs, as Dropbox does for folders with content, until the queue is drained; against the sum of
//! the jobs' own run times spread over the workers.
//!
//! `cargo bench --bench groups [-- --groups 200 --members 25 --latency-ms 20 --concurrency 8
//!  --workers 8 --async-percent 30]`

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bridge_fakes::docspace::FakeDocSpace;
use bridge_fakes::dropbox::FakeDropbox;
use docspace_dropbox_bridge::config::Config;
use docspace_dropbox_bridge::dropbox::AccessLevel;
use docspace_dropbox_bridge::jobs::groups;
use docspace_dropbox_bridge::jobs::JobContext;
use docspace_dropbox_bridge::store::{self, JobFilter, JobState};

#[path = "support/mod.rs"]
mod support;
use support::{arg, bridge_env, start_service, API_TOKEN};

struct World {
    docspace: FakeDocSpace,
    dropbox: FakeDropbox,
    ctx: JobContext,
    _dir: tempfile::TempDir,
}

async fn world(groups: u64, members: u64, latency: Duration) -> World {
    let docspace = FakeDocSpace::start(Default::default())
        .await
        .expect("fake DocSpace");
    let dropbox = FakeDropbox::start(Default::default())
        .await
        .expect("fake Dropbox");
    // Members overlap between groups, as people do.
    let users: Vec<_> = (0..groups * members / 4)
        .map(|i| docspace.add_active_user("User", &i.to_string(), &format!("user{i}@example.com")))
        .collect();
    for g in 0..groups {
        let ids: Vec<_> = (0..members)
            .map(|m| users[((g * 7 + m * 13) as usize) % users.len()])
            .collect();
        docspace
            .create_group(&format!("Group {g:03}"), &ids)
            .expect("group");
    }
    docspace.update_knobs(|k| k.latency_ms = latency.as_millis() as u64);
    dropbox.set_latency(latency);

    let dir = tempfile::tempdir().expect("tmp");
    let d = dropbox.options();
    let env: HashMap<String, String> = [
        ("DOCSPACE_URL", docspace.url()),
        ("DOCSPACE_API_KEY", docspace.api_key().to_string()),
        ("DOCSPACE_WEBHOOK_SECRET", "bench-webhook-secret".into()),
        ("DROPBOX_API_URL", dropbox.api_url()),
        ("DROPBOX_CONTENT_URL", dropbox.content_url()),
        ("DROPBOX_APP_KEY", d.app_key.clone()),
        ("DROPBOX_APP_SECRET", d.app_secret.clone()),
        ("DROPBOX_REFRESH_TOKEN", d.refresh_token.clone()),
        (
            "BRIDGE_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("bench.db").display()),
        ),
        ("LOG_FORMAT", "json".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let config = Config::from_map(&env).expect("config");
    let store = store::connect(&config.database_url).await.expect("store");
    let ctx = JobContext::new(Arc::new(config), store);
    World {
        docspace,
        dropbox,
        ctx,
        _dir: dir,
    }
}

struct Figures {
    wall: Duration,
    dropbox_calls: u64,
    docspace_calls: u64,
    writes: u64,
    failed: usize,
}

async fn reconcile(w: &World, concurrency: usize) -> Figures {
    w.dropbox.reset_counters();
    w.docspace.reset_stats();
    let start = Instant::now();
    let runs = groups::reconcile_groups(&w.ctx, None, false, concurrency, |_| {}, |_| {})
        .await
        .expect("reconcile");
    Figures {
        wall: start.elapsed(),
        dropbox_calls: w.dropbox.total_calls(),
        docspace_calls: w.docspace.total_calls(),
        writes: w.dropbox.total_write_calls(),
        failed: runs.iter().filter(|r| r.result.is_err()).count(),
    }
}

/// The same calls as a from-scratch reconcile, one after another, with no planning or store.
async fn sequential(w: &World) -> Figures {
    w.dropbox.reset_counters();
    w.docspace.reset_stats();
    let start = Instant::now();
    let (ds, db) = (&w.ctx.docspace, &w.ctx.dropbox);
    let mut failed = 0;
    for g in ds.list_all_groups().await.expect("groups") {
        let one = async {
            let g = ds.group_with_members(&g.id).await.ok()??;
            let sf = db
                .share_folder(&format!("/Sequential/{}", g.group.name))
                .await
                .ok()?;
            let members: Vec<(String, AccessLevel)> = g
                .members
                .iter()
                .filter_map(|u| u.email.clone())
                .map(|e| (e.to_lowercase(), AccessLevel::Editor))
                .collect();
            db.add_folder_member(&sf.shared_folder_id, &members, false)
                .await
                .ok()
        };
        if one.await.is_none() {
            failed += 1;
        }
    }
    Figures {
        wall: start.elapsed(),
        dropbox_calls: w.dropbox.total_calls(),
        docspace_calls: w.docspace.total_calls(),
        writes: w.dropbox.total_write_calls(),
        failed,
    }
}

fn print(label: &str, f: &Figures, groups: u64) {
    let per = |n: u64| n as f64 / groups as f64;
    println!(
        "{label:<34} {:>8.2} s   dropbox {:>5} calls ({:>4.2}/group, {:>4} writes)   docspace {:>4} calls ({:>4.2}/group)   failed groups {}",
        f.wall.as_secs_f64(),
        f.dropbox_calls,
        per(f.dropbox_calls),
        f.writes,
        f.docspace_calls,
        per(f.docspace_calls),
        f.failed,
    );
}

/// From scratch through the API and the queue; prints the wall time and the jobs' run times.
async fn service_path(
    groups: u64,
    members: u64,
    latency: Duration,
    workers: u64,
    async_percent: u64,
) {
    let w = world(groups, members, latency).await;
    w.dropbox
        .set_share_folder_async_ratio(async_percent as f64 / 100.0);
    let dir = tempfile::tempdir().expect("tmp");
    let mut env = bridge_env(&w.docspace, &w.dropbox, dir.path());
    env.insert("WORKER_CONCURRENCY".into(), workers.to_string());
    let (app, st) = start_service(&env).await;
    w.dropbox.reset_counters();
    let started = Instant::now();
    let resp = reqwest::Client::new()
        .post(format!("http://{}/api/v1/groups/sync", app.addr))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("api");
    assert_eq!(resp.status().as_u16(), 202, "the API accepts the reconcile");
    app.wait_idle().await;
    let wall = started.elapsed();
    let mut jobs = Vec::new();
    loop {
        let page = st
            .list_jobs(&JobFilter {
                kind: Some("group.sync".into()),
                limit: 100,
                before_id: jobs.last().map(|j: &store::Job| j.id),
                ..Default::default()
            })
            .await
            .expect("jobs");
        if page.is_empty() {
            break;
        }
        jobs.extend(page);
    }
    let mut run_ms = 0.0;
    let mut failed = 0;
    for j in &jobs {
        if j.state != JobState::Succeeded {
            failed += 1;
        }
        for a in st.attempts(j.id).await.expect("attempts") {
            run_ms += a.duration_ms as f64;
        }
    }
    let shares = w.dropbox.calls("sharing/share_folder");
    let polls = w.dropbox.calls("sharing/check_share_job_status");
    let shared = w.dropbox.shared_folders().len();
    app.shutdown().await;
    println!(
        "service path: POST /api/v1/groups/sync, WORKER_CONCURRENCY={workers}, {async_percent}% of share_folder calls async ({shares} shares, {polls} status polls)"
    );
    println!(
        "  {:>8.2} s from the API call to a drained queue; {} group.sync jobs ({failed} not succeeded), {shared} shared folders; their run times sum to {:.1} s = {:.2} s over {workers} workers; {} Dropbox calls",
        wall.as_secs_f64(),
        jobs.len(),
        run_ms / 1e3,
        run_ms / 1e3 / workers as f64,
        w.dropbox.total_calls(),
    );
}

#[tokio::main]
async fn main() {
    let groups = arg("--groups", 200);
    let members = arg("--members", 25);
    let latency = Duration::from_millis(arg("--latency-ms", 20));
    let concurrency = arg("--concurrency", groups::DEFAULT_CONCURRENCY as u64) as usize;
    let workers = arg("--workers", 8);
    let async_percent = arg("--async-percent", 30);
    println!(
        "groups bench: {groups} groups × {members} members, {} ms per call at both stand-ins, concurrency {concurrency}",
        latency.as_millis()
    );

    let w = world(groups, members, latency).await;
    let scratch = reconcile(&w, concurrency).await;
    print("reconcile from scratch", &scratch, groups);
    let again = reconcile(&w, concurrency).await;
    print("reconcile, nothing changed", &again, groups);

    let s = world(groups, members, latency).await;
    let seq = sequential(&s).await;
    print("plain sequential loop (same calls)", &seq, groups);

    println!(
        "speed-up over the sequential loop: {:.1}×",
        seq.wall.as_secs_f64() / scratch.wall.as_secs_f64().max(1e-9)
    );
    let goal_time = scratch.wall < Duration::from_secs(5);
    let goal_writes = again.writes == 0;
    println!(
        "goals: from scratch < 5 s: {}; no-change reconcile makes no write call: {}",
        if goal_time { "met" } else { "MISSED" },
        if goal_writes { "met" } else { "MISSED" },
    );
    let members_in_dropbox: usize = w
        .dropbox
        .shared_folders()
        .iter()
        .map(|f| f.members.len() + f.invitees.len() - 1)
        .sum();
    println!(
        "state: {} shared folders, {members_in_dropbox} memberships",
        w.dropbox.shared_folders().len()
    );
    service_path(groups, members, latency, workers, async_percent).await;
}
