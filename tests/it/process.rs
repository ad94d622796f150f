//! The real binary: configuration errors, crash safety under `kill -9`, graceful SIGTERM.

use std::collections::HashMap;
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
    let port = free_port();
    let mut env = base_env();
    env.insert("BRIDGE_LISTEN".into(), format!("127.0.0.1:{port}"));
    env.insert(
        "BRIDGE_DATABASE_URL".into(),
        format!("sqlite://{}", dir.path().join("crash.db").display()),
    );
    env.insert("BRIDGE_WORKERS".into(), "false".into());
    env.insert("HOME_DIR".into(), dir.path().display().to_string());
    let base = format!("http://127.0.0.1:{port}");
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
        let mut url = format!("{base}/api/v1/jobs?limit=500");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let v: serde_json::Value = http
            .get(url)
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
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
            keys.get(&format!("group.sync:g{id}")),
            Some(&1),
            "acknowledged delivery {id} lost or doubled"
        );
    }
    assert!(
        keys.values().all(|n| *n == 1),
        "a delivery was stored twice"
    );
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
