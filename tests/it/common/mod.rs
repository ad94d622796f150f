//! Test harness: starts the real service in this process on 127.0.0.1:0 with a fresh SQLite
//! database and talks to it over HTTP.
//!
//! A test configures the bridge through the typed [`Config`]: [`spawn_app`] and [`spawn_world`]
//! build the base configuration ([`base_env`] on a fresh database; `spawn_world` also points it
//! at the stand-ins) and hand it to the test to change before the bridge starts:
//! `spawn_world(|c| c.queue.max_attempts = 1)`. A test that runs on PostgreSQL sets
//! `c.database_url` to a [`fresh_postgres_url`]. Changes made this way skip the checks of
//! [`Config::from_map`], so a test keeps to values the environment would accept.
//!
//! The environment maps ([`base_env`], [`fakes_env`]) are for tests of the environment interface
//! itself: bridge processes and one-shot commands started as child processes.
#![allow(dead_code)]

use std::collections::HashMap;

use bridge_fakes::docspace::FakeDocSpace;
use bridge_fakes::dropbox::FakeDropbox;
use docspace_dropbox_bridge::app::Application;
use docspace_dropbox_bridge::config::{Config, DropboxAuth, Secret};
use docspace_dropbox_bridge::signature::sign_hex;
use docspace_dropbox_bridge::store::{self, DynStore};
use serde_json::{json, Value};
use tempfile::TempDir;

pub const API_TOKEN: &str = "test-api-token-0123";
pub const DOCSPACE_SECRET: &str = "docspace-webhook-secret";
pub const DROPBOX_SECRET: &str = "dropbox-app-secret";

pub fn base_env() -> HashMap<String, String> {
    [
        ("BRIDGE_LISTEN", "127.0.0.1:0"),
        ("BRIDGE_API_TOKEN", API_TOKEN),
        ("DOCSPACE_URL", "http://127.0.0.1:9"),
        ("DOCSPACE_API_KEY", "sk-0123456789abcdef"),
        ("DOCSPACE_WEBHOOK_SECRET", DOCSPACE_SECRET),
        ("DROPBOX_APP_KEY", "app-key"),
        ("DROPBOX_APP_SECRET", DROPBOX_SECRET),
        ("DROPBOX_ACCESS_TOKEN", "access-token"),
        ("DROPBOX_API_URL", "http://127.0.0.1:9"),
        ("DROPBOX_CONTENT_URL", "http://127.0.0.1:9"),
        ("LOG_FORMAT", "json"),
        ("BRIDGE_POLL_INTERVAL", "50ms"),
        ("BRIDGE_BACKOFF_BASE", "100ms"),
        ("BRIDGE_BACKOFF_MAX", "1s"),
        ("BRIDGE_SHUTDOWN_GRACE", "2s"),
        ("BRIDGE_SCHEDULER", "false"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

pub struct TestApp {
    pub url: String,
    pub http: reqwest::Client,
    pub store: DynStore,
    pub config: Config,
    pub app: Option<Application>,
    pub dir: TempDir,
}

/// The configuration of a bridge in this process: [`base_env`] on the database `database_url`.
pub fn base_config(database_url: &str) -> Config {
    let mut env = base_env();
    env.insert("BRIDGE_DATABASE_URL".into(), database_url.into());
    Config::from_map(&env).expect("test config is valid")
}

/// For tests that only read: the bridge accepts webhooks and API calls but runs no job.
pub fn no_workers(config: &mut Config) {
    config.queue.run_workers = false;
}

/// Starts the bridge with the base configuration on a fresh SQLite database, changed by
/// `configure`.
pub async fn spawn_app(configure: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = base_config(&format!(
        "sqlite://{}",
        dir.path().join("bridge.db").display()
    ));
    configure(&mut config);
    let (store, app) = start(&config).await;
    TestApp {
        url: format!("http://{}", app.addr),
        http: reqwest::Client::new(),
        store,
        config,
        app: Some(app),
        dir,
    }
}

/// Opens (or creates) the database of `config` and starts the bridge on it.
async fn start(config: &Config) -> (DynStore, Application) {
    let store = store::connect(&config.database_url).await.expect("store");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let app = Application::start_with(config.clone(), store.clone(), listener)
        .await
        .expect("app starts");
    (store, app)
}

pub fn docspace_signature_upper(body: &[u8]) -> String {
    format!(
        "sha256={}",
        sign_hex(DOCSPACE_SECRET.as_bytes(), body).to_uppercase()
    )
}

pub fn docspace_event(id: i64, trigger: &str, payload: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "event": { "id": id, "createOn": "2026-05-20T10:15:30Z", "createBy": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "trigger": trigger, "triggerId": 32 },
        "payload": payload,
        "webhook": { "id": 3, "name": "bridge", "url": "https://bridge.example.com/webhooks/docspace", "triggers": ["*"] }
    }))
    .expect("json")
}

impl TestApp {
    pub async fn post_docspace(&self, body: &[u8], signature: Option<&str>) -> reqwest::Response {
        let mut req = self
            .http
            .post(format!("{}/webhooks/docspace", self.url))
            .header("content-type", "application/json; charset=utf-8")
            .body(body.to_vec());
        if let Some(s) = signature {
            req = req.header("x-docspace-signature-256", s);
        }
        req.send().await.expect("request")
    }

    /// Posts a DocSpace webhook signed as DocSpace does; returns the status and JSON answer.
    pub async fn deliver_docspace(&self, body: &[u8]) -> (u16, Value) {
        let resp = self
            .post_docspace(body, Some(&docspace_signature_upper(body)))
            .await;
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_dropbox(&self, body: &[u8], signature: Option<&str>) -> reqwest::Response {
        let mut req = self
            .http
            .post(format!("{}/webhooks/dropbox", self.url))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(s) = signature {
            req = req.header("X-Dropbox-Signature", s);
        }
        req.send().await.expect("request")
    }

    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.url, path))
            .bearer_auth(API_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let v = resp.json::<Value>().await.unwrap_or(Value::Null);
        (status, v)
    }

    /// An API request with `path` sent exactly as written, over a plain connection: an HTTP
    /// client would resolve `.`, `..` and `%2E` segments before sending.
    pub async fn raw(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.url.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: bridge\r\nauthorization: Bearer {API_TOKEN}\r\n\
             content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.expect("write");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("read");
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"));
        let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    /// Every job, oldest first, through the API.
    pub async fn all_jobs(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/jobs?limit=500&cursor={c}"),
                None => "/api/v1/jobs?limit=500".to_string(),
            };
            let (status, v) = self.api(reqwest::Method::GET, &path, None).await;
            assert_eq!(status, 200, "{v}");
            out.extend(v["jobs"].as_array().cloned().unwrap_or_default());
            match v["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        out.reverse();
        out
    }

    /// Waits until the bridge's workers find the queue drained: no job queued, running or
    /// waiting for a retry (jobs enqueued before the call, and the jobs they enqueue). `secs`
    /// is only a safety net against a stuck test.
    pub async fn wait_idle(&self, secs: u64) {
        let app = self.app.as_ref().expect("the bridge is running");
        let idle = tokio::time::timeout(std::time::Duration::from_secs(secs), app.wait_idle());
        if idle.await.is_err() {
            panic!(
                "the queue did not drain within {secs}s: {:#?}",
                self.all_jobs().await
            );
        }
    }

    /// Job `id` once it has finished (succeeded or dead), without waiting for the jobs it
    /// enqueued; panics after `secs`.
    pub async fn wait_finished(&self, id: i64, secs: u64) -> Value {
        self.wait_until(id, secs, |j| {
            matches!(j["state"].as_str(), Some("succeeded") | Some("dead"))
        })
        .await
    }

    /// Job `id` as soon as `f` holds for it (polled every few milliseconds, without waiting for
    /// the queue); panics after `secs`.
    pub async fn wait_until(&self, id: i64, secs: u64, f: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let (_, v) = self
                .api(reqwest::Method::GET, &format!("/api/v1/jobs/{id}"), None)
                .await;
            if f(&v["job"]) {
                return v["job"].clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "job {id} did not get there within {secs}s: {v}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Panics when runs of two of the jobs `ids` overlapped in time (read from their attempt
    /// histories); returns how many runs there were.
    pub async fn assert_runs_apart(&self, ids: &[i64]) -> usize {
        let at = |v: &Value| {
            chrono::DateTime::parse_from_rfc3339(v.as_str().expect("instant")).expect("rfc3339")
        };
        let mut runs = Vec::new();
        for id in ids {
            let (_, v) = self
                .api(reqwest::Method::GET, &format!("/api/v1/jobs/{id}"), None)
                .await;
            for r in v["job"]["attempts_history"].as_array().expect("history") {
                runs.push((at(&r["started_at"]), at(&r["finished_at"]), *id));
            }
        }
        runs.sort();
        for pair in runs.windows(2) {
            assert!(
                pair[0].1 <= pair[1].0,
                "job {} ran while job {} did: {runs:?}",
                pair[1].2,
                pair[0].2
            );
        }
        runs.len()
    }

    /// The job once the queue is idle; panics unless `f` holds for it then.
    pub async fn wait_job(&self, id: i64, secs: u64, f: impl Fn(&Value) -> bool) -> Value {
        self.wait_idle(secs).await;
        let (_, v) = self
            .api(reqwest::Method::GET, &format!("/api/v1/jobs/{id}"), None)
            .await;
        assert!(f(&v["job"]), "job {id} is not in the expected state: {v}");
        v["job"].clone()
    }

    pub async fn stop(&mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown().await;
        }
    }
}

/// Creates the bridge's database at `url`, as `migrate` or a first `serve` do: one-shot commands
/// only open an existing one.
pub async fn create_database(url: &str) {
    store::connect(url).await.expect("database created");
}

/// A fresh, empty PostgreSQL database on the server named by `TEST_DATABASE_URL`, or `None` when
/// the variable is unset (PostgreSQL tests are then skipped; CI always sets it).
pub async fn fresh_postgres_url() -> Option<String> {
    use sqlx::Connection;
    let admin = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("TEST_DATABASE_URL is set but PostgreSQL does not answer");
    let name = format!("bridge_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let mut url = url::Url::parse(&admin).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    Some(url.to_string())
}

/// A SQLite database in `dir` (`old.db`) with the schema as it was before migration `before`
/// (e.g. `"0004"`): its URL, and a pool on it for writing the rows of that schema.
pub async fn sqlite_before_migration(
    dir: &std::path::Path,
    before: &str,
) -> (String, sqlx::SqlitePool) {
    let url = format!("sqlite://{}", dir.join("old.db").display());
    let old = migrations_before(dir, "sqlite", before);
    let opts = url
        .parse::<sqlx::sqlite::SqliteConnectOptions>()
        .expect("url")
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(opts).await.expect("pool");
    sqlx::migrate::Migrator::new(old.as_path())
        .await
        .expect("migrator")
        .run(&pool)
        .await
        .expect("old schema");
    (url, pool)
}

/// A fresh PostgreSQL database (when `TEST_DATABASE_URL` is set) with the schema as it was
/// before migration `before`: its URL, and a pool on it for writing the rows of that schema.
pub async fn postgres_before_migration(
    dir: &std::path::Path,
    before: &str,
) -> Option<(String, sqlx::PgPool)> {
    let url = fresh_postgres_url().await?;
    let old = migrations_before(dir, "postgres", before);
    let pool = sqlx::PgPool::connect(&url).await.expect("pool");
    sqlx::migrate::Migrator::new(old.as_path())
        .await
        .expect("migrator")
        .run(&pool)
        .await
        .expect("old schema");
    Some((url, pool))
}

/// A folder in `dir` holding `engine`'s migrations numbered below `before`.
fn migrations_before(dir: &std::path::Path, engine: &str, before: &str) -> std::path::PathBuf {
    let old = dir.join(format!("{engine}-migrations-before-{before}"));
    std::fs::create_dir(&old).expect("dir");
    let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(engine);
    for entry in std::fs::read_dir(all).expect("migrations") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name < before {
            std::fs::copy(&path, old.join(name)).expect("copy");
        }
    }
    old
}

/// The store URLs a backend-independent test runs against: SQLite always, PostgreSQL when
/// `TEST_DATABASE_URL` is set.
pub async fn store_urls(dir: &std::path::Path) -> Vec<String> {
    let mut urls = vec![format!("sqlite://{}", dir.join("store.db").display())];
    if let Some(pg) = fresh_postgres_url().await {
        urls.push(pg);
    }
    urls
}

/// The bridge wired to fresh DocSpace and Dropbox stand-ins.
pub struct World {
    pub app: TestApp,
    pub docspace: FakeDocSpace,
    pub dropbox: FakeDropbox,
}

/// Points `config` at the given stand-ins (refresh-token auth), as [`fakes_env`] does for a
/// process.
pub fn use_fakes(config: &mut Config, docspace: &FakeDocSpace, dropbox: &FakeDropbox) {
    let d = dropbox.options();
    config.docspace.url = origin(&docspace.url());
    config.docspace.api_key = Secret::new(docspace.api_key());
    config.dropbox.api_url = origin(&dropbox.api_url());
    config.dropbox.content_url = origin(&dropbox.content_url());
    config.dropbox.app_key = d.app_key.clone();
    config.dropbox.app_secret = Secret::new(d.app_secret.clone());
    config.dropbox.auth = DropboxAuth::Refresh(Secret::new(d.refresh_token.clone()));
    // `DROPBOX_APP_SECRET` also keys the signatures of Dropbox's notifications.
    config.http.dropbox_app_secret = config.dropbox.app_secret.clone();
}

fn origin(url: &str) -> url::Url {
    url::Url::parse(url).expect("a stand-in's URL")
}

/// Environment that points a bridge process at the given stand-ins (refresh-token auth).
pub fn fakes_env(docspace: &FakeDocSpace, dropbox: &FakeDropbox) -> Vec<(String, String)> {
    let d = dropbox.options();
    vec![
        ("DOCSPACE_URL".into(), docspace.url()),
        ("DOCSPACE_API_KEY".into(), docspace.api_key().to_string()),
        ("DROPBOX_API_URL".into(), dropbox.api_url()),
        ("DROPBOX_CONTENT_URL".into(), dropbox.content_url()),
        ("DROPBOX_APP_KEY".into(), d.app_key.clone()),
        ("DROPBOX_APP_SECRET".into(), d.app_secret.clone()),
        ("DROPBOX_REFRESH_TOKEN".into(), d.refresh_token.clone()),
        ("DROPBOX_ACCESS_TOKEN".into(), String::new()),
    ]
}

/// Starts both stand-ins and the bridge pointed at them, its configuration changed by
/// `configure` as in [`spawn_app`].
pub async fn spawn_world(configure: impl FnOnce(&mut Config)) -> World {
    let docspace = FakeDocSpace::start(Default::default())
        .await
        .expect("fake DocSpace starts");
    let dropbox = FakeDropbox::start(Default::default())
        .await
        .expect("fake Dropbox starts");
    let app = spawn_app(|c| {
        use_fakes(c, &docspace, &dropbox);
        configure(c);
    })
    .await;
    World {
        app,
        docspace,
        dropbox,
    }
}

impl World {
    /// A `group.sync` job for `group` that dies: DocSpace refuses the group with 403, which no
    /// retry helps, once for the API's existence check (the job is accepted as it is) and once
    /// for the job. Its id and its row once dead.
    pub async fn dead_group_job(&self, group: &str) -> (i64, Value) {
        self.docspace
            .fail_next(Some(bridge_fakes::docspace::routes::GROUP_GET), 403, 2);
        let id = self.sync_group(group).await;
        (
            id,
            self.app.wait_job(id, 20, |j| j["state"] == "dead").await,
        )
    }

    /// `POST /api/v1/groups/{group}/sync`, accepted; its job's id.
    pub async fn sync_group(&self, group: &str) -> i64 {
        let (s, j) = self
            .app
            .api(
                reqwest::Method::POST,
                &format!("/api/v1/groups/{group}/sync"),
                None,
            )
            .await;
        assert_eq!(s, 202, "{j}");
        j["job"]["id"].as_i64().expect("job id")
    }

    /// Stops the bridge (when it runs) and starts it again on the same database and stand-ins,
    /// from the base configuration changed by `configure` (an operator changing the
    /// configuration and restarting).
    pub async fn restart_with(&mut self, configure: impl FnOnce(&mut Config)) {
        self.app.stop().await;
        let mut config = base_config(&self.app.config.database_url);
        use_fakes(&mut config, &self.docspace, &self.dropbox);
        configure(&mut config);
        let (store, app) = start(&config).await;
        self.app.url = format!("http://{}", app.addr);
        self.app.store = store;
        self.app.config = config;
        self.app.app = Some(app);
    }

    /// Runs the bridge's one-shot `command` against this world's stand-ins on an SQLite database
    /// in `dir` (created first, as an operator runs `migrate` before one-shot commands). Returns
    /// the exit code, stdout and stderr.
    pub async fn cli(
        &self,
        dir: &std::path::Path,
        command: &str,
        args: &[&str],
    ) -> (i32, String, String) {
        let mut env = base_env();
        env.extend(fakes_env(&self.docspace, &self.dropbox));
        env.retain(|_, v| !v.is_empty());
        let url = format!("sqlite://{}", dir.join("cli.db").display());
        if !dir.join("cli.db").exists() {
            create_database(&url).await;
        }
        env.insert("BRIDGE_DATABASE_URL".into(), url);
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_docspace-dropbox-bridge"))
            .arg(command)
            .args(args)
            .env_clear()
            .envs(&env)
            .current_dir(dir)
            .output();
        let out = tokio::time::timeout(std::time::Duration::from_secs(60), out)
            .await
            .expect("cli finishes")
            .expect("cli runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// A DocSpace webhook sender signing with the bridge's secret.
    pub fn docspace_sender(&self) -> bridge_fakes::webhooks::DocSpaceWebhookSender {
        bridge_fakes::webhooks::DocSpaceWebhookSender::new(
            format!("{}/webhooks/docspace", self.app.url),
            DOCSPACE_SECRET,
        )
    }

    /// A Dropbox notification sender signing with the bridge's app secret.
    pub fn dropbox_sender(&self) -> bridge_fakes::webhooks::DropboxWebhookSender {
        bridge_fakes::webhooks::DropboxWebhookSender::new(
            format!("{}/webhooks/dropbox", self.app.url),
            self.dropbox.options().app_secret.clone(),
        )
    }

    /// Waits until no job is queued, running or failed (retrying); returns every job.
    pub async fn settle(&self, secs: u64) -> Vec<Value> {
        self.app.wait_idle(secs).await;
        let jobs = self.app.all_jobs().await;
        let busy = jobs.iter().any(|j| {
            matches!(
                j["state"].as_str(),
                Some("queued") | Some("running") | Some("failed")
            )
        });
        assert!(
            !busy,
            "the queue was reported idle with work left: {jobs:#?}"
        );
        jobs
    }
}

/// Waits until DocSpace has been asked `route` `n` times (counted as each request arrives);
/// panics after 20 s.
pub async fn wait_docspace_calls(docspace: &FakeDocSpace, route: &str, n: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while docspace.calls(route) < n {
        assert!(
            std::time::Instant::now() < deadline,
            "DocSpace was asked {route} {} times, not {n}",
            docspace.calls(route)
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// The `field` of the payload of every job of `kind` among `jobs` (as the API lists them),
/// lowercased: group ids come in either case.
pub fn payload_ids(jobs: &[Value], kind: &str, field: &str) -> std::collections::HashSet<String> {
    jobs.iter()
        .filter(|j| j["kind"] == kind)
        .filter_map(|j| j["payload"][field].as_str().map(str::to_lowercase))
        .collect()
}

/// A queued `group.sync` job with dedupe key `key`, for the store tests.
pub fn job(key: &str) -> store::NewJob {
    store::NewJob::new(
        "group.sync",
        Some(key.to_string()),
        json!({ "group_id": key }),
    )
}

/// Runs `f` on a fresh store of every backend this run tests (SQLite; PostgreSQL when
/// `TEST_DATABASE_URL` is set), with the backend's name (`sqlite`, `postgres`).
pub async fn each_store(f: impl Fn(DynStore, String) -> futures::future::BoxFuture<'static, ()>) {
    let dir = tempfile::tempdir().expect("tmp");
    for url in store_urls(dir.path()).await {
        let s = store::connect(&url).await.expect("connect");
        let backend = url.split(':').next().unwrap_or("").to_string();
        f(s, backend).await;
    }
}

/// The value of one series (name and labels exactly as written) on a `/metrics` page.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// The `/metrics` page of the bridge at `url`.
pub async fn scrape(url: &str) -> String {
    let resp = reqwest::get(format!("{url}/metrics"))
        .await
        .expect("scrape");
    assert_eq!(resp.status(), 200);
    resp.text().await.expect("text")
}

/// A second connection to the bridge's database file that takes SQLite's write lock and keeps
/// it until [`WriteLock::release`], as another process would.
pub struct WriteLock(sqlx::SqliteConnection);

impl WriteLock {
    pub async fn take(app: &TestApp) -> Self {
        Self::at(&app.config.database_url).await
    }

    /// The write lock of the SQLite database at `url` (another process's, say).
    pub async fn at(url: &str) -> Self {
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(url)
            .await
            .expect("second connection to the database file");
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut conn)
            .await
            .expect("take the write lock");
        WriteLock(conn)
    }

    pub async fn release(mut self) {
        sqlx::query("ROLLBACK")
            .execute(&mut self.0)
            .await
            .expect("release the write lock");
        sqlx::Connection::close(self.0).await.expect("close");
    }
}
