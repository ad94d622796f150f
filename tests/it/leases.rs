//! Leases that fence: every claim has a token of its own, so a run that lost its lease can
//! neither extend it nor record a result over the run that took the job over, even when both
//! runs are in the same process; lease times come from the database's clock; and a run whose
//! lease cannot be renewed stops.

use std::time::Duration;

use crate::common::*;
use docspace_dropbox_bridge::store::{self, Backoff, JobOutcome, JobState};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Connection;

#[tokio::test]
async fn a_run_that_lost_its_lease_cannot_renew_or_finish_over_the_next_run_of_the_same_process() {
    each_store(|s, b| {
        Box::pin(async move {
            let j = s
                .enqueue(vec![job("fenced")])
                .await
                .expect("enqueue")
                .remove(0);
            // One process ("w") claims the job, stalls past its lease, and claims it again.
            let first = s
                .claim("w", 1, Duration::from_millis(50))
                .await
                .expect("claim")
                .remove(0);
            tokio::time::sleep(Duration::from_millis(120)).await;
            assert_eq!(
                s.requeue_expired(5, Backoff::default())
                    .await
                    .expect("requeue"),
                1,
                "{b}"
            );
            let second = s
                .claim("w", 1, Duration::from_secs(30))
                .await
                .expect("claim")
                .remove(0);
            assert_eq!(second.id, j.id);
            assert_eq!(second.attempts, 2, "{b}");
            assert_ne!(
                first.lease, second.lease,
                "{b}: every claim has its own token"
            );

            assert!(
                !s.renew_lease(&first.lease, Duration::from_secs(30))
                    .await
                    .expect("renew"),
                "{b}: the stale run cannot extend the new run's lease"
            );
            assert!(
                !s.finish(
                    &first.lease,
                    JobOutcome::Dead {
                        error: "stale run".into(),
                        result: None
                    }
                )
                .await
                .expect("finish"),
                "{b}: the stale run's result is refused"
            );
            s.release(&first.lease).await.expect("release");
            let now = s.get_job(j.id).await.expect("get").expect("job");
            assert_eq!(now.state, JobState::Running, "{b}: still the new run's");
            assert_eq!(now.attempts, 2, "{b}: the stale release changed nothing");
            assert_eq!(now.last_error.as_deref(), Some("lease expired"), "{b}");

            assert!(s
                .renew_lease(&second.lease, Duration::from_secs(30))
                .await
                .expect("renew"));
            assert!(s
                .finish(
                    &second.lease,
                    JobOutcome::Succeeded {
                        result: json!({ "run": 2 })
                    }
                )
                .await
                .expect("finish"));
            let done = s.get_job(j.id).await.expect("get").expect("job");
            assert_eq!(done.state, JobState::Succeeded, "{b}");
            assert_eq!(done.result, Some(json!({ "run": 2 })), "{b}");
            assert!(
                !s.finish(
                    &first.lease,
                    JobOutcome::Dead {
                        error: "stale run".into(),
                        result: None
                    }
                )
                .await
                .expect("finish"),
                "{b}: nor after the new run finished"
            );
            assert_eq!(
                s.get_job(j.id).await.expect("get").expect("job").state,
                JobState::Succeeded
            );
        })
    })
    .await;
}

#[tokio::test]
async fn a_lease_that_expired_is_not_renewed_but_its_result_is_taken_until_requeued() {
    each_store(|s, b| {
        Box::pin(async move {
            s.enqueue(vec![job("late"), job("later")])
                .await
                .expect("enqueue");
            let claimed = s
                .claim("w", 2, Duration::from_millis(50))
                .await
                .expect("claim");
            assert_eq!(claimed.len(), 2);
            tokio::time::sleep(Duration::from_millis(120)).await;
            assert!(
                !s.renew_lease(&claimed[0].lease, Duration::from_secs(30))
                    .await
                    .expect("renew"),
                "{b}: an expired lease stays expired"
            );
            // Nobody requeued it yet, so no other run can have started: the result counts.
            assert!(s
                .finish(
                    &claimed[1].lease,
                    JobOutcome::Succeeded { result: json!({}) }
                )
                .await
                .expect("finish"));
            assert_eq!(
                s.requeue_expired(5, Backoff::default())
                    .await
                    .expect("requeue"),
                1,
                "{b}"
            );
            assert_eq!(
                s.get_job(claimed[0].id)
                    .await
                    .expect("get")
                    .expect("job")
                    .state,
                JobState::Failed
            );
        })
    })
    .await;
}

/// A job whose every run loses its worker (a job that crashes the process running it) counts
/// each lost run as an attempt and ends `dead` after `JOB_MAX_ATTEMPTS`, instead of being given
/// to one worker after another for ever.
#[tokio::test]
async fn a_job_whose_runs_keep_losing_their_worker_is_dead_after_the_last_attempt() {
    each_store(|s, b| {
        Box::pin(async move {
            let j = s
                .enqueue(vec![job("crashes its worker")])
                .await
                .expect("enqueue")
                .remove(0);
            for attempt in 1..=3 {
                let run = s
                    .claim("w", 1, Duration::from_millis(50))
                    .await
                    .expect("claim")
                    .remove(0);
                assert_eq!((run.id, run.attempts), (j.id, attempt), "{b}");
                tokio::time::sleep(Duration::from_millis(120)).await;
                assert_eq!(
                    s.requeue_expired(3, Backoff::default())
                        .await
                        .expect("requeue"),
                    1,
                    "{b}"
                );
                let now = s.get_job(j.id).await.expect("get").expect("job");
                let expected = if attempt < 3 {
                    JobState::Failed
                } else {
                    JobState::Dead
                };
                assert_eq!(now.state, expected, "{b}: after attempt {attempt}");
            }
            let dead = s.get_job(j.id).await.expect("get").expect("job");
            assert_eq!(
                dead.last_error.as_deref(),
                Some("lease expired on every attempt: the worker running it was lost each time"),
                "{b}"
            );
            assert!(s
                .claim("w", 1, Duration::from_secs(30))
                .await
                .expect("claim")
                .is_empty());
        })
    })
    .await;
}

/// A job that failed with an error of its own and then lost its worker on its last attempt is
/// not said to have lost its worker on every attempt, and keeps the error it failed with.
#[tokio::test]
async fn a_job_dead_after_a_failure_and_a_lost_worker_says_both() {
    each_store(|s, b| {
        Box::pin(async move {
            let j = s
                .enqueue(vec![job("fails, then crashes")])
                .await
                .expect("enqueue")
                .remove(0);
            let first = s
                .claim("w", 1, Duration::from_secs(30))
                .await
                .expect("claim")
                .remove(0);
            let failed = JobOutcome::Retry {
                error: "403 Forbidden: no permission".into(),
                after: Duration::ZERO,
            };
            assert!(s.finish(&first.lease, failed).await.expect("finish"), "{b}");
            let second = s
                .claim("w", 1, Duration::from_millis(50))
                .await
                .expect("claim")
                .remove(0);
            assert_eq!((second.id, second.attempts), (j.id, 2), "{b}");
            tokio::time::sleep(Duration::from_millis(120)).await;
            s.requeue_expired(2, Backoff::default())
                .await
                .expect("requeue");
            let dead = s.get_job(j.id).await.expect("get").expect("job");
            assert_eq!(dead.state, JobState::Dead, "{b}");
            assert_eq!(
                dead.last_error.as_deref(),
                Some(
                    "lease expired on the last attempt: the worker running it was lost; \
                     an earlier run failed with: 403 Forbidden: no permission"
                ),
                "{b}"
            );
        })
    })
    .await;
}

/// A job whose worker was lost was due again at once, so a job that brings down the process
/// running it brought down the next replica straight away. It now waits the backoff of a failed
/// run: `BRIDGE_BACKOFF_BASE` doubled per attempt after the first, at most `BRIDGE_BACKOFF_MAX`.
#[tokio::test]
async fn a_job_whose_worker_was_lost_waits_its_backoff_before_it_runs_again() {
    each_store(|s, b| {
        Box::pin(async move {
            let short = Duration::from_millis(50);
            // Lets the lease of `run` expire, requeues it with `backoff`, and says how many
            // seconds the job now waits.
            let lose = |run: store::Claimed, backoff: Backoff| {
                let (s, b) = (s.clone(), b.clone());
                async move {
                    tokio::time::sleep(Duration::from_millis(120)).await;
                    let before = chrono::Utc::now();
                    assert_eq!(
                        s.requeue_expired(5, backoff).await.expect("requeue"),
                        1,
                        "{b}"
                    );
                    assert!(
                        s.claim("w", 1, short).await.expect("claim").is_empty(),
                        "{b}: a lost run is not due again at once"
                    );
                    let got = s.get_job(run.id).await.expect("get").expect("job");
                    assert_eq!(got.state, JobState::Failed, "{b}");
                    (got.run_at - before).num_milliseconds() as f64 / 1000.0
                }
            };
            let backoff = |base, max| Backoff {
                base: Duration::from_secs(base),
                max: Duration::from_secs(max),
            };

            // Lost on its first attempt: the base.
            s.enqueue(vec![job("first")]).await.expect("enqueue");
            let run = s.claim("w", 1, short).await.expect("claim").remove(0);
            assert_eq!(run.attempts, 1, "{b}");
            let waits = lose(run, backoff(60, 600)).await;
            assert!(
                (59.0..=60.5).contains(&waits),
                "{b}: waits {waits} s, not 60"
            );

            // Lost on its second attempt: twice the base, here more than the most.
            s.enqueue(vec![job("second")]).await.expect("enqueue");
            let run = s.claim("w", 1, short).await.expect("claim").remove(0);
            retry_now(&s, &run.lease).await;
            let run = s.claim("w", 1, short).await.expect("claim").remove(0);
            assert_eq!(run.attempts, 2, "{b}");
            let waits = lose(run, backoff(60, 90)).await;
            assert!(
                (89.0..=90.5).contains(&waits),
                "{b}: waits {waits} s, not 90"
            );
        })
    })
    .await;
}

/// Makes `now()` of every new connection to the database at `url` the server's time plus the
/// seconds in table `clock_offset`: the clock of a database server that disagrees with the
/// replicas' clocks. `pg_catalog` named last in `search_path` lets `public.now()` shadow it.
async fn shift_database_clock(url: &str) -> sqlx::PgConnection {
    let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
    for stmt in [
        "CREATE TABLE clock_offset (seconds DOUBLE PRECISION NOT NULL)",
        "INSERT INTO clock_offset VALUES (0)",
        "CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql STABLE AS
           $$ SELECT pg_catalog.now() + make_interval(secs => (SELECT seconds FROM public.clock_offset)) $$",
    ] {
        sqlx::query(stmt).execute(&mut c).await.expect(stmt);
    }
    let db: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut c)
        .await
        .expect("name");
    sqlx::query(&format!(
        "ALTER DATABASE {db} SET search_path = public, pg_catalog"
    ))
    .execute(&mut c)
    .await
    .expect("search_path");
    c
}

/// Ends the run holding `lease` as failed, due again at once.
async fn retry_now(s: &store::DynStore, lease: &store::Lease) {
    let retry = JobOutcome::Retry {
        error: "503".into(),
        after: Duration::ZERO,
    };
    assert!(s.finish(lease, retry).await.expect("finish"));
}

/// Sets the database's clock (see [`shift_database_clock`]) `seconds` from the server's.
async fn set_clock_offset(c: &mut sqlx::PgConnection, seconds: i32) {
    sqlx::query("UPDATE clock_offset SET seconds = $1")
        .bind(f64::from(seconds))
        .execute(c)
        .await
        .expect("shift");
}

#[tokio::test]
async fn postgres_leases_expire_by_the_database_clock_not_the_replicas() {
    let Some(url) = fresh_postgres_url().await else {
        eprintln!("TEST_DATABASE_URL unset: PostgreSQL clock test skipped");
        return;
    };
    let mut clock = shift_database_clock(&url).await;
    let s = store::connect(&url).await.expect("connect");
    let j = s
        .enqueue(vec![job("clock")])
        .await
        .expect("enqueue")
        .remove(0);
    let claimed = s
        .claim("w", 1, Duration::from_secs(60))
        .await
        .expect("claim")
        .remove(0);
    assert_eq!(
        s.requeue_expired(5, Backoff::default())
            .await
            .expect("requeue"),
        0
    );

    // The database's clock moves two minutes on; the replica's clock says 60 s have not passed.
    set_clock_offset(&mut clock, 120).await;
    assert!(
        !s.renew_lease(&claimed.lease, Duration::from_secs(60))
            .await
            .expect("renew"),
        "the lease expired by the database's clock"
    );
    assert_eq!(
        s.requeue_expired(5, Backoff::default())
            .await
            .expect("requeue"),
        1
    );
    let again = s
        .claim("w", 1, Duration::from_secs(60))
        .await
        .expect("claim");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, j.id);

    // And the database's clock going back does not make a granted lease expire early.
    set_clock_offset(&mut clock, 0).await;
    assert_eq!(
        s.requeue_expired(5, Backoff::default())
            .await
            .expect("requeue"),
        0
    );
    assert!(s
        .renew_lease(&again[0].lease, Duration::from_secs(60))
        .await
        .expect("renew"));
}

/// A replica whose clock ran ahead of the database's put its own time on the jobs it queued,
/// retried and re-drove, so no replica claimed them until the database's clock caught up.
#[tokio::test]
async fn postgres_jobs_are_due_by_the_database_clock_not_the_replicas() {
    let Some(url) = fresh_postgres_url().await else {
        eprintln!("TEST_DATABASE_URL unset: PostgreSQL clock test skipped");
        return;
    };
    let mut clock = shift_database_clock(&url).await;
    // The replica's clock is ten minutes ahead of the database's.
    set_clock_offset(&mut clock, -600).await;
    let s = store::connect(&url).await.expect("connect");
    let claim = || async {
        s.claim("w", 1, Duration::from_secs(60))
            .await
            .expect("claim")
    };
    let j = s
        .enqueue(vec![job("ahead")])
        .await
        .expect("enqueue")
        .remove(0);
    let run = claim().await;
    assert_eq!(run.len(), 1, "a queued job is due at once");
    retry_now(&s, &run[0].lease).await;
    let run = claim().await;
    assert_eq!(run.len(), 1, "a retry with no wait is due at once");
    assert!(s
        .finish(
            &run[0].lease,
            JobOutcome::Dead {
                error: "gone".into(),
                result: None,
            }
        )
        .await
        .expect("finish"));
    s.retry_dead(j.id).await.expect("re-drive");
    assert_eq!(claim().await.len(), 1, "a re-driven job is due at once");
}

/// What is left, in ms, of file 42's export guard by the database's clock: what another replica
/// whose clock agrees with the database's sees.
async fn guard_left(c: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar(
        "SELECT expires_at - (FLOOR(EXTRACT(EPOCH FROM public.now()) * 1000))::BIGINT
         FROM export_guards WHERE file_id = '42'",
    )
    .fetch_one(c)
    .await
    .expect("guard")
}

/// A replica whose clock lagged the database's put its own time on the export guards it took,
/// so the guard of an export it was still running looked expired to every other replica.
#[tokio::test]
async fn postgres_export_guards_hold_by_the_database_clock_not_the_replicas() {
    let Some(url) = fresh_postgres_url().await else {
        eprintln!("TEST_DATABASE_URL unset: PostgreSQL clock test skipped");
        return;
    };
    let mut clock = shift_database_clock(&url).await;
    // The replica's clock is ten minutes behind the database's.
    set_clock_offset(&mut clock, 600).await;
    let s = store::connect(&url).await.expect("connect");
    let lease = Duration::from_secs(60);
    assert!(s
        .acquire_export_guard("42", "a", lease)
        .await
        .expect("acquire"));
    let ms = guard_left(&mut clock).await;
    assert!(
        (50_000..=60_000).contains(&ms),
        "a guard taken for 60 s has {ms} ms left by the database's clock"
    );
    assert!(
        !s.acquire_export_guard("42", "b", lease)
            .await
            .expect("acquire"),
        "another holder took a guard taken a moment ago"
    );
    assert!(s.renew_export_guard("42", "a", lease).await.expect("renew"));
    let ms = guard_left(&mut clock).await;
    assert!(
        (50_000..=60_000).contains(&ms),
        "a guard renewed for 60 s has {ms} ms left by the database's clock"
    );
    // Once it has expired by the database's clock, another may take it.
    set_clock_offset(&mut clock, 700).await;
    assert!(s
        .acquire_export_guard("42", "b", lease)
        .await
        .expect("acquire"));
}

#[tokio::test]
async fn a_run_whose_lease_cannot_be_renewed_stops_and_the_job_runs_again_once() {
    let w = spawn_world(|c| c.queue.lease = Duration::from_secs(1)).await;
    let ada = w
        .docspace
        .add_active_user("Ada", "Lovelace", "ada@example.com");
    let group = w.docspace.create_group("Research", &[ada]).expect("group");
    // Each DocSpace call takes longer than the lease.
    w.docspace.update_knobs(|k| k.latency_ms = 2000);

    let (status, v) = w
        .app
        .api(Method::POST, &format!("/api/v1/groups/{group}/sync"), None)
        .await;
    assert_eq!(status, 202, "{v}");
    // The API asked DocSpace once whether the group exists; the runs' reads come after.
    let checked = w.docspace.calls("group.get");
    let id = v["job"]["id"].as_i64().expect("id");
    let job = |v: Value| v["job"].clone();
    loop {
        let (_, v) = w
            .app
            .api(Method::GET, &format!("/api/v1/jobs/{id}"), None)
            .await;
        if job(v)["state"] == "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The database refuses every write for longer than the lease: the run cannot renew it.
    let lock = WriteLock::at(&w.app.config.database_url).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    lock.release().await;

    let done = w.app.wait_job(id, 30, |j| j["state"] == "succeeded").await;
    assert_eq!(
        done["attempts"], 2,
        "ran again after its lease lapsed: {done}"
    );
    assert_eq!(
        w.docspace.calls("group.get") - checked,
        2,
        "the second run started from the beginning"
    );
    assert_eq!(
        w.dropbox.calls("sharing/share_folder"),
        1,
        "the run whose lease lapsed stopped before it reached Dropbox"
    );
    let folder = w
        .dropbox
        .shared_folder_by_path("/DocSpace Groups/Research")
        .expect("folder shared");
    assert_eq!(
        folder
            .emails()
            .iter()
            .filter(|e| *e == "ada@example.com")
            .count(),
        1
    );
}

/// The outcomes and errors of a job's runs, oldest first, through the API.
async fn history(app: &TestApp, id: i64) -> (Value, Vec<(String, Option<String>, i64)>) {
    let (status, v) = app
        .api(Method::GET, &format!("/api/v1/jobs/{id}"), None)
        .await;
    assert_eq!(status, 200, "{v}");
    let runs = v["job"]["attempts_history"]
        .as_array()
        .expect("attempts_history")
        .iter()
        .map(|a| {
            (
                a["outcome"].as_str().unwrap_or_default().to_string(),
                a["error"].as_str().map(str::to_string),
                a["attempt"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    (v["job"].clone(), runs)
}

/// Waits until job `id` is running.
async fn until_running(app: &TestApp, id: i64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, v) = app
            .api(Method::GET, &format!("/api/v1/jobs/{id}"), None)
            .await;
        if v["job"]["state"] == "running" {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "never ran: {v}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_run_stopped_because_its_lease_lapsed_is_in_the_attempt_history() {
    let w = spawn_world(|c| c.queue.lease = Duration::from_secs(1)).await;
    let group = w.docspace.create_group("Lapsed", &[]).expect("group");
    // The first read of the group takes longer than the lease.
    w.docspace.update_knobs(|k| k.latency_ms = 2000);
    let body = docspace_event(8101, "group.updated", json!({ "id": group.to_string() }));
    let (status, v) = w.app.deliver_docspace(&body).await;
    assert_eq!(status, 200, "{v}");
    let id = v["job_ids"][0].as_i64().expect("job id");
    until_running(&w.app, id).await;
    // The database refuses every write for longer than the lease: the run cannot renew it.
    let lock = WriteLock::at(&w.app.config.database_url).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    w.docspace.update_knobs(|k| k.latency_ms = 0);
    lock.release().await;

    w.app.wait_job(id, 30, |j| j["state"] == "succeeded").await;
    let (job, runs) = history(&w.app, id).await;
    assert_eq!(job["attempts"], 2, "{job}");
    assert_eq!(runs.len(), 2, "{runs:?}");
    let (outcome, error, attempt) = &runs[0];
    assert_eq!((outcome.as_str(), *attempt), ("lost", 1), "{runs:?}");
    assert!(
        error.as_deref().is_some_and(|e| e.contains("lease")),
        "says why: {runs:?}"
    );
    assert_eq!(
        (runs[1].0.as_str(), runs[1].2),
        ("succeeded", 2),
        "{runs:?}"
    );
}

#[tokio::test]
async fn a_run_released_at_shutdown_is_in_the_attempt_history() {
    // A stop that gives running jobs no time: the run is released unfinished.
    let mut w = spawn_world(|c| c.queue.shutdown_grace = Duration::ZERO).await;
    let group = w.docspace.create_group("Released", &[]).expect("group");
    w.docspace.update_knobs(|k| k.latency_ms = 5000);
    let body = docspace_event(8102, "group.updated", json!({ "id": group.to_string() }));
    let (status, v) = w.app.deliver_docspace(&body).await;
    assert_eq!(status, 200, "{v}");
    let id = v["job_ids"][0].as_i64().expect("job id");
    until_running(&w.app, id).await;

    w.restart_with(no_workers).await;
    let (job, runs) = history(&w.app, id).await;
    assert_eq!(job["state"], "failed", "released, due again: {job}");
    assert_eq!(job["attempts"], 0, "a released run is not counted: {job}");
    assert_eq!(runs.len(), 1, "{runs:?}");
    let (outcome, error, attempt) = &runs[0];
    assert_eq!((outcome.as_str(), *attempt), ("released", 1), "{runs:?}");
    assert!(
        error.as_deref().is_some_and(|e| e.contains("shutdown")),
        "says why: {runs:?}"
    );
}

/// Enqueues one `group.sync` of group `key` and claims it as worker `a`; the job's run.
async fn enqueue_and_claim(s: &store::DynStore, key: &str) -> store::Claimed {
    let job = s.enqueue(vec![job(key)]).await.expect("enqueue").remove(0);
    let run = s
        .claim("a", 4, Duration::from_secs(30))
        .await
        .expect("claim")
        .remove(0);
    assert_eq!(run.id, job.id);
    run
}

/// The ids of the jobs worker `b` claims now.
async fn claimed_ids(s: &store::DynStore) -> Vec<i64> {
    let claimed = s
        .claim("b", 4, Duration::from_secs(30))
        .await
        .expect("claim");
    claimed.iter().map(|j| j.id).collect()
}

/// A job is not claimed while another job with its dedupe key runs (a `group.updated` that
/// arrived while the group's `group.created` sync was running): two runs of one group's sync at
/// once would each invite the same members. It is claimed once the other has finished.
#[tokio::test]
async fn a_job_waits_while_another_with_its_key_runs() {
    each_store(|s, b| {
        Box::pin(async move {
            let run = enqueue_and_claim(&s, "g1").await;
            let second = s.enqueue(vec![job("g1")]).await.expect("enqueue").remove(0);
            let other = s.enqueue(vec![job("g2")]).await.expect("enqueue").remove(0);
            assert_ne!(
                second.id, run.id,
                "{b}: a new job, the first is no longer queued"
            );
            let ids = claimed_ids(&s).await;
            assert_eq!(
                ids,
                vec![other.id],
                "{b}: g1's second job waits for its first"
            );
            assert!(s
                .finish(&run.lease, JobOutcome::Succeeded { result: json!({}) })
                .await
                .expect("finish"));
            let ids = claimed_ids(&s).await;
            assert_eq!(ids, vec![second.id], "{b}");
        })
    })
    .await;
}

/// Of two waiting jobs with one dedupe key (one due for a retry, one made since), one claim takes
/// the older only, so they do not run at once either.
#[tokio::test]
async fn of_two_waiting_jobs_with_one_key_only_the_older_is_claimed() {
    each_store(|s, b| {
        Box::pin(async move {
            let run = enqueue_and_claim(&s, "g1").await;
            retry_now(&s, &run.lease).await;
            let second = s.enqueue(vec![job("g1")]).await.expect("enqueue").remove(0);
            assert_ne!(second.id, run.id, "{b}");
            let ids = claimed_ids(&s).await;
            assert_eq!(ids, vec![run.id], "{b}: the retry first, alone");
        })
    })
    .await;
}

/// Two PostgreSQL replicas claiming in the same instant: one claims a retry the moment it comes
/// due, while the other, whose statement began a moment before, still sees that retry waiting
/// and a newer job of the same key free to run. The second claim must not start the newer job
/// while the retry runs; it leaves it waiting, and it still claims the other work that is due.
#[tokio::test]
async fn postgres_replicas_claiming_at_once_do_not_start_two_jobs_of_one_key() {
    let Some(url) = fresh_postgres_url().await else {
        eprintln!("TEST_DATABASE_URL unset: PostgreSQL claim race test skipped");
        return;
    };
    let s = store::connect(&url).await.expect("connect");
    let run = enqueue_and_claim(&s, "g1").await;
    let retry = JobOutcome::Retry {
        error: "503".into(),
        after: Duration::from_secs(60),
    };
    assert!(s.finish(&run.lease, retry).await.expect("finish"));
    let newer = s.enqueue(vec![job("g1")]).await.expect("enqueue").remove(0);
    let other = s.enqueue(vec![job("g2")]).await.expect("enqueue").remove(0);
    assert_ne!(newer.id, run.id);

    // The first replica's claim of the retry, made in its statement and not yet committed (the
    // claim a replica makes, written out here so that it can be held open).
    let mut first = sqlx::PgConnection::connect(&url).await.expect("connect");
    sqlx::query("BEGIN")
        .execute(&mut first)
        .await
        .expect("begin");
    sqlx::query(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = 'first',
                lease_token = 'first-token'
         WHERE id = $1",
    )
    .bind(run.id)
    .execute(&mut first)
    .await
    .expect("first replica's claim");

    // The second replica claims meanwhile; the first commits a moment later.
    let second = {
        let s = s.clone();
        tokio::spawn(async move { s.claim("second", 4, Duration::from_secs(30)).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    sqlx::query("COMMIT")
        .execute(&mut first)
        .await
        .expect("commit");
    let claimed: Vec<i64> = second
        .await
        .expect("join")
        .expect("the second claim")
        .iter()
        .map(|c| c.id)
        .collect();

    let running: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, dedupe_key FROM jobs WHERE state = 'running' ORDER BY id")
            .fetch_all(&mut first)
            .await
            .expect("running");
    assert!(
        !claimed.contains(&newer.id),
        "the newer job of g1 was started while its retry ran: {running:?}"
    );
    assert_eq!(claimed, vec![other.id], "the other key's job is claimed");
    let g1: Vec<i64> = running
        .iter()
        .filter(|(_, key)| key == "g1")
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(g1, vec![run.id], "one job of g1 runs: {running:?}");
}

/// A claim still in flight when the workers stop may commit after they gave up on it (SQLite
/// runs a queued write whether or not its caller still waits). The jobs it claimed would be
/// `running` under a lease nobody holds until it expired, and then counted as a lost attempt;
/// the stopping workers give back whatever they still hold.
#[tokio::test]
async fn a_claim_that_commits_after_the_workers_stopped_leaves_no_job_running() {
    let mut app = spawn_app(|c| c.queue.shutdown_grace = Duration::ZERO).await;
    let url = app.config.database_url.clone();
    let mut c = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("connect");
    let now = chrono::Utc::now().timestamp_millis();
    // Due in 1.5 s: not claimed before the write lock below is held.
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO jobs (kind, state, attempts, dedupe_key, payload, run_at, created_at, updated_at)
         VALUES ('group.sync', 'queued', 0, 'group:g-late', '{\"group_id\":\"g-late\"}', $1, $2, $2)
         RETURNING id",
    )
    .bind(now + 1500)
    .bind(now)
    .fetch_one(&mut c)
    .await
    .expect("insert");
    c.close().await.expect("close");
    // The next claim waits for the write lock; by the time it gets it, the job is due.
    let lock = WriteLock::at(&url).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let stopping = tokio::spawn(async move {
        app.stop().await;
        app
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    lock.release().await;
    let app = stopping.await.expect("stopped");
    // The claim's write, no longer waited for, runs once SQLite's busy wait sees the lock free.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let job = app.store.get_job(id).await.expect("read").expect("job");
    assert_ne!(job.state, JobState::Running, "{job:?}");
    assert_eq!(
        job.attempts, 0,
        "an attempt never run is not counted: {job:?}"
    );
}
