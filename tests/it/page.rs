//! The status page: the HTML shell and its assets answer without a token and hold no data, the
//! data behind them (`/api/v1/status`, the job routes) refuses without the token, and the status
//! answer reports what the bridge did against the stand-ins. The page itself is driven in a real
//! browser by `tests/browser/`.

use std::time::Duration;

use crate::common::*;
use docspace_dropbox_bridge::store::{self, ExportRecord, GroupFolder, JobOutcome, NewJob};
use reqwest::Method;
use serde_json::{json, Value};

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.http
        .get(format!("{}{path}", app.url))
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn status_page_and_its_assets_answer_without_token_and_hold_no_data() {
    let app = spawn_app(no_workers).await;
    // Something to leak, were the shell to carry data.
    app.api(Method::POST, "/api/v1/groups/secret-group-id/sync", None)
        .await;

    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/ui/page.js", "text/javascript; charset=utf-8"),
        ("/ui/page.css", "text/css; charset=utf-8"),
        ("/ui/icon.svg", "image/svg+xml"),
    ] {
        let resp = get(&app, path).await;
        assert_eq!(resp.status(), 200, "{path}");
        let h = resp.headers().clone();
        let header = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(header("content-type"), content_type, "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
        let csp = header("content-security-policy");
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {directive} in {csp}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");

        let body = resp.text().await.expect("body");
        assert!(!body.contains(API_TOKEN), "{path}");
        assert!(!body.contains("secret-group-id"), "{path}");
        // Nothing from another origin: no CDN, no fonts (the SVG names only its namespace).
        let body = body.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{path} names another origin"
        );
    }

    let html = get(&app, "/").await.text().await.expect("body");
    assert!(html.contains(r#"<script src="ui/page.js" defer></script>"#));
    assert!(html.contains(r#"<link rel="stylesheet" href="ui/page.css">"#));
    // No inline script or style: the CSP would refuse them.
    assert_eq!(html.matches("<script").count(), 1, "{html}");
    assert!(!html.contains("<style") && !html.contains(" style="));
    let handlers: Vec<&str> = html
        .split_whitespace()
        .filter(|w| w.starts_with("on") && w.contains('='))
        .collect();
    assert!(handlers.is_empty(), "inline event handlers: {handlers:?}");
    // The token is asked for in a password field.
    assert!(html.contains(r#"<input id="token" name="token" type="password""#));
    // The script writes text only, never markup.
    let js = get(&app, "/ui/page.js").await.text().await.expect("body");
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
    ] {
        assert!(!js.contains(sink), "page.js uses {sink}");
    }
    assert!(js.contains("sessionStorage"));
}

#[tokio::test]
async fn status_data_refuses_without_the_token() {
    let w = spawn_world(|_| {}).await;
    let (id, _) = w.dead_group_job("g-dead").await;

    let url = |p: &str| format!("{}{p}", w.app.url);
    let retry = format!("/api/v1/jobs/{id}/retry");
    for (method, path) in [
        (Method::GET, "/api/v1/status"),
        (Method::GET, "/api/v1/jobs?state=dead"),
        (Method::POST, retry.as_str()),
    ] {
        let missing = w
            .app
            .http
            .request(method.clone(), url(path))
            .send()
            .await
            .expect("request");
        assert_eq!(missing.status(), 401, "{method} {path}");
        let v: Value = missing.json().await.expect("json");
        assert_eq!(v["error"]["code"], "missing_token", "{method} {path}");
        let wrong = w
            .app
            .http
            .request(method.clone(), url(path))
            .bearer_auth("not-the-api-token-at-all")
            .send()
            .await
            .expect("request");
        assert_eq!(wrong.status(), 401, "{method} {path}");
        let body = wrong.text().await.expect("body");
        assert!(!body.contains("g-dead"), "{method} {path}: {body}");
    }
    // The refused retry changed nothing.
    let (_, v) = w
        .app
        .api(Method::GET, &format!("/api/v1/jobs/{id}"), None)
        .await;
    assert_eq!(v["job"]["state"], "dead");

    // Without BRIDGE_API_TOKEN the data is not served at all; the shell still is.
    let off = spawn_app(|c| {
        no_workers(c);
        c.api_token = None;
    })
    .await;
    let resp = get(&off, "/api/v1/status").await;
    assert_eq!(resp.status(), 503);
    assert_eq!(get(&off, "/").await.status(), 200);
}

#[tokio::test]
async fn status_reports_queue_reconciles_group_folders_exports_and_dead_jobs() {
    let w = spawn_world(|_| {}).await;
    for email in ["ann@example.com", "ben@example.com", "cat@example.com"] {
        w.dropbox.add_user_auto(email);
    }
    let ds = &w.docspace;
    let ann = ds.add_active_user("Ann", "A", "ann@example.com");
    let ben = ds.add_active_user("Ben", "B", "ben@example.com");
    let cat = ds.add_active_user("Cat", "C", "cat@example.com");
    ds.create_group("marketing", &[ann]).expect("group");
    ds.create_group("Finance", &[ben, cat]).expect("group");
    let room = ds.create_room("Reports");
    let file = ds.create_file(room, "Q1.docx", 20 * 1024).expect("file");

    let (s, sync_all) = w.app.api(Method::POST, "/api/v1/groups/sync", None).await;
    assert_eq!(s, 202, "{sync_all}");
    w.settle(30).await;
    let (s, _) = w
        .app
        .api(Method::POST, &format!("/api/v1/files/{file}/export"), None)
        .await;
    assert_eq!(s, 202);
    w.settle(30).await;
    // One refusal answers the API's existence check (the job is accepted as it is), one the job.
    ds.fail_next(Some(bridge_fakes::docspace::routes::GROUP_GET), 403, 2);
    let (_, dead) = w
        .app
        .api(Method::POST, "/api/v1/groups/g-refused/sync", None)
        .await;
    let jobs = w.settle(30).await;

    let (s, v) = w.app.api(Method::GET, "/api/v1/status", None).await;
    assert_eq!(s, 200, "{v}");
    let succeeded = jobs.iter().filter(|j| j["state"] == "succeeded").count();
    assert_eq!(
        v["queue"],
        json!({ "queued": 0, "running": 0, "succeeded": succeeded, "failed": 0, "dead": 1 })
    );
    assert_eq!(v["oldest_due"], Value::Null, "nothing waits: {v}");
    assert_eq!(v["last_reconcile"]["groups"]["id"], sync_all["job"]["id"]);
    assert_eq!(v["last_reconcile"]["groups"]["kind"], "groups.sync_all");
    assert_eq!(v["last_reconcile"]["groups"]["state"], "succeeded");
    assert_eq!(v["last_reconcile"]["files"], Value::Null);

    // Every group folder, by name whatever its case, with the members the bridge invited.
    let folders = v["group_folders"].as_array().expect("group_folders");
    let summary: Vec<(String, String, i64, bool)> = folders
        .iter()
        .map(|f| {
            (
                f["group_name"].as_str().unwrap_or_default().to_string(),
                f["path"].as_str().unwrap_or_default().to_string(),
                f["members"].as_i64().unwrap_or(-1),
                f["shared_folder_id"].is_string() && f["active"] == true,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("Finance".into(), "/DocSpace Groups/Finance".into(), 2, true),
            (
                "marketing".into(),
                "/DocSpace Groups/marketing".into(),
                1,
                true
            ),
        ]
    );

    let exports = v["exports"].as_array().expect("exports");
    assert_eq!(exports.len(), 1, "{v}");
    assert_eq!(exports[0]["file_id"], file.to_string());
    assert_eq!(exports[0]["docspace_version"], 1);
    assert_eq!(
        exports[0]["dropbox_path"],
        "/DocSpace Export/Reports/Q1.docx"
    );
    assert_eq!(exports[0]["size"], 20 * 1024);
    let exported_at = exports[0]["exported_at"].as_str().expect("exported_at");
    assert!(chrono::DateTime::parse_from_rfc3339(exported_at).is_ok());
    assert!(w.dropbox.file("/DocSpace Export/Reports/Q1.docx").is_some());

    // The page lists dead jobs from the job listing, with their errors.
    let (_, d) = w
        .app
        .api(Method::GET, "/api/v1/jobs?state=dead&limit=100", None)
        .await;
    let listed = d["jobs"].as_array().expect("jobs");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], dead["job"]["id"]);
    assert!(
        listed[0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("403")),
        "{d}"
    );
}

#[tokio::test]
async fn oldest_due_job_is_the_one_waiting_longest_not_one_waiting_for_its_retry() {
    let app = spawn_app(no_workers).await;
    let (_, first) = app.api(Method::POST, "/api/v1/groups/a/sync", None).await;
    app.api(Method::POST, "/api/v1/groups/b/sync", None).await;
    let (_, v) = app.api(Method::GET, "/api/v1/status", None).await;
    assert_eq!(v["oldest_due"]["id"], first["job"]["id"], "{v}");
    assert_eq!(v["queue"]["queued"], 2);

    // Both fail; the first waits for a retry an hour from now, the second is due again at once.
    let claimed = app
        .store
        .claim("w", 10, Duration::from_secs(60))
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 2);
    for job in &claimed {
        let later = if job.id == first["job"]["id"].as_i64().unwrap_or_default() {
            Duration::from_secs(3600)
        } else {
            Duration::ZERO
        };
        app.store
            .finish(
                &job.lease,
                JobOutcome::Retry {
                    error: "docspace group: 500 server_error".into(),
                    after: later,
                },
            )
            .await
            .expect("finish");
    }
    let (_, v) = app.api(Method::GET, "/api/v1/status", None).await;
    assert_eq!(v["queue"]["failed"], 2, "{v}");
    assert_ne!(v["oldest_due"]["id"], first["job"]["id"], "{v}");
    assert_eq!(v["oldest_due"]["state"], "failed");
    assert_eq!(v["oldest_due"]["payload"]["group_id"], "b");
}

/// The overview's statements on both stores (PostgreSQL when `TEST_DATABASE_URL` is set).
#[tokio::test]
async fn overview_statements_agree_on_both_stores() {
    let dir = tempfile::tempdir().expect("tempdir");
    for url in store_urls(dir.path()).await {
        let s = store::connect(&url).await.expect("store");
        assert!(s.oldest_due_job().await.expect("due").is_none());
        assert!(s.group_folder_summaries().await.expect("groups").is_empty());
        assert!(s.latest_exports(5).await.expect("exports").is_empty());

        let jobs = s
            .enqueue(vec![
                NewJob::new("group.sync", Some("g:1".into()), json!({"group_id": "1"})),
                NewJob::new("group.sync", Some("g:2".into()), json!({"group_id": "2"})),
            ])
            .await
            .expect("enqueue");
        let due = s.oldest_due_job().await.expect("due").expect("a due job");
        assert_eq!(due.id, jobs[0].id, "{url}");

        for (id, name) in [("g2", "beta"), ("g1", "Alpha"), ("g3", "gamma")] {
            s.put_group_folder(&GroupFolder {
                group_id: id.into(),
                group_name: name.into(),
                path: format!("/DocSpace Groups/{name}"),
                shared_folder_id: Some(format!("sf-{id}")),
                active: id != "g3",
            })
            .await
            .expect("folder");
        }
        let emails = ["a@x.org", "b@x.org", "c@x.org"].map(String::from);
        s.record_members_added("g1", &emails).await.expect("added");
        s.record_members_added("g2", &emails[..1])
            .await
            .expect("added");
        s.record_member_removed("g1", "c@x.org")
            .await
            .expect("removed");
        let groups = s.group_folder_summaries().await.expect("groups");
        let got: Vec<(&str, i64, bool)> = groups
            .iter()
            .map(|g| (g.folder.group_name.as_str(), g.members, g.folder.active))
            .collect();
        assert_eq!(
            got,
            vec![("Alpha", 2, true), ("beta", 1, true), ("gamma", 0, false)],
            "{url}"
        );

        for n in 1..=3 {
            s.put_export(&ExportRecord {
                file_id: format!("f{n}"),
                docspace_version: n,
                dropbox_path: format!("/DocSpace Export/f{n}.txt"),
                dropbox_id: None,
                rev: format!("rev{n}"),
                content_hash: "h".into(),
                size: n * 100,
            })
            .await
            .expect("export");
            // Distinct write times: the listing is by time.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let latest = s.latest_exports(2).await.expect("exports");
        let ids: Vec<&str> = latest.iter().map(|e| e.record.file_id.as_str()).collect();
        assert_eq!(ids, vec!["f3", "f2"], "{url}");
        assert!(latest[0].exported_at >= latest[1].exported_at);
    }
}

#[tokio::test]
async fn the_page_finds_an_event_through_the_deliveries_api_by_event_id() {
    let app = spawn_app(no_workers).await;
    let html = get(&app, "/").await.text().await.expect("body");
    assert!(html.contains(r#"<form id="event-form""#), "{html}");
    assert!(html.contains(r#"<input id="event-id""#), "{html}");
    assert!(html.contains(r#"<table id="event-jobs">"#), "{html}");
    // What the form reads: the delivery of the typed id (escaped into the query), then its jobs.
    let js = get(&app, "/ui/page.js").await.text().await.expect("body");
    assert!(
        js.contains("'api/v1/deliveries?event_id=' + encodeURIComponent(eventId)"),
        "page.js"
    );
    assert!(
        js.contains("'api/v1/jobs/' + encodeURIComponent(id)"),
        "page.js"
    );

    // And that API answers the page: the event's delivery with its jobs, as the page shows them.
    let body = docspace_event(4711, "group.updated", json!({ "id": "g-page" }));
    let (status, delivered) = app.deliver_docspace(&body).await;
    assert_eq!(status, 200, "{delivered}");
    let (status, v) = app
        .api(
            Method::GET,
            "/api/v1/deliveries?event_id=4711&limit=1",
            None,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let delivery = &v["deliveries"][0];
    assert_eq!(delivery["trigger"], "group.updated");
    assert!(delivery["received_at"].is_string() && delivery["request_id"].is_string());
    assert_eq!(delivery["job_ids"], delivered["job_ids"]);
    let job = delivery["job_ids"][0].as_i64().expect("job id");
    let (status, v) = app
        .api(Method::GET, &format!("/api/v1/jobs/{job}"), None)
        .await;
    assert_eq!(status, 200, "{v}");
    for key in ["id", "kind", "state", "attempts", "last_error", "result"] {
        assert!(v["job"].get(key).is_some(), "the page shows {key}: {v}");
    }
}
