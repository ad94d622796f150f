//! Export benchmark (not a test), against the DocSpace and Dropbox stand-ins started here:
//!
//! 1. One 1 GiB export by the real CLI (`export <file-id>`) in a child process: throughput and the
//!    child's peak RSS (`wait4` rusage), beside the raw throughput of streaming the same number
//!    of bytes from the DocSpace stand-in to the Dropbox stand-in with no bridge logic (one
//!    pipelined download feeding upload-session appends, no hashing, no buffering), in the same
//!    run; and the same export through the service (`serve` in a child process, the job
//!    enqueued by the API and run by a worker), timed from the API call to the job's success.
//! 2. 1,000 files of 100 KiB exported concurrently by the service's workers: files per second.
//!
//! Goals: peak RSS under 64 MiB; 1 GiB throughput at least 75% of the raw figure; 1,000 small
//! files at 1,000 files/s or more, none dead. Before the small files, `sync` writes back what the
//! large ones left in the page cache.
//!
//! `cargo bench --bench export [-- --mib 1024 --runs 3 --files 1000 --workers 32]`

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bridge_fakes::docspace::FakeDocSpace;
use bridge_fakes::dropbox::FakeDropbox;
use bytes::Bytes;
use docspace_dropbox_bridge::jobs::{FileExport, JobKind};
use docspace_dropbox_bridge::store::{self, JobState};
use futures::StreamExt;
use serde_json::json;

#[path = "support/mod.rs"]
mod support;
use support::{arg, bridge_env, start_service, write_back, API_TOKEN};

const MIB: u64 = 1024 * 1024;

/// The raw pipe: DocSpace presigned download → Dropbox upload session, segment by segment
/// (each ≤ 128 MiB, one request body streamed straight from the download), then `finish`.
async fn raw_stream(ds: &FakeDocSpace, db: &FakeDropbox, file_id: i64, path: &str) -> Duration {
    let http = reqwest::Client::new();
    let key = ds.api_key().to_string();
    let token = db.issue_token();
    let started = Instant::now();
    let presigned: serde_json::Value = http
        .get(format!(
            "{}/api/2.0/files/file/{file_id}/presigneduri",
            ds.url()
        ))
        .bearer_auth(&key)
        .send()
        .await
        .expect("presigneduri")
        .json()
        .await
        .expect("json");
    let url = presigned["response"].as_str().expect("url").to_string();
    let download = http
        .get(url)
        .bearer_auth(&key)
        .send()
        .await
        .expect("download");
    let mut body = download.bytes_stream();
    let content = |route: &str, arg: serde_json::Value| {
        http.post(format!("{}/2/{route}", db.content_url()))
            .bearer_auth(&token)
            .header("Dropbox-API-Arg", arg.to_string())
            .header("Content-Type", "application/octet-stream")
    };
    let start: serde_json::Value = content("files/upload_session/start", json!({}))
        .body(Bytes::new())
        .send()
        .await
        .expect("start")
        .json()
        .await
        .expect("json");
    let session = start["session_id"].as_str().expect("session").to_string();
    const SEGMENT: u64 = 128 * MIB;
    let mut offset = 0u64;
    let mut carry: Option<Bytes> = None;
    loop {
        let (tx, rx) = futures::channel::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
        let req = content(
            "files/upload_session/append_v2",
            json!({"cursor": {"session_id": session, "offset": offset}, "close": false}),
        )
        .body(reqwest::Body::wrap_stream(rx))
        .send();
        let send = tokio::spawn(req);
        let mut tx = tx;
        let mut sent = 0u64;
        let mut ended = false;
        while sent < SEGMENT {
            let item = match carry.take() {
                Some(b) => b,
                None => match body.next().await {
                    Some(Ok(b)) => b,
                    Some(Err(e)) => panic!("download broke: {e}"),
                    None => {
                        ended = true;
                        break;
                    }
                },
            };
            let room = (SEGMENT - sent) as usize;
            let mut item = item;
            if item.len() > room {
                carry = Some(item.split_off(room));
            }
            sent += item.len() as u64;
            futures::SinkExt::send(&mut tx, Ok(item))
                .await
                .expect("pipe");
        }
        drop(tx);
        let resp = send.await.expect("join").expect("append");
        assert!(resp.status().is_success(), "append: {}", resp.status());
        offset += sent;
        if ended || (carry.is_none() && sent < SEGMENT) {
            break;
        }
    }
    let resp = content(
        "files/upload_session/finish",
        json!({"cursor": {"session_id": session, "offset": offset},
               "commit": {"path": path, "mode": {".tag": "overwrite"}}}),
    )
    .body(Bytes::new())
    .send()
    .await
    .expect("finish");
    assert!(resp.status().is_success(), "finish: {}", resp.status());
    started.elapsed()
}

/// One export through the service: `serve` in a child process, the job enqueued through the
/// API and run by a worker. Wall time from the API call to the job's success; the service's
/// CPU and peak RSS over its whole life.
async fn service_export(env: &HashMap<String, String>, file_id: i64) -> ChildRun {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut env = env.clone();
    env.insert("BRIDGE_LISTEN".into(), format!("127.0.0.1:{port}"));
    let db = env["BRIDGE_DATABASE_URL"].replace("bench.db", "service.db");
    env.insert("BRIDGE_DATABASE_URL".into(), db);
    #[allow(clippy::zombie_processes)] // reaped by `reap` with wait4
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_docspace-dropbox-bridge"))
        .arg("serve")
        .env_clear()
        .envs(&env)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn serve");
    let pid = child.id() as libc::pid_t;
    let http = reqwest::Client::new();
    let ready = Instant::now();
    while !http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            ready.elapsed() < Duration::from_secs(20),
            "service did not start"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    let job: serde_json::Value = http
        .post(format!("{base}/api/v1/files/{file_id}/export"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("export")
        .json()
        .await
        .expect("json");
    let id = job["job"]["id"].as_i64().expect("job id");
    let wall = loop {
        let j: serde_json::Value = http
            .get(format!("{base}/api/v1/jobs/{id}"))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .expect("job")
            .json()
            .await
            .expect("json");
        match j["job"]["state"].as_str() {
            Some("succeeded") => break started.elapsed(),
            Some("dead") => panic!("export job died: {j}"),
            _ => tokio::time::sleep(Duration::from_millis(2)).await,
        }
    };
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let mut run = tokio::task::spawn_blocking(move || reap(pid))
        .await
        .expect("join");
    run.wall = wall;
    run
}

/// What one CLI run cost.
struct ChildRun {
    wall: Duration,
    cpu: Duration,
    peak_rss: u64,
}

/// Runs the CLI export in a child process and reads its rusage.
fn cli_export(env: &HashMap<String, String>, file_id: i64) -> ChildRun {
    let started = Instant::now();
    // Reaped below with wait4, which also reports the child's rusage.
    #[allow(clippy::zombie_processes)]
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_docspace-dropbox-bridge"))
        .arg("export")
        .arg(file_id.to_string())
        .env_clear()
        .envs(env)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn CLI");
    let mut run = reap(child.id() as libc::pid_t);
    run.wall = started.elapsed();
    run
}

/// Waits for a child to exit successfully and reads its rusage.
fn reap(pid: libc::pid_t) -> ChildRun {
    let mut status = 0;
    // SAFETY: FFI with pointers to locals; `pid` is our own child, reaped only here.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child failed"
    );
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    ChildRun {
        wall: Duration::ZERO,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        peak_rss: usage.ru_maxrss as u64 * 1024,
    }
}

fn mib_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / MIB as f64 / d.as_secs_f64()
}

#[tokio::main]
async fn main() {
    let mib = arg("--mib", 1024);
    let files = arg("--files", 1000);
    let workers = arg("--workers", 32);
    let runs = arg("--runs", 3).max(1);
    let size = mib * MIB;
    let ds = FakeDocSpace::start(Default::default())
        .await
        .expect("DocSpace stand-in");
    let db = FakeDropbox::start(Default::default())
        .await
        .expect("Dropbox stand-in");
    let dir = tempfile::tempdir().expect("tmp");
    let env = bridge_env(&ds, &db, dir.path());
    // One-shot commands open an existing database only, as after `migrate`.
    store::connect(&env["BRIDGE_DATABASE_URL"])
        .await
        .expect("database created");

    // --- 1. one large file --------------------------------------------------------------------
    // Best of `runs` for each, interleaved, because the host may be shared.
    let room = ds.create_room("Bench");
    let mut raw = Duration::MAX;
    let mut bridge: Option<ChildRun> = None;
    let mut service: Option<ChildRun> = None;
    let mut peak = 0;
    for run in 0..runs {
        let raw_id = ds
            .create_file(room, &format!("raw{run}.bin"), size)
            .expect("file");
        let cli_id = ds
            .create_file(room, &format!("bridge{run}.bin"), size)
            .expect("file");
        let raw_path = format!("/raw/raw{run}.bin");
        raw = raw.min(raw_stream(&ds, &db, raw_id, &raw_path).await);
        assert_eq!(db.file(&raw_path).map(|f| f.size), Some(size));
        let env2 = env.clone();
        let r = tokio::task::spawn_blocking(move || cli_export(&env2, cli_id))
            .await
            .expect("join");
        let f = db
            .file(&format!("/DocSpace Export/Bench/bridge{run}.bin"))
            .expect("exported");
        assert_eq!(Some(f.content_hash), ds.dropbox_content_hash(cli_id, 1));
        peak = peak.max(r.peak_rss);
        if bridge.as_ref().is_none_or(|b| r.wall < b.wall) {
            bridge = Some(r);
        }
        let svc_id = ds
            .create_file(room, &format!("service{run}.bin"), size)
            .expect("file");
        let r = service_export(&env, svc_id).await;
        let f = db
            .file(&format!("/DocSpace Export/Bench/service{run}.bin"))
            .expect("exported");
        assert_eq!(Some(f.content_hash), ds.dropbox_content_hash(svc_id, 1));
        if service.as_ref().is_none_or(|b| r.wall < b.wall) {
            service = Some(r);
        }
    }
    let service = service.expect("at least one run");
    let bridge = bridge.expect("at least one run");
    let (raw_rate, bridge_rate) = (mib_s(size, raw), mib_s(size, bridge.wall));
    println!("export of one {mib} MiB file (best of {runs})");
    println!(
        "  raw stream (no bridge logic): {:>8.1} MiB/s  ({:.2} s)",
        raw_rate,
        raw.as_secs_f64()
    );
    println!(
        "  bridge CLI export:            {:>8.1} MiB/s  ({:.2} s incl. process start; {:.2} s CPU) = {:.0}% of raw (goal >= 75%)",
        bridge_rate,
        bridge.wall.as_secs_f64(),
        bridge.cpu.as_secs_f64(),
        100.0 * bridge_rate / raw_rate
    );
    println!(
        "  service export (API -> worker): {:>7.1} MiB/s  ({:.2} s from the API call to success) = {:.0}% of raw; service peak RSS {:.1} MiB",
        mib_s(size, service.wall),
        service.wall.as_secs_f64(),
        100.0 * mib_s(size, service.wall) / raw_rate,
        service.peak_rss as f64 / MIB as f64
    );
    println!(
        "  bridge peak RSS (max of runs): {:>7.1} MiB (goal < 64 MiB)",
        peak as f64 / MIB as f64
    );

    // --- 2. many small files ------------------------------------------------------------------
    let mut env = env;
    env.insert("WORKER_CONCURRENCY".into(), workers.to_string());
    let (app, st) = start_service(&env).await;
    let folder = ds.create_folder(room, "many").expect("folder");
    let ids: Vec<i64> = (0..files)
        .map(|i| {
            ds.create_file(folder, &format!("f{i:04}.bin"), 100 * 1024)
                .expect("file")
        })
        .collect();
    db.reset_counters();
    // The large files' bytes are still being written back; without this the small files'
    // fsyncs would queue behind them, as much as a third of their rate on some machines.
    write_back();
    let started = Instant::now();
    let jobs = ids
        .iter()
        .map(|id| FileExport::manual(id.to_string(), None).to_new_job())
        .collect();
    st.enqueue(jobs).await.expect("enqueue");
    app.wait_idle().await;
    let elapsed = started.elapsed();
    let depth = st.queue_depth().await.expect("depth");
    let ok = depth.get(&JobState::Succeeded).copied().unwrap_or(0);
    let dead = depth.get(&JobState::Dead).copied().unwrap_or(0);
    println!("{files} files of 100 KiB exported concurrently (WORKER_CONCURRENCY={workers})");
    println!(
        "  {:>8.1} files/s  ({:.2} s; succeeded {ok}, dead {dead}; {} finish_batch_v2 calls)",
        files as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
        db.calls("files/upload_session/finish_batch_v2")
    );
    app.shutdown().await;
}
