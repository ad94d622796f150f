//! Events by the API key's own user. The bridge never writes to DocSpace, and an API key acts as
//! the person who created it, so an event whose `event.createBy` is the key's user is that
//! person's own upload or change: it is handled like anyone's.

use crate::common::*;
use bridge_fakes::webhooks::DocSpaceWebhookSender;

/// A DocSpace webhook sender whose events name the API key's own user as `createBy`.
fn sender_as_key_user(w: &World) -> DocSpaceWebhookSender {
    w.docspace_sender()
        .with_actor(Some(w.docspace.self_user_id()))
}

#[tokio::test]
async fn a_file_uploaded_by_the_api_key_user_is_exported() {
    let w = spawn_world(|_| {}).await;
    let room = w.docspace.create_room("Finance");
    let folder = w.docspace.create_folder(room, "2026").expect("folder");
    // `create_file` uploads as the API key's user.
    let id = w
        .docspace
        .create_file(folder, "Own upload.docx", 20_000)
        .expect("file");
    let file = w.docspace.file(id).expect("file");
    assert_eq!(file.created_by, w.docspace.self_user_id());

    let d = sender_as_key_user(&w)
        .file_event("file.uploaded", &file)
        .await
        .expect("delivered");
    assert_eq!(d.status, 200, "{}", d.response_body);
    let answer: serde_json::Value = serde_json::from_str(&d.response_body).expect("json");
    assert_eq!(answer["status"], "accepted", "{answer}");

    let jobs = w.settle(30).await;
    let job = jobs
        .iter()
        .find(|j| j["kind"] == "file.export")
        .expect("an export job");
    assert_eq!(job["state"], "succeeded", "{job:#}");
    assert_eq!(
        job["payload"]["created_by"],
        w.docspace.self_user_id().to_string()
    );
    let path = "/DocSpace Export/Finance/2026/Own upload.docx";
    assert_eq!(job["result"]["dropbox_path"], path, "{job:#}");
    let exported = w.dropbox.file(path).expect("the file is in Dropbox");
    assert_eq!(exported.size, 20_000);
    assert_eq!(
        Some(exported.content_hash),
        w.docspace.dropbox_content_hash(id, 1)
    );
}

#[tokio::test]
async fn a_group_created_by_the_api_key_user_gets_its_shared_folder() {
    let w = spawn_world(|_| {}).await;
    let ann = w.docspace.add_active_user("Ann", "Lee", "ann@example.com");
    let group = w.docspace.create_group("Sales", &[ann]).expect("group");
    let group = w.docspace.group(group).expect("group");

    let d = sender_as_key_user(&w)
        .group_event("group.created", &group)
        .await
        .expect("delivered");
    assert_eq!(d.status, 200, "{}", d.response_body);

    let jobs = w.settle(30).await;
    assert!(
        jobs.iter()
            .any(|j| j["kind"] == "group.sync" && j["state"] == "succeeded"),
        "{jobs:#?}"
    );
    let folder = w
        .dropbox
        .shared_folder_by_path("/DocSpace Groups/Sales")
        .expect("the group's shared folder");
    assert!(
        folder.emails().contains(&"ann@example.com".to_string()),
        "{:?}",
        folder.emails()
    );
}
