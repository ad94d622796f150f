//! File reconcile, the work of `files.sync_all` ([`crate::jobs::kinds::FilesSyncAll`]) and of
//! the `sync-files` command: what the periodic group reconcile is to groups, this is to files.
//!
//! DocSpace gives up on a webhook after about 31 seconds, so a file uploaded while the bridge
//! was down, restarting or answering 503 never gets its `file.export` from an event. The
//! reconcile walks the rooms (or the folders of `EXPORT_FOLDER_IDS`, or the folders an operator
//! names) through the paged listings ([`walk`]), plans each page ([`plan`]: a pure planner the
//! job, the command and the tests share) and asks for a `file.export` of every file whose
//! current version is not recorded as exported. It downloads and uploads nothing itself; a file
//! already exported at its version costs nothing beyond its line in a listing.
//!
//! Scope in time: files changed since the bridge started exporting (the watermark stored on its
//! first start, less [`plan::CLOCK_SKEW_MARGIN`]), so that installing the bridge does not upload
//! a portal's whole history by surprise; a backfill, only ever asked for explicitly, takes files
//! of any age. Trashed files, archived rooms that were not named, and folders the API key cannot
//! read are skipped and counted, never fatal.
//!
//! It uses the DocSpace client (listings) and the store (recorded exports, the watermark, the
//! queue); it never calls Dropbox and knows nothing of HTTP.

pub mod plan;
mod walk;

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use super::kinds::{FileExport, JobKind};
use super::{JobContext, JobError};
use crate::store::WATERMARK_EXPORTING_SINCE;
pub use plan::{FileAction, FilePlan, PagePlan, Skip};
pub use walk::{walk, Sink, WALK_CONCURRENCY};

/// Most skipped folders a summary names one by one (the counts cover all of them).
const MAX_NAMED_SKIPS: usize = 100;

/// Where a walk starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// Every room of the "Rooms" section (archived rooms are counted, not walked).
    Rooms,
    /// These folders or rooms, whatever section they are in.
    Folders(Vec<String>),
}

/// What one reconcile covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub roots: Roots,
    /// Files changed before this are left for a backfill; `None` takes every file.
    pub since: Option<DateTime<Utc>>,
    /// The folders were named by the operator (API, CLI) rather than configured: their exports
    /// are explicit requests that `EXPORT_FOLDER_IDS` does not limit.
    pub explicit: bool,
}

impl Scope {
    /// The export to ask for a planned file.
    pub fn export_for(&self, file_id: &str) -> FileExport {
        if self.explicit {
            FileExport::manual(file_id, None)
        } else {
            FileExport::reconcile(file_id)
        }
    }
}

/// The scope of a run: `folder_ids` (explicit) or else `EXPORT_FOLDER_IDS` or else every room;
/// `backfill` drops the time limit. Stores the watermark if this store has none yet.
pub async fn scope(
    ctx: &JobContext,
    folder_ids: Option<&[String]>,
    backfill: bool,
) -> Result<Scope, JobError> {
    let since = exporting_since(ctx).await?;
    let (roots, explicit) = match folder_ids {
        Some(ids) if !ids.is_empty() => (Roots::Folders(dedup(ids)), true),
        _ if ctx.config.export.folder_ids.is_empty() => (Roots::Rooms, false),
        _ => (Roots::Folders(dedup(&ctx.config.export.folder_ids)), false),
    };
    Ok(Scope {
        roots,
        since: plan::cutoff(since, backfill),
        explicit,
    })
}

/// When the bridge started exporting files: the stored watermark, stored now if there is none.
pub async fn exporting_since(ctx: &JobContext) -> Result<DateTime<Utc>, JobError> {
    Ok(ctx
        .store
        .watermark_or_init(WATERMARK_EXPORTING_SINCE, Utc::now())
        .await?)
}

fn dedup(ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids {
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    out
}

/// A folder left out, as the summary names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedFolder {
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
    pub reason: Skip,
    /// DocSpace's answer, when one said why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a walk saw: the job's result and the command's summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub roots: Option<Vec<String>>,
    pub backfill: bool,
    pub since: Option<DateTime<Utc>>,
    pub folders_walked: u64,
    /// Listing calls made.
    pub pages: u64,
    pub files_seen: u64,
    /// Files planned for export (enqueued by the job, exported or listed by the command).
    pub to_export: u64,
    pub in_step: u64,
    pub older: u64,
    /// Files and folders left out, by reason.
    pub skipped: BTreeMap<Skip, u64>,
    pub skipped_folders: Vec<SkippedFolder>,
    pub elapsed_ms: u64,
}

impl Summary {
    fn new(scope: &Scope) -> Self {
        Self {
            roots: match &scope.roots {
                Roots::Rooms => None,
                Roots::Folders(ids) => Some(ids.clone()),
            },
            backfill: scope.since.is_none(),
            since: scope.since,
            ..Self::default()
        }
    }

    fn add(&mut self, plan: &PagePlan) {
        for f in &plan.files {
            self.files_seen += 1;
            match f.action {
                FileAction::Export { .. } => self.to_export += 1,
                FileAction::InStep => self.in_step += 1,
                FileAction::Older => self.older += 1,
                FileAction::Skip(why) => self.skip_many(why, 1),
            }
        }
        for f in &plan.skipped_folders {
            self.skip_folder(&f.id, &f.title, f.why, None);
        }
    }

    fn skip_many(&mut self, why: Skip, n: u64) {
        if n > 0 {
            *self.skipped.entry(why).or_default() += n;
        }
    }

    fn skip_folder(&mut self, id: &str, title: &str, why: Skip, error: Option<String>) {
        self.skip_many(why, 1);
        if self.skipped_folders.len() < MAX_NAMED_SKIPS {
            self.skipped_folders.push(SkippedFolder {
                id: id.to_string(),
                title: title.to_string(),
                reason: why,
                error,
            });
        }
    }

    /// The job's result JSON; `to_export` is reported as `enqueued`.
    pub fn to_json(&self) -> Value {
        let skipped: BTreeMap<&str, u64> =
            self.skipped.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        json!({
            "folder_ids": self.roots,
            "backfill": self.backfill,
            "changed_since": self.since.map(|s| s.to_rfc3339_opts(SecondsFormat::Secs, true)),
            "folders_walked": self.folders_walked,
            "listing_calls": self.pages,
            "files_seen": self.files_seen,
            "enqueued": self.to_export,
            "already_exported": self.in_step,
            "older_than_watermark": self.older,
            "skipped": skipped,
            "skipped_folders": self.skipped_folders,
            "elapsed_ms": self.elapsed_ms,
        })
    }
}

/// The job's sink: one `file.export` per planned file, each page's in one enqueue (they coalesce
/// with exports already queued for the same files).
struct Enqueue<'a> {
    ctx: &'a JobContext,
    scope: &'a Scope,
}

impl Sink for Enqueue<'_> {
    async fn page(&mut self, plan: &PagePlan) -> Result<(), JobError> {
        let jobs: Vec<_> = plan
            .to_export()
            .map(|f| self.scope.export_for(&f.file_id).to_new_job())
            .collect();
        if !jobs.is_empty() {
            self.ctx.store.enqueue(jobs).await?;
        }
        Ok(())
    }
}

/// The body of `files.sync_all`: walks the scope and enqueues the exports.
pub async fn sync_all(
    ctx: &JobContext,
    folder_ids: Option<&[String]>,
    backfill: bool,
) -> Result<Summary, JobError> {
    let scope = scope(ctx, folder_ids, backfill).await?;
    let summary = walk(ctx, &scope, &mut Enqueue { ctx, scope: &scope }).await?;
    metrics::counter!("bridge_files_reconcile_seen_total").increment(summary.files_seen);
    metrics::counter!("bridge_files_reconcile_enqueued_total").increment(summary.to_export);
    tracing::info!(
        folders = summary.folders_walked,
        files = summary.files_seen,
        enqueued = summary.to_export,
        elapsed_ms = summary.elapsed_ms,
        "file reconcile done"
    );
    Ok(summary)
}
