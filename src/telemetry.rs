//! Logging and metrics.
//!
//! Logs go to stderr, JSON unless stderr is a terminal (`LOG_FORMAT`), filtered by `RUST_LOG`
//! (default `info`). While a one-shot command draws progress bars ([`progress`]), every log line
//! is written with the bars cleared and redrawn after it, so the two never share a line.
//!
//! Metrics: one Prometheus recorder per process, installed once, with a `# HELP` line for every
//! metric and buckets fitted to each histogram. What describes the database rather than this
//! process (`bridge_db_up`, `bridge_queue_depth`, `bridge_oldest_due_job_age_seconds`) is read
//! for each scrape by [`render`] from the store of the service being scraped, so every replica
//! reports the same queue and two services in one process never mix their numbers.
//!
//! The recorder and the progress bars are process-wide by nature (the `metrics` facade and the
//! terminal are), which is why they live in statics; everything else is passed explicitly.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::Utc;
use indicatif::{MultiProgress, ProgressBar};
use metrics::Unit;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;
use tracing::field::{Field, Visit};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use crate::store::{DynStore, JobState};

/// Logging for one-shot commands: each line is written to stderr as it is logged, in order with
/// what the command prints itself and around its progress bars.
pub fn init_logging(format: LogFormat) {
    install(format, LogWriter);
}

/// Logging for the service: lines are handed to a thread of their own that writes them to
/// stderr, so a request never waits on the write. Nothing is dropped: when that thread falls
/// behind by [`BACKLOG_LINES`], loggers wait for it. Keep the guard until the process ends; its
/// drop writes out what is still queued.
pub fn init_service_logging(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(BACKLOG_LINES)
        .thread_name("log-writer")
        .finish(Gathering(std::io::BufWriter::with_capacity(
            LOG_BUFFER, LogWriter,
        )));
    install(format, writer);
    guard
}

/// How long the service's writer thread rests after each write. Meanwhile new lines queue up
/// without waking it (a sleeping writer is woken by the logger that queues a line, a futex call
/// on a request's thread, then a write of its own), and its next write takes them all: a busy
/// service writes a block every few milliseconds instead of waking the writer for nearly every
/// line. A line reaches stderr at most this much later.
const GATHER: std::time::Duration = std::time::Duration::from_millis(5);

/// The service's log writer: writes through `W`, and once it has written out what was queued
/// (tracing-appender's writer thread flushes whenever it has taken every queued line) rests for
/// [`GATHER`].
struct Gathering<W>(W);

impl<W: std::io::Write> std::io::Write for Gathering<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let written = self.0.flush();
        std::thread::sleep(GATHER);
        written
    }
}

/// Log lines the service's writer thread may fall behind by before loggers wait.
const BACKLOG_LINES: usize = 16_384;

/// Bytes of log lines the writer thread gathers before it writes them: it writes whatever it
/// has whenever it has taken every queued line (see [`GATHER`]), so a busy service makes one
/// write for many lines and a quiet one writes each line at once. Lines are never split across
/// writes.
const LOG_BUFFER: usize = 64 * 1024;

fn install<W>(format: LogFormat, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = match format {
        // The same lines as tracing-subscriber's JSON format with the event's fields at the top
        // level; json-subscriber keeps each span's fields serialised from its start, where that
        // format parses them again for every line. A line names the span it was logged in
        // (`span`: a request's id, method and path, or a job's id, kind and attempt). Spans are
        // never nested, so the list of every span around the line would repeat those fields
        // (and their cost) on every line.
        LogFormat::Json => {
            let mut json = json_subscriber::JsonLayer::new(writer);
            json.with_timer("timestamp", tracing_subscriber::fmt::time::SystemTime)
                .with_level("level")
                .with_target("target")
                .with_current_span("span")
                .add_multiple_dynamic_fields(|event, _, line| event.record(&mut EventFields(line)));
            tracing_subscriber::registry()
                .with(json)
                .with(filter)
                .try_init()
                .map_err(Into::into)
        }
        LogFormat::Pretty => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(writer)
            .try_init(),
    };
}

/// Writes an event's fields straight into its line, each a member of the line's object.
/// json-subscriber's own flattening builds a JSON value of them first, a tree of allocations
/// for every line (a hundredth of a webhook's CPU). Values are written as that flattening wrote
/// them: 64-bit numbers and booleans as such, everything else (128-bit numbers too) as text.
struct EventFields<'a, 'w>(&'a mut json_subscriber::FieldWriter<'w>);

impl EventFields<'_, '_> {
    fn write(&mut self, field: &Field, value: impl serde::Serialize) {
        // A value that cannot be written is left out; the writer keeps the line whole.
        let _ = self.0.write_field(field.name(), value);
    }
}

/// A value written as the text of its `Debug`, without an intermediate `String`.
struct DebugText<'a>(&'a dyn std::fmt::Debug);

impl serde::Serialize for DebugText<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:?}", self.0))
    }
}

impl Visit for EventFields<'_, '_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.write(field, DebugText(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.write(field, value);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.write(field, value);
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.write(field, value);
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.write(field, value);
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.write(field, value);
    }
}

static PROGRESS: OnceLock<MultiProgress> = OnceLock::new();

/// The progress bars drawn on stderr. Bars added here never tear log lines: every log line
/// clears them, is written, and they are drawn again.
pub fn progress_bars() -> MultiProgress {
    PROGRESS.get_or_init(MultiProgress::new).clone()
}

/// A progress bar of `len` steps among [`progress_bars`].
pub fn progress(len: u64) -> ProgressBar {
    progress_bars().add(ProgressBar::new(len))
}

/// Writes log lines to stderr; while progress bars are drawn, around them.
#[derive(Clone, Copy)]
struct LogWriter;

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;
    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // A call holds whole lines (one event, or the service's buffered block); keep it whole.
        let write = || std::io::stderr().lock().write_all(buf);
        match PROGRESS.get() {
            Some(bars) => bars.suspend(write)?,
            None => write()?,
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

// --- metrics ---------------------------------------------------------------------------------

/// Outcomes of `bridge_deliveries_total`, each counted from 0 for both sources.
pub const DELIVERY_OUTCOMES: [&str; 10] = [
    "accepted",
    "duplicate",
    "ignored",
    "bad_signature",
    "bad_request",
    "unavailable",
    "timeout",
    "internal",
    "abandoned",
    "overloaded",
];
const DELIVERY_SOURCES: [&str; 2] = ["docspace", "dropbox"];

/// Seconds; from a quick group sync to a long export.
const JOB_DURATION_BUCKETS: [f64; 14] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0,
];
/// Seconds of one provider call.
const REQUEST_DURATION_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Webhook inserts per transaction: 1 up to the group commit's 512.
const COMMIT_SIZE_BUCKETS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

struct Recorder {
    handle: PrometheusHandle,
    process: metrics_process::Collector,
}

fn recorder() -> &'static Recorder {
    static RECORDER: OnceLock<Recorder> = OnceLock::new();
    RECORDER.get_or_init(|| {
        let histograms: [(&str, &[f64]); 4] = [
            ("bridge_job_duration_seconds", &JOB_DURATION_BUCKETS),
            (
                "bridge_provider_request_duration_seconds",
                &REQUEST_DURATION_BUCKETS,
            ),
            ("bridge_store_group_commit_size", &COMMIT_SIZE_BUCKETS),
            ("bridge_store_write_batch_size", &COMMIT_SIZE_BUCKETS),
        ];
        let mut builder = PrometheusBuilder::new();
        for (name, buckets) in histograms {
            builder = builder
                .set_buckets_for_metric(Matcher::Full(name.into()), buckets)
                .expect("static bucket lists are non-empty");
        }
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (embedding); then we still render ours.
        let _ = metrics::set_global_recorder(recorder);
        let process = metrics_process::Collector::default();
        process.describe();
        describe();
        Recorder { handle, process }
    })
}

/// The process-wide Prometheus handle (installs the recorder on first use).
pub fn metrics_handle() -> PrometheusHandle {
    recorder().handle.clone()
}

/// `# HELP` of every metric the recorder holds, and the series that start at a value.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(
        "bridge_build_info",
        "Always 1; the version label names the running build."
    );
    metrics::gauge!("bridge_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    describe_gauge!(
        "bridge_last_success_timestamp_seconds",
        Unit::Seconds,
        "Unix seconds of the last successful run of the kind in this process; 0 until the first."
    );
    describe_counter!(
        "bridge_jobs_total",
        "Finished job runs by kind and outcome (succeeded, retry, dead, lease_lost)."
    );
    describe_counter!(
        "bridge_http_requests_shed_total",
        "Requests answered 503 at once because BRIDGE_MAX_REQUESTS were in flight."
    );
    describe_histogram!(
        "bridge_job_duration_seconds",
        Unit::Seconds,
        "Duration of one job run."
    );
    describe_counter!(
        "bridge_deliveries_total",
        "Webhook deliveries by source (docspace, dropbox) and outcome (accepted, duplicate, ignored, bad_signature, bad_request, unavailable, timeout, internal, abandoned)."
    );
    for source in DELIVERY_SOURCES {
        for outcome in DELIVERY_OUTCOMES {
            metrics::counter!("bridge_deliveries_total", "source" => source, "outcome" => outcome)
                .increment(0);
        }
    }
    describe_counter!(
        "bridge_files_reconcile_seen_total",
        "Files listed by file reconciles, summed over runs."
    );
    describe_counter!(
        "bridge_files_reconcile_enqueued_total",
        "Exports enqueued by file reconciles, summed over runs."
    );
    describe_counter!(
        "bridge_dropbox_changes_total",
        "Dropbox changes read by dropbox.changes, by what the bridge did about them."
    );
    describe_counter!(
        "bridge_provider_requests_total",
        "HTTP calls to DocSpace and Dropbox by route and outcome (ok or the error class)."
    );
    describe_histogram!(
        "bridge_provider_request_duration_seconds",
        Unit::Seconds,
        "Duration of one provider call."
    );
    describe_counter!(
        "bridge_provider_pauses_total",
        "Pauses of every call to a provider after a 429 / Retry-After."
    );
    describe_histogram!(
        "bridge_store_group_commit_size",
        "Webhook inserts per transaction (SQLite and PostgreSQL)."
    );
    describe_histogram!(
        "bridge_store_write_batch_size",
        "Other writes (claims, results, export guards, mappings) per SQLite transaction (SQLite only)."
    );
}

/// Whether the database answers, as the last readiness check or periodic probe saw it.
#[derive(Clone, Debug, Default)]
pub struct DbHealth(Arc<AtomicBool>);

impl DbHealth {
    pub fn set(&self, up: bool) {
        self.0.store(up, Ordering::Relaxed);
    }
    pub fn is_up(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// How often [`probe_database`] asks the database whether it answers.
pub const DB_PROBE_INTERVAL: Duration = Duration::from_secs(10);

/// Whether the store can serve requests now (its readiness check, bounded to 5 s).
pub async fn database_answers(store: &DynStore) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(5), store.ping()).await,
        Ok(Ok(()))
    )
}

/// Asks the store whether it can serve requests every `every` until `stop`, and records the
/// answer in `health` (`bridge_db_up`). The first probe is `every` from now.
pub async fn probe_database(
    store: DynStore,
    health: DbHealth,
    every: Duration,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let up = database_answers(&store).await;
        if health.is_up() && !up {
            tracing::warn!("the database does not answer");
        }
        health.set(up);
    }
}

/// The Prometheus text of one scrape: this process's metrics, then the database's as `store`
/// sees it now. Series read from a database that does not answer are left out.
pub async fn render(store: &DynStore, health: &DbHealth) -> String {
    let r = recorder();
    r.process.collect();
    let mut out = r.handle.render();
    family(
        &mut out,
        "bridge_db_up",
        "1 when the database answers (as /readyz and a periodic probe see it), else 0.",
    );
    let _ = writeln!(out, "bridge_db_up {}", u8::from(health.is_up()));
    // Counts without succeeded jobs: cheap however many the table keeps.
    match store.queue_gauges().await {
        Ok(depth) => {
            family(
                &mut out,
                "bridge_queue_depth",
                "Jobs in the database per state (the same on every replica).",
            );
            for state in [
                JobState::Queued,
                JobState::Running,
                JobState::Failed,
                JobState::Dead,
            ] {
                let n = depth.get(&state).copied().unwrap_or(0);
                let _ = writeln!(
                    out,
                    "bridge_queue_depth{{state=\"{}\"}} {n}",
                    state.as_str()
                );
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot read the queue depth for metrics"),
    }
    match store.oldest_due_job().await {
        Ok(oldest) => {
            family(
                &mut out,
                "bridge_oldest_due_job_age_seconds",
                "Age of the oldest queued or failed job whose run_at is past; 0 when none (the same on every replica).",
            );
            let age = oldest
                .map(|j| (Utc::now() - j.run_at).num_milliseconds().max(0) as f64 / 1000.0)
                .unwrap_or(0.0);
            let _ = writeln!(out, "bridge_oldest_due_job_age_seconds {age}");
        }
        Err(e) => tracing::warn!(error = %e, "cannot read the oldest due job for metrics"),
    }
    out
}

fn family(out: &mut String, name: &str, help: &str) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
}
