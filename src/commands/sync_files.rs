//! `sync-files [--dry-run] [--backfill] [--folder ID ...]`: a one-shot file reconcile run straight
//! through the reconcile code ([`crate::jobs::files`]), never through the queue or HTTP.
//!
//! It walks the rooms (or `EXPORT_FOLDER_IDS`, or the `--folder` ids) and exports, in this
//! process and a few at a time, every file whose current version is not recorded as exported,
//! while the walk goes on. `--dry-run` only reads: it prints what would be exported and changes
//! nothing. Progress (folders walked, files seen, to export, exported) is a bar on a terminal and
//! a plain line every few seconds otherwise; results and the summary go to stdout.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::SecondsFormat;
use futures::stream::StreamExt;
use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;

use crate::cli::SyncFilesArgs;
use crate::config::Config;
use crate::docspace::FileInfo;
use crate::jobs::export::{self, Observer, Outcome};
use crate::jobs::files::{self, FileAction, FilePlan, PagePlan, Roots, Scope, Sink, Summary};
use crate::jobs::{JobContext, JobError};

/// Exports run at once (each streams through the transfer threads; DocSpace allows 8 downloads).
const EXPORT_CONCURRENCY: usize = 4;
/// Off a terminal, at most one progress line this often.
const LINE_EVERY: Duration = Duration::from_secs(2);

pub async fn run(config: Config, args: SyncFilesArgs) -> ExitCode {
    let ctx = match super::open_context(config).await {
        Ok(ctx) => ctx,
        Err(code) => return code,
    };
    let folder_ids = (!args.folders.is_empty()).then(|| crate::cli::distinct(&args.folders));
    let scope = match files::scope(&ctx, folder_ids.as_deref(), args.backfill).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", describe(&scope, args.dry_run));
    let progress = Progress::new(!args.dry_run);
    let (walked, exports) = if args.dry_run {
        let mut sink = DryRun {
            progress: &progress,
        };
        (
            files::walk(&ctx, &scope, &mut sink).await,
            Exports::default(),
        )
    } else {
        let (tx, rx) = mpsc::channel::<FilePlan>(256);
        let walk = async {
            let mut sink = Feed {
                tx,
                progress: &progress,
            };
            files::walk(&ctx, &scope, &mut sink).await
            // The sink (and the channel's sender) goes here: the exports end with the walk.
        };
        tokio::join!(walk, export_all(&ctx, &scope, rx, &progress))
    };
    progress.finish(walked.as_ref().ok());
    let summary = match walked {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: the walk stopped: {e}");
            print!("{}", render_exports(&exports));
            return ExitCode::FAILURE;
        }
    };
    print!("{}", render_summary(&summary, &exports, args.dry_run));
    if exports.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn describe(scope: &Scope, dry_run: bool) -> String {
    let what = match &scope.roots {
        Roots::Rooms => "every room".to_string(),
        Roots::Folders(ids) => format!("folders {}", ids.join(", ")),
    };
    let when = match scope.since {
        Some(t) => format!(
            "files changed since {} (--backfill takes older ones)",
            t.to_rfc3339_opts(SecondsFormat::Secs, true)
        ),
        None => "files of any age (backfill)".to_string(),
    };
    let mode = if dry_run {
        "dry run: nothing is changed"
    } else {
        "exporting"
    };
    format!("File reconcile of {what}, {when}; {mode}")
}

// --- progress -------------------------------------------------------------------------------

/// Counts of the exports this run made.
#[derive(Debug, Default)]
struct Exports {
    exported: u64,
    unchanged: u64,
    skipped: u64,
    failed: u64,
    bytes: u64,
}

/// Progress on stderr: bars on a terminal, a plain line every [`LINE_EVERY`] otherwise.
struct Progress {
    multi: MultiProgress,
    walk: ProgressBar,
    export: Option<ProgressBar>,
    plain: bool,
    last_line: Mutex<Instant>,
    walk_line: Mutex<String>,
    bytes: Arc<AtomicU64>,
    done: AtomicU64,
    queued: AtomicU64,
}

impl Progress {
    fn new(exporting: bool) -> Self {
        let plain = !std::io::stderr().is_terminal();
        let multi = if plain {
            MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
        } else {
            // Shared with the log writer, so that log lines never tear the bars.
            crate::telemetry::progress_bars()
        };
        let walk = multi.add(ProgressBar::new_spinner());
        walk.set_style(
            ProgressStyle::with_template("{spinner} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        walk.enable_steady_tick(Duration::from_millis(120));
        let export = exporting.then(|| {
            let bar = multi.add(ProgressBar::new(0));
            bar.set_style(
                ProgressStyle::with_template(
                    "[{bar:30}] {pos}/{len} files exported, {msg} {wide_msg:.dim}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        });
        Self {
            multi,
            walk,
            export,
            plain,
            last_line: Mutex::new(Instant::now()),
            walk_line: Mutex::new(String::new()),
            bytes: Arc::new(AtomicU64::new(0)),
            done: AtomicU64::new(0),
            queued: AtomicU64::new(0),
        }
    }

    fn walked(&self, s: &Summary) {
        let line = format!(
            "{} folders walked, {} files seen, {} to export",
            s.folders_walked, s.files_seen, s.to_export
        );
        self.walk.set_message(line.clone());
        if let Ok(mut l) = self.walk_line.lock() {
            *l = line;
        }
        self.plain_line(false);
    }

    fn queued(&self, n: u64) {
        self.queued.fetch_add(n, Ordering::Relaxed);
        if let Some(bar) = &self.export {
            bar.inc_length(n);
        }
    }

    fn export_done(&self, title: &str) {
        self.done.fetch_add(1, Ordering::Relaxed);
        if let Some(bar) = &self.export {
            bar.inc(1);
            bar.set_message(format!(
                "{} {title}",
                HumanBytes(self.bytes.load(Ordering::Relaxed))
            ));
        }
        self.plain_line(false);
    }

    /// One line on stdout, above the bars.
    fn println(&self, line: &str) {
        self.multi.suspend(|| println!("{line}"));
    }

    /// Off a terminal: the state as one stderr line, at most every [`LINE_EVERY`] unless forced.
    fn plain_line(&self, force: bool) {
        if !self.plain {
            return;
        }
        let Ok(mut last) = self.last_line.lock() else {
            return;
        };
        if !force && last.elapsed() < LINE_EVERY {
            return;
        }
        *last = Instant::now();
        let walk = self.walk_line.lock().map(|l| l.clone()).unwrap_or_default();
        let mut line = format!("progress: {walk}");
        if self.export.is_some() {
            let _ = write!(
                line,
                "; {}/{} exported ({})",
                self.done.load(Ordering::Relaxed),
                self.queued.load(Ordering::Relaxed),
                HumanBytes(self.bytes.load(Ordering::Relaxed))
            );
        }
        eprintln!("{line}");
    }

    fn finish(&self, summary: Option<&Summary>) {
        if let Some(s) = summary {
            self.walked(s);
        }
        self.walk.finish_and_clear();
        if let Some(bar) = &self.export {
            bar.finish_and_clear();
        }
        self.plain_line(true);
    }
}

// --- dry run --------------------------------------------------------------------------------

struct DryRun<'a> {
    progress: &'a Progress,
}

impl Sink for DryRun<'_> {
    async fn page(&mut self, plan: &PagePlan) -> Result<(), JobError> {
        for f in plan.to_export() {
            self.progress.println(&plan_line(f));
        }
        Ok(())
    }

    fn progress(&mut self, summary: &Summary) {
        self.progress.walked(summary);
    }
}

/// `+ <destination> (file 42, version 1)` for a first export, `~ …` for a new version.
fn plan_line(f: &FilePlan) -> String {
    let dest = f
        .destination
        .clone()
        .unwrap_or_else(|| format!("{:?} (folder path unknown)", f.title));
    match f.action {
        FileAction::Export {
            exported_version: Some(v),
        } => format!(
            "  ~ {dest} (file {}, version {}, exported version {v})",
            f.file_id, f.version
        ),
        _ => format!("  + {dest} (file {}, version {})", f.file_id, f.version),
    }
}

// --- exporting ------------------------------------------------------------------------------

/// Hands the files to export to the exporter as the walk plans them.
struct Feed<'a> {
    tx: mpsc::Sender<FilePlan>,
    progress: &'a Progress,
}

impl Sink for Feed<'_> {
    async fn page(&mut self, plan: &PagePlan) -> Result<(), JobError> {
        for f in plan.to_export() {
            self.progress.queued(1);
            // The exporter only stops once this sender is gone.
            let _ = self.tx.send(f.clone()).await;
        }
        Ok(())
    }

    fn progress(&mut self, summary: &Summary) {
        self.progress.walked(summary);
    }
}

/// Adds each export's acknowledged bytes to the run's total.
struct ByteCount {
    total: Arc<AtomicU64>,
    last: AtomicU64,
}

impl Observer for ByteCount {
    fn started(&self, _file: &FileInfo, _destination: &str) {}
    fn progress(&self, bytes: u64) {
        let before = self.last.swap(bytes, Ordering::Relaxed);
        // A restarted download starts again from 0: count only growth.
        if bytes > before {
            self.total.fetch_add(bytes - before, Ordering::Relaxed);
        }
    }
}

async fn export_all(
    ctx: &JobContext,
    scope: &Scope,
    rx: mpsc::Receiver<FilePlan>,
    progress: &Progress,
) -> Exports {
    let files = receiver_stream(rx);
    let results = files
        .map(|f| async move {
            let observer: Arc<dyn Observer> = Arc::new(ByteCount {
                total: progress.bytes.clone(),
                last: AtomicU64::new(0),
            });
            let outcome = export::export(ctx, &scope.export_for(&f.file_id), Some(observer)).await;
            (f, outcome)
        })
        .buffer_unordered(EXPORT_CONCURRENCY);
    tokio::pin!(results);
    let mut counts = Exports::default();
    while let Some((f, outcome)) = results.next().await {
        let line = match &outcome {
            Ok(Outcome::Exported { record, .. }) => {
                counts.exported += 1;
                counts.bytes += u64::try_from(record.size).unwrap_or(0);
                format!(
                    "  exported {} (file {}, version {}, {})",
                    record.dropbox_path,
                    f.file_id,
                    record.docspace_version,
                    HumanBytes(u64::try_from(record.size).unwrap_or(0))
                )
            }
            Ok(Outcome::Unchanged { record }) => {
                counts.unchanged += 1;
                format!(
                    "  already in Dropbox {} (file {}, version {})",
                    record.dropbox_path, f.file_id, record.docspace_version
                )
            }
            Ok(Outcome::Skipped { reason }) => {
                counts.skipped += 1;
                format!("  skipped file {} {:?}: {reason}", f.file_id, f.title)
            }
            Err(e) => {
                counts.failed += 1;
                format!("  failed file {} {:?}: {e}", f.file_id, f.title)
            }
        };
        progress.println(&line);
        progress.export_done(&f.title);
    }
    counts
}

/// The receiver as a stream (ends when every sender is gone).
fn receiver_stream<T: Send + 'static>(
    rx: mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|v| (v, rx)) })
}

// --- output ---------------------------------------------------------------------------------

fn render_exports(e: &Exports) -> String {
    let mut out = String::new();
    let rows = [
        ("exported", e.exported),
        ("already in Dropbox", e.unchanged),
        ("skipped by export", e.skipped),
        ("failed exports", e.failed),
    ];
    for (label, n) in rows {
        let _ = writeln!(out, "  {label:<22} {n:>8}");
    }
    out
}

fn render_summary(s: &Summary, e: &Exports, dry_run: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nSummary{}",
        if dry_run { " (dry run: would be)" } else { "" }
    );
    let rows = [
        ("folders walked", s.folders_walked),
        ("files seen", s.files_seen),
        ("to export", s.to_export),
        ("already exported", s.in_step),
        ("older than watermark", s.older),
    ];
    for (label, n) in rows {
        let _ = writeln!(out, "  {label:<22} {n:>8}");
    }
    for (why, n) in &s.skipped {
        let _ = writeln!(out, "  {:<22} {n:>8}", format!("skipped: {}", why.as_str()));
    }
    if !dry_run {
        out.push_str(&render_exports(e));
    }
    let _ = writeln!(
        out,
        "  {:<22} {:>8}\n  {:<22} {:>8.2} s",
        "listing calls",
        s.pages,
        "elapsed",
        s.elapsed_ms as f64 / 1000.0
    );
    if !s.skipped_folders.is_empty() {
        let _ = writeln!(out, "\nSkipped folders");
        for f in &s.skipped_folders {
            let _ = write!(out, "  {} {:?}: {}", f.id, f.title, f.reason.as_str());
            if let Some(err) = &f.error {
                let _ = write!(out, " ({err})");
            }
            out.push('\n');
        }
    }
    out
}
