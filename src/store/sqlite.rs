//! SQLite store (embedded default): WAL journal, one writer connection, a read pool.
//!
//! Every write goes through the single writer connection (SQLite allows one writer at a time;
//! serialising in-process avoids `SQLITE_BUSY` storms), and every write is group-committed:
//! webhook ingestion by a thread of its own (`sqlite_ingest.rs`), every other write by the
//! writer's task ([`write_batches`]). Callers queue on a channel; everything pending goes into a
//! single `BEGIN IMMEDIATE … COMMIT` under the writer's lock, and only then is each caller
//! answered. With `synchronous = FULL` that is one fsync per batch instead of one per write, and
//! no caller is answered before its rows are durable. The busiest of those writes (claims, job
//! results, export guards and records) are made with rusqlite on the writer's own SQLite handle
//! (`sqlite_direct.rs`), all of a batch's in one turn, instead of a round trip to sqlx's
//! connection thread per statement.
//!
//! A caller may go away at any point (a client hangs up and its handler is dropped, a timeout
//! fires). Its write is run by the writer's task all the same, and transactions are sqlx
//! [`sqlx::Transaction`]s, which roll back when dropped: the writer is never left inside a
//! transaction nobody will end.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use futures::FutureExt as _;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Connection, Row, SqlitePool};
use tokio::sync::{mpsc, oneshot, Mutex};

use super::{sqlite_direct, sqlite_ingest};

use super::*;

super::rows::row_mappers!(SqliteRow);

/// How far a job's delivery window reaches beyond the job's own times: deliveries and jobs take
/// their times from the clocks of the processes that wrote them, which may disagree or step.
const DELIVERY_WINDOW_MARGIN_MS: i64 = 5 * 60 * 1000;

/// When the deliveries linked to `job` were received (Unix ms, first and last). Links are kept
/// in delivery order only (migration 0009): a delivery joins a job only while the job is queued,
/// so it was received between the job's creation and the last time the job left `queued` (its
/// `updated_at`; no end while it is still queued), widened by [`DELIVERY_WINDOW_MARGIN_MS`]. The
/// deliveries' time index is walked back through that window and each delivery's link to the
/// job looked up by its key, until enough are found.
fn job_delivery_window(job: &Job) -> (i64, i64) {
    let from = job.created_at.timestamp_millis() - DELIVERY_WINDOW_MARGIN_MS;
    let to = match job.state {
        JobState::Queued => i64::MAX,
        _ => job.updated_at.timestamp_millis() + DELIVERY_WINDOW_MARGIN_MS,
    };
    (from, to)
}

super::sql::shared_statements!(sqlx::Sqlite, {
    now: "CAST(unixepoch('subsec') * 1000 AS INTEGER)",
    new_token: "lower(hex(randomblob(16)))",
    skip_locked: "",
});

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a readiness check waits for the writer to take SQLite's write lock.
const WRITE_PROBE_WAIT: Duration = Duration::from_secs(2);

pub struct SqliteStore {
    read: SqlitePool,
    writer: Writer,
    ingest_tx: super::IngestQueue,
    /// Held by the one write probe in flight, so that readiness checks arriving while the write
    /// lock is held elsewhere do not pile probes up on the writer.
    probe: Arc<Mutex<()>>,
}

/// The one connection that writes, and the queue of writes waiting for it.
#[derive(Clone)]
struct Writer {
    conn: Arc<Mutex<SqliteConnection>>,
    ops: mpsc::UnboundedSender<Op>,
}

/// Most writes committed in one transaction.
const MAX_WRITE_BATCH: usize = 512;

/// What a write tells its caller once its batch's fate is known: `Ok` when the batch committed.
type Settle = Box<dyn FnOnce(Result<(), String>) + Send>;

/// One write waiting for the writer: runs inside its batch's transaction, in a savepoint of its
/// own, and says whether it succeeded (a write that failed is rolled back alone).
enum Op {
    /// Through sqlx, for writes made seldom.
    Sqlx(SqlxWrite),
    /// Straight on SQLite's handle with rusqlite (`sqlite_direct.rs`), for the busy ones.
    Direct(DirectWrite),
}

type SqlxWrite =
    Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, (bool, Settle)> + Send>;

type DirectWrite = Box<dyn FnOnce(&rusqlite::Connection) -> (bool, Settle) + Send>;

/// A write's result and the [`Settle`] that answers its caller through `tx`.
fn settled<T: Send + 'static>(
    out: StoreResult<T>,
    tx: oneshot::Sender<StoreResult<T>>,
) -> (bool, Settle) {
    let ok = out.is_ok();
    let settle: Settle = Box::new(move |batch: Result<(), String>| {
        let answer = match (batch, out) {
            (_, Err(e)) => Err(e),
            (Ok(()), Ok(v)) => Ok(v),
            (Err(msg), Ok(_)) => Err(StoreError::Unavailable(msg)),
        };
        let _ = tx.send(answer);
    });
    (ok, settle)
}

impl Writer {
    /// Starts the writer task for `conn`.
    fn start(conn: SqliteConnection) -> Self {
        let conn = Arc::new(Mutex::new(conn));
        let (ops, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_batches(conn.clone(), rx));
        Self { conn, ops }
    }

    /// Runs `f` on the writer connection as one atomic write, group-committed with whatever
    /// other writes are waiting (see [`write_batches`]); answers once its batch is durable.
    /// A caller that goes away cannot stop the work halfway: the writer task runs it.
    async fn run<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<T>>
            + Send
            + 'static,
    {
        let (tx, rx) = oneshot::channel::<StoreResult<T>>();
        let run: SqlxWrite = Box::new(move |c| Box::pin(async move { settled(f(c).await, tx) }));
        self.submit(Op::Sqlx(run), rx).await
    }

    /// [`Writer::run`] for a write made with rusqlite on SQLite's handle (`sqlite_direct.rs`).
    async fn direct<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> StoreResult<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<StoreResult<T>>();
        let run: DirectWrite = Box::new(move |c| settled(f(c), tx));
        self.submit(Op::Direct(run), rx).await
    }

    /// Queues `op` for the writer and waits for its answer on `rx`.
    async fn submit<T>(&self, op: Op, rx: oneshot::Receiver<StoreResult<T>>) -> StoreResult<T> {
        self.ops
            .send(op)
            .map_err(|_| StoreError::Unavailable("store is shutting down".into()))?;
        rx.await.map_err(|_| {
            StoreError::Unavailable("the write was not run: its batch failed before it".into())
        })?
    }

    /// Runs `f` on the bare writer connection, outside any batch (for work that manages the
    /// transaction itself), in a task of its own.
    async fn alone<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, StoreResult<T>>
            + Send
            + 'static,
    {
        let conn = self.conn.clone();
        tokio::spawn(async move {
            let mut c = conn.lock_owned().await;
            f(&mut c).await
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("database writer task ended: {e}")))?
    }
}

/// Group commit for every write but ingestion's (which has a thread of its own): takes every
/// write waiting, runs them in one `BEGIN IMMEDIATE … COMMIT` under the writer's lock, each in
/// a savepoint of its own so that one failing write is rolled back without the others, and
/// answers each caller only after the commit. With `synchronous = FULL` that is one fsync per
/// batch: concurrent workers (claims, export guards, results) no longer queue for one fsync
/// each. Written here because the batching belongs to this store's writer; sqlx offers none.
async fn write_batches(conn: Arc<Mutex<SqliteConnection>>, mut rx: mpsc::UnboundedReceiver<Op>) {
    while let Some(first) = rx.recv().await {
        // Take the writer first: while it is busy, more writes pile up and join this batch.
        let mut c = conn.lock().await;
        let mut batch = vec![first];
        while batch.len() < MAX_WRITE_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let mut settles = Vec::with_capacity(batch.len());
        // A panic fails this batch alone (the writes it had not reached hear that their batch
        // failed before them): were it to end this task, every later write would fail until the
        // process restarted. sqlx rolls the transaction it left open back before the next one.
        let result = AssertUnwindSafe(commit_batch(&mut c, batch, &mut settles))
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| {
                Err(format!("a write failed: {}", super::panic_text(&*panic)).into())
            });
        drop(c);
        metrics::histogram!("bridge_store_write_batch_size").record(settles.len() as f64);
        let result = result.map_err(|e| {
            tracing::warn!(error = %e, writes = settles.len(), "database write batch not committed");
            format!("database: {e}")
        });
        for settle in settles {
            settle(result.clone());
        }
    }
}

/// Why a batch did not commit.
type BatchError = Box<dyn std::error::Error + Send + Sync>;

/// Runs `batch` in one transaction, in the order its writes were queued; each write's settle
/// goes to `settles` as it runs. Writes after a failure of the transaction itself are not run
/// (their callers hear so). Direct writes queued one after another run in one turn on SQLite's
/// handle. The order is kept because a caller may queue a write and stop waiting for it (a
/// guard let go in the background, an abandoned lease renewal) before queuing its next one.
async fn commit_batch(
    c: &mut SqliteConnection,
    batch: Vec<Op>,
    settles: &mut Vec<Settle>,
) -> Result<(), BatchError> {
    let mut tx = c.begin_with("BEGIN IMMEDIATE").await?;
    let batch = match <[Op; 1]>::try_from(batch) {
        // Alone: its own transaction is its savepoint.
        Ok([Op::Sqlx(run)]) => return Ok(settle_in(tx, run, settles).await?),
        Ok(one) => Vec::from(one),
        Err(batch) => batch,
    };
    let mut direct = Vec::new();
    for op in batch {
        match op {
            Op::Direct(w) => direct.push(w),
            Op::Sqlx(run) => {
                if !direct.is_empty() {
                    run_direct(&mut tx, std::mem::take(&mut direct), settles).await?;
                }
                settle_in(tx.begin().await?, run, settles).await?;
            }
        }
    }
    if !direct.is_empty() {
        run_direct(&mut tx, direct, settles).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Runs `run` in `tx` (the batch's transaction, or a savepoint in it), keeps its settle, and
/// commits `tx` if the write succeeded or rolls it back if not.
async fn settle_in(
    mut tx: sqlx::Transaction<'_, sqlx::Sqlite>,
    run: SqlxWrite,
    settles: &mut Vec<Settle>,
) -> Result<(), sqlx::Error> {
    let (ok, settle) = run(&mut tx).await;
    settles.push(settle);
    if ok {
        tx.commit().await
    } else {
        tx.rollback().await
    }
}

/// Runs `writes` on `c`'s SQLite handle, locked out of sqlx's thread, each in a savepoint of
/// its own. They run on the runtime's thread: index lookups inside a transaction that already
/// holds the write lock (no lock waits, no fsync), microseconds each.
async fn run_direct(
    c: &mut SqliteConnection,
    writes: Vec<DirectWrite>,
    settles: &mut Vec<Settle>,
) -> Result<(), BatchError> {
    let mut handle = c.lock_handle().await?;
    // SAFETY: the handle is a live connection, locked out of sqlx's worker thread until `handle`
    // is dropped, after `conn`. A connection made by `from_handle` does not close the handle when
    // dropped; it finalizes the statements it prepared, so none is left for sqlx to trip over.
    let conn = unsafe { rusqlite::Connection::from_handle(handle.as_raw_handle().as_ptr()) }?;
    for write in writes {
        conn.execute_batch("SAVEPOINT direct_write")?;
        let (ok, settle) = write(&conn);
        settles.push(settle);
        // Fails when the write's failure took the whole transaction with it (SQLite rolls it
        // back on a full disk or an I/O error): then the batch has failed.
        conn.execute_batch(if ok {
            "RELEASE direct_write"
        } else {
            "ROLLBACK TO direct_write; RELEASE direct_write"
        })?;
    }
    Ok(())
}

/// Turns off SQLite's process-wide allocation statistics before the first connection: with them
/// on, every allocation and free inside SQLite takes a global mutex, an eighth of the ingest
/// thread's time under load. The bridge never reads them. Once per process; it can only be set
/// before SQLite initialises, so a process that opened SQLite earlier keeps its setting.
fn library_settings() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: `sqlite3_config` with SQLITE_CONFIG_MEMSTATUS takes one int; it is called once,
        // before this process opens any connection here, and refuses (SQLITE_MISUSE, ignored)
        // when SQLite is already initialised.
        unsafe {
            rusqlite::ffi::sqlite3_config(
                rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS,
                0 as std::ffi::c_int,
            );
        }
    });
}

impl SqliteStore {
    /// Opens the database at `url`, creating the file and its directory when missing.
    pub async fn open(url: &str) -> StoreResult<Self> {
        Self::open_with(url, true).await
    }

    /// Opens the database at `url`; with `create` false, a file that does not exist or holds no
    /// bridge schema is [`StoreError::Missing`] and nothing is created.
    pub async fn open_with(url: &str, create: bool) -> StoreResult<Self> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Other(format!("invalid sqlite url: {e}")))?
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let Some(file) = file_of(url) else {
            // Ingestion commits on a connection of its own, which would see another database.
            return Err(StoreError::Other(
                "an in-memory SQLite database cannot be used; name a file".into(),
            ));
        };
        if create {
            if let Some(dir) = parent_dir(&file) {
                std::fs::create_dir_all(&dir).map_err(|e| {
                    StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
        } else if !file.exists() {
            return Err(StoreError::Missing(format!(
                "no database at {}",
                absolute(&file).display()
            )));
        }
        library_settings();
        let mut writer = SqliteConnection::connect_with(&opts).await?;
        if !create && !has_schema(&mut writer).await? {
            return Err(StoreError::Missing(format!(
                "{} holds no bridge database",
                absolute(&file).display()
            )));
        }
        MIGRATOR
            .run(&mut writer)
            .await
            .map_err(|e| StoreError::Other(format!("migration failed: {e}")))?;
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(opts.read_only(true))
            .await?;
        let writer = Writer::start(writer);
        let ingest_tx = sqlite_ingest::start(&file, writer.conn.clone())?;
        Ok(Self {
            read,
            writer,
            ingest_tx,
            probe: Arc::new(Mutex::new(())),
        })
    }

    /// Proves the writer can write now: it takes SQLite's write lock and lets it go again
    /// (`BEGIN IMMEDIATE`, `ROLLBACK`; nothing is written, nothing is synced).
    async fn probe_writer(&self) -> StoreResult<()> {
        let probe = self.probe.clone();
        let writer = self.writer.clone();
        let attempt = async move {
            let in_flight = probe.lock_owned().await;
            writer
                .alone(move |c| {
                    Box::pin(async move {
                        let _in_flight = in_flight;
                        c.begin_with("BEGIN IMMEDIATE").await?.rollback().await?;
                        Ok(())
                    })
                })
                .await
        };
        tokio::time::timeout(WRITE_PROBE_WAIT, attempt)
            .await
            .map_err(|_| {
                StoreError::Unavailable(format!(
                    "the writer could not take the write lock within {WRITE_PROBE_WAIT:?}"
                ))
            })?
    }
}

/// The file an `sqlite:` URL names, as sqlx opens it (its path percent-decoded); `None` for
/// another scheme, a URL sqlx cannot read, or an in-memory database: `sqlite::memory:`, or any
/// path with `mode=memory`.
pub fn file_of(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    // sqlx keeps whether the database is in memory to itself; it reads these the same way.
    let in_memory = path == ":memory:"
        || url::form_urlencoded::parse(query.as_bytes())
            .any(|(key, value)| key == "mode" && value == "memory");
    let opts = SqliteConnectOptions::from_str(url).ok()?;
    let file = opts.get_filename();
    (!in_memory && !file.as_os_str().is_empty()).then(|| file.to_path_buf())
}

fn parent_dir(file: &std::path::Path) -> Option<std::path::PathBuf> {
    file.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| p.to_path_buf())
}

/// `path` from the working directory, for messages that must say where they looked.
fn absolute(path: &std::path::Path) -> std::path::PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Whether the bridge's migrations ever ran on this database.
async fn has_schema(c: &mut SqliteConnection) -> StoreResult<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(&mut *c)
    .await?;
    Ok(n > 0)
}

#[async_trait]
impl Store for SqliteStore {
    /// Readiness: the read pool answers, webhook ingestion is running, and the writer can take
    /// the write lock.
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        if self.ingest_tx.is_closed() {
            return Err(StoreError::Unavailable(
                "webhook ingestion has stopped".into(),
            ));
        }
        if self.writer.ops.is_closed() {
            return Err(StoreError::Unavailable(
                "the database writer has stopped".into(),
            ));
        }
        self.probe_writer().await
    }

    async fn ingest(&self, delivery: Delivery) -> StoreResult<DeliveryOutcome> {
        super::ingest_through(&self.ingest_tx, delivery).await
    }

    async fn enqueue_scheduled(
        &self,
        job: NewJob,
        every: Duration,
        force: bool,
    ) -> StoreResult<Scheduled> {
        self.writer
            .direct(move |c| sqlite_direct::enqueue_scheduled(c, &job, every, force))
            .await
    }

    async fn claim(&self, worker: &str, limit: u32, lease: Duration) -> StoreResult<Vec<Claimed>> {
        let worker = worker.to_string();
        // One statement, on the one writer: no other claimer can interleave.
        self.writer
            .direct(move |c| sqlite_direct::claim(c, &worker, limit, lease))
            .await
    }

    async fn renew_lease(&self, lease: &Lease, duration: Duration) -> StoreResult<bool> {
        let lease = lease.clone();
        self.writer
            .run(move |c| Box::pin(async move { shared::renew_lease(c, &lease, duration).await }))
            .await
    }

    async fn finish(&self, lease: &Lease, outcome: JobOutcome) -> StoreResult<bool> {
        let lease = lease.clone();
        self.writer
            .direct(move |c| sqlite_direct::finish(c, &lease, outcome))
            .await
    }

    async fn finish_run(
        &self,
        lease: &Lease,
        outcome: JobOutcome,
        attempt: &Attempt,
    ) -> StoreResult<bool> {
        let (lease, attempt) = (lease.clone(), attempt.clone());
        self.writer
            .direct(move |c| {
                sqlite_direct::record_attempt(c, lease.job_id, &attempt)?;
                sqlite_direct::finish(c, &lease, outcome)
            })
            .await
    }

    async fn release(&self, lease: &Lease) -> StoreResult<()> {
        let lease = lease.clone();
        self.writer
            .run(move |c| Box::pin(async move { shared::release(c, &lease).await }))
            .await
    }

    async fn release_all(&self, worker: &str) -> StoreResult<u64> {
        let worker = worker.to_string();
        self.writer
            .run(move |c| Box::pin(async move { shared::release_all(c, &worker).await }))
            .await
    }

    async fn requeue_expired(&self, max_attempts: u32, backoff: Backoff) -> StoreResult<u64> {
        self.writer
            .run(move |c| Box::pin(shared::requeue_expired(c, max_attempts, backoff)))
            .await
    }

    async fn get_job(&self, id: i64) -> StoreResult<Option<Job>> {
        shared::get_job(&mut *self.read.acquire().await?, id).await
    }

    async fn list_jobs(&self, f: &JobFilter) -> StoreResult<Vec<Job>> {
        shared::list_jobs(&mut *self.read.acquire().await?, f).await
    }

    async fn retry_dead_matching(&self, filter: &RetryFilter) -> StoreResult<Vec<i64>> {
        let filter = filter.clone();
        self.writer
            .run(move |c| Box::pin(async move { shared::retry_dead_matching(c, &filter).await }))
            .await
    }

    async fn record_attempt(&self, job_id: i64, attempt: &Attempt) -> StoreResult<()> {
        let attempt = attempt.clone();
        self.writer
            .direct(move |c| sqlite_direct::record_attempt(c, job_id, &attempt))
            .await
    }

    async fn attempts(&self, job_id: i64) -> StoreResult<Vec<Attempt>> {
        shared::attempts(&mut *self.read.acquire().await?, job_id).await
    }

    async fn list_deliveries(&self, filter: &DeliveryFilter) -> StoreResult<Vec<DeliveryRecord>> {
        shared::list_deliveries(&mut *self.read.acquire().await?, filter).await
    }

    async fn job_deliveries(&self, job: &Job) -> StoreResult<Vec<DeliveryRecord>> {
        let (from, to) = job_delivery_window(job);
        shared::job_deliveries(&mut *self.read.acquire().await?, job.id, from, to).await
    }

    async fn queue_depth(&self) -> StoreResult<BTreeMap<JobState, i64>> {
        shared::queue_depth(&mut *self.read.acquire().await?).await
    }

    async fn oldest_due_job(&self) -> StoreResult<Option<Job>> {
        shared::oldest_due_job(&mut *self.read.acquire().await?).await
    }

    async fn queue_gauges(&self) -> StoreResult<BTreeMap<JobState, i64>> {
        shared::queue_gauges(&mut *self.read.acquire().await?).await
    }

    async fn prune_deliveries(&self, retention: Duration) -> StoreResult<u64> {
        self.writer
            .run(move |c| Box::pin(shared::prune_deliveries(c, retention)))
            .await
    }

    async fn prune_jobs(&self, retention: &JobRetention) -> StoreResult<u64> {
        // Each batch is its own turn on the writer, so webhooks and workers get in between.
        super::sql::prune_jobs_in_batches(retention, |state, cutoff, batch| {
            self.writer
                .run(move |c| Box::pin(shared::prune_jobs_batch(c, state, cutoff, batch)))
        })
        .await
    }

    async fn group_folder(&self, group_id: &str) -> StoreResult<Option<GroupFolder>> {
        shared::group_folder(&mut *self.read.acquire().await?, group_id).await
    }

    async fn group_folders(&self) -> StoreResult<Vec<GroupFolder>> {
        shared::group_folders(&mut *self.read.acquire().await?).await
    }

    async fn group_folder_at(&self, path: &str) -> StoreResult<Option<GroupFolder>> {
        shared::group_folder_at(&mut *self.read.acquire().await?, path).await
    }

    async fn group_folder_of_share(
        &self,
        shared_folder_id: &str,
    ) -> StoreResult<Option<GroupFolder>> {
        shared::group_folder_of_share(&mut *self.read.acquire().await?, shared_folder_id).await
    }

    async fn group_folder_summaries(&self) -> StoreResult<Vec<GroupFolderSummary>> {
        shared::group_folder_summaries(&mut *self.read.acquire().await?).await
    }

    async fn put_group_folder(&self, f: &GroupFolder) -> StoreResult<()> {
        let f = f.clone();
        self.writer
            .run(move |c| Box::pin(async move { shared::put_group_folder(c, &f).await }))
            .await
    }

    async fn added_members(&self, group_id: &str) -> StoreResult<Vec<String>> {
        shared::added_members(&mut *self.read.acquire().await?, group_id).await
    }

    async fn record_members_added(&self, group_id: &str, emails: &[String]) -> StoreResult<()> {
        let (group_id, emails) = (group_id.to_string(), emails.to_vec());
        self.writer
            .run(move |c| {
                Box::pin(async move { shared::record_members_added(c, &group_id, &emails).await })
            })
            .await
    }

    async fn record_member_refused(
        &self,
        group_id: &str,
        email: &str,
        tag: &str,
    ) -> StoreResult<()> {
        let (group_id, email, tag) = (group_id.to_string(), email.to_string(), tag.to_string());
        self.writer
            .run(move |c| {
                Box::pin(
                    async move { shared::record_member_refused(c, &group_id, &email, &tag).await },
                )
            })
            .await
    }

    async fn member_refusals(
        &self,
        group_id: &str,
        max_age: Duration,
    ) -> StoreResult<Vec<(String, String)>> {
        shared::member_refusals(&mut *self.read.acquire().await?, group_id, max_age).await
    }

    async fn member_accounts(&self, group_id: &str) -> StoreResult<BTreeMap<String, String>> {
        shared::member_accounts(&mut *self.read.acquire().await?, group_id).await
    }

    async fn record_member_accounts(
        &self,
        group_id: &str,
        accounts: &[(String, String)],
    ) -> StoreResult<()> {
        let (group_id, accounts) = (group_id.to_string(), accounts.to_vec());
        self.writer
            .run(move |c| {
                Box::pin(
                    async move { shared::record_member_accounts(c, &group_id, &accounts).await },
                )
            })
            .await
    }

    async fn record_member_removed(&self, group_id: &str, email: &str) -> StoreResult<()> {
        let (group_id, email) = (group_id.to_string(), email.to_string());
        self.writer
            .run(move |c| {
                Box::pin(async move { shared::record_member_removed(c, &group_id, &email).await })
            })
            .await
    }

    async fn export(&self, file_id: &str) -> StoreResult<Option<ExportRecord>> {
        shared::export(&mut *self.read.acquire().await?, file_id).await
    }

    async fn exports_under(&self, dropbox_path: &str) -> StoreResult<Vec<ExportRecord>> {
        shared::exports_under(&mut *self.read.acquire().await?, dropbox_path).await
    }

    async fn latest_exports(&self, limit: u32) -> StoreResult<Vec<ExportSummary>> {
        shared::latest_exports(&mut *self.read.acquire().await?, limit).await
    }

    async fn put_export(&self, r: &ExportRecord) -> StoreResult<()> {
        let r = r.clone();
        self.writer
            .direct(move |c| sqlite_direct::put_export(c, &r))
            .await
    }

    async fn acquire_export_guard(
        &self,
        file_id: &str,
        holder: &str,
        lease: Duration,
    ) -> StoreResult<bool> {
        let (file_id, holder) = (file_id.to_string(), holder.to_string());
        self.writer
            .direct(move |c| sqlite_direct::acquire_export_guard(c, &file_id, &holder, lease))
            .await
    }

    async fn renew_export_guard(
        &self,
        file_id: &str,
        holder: &str,
        lease: Duration,
    ) -> StoreResult<bool> {
        let (file_id, holder) = (file_id.to_string(), holder.to_string());
        self.writer
            .direct(move |c| sqlite_direct::renew_export_guard(c, &file_id, &holder, lease))
            .await
    }

    async fn complete_export(&self, r: &ExportRecord, holder: &str) -> StoreResult<()> {
        let (r, holder) = (r.clone(), holder.to_string());
        self.writer
            .direct(move |c| {
                sqlite_direct::put_export(c, &r)?;
                sqlite_direct::end_export_guard(c, &r.file_id, &holder)
            })
            .await
    }

    async fn release_export_guard(&self, file_id: &str, holder: &str) -> StoreResult<()> {
        let (file_id, holder) = (file_id.to_string(), holder.to_string());
        self.writer
            .run(move |c| {
                Box::pin(async move { shared::release_export_guard(c, &file_id, &holder).await })
            })
            .await
    }

    async fn set_export_intent(
        &self,
        file_id: &str,
        holder: &str,
        intent: Option<&ExportIntent>,
    ) -> StoreResult<bool> {
        let (file_id, holder) = (file_id.to_string(), holder.to_string());
        let intent = intent.cloned();
        self.writer
            .direct(move |c| {
                sqlite_direct::set_export_intent(c, &file_id, &holder, intent.as_ref())
            })
            .await
    }

    async fn export_intent(&self, file_id: &str) -> StoreResult<Option<ExportIntent>> {
        shared::export_intent(&mut *self.read.acquire().await?, file_id).await
    }

    async fn exports_of(&self, file_ids: &[String]) -> StoreResult<Vec<ExportRecord>> {
        shared::exports_of(&mut *self.read.acquire().await?, file_ids).await
    }

    async fn watermark_or_init(&self, name: &str, at: DateTime<Utc>) -> StoreResult<DateTime<Utc>> {
        let (name, at) = (name.to_string(), at.timestamp_millis());
        let ms = self
            .writer
            .run(move |c| Box::pin(async move { shared::watermark_or_init(c, &name, at).await }))
            .await?;
        Ok(super::rows::from_ms(ms))
    }

    async fn cursor(&self, account_id: &str) -> StoreResult<Option<String>> {
        shared::cursor(&mut *self.read.acquire().await?, account_id).await
    }

    async fn put_cursor(&self, account_id: &str, cursor: &str) -> StoreResult<()> {
        let (account_id, cursor) = (account_id.to_string(), cursor.to_string());
        self.writer
            .run(move |c| {
                Box::pin(async move { shared::put_cursor(c, &account_id, &cursor).await })
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_write_that_panics_fails_its_batch_alone_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bridge.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        let failed = store
            .writer
            .direct(|_| -> StoreResult<()> { panic!("boom") })
            .await;
        assert!(
            matches!(failed, Err(StoreError::Unavailable(_))),
            "{failed:?}"
        );
        // Writes after it still run, and readiness holds.
        let count = store
            .writer
            .direct(|c| {
                c.execute(
                    "INSERT INTO deliveries (source, received_at) VALUES ('test', 0)",
                    [],
                )
                .map_err(|e| StoreError::Other(e.to_string()))
            })
            .await;
        assert!(matches!(count, Ok(1)), "{count:?}");
        store.ping().await.unwrap();
    }
}
