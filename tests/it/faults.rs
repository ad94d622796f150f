//! Faults of a multi-replica deployment, with real bridge processes on one PostgreSQL database
//! and the DocSpace and Dropbox stand-ins (runs when TEST_DATABASE_URL is set, as in CI): a
//! replica killed with `kill -9` in the middle of its work, and the database becoming unreachable
//! under load. Each test takes a fresh database and finishes within about half a minute.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bridge_fakes::docspace::FakeDocSpace;
use bridge_fakes::dropbox::FakeDropbox;
use bridge_fakes::webhooks::{DocSpaceWebhookSender, PreparedEvent};
use sqlx::postgres::{PgPool, PgPoolOptions};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use crate::common::*;

const BIN: &str = env!("CARGO_BIN_EXE_docspace-dropbox-bridge");
const GROUPS_ROOT: &str = "/DocSpace Groups";
const EXPORTED: &str = "/DocSpace Export/Finance/2026";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// One bridge process (the real binary). Killed when dropped.
struct Replica {
    name: String,
    port: u16,
    env: HashMap<String, String>,
    log: PathBuf,
    child: Option<Child>,
}

impl Replica {
    /// Starts `name` with `base_env()`, the stand-ins' settings and `overrides`.
    fn start(
        name: &str,
        dir: &Path,
        fakes: &[(String, String)],
        overrides: &[(&str, &str)],
    ) -> Self {
        let port = free_port();
        let mut env = base_env();
        env.extend(fakes.iter().filter(|(_, v)| !v.is_empty()).cloned());
        env.remove("DROPBOX_ACCESS_TOKEN");
        env.insert("BRIDGE_LISTEN".into(), format!("127.0.0.1:{port}"));
        // The worker id (and so `jobs.lease_owner`) starts with the host name.
        env.insert("HOSTNAME".into(), name.into());
        env.insert("RUST_LOG".into(), "info".into());
        for (k, v) in overrides {
            env.insert(k.to_string(), v.to_string());
        }
        let mut r = Replica {
            name: name.into(),
            port,
            env,
            log: dir.join(format!("{name}.log")),
            child: None,
        };
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(BIN)
            .env_clear()
            .envs(&self.env)
            .current_dir(self.log.parent().expect("log dir"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("bridge starts");
        self.child = Some(child);
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn sender(&self) -> DocSpaceWebhookSender {
        DocSpaceWebhookSender::new(format!("{}/webhooks/docspace", self.url()), DOCSPACE_SECRET)
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(r) = reqwest::get(format!("{}/readyz", self.url())).await {
                if r.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{} did not become ready:\n{}", self.name, self.log_tail());
    }

    fn kill_9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("SIGKILL"); // std's kill() is SIGKILL on Unix
            let _ = c.wait();
        }
    }

    /// Runs again on the same port, database and settings.
    fn restart(&mut self) {
        self.kill_9();
        self.spawn();
    }

    /// Jobs this process finished, by outcome, as its own metrics count them.
    async fn jobs_finished(&self) -> u64 {
        let text = reqwest::get(format!("{}/metrics", self.url()))
            .await
            .expect("scrape")
            .text()
            .await
            .expect("text");
        text.lines()
            .filter(|l| l.starts_with("bridge_jobs_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill_9();
    }
}

/// The test's own view of the database, not through any bridge.
struct Db(PgPool);

impl Db {
    async fn connect(url: &str) -> Self {
        Db(PgPoolOptions::new()
            .max_connections(2)
            .connect(url)
            .await
            .expect("connect to the test database"))
    }

    async fn states(&self) -> BTreeMap<String, i64> {
        sqlx::query_as::<_, (String, i64)>("SELECT state, COUNT(*) FROM jobs GROUP BY state")
            .fetch_all(&self.0)
            .await
            .expect("count jobs")
            .into_iter()
            .collect()
    }

    async fn running_on(&self, replica: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM jobs WHERE state = 'running' AND lease_owner LIKE $1",
        )
        .bind(format!("{replica}-%"))
        .fetch_one(&self.0)
        .await
        .expect("count running jobs")
    }

    /// `(dedupe_key, state, attempts)` of every job.
    async fn jobs(&self) -> Vec<(String, String, i64)> {
        sqlx::query_as("SELECT dedupe_key, state, attempts FROM jobs ORDER BY id")
            .fetch_all(&self.0)
            .await
            .expect("list jobs")
    }

    /// Waits until no job is queued, running or waiting for a retry.
    async fn wait_drained(&self, secs: u64, replicas: &[&Replica]) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let states = self.states().await;
            let busy: i64 = ["queued", "running", "failed"]
                .iter()
                .map(|s| states.get(*s).copied().unwrap_or(0))
                .sum();
            if busy == 0 {
                return;
            }
            if Instant::now() > deadline {
                let logs: Vec<String> = replicas
                    .iter()
                    .map(|r| format!("--- {}\n{}", r.name, r.log_tail()))
                    .collect();
                panic!(
                    "the queue did not drain within {secs}s: {states:?}\n{:#?}\n{}",
                    self.jobs().await,
                    logs.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Delivers `event` to the first replica in `order` that answers 200 (a load balancer skipping
/// a dead backend); `None` if none did.
async fn deliver_somewhere(
    event: &PreparedEvent,
    senders: &[DocSpaceWebhookSender],
    order: impl IntoIterator<Item = usize>,
) -> Option<usize> {
    for i in order {
        if let Ok(d) = senders[i].deliver(event.clone()).await {
            if d.status == 200 {
                return Some(i);
            }
        }
    }
    None
}

/// Stand-ins whose every call takes a moment, so that there is work in flight to interrupt.
async fn slow_fakes() -> (FakeDocSpace, FakeDropbox) {
    let docspace = FakeDocSpace::start(Default::default())
        .await
        .expect("fake DocSpace");
    let dropbox = FakeDropbox::start(Default::default())
        .await
        .expect("fake Dropbox");
    docspace.update_knobs(|k| k.latency_ms = 25);
    dropbox.set_latency(Duration::from_millis(25));
    (docspace, dropbox)
}

/// Asserts every group has its folder with exactly its members, invited once, and every file
/// is in Dropbox exactly once with DocSpace's bytes.
fn assert_converged(
    docspace: &FakeDocSpace,
    dropbox: &FakeDropbox,
    groups: &[(String, uuid::Uuid)],
    files: &[i64],
) {
    for (name, id) in groups {
        let path = format!("{GROUPS_ROOT}/{name}");
        let folder = dropbox
            .shared_folder_by_path(&path)
            .unwrap_or_else(|| panic!("no shared folder at {path}: {:?}", dropbox.paths()));
        let mut want: Vec<String> = docspace
            .group_member_emails(*id)
            .iter()
            .map(|e| e.to_lowercase())
            .collect();
        want.push("owner@example.com".into());
        want.sort();
        assert_eq!(folder.emails(), want, "{path}");
    }
    assert_eq!(
        dropbox.shared_folders().len(),
        groups.len(),
        "one shared folder per group"
    );
    assert_eq!(
        dropbox.ok_calls("sharing/add_folder_member"),
        groups.len() as u64,
        "every group's members were invited in one call, and nobody twice"
    );

    let in_export: Vec<String> = dropbox
        .paths()
        .into_iter()
        .filter(|p| {
            p.to_lowercase()
                .starts_with(&format!("{}/", EXPORTED.to_lowercase()))
        })
        .collect();
    assert_eq!(in_export.len(), files.len(), "{in_export:#?}");
    assert!(
        in_export.iter().all(|p| !p.contains(" (1)")),
        "a file was exported twice: {in_export:#?}"
    );
    for id in files {
        let f = docspace.file(*id).expect("file");
        let path = format!("{EXPORTED}/{}", f.title);
        let got = dropbox
            .file(&path)
            .unwrap_or_else(|| panic!("{path} missing: {in_export:#?}"));
        assert_eq!(
            Some(got.content_hash),
            docspace.dropbox_content_hash(*id, f.version()),
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_work_loses_nothing_and_nothing_is_done_twice() {
    let Some(url) = fresh_postgres_url().await else {
        eprintln!("TEST_DATABASE_URL unset: fault test skipped");
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let db = Db::connect(&url).await;
    let (docspace, dropbox) = slow_fakes().await;

    let mut groups = Vec::new();
    for i in 0..18 {
        let a = docspace.add_active_user("Ann", &format!("A{i}"), &format!("ann{i}@example.com"));
        let b = docspace.add_active_user("Bo", &format!("B{i}"), &format!("bo{i}@example.com"));
        let name = format!("Team {i}");
        groups.push((
            name.clone(),
            docspace.create_group(&name, &[a, b]).expect("group"),
        ));
    }
    let room = docspace.create_room("Finance");
    let folder = docspace.create_folder(room, "2026").expect("folder");
    let mut files = Vec::new();
    for i in 0..18 {
        // A few span several upload chunks.
        let size = if i % 6 == 0 { 9 << 20 } else { 96 << 10 };
        files.push(
            docspace
                .create_file(folder, &format!("Report {i}.docx"), size)
                .expect("file"),
        );
    }
    let mut events: Vec<PreparedEvent> = Vec::new();
    let master = DocSpaceWebhookSender::new("http://unused", DOCSPACE_SECRET);
    for ((_, g), f) in groups.iter().zip(&files) {
        let group = docspace.group(*g).expect("group");
        events.push(master.prepare_group("group.created", &group));
        let file = docspace.file(*f).expect("file");
        events.push(master.prepare_file("file.created", &file));
    }

    let fakes = fakes_env(&docspace, &dropbox);
    // The other replicas poll rarely, so that what a replica is sent, it mostly runs itself.
    let settings = [
        ("BRIDGE_DATABASE_URL", url.as_str()),
        ("BRIDGE_LEASE", "2s"),
        ("WORKER_CONCURRENCY", "4"),
        ("BRIDGE_POLL_INTERVAL", "1s"),
    ];
    let mut replicas: Vec<Replica> = (0..3)
        .map(|i| Replica::start(&format!("replica-{i}"), dir.path(), &fakes, &settings))
        .collect();
    for r in &replicas {
        r.wait_ready().await;
    }
    let senders: Vec<DocSpaceWebhookSender> = replicas.iter().map(Replica::sender).collect();

    // The first two thirds, spread round robin.
    let (first, rest) = events.split_at(24);
    for (n, e) in first.iter().enumerate() {
        let at = deliver_somewhere(e, &senders, [n % 3]).await;
        assert_eq!(at, Some(n % 3), "delivery {n} refused");
    }
    // Kill replica 0 while it works (its own deliveries wake its workers at once).
    let deadline = Instant::now() + Duration::from_secs(10);
    while db.running_on("replica-0").await == 0 {
        assert!(Instant::now() < deadline, "replica-0 never ran a job");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    replicas[0].kill_9();

    // The rest, round robin; deliveries to the dead replica fail over to the next one.
    for (n, e) in rest.iter().enumerate() {
        let order = [n % 3, (n + 1) % 3, (n + 2) % 3];
        assert!(
            deliver_somewhere(e, &senders, order).await.is_some(),
            "delivery refused everywhere"
        );
    }
    db.wait_drained(25, &[&replicas[1], &replicas[2]]).await;

    // The killed replica comes back and joins; a second round of every group event is
    // delivered to it and changes nothing.
    replicas[0].restart();
    replicas[0].wait_ready().await;
    for (_, g) in &groups {
        let group = docspace.group(*g).expect("group");
        let e = master.prepare_group("group.updated", &group);
        assert_eq!(deliver_somewhere(&e, &senders, [0]).await, Some(0));
    }
    let all: Vec<&Replica> = replicas.iter().collect();
    db.wait_drained(25, &all).await;
    assert!(
        replicas[0].jobs_finished().await > 0,
        "the restarted replica ran jobs again"
    );

    let jobs = db.jobs().await;
    let states = db.states().await;
    assert_eq!(states.get("dead"), None, "dead jobs: {jobs:#?}");
    assert_eq!(
        states.get("succeeded").copied(),
        Some(jobs.len() as i64),
        "{jobs:#?}"
    );
    // Every acknowledged delivery was committed, once.
    let keys: Vec<&str> = jobs.iter().map(|(k, _, _)| k.as_str()).collect();
    for (_, g) in &groups {
        let key = format!("group:{g}");
        assert_eq!(
            keys.iter().filter(|k| **k == key).count(),
            2,
            "{key}: {jobs:#?}"
        );
    }
    for f in &files {
        let key = format!("file.export:{f}");
        assert_eq!(
            keys.iter().filter(|k| **k == key).count(),
            1,
            "{key}: {jobs:#?}"
        );
    }
    assert!(
        jobs.iter().any(|(_, _, attempts)| *attempts > 1),
        "a job of the killed replica ran again: {jobs:#?}"
    );
    assert_converged(&docspace, &dropbox, &groups, &files);
}

/// A TCP proxy in front of PostgreSQL that can be cut (every connection closed, new ones
/// refused, as when the database goes away) and restored on the same address.
struct Proxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let p = Proxy {
            addr: listener.local_addr().expect("addr"),
            upstream,
            tasks: Arc::default(),
        };
        p.serve(listener);
        p
    }

    fn serve(&self, listener: TcpListener) {
        let upstream = self.upstream;
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let pipe = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().expect("lock").push(pipe.abort_handle());
            }
        });
        self.tasks.lock().expect("lock").push(accept.abort_handle());
    }

    /// Closes every connection and stops listening.
    fn cut(&self) {
        for t in self.tasks.lock().expect("lock").drain(..) {
            t.abort();
        }
    }

    async fn restore(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) => {
                    assert!(Instant::now() < deadline, "cannot listen again: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        self.serve(listener);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_postgres_is_unreachable_webhooks_get_503_and_nothing_acknowledged_is_lost() {
    let Some(url) = fresh_postgres_url().await else {
        eprintln!("TEST_DATABASE_URL unset: fault test skipped");
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let db = Db::connect(&url).await;
    let direct = url::Url::parse(&url).expect("url");
    let upstream = tokio::net::lookup_host((
        direct.host_str().expect("host"),
        direct.port().unwrap_or(5432),
    ))
    .await
    .expect("resolve")
    .next()
    .expect("an address");
    let proxy = Proxy::start(upstream).await;
    let mut through_proxy = direct.clone();
    through_proxy.set_host(Some("127.0.0.1")).expect("host");
    through_proxy
        .set_port(Some(proxy.addr.port()))
        .expect("port");
    let through_proxy = through_proxy.to_string();

    let (docspace, dropbox) = slow_fakes().await;
    let member = docspace.add_active_user("Ada", "Lovelace", "ada@example.com");
    let mut groups = Vec::new();
    for i in 0..60 {
        let name = format!("Crew {i}");
        groups.push((
            name.clone(),
            docspace.create_group(&name, &[member]).expect("group"),
        ));
    }

    let fakes = fakes_env(&docspace, &dropbox);
    let settings = [
        ("BRIDGE_DATABASE_URL", through_proxy.as_str()),
        ("BRIDGE_LEASE", "2s"),
        ("WORKER_CONCURRENCY", "4"),
    ];
    let replicas: Vec<Replica> = (0..2)
        .map(|i| Replica::start(&format!("replica-{i}"), dir.path(), &fakes, &settings))
        .collect();
    for r in &replicas {
        r.wait_ready().await;
    }
    let senders: Vec<DocSpaceWebhookSender> = replicas.iter().map(Replica::sender).collect();
    let master = DocSpaceWebhookSender::new("http://unused", DOCSPACE_SECRET);
    let events: Vec<PreparedEvent> = groups
        .iter()
        .map(|(_, g)| master.prepare_group("group.created", &docspace.group(*g).expect("group")))
        .collect();

    // DocSpace: delivers each event, and tries a delivery again until it is answered 200.
    #[derive(Default)]
    struct Seen {
        acked: HashSet<i64>,
        unavailable: u32,
        without_retry_after: u32,
        other: Vec<u16>,
    }
    let seen = Arc::new(Mutex::new(Seen::default()));
    let sender = {
        let seen = seen.clone();
        tokio::spawn(async move {
            for (n, e) in events.iter().enumerate() {
                loop {
                    let d = senders[n % 2].deliver(e.clone()).await.expect("answered");
                    let acked = {
                        let mut s = seen.lock().expect("lock");
                        match d.status {
                            200 => {
                                s.acked.insert(e.event_id);
                            }
                            503 => {
                                s.unavailable += 1;
                                if !d.headers.contains_key("retry-after") {
                                    s.without_retry_after += 1;
                                }
                            }
                            other => s.other.push(other),
                        }
                        d.status == 200
                    };
                    if acked {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    // Mid-load, the database goes away for a few seconds (longer than a lease).
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.lock().expect("lock").acked.len() < 15 {
        assert!(Instant::now() < deadline, "no load");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    proxy.cut();
    let deadline = Instant::now() + Duration::from_secs(15);
    while seen.lock().expect("lock").unavailable < 2 {
        assert!(
            Instant::now() < deadline,
            "no webhook was refused while the database was away"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ready = reqwest::get(format!("{}/readyz", replicas[1].url()))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 503, "readiness while the database is away");
    let acked_while_down = seen.lock().expect("lock").acked.len();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    proxy.restore().await;

    // Recovery without a restart: the rest is delivered and every job runs.
    tokio::time::timeout(Duration::from_secs(30), sender)
        .await
        .expect("every event delivered after the database came back")
        .expect("sender");
    let all: Vec<&Replica> = replicas.iter().collect();
    db.wait_drained(25, &all).await;

    let seen = std::mem::take(&mut *seen.lock().expect("lock"));
    assert!(
        seen.other.is_empty(),
        "answers other than 200/503: {:?}",
        seen.other
    );
    assert_eq!(seen.without_retry_after, 0, "every 503 carries Retry-After");
    assert!(seen.acked.len() == groups.len() && acked_while_down < groups.len());
    let jobs = db.jobs().await;
    let states = db.states().await;
    assert_eq!(states.get("dead"), None, "dead jobs: {jobs:#?}");
    assert_eq!(jobs.len(), groups.len(), "one job per delivery: {jobs:#?}");
    assert_eq!(states.get("succeeded").copied(), Some(groups.len() as i64));
    assert_converged(&docspace, &dropbox, &groups, &[]);
    for r in &replicas {
        let ready = reqwest::get(format!("{}/readyz", r.url()))
            .await
            .expect("readyz");
        assert_eq!(ready.status(), 200, "{} is ready again", r.name);
    }
}
