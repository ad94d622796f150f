//! What the benchmarks share: command-line knobs and a bridge environment pointing at the
//! stand-ins. Each bench is its own crate and includes this file with `#[path]`, so a bench that
//! needs only part of it would warn about the rest.
#![allow(dead_code)]

use std::collections::HashMap;

use bridge_fakes::docspace::FakeDocSpace;
use bridge_fakes::dropbox::FakeDropbox;

/// The API token every bench's bridge accepts.
pub const API_TOKEN: &str = "bench-api-token-0123";

/// `--name N` from the bench's command line (`cargo bench --bench X -- --name N`), else `default`.
pub fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Bridge environment pointing at the stand-ins, with its own SQLite file in `dir`.
pub fn bridge_env(
    ds: &FakeDocSpace,
    db: &FakeDropbox,
    dir: &std::path::Path,
) -> HashMap<String, String> {
    let d = db.options();
    [
        ("BRIDGE_LISTEN", "127.0.0.1:0".to_string()),
        (
            "BRIDGE_DATABASE_URL",
            format!("sqlite://{}", dir.join("bench.db").display()),
        ),
        ("BRIDGE_API_TOKEN", API_TOKEN.into()),
        ("BRIDGE_SCHEDULER", "false".into()),
        ("BRIDGE_POLL_INTERVAL", "20ms".into()),
        ("DOCSPACE_URL", ds.url()),
        ("DOCSPACE_API_KEY", ds.api_key().to_string()),
        ("DOCSPACE_WEBHOOK_SECRET", "bench-webhook-secret".into()),
        ("DROPBOX_APP_KEY", d.app_key.clone()),
        ("DROPBOX_APP_SECRET", d.app_secret.clone()),
        ("DROPBOX_REFRESH_TOKEN", d.refresh_token.clone()),
        ("DROPBOX_API_URL", db.api_url()),
        ("DROPBOX_CONTENT_URL", db.content_url()),
        ("LOG_FORMAT", "json".into()),
        ("RUST_LOG", "warn".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Whether `name` is on the bench's command line (`cargo bench --bench X -- --name`).
pub fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

/// `--name VALUE` from the bench's command line, if given.
pub fn arg_str(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// Starts the bridge in this process on `env` (a listener on a free port); the service and its
/// store.
pub async fn start_service(
    env: &HashMap<String, String>,
) -> (
    docspace_dropbox_bridge::app::Application,
    docspace_dropbox_bridge::store::DynStore,
) {
    let config = docspace_dropbox_bridge::config::Config::from_map(env).expect("config");
    let st = docspace_dropbox_bridge::store::connect(&config.database_url)
        .await
        .expect("store");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let app = docspace_dropbox_bridge::app::Application::start_with(config, st.clone(), listener)
        .await
        .expect("bridge starts");
    (app, st)
}

/// The PostgreSQL server the benches use: `BENCH_DATABASE_URL`, else `TEST_DATABASE_URL`.
pub fn postgres_server() -> Option<String> {
    std::env::var("BENCH_DATABASE_URL")
        .or_else(|_| std::env::var("TEST_DATABASE_URL"))
        .ok()
        .filter(|u| !u.is_empty())
}

/// A new, empty database `name` on `server` (dropped first if a run left it); its URL.
pub async fn fresh_postgres(server: &str, name: &str) -> String {
    use sqlx::Connection as _;
    let mut admin = sqlx::PgConnection::connect(server).await.expect("postgres");
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::query(&sql).execute(&mut admin).await.expect(&sql);
    }
    let mut url = url::Url::parse(server).expect("postgres url");
    url.set_path(name);
    url.to_string()
}

/// Drops database `name` on `server`, if it can.
pub async fn drop_postgres(server: &str, name: &str) {
    use sqlx::Connection as _;
    if let Ok(mut admin) = sqlx::PgConnection::connect(server).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await;
    }
}

/// Writes back everything the kernel still holds for the disk (`sync`), so that what a bench did
/// before is not written out under the fsyncs it measures next.
pub fn write_back() {
    let synced = std::process::Command::new("sync")
        .status()
        .is_ok_and(|s| s.success());
    assert!(synced, "sync failed");
}
