//! Shared folders in the fake Dropbox as real Dropbox has them: deleting one only unmounts it
//! (`sharing/mount_folder` brings it back with its id), unsharing really ends it, access errors
//! come bare or nested depending on the route, e-mails follow Stone's pattern, and `share_folder`
//! may answer with an async job. All through real HTTP.

use std::time::Duration;

use bridge_fakes::dropbox::{
    AccessError, AccessLevel, DropboxOptions, FakeDropbox, Knobs, MountError,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

struct Answer {
    status: StatusCode,
    body: String,
}

impl Answer {
    fn ok(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "{}", self.body);
        serde_json::from_str(&self.body).expect("JSON result")
    }

    /// The `error` of a 409, after checking the envelope (`error_summary` starts with the tag
    /// chain and ends in dots).
    fn route_error(&self, summary_prefix: &str) -> Value {
        assert_eq!(self.status, StatusCode::CONFLICT, "{}", self.body);
        let v: Value = serde_json::from_str(&self.body).expect("JSON error");
        let summary = v["error_summary"].as_str().expect("error_summary");
        assert!(
            summary.starts_with(summary_prefix) && summary.ends_with(".."),
            "summary {summary:?}, wanted {summary_prefix:?}…"
        );
        v["error"].clone()
    }
}

struct Api {
    fake: FakeDropbox,
    http: reqwest::Client,
}

impl Api {
    async fn start() -> Api {
        Api::with(DropboxOptions::default()).await
    }

    async fn with(opts: DropboxOptions) -> Api {
        Api {
            fake: FakeDropbox::start(opts).await.expect("fake starts"),
            http: reqwest::Client::new(),
        }
    }

    async fn rpc(&self, route: &str, arg: Value) -> Answer {
        let r = self
            .http
            .post(format!("{}/2/{route}", self.fake.api_url()))
            .bearer_auth("fake-static-token")
            .json(&arg)
            .send()
            .await
            .expect("send");
        Answer {
            status: r.status(),
            body: r.text().await.expect("body"),
        }
    }

    async fn control(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}/_fake/{path}", self.fake.api_url()))
            .json(&body)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::OK, "control {path}");
        r.json().await.expect("control JSON")
    }

    /// Shares `path` with `bob@example.com` as editor and puts a file in it; returns the id.
    async fn shared_with_bob(&self, path: &str) -> String {
        self.fake.add_user_auto("bob@example.com");
        let v = self
            .rpc("sharing/share_folder", json!({"path": path}))
            .await
            .ok();
        let sfid = v["shared_folder_id"].as_str().expect("id").to_string();
        self.rpc(
            "sharing/add_folder_member",
            json!({"shared_folder_id": sfid, "members": [
                {"member": {".tag": "email", "email": "bob@example.com"}, "access_level": "editor"}]}),
        )
        .await
        .ok();
        self.fake
            .put_file(&format!("{path}/notes.txt"), b"kept while unmounted")
            .expect("file");
        sfid
    }
}

#[tokio::test]
async fn deleting_a_shared_folder_unmounts_it_and_mount_folder_brings_it_back() {
    let api = Api::start().await;
    let sfid = api.shared_with_bob("/Groups/Marketing").await;
    let cursor = api
        .rpc(
            "files/list_folder/get_latest_cursor",
            json!({"path": "/Groups", "recursive": true, "include_deleted": true}),
        )
        .await
        .ok()["cursor"]
        .clone();

    api.rpc("files/delete_v2", json!({"path": "/Groups/Marketing"}))
        .await
        .ok();

    // Gone from the owner's namespace...
    let e = api
        .rpc("files/get_metadata", json!({"path": "/Groups/Marketing"}))
        .await
        .route_error("path/not_found/");
    assert_eq!(e, json!({".tag": "path", "path": {".tag": "not_found"}}));
    let changes = api
        .rpc("files/list_folder/continue", json!({"cursor": cursor}))
        .await
        .ok();
    assert_eq!(
        changes["entries"],
        json!([{".tag": "deleted", "name": "Marketing",
                "path_lower": "/groups/marketing", "path_display": "/Groups/Marketing"}])
    );
    // ...but still shared, with its members, and without a path.
    let meta = api
        .rpc(
            "sharing/get_folder_metadata",
            json!({"shared_folder_id": sfid}),
        )
        .await
        .ok();
    assert_eq!(meta["shared_folder_id"], sfid.as_str());
    assert_eq!(meta["name"], "Marketing");
    assert!(meta.get("path_lower").is_none(), "{meta}");
    assert!(meta.get("path_display").is_none(), "{meta}");
    let members = api
        .rpc(
            "sharing/list_folder_members",
            json!({"shared_folder_id": sfid}),
        )
        .await
        .ok();
    let emails: Vec<&str> = members["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["user"]["email"].as_str().expect("email"))
        .collect();
    assert_eq!(emails, ["owner@example.com", "bob@example.com"]);
    let info = api.fake.shared_folder(&sfid).expect("still shared");
    assert!(!info.mounted);
    assert_eq!(info.name, "Marketing");
    assert_eq!(info.access_of("bob@example.com"), Some(AccessLevel::Editor));

    // Mounted again at the root under its name, with the same id and its content.
    let mounted = api
        .rpc("sharing/mount_folder", json!({"shared_folder_id": sfid}))
        .await
        .ok();
    assert_eq!(mounted["shared_folder_id"], sfid.as_str());
    assert_eq!(mounted["path_display"], "/Marketing");
    assert_eq!(mounted["path_lower"], "/marketing");
    assert_eq!(mounted["access_type"], json!({".tag": "owner"}));
    let file = api
        .fake
        .file("/Marketing/notes.txt")
        .expect("content is back");
    assert_eq!(file.size, 20);
    let changes = api
        .rpc(
            "files/list_folder/continue",
            json!({"cursor": changes["cursor"]}),
        )
        .await
        .ok();
    assert!(
        changes["entries"].as_array().expect("entries").is_empty(),
        "outside the listed folder"
    );
    // Then moved back where it was; the id stays.
    api.rpc(
        "files/move_v2",
        json!({"from_path": "/Marketing", "to_path": "/Groups/Marketing"}),
    )
    .await
    .ok();
    let back = api
        .fake
        .shared_folder_by_path("/Groups/Marketing")
        .expect("shared folder back in place");
    assert_eq!(back.shared_folder_id, sfid);
    assert!(back.mounted);
    assert_eq!(api.fake.shared_folders().len(), 1);

    // Mounting a mounted folder, or an unknown id.
    let e = api
        .rpc("sharing/mount_folder", json!({"shared_folder_id": sfid}))
        .await
        .route_error("already_mounted/");
    assert_eq!(e, json!({".tag": "already_mounted"}));
    let e = api
        .rpc("sharing/mount_folder", json!({"shared_folder_id": "999"}))
        .await
        .route_error("access_error/invalid_id/");
    assert_eq!(
        e,
        json!({".tag": "access_error", "access_error": {".tag": "invalid_id"}})
    );
}

#[tokio::test]
async fn mount_picks_a_free_name_and_deleting_a_parent_unmounts_the_folders_in_it() {
    let api = Api::start().await;
    let sfid = api.shared_with_bob("/Groups/Sales").await;
    let other = api
        .rpc("sharing/share_folder", json!({"path": "/Groups/Ops"}))
        .await
        .ok()["shared_folder_id"]
        .as_str()
        .expect("id")
        .to_string();
    // Deleting by hand through the control API, the parent of both.
    let v = api.control("delete", json!({"path": "/Groups"})).await;
    assert_eq!(v, json!({"deleted": true}));
    assert!(!api.fake.exists("/Groups"));
    for id in [&sfid, &other] {
        assert!(!api.fake.shared_folder(id).expect("kept").mounted);
    }
    // The name is taken at the root: Dropbox picks a free one.
    api.fake.create_folder("/Sales").expect("folder");
    let v = api
        .rpc("sharing/mount_folder", json!({"shared_folder_id": sfid}))
        .await
        .ok();
    assert_eq!(v["path_display"], "/Sales (1)");
    assert!(api.fake.exists("/Sales (1)/notes.txt"));
    // Mount by hand through the control API.
    let v = api
        .control("mount", json!({"shared_folder_id": other}))
        .await;
    assert_eq!(v, json!({"path_display": "/Ops"}));
}

#[tokio::test]
async fn unsharing_ends_the_shared_folder_for_everyone() {
    let api = Api::start().await;
    let sfid = api.shared_with_bob("/Groups/Finance").await;
    // Unshare by hand, by id.
    let v = api
        .control("unshare", json!({"shared_folder_id": sfid}))
        .await;
    assert_eq!(v, json!({"unshared": true}));
    assert!(api.fake.shared_folder(&sfid).is_none());
    assert!(
        api.fake.exists("/Groups/Finance/notes.txt"),
        "owner keeps a plain folder"
    );
    let e = api
        .rpc(
            "sharing/get_folder_metadata",
            json!({"shared_folder_id": sfid}),
        )
        .await
        .route_error("invalid_id/");
    assert_eq!(e, json!({".tag": "invalid_id"}));
    let e = api
        .rpc("sharing/mount_folder", json!({"shared_folder_id": sfid}))
        .await
        .route_error("access_error/invalid_id/");
    assert_eq!(e["access_error"], json!({".tag": "invalid_id"}));

    // An unmounted folder can be unshared too; then it is gone.
    let other = api.shared_with_bob("/Groups/Legal").await;
    assert!(api.fake.delete("/Groups/Legal"));
    let v = api
        .rpc("sharing/unshare_folder", json!({"shared_folder_id": other}))
        .await
        .ok();
    assert_eq!(v[".tag"], "async_job_id");
    assert!(api.fake.shared_folder(&other).is_none());
    let e = api
        .rpc("sharing/mount_folder", json!({"shared_folder_id": other}))
        .await
        .route_error("access_error/invalid_id/");
    assert_eq!(e["access_error"][".tag"], "invalid_id");
}

#[tokio::test]
async fn unmount_folder_route_and_mount_errors() {
    let api = Api::start().await;
    let sfid = api.shared_with_bob("/Team").await;
    assert_eq!(
        api.rpc("sharing/unmount_folder", json!({"shared_folder_id": sfid}))
            .await
            .ok(),
        Value::Null
    );
    assert!(!api.fake.exists("/Team"));
    let e = api
        .rpc("sharing/unmount_folder", json!({"shared_folder_id": sfid}))
        .await
        .route_error("access_error/unmounted/");
    assert_eq!(e["access_error"], json!({".tag": "unmounted"}));

    for (knob, wire) in [
        (
            MountError::InsideSharedFolder,
            json!({".tag": "inside_shared_folder"}),
        ),
        (
            MountError::InsufficientQuota,
            json!({".tag": "insufficient_quota", "space_needed": 20, "space_shortage": 20, "space_left": 0}),
        ),
        (MountError::NoPermission, json!({".tag": "no_permission"})),
        (MountError::NotMountable, json!({".tag": "not_mountable"})),
        (MountError::MustAutomount, json!({".tag": "must_automount"})),
    ] {
        api.fake.set_mount_error(&sfid, Some(knob));
        let tag = wire[".tag"].as_str().expect("tag").to_string();
        let e = api
            .rpc("sharing/mount_folder", json!({"shared_folder_id": sfid}))
            .await
            .route_error(&format!("{tag}/"));
        assert_eq!(e, wire);
    }
    // The same knob through the control API, then cleared.
    api.control(
        "mount_error",
        json!({"shared_folder_id": sfid, "error": "not_mountable"}),
    )
    .await;
    api.rpc("sharing/mount_folder", json!({"shared_folder_id": sfid}))
        .await
        .route_error("not_mountable/");
    api.control(
        "mount_error",
        json!({"shared_folder_id": sfid, "error": null}),
    )
    .await;
    let v = api
        .rpc("sharing/mount_folder", json!({"shared_folder_id": sfid}))
        .await
        .ok();
    assert_eq!(v["path_display"], "/Team");
    // Extra fields are refused like any Stone struct.
    let r = api
        .rpc(
            "sharing/mount_folder",
            json!({"shared_folder_id": sfid, "path": "/x"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn access_errors_are_bare_on_folder_routes_and_nested_on_member_routes() {
    let api = Api::start().await;
    let sfid = api.shared_with_bob("/Groups/Design").await;
    let bob = api.fake.add_user_auto("bob@example.com");
    api.fake.add_user_auto("carol@example.com");
    let cursor = {
        api.fake
            .add_member_by_hand(&sfid, "carol@example.com", AccessLevel::Viewer)
            .expect("carol");
        let page = api
            .rpc(
                "sharing/list_folder_members",
                json!({"shared_folder_id": sfid, "limit": 1}),
            )
            .await
            .ok();
        page["cursor"].as_str().expect("more pages").to_string()
    };

    for (knob, tag) in [
        (Some(AccessError::NotAMember), "not_a_member"),
        (Some(AccessError::Unmounted), "unmounted"),
        (Some(AccessError::InvalidMember), "invalid_member"),
        (Some(AccessError::InvalidId), "invalid_id"),
        // An id Dropbox does not know at all.
        (None, "invalid_id"),
    ] {
        let id = match knob {
            Some(k) => {
                api.fake.set_access_error(&sfid, Some(k));
                sfid.clone()
            }
            None => {
                api.fake.set_access_error(&sfid, None);
                "1234567".to_string()
            }
        };
        let bare = json!({ ".tag": tag });
        let nested = json!({".tag": "access_error", "access_error": {".tag": tag}});
        // Declared error type SharedFolderAccessError: bare.
        let e = api
            .rpc(
                "sharing/get_folder_metadata",
                json!({"shared_folder_id": id}),
            )
            .await
            .route_error(&format!("{tag}/"));
        assert_eq!(e, bare, "get_folder_metadata");
        let e = api
            .rpc(
                "sharing/list_folder_members",
                json!({"shared_folder_id": id}),
            )
            .await
            .route_error(&format!("{tag}/"));
        assert_eq!(e, bare, "list_folder_members");
        // Error unions that wrap it: nested under access_error.
        let member = json!({".tag": "dropbox_id", "dropbox_id": bob});
        for (route, arg) in [
            (
                "sharing/add_folder_member",
                json!({"shared_folder_id": id, "members": [
                    {"member": {".tag": "email", "email": "dan@example.com"}, "access_level": "viewer"}]}),
            ),
            (
                "sharing/remove_folder_member",
                json!({"shared_folder_id": id, "member": member, "leave_a_copy": false}),
            ),
            (
                "sharing/update_folder_member",
                json!({"shared_folder_id": id, "member": member, "access_level": "viewer"}),
            ),
            ("sharing/mount_folder", json!({"shared_folder_id": id})),
            ("sharing/unshare_folder", json!({"shared_folder_id": id})),
        ] {
            let e = api
                .rpc(route, arg)
                .await
                .route_error(&format!("access_error/{tag}/"));
            assert_eq!(e, nested, "{route}");
        }
        if knob.is_some() {
            // ListFolderMembersContinueError wraps it too (spec: `access_error`).
            let e = api
                .rpc(
                    "sharing/list_folder_members/continue",
                    json!({"cursor": cursor}),
                )
                .await
                .route_error(&format!("access_error/{tag}/"));
            assert_eq!(e, nested, "list_folder_members/continue");
        }
    }
    let e = api
        .rpc(
            "sharing/list_folder_members/continue",
            json!({"cursor": "ZtkXnot-a-cursor"}),
        )
        .await
        .route_error("invalid_cursor/");
    assert_eq!(e, json!({".tag": "invalid_cursor"}));

    // Cleared (control API): everything works again, members untouched.
    api.control(
        "access_error",
        json!({"shared_folder_id": sfid, "error": "not_a_member"}),
    )
    .await;
    api.rpc(
        "sharing/get_folder_metadata",
        json!({"shared_folder_id": sfid}),
    )
    .await
    .route_error("not_a_member/");
    api.control(
        "access_error",
        json!({"shared_folder_id": sfid, "error": null}),
    )
    .await;
    let meta = api
        .rpc(
            "sharing/get_folder_metadata",
            json!({"shared_folder_id": sfid}),
        )
        .await
        .ok();
    assert_eq!(meta["path_display"], "/Groups/Design");
    assert_eq!(
        api.fake.shared_folder(&sfid).expect("folder").emails(),
        ["bob@example.com", "carol@example.com", "owner@example.com"]
    );
}

#[tokio::test]
async fn member_emails_follow_the_stone_pattern_exactly() {
    let api = Api::start().await;
    let sfid = api
        .rpc("sharing/share_folder", json!({"path": "/People"}))
        .await
        .ok()["shared_folder_id"]
        .as_str()
        .expect("id")
        .to_string();
    let add = |email: String| {
        json!({"shared_folder_id": sfid, "quiet": true, "members": [
            {"member": {".tag": "email", "email": "ok@example.com"}, "access_level": "viewer"},
            {"member": {".tag": "email", "email": email}, "access_level": "viewer"}]})
    };
    let accepted = [
        "o'neil@example.com",
        "r&d#1@example.com",
        "a.b_c%d+e-f@sub-domain.example.museum",
        "x@-dash.io",
        "x@a.b.c.abcdefghijklmno",
    ];
    for email in accepted {
        let r = api
            .rpc("sharing/add_folder_member", add(email.into()))
            .await;
        assert_eq!(r.ok(), Value::Null, "{email}");
    }
    let long_ok = format!("{}@example.com", "a".repeat(243));
    assert_eq!(long_ok.len(), 255);
    assert_eq!(
        api.rpc("sharing/add_folder_member", add(long_ok.clone()))
            .await
            .ok(),
        Value::Null
    );
    let before = api.fake.shared_folder(&sfid).expect("folder").emails();
    let refused = [
        "j\u{fc}rgen@example.com".to_string(),
        "a b@example.com".into(),
        "a!b@example.com".into(),
        "a@example.c".into(),
        "a@example.abcdefghijklmnop".into(),
        "a@example.c0m".into(),
        "a@.example.com".into(),
        "a@example".into(),
        "@example.com".into(),
        "a@b@example.com".into(),
        "a@exa_mple.com".into(),
        "a@example.com\n".into(),
        format!("{}@example.com", "a".repeat(244)),
    ];
    for email in &refused {
        let r = api
            .rpc("sharing/add_folder_member", add(email.clone()))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{email:?}: {}", r.body);
        assert!(
            r.body.starts_with(
                "Error in call to API function \"sharing/add_folder_member\": request body: members[1].member"
            ),
            "{email:?}: {}",
            r.body
        );
    }
    // The whole call failed each time: not even the valid member of the batch was added again.
    assert_eq!(
        api.fake.shared_folder(&sfid).expect("folder").emails(),
        before
    );
    assert!(before.contains(&"o'neil@example.com".to_string()));
    assert!(before.contains(&long_ok));
}

#[tokio::test]
async fn a_share_ratio_answers_some_shares_as_async_jobs() {
    let api = Api::with(DropboxOptions {
        knobs: Knobs {
            share_folder_async_ratio: 0.5,
            async_job_polls: 2,
            ..Knobs::default()
        },
        ..DropboxOptions::default()
    })
    .await;
    let mut tags = Vec::new();
    let mut jobs = Vec::new();
    for i in 0..4 {
        let v = api
            .rpc("sharing/share_folder", json!({"path": format!("/F{i}")}))
            .await
            .ok();
        tags.push(v[".tag"].as_str().expect("tag").to_string());
        if v[".tag"] == "async_job_id" {
            jobs.push((i, v["async_job_id"].as_str().expect("job").to_string()));
        }
    }
    assert_eq!(
        tags,
        ["complete", "async_job_id", "complete", "async_job_id"]
    );
    for (i, job) in jobs {
        for _ in 0..2 {
            let v = api
                .rpc(
                    "sharing/check_share_job_status",
                    json!({"async_job_id": job}),
                )
                .await
                .ok();
            assert_eq!(v, json!({".tag": "in_progress"}));
        }
        let done = api
            .rpc(
                "sharing/check_share_job_status",
                json!({"async_job_id": job}),
            )
            .await
            .ok();
        assert_eq!(done[".tag"], "complete");
        assert_eq!(done["path_display"], format!("/F{i}"));
        assert!(done["shared_folder_id"].is_string());
    }
    // A share that hits `already_shared` is no new share and does not advance the ratio.
    api.rpc("sharing/share_folder", json!({"path": "/F0"}))
        .await
        .route_error("bad_path/already_shared/");
    let v = api
        .rpc("sharing/share_folder", json!({"path": "/F4"}))
        .await
        .ok();
    assert_eq!(v[".tag"], "complete");

    // Completion by time: a job stays in progress until its delay has passed, whatever the
    // number of polls.
    api.fake
        .set_async_job_completion(0, Duration::from_secs(600));
    let v = api
        .rpc("sharing/share_folder", json!({"path": "/F5"}))
        .await
        .ok();
    assert_eq!(v[".tag"], "async_job_id");
    for _ in 0..3 {
        let status = api
            .rpc(
                "sharing/check_share_job_status",
                json!({"async_job_id": v["async_job_id"]}),
            )
            .await
            .ok();
        assert_eq!(status, json!({".tag": "in_progress"}));
    }
    api.fake
        .set_async_job_completion(0, Duration::from_millis(100));
    api.rpc("sharing/share_folder", json!({"path": "/F6"}))
        .await
        .ok();
    let v = api
        .rpc("sharing/share_folder", json!({"path": "/F7"}))
        .await
        .ok();
    assert_eq!(v[".tag"], "async_job_id");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let done = api
        .rpc(
            "sharing/check_share_job_status",
            json!({"async_job_id": v["async_job_id"]}),
        )
        .await
        .ok();
    assert_eq!(done[".tag"], "complete");
    assert_eq!(done["path_display"], "/F7");

    // The knobs through the control API.
    let r = api
        .http
        .post(format!("{}/_fake/knobs", api.fake.api_url()))
        .json(&json!({"share_folder_async_ratio": 1.0, "async_job_polls": 0, "async_job_delay_ms": 0}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let v = api
        .rpc("sharing/share_folder", json!({"path": "/F8"}))
        .await
        .ok();
    assert_eq!(v[".tag"], "async_job_id");
    let done = api
        .rpc(
            "sharing/check_share_job_status",
            json!({"async_job_id": v["async_job_id"]}),
        )
        .await
        .ok();
    assert_eq!(done[".tag"], "complete");
}
