//! File export, the work of `file.export` ([`crate::jobs::kinds::FileExport`]): one DocSpace
//! file streamed to Dropbox, for the job and the `export` command.
//!
//! Owns the decisions of an export: the `EXPORT_FOLDER_IDS` filter, where the file goes
//! ([`path`]), whether anything needs uploading (the stored mapping DocSpace file id → Dropbox
//! path, rev, version, content hash), and how it is committed: `add` + autorename the first time,
//! `overwrite` of the mapped file for later versions, always through the commit batcher (`batch`).
//! A manual export into an explicit folder that the mapping is not in is a copy: it leaves the
//! mapping alone, so later versions still go to the file's own export.
//! One export of a file runs at a time across every replica (`guard`); a first export records
//! where its commit goes before committing, so an attempt after a lost answer finds its own file.
//! Who caused the event does not matter: the bridge never writes to DocSpace, so an event by the
//! API key's own user is that person's own work and is exported like any other. The byte
//! transfer lives in `transfer`, on the transfer threads (`threads`). What exports share within
//! a process (`Exports`: batcher, per-file locks, threads) lives in the job context. It uses the
//! DocSpace and Dropbox clients and the store; it knows nothing of HTTP and must not touch
//! group-folder or change-tracking state.

mod batch;
mod guard;
mod locks;
pub mod path;
mod safe;
mod threads;
mod transfer;

use std::sync::Arc;

use serde_json::{json, Value};

use crate::docspace::FileInfo;
use crate::dropbox::{
    CommitInfo, DropboxClient, DropboxError, FileMetadata, Metadata, Progress, WriteMode,
};
use crate::store::{ExportIntent, ExportRecord};

use super::kinds::FileExport;
use super::{JobContext, JobError};
use batch::Batcher;
use guard::ExportGuard;
use locks::FileLocks;
use threads::TransferThreads;
use transfer::TransferError;

/// What exports share within one process, owned by its [`JobContext`]: the commit batcher (one
/// batch at a time against the namespace lock), the per-file locks (one export of a file at a
/// time in this process, before the store's guard covers all processes), and the transfer
/// threads (started on the first export).
#[derive(Default)]
pub(crate) struct Exports {
    batcher: Arc<Batcher>,
    locks: FileLocks,
    threads: TransferThreads,
}

/// How an export's bytes were committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The file's first export (`add` + autorename, strict), now its mapping.
    Add,
    /// A new version over the mapped file.
    Overwrite,
    /// A copy into an explicit folder (`add` + autorename); the mapping is left as it was.
    Copy,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Add => "add",
            Mode::Overwrite => "overwrite",
            Mode::Copy => "copy",
        }
    }
}

/// Follows an export as it runs (the CLI draws its progress bar from this).
pub trait Observer: Send + Sync {
    /// The transfer is about to start.
    fn started(&self, _file: &FileInfo, _destination: &str) {}
    /// Bytes Dropbox has acknowledged so far (starts again from 0 if the download restarts).
    fn progress(&self, _bytes: u64) {}
}

/// How an export ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Bytes were uploaded and committed.
    Exported { record: ExportRecord, mode: Mode },
    /// This DocSpace version is already in Dropbox with the recorded content hash.
    Unchanged { record: ExportRecord },
    /// Nothing to do, and nothing will ever be: the reason.
    Skipped { reason: String },
}

impl Outcome {
    pub fn to_json(&self) -> Value {
        let rec = |r: &ExportRecord| {
            json!({
                "file_id": r.file_id,
                "docspace_version": r.docspace_version,
                "dropbox_path": r.dropbox_path,
                "rev": r.rev,
                "size": r.size,
                "content_hash": r.content_hash,
            })
        };
        match self {
            Outcome::Exported { record, mode } => {
                let mut v = rec(record);
                v["mode"] = json!(mode.as_str());
                v
            }
            Outcome::Unchanged { record } => {
                let mut v = rec(record);
                v["skipped"] = json!("this version is already in Dropbox");
                v
            }
            Outcome::Skipped { reason } => json!({ "skipped": reason }),
        }
    }
}

/// Skip reason of a file that DocSpace no longer has (the job succeeds with it).
pub const FILE_GONE: &str = "file no longer exists";

fn skipped(reason: &str) -> Outcome {
    Outcome::Skipped {
        reason: reason.to_string(),
    }
}

/// Exports one file (job and CLI).
pub async fn export(
    ctx: &JobContext,
    req: &FileExport,
    observer: Option<Arc<dyn Observer>>,
) -> Result<Outcome, JobError> {
    // In this process first (no store round trips while a sibling exports the file), then
    // across every process on the database.
    let _in_process = ctx.exports.locks.acquire(&req.file_id).await;
    let guard = ExportGuard::acquire(ctx, &req.file_id).await?;
    let outcome = export_guarded(ctx, req, observer, &guard).await;
    guard.release().await;
    outcome
}

async fn export_guarded(
    ctx: &JobContext,
    req: &FileExport,
    observer: Option<Arc<dyn Observer>>,
    guard: &ExportGuard,
) -> Result<Outcome, JobError> {
    let Some(info) = ctx.docspace.file_info(&req.file_id).await? else {
        return Ok(skipped(FILE_GONE));
    };
    let folders = match &info.folder_id {
        Some(folder) => match ctx.docspace.folder_path(folder).await {
            Ok(parts) => parts,
            Err(e) if e.is_not_found() => return Ok(skipped(FILE_GONE)),
            Err(e) => return Err(e.into()),
        },
        None => Vec::new(),
    };
    // Manual exports (API, CLI) are explicit requests and are not filtered.
    let filter = &ctx.config.export.folder_ids;
    if req.trigger.is_some()
        && !filter.is_empty()
        && !folders.iter().any(|p| filter.contains(&p.id))
    {
        return Ok(skipped("not under any folder of EXPORT_FOLDER_IDS"));
    }
    let wanted = match &req.folder {
        Some(folder) => path::in_folder(folder, &info.title),
        None => {
            let titles: Vec<String> = folders.into_iter().map(|p| p.title).collect();
            path::mirrored(&ctx.config.export.root, &titles, &info.title)
        }
    };

    // The mapping is by file id: later versions overwrite the file the first export created
    // (whatever autorename made of its name), unless an explicit folder asks for elsewhere.
    let here = |p: &str| match &req.folder {
        None => true,
        Some(_) => path::same_path(path::parent(p), path::parent(&wanted)),
    };
    let mut mapped = ctx
        .store
        .export(&req.file_id)
        .await?
        .filter(|r| here(&r.dropbox_path));
    if mapped.is_none() {
        // A first export committed earlier whose record was never written (its answer was
        // lost, or its job went away): its file is ours, not a name to avoid.
        let intent = ctx.store.export_intent(&req.file_id).await?;
        if let Some(intent) = intent.filter(|i| here(&i.dropbox_path)) {
            if let Some(record) = committed_earlier(ctx, guard, &req.file_id, &intent).await? {
                ctx.store.put_export(&record).await?;
                guard.forget_intent().await?;
                tracing::info!(file_id = %record.file_id, path = %record.dropbox_path, "an earlier commit of this file was found and recorded");
                if record.docspace_version == info.version {
                    return Ok(Outcome::Exported {
                        record,
                        mode: Mode::Add,
                    });
                }
                mapped = Some(record);
            }
        }
    }
    if let Some(r) = &mapped {
        if r.docspace_version == info.version && still_in_dropbox(ctx, r).await? {
            return Ok(Outcome::Unchanged { record: r.clone() });
        }
    }
    let (target, mode) = match (&mapped, &req.folder) {
        (Some(r), _) => (r.dropbox_path.clone(), Mode::Overwrite),
        (None, None) => (wanted, Mode::Add),
        (None, Some(_)) => (wanted, Mode::Copy),
    };

    let batcher = &ctx.exports.batcher;
    let active = batcher.register();
    if let Some(o) = &observer {
        o.started(&info, &target);
    }
    let progress: Option<Progress> = observer.map(|o| {
        let f: Progress = Arc::new(move |n| o.progress(n));
        f
    });
    let session = match transfer::to_session(ctx, &req.file_id, info.size, progress).await {
        Ok(s) => s,
        Err(TransferError::Gone) => return Ok(skipped(FILE_GONE)),
        Err(TransferError::Job(e)) => return Err(e),
    };
    let session_hash = session.content_hash.clone();
    let commit = match mode {
        Mode::Add => {
            // The commit carries the time it was decided on as its `client_modified`, which the
            // intent keeps: a file found later with these bytes is this commit's only if it
            // carries that time too, not a copy someone uploaded (which carries their file's).
            let stamp = chrono::Utc::now().format(STAMP_FORMAT).to_string();
            // Recorded before the commit: whatever happens to its answer, the next attempt
            // knows where these bytes went and does not add a second copy.
            guard
                .record_intent(&ExportIntent {
                    dropbox_path: target.clone(),
                    content_hash: session_hash.clone(),
                    docspace_version: info.version,
                    stamp: Some(stamp.clone()),
                })
                .await?;
            // Strict: identical bytes already at the path (a copy someone placed, or another
            // file's export) are a conflict too, not this file's to take over.
            CommitInfo {
                autorename: true,
                strict_conflict: true,
                client_modified: Some(stamp),
                ..CommitInfo::new(&target, WriteMode::Add)
            }
        }
        // Not strict: the same bytes already there (an earlier copy, or this one's lost
        // answer) are the copy asked for, and Dropbox answers with that file.
        Mode::Copy => {
            guard.check()?;
            CommitInfo {
                autorename: true,
                ..CommitInfo::new(&target, WriteMode::Add)
            }
        }
        Mode::Overwrite => {
            guard.check()?;
            CommitInfo::new(&target, WriteMode::Overwrite)
        }
    };
    let meta = batcher
        .commit(&ctx.dropbox, session, commit, guard.clone())
        .await?;
    drop(active);

    // Keep our casing of the folders; the name is Dropbox's (autorename may have changed it).
    let record = record_of(&req.file_id, info.version, &target, &meta, session_hash);
    if mode != Mode::Copy {
        guard.complete(&record).await?;
    }
    tracing::info!(file_id = %record.file_id, path = %record.dropbox_path, rev = %record.rev, size = record.size, mode = mode.as_str(), "file exported");
    Ok(Outcome::Exported { record, mode })
}

/// The export record of `meta`, committed for `target` (whose folder casing is kept).
fn record_of(
    file_id: &str,
    version: i64,
    target: &str,
    meta: &FileMetadata,
    hash: String,
) -> ExportRecord {
    ExportRecord {
        file_id: file_id.to_string(),
        docspace_version: version,
        dropbox_path: format!("{}/{}", path::parent(target), meta.name),
        dropbox_id: Some(meta.id.clone()),
        rev: meta.rev.clone(),
        content_hash: meta.content_hash.clone().unwrap_or(hash),
        size: i64::try_from(meta.size).unwrap_or(i64::MAX),
    }
}

/// How Dropbox writes `client_modified` (whole seconds, UTC).
const STAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

/// Whether `f` carries the `client_modified` a commit was sent with (any, when it was sent
/// without one).
pub(crate) fn carries_stamp(f: &FileMetadata, stamp: Option<&str>) -> bool {
    stamp.is_none_or(|s| f.client_modified == s)
}

/// Most autorenamed names (`name (1).ext`, …) looked at for an earlier commit.
const AUTORENAME_LOOKS: u32 = 20;

/// The file an earlier first-export commit left, found by its bytes: at the intended path, or
/// where autorename put it (the first free `name (n).ext` then, so the search stops at the first
/// name nothing holds now). A file another export is recorded at is passed over, whatever its
/// bytes: two DocSpace files can hold the same bytes and aim at one path.
async fn committed_earlier(
    ctx: &JobContext,
    guard: &ExportGuard,
    file_id: &str,
    intent: &ExportIntent,
) -> Result<Option<ExportRecord>, JobError> {
    for n in 0..=AUTORENAME_LOOKS {
        let candidate = match n {
            0 => intent.dropbox_path.clone(),
            n => path::autorenamed(&intent.dropbox_path, n),
        };
        match ctx.dropbox.get_metadata(&candidate, false).await? {
            None => return Ok(None),
            Some(Metadata::File(f))
                if f.content_hash
                    .as_deref()
                    .is_some_and(|h| h.eq_ignore_ascii_case(&intent.content_hash))
                    && carries_stamp(&f, intent.stamp.as_deref())
                    && !guard.held_by_another(&candidate).await? =>
            {
                return Ok(Some(record_of(
                    file_id,
                    intent.docspace_version,
                    &candidate,
                    &f,
                    intent.content_hash.clone(),
                )));
            }
            Some(_) => {}
        }
    }
    Ok(None)
}

/// The recorded export is still what Dropbox holds at its path (not deleted, not replaced).
async fn still_in_dropbox(ctx: &JobContext, r: &ExportRecord) -> Result<bool, JobError> {
    Ok(file_holding(&ctx.dropbox, &r.dropbox_path, &r.content_hash)
        .await?
        .is_some())
}

/// The file at `path`, if it holds exactly the bytes whose Dropbox content hash is `hash`.
async fn file_holding(
    dropbox: &DropboxClient,
    path: &str,
    hash: &str,
) -> Result<Option<FileMetadata>, DropboxError> {
    Ok(match dropbox.get_metadata(path, false).await? {
        Some(Metadata::File(f))
            if f.content_hash
                .as_deref()
                .is_some_and(|h| h.eq_ignore_ascii_case(hash)) =>
        {
            Some(f)
        }
        _ => None,
    })
}
