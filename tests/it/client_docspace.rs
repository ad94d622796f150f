//! DocSpace client against the fake portal: paging, error envelopes, 429 pacing, the
//! concurrency cap, folder paths and where the API key may go.

use std::time::{Duration, Instant};

use crate::client_support::docspace_client;
use bridge_fakes::docspace::{routes, DocSpaceOptions, FakeDocSpace, NewUser};
use bytes::Bytes;
use docspace_dropbox_bridge::docspace::{DocSpaceError, MAX_DOWNLOADS, MAX_IN_FLIGHT};
use futures::stream::FuturesUnordered;
use futures::{StreamExt, TryStreamExt};

async fn fake() -> FakeDocSpace {
    FakeDocSpace::start(DocSpaceOptions::default())
        .await
        .expect("fake docspace starts")
}

#[tokio::test]
async fn all_groups_are_read_page_by_page_until_total() {
    let fake = fake().await;
    for i in 0..250 {
        fake.create_group(&format!("Group {i:03}"), &[])
            .expect("group");
    }
    let client = docspace_client(&fake);

    let first = client.list_groups_page(0, 100).await.expect("page");
    assert_eq!(first.items.len(), 100);
    assert_eq!(first.total, Some(250));

    fake.reset_stats();
    let all = client.list_all_groups().await.expect("all groups");
    assert_eq!(all.len(), 250);
    assert_eq!(
        fake.calls(routes::GROUP_LIST),
        3,
        "100 + 100 + 50, then stop on total"
    );
    let mut names: Vec<_> = all.iter().map(|g| g.name.clone()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 250);
}

#[tokio::test]
async fn group_members_come_with_emails_and_a_missing_group_is_none() {
    let fake = fake().await;
    let anna = fake.add_active_user("Anna", "Berg", "anna@example.com");
    let pending = fake.add_user(NewUser::new("Pia", "Pend", "pia@example.com").pending());
    let gid = fake
        .create_group("Marketing", &[anna, pending])
        .expect("group");
    let client = docspace_client(&fake);

    let g = client
        .group_with_members(&gid.to_string())
        .await
        .expect("call")
        .expect("group exists");
    assert_eq!(g.group.name, "Marketing");
    let mut emails: Vec<_> = g.members.iter().filter_map(|m| m.email.clone()).collect();
    emails.sort();
    assert_eq!(emails, vec!["anna@example.com", "pia@example.com"]);

    let missing = client
        .group_with_members("00000000-0000-0000-0000-00000000beef")
        .await
        .expect("404 is not an error");
    assert!(missing.is_none());

    let me = client.me().await.expect("me");
    assert_eq!(me.id, fake.self_user_id().to_string());
}

#[tokio::test]
async fn error_envelopes_are_decoded_and_only_transient_ones_retried() {
    let fake = fake().await;
    let client = docspace_client(&fake);

    fake.fail_next(Some(routes::GROUP_LIST), 403, 1);
    let err = client.list_groups_page(0, 10).await.expect_err("403");
    assert_eq!(err.status(), Some(403));
    assert_eq!(err.tag(), Some("forbidden"));
    assert!(!err.is_retryable());
    let shown = err.to_string();
    assert!(
        shown.contains("docspace") && shown.contains("403"),
        "{shown}"
    );
    assert!(
        shown.contains("Injected failure"),
        "envelope message kept: {shown}"
    );
    assert!(!shown.contains(&fake.api_key()), "API key never shown");

    fake.reset_stats();
    fake.fail_next(Some(routes::GROUP_LIST), 500, 2);
    client
        .list_groups_page(0, 10)
        .await
        .expect("retried past two 500s");
    assert_eq!(fake.calls(routes::GROUP_LIST), 3);

    fake.fail_next(Some(routes::FILE_GET), 404, 1);
    assert!(client.file_info("123").await.expect("404 → None").is_none());
}

#[tokio::test]
async fn a_429_pauses_every_caller_of_the_provider() {
    let fake = fake().await;
    fake.update_knobs(|k| k.ratelimit_reset_secs = 1);
    let client = docspace_client(&fake);
    fake.fail_next(Some(routes::GROUP_LIST), 429, 1);

    let start = Instant::now();
    let a = {
        let c = client.clone();
        tokio::spawn(async move { c.list_groups_page(0, 10).await.map(|_| Instant::now()) })
    };
    // B starts after A has been told to slow down, on another route.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        client.pacer().remaining().is_some(),
        "the 429 paused the provider"
    );
    let b_sent = Instant::now();
    client.me().await.expect("B succeeds after the pause");
    let b_done = Instant::now();
    let a_done = a.await.expect("join").expect("A succeeds after its retry");

    assert!(
        a_done - start >= Duration::from_millis(950),
        "A waited X-Ratelimit-Reset"
    );
    assert!(
        b_done - start >= Duration::from_millis(950),
        "B waited too: {:?}",
        b_done - b_sent
    );
    assert_eq!(
        fake.calls(routes::PEOPLE_SELF),
        1,
        "B was held back, not refused"
    );
}

#[tokio::test]
async fn at_most_ten_requests_are_in_flight() {
    let fake = fake().await;
    fake.update_knobs(|k| k.latency_ms = 100);
    let client = docspace_client(&fake);
    let calls = (0..30).map(|_| {
        let c = client.clone();
        async move { c.me().await }
    });
    for r in futures::future::join_all(calls).await {
        r.expect("call");
    }
    let seen = fake.max_concurrency_seen();
    assert!((1..=10).contains(&seen), "max in flight {seen}");
}

#[tokio::test]
async fn downloads_leave_request_slots_for_api_calls() {
    let fake = fake().await;
    let room = fake.create_room("Media");
    let client = docspace_client(&fake);
    let mut urls = Vec::new();
    for i in 0..MAX_IN_FLIGHT {
        let id = fake
            .create_file(room, &format!("take{i}.mov"), 64 << 20)
            .expect("file");
        urls.push(client.presigned_uri(&id.to_string()).await.expect("url"));
    }
    // As many downloads as there are request slots, none of them read: only some may start.
    let mut pending: FuturesUnordered<_> = urls.iter().map(|u| client.download(u)).collect();
    let mut held = Vec::new();
    while held.len() < MAX_DOWNLOADS {
        held.push(
            pending
                .next()
                .await
                .expect("more")
                .expect("download starts"),
        );
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(300), pending.next())
            .await
            .is_err(),
        "more than {MAX_DOWNLOADS} downloads started"
    );
    // An API call still gets a slot (it would wait forever if downloads held all ten).
    tokio::time::timeout(Duration::from_secs(10), client.me())
        .await
        .expect("API call not starved by downloads")
        .expect("me");
    held.clear();
    let rest: Vec<_> = pending.collect().await;
    assert_eq!(rest.len(), MAX_IN_FLIGHT - MAX_DOWNLOADS);
    assert!(rest.iter().all(Result::is_ok));
}

#[tokio::test]
async fn file_info_and_folder_path_from_the_section_root() {
    let fake = fake().await;
    let room = fake.create_room("Finance");
    let folder = fake.create_folder(room, "2026").expect("folder");
    let file = fake
        .create_file(folder, "Budget.xlsx", 12_345)
        .expect("file");
    let client = docspace_client(&fake);

    let info = client
        .file_info(&file.to_string())
        .await
        .expect("call")
        .expect("file exists");
    assert_eq!(info.title, "Budget.xlsx");
    assert_eq!(info.size, Some(12_345));
    assert_eq!(info.version, 1);
    assert_eq!(info.folder_id.as_deref(), Some(folder.to_string().as_str()));
    assert!(info.mime_type().contains("spreadsheetml"));

    let path = client.folder_path(&folder.to_string()).await.expect("path");
    let titles: Vec<_> = path.iter().map(|p| p.title.as_str()).collect();
    assert_eq!(titles.len(), 3, "{titles:?}");
    assert_eq!(&titles[1..], ["Finance", "2026"]);
    assert_eq!(path[2].id, folder.to_string());
}

async fn download_all(
    client: &docspace_dropbox_bridge::docspace::DocSpaceClient,
    url: &str,
) -> Vec<u8> {
    let dl = client.download(url).await.expect("download starts");
    let chunks: Vec<Bytes> = dl.try_collect().await.expect("body");
    chunks.concat()
}

#[tokio::test]
async fn api_key_goes_to_the_portal_origin_only() {
    let fake = fake().await;
    let room = fake.create_room("R");
    let file = fake.create_file(room, "a.bin", 300_000).expect("file");
    let client = docspace_client(&fake);
    let expected = fake.current_content(file).expect("content");

    // Presigned URL on a foreign storage origin: no Authorization header may reach it.
    fake.update_knobs(|k| k.foreign_origin = true);
    let url = client.presigned_uri(&file.to_string()).await.expect("uri");
    assert!(url.starts_with(&fake.foreign_url()), "{url}");
    assert_eq!(download_all(&client, &url).await, expected);
    assert_eq!(fake.foreign_auth_headers_seen(), 0);

    // On the portal's own origin the key is sent (a portal with a JWT secret requires it).
    fake.update_knobs(|k| {
        k.foreign_origin = false;
        k.require_api_key_on_stream = true;
    });
    let url = client.presigned_uri(&file.to_string()).await.expect("uri");
    assert!(url.starts_with(&fake.url()), "{url}");
    let dl = client.download(&url).await.expect("download");
    assert_eq!(dl.content_length, Some(300_000));
    let body: Vec<Bytes> = dl.try_collect().await.expect("body");
    assert_eq!(body.concat(), expected);
    assert!(fake.portal_stream_auth_headers_seen() >= 1);
    assert_eq!(fake.foreign_auth_headers_seen(), 0);
}

#[tokio::test]
async fn an_expired_presigned_url_is_its_own_error() {
    let fake = fake().await;
    let room = fake.create_room("R");
    let file = fake.create_file(room, "a.bin", 10).expect("file");
    fake.update_knobs(|k| {
        k.foreign_origin = true;
        k.presigned_lifetime_secs = 0;
    });
    let client = docspace_client(&fake);
    let url = client.presigned_uri(&file.to_string()).await.expect("uri");
    let err = client.download(&url).await.expect_err("expired");
    assert!(matches!(err, DocSpaceError::PresignedExpired), "{err}");
    assert_eq!(err.tag(), Some("presigned_expired"));
    assert!(
        !err.to_string().contains("stream_auth"),
        "URL credentials never shown"
    );
}

#[tokio::test]
async fn a_download_cut_off_midway_is_a_retryable_stream_error() {
    let fake = fake().await;
    let room = fake.create_room("R");
    let file = fake.create_file(room, "big.bin", 2_000_000).expect("file");
    fake.update_knobs(|k| k.cut_after_bytes = Some(500_000));
    let client = docspace_client(&fake);
    let url = client.presigned_uri(&file.to_string()).await.expect("uri");
    let dl = client.download(&url).await.expect("starts");
    let err = dl
        .try_collect::<Vec<Bytes>>()
        .await
        .expect_err("body breaks off");
    assert!(err.is_retryable(), "{err}");
}
