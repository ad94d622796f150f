//! Dropbox client against the fake: error decoding per status and tag, token refresh
//! (single-flight), Retry-After pausing every caller, header-safe arguments, path root, sharing.

use std::time::{Duration, Instant};

use crate::client_support::{dropbox_client, dropbox_client_with};
use bridge_fakes::dropbox::{AccessError, DropboxOptions, FakeDropbox, Fault, MemberError};
use bytes::Bytes;
use docspace_dropbox_bridge::config::{DropboxAuth, PathRoot, Secret};
use docspace_dropbox_bridge::dropbox::{
    is_valid_email, wire, AccessLevel, CommitInfo, DropboxError, ListFolderArg, MemberSelector,
    Metadata, SharedFolderAccessError, UploadSessionCursor, WriteMode,
};

async fn fake() -> FakeDropbox {
    FakeDropbox::start(DropboxOptions::default())
        .await
        .expect("fake dropbox starts")
}

#[tokio::test]
async fn conflict_keeps_the_full_tag_path_and_decodes_typed() {
    let fake = fake().await;
    let client = dropbox_client(&fake);
    client
        .create_folder_v2("/Groups/Sales", false)
        .await
        .expect("create");
    let err = client
        .create_folder_v2("/groups/SALES", false)
        .await
        .expect_err("exists");
    assert_eq!(err.status(), Some(409));
    assert_eq!(err.tag(), Some("path/conflict/folder"));
    assert!(err.has_tag("path/conflict"));
    assert!(!err.is_retryable());
    assert!(matches!(
        err.route_error::<wire::CreateFolderError>(),
        Some(wire::CreateFolderError::Path {
            path: wire::WriteError::Conflict {
                conflict: wire::WriteConflictError::Folder
            }
        })
    ));
    let shown = err.to_string();
    assert!(
        shown.contains("dropbox files/create_folder_v2")
            && shown.contains("409")
            && shown.contains("path/conflict/folder"),
        "{shown}"
    );

    assert!(client
        .get_metadata("/nope", false)
        .await
        .expect("call")
        .is_none());
    match client
        .get_metadata("/Groups/Sales", false)
        .await
        .expect("call")
    {
        Some(Metadata::Folder(f)) => assert_eq!(f.name, "Sales"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn bad_request_is_plain_text_and_not_retried() {
    let fake = fake().await;
    let client = dropbox_client(&fake);
    let err = client
        .call_rpc::<_, serde_json::Value>("files/no_such_route", &serde_json::json!({}))
        .await
        .expect_err("400");
    assert!(matches!(err, DropboxError::BadRequest { .. }), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(fake.calls("files/no_such_route"), 0);
}

#[tokio::test]
async fn share_folder_is_idempotent_and_polls_async_jobs() {
    let fake = fake().await;
    let client = dropbox_client(&fake);
    let first = client.share_folder("/Groups/Ops").await.expect("share");
    let again = client
        .share_folder("/Groups/Ops")
        .await
        .expect("already_shared is Ok");
    assert_eq!(first.shared_folder_id, again.shared_folder_id);

    fake.set_share_folder_async(true);
    fake.update_knobs(|k| k.async_job_polls = 2);
    let polled = client
        .share_folder("/Groups/Async")
        .await
        .expect("async share");
    assert!(fake.calls("sharing/check_share_job_status") >= 2);
    assert_eq!(
        fake.shared_folder_by_path("/Groups/Async")
            .map(|s| s.shared_folder_id),
        Some(polled.shared_folder_id.clone())
    );
    let meta = client
        .get_folder_metadata(&polled.shared_folder_id)
        .await
        .expect("metadata");
    assert_eq!(meta.shared_folder_id, polled.shared_folder_id);
}

#[tokio::test]
async fn members_are_added_listed_and_removed() {
    let fake = fake().await;
    let client = dropbox_client(&fake);
    let sf = client.share_folder("/Groups/Team").await.expect("share");
    fake.add_user_auto("known@example.com");
    client
        .add_folder_member(
            &sf.shared_folder_id,
            &[
                ("known@example.com".into(), AccessLevel::Editor),
                ("new@example.com".into(), AccessLevel::Viewer),
            ],
            true,
        )
        .await
        .expect("add");
    let m = client
        .list_folder_members(&sf.shared_folder_id)
        .await
        .expect("list");
    let mut users: Vec<_> = m
        .users
        .iter()
        .map(|u| u.user.email.to_lowercase())
        .collect();
    users.sort();
    assert!(
        users.contains(&"known@example.com".to_string()),
        "{users:?}"
    );
    assert!(m.invitees.iter().any(|i| i.invitee
        == wire::InviteeInfo::Email {
            email: "new@example.com".into()
        }));

    client
        .remove_folder_member(
            &sf.shared_folder_id,
            MemberSelector::Email {
                email: "known@example.com".into(),
            },
        )
        .await
        .expect("remove");
    let info = fake.shared_folder(&sf.shared_folder_id).expect("folder");
    assert!(info.access_of("known@example.com").is_none());

    fake.set_member_error("bad@example.com", MemberError::InvalidEmail);
    let err = client
        .add_folder_member(
            &sf.shared_folder_id,
            &[("bad@example.com".into(), AccessLevel::Editor)],
            true,
        )
        .await
        .expect_err("bad member");
    assert_eq!(err.tag(), Some("bad_member/invalid_email"));
    assert!(matches!(
        err.route_error::<wire::AddFolderMemberError>(),
        Some(wire::AddFolderMemberError::BadMember {
            bad_member: wire::AddMemberSelectorError::InvalidEmail { .. }
        })
    ));
}

#[tokio::test]
async fn incorrect_offset_carries_the_correct_offset() {
    let fake = fake().await;
    let client = dropbox_client(&fake);
    let sid = client
        .upload_session_start(Bytes::from_static(b"abcd"), false, None)
        .await
        .expect("start");
    let err = client
        .upload_session_append_v2(
            UploadSessionCursor {
                session_id: sid,
                offset: 0,
            },
            Bytes::from_static(b"efgh"),
            false,
            None,
        )
        .await
        .expect_err("stale offset");
    assert_eq!(err.tag(), Some("incorrect_offset"));
    assert_eq!(err.correct_offset(), Some(4));
}

#[tokio::test]
async fn concurrent_callers_share_one_token_refresh() {
    let fake = fake().await;
    let client = dropbox_client(&fake);
    let burst = |n: usize| {
        let calls = (0..n).map(|i| {
            let c = client.clone();
            async move { c.get_metadata(&format!("/missing-{i}"), false).await }
        });
        futures::future::join_all(calls)
    };
    for r in burst(20).await {
        r.expect("call");
    }
    assert_eq!(
        fake.calls("oauth2/token"),
        1,
        "first use: one refresh for 20 callers"
    );

    // Every token Dropbox issued is now expired: each caller meets 401 expired_access_token,
    // one refresh happens, every call is repeated once with the new token.
    fake.expire_tokens();
    for r in burst(20).await {
        r.expect("call after expiry");
    }
    assert_eq!(
        fake.calls("oauth2/token"),
        2,
        "exactly one refresh after expiry"
    );
}

#[tokio::test]
async fn a_static_token_that_expired_is_an_auth_error_without_secrets() {
    let fake = fake().await;
    let client = dropbox_client_with(&fake, |d| {
        d.auth = DropboxAuth::Static(Secret::new("fake-static-token"));
    });
    client
        .get_current_account()
        .await
        .expect("static token works");
    fake.fail_next("users/get_current_account", Fault::ExpiredToken, 1);
    let err = client.get_current_account().await.expect_err("expired");
    assert_eq!(err.tag(), Some("expired_access_token"));
    assert!(!err.is_retryable());
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains("fake-static-token") && !shown.contains("fake-app-secret"),
        "{shown}"
    );
    assert_eq!(fake.calls("oauth2/token"), 0);
}

#[tokio::test]
async fn a_refused_refresh_token_is_reported_as_invalid_grant() {
    let fake = fake().await;
    let client = dropbox_client_with(&fake, |d| {
        d.auth = DropboxAuth::Refresh(Secret::new("revoked-refresh-token"));
    });
    let err = client
        .get_current_account()
        .await
        .expect_err("refresh refused");
    assert_eq!(err.tag(), Some("invalid_grant"));
    assert!(!err.to_string().contains("revoked-refresh-token"));
}

#[tokio::test]
async fn retry_after_pauses_every_caller() {
    let fake = fake().await;
    let client = dropbox_client(&fake);
    client.get_current_account().await.expect("warm up token");
    fake.fail_next("files/get_metadata", Fault::RateLimit { retry_after: 1 }, 1);

    let start = Instant::now();
    let a = {
        let c = client.clone();
        tokio::spawn(async move { c.get_metadata("/x", false).await.map(|_| Instant::now()) })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(client.pacer().remaining().is_some());
    client
        .list_folder(&ListFolderArg::new(""))
        .await
        .expect("B waits, then succeeds");
    let b_done = Instant::now();
    let a_done = a.await.expect("join").expect("A retried after the pause");
    assert!(a_done - start >= Duration::from_millis(950));
    assert!(
        b_done - start >= Duration::from_millis(950),
        "B was paused too"
    );
    assert_eq!(
        fake.calls("files/list_folder"),
        1,
        "B was held back, not refused"
    );
    assert_eq!(fake.calls("files/get_metadata"), 2);
}

#[tokio::test]
async fn a_429_from_the_token_endpoint_pauses_callers_for_its_retry_after() {
    let fake = fake().await;
    let client = dropbox_client(&fake);
    fake.fail_next("oauth2/token", Fault::RateLimit { retry_after: 1 }, 1);
    let start = Instant::now();
    let a = {
        let c = client.clone();
        tokio::spawn(async move { c.get_current_account().await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(client.pacer().remaining().is_some(), "provider paused");
    a.await.expect("join").expect("token after the pause");
    let waited = start.elapsed();
    // `Retry-After: 1` was obeyed (the fallback without the header is 5 s).
    assert!(waited >= Duration::from_millis(950), "{waited:?}");
    assert!(waited < Duration::from_secs(4), "{waited:?}");
    assert_eq!(fake.calls("oauth2/token"), 2);
}

#[tokio::test]
async fn plain_text_429_and_5xx_are_retried_then_returned() {
    let fake = fake().await;
    let client = dropbox_client(&fake);
    fake.fail_next(
        "files/list_folder",
        Fault::RateLimitPlainText { retry_after: 1 },
        1,
    );
    fake.fail_next("files/list_folder", Fault::ServerError { status: 503 }, 1);
    client
        .list_folder(&ListFolderArg::new(""))
        .await
        .expect("retried");
    assert_eq!(fake.calls("files/list_folder"), 3);

    fake.fail_next("files/list_folder", Fault::ServerError { status: 500 }, 10);
    let err = client
        .list_folder(&ListFolderArg::new(""))
        .await
        .expect_err("bounded");
    assert_eq!(err.status(), Some(500));
    assert!(err.is_retryable(), "the job queue reschedules it");
    assert_eq!(fake.calls("files/list_folder"), 3 + 5, "1 try + 4 retries");
    fake.clear_faults();

    fake.fail_next(
        "files/create_folder_v2",
        Fault::WriteContention { retry_after: 1 },
        1,
    );
    client
        .create_folder_v2("/contended", false)
        .await
        .expect("retried");
}

#[tokio::test]
async fn non_ascii_and_emoji_paths_travel_as_header_safe_json() {
    let fake = fake().await;
    let client = dropbox_client(&fake);
    let path = "/Ünïcødé 😀/файл ü.txt";
    let meta = client
        .upload(
            &CommitInfo::new(path, WriteMode::Add),
            Bytes::from_static(b"hello"),
        )
        .await
        .expect("upload with non-ASCII Dropbox-API-Arg");
    assert_eq!(meta.name, "файл ü.txt");
    let stored = fake.file(path).expect("stored");
    assert_eq!(stored.path_display, path);
    assert_eq!(Some(stored.content_hash), meta.content_hash);
}

#[tokio::test]
async fn root_path_root_fetches_the_namespace_once() {
    let fake = fake().await;
    let client = dropbox_client_with(&fake, |d| d.path_root = PathRoot::Root);
    client
        .create_folder_v2("/Team A", false)
        .await
        .expect("create");
    client
        .create_folder_v2("/Team B", false)
        .await
        .expect("create");
    assert!(fake.exists("/Team B"));
    assert_eq!(fake.calls("users/get_current_account"), 1);
}

#[tokio::test]
async fn listing_moves_deletes_and_cursors() {
    let fake = fake().await;
    let client = dropbox_client(&fake);
    client.create_folder_v2("/a", false).await.expect("create");
    let cursor = client
        .list_folder_get_latest_cursor(&ListFolderArg {
            recursive: true,
            include_deleted: true,
            ..ListFolderArg::new("")
        })
        .await
        .expect("cursor");
    client.move_v2("/a", "/b", false).await.expect("move");
    client.delete_v2("/b").await.expect("delete");
    let page = client.list_folder_continue(&cursor).await.expect("changes");
    assert!(page
        .entries
        .iter()
        .any(|e| matches!(e, Metadata::Deleted(d) if d.path_lower.as_deref() == Some("/a"))));
    fake.reset_cursors();
    let err = client
        .list_folder_continue(&page.cursor)
        .await
        .expect_err("reset");
    assert_eq!(err.tag(), Some("reset"));
}

#[tokio::test]
async fn shared_folder_access_errors_are_recognised_bare_and_nested() {
    let fake = fake().await;
    let client = dropbox_client(&fake);
    let sf = client.share_folder("/Groups/Gone").await.expect("share");
    let id = sf.shared_folder_id.as_str();
    let invite = [("x@example.com".to_string(), AccessLevel::Editor)];
    for (knob, tag, want) in [
        (
            AccessError::InvalidId,
            "invalid_id",
            SharedFolderAccessError::InvalidId,
        ),
        (
            AccessError::NotAMember,
            "not_a_member",
            SharedFolderAccessError::NotAMember,
        ),
        (
            AccessError::Unmounted,
            "unmounted",
            SharedFolderAccessError::Unmounted,
        ),
    ] {
        fake.set_access_error(id, Some(knob));
        // The folder routes send the access error bare...
        let e = client.get_folder_metadata(id).await.expect_err("metadata");
        assert_eq!(e.tag(), Some(tag));
        assert_eq!(e.shared_folder_access(), Some(want.clone()), "{e}");
        assert!(e.is_shared_folder_gone(), "{e}");
        assert!(!e.is_retryable());
        let e = client.list_folder_members(id).await.expect_err("members");
        assert_eq!(e.tag(), Some(tag));
        assert_eq!(e.shared_folder_access(), Some(want.clone()), "{e}");
        assert!(e.is_shared_folder_gone(), "{e}");
        // ...the member routes nest it under access_error.
        let e = client
            .add_folder_member(id, &invite, true)
            .await
            .expect_err("add");
        assert_eq!(e.tag(), Some(format!("access_error/{tag}").as_str()));
        assert_eq!(e.shared_folder_access(), Some(want), "{e}");
        assert!(e.is_shared_folder_gone(), "{e}");
    }
    // The caller's own account being disabled is not the folder being gone.
    fake.set_access_error(id, Some(AccessError::InvalidMember));
    let e = client.get_folder_metadata(id).await.expect_err("metadata");
    assert_eq!(
        e.shared_folder_access(),
        Some(SharedFolderAccessError::InvalidMember)
    );
    assert!(!e.is_shared_folder_gone());
    // Other route errors are no access errors at all.
    fake.set_access_error(id, None);
    let e = client
        .create_folder_v2("/Groups/Gone", false)
        .await
        .expect_err("exists");
    assert_eq!(e.shared_folder_access(), None);
    assert!(!e.is_shared_folder_gone());
}

#[tokio::test]
async fn addresses_with_apostrophe_hash_and_ampersand_are_invited() {
    let fake = fake().await;
    let client = dropbox_client(&fake);
    let sf = client.share_folder("/Groups/Mail").await.expect("share");
    let emails = ["o'neil@example.com", "a#b@example.com", "r&d@example.com"];
    for e in emails {
        assert!(is_valid_email(e), "{e}");
    }
    let members: Vec<(String, AccessLevel)> = emails
        .iter()
        .map(|e| (e.to_string(), AccessLevel::Viewer))
        .collect();
    client
        .add_folder_member(&sf.shared_folder_id, &members, true)
        .await
        .expect("Dropbox's pattern takes all three");
    let listed = client
        .list_folder_members(&sf.shared_folder_id)
        .await
        .expect("list");
    for e in emails {
        assert!(
            listed.invitees.iter().any(|i| i.invitee
                == wire::InviteeInfo::Email {
                    email: e.to_string()
                }),
            "{e} invited: {:?}",
            listed.invitees
        );
    }
}

#[tokio::test]
async fn a_shared_folder_deleted_by_hand_is_mounted_back_with_its_id_and_members() {
    let fake = fake().await;
    let client = dropbox_client(&fake);
    let sf = client.share_folder("/Groups/Kept").await.expect("share");
    let id = sf.shared_folder_id.as_str();
    client
        .add_folder_member(id, &[("mia@example.com".into(), AccessLevel::Editor)], true)
        .await
        .expect("invite");
    assert!(fake.delete("/Groups/Kept"), "deleted by hand");

    let meta = client.get_folder_metadata(id).await.expect("still known");
    assert_eq!(meta.path_lower, None, "unmounted: no path");
    let mounted = client.mount_folder(id).await.expect("mount");
    assert_eq!(mounted.shared_folder_id, id);
    assert_eq!(mounted.path_display.as_deref(), Some("/Kept"));
    let members = client.list_folder_members(id).await.expect("members");
    assert!(members.invitees.iter().any(|i| i.invitee
        == wire::InviteeInfo::Email {
            email: "mia@example.com".into()
        }));

    let e = client.mount_folder(id).await.expect_err("already mounted");
    assert_eq!(e.tag(), Some("already_mounted"));
    assert!(!e.is_shared_folder_gone());
    assert!(fake.unshare_by_hand(id));
    let e = client.mount_folder(id).await.expect_err("unshared");
    assert_eq!(e.tag(), Some("access_error/invalid_id"));
    assert!(e.is_shared_folder_gone());
}
