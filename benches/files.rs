//! File reconcile benchmark (not a test), against the DocSpace and Dropbox stand-ins started
//! here with 20 ms per call:
//!
//! 1. A portal of 10,000 files in 500 folders (25 rooms of 20 folders each, the room included,
//!    20 files per folder), every file already recorded as exported: a full `files.sync_all`
//!    walk with nothing to export. Wall time, DocSpace calls (by route), Dropbox calls (0), and
//!    the time the same number of calls takes at the walk's concurrency cap.
//! 2. A first-time backfill of 1,000 small files (50 folders of 20 files of 10 KiB) by the
//!    service: `POST /api/v1/files/sync {"backfill": true}` until the queue is drained, in files
//!    per second.
//!
//! Goal: the no-change walk costs one listing call per folder page and finishes within about the
//! time that many calls take at the concurrency cap, whatever the file count.
//!
//! `cargo bench --bench files [-- --rooms 25 --folders 20 --files 20 --latency-ms 20
//!  --backfill-files 1000 --workers 32]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use bridge_fakes::docspace::FakeDocSpace;
use bridge_fakes::dropbox::FakeDropbox;
use docspace_dropbox_bridge::config::Config;
use docspace_dropbox_bridge::jobs::files::{self, WALK_CONCURRENCY};
use docspace_dropbox_bridge::jobs::JobContext;
use docspace_dropbox_bridge::store::{self, JobState};
use serde_json::json;

#[path = "support/mod.rs"]
mod support;
use support::{arg, bridge_env, start_service, API_TOKEN};

/// `rooms` rooms of `folders` folders each (the room itself and `folders - 1` folders in it),
/// `files` files of `size` bytes in every one of them. Returns the file ids.
fn portal(ds: &FakeDocSpace, rooms: u64, folders: u64, files: u64, size: u64) -> Vec<i64> {
    let mut ids = Vec::new();
    for r in 0..rooms {
        let room = ds.create_room(&format!("Room {r:03}"));
        let mut here = vec![room];
        for f in 1..folders {
            here.push(
                ds.create_folder(room, &format!("Folder {f:03}"))
                    .expect("folder"),
            );
        }
        for folder in here {
            ids.extend(
                ds.create_files(folder, "file-", ".docx", files as usize, size)
                    .expect("files"),
            );
        }
    }
    ids
}

/// Records every file as exported at version 1, in one transaction (as a finished backfill
/// would leave the store).
async fn record_exported(database_url: &str, ids: &[i64]) {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(database_url)
        .await
        .expect("sqlite");
    let mut tx = conn.begin().await.expect("begin");
    for id in ids {
        let path = format!("/DocSpace Export/bench/{id}.docx");
        sqlx::query(
            "INSERT INTO exports (file_id, docspace_version, dropbox_path, dropbox_path_lower, rev, content_hash, size, updated_at)
             VALUES ($1, 1, $2, $3, '0123456789', 'hash', 1024, 0)",
        )
        .bind(id.to_string())
        .bind(&path)
        .bind(path.to_lowercase())
        .execute(&mut *tx)
        .await
        .expect("insert");
    }
    tx.commit().await.expect("commit");
}

async fn no_change_walk(rooms: u64, folders: u64, files_per: u64, latency: Duration) {
    let ds = FakeDocSpace::start(Default::default())
        .await
        .expect("fake DocSpace");
    let db = FakeDropbox::start(Default::default())
        .await
        .expect("fake Dropbox");
    let ids = portal(&ds, rooms, folders, files_per, 1024);
    let dir = tempfile::tempdir().expect("tmp");
    let config = Config::from_map(&bridge_env(&ds, &db, dir.path())).expect("config");
    let st = store::connect(&config.database_url).await.expect("store");
    record_exported(&config.database_url, &ids).await;
    let ctx = JobContext::new(Arc::new(config), st);
    ds.update_knobs(|k| k.latency_ms = latency.as_millis() as u64);
    db.set_latency(latency);

    ds.reset_stats();
    db.reset_counters();
    let started = Instant::now();
    let summary = files::sync_all(&ctx, None, false).await.expect("walk");
    let wall = started.elapsed();
    let stats = ds.stats();
    let calls = stats.total;
    let ideal = latency.as_secs_f64() * calls as f64 / WALK_CONCURRENCY as f64;
    println!(
        "no-change walk: {} files in {} folders ({} rooms), {} ms per call",
        ids.len(),
        rooms * folders,
        rooms,
        latency.as_millis()
    );
    println!(
        "  wall {:.2} s; DocSpace {calls} calls ({:?}), max {} in flight; Dropbox {} calls",
        wall.as_secs_f64(),
        stats.calls,
        ds.max_concurrency_seen(),
        db.total_calls()
    );
    println!(
        "  walked {} folders, saw {} files, {} to export, {} already exported",
        summary.folders_walked, summary.files_seen, summary.to_export, summary.in_step
    );
    println!(
        "  the same calls at the cap ({WALK_CONCURRENCY} at a time): {ideal:.2} s -> {:.2}x of that",
        wall.as_secs_f64() / ideal.max(1e-9)
    );
    let one_per_page = summary.pages == calls;
    let within = wall.as_secs_f64() <= ideal * 1.5;
    println!(
        "  goals: one listing call per folder page: {}; within the cap's time (+50%): {}; 0 Dropbox calls: {}",
        if one_per_page { "met" } else { "MISSED" },
        if within { "met" } else { "MISSED" },
        if db.total_calls() == 0 { "met" } else { "MISSED" },
    );
}

async fn first_backfill(count: u64, workers: u64, latency: Duration) {
    let ds = FakeDocSpace::start(Default::default())
        .await
        .expect("fake DocSpace");
    let db = FakeDropbox::start(Default::default())
        .await
        .expect("fake Dropbox");
    let per_folder = 20;
    let folders = count.div_ceil(per_folder);
    let rooms = folders.div_ceil(10);
    let mut made = 0;
    for r in 0..rooms {
        let room = ds.create_room(&format!("Backfill {r:02}"));
        for f in 0..10 {
            if made >= count {
                break;
            }
            let folder = if f == 0 {
                room
            } else {
                ds.create_folder(room, &format!("Folder {f:02}"))
                    .expect("folder")
            };
            let n = per_folder.min(count - made);
            ds.create_files(folder, "small-", ".txt", n as usize, 10 * 1024)
                .expect("files");
            made += n;
        }
    }
    ds.update_knobs(|k| k.latency_ms = latency.as_millis() as u64);
    db.set_latency(latency);
    let dir = tempfile::tempdir().expect("tmp");
    let mut env = bridge_env(&ds, &db, dir.path());
    env.insert("WORKER_CONCURRENCY".into(), workers.to_string());
    let (app, st) = start_service(&env).await;
    ds.reset_stats();
    db.reset_counters();
    let started = Instant::now();
    let resp = reqwest::Client::new()
        .post(format!("http://{}/api/v1/files/sync", app.addr))
        .bearer_auth(API_TOKEN)
        .json(&json!({ "backfill": true }))
        .send()
        .await
        .expect("api");
    assert_eq!(resp.status().as_u16(), 202, "the API accepts the backfill");
    app.wait_idle().await;
    let elapsed = started.elapsed();
    let depth = st.queue_depth().await.expect("depth");
    let ok = depth.get(&JobState::Succeeded).copied().unwrap_or(0);
    let dead = depth.get(&JobState::Dead).copied().unwrap_or(0);
    let in_dropbox = db.paths().iter().filter(|p| p.ends_with(".txt")).count();
    println!(
        "first-time backfill: {count} files of 10 KiB in {folders} folders, {} ms per call, WORKER_CONCURRENCY={workers}",
        latency.as_millis()
    );
    println!(
        "  {:>7.1} files/s ({:.2} s from the API call to a drained queue); jobs succeeded {ok}, dead {dead}; {in_dropbox} files in Dropbox; DocSpace {} calls, Dropbox {} calls",
        count as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
        ds.total_calls(),
        db.total_calls()
    );
    app.shutdown().await;
}

#[tokio::main]
async fn main() {
    let rooms = arg("--rooms", 25);
    let folders = arg("--folders", 20);
    let files_per = arg("--files", 20);
    let latency = Duration::from_millis(arg("--latency-ms", 20));
    let backfill = arg("--backfill-files", 1000);
    let workers = arg("--workers", 32);
    no_change_walk(rooms, folders, files_per, latency).await;
    first_backfill(backfill, workers, latency).await;
}
