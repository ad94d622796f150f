//! The fake DocSpace as a file reconcile sees it: API keys with restricted scopes, per-file
//! download refusals, model-validation errors, the paged rooms and folder listings (search
//! areas, archived rooms, trash, unreadable folders, explicit `updated`, new versions) at the
//! scale of 10,000 files, all through real HTTP.

use std::collections::BTreeSet;

use bridge_fakes::docspace::{routes, DocSpaceOptions, FakeDocSpace};
use chrono::{TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

struct Portal {
    fake: FakeDocSpace,
    http: reqwest::Client,
}

impl Portal {
    async fn start() -> Portal {
        Portal::with(DocSpaceOptions::default()).await
    }

    async fn with(opts: DocSpaceOptions) -> Portal {
        Portal {
            fake: FakeDocSpace::start(opts).await.expect("fake starts"),
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.fake.url())
    }

    async fn get_as(&self, key: &str, path: &str) -> (StatusCode, String) {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .expect("request");
        (r.status(), r.text().await.expect("body"))
    }

    async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        let (status, body) = self.get_as(&self.fake.api_key(), path).await;
        (status, serde_json::from_str(&body).expect("JSON body"))
    }

    /// `response` of a 200 listing.
    async fn listing(&self, path: &str) -> Value {
        let (status, body) = self.get_json(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(body["count"], 1, "one object in the envelope");
        assert!(body.get("total").is_none(), "total lives inside response");
        body["response"].clone()
    }

    async fn control(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .request(method, self.url(&format!("/_fake{path}")))
            .json(&body)
            .send()
            .await
            .expect("control");
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn titles(list: &Value, kind: &str) -> Vec<String> {
    list[kind]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["title"].as_str().expect("title").to_string())
        .collect()
}

#[tokio::test]
async fn restricted_keys_need_the_routes_scope() {
    let p = Portal::with(DocSpaceOptions {
        api_key_permissions: vec!["files:read".into()],
        ..DocSpaceOptions::default()
    })
    .await;
    let room = p.fake.create_room("Finance");
    let file = p.fake.create_file(room, "a.docx", 10).expect("file");
    let group = p.fake.create_group("Team", &[]).expect("group");
    let key = p.fake.api_key();
    let cases = [
        (format!("/api/2.0/files/file/{file}"), true),
        (format!("/api/2.0/files/{room}"), true),
        (format!("/api/2.0/files/file/{file}/presigneduri"), true),
        ("/api/2.0/files/rooms".to_string(), false),
        ("/api/2.0/group".to_string(), false),
        (format!("/api/2.0/group/{group}"), false),
        ("/api/2.0/people/@self".to_string(), false),
    ];
    for (path, allowed) in &cases {
        let (status, body) = p.get_as(&key, path).await;
        if *allowed {
            assert_eq!(status, StatusCode::OK, "{path}");
        } else {
            // ASP.NET authorization forbids without a body.
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
            assert_eq!(body, "", "{path}");
        }
    }
    assert_eq!(p.fake.calls(routes::GROUP_LIST), 1, "refused calls count");

    // More keys of the same user, each with its own scopes.
    let people = p.fake.add_api_key(&["accounts:read", "accounts.self:read"]);
    assert!(people.starts_with("sk-") && people.len() == 35);
    assert_eq!(p.get_as(&people, "/api/2.0/group").await.0, StatusCode::OK);
    assert_eq!(
        p.get_as(&people, "/api/2.0/people/@self").await.0,
        StatusCode::OK
    );
    assert_eq!(
        p.get_as(&people, "/api/2.0/files/rooms").await.0,
        StatusCode::FORBIDDEN
    );
    let only_accounts = p.fake.add_api_key(&["accounts:read"]);
    assert_eq!(
        p.get_as(&only_accounts, "/api/2.0/people/@self").await.0,
        StatusCode::FORBIDDEN,
        "the profile scope is separate"
    );
    let rooms = p.fake.add_api_key(&["rooms:read"]);
    assert_eq!(
        p.get_as(&rooms, "/api/2.0/files/rooms").await.0,
        StatusCode::OK
    );
    assert_eq!(
        p.get_as(&rooms, &format!("/api/2.0/files/{room}")).await.0,
        StatusCode::FORBIDDEN
    );
    let reader = p.fake.add_api_key(&["*:read"]);
    for (path, _) in &cases {
        assert_eq!(p.get_as(&reader, path).await.0, StatusCode::OK, "{path}");
    }
    let refused = p
        .http
        .post(p.url("/api/2.0/group"))
        .bearer_auth(&reader)
        .json(&json!({"groupName": "New"}))
        .send()
        .await
        .expect("post");
    assert_eq!(
        refused.status(),
        StatusCode::FORBIDDEN,
        "*:read is no write"
    );
    for full in [p.fake.add_api_key(&[]), p.fake.add_api_key(&["*"])] {
        for (path, _) in &cases {
            assert_eq!(p.get_as(&full, path).await.0, StatusCode::OK, "{path}");
        }
    }

    // The same through the control API; unknown keys stay 401.
    let (status, v) = p
        .control(
            reqwest::Method::POST,
            "/api_keys",
            json!({"permissions": ["rooms:read"]}),
        )
        .await;
    assert_eq!(status, 200);
    let made = v["key"].as_str().expect("key").to_string();
    assert_eq!(
        p.get_as(&made, "/api/2.0/files/rooms").await.0,
        StatusCode::OK
    );
    let (status, _) = p
        .control(
            reqwest::Method::PUT,
            &format!("/api_keys/{key}"),
            json!({"permissions": []}),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(p.get_as(&key, "/api/2.0/group").await.0, StatusCode::OK);
    assert_eq!(
        p.get_as("sk-unknown", "/api/2.0/group").await.0,
        StatusCode::UNAUTHORIZED
    );
}

async fn presigned(p: &Portal, id: i64) -> String {
    let (status, body) = p
        .get_json(&format!("/api/2.0/files/file/{id}/presigneduri"))
        .await;
    assert_eq!(status, StatusCode::OK);
    body["response"].as_str().expect("url").to_string()
}

#[tokio::test]
async fn a_file_the_keys_user_may_not_download_is_refused_by_the_stream_handler() {
    let p = Portal::start().await;
    let room = p.fake.create_room("Finance");
    let secret = p.fake.create_file(room, "secret.pdf", 100).expect("file");
    let open = p.fake.create_file(room, "open.pdf", 100).expect("file");
    p.fake.set_download_denied(secret, true);
    let key = p.fake.api_key();
    let url = presigned(&p, secret).await;
    let r = p
        .http
        .get(&url)
        .bearer_auth(&key)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(r.text().await.expect("body"), "", "no body, for good");
    let again = p
        .http
        .get(&url)
        .bearer_auth(&key)
        .send()
        .await
        .expect("get");
    assert_eq!(again.status(), StatusCode::FORBIDDEN);
    let url = presigned(&p, open).await;
    let r = p
        .http
        .get(&url)
        .bearer_auth(&key)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.expect("bytes").len(), 100);
    // The file's metadata is still readable.
    let (status, body) = p.get_json(&format!("/api/2.0/files/file/{secret}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["response"]["title"], "secret.pdf");

    // Through the control API, and cleared again.
    let (status, _) = p
        .control(
            reqwest::Method::PUT,
            &format!("/files/{open}/download"),
            json!({"denied": true}),
        )
        .await;
    assert_eq!(status, 204);
    let r = p
        .http
        .get(&url)
        .bearer_auth(&key)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    p.fake.set_download_denied(open, false);
    let r = p
        .http
        .get(&url)
        .bearer_auth(&key)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(p.fake.knobs().download_denied_file_ids == [secret]);
}

#[tokio::test]
async fn validation_errors_are_problem_details_inside_the_envelope() {
    let p = Portal::start().await;
    let room = p.fake.create_room("Finance");
    for (path, key, message) in [
        (
            "/api/2.0/files/rooms?count=101".to_string(),
            "count",
            "The field Count must be between 1 and 100.",
        ),
        (
            format!("/api/2.0/files/{room}?count=0"),
            "count",
            "The field Count must be between 1 and 100.",
        ),
        (
            "/api/2.0/group?count=abc".to_string(),
            "count",
            "The value 'abc' is not valid for Count.",
        ),
        (
            format!("/api/2.0/files/{room}?startIndex=-1"),
            "startIndex",
            "The field StartIndex must be between 0 and 2147483647.",
        ),
        (
            "/api/2.0/files/rooms?searchArea=Deleted".to_string(),
            "searchArea",
            "The value 'Deleted' is not valid for SearchArea.",
        ),
    ] {
        let (status, body) = p.get_json(&path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(body["status"], 1, "{path}");
        assert_eq!(body["statusCode"], 400, "{path}");
        assert!(body.get("error").is_none(), "{path}: not an error envelope");
        assert!(
            body.get("title").is_none(),
            "{path}: title is never top level"
        );
        let r = &body["response"];
        assert_eq!(r["title"], "One or more validation errors occurred.");
        assert_eq!(r["status"], 400);
        assert_eq!(
            r["type"],
            "https://tools.ietf.org/html/rfc9110#section-15.5.1"
        );
        assert_eq!(r["errors"], json!({ key: [message] }), "{path}");
        assert!(r["traceId"].as_str().is_some_and(|t| t.starts_with("00-")));
        assert_eq!(body["links"][0]["action"], "GET");
    }
    // Both problems at once.
    let (_, body) = p
        .get_json("/api/2.0/files/rooms?count=500&searchArea=9")
        .await;
    let errors = body["response"]["errors"].as_object().expect("errors");
    assert_eq!(errors.keys().collect::<Vec<_>>(), ["count", "searchArea"]);
}

#[tokio::test]
async fn rooms_listing_pages_and_follows_the_search_area() {
    let p = Portal::start().await;
    let ids: Vec<i64> = ["Delta", "Alpha", "Echo", "Charlie", "Bravo"]
        .iter()
        .map(|t| p.fake.create_room(t))
        .collect();
    let archived = p.fake.create_room("Archived one");
    let inner = p.fake.create_folder(archived, "Old").expect("folder");
    let old_file = p.fake.create_file(inner, "old.docx", 5).expect("file");
    p.fake.archive_room(archived).expect("archive");

    // By title: asked for once, it is the key user's order from then on.
    let r = p
        .listing("/api/2.0/files/rooms?count=2&startIndex=1&sortBy=AZ&sortOrder=ascending")
        .await;
    assert_eq!(titles(&r, "folders"), ["Bravo", "Charlie"]);
    assert_eq!(
        (r["total"].as_u64(), r["count"].as_u64()),
        (Some(5), Some(2))
    );
    assert_eq!(r["startIndex"], 1);
    assert_eq!(r["files"], json!([]));
    assert_eq!(r["current"]["id"], 1);
    assert_eq!(r["current"]["title"], "Rooms");
    assert_eq!(
        r["pathParts"],
        json!([{"id": 1, "title": "Rooms", "folderType": 14}])
    );
    let room = &r["folders"][0];
    assert_eq!(room["id"], ids[4]);
    assert_eq!(room["parentId"], 1);
    assert_eq!(room["roomType"], 5);
    assert!(room["updated"].as_str().is_some_and(|d| d.ends_with('Z')));

    // Archived rooms: only with searchArea Archive (1) or Any (2), by name or number.
    for q in ["searchArea=Archive", "searchArea=1", "SEARCHAREA=archive"] {
        let r = p.listing(&format!("/api/2.0/files/rooms?{q}")).await;
        assert_eq!(titles(&r, "folders"), ["Archived one"], "{q}");
        assert_eq!(r["current"]["id"], 3, "{q}: the Archive section");
        assert_eq!(r["folders"][0]["rootFolderType"], 20);
        assert_eq!(r["folders"][0]["parentId"], 3);
    }
    for q in ["searchArea=Any", "searchArea=2"] {
        let r = p.listing(&format!("/api/2.0/files/rooms?{q}")).await;
        assert_eq!(r["total"], 6, "{q}");
    }
    for q in ["searchArea=Active", "searchArea=0", ""] {
        let r = p.listing(&format!("/api/2.0/files/rooms?{q}")).await;
        assert_eq!(r["total"], 5, "{q}");
    }
    let r = p.listing("/api/2.0/files/rooms?searchArea=Templates").await;
    assert_eq!(r["total"], 0);
    // Everything in an archived room moved with it.
    let (_, f) = p.get_json(&format!("/api/2.0/files/file/{old_file}")).await;
    assert_eq!(f["response"]["rootFolderType"], 20);
    assert_eq!(f["response"]["rootFolderId"], 3);

    // Back from the archive through the control API.
    let (status, _) = p
        .control(
            reqwest::Method::POST,
            &format!("/rooms/{archived}/unarchive"),
            json!({}),
        )
        .await;
    assert_eq!(status, 204);
    let r = p.listing("/api/2.0/files/rooms").await;
    assert_eq!(r["total"], 6);
    let (status, _) = p
        .control(
            reqwest::Method::POST,
            &format!("/rooms/{archived}/archive"),
            json!({}),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(p.listing("/api/2.0/files/rooms").await["total"], 5);
    assert_eq!(p.fake.calls(routes::ROOMS_LIST), 12);
}

#[tokio::test]
async fn folder_listing_leaves_out_the_trash_and_what_the_key_cannot_read() {
    let p = Portal::start().await;
    let room = p.fake.create_room("Projects");
    let visible = p.fake.create_folder(room, "Visible").expect("folder");
    let hidden = p.fake.create_folder(room, "Hidden").expect("folder");
    let nested = p.fake.create_folder(hidden, "Nested").expect("folder");
    let in_hidden = p.fake.create_file(nested, "deep.docx", 10).expect("file");
    let keep = p.fake.create_file(room, "keep.docx", 10).expect("file");
    let gone = p.fake.create_file(room, "gone.docx", 10).expect("file");

    p.fake.trash_file(gone).expect("trash");
    let r = p.listing(&format!("/api/2.0/files/{room}")).await;
    assert_eq!(titles(&r, "files"), ["keep.docx"]);
    assert_eq!(r["current"]["filesCount"], 1);
    // The trashed file still answers, from the trash, with its origin.
    let (_, f) = p.get_json(&format!("/api/2.0/files/file/{gone}")).await;
    assert_eq!(f["response"]["folderId"], 4);
    assert_eq!(f["response"]["rootFolderType"], 3);
    assert_eq!(f["response"]["originId"], room);
    assert_eq!(f["response"]["originRoomTitle"], "Projects");
    let r = p.listing("/api/2.0/files/4").await;
    assert_eq!(titles(&r, "files"), ["gone.docx"]);
    let (status, _) = p
        .control(
            reqwest::Method::POST,
            &format!("/files/{gone}/restore"),
            json!({}),
        )
        .await;
    assert_eq!(status, 204);
    let r = p.listing(&format!("/api/2.0/files/{room}")).await;
    assert_eq!(titles(&r, "files"), ["gone.docx", "keep.docx"]);
    let (status, _) = p
        .control(
            reqwest::Method::POST,
            &format!("/files/{gone}/trash"),
            json!({}),
        )
        .await;
    assert_eq!(status, 204);

    // A folder the key's user cannot read: 403 envelope on it and below, absent from its parent.
    p.fake.set_folder_readable(hidden, false);
    let r = p.listing(&format!("/api/2.0/files/{room}")).await;
    assert_eq!(titles(&r, "folders"), ["Visible"]);
    assert_eq!(r["total"], 2);
    for path in [
        format!("/api/2.0/files/{hidden}"),
        format!("/api/2.0/files/{nested}"),
        format!("/api/2.0/files/folder/{nested}"),
    ] {
        let (status, body) = p.get_json(&path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(body["statusCode"], 403);
        assert_eq!(body["status"], 1);
        assert_eq!(
            body["error"]["message"],
            "You don't have enough permission to view the folder content"
        );
    }
    for path in [
        format!("/api/2.0/files/file/{in_hidden}"),
        format!("/api/2.0/files/file/{in_hidden}/presigneduri"),
    ] {
        let (status, body) = p.get_json(&path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(
            body["error"]["message"],
            "You don't have enough permission to view the file"
        );
    }
    // A room: left out of files/rooms.
    let other = p.fake.create_room("Secret room");
    let (status, _) = p
        .control(
            reqwest::Method::PUT,
            &format!("/folders/{other}/readable"),
            json!({"readable": false}),
        )
        .await;
    assert_eq!(status, 204);
    let r = p.listing("/api/2.0/files/rooms").await;
    assert_eq!(titles(&r, "folders"), ["Projects"]);
    let (status, _) = p.get_json(&format!("/api/2.0/files/{other}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    p.fake.set_folder_readable(other, true);
    p.fake.set_folder_readable(hidden, true);
    assert_eq!(p.listing("/api/2.0/files/rooms").await["total"], 2);
    let r = p.listing(&format!("/api/2.0/files/{hidden}")).await;
    assert_eq!(titles(&r, "folders"), ["Nested"]);
    assert_eq!(p.fake.knobs().unreadable_folder_ids, Vec::<i64>::new());
    let _ = (visible, keep);
}

#[tokio::test]
async fn updated_can_be_set_and_a_new_version_bumps_it() {
    let p = Portal::start().await;
    let room = p.fake.create_room("Finance");
    let old = p.fake.create_file(room, "old.xlsx", 10).expect("file");
    let at = Utc.with_ymd_and_hms(2020, 1, 2, 3, 4, 5).unwrap();
    p.fake.set_file_updated(old, at).expect("updated");
    let r = p.listing(&format!("/api/2.0/files/{room}")).await;
    let entry = &r["files"][0];
    assert_eq!(entry["updated"], "2020-01-02T03:04:05.0000000Z");
    assert_eq!(entry["version"], 1);
    assert_eq!(entry["id"], old);
    assert_eq!(entry["folderId"], room);
    assert_eq!(entry["fileExst"], ".xlsx");
    assert_eq!(entry["pureContentLength"], 10);
    assert_eq!(entry["title"], "old.xlsx");

    assert_eq!(p.fake.new_version(old, 20).expect("version"), 2);
    let r = p.listing(&format!("/api/2.0/files/{room}")).await;
    let entry = &r["files"][0];
    assert_eq!(entry["version"], 2);
    assert_eq!(entry["pureContentLength"], 20);
    let updated = entry["updated"].as_str().expect("updated");
    assert!(updated > "2020-01-02T03:04:05.0000000Z", "{updated}");

    // Control API: a file created "older than X", and `updated` set afterwards.
    let (status, v) = p
        .control(
            reqwest::Method::POST,
            "/files",
            json!({"folder_id": room, "title": "aged.docx", "size": 3,
                   "updated": "2019-06-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, 200);
    let aged = v["id"].as_i64().expect("id");
    let (_, f) = p.get_json(&format!("/api/2.0/files/file/{aged}")).await;
    assert_eq!(f["response"]["updated"], "2019-06-01T00:00:00.0000000Z");
    let (status, _) = p
        .control(
            reqwest::Method::PUT,
            &format!("/files/{aged}/updated"),
            json!({"updated": "2018-01-01T12:00:00+02:00"}),
        )
        .await;
    assert_eq!(status, 204);
    let (_, f) = p.get_json(&format!("/api/2.0/files/file/{aged}")).await;
    assert_eq!(f["response"]["updated"], "2018-01-01T10:00:00.0000000Z");
}

#[tokio::test]
async fn ten_thousand_files_in_500_folders_are_listed_page_by_page() {
    let p = Portal::start().await;
    let mut expected = BTreeSet::new();
    let mut rooms = Vec::new();
    for r in 0..5 {
        let room = p.fake.create_room(&format!("Room {r}"));
        rooms.push(room);
        for f in 0..100 {
            let folder = p
                .fake
                .create_folder(room, &format!("Folder {f:03}"))
                .expect("folder");
            let ids = p
                .fake
                .create_files(folder, "Doc ", ".docx", 20, 1)
                .expect("files");
            expected.extend(ids);
        }
    }
    // Three more in the first room itself, through the control API's bulk call.
    let (status, v) = p
        .control(
            reqwest::Method::POST,
            "/files/bulk",
            json!({"folder_id": rooms[0], "count": 3, "size": 2}),
        )
        .await;
    assert_eq!(status, 200);
    let extra: Vec<i64> = serde_json::from_value(v["ids"].clone()).expect("ids");
    assert_eq!(extra.len(), 3);
    expected.extend(extra);
    assert_eq!(expected.len(), 10_003);
    p.fake.reset_stats();

    // Walk: rooms, then every folder, 100 entries a page at most.
    let mut seen = BTreeSet::new();
    let mut queue = Vec::new();
    let mut start = 0;
    loop {
        let r = p
            .listing(&format!(
                "/api/2.0/files/rooms?count=100&startIndex={start}"
            ))
            .await;
        queue.extend(
            r["folders"]
                .as_array()
                .expect("rooms")
                .iter()
                .map(|f| f["id"].clone()),
        );
        start += 100;
        if start >= r["total"].as_u64().expect("total") as usize {
            break;
        }
    }
    let mut pages = 0;
    while let Some(id) = queue.pop() {
        let mut start = 0;
        loop {
            let r = p
                .listing(&format!("/api/2.0/files/{id}?count=100&startIndex={start}"))
                .await;
            pages += 1;
            let files = r["files"].as_array().expect("files");
            let folders = r["folders"].as_array().expect("folders");
            assert!(files.len() + folders.len() <= 100);
            assert_eq!(
                r["count"].as_u64(),
                Some((files.len() + folders.len()) as u64)
            );
            queue.extend(folders.iter().map(|f| f["id"].clone()));
            for f in files {
                assert_eq!(f["version"], 1);
                seen.insert(f["id"].as_i64().expect("id"));
            }
            start += 100;
            if start >= r["total"].as_u64().expect("total") as usize {
                break;
            }
        }
    }
    assert_eq!(seen, expected);
    // 5 rooms of 100 folders (the first also holds 3 files: two pages) + 500 folders of 20.
    assert_eq!(pages, 506);
    assert_eq!(p.fake.calls(routes::ROOMS_LIST), 1);
    assert_eq!(p.fake.calls(routes::FOLDER_LIST), 506);
}

/// A folder's listing sorted by title is in title order, folders first, page after page, and a
/// file renamed or moved takes its new place (or leaves) at once.
#[tokio::test]
async fn a_folder_listing_keeps_title_order_through_renames_and_moves() {
    let p = Portal::start().await;
    // The key user's order from then on.
    p.listing("/api/2.0/files/rooms?sortBy=AZ&sortOrder=ascending")
        .await;
    let room = p.fake.create_room("Order");
    let other = p.fake.create_room("Elsewhere");
    p.fake.create_folder(room, "b-folder").expect("folder");
    p.fake.create_folder(room, "a-folder").expect("folder");
    let mut ids = Vec::new();
    for name in ["d.txt", "b.txt", "e.txt", "a.txt", "c.txt"] {
        ids.push(p.fake.create_file(room, name, 1).expect("file"));
    }
    // Every page of the room, three entries a page.
    async fn listed(p: &Portal, room: i64) -> Vec<String> {
        let mut names = Vec::new();
        let mut start = 0;
        loop {
            let r = p
                .listing(&format!("/api/2.0/files/{room}?count=3&startIndex={start}"))
                .await;
            names.extend(titles(&r, "folders"));
            names.extend(titles(&r, "files"));
            start += 3;
            if start >= r["total"].as_u64().expect("total") as usize {
                return names;
            }
        }
    }
    assert_eq!(
        listed(&p, room).await,
        ["a-folder", "b-folder", "a.txt", "b.txt", "c.txt", "d.txt", "e.txt"]
    );
    // d.txt → 0.txt, first of the files; b.txt moves out.
    p.fake.rename_file(ids[0], "0.txt").expect("rename");
    p.fake.move_file(ids[1], other).expect("move");
    assert_eq!(
        listed(&p, room).await,
        ["a-folder", "b-folder", "0.txt", "a.txt", "c.txt", "e.txt"]
    );
    let r = p
        .listing(&format!("/api/2.0/files/{room}?count=2&startIndex=1"))
        .await;
    assert_eq!(titles(&r, "folders"), ["b-folder"]);
    assert_eq!(titles(&r, "files"), ["0.txt"]);
    assert_eq!(r["total"], 6);
    assert_eq!(r["count"], 2);
    let r = p
        .listing(&format!("/api/2.0/files/{room}?filterValue=A"))
        .await;
    assert_eq!(titles(&r, "folders"), ["a-folder"]);
    assert_eq!(titles(&r, "files"), ["a.txt"]);
    assert_eq!(r["total"], 2);
}

#[tokio::test]
async fn the_latency_knob_holds_listing_calls_in_flight() {
    let p = Portal::start().await;
    let room = p.fake.create_room("Slow");
    p.fake.update_knobs(|k| {
        k.latency_ms = 300;
        k.max_concurrent_gets = Some(1);
    });
    let mut tasks = Vec::new();
    for path in [
        "/api/2.0/files/rooms".to_string(),
        format!("/api/2.0/files/{room}"),
    ] {
        for _ in 0..2 {
            let http = p.http.clone();
            let url = p.url(&path);
            let key = p.fake.api_key();
            tasks.push(tokio::spawn(async move {
                http.get(url)
                    .bearer_auth(key)
                    .send()
                    .await
                    .expect("get")
                    .status()
                    .as_u16()
            }));
        }
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("join"));
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(statuses.contains(&200), "{statuses:?}");
    assert_eq!(
        p.fake.calls(routes::ROOMS_LIST) + p.fake.calls(routes::FOLDER_LIST),
        4
    );
}
