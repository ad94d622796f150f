//! The fake DocSpace's API surface: envelope shapes, paging, errors, auth, DTO details, knobs and
//! the `/_fake` control API, all through real HTTP.

use bridge_fakes::docspace::{routes, DocSpaceOptions, FakeDocSpace, NewUser, UserStatus};
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
        let fake = FakeDocSpace::start(opts).await.expect("fake starts");
        Portal {
            fake,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.fake.url())
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(self.fake.api_key())
            .send()
            .await
            .expect("request")
    }

    async fn get_json(&self, path: &str) -> (u16, Value) {
        let resp = self.get(path).await;
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("json body"))
    }
}

fn is_api_date(s: &str) -> bool {
    // yyyy-MM-ddTHH:mm:ss.fffffff then Z or ±hh:mm
    let b = s.as_bytes();
    b.len() >= 28
        && b[4] == b'-'
        && b[10] == b'T'
        && b[19] == b'.'
        && s[20..27].chars().all(|c| c.is_ascii_digit())
        && (s.ends_with('Z') || (s.len() == 33 && (b[27] == b'+' || b[27] == b'-')))
}

#[tokio::test]
async fn group_list_pages_with_count_and_total() {
    let p = Portal::start().await;
    for i in 0..5 {
        p.fake.create_group(&format!("Team {i}"), &[]).unwrap();
    }
    let (status, body) = p.get_json("/api/2.0/group?count=2&startIndex=2").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], 0);
    assert_eq!(body["statusCode"], 200);
    assert_eq!(body["count"], 2);
    assert_eq!(body["total"], 5);
    let names: Vec<&str> = body["response"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Team 2", "Team 3"]);
    assert!(body["response"][0].get("members").is_none());
    assert_eq!(body["links"][0]["action"], "GET");
    assert!(body["links"][0]["href"]
        .as_str()
        .unwrap()
        .ends_with("/api/2.0/group?count=2&startIndex=2"));

    // Last page, parameter names are case-insensitive, filterValue narrows total.
    let (_, body) = p.get_json("/api/2.0/group?Count=2&StartIndex=4").await;
    assert_eq!(
        (body["count"].as_u64(), body["total"].as_u64()),
        (Some(1), Some(5))
    );
    let (_, body) = p.get_json("/api/2.0/group?filterValue=team%203").await;
    assert_eq!(
        (body["count"].as_u64(), body["total"].as_u64()),
        (Some(1), Some(1))
    );
    // Default count is 100.
    let (_, body) = p.get_json("/api/2.0/group").await;
    assert_eq!(body["count"], 5);
}

#[tokio::test]
async fn count_over_100_or_garbage_is_400_envelope() {
    let p = Portal::start().await;
    for q in ["count=101", "count=0", "count=abc", "startIndex=-1"] {
        let (status, body) = p.get_json(&format!("/api/2.0/group?{q}")).await;
        assert_eq!(status, 400, "{q}");
        assert_eq!(body["statusCode"], 400);
        assert_eq!(body["status"], 1);
    }
}

#[tokio::test]
async fn group_with_members_lists_active_and_pending_only() {
    let p = Portal::start().await;
    let ann = p.fake.add_active_user("Ann", "Able", "ann@example.com");
    let ben = p
        .fake
        .add_user(NewUser::new("Ben", "Best", "ben@example.com").pending());
    let cat = p.fake.add_active_user("Cat", "Cole", "cat@example.com");
    let g = p
        .fake
        .create_group_with_manager("Sales", ann, &[ben, cat])
        .unwrap();
    p.fake.set_user_status(cat, UserStatus::Terminated).unwrap();

    let (status, body) = p.get_json(&format!("/api/2.0/group/{g}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["count"], 1);
    assert!(body.get("total").is_none());
    let group = &body["response"];
    assert_eq!(group["id"], g.to_string());
    assert_eq!(group["name"], "Sales");
    assert_eq!(group["isLDAP"], false);
    assert_eq!(group["manager"]["email"], "ann@example.com");
    let members = group["members"].as_array().unwrap();
    let emails: Vec<&str> = members
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["ann@example.com", "ben@example.com"]);
    let ben_json = &members[1];
    assert_eq!(ben_json["status"], 4);
    assert_eq!(ben_json["activationStatus"], 2);
    assert_eq!(ben_json["displayName"], "Ben Best");
    assert_eq!(ben_json["userName"], "ben");
    assert_eq!(ben_json["isAdmin"], false);
    assert_eq!(ben_json["groups"][0]["id"], g.to_string());
    assert!(is_api_date(ben_json["registrationDate"].as_str().unwrap()));

    let (_, body) = p
        .get_json(&format!("/api/2.0/group/{g}?includeMembers=false"))
        .await;
    assert!(body["response"].get("members").is_none());
    assert_eq!(
        p.fake.group_member_emails(g),
        ["ann@example.com", "ben@example.com"]
    );
}

#[tokio::test]
async fn unknown_entities_are_404_envelopes() {
    let p = Portal::start().await;
    for path in [
        "/api/2.0/group/3f2504e0-4f89-11d3-9a0c-0305e82c3301",
        "/api/2.0/group/not-a-guid",
        "/api/2.0/files/file/999",
        "/api/2.0/files/file/abc",
        "/api/2.0/files/folder/999",
        "/api/2.0/files/999",
        "/api/2.0/files/file/999/presigneduri",
        "/api/2.0/nope",
    ] {
        let (status, body) = p.get_json(path).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["status"], 1, "{path}");
        assert_eq!(body["statusCode"], 404, "{path}");
        assert!(
            body["error"]["message"].as_str().unwrap().len() > 3,
            "{path}"
        );
        for k in ["type", "stack", "hresult"] {
            assert!(body["error"].get(k).is_some(), "{path} error.{k}");
        }
    }
}

#[tokio::test]
async fn api_key_is_required() {
    let p = Portal::start().await;
    let resp = p
        .http
        .get(p.url("/api/2.0/people/@self"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(resp.bytes().await.unwrap().is_empty());

    let resp = p
        .http
        .get(p.url("/api/2.0/people/@self"))
        .bearer_auth("sk-wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["statusCode"], 401);

    let (status, body) = p.get_json("/api/2.0/people/@self").await;
    assert_eq!(status, 200);
    assert_eq!(body["response"]["id"], p.fake.self_user_id().to_string());
    assert_eq!(body["response"]["email"], "bridge@example.com");
    assert_eq!(p.fake.calls(routes::PEOPLE_SELF), 3);
}

/// The file routes DocSpace also serves to anonymous callers (`[AllowAnonymous]`) take a key
/// it does not know (expired, revoked, wrong) as no credentials at all; its API key scope filter
/// then forbids the request with an empty 403, where every other route answers 401.
#[tokio::test]
async fn an_unknown_key_is_a_bare_403_on_the_routes_that_allow_anonymous_callers() {
    let p = Portal::start().await;
    let room = p.fake.create_room("Shared");
    let folder = p.fake.create_folder(room, "2026").unwrap();
    let file = p.fake.create_file(folder, "a.txt", 1).unwrap();
    // (path, status): an empty 403 where anonymous callers are served, 401 elsewhere.
    let cases = [
        (format!("/api/2.0/files/file/{file}"), 403),
        (format!("/api/2.0/files/{folder}"), 403),
        (format!("/api/2.0/files/folder/{folder}"), 403),
        ("/api/2.0/people/@self".to_string(), 401),
        ("/api/2.0/files/rooms".to_string(), 401),
        (format!("/api/2.0/files/file/{file}/presigneduri"), 401),
    ];
    for (path, status) in cases {
        let resp = p
            .http
            .get(p.url(&path))
            .bearer_auth("sk-expired")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status, "{path}");
        let body = resp.bytes().await.unwrap();
        assert_eq!(body.is_empty(), status == 403, "{path}");
    }
}

#[tokio::test]
async fn custom_key_and_self_user() {
    let id = uuid::Uuid::new_v4();
    let p = Portal::with(DocSpaceOptions {
        api_key: "sk-0011".into(),
        self_user_id: id,
        self_email: "svc@corp.example".into(),
        tz_offset_minutes: 180,
        ..Default::default()
    })
    .await;
    assert_eq!(p.fake.api_key(), "sk-0011");
    let (status, body) = p.get_json("/api/2.0/people/@self").await;
    assert_eq!(status, 200);
    assert_eq!(body["response"]["id"], id.to_string());
    assert_eq!(body["response"]["email"], "svc@corp.example");
    let date = body["response"]["registrationDate"].as_str().unwrap();
    assert!(is_api_date(date) && date.ends_with("+03:00"), "{date}");
}

#[tokio::test]
async fn file_dto_matches_the_wire() {
    let p = Portal::start().await;
    let room = p.fake.create_room("Finance");
    let folder = p.fake.create_folder(room, "2026").unwrap();
    let id = p.fake.create_file(folder, "Budget.XLSX", 12_595).unwrap();
    assert_eq!(p.fake.new_version(id, 20_000).unwrap(), 2);
    let empty = p.fake.create_file(folder, "notes", 0).unwrap();

    let (status, body) = p.get_json(&format!("/api/2.0/files/file/{id}")).await;
    assert_eq!(status, 200);
    let f = &body["response"];
    assert_eq!(f["id"], id);
    assert_eq!(f["title"], "Budget.XLSX");
    assert_eq!(f["folderId"], folder);
    assert_eq!(f["version"], 2);
    assert_eq!(f["versionGroup"], 2);
    assert_eq!(f["pureContentLength"], 20_000);
    assert_eq!(f["contentLength"], "19.53 KB");
    assert_eq!(f["fileExst"], ".xlsx");
    assert_eq!(f["fileType"], 5);
    assert_eq!(f["rootFolderId"], 1);
    assert_eq!(f["rootFolderType"], 14);
    assert_eq!(f["fileEntryType"], 2);
    assert_eq!(f["security"]["Download"], true);
    assert!(f.get("contentType").is_none());
    assert!(is_api_date(f["created"].as_str().unwrap()));
    assert!(is_api_date(f["updated"].as_str().unwrap()));
    assert!(f["viewUrl"].as_str().unwrap().starts_with(&format!(
        "{}/filehandler.ashx?action=download&fileid={id}",
        p.fake.url()
    )));

    let (_, body) = p
        .get_json(&format!("/api/2.0/files/file/{id}?version=1"))
        .await;
    assert_eq!(body["response"]["version"], 1);
    assert_eq!(body["response"]["pureContentLength"], 12_595);
    assert_eq!(body["response"]["contentLength"], "12.3 KB");
    let (status, _) = p
        .get_json(&format!("/api/2.0/files/file/{id}?version=3"))
        .await;
    assert_eq!(status, 404);

    let (_, body) = p.get_json(&format!("/api/2.0/files/file/{empty}")).await;
    assert!(body["response"].get("pureContentLength").is_none());
    assert_eq!(body["response"]["fileExst"], "");
    assert_eq!(body["response"]["fileType"], 0);
}

#[tokio::test]
async fn folder_listing_has_path_parts_and_inner_total() {
    let p = Portal::start().await;
    let room = p.fake.create_room("Finance");
    let folder = p.fake.create_folder(room, "2026").unwrap();
    p.fake.create_folder(folder, "Q1").unwrap();
    for name in ["b.docx", "a.docx", "c.pdf"] {
        p.fake.create_file(folder, name, 10).unwrap();
    }
    let (status, body) = p
        .get_json(&format!("/api/2.0/files/{folder}?count=2&startIndex=1"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["count"], 1, "envelope count is 1 for an object");
    assert!(
        body.get("total").is_none(),
        "total lives inside response here"
    );
    let r = &body["response"];
    assert_eq!(r["total"], 4);
    assert_eq!(r["count"], 2);
    assert_eq!(r["startIndex"], 1);
    let titles: Vec<&str> = r["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["title"].as_str().unwrap())
        .collect();
    // Last modified first: the default order of a user who never chose one.
    assert_eq!(titles, ["c.pdf", "a.docx"]);
    assert_eq!(r["folders"].as_array().unwrap().len(), 0);
    assert_eq!(r["current"]["id"], folder);
    assert_eq!(r["current"]["parentId"], room);
    assert_eq!(r["current"]["inRoom"], true);
    assert_eq!(r["current"]["filesCount"], 3);
    assert_eq!(
        r["pathParts"],
        json!([
            {"id": 1, "title": "Rooms", "folderType": 14},
            {"id": room, "title": "Finance", "roomType": 5, "folderType": 19},
            {"id": folder, "title": "2026"},
        ])
    );
    assert_eq!(p.fake.folder_path(folder), ["Rooms", "Finance", "2026"]);

    let (_, body) = p.get_json(&format!("/api/2.0/files/folder/{room}")).await;
    assert_eq!(body["response"]["roomType"], 5);
    assert_eq!(body["response"]["foldersCount"], 1);
    let (_, body) = p.get_json("/api/2.0/files/rooms").await;
    assert_eq!(body["response"]["folders"][0]["title"], "Finance");
}

#[tokio::test]
async fn scripted_429_carries_the_real_limiters_headers() {
    let p = Portal::start().await;
    // A GET hits the per-minute sliding window: Limit and Remaining only.
    p.fake.fail_next(Some(routes::GROUP_LIST), 429, 1);
    let resp = p.get("/api/2.0/group").await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["x-ratelimit-limit"], "1500");
    assert_eq!(resp.headers()["x-ratelimit-remaining"], "0");
    assert!(resp.headers().get("x-ratelimit-reset").is_none());
    assert!(resp.headers().get("retry-after").is_none());
    assert_eq!(p.get("/api/2.0/group").await.status(), 200);

    // A write hits the daily fixed window: Reset is the window's end in Unix seconds.
    p.fake.fail_next(None, 429, 1);
    let before = chrono::Utc::now().timestamp();
    let resp = p
        .http
        .post(p.url("/api/2.0/group"))
        .bearer_auth(p.fake.api_key())
        .json(&json!({"groupName": "Limited"}))
        .send()
        .await
        .unwrap();
    let after = chrono::Utc::now().timestamp();
    assert_eq!(resp.status(), 429);
    let reset: i64 = resp.headers()["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((before + 60..=after + 60).contains(&reset), "{reset}");
    assert!(resp.headers().get("retry-after").is_none());

    // Opt-in: Reset on GETs too, and a Retry-After real DocSpace does not send.
    p.fake.update_knobs(|k| {
        k.retry_after_secs = Some(7);
        k.ratelimit_reset_secs = 7;
        k.ratelimit_reset_on_get = true;
    });
    p.fake.fail_next(None, 429, 1);
    let before = chrono::Utc::now().timestamp();
    let resp = p.get("/api/2.0/people/@self").await;
    let after = chrono::Utc::now().timestamp();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    let reset: i64 = resp.headers()["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((before + 7..=after + 7).contains(&reset), "{reset}");

    p.fake.fail_next(Some(routes::FILE_GET), 503, 2);
    let (status, body) = p.get_json("/api/2.0/files/file/1").await;
    assert_eq!((status, body["statusCode"].as_u64()), (503, Some(503)));
    assert_eq!(p.get("/api/2.0/files/file/1").await.status(), 503);
    assert_eq!(p.get("/api/2.0/files/file/1").await.status(), 404);
    assert_eq!(p.fake.calls(routes::FILE_GET), 3);
}

#[tokio::test]
async fn random_failure_rates_apply() {
    let p = Portal::start().await;
    p.fake.update_knobs(|k| k.rate_5xx = 1.0);
    assert_eq!(p.get("/api/2.0/group").await.status(), 500);
    p.fake.update_knobs(|k| {
        k.rate_5xx = 0.0;
        k.rate_429 = 1.0;
    });
    assert_eq!(p.get("/api/2.0/group").await.status(), 429);
    p.fake.update_knobs(|k| k.rate_429 = 0.0);
    assert_eq!(p.get("/api/2.0/group").await.status(), 200);
    assert_eq!(p.fake.total_calls(), 3);
}

#[tokio::test]
async fn concurrency_is_measured_and_limited() {
    let p = Portal::start().await;
    p.fake.update_knobs(|k| {
        k.latency_ms = 300;
        k.max_concurrent_gets = Some(3);
    });
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let http = p.http.clone();
        let url = p.url("/api/2.0/group");
        let key = p.fake.api_key();
        tasks.push(tokio::spawn(async move {
            http.get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    // The three slow requests overlap every rejected one; rejected ones may not overlap each other.
    assert!((4..=5).contains(&p.fake.max_concurrency_seen()));
    p.fake.reset_stats();
    assert_eq!(p.fake.total_calls(), 0);
}

#[tokio::test]
async fn control_api_mutates_state_and_knobs() {
    let p = Portal::start().await;
    let c = |path: &str| format!("{}/_fake{path}", p.fake.url());
    let user: Value = p
        .http
        .post(c("/users"))
        .json(&json!({"first_name": "Dee", "last_name": "Dow", "email": "dee@example.com"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let uid = user["id"].as_str().unwrap().to_string();
    let group: Value = p
        .http
        .post(c("/groups"))
        .json(&json!({"name": "Ops", "members": [uid]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let gid = group["id"].as_str().unwrap().to_string();
    let resp = p
        .http
        .put(c(&format!("/groups/{gid}")))
        .json(&json!({"name": "Operations"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let (_, body) = p.get_json(&format!("/api/2.0/group/{gid}")).await;
    assert_eq!(body["response"]["name"], "Operations");
    assert_eq!(body["response"]["members"][0]["email"], "dee@example.com");

    let knobs: Value = p
        .http
        .post(c("/knobs"))
        .json(&json!({"foreign_origin": true, "latency_ms": 5}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(knobs["foreign_origin"], true);
    assert!(p.fake.knobs().foreign_origin);
    assert_eq!(p.fake.knobs().latency_ms, 5);
    let resp = p
        .http
        .post(c("/knobs"))
        .json(&json!({"no_such_knob": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    let seed: Value = p
        .http
        .post(c("/seed"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seed["groups"].as_array().unwrap().len(), 3);
    let stats: Value = p
        .http
        .get(c("/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["calls"]["group.get"], 1);
}

#[tokio::test]
async fn api_group_writes_change_state() {
    let p = Portal::start().await;
    let ann = p.fake.add_active_user("Ann", "Able", "ann@example.com");
    let resp = p
        .http
        .post(p.url("/api/2.0/group"))
        .bearer_auth(p.fake.api_key())
        .json(&json!({"groupName": "New", "members": [ann]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let gid: uuid::Uuid = body["response"]["id"].as_str().unwrap().parse().unwrap();
    let resp = p
        .http
        .put(p.url(&format!("/api/2.0/group/{gid}")))
        .bearer_auth(p.fake.api_key())
        .json(&json!({"groupName": "Renamed", "membersToRemove": [ann]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let g = p.fake.group(gid).unwrap();
    assert_eq!(g.name, "Renamed");
    assert!(g.members.is_empty());
    let resp = p
        .http
        .delete(p.url(&format!("/api/2.0/group/{gid}")))
        .bearer_auth(p.fake.api_key())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(p.fake.group(gid).is_none());
}

/// Without `sortBy` a listing comes in the key user's saved order, last modified first until they
/// choose another: a file changed while a client pages through the folder moves to the front and
/// shifts the rest. Naming a `sortBy` sorts by it and saves it as that user's default
/// (`FileStorageService.GetFolderItemsAsync` calls `SetDefaultOrder`).
#[tokio::test]
async fn a_listing_comes_in_the_users_saved_order_last_modified_first_by_default() {
    let p = Portal::start().await;
    let room = p.fake.create_room("Finance");
    let mut ids = Vec::new();
    for name in ["b.docx", "a.docx", "c.pdf"] {
        ids.push(p.fake.create_file(room, name, 10).unwrap());
    }
    let titles = |body: &Value| -> Vec<String> {
        body["response"]["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["title"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, body) = p.get_json(&format!("/api/2.0/files/{room}")).await;
    assert_eq!(titles(&body), ["c.pdf", "a.docx", "b.docx"]);
    // A new version is a modification: the file comes first now.
    p.fake.new_version(ids[0], 20).unwrap();
    let (_, body) = p.get_json(&format!("/api/2.0/files/{room}")).await;
    assert_eq!(titles(&body), ["b.docx", "c.pdf", "a.docx"]);

    let (_, body) = p
        .get_json(&format!(
            "/api/2.0/files/{room}?sortBy=AZ&sortOrder=ascending"
        ))
        .await;
    assert_eq!(titles(&body), ["a.docx", "b.docx", "c.pdf"]);
    // The order asked for is now the user's default.
    let (_, body) = p.get_json(&format!("/api/2.0/files/{room}")).await;
    assert_eq!(titles(&body), ["a.docx", "b.docx", "c.pdf"]);
    let (_, body) = p
        .get_json("/api/2.0/files/rooms?sortBy=DateAndTime&sortOrder=descending")
        .await;
    assert_eq!(body["response"]["folders"][0]["title"], "Finance");
    let (_, body) = p.get_json(&format!("/api/2.0/files/{room}")).await;
    assert_eq!(titles(&body), ["b.docx", "c.pdf", "a.docx"]);
}
