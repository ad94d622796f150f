//! Carries out a [`GroupPlan`]: claims the group's path in the store, moves the folder, mounts
//! it again after it was deleted in Dropbox (same shared folder, same members), or (re)shares
//! it, never taking over a shared folder mapped to another group; invites missing members in as
//! few `add_folder_member` calls as Dropbox accepts,
//! removes members the bridge added who left, and sets the access level of members the bridge
//! added back to `GROUP_MEMBER_ACCESS`. Owns the per-member error handling: a member Dropbox
//! refuses for good is reported with its tag and does not block the others; transient failures
//! end the run with a retryable error (every step is safe to repeat).

use serde_json::Value;

use super::plan::{self, AccessUpdate, FolderState, MemberFailure, Observed, Plan, Removal};
use super::{folder_gone, Clash, DeletePlan, GroupPlan, Report};
use crate::dropbox::{AccessLevel, DropboxError, MemberSelector, Metadata};
use crate::jobs::{JobContext, JobError};
use crate::store::{GroupFolder, StoreError};

/// `add_folder_member` errors that concern the members in the call rather than the folder:
/// the batch is split until the refused members are found.
const MEMBER_TAGS: &[&str] = &[
    "bad_member",
    "cant_share_outside_team",
    "too_many_members",
    "too_many_pending_invites",
    "rate_limit",
    "too_many_invitees",
];

/// `add_folder_member` and `share_folder` errors about the bridge's own account (SPEC
/// `AddFolderMemberError`, `ShareFolderErrorBase`: `email_unverified` "This user's email
/// address is not verified…", `banned_member` "The current user has been banned"), whoever is
/// invited: the run fails with what to do.
const ACCOUNT_TAGS: &[(&str, &str)] = &[
    (
        "email_unverified",
        "Dropbox lets no one be invited until the bridge's Dropbox account has verified its \
         email address (https://www.dropbox.com/help/317); verify it, then sync the group",
    ),
    (
        "banned_member",
        "the bridge's Dropbox account has been banned from sharing; nobody can be invited with it",
    ),
];

/// After one member is refused with these, nobody else can be invited to this folder now.
const CAPACITY_TAGS: &[&str] = &["too_many_members", "rate_limit"];

/// The run's end when `e` is about the bridge's own account (see [`ACCOUNT_TAGS`]).
fn account_refusal(e: &DropboxError) -> Option<JobError> {
    ACCOUNT_TAGS
        .iter()
        .find(|(tag, _)| e.has_tag(tag))
        .map(|(_, why)| JobError::permanent(format!("{e}: {why}")))
}

pub async fn apply(ctx: &JobContext, plan: GroupPlan) -> Result<Report, JobError> {
    match plan {
        GroupPlan::Sync(obs, p) => apply_sync(ctx, *obs, p).await,
        GroupPlan::Delete(d) => apply_delete(ctx, d).await,
    }
}

/// What a plan would do, as a report (dry run).
pub fn report_of_plan(plan: &GroupPlan) -> Report {
    match plan {
        GroupPlan::Sync(obs, p) => Report {
            group_id: p.group_id.clone(),
            group: p.group_name.clone(),
            folder: Some(p.path.clone()),
            shared_folder_id: obs.folder.shared_folder_id().map(str::to_string),
            created: matches!(p.folder, plan::FolderStep::Share),
            mounted: matches!(p.folder, plan::FolderStep::Mount { .. }),
            moved_from: match &p.folder {
                plan::FolderStep::Move { from, .. } => Some(from.clone()),
                _ => None,
            },
            added: p.add.clone(),
            removed: p.remove.iter().map(|r| r.email.clone()).collect(),
            updated: p.update.clone(),
            errors: p.skipped.clone(),
            dry_run: true,
            ..Report::default()
        },
        GroupPlan::Delete(d) => Report {
            group_id: d.group_id.clone(),
            group: d
                .mapping
                .as_ref()
                .map(|m| m.group_name.clone())
                .unwrap_or_default(),
            folder: d.mapping.as_ref().map(|m| m.path.clone()),
            shared_folder_id: d.mapping.as_ref().and_then(|m| m.shared_folder_id.clone()),
            removed: d.remove.iter().map(|r| r.email.clone()).collect(),
            deleted: true,
            policy: Some(d.policy),
            dry_run: true,
            ..Report::default()
        },
    }
}

async fn apply_sync(ctx: &JobContext, obs: Observed, p: Plan) -> Result<Report, JobError> {
    let g = &obs.group.group;
    let mut report = Report {
        group_id: g.id.clone(),
        group: g.name.clone(),
        ..Report::default()
    };

    // 1. The folder: keep, move, mount again, or (re)share. A group that already has a folder
    //    keeps its stored path until the folder is at the new one: the old path is released only
    //    once the move succeeded, so no other group can claim it while the folder is still there.
    let (sf, path, members) = match obs.folder.clone() {
        FolderState::Shared {
            shared_folder_id,
            path: current,
        } => {
            let path = destination(ctx, &obs, &p, &mut report).await?;
            if !plan::same_place(&current, &path) {
                move_folder(ctx, &current, &path).await?;
                report.moved_from = Some(current);
            }
            (shared_folder_id, path, obs.members.clone())
        }
        FolderState::Unmounted { shared_folder_id } => {
            let path = destination(ctx, &obs, &p, &mut report).await?;
            let mounted_at = mount(ctx, &shared_folder_id).await?;
            report.mounted = true;
            if !plan::same_place(&mounted_at, &path) {
                move_folder(ctx, &mounted_at, &path).await?;
            }
            // Members kept their access while it was unmounted; read them as they are now.
            let members = list_members(ctx, &shared_folder_id).await?;
            (shared_folder_id, path, members)
        }
        FolderState::Missing => share_missing(ctx, &obs, &p, &mut report).await?,
    };

    // 2. Remember group ↔ shared folder (before anyone is invited: the store's unique shared
    //    folder id is the last word on whose folder it is).
    let want = GroupFolder {
        group_id: g.id.clone(),
        group_name: g.name.clone(),
        path: path.clone(),
        shared_folder_id: Some(sf.clone()),
        active: true,
    };
    if obs.mapping.as_ref() != Some(&want) {
        put_mapping(ctx, &want).await?;
    }
    report.folder = Some(path);
    report.shared_folder_id = Some(sf.clone());

    // 3. Members, from what the folder holds now. The accounts of members listed under the
    //    address they were invited with are remembered: should an account's owner change its
    //    email, it is still known as that member (and removed once they leave the group).
    let members = plan::with_known_accounts(members, &obs.accounts);
    let learnt = plan::accounts_to_learn(&members, &obs.added, &obs.accounts);
    if !learnt.is_empty() {
        ctx.store.record_member_accounts(&g.id, &learnt).await?;
    }
    let access = AccessLevel::from(ctx.config.groups.member_access);
    let changes = plan::member_changes(
        &plan::desired_emails(&obs.group),
        &members,
        &obs.added,
        &obs.refused,
        access,
    );
    report.errors.extend(changes.skipped);
    for email in &changes.forget {
        ctx.store.record_member_removed(&g.id, email).await?;
    }
    remove_members(ctx, &g.id, &sf, &changes.remove, &mut report).await?;
    update_members(ctx, &sf, access, &changes.update, &mut report).await?;
    add_members(ctx, &g.id, &sf, changes.add, &mut report).await?;
    report.added.sort();
    report.removed.sort();
    report.updated.sort_by(|a, b| a.email.cmp(&b.email));
    Ok(report)
}

/// Shares the group's folder when it has none (new group, or its folder was unshared): claims a
/// path, moves an unshared folder left at the old path there, shares it, and never takes a
/// shared folder that is mapped to another group (the fallback path is used instead).
async fn share_missing(
    ctx: &JobContext,
    obs: &Observed,
    p: &Plan,
    report: &mut Report,
) -> Result<(String, String, Members), JobError> {
    let name = &obs.group.group.name;
    let mut path = match &obs.mapping {
        None => claim_path(ctx, p, name, report).await?,
        Some(m) if m.path == p.path => p.path.clone(),
        Some(_) => destination(ctx, obs, p, report).await?,
    };
    if let Some(old) = obs.mapping.as_ref().map(|m| m.path.as_str()) {
        if !plan::same_place(old, &path) && movable_folder_at(ctx, old, &p.group_id).await? {
            move_folder(ctx, old, &path).await?;
            report.moved_from = Some(old.to_string());
        }
    }
    let (mut meta, mut fresh) = match ctx.dropbox.share_folder_fresh(&path).await {
        Ok(shared) => shared,
        Err(e) => return Err(account_refusal(&e).unwrap_or_else(|| e.into())),
    };
    if let Some(owner) = owner_of_share(ctx, &meta.shared_folder_id, &p.group_id).await? {
        // `share_folder` answers with the folder already shared at the path: someone else's.
        report.clash = Some(Clash {
            path: path.clone(),
            group_id: owner.group_id.clone(),
            shared_folder_id: Some(meta.shared_folder_id.clone()),
        });
        if path == p.fallback_path {
            return Err(owned_elsewhere(&path, &owner));
        }
        path = p.fallback_path.clone();
        if obs.mapping.is_none() {
            claim(ctx, p, name, &path).await?;
        } else if held_by_other(ctx, &path, &p.group_id).await?.is_some() {
            return Err(JobError::permanent(format!(
                "group folder path taken: both {} and {} belong to other groups",
                p.path, p.fallback_path
            )));
        }
        (meta, fresh) = ctx.dropbox.share_folder_fresh(&path).await?;
        if let Some(owner) = owner_of_share(ctx, &meta.shared_folder_id, &p.group_id).await? {
            return Err(owned_elsewhere(&path, &owner));
        }
    }
    report.created = true;
    // A share this run made, outside any other shared folder, has its owner alone in it; one
    // shared earlier by someone, or nested in a shared or team folder, may have more members.
    let alone = fresh && meta.parent_shared_folder_id.is_none() && !meta.is_inside_team_folder;
    let members = if alone {
        plan::owner_alone(&ctx.dropbox.current_account().await?)
    } else {
        list_members(ctx, &meta.shared_folder_id).await?
    };
    Ok((meta.shared_folder_id, path, members))
}

type Members = std::collections::BTreeMap<String, plan::FolderMember>;

async fn list_members(ctx: &JobContext, sf: &str) -> Result<Members, JobError> {
    match ctx.dropbox.list_folder_members(sf).await {
        Ok(m) => Ok(plan::folder_members(&m)),
        Err(e) if e.is_shared_folder_gone() => Err(JobError::retry(format!(
            "{e}: shared folder vanished while reconciling"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// The path a group that already has a mapping goes to: its stored path when the plan keeps it,
/// else the plan's path, or the fallback when another group's mapping holds that. Nothing is
/// claimed here: the mapping takes the path once the folder is there.
async fn destination(
    ctx: &JobContext,
    obs: &Observed,
    p: &Plan,
    report: &mut Report,
) -> Result<String, JobError> {
    if obs.mapping.as_ref().map(|m| m.path.as_str()) == Some(p.path.as_str()) {
        return Ok(p.path.clone());
    }
    let Some(other) = held_by_other(ctx, &p.path, &p.group_id).await? else {
        return Ok(p.path.clone());
    };
    report.clash = Some(Clash {
        path: p.path.clone(),
        group_id: other.group_id,
        shared_folder_id: other.shared_folder_id,
    });
    match held_by_other(ctx, &p.fallback_path, &p.group_id).await? {
        None => Ok(p.fallback_path.clone()),
        Some(_) => Err(JobError::permanent(format!(
            "group folder path taken: both {} and {} belong to other groups",
            p.path, p.fallback_path
        ))),
    }
}

/// Another group's mapping that holds `path`.
async fn held_by_other(
    ctx: &JobContext,
    path: &str,
    group_id: &str,
) -> Result<Option<GroupFolder>, JobError> {
    Ok(ctx
        .store
        .group_folder_at(path)
        .await?
        .filter(|m| m.group_id != group_id))
}

/// Another group's mapping (active or not) of this shared folder.
async fn owner_of_share(
    ctx: &JobContext,
    shared_folder_id: &str,
    group_id: &str,
) -> Result<Option<GroupFolder>, JobError> {
    Ok(ctx
        .store
        .group_folder_of_share(shared_folder_id)
        .await?
        .filter(|m| m.group_id != group_id))
}

fn owned_elsewhere(path: &str, owner: &GroupFolder) -> JobError {
    JobError::permanent(format!(
        "the shared folder at {path} belongs to group {} ({}); it is never taken over by \
         another group: move or unshare it in Dropbox",
        owner.group_id, owner.group_name
    ))
}

/// Mounts the unmounted shared folder again; its path now. Dropbox mounts it at the root of
/// the account's namespace, under a free variant of its name when the name is taken.
async fn mount(ctx: &JobContext, sf: &str) -> Result<String, JobError> {
    let meta = match ctx.dropbox.mount_folder(sf).await {
        Ok(meta) => meta,
        // Mounted meanwhile (our own earlier attempt, or the owner added it back by hand).
        Err(e) if e.has_tag("already_mounted") => ctx.dropbox.get_folder_metadata(sf).await?,
        Err(e) if folder_gone(&e) => {
            return Err(JobError::retry(format!(
                "{e}: the shared folder was unshared while reconciling"
            )))
        }
        Err(e) if e.has_tag("insufficient_quota") => {
            return Err(JobError::permanent(format!(
                "{e}: the Dropbox account has no room to mount the group's shared folder \
                 again; free space, then sync the group"
            )))
        }
        Err(e) if e.has_tag("no_permission") => {
            return Err(JobError::permanent(format!(
                "{e}: the Dropbox account may not mount the group's shared folder again"
            )))
        }
        Err(e) if e.has_tag("not_mountable") || e.has_tag("inside_shared_folder") => {
            return Err(JobError::permanent(format!(
                "{e}: Dropbox cannot mount the group's shared folder again; add it back in \
                 Dropbox, or unshare it to have the bridge share the path anew"
            )))
        }
        Err(e) => return Err(e.into()),
    };
    meta.path_display
        .filter(|p| !p.is_empty())
        .ok_or_else(|| JobError::retry("the mounted shared folder has no path yet"))
}

async fn apply_delete(ctx: &JobContext, d: DeletePlan) -> Result<Report, JobError> {
    let mut report = Report {
        group_id: d.group_id.clone(),
        group: d
            .mapping
            .as_ref()
            .map(|m| m.group_name.clone())
            .unwrap_or_default(),
        folder: d.mapping.as_ref().map(|m| m.path.clone()),
        shared_folder_id: d.mapping.as_ref().and_then(|m| m.shared_folder_id.clone()),
        deleted: true,
        policy: Some(d.policy),
        ..Report::default()
    };
    for email in &d.forget {
        ctx.store.record_member_removed(&d.group_id, email).await?;
    }
    if let Some(sf) = report.shared_folder_id.clone() {
        remove_members(ctx, &d.group_id, &sf, &d.remove, &mut report).await?;
    }
    // The folder and its files stay; the mapping keeps the path so no new group takes it over.
    if let Some(m) = d.mapping.filter(|m| m.active) {
        let inactive = GroupFolder {
            group_id: d.group_id.clone(),
            group_name: m.group_name,
            path: m.path,
            shared_folder_id: m.shared_folder_id,
            active: false,
        };
        put_mapping(ctx, &inactive).await?;
    }
    report.removed.sort();
    Ok(report)
}

/// Stores a new group's mapping at the plan's path, or at the fallback when another group owns
/// it: the store's unique path keeps two groups out of one folder.
async fn claim_path(
    ctx: &JobContext,
    p: &Plan,
    name: &str,
    report: &mut Report,
) -> Result<String, JobError> {
    match claim(ctx, p, name, &p.path).await {
        Ok(()) => return Ok(p.path.clone()),
        Err(JobError::Permanent { .. }) => {}
        Err(e) => return Err(e),
    }
    if let Some(other) = held_by_other(ctx, &p.path, &p.group_id).await? {
        report.clash = Some(Clash {
            path: p.path.clone(),
            group_id: other.group_id,
            shared_folder_id: other.shared_folder_id,
        });
    }
    claim(ctx, p, name, &p.fallback_path).await?;
    Ok(p.fallback_path.clone())
}

/// Stores the group's mapping at `path`, without a shared folder yet.
async fn claim(ctx: &JobContext, p: &Plan, name: &str, path: &str) -> Result<(), JobError> {
    let m = GroupFolder {
        group_id: p.group_id.clone(),
        group_name: name.to_string(),
        path: path.to_string(),
        shared_folder_id: None,
        active: true,
    };
    match ctx.store.put_group_folder(&m).await {
        Ok(()) => Ok(()),
        Err(StoreError::Conflict(_)) => Err(JobError::permanent(format!(
            "group folder path {path} belongs to another group"
        ))),
        Err(e) => Err(e.into()),
    }
}

async fn put_mapping(ctx: &JobContext, m: &GroupFolder) -> Result<(), JobError> {
    match ctx.store.put_group_folder(m).await {
        Ok(()) => Ok(()),
        // Another group's run claimed the path, or mapped the shared folder, since we looked:
        // the next run sees that and goes elsewhere.
        Err(StoreError::Conflict(_)) => Err(JobError::retry(format!(
            "group folder path {} or its shared folder was claimed by another group meanwhile",
            m.path
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Whether the folder at `path` (where the group's folder was left) is to follow the group to
/// its new path: a folder that is not shared, or one shared and no other group's (a share whose
/// answer was lost: Dropbox shared it, the bridge never learnt its id). Sharing a new folder at
/// the new path instead would leave that one behind, shared, as nobody's.
async fn movable_folder_at(ctx: &JobContext, path: &str, group_id: &str) -> Result<bool, JobError> {
    let Some(Metadata::Folder(f)) = ctx.dropbox.get_metadata(path, false).await? else {
        return Ok(false);
    };
    match f.sharing_info.and_then(|s| s.shared_folder_id) {
        None => Ok(true),
        Some(id) => Ok(owner_of_share(ctx, &id, group_id).await?.is_none()),
    }
}

async fn move_folder(ctx: &JobContext, from: &str, to: &str) -> Result<(), JobError> {
    match ctx.dropbox.move_v2(from, to, false).await {
        Ok(_) => Ok(()),
        // Moved by someone else meanwhile (or our own earlier attempt): look again next time.
        Err(e) if e.has_tag("from_lookup/not_found") => Err(JobError::retry(format!(
            "{e}: the folder moved while reconciling"
        ))),
        Err(e) if e.has_tag("to/conflict") => Err(JobError::permanent(format!(
            "{e}: something else already exists at {to}; move or rename it in Dropbox"
        ))),
        Err(e) => Err(e.into()),
    }
}

async fn remove_members(
    ctx: &JobContext,
    group_id: &str,
    sf: &str,
    removals: &[Removal],
    report: &mut Report,
) -> Result<(), JobError> {
    for r in removals {
        let member = match &r.account_id {
            Some(id) => MemberSelector::DropboxId {
                dropbox_id: id.clone(),
            },
            None => MemberSelector::Email {
                email: r.email.clone(),
            },
        };
        let result = ctx.dropbox.remove_folder_member(sf, member).await;
        match settle(result, &r.email, report)? {
            MemberCall::Done => {
                ctx.store.record_member_removed(group_id, &r.email).await?;
                report.removed.push(r.email.clone());
            }
            // Already gone (e.g. our own earlier attempt): nothing left to do.
            MemberCall::NotThere => ctx.store.record_member_removed(group_id, &r.email).await?,
            MemberCall::Refused => {}
        }
    }
    Ok(())
}

/// Sets each member's access to `access`, one `update_folder_member` call per member.
async fn update_members(
    ctx: &JobContext,
    sf: &str,
    access: AccessLevel,
    updates: &[AccessUpdate],
    report: &mut Report,
) -> Result<(), JobError> {
    for u in updates {
        let member = MemberSelector::DropboxId {
            dropbox_id: u.account_id.clone(),
        };
        let result = ctx.dropbox.update_folder_member(sf, member, access).await;
        // Not there any more (left, or only inherited access now): the next reconcile sees the
        // folder as it is and invites or leaves them alone.
        if settle(result, &u.email, report)? == MemberCall::Done {
            report.updated.push(u.clone());
        }
    }
    Ok(())
}

/// How a call about one member of the folder ended.
#[derive(PartialEq, Eq)]
enum MemberCall {
    Done,
    /// Not (explicitly) a member of the folder.
    NotThere,
    /// Dropbox refused it for this member; reported in `report.errors`.
    Refused,
}

/// The per-member rules shared by removals and access updates: a refusal is reported and does
/// not stop the others; a vanished folder or a transient error ends the run (retried).
fn settle<T>(
    result: Result<T, DropboxError>,
    email: &str,
    report: &mut Report,
) -> Result<MemberCall, JobError> {
    match result {
        Ok(_) => Ok(MemberCall::Done),
        Err(e)
            if e.has_tag("member_error/not_a_member")
                || e.has_tag("member_error/no_explicit_access") =>
        {
            Ok(MemberCall::NotThere)
        }
        Err(e) if e.is_shared_folder_gone() => {
            Err(JobError::retry(format!("{e}: shared folder vanished")))
        }
        Err(e) if e.is_retryable() => Err(e.into()),
        Err(e) => {
            report.errors.push(MemberFailure {
                email: email.to_string(),
                tag: tag_of(&e),
            });
            Ok(MemberCall::Refused)
        }
    }
}

/// Invites `emails` in one call; when Dropbox refuses the call because of some members, splits
/// the batch until those are isolated, so that everyone else is still invited.
async fn add_members(
    ctx: &JobContext,
    group_id: &str,
    sf: &str,
    emails: Vec<String>,
    report: &mut Report,
) -> Result<(), JobError> {
    if emails.is_empty() {
        return Ok(());
    }
    // Recorded before the call: a crash after Dropbox accepted must not make our invitees look
    // hand-added (they would never be removed). Refused members are forgotten again below.
    ctx.store.record_members_added(group_id, &emails).await?;
    let access = AccessLevel::from(ctx.config.groups.member_access);
    let quiet = ctx.config.groups.invite_quiet;
    let mut refused: Vec<MemberFailure> = Vec::new();
    let mut full: Option<String> = None;
    let mut account_refused: Option<JobError> = None;
    let mut stack = vec![emails];
    while let Some(mut batch) = stack.pop() {
        if let Some(tag) = &full {
            refused.extend(batch.into_iter().map(|email| MemberFailure {
                email,
                tag: tag.clone(),
            }));
            continue;
        }
        let members: Vec<(String, AccessLevel)> =
            batch.iter().map(|e| (e.clone(), access)).collect();
        let err = match ctx.dropbox.add_folder_member(sf, &members, quiet).await {
            Ok(()) => {
                report.added.extend(batch);
                continue;
            }
            Err(e) => e,
        };
        if err.is_shared_folder_gone() {
            return Err(JobError::retry(format!("{err}: shared folder vanished")));
        }
        if let Some(refusal) = account_refusal(&err) {
            // Nobody left was invited: the members recorded before the call are not ours.
            for email in stack.drain(..).flatten().chain(batch) {
                ctx.store.record_member_removed(group_id, &email).await?;
            }
            account_refused = Some(refusal);
            break;
        }
        if err.is_retryable() || !is_member_error(&err) {
            return Err(err.into());
        }
        let tag = tag_of(&err);
        if let Some(named) = named_member(&err) {
            if let Some(pos) = batch.iter().position(|e| e.eq_ignore_ascii_case(&named)) {
                let email = batch.remove(pos);
                refused.push(MemberFailure { email, tag });
                if !batch.is_empty() {
                    stack.push(batch);
                }
                continue;
            }
        }
        if batch.len() == 1 {
            if CAPACITY_TAGS.iter().any(|t| err.has_tag(t)) {
                full = Some(tag.clone());
            }
            refused.extend(batch.into_iter().map(|email| MemberFailure {
                email,
                tag: tag.clone(),
            }));
        } else {
            let right = batch.split_off(batch.len() / 2);
            stack.push(right);
            stack.push(batch);
        }
    }
    for f in refused {
        ctx.store.record_member_removed(group_id, &f.email).await?;
        if lasting(&f.tag) {
            ctx.store
                .record_member_refused(group_id, &f.email, &f.tag)
                .await?;
        }
        report.errors.push(f);
    }
    account_refused.map_or(Ok(()), Err)
}

/// A refusal about the member itself (address, team, verification), worth remembering; not
/// one about the folder's capacity or the moment (those are asked again on the next run).
fn lasting(tag: &str) -> bool {
    !["too_many_", "rate_limit"].iter().any(|t| tag.contains(t))
}

fn is_member_error(e: &DropboxError) -> bool {
    // A 400 means an address broke Dropbox's pattern although ours accepted it.
    matches!(e, DropboxError::BadRequest { .. }) || MEMBER_TAGS.iter().any(|t| e.has_tag(t))
}

/// The address a `bad_member/invalid_email` (or similar) names.
fn named_member(e: &DropboxError) -> Option<String> {
    let bad = e.error_json()?.get("bad_member")?;
    let tag = bad.get(".tag").and_then(Value::as_str)?;
    bad.get(tag).and_then(Value::as_str).map(str::to_string)
}

fn tag_of(e: &DropboxError) -> String {
    match (e.tag(), e.status()) {
        (Some(t), _) => t.to_string(),
        (None, Some(400)) => "bad_request".into(),
        (None, _) => e.to_string(),
    }
}
