//! File reconcile (`files.sync_all`, `POST /api/v1/files/sync`, `sync-files`) against the
//! DocSpace and Dropbox stand-ins: files DocSpace never announced are exported once, old files
//! only by a backfill, and a run over an unchanged portal downloads and uploads nothing.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::common::*;
use bridge_fakes::docspace::{MY_DOCUMENTS_ROOT_ID, TRASH_ROOT_ID};
use chrono::Utc;
use docspace_dropbox_bridge::config::{Config, Secret};
use docspace_dropbox_bridge::store::{self, ExportRecord, WATERMARK_EXPORTING_SINCE};
use reqwest::Method;
use serde_json::{json, Value};

const ROOT: &str = "/DocSpace Export";

/// Asks for a file reconcile through the API and waits for it and the exports it enqueued.
async fn sync_files(w: &World, body: Option<Value>) -> Value {
    let (status, v) = w.app.api(Method::POST, "/api/v1/files/sync", body).await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["job"]["kind"], "files.sync_all", "{v}");
    let id = v["job"]["id"].as_i64().expect("job id");
    let job = w
        .app
        .wait_job(id, 60, |j| {
            matches!(j["state"].as_str(), Some("succeeded") | Some("dead"))
        })
        .await;
    assert_eq!(job["state"], "succeeded", "{job:#}");
    w.settle(60).await;
    job["result"].clone()
}

fn n(result: &Value, field: &str) -> u64 {
    result[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {result:#}"))
}

/// Succeeded `file.export` jobs that uploaded something, per DocSpace file id.
fn uploads_per_file(jobs: &[Value]) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    for j in jobs {
        if j["kind"] == "file.export"
            && j["state"] == "succeeded"
            && j["result"]["mode"].is_string()
        {
            let id = j["result"]["file_id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            *out.entry(id).or_default() += 1;
        }
    }
    out
}

fn assert_content(w: &World, path: &str, file_id: i64, version: u32) {
    let f = w
        .dropbox
        .file(path)
        .unwrap_or_else(|| panic!("{path} missing; tree: {:?}", w.dropbox.paths()));
    let want = w
        .docspace
        .dropbox_content_hash(file_id, version)
        .expect("file exists");
    assert_eq!(f.content_hash, want, "{path}");
}

fn no_numbered_copies(w: &World) {
    let copies: Vec<String> = w
        .dropbox
        .paths()
        .into_iter()
        .filter(|p| p.contains(" (1)"))
        .collect();
    assert!(copies.is_empty(), "numbered copies: {copies:?}");
}

/// Every route that downloads from DocSpace or writes to Dropbox, and their counts.
fn transfer_calls(w: &World) -> (u64, u64, u64) {
    (
        w.docspace.calls("stream") + w.docspace.calls("foreign.stream"),
        w.docspace.calls("file.presigneduri"),
        w.dropbox.total_calls(),
    )
}

/// Stops the bridge, runs `meanwhile` against the stand-ins, and starts the bridge again on the
/// same database, its configuration changed by `configure`.
async fn outage(
    w: &mut World,
    configure: impl FnOnce(&mut Config),
    meanwhile: impl FnOnce(&World),
) {
    w.app.stop().await;
    meanwhile(w);
    w.restart_with(configure).await;
}

/// The bridge wired to `docspace` (arranged before the bridge starts) and a fresh Dropbox.
async fn spawn_world_with(
    docspace: bridge_fakes::docspace::FakeDocSpace,
    configure: impl FnOnce(&mut Config),
) -> World {
    let dropbox = bridge_fakes::dropbox::FakeDropbox::start(Default::default())
        .await
        .expect("fake Dropbox starts");
    let app = spawn_app(|c| {
        use_fakes(c, &docspace, &dropbox);
        configure(c);
    })
    .await;
    World {
        app,
        docspace,
        dropbox,
    }
}

/// File reconciles that succeeded so far.
async fn succeeded_runs(w: &World) -> usize {
    let (_, v) = w
        .app
        .api(
            Method::GET,
            "/api/v1/jobs?kind=files.sync_all&state=succeeded&limit=500",
            None,
        )
        .await;
    v["jobs"].as_array().map_or(0, Vec::len)
}

/// Waits until `more` file reconciles beyond `before` succeeded, then for the queue to drain.
async fn periodic_runs(w: &World, before: usize, more: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while succeeded_runs(w).await < before + more {
        assert!(
            Instant::now() < deadline,
            "{more} periodic reconciles did not succeed: {:#?}",
            w.app.all_jobs().await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    w.app.wait_idle(60).await;
}

#[tokio::test]
async fn files_uploaded_while_the_bridge_is_stopped_are_exported_once_after_it_starts() {
    let mut w = spawn_world(|_| {}).await;
    let room = w.docspace.create_room("Finance");
    let folder = w.docspace.create_folder(room, "2026").expect("folder");
    let plan = w
        .docspace
        .create_file(folder, "Plan.docx", 10_000)
        .expect("file");
    let first = sync_files(&w, None).await;
    assert_eq!(n(&first, "enqueued"), 1, "{first:#}");
    let plan_path = format!("{ROOT}/Finance/2026/Plan.docx");
    let rev1 = w.dropbox.file(&plan_path).expect("exported").rev;

    // DocSpace's webhooks for all of this are lost: nobody answered them for 31 seconds.
    let runs = succeeded_runs(&w).await;
    let mut new_files = Vec::new();
    outage(
        &mut w,
        |c| {
            c.queue.run_scheduler = true;
            c.export.reconcile_interval = Duration::from_secs(1);
            c.groups.reconcile_interval = Duration::from_secs(3600);
            c.queue.changes_poll_interval = Duration::from_secs(3600);
        },
        |w| {
            let deep = w.docspace.create_folder(folder, "Q1").expect("folder");
            new_files.push(
                w.docspace
                    .create_file(folder, "Budget.xlsx", 3000)
                    .expect("file"),
            );
            new_files.push(w.docspace.create_file(deep, "Notes.txt", 42).expect("file"));
            w.docspace.new_version(plan, 12_000).expect("new version");
        },
    )
    .await;
    periodic_runs(&w, runs, 1).await;

    assert_content(
        &w,
        &format!("{ROOT}/Finance/2026/Budget.xlsx"),
        new_files[0],
        1,
    );
    assert_content(
        &w,
        &format!("{ROOT}/Finance/2026/Q1/Notes.txt"),
        new_files[1],
        1,
    );
    assert_content(&w, &plan_path, plan, 2);
    assert_ne!(
        w.dropbox.file(&plan_path).expect("still there").rev,
        rev1,
        "the new version is a new revision of the same file"
    );
    no_numbered_copies(&w);

    // A file whose webhook is lost while the bridge runs is caught by the next periodic run.
    let late = w.docspace.create_file(room, "Late.pdf", 500).expect("file");
    let deadline = Instant::now() + Duration::from_secs(60);
    while w
        .dropbox
        .file(&format!("{ROOT}/Finance/Late.pdf"))
        .is_none()
    {
        assert!(Instant::now() < deadline, "Late.pdf was never exported");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = w.app.all_jobs().await.len();
    let runs = succeeded_runs(&w).await;
    periodic_runs(&w, runs, 2).await;
    assert_content(&w, &format!("{ROOT}/Finance/Late.pdf"), late, 1);

    let jobs = w.app.all_jobs().await;
    assert!(jobs.len() > before, "periodic runs went on");
    let uploads = uploads_per_file(&jobs);
    for id in new_files.iter().chain([&late]) {
        assert_eq!(uploads.get(&id.to_string()), Some(&1), "{id}: {uploads:?}");
    }
    assert_eq!(uploads.get(&plan.to_string()), Some(&2), "v1, then v2");
    let dead: Vec<&Value> = jobs.iter().filter(|j| j["state"] == "dead").collect();
    assert!(dead.is_empty(), "{dead:#?}");
}

#[tokio::test]
async fn files_older_than_the_watermark_wait_for_a_backfill() {
    let w = spawn_world(|_| {}).await;
    let room = w.docspace.create_room("Archive 2019");
    let old: Vec<i64> = (1..=2)
        .map(|i| {
            let id = w
                .docspace
                .create_file(room, &format!("old{i}.txt"), 100)
                .expect("file");
            w.docspace
                .set_file_updated(id, Utc::now() - chrono::Duration::days(400))
                .expect("age");
            id
        })
        .collect();
    let recent = w
        .docspace
        .create_file(room, "recent.txt", 100)
        .expect("file");

    let periodic = sync_files(&w, None).await;
    assert_eq!(n(&periodic, "files_seen"), 3, "{periodic:#}");
    assert_eq!(n(&periodic, "enqueued"), 1, "{periodic:#}");
    assert_eq!(n(&periodic, "older_than_watermark"), 2, "{periodic:#}");
    assert_eq!(periodic["backfill"], false);
    assert!(periodic["changed_since"].is_string(), "{periodic:#}");
    assert_content(&w, &format!("{ROOT}/Archive 2019/recent.txt"), recent, 1);
    for i in 1..=2 {
        assert!(!w.dropbox.exists(&format!("{ROOT}/Archive 2019/old{i}.txt")));
    }

    let backfill = sync_files(&w, Some(json!({ "backfill": true }))).await;
    assert_eq!(n(&backfill, "enqueued"), 2, "{backfill:#}");
    assert_eq!(n(&backfill, "already_exported"), 1, "{backfill:#}");
    assert_eq!(backfill["changed_since"], Value::Null);
    for (i, id) in old.iter().enumerate() {
        assert_content(&w, &format!("{ROOT}/Archive 2019/old{}.txt", i + 1), *id, 1);
    }

    // Everything is in step now: another backfill downloads and uploads nothing.
    w.docspace.reset_stats();
    w.dropbox.reset_counters();
    let again = sync_files(&w, Some(json!({ "backfill": true }))).await;
    assert_eq!(n(&again, "enqueued"), 0, "{again:#}");
    assert_eq!(n(&again, "already_exported"), 3, "{again:#}");
    assert_eq!(transfer_calls(&w), (0, 0, 0));
    assert_eq!(w.docspace.calls("file.get"), 0);
}

#[tokio::test]
async fn a_second_run_over_an_unchanged_portal_makes_no_upload_and_no_download() {
    let w = spawn_world(|_| {}).await;
    let room = w.docspace.create_room("Sales");
    let sub = w.docspace.create_folder(room, "Leads").expect("folder");
    w.docspace.create_file(room, "a.docx", 2000).expect("file");
    w.docspace.create_file(sub, "b.xlsx", 3000).expect("file");
    let first = sync_files(&w, None).await;
    assert_eq!(n(&first, "enqueued"), 2, "{first:#}");

    w.docspace.reset_stats();
    w.dropbox.reset_counters();
    let second = sync_files(&w, None).await;
    assert_eq!(n(&second, "enqueued"), 0, "{second:#}");
    assert_eq!(n(&second, "already_exported"), 2, "{second:#}");
    assert_eq!(n(&second, "folders_walked"), 2, "{second:#}");
    assert_eq!(transfer_calls(&w), (0, 0, 0));
    // Only listings: one page of rooms, the archived-room count, one page per folder.
    let stats = w.docspace.stats();
    let routes: Vec<&String> = stats.calls.keys().collect();
    assert_eq!(
        routes,
        vec!["folder.list", "rooms.list"],
        "{:?}",
        stats.calls
    );
    assert_eq!(w.docspace.calls("folder.list"), 2);
    assert_eq!(w.docspace.calls("rooms.list"), 2);
    assert_eq!(n(&second, "listing_calls"), 4, "{second:#}");
}

#[tokio::test]
async fn a_folder_of_more_than_a_hundred_entries_is_read_page_by_page() {
    let w = spawn_world(|_| {}).await;
    let room = w.docspace.create_room("Big");
    let ids = w
        .docspace
        .create_files(room, "f", ".txt", 230, 16)
        .expect("files");
    for i in 0..5 {
        let sub = w
            .docspace
            .create_folder(room, &format!("sub{i}"))
            .expect("folder");
        w.docspace.create_file(sub, "inner.txt", 8).expect("file");
    }
    let result = sync_files(&w, None).await;
    assert_eq!(n(&result, "files_seen"), 235, "{result:#}");
    assert_eq!(n(&result, "enqueued"), 235, "{result:#}");
    assert_eq!(n(&result, "folders_walked"), 6, "{result:#}");
    assert_eq!(n(&result, "listing_calls"), 2 + 3 + 5, "{result:#}");
    for (i, id) in ids.iter().enumerate() {
        assert_content(&w, &format!("{ROOT}/Big/f{}.txt", i + 1), *id, 1);
    }
    for i in 0..5 {
        assert!(w.dropbox.exists(&format!("{ROOT}/Big/sub{i}/inner.txt")));
    }
    let jobs = w.app.all_jobs().await;
    assert_eq!(uploads_per_file(&jobs).len(), 235);

    // 235 entries in the room: three pages; one page for each subfolder.
    w.docspace.reset_stats();
    let again = sync_files(&w, None).await;
    assert_eq!(n(&again, "already_exported"), 235, "{again:#}");
    assert_eq!(w.docspace.calls("folder.list"), 3 + 5);
    assert_eq!(w.docspace.calls("rooms.list"), 2);
}

#[tokio::test]
async fn nested_folders_are_mirrored_under_the_export_root() {
    let w = spawn_world(|_| {}).await;
    let room = w.docspace.create_room("Projects");
    let a = w.docspace.create_folder(room, "Alpha").expect("folder");
    let b = w
        .docspace
        .create_folder(a, "Specs / Drafts")
        .expect("folder");
    let c = w.docspace.create_folder(b, "2026").expect("folder");
    let id = w.docspace.create_file(c, "spec.md", 900).expect("file");
    let result = sync_files(&w, None).await;
    assert_eq!(n(&result, "folders_walked"), 4, "{result:#}");
    assert_content(
        &w,
        &format!("{ROOT}/Projects/Alpha/Specs _ Drafts/2026/spec.md"),
        id,
        1,
    );
}

#[tokio::test]
async fn export_folder_ids_limits_the_walk_and_unreadable_folders_are_reported() {
    let docspace = bridge_fakes::docspace::FakeDocSpace::start(Default::default())
        .await
        .expect("fake DocSpace");
    let inside = docspace.create_room("Inside");
    let hidden = docspace.create_room("Hidden");
    let outside = docspace.create_room("Outside");
    let w = spawn_world_with(docspace, |c| {
        c.export.folder_ids = vec![inside.to_string(), hidden.to_string()];
    })
    .await;
    let a = w.docspace.create_file(inside, "in.txt", 10).expect("file");
    w.docspace.create_file(hidden, "h.txt", 10).expect("file");
    w.docspace
        .create_file(outside, "out.txt", 10)
        .expect("file");
    w.docspace.set_folder_readable(hidden, false);

    let result = sync_files(&w, None).await;
    assert_eq!(
        result["folder_ids"],
        json!([inside.to_string(), hidden.to_string()])
    );
    assert_eq!(n(&result, "files_seen"), 1, "{result:#}");
    assert_eq!(n(&result, "enqueued"), 1, "{result:#}");
    assert_eq!(result["skipped"]["unreadable"], 1, "{result:#}");
    let skipped = &result["skipped_folders"][0];
    assert_eq!(skipped["id"], hidden.to_string(), "{result:#}");
    assert_eq!(skipped["reason"], "unreadable");
    assert!(
        skipped["error"].as_str().unwrap_or("").contains("403"),
        "{skipped}"
    );
    assert_content(&w, &format!("{ROOT}/Inside/in.txt"), a, 1);
    assert_eq!(
        w.dropbox
            .paths()
            .iter()
            .filter(|p| p.ends_with(".txt"))
            .count(),
        1
    );
    assert_eq!(
        w.docspace.calls("rooms.list"),
        0,
        "the rooms are not listed"
    );
}

#[tokio::test]
async fn trashed_files_and_archived_rooms_are_skipped_and_counted() {
    let w = spawn_world(|_| {}).await;
    let live = w.docspace.create_room("Live");
    let keep = w.docspace.create_file(live, "keep.txt", 10).expect("file");
    let bin = w.docspace.create_file(live, "bin.txt", 10).expect("file");
    w.docspace.trash_file(bin).expect("trash");
    let shelf = w.docspace.create_room("Shelf");
    let shelved = w.docspace.create_file(shelf, "s.txt", 10).expect("file");
    w.docspace.archive_room(shelf).expect("archive");

    let result = sync_files(&w, None).await;
    assert_eq!(n(&result, "files_seen"), 1, "{result:#}");
    assert_eq!(result["skipped"]["archived_room"], 1, "{result:#}");
    assert_content(&w, &format!("{ROOT}/Live/keep.txt"), keep, 1);
    assert!(!w.dropbox.exists(&format!("{ROOT}/Live/bin.txt")));
    assert!(!w.dropbox.exists(&format!("{ROOT}/Shelf/s.txt")));

    // Named explicitly, the trash is still skipped and an archived room is walked.
    let result = sync_files(
        &w,
        Some(json!({ "folder_ids": [TRASH_ROOT_ID, shelf.to_string()] })),
    )
    .await;
    assert_eq!(result["skipped"]["trash"], 1, "{result:#}");
    assert_eq!(n(&result, "enqueued"), 1, "{result:#}");
    assert!(w.dropbox.exists(&format!("{ROOT}/Shelf/s.txt")));
    assert_content(&w, &format!("{ROOT}/Shelf/s.txt"), shelved, 1);
    assert!(!w.dropbox.exists(&format!("{ROOT}/Live/bin.txt")));
}

#[tokio::test]
async fn named_folders_outside_the_configured_scope_are_explicit_requests() {
    let docspace = bridge_fakes::docspace::FakeDocSpace::start(Default::default())
        .await
        .expect("fake DocSpace");
    let configured = docspace.create_room("Configured");
    let w = spawn_world_with(docspace, |c| {
        c.export.folder_ids = vec![configured.to_string()];
    })
    .await;
    let mine = w
        .docspace
        .create_file(MY_DOCUMENTS_ROOT_ID, "mine.txt", 10)
        .expect("file");
    let sub = w.docspace.create_folder(configured, "Sub").expect("folder");
    w.docspace.create_file(sub, "sub.txt", 10).expect("file");

    let result = sync_files(
        &w,
        Some(json!({ "folder_ids": [MY_DOCUMENTS_ROOT_ID, configured, sub] })),
    )
    .await;
    assert_eq!(n(&result, "enqueued"), 2, "{result:#}");
    assert_eq!(
        result["skipped"]["inside_listed_folder"], 1,
        "the subfolder is walked once, as part of its room: {result:#}"
    );
    assert_content(&w, &format!("{ROOT}/mine.txt"), mine, 1);
    assert!(w.dropbox.exists(&format!("{ROOT}/Configured/Sub/sub.txt")));
}

#[tokio::test]
async fn the_api_checks_the_request_and_the_folders_it_names() {
    let w = spawn_world(|_| {}).await;
    let room = w.docspace.create_room("Here");

    let (status, v) = w
        .app
        .api(
            Method::POST,
            "/api/v1/files/sync",
            Some(json!({ "folder_ids": [] })),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], "invalid_folder_ids", "{v}");

    let (status, v) = w
        .app
        .api(
            Method::POST,
            "/api/v1/files/sync",
            Some(json!({ "folder_ids": [room, 987_654] })),
        )
        .await;
    assert_eq!(status, 404, "{v}");
    assert_eq!(v["error"]["code"], "not_found", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("987654"),
        "{v}"
    );

    for body in [
        json!({ "folder_ids": [true] }),
        json!({ "folder_ids": ["  "] }),
        json!({ "backfill": "yes" }),
        json!({ "folders": [1] }),
    ] {
        let (status, v) = w
            .app
            .api(Method::POST, "/api/v1/files/sync", Some(body.clone()))
            .await;
        assert_eq!(status, 400, "{body}: {v}");
        assert!(v["error"]["code"].is_string(), "{v}");
    }

    // Nothing was enqueued by the refused requests.
    assert!(w
        .app
        .all_jobs()
        .await
        .iter()
        .all(|j| j["kind"] != "files.sync_all"));

    let (status, v) = w
        .app
        .api(
            Method::POST,
            "/api/v1/files/sync",
            Some(json!({ "folder_ids": [room.to_string()], "backfill": true })),
        )
        .await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(
        v["job"]["payload"],
        json!({ "folder_ids": [room.to_string()], "backfill": true })
    );
    assert_eq!(
        v["job"]["dedupe_key"],
        format!("files.sync_all:folders={room}:backfill")
    );
    let (status, v) = w.app.api(Method::POST, "/api/v1/files/sync", None).await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["job"]["payload"], json!({}));
    w.settle(30).await;
}

#[tokio::test]
async fn a_key_without_the_listing_permission_stops_the_run_instead_of_skipping_every_folder() {
    let docspace = bridge_fakes::docspace::FakeDocSpace::start(Default::default())
        .await
        .expect("fake DocSpace");
    let key = docspace.add_api_key(&["rooms:read"]);
    let room = docspace.create_room("Locked");
    docspace.create_file(room, "a.txt", 10).expect("file");
    let w = spawn_world_with(docspace, |c| c.docspace.api_key = Secret::new(key)).await;

    let (status, v) = w.app.api(Method::POST, "/api/v1/files/sync", None).await;
    assert_eq!(status, 202, "{v}");
    let id = v["job"]["id"].as_i64().expect("job id");
    let job = w.app.wait_job(id, 30, |j| j["state"] == "dead").await;
    let error = job["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("files:read"), "{job:#}");
    assert!(w.dropbox.paths().iter().all(|p| !p.ends_with("a.txt")));

    let (status, v) = w
        .app
        .api(
            Method::POST,
            "/api/v1/files/sync",
            Some(json!({ "folder_ids": [room] })),
        )
        .await;
    assert_eq!(status, 502, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("files:read"),
        "{v}"
    );
}

#[tokio::test]
async fn the_walk_stays_under_the_docspace_cap_and_waits_out_a_429() {
    let w = spawn_world(|_| {}).await;
    let room = w.docspace.create_room("Wide");
    for i in 0..30 {
        let sub = w
            .docspace
            .create_folder(room, &format!("sub{i:02}"))
            .expect("folder");
        w.docspace.create_file(sub, "x.txt", 4).expect("file");
    }
    let first = sync_files(&w, None).await;
    assert_eq!(n(&first, "enqueued"), 30, "{first:#}");

    w.docspace.update_knobs(|k| k.latency_ms = 20);
    w.docspace.reset_stats();
    w.docspace.fail_next(Some("folder.list"), 429, 2);
    let result = sync_files(&w, None).await;
    assert_eq!(n(&result, "files_seen"), 30, "{result:#}");
    assert_eq!(n(&result, "already_exported"), 30, "{result:#}");
    assert_eq!(
        w.docspace.calls("folder.list"),
        31 + 2,
        "the refused pages are asked again"
    );
    let max = w.docspace.max_concurrency_seen();
    assert!((1..=10).contains(&max), "{max} calls in flight");
}

#[tokio::test]
async fn a_successful_reconcile_shows_in_the_metrics() {
    let w = spawn_world(|_| {}).await;
    let room = w.docspace.create_room("Metrics");
    w.docspace.create_file(room, "m.txt", 10).expect("file");
    sync_files(&w, None).await;
    let text = w
        .app
        .http
        .get(format!("{}/metrics", w.app.url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let value = |prefix: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{prefix} not in:\n{text}"))
    };
    assert!(value("bridge_files_reconcile_seen_total") >= 1.0);
    assert!(value("bridge_files_reconcile_enqueued_total") >= 1.0);
    let last = value("bridge_last_success_timestamp_seconds{kind=\"files.sync_all\"}");
    assert!(last > 1.7e9, "{last}");
    value("bridge_last_success_timestamp_seconds{kind=\"groups.sync_all\"}");
}

// --- CLI --------------------------------------------------------------------------------------

fn summary_row(stdout: &str, label: &str) -> Option<u64> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("Summary"))
        .find(|l| l.trim_start().starts_with(label))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
}

#[tokio::test]
async fn cli_dry_run_prints_what_would_be_exported_and_changes_nothing() {
    let w = spawn_world(|_| {}).await;
    let room = w.docspace.create_room("Finance");
    let folder = w.docspace.create_folder(room, "2026").expect("folder");
    w.docspace
        .create_file(folder, "Report.docx", 4000)
        .expect("file");
    let old = w.docspace.create_file(room, "Old.txt", 10).expect("file");
    w.docspace
        .set_file_updated(old, Utc::now() - chrono::Duration::days(30))
        .expect("age");
    let dir = tempfile::tempdir().expect("tempdir");

    let (code, stdout, stderr) = w.cli(dir.path(), "sync-files", &["--dry-run"]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("dry run"), "{stdout}");
    assert!(
        stdout.contains(&format!("+ {ROOT}/Finance/2026/Report.docx")),
        "{stdout}"
    );
    assert!(!stdout.contains("Old.txt"), "{stdout}");
    assert_eq!(summary_row(&stdout, "to export"), Some(1), "{stdout}");
    assert_eq!(
        summary_row(&stdout, "older than watermark"),
        Some(1),
        "{stdout}"
    );
    assert!(
        stderr.contains("progress: "),
        "plain progress lines: {stderr}"
    );
    assert_eq!(w.dropbox.total_calls(), 0, "{:?}", w.dropbox.call_counts());
    assert_eq!(w.docspace.calls("stream"), 0);

    let (code, stdout, _) = w
        .cli(dir.path(), "sync-files", &["--dry-run", "--backfill"])
        .await;
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains(&format!("+ {ROOT}/Finance/Old.txt")),
        "{stdout}"
    );
    assert_eq!(summary_row(&stdout, "to export"), Some(2), "{stdout}");
    assert_eq!(w.dropbox.total_calls(), 0);
}

#[tokio::test]
async fn cli_sync_files_exports_in_process_and_a_second_run_has_nothing_to_do() {
    let w = spawn_world(|_| {}).await;
    let room = w.docspace.create_room("Ops");
    let other = w.docspace.create_room("Elsewhere");
    let a = w
        .docspace
        .create_file(room, "a.bin", 5 * 1024 * 1024)
        .expect("file");
    let b = w.docspace.create_file(room, "b.txt", 100).expect("file");
    w.docspace.create_file(other, "c.txt", 100).expect("file");
    let dir = tempfile::tempdir().expect("tempdir");
    let room_arg = room.to_string();

    let (code, stdout, stderr) = w
        .cli(dir.path(), "sync-files", &["--folder", &room_arg])
        .await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(summary_row(&stdout, "exported"), Some(2), "{stdout}");
    assert!(
        stdout.contains(&format!("exported {ROOT}/Ops/a.bin")),
        "{stdout}"
    );
    assert_content(&w, &format!("{ROOT}/Ops/a.bin"), a, 1);
    assert_content(&w, &format!("{ROOT}/Ops/b.txt"), b, 1);
    assert!(!w.dropbox.exists(&format!("{ROOT}/Elsewhere/c.txt")));

    w.docspace.reset_stats();
    w.dropbox.reset_counters();
    let (code, stdout, _) = w
        .cli(dir.path(), "sync-files", &["--folder", &room_arg])
        .await;
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(summary_row(&stdout, "to export"), Some(0), "{stdout}");
    assert_eq!(
        summary_row(&stdout, "already exported"),
        Some(2),
        "{stdout}"
    );
    assert_eq!(transfer_calls(&w), (0, 0, 0));
}

// --- store ------------------------------------------------------------------------------------

#[tokio::test]
async fn the_watermark_is_stored_once_and_recorded_exports_are_read_in_bulk() {
    let dir = tempfile::tempdir().expect("tempdir");
    for url in store_urls(dir.path()).await {
        let s = store::connect(&url).await.expect("store");
        let first = Utc::now() - chrono::Duration::hours(5);
        let got = s
            .watermark_or_init(WATERMARK_EXPORTING_SINCE, first)
            .await
            .expect("init");
        assert_eq!(got.timestamp_millis(), first.timestamp_millis(), "{url}");
        let again = s
            .watermark_or_init(WATERMARK_EXPORTING_SINCE, Utc::now())
            .await
            .expect("read");
        assert_eq!(again, got, "{url}: the first instant stays");

        for i in 0..450 {
            s.put_export(&ExportRecord {
                file_id: i.to_string(),
                docspace_version: i % 3 + 1,
                dropbox_path: format!("/E/{i}.txt"),
                dropbox_id: None,
                rev: "0123456789".into(),
                content_hash: "h".into(),
                size: 1,
            })
            .await
            .expect("put");
        }
        let mut ask: Vec<String> = (0..450).step_by(2).map(|i: i32| i.to_string()).collect();
        ask.push("missing".into());
        let got = s.exports_of(&ask).await.expect("exports_of");
        assert_eq!(got.len(), 225, "{url}");
        assert!(got
            .iter()
            .all(|r| r.docspace_version == r.file_id.parse::<i64>().unwrap_or(-1) % 3 + 1));
        assert!(s.exports_of(&[]).await.expect("empty").is_empty());
    }
}

#[tokio::test]
async fn an_installation_that_exported_before_keeps_exporting_since_its_oldest_export() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The schema as it was before watermarks, with one export recorded.
    let (url, pool) = crate::common::sqlite_before_migration(dir.path(), "0004").await;
    let exported_at = Utc::now() - chrono::Duration::days(20);
    sqlx::query(
        "INSERT INTO exports (file_id, docspace_version, dropbox_path, dropbox_path_lower, rev, content_hash, size, updated_at)
         VALUES ('1', 1, '/E/a', '/e/a', '0123456789', 'h', 1, $1)",
    )
    .bind(exported_at.timestamp_millis())
    .execute(&pool)
    .await
    .expect("export");
    pool.close().await;

    let s = store::connect(&url).await.expect("upgrade");
    let since = s
        .watermark_or_init(WATERMARK_EXPORTING_SINCE, Utc::now())
        .await
        .expect("watermark");
    assert_eq!(since.timestamp_millis(), exported_at.timestamp_millis());
}

/// DocSpace lists a folder in its key user's saved order, last modified first unless they chose
/// another, so a file that leaves a folder while a reconcile pages through it moves every file
/// after it back by one: the first file of a page not yet read slid onto a page already read, and
/// the reconcile skipped it. The walk now notices the listing changed under it (its total, or a
/// file on two pages) and lists the folder again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_leaving_a_folder_while_it_is_listed_does_not_make_the_reconcile_skip_another() {
    let w = spawn_world(|_| {}).await;
    let room = w.docspace.create_room("Busy");
    let ids = w
        .docspace
        .create_files(room, "f", ".txt", 250, 10)
        .expect("files");
    // Every DocSpace call takes a while, so the test acts between two pages of one listing.
    w.docspace.update_knobs(|k| k.latency_ms = 400);
    let (status, v) = w
        .app
        .api(
            Method::POST,
            "/api/v1/files/sync",
            Some(json!({ "folder_ids": [room], "backfill": true })),
        )
        .await;
    assert_eq!(status, 202, "{v}");
    let id = v["job"]["id"].as_i64().expect("job id");
    // The first page has been read and the next two asked for: the newest file leaves.
    wait_docspace_calls(&w.docspace, bridge_fakes::docspace::routes::FOLDER_LIST, 2).await;
    let gone = *ids.last().expect("files");
    w.docspace.delete_file(gone).expect("delete");
    // The reconcile's own run; the exports it enqueued are still running.
    let job = w.app.wait_finished(id, 20).await;
    assert_eq!(job["state"], "succeeded", "{job:#}");
    w.docspace.update_knobs(|k| k.latency_ms = 0);
    let jobs = w.settle(60).await;
    let exported = payload_ids(&jobs, "file.export", "file_id");
    let missed: Vec<i64> = ids
        .iter()
        .filter(|id| **id != gone && !exported.contains(&id.to_string()))
        .copied()
        .collect();
    assert!(
        missed.is_empty(),
        "files in the folder the reconcile did not export: {missed:?}; {}",
        job["result"]
    );
}
