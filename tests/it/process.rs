//! The real binary: configuration errors, crash safety under `kill -9`, graceful SIGTERM, and
//! what a process reports of itself alone (its last-success gauges and job counters, which tests
//! sharing this process would move).

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_docspace-dropbox-bridge");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn start(env: &HashMap<String, String>) -> Child {
    Command::new(BIN)
        .env_clear()
        .envs(env)
        .current_dir(env.get("HOME_DIR").map(String::as_str).unwrap_or("/tmp"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts")
}

/// The environment of a bridge without workers on `database_url`, working in `dir`, listening on
/// a free port; and its base URL.
fn workers_off(dir: &Path, database_url: String) -> (HashMap<String, String>, String) {
    let port = free_port();
    let mut env = base_env();
    env.insert("BRIDGE_LISTEN".into(), format!("127.0.0.1:{port}"));
    env.insert("BRIDGE_DATABASE_URL".into(), database_url);
    env.insert("BRIDGE_WORKERS".into(), "false".into());
    env.insert("HOME_DIR".into(), dir.display().to_string());
    (env, format!("http://127.0.0.1:{port}"))
}

/// The SQLite database file `name` in `dir`, as a URL.
fn sqlite_in(dir: &Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(name).display())
}

/// `GET` of an API path (with its query) on the bridge at `base`, as JSON.
async fn api_get(http: &reqwest::Client, base: &str, path: &str) -> serde_json::Value {
    http.get(format!("{base}{path}"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json")
}

async fn wait_healthy(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(format!("{base}/readyz")).await {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("bridge did not become ready");
}

#[test]
fn missing_configuration_exits_non_zero_with_one_line_per_problem() {
    let out = Command::new(BIN)
        .env_clear()
        .env("DOCSPACE_API_KEY", "not-a-key-TOPSECRET")
        .env("WORKER_CONCURRENCY", "lots")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    for needle in [
        "DOCSPACE_URL is required",
        "DOCSPACE_WEBHOOK_SECRET is required",
        "DROPBOX_APP_KEY is required",
        "DROPBOX_APP_SECRET is required",
        "DROPBOX_REFRESH_TOKEN",
        "DOCSPACE_API_KEY must be",
        "WORKER_CONCURRENCY",
    ] {
        assert_eq!(
            lines.iter().filter(|l| l.contains(needle)).count(),
            1,
            "{needle} in:\n{stderr}"
        );
    }
    assert!(
        lines.iter().all(|l| l.starts_with("config error: ")),
        "{stderr}"
    );
    assert!(!stderr.contains("TOPSECRET"), "a secret was echoed");
    assert!(!stderr.contains("panicked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_webhooks_survive_kill_9_exactly_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let (env, base) = workers_off(dir.path(), sqlite_in(dir.path(), "crash.db"));
    let mut child = start(&env);
    wait_healthy(&base).await;

    // A burst of distinct deliveries from many concurrent senders; kill -9 while it runs.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let acked = Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
    let mut tasks = Vec::new();
    for sender in 0..16i64 {
        let http = http.clone();
        let base = base.clone();
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..400i64 {
                let id = sender * 10_000 + n;
                let body = docspace_event(
                    id,
                    "group.updated",
                    json!({ "id": format!("g{id}"), "name": "n" }),
                );
                let sig = docspace_signature_upper(&body);
                let r = http
                    .post(format!("{base}/webhooks/docspace"))
                    .header("x-docspace-signature-256", sig)
                    .body(body)
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().is_success() => acked.lock().expect("lock").push(id),
                    _ => break,
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.lock().expect("lock").len() < 300 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().expect("SIGKILL"); // std's kill() is SIGKILL on Unix
    let _ = child.wait();
    for t in tasks {
        let _ = t.await;
    }
    let acked: Vec<i64> = acked.lock().expect("lock").clone();
    assert!(acked.len() >= 300, "burst too small: {}", acked.len());
    assert!(
        acked.len() < 16 * 400,
        "the process was not killed mid-burst"
    );

    // Restart on the same database and read every job back through the API.
    let mut child = start(&env);
    wait_healthy(&base).await;
    let mut keys: HashMap<String, usize> = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/api/v1/jobs?limit=500".to_string();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let v = api_get(&http, &base, &path).await;
        for j in v["jobs"].as_array().expect("jobs") {
            *keys
                .entry(j["dedupe_key"].as_str().unwrap_or("").to_string())
                .or_default() += 1;
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    for id in &acked {
        assert_eq!(
            keys.get(&format!("group:g{id}")),
            Some(&1),
            "acknowledged delivery {id} lost or doubled"
        );
    }
    assert!(
        keys.values().all(|n| *n == 1),
        "a delivery was stored twice"
    );
}

/// On PostgreSQL, webhooks that arrive together are committed together: every delivery is
/// counted in a committed batch (`bridge_store_group_commit_size`, which only counts batches
/// committed whole, not deliveries committed one by one after a refused batch), some batch held
/// several, and what is read back is what the deliveries would have made one after the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_commits_webhooks_that_arrive_together_in_batches() {
    let Some(url) = fresh_postgres_url().await else {
        eprintln!("TEST_DATABASE_URL unset: PostgreSQL batch test skipped");
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let (env, base) = workers_off(dir.path(), url);
    let mut child = start(&env);
    wait_healthy(&base).await;

    // 16 senders, 20 events each over 10 groups; every event is sent twice (DocSpace retrying).
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    for sender in 0..16i64 {
        let http = http.clone();
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            for n in 0..20i64 {
                let id = sender * 100 + n;
                let group = format!("g{}", id % 10);
                let body = docspace_event(id, "group.updated", json!({ "id": group, "name": "n" }));
                let sig = docspace_signature_upper(&body);
                for _ in 0..2 {
                    let r = http
                        .post(format!("{base}/webhooks/docspace"))
                        .header("x-docspace-signature-256", &sig)
                        .body(body.clone())
                        .send()
                        .await
                        .expect("post");
                    assert_eq!(r.status(), 200);
                    let v: serde_json::Value = r.json().await.expect("json");
                    seen.push((id, group.clone(), v));
                }
            }
            seen
        }));
    }
    let mut job_of_group: HashMap<String, i64> = HashMap::new();
    let mut job_of_event: HashMap<String, i64> = HashMap::new();
    for t in tasks {
        for (pair, (id, group, v)) in t.await.expect("sender").into_iter().enumerate() {
            if pair % 2 == 1 {
                assert_eq!(v["status"], "duplicate", "{id}: {v}");
                continue;
            }
            assert_eq!(v["status"], "accepted", "{id}: {v}");
            let job = v["job_ids"][0].as_i64().expect("job id");
            assert_eq!(*job_of_group.entry(group).or_insert(job), job, "{id}: {v}");
            job_of_event.insert(id.to_string(), job);
        }
    }
    assert_eq!(job_of_group.len(), 10);

    let text = scrape(&base).await;
    let committed = sample(&text, "bridge_store_group_commit_size_sum");
    let batches = sample(&text, "bridge_store_group_commit_size_count").expect("count");
    assert_eq!(
        committed,
        Some(640.0),
        "every delivery in a committed batch"
    );
    assert!(batches < 640.0, "no batch held more than one delivery");

    let v = api_get(&http, &base, "/api/v1/deliveries?limit=500").await;
    let kept = v["deliveries"].as_array().expect("deliveries");
    assert_eq!(kept.len(), 320, "each event kept once");
    for d in kept {
        let event = d["event_id"].as_str().expect("event id");
        assert_eq!(d["job_ids"], json!([job_of_event[event]]), "{d}");
    }
    let v = api_get(&http, &base, "/api/v1/jobs?state=queued&limit=500").await;
    assert_eq!(
        v["jobs"].as_array().expect("jobs").len(),
        10,
        "one job per group"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn sigterm_stops_gracefully() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let mut env = base_env();
    env.insert("BRIDGE_LISTEN".into(), format!("127.0.0.1:{port}"));
    env.insert(
        "BRIDGE_DATABASE_URL".into(),
        format!("sqlite://{}", dir.path().join("term.db").display()),
    );
    env.insert("HOME_DIR".into(), dir.path().display().to_string());
    let mut child = start(&env);
    wait_healthy(&format!("http://127.0.0.1:{port}")).await;
    // SAFETY: sending a signal to our own child process.
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "exit status {status:?}");
            break;
        }
        assert!(Instant::now() < deadline, "did not stop after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Kills the bridge process when the test ends, passed or not.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_full_file_reconcile_counts_as_the_last_successful_one() {
    let docspace = bridge_fakes::docspace::FakeDocSpace::start(Default::default())
        .await
        .expect("fake DocSpace starts");
    let dropbox = bridge_fakes::dropbox::FakeDropbox::start(Default::default())
        .await
        .expect("fake Dropbox starts");
    let room = docspace.create_room("Reports");
    docspace.create_file(room, "Q1.docx", 100).expect("file");
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let mut env = base_env();
    env.extend(fakes_env(&docspace, &dropbox));
    env.retain(|_, v| !v.is_empty());
    env.insert("BRIDGE_LISTEN".into(), format!("127.0.0.1:{port}"));
    env.insert(
        "BRIDGE_DATABASE_URL".into(),
        format!("sqlite://{}", dir.path().join("gauge.db").display()),
    );
    env.insert("HOME_DIR".into(), dir.path().display().to_string());
    let base = format!("http://127.0.0.1:{port}");
    let _bridge = Running(start(&env));
    wait_healthy(&base).await;
    let http = reqwest::Client::new();

    // A file reconcile that succeeded; its job.
    let reconcile = |body: Option<serde_json::Value>| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let mut req = http
                .post(format!("{base}/api/v1/files/sync"))
                .bearer_auth(API_TOKEN);
            if let Some(b) = &body {
                req = req.json(b);
            }
            let resp = req.send().await.expect("request");
            assert_eq!(resp.status(), 202, "{body:?}");
            let v: serde_json::Value = resp.json().await.expect("json");
            let id = v["job"]["id"].as_i64().expect("job id");
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let v: serde_json::Value = http
                    .get(format!("{base}/api/v1/jobs/{id}"))
                    .bearer_auth(API_TOKEN)
                    .send()
                    .await
                    .expect("request")
                    .json()
                    .await
                    .expect("json");
                match v["job"]["state"].as_str() {
                    Some("succeeded") => return v["job"].clone(),
                    Some("dead") => panic!("{body:?}: {v}"),
                    _ => {}
                }
                assert!(Instant::now() < deadline, "{body:?} did not finish: {v}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    // What the metric and the status page say of the last successful file reconcile.
    let last_success = || {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let text = http
                .get(format!("{base}/metrics"))
                .send()
                .await
                .expect("scrape")
                .text()
                .await
                .expect("text");
            let series = r#"bridge_last_success_timestamp_seconds{kind="files.sync_all"} "#;
            let gauge: f64 = text
                .lines()
                .find_map(|l| l.strip_prefix(series))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("{series} not in:\n{text}"));
            let status: serde_json::Value = http
                .get(format!("{base}/api/v1/status"))
                .bearer_auth(API_TOKEN)
                .send()
                .await
                .expect("request")
                .json()
                .await
                .expect("json");
            (gauge, status["last_reconcile"]["files"].clone())
        }
    };

    for narrow in [
        json!({ "folder_ids": [room] }),
        json!({ "backfill": true }),
        json!({ "folder_ids": [room], "backfill": true }),
    ] {
        reconcile(Some(narrow.clone())).await;
        let (gauge, page) = last_success().await;
        assert_eq!(gauge, 0.0, "{narrow} is not a full reconcile");
        assert_eq!(
            page,
            serde_json::Value::Null,
            "{narrow} is not a full reconcile"
        );
    }
    let full = reconcile(None).await;
    let (gauge, page) = last_success().await;
    assert!(gauge > 1.7e9, "the full reconcile counts: {gauge}");
    assert_eq!(page["id"], full["id"], "{page}");
    // A narrow run after it leaves the full one as the last.
    reconcile(Some(json!({ "folder_ids": [room] }))).await;
    let (after, page) = last_success().await;
    assert_eq!(after, gauge);
    assert_eq!(page["id"], full["id"], "{page}");
}

/// A fresh process shows every job kind's finished-run counter at 0 for every outcome before any
/// job has run: a counter that first appears at its first run would not have increased in
/// Prometheus's eyes, and the queue-stuck alert would count that run as none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_process_counts_every_job_outcome_from_zero() {
    let dir = tempfile::tempdir().expect("tmp");
    let (env, base) = workers_off(dir.path(), sqlite_in(dir.path(), "counters.db"));
    let _bridge = Running(start(&env));
    wait_healthy(&base).await;

    let text = scrape(&base).await;
    for kind in [
        "group.sync",
        "group.delete",
        "groups.sync_all",
        "file.export",
        "files.sync_all",
        "dropbox.changes",
    ] {
        for outcome in ["succeeded", "retry", "dead", "lease_lost"] {
            let series = format!("bridge_jobs_total{{kind=\"{kind}\",outcome=\"{outcome}\"}}");
            assert_eq!(sample(&text, &series), Some(0.0), "{series}:\n{text}");
        }
    }
}
