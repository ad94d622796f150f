//! The `file.export` job (DESIGN section 4): one DocSpace file streamed to Dropbox.
//!
//! Owns the decisions of an export: the loop guard (events caused by the bridge's own DocSpace
//! user), the `EXPORT_FOLDER_IDS` filter, where the file goes ([`path`]), whether anything needs
//! uploading (the stored mapping DocSpace file id → Dropbox path, rev, version, content hash),
//! and how it is committed: `add` + autorename the first time, `overwrite` of the mapped file for
//! later versions, always through the shared commit [`batch`]er. The byte transfer lives in
//! `transfer`. It uses the DocSpace and Dropbox clients and the store; it knows nothing of HTTP
//! and must not touch group-folder or change-tracking state.

mod batch;
pub mod path;
mod safe;
mod threads;
mod transfer;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{json, Value};
use tokio::sync::OwnedMutexGuard;

use crate::docspace::FileInfo;
use crate::dropbox::{
    CommitInfo, DropboxClient, DropboxError, FileMetadata, Metadata, Progress, WriteMode,
};
use crate::store::{ExportRecord, Job};

use super::{JobContext, JobError};
use batch::Batcher;
use transfer::TransferError;

/// What to export, from a job payload (`triggers::file_export`) or the CLI.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportRequest {
    pub file_id: String,
    /// Explicit Dropbox folder (manual exports); `None` mirrors the DocSpace path under
    /// `EXPORT_ROOT`.
    pub folder: Option<String>,
    /// The DocSpace trigger that caused it; `None` for manual exports.
    pub trigger: Option<String>,
    /// DocSpace user whose action fired the event (loop guard).
    pub created_by: Option<String>,
}

impl ExportRequest {
    pub fn from_payload(payload: &Value) -> Result<Self, JobError> {
        let text = |k: &str| {
            payload
                .get(k)
                .and_then(|v| match v {
                    Value::String(s) => Some(s.trim().to_string()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .filter(|s| !s.is_empty())
        };
        let file_id = text("file_id")
            .ok_or_else(|| JobError::permanent("file.export payload has no file_id"))?;
        Ok(Self {
            file_id,
            folder: text("folder"),
            trigger: text("trigger"),
            created_by: text("created_by"),
        })
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
    Exported {
        record: ExportRecord,
        /// `true` for the first export of the file (`add` + autorename).
        first: bool,
    },
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
            Outcome::Exported { record, first } => {
                let mut v = rec(record);
                v["mode"] = json!(if *first { "add" } else { "overwrite" });
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

/// Entry point from `jobs::run`.
pub async fn run(job: &Job, ctx: &JobContext) -> Result<Value, JobError> {
    let req = ExportRequest::from_payload(&job.payload)?;
    export(ctx, &req, None).await.map(|o| o.to_json())
}

/// Exports one file (job and CLI).
pub async fn export(
    ctx: &JobContext,
    req: &ExportRequest,
    observer: Option<Arc<dyn Observer>>,
) -> Result<Outcome, JobError> {
    let _one_at_a_time =
        FileLock::acquire(&format!("{}#{}", ctx.config.docspace.url, req.file_id)).await;

    if let Some(by) = &req.created_by {
        // The webhook handler filters these too, but only once it knows its own user id.
        if self_user_id(ctx).await?.eq_ignore_ascii_case(by) {
            return Ok(skipped("event caused by the bridge's own DocSpace user"));
        }
    }
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

    let record = ctx.store.export(&req.file_id).await?;
    // The mapping is by file id: later versions overwrite the file the first export created
    // (whatever autorename made of its name), unless an explicit folder asks for elsewhere.
    let mapped = record.filter(|r| match &req.folder {
        None => true,
        Some(_) => path::same_path(path::parent(&r.dropbox_path), path::parent(&wanted)),
    });
    if let Some(r) = &mapped {
        if r.docspace_version == info.version && still_in_dropbox(ctx, r).await? {
            return Ok(Outcome::Unchanged { record: r.clone() });
        }
    }
    let (target, first) = match &mapped {
        Some(r) => (r.dropbox_path.clone(), false),
        None => (wanted, true),
    };

    let batcher = Batcher::for_endpoint(ctx.config.dropbox.api_url.as_str());
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
    let commit = if first {
        CommitInfo {
            autorename: true,
            ..CommitInfo::new(&target, WriteMode::Add)
        }
    } else {
        CommitInfo::new(&target, WriteMode::Overwrite)
    };
    let session_hash = session.content_hash.clone();
    let meta = batcher.commit(&ctx.dropbox, session, commit).await?;
    drop(active);

    // Keep our casing of the folders; the name is Dropbox's (autorename may have changed it).
    let dropbox_path = format!("{}/{}", path::parent(&target), meta.name);
    let record = ExportRecord {
        file_id: req.file_id.clone(),
        docspace_version: info.version,
        dropbox_path,
        dropbox_id: Some(meta.id.clone()),
        rev: meta.rev.clone(),
        content_hash: meta.content_hash.clone().unwrap_or(session_hash),
        size: i64::try_from(meta.size).unwrap_or(i64::MAX),
    };
    ctx.store.put_export(&record).await?;
    tracing::info!(file_id = %record.file_id, path = %record.dropbox_path, rev = %record.rev, size = record.size, "file exported");
    Ok(Outcome::Exported { record, first })
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

/// The API key's own DocSpace user id, asked once per portal per process.
async fn self_user_id(ctx: &JobContext) -> Result<String, JobError> {
    static CACHE: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = ctx.config.docspace.url.to_string();
    if let Some(id) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(id.clone());
    }
    let me = ctx.docspace.me().await?;
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, me.id.clone());
    Ok(me.id)
}

/// Serialises exports of the same file within this process, so that two quick events for a new
/// file cannot both take the `add` path and leave `name (1).ext` behind.
struct FileLock {
    key: String,
    guard: Option<OwnedMutexGuard<()>>,
}

type LockMap = Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>;

fn lock_map() -> &'static LockMap {
    static LOCKS: OnceLock<LockMap> = OnceLock::new();
    LOCKS.get_or_init(Default::default)
}

impl FileLock {
    async fn acquire(key: &str) -> FileLock {
        let m = lock_map()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.to_string())
            .or_default()
            .clone();
        FileLock {
            key: key.to_string(),
            guard: Some(m.lock_owned().await),
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let Some(guard) = self.guard.take() else {
            return;
        };
        let m = Arc::clone(OwnedMutexGuard::mutex(&guard));
        drop(guard);
        let mut map = lock_map().lock().unwrap_or_else(|p| p.into_inner());
        // The map and `m` are the only holders: nobody is waiting for this file.
        if Arc::strong_count(&m) <= 2 {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_parsing() {
        let r = ExportRequest::from_payload(&json!({
            "file_id": 42, "folder": null, "trigger": "file.updated", "created_by": "u"
        }))
        .expect("valid");
        assert_eq!(r.file_id, "42");
        assert_eq!(r.folder, None);
        assert_eq!(r.trigger.as_deref(), Some("file.updated"));
        assert!(ExportRequest::from_payload(&json!({})).is_err());
    }
}
