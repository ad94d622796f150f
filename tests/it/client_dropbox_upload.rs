//! Streamed uploads against the fake Dropbox: small bodies through `files/upload`, large ones
//! through sessions in 4 MiB-multiple chunks, content hash computed while streaming and equal to
//! what Dropbox stored, recovery from a lost append response, batch commits, and a DocSpace
//! download streamed straight into Dropbox.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::client_support::{config, docspace_client, dropbox_client, env, fast_retry};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bridge_fakes::docspace::{DocSpaceOptions, FakeDocSpace};
use bridge_fakes::dropbox::{DropboxOptions, FakeDropbox, Fault};
use bytes::Bytes;
use docspace_dropbox_bridge::dropbox::content_hash::{ContentHasher, EMPTY_HASH};
use docspace_dropbox_bridge::dropbox::{
    CommitInfo, DropboxClient, DropboxError, Progress, UploadOptions, WriteMode,
};
use docspace_dropbox_bridge::provider::http_client;
use futures::Stream;

const MIB: u64 = 1024 * 1024;

async fn fake() -> FakeDropbox {
    FakeDropbox::start(DropboxOptions::default())
        .await
        .expect("fake dropbox starts")
}

/// `total` deterministic bytes in pieces of `piece` bytes (not block-aligned on purpose).
fn generated(total: u64, piece: usize) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let base: Vec<u8> = (0..piece)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let pieces = total.div_ceil(piece as u64);
    futures::stream::iter((0..pieces).map(move |i| {
        let len = (total - i * piece as u64).min(piece as u64) as usize;
        let mut v = base[..len].to_vec();
        // Make every piece differ so misplaced chunks change the hash.
        for (b, k) in v.iter_mut().zip(i.to_le_bytes()) {
            *b ^= k;
        }
        Ok(Bytes::from(v))
    }))
}

async fn expected_hash(total: u64, piece: usize) -> String {
    use futures::StreamExt;
    let mut h = ContentHasher::new();
    let mut s = std::pin::pin!(generated(total, piece));
    while let Some(b) = s.next().await {
        h.update(&b.expect("generated"));
    }
    h.finish()
}

async fn upload_and_check(
    client: &DropboxClient,
    fake: &FakeDropbox,
    path: &str,
    total: u64,
    opts: &UploadOptions,
) {
    let piece = 1_000_003;
    let meta = client
        .upload_stream(
            &CommitInfo::new(path, WriteMode::Overwrite),
            generated(total, piece),
            Some(total),
            opts,
        )
        .await
        .unwrap_or_else(|e| panic!("upload of {total} bytes: {e}"));
    let stored = fake.file(path).expect("stored");
    assert_eq!(stored.size, total);
    assert_eq!(meta.size, total);
    assert_eq!(
        meta.content_hash.as_deref(),
        Some(stored.content_hash.as_str())
    );
    if total <= 200 * MIB {
        assert_eq!(
            stored.content_hash,
            expected_hash(total, piece).await,
            "{total} bytes"
        );
    }
}

#[tokio::test]
async fn small_bodies_go_through_files_upload() {
    let fake = fake().await;
    let client = dropbox_client(&fake);
    let opts = UploadOptions::default();
    for (i, total) in [0, 1, 4 * MIB].into_iter().enumerate() {
        upload_and_check(&client, &fake, &format!("/small/{i}.bin"), total, &opts).await;
    }
    assert_eq!(
        fake.file("/small/0.bin").map(|f| f.content_hash).as_deref(),
        Some(EMPTY_HASH)
    );
    assert_eq!(fake.calls("files/upload"), 3);
    assert_eq!(fake.calls("files/upload_session/start"), 0);
}

#[tokio::test]
async fn the_threshold_picks_upload_or_session() {
    let fake = fake().await;
    let client = dropbox_client(&fake);
    let opts = UploadOptions {
        upload_threshold: MIB,
        ..Default::default()
    };
    upload_and_check(&client, &fake, "/t/at.bin", MIB, &opts).await;
    assert_eq!(fake.calls("files/upload"), 1);
    upload_and_check(&client, &fake, "/t/over.bin", MIB + 1, &opts).await;
    assert_eq!(fake.calls("files/upload"), 1);
    assert_eq!(fake.calls("files/upload_session/start"), 1);
    assert_eq!(fake.calls("files/upload_session/finish"), 1);
    assert_eq!(fake.open_sessions(), 0);
}

#[tokio::test]
async fn just_over_150_mib_goes_through_a_session_with_progress() {
    let fake = fake().await;
    let client = dropbox_client(&fake);
    let seen = Arc::new(AtomicU64::new(0));
    let opts = UploadOptions {
        progress: Some({
            let seen = seen.clone();
            Arc::new(move |n| {
                seen.fetch_max(n, Ordering::SeqCst);
            })
        }),
        ..Default::default()
    };
    let total = 150 * MIB + 1;
    upload_and_check(&client, &fake, "/big/150m+1.bin", total, &opts).await;
    assert_eq!(seen.load(Ordering::SeqCst), total);
    assert_eq!(fake.calls("files/upload"), 0);
    // 8 MiB chunks: start + 18 appends (the last, 6 MiB + 1 B, closes the session).
    assert_eq!(fake.calls("files/upload_session/start"), 1);
    assert_eq!(fake.calls("files/upload_session/append_v2"), 18);
}

/// Progress values as reported.
fn recorder() -> (Arc<Mutex<Vec<u64>>>, Option<Progress>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    (
        seen,
        Some(Arc::new(move |n| s.lock().expect("lock").push(n))),
    )
}

#[tokio::test]
async fn concurrent_sessions_land_every_boundary_size_whole() {
    let fake = fake().await;
    let client = dropbox_client(&fake);
    // (appends in flight, size): the closing append carries a full chunk, one byte, a short
    // remainder; more appends allowed than there are chunks.
    for (parallel, total) in [
        (2, 8 * MIB),
        (2, 12 * MIB),
        (4, 4 * MIB + 1),
        (8, 9 * MIB),
        (3, 21 * MIB + 7),
    ] {
        let (seen, progress) = recorder();
        let opts = UploadOptions {
            chunk_size: 4 * MIB as usize,
            parallel,
            progress,
            ..Default::default()
        };
        let before = fake.calls("files/upload_session/append_v2");
        let path = format!("/c/{parallel}-{total}.bin");
        upload_and_check(&client, &fake, &path, total, &opts).await;
        // A concurrent session: the start carries no data, every chunk is its own append.
        assert_eq!(
            fake.calls("files/upload_session/append_v2") - before,
            total.div_ceil(4 * MIB),
            "{path}"
        );
        let seen = seen.lock().expect("lock").clone();
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{path}: {seen:?}");
        assert_eq!(seen.last(), Some(&total), "{path}");
    }
    assert_eq!(fake.open_sessions(), 0);
}

#[tokio::test]
async fn lost_answers_in_a_concurrent_session_are_repeated_harmlessly() {
    let fake = fake().await;
    let client = dropbox_client(&fake);
    for route in [
        "files/upload_session/start",
        "files/upload_session/append_v2",
    ] {
        fake.fail_next(route, Fault::ResponseLost { status: 504 }, 1);
    }
    let opts = UploadOptions {
        chunk_size: 4 * MIB as usize,
        parallel: 3,
        ..Default::default()
    };
    upload_and_check(&client, &fake, "/lost.bin", 10 * MIB + 5, &opts).await;
    for route in [
        "files/upload_session/start",
        "files/upload_session/append_v2",
    ] {
        assert_eq!(fake.calls(route), fake.ok_calls(route) + 1, "{route}");
    }
}

#[tokio::test]
async fn a_failure_while_appends_are_in_flight_commits_nothing() {
    let fake = fake().await;
    let client = dropbox_client(&fake);
    let opts = UploadOptions {
        chunk_size: 4 * MIB as usize,
        parallel: 2,
        ..Default::default()
    };
    let commit = CommitInfo::new("/broken.bin", WriteMode::Add);
    // Dropbox keeps failing one append: the error comes out once the retries are spent.
    fake.fail_next(
        "files/upload_session/append_v2",
        Fault::ServerError { status: 500 },
        10,
    );
    let err = client
        .upload_stream(&commit, generated(20 * MIB, 999_983), None, &opts)
        .await
        .expect_err("appends keep failing");
    assert!(matches!(err, DropboxError::Server { .. }), "{err:?}");
    fake.clear_faults();
    // The download breaks after two chunks while their appends travel.
    let broken = futures::StreamExt::chain(
        generated(9 * MIB, 999_983),
        futures::stream::iter([Err(std::io::Error::other("connection reset"))]),
    );
    let err = client
        .upload_stream(&commit, broken, None, &opts)
        .await
        .expect_err("source broke");
    assert!(matches!(err, DropboxError::Source { .. }), "{err:?}");
    assert!(fake.file("/broken.bin").is_none());
    assert_eq!(fake.calls("files/upload_session/finish"), 0);
}

#[tokio::test]
async fn a_64_mib_stream_hashes_like_dropbox() {
    let fake = fake().await;
    let client = dropbox_client(&fake);
    upload_and_check(
        &client,
        &fake,
        "/big/64m.bin",
        64 * MIB,
        &UploadOptions::default(),
    )
    .await;
}

/// About 3 s in a debug build here (SHA-256 runs in the optimised dependency).
#[tokio::test]
async fn a_1_gib_generated_stream_hashes_like_dropbox() {
    let fake = fake().await;
    let client = dropbox_client(&fake);
    let opts = UploadOptions {
        chunk_size: 16 * MIB as usize,
        ..Default::default()
    };
    upload_and_check(&client, &fake, "/big/1g.bin", 1024 * MIB, &opts).await;
}

#[tokio::test]
async fn a_wrong_announced_length_is_an_error() {
    let fake = fake().await;
    let client = dropbox_client(&fake);
    let err = client
        .upload_stream(
            &CommitInfo::new("/len.bin", WriteMode::Add),
            generated(5, 5),
            Some(10),
            &UploadOptions::default(),
        )
        .await
        .expect_err("length mismatch");
    assert!(
        matches!(
            err,
            DropboxError::LengthMismatch {
                expected: 10,
                actual: 5,
                ..
            }
        ),
        "{err}"
    );
    assert!(!fake.exists("/len.bin"));
}

#[tokio::test]
async fn closed_sessions_commit_together_in_one_batch() {
    let fake = fake().await;
    let client = dropbox_client(&fake);
    let opts = UploadOptions::default();
    let a = client
        .upload_to_session(generated(3 * MIB, 65_536), None, &opts)
        .await
        .expect("session a");
    let b = client
        .upload_to_session(generated(9 * MIB + 5, 65_536), None, &opts)
        .await
        .expect("session b");
    assert_eq!(b.size, 9 * MIB + 5);
    let results = client
        .finish_sessions(vec![
            (a.clone(), CommitInfo::new("/batch/a.bin", WriteMode::Add)),
            (b.clone(), CommitInfo::new("/batch/b.bin", WriteMode::Add)),
        ])
        .await
        .expect("batch call");
    for r in &results {
        assert!(r.is_ok(), "{r:?}");
    }
    assert_eq!(
        fake.file("/batch/a.bin").map(|f| f.content_hash),
        Some(a.content_hash)
    );
    assert_eq!(
        fake.file("/batch/b.bin").map(|f| f.content_hash),
        Some(b.content_hash)
    );
    assert_eq!(fake.calls("files/upload_session/finish_batch_v2"), 1);
}

/// Forwards to the fake's content host, but swallows the answer to the first `append_v2`
/// (answering 503 instead) as a flaky network would.
#[derive(Clone)]
struct LossyProxy {
    upstream: String,
    dropped: Arc<AtomicBool>,
    http: reqwest::Client,
}

async fn lossy(State(p): State<LossyProxy>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let headers = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), 200 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let mut fwd = p.http.post(format!("{}{}", p.upstream, path)).body(body);
    for (k, v) in headers.iter() {
        if k != "host" && k != "content-length" {
            fwd = fwd.header(k, v);
        }
    }
    let resp = match fwd.send().await {
        Ok(r) => r,
        Err(_) => return axum::http::StatusCode::BAD_GATEWAY.into_response(),
    };
    if path.ends_with("append_v2") && !p.dropped.swap(true, Ordering::SeqCst) {
        return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let bytes = resp.bytes().await.unwrap_or_default();
    Response::builder()
        .status(status)
        .header("content-type", ct)
        .body(Body::from(bytes))
        .unwrap_or_else(|_| axum::http::StatusCode::BAD_GATEWAY.into_response())
}

#[tokio::test]
async fn a_lost_append_answer_is_resynced_from_correct_offset() {
    let fake = fake().await;
    let proxy = LossyProxy {
        upstream: fake.content_url(),
        dropped: Arc::new(AtomicBool::new(false)),
        http: reqwest::Client::new(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new()
        .fallback(lossy)
        .with_state(proxy.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let e = env(
        &fake.api_url(),
        &format!("http://{addr}"),
        "http://127.0.0.1:9",
        "sk-unused",
    );
    let client = DropboxClient::with_retry_policy(&config(&e).dropbox, http_client(), fast_retry());
    let total = 20 * MIB + 3;
    upload_and_check(
        &client,
        &fake,
        "/lossy.bin",
        total,
        &UploadOptions::default(),
    )
    .await;
    assert!(proxy.dropped.load(Ordering::SeqCst));
    // 8 + 8 + 4 MiB + 3: start, two appends, and one repeat of the append whose answer was lost.
    assert_eq!(fake.calls("files/upload_session/append_v2"), 3);
    assert_eq!(fake.ok_calls("files/upload_session/append_v2"), 2);
}

#[tokio::test]
async fn a_docspace_download_streams_into_dropbox_with_matching_hash() {
    let docspace = FakeDocSpace::start(DocSpaceOptions::default())
        .await
        .expect("docspace");
    let room = docspace.create_room("Finance");
    let size = 20 * MIB + 12_345;
    let file = docspace
        .create_file(room, "report.pdf", size)
        .expect("file");
    let ds = docspace_client(&docspace);
    let dropbox = fake().await;
    let db = dropbox_client(&dropbox);

    let url = ds.presigned_uri(&file.to_string()).await.expect("uri");
    let dl = ds.download(&url).await.expect("download");
    let len = dl.content_length;
    assert_eq!(len, Some(size));
    let meta = db
        .upload_stream(
            &CommitInfo::new("/DocSpace Export/Finance/report.pdf", WriteMode::Add),
            dl,
            len,
            &UploadOptions::default(),
        )
        .await
        .expect("export");
    assert_eq!(meta.content_hash, docspace.dropbox_content_hash(file, 1));
}
