//! Operator API, health and the worker runtime, through HTTP.

use std::time::Duration;

use crate::common::*;
use docspace_dropbox_bridge::jobs::{GroupSync, JobKind};
use docspace_dropbox_bridge::store::NewJob;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn api_requires_the_bearer_token() {
    let app = spawn_app(no_workers).await;
    let url = format!("{}/api/v1/jobs", app.url);
    let missing = app.http.get(&url).send().await.expect("req");
    assert_eq!(missing.status(), 401);
    let v: Value = missing.json().await.expect("json");
    assert_eq!(v["error"]["code"], "missing_token");
    let wrong = app
        .http
        .get(&url)
        .bearer_auth("nope")
        .send()
        .await
        .expect("req");
    assert_eq!(wrong.status(), 401);
    let v: Value = wrong.json().await.expect("json");
    assert_eq!(v["error"]["code"], "invalid_token");
    let right = app
        .http
        .get(&url)
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("req");
    assert_eq!(right.status(), 200);
}

#[tokio::test]
async fn api_without_configured_token_answers_503() {
    let app = spawn_app(|c| {
        no_workers(c);
        c.api_token = None;
    })
    .await;
    let resp = app
        .http
        .post(format!("{}/api/v1/groups/sync", app.url))
        .bearer_auth("anything")
        .send()
        .await
        .expect("req");
    assert_eq!(resp.status(), 503);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["error"]["code"], "api_disabled");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("BRIDGE_API_TOKEN"));
}

#[tokio::test]
async fn manual_triggers_enqueue_and_coalesce() {
    let app = spawn_app(no_workers).await;
    let (s, all) = app.api(Method::POST, "/api/v1/groups/sync", None).await;
    assert_eq!(s, 202);
    assert_eq!(all["job"]["kind"], "groups.sync_all");
    let (s, again) = app
        .api(Method::POST, "/api/v1/groups/sync", Some(json!({})))
        .await;
    assert_eq!(s, 202);
    assert_eq!(
        again["job"]["id"], all["job"]["id"],
        "coalesced while queued"
    );

    let (s, some) = app
        .api(
            Method::POST,
            "/api/v1/groups/sync",
            Some(json!({ "group_ids": ["a", "b"] })),
        )
        .await;
    assert_eq!(s, 202);
    assert_eq!(some["jobs"].as_array().map(Vec::len), Some(2));
    let (s, one) = app.api(Method::POST, "/api/v1/groups/a/sync", None).await;
    assert_eq!(s, 202);
    assert_eq!(one["job"]["id"], some["jobs"][0]["id"]);

    let (s, exp) = app
        .api(
            Method::POST,
            "/api/v1/files/4711/export",
            Some(json!({ "folder": "/Reports/2026" })),
        )
        .await;
    assert_eq!(s, 202);
    assert_eq!(exp["job"]["kind"], "file.export");
    assert_eq!(exp["job"]["payload"]["folder"], "/Reports/2026");
    for key in [
        "id",
        "kind",
        "state",
        "attempts",
        "dedupe_key",
        "payload",
        "last_error",
        "result",
        "run_at",
        "created_at",
        "updated_at",
    ] {
        assert!(exp["job"].get(key).is_some(), "job JSON lacks {key}");
    }

    let (s, bad) = app
        .api(
            Method::POST,
            "/api/v1/files/4711/export",
            Some(json!({ "folder": "relative/x" })),
        )
        .await;
    assert_eq!(s, 400, "{bad}");
    let (s, _) = app
        .api(
            Method::POST,
            "/api/v1/groups/sync",
            Some(json!({ "group_idz": [] })),
        )
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn jobs_are_listed_paginated_and_filtered() {
    let app = spawn_app(no_workers).await;
    for i in 0..7 {
        let (s, _) = app
            .api(Method::POST, &format!("/api/v1/groups/g{i}/sync"), None)
            .await;
        assert_eq!(s, 202);
    }
    app.api(Method::POST, "/api/v1/files/1/export", None).await;
    let (_, p1) = app
        .api(Method::GET, "/api/v1/jobs?limit=3&kind=group.sync", None)
        .await;
    let ids1: Vec<i64> = p1["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter_map(|j| j["id"].as_i64())
        .collect();
    assert_eq!(ids1.len(), 3);
    let cursor = p1["next_cursor"].as_str().expect("cursor").to_string();
    let (_, p2) = app
        .api(
            Method::GET,
            &format!("/api/v1/jobs?limit=3&kind=group.sync&cursor={cursor}"),
            None,
        )
        .await;
    let (_, p3) = app
        .api(
            Method::GET,
            &format!(
                "/api/v1/jobs?limit=3&kind=group.sync&cursor={}",
                p2["next_cursor"].as_str().expect("c")
            ),
            None,
        )
        .await;
    assert_eq!(p3["jobs"].as_array().map(Vec::len), Some(1));
    assert_eq!(p3["next_cursor"], Value::Null);
    let (_, queued) = app
        .api(Method::GET, "/api/v1/jobs?state=queued&limit=500", None)
        .await;
    assert_eq!(queued["jobs"].as_array().map(Vec::len), Some(8));
    let (s, _) = app.api(Method::GET, "/api/v1/jobs?state=bogus", None).await;
    assert_eq!(s, 400);
    let (s, _) = app.api(Method::GET, "/api/v1/jobs?limit=0", None).await;
    assert_eq!(s, 400);
    let (s, _) = app.api(Method::GET, "/api/v1/jobs/999999", None).await;
    assert_eq!(s, 404);
    let (s, _) = app.api(Method::GET, "/api/v1/jobs/abc", None).await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn permanent_failure_goes_dead_and_retry_redrives_it() {
    // DocSpace refuses the group read with 403 (no permission): retrying cannot help. The
    // first refusal answers the API's existence check (which then accepts the job as it is),
    // the next two the job's two runs.
    let w = spawn_world(|_| {}).await;
    w.docspace
        .fail_next(Some(bridge_fakes::docspace::routes::GROUP_GET), 403, 3);
    let app = &w.app;
    let (_, j) = app.api(Method::POST, "/api/v1/groups/gx/sync", None).await;
    let id = j["job"]["id"].as_i64().expect("id");
    let dead = app.wait_job(id, 20, |j| j["state"] == "dead").await;
    assert_eq!(
        dead["attempts"], 1,
        "a permanent error is not retried: {dead}"
    );
    assert!(
        dead["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("403")),
        "{dead}"
    );
    let (s, r) = app
        .api(Method::POST, &format!("/api/v1/jobs/{id}/retry"), None)
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["job"]["attempts"], 0);
    let again = app
        .wait_job(id, 20, |j| {
            j["state"] == "dead" && j["attempts"] == 1 && j["updated_at"] != dead["updated_at"]
        })
        .await;
    assert_eq!(again["id"], id);
    let (s, r) = app
        .api(Method::POST, "/api/v1/jobs/999999/retry", None)
        .await;
    assert_eq!(s, 404, "{r}");
}

#[tokio::test]
async fn retry_of_a_job_that_is_not_dead_is_409() {
    let app = spawn_app(no_workers).await;
    let (_, j) = app.api(Method::POST, "/api/v1/groups/q/sync", None).await;
    let (s, v) = app
        .api(
            Method::POST,
            &format!("/api/v1/jobs/{}/retry", j["job"]["id"]),
            None,
        )
        .await;
    assert_eq!(s, 409, "{v}");
}

#[tokio::test]
async fn health_ready_and_metrics() {
    let app = spawn_app(no_workers).await;
    let get = |p: &str| app.http.get(format!("{}{p}", app.url)).send();
    assert_eq!(get("/healthz").await.expect("req").status(), 200);
    assert_eq!(get("/readyz").await.expect("req").status(), 200);
    app.api(Method::POST, "/api/v1/groups/m/sync", None).await;
    let m = get("/metrics").await.expect("req");
    assert!(m.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .starts_with("text/plain"));
    let text = m.text().await.expect("text");
    assert!(
        text.contains(r#"bridge_queue_depth{state="queued"}"#),
        "{text}"
    );
    let nf = get("/nope").await.expect("req");
    assert_eq!(nf.status(), 404);
    let v: Value = nf.json().await.expect("json");
    assert_eq!(v["error"]["code"], "not_found");
    // Every response carries a request id.
    let resp = get("/healthz").await.expect("req");
    assert!(resp.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn a_job_whose_worker_died_runs_again_after_its_lease_expires() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}", dir.path().join("lease.db").display());
    let store = docspace_dropbox_bridge::store::connect(&url)
        .await
        .expect("store");
    let job = store
        .enqueue(vec![GroupSync::new("lease").to_new_job()])
        .await
        .expect("enqueue")
        .remove(0);
    // A worker claims it and dies without finishing or renewing.
    let claimed = store
        .claim("worker-that-died", 10, Duration::from_millis(300))
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].attempts, 1);
    drop(store);

    // Against the stand-ins, so that the second run finishes (the group is unknown there).
    let w = spawn_world(|c| {
        c.database_url = url.clone();
        c.queue.lease = Duration::from_secs(2);
    })
    .await;
    let j = w
        .app
        .wait_job(job.id, 20, |j| {
            j["attempts"].as_i64() >= Some(2) && j["state"] != "running"
        })
        .await;
    assert_eq!(
        j["attempts"], 2,
        "run once more after the lease expired: {j}"
    );
}

#[tokio::test]
async fn a_job_of_an_unknown_kind_or_with_an_unreadable_payload_is_dead_saying_why() {
    let app = spawn_app(|_| {}).await;
    let jobs = app
        .store
        .enqueue(vec![
            NewJob::new("group.rename", Some("r".into()), json!({ "group_id": "g" })),
            NewJob::new("group.sync", Some("s".into()), json!({ "group": "g" })),
        ])
        .await
        .expect("enqueue");
    let dead = |j: &Value| j["state"] == "dead" && j["attempts"] == 1;
    let unknown = app.wait_job(jobs[0].id, 20, dead).await;
    let error = unknown["last_error"].as_str().unwrap_or("");
    assert!(
        error.contains(r#"unknown job kind "group.rename""#) && error.contains("group.sync"),
        "{unknown}"
    );
    let unreadable = app.wait_job(jobs[1].id, 20, dead).await;
    let error = unreadable["last_error"].as_str().unwrap_or("");
    assert!(
        error.contains("group.sync job payload does not parse") && error.contains("group_id"),
        "{unreadable}"
    );
}

#[tokio::test]
async fn a_slot_that_frees_up_claims_the_next_due_job_without_waiting_for_the_poll() {
    // One slot, and a poll so slow that only the end of the first job can start the second.
    let w = spawn_world(|c| {
        c.queue.concurrency = 1;
        c.queue.poll_interval = Duration::from_secs(3600);
    })
    .await;
    let first = w.docspace.create_group("First", &[]).expect("group");
    let second = w.docspace.create_group("Second", &[]).expect("group");
    let (s, v) = w
        .app
        .api(
            Method::POST,
            "/api/v1/groups/sync",
            Some(json!({ "group_ids": [first.to_string(), second.to_string()] })),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    // Watched through the API only: `wait_idle` would wake the workers itself.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, done) = w
            .app
            .api(Method::GET, "/api/v1/jobs?state=succeeded", None)
            .await;
        if done["jobs"].as_array().map(Vec::len) == Some(2) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the second job waited for the poll: {:#?}",
            w.app.all_jobs().await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// --- input: what openapi.yaml refuses is refused with a JSON 400, what it allows is taken ------

/// Answers `path` with `status` and the error `code`, as `{"error": {"code", "message"}}`.
async fn assert_refused(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
    code: &str,
) {
    let (s, v) = app.api(method, path, body.clone()).await;
    assert_eq!(s, 400, "{path} {body:?}: {v}");
    assert_eq!(v["error"]["code"], code, "{path} {body:?}: {v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{v}"
    );
}

#[tokio::test]
async fn an_optional_body_field_sent_as_null_is_refused_not_read_as_left_out() {
    // A script whose list of groups came out as null must not reconcile every group.
    let app = spawn_app(no_workers).await;
    for (path, body) in [
        ("/api/v1/groups/sync", json!({ "group_ids": null })),
        ("/api/v1/files/sync", json!({ "folder_ids": null })),
        ("/api/v1/files/sync", json!({ "backfill": null })),
        ("/api/v1/files/4711/export", json!({ "folder": null })),
    ] {
        assert_refused(&app, Method::POST, path, Some(body), "invalid_body").await;
    }
    assert!(app.all_jobs().await.is_empty(), "nothing is enqueued");
}

#[tokio::test]
async fn a_body_that_is_not_a_json_object_is_refused() {
    // serde reads a struct from an array too: `[]` was taken as "no options".
    let app = spawn_app(no_workers).await;
    for path in [
        "/api/v1/groups/sync",
        "/api/v1/files/sync",
        "/api/v1/files/4711/export",
    ] {
        for body in [json!([]), json!([null]), json!("x"), json!(1), Value::Null] {
            assert_refused(&app, Method::POST, path, Some(body), "invalid_body").await;
        }
    }
    assert!(app.all_jobs().await.is_empty(), "nothing is enqueued");
}

#[tokio::test]
async fn an_empty_query_parameter_is_refused_not_read_as_no_filter() {
    // `?since=$SINCE` with the variable unset must not re-drive every dead job.
    let app = spawn_app(no_workers).await;
    for param in [
        "state", "kind", "group_id", "file_id", "since", "until", "limit", "cursor",
    ] {
        let path = format!("/api/v1/jobs?{param}=");
        assert_refused(&app, Method::GET, &path, None, "empty_parameter").await;
    }
    for param in ["source", "trigger", "since", "limit", "cursor"] {
        let path = format!("/api/v1/deliveries?{param}=");
        assert_refused(&app, Method::GET, &path, None, "empty_parameter").await;
    }
    for param in ["kind", "group_id", "file_id", "since", "until"] {
        let path = format!("/api/v1/jobs/retry?{param}=");
        assert_refused(&app, Method::POST, &path, None, "empty_parameter").await;
    }
    // Left out, a parameter does not filter.
    let (s, v) = app.api(Method::GET, "/api/v1/jobs", None).await;
    assert_eq!(s, 200, "{v}");
}

/// The stand-ins and the bridge, with one dead `group.sync` job; its id.
async fn world_with_a_dead_job() -> (World, i64) {
    let w = spawn_world(|_| {}).await;
    let (id, _) = w.dead_group_job("gx").await;
    (w, id)
}

#[tokio::test]
async fn an_unknown_or_repeated_query_parameter_is_refused_before_anything_is_done() {
    // A misspelt filter (`knd=`), or one the route does not take (`limit` on a re-drive), must
    // not be dropped: the re-drive would then take every dead job.
    let (w, id) = world_with_a_dead_job().await;
    let app = &w.app;
    for path in [
        "/api/v1/jobs/retry?knd=group.sync",
        "/api/v1/jobs/retry?limit=5",
        "/api/v1/jobs/retry?cursor=7",
        "/api/v1/jobs/retry?state=queued",
        "/api/v1/jobs/retry?kind=group.sync&kind=file.export",
    ] {
        let (s, v) = app.api(Method::POST, path, None).await;
        assert_eq!(s, 400, "{path}: {v}");
        assert!(
            ["bad_request", "invalid_state"].contains(&v["error"]["code"].as_str().unwrap_or("")),
            "{path}: {v}"
        );
        let (_, job) = app
            .api(Method::GET, &format!("/api/v1/jobs/{id}"), None)
            .await;
        assert_eq!(job["job"]["state"], "dead", "{path} re-drove the job");
    }
    for path in [
        "/api/v1/jobs?knd=group.sync",
        "/api/v1/jobs?limit=5&limit=6",
        "/api/v1/deliveries?until=1h",
        "/api/v1/deliveries?source=docspace&source=dropbox",
    ] {
        assert_refused(app, Method::GET, path, None, "bad_request").await;
    }
    let (s, v) = app
        .api(Method::POST, "/api/v1/jobs/retry?knd=x", None)
        .await;
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(
        s == 400 && message.contains("knd") && message.contains("kind"),
        "names the parameter and what is taken: {v}"
    );
    // `state=dead`, as copied from a listing of dead jobs, is what a re-drive does anyway.
    let (s, v) = app
        .api(
            Method::POST,
            "/api/v1/jobs/retry?state=dead&kind=group.sync",
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["job_ids"], json!([id]), "{v}");
}

#[tokio::test]
async fn a_route_refuses_the_query_parameters_and_the_body_it_does_not_take() {
    // Each would have been dropped: `?group_ids=g1` reconciled every group, a filter sent as a
    // body to the re-drive re-drove every dead job.
    let (w, id) = world_with_a_dead_job().await;
    let app = &w.app;
    let job = format!("/api/v1/jobs/{id}");
    let retry = format!("/api/v1/jobs/{id}/retry");
    for (method, path) in [
        (Method::POST, "/api/v1/groups/sync?group_ids=g1"),
        (Method::POST, "/api/v1/groups/gx/sync?x=1"),
        (Method::POST, "/api/v1/files/1/export?folder=/Reports"),
        (Method::POST, "/api/v1/files/sync?backfill=true"),
        (Method::GET, &format!("{job}?verbose=1")),
        (Method::POST, &format!("{retry}?state=dead")),
        (Method::GET, "/api/v1/status?x=1"),
    ] {
        assert_refused(app, method.clone(), path, None, "bad_request").await;
    }
    for (method, path) in [
        (Method::POST, "/api/v1/jobs/retry"),
        (Method::POST, retry.as_str()),
        (Method::POST, "/api/v1/groups/gx/sync"),
        (Method::GET, job.as_str()),
        (Method::GET, "/api/v1/jobs"),
        (Method::GET, "/api/v1/deliveries"),
        (Method::GET, "/api/v1/status"),
    ] {
        let body = json!({ "kind": "group.sync" });
        assert_refused(app, method, path, Some(body), "invalid_body").await;
    }
    let (_, v) = app.api(Method::GET, &job, None).await;
    assert_eq!(v["job"]["state"], "dead", "nothing was re-driven: {v}");
    let jobs = app.all_jobs().await;
    assert_eq!(jobs.len(), 1, "nothing was enqueued: {jobs:#?}");
    // Without them, the same routes answer.
    let (s, v) = app.api(Method::POST, &retry, None).await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test]
async fn the_bearer_scheme_is_matched_in_any_case() {
    let app = spawn_app(no_workers).await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let resp = app
            .http
            .get(format!("{}/api/v1/jobs", app.url))
            .header("authorization", format!("{scheme} {API_TOKEN}"))
            .send()
            .await
            .expect("req");
        assert_eq!(resp.status(), 200, "{scheme}");
    }
    for value in [format!("Basic {API_TOKEN}"), format!("Bearer{API_TOKEN}")] {
        let resp = app
            .http
            .get(format!("{}/api/v1/jobs", app.url))
            .header("authorization", value.as_str())
            .send()
            .await
            .expect("req");
        assert_eq!(resp.status(), 401, "{value}");
        let v: Value = resp.json().await.expect("json");
        assert_eq!(v["error"]["code"], "missing_token", "{value}");
    }
}

#[tokio::test]
async fn a_job_id_is_digits_only() {
    let app = spawn_app(no_workers).await;
    let (_, j) = app.api(Method::POST, "/api/v1/groups/q/sync", None).await;
    assert_eq!(j["job"]["id"], 1, "{j}");
    for bad in ["+1", "%2B1", "-1", "0", "1.0", "x"] {
        assert_refused(
            &app,
            Method::GET,
            &format!("/api/v1/jobs/{bad}"),
            None,
            "invalid_id",
        )
        .await;
        assert_refused(
            &app,
            Method::POST,
            &format!("/api/v1/jobs/{bad}/retry"),
            None,
            "invalid_id",
        )
        .await;
    }
    let (s, v) = app.api(Method::GET, "/api/v1/jobs/0001", None).await;
    assert_eq!((s, &v["job"]["id"]), (200, &json!(1)), "{v}");
}

#[tokio::test]
async fn an_api_body_over_the_limit_is_refused_with_a_json_413() {
    let app = spawn_app(no_workers).await;
    // 1.5 MiB: over the API's limit of 1 MiB (axum's own default, 2 MiB, would take it).
    let (s, v) = app
        .api(
            Method::POST,
            "/api/v1/groups/sync",
            Some(json!({ "group_ids": ["g"], "pad": "x".repeat(3 << 19) })),
        )
        .await;
    assert_eq!(s, 413, "{v}");
    assert_eq!(v["error"]["code"], "payload_too_large", "{v}");
    assert!(app.all_jobs().await.is_empty());
    // The largest body the API defines fits: 1,000 ids of 200 four-byte characters.
    let ids: Vec<String> = (0..1000)
        .map(|i| format!("{i:0>4}{}", "\u{1F600}".repeat(196)))
        .collect();
    let (s, v) = app
        .api(
            Method::POST,
            "/api/v1/groups/sync",
            Some(json!({ "group_ids": ids })),
        )
        .await;
    assert_eq!(
        s,
        202,
        "{}",
        v.to_string().chars().take(300).collect::<String>()
    );
    assert_eq!(v["jobs"].as_array().map(Vec::len), Some(1000));
}

#[tokio::test]
async fn an_id_that_is_a_dot_segment_names_nothing() {
    // `.` and `..` cannot be sent in a URL path (DocSpace would read them as "here" and "up"
    // and answer for another route), so they are refused as unknown without asking.
    let w = spawn_world(|_| {}).await;
    for id in [".", "..", "%2E", "%2e%2E"] {
        for (path, body) in [
            (format!("/api/v1/groups/{id}/sync"), ""),
            (format!("/api/v1/files/{id}/export"), ""),
        ] {
            let (s, v) = w.app.raw("POST", &path, body).await;
            assert_eq!(s, 404, "{path}: {v}");
        }
    }
    for id in [".", ".."] {
        let (s, v) = w
            .app
            .api(
                Method::POST,
                "/api/v1/files/sync",
                Some(json!({ "folder_ids": [id] })),
            )
            .await;
        assert_eq!(s, 404, "{id}: {v}");
    }
    assert!(w.app.all_jobs().await.is_empty());
    // A signed event naming such a group makes a job that finds no group, and changes nothing.
    let (s, v) = w
        .app
        .deliver_docspace(&docspace_event(
            1,
            "group.updated",
            json!({ "id": "..", "name": "x" }),
        ))
        .await;
    assert_eq!(s, 200, "{v}");
    let jobs = w.settle(20).await;
    assert_eq!(jobs.len(), 1, "{jobs:#?}");
    assert_eq!(jobs[0]["state"], "succeeded", "{jobs:#?}");
    assert_eq!(
        w.dropbox.total_write_calls(),
        0,
        "nothing is written to Dropbox"
    );
}

#[tokio::test]
async fn a_cursor_is_the_digits_of_a_next_cursor() {
    let app = spawn_app(no_workers).await;
    for path in ["/api/v1/jobs", "/api/v1/deliveries"] {
        for bad in ["x", "-5", "+5", "1e3", "1234567890123456789"] {
            let path = format!("{path}?cursor={bad}");
            assert_refused(&app, Method::GET, &path, None, "invalid_cursor").await;
        }
        for good in ["0", "7", "000000000000000042"] {
            let (s, v) = app
                .api(Method::GET, &format!("{path}?cursor={good}"), None)
                .await;
            assert_eq!(s, 200, "{path}?cursor={good}: {v}");
        }
    }
}

#[tokio::test]
async fn a_time_filter_is_an_rfc3339_time_or_a_number_and_a_unit() {
    let app = spawn_app(no_workers).await;
    for good in [
        "15m",
        "2h",
        "7d",
        "1w",
        "30s",
        "99999w",
        "2026-05-20T10:15:30Z",
    ] {
        for path in ["/api/v1/jobs", "/api/v1/deliveries"] {
            let (s, v) = app
                .api(Method::GET, &format!("{path}?since={good}"), None)
                .await;
            assert_eq!(s, 200, "since={good}: {v}");
        }
    }
    for bad in [
        "0",
        "1h30m",
        "1h%2030m",
        "15min",
        "100000s",
        "1.5h",
        "yesterday",
    ] {
        let path = format!("/api/v1/jobs?until={bad}");
        assert_refused(&app, Method::GET, &path, None, "invalid_time").await;
        let path = format!("/api/v1/jobs/retry?since={bad}");
        assert_refused(&app, Method::POST, &path, None, "invalid_time").await;
    }
}

#[tokio::test]
async fn a_docspace_id_is_up_to_200_characters_whatever_their_bytes() {
    // DocSpace cannot be asked here (nothing listens), so a well-formed id is accepted as it is.
    let app = spawn_app(no_workers).await;
    let long = "é".repeat(200); // 400 bytes
    let (s, v) = app
        .api(Method::POST, &format!("/api/v1/groups/{long}/sync"), None)
        .await;
    assert_eq!(s, 202, "{v}");
    let (s, v) = app
        .api(Method::POST, &format!("/api/v1/files/{long}/export"), None)
        .await;
    assert_eq!(s, 202, "{v}");
    let (s, v) = app
        .api(
            Method::POST,
            "/api/v1/groups/sync",
            Some(json!({ "group_ids": [long] })),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    let too_long = "é".repeat(201);
    let path = format!("/api/v1/groups/{too_long}/sync");
    assert_refused(&app, Method::POST, &path, None, "invalid_id").await;
    let body = json!({ "group_ids": [too_long] });
    assert_refused(
        &app,
        Method::POST,
        "/api/v1/groups/sync",
        Some(body),
        "invalid_id",
    )
    .await;
}

#[tokio::test]
async fn a_folder_id_with_control_characters_or_blank_is_refused() {
    // Checked as sent, before the surrounding whitespace is trimmed: a tab is refused, not trimmed.
    let app = spawn_app(no_workers).await;
    for bad in [json!("\t812"), json!("812\n"), json!(" "), json!(-1)] {
        let body = json!({ "folder_ids": [bad] });
        let (s, v) = app
            .api(Method::POST, "/api/v1/files/sync", Some(body.clone()))
            .await;
        assert_eq!(s, 400, "{body}: {v}");
    }
}

#[tokio::test]
async fn a_folder_id_may_be_a_whole_number_written_with_a_fraction() {
    // JSON Schema's `integer` (and many JSON encoders) write 812 as 812.0; it is folder 812.
    let w = spawn_world(no_workers).await;
    let room = w.docspace.create_room("Finance");
    let body = json!({ "folder_ids": [room as f64] });
    let (s, v) = w
        .app
        .api(Method::POST, "/api/v1/files/sync", Some(body))
        .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["job"]["payload"]["folder_ids"], json!([room.to_string()]));
    for bad in [json!(812.5), json!(-1.0), json!(1e20)] {
        let body = json!({ "folder_ids": [bad] });
        let path = "/api/v1/files/sync";
        assert_refused(&w.app, Method::POST, path, Some(body), "invalid_folder_ids").await;
    }
}
