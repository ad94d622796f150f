//! Ingest benchmark: signed DocSpace webhooks accepted per second (and p50/p99 latency) against
//! the same server's `/healthz` under the same load, in one run. SQLite in a temporary directory,
//! workers off so only ingestion is measured.
//!
//! `cargo bench --bench ingest [-- --seconds 5 --connections 64]`

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use docspace_dropbox_bridge::app::Application;
use docspace_dropbox_bridge::config::Config;
use docspace_dropbox_bridge::signature::sign_hex;
use docspace_dropbox_bridge::store;

#[path = "support/mod.rs"]
mod support;
use support::arg;

const SECRET: &str = "bench-webhook-secret";

struct Stats {
    count: usize,
    errors: usize,
    rate: f64,
    p50: Duration,
    p99: Duration,
}

async fn load(
    http: reqwest::Client,
    connections: u64,
    secs: u64,
    make: Arc<dyn Fn(i64) -> reqwest::RequestBuilder + Send + Sync>,
) -> Stats {
    let counter = Arc::new(AtomicI64::new(0));
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let make = make.clone();
        let counter = counter.clone();
        let _ = &http;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            while Instant::now() < end {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                match make(n).send().await {
                    Ok(r) if r.status().is_success() => lat.push(t.elapsed()),
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("load task");
        all.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Stats {
        count: all.len(),
        errors,
        rate: all.len() as f64 / elapsed,
        p50: pct(0.50),
        p99: pct(0.99),
    }
}

#[tokio::main]
async fn main() {
    let secs = arg("--seconds", 5);
    let connections = arg("--connections", 64);
    let dir = tempfile::tempdir().expect("tmp");
    let env: std::collections::HashMap<String, String> = [
        (
            "BRIDGE_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("bench.db").display()),
        ),
        ("BRIDGE_WORKERS", "false".into()),
        ("BRIDGE_SCHEDULER", "false".into()),
        ("DOCSPACE_URL", "http://127.0.0.1:9".into()),
        ("DOCSPACE_API_KEY", "sk-bench".into()),
        ("DOCSPACE_WEBHOOK_SECRET", SECRET.into()),
        ("DROPBOX_APP_KEY", "k".into()),
        ("DROPBOX_APP_SECRET", "s".into()),
        ("DROPBOX_ACCESS_TOKEN", "t".into()),
        ("LOG_FORMAT", "json".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    std::env::set_var("RUST_LOG", "warn");
    let config = Config::from_map(&env).expect("config");
    let st = store::connect(&config.database_url).await.expect("store");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let app = Application::start_with(config, st.clone(), listener)
        .await
        .expect("start");
    let base = format!("http://{}", app.addr);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(connections as usize)
        .build()
        .expect("client");

    let h = http.clone();
    let b = base.clone();
    let health = load(
        http.clone(),
        connections,
        secs,
        Arc::new(move |_| h.get(format!("{b}/healthz"))),
    )
    .await;

    let h = http.clone();
    let b = base.clone();
    let webhooks = load(
        http.clone(),
        connections,
        secs,
        Arc::new(move |n| {
            let body = format!(
                r#"{{"event":{{"id":{n},"createOn":"2026-05-20T10:15:30Z","trigger":"group.updated","triggerId":32}},"payload":{{"id":"group-{n}","name":"Group {n}","authenticationType":"ASC"}},"webhook":{{"id":1,"name":"bench"}}}}"#
            );
            let sig = format!("sha256={}", sign_hex(SECRET.as_bytes(), body.as_bytes()).to_uppercase());
            h.post(format!("{b}/webhooks/docspace"))
                .header("x-docspace-signature-256", sig)
                .header("content-type", "application/json; charset=utf-8")
                .body(body)
        }),
    )
    .await;
    let depth = st.queue_depth().await.expect("depth");
    let stored: i64 = depth.values().sum();
    app.shutdown().await;

    println!("ingest benchmark: {connections} connections, {secs} s per phase, SQLite (WAL, synchronous=FULL, group commit)");
    println!(
        "{:<22} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "target", "requests", "req/s", "p50 ms", "p99 ms", "errors"
    );
    for (name, s) in [
        ("GET /healthz", &health),
        ("POST /webhooks/docspace", &webhooks),
    ] {
        println!(
            "{:<22} {:>10} {:>10.0} {:>10.2} {:>10.2} {:>8}",
            name,
            s.count,
            s.rate,
            s.p50.as_secs_f64() * 1e3,
            s.p99.as_secs_f64() * 1e3,
            s.errors
        );
    }
    println!(
        "webhook rate / healthz rate = {:.2}",
        webhooks.rate / health.rate.max(1.0)
    );
    println!("jobs stored: {stored} (acknowledged: {})", webhooks.count);
    assert!(
        stored as usize >= webhooks.count,
        "an acknowledged webhook is missing from the store"
    );
}
