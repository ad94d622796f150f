//! `sharing` namespace (and `async.LaunchResultBase`, which its member removal returns): shared
//! folders, their members, and the route errors the bridge decodes.

use serde::{Deserialize, Serialize};

/// `sharing.AccessLevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum AccessLevel {
    Owner,
    Editor,
    Viewer,
    ViewerNoComment,
    Traverse,
    NoAccess,
    #[serde(other)]
    Other,
}

impl From<crate::config::MemberAccess> for AccessLevel {
    fn from(m: crate::config::MemberAccess) -> Self {
        match m {
            crate::config::MemberAccess::Editor => AccessLevel::Editor,
            crate::config::MemberAccess::Viewer => AccessLevel::Viewer,
        }
    }
}

/// `sharing.SharedFolderMetadata`.
#[derive(Debug, Clone, Deserialize)]
pub struct SharedFolderMetadata {
    pub shared_folder_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub access_type: Option<AccessLevel>,
    #[serde(default)]
    pub is_inside_team_folder: bool,
    #[serde(default)]
    pub is_team_folder: bool,
    #[serde(default)]
    pub path_lower: Option<String>,
    #[serde(default)]
    pub path_display: Option<String>,
    #[serde(default)]
    pub parent_shared_folder_id: Option<String>,
    #[serde(default)]
    pub time_invited: Option<String>,
    #[serde(default)]
    pub preview_url: Option<String>,
    #[serde(default)]
    pub folder_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ShareFolderArg {
    pub path: String,
    pub force_async: bool,
}

/// `sharing.ShareFolderLaunch`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum ShareFolderLaunch {
    AsyncJobId {
        async_job_id: String,
    },
    Complete(SharedFolderMetadata),
    #[serde(other)]
    Other,
}

/// `sharing.ShareFolderJobStatus`; the failure union is kept raw for its tag path.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum ShareFolderJobStatus {
    InProgress,
    Complete(SharedFolderMetadata),
    Failed {
        failed: serde_json::Value,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Serialize)]
pub struct PollArg {
    pub async_job_id: String,
}

/// `sharing.ShareFolderError`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum ShareFolderError {
    EmailUnverified,
    BadPath {
        bad_path: SharePathError,
    },
    TeamPolicyDisallowsMemberPolicy,
    DisallowedSharedLinkPolicy,
    NoPermission,
    #[serde(other)]
    Other,
}

/// `sharing.SharePathError`; `already_shared` inlines the existing folder's metadata.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum SharePathError {
    IsFile,
    InsideSharedFolder,
    ContainsSharedFolder,
    ContainsAppFolder,
    ContainsTeamFolder,
    IsAppFolder,
    InsideAppFolder,
    IsPublicFolder,
    InsidePublicFolder,
    AlreadyShared(SharedFolderMetadata),
    InvalidPath,
    IsOsxPackage,
    InsideOsxPackage,
    IsVault,
    IsVaultLocked,
    IsFamily,
    #[serde(other)]
    Other,
}

/// `sharing.MemberSelector`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum MemberSelector {
    Email {
        email: String,
    },
    DropboxId {
        dropbox_id: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Serialize)]
pub struct AddMember {
    pub member: MemberSelector,
    pub access_level: AccessLevel,
}

#[derive(Debug, Clone, Serialize)]
pub struct AddFolderMemberArg {
    pub shared_folder_id: String,
    pub members: Vec<AddMember>,
    pub quiet: bool,
}

/// `sharing.AddFolderMemberError`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum AddFolderMemberError {
    AccessError {
        access_error: SharedFolderAccessError,
    },
    EmailUnverified,
    BannedMember,
    BadMember {
        bad_member: AddMemberSelectorError,
    },
    CantShareOutsideTeam,
    TooManyMembers {
        too_many_members: u64,
    },
    TooManyPendingInvites {
        too_many_pending_invites: u64,
    },
    RateLimit,
    TooManyInvitees,
    InsufficientPlan,
    TeamFolder,
    NoPermission,
    InvalidSharedFolder,
    #[serde(other)]
    Other,
}

/// `sharing.AddMemberSelectorError`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum AddMemberSelectorError {
    AutomaticGroup,
    InvalidDropboxId {
        invalid_dropbox_id: String,
    },
    InvalidEmail {
        invalid_email: String,
    },
    UnverifiedDropboxId {
        unverified_dropbox_id: String,
    },
    GroupDeleted,
    GroupNotOnTeam,
    InvalidGroup,
    #[serde(other)]
    Other,
}

/// `sharing.SharedFolderAccessError`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum SharedFolderAccessError {
    InvalidId,
    NotAMember,
    InvalidMember,
    EmailUnverified,
    Unmounted,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Serialize)]
pub struct RemoveFolderMemberArg {
    pub shared_folder_id: String,
    pub member: MemberSelector,
    pub leave_a_copy: bool,
}

/// `async.LaunchResultBase`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum LaunchResultBase {
    AsyncJobId {
        async_job_id: String,
    },
    #[serde(other)]
    Other,
}

/// `sharing.RemoveMemberJobStatus`; the failure union is kept raw for its tag path.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum RemoveMemberJobStatus {
    InProgress,
    Complete(MemberAccessLevelResult),
    Failed {
        failed: serde_json::Value,
    },
    #[serde(other)]
    Other,
}

/// `sharing.MemberAccessLevelResult`: access the member still has after removal (e.g. inherited).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MemberAccessLevelResult {
    #[serde(default)]
    pub access_level: Option<AccessLevel>,
    #[serde(default)]
    pub warning: Option<String>,
    #[serde(default)]
    pub access_details: Option<Vec<serde_json::Value>>,
}

/// `sharing.RemoveFolderMemberError`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum RemoveFolderMemberError {
    AccessError {
        access_error: SharedFolderAccessError,
    },
    MemberError {
        member_error: SharedFolderMemberError,
    },
    FolderOwner,
    GroupAccess,
    TeamFolder,
    NoPermission,
    TooManyFiles,
    #[serde(other)]
    Other,
}

/// `sharing.SharedFolderMemberError`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum SharedFolderMemberError {
    InvalidDropboxId,
    NotAMember,
    NoExplicitAccess(MemberAccessLevelResult),
    #[serde(other)]
    Other,
}

/// `sharing.UpdateFolderMemberArg`. The spec allows only a `dropbox_id` selector here ("Only
/// the `MemberSelector.dropbox_id` may be set at this time") and never `owner` as the level.
#[derive(Debug, Clone, Serialize)]
pub struct UpdateFolderMemberArg {
    pub shared_folder_id: String,
    pub member: MemberSelector,
    pub access_level: AccessLevel,
}

/// `sharing.UpdateFolderMemberError`. `no_explicit_access` carries the `AddFolderMemberError`
/// Dropbox hit when the update needed the member to be added explicitly.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum UpdateFolderMemberError {
    AccessError {
        access_error: SharedFolderAccessError,
    },
    MemberError {
        member_error: SharedFolderMemberError,
    },
    NoExplicitAccess {
        no_explicit_access: AddFolderMemberError,
    },
    InsufficientPlan,
    NoPermission,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Serialize)]
pub struct ListFolderMembersArgs {
    pub shared_folder_id: String,
    pub limit: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct ListFolderMembersContinueArg {
    pub cursor: String,
}

/// `sharing.SharedFolderMembers`; `list_folder_members` returns every page merged.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SharedFolderMembers {
    #[serde(default)]
    pub users: Vec<UserMembershipInfo>,
    #[serde(default)]
    pub groups: Vec<GroupMembershipInfo>,
    #[serde(default)]
    pub invitees: Vec<InviteeMembershipInfo>,
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UserMembershipInfo {
    pub access_type: AccessLevel,
    pub user: UserInfo,
    #[serde(default)]
    pub is_inherited: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserInfo {
    #[serde(default)]
    pub account_id: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub same_team: bool,
    #[serde(default)]
    pub team_member_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GroupMembershipInfo {
    pub access_type: AccessLevel,
    pub group: GroupInfo,
    #[serde(default)]
    pub is_inherited: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct GroupInfo {
    #[serde(default)]
    pub group_name: String,
    #[serde(default)]
    pub group_id: String,
    #[serde(default)]
    pub member_count: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InviteeMembershipInfo {
    pub access_type: AccessLevel,
    pub invitee: InviteeInfo,
    #[serde(default)]
    pub user: Option<UserInfo>,
    #[serde(default)]
    pub is_inherited: bool,
}

/// `sharing.InviteeInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum InviteeInfo {
    Email {
        email: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Serialize)]
pub struct GetFolderMetadataArg {
    pub shared_folder_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn update_folder_member_wire() {
        let v = serde_json::to_value(UpdateFolderMemberArg {
            shared_folder_id: "84528192421".into(),
            member: MemberSelector::DropboxId {
                dropbox_id: "dbid:AAEufNrMPSPe0dMQijRP0N_aZtBJRm26W4Q".into(),
            },
            access_level: AccessLevel::Viewer,
        })
        .expect("ser");
        assert_eq!(
            v,
            json!({"shared_folder_id":"84528192421",
                "member":{".tag":"dropbox_id","dropbox_id":"dbid:AAEufNrMPSPe0dMQijRP0N_aZtBJRm26W4Q"},
                "access_level":{".tag":"viewer"}})
        );
        let r: MemberAccessLevelResult = serde_json::from_value(json!({})).expect("decode");
        assert!(r.access_level.is_none());
        let e: UpdateFolderMemberError = serde_json::from_value(
            json!({".tag":"member_error","member_error":{".tag":"not_a_member"}}),
        )
        .expect("decode");
        assert!(matches!(
            e,
            UpdateFolderMemberError::MemberError {
                member_error: SharedFolderMemberError::NotAMember
            }
        ));
        let e: UpdateFolderMemberError = serde_json::from_value(
            json!({".tag":"no_explicit_access","no_explicit_access":{".tag":"too_many_members","too_many_members":1000}}),
        )
        .expect("decode");
        assert!(matches!(
            e,
            UpdateFolderMemberError::NoExplicitAccess {
                no_explicit_access: AddFolderMemberError::TooManyMembers { .. }
            }
        ));
        let e: UpdateFolderMemberError =
            serde_json::from_value(json!({".tag":"insufficient_plan"})).expect("decode");
        assert!(matches!(e, UpdateFolderMemberError::InsufficientPlan));
    }
}
