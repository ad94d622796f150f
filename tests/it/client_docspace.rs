//! DocSpace client against the fake portal: paging, error envelopes, validation problems,
//! missing permissions, 429 pacing with the real limiter's headers, the concurrency cap, folder
//! paths, refused downloads, and where the API key may go (redirects included).

use std::time::{Duration, Instant};

use crate::client_support::two_faced::{Reply, Seen, TwoFaced};
use crate::client_support::{docspace_client, docspace_client_for};
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
    // The window ends 1 to 2 s from now (Reset is whole Unix seconds).
    fake.update_knobs(|k| {
        k.ratelimit_reset_on_get = true;
        k.ratelimit_reset_secs = 2;
    });
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

#[tokio::test]
async fn a_ratelimit_reset_is_the_end_of_the_window_not_a_number_of_seconds() {
    let fake = fake().await;
    fake.update_knobs(|k| {
        k.ratelimit_reset_on_get = true;
        k.ratelimit_reset_secs = 2;
    });
    let client = docspace_client(&fake);
    fake.fail_next(Some(routes::GROUP_LIST), 429, 1);
    let started = Instant::now();
    client
        .list_groups_page(0, 10)
        .await
        .expect("retried once the window ended");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    assert!(client.pacer().remaining().is_none(), "no pause left over");
    assert_eq!(fake.calls(routes::GROUP_LIST), 2);
}

#[tokio::test]
async fn an_absurd_ratelimit_reset_is_ignored_and_the_own_backoff_applies() {
    let fake = fake().await;
    // A window "ending" ten days from now is no window the bridge waits for.
    fake.update_knobs(|k| {
        k.ratelimit_reset_on_get = true;
        k.ratelimit_reset_secs = 10 * 24 * 3600;
    });
    let client = docspace_client(&fake);
    fake.fail_next(Some(routes::GROUP_LIST), 429, 1);
    client
        .list_groups_page(0, 10)
        .await
        .expect("retried after the client's own backoff");
    assert!(
        client
            .pacer()
            .remaining()
            .is_none_or(|d| d <= Duration::from_secs(1)),
        "{:?}",
        client.pacer().remaining()
    );
}

#[tokio::test]
async fn a_429_without_rate_limit_headers_backs_off_and_retries() {
    // The real limiter's default for GETs: Limit and Remaining, no Reset, no Retry-After.
    let fake = fake().await;
    let client = docspace_client(&fake);
    fake.fail_next(Some(routes::GROUP_LIST), 429, 2);
    client
        .list_groups_page(0, 10)
        .await
        .expect("retried past two 429s");
    assert_eq!(fake.calls(routes::GROUP_LIST), 3);

    // Every retry refused: the error names no wait, so the job queue's backoff decides.
    fake.fail_next(Some(routes::GROUP_LIST), 429, 10);
    let err = client.list_groups_page(0, 10).await.expect_err("429");
    assert!(
        matches!(
            err,
            DocSpaceError::RateLimited {
                retry_after: None,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_key_without_the_route_permission_is_told_which_one_and_not_retried() {
    let fake = fake().await;
    let key = fake.add_api_key(&["files:read", "rooms:read"]);
    let client = docspace_client_for(&fake.url(), &key);

    let err = client.list_groups_page(0, 10).await.expect_err("403");
    assert!(
        matches!(
            err,
            DocSpaceError::MissingScope {
                scope: "accounts:read",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "docspace group: 403 forbidden: the API key lacks the accounts:read permission"
    );
    assert!(!err.is_retryable());
    assert_eq!(fake.calls(routes::GROUP_LIST), 1, "not retried");

    let err = client.me().await.expect_err("403");
    assert_eq!(err.missing_scope(), Some("accounts.self:read"));

    // What the key may do still works, and the probe of each route tells them apart.
    client.probe("files/rooms").await.expect("rooms:read");
    let err = client
        .probe("files/file/{id}")
        .await
        .expect_err("no such file");
    assert_eq!(err.missing_scope(), None, "{err}");
    assert_eq!(err.status(), Some(404));
    let err = client.probe("group/{id}").await.expect_err("403");
    assert_eq!(err.missing_scope(), Some("accounts:read"));
}

/// DocSpace answers a key it does not know (expired, revoked) with an empty 403 on the file
/// routes it also serves to anonymous callers, the same answer as for a key that lacks
/// `files:read`: the bridge must not call an expired key a missing permission.
#[tokio::test]
async fn an_expired_key_is_unauthorized_not_a_missing_permission_on_the_file_routes() {
    let fake = fake().await;
    let room = fake.create_room("Shared");
    let folder = fake.create_folder(room, "2026").unwrap();
    let file = fake.create_file(folder, "a.txt", 1).unwrap();
    let client = docspace_client_for(&fake.url(), "sk-expired0123456789abcdef0123456");
    let (file, folder) = (file.to_string(), folder.to_string());

    let errors = [
        client.file_info(&file).await.map(|_| ()),
        client.file_exists(&file).await.map(|_| ()),
        client.folder_info(&folder).await.map(|_| ()),
        client.list_folder_page(&folder, 0, 10).await.map(|_| ()),
    ];
    for err in errors {
        let err = err.expect_err("the key is refused");
        assert_eq!(err.missing_scope(), None, "{err}");
        assert_eq!(err.status(), Some(401), "{err}");
        assert_eq!(err.tag(), Some("unauthorized"), "{err}");
        assert!(!err.is_retryable(), "{err}");
        assert!(
            err.to_string().contains("expired, revoked or wrong"),
            "{err}"
        );
    }
    assert_eq!(fake.calls(routes::FILE_GET), 2, "not retried");

    // A valid key that lacks the permission is still told so.
    let key = fake.add_api_key(&["accounts:read", "accounts.self:read"]);
    let client = docspace_client_for(&fake.url(), &key);
    let err = client.file_info(&file).await.expect_err("403");
    assert_eq!(err.missing_scope(), Some("files:read"), "{err}");
    // So is one that may not even read its own profile.
    let key = fake.add_api_key(&["accounts:read"]);
    let client = docspace_client_for(&fake.url(), &key);
    let err = client.folder_info(&folder).await.expect_err("403");
    assert_eq!(err.missing_scope(), Some("files:read"), "{err}");
}

#[tokio::test]
async fn a_validation_error_says_what_was_wrong() {
    let fake = fake().await;
    let client = docspace_client(&fake);
    let err = client
        .list_groups_page(0, 500)
        .await
        .expect_err("count above 100");
    assert_eq!(err.status(), Some(400));
    assert!(!err.is_retryable());
    let shown = err.to_string();
    assert!(
        shown.contains("One or more validation errors occurred.")
            && shown.contains("count: The field Count must be between 1 and 100."),
        "{shown}"
    );
}

#[tokio::test]
async fn a_download_refused_with_the_api_key_is_permanent() {
    let fake = fake().await;
    let room = fake.create_room("Board");
    let file = fake.create_file(room, "minutes.docx", 1000).expect("file");
    fake.set_download_denied(file, true);
    let client = docspace_client(&fake);
    let url = client.presigned_uri(&file.to_string()).await.expect("uri");
    fake.reset_stats();
    let err = client.download(&url).await.expect_err("refused");
    assert!(matches!(err, DocSpaceError::DownloadDenied { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "docspace download: 403 forbidden: the API key's user may not download file {file}"
        )
    );
    assert!(!err.is_retryable());
    assert_eq!(fake.calls(routes::STREAM), 1, "asked once");
}

#[tokio::test]
async fn the_api_key_never_follows_a_redirect_to_another_scheme_on_the_same_host_and_port() {
    // The portal is https://127.0.0.1:P. Its stream handler redirects within the portal (the key
    // goes along), then to http://127.0.0.1:P: same host and port, other scheme, another origin
    // that must not see the key.
    let server = TwoFaced::start(&[
        ("/filehandler.ashx", Reply::Redirect("/stream/7".into())),
        (
            "/stream/7",
            Reply::Redirect("http://127.0.0.1:{port}/plain/7".into()),
        ),
        ("/plain/7", Reply::Body(b"file bytes")),
    ])
    .await;
    let client = docspace_client_for(&server.https(""), "sk-0123456789abcdef");
    let dl = client
        .download(&server.https("/filehandler.ashx?action=stream&fileid=7"))
        .await
        .expect("download");
    let body: Vec<Bytes> = dl.try_collect().await.expect("body");
    assert_eq!(body.concat(), b"file bytes");
    let hop = |tls: bool, path: &str, authorization: bool| Seen {
        tls,
        path: path.to_string(),
        authorization,
    };
    assert_eq!(
        server.seen(),
        vec![
            hop(true, "/filehandler.ashx?action=stream&fileid=7", true),
            hop(true, "/stream/7", true),
            hop(false, "/plain/7", false),
        ]
    );

    // The other way round: a plain-http portal (loopback) redirecting to https on its port.
    let server = TwoFaced::start(&[
        (
            "/filehandler.ashx",
            Reply::Redirect("https://127.0.0.1:{port}/secure/7".into()),
        ),
        ("/secure/7", Reply::Body(b"file bytes")),
    ])
    .await;
    let client = docspace_client_for(&server.http(""), "sk-0123456789abcdef");
    let dl = client
        .download(&server.http("/filehandler.ashx?action=stream&fileid=7"))
        .await
        .expect("download");
    let body: Vec<Bytes> = dl.try_collect().await.expect("body");
    assert_eq!(body.concat(), b"file bytes");
    assert_eq!(
        server.seen(),
        vec![
            hop(false, "/filehandler.ashx?action=stream&fileid=7", true),
            hop(true, "/secure/7", false),
        ]
    );
}

#[tokio::test]
async fn an_api_call_that_is_redirected_is_not_followed() {
    let server = TwoFaced::start(&[(
        "/api/2.0/group",
        Reply::Redirect("http://127.0.0.1:{port}/api/2.0/group".into()),
    )])
    .await;
    let client = docspace_client_for(&server.https(""), "sk-0123456789abcdef");
    let err = client.list_groups_page(0, 10).await.expect_err("redirect");
    assert_eq!(err.status(), Some(302));
    let shown = err.to_string();
    assert!(
        shown.contains(&format!("redirected to http://127.0.0.1:{}", server.port))
            && shown.contains("check DOCSPACE_URL"),
        "{shown}"
    );
    assert_eq!(server.seen().len(), 1, "{:?}", server.seen());
}
