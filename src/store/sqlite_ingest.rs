//! Webhook ingestion on SQLite: one thread commits whole batches of deliveries.
//!
//! sqlx runs every SQLite statement on the connection's worker thread and hands it there and
//! back through the async runtime, several hand-offs per delivery; under load that, not SQLite,
//! is where ingestion spends its time. Here one plain thread owns a connection of its own, takes
//! everything pending from a channel, and runs it with cached prepared statements inside one
//! `BEGIN IMMEDIATE … COMMIT` (one fsync for the batch with `synchronous = FULL`), then answers
//! every caller. A caller is answered only after the commit that holds its delivery.
//!
//! The thread writes only while it holds the store's writer lock (the same lock the sqlx writer
//! connection is used under), so the process's two connections never wait on each other inside
//! SQLite. The statements are those of `sql.rs` that PostgreSQL runs too, but for two: the
//! insert that keeps a delivery ([`super::sql::KEEP_DELIVERY`], without `RETURNING`) and, for a
//! kept delivery, the lookup of the queued job's id alone ([`super::sql::QUEUED_JOB_ID`]).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::{mpsc, Mutex};

use super::rows::now_ms;
use super::sql::{delivery_source, INSERT_JOB, KEEP_DELIVERY, QUEUED_JOB, QUEUED_JOB_ID};
use super::sqlite_direct::job_of;
use super::{take_pending, Delivery, DeliveryOutcome, IngestQueue, IngestReply, Job, NewJob};
use super::{StoreError, StoreResult};

/// Most deliveries committed in one transaction.
const MAX_BATCH: usize = 512;

const LINK: &str =
    "INSERT INTO delivery_jobs (delivery_id, job_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";

/// Starts the ingest thread on the database file `path`; deliveries sent on the returned channel
/// are committed while `writer_lock` is held. The thread ends when every sender is gone.
pub(super) fn start<T: Send + 'static>(
    path: &Path,
    writer_lock: Arc<Mutex<T>>,
) -> StoreResult<IngestQueue> {
    let conn = open(path).map_err(unavailable)?;
    let (tx, rx) = mpsc::channel(4096);
    std::thread::Builder::new()
        .name("sqlite-ingest".into())
        .spawn(move || run(conn, rx, writer_lock, commit))
        .map_err(|e| StoreError::Unavailable(format!("cannot start the ingest thread: {e}")))?;
    Ok(tx)
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    // The journal mode is the database's (WAL, set by the store); the rest is per connection.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.set_prepared_statement_cache_capacity(16);
    Ok(conn)
}

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("database: {e}"))
}

/// Commits a batch of deliveries on a connection ([`commit`], or a stand-in in tests).
type Commit =
    fn(&mut Connection, &[(Delivery, IngestReply)]) -> rusqlite::Result<Vec<DeliveryOutcome>>;

fn run<T>(
    mut conn: Connection,
    mut rx: mpsc::Receiver<(Delivery, IngestReply)>,
    writer_lock: Arc<Mutex<T>>,
    commit: Commit,
) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        // Take the writer first: while it is busy, more requests pile up and join this batch.
        // Nothing waits for more beyond that: the deliveries that arrive during one commit make
        // the next batch, so batches grow by themselves when commits are slow. Waiting 300 µs
        // for more gave larger batches and less CPU per delivery but fewer deliveries per second
        // (`cargo bench --bench ingest`: median rate ratio 0.20–0.22 with the wait, 0.26–0.27
        // without).
        let held = writer_lock.blocking_lock();
        take_pending(&mut rx, &mut batch, MAX_BATCH);
        // A panic fails this batch alone: were it to end the thread, every later webhook and
        // enqueue would fail until the process restarted. The transaction it left open (if
        // unwinding did not roll it back) is rolled back before the next batch.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            commit(&mut conn, &batch).map_err(|e| format!("database: {e}"))
        }))
        .unwrap_or_else(|panic| {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            Err(format!("the commit failed: {}", super::panic_text(&*panic)))
        });
        drop(held);
        metrics::histogram!("bridge_store_group_commit_size").record(batch.len() as f64);
        match result {
            Ok(outs) => {
                for ((_, reply), out) in batch.into_iter().zip(outs) {
                    let _ = reply.send(Ok(out));
                }
            }
            Err(msg) => {
                tracing::warn!(error = %msg, deliveries = batch.len(), "webhook batch not committed");
                for (_, reply) in batch {
                    let _ = reply.send(Err(StoreError::Unavailable(msg.clone())));
                }
            }
        }
    }
}

/// One transaction for the whole batch: every delivery in it is kept, or none is.
fn commit(
    conn: &mut Connection,
    batch: &[(Delivery, IngestReply)],
) -> rusqlite::Result<Vec<DeliveryOutcome>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let outs = batch
        .iter()
        .map(|(d, _)| ingest_one(&tx, d))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    tx.commit()?;
    Ok(outs)
}

fn ingest_one(c: &Connection, d: &Delivery) -> rusqlite::Result<DeliveryOutcome> {
    let now = now_ms();
    // A delivery that is kept (webhooks) and whose id was seen before enqueues nothing again.
    let kept = match delivery_source(d) {
        None => None,
        Some(source) => {
            let r = d.received.as_ref();
            let inserted = c.prepare_cached(KEEP_DELIVERY)?.execute(params![
                d.delivery_id,
                source,
                r.and_then(|r| r.event_id.as_deref()),
                r.and_then(|r| r.trigger.as_deref()),
                r.and_then(|r| r.request_id.as_deref()),
                now
            ])?;
            if inserted == 0 {
                return Ok(DeliveryOutcome::duplicate());
            }
            Some(c.last_insert_rowid())
        }
    };
    // A kept delivery (a webhook) answers with its jobs' ids; the rows are read for the others
    // (`enqueue`), whose callers return them.
    let whole = kept.is_none();
    let mut job_ids = Vec::with_capacity(d.jobs.len());
    let mut jobs = Vec::new();
    for j in &d.jobs {
        let (id, row) = queue_job(c, j, now, whole)?;
        job_ids.push(id);
        jobs.extend(row);
    }
    if let Some(id) = kept {
        let mut link = c.prepare_cached(LINK)?;
        for job in &job_ids {
            link.execute(params![id, job])?;
        }
    }
    Ok(DeliveryOutcome {
        duplicate: false,
        job_ids,
        jobs,
    })
}

/// The job `j` is queued as or coalesces into: its id, and its row when `whole`. Run in a
/// transaction that holds the write lock.
pub(super) fn queue_job(
    c: &Connection,
    j: &NewJob,
    now: i64,
    whole: bool,
) -> rusqlite::Result<(i64, Option<Job>)> {
    // This transaction holds the write lock, so the queued job with this key, if any, stays as
    // read until the commit: look it up first, and insert only when there is none. A delivery
    // that coalesces (the common case in a burst of events about one group) then costs one read
    // instead of an insert attempt and a read.
    let queued = match &j.dedupe_key {
        None => None,
        Some(key) if whole => c
            .prepare_cached(QUEUED_JOB)?
            .query_row(params![key], job_of)
            .optional()?
            .map(|job| job.map_err(unreadable).map(|job| (job.id, Some(job))))
            .transpose()?,
        Some(key) => c
            .prepare_cached(QUEUED_JOB_ID)?
            .query_row(params![key], |r| r.get(0))
            .optional()?
            .map(|id| (id, None)),
    };
    if let Some(found) = queued {
        return Ok(found);
    }
    let job = c
        .prepare_cached(INSERT_JOB)?
        .query_row(
            params![j.kind, j.dedupe_key, j.payload.to_string(), now],
            job_of,
        )?
        .map_err(unreadable)?;
    Ok((job.id, whole.then_some(job)))
}

/// A job row that does not make a [`Job`].
fn unreadable(e: StoreError) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ingest_through;

    /// Commits nothing; opens a transaction and panics inside it for a delivery named `panic`.
    fn flaky(
        c: &mut Connection,
        batch: &[(Delivery, IngestReply)],
    ) -> rusqlite::Result<Vec<DeliveryOutcome>> {
        c.execute_batch("BEGIN IMMEDIATE")?;
        if batch
            .iter()
            .any(|(d, _)| d.delivery_id.as_deref() == Some("panic"))
        {
            panic!("boom");
        }
        c.execute_batch("COMMIT")?;
        Ok(batch.iter().map(|_| DeliveryOutcome::duplicate()).collect())
    }

    fn delivery(id: &str) -> Delivery {
        Delivery {
            delivery_id: Some(id.into()),
            ..Delivery::default()
        }
    }

    #[test]
    fn a_batch_whose_commit_panics_fails_alone_and_the_thread_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("ingest.db")).unwrap();
        let (tx, rx) = mpsc::channel(8);
        let thread = std::thread::spawn(move || run(conn, rx, Arc::new(Mutex::new(())), flaky));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let failed = ingest_through(&tx, delivery("panic")).await;
            assert!(
                matches!(&failed, Err(StoreError::Unavailable(m)) if m.contains("boom")),
                "{failed:?}"
            );
            // The thread is still there, and the transaction the panic left open is gone (a
            // second BEGIN inside it would fail).
            let next = ingest_through(&tx, delivery("next")).await;
            assert!(matches!(&next, Ok(out) if out.duplicate), "{next:?}");
        });
        drop(tx);
        thread.join().unwrap();
    }
}
