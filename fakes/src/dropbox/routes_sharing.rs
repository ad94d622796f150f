//! `sharing/*` routes: share/unshare, mount/unmount, members (add, update, remove, list with
//! paging), folder metadata, and the async-job pollers.
//!
//! A `SharedFolderAccessError` comes bare from `get_folder_metadata` and `list_folder_members`
//! (their declared error type is `SharedFolderAccessError` itself) and nested under
//! `access_error` from every route whose error union wraps it (`list_folder_members/continue`,
//! add/remove/update_folder_member, mount/unmount/unshare_folder).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::args::{
    self, AddFolderMemberArg, CursorArg, ListFolderMembersArgs, MountFolderArg, PollArg,
    RemoveFolderMemberArg, ShareFolderArg, SharedFolderIdArg, UnshareFolderArg,
    UpdateFolderMemberArg,
};
use super::error::{ApiError, ApiResult};
use super::model::AccessLevel;
use super::model::Knobs;
use super::paths::PathPattern;
use super::routes_files::resolve;
use super::server::Call;
use super::sharing::{access_error, Selector, ShareOptions};
use super::state::{Job, JobKind, State};

fn new_job(st: &mut State, kind: JobKind, knobs: &Knobs) -> String {
    let id = st.new_opaque("dbjid:");
    st.jobs.insert(
        id.clone(),
        Job {
            kind,
            polls_left: knobs.async_job_polls,
            done_at: Instant::now() + Duration::from_millis(knobs.async_job_delay_ms),
        },
    );
    id
}

/// The `SharedFolderAccessError` tag the caller gets for this folder, if any: `invalid_id` for
/// an unknown id, else the `access_errors` knob.
fn access_refusal(st: &State, sf_id: &str) -> Option<&'static str> {
    if !st.shared.contains_key(sf_id) {
        return Some("invalid_id");
    }
    st.access_errors.get(sf_id).map(|e| e.tag())
}

/// Refusal for routes whose error type is `SharedFolderAccessError` itself.
fn check_bare(st: &State, sf_id: &str) -> Result<(), ApiError> {
    access_refusal(st, sf_id).map_or(Ok(()), |tag| Err(ApiError::tag(tag)))
}

/// Refusal for routes whose error union carries it as `access_error`.
fn check_nested(st: &State, sf_id: &str) -> Result<(), ApiError> {
    access_refusal(st, sf_id).map_or(Ok(()), |tag| Err(access_error(tag)))
}

/// Whether the `n`-th share (0-based) is answered as an async job at this ratio.
fn async_by_ratio(n: u64, ratio: f64) -> bool {
    let r = if ratio.is_finite() {
        ratio.clamp(0.0, 1.0)
    } else {
        0.0
    };
    // A small epsilon so that ratios like 1/3 hit every third call despite rounding.
    let step = |k: u64| (k as f64 * r + 1e-9).floor();
    r > 0.0 && step(n + 1) > step(n)
}

fn policy(
    route: &str,
    field: &str,
    v: &Option<Value>,
    allowed: &[&str],
) -> Result<Option<String>, ApiError> {
    v.as_ref()
        .map(|v| args::void_union(route, field, v, allowed))
        .transpose()
}

/// `sharing/share_folder`.
pub(crate) fn share_folder(call: &Call<'_>, arg: Value) -> ApiResult {
    let route = call.route;
    let a: ShareFolderArg = args::parse(route, "request body", arg)?;
    let opts = ShareOptions {
        acl_update_policy: policy(
            route,
            "acl_update_policy",
            &a.acl_update_policy,
            &["owner", "editors"],
        )?,
        member_policy: policy(
            route,
            "member_policy",
            &a.member_policy,
            &["team", "anyone", "team_and_approved"],
        )?,
        shared_link_policy: policy(
            route,
            "shared_link_policy",
            &a.shared_link_policy,
            &["anyone", "team", "members"],
        )?,
        viewer_info_policy: policy(
            route,
            "viewer_info_policy",
            &a.viewer_info_policy,
            &["enabled", "disabled"],
        )?,
        access_inheritance: policy(
            route,
            "access_inheritance",
            &a.access_inheritance,
            &["inherit", "no_inherit"],
        )?,
    };
    let knobs = call.shared.knobs();
    if knobs.account_email_unverified {
        return Err(ApiError::route(json!({".tag": "email_unverified"})));
    }
    let mut st = call.shared.state();
    let display = resolve(call, &st, "path", &a.path, PathPattern::WriteOrId)?.map_err(|_| {
        ApiError::route(json!({".tag": "bad_path", "bad_path": {".tag": "invalid_path"}}))
    })?;
    if display.is_empty() {
        return Err(ApiError::route(
            json!({".tag": "bad_path", "bad_path": {".tag": "invalid_path"}}),
        ));
    }
    let sf_id = st.share_folder(&display, &opts)?;
    let n = st.shares_made;
    st.shares_made += 1;
    if a.force_async
        || knobs.share_folder_async
        || async_by_ratio(n, knobs.share_folder_async_ratio)
    {
        let job = new_job(&mut st, JobKind::Share(sf_id), &knobs);
        return Ok(json!({".tag": "async_job_id", "async_job_id": job}));
    }
    let mut out = json!({".tag": "complete"});
    if let (Some(obj), Some(Value::Object(meta))) = (
        out.as_object_mut(),
        st.shared_folder_metadata(&sf_id, a.actions.is_some()),
    ) {
        obj.extend(meta);
    }
    Ok(out)
}

/// `sharing/check_share_job_status`, `check_remove_member_job_status`, `check_job_status`.
pub(crate) fn check_job(call: &Call<'_>, arg: Value) -> ApiResult {
    let a: PollArg = args::parse(call.route, "request body", arg)?;
    let mut st = call.shared.state();
    let invalid = || ApiError::tag("invalid_async_job_id");
    let Some(job) = st.jobs.get_mut(&a.async_job_id) else {
        return Err(invalid());
    };
    let fits = matches!(
        (&job.kind, call.route),
        (JobKind::Share(_), "sharing/check_share_job_status")
            | (
                JobKind::RemoveMember,
                "sharing/check_remove_member_job_status"
            )
            | (
                JobKind::RemoveMember | JobKind::Unshare,
                "sharing/check_job_status"
            )
    );
    if !fits {
        return Err(invalid());
    }
    if job.polls_left > 0 {
        job.polls_left -= 1;
        return Ok(json!({".tag": "in_progress"}));
    }
    if Instant::now() < job.done_at {
        return Ok(json!({".tag": "in_progress"}));
    }
    match job.kind.clone() {
        JobKind::Share(sf_id) => {
            let mut out = json!({".tag": "complete"});
            match st.shared_folder_metadata(&sf_id, false) {
                Some(Value::Object(meta)) => {
                    if let Some(obj) = out.as_object_mut() {
                        obj.extend(meta);
                    }
                    Ok(out)
                }
                // The folder went away while the job ran.
                _ => Ok(
                    json!({".tag": "failed", "failed": {".tag": "bad_path", "bad_path": {".tag": "invalid_path"}}}),
                ),
            }
        }
        // MemberAccessLevelResult with nothing left: the member has no other access.
        JobKind::RemoveMember | JobKind::Unshare => Ok(json!({".tag": "complete"})),
    }
}

/// `sharing/add_folder_member`.
pub(crate) fn add_folder_member(call: &Call<'_>, arg: Value) -> ApiResult {
    let route = call.route;
    let a: AddFolderMemberArg = args::parse(route, "request body", arg)?;
    if a.custom_message.as_deref() == Some("") {
        return Err(ApiError::bad_input(
            route,
            "request body: custom_message: length must be at least 1",
        ));
    }
    let mut members = Vec::with_capacity(a.members.len());
    for (i, m) in a.members.iter().enumerate() {
        let sel = args::member_selector(route, &format!("members[{i}].member"), &m.member)?;
        // Older spec default; the current spec leaves it unspecified.
        let access = match &m.access_level {
            None => AccessLevel::Viewer,
            Some(v) => args::access_level(route, &format!("members[{i}].access_level"), v)?,
        };
        members.push((sel, access));
    }
    let knobs = call.shared.knobs();
    let mut st = call.shared.state();
    check_nested(&st, &a.shared_folder_id)?;
    // About the caller's own account, whoever the call invites.
    if knobs.account_email_unverified {
        return Err(ApiError::route(json!({".tag": "email_unverified"})));
    }
    if knobs.account_banned {
        return Err(ApiError::route(json!({".tag": "banned_member"})));
    }
    st.add_members(&a.shared_folder_id, &members, a.quiet)?;
    Ok(Value::Null)
}

/// `sharing/remove_folder_member` (always answers with an async job id).
pub(crate) fn remove_folder_member(call: &Call<'_>, arg: Value) -> ApiResult {
    let a: RemoveFolderMemberArg = args::parse(call.route, "request body", arg)?;
    let sel = args::member_selector(call.route, "member", &a.member)?;
    let knobs = call.shared.knobs();
    let mut st = call.shared.state();
    check_nested(&st, &a.shared_folder_id)?;
    st.remove_member(&a.shared_folder_id, &sel)?;
    let job = new_job(&mut st, JobKind::RemoveMember, &knobs);
    Ok(json!({".tag": "async_job_id", "async_job_id": job}))
}

/// `sharing/update_folder_member` (synchronous; answers `MemberAccessLevelResult`).
pub(crate) fn update_folder_member(call: &Call<'_>, arg: Value) -> ApiResult {
    let route = call.route;
    let a: UpdateFolderMemberArg = args::parse(route, "request body", arg)?;
    let sel = args::member_selector(route, "member", &a.member)?;
    if let Selector::Email(_) = sel {
        // The spec: "Only the MemberSelector.dropbox_id may be set at this time". How real
        // Dropbox refuses an e-mail here is UNCONFIRMED; a 400 keeps clients from relying on it.
        return Err(ApiError::bad_input(
            route,
            "request body: member: only the 'dropbox_id' member may be set",
        ));
    }
    let access = args::access_level(route, "access_level", &a.access_level)?;
    let mut st = call.shared.state();
    check_nested(&st, &a.shared_folder_id)?;
    st.update_member(&a.shared_folder_id, &sel, access)?;
    // Nothing inherited from a parent folder in the fake: every field of the result is absent.
    Ok(json!({}))
}

/// Position in a member listing.
#[derive(Serialize, Deserialize)]
struct MembersCursor {
    f: String,
    o: usize,
    n: usize,
}

fn members_page(st: &State, sf_id: &str, offset: usize, limit: usize) -> Option<Value> {
    let (users, invitees) = st.membership_entries(sf_id)?;
    let total = users.len() + invitees.len();
    let end = (offset + limit).min(total);
    let (mut page_users, mut page_invitees) = (Vec::new(), Vec::new());
    for i in offset..end {
        if i < users.len() {
            page_users.push(users[i].clone());
        } else {
            page_invitees.push(invitees[i - users.len()].clone());
        }
    }
    let mut out = json!({"users": page_users, "groups": [], "invitees": page_invitees});
    if end < total {
        let c = MembersCursor {
            f: sf_id.to_string(),
            o: end,
            n: limit,
        };
        out["cursor"] = json!(format!(
            "ZtkX{}",
            hex::encode(serde_json::to_vec(&c).unwrap_or_default())
        ));
    }
    Some(out)
}

/// `sharing/list_folder_members`.
pub(crate) fn list_folder_members(call: &Call<'_>, arg: Value) -> ApiResult {
    let a: ListFolderMembersArgs = args::parse(call.route, "request body", arg)?;
    let limit = a.limit.unwrap_or(1000);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_input(
            call.route,
            format!("request body: limit: {limit} is not within range [1, 1000]"),
        ));
    }
    let st = call.shared.state();
    check_bare(&st, &a.shared_folder_id)?;
    members_page(&st, &a.shared_folder_id, 0, limit as usize)
        .ok_or_else(|| ApiError::tag("invalid_id"))
}

/// `sharing/list_folder_members/continue`.
pub(crate) fn list_folder_members_continue(call: &Call<'_>, arg: Value) -> ApiResult {
    let a: CursorArg = args::parse(call.route, "request body", arg)?;
    let cursor: Option<MembersCursor> = a
        .cursor
        .strip_prefix("ZtkX")
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| serde_json::from_slice(&b).ok());
    let Some(c) = cursor else {
        return Err(ApiError::tag("invalid_cursor"));
    };
    let st = call.shared.state();
    check_nested(&st, &c.f)?;
    members_page(&st, &c.f, c.o, c.n).ok_or_else(|| access_error("invalid_id"))
}

/// `sharing/get_folder_metadata`.
pub(crate) fn get_folder_metadata(call: &Call<'_>, arg: Value) -> ApiResult {
    let a: SharedFolderIdArg = args::parse(call.route, "request body", arg)?;
    let st = call.shared.state();
    check_bare(&st, &a.shared_folder_id)?;
    st.shared_folder_metadata(&a.shared_folder_id, a.actions.is_some())
        .ok_or_else(|| ApiError::tag("invalid_id"))
}

/// `sharing/unshare_folder` (applied at once; answers with an async job id like Dropbox does).
pub(crate) fn unshare_folder(call: &Call<'_>, arg: Value) -> ApiResult {
    let a: UnshareFolderArg = args::parse(call.route, "request body", arg)?;
    let knobs = call.shared.knobs();
    let mut st = call.shared.state();
    check_nested(&st, &a.shared_folder_id)?;
    st.unshare(&a.shared_folder_id)?;
    let job = new_job(&mut st, JobKind::Unshare, &knobs);
    Ok(json!({".tag": "async_job_id", "async_job_id": job}))
}

/// `sharing/mount_folder`: answers `SharedFolderMetadata` of the folder, mounted again.
pub(crate) fn mount_folder(call: &Call<'_>, arg: Value) -> ApiResult {
    let a: MountFolderArg = args::parse(call.route, "request body", arg)?;
    let mut st = call.shared.state();
    check_nested(&st, &a.shared_folder_id)?;
    st.mount(&a.shared_folder_id)
}

/// `sharing/unmount_folder` (result `Void`).
pub(crate) fn unmount_folder(call: &Call<'_>, arg: Value) -> ApiResult {
    let a: MountFolderArg = args::parse(call.route, "request body", arg)?;
    let mut st = call.shared.state();
    check_nested(&st, &a.shared_folder_id)?;
    st.unmount(&a.shared_folder_id)?;
    Ok(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::async_by_ratio;

    #[test]
    fn async_ratio_is_deterministic_and_exact() {
        let hits = |r: f64| {
            (0..12)
                .filter(|n| async_by_ratio(*n, r))
                .collect::<Vec<_>>()
        };
        assert_eq!(hits(0.0), Vec::<u64>::new());
        assert_eq!(hits(1.0), (0..12).collect::<Vec<_>>());
        assert_eq!(hits(0.5), [1, 3, 5, 7, 9, 11]);
        assert_eq!(hits(1.0 / 3.0), [2, 5, 8, 11]);
        assert_eq!(hits(0.25), [3, 7, 11]);
        assert_eq!(hits(f64::NAN), Vec::<u64>::new());
    }
}
