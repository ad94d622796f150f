//! `file.export` end to end against the DocSpace and Dropbox stand-ins: exports started through
//! the API, DocSpace webhooks and the CLI, asserted on the stand-ins' state and our job records.

use std::time::Duration;

use crate::common::*;
use bridge_fakes::docspace::FakeDocSpace;
use bridge_fakes::dropbox::{FakeDropbox, Fault};
use docspace_dropbox_bridge::jobs::{FileExport, JobKind};
use docspace_dropbox_bridge::store;
use reqwest::Method;
use serde_json::{json, Value};

const MIB: u64 = 1024 * 1024;

/// Enqueues an export through the API and waits until it succeeded or died.
async fn export(w: &World, file_id: i64, body: Option<Value>, secs: u64) -> Value {
    export_with(&w.app, file_id, body, secs).await
}

/// [`export`] through one particular bridge process.
async fn export_on(app: &TestApp, file_id: i64) -> Value {
    export_with(app, file_id, None, 60).await
}

async fn export_with(app: &TestApp, file_id: i64, body: Option<Value>, secs: u64) -> Value {
    let (status, v) = app
        .api(
            Method::POST,
            &format!("/api/v1/files/{file_id}/export"),
            body,
        )
        .await;
    assert_eq!(status, 202, "{v}");
    let id = v["job"]["id"].as_i64().expect("job id");
    app.wait_job(id, secs, |j| {
        matches!(j["state"].as_str(), Some("succeeded") | Some("dead"))
    })
    .await
}

fn succeeded(job: &Value) -> &Value {
    assert_eq!(job["state"], "succeeded", "{job:#}");
    &job["result"]
}

/// Asserts Dropbox holds exactly DocSpace's bytes of (file, version) at `path`.
fn assert_same_content(w: &World, path: &str, file_id: i64, version: u32, size: u64) {
    let f = w
        .dropbox
        .file(path)
        .unwrap_or_else(|| panic!("{path} missing; tree: {:?}", w.dropbox.paths()));
    assert_eq!(f.size, size, "{path}");
    let want = w
        .docspace
        .dropbox_content_hash(file_id, version)
        .expect("file exists");
    assert_eq!(f.content_hash, want, "{path}");
}

fn room_folder(w: &World) -> i64 {
    let room = w.docspace.create_room("Finance");
    w.docspace.create_folder(room, "2026").expect("folder")
}

#[tokio::test]
async fn small_and_empty_files_land_under_the_mirrored_folder_path() {
    let w = spawn_world(|_| {}).await;
    let folder = room_folder(&w);
    let small = w
        .docspace
        .create_file(folder, "Budget.xlsx", 300 * 1024)
        .expect("file");
    let empty = w
        .docspace
        .create_file(folder, "empty.txt", 0)
        .expect("file");

    let job = export(&w, small, None, 30).await;
    let r = succeeded(&job);
    assert_eq!(
        r["dropbox_path"],
        "/DocSpace Export/Finance/2026/Budget.xlsx"
    );
    assert_eq!(r["size"], 300 * 1024);
    assert_same_content(
        &w,
        "/DocSpace Export/Finance/2026/Budget.xlsx",
        small,
        1,
        300 * 1024,
    );
    assert_eq!(
        r["rev"],
        w.dropbox
            .file("/DocSpace Export/Finance/2026/Budget.xlsx")
            .expect("file")
            .rev
    );

    let job = export(&w, empty, None, 30).await;
    assert_eq!(
        succeeded(&job)["dropbox_path"],
        "/DocSpace Export/Finance/2026/empty.txt"
    );
    assert_same_content(&w, "/DocSpace Export/Finance/2026/empty.txt", empty, 1, 0);
}

#[tokio::test]
async fn manual_export_into_an_explicit_folder() {
    let w = spawn_world(|_| {}).await;
    let folder = room_folder(&w);
    let id = w
        .docspace
        .create_file(folder, "a.docx", 1000)
        .expect("file");
    let job = export(&w, id, Some(json!({"folder": "/X"})), 30).await;
    assert_eq!(succeeded(&job)["dropbox_path"], "/X/a.docx");
    assert_same_content(&w, "/X/a.docx", id, 1, 1000);
}

#[tokio::test]
async fn a_copy_into_an_explicit_folder_leaves_the_files_own_export_where_it_is() {
    let w = spawn_world(|_| {}).await;
    let folder = room_folder(&w);
    let id = w
        .docspace
        .create_file(folder, "a.docx", 1000)
        .expect("file");
    let own = "/DocSpace Export/Finance/2026/a.docx";
    let job = export(&w, id, None, 30).await;
    assert_eq!(succeeded(&job)["dropbox_path"], own);

    // A copy for someone, twice: the second finds its bytes there and adds no `a (1).docx`.
    for _ in 0..2 {
        let job = export(&w, id, Some(json!({"folder": "/For Ann"})), 30).await;
        assert_eq!(succeeded(&job)["dropbox_path"], "/For Ann/a.docx");
        assert_eq!(succeeded(&job)["mode"], "copy");
    }
    assert_eq!(paths_with(&w, "a ("), Vec::<String>::new());

    // The next version goes to the file's own export, not over the copy.
    let v2 = w.docspace.new_version(id, 2000).expect("version");
    let job = export(&w, id, None, 30).await;
    assert_eq!(succeeded(&job)["dropbox_path"], own);
    assert_eq!(succeeded(&job)["mode"], "overwrite");
    assert_same_content(&w, own, id, v2, 2000);
    assert_same_content(&w, "/For Ann/a.docx", id, 1, 1000);
}

#[tokio::test]
async fn non_ascii_and_emoji_titles_arrive_intact() {
    let w = spawn_world(|_| {}).await;
    let room = w.docspace.create_room("Финансы");
    let titles = ["отчёт 📊.docx", "日本語のファイル.pdf", "👩‍👩‍👧 family ✨.txt"];
    for t in titles {
        let id = w.docspace.create_file(room, t, 2048).expect("file");
        let job = export(&w, id, None, 30).await;
        let path = format!("/DocSpace Export/Финансы/{t}");
        assert_eq!(succeeded(&job)["dropbox_path"], path.as_str());
        assert_same_content(&w, &path, id, 1, 2048);
    }
}

#[tokio::test]
async fn look_alike_titles_get_one_spelling_and_joiners_stay_only_in_emoji() {
    let w = spawn_world(|_| {}).await;
    let room = w.docspace.create_room("Finance");
    for (title, name) in [
        // A joiner outside an emoji would make a second "Budget.xlsx" that looks the same.
        ("Budget\u{200D}.xlsx", "Budget.xlsx"),
        // Decomposed accents arrive composed (NFC), as Dropbox compares names.
        ("Cafe\u{301}.txt", "Caf\u{E9}.txt"),
        ("👩\u{200D}💻 notes.txt", "👩\u{200D}💻 notes.txt"),
    ] {
        let id = w.docspace.create_file(room, title, 100).expect("file");
        let job = export(&w, id, None, 30).await;
        let path = format!("/DocSpace Export/Finance/{name}");
        assert_eq!(succeeded(&job)["dropbox_path"], path.as_str(), "{title:?}");
        assert_same_content(&w, &path, id, 1, 100);
    }
}

#[tokio::test]
async fn a_new_version_overwrites_the_same_file_with_a_new_rev() {
    let w = spawn_world(|_| {}).await;
    let folder = room_folder(&w);
    let id = w
        .docspace
        .create_file(folder, "Plan.docx", 10_000)
        .expect("file");
    let path = "/DocSpace Export/Finance/2026/Plan.docx";
    let first = export(&w, id, None, 30).await;
    let rev1 = succeeded(&first)["rev"].clone();
    assert_eq!(first["result"]["mode"], "add");

    let v2 = w.docspace.new_version(id, 12_345).expect("version");
    let second = export(&w, id, None, 30).await;
    let r = succeeded(&second);
    assert_eq!(r["dropbox_path"], path);
    assert_eq!(r["mode"], "overwrite");
    assert_ne!(r["rev"], rev1);
    assert_same_content(&w, path, id, v2, 12_345);
    let siblings: Vec<String> = w
        .dropbox
        .paths()
        .into_iter()
        .filter(|p| p.to_lowercase().contains("plan"))
        .collect();
    assert_eq!(siblings.len(), 1, "no `Plan (1).docx`: {siblings:?}");
}

#[tokio::test]
async fn re_exporting_an_unchanged_version_uploads_nothing() {
    let w = spawn_world(|_| {}).await;
    let folder = room_folder(&w);
    let id = w
        .docspace
        .create_file(folder, "same.pdf", 50_000)
        .expect("file");
    let first = export(&w, id, None, 30).await;
    let rev = succeeded(&first)["rev"].clone();
    w.dropbox.reset_counters();
    w.docspace.reset_stats();

    let again = export(&w, id, None, 30).await;
    let r = succeeded(&again);
    assert_eq!(r["rev"], rev);
    assert!(r["skipped"].is_string(), "{r}");
    for route in [
        "files/upload",
        "files/upload_session/start",
        "files/upload_session/append_v2",
        "files/upload_session/finish",
        "files/upload_session/finish_batch_v2",
    ] {
        assert_eq!(w.dropbox.calls(route), 0, "{route}");
    }
    assert_eq!(w.docspace.calls("file.presigneduri"), 0);
}

#[tokio::test]
async fn an_exported_file_deleted_in_dropbox_is_uploaded_again() {
    let w = spawn_world(|_| {}).await;
    let folder = room_folder(&w);
    let id = w
        .docspace
        .create_file(folder, "gone.txt", 999)
        .expect("file");
    succeeded(&export(&w, id, None, 30).await);
    let path = "/DocSpace Export/Finance/2026/gone.txt";
    assert!(w.dropbox.delete(path));
    let job = export(&w, id, None, 30).await;
    assert_eq!(succeeded(&job)["dropbox_path"], path);
    assert_same_content(&w, path, id, 1, 999);
}

#[tokio::test]
async fn first_export_onto_a_taken_name_autorenames_and_keeps_that_path() {
    let w = spawn_world(|_| {}).await;
    let folder = room_folder(&w);
    let taken = "/DocSpace Export/Finance/2026/Report.docx";
    w.dropbox
        .put_file(taken, b"someone else's file")
        .expect("put");
    let id = w
        .docspace
        .create_file(folder, "Report.docx", 4000)
        .expect("file");

    let job = export(&w, id, None, 30).await;
    let path = succeeded(&job)["dropbox_path"]
        .as_str()
        .expect("path")
        .to_string();
    assert_ne!(path, taken);
    assert!(
        path.starts_with("/DocSpace Export/Finance/2026/Report"),
        "{path}"
    );
    assert_eq!(w.dropbox.file(taken).expect("untouched").size, 19);

    let v2 = w.docspace.new_version(id, 5000).expect("version");
    let job = export(&w, id, None, 30).await;
    assert_eq!(succeeded(&job)["dropbox_path"], path.as_str());
    assert_same_content(&w, &path, id, v2, 5000);
    assert_eq!(w.dropbox.file(taken).expect("untouched").size, 19);
}

#[tokio::test]
async fn a_file_placed_by_hand_with_the_same_bytes_is_not_taken_over() {
    let w = spawn_world(|_| {}).await;
    let folder = room_folder(&w);
    let id = w
        .docspace
        .create_file(folder, "Report.docx", 4000)
        .expect("file");
    // Someone put a copy of the same bytes where the export goes: Dropbox calls a plain `add`
    // of identical bytes no conflict and answers with that person's file.
    let theirs = "/DocSpace Export/Finance/2026/Report.docx";
    let placed = w
        .dropbox
        .put_file(theirs, &w.docspace.content_bytes(id, 1, 0..4000))
        .expect("put");

    let job = export(&w, id, None, 30).await;
    let path = succeeded(&job)["dropbox_path"]
        .as_str()
        .expect("path")
        .to_string();
    assert_eq!(path, "/DocSpace Export/Finance/2026/Report (1).docx");
    assert_same_content(&w, &path, id, 1, 4000);

    let v2 = w.docspace.new_version(id, 5000).expect("version");
    let job = export(&w, id, None, 30).await;
    assert_eq!(succeeded(&job)["dropbox_path"], path.as_str());
    assert_same_content(&w, &path, id, v2, 5000);
    let after = w.dropbox.file(theirs).expect("theirs is still there");
    assert_eq!(
        (after.rev, after.size),
        (placed.rev, 4000),
        "theirs untouched"
    );
}

/// A copy of the same bytes placed by hand where a first export goes, as an upload from a
/// desktop or the web carries it (with its own file's modification time), and the export's commit
/// answers lost: `lost` answers (one: the repeated batch finds the session used; five: the job
/// tries again). The export finds its own file beside theirs, and never takes theirs over.
async fn a_copy_placed_by_hand_is_not_taken_for_a_lost_first_commit(lost: u32) {
    let w = spawn_world(|_| {}).await;
    let folder = room_folder(&w);
    let id = w
        .docspace
        .create_file(folder, "Report.docx", 4000)
        .expect("file");
    let theirs = "/DocSpace Export/Finance/2026/Report.docx";
    let placed = w
        .dropbox
        .put_file_modified(
            theirs,
            &w.docspace.content_bytes(id, 1, 0..4000),
            Some("2026-11-30T09:15:00Z"),
        )
        .expect("put");
    lose_commit_answers(&w, lost);
    let job = export(&w, id, None, 60).await;
    let ours = "/DocSpace Export/Finance/2026/Report (1).docx";
    assert_eq!(succeeded(&job)["dropbox_path"], ours, "{job:#}");
    assert_eq!(paths_with(&w, "Report").len(), 2, "{:?}", w.dropbox.paths());

    let v2 = w.docspace.new_version(id, 5000).expect("version");
    let job = export(&w, id, None, 30).await;
    assert_eq!(succeeded(&job)["dropbox_path"], ours);
    assert_same_content(&w, ours, id, v2, 5000);
    let after = w.dropbox.file(theirs).expect("theirs is still there");
    assert_eq!(
        (after.rev, after.size),
        (placed.rev, 4000),
        "theirs untouched"
    );
}

#[tokio::test]
async fn a_copy_placed_by_hand_is_not_taken_when_a_batch_answer_is_lost() {
    a_copy_placed_by_hand_is_not_taken_for_a_lost_first_commit(1).await;
}

#[tokio::test]
async fn a_copy_placed_by_hand_is_not_taken_when_every_answer_of_a_first_export_is_lost() {
    a_copy_placed_by_hand_is_not_taken_for_a_lost_first_commit(5).await;
}

/// Two rooms titled "Project", each with an empty `notes.txt`: two DocSpace files whose exports
/// aim at one path with the same bytes (rooms may share a title; empty files share their bytes).
fn two_rooms_with_empty_notes(w: &World) -> (i64, i64) {
    let notes = || {
        w.docspace
            .create_file(w.docspace.create_room("Project"), "notes.txt", 0)
            .expect("file")
    };
    (notes(), notes())
}

/// The next `n` export batch commits land in Dropbox, but their answers are lost on the way back.
fn lose_commit_answers(w: &World, n: u32) {
    w.dropbox.fail_next(
        "files/upload_session/finish_batch_v2",
        Fault::ResponseLost { status: 504 },
        n,
    );
}

#[tokio::test]
async fn two_files_with_the_same_bytes_keep_two_dropbox_files_when_a_commit_answer_is_lost() {
    let w = spawn_world(|_| {}).await;
    let (first, second) = two_rooms_with_empty_notes(&w);
    let path = "/DocSpace Export/Project/notes.txt";
    let job = export(&w, first, None, 30).await;
    assert_eq!(succeeded(&job)["dropbox_path"], path);

    // The second file's commit lands, but neither its answer nor any repeat's arrives: the next
    // attempt must find its own file, not the first file's identical bytes.
    lose_commit_answers(&w, 5);
    let job = export(&w, second, None, 60).await;
    let renamed = "/DocSpace Export/Project/notes (1).txt";
    assert_eq!(succeeded(&job)["dropbox_path"], renamed, "{job:#}");
    let mut both = paths_with(&w, "notes");
    both.sort();
    assert_eq!(both, vec![renamed.to_string(), path.to_string()]);

    // Each file's next version goes to its own Dropbox file.
    let v2 = w.docspace.new_version(second, 100).expect("version");
    let job = export(&w, second, None, 30).await;
    assert_eq!(succeeded(&job)["dropbox_path"], renamed);
    assert_same_content(&w, renamed, second, v2, 100);
    assert_same_content(&w, path, first, 1, 0);
}

/// The same, with both first commits in one batch whose answer is lost: when the batch is
/// repeated, each entry looks for its bytes at the path it asked for, and both find the one file
/// there before either is recorded. Only one of them may take it.
#[tokio::test]
async fn two_files_with_the_same_bytes_in_one_lost_batch_keep_two_dropbox_files() {
    let w = spawn_world(|_| {}).await;
    let (first, second) = two_rooms_with_empty_notes(&w);
    lose_commit_answers(&w, 1);
    // Both queued at once (straight into the store, no wake-up): one claim takes both, their
    // uploads run together, and their commits share one batch.
    let jobs = w
        .app
        .store
        .enqueue(
            [first, second]
                .map(|id| FileExport::manual(id.to_string(), None).to_new_job())
                .to_vec(),
        )
        .await
        .expect("enqueue");
    w.app.wait_idle(60).await;
    let a = w.app.wait_finished(jobs[0].id, 30).await;
    let b = w.app.wait_finished(jobs[1].id, 30).await;
    let (a, b) = (succeeded(&a), succeeded(&b));
    assert_ne!(a["dropbox_path"], b["dropbox_path"], "{a:#} {b:#}");
    assert_eq!(
        w.dropbox.calls("files/upload_session/finish_batch_v2"),
        2,
        "one batch for both, then its repeat"
    );
    let mut both = paths_with(&w, "notes");
    both.sort();
    assert_eq!(
        both,
        vec![
            "/DocSpace Export/Project/notes (1).txt".to_string(),
            "/DocSpace Export/Project/notes.txt".to_string()
        ]
    );
}

#[tokio::test]
async fn a_presigned_url_on_a_foreign_origin_gets_no_authorization_header() {
    let w = spawn_world(|_| {}).await;
    w.docspace.update_knobs(|k| k.foreign_origin = true);
    let folder = room_folder(&w);
    let id = w
        .docspace
        .create_file(folder, "cdn.bin", 3 * MIB)
        .expect("file");
    let job = export(&w, id, None, 30).await;
    succeeded(&job);
    assert!(w.docspace.calls("foreign.stream") >= 1);
    assert_eq!(w.docspace.foreign_auth_headers_seen(), 0);
    assert_same_content(&w, "/DocSpace Export/Finance/2026/cdn.bin", id, 1, 3 * MIB);
}

#[tokio::test]
async fn an_expired_presigned_url_is_replaced_by_a_fresh_one() {
    let w = spawn_world(|_| {}).await;
    // Storage URLs are checked on their own (no API key goes there): make the first one expired.
    w.docspace.update_knobs(|k| {
        k.foreign_origin = true;
        k.presigned_lifetime_secs = 0;
    });
    let folder = room_folder(&w);
    let id = w
        .docspace
        .create_file(folder, "late.bin", 100_000)
        .expect("file");
    let (status, v) = w
        .app
        .api(Method::POST, &format!("/api/v1/files/{id}/export"), None)
        .await;
    assert_eq!(status, 202, "{v}");
    // Once the storage has refused the first URL, new ones live normally again.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while w.docspace.calls("foreign.stream") == 0 {
        assert!(std::time::Instant::now() < deadline, "no download attempt");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    w.docspace.update_knobs(|k| k.presigned_lifetime_secs = 960);
    let job = w
        .app
        .wait_job(v["job"]["id"].as_i64().expect("id"), 30, |j| {
            j["state"] == "succeeded" || j["state"] == "dead"
        })
        .await;
    succeeded(&job);
    assert!(w.docspace.calls("file.presigneduri") >= 2);
    assert_eq!(w.docspace.foreign_auth_headers_seen(), 0);
    assert_same_content(&w, "/DocSpace Export/Finance/2026/late.bin", id, 1, 100_000);
}

#[tokio::test]
async fn a_download_cut_midway_is_restarted_and_no_partial_file_appears() {
    let w = spawn_world(|_| {}).await;
    let folder = room_folder(&w);
    let size = 20 * MIB + 123;
    let id = w
        .docspace
        .create_file(folder, "big.iso", size)
        .expect("file");
    w.docspace
        .update_knobs(|k| k.cut_after_bytes = Some(11 * MIB));
    let job = export(&w, id, None, 60).await;
    succeeded(&job);
    assert!(w.docspace.calls("stream") >= 2);
    assert_same_content(&w, "/DocSpace Export/Finance/2026/big.iso", id, 1, size);
    assert_eq!(
        w.dropbox
            .paths()
            .iter()
            .filter(|p| p.contains("big"))
            .count(),
        1
    );
}

#[tokio::test]
async fn a_download_that_always_breaks_never_leaves_a_partial_file() {
    let w = spawn_world(|c| c.queue.max_attempts = 2).await;
    let folder = room_folder(&w);
    let id = w
        .docspace
        .create_file(folder, "never.iso", 9 * MIB)
        .expect("file");
    w.docspace.update_knobs(|k| {
        k.cut_after_bytes = Some(5 * MIB);
        k.cut_always = true;
    });
    let job = export(&w, id, None, 60).await;
    assert_eq!(job["state"], "dead", "{job:#}");
    assert!(!w.dropbox.exists("/DocSpace Export/Finance/2026/never.iso"));
    assert_eq!(w.dropbox.calls("files/upload_session/finish_batch_v2"), 0);
}

#[tokio::test]
async fn injected_429_and_5xx_from_both_providers_are_retried() {
    let w = spawn_world(|_| {}).await;
    let folder = room_folder(&w);
    let id = w
        .docspace
        .create_file(folder, "flaky.docx", 6 * MIB)
        .expect("file");
    // The first 429 answers the API's existence check (the job is accepted as it is), the
    // second the job.
    w.docspace.fail_next(Some("file.get"), 429, 2);
    w.docspace.fail_next(Some("file.presigneduri"), 503, 2);
    w.docspace.fail_next(Some("stream"), 500, 1);
    w.dropbox.fail_next(
        "files/upload_session/start",
        Fault::ServerError { status: 503 },
        2,
    );
    w.dropbox.fail_next(
        "files/upload_session/finish_batch_v2",
        Fault::WriteContention { retry_after: 1 },
        1,
    );
    w.dropbox.fail_next(
        "files/upload_session/append_v2",
        Fault::RateLimit { retry_after: 1 },
        1,
    );
    let job = export(&w, id, None, 60).await;
    succeeded(&job);
    assert_same_content(
        &w,
        "/DocSpace Export/Finance/2026/flaky.docx",
        id,
        1,
        6 * MIB,
    );
}

#[tokio::test]
async fn export_parallel_picks_a_concurrent_or_a_sequential_session() {
    // 9 MiB in 4 MiB chunks. Concurrent (the default): an empty start and three appends.
    // Sequential (`export.parallel` 1): the start carries the first chunk.
    for (parallel, appends) in [(None, 3), (Some(1), 2)] {
        let w = spawn_world(|c| {
            if let Some(p) = parallel {
                c.export.parallel = p;
            }
        })
        .await;
        let folder = room_folder(&w);
        let id = w
            .docspace
            .create_file(folder, "scan.pdf", 9 * MIB)
            .expect("file");
        succeeded(&export(&w, id, None, 60).await);
        assert_same_content(&w, "/DocSpace Export/Finance/2026/scan.pdf", id, 1, 9 * MIB);
        assert_eq!(w.dropbox.calls("files/upload_session/start"), 1);
        assert_eq!(
            w.dropbox.calls("files/upload_session/append_v2"),
            appends,
            "export.parallel: {parallel:?}"
        );
    }
}

#[tokio::test]
async fn a_commit_whose_answer_was_lost_leaves_one_file_not_a_renamed_copy() {
    let w = spawn_world(|_| {}).await;
    let folder = room_folder(&w);
    let id = w
        .docspace
        .create_file(folder, "ledger.xlsx", 9 * MIB)
        .expect("file");
    // Dropbox commits the first export (mode add + autorename), but the answer never arrives.
    lose_commit_answers(&w, 1);
    let job = export(&w, id, None, 60).await;
    succeeded(&job);
    let path = "/DocSpace Export/Finance/2026/ledger.xlsx";
    assert_same_content(&w, path, id, 1, 9 * MIB);
    assert_eq!(
        w.dropbox
            .paths()
            .into_iter()
            .filter(|p| p.contains("ledger"))
            .collect::<Vec<_>>(),
        vec![path.to_string()],
        "no `ledger (1).xlsx`"
    );
    // The repeated batch finds the session committed and the bytes in place: no second upload.
    assert_eq!(w.dropbox.calls("files/upload_session/finish_batch_v2"), 2);
    assert_eq!(w.docspace.calls("stream"), 1);
    assert_eq!(job["attempts"], 1, "{job:#}");
    // The mapping points at that file: the next version overwrites it.
    let v2 = w.docspace.new_version(id, 2 * MIB).expect("version");
    let second = export(&w, id, None, 60).await;
    assert_eq!(succeeded(&second)["dropbox_path"], path);
    assert_same_content(&w, path, id, v2, 2 * MIB);
}

/// Paths in Dropbox whose name contains `needle`.
fn paths_with(w: &World, needle: &str) -> Vec<String> {
    w.dropbox
        .paths()
        .into_iter()
        .filter(|p| p.contains(needle))
        .collect()
}

/// Another bridge process on the database at `url`, pointed at the world's stand-ins.
async fn replica(w: &World, url: &str) -> TestApp {
    spawn_app(|c| {
        use_fakes(c, &w.docspace, &w.dropbox);
        c.database_url = url.to_string();
    })
    .await
}

/// Waits (without a time limit of its own) until `f` holds.
async fn until(mut f: impl FnMut() -> bool) {
    while !f() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn job_state(app: &TestApp, id: i64) -> String {
    let (_, v) = app
        .api(Method::GET, &format!("/api/v1/jobs/{id}"), None)
        .await;
    v["job"]["state"].as_str().unwrap_or_default().to_string()
}

async fn enqueue_export(app: &TestApp, file_id: i64) -> i64 {
    let (status, v) = app
        .api(
            Method::POST,
            &format!("/api/v1/files/{file_id}/export"),
            None,
        )
        .await;
    assert_eq!(status, 202, "{v}");
    v["job"]["id"].as_i64().expect("job id")
}

/// Two bridge processes on one database export the same new file at once: the second waits for
/// the first's guard and then finds the file exported, instead of adding `name (1).ext`.
async fn two_processes_export_one_file_at_once(database: Option<String>) {
    let w = spawn_world(|c| {
        c.queue.concurrency = 1;
        if let Some(url) = database {
            c.database_url = url;
        }
    })
    .await;
    let url = w.app.config.database_url.clone();
    let b = replica(&w, &url).await;
    let folder = room_folder(&w);
    let id = w
        .docspace
        .create_file(folder, "ledger.xlsx", 3 * MIB)
        .expect("file");
    // Every Dropbox call takes a while, so the two exports overlap.
    w.dropbox.set_latency(Duration::from_millis(150));

    let one = enqueue_export(&w.app, id).await;
    loop {
        if job_state(&w.app, one).await == "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The first process's only worker is busy: the other process runs this one.
    let two = enqueue_export(&b, id).await;
    assert_ne!(one, two, "a running job does not absorb a new request");
    w.app.wait_idle(60).await;
    b.wait_idle(60).await;
    w.dropbox.set_latency(Duration::ZERO);

    for job in [one, two] {
        assert_eq!(job_state(&w.app, job).await, "succeeded", "{url}");
    }
    let path = "/DocSpace Export/Finance/2026/ledger.xlsx";
    assert_eq!(paths_with(&w, "ledger"), vec![path.to_string()], "{url}");
    assert_same_content(&w, path, id, 1, 3 * MIB);
    assert_eq!(w.docspace.calls("stream"), 1, "uploaded once: {url}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_sqlite_file_export_a_file_once() {
    two_processes_export_one_file_at_once(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_postgresql_export_a_file_once() {
    let Some(url) = fresh_postgres_url().await else {
        eprintln!("TEST_DATABASE_URL unset: PostgreSQL export test skipped");
        return;
    };
    two_processes_export_one_file_at_once(Some(url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_whose_job_went_away_is_recognised_by_the_next_attempt() {
    // A stop that gives running jobs no time: the export is abandoned mid-commit.
    let mut w = spawn_world(|c| c.queue.shutdown_grace = Duration::ZERO).await;
    let folder = room_folder(&w);
    let id = w
        .docspace
        .create_file(folder, "ledger.xlsx", MIB)
        .expect("file");
    let path = "/DocSpace Export/Finance/2026/ledger.xlsx";
    w.dropbox.set_latency(Duration::from_millis(300));
    enqueue_export(&w.app, id).await;
    let batch = "files/upload_session/finish_batch_v2";
    until(|| w.dropbox.calls(batch) >= 1).await;
    let url = w.app.config.database_url.clone();
    w.app.stop().await;
    // Dropbox carries the commit out; nobody is left to hear the answer or record it.
    until(|| w.dropbox.file(path).is_some()).await;
    w.dropbox.set_latency(Duration::ZERO);
    let store = store::connect(&url).await.expect("store");
    assert_eq!(store.export(&id.to_string()).await.expect("read"), None);

    // The job comes back in another process: it finds its own file, uploads nothing again.
    let b = replica(&w, &url).await;
    b.wait_idle(60).await;
    let jobs = b.all_jobs().await;
    let job = jobs
        .iter()
        .find(|j| j["kind"] == "file.export")
        .expect("export job");
    assert_eq!(succeeded(job)["dropbox_path"], path);
    assert_eq!(
        paths_with(&w, "ledger"),
        vec![path.to_string()],
        "no `ledger (1).xlsx`"
    );
    assert_same_content(&w, path, id, 1, MIB);
    assert_eq!(w.dropbox.calls(batch), 1, "committed once");
    assert_eq!(w.docspace.calls("stream"), 1, "downloaded once");
    // The mapping is in place: the next version overwrites that file.
    let v2 = w.docspace.new_version(id, 2 * MIB).expect("version");
    let next = export_on(&b, id).await;
    assert_eq!(succeeded(&next)["dropbox_path"], path);
    assert_same_content(&w, path, id, v2, 2 * MIB);
}

#[tokio::test]
async fn a_first_commit_whose_answers_were_all_lost_is_recognised_not_copied() {
    let w = spawn_world(|_| {}).await;
    let folder = room_folder(&w);
    let id = w
        .docspace
        .create_file(folder, "ledger.xlsx", MIB)
        .expect("file");
    // Dropbox commits the first batch; that answer and the answers to every repeat of the
    // batch are lost, so the attempt ends with an error and records nothing.
    lose_commit_answers(&w, 5);
    let job = export(&w, id, None, 60).await;
    let path = "/DocSpace Export/Finance/2026/ledger.xlsx";
    assert_eq!(succeeded(&job)["dropbox_path"], path);
    assert!(job["attempts"].as_i64().unwrap_or(0) >= 2, "{job:#}");
    assert_eq!(
        paths_with(&w, "ledger"),
        vec![path.to_string()],
        "no `ledger (1).xlsx`"
    );
    assert_same_content(&w, path, id, 1, MIB);
    assert_eq!(w.docspace.calls("stream"), 1, "downloaded once");
}

#[tokio::test]
async fn fifty_concurrent_exports_commit_in_batches_without_a_dead_job() {
    let w = spawn_world(|c| c.queue.concurrency = 16).await;
    let folder = room_folder(&w);
    let ids: Vec<i64> = (0..50)
        .map(|i| {
            w.docspace
                .create_file(folder, &format!("doc-{i:02}.txt"), 10_000 + i)
                .expect("file")
        })
        .collect();
    // One lock-contention answer on top: the batch entry or the job must absorb it.
    w.dropbox.fail_next(
        "files/upload_session/finish_batch_v2",
        Fault::WriteContention { retry_after: 1 },
        1,
    );
    for id in &ids {
        let (status, _) = w
            .app
            .api(Method::POST, &format!("/api/v1/files/{id}/export"), None)
            .await;
        assert_eq!(status, 202);
    }
    let jobs = w.settle(90).await;
    let exports: Vec<&Value> = jobs.iter().filter(|j| j["kind"] == "file.export").collect();
    assert_eq!(exports.len(), 50);
    assert!(
        exports.iter().all(|j| j["state"] == "succeeded"),
        "{exports:#?}"
    );
    for (i, id) in ids.iter().enumerate() {
        let path = format!("/DocSpace Export/Finance/2026/doc-{i:02}.txt");
        assert_same_content(&w, &path, *id, 1, 10_000 + i as u64);
    }
    let batches = w.dropbox.calls("files/upload_session/finish_batch_v2");
    assert!(batches < 40, "commits were batched: {batches} batch calls");
    assert_eq!(w.dropbox.calls("files/upload_session/finish"), 0);
    assert_eq!(w.dropbox.calls("files/upload"), 0);
}

#[tokio::test]
async fn file_updated_webhook_exports_end_to_end() {
    let w = spawn_world(|_| {}).await;
    let folder = room_folder(&w);
    let id = w
        .docspace
        .create_file(folder, "Notes.md", 777)
        .expect("file");
    let v2 = w.docspace.new_version(id, 888).expect("version");
    let file = w.docspace.file(id).expect("file");
    let d = w
        .docspace_sender()
        .file_event("file.updated", &file)
        .await
        .expect("delivered");
    assert_eq!(d.status, 200, "{}", d.response_body);
    let jobs = w.settle(30).await;
    let job = jobs
        .iter()
        .find(|j| j["kind"] == "file.export")
        .expect("export job");
    assert_eq!(job["payload"]["trigger"], "file.updated");
    succeeded(job);
    assert_same_content(&w, "/DocSpace Export/Finance/2026/Notes.md", id, v2, 888);
}

#[tokio::test]
async fn export_folder_ids_limit_event_driven_exports() {
    // The filter names room ids, known only once the rooms exist: a second bridge is started on
    // the same stand-ins with the filter set (the first one stays idle).
    let w = spawn_world(|_| {}).await;
    let finance = w.docspace.create_room("Finance");
    let other = w.docspace.create_room("Other");
    let sub = w.docspace.create_folder(finance, "2026").expect("folder");
    let inside = w.docspace.create_file(sub, "in.txt", 10).expect("file");
    let outside = w.docspace.create_file(other, "out.txt", 10).expect("file");
    let mut app = spawn_app(|c| {
        use_fakes(c, &w.docspace, &w.dropbox);
        c.export.folder_ids = vec![finance.to_string()];
    })
    .await;
    for (id, trigger) in [(inside, "file.created"), (outside, "file.created")] {
        app.store
            .enqueue(vec![
                FileExport::event(id.to_string(), trigger, None).to_new_job()
            ])
            .await
            .expect("enqueue");
    }
    app.wait_idle(30).await;
    let jobs = app.all_jobs().await;
    let by_file = |id: i64| {
        let want = id.to_string();
        jobs.iter()
            .find(|j| j["payload"]["file_id"].as_str() == Some(want.as_str()))
            .expect("job")
    };
    assert_eq!(
        succeeded(by_file(inside))["dropbox_path"],
        "/DocSpace Export/Finance/2026/in.txt"
    );
    assert!(succeeded(by_file(outside))["skipped"].is_string());
    assert!(!w.dropbox.exists("/DocSpace Export/Other/out.txt"));
    app.stop().await;
}

#[tokio::test]
async fn a_file_that_no_longer_exists_succeeds_as_skipped() {
    // Its event arrives after the file was deleted (the API refuses an unknown file; a webhook
    // is taken as it comes and the job finds out).
    let w = spawn_world(|_| {}).await;
    let folder = room_folder(&w);
    let id = w.docspace.create_file(folder, "tmp.txt", 10).expect("file");
    w.docspace.delete_file(id).expect("delete");
    let (status, v) = w
        .app
        .deliver_docspace(&docspace_event(
            9101,
            "file.updated",
            serde_json::json!({ "id": id }),
        ))
        .await;
    assert_eq!(status, 200, "{v}");
    let job_id = v["job_ids"][0].as_i64().expect("job id");
    let job = w
        .app
        .wait_job(job_id, 30, |j| {
            matches!(j["state"].as_str(), Some("succeeded") | Some("dead"))
        })
        .await;
    assert_eq!(succeeded(&job)["skipped"], "file no longer exists");
}

#[tokio::test]
async fn files_of_exactly_150_mib_and_one_byte_more_are_exported_whole() {
    let w = spawn_world(|_| {}).await;
    let folder = room_folder(&w);
    let a = w
        .docspace
        .create_file(folder, "exact.bin", 150 * MIB)
        .expect("file");
    let b = w
        .docspace
        .create_file(folder, "over.bin", 150 * MIB + 1)
        .expect("file");
    for (id, name, size) in [(a, "exact.bin", 150 * MIB), (b, "over.bin", 150 * MIB + 1)] {
        let job = export(&w, id, None, 120).await;
        assert_eq!(succeeded(&job)["size"], size);
        assert_same_content(
            &w,
            &format!("/DocSpace Export/Finance/2026/{name}"),
            id,
            1,
            size,
        );
    }
    // Nothing over 150 MiB went into one request.
    assert_eq!(w.dropbox.calls("files/upload"), 0);
}

/// Runs the CLI `export` in a child process against the stand-ins; returns (stdout, peak RSS in
/// bytes, success).
async fn cli_export(ds: &FakeDocSpace, db: &FakeDropbox, file_id: i64) -> (String, u64, bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut env = base_env();
    for (k, v) in fakes_env(ds, db) {
        if v.is_empty() {
            env.remove(&k);
        } else {
            env.insert(k, v);
        }
    }
    let url = format!("sqlite://{}", dir.path().join("cli.db").display());
    create_database(&url).await;
    env.insert("BRIDGE_DATABASE_URL".into(), url);
    env.insert("LOG_FORMAT".into(), "json".into());
    let out_path = dir.path().join("stdout.txt");
    let out = std::fs::File::create(&out_path).expect("stdout file");
    // Reaped below with waitpid.
    #[allow(clippy::zombie_processes)]
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_docspace-dropbox-bridge"))
        .arg("export")
        .arg(file_id.to_string())
        .env_clear()
        .envs(&env)
        .stdout(out)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn CLI");
    let pid = child.id() as libc::pid_t;
    let (status, maxrss_kib) = tokio::task::spawn_blocking(move || peak_rss_until_exit(pid))
        .await
        .expect("wait");
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    (stdout, maxrss_kib * 1024, ok)
}

/// Waits for the child `pid` to exit; returns its wait status and the peak RSS in KiB of its own
/// memory, the `VmHWM` high-water mark in `/proc/<pid>/status`, read until it exits (the last
/// reading comes from the final milliseconds of a process that is only printing by then).
/// `wait4`'s `ru_maxrss` would not do: a child spawned with `posix_spawn` (a clone sharing the
/// parent's memory until exec) is charged the parent's high-water mark at exec, so the test
/// process's own peak, large while other tests run in it, would be counted as the bridge's.
fn peak_rss_until_exit(pid: libc::pid_t) -> (i32, u64) {
    let mut peak_kib = 0u64;
    loop {
        let status_file =
            std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let hwm = status_file
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
        if let Some(kib) = hwm {
            peak_kib = peak_kib.max(kib);
        }
        let mut status = 0;
        // SAFETY: plain FFI call with a valid pointer to a local; `pid` is our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(r == 0 || r == pid, "waitpid: {r}");
        if r == pid {
            return (status, peak_kib);
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

async fn cli_export_with_bounded_memory(size: u64) {
    let ds = FakeDocSpace::start(Default::default()).await.expect("ds");
    let db = FakeDropbox::start(Default::default()).await.expect("db");
    let room = ds.create_room("Media");
    let id = ds.create_file(room, "video.mp4", size).expect("file");
    let started = std::time::Instant::now();
    let (stdout, peak, ok) = cli_export(&ds, &db, id).await;
    let secs = started.elapsed().as_secs_f64();
    assert!(ok, "CLI failed: {stdout}");
    let path = "/DocSpace Export/Media/video.mp4";
    assert!(stdout.contains(&format!("path: {path}")), "{stdout}");
    let f = db.file(path).expect("exported");
    assert!(stdout.contains(&format!("rev:  {}", f.rev)), "{stdout}");
    assert!(stdout.contains(&format!("size: {size} bytes")), "{stdout}");
    assert_eq!(f.size, size);
    assert_eq!(Some(f.content_hash), ds.dropbox_content_hash(id, 1));
    eprintln!(
        "{} MiB exported by the CLI in {secs:.1}s, peak RSS {:.1} MiB",
        size / MIB,
        peak as f64 / MIB as f64
    );
    assert!(peak < 64 * MIB, "peak RSS {peak} bytes");
}

/// Memory stays flat whatever the file size. The CLI runs as a child process against the
/// stand-ins (which live in this process), so its peak RSS is the bridge's alone. About 10-15 s in
/// a debug build.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_export_of_1_gib_keeps_peak_memory_under_64_mib() {
    cli_export_with_bounded_memory(1024 * MIB).await;
}

/// A write the database refuses inside a batch of others fails alone: of files exported
/// together, the one whose export guard SQLite refuses (a trigger added from outside) is not
/// exported and says why, and every other lands, its guard let go.
#[tokio::test]
async fn an_export_whose_guard_the_database_refuses_fails_alone() {
    let w = spawn_world(|c| c.queue.concurrency = 16).await;
    let folder = room_folder(&w);
    // Named f1.bin … f16.bin.
    let ids = w
        .docspace
        .create_files(folder, "f", ".bin", 16, 10 * 1024)
        .expect("files");
    let refused = ids[7];
    let mut outside =
        <sqlx::SqliteConnection as sqlx::Connection>::connect(&w.app.config.database_url)
            .await
            .expect("second connection");
    sqlx::query(&format!(
        "CREATE TRIGGER refuse_guard BEFORE INSERT ON export_guards
         WHEN NEW.file_id = '{refused}' BEGIN SELECT RAISE(ABORT, 'guard refused'); END"
    ))
    .execute(&mut outside)
    .await
    .expect("trigger");

    // The jobs are claimed together once the write lock is free again, so their guards are
    // asked for at about the same time and committed in shared batches.
    let lock = WriteLock::take(&w.app).await;
    let enqueued = futures::future::join_all(ids.iter().map(|id| enqueue_export(&w.app, *id)));
    let release = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        lock.release().await;
    };
    let (jobs, ()) = tokio::join!(enqueued, release);
    let job_of: Vec<(i64, i64)> = ids.iter().copied().zip(jobs).collect();

    for (file, job) in &job_of {
        if *file == refused {
            continue;
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while job_state(&w.app, *job).await != "succeeded" {
            assert!(
                std::time::Instant::now() < deadline,
                "job {job} did not succeed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // At its first attempt: the refused write took no other write of its batch with it.
        let (_, v) = w
            .app
            .api(Method::GET, &format!("/api/v1/jobs/{job}"), None)
            .await;
        assert_eq!(v["job"]["attempts"], 1, "{v:#}");
    }
    let (_, bad) = job_of.iter().find(|(f, _)| *f == refused).expect("refused");
    let job = w
        .app
        .wait_until(*bad, 30, |j| {
            j["attempts"].as_i64().unwrap_or(0) >= 1 && !j["last_error"].is_null()
        })
        .await;
    assert_ne!(job["state"], "succeeded", "{job:#}");
    assert!(
        job["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("guard refused"),
        "{job:#}"
    );
    let landed = w.dropbox.paths();
    for (n, id) in (1..).zip(&ids) {
        let there = landed.iter().any(|p| p.ends_with(&format!("/f{n}.bin")));
        assert_eq!(there, *id != refused, "f{n}.bin: {landed:?}");
    }
    let guards: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM export_guards")
        .fetch_one(&mut outside)
        .await
        .expect("guards");
    assert_eq!(guards, 0, "every exported file's guard is gone");
}
