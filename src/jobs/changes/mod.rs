//! Change tracking, the work of `dropbox.changes` ([`crate::jobs::kinds`]): reads what changed in the bridge's Dropbox folders since
//! the stored cursor and repairs drift by enqueueing the jobs that own the repair. It never
//! creates, shares or uploads anything itself (apart from creating a missing watched root, see
//! below); `group.sync` restores group folders, `file.export` re-exports files.
//!
//! - **Whose changes.** The bridge holds one Dropbox token, so it can only read its own account,
//!   and every run reads that account, whichever account the notification that queued it named
//!   (a notification is only a hint to look). All `dropbox.changes` jobs therefore share one key:
//!   two never page the same cursor at once.
//! - **Cursor scope.** One cursor per (account, watched root), stored under the key
//!   `"<account_id>|<root lower-case>"` in the cursor table. The watched roots are `GROUPS_ROOT`
//!   and `EXPORT_ROOT` (one of them only when it lies inside the other). The common root `""`
//!   would page through every change in the whole Dropbox of the account just to drop almost
//!   all of it; a changed root setting also never continues a cursor that lists another folder.
//! - **First cursor.** `files/list_folder/get_latest_cursor` (recursive, with deletions) over
//!   the root. A root that does not exist yet is created first: the bridge creates it anyway on
//!   its first group sync or export, and a cursor taken only later would never see a deletion
//!   that happened in between (exports are not reconciled periodically, so it would be lost).
//! - **Paging.** Each page is reacted to (jobs enqueued in one transaction) and only then its
//!   cursor stored: a crash replays at most one page, whose reactions coalesce while queued.
//! - **`reset`.** The cursor is replaced by a fresh one and, since the changes in between are
//!   unknown, a full group reconcile (`groups.sync_all`) is enqueued (once per run, even when
//!   both roots were reset), and the root is listed to re-export every exported file below it
//!   that is gone or holds other bytes.
//! - **Reactions.** A deleted (or moved-away) path at or above an active group folder, or a
//!   group folder that is no longer the mapped shared folder → `group.sync` of that group. A
//!   deleted path that an exported file was mapped to → `file.export` of its DocSpace file
//!   (trigger `dropbox.deleted`). Everything else is counted and ignored. Every entry is counted
//!   in `bridge_dropbox_changes_total{reaction}`.

mod scope;

use std::collections::{BTreeSet, HashMap};

use serde_json::{json, Value};

use super::kinds::{DropboxChanges, FileExport, GroupSync, GroupsSyncAll, JobKind};
use super::{JobContext, JobError};
use crate::dropbox::{FolderMetadata, ListFolderArg, Metadata};
use crate::store::{ExportRecord, GroupFolder, NewJob};
/// Pages read in one run; a longer backlog continues in a follow-up job.
const MAX_PAGES_PER_RUN: usize = 500;
/// Ids listed in the result summary per reaction (the counts are always complete).
const MAX_LISTED: usize = 50;

/// Runs one `dropbox.changes` job, queued for `requested` (`None`: the periodic poll); it reads
/// the bridge's own account either way.
pub async fn run(ctx: &JobContext, requested: Option<&str>) -> Result<Value, JobError> {
    let me = ctx.dropbox.get_current_account().await?;
    let mut tally = Tally::default();
    let mut roots = Vec::new();
    for root in scope::watched_roots(&ctx.config.groups.root, &ctx.config.export.root) {
        roots.push(track_root(ctx, &me.account_id, &root, &mut tally).await?);
        if tally.more {
            break;
        }
    }
    if tally.more {
        let follow_up = DropboxChanges {
            account_id: requested.map(str::to_string),
        };
        ctx.store.enqueue(vec![follow_up.to_new_job()]).await?;
    }
    Ok(json!({
        "account_id": me.account_id,
        "roots": roots,
        "group_syncs": tally.group_syncs.len(),
        "group_ids": tally.group_syncs.iter().take(MAX_LISTED).collect::<Vec<_>>(),
        "file_exports": tally.file_exports.len(),
        "file_ids": tally.file_exports.iter().take(MAX_LISTED).collect::<Vec<_>>(),
        "ignored": tally.ignored,
        "more": tally.more,
    }))
}

/// Exported files below `root` that Dropbox no longer holds as exported (deleted, or replaced
/// by other bytes), found by listing the root: after a cursor reset, the changes that would
/// have said so are unknown.
async fn missing_exports(ctx: &JobContext, root: &str) -> Result<Vec<ExportRecord>, JobError> {
    let records = ctx.store.exports_under(root).await?;
    if records.is_empty() {
        return Ok(records);
    }
    let mut present: HashMap<String, String> = HashMap::new();
    let arg = ListFolderArg {
        recursive: true,
        ..ListFolderArg::new(root)
    };
    let mut page = match ctx.dropbox.list_folder(&arg).await {
        Ok(p) => Some(p),
        Err(e) if e.has_tag("path/not_found") => None,
        Err(e) => return Err(e.into()),
    };
    while let Some(p) = page.take() {
        for entry in p.entries {
            if let Metadata::File(f) = entry {
                if let (Some(path), Some(hash)) = (f.path_lower, f.content_hash) {
                    present.insert(path, hash);
                }
            }
        }
        if p.has_more {
            page = Some(ctx.dropbox.list_folder_continue(&p.cursor).await?);
        }
    }
    Ok(records
        .into_iter()
        .filter(|r| {
            present
                .get(&r.dropbox_path.to_lowercase())
                .is_none_or(|h| !h.eq_ignore_ascii_case(&r.content_hash))
        })
        .collect())
}

#[derive(Default)]
struct Tally {
    group_syncs: BTreeSet<String>,
    file_exports: BTreeSet<String>,
    ignored: u64,
    pages: usize,
    /// The page budget ran out; a follow-up job continues.
    more: bool,
    /// A full group reconcile was enqueued (once per run, however many roots were reset).
    full_reconcile: bool,
}

impl Tally {
    /// Queues one re-export of a file whose exported copy is gone (once per run).
    fn re_export(&mut self, file_id: &str, jobs: &mut Vec<NewJob>) {
        if self.file_exports.insert(file_id.to_string()) {
            jobs.push(FileExport::re_export(file_id).to_new_job());
        }
    }
}

fn count(reaction: &'static str, n: u64) {
    metrics::counter!("bridge_dropbox_changes_total", "reaction" => reaction).increment(n);
}

/// Continues (or starts) the cursor of one watched root; returns its summary.
async fn track_root(
    ctx: &JobContext,
    account_id: &str,
    root: &str,
    tally: &mut Tally,
) -> Result<Value, JobError> {
    let key = scope::cursor_key(account_id, root);
    let Some(mut cursor) = ctx.store.cursor(&key).await? else {
        let fresh = latest_cursor(ctx, root).await?;
        ctx.store.put_cursor(&key, &fresh).await?;
        return Ok(json!({ "root": root, "cursor": "created" }));
    };
    let (mut pages, mut entries) = (0usize, 0usize);
    let summary = |state: &str, pages: usize, entries: usize| json!({ "root": root, "cursor": state, "pages": pages, "entries": entries });
    loop {
        if tally.pages >= MAX_PAGES_PER_RUN {
            tally.more = true;
            return Ok(summary("continued", pages, entries));
        }
        match ctx.dropbox.list_folder_continue(&cursor).await {
            Ok(page) => {
                pages += 1;
                tally.pages += 1;
                entries += page.entries.len();
                react(ctx, page.entries, tally).await?;
                ctx.store.put_cursor(&key, &page.cursor).await?;
                cursor = page.cursor;
                if !page.has_more {
                    return Ok(summary("continued", pages, entries));
                }
            }
            Err(e) if e.has_tag("reset") => {
                tracing::warn!(
                    root,
                    "dropbox cursor reset; starting over with a full reconcile"
                );
                count("reset", 1);
                // The fresh cursor first: what changes during the scan below, it sees.
                let fresh = latest_cursor(ctx, root).await?;
                let mut jobs = Vec::new();
                if !std::mem::replace(&mut tally.full_reconcile, true) {
                    jobs.push(GroupsSyncAll::new().to_new_job());
                }
                let missing = missing_exports(ctx, root).await?;
                count("exported_file_deleted", missing.len() as u64);
                for rec in missing {
                    tally.re_export(&rec.file_id, &mut jobs);
                }
                // Enqueue before storing the fresh cursor: a crash in between resets again
                // rather than losing the reconcile.
                ctx.store.enqueue(jobs).await?;
                ctx.store.put_cursor(&key, &fresh).await?;
                return Ok(summary("reset", pages, entries));
            }
            Err(e) if e.has_tag("path/not_found") => {
                // The watched root itself is gone (some servers answer this rather than
                // listing its deletion): everything below it was deleted.
                tracing::warn!(root, "watched dropbox root was deleted; restoring");
                let gone = Metadata::Deleted(crate::dropbox::wire::DeletedMetadata {
                    name: root.rsplit('/').next().unwrap_or(root).to_string(),
                    path_lower: Some(root.to_lowercase()),
                    path_display: Some(root.to_string()),
                });
                react(ctx, vec![gone], tally).await?;
                let fresh = latest_cursor(ctx, root).await?;
                ctx.store.put_cursor(&key, &fresh).await?;
                return Ok(summary("root_recreated", pages, entries));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// A cursor that sees changes below `root` from now on, creating `root` if it is missing.
async fn latest_cursor(ctx: &JobContext, root: &str) -> Result<String, JobError> {
    let arg = ListFolderArg {
        recursive: true,
        include_deleted: true,
        ..ListFolderArg::new(root)
    };
    match ctx.dropbox.list_folder_get_latest_cursor(&arg).await {
        Ok(c) => Ok(c),
        Err(e) if e.has_tag("path/not_found") => {
            match ctx.dropbox.create_folder_v2(root, false).await {
                Ok(_) => {}
                Err(e) if e.has_tag("path/conflict/folder") => {}
                Err(e) => return Err(e.into()),
            }
            Ok(ctx.dropbox.list_folder_get_latest_cursor(&arg).await?)
        }
        Err(e) => Err(e.into()),
    }
}

/// Decides the reactions to one page and enqueues them in one transaction.
async fn react(
    ctx: &JobContext,
    entries: Vec<Metadata>,
    tally: &mut Tally,
) -> Result<(), JobError> {
    let entries = scope::newest_per_path(entries);
    if entries.is_empty() {
        return Ok(());
    }
    // Read per page: a group sync running meanwhile may have moved or re-shared a folder.
    let folders = ctx.store.group_folders().await?;
    let mut jobs: Vec<NewJob> = Vec::new();
    let mut ignored = 0u64;
    for entry in &entries {
        match entry {
            Metadata::Deleted(d) => {
                let Some(path) = d.path_lower.as_deref() else {
                    ignored += 1;
                    continue;
                };
                let mut acted = false;
                for g in scope::groups_under(path, &folders) {
                    count("group_folder_deleted", 1);
                    if tally.group_syncs.insert(g.group_id.clone()) {
                        jobs.push(GroupSync::new(g.group_id.as_str()).to_new_job());
                    }
                    acted = true;
                }
                // The path itself or a folder above exported files (their deletion is not
                // listed separately).
                for rec in ctx.store.exports_under(path).await? {
                    count("exported_file_deleted", 1);
                    tally.re_export(&rec.file_id, &mut jobs);
                    acted = true;
                }
                if !acted {
                    ignored += 1;
                }
            }
            Metadata::Folder(f) => {
                let group = f
                    .path_lower
                    .as_deref()
                    .and_then(|p| scope::group_at(p, &folders));
                match group {
                    Some(g) if !is_mapped_share(f, g) && !still_mapped_share(ctx, f, g).await? => {
                        count("group_folder_unshared", 1);
                        if tally.group_syncs.insert(g.group_id.clone()) {
                            jobs.push(GroupSync::new(g.group_id.as_str()).to_new_job());
                        }
                    }
                    _ => ignored += 1,
                }
            }
            Metadata::File(_) | Metadata::Other => ignored += 1,
        }
    }
    if ignored > 0 {
        count("ignored", ignored);
        tally.ignored += ignored;
    }
    if !jobs.is_empty() {
        ctx.store.enqueue(jobs).await?;
    }
    Ok(())
}

/// Whether this folder entry is the shared folder the group is mapped to (or, before the
/// mapping knows its id, any shared folder).
fn is_mapped_share(f: &FolderMetadata, g: &GroupFolder) -> bool {
    let sf = f
        .sharing_info
        .as_ref()
        .and_then(|s| s.shared_folder_id.as_deref());
    match (sf, g.shared_folder_id.as_deref()) {
        (Some(seen), Some(mapped)) => seen == mapped,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// Confirms an entry that looks unshared against the folder's current state: a group sync in
/// progress creates the folder before sharing it, and that intermediate entry needs no repair.
async fn still_mapped_share(
    ctx: &JobContext,
    f: &FolderMetadata,
    g: &GroupFolder,
) -> Result<bool, JobError> {
    let path = f.path_display.as_deref().unwrap_or(g.path.as_str());
    match ctx.dropbox.get_metadata(path, false).await? {
        Some(Metadata::Folder(now)) => Ok(is_mapped_share(&now, g)),
        _ => Ok(false),
    }
}
