//! Webhook ingestion on PostgreSQL: deliveries that arrive together share one transaction.
//!
//! One delivery alone costs a transaction of five statements, each a round trip, and a commit
//! (a WAL flush). Here a task takes everything pending from a channel and commits it as one
//! batch with a handful of set-based statements (`UNNEST` of arrays), whatever its size; a few
//! batches may be in flight at once. A caller is answered only after the commit that holds its
//! delivery.
//!
//! The outcome is the one the deliveries would have had one after the other, in arrival order:
//! a delivery id seen before (or earlier in the batch) is a duplicate and enqueues nothing, and
//! jobs coalesce on their dedupe key with queued jobs, including those of earlier deliveries of
//! the batch. Deliveries are numbered in arrival order (those without a delivery id first);
//! jobs are inserted in the order of their keys, so that batches of this replica and of others,
//! which often touch the same group's job, wait for each other instead of deadlocking.
//!
//! A batch that may have failed because of one of its deliveries (data the database refuses, a
//! key taken, a deadlock with another transaction, a job claimed under it too often) is
//! committed again one delivery at a time, through the path that retries races with other
//! replicas, so one delivery never fails another; deliveries whose callers have gone are left
//! out (they were not acknowledged, so DocSpace sends them again). Any other failure (the
//! connection lost, the server shutting down or read-only) fails the batch's deliveries at once,
//! with no attempt one by one that would only wait for the same database again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use sqlx::postgres::{PgPool, PgRow};
use sqlx::{PgConnection, Postgres, Row};
use tokio::sync::{mpsc, Semaphore};

use super::{ingest_alone, job_from_row, ENQUEUE_ROUNDS};
use crate::store::rows::now_ms;
use crate::store::sql::{delivery_source, job_columns, INSERT_DELIVERY};

use super::INSERT_JOB;
use crate::store::{take_pending, Delivery, DeliveryOutcome, IngestQueue, IngestReply};
use crate::store::{Job, NewJob, StoreError, StoreResult};

/// Most deliveries committed in one transaction.
const MAX_BATCH: usize = 512;
/// Batches in flight at once: while one waits for its commit, the next is being written.
const IN_FLIGHT: usize = 2;

/// Starts the ingest task on `pool`. Each delivery sent on the returned channel is committed in
/// a batch (or, if the batch may have failed because of one of its deliveries, by itself). The
/// task ends when every sender is gone.
pub(super) fn start(pool: PgPool) -> IngestQueue {
    let (tx, rx) = mpsc::channel(4096);
    tokio::spawn(run(pool, rx));
    tx
}

async fn run(pool: PgPool, mut rx: mpsc::Receiver<(Delivery, IngestReply)>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        // Take a slot first: while every slot is busy, more deliveries pile up and join this batch.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        take_pending(&mut rx, &mut batch, MAX_BATCH);
        let pool = pool.clone();
        tokio::spawn(async move {
            let deliveries: Vec<&Delivery> = batch.iter().map(|(d, _)| d).collect();
            match commit(&pool, &deliveries).await {
                Ok(outs) => {
                    metrics::histogram!("bridge_store_group_commit_size")
                        .record(batch.len() as f64);
                    for ((_, reply), out) in batch.into_iter().zip(outs) {
                        let _ = reply.send(Ok(out));
                    }
                }
                Err(Failed::All(e)) => {
                    tracing::warn!(error = %e, deliveries = batch.len(), "webhook batch not committed");
                    for (_, reply) in batch {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
                Err(Failed::Alone(e)) => {
                    tracing::warn!(error = %e, deliveries = batch.len(), "webhook batch refused; committing its deliveries one by one");
                    for (d, reply) in batch {
                        if !reply.is_closed() {
                            let _ = reply.send(ingest_alone(pool.clone(), d).await);
                        }
                    }
                }
            }
            drop(slot);
        });
    }
}

/// Why a batch was not committed.
enum Failed {
    /// Perhaps because of one of its deliveries: worth committing them one by one.
    Alone(StoreError),
    /// Not because of any delivery: every delivery of the batch fails with this.
    All(StoreError),
}

impl From<sqlx::Error> for Failed {
    fn from(e: sqlx::Error) -> Self {
        // SQLSTATE classes 22 (data exception: text PostgreSQL cannot hold) and 23 (a
        // constraint), a deadlock and a serialization failure.
        let alone = matches!(&e, sqlx::Error::Database(db) if db.code().is_some_and(|c| {
            c.starts_with("22") || c.starts_with("23") || c == "40P01" || c == "40001"
        }));
        if alone {
            Failed::Alone(e.into())
        } else {
            Failed::All(e.into())
        }
    }
}

impl From<StoreError> for Failed {
    fn from(e: StoreError) -> Self {
        Failed::All(e)
    }
}

/// What became of one delivery of the batch so far.
enum Kept {
    /// Its delivery id was seen before, or earlier in this batch.
    Duplicate,
    /// Not kept as a delivery (jobs of the API, the scheduler, jobs).
    Unkept,
    /// Kept under this id.
    Id(i64),
    /// Kept under a delivery id whose row id the batch insert returns.
    Pending(String),
}

/// One transaction for the whole batch: every delivery in it is kept, or none is.
async fn commit(pool: &PgPool, batch: &[&Delivery]) -> Result<Vec<DeliveryOutcome>, Failed> {
    let now = now_ms();
    let mut tx = pool.begin().await?;
    let mut kept = keep_deliveries(&mut tx, batch, now).await?;

    // Every job of a delivery that is not a duplicate, deduped on its key (the first one of a
    // key is what is inserted; later ones coalesce into it, as they would one after the other).
    let mut first_of_key: BTreeMap<&str, &NewJob> = BTreeMap::new();
    for (d, k) in batch.iter().zip(&kept) {
        if matches!(k, Kept::Duplicate) {
            continue;
        }
        for j in &d.jobs {
            if let Some(key) = j.dedupe_key.as_deref() {
                first_of_key.entry(key).or_insert(j);
            }
        }
    }
    let by_key = enqueue_keyed(&mut tx, &first_of_key).await?;

    let mut outs = Vec::with_capacity(batch.len());
    let mut links: BTreeSet<(i64, i64)> = BTreeSet::new();
    for (d, k) in batch.iter().zip(kept.iter_mut()) {
        if matches!(k, Kept::Duplicate) {
            outs.push(DeliveryOutcome::duplicate());
            continue;
        }
        let mut jobs = Vec::with_capacity(d.jobs.len());
        for j in &d.jobs {
            jobs.push(match j.dedupe_key.as_deref() {
                Some(key) => by_key.get(key).cloned().ok_or_else(|| {
                    Failed::Alone(StoreError::Other(format!("no queued job for {key}")))
                })?,
                None => insert_unkeyed(&mut tx, j).await?,
            });
        }
        if let Kept::Id(id) = k {
            links.extend(jobs.iter().map(|j| (*id, j.id)));
        }
        outs.push(DeliveryOutcome::enqueued(jobs, !matches!(k, Kept::Unkept)));
    }
    link(&mut tx, &links).await?;
    tx.commit().await?;
    Ok(outs)
}

/// Keeps the batch's deliveries: one insert for all those with a delivery id, one each for
/// those without (Dropbox notifications, rare).
async fn keep_deliveries(
    c: &mut PgConnection,
    batch: &[&Delivery],
    now: i64,
) -> Result<Vec<Kept>, Failed> {
    let mut kept = Vec::with_capacity(batch.len());
    // Each delivery id's first delivery in the batch, in arrival order: the id, its source, and
    // its event id, trigger and request id.
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut keyed: Vec<(&str, String, [Option<&str>; 3])> = Vec::new();
    for d in batch {
        let Some(source) = delivery_source(d) else {
            kept.push(Kept::Unkept);
            continue;
        };
        let r = d.received.as_ref();
        let received = [
            r.and_then(|r| r.event_id.as_deref()),
            r.and_then(|r| r.trigger.as_deref()),
            r.and_then(|r| r.request_id.as_deref()),
        ];
        match d.delivery_id.as_deref() {
            Some(key) if !seen.insert(key) => kept.push(Kept::Duplicate),
            Some(key) => {
                keyed.push((key, source, received));
                kept.push(Kept::Pending(key.to_string()));
            }
            None => {
                let [event_id, trigger, request_id] = received;
                let id: i64 = sqlx::query_scalar(INSERT_DELIVERY)
                    .bind(None::<&str>)
                    .bind(&source)
                    .bind(event_id)
                    .bind(trigger)
                    .bind(request_id)
                    .bind(now)
                    .fetch_one(&mut *c)
                    .await?;
                kept.push(Kept::Id(id));
            }
        }
    }
    if keyed.is_empty() {
        return Ok(kept);
    }
    let column = |i: usize| keyed.iter().map(|v| v.2[i]).collect::<Vec<_>>();
    let rows = sqlx::query(
        "INSERT INTO deliveries (dedupe_key, source, event_id, trigger, request_id, received_at)
         SELECT k, s, e, t, r, $6
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
             WITH ORDINALITY AS i (k, s, e, t, r, n)
         ORDER BY n
         ON CONFLICT DO NOTHING RETURNING id, dedupe_key",
    )
    .bind(keyed.iter().map(|v| v.0).collect::<Vec<_>>())
    .bind(keyed.iter().map(|v| v.1.as_str()).collect::<Vec<_>>())
    .bind(column(0))
    .bind(column(1))
    .bind(column(2))
    .bind(now)
    .fetch_all(&mut *c)
    .await?;
    let mut ids: BTreeMap<String, i64> = BTreeMap::new();
    for r in rows {
        ids.insert(r.try_get("dedupe_key")?, r.try_get("id")?);
    }
    for k in &mut kept {
        if let Kept::Pending(key) = k {
            // Not inserted: kept before, by an earlier batch or another replica.
            *k = match ids.remove(key.as_str()) {
                Some(id) => Kept::Id(id),
                None => Kept::Duplicate,
            };
        }
    }
    Ok(kept)
}

/// The queued job of each key: the one queued now, or one inserted from `jobs`. A job seen
/// queued may be claimed by another replica before it is read again, so this looks again a few
/// times, like the enqueue of a single job.
async fn enqueue_keyed(
    c: &mut PgConnection,
    jobs: &BTreeMap<&str, &NewJob>,
) -> Result<BTreeMap<String, Job>, Failed> {
    let mut found: BTreeMap<String, Job> = BTreeMap::new();
    for _ in 0..ENQUEUE_ROUNDS {
        let missing: Vec<&str> = jobs
            .keys()
            .copied()
            .filter(|k| !found.contains_key(*k))
            .collect();
        if missing.is_empty() {
            return Ok(found);
        }
        // One probe of the unique index per key: the subquery is fenced by `OFFSET 0` so that
        // it is not merged into a join that reads every queued job. It is planned at every run
        // (not prepared): a plan kept from when the table was nearly empty may read the jobs by
        // state instead, the same cost then, every queued job for every batch since.
        let queued = sqlx::query(concat!(
            "SELECT j.* FROM UNNEST($1::text[]) AS k (key) CROSS JOIN LATERAL (SELECT ",
            job_columns!(),
            " FROM jobs WHERE dedupe_key = k.key AND state = 'queued' OFFSET 0) AS j"
        ))
        .persistent(false)
        .bind(&missing)
        .fetch_all(&mut *c)
        .await?;
        add_jobs(&mut found, &queued)?;
        let missing: Vec<&NewJob> = missing
            .iter()
            .filter(|k| !found.contains_key(**k))
            .map(|k| jobs[k])
            .collect();
        if missing.is_empty() {
            return Ok(found);
        }
        let inserted = sqlx::query(concat!(
            "INSERT INTO jobs (kind, state, attempts, dedupe_key, payload, run_at, created_at, updated_at)
             SELECT kd, 'queued', 0, k, p, t, t, t
             FROM UNNEST($1::text[], $2::text[], $3::text[]) AS i (kd, k, p),
                  (SELECT (FLOOR(EXTRACT(EPOCH FROM now()) * 1000))::BIGINT) AS c (t)
             ORDER BY k
             ON CONFLICT (dedupe_key) WHERE state = 'queued' AND dedupe_key IS NOT NULL DO NOTHING
             RETURNING ",
            job_columns!()
        ))
        .bind(missing.iter().map(|j| j.kind.as_str()).collect::<Vec<_>>())
        .bind(missing.iter().map(|j| j.dedupe_key.as_deref()).collect::<Vec<_>>())
        .bind(missing.iter().map(|j| j.payload.to_string()).collect::<Vec<_>>())
        .fetch_all(&mut *c)
        .await?;
        add_jobs(&mut found, &inserted)?;
    }
    if found.len() == jobs.len() {
        return Ok(found);
    }
    Err(Failed::Alone(StoreError::Unavailable(format!(
        "enqueue lost {} races with claimers",
        ENQUEUE_ROUNDS
    ))))
}

fn add_jobs(found: &mut BTreeMap<String, Job>, rows: &[PgRow]) -> StoreResult<()> {
    for r in rows {
        let job = job_from_row(r)?;
        if let Some(key) = job.dedupe_key.clone() {
            found.insert(key, job);
        }
    }
    Ok(())
}

/// A job without a dedupe key never coalesces: one insert.
async fn insert_unkeyed(c: &mut PgConnection, j: &NewJob) -> Result<Job, Failed> {
    let row = sqlx::query(INSERT_JOB)
        .bind(&j.kind)
        .bind(None::<&str>)
        .bind(j.payload.to_string())
        .fetch_one(&mut *c)
        .await?;
    Ok(job_from_row(&row)?)
}

/// Links kept deliveries to the jobs they created or coalesced into (one insert).
async fn link(c: &mut PgConnection, links: &BTreeSet<(i64, i64)>) -> Result<(), Failed> {
    if links.is_empty() {
        return Ok(());
    }
    sqlx::query::<Postgres>(
        "INSERT INTO delivery_jobs (delivery_id, job_id)
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[]) ON CONFLICT DO NOTHING",
    )
    .bind(links.iter().map(|l| l.0).collect::<Vec<_>>())
    .bind(links.iter().map(|l| l.1).collect::<Vec<_>>())
    .execute(&mut *c)
    .await?;
    Ok(())
}
