//! Wire-level tests of the fake Dropbox: real HTTP through reqwest, asserting status codes,
//! content types and bodies exactly as Dropbox sends them.

use std::time::Duration;

use bridge_fakes::dropbox::{
    content_hash, AccessLevel, DropboxOptions, FakeDropbox, Fault, MemberError, BLOCK_SIZE,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

const TOKEN: &str = "fake-static-token";

struct Client {
    http: reqwest::Client,
    api: String,
    content: String,
    token: String,
}

struct Resp {
    status: StatusCode,
    content_type: String,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text))
    }
    fn ok(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text);
        assert_eq!(self.content_type, "application/json");
        self.json()
    }
    /// Asserts a 409 and returns `error`, checking the summary shape.
    fn route_error(&self) -> Value {
        assert_eq!(self.status, StatusCode::CONFLICT, "{}", self.text);
        let v = self.json();
        let summary = v["error_summary"].as_str().expect("error_summary");
        assert!(summary.ends_with(".."), "summary {summary}");
        v["error"].clone()
    }
}

async fn into_resp(r: reqwest::Response) -> Resp {
    let status = r.status();
    let headers = r.headers().clone();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    Resp {
        status,
        content_type,
        headers,
        text: r.text().await.expect("body"),
    }
}

impl Client {
    fn new(fake: &FakeDropbox) -> Self {
        Self {
            http: reqwest::Client::new(),
            api: fake.api_url(),
            content: fake.content_url(),
            token: TOKEN.into(),
        }
    }

    async fn rpc(&self, route: &str, arg: Value) -> Resp {
        let r = self
            .http
            .post(format!("{}/2/{route}", self.api))
            .bearer_auth(&self.token)
            .json(&arg)
            .send()
            .await
            .expect("send");
        into_resp(r).await
    }

    async fn upload_raw(&self, base: &str, route: &str, arg_header: &[u8], body: Vec<u8>) -> Resp {
        let r = self
            .http
            .post(format!("{base}/2/{route}"))
            .bearer_auth(&self.token)
            .header("Content-Type", "application/octet-stream")
            .header(
                "Dropbox-API-Arg",
                reqwest::header::HeaderValue::from_bytes(arg_header).expect("header"),
            )
            .body(body)
            .send()
            .await
            .expect("send");
        into_resp(r).await
    }

    async fn upload(&self, route: &str, arg: Value, body: Vec<u8>) -> Resp {
        // serde_json output is ASCII here because the tests only use ASCII in these args.
        self.upload_raw(&self.content, route, arg.to_string().as_bytes(), body)
            .await
    }
}

async fn start() -> (FakeDropbox, Client) {
    let fake = FakeDropbox::start(DropboxOptions::default())
        .await
        .expect("start");
    let c = Client::new(&fake);
    (fake, c)
}

#[tokio::test]
async fn token_refresh_and_bearer_errors() {
    let (fake, mut c) = start().await;
    let url = format!("{}/oauth2/token", fake.api_url());
    let form = |rt: &str, secret: &str| {
        vec![
            ("grant_type", "refresh_token".to_string()),
            ("refresh_token", rt.to_string()),
            ("client_id", "fake-app-key".to_string()),
            ("client_secret", secret.to_string()),
        ]
    };
    let r = into_resp(
        c.http
            .post(&url)
            .form(&form("fake-refresh-token", "fake-app-secret"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let v = r.ok();
    assert_eq!(v["token_type"], "bearer");
    assert_eq!(v["expires_in"], 14_400);
    let token = v["access_token"].as_str().unwrap().to_string();

    // HTTP Basic client authentication works too.
    let r = c
        .http
        .post(&url)
        .basic_auth("fake-app-key", Some("fake-app-secret"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "fake-refresh-token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let r = into_resp(
        c.http
            .post(&url)
            .form(&form("nope", "fake-app-secret"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid_grant");
    let r = into_resp(
        c.http
            .post(&url)
            .form(&form("fake-refresh-token", "bad"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid_client");

    c.token = token;
    c.rpc("users/get_current_account", Value::Null).await.ok();
    fake.expire_tokens();
    let r = c.rpc("users/get_current_account", Value::Null).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.content_type, "application/json");
    assert_eq!(r.json()["error"][".tag"], "expired_access_token");
    assert!(r.json()["error_summary"]
        .as_str()
        .unwrap()
        .starts_with("expired_access_token/"));

    c.token = "unknown".into();
    let r = c.rpc("users/get_current_account", Value::Null).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"][".tag"], "invalid_access_token");

    // Static tokens survive expire_tokens.
    c.token = TOKEN.into();
    let acct = c.rpc("users/get_current_account", Value::Null).await.ok();
    assert_eq!(acct["email"], "owner@example.com");
    assert_eq!(acct["root_info"][".tag"], "user");
    assert_eq!(acct["account_id"].as_str().unwrap().len(), 40);

    let r = into_resp(
        c.http
            .post(format!("{}/2/users/get_current_account", fake.api_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.content_type.starts_with("text/plain"));
    assert!(r
        .text
        .contains("Must provide HTTP header \"Authorization\""));

    // Token lifetime knob: a zero lifetime token is expired at once.
    fake.set_token_lifetime(Duration::from_secs(0));
    c.token = fake.issue_token();
    let r = c.rpc("users/get_current_account", Value::Null).await;
    assert_eq!(r.json()["error"][".tag"], "expired_access_token");
    assert_eq!(fake.calls("oauth2/token"), 4);
}

#[tokio::test]
async fn routes_answer_only_on_their_own_host() {
    let (_fake, c) = start().await;
    let r = c
        .upload_raw(
            &c.api,
            "files/upload",
            br#"{"path":"/a.txt"}"#,
            b"x".to_vec(),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.content_type.starts_with("text/plain"));
    let r = into_resp(
        c.http
            .post(format!("{}/2/files/list_folder", c.content))
            .bearer_auth(TOKEN)
            .json(&json!({"path": ""}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.text.contains("files/list_folder"));
    let r = into_resp(
        c.http
            .post(format!("{}/oauth2/token", c.content))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn dropbox_api_arg_must_be_header_safe_json() {
    let (fake, c) = start().await;
    let raw = "{\"path\":\"/M\u{fc}ller.txt\"}";
    let r = c
        .upload_raw(&c.content, "files/upload", raw.as_bytes(), b"hi".to_vec())
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text,
        "Error in call to API function \"files/upload\": Could not decode input as JSON"
    );
    // Escaped, including a surrogate pair for U+1F600, it works and decodes properly.
    let escaped = br#"{"path":"/M\u00fcller \ud83d\ude00.txt","mode":"add"}"#;
    let r = c
        .upload_raw(&c.content, "files/upload", escaped, b"hi".to_vec())
        .await;
    let v = r.ok();
    assert_eq!(v["name"], "M\u{fc}ller \u{1F600}.txt");
    assert!(
        v.get(".tag").is_none(),
        "FileMetadata result carries no tag"
    );
    assert!(fake.file("/m\u{dc}ller \u{1F600}.txt").is_some());
    // Invalid JSON, and the wrong content type.
    let r = c
        .upload_raw(&c.content, "files/upload", b"{not json", vec![])
        .await;
    assert_eq!(r.status, 400);
    let r = into_resp(
        c.http
            .post(format!("{}/2/files/upload", c.content))
            .bearer_auth(TOKEN)
            .header("Dropbox-API-Arg", r#"{"path":"/x"}"#)
            .header("Content-Type", "application/json")
            .body("x")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.text.contains("Content-Type"));
    // Unknown argument fields are refused like Dropbox does.
    let r = c
        .upload(
            "files/upload",
            json!({"path": "/y", "autorname": true}),
            vec![],
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn upload_modes_revs_and_conflicts() {
    let (fake, c) = start().await;
    let v = c
        .upload(
            "files/upload",
            json!({"path": "/Docs/Report.txt"}),
            b"one".to_vec(),
        )
        .await
        .ok();
    assert_eq!(v["path_display"], "/Docs/Report.txt");
    assert_eq!(v["path_lower"], "/docs/report.txt");
    assert_eq!(v["size"], 3);
    assert_eq!(v["content_hash"], content_hash(b"one"));
    assert!(v["id"].as_str().unwrap().starts_with("id:"));
    let rev1 = v["rev"].as_str().unwrap().to_string();
    assert!(rev1.len() >= 9 && rev1.bytes().all(|b| b.is_ascii_hexdigit()));
    let ts = v["server_modified"].as_str().unwrap();
    assert_eq!(ts.len(), 20);
    assert!(ts.ends_with('Z'));

    // Same bytes again (add): nothing written, same rev, no conflict.
    let v2 = c
        .upload(
            "files/upload",
            json!({"path": "/docs/report.TXT"}),
            b"one".to_vec(),
        )
        .await
        .ok();
    assert_eq!(v2["rev"], rev1.as_str());
    // Different bytes with add: conflict; UploadWriteFailed is inlined under "path".
    let r = c
        .upload(
            "files/upload",
            json!({"path": "/docs/report.txt"}),
            b"two".to_vec(),
        )
        .await;
    let e = r.route_error();
    assert_eq!(e[".tag"], "path");
    assert_eq!(
        e["reason"],
        json!({".tag": "conflict", "conflict": {".tag": "file"}})
    );
    assert!(e["upload_session_id"].is_string());
    assert!(r.json()["error_summary"]
        .as_str()
        .unwrap()
        .starts_with("path/conflict/file/"));
    // add + autorename.
    let v = c
        .upload(
            "files/upload",
            json!({"path": "/docs/report.txt", "autorename": true}),
            b"two".to_vec(),
        )
        .await
        .ok();
    assert_eq!(v["name"], "report (1).txt");
    // overwrite keeps the id, changes the rev.
    let v = c
        .upload(
            "files/upload",
            json!({"path": "/docs/report.txt", "mode": "overwrite"}),
            b"three".to_vec(),
        )
        .await
        .ok();
    assert_ne!(v["rev"], rev1.as_str());
    assert_eq!(v["id"], v2["id"]);
    let rev2 = v["rev"].as_str().unwrap().to_string();
    // update with a stale rev conflicts; with the current one it writes.
    let r = c
        .upload(
            "files/upload",
            json!({"path": "/docs/report.txt", "mode": {".tag": "update", "update": rev1}}),
            b"four".to_vec(),
        )
        .await;
    assert_eq!(r.route_error()["reason"]["conflict"][".tag"], "file");
    c.upload(
        "files/upload",
        json!({"path": "/docs/report.txt", "mode": {".tag": "update", "update": rev2}}),
        b"four".to_vec(),
    )
    .await
    .ok();
    // "update" as a bare string is invalid (non-Void member).
    let r = c
        .upload(
            "files/upload",
            json!({"path": "/docs/x.txt", "mode": "update"}),
            vec![],
        )
        .await;
    assert_eq!(r.status, 400);
    // Onto a folder, and below a file.
    let r = c
        .upload("files/upload", json!({"path": "/Docs"}), b"x".to_vec())
        .await;
    assert_eq!(r.route_error()["reason"]["conflict"][".tag"], "folder");
    let r = c
        .upload(
            "files/upload",
            json!({"path": "/docs/report.txt/inner.txt"}),
            b"x".to_vec(),
        )
        .await;
    assert_eq!(
        r.route_error()["reason"]["conflict"][".tag"],
        "file_ancestor"
    );
    // content_hash argument checked against this request's bytes.
    let r = c
        .upload(
            "files/upload",
            json!({"path": "/h.txt", "content_hash": content_hash(b"other")}),
            b"data".to_vec(),
        )
        .await;
    assert_eq!(r.route_error()[".tag"], "content_hash_mismatch");
    c.upload(
        "files/upload",
        json!({"path": "/h.txt", "content_hash": content_hash(b"data")}),
        b"data".to_vec(),
    )
    .await
    .ok();
    assert_eq!(fake.file("/DOCS/report.txt").unwrap().size, 4);
    assert_eq!(fake.calls("files/upload"), 12);
}

#[tokio::test]
async fn folders_names_and_error_envelopes() {
    let (fake, c) = start().await;
    let v = c
        .rpc("files/create_folder_v2", json!({"path": "/A/B"}))
        .await
        .ok();
    assert_eq!(v["metadata"]["path_display"], "/A/B");
    assert!(v["metadata"].get(".tag").is_none());
    let r = c
        .rpc("files/create_folder_v2", json!({"path": "/a/b"}))
        .await;
    assert_eq!(
        r.route_error(),
        json!({".tag": "path", "path": {".tag": "conflict", "conflict": {".tag": "folder"}}})
    );
    assert!(r.json()["error_summary"]
        .as_str()
        .unwrap()
        .starts_with("path/conflict/folder/"));
    let v = c
        .rpc(
            "files/create_folder_v2",
            json!({"path": "/a/b", "autorename": true}),
        )
        .await
        .ok();
    // The new name keeps the case of the request; the parent keeps its stored case.
    assert_eq!(v["metadata"]["path_display"], "/A/b (1)");
    // Case-preserving: a child of /A created as /a/c shows the parent's stored case.
    let v = c
        .rpc("files/create_folder_v2", json!({"path": "/a/c"}))
        .await
        .ok();
    assert_eq!(v["metadata"]["path_display"], "/A/c");

    let r = c
        .rpc("files/create_folder_v2", json!({"path": "/trailing "}))
        .await;
    assert_eq!(r.route_error()["path"][".tag"], "malformed_path");
    let r = c
        .rpc(
            "files/create_folder_v2",
            json!({"path": format!("/{}", "n".repeat(256))}),
        )
        .await;
    assert_eq!(r.route_error()["path"][".tag"], "disallowed_name");
    let r = c
        .rpc("files/create_folder_v2", json!({"path": "/back\\slash"}))
        .await;
    assert_eq!(r.route_error()["path"][".tag"], "disallowed_name");
    // Pattern mismatch and bad JSON are 400 plain text.
    let r = c
        .rpc("files/create_folder_v2", json!({"path": "relative"}))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.text.contains("did not match pattern"));
    let r = c.rpc("files/create_folder_v2", json!({"pth": "/x"})).await;
    assert_eq!(r.status, 400);

    let m = c
        .rpc("files/get_metadata", json!({"path": "/a/C"}))
        .await
        .ok();
    assert_eq!(m[".tag"], "folder");
    let r = c.rpc("files/get_metadata", json!({"path": "/nope"})).await;
    assert_eq!(
        r.route_error(),
        json!({".tag": "path", "path": {".tag": "not_found"}})
    );
    // By id.
    let id = m["id"].as_str().unwrap();
    let m2 = c.rpc("files/get_metadata", json!({"path": id})).await.ok();
    assert_eq!(m2["path_lower"], "/a/c");

    // move_v2 (rename by case only, then to a new parent), delete_v2.
    let v = c
        .rpc(
            "files/move_v2",
            json!({"from_path": "/a/c", "to_path": "/a/C"}),
        )
        .await
        .ok();
    assert_eq!(v["metadata"]["path_display"], "/A/C");
    let v = c
        .rpc(
            "files/move_v2",
            json!({"from_path": "/a/c", "to_path": "/Z/c2"}),
        )
        .await
        .ok();
    assert_eq!(v["metadata"]["path_display"], "/Z/c2");
    assert_eq!(v["metadata"]["id"], m["id"]);
    let r = c
        .rpc(
            "files/move_v2",
            json!({"from_path": "/a", "to_path": "/a/inside"}),
        )
        .await;
    assert_eq!(r.route_error()[".tag"], "cant_move_folder_into_itself");
    let v = c.rpc("files/delete_v2", json!({"path": "/A"})).await.ok();
    assert_eq!(v["metadata"][".tag"], "folder");
    assert!(!fake.exists("/a/b"));
    let r = c.rpc("files/delete_v2", json!({"path": "/A"})).await;
    assert_eq!(
        r.route_error(),
        json!({".tag": "path_lookup", "path_lookup": {".tag": "not_found"}})
    );
    let m = c
        .rpc(
            "files/get_metadata",
            json!({"path": "/a", "include_deleted": true}),
        )
        .await
        .ok();
    assert_eq!(m[".tag"], "deleted");
}

#[tokio::test]
async fn list_folder_pages_and_replays_changes() {
    let (fake, c) = start().await;
    for i in 0..5 {
        fake.put_file(&format!("/Root/f{i}.txt"), b"x").unwrap();
    }
    fake.create_folder("/Root/Sub").unwrap();
    let v = c
        .rpc(
            "files/list_folder",
            json!({"path": "/root", "recursive": true, "limit": 4, "include_deleted": true}),
        )
        .await
        .ok();
    assert_eq!(v["has_more"], true);
    let mut seen: Vec<Value> = v["entries"].as_array().unwrap().clone();
    let mut cursor = v["cursor"].as_str().unwrap().to_string();
    loop {
        let v = c
            .rpc("files/list_folder/continue", json!({"cursor": cursor}))
            .await
            .ok();
        seen.extend(v["entries"].as_array().unwrap().iter().cloned());
        cursor = v["cursor"].as_str().unwrap().to_string();
        if v["has_more"] == false {
            break;
        }
    }
    // The folder itself plus 5 files plus Sub.
    assert_eq!(seen.len(), 7, "{seen:#?}");
    assert_eq!(seen[0][".tag"], "folder");
    assert!(seen
        .iter()
        .any(|e| e[".tag"] == "file" && e["name"] == "f3.txt"));

    // Nothing new: empty page.
    let v = c
        .rpc("files/list_folder/continue", json!({"cursor": cursor}))
        .await
        .ok();
    assert_eq!(v["entries"], json!([]));
    // Changes: a new file, a deletion, outside-of-scope noise.
    fake.put_file("/Root/Sub/new.txt", b"y").unwrap();
    fake.delete("/Root/f0.txt");
    fake.put_file("/Elsewhere/z.txt", b"z").unwrap();
    let v = c
        .rpc("files/list_folder/continue", json!({"cursor": cursor}))
        .await
        .ok();
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{entries:#?}");
    assert_eq!(entries[0][".tag"], "file");
    assert_eq!(entries[0]["path_display"], "/Root/Sub/new.txt");
    assert_eq!(
        entries[1],
        json!({".tag": "deleted", "name": "f0.txt", "path_lower": "/root/f0.txt", "path_display": "/Root/f0.txt"})
    );

    // get_latest_cursor sees only later changes.
    let latest = c
        .rpc(
            "files/list_folder/get_latest_cursor",
            json!({"path": "", "recursive": true}),
        )
        .await
        .ok()["cursor"]
        .as_str()
        .unwrap()
        .to_string();
    c.rpc("files/create_folder_v2", json!({"path": "/Later"}))
        .await
        .ok();
    let v = c
        .rpc("files/list_folder/continue", json!({"cursor": latest}))
        .await
        .ok();
    assert_eq!(v["entries"].as_array().unwrap().len(), 1);

    fake.reset_cursors();
    let r = c
        .rpc("files/list_folder/continue", json!({"cursor": latest}))
        .await;
    assert_eq!(r.route_error(), json!({".tag": "reset"}));
    let r = c
        .rpc("files/list_folder", json!({"path": "/Root/f1.txt"}))
        .await;
    assert_eq!(
        r.route_error(),
        json!({".tag": "path", "path": {".tag": "not_folder"}})
    );
    let r = c
        .rpc("files/list_folder/continue", json!({"cursor": "garbage"}))
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn sequential_session_offsets_and_hash() {
    let (fake, c) = start().await;
    let data: Vec<u8> = (0..(BLOCK_SIZE + 1000)).map(|i| (i % 253) as u8).collect();
    let (a, rest) = data.split_at(1_000_003);
    let (b, tail) = rest.split_at(3_000_000);
    let v = c
        .upload(
            "files/upload_session/start",
            json!({"content_hash": content_hash(a)}),
            a.to_vec(),
        )
        .await
        .ok();
    let sid = v["session_id"].as_str().unwrap().to_string();
    // Wrong offset: incorrect_offset with the correct one, inlined.
    let r = c
        .upload(
            "files/upload_session/append_v2",
            json!({"cursor": {"session_id": sid, "offset": 5}}),
            b.to_vec(),
        )
        .await;
    assert_eq!(
        r.route_error(),
        json!({".tag": "incorrect_offset", "correct_offset": a.len()})
    );
    let r = c
        .upload("files/upload_session/append_v2", json!({"cursor": {"session_id": sid, "offset": a.len()}, "content_hash": content_hash(b"zz")}), b.to_vec())
        .await;
    assert_eq!(r.route_error(), json!({".tag": "content_hash_mismatch"}));
    let v = c
        .upload("files/upload_session/append_v2", json!({"cursor": {"session_id": sid, "offset": a.len()}, "content_hash": content_hash(b)}), b.to_vec())
        .await
        .ok();
    assert_eq!(v, Value::Null);
    let r = c
        .upload(
            "files/upload_session/finish",
            json!({"cursor": {"session_id": sid, "offset": 7}, "commit": {"path": "/big.bin"}}),
            tail.to_vec(),
        )
        .await;
    assert_eq!(
        r.route_error(),
        json!({".tag": "lookup_failed", "lookup_failed": {".tag": "incorrect_offset", "correct_offset": a.len() + b.len()}})
    );
    let v = c
        .upload("files/upload_session/finish", json!({"cursor": {"session_id": sid, "offset": a.len() + b.len()}, "commit": {"path": "/big.bin", "mode": "overwrite"}}), tail.to_vec())
        .await
        .ok();
    assert_eq!(v["size"], data.len());
    assert_eq!(v["content_hash"], content_hash(&data));
    assert_eq!(fake.open_sessions(), 0);
    let r = c
        .upload(
            "files/upload_session/append_v2",
            json!({"cursor": {"session_id": sid, "offset": 0}}),
            vec![],
        )
        .await;
    assert_eq!(r.route_error(), json!({".tag": "not_found"}));

    // A closed session refuses appends.
    let sid = c
        .upload(
            "files/upload_session/start",
            json!({"close": true}),
            b"abc".to_vec(),
        )
        .await
        .ok()["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = c
        .upload(
            "files/upload_session/append_v2",
            json!({"cursor": {"session_id": sid, "offset": 3}}),
            b"d".to_vec(),
        )
        .await;
    assert_eq!(r.route_error(), json!({".tag": "closed"}));
}

/// An append starting on a block boundary is checked from the session's own block digests;
/// the answer must be the same as for any other append.
#[tokio::test]
async fn block_aligned_append_checks_its_own_hash() {
    let (_fake, c) = start().await;
    let data: Vec<u8> = (0..(2 * BLOCK_SIZE + 1000))
        .map(|i| (i % 251) as u8)
        .collect();
    let (a, b) = data.split_at(BLOCK_SIZE);
    let sid = c
        .upload("files/upload_session/start", json!({}), a.to_vec())
        .await
        .ok()["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    // The hash of the whole file so far is not the hash of this request's bytes.
    let r = c
        .upload("files/upload_session/append_v2", json!({"cursor": {"session_id": sid, "offset": a.len()}, "content_hash": content_hash(&data)}), b.to_vec())
        .await;
    assert_eq!(r.route_error(), json!({".tag": "content_hash_mismatch"}));
    // Nothing of the refused request was kept.
    let r = c
        .upload(
            "files/upload_session/append_v2",
            json!({"cursor": {"session_id": sid, "offset": data.len()}}),
            vec![],
        )
        .await;
    assert_eq!(
        r.route_error(),
        json!({".tag": "incorrect_offset", "correct_offset": a.len()})
    );
    let v = c
        .upload("files/upload_session/append_v2", json!({"cursor": {"session_id": sid, "offset": a.len()}, "content_hash": content_hash(b).to_uppercase()}), b.to_vec())
        .await
        .ok();
    assert_eq!(v, Value::Null);
    let v = c
        .upload("files/upload_session/finish", json!({"cursor": {"session_id": sid, "offset": data.len()}, "commit": {"path": "/aligned.bin"}}), vec![])
        .await
        .ok();
    assert_eq!(v["size"], data.len());
    assert_eq!(v["content_hash"], content_hash(&data));
}

#[tokio::test]
async fn concurrent_session_rules() {
    let (_fake, c) = start().await;
    let data: Vec<u8> = (0..(2 * BLOCK_SIZE + 777))
        .map(|i| (i % 241) as u8)
        .collect();
    let r = c
        .upload(
            "files/upload_session/start",
            json!({"session_type": {".tag": "concurrent"}}),
            b"x".to_vec(),
        )
        .await;
    assert_eq!(
        r.route_error(),
        json!({".tag": "concurrent_session_data_not_allowed"})
    );
    let r = c
        .upload(
            "files/upload_session/start",
            json!({"session_type": "concurrent", "close": true}),
            vec![],
        )
        .await;
    assert_eq!(
        r.route_error(),
        json!({".tag": "concurrent_session_close_not_allowed"})
    );
    let sid = c
        .upload(
            "files/upload_session/start",
            json!({"session_type": "concurrent"}),
            vec![],
        )
        .await
        .ok()["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    let append = |offset: usize, len: usize, close: bool| {
        let body = data[offset..offset + len].to_vec();
        let arg = json!({"cursor": {"session_id": sid, "offset": offset}, "close": close});
        c.upload("files/upload_session/append_v2", arg, body)
    };
    let r = append(1000, BLOCK_SIZE, false).await;
    assert_eq!(
        r.route_error(),
        json!({".tag": "concurrent_session_invalid_offset"})
    );
    let r = append(0, 1000, false).await;
    assert_eq!(
        r.route_error(),
        json!({".tag": "concurrent_session_invalid_data_size"})
    );
    // Out of order: block 1 first, then block 0, then the closing partial block.
    append(BLOCK_SIZE, BLOCK_SIZE, false).await.ok();
    let finish = |offset: usize, body: Vec<u8>| {
        c.upload(
            "files/upload_session/finish",
            json!({"cursor": {"session_id": sid, "offset": offset}, "commit": {"path": "/c.bin"}}),
            body,
        )
    };
    let r = finish(data.len(), vec![]).await;
    assert_eq!(
        r.route_error(),
        json!({".tag": "concurrent_session_not_closed"})
    );
    append(2 * BLOCK_SIZE, 777, true).await.ok();
    let r = finish(data.len(), vec![]).await;
    assert_eq!(
        r.route_error(),
        json!({".tag": "concurrent_session_missing_data"})
    );
    let r = append(0, BLOCK_SIZE, false).await;
    assert_eq!(r.route_error(), json!({".tag": "closed"}));
}

#[tokio::test]
async fn concurrent_session_happy_path_and_finish_batch() {
    let (fake, c) = start().await;
    let data: Vec<u8> = (0..(BLOCK_SIZE + 10)).map(|i| (i % 239) as u8).collect();
    let ids = c
        .rpc(
            "files/upload_session/start_batch",
            json!({"num_sessions": 3, "session_type": "concurrent"}),
        )
        .await
        .ok()["session_ids"]
        .clone();
    let ids: Vec<String> = serde_json::from_value(ids).unwrap();
    assert_eq!(ids.len(), 3);
    let (s0, s1) = (&ids[0], &ids[1]);
    // s0: two appends, the last one closing. s1: data but never closed.
    c.upload("files/upload_session/append_v2", json!({"cursor": {"session_id": s0, "offset": 0}, "content_hash": content_hash(&data[..BLOCK_SIZE])}), data[..BLOCK_SIZE].to_vec()).await.ok();
    c.upload("files/upload_session/append_v2", json!({"cursor": {"session_id": s0, "offset": BLOCK_SIZE}, "close": true, "content_hash": content_hash(&data[BLOCK_SIZE..])}), data[BLOCK_SIZE..].to_vec()).await.ok();
    c.upload(
        "files/upload_session/append_v2",
        json!({"cursor": {"session_id": s1, "offset": 0}}),
        data[..BLOCK_SIZE].to_vec(),
    )
    .await
    .ok();
    let v = c
        .rpc(
            "files/upload_session/finish_batch_v2",
            json!({"entries": [
                {"cursor": {"session_id": s0, "offset": data.len()}, "commit": {"path": "/batch/a.bin"}},
                {"cursor": {"session_id": s1, "offset": BLOCK_SIZE}, "commit": {"path": "/batch/b.bin"}},
                {"cursor": {"session_id": "nope", "offset": 0}, "commit": {"path": "/batch/c.bin"}},
            ]}),
        )
        .await
        .ok();
    let e = v["entries"].as_array().unwrap();
    assert_eq!(e[0][".tag"], "success");
    assert_eq!(e[0]["content_hash"], content_hash(&data));
    assert_eq!(e[0]["size"], data.len());
    assert_eq!(
        e[1],
        json!({".tag": "failure", "failure": {".tag": "lookup_failed", "lookup_failed": {".tag": "not_closed"}}})
    );
    assert_eq!(e[2]["failure"]["lookup_failed"][".tag"], "not_found");
    assert_eq!(
        fake.file("/batch/a.bin").unwrap().content_hash,
        content_hash(&data)
    );
}

#[tokio::test]
async fn request_bodies_over_150_mib_are_refused() {
    let (fake, c) = start().await;
    let body = vec![0u8; 150 * 1024 * 1024 + 1];
    let r = c
        .upload("files/upload", json!({"path": "/huge.bin"}), body)
        .await;
    assert_eq!(r.route_error(), json!({".tag": "payload_too_large"}));
    assert!(!fake.exists("/huge.bin"));
}

#[tokio::test]
async fn sharing_lifecycle() {
    let (fake, c) = start().await;
    let bob = fake.add_user_auto("bob@example.com");
    let v = c
        .rpc("sharing/share_folder", json!({"path": "/Groups/Team A"}))
        .await
        .ok();
    assert_eq!(v[".tag"], "complete");
    let sfid = v["shared_folder_id"].as_str().unwrap().to_string();
    assert!(sfid.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(v["access_type"], json!({".tag": "owner"}));
    assert_eq!(v["policy"]["acl_update_policy"][".tag"], "editors");
    assert_eq!(v["path_lower"], "/groups/team a");
    // Folder metadata now carries sharing_info.
    let m = c
        .rpc("files/get_metadata", json!({"path": "/groups/team a"}))
        .await
        .ok();
    assert_eq!(m["sharing_info"]["shared_folder_id"], sfid.as_str());
    // already_shared carries the metadata inlined.
    let r = c
        .rpc("sharing/share_folder", json!({"path": "/Groups/Team A"}))
        .await;
    let e = r.route_error();
    assert_eq!(e["bad_path"][".tag"], "already_shared");
    assert_eq!(e["bad_path"]["shared_folder_id"], sfid.as_str());
    assert!(r.json()["error_summary"]
        .as_str()
        .unwrap()
        .starts_with("bad_path/already_shared/"));
    let r = c
        .rpc(
            "sharing/share_folder",
            json!({"path": "/Groups/Team A/inner"}),
        )
        .await;
    assert_eq!(r.route_error()["bad_path"][".tag"], "inside_shared_folder");

    // Members: a known user, an invitee; bad e-mail fails the whole call with 400.
    let r = c
        .rpc("sharing/add_folder_member", json!({"shared_folder_id": sfid, "members": [
            {"member": {".tag": "email", "email": "j\u{fc}rgen@example.com"}, "access_level": "editor"}]}))
        .await;
    assert_eq!(r.status, 400);
    let v = c
        .rpc("sharing/add_folder_member", json!({"shared_folder_id": sfid, "quiet": true, "members": [
            {"member": {".tag": "email", "email": "Bob@Example.com"}, "access_level": {".tag": "editor"}},
            {"member": {".tag": "email", "email": "carol@example.org"}, "access_level": "viewer"}]}))
        .await
        .ok();
    assert_eq!(v, Value::Null);
    // Adding again is not an error.
    c.rpc(
        "sharing/add_folder_member",
        json!({"shared_folder_id": sfid, "members": [
        {"member": {".tag": "email", "email": "bob@example.com"}, "access_level": "editor"}]}),
    )
    .await
    .ok();
    let info = fake.shared_folder_by_path("/groups/TEAM A").unwrap();
    assert_eq!(info.members.len(), 2);
    assert_eq!(info.members[1].account_id, bob);
    assert!(!info.members[1].notified);
    assert_eq!(
        info.access_of("carol@example.org"),
        Some(AccessLevel::Viewer)
    );

    fake.set_member_error("dave@example.com", MemberError::InvalidEmail);
    let r = c
        .rpc(
            "sharing/add_folder_member",
            json!({"shared_folder_id": sfid, "members": [
            {"member": {".tag": "email", "email": "dave@example.com"}, "access_level": "viewer"}]}),
        )
        .await;
    assert_eq!(
        r.route_error(),
        json!({".tag": "bad_member", "bad_member": {".tag": "invalid_email", "invalid_email": "dave@example.com"}})
    );
    fake.set_member_error("erin@example.com", MemberError::CantShareOutsideTeam);
    let r = c
        .rpc(
            "sharing/add_folder_member",
            json!({"shared_folder_id": sfid, "members": [
            {"member": {".tag": "email", "email": "erin@example.com"}, "access_level": "viewer"}]}),
        )
        .await;
    assert_eq!(r.route_error(), json!({".tag": "cant_share_outside_team"}));

    // Listing with paging: owner, bob, then invitee carol.
    let v = c
        .rpc(
            "sharing/list_folder_members",
            json!({"shared_folder_id": sfid, "limit": 2}),
        )
        .await
        .ok();
    assert_eq!(v["users"].as_array().unwrap().len(), 2);
    assert_eq!(v["users"][0]["access_type"][".tag"], "owner");
    assert_eq!(v["users"][1]["user"]["email"], "bob@example.com");
    assert_eq!(v["groups"], json!([]));
    let cursor = v["cursor"].as_str().unwrap();
    let v = c
        .rpc(
            "sharing/list_folder_members/continue",
            json!({"cursor": cursor}),
        )
        .await
        .ok();
    assert_eq!(
        v["invitees"][0]["invitee"],
        json!({".tag": "email", "email": "carol@example.org"})
    );
    assert!(v.get("cursor").is_none());

    // Removal: owner refused; others through an async job.
    let r = c
        .rpc("sharing/remove_folder_member", json!({"shared_folder_id": sfid, "member": {".tag": "email", "email": "owner@example.com"}, "leave_a_copy": false}))
        .await;
    assert_eq!(r.route_error(), json!({".tag": "folder_owner"}));
    let r = c
        .rpc(
            "sharing/remove_folder_member",
            json!({"shared_folder_id": sfid, "member": {".tag": "dropbox_id", "dropbox_id": bob}}),
        )
        .await;
    assert_eq!(r.status, 400, "leave_a_copy is required");
    let v = c
        .rpc("sharing/remove_folder_member", json!({"shared_folder_id": sfid, "member": {".tag": "dropbox_id", "dropbox_id": bob}, "leave_a_copy": false}))
        .await
        .ok();
    assert_eq!(v[".tag"], "async_job_id");
    let job = json!({"async_job_id": v["async_job_id"]});
    assert_eq!(
        c.rpc("sharing/check_remove_member_job_status", job.clone())
            .await
            .ok(),
        json!({".tag": "in_progress"})
    );
    assert_eq!(
        c.rpc("sharing/check_remove_member_job_status", job.clone())
            .await
            .ok(),
        json!({".tag": "complete"})
    );
    let r = c.rpc("sharing/check_share_job_status", job).await;
    assert_eq!(r.route_error(), json!({".tag": "invalid_async_job_id"}));
    let r = c
        .rpc("sharing/remove_folder_member", json!({"shared_folder_id": sfid, "member": {".tag": "email", "email": "nobody@example.com"}, "leave_a_copy": false}))
        .await;
    assert_eq!(
        r.route_error(),
        json!({".tag": "member_error", "member_error": {".tag": "not_a_member"}})
    );
    assert_eq!(
        fake.shared_folder(&sfid).unwrap().emails(),
        vec!["carol@example.org", "owner@example.com"]
    );

    let v = c
        .rpc(
            "sharing/get_folder_metadata",
            json!({"shared_folder_id": sfid}),
        )
        .await
        .ok();
    assert_eq!(v["name"], "Team A");
    let r = c
        .rpc(
            "sharing/get_folder_metadata",
            json!({"shared_folder_id": "999"}),
        )
        .await;
    assert_eq!(r.route_error(), json!({".tag": "invalid_id"}));

    // Async share, then unshare, then deleting a shared folder only unmounts it.
    fake.set_share_folder_async(true);
    let v = c
        .rpc("sharing/share_folder", json!({"path": "/Other"}))
        .await
        .ok();
    let job = json!({"async_job_id": v["async_job_id"]});
    assert_eq!(
        c.rpc("sharing/check_share_job_status", job.clone())
            .await
            .ok()[".tag"],
        "in_progress"
    );
    let done = c.rpc("sharing/check_share_job_status", job).await.ok();
    assert_eq!(done[".tag"], "complete");
    let other = done["shared_folder_id"].as_str().unwrap().to_string();
    let v = c
        .rpc("sharing/unshare_folder", json!({"shared_folder_id": other}))
        .await
        .ok();
    assert_eq!(v[".tag"], "async_job_id");
    assert!(fake.shared_folder(&other).is_none());
    assert!(fake.exists("/Other"));
    c.rpc("files/delete_v2", json!({"path": "/Groups/Team A"}))
        .await
        .ok();
    let unmounted = fake.shared_folder(&sfid).expect("still shared");
    assert!(!unmounted.mounted);
    assert!(fake.shared_folder_by_path("/Groups/Team A").is_none());
    // 3 share_folder + 5 add_folder_member + 4 remove_folder_member + share + unshare + delete
    assert_eq!(fake.total_write_calls(), 15);
}

/// Access levels by e-mail, as `sharing/list_folder_members` reports them.
async fn listed_access(c: &Client, sfid: &str) -> Vec<(String, String)> {
    let v = c
        .rpc(
            "sharing/list_folder_members",
            json!({"shared_folder_id": sfid}),
        )
        .await
        .ok();
    let mut out: Vec<(String, String)> = v["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["user"]["email"].clone(), u["access_type"][".tag"].clone()))
        .chain(v["invitees"].as_array().unwrap().iter().map(|i| {
            (
                i["invitee"]["email"].clone(),
                i["access_type"][".tag"].clone(),
            )
        }))
        .map(|(e, a)| {
            (
                e.as_str().unwrap().to_string(),
                a.as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn update_folder_member_changes_access_and_reports_errors() {
    let (fake, c) = start().await;
    let bob = fake.add_user_auto("bob@example.com");
    let owner = fake.options().owner_account_id.clone();
    let sfid = c
        .rpc("sharing/share_folder", json!({"path": "/Team"}))
        .await
        .ok()["shared_folder_id"]
        .as_str()
        .unwrap()
        .to_string();
    c.rpc(
        "sharing/add_folder_member",
        json!({"shared_folder_id": sfid, "members": [
        {"member": {".tag": "email", "email": "bob@example.com"}, "access_level": "editor"},
        {"member": {".tag": "email", "email": "carol@example.org"}, "access_level": "editor"}]}),
    )
    .await
    .ok();
    let update = |member: Value, level: Value| json!({"shared_folder_id": sfid, "member": member, "access_level": level});
    let bob_sel = json!({".tag": "dropbox_id", "dropbox_id": bob});

    // Success: MemberAccessLevelResult with nothing inherited, and the listing shows the change.
    let v = c
        .rpc(
            "sharing/update_folder_member",
            update(bob_sel.clone(), json!({".tag": "viewer"})),
        )
        .await
        .ok();
    assert_eq!(v, json!({}));
    assert_eq!(
        listed_access(&c, &sfid).await,
        vec![
            ("bob@example.com".into(), "viewer".into()),
            ("carol@example.org".into(), "editor".into()),
            ("owner@example.com".into(), "owner".into()),
        ]
    );
    // A bare string is a valid Void union member too; the same level again is not an error.
    c.rpc(
        "sharing/update_folder_member",
        update(bob_sel.clone(), json!("editor")),
    )
    .await
    .ok();
    c.rpc(
        "sharing/update_folder_member",
        update(bob_sel.clone(), json!("editor")),
    )
    .await
    .ok();
    assert_eq!(
        fake.shared_folder(&sfid)
            .unwrap()
            .access_of("bob@example.com"),
        Some(AccessLevel::Editor)
    );

    // Errors, each with its UpdateFolderMemberError tag.
    let stranger = fake.add_user_auto("stranger@example.com");
    let r = c
        .rpc(
            "sharing/update_folder_member",
            update(
                json!({".tag": "dropbox_id", "dropbox_id": stranger}),
                json!("viewer"),
            ),
        )
        .await;
    assert_eq!(
        r.route_error(),
        json!({".tag": "member_error", "member_error": {".tag": "not_a_member"}})
    );
    assert!(r.json()["error_summary"]
        .as_str()
        .unwrap()
        .starts_with("member_error/not_a_member/"));
    let r = c
        .rpc(
            "sharing/update_folder_member",
            update(
                json!({".tag": "dropbox_id", "dropbox_id": "nonsense"}),
                json!("viewer"),
            ),
        )
        .await;
    assert_eq!(
        r.route_error(),
        json!({".tag": "member_error", "member_error": {".tag": "invalid_dropbox_id"}})
    );
    let r = c
        .rpc(
            "sharing/update_folder_member",
            update(
                json!({".tag": "dropbox_id", "dropbox_id": owner}),
                json!("viewer"),
            ),
        )
        .await;
    assert_eq!(r.route_error(), json!({".tag": "no_permission"}));
    let r = c
        .rpc(
            "sharing/update_folder_member",
            update(bob_sel.clone(), json!("owner")),
        )
        .await;
    assert_eq!(r.route_error(), json!({".tag": "no_permission"}));
    let r = c
        .rpc(
            "sharing/update_folder_member",
            json!({"shared_folder_id": "999", "member": bob_sel, "access_level": "viewer"}),
        )
        .await;
    assert_eq!(
        r.route_error(),
        json!({".tag": "access_error", "access_error": {".tag": "invalid_id"}})
    );

    // Bad input is a 400: e-mail selector (the spec allows only dropbox_id), unknown level,
    // missing access_level, unknown field.
    for bad in [
        update(
            json!({".tag": "email", "email": "carol@example.org"}),
            json!("viewer"),
        ),
        update(bob_sel.clone(), json!("superuser")),
        json!({"shared_folder_id": sfid, "member": bob_sel}),
        json!({"shared_folder_id": sfid, "member": bob_sel, "access_level": "viewer", "x": 1}),
    ] {
        let r = c.rpc("sharing/update_folder_member", bad.clone()).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
        assert!(
            r.text.contains("sharing/update_folder_member"),
            "{}",
            r.text
        );
    }

    // None of the refusals changed anything; a change by hand reaches invitees too.
    fake.set_member_access_by_hand(&sfid, "Carol@Example.org", AccessLevel::Viewer)
        .unwrap();
    assert_eq!(
        listed_access(&c, &sfid).await,
        vec![
            ("bob@example.com".into(), "editor".into()),
            ("carol@example.org".into(), "viewer".into()),
            ("owner@example.com".into(), "owner".into()),
        ]
    );
    assert!(fake
        .set_member_access_by_hand(&sfid, "owner@example.com", AccessLevel::Viewer)
        .is_err());
    // Counted as a write call (a reconcile that changes nothing must make none).
    assert_eq!(fake.calls("sharing/update_folder_member"), 12);
    assert_eq!(fake.ok_calls("sharing/update_folder_member"), 3);
    assert_eq!(fake.total_write_calls(), 2 + 12);
}

#[tokio::test]
async fn rate_limits_faults_and_path_root() {
    let (fake, c) = start().await;
    fake.set_rate_limit(1.0, 7);
    let r = c.rpc("files/list_folder", json!({"path": ""})).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.content_type, "application/json");
    assert_eq!(r.headers["retry-after"], "7");
    assert_eq!(
        r.json()["error"],
        json!({"reason": {".tag": "too_many_requests"}, "retry_after": 7})
    );
    assert!(r.json()["error_summary"]
        .as_str()
        .unwrap()
        .starts_with("too_many_requests/"));
    fake.set_rate_limit_plain_text(true);
    let r = c.rpc("files/list_folder", json!({"path": ""})).await;
    assert_eq!(r.status, 429);
    assert!(r.content_type.starts_with("text/plain"));
    assert_eq!(r.headers["retry-after"], "7");
    fake.set_rate_limit(0.0, 1);

    fake.fail_next(
        "files/create_folder_v2",
        Fault::WriteContention { retry_after: 2 },
        1,
    );
    fake.fail_next(
        "files/create_folder_v2",
        Fault::ServerError { status: 503 },
        1,
    );
    let r = c.rpc("files/create_folder_v2", json!({"path": "/x"})).await;
    assert_eq!(
        r.json()["error"]["reason"][".tag"],
        "too_many_write_operations"
    );
    let r = c.rpc("files/create_folder_v2", json!({"path": "/x"})).await;
    assert_eq!(r.status, 503);
    c.rpc("files/create_folder_v2", json!({"path": "/x"}))
        .await
        .ok();
    assert_eq!(fake.calls("files/create_folder_v2"), 3);
    assert_eq!(fake.ok_calls("files/create_folder_v2"), 1);

    // A lost response: the folder is created, the caller sees a 504, and a repeat conflicts.
    fake.fail_next(
        "files/create_folder_v2",
        Fault::ResponseLost { status: 504 },
        1,
    );
    let r = c
        .rpc("files/create_folder_v2", json!({"path": "/lost"}))
        .await;
    assert_eq!(r.status, 504);
    let r = c
        .rpc("files/get_metadata", json!({"path": "/lost"}))
        .await
        .ok();
    assert_eq!(r[".tag"], "folder");
    let r = c
        .rpc("files/create_folder_v2", json!({"path": "/lost"}))
        .await;
    assert_eq!(r.route_error()["path"][".tag"], "conflict");

    // Concurrency cap: with latency, the second of two parallel calls is refused.
    fake.set_latency(Duration::from_millis(300));
    fake.set_max_concurrent_requests(Some(1));
    let (a, b) = tokio::join!(
        c.rpc("files/list_folder", json!({"path": ""})),
        c.rpc("files/list_folder", json!({"path": ""}))
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 429]);
    fake.set_latency(Duration::ZERO);
    fake.set_max_concurrent_requests(None);

    // Dropbox-API-Path-Root.
    let send = |root: &str| {
        c.http
            .post(format!("{}/2/files/list_folder", c.api))
            .bearer_auth(TOKEN)
            .header("Dropbox-API-Path-Root", root.to_string())
            .json(&json!({"path": ""}))
            .send()
    };
    assert_eq!(send(r#"{".tag":"home"}"#).await.unwrap().status(), 200);
    assert_eq!(
        send(r#"{".tag":"root","root":"3235641"}"#)
            .await
            .unwrap()
            .status(),
        200
    );
    let r = into_resp(send(r#"{".tag":"root","root":"42"}"#).await.unwrap()).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["error"][".tag"], "invalid_root");
    assert_eq!(
        r.json()["error"]["invalid_root"]["root_namespace_id"],
        "3235641"
    );
    assert_eq!(send("nope").await.unwrap().status(), 400);
}

#[tokio::test]
async fn control_api_drives_knobs_and_reports_counters() {
    let (fake, c) = start().await;
    let base = format!("{}/_fake", fake.api_url());
    let k: Value = c
        .http
        .post(format!("{base}/knobs"))
        .json(&json!({"latency_ms": 5, "share_folder_async": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(k["latency_ms"], 5);
    assert!(fake.knobs().share_folder_async);
    let r = c
        .http
        .post(format!("{base}/knobs"))
        .json(&json!({"nope": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    c.http
        .post(format!("{base}/fail_next"))
        .json(&json!({"route": "files/get_metadata", "fault": {"kind": "rate_limit", "retry_after": 3}}))
        .send()
        .await
        .unwrap();
    let r = c.rpc("files/get_metadata", json!({"path": "/a"})).await;
    assert_eq!(r.status, 429);
    c.http
        .post(format!("{base}/put_file"))
        .json(&json!({"path": "/s/t.txt", "content": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        fake.file("/s/t.txt").unwrap().content_hash,
        content_hash(b"hello")
    );
    let calls: Value = c
        .http
        .get(format!("{base}/calls"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls["calls"]["files/get_metadata"], 1);
    let tree: Value = c
        .http
        .get(format!("{base}/tree"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tree.as_array().unwrap().len(), 2);
    fake.reset_counters();
    assert_eq!(fake.total_calls(), 0);
}

#[tokio::test]
async fn writes_send_signed_webhooks_when_configured() {
    use axum::{body::Bytes, http::HeaderMap, routing::post, Router};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Bytes)>();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let sig = headers["x-dropbox-signature"].to_str().unwrap().to_string();
                let _ = tx.send((sig, body));
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let (fake, c) = start().await;
    let url = format!("http://{addr}/hook");
    fake.update_knobs(|k| k.webhook_url = Some(url.clone()));
    c.rpc("files/list_folder", json!({"path": ""})).await.ok(); // reads send nothing
    c.rpc("files/create_folder_v2", json!({"path": "/hooked"}))
        .await
        .ok();
    let (sig, body) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("webhook in time")
        .expect("webhook");
    assert_eq!(
        sig,
        bridge_fakes::dropbox::webhook_signature("fake-app-secret", &body)
    );
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        v["list_folder"]["accounts"][0],
        fake.options().owner_account_id.as_str()
    );
    assert!(rx.try_recv().is_err());
    assert_eq!(fake.send_webhook(&url).await, Ok(200));
}

#[tokio::test]
async fn a_route_outside_the_granted_scopes_is_refused_with_missing_scope() {
    let (fake, c) = start().await;
    // Every scope by default; a token names them.
    let r = into_resp(
        c.http
            .post(format!("{}/oauth2/token", fake.api_url()))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", "fake-refresh-token"),
                ("client_id", "fake-app-key"),
                ("client_secret", "fake-app-secret"),
            ])
            .send()
            .await
            .expect("send"),
    )
    .await;
    let scope = r.ok()["scope"].as_str().expect("scope").to_string();
    for s in [
        "account_info.read",
        "files.content.read",
        "files.content.write",
        "files.metadata.read",
        "sharing.read",
        "sharing.write",
    ] {
        assert!(scope.split(' ').any(|x| x == s), "{s} in {scope}");
    }

    fake.update_knobs(|k| {
        k.granted_scopes = Some(vec![
            "account_info.read".into(),
            "files.metadata.read".into(),
        ])
    });
    c.rpc("users/get_current_account", Value::Null).await.ok();
    let r = c
        .rpc("files/get_temporary_link", json!({"path": "/nowhere.txt"}))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    assert_eq!(r.content_type, "application/json");
    let v = r.json();
    assert_eq!(v["error"][".tag"], "missing_scope");
    assert_eq!(v["error"]["required_scope"], "files.content.read");
    assert!(v["error_summary"]
        .as_str()
        .expect("summary")
        .starts_with("missing_scope/"));
    // Refused before the arguments are looked at, and before anything changes.
    let r = c.rpc("files/create_folder_v2", json!({"path": 7})).await;
    assert_eq!(r.json()["error"]["required_scope"], "files.content.write");
    let r = c
        .upload(
            "files/upload",
            json!({"path": "/a.txt", "mode": "add"}),
            b"abc".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    assert!(fake.paths().iter().all(|p| p.is_empty() || p == "/"));
}

#[tokio::test]
async fn get_temporary_link_names_the_file_and_refuses_folders_and_missing_paths() {
    let (_fake, c) = start().await;
    c.rpc("files/create_folder_v2", json!({"path": "/Docs"}))
        .await
        .ok();
    c.upload(
        "files/upload",
        json!({"path": "/Docs/a.txt", "mode": "add"}),
        b"hello".to_vec(),
    )
    .await
    .ok();
    let v = c
        .rpc("files/get_temporary_link", json!({"path": "/docs/A.txt"}))
        .await
        .ok();
    assert_eq!(v["metadata"]["path_display"], "/Docs/a.txt");
    assert_eq!(v["metadata"]["size"], 5);
    assert!(
        v["metadata"].get(".tag").is_none(),
        "FileMetadata is untagged"
    );
    assert!(v["link"].as_str().expect("link").starts_with("https://"));

    let e = c
        .rpc("files/get_temporary_link", json!({"path": "/Docs"}))
        .await
        .route_error();
    assert_eq!(e, json!({".tag": "path", "path": {".tag": "not_file"}}));
    let e = c
        .rpc("files/get_temporary_link", json!({"path": "/nowhere.txt"}))
        .await
        .route_error();
    assert_eq!(e, json!({".tag": "path", "path": {".tag": "not_found"}}));
}
