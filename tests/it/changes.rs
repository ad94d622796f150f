//! Dropbox change tracking (`dropbox.changes`) end to end: signed notifications through HTTP,
//! drift made by hand in the Dropbox stand-in, repairs asserted on the stand-ins' state.

use crate::common::*;
use docspace_dropbox_bridge::app::Application;
use docspace_dropbox_bridge::jobs::{DropboxChanges, JobKind};
use docspace_dropbox_bridge::store::{self, ExportRecord};
use serde_json::Value;

fn owner(world: &World) -> String {
    world.dropbox.options().owner_account_id.clone()
}

fn jobs_of<'a>(jobs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    jobs.iter().filter(|j| j["kind"] == kind).collect()
}

/// Sends a signed notification for the bridge's own account and waits for all work to finish.
async fn notify_and_settle(world: &World) -> Vec<Value> {
    let reply = world
        .dropbox_sender()
        .notify(&[&owner(world)])
        .await
        .expect("notification delivered");
    assert_eq!(reply.status, 200, "{}", reply.body);
    world.settle(30).await
}

/// The result of the newest `dropbox.changes` job.
fn last_changes_result(jobs: &[Value]) -> Value {
    let j = jobs_of(jobs, "dropbox.changes")
        .into_iter()
        .next_back()
        .expect("a dropbox.changes job")
        .clone();
    assert_eq!(j["state"], "succeeded", "{j:#}");
    j["result"].clone()
}

/// Stops the bridge and starts it again on the same database (a process restart).
async fn restart(world: &mut World) {
    world.app.stop().await;
    let store = store::connect(&world.app.config.database_url)
        .await
        .expect("store reopens");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let app = Application::start_with(world.app.config.clone(), store.clone(), listener)
        .await
        .expect("app restarts");
    world.app.url = format!("http://{}", app.addr);
    world.app.store = store;
    world.app.app = Some(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_with_a_bad_signature_is_401_and_queues_nothing() {
    let world = spawn_world(|_| {}).await;
    let body = bridge_fakes::webhooks::DropboxWebhookSender::body(&[&owner(&world)]);
    let sender = world.dropbox_sender();
    for sig in [
        Some("0".repeat(64)),
        Some(bridge_fakes::webhooks::dropbox_signature(
            "not-the-app-secret",
            &body,
        )),
        None,
    ] {
        let reply = sender
            .send_raw(body.clone(), sig.as_deref())
            .await
            .expect("request");
        assert_eq!(reply.status, 401, "{sig:?}: {}", reply.body);
    }
    assert!(world.app.all_jobs().await.is_empty());
    assert_eq!(world.dropbox.total_calls(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_for_two_accounts_runs_one_job_that_reads_the_bridges_own() {
    let world = spawn_world(|_| {}).await;
    let me = owner(&world);
    let other = "dbid:AAAsomeoneElse00000000000000000000000";
    let reply = world
        .dropbox_sender()
        .notify(&[other, &me])
        .await
        .expect("notification delivered");
    assert_eq!(reply.status, 200);
    let jobs = world.settle(30).await;
    let changes = jobs_of(&jobs, "dropbox.changes");
    assert_eq!(changes.len(), 1, "{jobs:#?}");
    let mine = changes[0];
    assert_eq!(mine["state"], "succeeded", "{mine:#}");
    assert_eq!(mine["payload"]["account_id"], other);
    assert_eq!(mine["result"]["account_id"], me.as_str());
    // Only the bridge's own account was listed: one cursor per watched root, roots created.
    let roots = mine["result"]["roots"].as_array().expect("roots");
    assert_eq!(roots.len(), 2, "{mine:#}");
    assert!(roots.iter().all(|r| r["cursor"] == "created"), "{mine:#}");
    assert!(world.dropbox.exists("/DocSpace Groups"));
    assert!(world.dropbox.exists("/DocSpace Export"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_periodic_poll_and_a_notification_never_page_the_cursor_at_once() {
    let world = spawn_world(|c| c.queue.concurrency = 4).await;
    world
        .dropbox
        .set_latency(std::time::Duration::from_millis(100));
    let poll = world
        .app
        .store
        .enqueue(vec![DropboxChanges::own_account().to_new_job()])
        .await
        .expect("enqueue")[0]
        .id;
    world
        .app
        .wait_until(poll, 20, |j| j["state"] == "running")
        .await;
    let reply = world
        .dropbox_sender()
        .notify(&[&owner(&world)])
        .await
        .expect("notification delivered");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let jobs = world.settle(30).await;
    let ids: Vec<i64> = jobs_of(&jobs, "dropbox.changes")
        .iter()
        .filter_map(|j| j["id"].as_i64())
        .collect();
    assert_eq!(ids.len(), 2, "{jobs:#?}");
    assert_eq!(world.app.assert_runs_apart(&ids).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_poll_reads_the_bridges_own_account() {
    let world = spawn_world(|_| {}).await;
    let jobs = world
        .app
        .store
        .enqueue(vec![DropboxChanges::own_account().to_new_job()])
        .await
        .expect("enqueue");
    let job = world
        .app
        .wait_job(jobs[0].id, 30, |j| j["state"] == "succeeded")
        .await;
    assert_eq!(job["result"]["account_id"], owner(&world));
    assert_eq!(job["result"]["roots"][0]["cursor"], "created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_exported_file_is_noticed_once_even_across_a_restart() {
    // The export mapping is arranged directly, so this checks change tracking alone.
    let mut world = spawn_world(|c| c.queue.max_attempts = 1).await;
    let path = "/DocSpace Export/Finance/Budget.xlsx";
    world.dropbox.put_file(path, b"budget").expect("put file");
    world
        .app
        .store
        .put_export(&ExportRecord {
            file_id: "987654".into(),
            docspace_version: 1,
            dropbox_path: path.into(),
            dropbox_id: None,
            rev: "015f0000000001".into(),
            content_hash: "x".into(),
            size: 6,
        })
        .await
        .expect("mapping");
    let jobs = notify_and_settle(&world).await;
    assert_eq!(last_changes_result(&jobs)["roots"][1]["cursor"], "created");

    world.dropbox.delete(path);
    let jobs = notify_and_settle(&world).await;
    let result = last_changes_result(&jobs);
    assert_eq!(result["file_exports"], 1, "{result:#}");
    let exports = jobs_of(&jobs, "file.export");
    assert_eq!(exports.len(), 1, "{jobs:#?}");
    assert_eq!(exports[0]["payload"]["file_id"], "987654");
    assert_eq!(exports[0]["payload"]["trigger"], "dropbox.deleted");

    restart(&mut world).await;
    let jobs = notify_and_settle(&world).await;
    let result = last_changes_result(&jobs);
    assert_eq!(result["file_exports"], 0, "{result:#}");
    assert_eq!(result["roots"][1]["cursor"], "continued", "{result:#}");
    assert_eq!(jobs_of(&jobs, "file.export").len(), 1, "no second reaction");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_reset_starts_over_and_reconciles_every_group() {
    let world = spawn_world(|c| c.queue.max_attempts = 1).await;
    notify_and_settle(&world).await;
    world.dropbox.reset_cursors();
    let jobs = notify_and_settle(&world).await;
    let result = last_changes_result(&jobs);
    assert_eq!(result["roots"][0]["cursor"], "reset", "{result:#}");
    assert_eq!(jobs_of(&jobs, "groups.sync_all").len(), 1, "{jobs:#?}");
    // The fresh cursor works: the next notification continues it.
    let jobs = notify_and_settle(&world).await;
    assert_eq!(
        last_changes_result(&jobs)["roots"][0]["cursor"],
        "continued"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cursor_reset_re_exports_files_deleted_or_replaced_in_between() {
    let world = spawn_world(|c| c.queue.max_attempts = 1).await;
    // Three exported files, mapped with the hash Dropbox holds for them.
    let files = [
        ("111", "Intact.txt"),
        ("222", "Deleted.txt"),
        ("333", "Edited.txt"),
    ];
    for (id, name) in files {
        let path = format!("/DocSpace Export/Finance/{name}");
        world.dropbox.put_file(&path, name.as_bytes()).expect("put");
        let hash = world.dropbox.file(&path).expect("file").content_hash;
        world
            .app
            .store
            .put_export(&ExportRecord {
                file_id: id.into(),
                docspace_version: 1,
                dropbox_path: path,
                dropbox_id: None,
                rev: "015f0000000001".into(),
                content_hash: hash,
                size: name.len() as i64,
            })
            .await
            .expect("mapping");
    }
    notify_and_settle(&world).await;
    // While the cursor is lost, one file is deleted and one replaced by hand.
    world.dropbox.reset_cursors();
    world.dropbox.delete("/DocSpace Export/Finance/Deleted.txt");
    world
        .dropbox
        .put_file("/DocSpace Export/Finance/Edited.txt", b"other bytes")
        .expect("put");
    let jobs = notify_and_settle(&world).await;
    let result = last_changes_result(&jobs);
    assert_eq!(result["roots"][1]["cursor"], "reset", "{result:#}");
    let mut exported: Vec<&str> = jobs_of(&jobs, "file.export")
        .iter()
        .map(|j| {
            assert_eq!(j["payload"]["trigger"], "dropbox.deleted");
            j["payload"]["file_id"].as_str().expect("id")
        })
        .collect();
    exported.sort();
    assert_eq!(exported, ["222", "333"], "{jobs:#?}");
}

/// Users known to both stand-ins; returns their DocSpace ids.
fn people(world: &World, names: &[(&str, &str, &str)]) -> Vec<uuid::Uuid> {
    names
        .iter()
        .map(|(first, last, email)| {
            world.dropbox.add_user_auto(email);
            world.docspace.add_active_user(first, last, email)
        })
        .collect()
}

async fn sync_group(world: &World, group: uuid::Uuid) -> String {
    world.sync_group(&group.to_string()).await;
    let jobs = world.settle(30).await;
    assert!(jobs.iter().all(|j| j["state"] == "succeeded"), "{jobs:#?}");
    world
        .app
        .store
        .group_folder(&group.to_string())
        .await
        .expect("store")
        .expect("group folder mapped")
        .path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_group_folder_is_restored_with_its_members() {
    let world = spawn_world(|_| {}).await;
    notify_and_settle(&world).await; // cursors start here
    let ids = people(
        &world,
        &[
            ("Alice", "Archer", "alice@example.com"),
            ("Bob", "Baker", "bob@example.com"),
        ],
    );
    let group = world
        .docspace
        .create_group("Marketing", &ids)
        .expect("group");
    let path = sync_group(&world, group).await;
    assert!(world.dropbox.shared_folder_by_path(&path).is_some());

    // The bridge's own work is not drift: no repair follows it.
    let jobs = notify_and_settle(&world).await;
    assert_eq!(last_changes_result(&jobs)["group_syncs"], 0);

    let before = world
        .dropbox
        .shared_folder_by_path(&path)
        .expect("shared")
        .shared_folder_id;
    world.dropbox.delete(&path);
    assert!(!world.dropbox.exists(&path));
    let invites = world.dropbox.calls("sharing/add_folder_member");
    let jobs = notify_and_settle(&world).await;
    assert_eq!(last_changes_result(&jobs)["group_syncs"], 1);
    assert!(jobs.iter().all(|j| j["state"] == "succeeded"), "{jobs:#?}");
    let sf = world
        .dropbox
        .shared_folder_by_path(&path)
        .expect("folder restored and shared");
    let emails = sf.emails();
    for e in ["alice@example.com", "bob@example.com"] {
        assert!(emails.contains(&e.to_string()), "{emails:?}");
    }
    // The same shared folder, mounted back: nobody was invited again.
    assert_eq!(sf.shared_folder_id, before);
    assert_eq!(world.dropbox.calls("sharing/add_folder_member"), invites);
    // Mounting and moving it back is the bridge's own work, not drift.
    let jobs = notify_and_settle(&world).await;
    assert_eq!(last_changes_result(&jobs)["group_syncs"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unshared_group_folder_is_shared_again() {
    let world = spawn_world(|_| {}).await;
    notify_and_settle(&world).await;
    let ids = people(&world, &[("Carol", "Cooper", "carol@example.com")]);
    let group = world.docspace.create_group("Finance", &ids).expect("group");
    let path = sync_group(&world, group).await;

    assert!(world.dropbox.unshare_path(&path));
    let jobs = notify_and_settle(&world).await;
    assert_eq!(last_changes_result(&jobs)["group_syncs"], 1);
    let sf = world
        .dropbox
        .shared_folder_by_path(&path)
        .expect("shared again");
    assert!(sf.access_of("carol@example.com").is_some(), "{sf:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_folder_moved_away_is_restored() {
    let world = spawn_world(|_| {}).await;
    notify_and_settle(&world).await;
    let ids = people(&world, &[("Dan", "Drake", "dan@example.com")]);
    let group = world.docspace.create_group("Sales", &ids).expect("group");
    let path = sync_group(&world, group).await;

    world
        .dropbox
        .move_path(&path, "/Elsewhere")
        .expect("moved away");
    let jobs = notify_and_settle(&world).await;
    assert_eq!(last_changes_result(&jobs)["group_syncs"], 1);
    let folder = world
        .app
        .store
        .group_folder(&group.to_string())
        .await
        .expect("store")
        .expect("mapped");
    let sf = world
        .dropbox
        .shared_folder_by_path(&folder.path)
        .expect("a shared folder under the groups root again");
    assert!(sf.access_of("dan@example.com").is_some(), "{sf:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_exported_file_is_exported_again() {
    let world = spawn_world(|_| {}).await;
    notify_and_settle(&world).await;
    let room = world.docspace.create_room("Finance");
    let file = world
        .docspace
        .create_file(room, "Budget.xlsx", 12 * 1024)
        .expect("file");
    let (status, v) = world
        .app
        .api(
            reqwest::Method::POST,
            &format!("/api/v1/files/{file}/export"),
            None,
        )
        .await;
    assert_eq!(status, 202, "{v}");
    let jobs = world.settle(30).await;
    assert!(jobs.iter().all(|j| j["state"] == "succeeded"), "{jobs:#?}");
    let rec = world
        .app
        .store
        .export(&file.to_string())
        .await
        .expect("store")
        .expect("exported");
    let first = world.dropbox.file(&rec.dropbox_path).expect("in Dropbox");

    world.dropbox.delete(&rec.dropbox_path);
    let jobs = notify_and_settle(&world).await;
    assert_eq!(last_changes_result(&jobs)["file_exports"], 1);
    assert!(jobs.iter().all(|j| j["state"] == "succeeded"), "{jobs:#?}");
    let again = world
        .dropbox
        .file(&rec.dropbox_path)
        .expect("re-exported to the same path");
    assert_eq!(again.content_hash, first.content_hash);
    assert_eq!(
        Some(again.content_hash),
        world.docspace.dropbox_content_hash(file, 1)
    );
}
