//! Shared folders on `State`: share/unshare, mount/unmount, members and invitees, and the
//! `SharedFolderMetadata` / membership wire shapes.
//!
//! Deleting a shared folder (or a folder holding one) only unmounts it, as in Dropbox: it keeps
//! its id, members and content, has no path for the owner, and `mount_folder` puts it back at
//! the root. Unsharing ends it: the id is gone and members lose it.

use serde_json::{json, Value};

use super::error::ApiError;
use super::model::{AccessLevel, InviteeInfo, MemberError, MemberInfo, MountError};
use super::paths;
use super::state::{Kind, Node, SharedFolder, State, Unmounted};

/// `sharing.MemberSelector`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Selector {
    Email(String),
    DropboxId(String),
}

/// Policies given to `share_folder` (all optional on the wire).
#[derive(Clone, Debug, Default)]
pub(crate) struct ShareOptions {
    pub acl_update_policy: Option<String>,
    pub member_policy: Option<String>,
    pub shared_link_policy: Option<String>,
    pub viewer_info_policy: Option<String>,
    pub access_inheritance: Option<String>,
}

pub(crate) fn access_error(tag: &str) -> ApiError {
    ApiError::route(json!({".tag": "access_error", "access_error": {".tag": tag}}))
}

impl MemberError {
    /// The `AddFolderMemberError` this knob produces for `email`.
    pub(crate) fn to_wire(self, email: &str) -> Value {
        match self {
            MemberError::InvalidEmail => json!({".tag": "bad_member",
                "bad_member": {".tag": "invalid_email", "invalid_email": email}}),
            MemberError::CantShareOutsideTeam => json!({".tag": "cant_share_outside_team"}),
            MemberError::TooManyMembers => {
                json!({".tag": "too_many_members", "too_many_members": 1000})
            }
            MemberError::TooManyPendingInvites => {
                json!({".tag": "too_many_pending_invites", "too_many_pending_invites": 1000})
            }
            MemberError::RateLimit => json!({".tag": "rate_limit"}),
            MemberError::TooManyInvitees => json!({".tag": "too_many_invitees"}),
            MemberError::InsufficientPlan => json!({".tag": "insufficient_plan"}),
        }
    }
}

impl MountError {
    /// The `MountFolderError` this knob produces; `space_needed` is the folder's content size.
    pub(crate) fn to_wire(self, space_needed: u64) -> Value {
        match self {
            MountError::InsideSharedFolder => json!({".tag": "inside_shared_folder"}),
            MountError::InsufficientQuota => json!({".tag": "insufficient_quota",
                "space_needed": space_needed, "space_shortage": space_needed, "space_left": 0}),
            MountError::NoPermission => json!({".tag": "no_permission"}),
            MountError::NotMountable => json!({".tag": "not_mountable"}),
            MountError::MustAutomount => json!({".tag": "must_automount"}),
        }
    }
}

impl State {
    /// `SharedFolderMetadata` (untagged) as the owner sees it; an unmounted folder has no
    /// `path_lower`/`path_display` ("absent for unmounted folders").
    pub fn shared_folder_metadata(&self, sf_id: &str, with_permissions: bool) -> Option<Value> {
        let sf = self.shared.get(sf_id)?;
        let display = match &sf.unmounted {
            Some(_) => None,
            None => Some(self.shared_folder_path(sf_id)?),
        };
        let name = match (&sf.unmounted, &display) {
            (Some(u), _) => u.name.clone(),
            (None, Some(d)) => paths::name_of(d).to_string(),
            (None, None) => return None,
        };
        let mut policy = json!({
            "acl_update_policy": {".tag": sf.acl_update_policy},
            "shared_link_policy": {".tag": sf.shared_link_policy},
        });
        if let Some(mp) = &sf.member_policy {
            policy["member_policy"] = json!({".tag": mp});
            policy["resolved_member_policy"] = json!({".tag": mp});
        }
        if let Some(vp) = &sf.viewer_info_policy {
            policy["viewer_info_policy"] = json!({".tag": vp});
        }
        let mut m = json!({
            "access_type": {".tag": "owner"},
            "is_inside_team_folder": false,
            "is_team_folder": false,
            "owner_display_names": [self.owner.display_name],
            "name": name,
            "policy": policy,
            "preview_url": format!("https://www.dropbox.com/scl/fo/{}", sf.id),
            "shared_folder_id": sf.id,
            "time_invited": sf.time_invited,
            "access_inheritance": {".tag": sf.access_inheritance},
            "folder_id": sf.folder_id,
        });
        if let Some(display) = display {
            m["path_display"] = json!(display);
            m["path_lower"] = json!(paths::lower(&display));
            if let Some(parent) = self.parent_shared_folder(&paths::lower(&display)) {
                m["parent_shared_folder_id"] = json!(parent);
            }
        }
        if with_permissions {
            m["permissions"] = json!([]);
        }
        Some(m)
    }

    /// Takes a mounted shared folder's root (`root_lower`) and everything below it out of the
    /// namespace and keeps it with the shared folder, unmounted.
    pub(crate) fn stash_shared_folder(&mut self, root_lower: &str, sf_id: &str) {
        let Some(root_display) = self.nodes.get(root_lower).map(|n| n.display.clone()) else {
            return;
        };
        let mut nodes = Vec::new();
        for key in self.subtree_keys(root_lower) {
            if let Some(node) = self.nodes.remove(&key) {
                self.ids.remove(&node.id);
                let suffix = node
                    .display
                    .get(root_display.len()..)
                    .unwrap_or("")
                    .to_string();
                nodes.push((suffix, node));
            }
        }
        if let Some(sf) = self.shared.get_mut(sf_id) {
            sf.unmounted = Some(Unmounted {
                name: paths::name_of(&root_display).to_string(),
                nodes,
            });
        }
    }

    /// `sharing/unmount_folder`: the folder leaves the owner's namespace (a `deleted` entry for
    /// its path) and keeps its id, members and content.
    pub fn unmount(&mut self, sf_id: &str) -> Result<(), ApiError> {
        let Some(sf) = self.shared.get(sf_id) else {
            return Err(access_error("invalid_id"));
        };
        if sf.unmounted.is_some() {
            // Which tag real Dropbox gives for an already unmounted folder is UNCONFIRMED;
            // `SharedFolderAccessError.unmounted` is the one the spec offers.
            return Err(access_error("unmounted"));
        }
        let Some(lower) = self.ids.get(&sf.folder_id).cloned() else {
            return Err(access_error("invalid_id"));
        };
        let display = self
            .nodes
            .get(&lower)
            .map(|n| n.display.clone())
            .unwrap_or_default();
        self.stash_shared_folder(&lower, sf_id);
        self.deleted.insert(lower, display.clone());
        self.record_deleted(&display);
        Ok(())
    }

    /// `sharing/mount_folder`: puts an unmounted shared folder back at the root of the namespace
    /// under its name (`name (1)` … when that name is taken), with its id and content.
    /// Ok: `SharedFolderMetadata`.
    pub fn mount(&mut self, sf_id: &str) -> Result<Value, ApiError> {
        let Some(sf) = self.shared.get(sf_id) else {
            return Err(access_error("invalid_id"));
        };
        if let Some(err) = self.mount_errors.get(sf_id) {
            let needed: u64 = sf
                .unmounted
                .iter()
                .flat_map(|u| u.nodes.iter())
                .map(|(_, n)| match &n.kind {
                    Kind::File(f) => f.size,
                    Kind::Folder { .. } => 0,
                })
                .sum();
            return Err(ApiError::route(err.to_wire(needed)));
        }
        let Some(unmounted) = sf.unmounted.clone() else {
            return Err(ApiError::tag("already_mounted"));
        };
        let mut target = format!("/{}", unmounted.name);
        if self.nodes.contains_key(&paths::lower(&target)) {
            target = self.free_name(&target, false);
        }
        for (suffix, mut node) in unmounted.nodes {
            node.display = format!("{target}{suffix}");
            let lower = paths::lower(&node.display);
            self.ids.insert(node.id.clone(), lower.clone());
            self.deleted.remove(&lower);
            self.nodes.insert(lower, node);
        }
        if let Some(sf) = self.shared.get_mut(sf_id) {
            sf.unmounted = None;
        }
        self.record_subtree(&paths::lower(&target));
        self.shared_folder_metadata(sf_id, false)
            .ok_or(ApiError::Server(500))
    }

    /// `sharing/share_folder` without the async wrapper. Ok: the shared folder id.
    pub fn share_folder(&mut self, display: &str, opts: &ShareOptions) -> Result<String, ApiError> {
        let bad_path =
            |tag: &str| ApiError::route(json!({".tag": "bad_path", "bad_path": {".tag": tag}}));
        let lower = paths::lower(display);
        match self.nodes.get(&lower) {
            Some(Node {
                kind: Kind::File(_),
                ..
            }) => return Err(bad_path("is_file")),
            Some(Node {
                kind: Kind::Folder { shared: Some(sf) },
                ..
            }) => {
                let sf = sf.clone();
                let mut err = json!({".tag": "already_shared"});
                if let (Some(obj), Some(Value::Object(meta))) =
                    (err.as_object_mut(), self.shared_folder_metadata(&sf, false))
                {
                    obj.extend(meta);
                }
                return Err(ApiError::route_with_summary(
                    json!({".tag": "bad_path", "bad_path": err}),
                    "bad_path/already_shared",
                ));
            }
            _ => {}
        }
        if self.parent_shared_folder(&lower).is_some() {
            return Err(bad_path("inside_shared_folder"));
        }
        let contains_shared = self.subtree_keys(&lower).iter().any(|k| {
            matches!(
                self.nodes.get(k),
                Some(Node {
                    kind: Kind::Folder { shared: Some(_) },
                    ..
                })
            )
        });
        if contains_shared {
            return Err(bad_path("contains_shared_folder"));
        }
        if !self.nodes.contains_key(&lower) {
            // "If the folder does not exist, it is created."
            self.create_folder(display, false)
                .map_err(|_| bad_path("invalid_path"))?;
        }
        let n = self.next();
        let sf_id = format!("{}", 84_528_192_421u64 + n);
        let folder_id = self
            .nodes
            .get(&lower)
            .map(|n| n.id.clone())
            .ok_or(ApiError::Server(500))?;
        if let Some(node) = self.nodes.get_mut(&lower) {
            node.kind = Kind::Folder {
                shared: Some(sf_id.clone()),
            };
        }
        let owner = MemberInfo {
            account_id: self.owner.account_id.clone(),
            email: self.owner.email.clone(),
            display_name: self.owner.display_name.clone(),
            access: AccessLevel::Owner,
            notified: false,
        };
        self.shared.insert(
            sf_id.clone(),
            SharedFolder {
                id: sf_id.clone(),
                folder_id,
                time_invited: paths::now_timestamp(),
                acl_update_policy: opts.acl_update_policy.clone().unwrap_or("editors".into()),
                shared_link_policy: opts.shared_link_policy.clone().unwrap_or("anyone".into()),
                member_policy: opts.member_policy.clone(),
                viewer_info_policy: opts.viewer_info_policy.clone(),
                access_inheritance: opts.access_inheritance.clone().unwrap_or("inherit".into()),
                members: vec![owner],
                invitees: Vec::new(),
                unmounted: None,
            },
        );
        // Sharing changes sharing_info of the folder and everything inside it.
        self.record_subtree(&lower);
        Ok(sf_id)
    }

    /// `sharing/unshare_folder`: the id is gone and members lose access; the owner keeps the
    /// folder as a plain folder when it is mounted (an unmounted one is gone with its content).
    pub fn unshare(&mut self, sf_id: &str) -> Result<(), ApiError> {
        let Some(sf) = self.shared.remove(sf_id) else {
            return Err(access_error("invalid_id"));
        };
        if let Some(lower) = self.ids.get(&sf.folder_id).cloned() {
            if let Some(node) = self.nodes.get_mut(&lower) {
                node.kind = Kind::Folder { shared: None };
            }
            self.record_subtree(&lower);
        }
        Ok(())
    }

    /// `sharing/add_folder_member`: all-or-nothing, like Dropbox.
    pub fn add_members(
        &mut self,
        sf_id: &str,
        members: &[(Selector, AccessLevel)],
        quiet: bool,
    ) -> Result<(), ApiError> {
        if !self.shared.contains_key(sf_id) {
            return Err(access_error("invalid_id"));
        }
        enum Add {
            User(MemberInfo),
            Invitee(InviteeInfo),
        }
        let mut adds = Vec::new();
        for (sel, access) in members {
            if *access == AccessLevel::Owner {
                return Err(ApiError::tag("no_permission"));
            }
            match sel {
                Selector::Email(email) => {
                    if let Some(err) = self.member_errors.get(&email.to_lowercase()) {
                        return Err(ApiError::route(err.to_wire(email)));
                    }
                    match self.user_by_email(email) {
                        Some(acc) => adds.push(Add::User(MemberInfo {
                            account_id: acc.account_id.clone(),
                            email: acc.email.clone(),
                            display_name: acc.display_name.clone(),
                            access: *access,
                            notified: !quiet,
                        })),
                        None => adds.push(Add::Invitee(InviteeInfo {
                            email: email.clone(),
                            access: *access,
                            notified: !quiet,
                        })),
                    }
                }
                Selector::DropboxId(id) => {
                    let bad = |tag: &str| {
                        let mut inner = json!({".tag": tag});
                        if tag != "invalid_group" {
                            inner[tag] = json!(id);
                        }
                        ApiError::route(json!({".tag": "bad_member", "bad_member": inner}))
                    };
                    if id.starts_with("g:") {
                        return Err(bad("invalid_group"));
                    }
                    match self.user_by_id(id) {
                        Some(acc) => adds.push(Add::User(MemberInfo {
                            account_id: acc.account_id.clone(),
                            email: acc.email.clone(),
                            display_name: acc.display_name.clone(),
                            access: *access,
                            notified: !quiet,
                        })),
                        None => return Err(bad("invalid_dropbox_id")),
                    }
                }
            }
        }
        let Some(sf) = self.shared.get_mut(sf_id) else {
            return Err(access_error("invalid_id"));
        };
        for add in adds {
            match add {
                // Already a member: not an error, nothing changes.
                Add::User(u) => {
                    if !sf.members.iter().any(|m| m.account_id == u.account_id) {
                        let lower = u.email.to_lowercase();
                        sf.invitees.retain(|i| i.email.to_lowercase() != lower);
                        sf.members.push(u);
                    }
                }
                Add::Invitee(i) => {
                    let lower = i.email.to_lowercase();
                    if !sf.invitees.iter().any(|x| x.email.to_lowercase() == lower) {
                        sf.invitees.push(i);
                    }
                }
            }
        }
        Ok(())
    }

    /// `sharing/remove_folder_member` (applied at once; the job only reports completion).
    pub fn remove_member(&mut self, sf_id: &str, sel: &Selector) -> Result<(), ApiError> {
        let owner_id = self.owner.account_id.clone();
        let Some(sf) = self.shared.get_mut(sf_id) else {
            return Err(access_error("invalid_id"));
        };
        let member_error = |tag: &str| {
            ApiError::route(json!({".tag": "member_error", "member_error": {".tag": tag}}))
        };
        match sel {
            Selector::Email(email) => {
                let lower = email.to_lowercase();
                if let Some(pos) = sf
                    .members
                    .iter()
                    .position(|m| m.email.to_lowercase() == lower)
                {
                    if sf.members[pos].account_id == owner_id {
                        return Err(ApiError::tag("folder_owner"));
                    }
                    sf.members.remove(pos);
                } else if let Some(pos) = sf
                    .invitees
                    .iter()
                    .position(|i| i.email.to_lowercase() == lower)
                {
                    sf.invitees.remove(pos);
                } else {
                    return Err(member_error("not_a_member"));
                }
            }
            Selector::DropboxId(id) => {
                if *id == owner_id {
                    return Err(ApiError::tag("folder_owner"));
                }
                match sf.members.iter().position(|m| m.account_id == *id) {
                    Some(pos) => {
                        sf.members.remove(pos);
                    }
                    None if id.starts_with("dbid:") || id.starts_with("g:") => {
                        return Err(member_error("not_a_member"))
                    }
                    None => return Err(member_error("invalid_dropbox_id")),
                }
            }
        }
        Ok(())
    }

    /// `sharing/update_folder_member`. The route sends only `dropbox_id` selectors; e-mails come
    /// from the test handle (a change made by hand in Dropbox, invitees included). The owner
    /// cannot be changed and nobody can be made owner: `no_permission` (UpdateFolderMemberError
    /// has no `folder_owner` tag).
    pub fn update_member(
        &mut self,
        sf_id: &str,
        sel: &Selector,
        access: AccessLevel,
    ) -> Result<(), ApiError> {
        let owner_id = self.owner.account_id.clone();
        let Some(sf) = self.shared.get_mut(sf_id) else {
            return Err(access_error("invalid_id"));
        };
        let member_error = |tag: &str| {
            ApiError::route(json!({".tag": "member_error", "member_error": {".tag": tag}}))
        };
        if access == AccessLevel::Owner {
            return Err(ApiError::tag("no_permission"));
        }
        let slot = match sel {
            Selector::DropboxId(id) => {
                if *id == owner_id {
                    return Err(ApiError::tag("no_permission"));
                }
                match sf.members.iter_mut().find(|m| m.account_id == *id) {
                    Some(m) => &mut m.access,
                    None if id.starts_with("dbid:") || id.starts_with("g:") => {
                        return Err(member_error("not_a_member"))
                    }
                    None => return Err(member_error("invalid_dropbox_id")),
                }
            }
            Selector::Email(email) => {
                let lower = email.to_lowercase();
                if let Some(m) = sf
                    .members
                    .iter_mut()
                    .find(|m| m.email.to_lowercase() == lower)
                {
                    if m.account_id == owner_id {
                        return Err(ApiError::tag("no_permission"));
                    }
                    &mut m.access
                } else if let Some(i) = sf
                    .invitees
                    .iter_mut()
                    .find(|i| i.email.to_lowercase() == lower)
                {
                    &mut i.access
                } else {
                    return Err(member_error("not_a_member"));
                }
            }
        };
        *slot = access;
        Ok(())
    }

    /// All membership entries of a shared folder: users (owner first), then invitees.
    pub fn membership_entries(&self, sf_id: &str) -> Option<(Vec<Value>, Vec<Value>)> {
        let sf = self.shared.get(sf_id)?;
        let users = sf
            .members
            .iter()
            .map(|m| {
                json!({
                    "access_type": {".tag": m.access.tag()},
                    "user": {
                        "account_id": m.account_id,
                        "email": m.email,
                        "display_name": m.display_name,
                        "same_team": false,
                    },
                    "permissions": [],
                    "is_inherited": false,
                })
            })
            .collect();
        let invitees = sf
            .invitees
            .iter()
            .map(|i| {
                json!({
                    "access_type": {".tag": i.access.tag()},
                    "invitee": {".tag": "email", "email": i.email},
                    "permissions": [],
                    "is_inherited": false,
                })
            })
            .collect();
        Some((users, invitees))
    }
}
