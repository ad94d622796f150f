//! Carries out a [`GroupPlan`]: claims the group's path in the store, moves or (re)shares the
//! folder, invites missing members in as few `add_folder_member` calls as Dropbox accepts,
//! removes members the bridge added who left, and sets the access level of members the bridge
//! added back to `GROUP_MEMBER_ACCESS`. Owns the per-member error handling: a member Dropbox
//! refuses for good is reported with its tag and does not block the others; transient failures
//! end the run with a retryable error (every step is safe to repeat).

use serde_json::Value;

use super::plan::{self, AccessUpdate, FolderState, MemberFailure, Observed, Plan, Removal};
use super::{folder_gone, DeletePlan, GroupPlan, Report};
use crate::dropbox::{AccessLevel, DropboxError, MemberSelector, Metadata};
use crate::jobs::{JobContext, JobError};
use crate::store::{GroupFolder, StoreError};

/// `add_folder_member` errors that concern the members in the call rather than the folder:
/// the batch is split until the refused members are found.
const MEMBER_TAGS: &[&str] = &[
    "bad_member",
    "email_unverified",
    "cant_share_outside_team",
    "too_many_members",
    "too_many_pending_invites",
    "banned_member",
    "rate_limit",
    "too_many_invitees",
];

/// After one member is refused with these, nobody else can be invited to this folder now.
const CAPACITY_TAGS: &[&str] = &["too_many_members", "rate_limit"];

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
            shared_folder_id: match &obs.folder {
                FolderState::Shared {
                    shared_folder_id, ..
                } => Some(shared_folder_id.clone()),
                FolderState::Missing => None,
            },
            created: matches!(p.folder, plan::FolderStep::Share),
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
    let mut stored = obs.mapping.clone();
    let current_sf = match &obs.folder {
        FolderState::Shared {
            shared_folder_id, ..
        } => Some(shared_folder_id.clone()),
        FolderState::Missing => None,
    };

    // 1. Claim the path first: the store's unique path keeps two groups out of one folder.
    let path = if stored.as_ref().map(|m| m.path.as_str()) == Some(p.path.as_str()) {
        p.path.clone()
    } else {
        claim_path(ctx, &p, &g.name, current_sf.clone(), &mut stored).await?
    };

    // 2. The folder: keep, move back under the group's name, or (re)share.
    let (sf, members) = match obs.folder {
        FolderState::Shared {
            shared_folder_id,
            path: current,
        } => {
            if let Some(cur) = current.filter(|c| !plan::same_place(c, &path)) {
                move_folder(ctx, &cur, &path).await?;
                report.moved_from = Some(cur);
            }
            (shared_folder_id, obs.members)
        }
        FolderState::Missing => {
            if let Some(old) = obs.mapping.as_ref().map(|m| m.path.as_str()) {
                if !old.eq_ignore_ascii_case(&path) && unshared_folder_at(ctx, old).await? {
                    move_folder(ctx, old, &path).await?;
                    report.moved_from = Some(old.to_string());
                }
            }
            let meta = ctx.dropbox.share_folder(&path).await?;
            report.created = true;
            // An existing folder shared earlier by someone may already have members.
            let members = match ctx
                .dropbox
                .list_folder_members(&meta.shared_folder_id)
                .await
            {
                Ok(m) => plan::folder_members(&m),
                Err(e) if folder_gone(&e) => {
                    return Err(JobError::retry("shared folder vanished while reconciling"))
                }
                Err(e) => return Err(e.into()),
            };
            (meta.shared_folder_id, members)
        }
    };

    // 3. Remember group ↔ shared folder.
    let want = GroupFolder {
        group_id: g.id.clone(),
        group_name: g.name.clone(),
        path: path.clone(),
        shared_folder_id: Some(sf.clone()),
        active: true,
    };
    if stored.as_ref() != Some(&want) {
        put_mapping(ctx, &want).await?;
    }
    report.folder = Some(path);
    report.shared_folder_id = Some(sf.clone());

    // 4. Members, from what the folder holds now.
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

/// Stores the mapping at the plan's path, or at the fallback when another group owns it.
async fn claim_path(
    ctx: &JobContext,
    p: &Plan,
    name: &str,
    shared_folder_id: Option<String>,
    stored: &mut Option<GroupFolder>,
) -> Result<String, JobError> {
    for path in [&p.path, &p.fallback_path] {
        let m = GroupFolder {
            group_id: p.group_id.clone(),
            group_name: name.to_string(),
            path: path.clone(),
            shared_folder_id: shared_folder_id.clone(),
            active: true,
        };
        match ctx.store.put_group_folder(&m).await {
            Ok(()) => {
                *stored = Some(m);
                return Ok(path.clone());
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(JobError::permanent(format!(
        "group folder path taken: both {} and {} belong to other groups",
        p.path, p.fallback_path
    )))
}

async fn put_mapping(ctx: &JobContext, m: &GroupFolder) -> Result<(), JobError> {
    match ctx.store.put_group_folder(m).await {
        Ok(()) => Ok(()),
        // Another run of a colliding group claimed the path between our claim and now.
        Err(StoreError::Conflict(_)) => Err(JobError::retry(format!(
            "group folder path {} claimed concurrently",
            m.path
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Whether a plain (not shared) folder sits at `path`: the group's folder after an unshare.
async fn unshared_folder_at(ctx: &JobContext, path: &str) -> Result<bool, JobError> {
    Ok(matches!(
        ctx.dropbox.get_metadata(path, false).await?,
        Some(Metadata::Folder(f))
            if f.sharing_info.as_ref().and_then(|s| s.shared_folder_id.as_ref()).is_none()
    ))
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
        Err(e) if folder_gone(&e) => Err(JobError::retry(format!("{e}: shared folder vanished"))),
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
    for e in &emails {
        ctx.store.record_member_added(group_id, e).await?;
    }
    let access = AccessLevel::from(ctx.config.groups.member_access);
    let quiet = ctx.config.groups.invite_quiet;
    let mut refused: Vec<MemberFailure> = Vec::new();
    let mut full: Option<String> = None;
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
        if folder_gone(&err) {
            return Err(JobError::retry(format!("{err}: shared folder vanished")));
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
    Ok(())
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
