//! Downloads from the fake DocSpace: presigned URLs, `stream_auth` validity and expiry, the API
//! key alternative, Range requests, the foreign origin's Authorization bookkeeping, cut
//! connections, and deterministic content with its Dropbox content hash.

use bridge_fakes::docspace::content;
use bridge_fakes::docspace::{routes, DocSpaceOptions, FakeDocSpace};
use serde_json::Value;
use sha2::{Digest, Sha256};

async fn portal() -> (FakeDocSpace, reqwest::Client, i64) {
    let fake = FakeDocSpace::start(DocSpaceOptions::default())
        .await
        .unwrap();
    // These tests exercise `stream_auth` itself, as on a portal without a Document Server secret;
    // the default (API key required on the portal) is tested separately below.
    fake.update_knobs(|k| k.require_api_key_on_stream = false);
    let room = fake.create_room("Room");
    let file = fake.create_file(room, "data.bin", 100_000).unwrap();
    (fake, reqwest::Client::new(), file)
}

async fn presigned(fake: &FakeDocSpace, http: &reqwest::Client, file: i64) -> String {
    let body: Value = http
        .get(format!(
            "{}/api/2.0/files/file/{file}/presigneduri",
            fake.url()
        ))
        .bearer_auth(fake.api_key())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["count"], 1);
    body["response"]
        .as_str()
        .expect("plain string URL")
        .to_string()
}

/// Independent Dropbox content hash over bytes in memory.
fn dropbox_hash(data: &[u8]) -> String {
    let mut overall = Sha256::new();
    for block in data.chunks(4 * 1024 * 1024) {
        overall.update(Sha256::digest(block));
    }
    hex::encode(overall.finalize())
}

#[tokio::test]
async fn presigned_url_streams_whole_file_without_key() {
    let (fake, http, file) = portal().await;
    let url = presigned(&fake, &http, file).await;
    assert!(url.starts_with(&format!(
        "{}/filehandler.ashx?action=stream&fileid={file}&version=1&stream_auth=",
        fake.url()
    )));
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["accept-ranges"], "bytes");
    assert_eq!(resp.headers()["content-length"], "100000");
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(bytes.len(), 100_000);
    assert_eq!(&bytes[..], &fake.content_bytes(file, 1, 0..100_000)[..]);
    assert_eq!(fake.calls(routes::STREAM), 1);
    assert_eq!(fake.portal_stream_auth_headers_seen(), 0);
}

#[tokio::test]
async fn range_requests_return_206_with_content_range() {
    let (fake, http, file) = portal().await;
    let url = presigned(&fake, &http, file).await;
    let resp = http
        .get(&url)
        .header("Range", "bytes=1000-1999")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 206);
    assert_eq!(resp.headers()["content-range"], "bytes 1000-1999/100000");
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(&bytes[..], &content::content_bytes(file, 1, 1000..2000)[..]);

    let resp = http
        .get(&url)
        .header("Range", "bytes=99990-")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 206);
    assert_eq!(resp.bytes().await.unwrap().len(), 10);

    let resp = http
        .get(&url)
        .header("Range", "bytes=100000-")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 416);
    assert_eq!(resp.headers()["content-range"], "bytes */100000");
}

#[tokio::test]
async fn expired_or_forged_stream_auth_is_403_but_api_key_still_works() {
    let (fake, http, file) = portal().await;
    fake.update_knobs(|k| k.presigned_lifetime_secs = 0);
    let url = presigned(&fake, &http, file).await;
    assert_eq!(http.get(&url).send().await.unwrap().status(), 403);
    // With valid auth DocSpace does not check stream_auth.
    let resp = http
        .get(&url)
        .bearer_auth(fake.api_key())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(fake.portal_stream_auth_headers_seen(), 1);

    fake.update_knobs(|k| k.presigned_lifetime_secs = 600);
    let url = presigned(&fake, &http, file).await;
    let forged = format!("{}0", url);
    assert_eq!(http.get(&forged).send().await.unwrap().status(), 403);
    let other_file = url.replace(&format!("fileid={file}"), "fileid=2");
    assert!(matches!(
        http.get(&other_file)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        403 | 404
    ));
    assert_eq!(
        http.get(&url)
            .bearer_auth("sk-wrong")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn portal_can_require_the_api_key_on_stream() {
    let (fake, http, file) = portal().await;
    fake.update_knobs(|k| k.require_api_key_on_stream = true);
    let url = presigned(&fake, &http, file).await;
    assert_eq!(http.get(&url).send().await.unwrap().status(), 403);
    let resp = http
        .get(&url)
        .bearer_auth(fake.api_key())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // viewUrl-style download needs the key.
    let view = format!(
        "{}/filehandler.ashx?action=download&fileid={file}",
        fake.url()
    );
    assert_eq!(http.get(&view).send().await.unwrap().status(), 401);
    let resp = http
        .get(&view)
        .bearer_auth(fake.api_key())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.bytes().await.unwrap().len(), 100_000);
}

#[tokio::test]
async fn foreign_origin_records_and_refuses_authorization_headers() {
    let (fake, http, file) = portal().await;
    fake.update_knobs(|k| k.foreign_origin = true);
    let url = presigned(&fake, &http, file).await;
    assert!(url.starts_with(&fake.foreign_url()), "{url}");
    assert_ne!(fake.foreign_url(), fake.url());

    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap().len(), 100_000);
    assert_eq!(fake.foreign_auth_headers_seen(), 0);

    let resp = http
        .get(&url)
        .bearer_auth(fake.api_key())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(fake.foreign_auth_headers_seen(), 1);
    assert_eq!(fake.calls(routes::FOREIGN_STREAM), 2);

    fake.update_knobs(|k| k.presigned_lifetime_secs = 0);
    let expired = presigned(&fake, &http, file).await;
    assert_eq!(http.get(&expired).send().await.unwrap().status(), 403);
}

#[tokio::test]
async fn cut_download_breaks_once_then_resumes_with_range() {
    let (fake, http, file) = portal().await;
    fake.update_knobs(|k| k.cut_after_bytes = Some(30_000));
    let url = presigned(&fake, &http, file).await;
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.bytes().await.is_err(), "body must end early");
    assert_eq!(fake.knobs().cut_after_bytes, None, "one-shot knob clears");

    let resp = http
        .get(&url)
        .header("Range", "bytes=30000-")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 206);
    let rest = resp.bytes().await.unwrap();
    assert_eq!(
        &rest[..],
        &content::content_bytes(file, 1, 30_000..100_000)[..]
    );

    fake.update_knobs(|k| {
        k.cut_after_bytes = Some(10);
        k.cut_always = true;
    });
    for _ in 0..2 {
        // Cut this early, the connection may die before or after the headers arrive.
        let failed = match http.get(&url).send().await {
            Err(_) => true,
            Ok(resp) => resp.bytes().await.is_err(),
        };
        assert!(failed);
    }
    assert_eq!(fake.knobs().cut_after_bytes, Some(10));
}

#[tokio::test]
async fn versions_have_distinct_content_and_matching_hashes() {
    let (fake, http, file) = portal().await;
    // 9 MiB spans three 4 MiB hash blocks.
    let size = 9 * 1024 * 1024 + 123;
    assert_eq!(fake.new_version(file, size).unwrap(), 2);
    let url = presigned(&fake, &http, file).await;
    assert!(url.contains("version=2"));
    let body = http.get(&url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(body.len() as u64, size);
    assert_eq!(
        fake.dropbox_content_hash(file, 2).unwrap(),
        dropbox_hash(&body)
    );
    assert_eq!(
        fake.dropbox_content_hash(file, 1).unwrap(),
        dropbox_hash(&content::content_bytes(file, 1, 0..100_000))
    );
    assert_ne!(
        content::content_bytes(file, 1, 0..64),
        content::content_bytes(file, 2, 0..64)
    );
    // Old versions stay downloadable by number.
    let v1 = format!(
        "{}/filehandler.ashx?action=stream&fileid={file}&version=1",
        fake.url()
    );
    let old = http
        .get(&v1)
        .bearer_auth(fake.api_key())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(old.len(), 100_000);
    assert!(fake.dropbox_content_hash(file, 3).is_none());
    // Content is a pure function of (id, version, offset).
    assert_eq!(content::content_bytes(file, 2, 5..13), body[5..13].to_vec());
}

#[tokio::test]
async fn huge_files_cost_no_memory_to_describe() {
    let (fake, http, _) = portal().await;
    let room = fake.create_room("Big");
    let five_gib = 5 * 1024 * 1024 * 1024u64;
    let id = fake.create_file(room, "huge.mkv", five_gib).unwrap();
    let body: Value = http
        .get(format!("{}/api/2.0/files/file/{id}", fake.url()))
        .bearer_auth(fake.api_key())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["response"]["pureContentLength"], five_gib);
    assert_eq!(body["response"]["contentLength"], "5 GB");
    // The tail of the file is served without generating the rest.
    let url = presigned(&fake, &http, id).await;
    let resp = http
        .get(&url)
        .header("Range", "bytes=-16")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["content-range"],
        format!("bytes {}-{}/{five_gib}", five_gib - 16, five_gib - 1).as_str()
    );
    assert_eq!(
        resp.bytes().await.unwrap().to_vec(),
        content::content_bytes(id, 1, five_gib - 16..five_gib)
    );
}

#[tokio::test]
async fn downloads_count_as_in_flight_until_the_body_ends() {
    let (fake, http, _) = portal().await;
    let room = fake.create_room("Big");
    // Large enough that the server blocks on back-pressure while we do not read.
    let file = fake.create_file(room, "big.bin", 32 * 1024 * 1024).unwrap();
    let url = presigned(&fake, &http, file).await;
    let resp = http.get(&url).send().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    // Headers received, body not read yet: still in flight.
    assert_eq!(fake.stats().in_flight, 1);
    let _ = resp.bytes().await.unwrap();
    for _ in 0..50 {
        if fake.stats().in_flight == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(fake.stats().in_flight, 0);
}
