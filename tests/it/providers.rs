//! What the real DocSpace and Dropbox do that the bridge must live with, end to end: a
//! restricted API key, a download the key's user may not make, and addresses only Dropbox's own
//! pattern accepts. Arranged on the stand-ins, driven through webhooks and the API, asserted on
//! the stand-ins and the job records.

use crate::common::*;
use bridge_fakes::docspace::routes;
use reqwest::Method;
use serde_json::Value;

/// Sends a signed webhook through DocSpace's sender and expects it accepted.
async fn deliver(d: reqwest::Result<bridge_fakes::webhooks::Delivery>) {
    let d = d.expect("webhook delivered");
    assert_eq!(d.status, 200, "{}", d.response_body);
}

fn finished<'a>(jobs: &'a [Value], kind: &str) -> &'a Value {
    jobs.iter()
        .rev()
        .find(|j| j["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} job in {jobs:#?}"))
}

#[tokio::test]
async fn a_key_with_only_the_permissions_the_jobs_need_syncs_groups_and_exports_files() {
    let w = spawn_world(|_| {}).await;
    let ds = &w.docspace;
    // Exactly what the README asks for: no accounts.self:read, so people/@self is refused.
    assert!(ds.set_api_key_permissions(
        &ds.api_key(),
        &["accounts:read", "files:read", "rooms:read"]
    ));
    let ann = ds.add_active_user("Ann", "Lee", "ann@example.com");
    let group = ds.create_group("Sales", &[ann]).expect("group");
    let room = ds.create_room("Sales");
    let file = ds.create_file(room, "Pipeline.xlsx", 2048).expect("file");

    let (status, v) = w
        .app
        .api(Method::POST, &format!("/api/v1/groups/{group}/sync"), None)
        .await;
    assert_eq!(status, 202, "{v}");
    let sender = w.docspace_sender();
    let f = ds.file(file).expect("file");
    deliver(sender.file_event("file.uploaded", &f).await).await;
    let jobs = w.settle(30).await;

    let sync = finished(&jobs, "group.sync");
    assert_eq!(sync["state"], "succeeded", "{sync:#}");
    let export = finished(&jobs, "file.export");
    assert_eq!(export["state"], "succeeded", "{export:#}");
    assert!(jobs.iter().all(|j| j["state"] == "succeeded"), "{jobs:#?}");
    let sf = w
        .dropbox
        .shared_folder_by_path("/DocSpace Groups/Sales")
        .expect("shared folder");
    assert!(sf.access_of("ann@example.com").is_some(), "{sf:?}");
    assert!(w
        .dropbox
        .file("/DocSpace Export/Sales/Pipeline.xlsx")
        .is_some());
    // No job asked who the key is.
    assert_eq!(ds.calls(routes::PEOPLE_SELF), 0);
}

#[tokio::test]
async fn a_file_the_key_user_may_not_download_is_dead_after_one_attempt() {
    let w = spawn_world(|_| {}).await;
    let ds = &w.docspace;
    let room = ds.create_room("Board");
    let file = ds.create_file(room, "Minutes.docx", 4096).expect("file");
    ds.set_download_denied(file, true);

    let f = ds.file(file).expect("file");
    deliver(w.docspace_sender().file_event("file.uploaded", &f).await).await;
    let jobs = w.settle(30).await;

    let job = finished(&jobs, "file.export");
    assert_eq!(job["state"], "dead", "{job:#}");
    assert_eq!(job["attempts"], 1, "{job:#}");
    let err = job["last_error"].as_str().expect("last_error");
    assert!(
        err.contains(&format!("the API key's user may not download file {file}")),
        "{err}"
    );
    assert_eq!(
        ds.calls(routes::STREAM),
        1,
        "the download was asked for once"
    );
    assert!(w
        .dropbox
        .file("/DocSpace Export/Board/Minutes.docx")
        .is_none());
}

#[tokio::test]
async fn a_member_whose_address_has_a_hash_is_invited() {
    let w = spawn_world(|_| {}).await;
    let ds = &w.docspace;
    let odd = ds.add_active_user("Hash", "Tag", "a#b@example.com");
    let plain = ds.add_active_user("Plain", "User", "plain@example.com");
    let group = ds.create_group("Ops", &[odd, plain]).expect("group");
    let g = ds.group(group).expect("group");
    deliver(w.docspace_sender().group_event("group.created", &g).await).await;
    let jobs = w.settle(30).await;

    let sync = finished(&jobs, "group.sync");
    assert_eq!(sync["state"], "succeeded", "{sync:#}");
    let sf = w
        .dropbox
        .shared_folder_by_path("/DocSpace Groups/Ops")
        .expect("shared folder");
    let mut invited: Vec<&str> = sf.invitees.iter().map(|i| i.email.as_str()).collect();
    invited.sort();
    assert_eq!(invited, ["a#b@example.com", "plain@example.com"], "{sf:?}");
    assert!(
        !sync["result"].to_string().contains("invalid_email"),
        "{sync:#}"
    );
}
