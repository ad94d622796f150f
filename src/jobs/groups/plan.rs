//! The difference between what DocSpace wants (a group and its members) and what Dropbox has (a
//! shared folder and its members), as plain data. Pure: no I/O, no clock. The job applies a
//! [`Plan`]; `sync-groups --dry-run` prints it. Owns the rules for who is invited, who is removed
//! and whose access level is set back to `GROUP_MEMBER_ACCESS` (both only members the bridge
//! added) and which folder path a group gets.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::safe_name::{disambiguated_name, safe_name};
use crate::docspace::{GroupWithMembers, USER_STATUS_ACTIVE};
use crate::dropbox::{is_valid_email, AccessLevel, FullAccount, SharedFolderMembers};
use crate::store::{path_key, GroupFolder};
use unicode_normalization::UnicodeNormalization;

/// A member in a shared folder, keyed by lower-cased email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderMember {
    /// `dbid:` for users with a Dropbox account; `None` for invitees.
    pub account_id: Option<String>,
    pub access: AccessLevel,
    /// Access through a parent folder: not ours to remove.
    pub inherited: bool,
}

/// Where the group's shared folder is now, as Dropbox reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderState {
    /// Shared and in the account's Dropbox, at `path`.
    Shared {
        shared_folder_id: String,
        path: String,
    },
    /// Deleted in Dropbox, which only unmounts a shared folder: it keeps its id, members and
    /// content, has no path, and `sharing/mount_folder` brings it back.
    Unmounted { shared_folder_id: String },
    /// Never created, or unshared (the id is gone): share (and so create) it again.
    Missing,
}

impl FolderState {
    /// The shared folder's id, unless there is none.
    pub fn shared_folder_id(&self) -> Option<&str> {
        match self {
            FolderState::Shared {
                shared_folder_id, ..
            }
            | FolderState::Unmounted { shared_folder_id } => Some(shared_folder_id),
            FolderState::Missing => None,
        }
    }
}

/// What the bridge observed about one group before acting.
#[derive(Debug, Clone)]
pub struct Observed {
    pub group: GroupWithMembers,
    pub mapping: Option<GroupFolder>,
    pub folder: FolderState,
    /// Lower-cased email → member (users and invitees). Empty when the folder is missing.
    pub members: BTreeMap<String, FolderMember>,
    /// Lower-cased emails the bridge invited earlier and has not removed since.
    pub added: BTreeSet<String>,
    /// Of those, the ones whose Dropbox account is known: email → account id.
    pub accounts: BTreeMap<String, String>,
    /// Lower-cased email → tag of members Dropbox refused for good recently
    /// (`BRIDGE_REFUSAL_RETRY`): reported, not invited again yet.
    pub refused: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum FolderStep {
    /// The folder is where it should be.
    Keep { shared_folder_id: String },
    /// Renamed group (or folder moved by hand): move it back to the group's path.
    Move {
        shared_folder_id: String,
        from: String,
    },
    /// Deleted (so unmounted) in Dropbox: mount the same shared folder again and move it to the
    /// group's path. Members stay as they are; nobody is invited again.
    Mount { shared_folder_id: String },
    /// Share the folder at the group's path (`share_folder` creates it when absent).
    Share,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Removal {
    pub email: String,
    /// Preferred selector for users; invitees are removed by email.
    pub account_id: Option<String>,
}

/// A member the bridge added whose access differs from `GROUP_MEMBER_ACCESS`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessUpdate {
    pub email: String,
    /// `update_folder_member` accepts only a `dropbox_id` selector, so only members who joined
    /// are updated; a pending invitee is updated once it has accepted.
    #[serde(skip_serializing)]
    pub account_id: String,
    /// Access level tags, as Dropbox names them (`editor`, `viewer`, ...).
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberFailure {
    pub email: String,
    pub tag: String,
}

/// Everything one `group.sync` will do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub group_id: String,
    pub group_name: String,
    /// The folder path the group gets (display case).
    pub path: String,
    /// The alternative path if another group claims `path` first.
    pub fallback_path: String,
    pub folder: FolderStep,
    /// Lower-cased emails to invite, sorted.
    pub add: Vec<String>,
    pub remove: Vec<Removal>,
    /// Members the bridge added whose access level must be set to the configured one.
    pub update: Vec<AccessUpdate>,
    /// Recorded as added but gone from the folder and no longer wanted: forget, no call.
    pub forget: Vec<String>,
    /// Members that cannot be invited (address Dropbox would reject), reported, not sent.
    pub skipped: Vec<MemberFailure>,
    /// The stored mapping must be written (new group, new path, new shared folder, reactivated).
    pub store_mapping: bool,
}

impl Plan {
    pub fn is_noop(&self) -> bool {
        matches!(self.folder, FolderStep::Keep { .. })
            && self.add.is_empty()
            && self.remove.is_empty()
            && self.update.is_empty()
    }
}

/// Who should be in the folder: active DocSpace members with an email, lower-cased, deduplicated.
/// Disabled (terminated) and pending users are left out.
pub fn desired_emails(group: &GroupWithMembers) -> BTreeSet<String> {
    group
        .members
        .iter()
        .filter(|u| u.status == Some(USER_STATUS_ACTIVE))
        .filter_map(|u| u.email.as_deref())
        .map(member_key)
        .filter(|e| !e.is_empty())
        .collect()
}

/// Folder members keyed by lower-cased email (groups are Dropbox's, never ours: ignored).
pub fn folder_members(m: &SharedFolderMembers) -> BTreeMap<String, FolderMember> {
    let mut out = BTreeMap::new();
    for u in &m.users {
        out.insert(
            member_key(&u.user.email),
            account_member(&u.user.account_id, u.access_type, u.is_inherited),
        );
    }
    for i in &m.invitees {
        let email = match &i.invitee {
            crate::dropbox::wire::InviteeInfo::Email { email } => member_key(email),
            _ => continue,
        };
        out.entry(email).or_insert(FolderMember {
            // Invitees are addressed by email (removal), even when Dropbox already matched
            // the address to an account: whether it takes their id is not documented.
            account_id: None,
            access: i.access_type,
            inherited: i.is_inherited,
        });
    }
    out.retain(|email, _| !email.is_empty());
    out
}

/// The members of a folder `owner` has just shared outside any other shared folder: the owner
/// alone, keyed like [`folder_members`].
pub fn owner_alone(owner: &FullAccount) -> BTreeMap<String, FolderMember> {
    let mut out = BTreeMap::new();
    let email = member_key(&owner.email);
    if !email.is_empty() {
        out.insert(
            email,
            account_member(&owner.account_id, AccessLevel::Owner, false),
        );
    }
    out
}

/// How a member's address is keyed: trimmed and lower-cased.
fn member_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A member who is an account; an empty account id counts as none.
fn account_member(account_id: &str, access: AccessLevel, inherited: bool) -> FolderMember {
    FolderMember {
        account_id: Some(account_id.to_string()).filter(|s| !s.is_empty()),
        access,
        inherited,
    }
}

/// Whether Dropbox's `current` display path is `wanted`: compared by [`path_key`] (case and
/// Unicode composition), except that the last component must match exactly once composed (a
/// case-only rename is a rename; Dropbox only guarantees the case of the last component of
/// `path_display`).
pub fn same_place(current: &str, wanted: &str) -> bool {
    let last = |p: &str| {
        let name = p.rsplit('/').next().unwrap_or("");
        name.nfc().collect::<String>()
    };
    path_key(current) == path_key(wanted) && last(current) == last(wanted)
}

/// `root` + `/` + `name`, with `root` given without a trailing slash.
pub fn join(root: &str, name: &str) -> String {
    format!("{}/{name}", root.trim_end_matches('/'))
}

/// The two candidate paths of a group: the plain safe name and the disambiguated one.
pub fn candidate_paths(root: &str, group_id: &str, name: &str) -> (String, String) {
    (
        join(root, &safe_name(name, group_id)),
        join(root, &disambiguated_name(name, group_id)),
    )
}

/// Chooses the group's path. A mapping already at one of the candidates keeps it (stable across
/// runs, even after the other group is gone); otherwise the plain name unless `taken` says another
/// group owns it.
pub fn choose_path(
    root: &str,
    group_id: &str,
    name: &str,
    mapping: Option<&GroupFolder>,
    taken: &dyn Fn(&str) -> bool,
) -> (String, String) {
    let (plain, fallback) = candidate_paths(root, group_id, name);
    if let Some(m) = mapping {
        if m.path == plain || m.path == fallback {
            let other = if m.path == plain { fallback } else { plain };
            return (m.path.clone(), other);
        }
    }
    if taken(&plain) {
        (fallback, plain)
    } else {
        (plain, fallback)
    }
}

/// Plans one group: its folder under `root`, members at `access`. `taken(path)`: whether another
/// group's mapping owns `path` (case-insensitive).
pub fn plan_sync(
    root: &str,
    access: AccessLevel,
    obs: &Observed,
    taken: &dyn Fn(&str) -> bool,
) -> Plan {
    let g = &obs.group.group;
    let (path, fallback_path) = choose_path(root, &g.id, &g.name, obs.mapping.as_ref(), taken);
    let folder = match &obs.folder {
        FolderState::Shared {
            shared_folder_id,
            path: current,
        } if !same_place(current, &path) => FolderStep::Move {
            shared_folder_id: shared_folder_id.clone(),
            from: current.clone(),
        },
        FolderState::Shared {
            shared_folder_id, ..
        } => FolderStep::Keep {
            shared_folder_id: shared_folder_id.clone(),
        },
        FolderState::Unmounted { shared_folder_id } => FolderStep::Mount {
            shared_folder_id: shared_folder_id.clone(),
        },
        FolderState::Missing => FolderStep::Share,
    };

    let changes = member_changes(
        &desired_emails(&obs.group),
        &obs.members,
        &obs.added,
        &obs.refused,
        access,
    );
    let shared_id = obs.folder.shared_folder_id();
    let store_mapping = match &obs.mapping {
        None => true,
        Some(m) => {
            !m.active
                || m.path != path
                || m.group_name != g.name
                || m.shared_folder_id.as_deref() != shared_id
        }
    };
    Plan {
        group_id: g.id.clone(),
        group_name: g.name.clone(),
        path,
        fallback_path,
        folder,
        add: changes.add,
        remove: changes.remove,
        update: changes.update,
        forget: changes.forget,
        skipped: changes.skipped,
        store_mapping,
    }
}

/// Member changes of one folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberChanges {
    pub add: Vec<String>,
    pub skipped: Vec<MemberFailure>,
    pub remove: Vec<Removal>,
    pub update: Vec<AccessUpdate>,
    pub forget: Vec<String>,
}

/// Who to invite (wanted, absent, with an address Dropbox accepts, not refused recently), who
/// leaves, and whose access is set back to `access`.
pub fn member_changes(
    desired: &BTreeSet<String>,
    members: &BTreeMap<String, FolderMember>,
    added: &BTreeSet<String>,
    refused: &BTreeMap<String, String>,
    access: AccessLevel,
) -> MemberChanges {
    let mut out = MemberChanges::default();
    for email in desired {
        if members.contains_key(email) {
            continue;
        }
        if let Some(tag) = refused.get(email) {
            out.skipped.push(MemberFailure {
                email: email.clone(),
                tag: tag.clone(),
            });
        } else if is_valid_email(email) {
            out.add.push(email.clone());
        } else {
            out.skipped.push(MemberFailure {
                email: email.clone(),
                tag: "invalid_email".into(),
            });
        }
    }
    (out.remove, out.forget) = departures(members, added, desired);
    out.update = access_updates(members, added, desired, access);
    out
}

/// Members whose access is not `access`: only those the bridge added, that are in the folder and
/// still wanted; never the owner, never inherited access (not ours to change), never people added
/// by hand. Pending invitees are left until they accept: Dropbox takes only a `dropbox_id`
/// selector on `update_folder_member`.
pub fn access_updates(
    members: &BTreeMap<String, FolderMember>,
    added: &BTreeSet<String>,
    desired: &BTreeSet<String>,
    access: AccessLevel,
) -> Vec<AccessUpdate> {
    added
        .intersection(desired)
        .filter_map(|email| {
            let m = members.get(email)?;
            if m.access == access || m.access == AccessLevel::Owner || m.inherited {
                return None;
            }
            Some(AccessUpdate {
                email: email.clone(),
                account_id: m.account_id.clone()?,
                from: access_tag(m.access).to_string(),
                to: access_tag(access).to_string(),
            })
        })
        .collect()
}

/// Dropbox's tag for an access level, for plans and reports.
pub fn access_tag(level: AccessLevel) -> &'static str {
    match level {
        AccessLevel::Owner => "owner",
        AccessLevel::Editor => "editor",
        AccessLevel::Viewer => "viewer",
        AccessLevel::ViewerNoComment => "viewer_no_comment",
        AccessLevel::Traverse => "traverse",
        AccessLevel::NoAccess => "no_access",
        AccessLevel::Other => "other",
    }
}

/// `members` with each member the bridge added also listed under the email it was added with,
/// when the folder lists its Dropbox account (`accounts`: added email → account id) under another
/// address: the account's owner changed its email. The member is then still in the folder as
/// far as the plan goes (not invited again while wanted, removed by account once not).
pub fn with_known_accounts(
    mut members: BTreeMap<String, FolderMember>,
    accounts: &BTreeMap<String, String>,
) -> BTreeMap<String, FolderMember> {
    for (email, account) in accounts {
        if members.contains_key(email) {
            continue;
        }
        let listed = members
            .values()
            .find(|m| m.account_id.as_deref() == Some(account.as_str()))
            .cloned();
        if let Some(m) = listed {
            members.insert(email.clone(), m);
        }
    }
    members
}

/// Accounts to remember: members the bridge added, whose account is not known yet, that the
/// folder lists as users under the email they were added with. (email, account id).
pub fn accounts_to_learn(
    members: &BTreeMap<String, FolderMember>,
    added: &BTreeSet<String>,
    accounts: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    added
        .iter()
        .filter(|email| !accounts.contains_key(*email))
        .filter_map(|email| Some((email.clone(), members.get(email)?.account_id.clone()?)))
        .collect()
}

/// Members to remove (the bridge added them, they are in the folder, they are not wanted; never
/// the owner, never inherited access) and records to forget (added earlier, gone from the folder).
pub fn departures(
    members: &BTreeMap<String, FolderMember>,
    added: &BTreeSet<String>,
    desired: &BTreeSet<String>,
) -> (Vec<Removal>, Vec<String>) {
    let mut remove = Vec::new();
    let mut forget = Vec::new();
    // Accounts in the folder under an address that is wanted: one the bridge knows under an
    // older address (see `with_known_accounts`) is the same person, still wanted, and stays.
    let wanted: BTreeSet<&str> = desired
        .iter()
        .filter_map(|e| members.get(e)?.account_id.as_deref())
        .collect();
    for email in added.difference(desired) {
        match members.get(email) {
            Some(m) if m.access == AccessLevel::Owner || m.inherited => {}
            Some(m) if m.account_id.as_deref().is_some_and(|a| wanted.contains(a)) => {}
            Some(m) => remove.push(Removal {
                email: email.clone(),
                account_id: m.account_id.clone(),
            }),
            None => forget.push(email.clone()),
        }
    }
    (remove, forget)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docspace::{Group, User};

    fn user(email: &str, status: i64) -> User {
        User {
            id: email.into(),
            display_name: email.into(),
            email: Some(email.into()),
            status: Some(status),
            is_owner: false,
            is_admin: false,
            is_visitor: false,
        }
    }

    fn obs(name: &str, members: Vec<User>) -> Observed {
        Observed {
            group: GroupWithMembers {
                group: Group {
                    id: "abcdef12-3456".into(),
                    name: name.into(),
                    is_system: false,
                    is_ldap: false,
                    members_count: None,
                    manager_id: None,
                },
                members,
            },
            mapping: None,
            folder: FolderState::Missing,
            members: BTreeMap::new(),
            added: BTreeSet::new(),
            accounts: BTreeMap::new(),
            refused: BTreeMap::new(),
        }
    }

    /// A folder user with an account of their own.
    fn member(email: &str, access: AccessLevel) -> FolderMember {
        FolderMember {
            account_id: Some(format!("dbid:{email}")),
            access,
            inherited: false,
        }
    }

    #[test]
    fn new_group_shares_and_invites_only_active_members_with_valid_email() {
        let o = obs(
            "Sales",
            vec![
                user("Ann@Example.com", 1),
                user("pending@example.com", 4),
                user("gone@example.com", 2),
                user("jürgen@example.com", 1),
            ],
        );
        let p = plan_sync("/G", AccessLevel::Editor, &o, &|_| false);
        assert_eq!(p.path, "/G/Sales");
        assert_eq!(p.folder, FolderStep::Share);
        assert_eq!(p.add, vec!["ann@example.com".to_string()]);
        assert_eq!(p.skipped.len(), 1);
        assert!(p.store_mapping);
    }

    #[test]
    fn removes_only_what_the_bridge_added() {
        let mut o = obs("Sales", vec![user("stay@example.com", 1)]);
        o.folder = FolderState::Shared {
            shared_folder_id: "1".into(),
            path: "/G/Sales".into(),
        };
        o.mapping = Some(GroupFolder {
            group_id: o.group.group.id.clone(),
            group_name: "Sales".into(),
            path: "/G/Sales".into(),
            shared_folder_id: Some("1".into()),
            active: true,
        });
        for e in ["stay@example.com", "left@example.com", "hand@example.com"] {
            o.members.insert(e.into(), member(e, AccessLevel::Editor));
        }
        o.members.insert(
            "owner@example.com".into(),
            member("owner@example.com", AccessLevel::Owner),
        );
        o.added = [
            "stay@example.com",
            "left@example.com",
            "owner@example.com",
            "old@example.com",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        let p = plan_sync("/G", AccessLevel::Editor, &o, &|_| false);
        assert_eq!(
            p.remove
                .iter()
                .map(|r| r.email.as_str())
                .collect::<Vec<_>>(),
            vec!["left@example.com"]
        );
        assert_eq!(p.forget, vec!["old@example.com".to_string()]);
        assert!(p.add.is_empty());
        assert!(!p.store_mapping);
        assert!(!p.is_noop());
    }

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn at(access: AccessLevel, account: Option<&str>, inherited: bool) -> FolderMember {
        FolderMember {
            account_id: account.map(String::from),
            access,
            inherited,
        }
    }

    /// Bob was invited as bob@; his Dropbox account now shows bob@new. Out of the group, the
    /// account leaves; still wanted under bob@new (his DocSpace address changed too), it stays,
    /// and his record stays for when he leaves.
    #[test]
    fn an_account_listed_under_a_new_address_leaves_only_when_no_longer_wanted() {
        let mut listed = BTreeMap::new();
        listed.insert(
            "bob@new.example".to_string(),
            at(AccessLevel::Editor, Some("dbid:bob"), false),
        );
        let accounts: BTreeMap<String, String> =
            [("bob@example.com".to_string(), "dbid:bob".to_string())].into();
        let members = with_known_accounts(listed, &accounts);
        let added = set(&["bob@example.com"]);

        let (remove, forget) = departures(&members, &added, &set(&[]));
        assert_eq!(remove.len(), 1);
        assert_eq!(remove[0].account_id.as_deref(), Some("dbid:bob"));
        assert!(forget.is_empty());

        let (remove, forget) = departures(&members, &added, &set(&["bob@new.example"]));
        assert!(remove.is_empty(), "{remove:?}");
        assert!(forget.is_empty(), "{forget:?}");
    }

    #[test]
    fn access_is_set_back_only_for_members_the_bridge_added() {
        let mut members = BTreeMap::new();
        members.insert(
            "ann@example.com".to_string(),
            at(AccessLevel::Editor, Some("dbid:ann"), false),
        );
        members.insert(
            "bob@example.com".to_string(),
            at(AccessLevel::Viewer, Some("dbid:bob"), false),
        );
        members.insert(
            "hand@example.com".to_string(),
            at(AccessLevel::Editor, Some("dbid:hand"), false),
        );
        members.insert(
            "owner@example.com".to_string(),
            at(AccessLevel::Owner, Some("dbid:owner"), false),
        );
        members.insert(
            "parent@example.com".to_string(),
            at(AccessLevel::Editor, Some("dbid:parent"), true),
        );
        members.insert(
            "invited@example.com".to_string(),
            at(AccessLevel::Editor, None, false),
        );
        members.insert(
            "matched@example.com".to_string(),
            at(AccessLevel::ViewerNoComment, Some("dbid:matched"), false),
        );
        members.insert(
            "left@example.com".to_string(),
            at(AccessLevel::Editor, Some("dbid:left"), false),
        );
        // Everyone is wanted except `left`; the bridge added all but `hand`.
        let desired = set(&[
            "ann@example.com",
            "bob@example.com",
            "hand@example.com",
            "owner@example.com",
            "parent@example.com",
            "invited@example.com",
            "matched@example.com",
            "new@example.com",
        ]);
        let added = set(&[
            "ann@example.com",
            "bob@example.com",
            "owner@example.com",
            "parent@example.com",
            "invited@example.com",
            "matched@example.com",
            "left@example.com",
        ]);

        let c = member_changes(
            &desired,
            &members,
            &added,
            &BTreeMap::new(),
            AccessLevel::Viewer,
        );

        assert_eq!(
            c.update,
            vec![
                AccessUpdate {
                    email: "ann@example.com".into(),
                    account_id: "dbid:ann".into(),
                    from: "editor".into(),
                    to: "viewer".into(),
                },
                AccessUpdate {
                    email: "matched@example.com".into(),
                    account_id: "dbid:matched".into(),
                    from: "viewer_no_comment".into(),
                    to: "viewer".into(),
                },
            ],
            "not bob (already viewer), hand (added by hand), owner, parent (inherited), \
             invited (no account), left (removed instead), new (invited instead)"
        );
        assert_eq!(c.add, vec!["new@example.com".to_string()]);
        assert_eq!(c.remove.len(), 1);
        assert_eq!(c.remove[0].email, "left@example.com");

        let c = member_changes(
            &desired,
            &members,
            &added,
            &BTreeMap::new(),
            AccessLevel::Editor,
        );
        let updated: Vec<&str> = c.update.iter().map(|u| u.email.as_str()).collect();
        assert_eq!(updated, vec!["bob@example.com", "matched@example.com"]);
        assert!(c.update.iter().all(|u| u.to == "editor"));
    }

    #[test]
    fn recently_refused_members_are_reported_not_invited() {
        let desired = set(&["ann@example.com", "bob@example.com"]);
        let refused: BTreeMap<String, String> = [(
            "bob@example.com".to_string(),
            "cant_share_outside_team".to_string(),
        )]
        .into();
        let c = member_changes(
            &desired,
            &BTreeMap::new(),
            &BTreeSet::new(),
            &refused,
            AccessLevel::Editor,
        );
        assert_eq!(c.add, vec!["ann@example.com".to_string()]);
        assert_eq!(
            c.skipped,
            vec![MemberFailure {
                email: "bob@example.com".into(),
                tag: "cant_share_outside_team".into()
            }]
        );
    }

    #[test]
    fn access_update_alone_makes_the_plan_a_change() {
        let mut o = obs("Sales", vec![user("ann@example.com", 1)]);
        o.folder = FolderState::Shared {
            shared_folder_id: "1".into(),
            path: "/G/Sales".into(),
        };
        o.members.insert(
            "ann@example.com".into(),
            at(AccessLevel::Editor, Some("dbid:ann"), false),
        );
        o.added = set(&["ann@example.com"]);
        let p = plan_sync("/G", AccessLevel::Editor, &o, &|_| false);
        assert!(p.update.is_empty() && p.is_noop());
        let p = plan_sync("/G", AccessLevel::Viewer, &o, &|_| false);
        assert_eq!(p.update.len(), 1);
        assert!(p.add.is_empty() && p.remove.is_empty());
        assert!(!p.is_noop());
    }

    #[test]
    fn invitees_are_addressed_by_email_and_wait_for_access_updates() {
        let m: SharedFolderMembers = serde_json::from_value(serde_json::json!({
            "users": [{"access_type": {".tag": "owner"}, "is_inherited": false,
                "user": {"account_id": "dbid:o", "email": "Owner@Example.com"}}],
            "groups": [],
            "invitees": [
                {"access_type": {".tag": "editor"}, "is_inherited": false,
                 "invitee": {".tag": "email", "email": "Known@Example.com"},
                 "user": {"account_id": "dbid:k", "email": "known@example.com"}},
                {"access_type": {".tag": "editor"}, "is_inherited": false,
                 "invitee": {".tag": "email", "email": "pending@example.com"}}
            ]
        }))
        .expect("decode");
        let members = folder_members(&m);
        assert_eq!(members["known@example.com"].account_id, None);
        assert_eq!(members["pending@example.com"].account_id, None);
        assert_eq!(members["owner@example.com"].access, AccessLevel::Owner);
        let everyone = set(&["known@example.com", "pending@example.com"]);
        let c = member_changes(
            &everyone,
            &members,
            &everyone,
            &BTreeMap::new(),
            AccessLevel::Viewer,
        );
        assert!(c.update.is_empty(), "{:?}", c.update);
    }

    #[test]
    fn renamed_group_moves_and_taken_paths_fall_back() {
        let mut o = obs("New", vec![]);
        o.folder = FolderState::Shared {
            shared_folder_id: "1".into(),
            path: "/G/Old".into(),
        };
        let p = plan_sync("/G", AccessLevel::Editor, &o, &|_| false);
        assert_eq!(
            p.folder,
            FolderStep::Move {
                shared_folder_id: "1".into(),
                from: "/G/Old".into()
            }
        );
        let p = plan_sync("/G", AccessLevel::Editor, &o, &|p| {
            p.eq_ignore_ascii_case("/g/new")
        });
        assert_eq!(p.path, "/G/New (abcdef12)");
    }

    #[test]
    fn an_unmounted_folder_is_mounted_again_and_nobody_is_invited_twice() {
        let mut o = obs("Sales", vec![user("ann@example.com", 1)]);
        o.folder = FolderState::Unmounted {
            shared_folder_id: "7".into(),
        };
        o.mapping = Some(GroupFolder {
            group_id: o.group.group.id.clone(),
            group_name: "Sales".into(),
            path: "/G/Sales".into(),
            shared_folder_id: Some("7".into()),
            active: true,
        });
        o.members.insert(
            "ann@example.com".into(),
            at(AccessLevel::Editor, Some("dbid:ann"), false),
        );
        o.added = set(&["ann@example.com"]);
        let p = plan_sync("/G", AccessLevel::Editor, &o, &|_| false);
        assert_eq!(
            p.folder,
            FolderStep::Mount {
                shared_folder_id: "7".into()
            }
        );
        assert_eq!(p.path, "/G/Sales");
        assert!(p.add.is_empty() && p.remove.is_empty());
        assert!(!p.store_mapping, "same shared folder, same path");
        assert!(!p.is_noop());
    }

    #[test]
    fn case_only_renames_move_but_parent_case_does_not() {
        assert!(same_place(
            "/docspace groups/Sales",
            "/DocSpace Groups/Sales"
        ));
        assert!(!same_place(
            "/DocSpace Groups/sales",
            "/DocSpace Groups/Sales"
        ));
        assert!(!same_place("/Other/Sales", "/DocSpace Groups/Sales"));
    }

    #[test]
    fn mapping_on_fallback_path_is_stable() {
        let mut o = obs("a/b", vec![]);
        o.mapping = Some(GroupFolder {
            group_id: o.group.group.id.clone(),
            group_name: "a/b".into(),
            path: "/G/a_b (abcdef12)".into(),
            shared_folder_id: None,
            active: true,
        });
        let p = plan_sync("/G", AccessLevel::Editor, &o, &|_| false);
        assert_eq!(p.path, "/G/a_b (abcdef12)");
    }
}
