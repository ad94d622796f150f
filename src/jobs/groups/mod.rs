//! Group folders: the work of `group.sync`, `group.delete` and `groups.sync_all`
//! ([`crate::jobs::kinds`]).
//!
//! Every run is a reconcile, never a replay: read the group from DocSpace, the folder and its
//! members from Dropbox and the bridge's own records from the store, plan the difference
//! ([`plan`]), apply it ([`apply`]). A second run over an unchanged world makes no write call.
//! This module owns observing the current state, the targets of a full reconcile, and the one-shot
//! reconcile used by the `sync-groups` command and the benchmark. It never deletes a folder or
//! its files, never removes or changes the access of the folder owner or people someone added
//! by hand, and never lets a group take over a shared folder mapped to another group. A shared
//! folder deleted in Dropbox is only unmounted there; the reconcile mounts the same folder again.

pub mod apply;
pub mod plan;
pub mod safe_name;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::{json, Value};

use super::{JobContext, JobError};
use crate::config::OnGroupDeleted;
use crate::dropbox::wire::SharedFolderAccessError;
use crate::dropbox::{AccessLevel, DropboxError};
use crate::store::{path_key, GroupFolder};
use plan::{AccessUpdate, FolderState, MemberFailure, Observed, Plan, Removal};

/// How many groups the one-shot reconcile works on at once (DocSpace stays under its own cap of 10).
pub const DEFAULT_CONCURRENCY: usize = 8;

/// What one group run did (or, in a dry run, would do); the job's result JSON.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub group_id: String,
    pub group: String,
    /// The group's folder path.
    pub folder: Option<String>,
    pub shared_folder_id: Option<String>,
    /// The folder was (re)shared: created, or restored after it was unshared.
    pub created: bool,
    /// The folder had been deleted in Dropbox (which only unmounts a shared folder) and the
    /// same shared folder was mounted again, with its id, members and content.
    pub mounted: bool,
    pub moved_from: Option<String>,
    /// The group's own path (or the folder shared there) belongs to another group, so this
    /// group's folder went to its fallback path instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clash: Option<Clash>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Members the bridge added whose access level was set to `GROUP_MEMBER_ACCESS`.
    pub updated: Vec<AccessUpdate>,
    /// Members that could not be invited, removed or updated, with the provider's tag.
    pub errors: Vec<MemberFailure>,
    /// The group is gone from DocSpace and `ON_GROUP_DELETED` was applied.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<&'static str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

/// Why a group did not get the path its name asks for: another group's mapping holds it, or the
/// shared folder Dropbox has there is mapped to another group. A shared folder mapped to one
/// group is never taken over by another.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Clash {
    /// The path the group's name asks for.
    pub path: String,
    /// The group it belongs to.
    pub group_id: String,
    /// That group's shared folder, when known.
    pub shared_folder_id: Option<String>,
}

/// A group's planned work: a reconcile, or the deletion policy for a group DocSpace no longer has.
#[derive(Debug, Clone)]
pub enum GroupPlan {
    Sync(Box<Observed>, Plan),
    Delete(DeletePlan),
}

#[derive(Debug, Clone, Serialize)]
pub struct DeletePlan {
    pub group_id: String,
    pub mapping: Option<GroupFolderView>,
    pub policy: &'static str,
    pub remove: Vec<Removal>,
    pub forget: Vec<String>,
}

/// The stored mapping, as shown in plans.
#[derive(Debug, Clone, Serialize)]
pub struct GroupFolderView {
    pub group_name: String,
    pub path: String,
    pub shared_folder_id: Option<String>,
    pub active: bool,
}

impl From<&GroupFolder> for GroupFolderView {
    fn from(m: &GroupFolder) -> Self {
        Self {
            group_name: m.group_name.clone(),
            path: m.path.clone(),
            shared_folder_id: m.shared_folder_id.clone(),
            active: m.active,
        }
    }
}

impl Report {
    /// The job's result JSON.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_else(|e| json!({ "error": e.to_string() }))
    }
}

// --- targets of a full reconcile -------------------------------------------------------------

/// The groups a full reconcile covers.
pub(crate) struct Targets {
    pub ids: Vec<String>,
    /// How many of `ids` DocSpace listed (the rest are mapped groups it no longer has).
    pub listed: usize,
}

/// Every DocSpace group, plus every mapped group DocSpace no longer lists (a deletion whose
/// webhook never came).
pub(crate) async fn all_targets(ctx: &JobContext) -> Result<Targets, JobError> {
    let groups = ctx.docspace.list_all_groups().await?;
    let mut ids: Vec<String> = groups
        .iter()
        .filter(|g| !g.is_system)
        .map(|g| g.id.clone())
        .collect();
    let listed = ids.len();
    let known: HashSet<String> = groups.into_iter().map(|g| g.id.to_lowercase()).collect();
    for m in ctx.store.group_folders().await? {
        if m.active && !known.contains(&m.group_id.to_lowercase()) {
            ids.push(m.group_id);
        }
    }
    Ok(Targets { ids, listed })
}

// --- observe and plan ------------------------------------------------------------------------

/// The shared folder no longer exists for us: unshared (its id is unknown) or the account is not
/// a member. Sharing the path again is the repair.
pub(crate) fn folder_gone(e: &DropboxError) -> bool {
    matches!(
        e.shared_folder_access(),
        Some(SharedFolderAccessError::InvalidId | SharedFolderAccessError::NotAMember)
    )
}

/// The shared folder is unmounted (deleted from the account's Dropbox): mounting it is the repair.
pub(crate) fn folder_unmounted(e: &DropboxError) -> bool {
    e.shared_folder_access() == Some(SharedFolderAccessError::Unmounted)
}

/// Where the mapped shared folder is and who is in it. An unmounted folder's members are listed
/// again once it is mounted.
async fn observe_folder(
    ctx: &JobContext,
    mapping: Option<&GroupFolder>,
) -> Result<(FolderState, BTreeMap<String, plan::FolderMember>), JobError> {
    let Some(sf) = mapping.and_then(|m| m.shared_folder_id.clone()) else {
        return Ok((FolderState::Missing, BTreeMap::new()));
    };
    let (meta, members) = tokio::join!(
        ctx.dropbox.get_folder_metadata(&sf),
        ctx.dropbox.list_folder_members(&sf)
    );
    let unmounted = || FolderState::Unmounted {
        shared_folder_id: sf.clone(),
    };
    let path = match meta {
        Ok(meta) => meta.path_display.filter(|p| !p.is_empty()),
        Err(e) if folder_gone(&e) => return Ok((FolderState::Missing, BTreeMap::new())),
        Err(e) if folder_unmounted(&e) => None,
        Err(e) => return Err(e.into()),
    };
    let members = match members {
        Ok(m) => plan::folder_members(&m),
        Err(e) if folder_gone(&e) => return Ok((FolderState::Missing, BTreeMap::new())),
        Err(e) if folder_unmounted(&e) => return Ok((unmounted(), BTreeMap::new())),
        Err(e) => return Err(e.into()),
    };
    // The owner's metadata has no path while the folder is unmounted.
    let state = match path {
        Some(path) => FolderState::Shared {
            shared_folder_id: sf,
            path,
        },
        None => unmounted(),
    };
    Ok((state, members))
}

async fn added_set(ctx: &JobContext, group_id: &str) -> Result<BTreeSet<String>, JobError> {
    Ok(ctx
        .store
        .added_members(group_id)
        .await?
        .into_iter()
        .map(|e| e.to_lowercase())
        .collect())
}

/// The Dropbox accounts of the members the bridge added, by lower-cased email, where known.
async fn known_accounts(
    ctx: &JobContext,
    group_id: &str,
) -> Result<BTreeMap<String, String>, JobError> {
    Ok(ctx
        .store
        .member_accounts(group_id)
        .await?
        .into_iter()
        .map(|(e, a)| (e.to_lowercase(), a))
        .collect())
}

/// Reads DocSpace, Dropbox and the store (no write anywhere) and plans one group.
/// `taken(path)`: whether another group's mapping owns `path`; jobs pass `|_| false` and let
/// the store's unique path decide when they claim it.
pub async fn plan_group(
    ctx: &JobContext,
    group_id: &str,
    taken: &(dyn Fn(&str) -> bool + Sync),
) -> Result<GroupPlan, JobError> {
    let mapping = ctx.store.group_folder(group_id).await?;
    let added = added_set(ctx, group_id).await?;
    let accounts = known_accounts(ctx, group_id).await?;
    // DocSpace and Dropbox are read at the same time: most runs change nothing.
    let (group, observed) = tokio::join!(
        ctx.docspace.group_with_members(group_id),
        observe_folder(ctx, mapping.as_ref())
    );
    let (folder, members) = observed?;
    let members = plan::with_known_accounts(members, &accounts);
    let Some(group) = group? else {
        return plan_delete(ctx, group_id, mapping, added, (folder, members));
    };
    let obs = Observed {
        group,
        mapping,
        folder,
        members,
        added,
        accounts,
        refused: ctx
            .store
            .member_refusals(group_id, ctx.config.groups.refusal_retry)
            .await?
            .into_iter()
            .collect(),
    };
    let access = AccessLevel::from(ctx.config.groups.member_access);
    let p = plan::plan_sync(&ctx.config.groups.root, access, &obs, taken);
    Ok(GroupPlan::Sync(Box::new(obs), p))
}

fn plan_delete(
    ctx: &JobContext,
    group_id: &str,
    mapping: Option<GroupFolder>,
    added: BTreeSet<String>,
    (folder, members): (FolderState, BTreeMap<String, plan::FolderMember>),
) -> Result<GroupPlan, JobError> {
    let policy = match ctx.config.groups.on_deleted {
        OnGroupDeleted::Revoke => "revoke",
        OnGroupDeleted::Keep => "keep",
    };
    let (mut remove, mut forget) = (Vec::new(), Vec::new());
    // A readable folder always lists its owner: no members at all means Dropbox refused to list
    // an unmounted folder's. Revoking then would take everyone added for gone and forget them
    // while they keep their access, so it waits until the folder can be read.
    if policy == "revoke"
        && members.is_empty()
        && matches!(folder, FolderState::Unmounted { .. })
        && !added.is_empty()
    {
        return Err(JobError::retry(
            "the group's shared folder is unmounted and Dropbox refuses to list its members: \
             the members the bridge added are revoked once it can read them (mount the folder \
             in Dropbox to do it now)",
        ));
    }
    if policy == "revoke" {
        // Nobody is wanted any more; only people the bridge added leave.
        (remove, forget) = plan::departures(&members, &added, &BTreeSet::new());
    }
    Ok(GroupPlan::Delete(DeletePlan {
        group_id: group_id.to_string(),
        mapping: mapping.as_ref().map(GroupFolderView::from),
        policy,
        remove,
        forget,
    }))
}

/// Reconciles one group now (the body of `group.sync` and `group.delete`).
pub async fn sync_group(ctx: &JobContext, group_id: &str) -> Result<Report, JobError> {
    let p = plan_group(ctx, group_id, &|_| false).await?;
    apply::apply(ctx, p).await
}

// --- one-shot reconcile (CLI, benchmark) -----------------------------------------------------

/// One group's outcome in a one-shot reconcile.
#[derive(Debug)]
pub struct GroupRun {
    pub group_id: String,
    pub plan: Option<GroupPlan>,
    pub result: Result<Report, JobError>,
}

/// Reconciles `ids` (or every group, plus mapped groups DocSpace no longer has) directly, at most
/// `concurrency` groups at a time, calling `on_done` as each finishes. With `dry_run` it only
/// reads and plans; reports then say what would happen.
pub async fn reconcile_groups(
    ctx: &JobContext,
    ids: Option<Vec<String>>,
    dry_run: bool,
    concurrency: usize,
    on_start: impl FnOnce(usize),
    on_done: impl Fn(&GroupRun),
) -> Result<Vec<GroupRun>, JobError> {
    let ids = match ids {
        Some(ids) if !ids.is_empty() => ids,
        _ => all_targets(ctx).await?.ids,
    };
    on_start(ids.len());
    // Dry runs simulate path claims so that two new groups with colliding names plan two folders.
    let claims: Arc<Mutex<HashMap<String, String>>> = Arc::new(Mutex::new(HashMap::new()));
    if dry_run {
        let mappings = ctx.store.group_folders().await?;
        let mut c = claims.lock().unwrap_or_else(|e| e.into_inner());
        for m in mappings {
            c.insert(path_key(&m.path), m.group_id);
        }
    }
    let on_done = &on_done;
    let runs = stream::iter(ids)
        .map(|id| {
            let claims = claims.clone();
            async move {
                let run = if dry_run {
                    dry_run_one(ctx, &id, &claims).await
                } else {
                    GroupRun {
                        result: sync_group(ctx, &id).await,
                        group_id: id,
                        plan: None,
                    }
                };
                on_done(&run);
                run
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    Ok(runs)
}

async fn dry_run_one(
    ctx: &JobContext,
    id: &str,
    claims: &Mutex<HashMap<String, String>>,
) -> GroupRun {
    let taken = |path: &str| {
        let c = claims.lock().unwrap_or_else(|e| e.into_inner());
        c.get(&path_key(path)).is_some_and(|owner| owner != id)
    };
    let planned = plan_group(ctx, id, &taken).await;
    if let Ok(GroupPlan::Sync(_, p)) = &planned {
        let mut c = claims.lock().unwrap_or_else(|e| e.into_inner());
        c.insert(path_key(&p.path), id.to_string());
    }
    match planned {
        Ok(p) => GroupRun {
            group_id: id.to_string(),
            result: Ok(apply::report_of_plan(&p)),
            plan: Some(p),
        },
        Err(e) => GroupRun {
            group_id: id.to_string(),
            plan: None,
            result: Err(e),
        },
    }
}
