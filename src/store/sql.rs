//! Statements both stores run, written once. They use `$n` placeholders, which SQLite accepts
//! as well as PostgreSQL, and only syntax both engines share (`ON CONFLICT … DO …`, `RETURNING`,
//! `CASE` instead of `MAX`/`GREATEST`). What the engines do differently (claiming, webhook
//! ingestion, where writes go) stays in `sqlite.rs` and `postgres.rs`.
//!
//! [`shared_statements!`] expands to a module `shared` of async functions over one backend's
//! connection type. A macro rather than generic functions for the reason given in `rows.rs`.
//! The few fragments the engines spell differently are arguments of the macro: the database's
//! clock (`now`, Unix milliseconds; lease times come from it, so that replicas whose clocks
//! disagree still agree on when a lease expires), a fresh random claim token (`new_token`), and
//! the row lock of claiming (`skip_locked`).
//! Each function is one unit of work on the connection it is given; the caller chooses the
//! connection (SQLite: the writer for writes, the read pool for reads) and, where a function says
//! so, wraps it in a transaction.

use super::rows::now_ms;
use super::{JobOutcome, JobRetention, JobState, StoreResult};

/// `last_error` of a job that reached its last attempt with its worker lost each time.
pub(super) const LOST_ON_EVERY_ATTEMPT: &str =
    "lease expired on every attempt: the worker running it was lost each time";
/// `last_error` of a job whose last attempt lost its worker after an earlier run had failed, up
/// to the error that run failed with.
pub(super) const LOST_ON_THE_LAST_ATTEMPT: &str =
    "lease expired on the last attempt: the worker running it was lost; an earlier run failed with: ";

/// Column values for a finished run: (state, last_error, result JSON, ms until its next run).
pub(super) fn outcome_columns(
    outcome: JobOutcome,
) -> (&'static str, Option<String>, Option<String>, Option<i64>) {
    match outcome {
        JobOutcome::Succeeded { result } => (
            JobState::Succeeded.as_str(),
            None,
            Some(result.to_string()),
            None,
        ),
        JobOutcome::Retry { error, after } => (
            JobState::Failed.as_str(),
            Some(error),
            None,
            Some(millis(after)),
        ),
        JobOutcome::Dead { error, result } => (
            JobState::Dead.as_str(),
            Some(error),
            result.map(|r| r.to_string()),
            None,
        ),
    }
}

/// Runs `delete_batch(state, cutoff_ms, batch)` for succeeded and then dead jobs until a batch
/// comes back short; the total deleted.
pub(super) async fn prune_jobs_in_batches<F, Fut>(
    retention: &JobRetention,
    mut delete_batch: F,
) -> StoreResult<u64>
where
    F: FnMut(&'static str, i64, i64) -> Fut,
    Fut: std::future::Future<Output = StoreResult<u64>>,
{
    let batch = i64::from(retention.batch.max(1));
    let mut total = 0;
    for (state, keep) in [
        (JobState::Succeeded, retention.succeeded),
        (JobState::Dead, retention.dead),
    ] {
        let cutoff = now_ms().saturating_sub(millis(keep));
        loop {
            let n = delete_batch(state.as_str(), cutoff, batch).await?;
            total += n;
            if n < batch as u64 {
                break;
            }
        }
    }
    Ok(total)
}

/// Milliseconds in `d`, saturating (a retention of "forever" must not wrap around).
pub(super) fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The columns a job is read from, in this order (`job_from_row`, a claim's, the
/// ingest thread's `job_of`). Never `*`: on SQLite that would also compute the generated
/// `group_id` and `file_id` columns, a JSON parse of the payload each, for every row read.
/// Gives running jobs back without counting their attempt (`$1` now, ms); the caller adds the
/// `WHERE` naming which ([`Store::release`](crate::store::Store::release), `release_all`).
macro_rules! release_jobs {
    () => {
        "UPDATE jobs SET state = 'failed',
                attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
                lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL,
                updated_at = $1
         WHERE state = 'running' AND "
    };
}

macro_rules! job_columns {
    () => {
        "id, kind, state, attempts, dedupe_key, payload, last_error, result, run_at, created_at, updated_at, lease_token"
    };
}

/// Keeps a delivery, deduped on its delivery id: `$1` dedupe key, `$2` source, `$3` event id,
/// `$4` trigger, `$5` request id, `$6` received at (ms). Inserts no row for a repeat.
macro_rules! keep_delivery {
    () => {
        "INSERT INTO deliveries (dedupe_key, source, event_id, trigger, request_id, received_at)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT DO NOTHING"
    };
}

/// [`KEEP_DELIVERY`] returning the id, or no row for a repeat.
pub(super) const INSERT_DELIVERY: &str = concat!(keep_delivery!(), " RETURNING id");

/// [`INSERT_DELIVERY`] without its `RETURNING`: SQLite keeps the rows a statement returns in a
/// table of their own until the statement ends, which costs more than the insert does; its
/// caller reads the id as the connection's last inserted row id.
pub(super) const KEEP_DELIVERY: &str = keep_delivery!();

/// Inserts a queued job unless one with the same dedupe key is queued: `$1` kind, `$2` dedupe
/// key, `$3` payload; due at `$at` (ms), which is also when it was created. Returns the row, or
/// no row when it coalesced.
macro_rules! insert_job {
    ($at:literal) => {
        concat!(
            "INSERT INTO jobs (kind, state, attempts, dedupe_key, payload, run_at, created_at, updated_at)
             VALUES ($1, 'queued', 0, $2, $3, ",
            $at,
            ", ",
            $at,
            ", ",
            $at,
            ")
             ON CONFLICT (dedupe_key) WHERE state = 'queued' AND dedupe_key IS NOT NULL DO NOTHING
             RETURNING ",
            $crate::store::sql::job_columns!()
        )
    };
}
pub(crate) use insert_job;

/// [`insert_job!`] due at `$4` (now, ms), for SQLite, where the caller's clock is the
/// database's (one machine).
pub(super) const INSERT_JOB: &str = insert_job!("$4");

/// The statements that put a time in the database that another process compares with its own
/// time: when a retried job is due and how long an export guard holds. Each replica's clock
/// may disagree with the others', so these take the database's (`$now`, see
/// [`shared_statements!`]): a replica whose clock ran ahead would otherwise hold back the jobs it
/// retries, and one whose clock lagged would take over an export guard that another still holds.
macro_rules! clocked_statements {
    ($now:literal) => {
        /// Ends the run of job `$6` that holds lease token `$7`: `$1` state, `$2` last error, `$3`
        /// result (kept when NULL), `$4` the wait in ms until its next run (run_at kept when
        /// NULL), `$5` now (ms, for `updated_at`). Accepted while the claim is current, even past
        /// its expiry: until the job is requeued no other run can have started, and the result
        /// saves running it again.
        pub(crate) const FINISH_JOB: &str = concat!(
            "UPDATE jobs SET state = $1, last_error = $2, result = COALESCE($3, result),
                    run_at = COALESCE(",
            $now,
            " + $4, run_at), lease_owner = NULL, lease_token = NULL,
                    lease_expires_at = NULL, updated_at = $5
             WHERE id = $6 AND state = 'running' AND lease_token = $7"
        );

        /// Gives file `$1`'s export guard to holder `$2` for `$3` ms unless another holds it
        /// unexpired; changes one row when it is `$2`'s.
        pub(crate) const ACQUIRE_EXPORT_GUARD: &str = concat!(
            "INSERT INTO export_guards (file_id, holder, expires_at, updated_at) VALUES ($1, $2, ",
            $now,
            " + $3, ",
            $now,
            ")
             ON CONFLICT (file_id) DO UPDATE SET holder = excluded.holder,
                 expires_at = excluded.expires_at, updated_at = excluded.updated_at
             WHERE export_guards.holder IS NULL OR export_guards.expires_at < ",
            $now,
            " OR export_guards.holder = excluded.holder"
        );

        /// Takes schedule `$1` when it is due, or whatever its state when `$3` is true, and sets
        /// it due again `$2` ms from now; a row when it was taken.
        pub(crate) const TAKE_SCHEDULE: &str = concat!(
            "INSERT INTO schedules (name, next_at) VALUES ($1, ",
            $now,
            " + $2)
             ON CONFLICT (name) DO UPDATE SET next_at = excluded.next_at
             WHERE $3 OR schedules.next_at <= ",
            $now,
            " RETURNING next_at"
        );

        /// How long, in ms, until schedule `$1` is due.
        pub(crate) const SCHEDULE_WAIT: &str =
            concat!("SELECT next_at - ", $now, " FROM schedules WHERE name = $1");

        /// Extends file `$2`'s export guard held by `$3` to `$1` ms from now.
        pub(crate) const RENEW_EXPORT_GUARD: &str = concat!(
            "UPDATE export_guards SET expires_at = ",
            $now,
            " + $1, updated_at = ",
            $now,
            " WHERE file_id = $2 AND holder = $3"
        );
    };
}
pub(crate) use clocked_statements;

/// Claims up to `$4` due jobs, oldest due first, for worker `$1` with a lease of `$2` ms (`$3`
/// now, ms), each under a fresh token, returning them; a job whose dedupe key another running job
/// has waits for it, and of due jobs with one key only the oldest is taken (two runs of one
/// group's sync at once would each invite its members); the database's clock, a fresh token and the row lock are the engine's own spelling
/// (see [`shared_statements!`]).
macro_rules! claim_jobs {
    ($now:literal, $new_token:literal, $skip_locked:literal) => {
        concat!(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = $1,
                    lease_token = ",
            $new_token,
            ", lease_expires_at = ",
            $now,
            " + $2,
                    updated_at = $3
             WHERE id IN (SELECT id FROM jobs q
                          WHERE state IN ('queued', 'failed') AND run_at <= ",
            $now,
            "
                            AND (q.dedupe_key IS NULL OR NOT EXISTS (
                                SELECT 1 FROM jobs r
                                WHERE r.dedupe_key = q.dedupe_key
                                  AND (r.state = 'running'
                                       OR (r.state IN ('queued', 'failed') AND r.id < q.id
                                           AND r.run_at <= ",
            $now,
            "))))
                          ORDER BY run_at, id LIMIT $4 ",
            $skip_locked,
            ")
             RETURNING ",
            $crate::store::sql::job_columns!()
        )
    };
}
pub(crate) use claim_jobs;

/// Records one run of job `$1`: `$2` attempt, `$3` worker, `$4` started and `$5` finished
/// (ms), `$6` outcome, `$7` error.
pub(crate) const RECORD_ATTEMPT: &str =
    "INSERT INTO job_attempts (job_id, attempt, worker, started_at, finished_at, outcome, error)
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Stores the export of file `$1`: `$2` DocSpace version, `$3` Dropbox path and `$4` its key,
/// `$5` Dropbox id, `$6` rev, `$7` content hash, `$8` size, `$9` now (ms).
pub(crate) const PUT_EXPORT: &str =
    "INSERT INTO exports (file_id, docspace_version, dropbox_path, dropbox_path_lower, dropbox_id, rev, content_hash, size, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (file_id) DO UPDATE SET docspace_version = excluded.docspace_version,
         dropbox_path = excluded.dropbox_path, dropbox_path_lower = excluded.dropbox_path_lower,
         dropbox_id = excluded.dropbox_id, rev = excluded.rev, content_hash = excluded.content_hash,
         size = excluded.size, updated_at = excluded.updated_at";

/// Ends holder `$2`'s export of file `$1`: its intent forgotten and its guard let go, which
/// leaves no row (what clearing the intent and then letting the guard go leave, in one statement
/// instead of three).
pub(crate) const END_EXPORT_GUARD: &str =
    "DELETE FROM export_guards WHERE file_id = $1 AND holder = $2";

/// Sets (or, all NULL, clears) the intent of file `$6`'s export guard held by `$7`: `$1` target
/// path, `$2` content hash, `$3` DocSpace version, `$4` the commit's `client_modified`, `$5` now
/// (ms). (SQLite numbers `$n` parameters in the order they first appear: keep them in order.)
pub(crate) const SET_EXPORT_INTENT: &str =
    "UPDATE export_guards SET target_path = $1, target_hash = $2, target_version = $3,
         target_stamp = $4, updated_at = $5
     WHERE file_id = $6 AND holder = $7";

/// Where the queued job with dedupe key `$1` is read from ([`QUEUED_JOB`], [`QUEUED_JOB_ID`]).
macro_rules! queued_by_key {
    () => {
        " FROM jobs WHERE dedupe_key = $1 AND state = 'queued'"
    };
}

/// The queued job with dedupe key `$1` (what an enqueue coalesced into).
pub(super) const QUEUED_JOB: &str = concat!("SELECT ", job_columns!(), queued_by_key!());

/// The id alone of the queued job with dedupe key `$1`, for a caller that needs no more (no
/// columns to read, no payload to parse).
pub(super) const QUEUED_JOB_ID: &str = concat!("SELECT id", queued_by_key!());

/// The source a delivery is kept under; `None` for one that is not kept (no delivery id and
/// nothing received: jobs of the API, the scheduler, jobs).
pub(super) fn delivery_source(d: &super::Delivery) -> Option<String> {
    match (&d.delivery_id, d.received.as_ref()) {
        (_, Some(r)) => Some(r.source.clone()),
        (Some(id), None) => Some(id.split(':').next().unwrap_or_default().to_string()),
        (None, None) => None,
    }
}

macro_rules! shared_statements {
    ($db:ty, {
        now: $now:literal,
        new_token: $new_token:literal,
        skip_locked: $skip_locked:literal $(,)?
    }) => {
        pub(super) mod shared {
            /// The claim in this engine's spelling, for the writes bound outside this module
            /// (`sqlite_direct.rs`, `postgres/writes.rs`).
            pub(crate) const CLAIM_JOBS: &str =
                $crate::store::sql::claim_jobs!($now, $new_token, $skip_locked);
            $crate::store::sql::clocked_statements!($now);

            use std::collections::BTreeMap;
            use std::time::Duration;

            use sqlx::Row;

            use super::{export_from_row, group_folder_from_row, job_from_row};
            use $crate::store::rows::{from_ms, now_ms};
            use $crate::store::sql::millis;
            use $crate::store::{
                below_pattern, path_key, Attempt, DeliveryFilter,
                DeliveryRecord, ExportIntent, ExportRecord, ExportSummary, GroupFolder,
                GroupFolderSummary, Job, JobFilter, JobState, Lease,
                RetryFilter, StoreResult,
            };

            type Conn = <$db as sqlx::Database>::Connection;
            type Builder<'a> = sqlx::QueryBuilder<'a, $db>;

            fn delivery_from_row(r: &<$db as sqlx::Database>::Row) -> StoreResult<DeliveryRecord> {
                Ok(DeliveryRecord {
                    id: r.try_get("id")?,
                    source: r.try_get("source")?,
                    event_id: r.try_get("event_id")?,
                    trigger: r.try_get("trigger")?,
                    request_id: r.try_get("request_id")?,
                    received_at: from_ms(r.try_get("received_at")?),
                    job_ids: Vec::new(),
                })
            }

            /// Fills in the job ids of `deliveries` (one query).
            async fn with_job_ids(
                c: &mut Conn,
                mut deliveries: Vec<DeliveryRecord>,
            ) -> StoreResult<Vec<DeliveryRecord>> {
                if deliveries.is_empty() {
                    return Ok(deliveries);
                }
                let mut qb = Builder::new(
                    "SELECT delivery_id, job_id FROM delivery_jobs WHERE delivery_id IN (",
                );
                let mut ids = qb.separated(", ");
                for d in &deliveries {
                    ids.push_bind(d.id);
                }
                qb.push(") ORDER BY delivery_id, job_id");
                let rows = qb.build().fetch_all(&mut *c).await?;
                let mut links: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
                for r in rows {
                    links
                        .entry(r.try_get("delivery_id")?)
                        .or_default()
                        .push(r.try_get("job_id")?);
                }
                for d in &mut deliveries {
                    d.job_ids = links.remove(&d.id).unwrap_or_default();
                }
                Ok(deliveries)
            }

            pub(crate) async fn list_deliveries(
                c: &mut Conn,
                f: &DeliveryFilter,
            ) -> StoreResult<Vec<DeliveryRecord>> {
                let mut qb = Builder::new(
                    "SELECT id, source, event_id, trigger, request_id, received_at FROM deliveries WHERE 1 = 1",
                );
                if let Some(source) = &f.source {
                    qb.push(" AND source = ").push_bind(source);
                }
                if let Some(event_id) = &f.event_id {
                    // A DocSpace delivery is kept under `docspace:<event id>` (unique): the
                    // lookup is one index probe, not a scan of every kept delivery.
                    qb.push(" AND dedupe_key = ").push_bind(format!("docspace:{event_id}"));
                }
                if let Some(trigger) = &f.trigger {
                    qb.push(" AND trigger = ").push_bind(trigger);
                }
                if let Some(since) = f.since {
                    qb.push(" AND received_at >= ").push_bind(since.timestamp_millis());
                }
                if let Some(before) = f.before_id {
                    qb.push(" AND id < ").push_bind(before);
                }
                qb.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(f.limit));
                let rows = qb.build().fetch_all(&mut *c).await?;
                let found = rows.iter().map(delivery_from_row).collect::<StoreResult<Vec<_>>>()?;
                with_job_ids(c, found).await
            }

            /// Most deliveries shown for one job (a busy group's job may absorb many).
            const JOB_DELIVERIES: i64 = 100;

            /// The deliveries linked to `job_id` among those received from `from` to `to` (Unix
            /// ms), newest first.
            pub(crate) async fn job_deliveries(
                c: &mut Conn,
                job_id: i64,
                from: i64,
                to: i64,
            ) -> StoreResult<Vec<DeliveryRecord>> {
                // Newest first by reception time: on SQLite, which keeps links in delivery order
                // only, this walks the deliveries' time index back and stops at the limit.
                let rows = sqlx::query(
                    "SELECT d.id, d.source, d.event_id, d.trigger, d.request_id, d.received_at
                     FROM deliveries d JOIN delivery_jobs l ON l.delivery_id = d.id
                     WHERE l.job_id = $1 AND d.received_at BETWEEN $2 AND $3
                     ORDER BY d.received_at DESC, d.id DESC LIMIT $4",
                )
                .bind(job_id)
                .bind(from)
                .bind(to)
                .bind(JOB_DELIVERIES)
                .fetch_all(&mut *c)
                .await?;
                let found = rows.iter().map(delivery_from_row).collect::<StoreResult<Vec<_>>>()?;
                with_job_ids(c, found).await
            }

            pub(crate) async fn attempts(c: &mut Conn, job_id: i64) -> StoreResult<Vec<Attempt>> {
                let rows = sqlx::query(
                    "SELECT attempt, worker, started_at, finished_at, outcome, error
                     FROM job_attempts WHERE job_id = $1 ORDER BY id",
                )
                .bind(job_id)
                .fetch_all(&mut *c)
                .await?;
                rows.iter()
                    .map(|r| {
                        let started: i64 = r.try_get("started_at")?;
                        let finished: i64 = r.try_get("finished_at")?;
                        Ok(Attempt {
                            attempt: r.try_get::<i64, _>("attempt")? as i32,
                            worker: r.try_get("worker")?,
                            started_at: from_ms(started),
                            finished_at: from_ms(finished),
                            outcome: r.try_get("outcome")?,
                            error: r.try_get("error")?,
                            duration_ms: finished.saturating_sub(started).max(0),
                        })
                    })
                    .collect()
            }

            /// ` AND …` for every field of the filter that is set, on the jobs table as `d`.
            fn push_retry_conditions(qb: &mut Builder<'_>, f: &RetryFilter) {
                qb.push(" d.state = 'dead'");
                if let Some(id) = f.id {
                    qb.push(" AND d.id = ").push_bind(id);
                }
                if let Some(kind) = &f.kind {
                    qb.push(" AND d.kind = ").push_bind(kind.clone());
                }
                if let Some(group) = &f.group_id {
                    qb.push(" AND d.group_id = ").push_bind(group.clone());
                }
                if let Some(file) = &f.file_id {
                    qb.push(" AND d.file_id = ").push_bind(file.clone());
                }
                if let Some(since) = f.since {
                    qb.push(" AND d.created_at >= ").push_bind(since.timestamp_millis());
                }
                if let Some(until) = f.until {
                    qb.push(" AND d.created_at < ").push_bind(until.timestamp_millis());
                }
            }

            /// [`Store::retry_dead_matching`](crate::store::Store::retry_dead_matching): two
            /// statements; run them in a transaction.
            pub(crate) async fn retry_dead_matching(
                c: &mut Conn,
                f: &RetryFilter,
            ) -> StoreResult<Vec<i64>> {
                let now = now_ms();
                // The newest matching dead job of each dedupe key that has no queued job goes
                // back to `queued`; at most one queued job per key is what the queue allows.
                let mut qb = Builder::new(
                    "UPDATE jobs SET state = 'queued', attempts = 0, last_error = NULL, run_at = ",
                );
                qb.push($now).push(", updated_at = ").push_bind(now);
                qb.push(" WHERE id IN (SELECT MAX(d.id) FROM jobs d WHERE");
                push_retry_conditions(&mut qb, f);
                qb.push(
                    " AND NOT EXISTS (SELECT 1 FROM jobs q WHERE q.state = 'queued' AND q.dedupe_key = d.dedupe_key)
                      GROUP BY COALESCE(d.dedupe_key, 'job:' || d.id)) RETURNING id",
                );
                let mut ids: Vec<i64> = qb
                    .build()
                    .fetch_all(&mut *c)
                    .await?
                    .iter()
                    .map(|r| r.try_get("id"))
                    .collect::<Result<_, _>>()?;
                // The rest wait as `failed`, due at once.
                let mut qb = Builder::new(
                    "UPDATE jobs SET state = 'failed', attempts = 0, last_error = NULL, run_at = ",
                );
                qb.push($now).push(", updated_at = ").push_bind(now);
                qb.push(" WHERE id IN (SELECT d.id FROM jobs d WHERE");
                push_retry_conditions(&mut qb, f);
                qb.push(") RETURNING id");
                for r in qb.build().fetch_all(&mut *c).await? {
                    ids.push(r.try_get("id")?);
                }
                ids.sort_unstable();
                Ok(ids)
            }

            /// Only a lease that has not expired yet is extended: once it has, the job may be
            /// requeued at any moment, and the run that let it expire has stopped.
            pub(crate) async fn renew_lease(
                c: &mut Conn,
                lease: &Lease,
                duration: Duration,
            ) -> StoreResult<bool> {
                let n = sqlx::query(concat!(
                    "UPDATE jobs SET lease_expires_at = ", $now, " + $1, updated_at = $2
                     WHERE id = $3 AND state = 'running' AND lease_token = $4
                       AND lease_expires_at >= ", $now
                ))
                .bind(millis(duration))
                .bind(now_ms())
                .bind(lease.job_id)
                .bind(&lease.token)
                .execute(&mut *c)
                .await?
                .rows_affected();
                Ok(n == 1)
            }

            pub(crate) async fn release(c: &mut Conn, lease: &Lease) -> StoreResult<()> {
                sqlx::query(concat!($crate::store::sql::release_jobs!(), "id = $2 AND lease_token = $3"))
                .bind(now_ms())
                .bind(lease.job_id)
                .bind(&lease.token)
                .execute(&mut *c)
                .await?;
                Ok(())
            }

            pub(crate) async fn release_all(c: &mut Conn, worker: &str) -> StoreResult<u64> {
                Ok(sqlx::query(concat!($crate::store::sql::release_jobs!(), "lease_owner = $2"))
                .bind(now_ms())
                .bind(worker)
                .execute(&mut *c)
                .await?
                .rows_affected())
            }

            pub(crate) async fn requeue_expired(
                c: &mut Conn,
                max_attempts: u32,
                backoff: $crate::store::Backoff,
            ) -> StoreResult<u64> {
                // An expired lease means the worker died or lost the database: the attempt it
                // claimed counts, and the job waits in `failed` so dedupe of newer queued jobs is
                // unaffected. It waits the backoff of a failed run (without its jitter), so a job
                // that brings down the process running it does not bring down the next one at
                // once; after its last attempt it is `dead`, so it stops doing so.
                Ok(sqlx::query(concat!(
                    "UPDATE jobs SET
                            state = CASE WHEN attempts >= $2 THEN 'dead' ELSE 'failed' END,
                            last_error = CASE WHEN attempts < $2 THEN COALESCE(last_error, 'lease expired')
                                              WHEN last_error IS NULL OR last_error = 'lease expired' THEN $3
                                              ELSE $6 || last_error END,
                            lease_owner = NULL, lease_token = NULL, lease_expires_at = NULL,
                            run_at = CASE WHEN attempts >= $2 THEN run_at
                                          WHEN attempts > 30 OR ($4 << CAST(attempts - 1 AS INTEGER)) > $5
                                          THEN ", $now, " + $5
                                          ELSE ", $now, " + ($4 << CAST(attempts - 1 AS INTEGER)) END,
                            updated_at = $1
                     WHERE state = 'running' AND lease_expires_at < ", $now
                ))
                .bind(now_ms())
                .bind(i64::from(max_attempts))
                .bind($crate::store::sql::LOST_ON_EVERY_ATTEMPT)
                .bind(millis(backoff.base))
                .bind(millis(backoff.max))
                .bind($crate::store::sql::LOST_ON_THE_LAST_ATTEMPT)
                .execute(&mut *c)
                .await?
                .rows_affected())
            }

            pub(crate) async fn get_job(c: &mut Conn, id: i64) -> StoreResult<Option<Job>> {
                let row = sqlx::query(concat!("SELECT ", $crate::store::sql::job_columns!(), " FROM jobs WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&mut *c)
                    .await?;
                row.as_ref().map(job_from_row).transpose()
            }

            /// Only the conditions that are set go into the statement, so that the indexes on
            /// kind, group and file serve them.
            pub(crate) async fn list_jobs(c: &mut Conn, f: &JobFilter) -> StoreResult<Vec<Job>> {
                let mut qb = Builder::new(concat!("SELECT ", $crate::store::sql::job_columns!(), " FROM jobs WHERE 1 = 1"));
                if let Some(state) = f.state {
                    qb.push(" AND state = ").push_bind(state.as_str());
                }
                if let Some(kind) = &f.kind {
                    qb.push(" AND kind = ").push_bind(kind);
                }
                if let Some(group) = &f.group_id {
                    qb.push(" AND group_id = ").push_bind(group);
                }
                if let Some(file) = &f.file_id {
                    qb.push(" AND file_id = ").push_bind(file);
                }
                if let Some(key) = &f.dedupe_key {
                    qb.push(" AND dedupe_key = ").push_bind(key);
                }
                if let Some(since) = f.since {
                    qb.push(" AND created_at >= ").push_bind(since.timestamp_millis());
                }
                if let Some(until) = f.until {
                    qb.push(" AND created_at < ").push_bind(until.timestamp_millis());
                }
                if let Some(before) = f.before_id {
                    qb.push(" AND id < ").push_bind(before);
                }
                qb.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(f.limit));
                let rows = qb.build().fetch_all(&mut *c).await?;
                rows.iter().map(job_from_row).collect()
            }

            pub(crate) async fn queue_depth(c: &mut Conn) -> StoreResult<BTreeMap<JobState, i64>> {
                let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
                    .fetch_all(&mut *c)
                    .await?;
                let mut out: BTreeMap<JobState, i64> =
                    JobState::ALL.iter().map(|s| (*s, 0)).collect();
                for r in rows {
                    let s: String = r.try_get("state")?;
                    if let Some(st) = JobState::parse(&s) {
                        out.insert(st, r.try_get("n")?);
                    }
                }
                Ok(out)
            }

            /// The due job that has waited longest (oldest `run_at`).
            pub(crate) async fn oldest_due_job(c: &mut Conn) -> StoreResult<Option<Job>> {
                let row = sqlx::query(concat!(
                    "SELECT ",
                    $crate::store::sql::job_columns!(),
                    " FROM jobs WHERE state IN ('queued', 'failed') AND run_at <= ",
                    $now,
                    " ORDER BY run_at, id LIMIT 1"
                ))
                .fetch_optional(&mut *c)
                .await?;
                row.as_ref().map(job_from_row).transpose()
            }

            pub(crate) async fn queue_gauges(c: &mut Conn) -> StoreResult<BTreeMap<JobState, i64>> {
                // Each state is an index range of its own (`jobs_due`, `jobs_finished`), so the
                // succeeded rows are never read.
                let rows = sqlx::query(
                    "SELECT state, COUNT(*) AS n FROM jobs
                     WHERE state IN ('queued', 'running', 'failed', 'dead') GROUP BY state",
                )
                .fetch_all(&mut *c)
                .await?;
                let mut out: BTreeMap<JobState, i64> =
                    JobState::GAUGED.iter().map(|s| (*s, 0)).collect();
                for r in rows {
                    let s: String = r.try_get("state")?;
                    if let Some(st) = JobState::parse(&s) {
                        out.insert(st, r.try_get("n")?);
                    }
                }
                Ok(out)
            }

            pub(crate) async fn prune_deliveries(
                c: &mut Conn,
                retention: Duration,
            ) -> StoreResult<u64> {
                let cutoff = now_ms().saturating_sub(millis(retention));
                Ok(sqlx::query("DELETE FROM deliveries WHERE received_at < $1")
                    .bind(cutoff)
                    .execute(&mut *c)
                    .await?
                    .rows_affected())
            }

            /// One batch of [`Store::prune_jobs`](crate::store::Store::prune_jobs): at most `batch`
            /// jobs in `state` last updated before `cutoff`.
            pub(crate) async fn prune_jobs_batch(
                c: &mut Conn,
                state: &str,
                cutoff: i64,
                batch: i64,
            ) -> StoreResult<u64> {
                Ok(sqlx::query(
                    "DELETE FROM jobs WHERE id IN (
                         SELECT id FROM jobs WHERE state = $1 AND updated_at < $2 ORDER BY id LIMIT $3)",
                )
                .bind(state)
                .bind(cutoff)
                .bind(batch)
                .execute(&mut *c)
                .await?
                .rows_affected())
            }

            pub(crate) async fn group_folder(
                c: &mut Conn,
                group_id: &str,
            ) -> StoreResult<Option<GroupFolder>> {
                let row = sqlx::query("SELECT * FROM group_folders WHERE group_id = $1")
                    .bind(group_id)
                    .fetch_optional(&mut *c)
                    .await?;
                row.as_ref().map(group_folder_from_row).transpose()
            }

            pub(crate) async fn group_folders(c: &mut Conn) -> StoreResult<Vec<GroupFolder>> {
                let rows = sqlx::query("SELECT * FROM group_folders ORDER BY group_id")
                    .fetch_all(&mut *c)
                    .await?;
                rows.iter().map(group_folder_from_row).collect()
            }

            /// The mapping holding `path` (compared by [`path_key`]).
            pub(crate) async fn group_folder_at(
                c: &mut Conn,
                path: &str,
            ) -> StoreResult<Option<GroupFolder>> {
                let row = sqlx::query("SELECT * FROM group_folders WHERE path_lower = $1")
                    .bind(path_key(path))
                    .fetch_optional(&mut *c)
                    .await?;
                row.as_ref().map(group_folder_from_row).transpose()
            }

            pub(crate) async fn group_folder_of_share(
                c: &mut Conn,
                shared_folder_id: &str,
            ) -> StoreResult<Option<GroupFolder>> {
                let row = sqlx::query("SELECT * FROM group_folders WHERE shared_folder_id = $1")
                    .bind(shared_folder_id)
                    .fetch_optional(&mut *c)
                    .await?;
                row.as_ref().map(group_folder_from_row).transpose()
            }

            /// Group folders by name, each with the members the bridge invited and has not removed.
            pub(crate) async fn group_folder_summaries(
                c: &mut Conn,
            ) -> StoreResult<Vec<GroupFolderSummary>> {
                let rows = sqlx::query(
                    "SELECT g.*, (SELECT COUNT(*) FROM group_members_added m
                                  WHERE m.group_id = g.group_id) AS members
                     FROM group_folders g ORDER BY LOWER(g.group_name), g.group_id",
                )
                .fetch_all(&mut *c)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(GroupFolderSummary {
                            folder: group_folder_from_row(r)?,
                            members: r.try_get("members")?,
                        })
                    })
                    .collect()
            }

            pub(crate) async fn put_group_folder(c: &mut Conn, f: &GroupFolder) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO group_folders (group_id, group_name, path, path_lower, shared_folder_id, active, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (group_id) DO UPDATE SET group_name = excluded.group_name, path = excluded.path,
                         path_lower = excluded.path_lower, shared_folder_id = excluded.shared_folder_id,
                         active = excluded.active, updated_at = excluded.updated_at",
                )
                .bind(&f.group_id)
                .bind(&f.group_name)
                .bind(&f.path)
                .bind(path_key(&f.path))
                .bind(&f.shared_folder_id)
                .bind(i64::from(f.active))
                .bind(now_ms())
                .execute(&mut *c)
                .await?;
                Ok(())
            }

            pub(crate) async fn added_members(c: &mut Conn, group_id: &str) -> StoreResult<Vec<String>> {
                let rows = sqlx::query(
                    "SELECT email FROM group_members_added WHERE group_id = $1 ORDER BY email",
                )
                .bind(group_id)
                .fetch_all(&mut *c)
                .await?;
                rows.iter()
                    .map(|r| r.try_get::<String, _>("email").map_err(Into::into))
                    .collect()
            }

            /// The Dropbox accounts of the members the bridge added to the group's folder, where
            /// known: e-mail (as recorded) → account id.
            pub(crate) async fn member_accounts(
                c: &mut Conn,
                group_id: &str,
            ) -> StoreResult<std::collections::BTreeMap<String, String>> {
                let rows = sqlx::query(
                    "SELECT email, account_id FROM group_members_added
                     WHERE group_id = $1 AND account_id IS NOT NULL",
                )
                .bind(group_id)
                .fetch_all(&mut *c)
                .await?;
                rows.iter()
                    .map(|r| Ok((r.try_get("email")?, r.try_get("account_id")?)))
                    .collect()
            }

            /// Remembers the Dropbox account each (e-mail, account id) member was listed under.
            pub(crate) async fn record_member_accounts(
                c: &mut Conn,
                group_id: &str,
                accounts: &[(String, String)],
            ) -> StoreResult<()> {
                for (email, account_id) in accounts {
                    sqlx::query(
                        "UPDATE group_members_added SET account_id = $3
                         WHERE group_id = $1 AND email = $2",
                    )
                    .bind(group_id)
                    .bind(email.to_lowercase())
                    .bind(account_id)
                    .execute(&mut *c)
                    .await?;
                }
                Ok(())
            }

            /// Two statements per member: run it in a transaction, so that the two tables
            /// cannot disagree after a crash.
            pub(crate) async fn record_members_added(
                c: &mut Conn,
                group_id: &str,
                emails: &[String],
            ) -> StoreResult<()> {
                let now = now_ms();
                for email in emails {
                    let email = email.to_lowercase();
                    sqlx::query(
                        "INSERT INTO group_members_added (group_id, email, added_at) VALUES ($1, $2, $3)
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(group_id)
                    .bind(&email)
                    .bind(now)
                    .execute(&mut *c)
                    .await?;
                    sqlx::query("DELETE FROM group_member_refusals WHERE group_id = $1 AND email = $2")
                        .bind(group_id)
                        .bind(&email)
                        .execute(&mut *c)
                        .await?;
                }
                Ok(())
            }

            pub(crate) async fn record_member_removed(
                c: &mut Conn,
                group_id: &str,
                email: &str,
            ) -> StoreResult<()> {
                sqlx::query("DELETE FROM group_members_added WHERE group_id = $1 AND email = $2")
                    .bind(group_id)
                    .bind(email.to_lowercase())
                    .execute(&mut *c)
                    .await?;
                Ok(())
            }

            pub(crate) async fn record_member_refused(
                c: &mut Conn,
                group_id: &str,
                email: &str,
                tag: &str,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO group_member_refusals (group_id, email, tag, refused_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (group_id, email) DO UPDATE SET tag = excluded.tag, refused_at = excluded.refused_at",
                )
                .bind(group_id)
                .bind(email.to_lowercase())
                .bind(tag)
                .bind(now_ms())
                .execute(&mut *c)
                .await?;
                Ok(())
            }

            pub(crate) async fn member_refusals(
                c: &mut Conn,
                group_id: &str,
                max_age: Duration,
            ) -> StoreResult<Vec<(String, String)>> {
                let since_ms = now_ms().saturating_sub(millis(max_age));
                let rows = sqlx::query(
                    "SELECT email, tag FROM group_member_refusals
                     WHERE group_id = $1 AND refused_at >= $2 ORDER BY email",
                )
                .bind(group_id)
                .bind(since_ms)
                .fetch_all(&mut *c)
                .await?;
                rows.iter()
                    .map(|r| Ok((r.try_get("email")?, r.try_get("tag")?)))
                    .collect()
            }

            pub(crate) async fn export(c: &mut Conn, file_id: &str) -> StoreResult<Option<ExportRecord>> {
                let row = sqlx::query("SELECT * FROM exports WHERE file_id = $1")
                    .bind(file_id)
                    .fetch_optional(&mut *c)
                    .await?;
                row.as_ref().map(export_from_row).transpose()
            }

            pub(crate) async fn exports_under(
                c: &mut Conn,
                dropbox_path: &str,
            ) -> StoreResult<Vec<ExportRecord>> {
                let lower = path_key(dropbox_path);
                let rows = sqlx::query(
                    "SELECT * FROM exports WHERE dropbox_path_lower = $1 OR dropbox_path_lower LIKE $2 ESCAPE '\\'
                     ORDER BY file_id",
                )
                .bind(&lower)
                .bind(below_pattern(&lower))
                .fetch_all(&mut *c)
                .await?;
                rows.iter().map(export_from_row).collect()
            }

            /// The most recently written export records, newest first.
            pub(crate) async fn latest_exports(
                c: &mut Conn,
                limit: u32,
            ) -> StoreResult<Vec<ExportSummary>> {
                let rows =
                    sqlx::query("SELECT * FROM exports ORDER BY updated_at DESC, file_id LIMIT $1")
                        .bind(i64::from(limit))
                        .fetch_all(&mut *c)
                        .await?;
                rows.iter()
                    .map(|r| {
                        Ok(ExportSummary {
                            record: export_from_row(r)?,
                            exported_at: from_ms(r.try_get("updated_at")?),
                        })
                    })
                    .collect()
            }

            /// A guard without an intent leaves no row behind.
            pub(crate) async fn release_export_guard(
                c: &mut Conn,
                file_id: &str,
                holder: &str,
            ) -> StoreResult<()> {
                sqlx::query(
                    "DELETE FROM export_guards
                     WHERE file_id = $1 AND holder = $2 AND target_path IS NULL",
                )
                .bind(file_id)
                .bind(holder)
                .execute(&mut *c)
                .await?;
                sqlx::query(
                    "UPDATE export_guards SET holder = NULL, expires_at = 0, updated_at = $1
                     WHERE file_id = $2 AND holder = $3",
                )
                .bind(now_ms())
                .bind(file_id)
                .bind(holder)
                .execute(&mut *c)
                .await?;
                Ok(())
            }

            pub(crate) async fn export_intent(
                c: &mut Conn,
                file_id: &str,
            ) -> StoreResult<Option<ExportIntent>> {
                let row = sqlx::query(
                    "SELECT target_path, target_hash, target_version, target_stamp FROM export_guards
                     WHERE file_id = $1 AND target_path IS NOT NULL",
                )
                .bind(file_id)
                .fetch_optional(&mut *c)
                .await?;
                let Some(r) = row else { return Ok(None) };
                Ok(Some(ExportIntent {
                    dropbox_path: r.try_get("target_path")?,
                    content_hash: r.try_get::<Option<String>, _>("target_hash")?.unwrap_or_default(),
                    docspace_version: r.try_get::<Option<i64>, _>("target_version")?.unwrap_or(0),
                    stamp: r.try_get("target_stamp")?,
                }))
            }

            /// One statement per [`EXPORTS_OF_CHUNK`](crate::store::EXPORTS_OF_CHUNK) ids.
            pub(crate) async fn exports_of(
                c: &mut Conn,
                file_ids: &[String],
            ) -> StoreResult<Vec<ExportRecord>> {
                let mut out = Vec::new();
                for chunk in file_ids.chunks($crate::store::EXPORTS_OF_CHUNK) {
                    let placeholders: Vec<String> =
                        (1..=chunk.len()).map(|i| format!("${i}")).collect();
                    let sql = format!(
                        "SELECT * FROM exports WHERE file_id IN ({})",
                        placeholders.join(", ")
                    );
                    let mut q = sqlx::query(&sql);
                    for id in chunk {
                        q = q.bind(id);
                    }
                    for row in q.fetch_all(&mut *c).await? {
                        out.push(export_from_row(&row)?);
                    }
                }
                Ok(out)
            }

            /// Two statements; the insert keeps an instant another writer stored first.
            pub(crate) async fn watermark_or_init(
                c: &mut Conn,
                name: &str,
                at_ms: i64,
            ) -> StoreResult<i64> {
                sqlx::query("INSERT INTO watermarks (name, at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(name)
                    .bind(at_ms)
                    .execute(&mut *c)
                    .await?;
                let row = sqlx::query("SELECT at FROM watermarks WHERE name = $1")
                    .bind(name)
                    .fetch_one(&mut *c)
                    .await?;
                Ok(row.try_get("at")?)
            }

            pub(crate) async fn cursor(c: &mut Conn, account_id: &str) -> StoreResult<Option<String>> {
                let row = sqlx::query("SELECT cursor FROM dropbox_cursors WHERE account_id = $1")
                    .bind(account_id)
                    .fetch_optional(&mut *c)
                    .await?;
                Ok(row.map(|r| r.try_get("cursor")).transpose()?)
            }

            pub(crate) async fn put_cursor(
                c: &mut Conn,
                account_id: &str,
                cursor: &str,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO dropbox_cursors (account_id, cursor, updated_at) VALUES ($1, $2, $3)
                     ON CONFLICT (account_id) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
                )
                .bind(account_id)
                .bind(cursor)
                .bind(now_ms())
                .execute(&mut *c)
                .await?;
                Ok(())
            }
        }
    };
}
pub(crate) use job_columns;
pub(crate) use release_jobs;
pub(crate) use shared_statements;
