//! Group folders end to end (`group.sync`, `group.delete`, `groups.sync_all`):
//! arranged through the stand-ins, driven through webhooks, the API and the `sync-groups`
//! command, asserted on the Dropbox stand-in's state and on job records.

use std::time::Duration;

use crate::common::*;
use bridge_fakes::docspace::{NewUser, UserStatus};
use bridge_fakes::dropbox::{AccessLevel, Fault, MemberError, MountError, SharedFolderInfo};
use docspace_dropbox_bridge::config::{MemberAccess, OnGroupDeleted};
use docspace_dropbox_bridge::store;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

const ROOT: &str = "/DocSpace Groups";
const OWNER: &str = "owner@example.com";

/// Member emails of a shared folder (users and invitees), owner left out.
fn people(sf: &SharedFolderInfo) -> Vec<String> {
    sf.emails().into_iter().filter(|e| e != OWNER).collect()
}

fn folder(w: &World, name: &str) -> SharedFolderInfo {
    let path = format!("{ROOT}/{name}");
    w.dropbox
        .shared_folder_by_path(&path)
        .unwrap_or_else(|| panic!("no shared folder at {path}; have {:?}", w.dropbox.paths()))
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn assert_none_dead(jobs: &[Value]) {
    let dead: Vec<&Value> = jobs.iter().filter(|j| j["state"] == "dead").collect();
    assert!(dead.is_empty(), "dead jobs: {dead:#?}");
}

/// `POST /api/v1/groups/sync` and wait until every job has finished.
async fn sync_all(w: &World) -> Vec<Value> {
    let (status, body) = w.app.api(Method::POST, "/api/v1/groups/sync", None).await;
    assert_eq!(status, 202, "{body}");
    let jobs = w.settle(40).await;
    assert_none_dead(&jobs);
    jobs
}

/// `POST /api/v1/groups/{id}/sync`; the finished job.
async fn sync_one(w: &World, id: Uuid) -> Value {
    let job_id = w.sync_group(&id.to_string()).await;
    let job = w
        .app
        .wait_job(job_id, 20, |j| {
            matches!(j["state"].as_str(), Some("succeeded") | Some("dead"))
        })
        .await;
    assert_eq!(job["state"], "succeeded", "{job:#}");
    job
}

/// Sends a signed `group.*` webhook for the group as DocSpace has it now (or had it).
async fn group_webhook(w: &World, trigger: &str, group: &bridge_fakes::docspace::Group) {
    let d = w
        .docspace_sender()
        .group_event(trigger, group)
        .await
        .expect("webhook delivered");
    assert_eq!(d.status, 200, "{}", d.response_body);
}

/// `POST /api/v1/groups/{id}/sync`; the job once it finished, whatever its end.
async fn sync_job(w: &World, id: Uuid) -> Value {
    let job_id = w.sync_group(&id.to_string()).await;
    w.app
        .wait_job(job_id, 30, |j| {
            matches!(j["state"].as_str(), Some("succeeded") | Some("dead"))
        })
        .await
}

fn last_job_of<'a>(jobs: &'a [Value], kind: &str, group: Uuid) -> &'a Value {
    jobs.iter()
        .rev()
        .find(|j| j["kind"] == kind && j["payload"]["group_id"] == group.to_string())
        .unwrap_or_else(|| panic!("no {kind} job for {group}"))
}

struct Team {
    group: Uuid,
    ann: Uuid,
    bob: Uuid,
}

/// "Marketing" with Ann and Bob (active), Pia (pending) and Ted (disabled).
fn marketing(w: &World) -> Team {
    let ds = &w.docspace;
    let ann = ds.add_active_user("Ann", "Lee", "Ann.Lee@Example.com");
    let bob = ds.add_active_user("Bob", "Ray", "bob@example.com");
    let pia = ds.add_user(NewUser::new("Pia", "Nu", "pia@example.com").pending());
    let ted = ds.add_user(NewUser::new("Ted", "Old", "ted@example.com").terminated());
    let group = ds
        .create_group("Marketing", &[ann, bob, pia, ted])
        .expect("group");
    Team { group, ann, bob }
}

#[tokio::test]
async fn from_scratch_every_group_gets_a_shared_folder_with_its_active_members() {
    let w = spawn_world(|_| {}).await;
    let t = marketing(&w);
    let carl = w
        .docspace
        .add_active_user("Carl", "Fox", "carl@example.com");
    w.docspace
        .create_group("Finance / Ops", &[carl, t.ann])
        .expect("group");
    // More groups than one DocSpace page (100) so the listing is paged.
    for i in 0..101 {
        w.docspace
            .create_group(&format!("Team {i:03}"), &[])
            .expect("group");
    }
    w.dropbox.set_share_folder_async(true);

    let jobs = sync_all(&w).await;

    assert_eq!(w.dropbox.shared_folders().len(), 103);
    assert!(
        w.docspace.calls("group.list") >= 2,
        "group listing was paged"
    );
    let m = folder(&w, "Marketing");
    assert_eq!(
        people(&m),
        strs(&["ann.lee@example.com", "bob@example.com"]),
        "only active members are invited; pending and disabled ones are not"
    );
    assert_eq!(m.access_of("bob@example.com"), Some(AccessLevel::Editor));
    assert_eq!(m.access_of(OWNER), Some(AccessLevel::Owner));
    assert!(
        m.invitees.iter().all(|i| i.notified),
        "invitations are sent"
    );
    let f = folder(&w, "Finance _ Ops");
    assert_eq!(
        people(&f),
        strs(&["ann.lee@example.com", "carl@example.com"])
    );
    assert!(w.dropbox.exists(&format!("{ROOT}/Team 100")));
    let job = last_job_of(&jobs, "group.sync", t.group);
    assert_eq!(job["result"]["folder"], format!("{ROOT}/Marketing"));
    assert_eq!(job["result"]["created"], true);
    assert_eq!(
        job["result"]["added"],
        json!(["ann.lee@example.com", "bob@example.com"])
    );
    // One add_folder_member per group with members, none for empty groups.
    assert_eq!(w.dropbox.calls("sharing/add_folder_member"), 2);
}

#[tokio::test]
async fn second_run_makes_zero_write_calls() {
    let w = spawn_world(|_| {}).await;
    let t = marketing(&w);
    w.docspace.create_group("Sales", &[t.ann]).expect("group");
    sync_all(&w).await;
    let before = folder(&w, "Marketing");
    w.dropbox.reset_counters();

    let jobs = sync_all(&w).await;

    assert_eq!(
        w.dropbox.total_write_calls(),
        0,
        "{:?}",
        w.dropbox.call_counts()
    );
    assert_eq!(folder(&w, "Marketing"), before);
    let job = last_job_of(&jobs, "group.sync", t.group);
    assert_eq!(job["result"]["created"], false);
    assert_eq!(job["result"]["added"], json!([]));
    assert_eq!(job["result"]["removed"], json!([]));
}

#[tokio::test]
async fn member_added_in_docspace_is_invited_and_duplicate_events_change_nothing() {
    let w = spawn_world(|c| {
        c.groups.invite_quiet = true;
        c.groups.member_access = MemberAccess::Viewer;
    })
    .await;
    let t = marketing(&w);
    sync_one(&w, t.group).await;
    let dan = w.docspace.add_active_user("Dan", "Moe", "DAN@example.com");
    w.docspace.add_group_member(t.group, dan).expect("member");
    let g = w.docspace.group(t.group).expect("group");

    group_webhook(&w, "group.updated", &g).await;
    w.settle(20).await;
    w.dropbox.reset_counters();
    group_webhook(&w, "group.updated", &g).await;
    let jobs = w.settle(20).await;

    let m = folder(&w, "Marketing");
    assert!(people(&m).contains(&"dan@example.com".to_string()));
    assert_eq!(m.access_of("dan@example.com"), Some(AccessLevel::Viewer));
    assert!(
        m.invitees.iter().all(|i| !i.notified),
        "GROUP_INVITE_QUIET suppresses invitations"
    );
    assert_eq!(
        w.dropbox.total_write_calls(),
        0,
        "the repeat changed nothing"
    );
    assert_none_dead(&jobs);
}

#[tokio::test]
async fn member_who_left_loses_access_and_disabled_member_too() {
    let w = spawn_world(|_| {}).await;
    let t = marketing(&w);
    sync_one(&w, t.group).await;
    w.docspace
        .remove_group_member(t.group, t.bob)
        .expect("remove");
    let g = w.docspace.group(t.group).expect("group");
    group_webhook(&w, "group.updated", &g).await;
    let jobs = w.settle(20).await;
    assert_none_dead(&jobs);
    assert_eq!(
        people(&folder(&w, "Marketing")),
        strs(&["ann.lee@example.com"])
    );
    let job = last_job_of(&jobs, "group.sync", t.group);
    assert_eq!(job["result"]["removed"], json!(["bob@example.com"]));

    // Disabling a user fires no group webhook: the periodic reconcile catches it.
    w.docspace
        .set_user_status(t.ann, UserStatus::Terminated)
        .expect("status");
    sync_all(&w).await;
    assert!(people(&folder(&w, "Marketing")).is_empty());
    assert!(w.dropbox.calls("sharing/check_remove_member_job_status") >= 2);
}

#[tokio::test]
async fn member_added_by_hand_in_dropbox_survives_sync_and_revoke() {
    let w = spawn_world(|_| {}).await;
    let t = marketing(&w);
    sync_one(&w, t.group).await;
    let sf = folder(&w, "Marketing").shared_folder_id;
    w.dropbox.add_user_auto("guest@partner.com");
    w.dropbox
        .add_member_by_hand(&sf, "guest@partner.com", AccessLevel::Viewer)
        .expect("by hand");
    sync_one(&w, t.group).await;
    assert!(people(&folder(&w, "Marketing")).contains(&"guest@partner.com".to_string()));

    let g = w.docspace.delete_group(t.group).expect("delete");
    group_webhook(&w, "group.deleted", &g).await;
    let jobs = w.settle(20).await;
    assert_none_dead(&jobs);
    let m = folder(&w, "Marketing");
    assert_eq!(people(&m), strs(&["guest@partner.com"]));
    assert_eq!(m.access_of(OWNER), Some(AccessLevel::Owner));
}

#[tokio::test]
async fn renamed_group_folder_is_moved_not_duplicated() {
    let w = spawn_world(|_| {}).await;
    let t = marketing(&w);
    sync_one(&w, t.group).await;
    let before = folder(&w, "Marketing");
    w.dropbox
        .put_file(&format!("{ROOT}/Marketing/plan.docx"), b"plan")
        .expect("file");

    w.docspace
        .rename_group(t.group, "Brand & Growth")
        .expect("rename");
    let g = w.docspace.group(t.group).expect("group");
    group_webhook(&w, "group.updated", &g).await;
    let jobs = w.settle(20).await;
    assert_none_dead(&jobs);

    let after = folder(&w, "Brand & Growth");
    assert_eq!(after.shared_folder_id, before.shared_folder_id);
    assert_eq!(people(&after), people(&before));
    assert!(!w.dropbox.exists(&format!("{ROOT}/Marketing")));
    assert!(w
        .dropbox
        .exists(&format!("{ROOT}/Brand & Growth/plan.docx")));
    assert_eq!(w.dropbox.shared_folders().len(), 1);
    let job = last_job_of(&jobs, "group.sync", t.group);
    assert_eq!(job["result"]["moved_from"], format!("{ROOT}/Marketing"));

    // A case-only rename is a rename too.
    w.docspace
        .rename_group(t.group, "brand & growth")
        .expect("rename");
    sync_one(&w, t.group).await;
    assert_eq!(
        folder(&w, "brand & growth").path_display,
        format!("{ROOT}/brand & growth")
    );
}

#[tokio::test]
async fn deleted_group_with_revoke_removes_bridge_members_and_keeps_folder() {
    let w = spawn_world(|_| {}).await;
    let t = marketing(&w);
    sync_one(&w, t.group).await;
    w.dropbox
        .put_file(&format!("{ROOT}/Marketing/notes.txt"), b"keep me")
        .expect("file");
    let g = w.docspace.delete_group(t.group).expect("delete");

    // Out of order and twice: a late `group.updated` after the deletion converges too.
    group_webhook(&w, "group.deleted", &g).await;
    group_webhook(&w, "group.updated", &g).await;
    group_webhook(&w, "group.deleted", &g).await;
    let jobs = w.settle(20).await;
    assert_none_dead(&jobs);

    let m = folder(&w, "Marketing");
    assert!(people(&m).is_empty(), "{:?}", people(&m));
    assert!(w.dropbox.exists(&format!("{ROOT}/Marketing/notes.txt")));
    let job = last_job_of(&jobs, "group.delete", t.group);
    assert_eq!(job["result"]["deleted"], true);
    assert_eq!(job["result"]["policy"], "revoke");
    let mapping = w
        .app
        .store
        .group_folder(&t.group.to_string())
        .await
        .expect("store")
        .expect("mapping kept");
    assert!(!mapping.active);
}

#[tokio::test]
async fn a_sync_and_a_delete_of_one_group_never_run_at_once() {
    let w = spawn_world(|c| c.queue.concurrency = 4).await;
    let t = marketing(&w);
    sync_one(&w, t.group).await;
    // Every Dropbox call takes a while, so a run lasts long enough for the next job to start.
    w.dropbox.set_latency(std::time::Duration::from_millis(100));
    let g = w.docspace.delete_group(t.group).expect("delete");
    group_webhook(&w, "group.deleted", &g).await;
    let jobs = w.app.all_jobs().await;
    let delete = jobs
        .iter()
        .find(|j| j["kind"] == "group.delete")
        .and_then(|j| j["id"].as_i64())
        .expect("group.delete job");
    w.app
        .wait_until(delete, 20, |j| j["state"] == "running")
        .await;
    // An operator syncs the group while its deletion is applied.
    let sync = w.sync_group(&t.group.to_string()).await;
    assert_ne!(sync, delete, "a running job takes no more requests");
    let jobs = w.settle(30).await;
    assert_none_dead(&jobs);
    assert_eq!(w.app.assert_runs_apart(&[delete, sync]).await, 2);
    assert!(people(&folder(&w, "Marketing")).is_empty());
}

#[tokio::test]
async fn a_deletion_that_cannot_read_an_unmounted_folders_members_forgets_none_of_them() {
    let w = spawn_world(|_| {}).await;
    let t = marketing(&w);
    sync_one(&w, t.group).await;
    let sf = folder(&w, "Marketing").shared_folder_id;
    // The folder is deleted by hand (unmounted), and Dropbox answers `unmounted` to every
    // sharing call about it, its member list included.
    assert!(w.dropbox.delete(&format!("{ROOT}/Marketing")));
    w.dropbox
        .set_access_error(&sf, Some(bridge_fakes::dropbox::AccessError::Unmounted));
    let g = w.docspace.delete_group(t.group).expect("delete");
    group_webhook(&w, "group.deleted", &g).await;
    let jobs = w.app.all_jobs().await;
    let delete = jobs
        .iter()
        .find(|j| j["kind"] == "group.delete")
        .and_then(|j| j["id"].as_i64())
        .expect("group.delete job");
    let failed = w
        .app
        .wait_until(delete, 20, |j| {
            j["state"] != "queued" && j["state"] != "running"
        })
        .await;
    assert_eq!(failed["state"], "failed", "{failed:#}");
    assert!(
        failed["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("unmounted")),
        "{failed:#}"
    );
    let added = w
        .app
        .store
        .added_members(&t.group.to_string())
        .await
        .expect("store");
    assert_eq!(
        added.len(),
        2,
        "the members it added are still known: {added:?}"
    );

    // Once Dropbox lets the folder be read again, a run revokes them.
    w.dropbox.set_access_error(&sf, None);
    w.dropbox.mount_by_hand(&sf).expect("mount");
    sync_one(&w, t.group).await;
    let m = w.dropbox.shared_folder(&sf).expect("folder");
    assert!(people(&m).is_empty(), "{:?}", people(&m));
}

#[tokio::test]
async fn deleted_group_with_keep_policy_changes_nothing_in_dropbox() {
    let w = spawn_world(|c| c.groups.on_deleted = OnGroupDeleted::Keep).await;
    let t = marketing(&w);
    sync_one(&w, t.group).await;
    let before = folder(&w, "Marketing");
    let g = w.docspace.delete_group(t.group).expect("delete");
    w.dropbox.reset_counters();

    group_webhook(&w, "group.deleted", &g).await;
    let jobs = w.settle(20).await;
    assert_none_dead(&jobs);

    assert_eq!(folder(&w, "Marketing"), before);
    assert_eq!(w.dropbox.total_write_calls(), 0);
    let job = last_job_of(&jobs, "group.delete", t.group);
    assert_eq!(job["result"]["policy"], "keep");
    // The periodic reconcile does not resurrect or revoke it either.
    sync_all(&w).await;
    assert_eq!(folder(&w, "Marketing"), before);
}

#[tokio::test]
async fn missed_deletion_is_caught_by_the_periodic_reconcile() {
    let w = spawn_world(|_| {}).await;
    let t = marketing(&w);
    sync_all(&w).await;
    w.docspace.delete_group(t.group).expect("delete"); // no webhook
    sync_all(&w).await;
    assert!(people(&folder(&w, "Marketing")).is_empty());
}

#[tokio::test]
async fn hostile_group_names_stay_inside_groups_root() {
    let w = spawn_world(|_| {}).await;
    let ann = w.docspace.add_active_user("Ann", "Lee", "ann@example.com");
    let long = "x".repeat(300);
    let names = [
        "../x",
        "a/b",
        "a_b",
        "con",
        "name.",
        long.as_str(),
        "🚀 Launch",
        "🎉",
        "..",
        "a\\b",
        "  ",
        "tab\there",
        "Sales",
        "sales",
        "/../../etc",
    ];
    for n in names {
        w.docspace.create_group(n, &[ann]).expect("group");
    }

    let jobs = sync_all(&w).await;

    let folders = w.dropbox.shared_folders();
    assert_eq!(folders.len(), names.len(), "one distinct folder per group");
    let mut lowers: Vec<String> = folders.iter().map(|f| f.path_lower.clone()).collect();
    lowers.sort();
    lowers.dedup();
    assert_eq!(
        lowers.len(),
        names.len(),
        "colliding safe names got distinct folders"
    );
    for f in &folders {
        let rest = f
            .path_display
            .strip_prefix(&format!("{ROOT}/"))
            .unwrap_or_else(|| panic!("{} escaped {ROOT}", f.path_display));
        assert!(!rest.contains('/') && !rest.contains('\\'), "{rest}");
        assert!(!rest.ends_with(['.', ' ']), "{rest:?}");
        assert!(rest.chars().count() <= 100, "{rest}");
        assert_eq!(people(f), strs(&["ann@example.com"]));
    }
    assert!(w.dropbox.exists(&format!("{ROOT}/con_")));
    assert!(w.dropbox.exists(&format!("{ROOT}/name")));
    assert!(w.dropbox.exists(&format!("{ROOT}/.._x")));
    // Every group reports where its folder went.
    let synced = jobs
        .iter()
        .filter(|j| j["kind"] == "group.sync" && j["state"] == "succeeded")
        .count();
    assert_eq!(synced, names.len());
}

#[tokio::test]
async fn folder_deleted_in_dropbox_is_recreated_on_next_reconcile() {
    let w = spawn_world(|_| {}).await;
    let t = marketing(&w);
    sync_all(&w).await;
    let old = folder(&w, "Marketing").shared_folder_id;
    w.dropbox
        .put_file(&format!("{ROOT}/Marketing/plan.docx"), b"plan")
        .expect("file");
    assert!(w.dropbox.delete(&format!("{ROOT}/Marketing")));
    w.dropbox.reset_counters();

    let jobs = sync_all(&w).await;

    // Deleting a shared folder only unmounts it: the same folder is mounted back, with its
    // members and files, and nobody is invited again.
    let m = folder(&w, "Marketing");
    assert_eq!(m.shared_folder_id, old);
    assert_eq!(
        people(&m),
        strs(&["ann.lee@example.com", "bob@example.com"])
    );
    assert!(w.dropbox.exists(&format!("{ROOT}/Marketing/plan.docx")));
    assert_eq!(w.dropbox.shared_folders().len(), 1);
    assert_eq!(w.dropbox.calls("sharing/mount_folder"), 1);
    assert_eq!(w.dropbox.calls("sharing/add_folder_member"), 0);
    assert_eq!(w.dropbox.calls("sharing/share_folder"), 0);
    let job = last_job_of(&jobs, "group.sync", t.group);
    assert_eq!(job["result"]["mounted"], true, "{job:#}");
    assert_eq!(job["result"]["created"], false, "{job:#}");
    assert_eq!(job["result"]["added"], json!([]), "{job:#}");
    let mapping = w
        .app
        .store
        .group_folder(&t.group.to_string())
        .await
        .expect("store")
        .expect("mapping");
    assert_eq!(mapping.shared_folder_id, Some(m.shared_folder_id));
    assert_eq!(mapping.path, format!("{ROOT}/Marketing"));

    // Back in step: the next reconcile makes no write call.
    w.dropbox.reset_counters();
    sync_all(&w).await;
    assert_eq!(w.dropbox.total_write_calls(), 0);
}

#[tokio::test]
async fn deleted_folder_mounted_under_a_taken_name_is_moved_back_to_its_path() {
    let w = spawn_world(|_| {}).await;
    let t = marketing(&w);
    sync_one(&w, t.group).await;
    let old = folder(&w, "Marketing").shared_folder_id;
    // The whole groups root goes, and a folder of the same name sits at the top of Dropbox:
    // Dropbox mounts the shared folder under a free name there.
    assert!(w.dropbox.delete(ROOT));
    w.dropbox.create_folder("/Marketing").expect("folder");

    let job = sync_one(&w, t.group).await;

    let m = folder(&w, "Marketing");
    assert_eq!(m.shared_folder_id, old);
    assert_eq!(m.path_display, format!("{ROOT}/Marketing"));
    assert_eq!(
        people(&m),
        strs(&["ann.lee@example.com", "bob@example.com"])
    );
    assert_eq!(job["result"]["mounted"], true, "{job:#}");
    assert!(w.dropbox.exists("/Marketing"), "the other folder stays");
    assert!(w.dropbox.shared_folder_by_path("/Marketing").is_none());
    assert_eq!(
        w.dropbox
            .paths()
            .iter()
            .filter(|p| p.contains("(1)"))
            .count(),
        0,
        "{:?}",
        w.dropbox.paths()
    );
}

#[tokio::test]
async fn a_shared_folder_dropbox_will_not_mount_again_fails_with_a_clear_reason() {
    let w = spawn_world(|_| {}).await;
    let t = marketing(&w);
    sync_one(&w, t.group).await;
    let sf = folder(&w, "Marketing").shared_folder_id;
    assert!(w.dropbox.delete(&format!("{ROOT}/Marketing")));

    for (error, tag, advice) in [
        (
            MountError::InsufficientQuota,
            "insufficient_quota",
            "no room",
        ),
        (MountError::NoPermission, "no_permission", "may not mount"),
        (MountError::NotMountable, "not_mountable", "cannot mount"),
    ] {
        w.dropbox.set_mount_error(&sf, Some(error));
        let job = sync_job(&w, t.group).await;
        assert_eq!(job["state"], "dead", "{job:#}");
        assert_eq!(job["attempts"], 1, "not retried: {job:#}");
        let last = job["last_error"].as_str().expect("last error");
        assert!(last.contains(tag) && last.contains(advice), "{last}");
        // Nothing was shared anew in its place.
        assert_eq!(w.dropbox.shared_folders().len(), 1);
        assert!(!w.dropbox.exists(&format!("{ROOT}/Marketing")));
    }

    w.dropbox.set_mount_error(&sf, None);
    sync_one(&w, t.group).await;
    assert_eq!(folder(&w, "Marketing").shared_folder_id, sf);
}

#[tokio::test]
async fn folder_unshared_in_dropbox_is_shared_again_with_its_files() {
    let w = spawn_world(|_| {}).await;
    let t = marketing(&w);
    sync_one(&w, t.group).await;
    w.dropbox
        .put_file(&format!("{ROOT}/Marketing/keep.txt"), b"keep")
        .expect("file");
    let old = folder(&w, "Marketing").shared_folder_id;
    assert!(w.dropbox.unshare_path(&format!("{ROOT}/Marketing")));
    w.dropbox.reset_counters();

    let job = sync_one(&w, t.group).await;

    assert_eq!(
        people(&folder(&w, "Marketing")),
        strs(&["ann.lee@example.com", "bob@example.com"])
    );
    assert!(w.dropbox.exists(&format!("{ROOT}/Marketing/keep.txt")));
    assert_eq!(job["result"]["created"], true);
    assert_eq!(w.dropbox.shared_folders().len(), 1);
    // Unsharing ends a shared folder: a new one is shared and everyone is invited again.
    assert_ne!(folder(&w, "Marketing").shared_folder_id, old);
    assert_eq!(job["result"]["mounted"], false, "{job:#}");
    assert_eq!(w.dropbox.calls("sharing/mount_folder"), 0);
    assert_eq!(w.dropbox.calls("sharing/add_folder_member"), 1);
    assert_eq!(
        job["result"]["added"],
        json!(["ann.lee@example.com", "bob@example.com"])
    );
}

// --- a folder is never adopted -----------------------------------------------------------

/// The group's stored mapping.
async fn mapping(w: &World, id: Uuid) -> store::GroupFolder {
    w.app
        .store
        .group_folder(&id.to_string())
        .await
        .expect("store")
        .expect("mapping")
}

#[tokio::test]
async fn a_rename_whose_move_failed_keeps_its_folder_from_a_new_group_of_the_old_name() {
    // One attempt per job: the failed rename stays failed until it is asked again.
    let w = spawn_world(|c| c.queue.max_attempts = 1).await;
    let t = marketing(&w);
    sync_one(&w, t.group).await;
    let old = folder(&w, "Marketing");

    // The rename cannot move the folder (Dropbox keeps failing the move).
    w.dropbox
        .fail_next("files/move_v2", Fault::ServerError { status: 503 }, 50);
    w.docspace
        .rename_group(t.group, "Old Marketing")
        .expect("rename");
    let failed = sync_job(&w, t.group).await;
    assert_eq!(failed["state"], "dead", "{failed:#}");
    assert_eq!(mapping(&w, t.group).await.path, format!("{ROOT}/Marketing"));

    // A new "Marketing" arrives meanwhile, with someone else in it.
    let cy = w.docspace.add_active_user("Cy", "New", "cy@example.com");
    let newcomer = w.docspace.create_group("Marketing", &[cy]).expect("group");
    let job = sync_one(&w, newcomer).await;

    // The old group's folder is untouched; the new group got a folder of its own.
    let still = folder(&w, "Marketing");
    assert_eq!(still.shared_folder_id, old.shared_folder_id);
    assert_eq!(people(&still), people(&old), "cy was not let into it");
    let theirs = mapping(&w, newcomer).await;
    assert_ne!(theirs.path, format!("{ROOT}/Marketing"));
    assert_ne!(theirs.shared_folder_id, Some(old.shared_folder_id.clone()));
    let sf = w
        .dropbox
        .shared_folder_by_path(&theirs.path)
        .expect("their own shared folder");
    assert_eq!(people(&sf), strs(&["cy@example.com"]));
    assert_eq!(job["result"]["folder"], theirs.path.as_str());
    assert_eq!(job["result"]["clash"]["path"], format!("{ROOT}/Marketing"));
    assert_eq!(job["result"]["clash"]["group_id"], t.group.to_string());

    // Once Dropbox moves again, the rename completes with the same folder and members.
    w.dropbox.clear_faults();
    sync_one(&w, t.group).await;
    let renamed = folder(&w, "Old Marketing");
    assert_eq!(renamed.shared_folder_id, old.shared_folder_id);
    assert_eq!(people(&renamed), people(&old));
    assert_eq!(w.dropbox.shared_folders().len(), 2);
    // Both stay where they are on the next reconcile.
    w.dropbox.reset_counters();
    for g in [t.group, newcomer] {
        sync_one(&w, g).await;
    }
    assert_eq!(w.dropbox.total_write_calls(), 0);
    assert_eq!(mapping(&w, newcomer).await.path, theirs.path);
}

/// Dropbox lets people change the email of their account; a folder then lists the member under
/// the new address. The bridge knows the account it invited (from a reconcile that saw it under
/// the address it was invited with): still in the group, the member is left alone; once out of
/// it, the account is removed from the folder.
#[tokio::test]
async fn a_member_who_changed_their_dropbox_email_is_removed_once_out_of_the_group() {
    let w = spawn_world(|_| {}).await;
    w.dropbox.add_user_auto("ann.lee@example.com");
    w.dropbox.add_user_auto("bob@example.com");
    let t = marketing(&w);
    sync_one(&w, t.group).await;
    // The next reconcile (a periodic one, say) sees who accepted.
    sync_one(&w, t.group).await;
    assert!(w
        .dropbox
        .change_user_email("bob@example.com", "robert@elsewhere.org"));

    w.dropbox.reset_counters();
    sync_one(&w, t.group).await;
    assert_eq!(
        w.dropbox.total_write_calls(),
        0,
        "nobody invited again under the old address"
    );
    assert_eq!(
        people(&folder(&w, "Marketing")),
        strs(&["ann.lee@example.com", "robert@elsewhere.org"])
    );

    w.docspace
        .remove_group_member(t.group, t.bob)
        .expect("remove");
    let job = sync_one(&w, t.group).await;
    assert_eq!(
        people(&folder(&w, "Marketing")),
        strs(&["ann.lee@example.com"]),
        "{job:#}"
    );
}

/// Dropbox shared a new group's folder but the answer never came back, so the bridge did not
/// learn the folder's id. Renamed before the next run, the group gets that folder moved to its
/// new name, not a second shared folder beside an orphan at the old one.
#[tokio::test]
async fn a_share_whose_answer_was_lost_is_moved_on_rename_not_shared_twice() {
    let w = spawn_world(|c| c.queue.max_attempts = 1).await;
    let t = marketing(&w);
    w.dropbox.fail_next(
        "sharing/share_folder",
        Fault::ResponseLost { status: 503 },
        50,
    );
    let failed = sync_job(&w, t.group).await;
    assert_eq!(failed["state"], "dead", "{failed:#}");
    assert_eq!(w.dropbox.shared_folders().len(), 1, "shared all the same");
    let shared = folder(&w, "Marketing");

    w.docspace.rename_group(t.group, "Brand").expect("rename");
    w.dropbox.clear_faults();
    sync_one(&w, t.group).await;
    assert_eq!(
        w.dropbox.shared_folders().len(),
        1,
        "no second shared folder: {:?}",
        w.dropbox.paths()
    );
    let renamed = folder(&w, "Brand");
    assert_eq!(renamed.shared_folder_id, shared.shared_folder_id);
    assert_eq!(
        mapping(&w, t.group).await.shared_folder_id,
        Some(shared.shared_folder_id.clone())
    );
    assert_eq!(
        people(&renamed),
        strs(&["ann.lee@example.com", "bob@example.com"])
    );
}

#[tokio::test]
async fn a_folder_moved_by_hand_onto_another_groups_name_is_not_taken_over() {
    let w = spawn_world(|_| {}).await;
    let t = marketing(&w);
    sync_one(&w, t.group).await;
    let old = folder(&w, "Marketing");
    // Someone moves Marketing's folder to where a group "Sales" would have its folder.
    w.dropbox
        .move_path(&format!("{ROOT}/Marketing"), &format!("{ROOT}/Sales"))
        .expect("moved");
    let cy = w.docspace.add_active_user("Cy", "New", "cy@example.com");
    let sales = w.docspace.create_group("Sales", &[cy]).expect("group");

    let job = sync_one(&w, sales).await;

    let theirs = mapping(&w, sales).await;
    assert_ne!(theirs.shared_folder_id, Some(old.shared_folder_id.clone()));
    assert_eq!(job["result"]["clash"]["group_id"], t.group.to_string());
    assert_eq!(
        job["result"]["clash"]["shared_folder_id"],
        old.shared_folder_id.as_str()
    );
    let marketing_folder = w
        .dropbox
        .shared_folder(&old.shared_folder_id)
        .expect("still shared");
    assert_eq!(people(&marketing_folder), people(&old), "cy not let in");

    // Marketing's own reconcile puts its folder back; Sales keeps its own folder.
    sync_one(&w, t.group).await;
    assert_eq!(
        folder(&w, "Marketing").shared_folder_id,
        old.shared_folder_id
    );
    let sf = w
        .dropbox
        .shared_folder_by_path(&theirs.path)
        .expect("sales folder");
    assert_eq!(people(&sf), strs(&["cy@example.com"]));
}

#[tokio::test]
async fn per_member_permanent_error_does_not_block_other_members() {
    let w = spawn_world(|_| {}).await;
    let ds = &w.docspace;
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(ds.add_active_user("U", &i.to_string(), &format!("user{i}@example.com")));
    }
    ids.push(ds.add_active_user("Bad", "Pattern", "jürgen@example.com"));
    let g = ds.create_group("Big", &ids).expect("group");
    w.dropbox
        .set_member_error("user2@example.com", MemberError::InvalidEmail);
    w.dropbox
        .set_member_error("user5@example.com", MemberError::CantShareOutsideTeam);
    w.dropbox
        .set_member_error("user6@example.com", MemberError::TooManyInvitees);

    let job = sync_one(&w, g).await;

    let got = people(&folder(&w, "Big"));
    assert_eq!(
        got,
        strs(&[
            "user0@example.com",
            "user1@example.com",
            "user3@example.com",
            "user4@example.com",
            "user7@example.com",
        ])
    );
    let mut errors: Vec<(String, String)> = job["result"]["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["email"].as_str().unwrap_or("").to_string(),
                e["tag"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    errors.sort();
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert_eq!(errors[0].0, "jürgen@example.com");
    assert!(errors[0].1.contains("invalid_email"));
    assert_eq!(errors[1].0, "user2@example.com");
    assert!(errors[1].1.contains("invalid_email"));
    assert_eq!(
        errors[2],
        ("user5@example.com".into(), "cant_share_outside_team".into())
    );
    assert_eq!(
        errors[3],
        ("user6@example.com".into(), "too_many_invitees".into())
    );
    // Refused members are isolated by splitting the batch, not by one call per member; the
    // address Dropbox's pattern rejects is never sent.
    let calls = w.dropbox.calls("sharing/add_folder_member");
    assert!(calls <= 10, "{calls} add_folder_member calls");
}

/// `email_unverified` and `banned_member` from `add_folder_member` are about the bridge's own
/// account (SPEC `AddFolderMemberError`): nobody can be invited, so the run fails with what to
/// do, and no member is taken for refused.
#[tokio::test]
async fn an_account_dropbox_will_not_let_invite_fails_the_run_and_refuses_no_member() {
    let w = spawn_world(|_| {}).await;
    let ann = w.docspace.add_active_user("Ann", "A", "ann@example.com");
    let g = w.docspace.create_group("Team", &[ann]).expect("group");
    sync_one(&w, g).await;
    let bob = w.docspace.add_active_user("Bob", "B", "bob@example.com");
    w.docspace
        .set_group_members(g, &[ann, bob])
        .expect("members");
    for (unverified, banned, says) in [(true, false, "verif"), (false, true, "banned")] {
        w.dropbox.update_knobs(|k| {
            k.account_email_unverified = unverified;
            k.account_banned = banned;
        });
        let job = sync_job(&w, g).await;
        assert_eq!(job["state"], "dead", "{job:#}");
        let error = job["last_error"].as_str().unwrap_or_default();
        assert!(error.contains("bridge's Dropbox account"), "{job:#}");
        assert!(error.contains(says), "{job:#}");
        let refused = w
            .app
            .store
            .member_refusals(&g.to_string(), Duration::from_secs(3600))
            .await
            .expect("store");
        assert!(refused.is_empty(), "{refused:?}");
    }
    // Nor can a folder be shared for a new group while the address is unverified.
    w.dropbox.update_knobs(|k| {
        k.account_email_unverified = true;
        k.account_banned = false;
    });
    let new = w.docspace.create_group("New", &[ann]).expect("group");
    let job = sync_job(&w, new).await;
    assert_eq!(job["state"], "dead", "{job:#}");
    let error = job["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("email_unverified"), "{job:#}");
    assert!(error.contains("bridge's Dropbox account"), "{job:#}");
    // Once the account may invite again, the next run invites Bob at once, with no window.
    w.dropbox.update_knobs(|k| {
        k.account_email_unverified = false;
        k.account_banned = false;
    });
    sync_one(&w, g).await;
    assert_eq!(
        people(&folder(&w, "Team")),
        strs(&["ann@example.com", "bob@example.com"])
    );
}

fn errors_of(job: &Value) -> Vec<(String, String)> {
    job["result"]["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| (e["email"].to_string(), e["tag"].to_string()))
        .collect()
}

#[tokio::test]
async fn a_member_dropbox_refused_is_asked_again_only_after_the_retry_window() {
    let mut w = spawn_world(|_| {}).await;
    let ann = w.docspace.add_active_user("Ann", "A", "ann@example.com");
    let bob = w.docspace.add_active_user("Bob", "B", "bob@example.com");
    let g = w.docspace.create_group("Team", &[ann, bob]).expect("group");
    w.dropbox
        .set_member_error("bob@example.com", MemberError::CantShareOutsideTeam);
    let refusal = vec![(
        "\"bob@example.com\"".to_string(),
        "\"cant_share_outside_team\"".to_string(),
    )];

    let first = sync_one(&w, g).await;
    assert_eq!(errors_of(&first), refusal);
    let calls = w.dropbox.calls("sharing/add_folder_member");
    // Nothing changed: the refusal is reported again, Dropbox is not asked again.
    let second = sync_one(&w, g).await;
    assert_eq!(errors_of(&second), refusal);
    assert_eq!(w.dropbox.calls("sharing/add_folder_member"), calls);
    assert_eq!(people(&folder(&w, "Team")), strs(&["ann@example.com"]));

    // Bob's account joins the team; once the window is over he is invited.
    w.dropbox.clear_member_error("bob@example.com");
    w.restart_with(|c| c.groups.refusal_retry = Duration::ZERO)
        .await;
    let third = sync_one(&w, g).await;
    assert!(errors_of(&third).is_empty(), "{third:#}");
    assert_eq!(
        people(&folder(&w, "Team")),
        strs(&["ann@example.com", "bob@example.com"])
    );
}

#[tokio::test]
async fn transient_errors_at_20_percent_still_converge_with_no_dead_job() {
    let w = spawn_world(|_| {}).await;
    let t = marketing(&w);
    let mut all = vec![t.ann, t.bob];
    for i in 0..6 {
        let u = w
            .docspace
            .add_active_user("M", &i.to_string(), &format!("m{i}@example.com"));
        all.push(u);
        w.docspace
            .create_group(&format!("Group {i}"), &all)
            .expect("group");
    }
    w.dropbox.reseed(7);
    w.dropbox.set_rate_limit(0.1, 0);
    w.dropbox.set_server_error_rate(0.1);
    w.docspace.update_knobs(|k| {
        k.rate_429 = 0.1;
        k.rate_5xx = 0.1;
        k.ratelimit_reset_secs = 0;
    });

    sync_all(&w).await;
    // Knock one member out and rename a group under the same weather.
    w.docspace.remove_group_member(t.group, t.bob).expect("rm");
    w.docspace
        .rename_group(t.group, "Marketing EU")
        .expect("rename");
    sync_all(&w).await;

    w.dropbox.set_rate_limit(0.0, 0);
    w.dropbox.set_server_error_rate(0.0);
    w.docspace.update_knobs(|k| {
        k.rate_429 = 0.0;
        k.rate_5xx = 0.0;
    });
    assert_eq!(w.dropbox.shared_folders().len(), 7);
    assert_eq!(
        people(&folder(&w, "Marketing EU")),
        strs(&["ann.lee@example.com"])
    );
    assert_eq!(people(&folder(&w, "Group 5")).len(), 8);
    w.dropbox.reset_counters();
    sync_all(&w).await;
    assert_eq!(w.dropbox.total_write_calls(), 0, "converged");
}

// --- access level ----------------------------------------------------------------------------

/// `(email, from, to)` of a job result's `updated` list.
fn updated(job: &Value) -> Vec<(String, String, String)> {
    job["result"]["updated"]
        .as_array()
        .expect("updated")
        .iter()
        .map(|u| {
            let s = |k: &str| u[k].as_str().unwrap_or("").to_string();
            (s("email"), s("from"), s("to"))
        })
        .collect()
}

fn change(email: &str, from: &str, to: &str) -> (String, String, String) {
    (email.into(), from.into(), to.into())
}

/// Ann and Bob get Dropbox accounts, so they join as users (with account ids), not invitees.
fn with_accounts(w: &World) {
    w.dropbox.add_user_auto("ann.lee@example.com");
    w.dropbox.add_user_auto("bob@example.com");
}

#[tokio::test]
async fn members_follow_group_member_access_after_a_reconfigured_restart() {
    let mut w = spawn_world(|_| {}).await;
    let t = marketing(&w);
    with_accounts(&w);
    // Carl has no Dropbox account: he stays a pending invitee.
    let carl = w
        .docspace
        .add_active_user("Carl", "Fox", "carl@example.com");
    w.docspace.add_group_member(t.group, carl).expect("member");
    sync_one(&w, t.group).await;
    let m = folder(&w, "Marketing");
    assert_eq!(m.access_of("bob@example.com"), Some(AccessLevel::Editor));
    assert_eq!(m.invitees.len(), 1);

    w.restart_with(|c| c.groups.member_access = MemberAccess::Viewer)
        .await;
    let job = sync_one(&w, t.group).await;

    let m = folder(&w, "Marketing");
    assert_eq!(
        m.access_of("ann.lee@example.com"),
        Some(AccessLevel::Viewer)
    );
    assert_eq!(m.access_of("bob@example.com"), Some(AccessLevel::Viewer));
    assert_eq!(m.access_of(OWNER), Some(AccessLevel::Owner));
    assert_eq!(
        m.access_of("carl@example.com"),
        Some(AccessLevel::Editor),
        "update_folder_member takes only account ids: a pending invitee waits until it accepts"
    );
    assert_eq!(
        updated(&job),
        vec![
            change("ann.lee@example.com", "editor", "viewer"),
            change("bob@example.com", "editor", "viewer"),
        ]
    );
    assert_eq!(job["result"]["errors"], json!([]));
    assert_eq!(job["result"]["added"], json!([]));
    assert_eq!(job["result"]["removed"], json!([]));
    assert_eq!(w.dropbox.calls("sharing/update_folder_member"), 2);

    w.dropbox.reset_counters();
    let job = sync_one(&w, t.group).await;
    assert_eq!(w.dropbox.calls("sharing/update_folder_member"), 0);
    assert_eq!(
        w.dropbox.total_write_calls(),
        0,
        "{:?}",
        w.dropbox.call_counts()
    );
    assert_eq!(job["result"]["updated"], json!([]));
}

#[tokio::test]
async fn access_changed_by_hand_in_dropbox_is_set_back() {
    let w = spawn_world(|_| {}).await;
    let t = marketing(&w);
    with_accounts(&w);
    sync_one(&w, t.group).await;
    let sf = folder(&w, "Marketing").shared_folder_id;
    w.dropbox
        .set_member_access_by_hand(&sf, "bob@example.com", AccessLevel::ViewerNoComment)
        .expect("by hand");
    w.dropbox.reset_counters();

    // The periodic reconcile (no webhook: Dropbox does not tell DocSpace anything).
    let jobs = sync_all(&w).await;

    let m = folder(&w, "Marketing");
    assert_eq!(m.access_of("bob@example.com"), Some(AccessLevel::Editor));
    assert_eq!(
        m.access_of("ann.lee@example.com"),
        Some(AccessLevel::Editor)
    );
    let job = last_job_of(&jobs, "group.sync", t.group);
    assert_eq!(
        updated(job),
        vec![change("bob@example.com", "viewer_no_comment", "editor")]
    );
    assert_eq!(w.dropbox.calls("sharing/update_folder_member"), 1);
    assert_eq!(w.dropbox.total_write_calls(), 1);
}

#[tokio::test]
async fn hand_added_people_and_the_owner_are_never_updated() {
    let w = spawn_world(|c| c.groups.member_access = MemberAccess::Viewer).await;
    let t = marketing(&w);
    with_accounts(&w);
    sync_one(&w, t.group).await;
    let sf = folder(&w, "Marketing").shared_folder_id;
    // A partner who is not in the group, added by hand as editor.
    w.dropbox.add_user_auto("guest@partner.com");
    w.dropbox
        .add_member_by_hand(&sf, "guest@partner.com", AccessLevel::Editor)
        .expect("by hand");
    // A group member someone shared the folder with by hand before the bridge invited him.
    let dan = w.docspace.add_active_user("Dan", "Moe", "dan@example.com");
    w.docspace.add_group_member(t.group, dan).expect("member");
    w.dropbox.add_user_auto("dan@example.com");
    w.dropbox
        .add_member_by_hand(&sf, "dan@example.com", AccessLevel::Editor)
        .expect("by hand");
    // And one the bridge invited, changed by hand, so the run has something to update.
    w.dropbox
        .set_member_access_by_hand(&sf, "ann.lee@example.com", AccessLevel::Editor)
        .expect("by hand");
    w.dropbox.reset_counters();

    let job = sync_one(&w, t.group).await;

    let m = folder(&w, "Marketing");
    assert_eq!(m.access_of("guest@partner.com"), Some(AccessLevel::Editor));
    assert_eq!(m.access_of("dan@example.com"), Some(AccessLevel::Editor));
    assert_eq!(m.access_of(OWNER), Some(AccessLevel::Owner));
    assert_eq!(
        m.access_of("ann.lee@example.com"),
        Some(AccessLevel::Viewer)
    );
    assert_eq!(
        updated(&job),
        vec![change("ann.lee@example.com", "editor", "viewer")]
    );
    assert_eq!(job["result"]["added"], json!([]), "Dan is already in");
    assert_eq!(w.dropbox.calls("sharing/update_folder_member"), 1);

    w.dropbox.reset_counters();
    sync_one(&w, t.group).await;
    assert_eq!(w.dropbox.total_write_calls(), 0);
}

// --- CLI --------------------------------------------------------------------------------------

#[tokio::test]
async fn cli_dry_run_prints_the_plan_and_calls_no_write_route() {
    let w = spawn_world(|_| {}).await;
    let t = marketing(&w);
    w.docspace.create_group("a/b", &[t.ann]).expect("group");
    w.docspace.create_group("a_b", &[t.bob]).expect("group");
    let dir = tempfile::tempdir().expect("tempdir");

    let (code, stdout, stderr) = w.cli(dir.path(), "sync-groups", &["--dry-run"]).await;

    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        w.dropbox.total_write_calls(),
        0,
        "{:?}",
        w.dropbox.call_counts()
    );
    assert!(w.dropbox.shared_folders().is_empty());
    assert!(stdout.contains("dry run"), "{stdout}");
    assert!(stdout.contains(&format!("{ROOT}/Marketing")), "{stdout}");
    assert!(stdout.contains("+ invite ann.lee@example.com"), "{stdout}");
    assert!(!stdout.contains("pia@example.com"), "{stdout}");
    assert!(
        stdout.contains(&format!("{ROOT}/a_b (")),
        "colliding names planned apart: {stdout}"
    );
    assert!(stdout.contains("members added"), "{stdout}");
}

#[tokio::test]
async fn cli_sync_groups_reconciles_and_prints_a_summary() {
    let w = spawn_world(|_| {}).await;
    let t = marketing(&w);
    let other = w.docspace.create_group("Sales", &[t.bob]).expect("group");
    let dir = tempfile::tempdir().expect("tempdir");

    let (code, stdout, stderr) = w
        .cli(
            dir.path(),
            "sync-groups",
            // Named twice, reconciled once.
            &[
                "--group",
                &t.group.to_string(),
                "--group",
                &t.group.to_string(),
            ],
        )
        .await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(
        people(&folder(&w, "Marketing")),
        strs(&["ann.lee@example.com", "bob@example.com"])
    );
    assert!(w
        .dropbox
        .shared_folder_by_path(&format!("{ROOT}/Sales"))
        .is_none());
    let summary = |s: &str, label: &str| -> Option<u64> {
        s.lines()
            .find(|l| l.trim_start().starts_with(label))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|n| n.parse().ok())
    };
    assert_eq!(summary(&stdout, "groups"), Some(1), "{stdout}");
    assert_eq!(summary(&stdout, "folders created"), Some(1), "{stdout}");
    assert_eq!(summary(&stdout, "members added"), Some(2), "{stdout}");

    let (code, stdout, _) = w.cli(dir.path(), "sync-groups", &[]).await;
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(people(&folder(&w, "Sales")), strs(&["bob@example.com"]));
    assert_eq!(summary(&stdout, "groups"), Some(2), "{stdout}");
    assert_eq!(summary(&stdout, "folders created"), Some(1), "{stdout}");
    let _ = other;

    w.dropbox.reset_counters();
    let (code, stdout, _) = w.cli(dir.path(), "sync-groups", &[]).await;
    assert_eq!(code, 0);
    assert_eq!(w.dropbox.total_write_calls(), 0);
    assert_eq!(summary(&stdout, "members added"), Some(0), "{stdout}");
}

#[tokio::test]
async fn cli_dry_run_lists_access_updates_and_changes_nothing() {
    let w = spawn_world(|_| {}).await;
    let t = marketing(&w);
    with_accounts(&w);
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, stdout, stderr) = w
        .cli(
            dir.path(),
            "sync-groups",
            &["--group", &t.group.to_string()],
        )
        .await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let sf = folder(&w, "Marketing").shared_folder_id;
    w.dropbox
        .set_member_access_by_hand(&sf, "bob@example.com", AccessLevel::Viewer)
        .expect("by hand");
    w.dropbox.reset_counters();

    let (code, stdout, stderr) = w.cli(dir.path(), "sync-groups", &["--dry-run"]).await;

    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(w.dropbox.total_write_calls(), 0);
    assert!(
        stdout.contains("~ set access of bob@example.com (viewer → editor)"),
        "{stdout}"
    );
    assert!(!stdout.contains("ann.lee@example.com ("), "{stdout}");
    assert_eq!(
        folder(&w, "Marketing").access_of("bob@example.com"),
        Some(AccessLevel::Viewer)
    );

    let (code, stdout, _) = w
        .cli(
            dir.path(),
            "sync-groups",
            &["--group", &t.group.to_string()],
        )
        .await;
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("~ access set for bob@example.com (viewer → editor)"),
        "{stdout}"
    );
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("access updated"))
        .unwrap_or_default();
    assert!(line.ends_with(" 1"), "{stdout}");
    assert_eq!(
        folder(&w, "Marketing").access_of("bob@example.com"),
        Some(AccessLevel::Editor)
    );
}

#[tokio::test]
async fn a_run_waiting_on_an_async_share_lets_another_group_use_its_worker_slot() {
    // One worker slot. Group A's share is answered as an async job that is done only after
    // four polls (about 3 s of waiting); group B's share is immediate.
    let w = spawn_world(|c| c.queue.concurrency = 1).await;
    let a = w.docspace.create_group("Waits", &[]).expect("group");
    let b = w.docspace.create_group("Quick", &[]).expect("group");
    w.dropbox.set_share_folder_async(true);
    w.dropbox.update_knobs(|k| k.async_job_polls = 4);

    let (status, body) = w
        .app
        .api(Method::POST, &format!("/api/v1/groups/{a}/sync"), None)
        .await;
    assert_eq!(status, 202, "{body}");
    let a_job = body["job"]["id"].as_i64().expect("job id");
    // A's run holds the only slot and has launched its share.
    for _ in 0..200 {
        if w.dropbox.calls("sharing/share_folder") > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        w.dropbox.calls("sharing/share_folder"),
        1,
        "A launched its share"
    );
    w.dropbox.set_share_folder_async(false);
    let (status, body) = w
        .app
        .api(Method::POST, &format!("/api/v1/groups/{b}/sync"), None)
        .await;
    assert_eq!(status, 202, "{body}");
    let b_job = body["job"]["id"].as_i64().expect("job id");

    let done = |j: &Value| j["state"] == "succeeded";
    let a_run = w.app.wait_job(a_job, 30, done).await["attempts_history"][0].clone();
    let b_run = w.app.wait_job(b_job, 30, done).await["attempts_history"][0].clone();
    let time = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().expect("time")).expect("rfc 3339")
    };
    assert!(
        time(&b_run["finished_at"]) < time(&a_run["finished_at"]),
        "B ran to the end in the slot A lent out while it waited on Dropbox: A {a_run}, B {b_run}"
    );
    assert!(
        w.dropbox.calls("sharing/check_share_job_status") >= 4,
        "A polled its share job until it was done"
    );
    assert_eq!(w.dropbox.shared_folders().len(), 2);
}

#[tokio::test]
async fn a_folder_this_run_shared_is_not_listed_and_one_shared_earlier_is() {
    let w = spawn_world(|_| {}).await;
    let t = marketing(&w);
    with_accounts(&w);
    // The Dropbox account's own address is in the group too: the owner is never invited.
    let me = w.docspace.add_active_user("Own", "Er", OWNER);
    w.docspace.add_group_member(t.group, me).expect("member");
    w.dropbox.reset_counters();

    let job = sync_one(&w, t.group).await;

    assert_eq!(job["result"]["created"], true, "{job:#}");
    assert_eq!(
        job["result"]["added"],
        json!(["ann.lee@example.com", "bob@example.com"]),
        "{job:#}"
    );
    let m = folder(&w, "Marketing");
    assert_eq!(
        people(&m),
        strs(&["ann.lee@example.com", "bob@example.com"])
    );
    assert_eq!(m.access_of(OWNER), Some(AccessLevel::Owner));
    assert_eq!(
        w.dropbox.calls("sharing/list_folder_members"),
        0,
        "a share this run made holds only its owner"
    );

    // A folder someone shared by hand before the bridge got to it, with a member in it.
    let sales_ann = w.docspace.add_active_user("Sue", "Lo", "sue@example.com");
    let sales = w
        .docspace
        .create_group("Sales", &[sales_ann, t.bob])
        .expect("group");
    let sf = w.dropbox.share(&format!("{ROOT}/Sales")).expect("share");
    w.dropbox
        .add_member_by_hand(&sf, "bob@example.com", AccessLevel::Editor)
        .expect("by hand");
    w.dropbox.reset_counters();

    let job = sync_one(&w, sales).await;

    assert_eq!(
        w.dropbox.calls("sharing/list_folder_members"),
        1,
        "a folder shared earlier is read: it may have members"
    );
    assert_eq!(
        job["result"]["added"],
        json!(["sue@example.com"]),
        "{job:#}"
    );
    let s = folder(&w, "Sales");
    assert_eq!(s.shared_folder_id, sf);
    assert_eq!(people(&s), strs(&["bob@example.com", "sue@example.com"]));
}

#[tokio::test]
async fn cli_sync_groups_refuses_a_group_docspace_does_not_have_as_the_api_does() {
    let w = spawn_world(|_| {}).await;
    let t = marketing(&w);
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = "9f1c2d3e-0000-4000-8000-00000000abcd";

    for extra in [&[][..], &["--dry-run"][..]] {
        let mut args = vec!["--group", missing];
        args.extend_from_slice(extra);
        let (code, stdout, stderr) = w.cli(dir.path(), "sync-groups", &args).await;
        assert_eq!(code, 1, "{stdout}\n{stderr}");
        assert!(
            stderr.contains(&format!("DocSpace group {missing} does not exist")),
            "{stderr}"
        );
        assert!(!stdout.contains("deleted"), "{stdout}");
    }
    // One unknown id among known ones refuses the whole run: nothing is reconciled.
    let (code, _, stderr) = sync_groups(&w, dir.path(), &[&t.group.to_string(), missing]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(w
        .dropbox
        .shared_folder_by_path(&format!("{ROOT}/Marketing"))
        .is_none());

    // A group deleted in DocSpace whose folder the bridge keeps is still a target: its
    // ON_GROUP_DELETED is applied.
    let (code, _, stderr) = sync_groups(&w, dir.path(), &[&t.group.to_string()]).await;
    assert_eq!(code, 0, "{stderr}");
    w.docspace.delete_group(t.group).expect("deleted");
    let (code, stdout, stderr) = sync_groups(&w, dir.path(), &[&t.group.to_string()]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("deleted in DocSpace"), "{stdout}");
}

/// `sync-groups --group G` for each of `groups`.
async fn sync_groups(w: &World, dir: &std::path::Path, groups: &[&str]) -> (i32, String, String) {
    let args: Vec<&str> = groups.iter().flat_map(|g| ["--group", g]).collect();
    w.cli(dir, "sync-groups", &args).await
}

/// DocSpace sorts groups by title, so a group deleted while a full reconcile pages through the
/// group list moved the groups after it back by one: the first group of the next page slid onto
/// the page already read, and the reconcile left it out. The list is now read again when it
/// changed while it was read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_deleted_while_the_list_is_read_does_not_make_the_reconcile_skip_another() {
    let w = spawn_world(|_| {}).await;
    let mut groups = Vec::new();
    for i in 0..250 {
        groups.push(
            w.docspace
                .create_group(&format!("Team {i:03}"), &[])
                .expect("group"),
        );
    }
    // Every DocSpace call takes a while, so the test acts between two pages of the list.
    w.docspace.update_knobs(|k| k.latency_ms = 300);
    let (status, v) = w.app.api(Method::POST, "/api/v1/groups/sync", None).await;
    assert_eq!(status, 202, "{v}");
    let id = v["job"]["id"].as_i64().expect("job id");
    // The first page has been read and the second asked for: the first group by title goes.
    wait_docspace_calls(&w.docspace, bridge_fakes::docspace::routes::GROUP_LIST, 2).await;
    w.docspace.delete_group(groups[0]).expect("delete");
    let job = w.app.wait_finished(id, 20).await;
    assert_eq!(job["state"], "succeeded", "{job:#}");
    w.docspace.update_knobs(|k| k.latency_ms = 0);
    let jobs = w.settle(60).await;
    let synced = payload_ids(&jobs, "group.sync", "group_id");
    let missed: Vec<String> = groups[1..]
        .iter()
        .map(|g| g.to_string())
        .filter(|g| !synced.contains(g))
        .collect();
    assert!(
        missed.is_empty(),
        "groups the reconcile did not sync: {missed:?}; {}",
        job["result"]
    );
}
