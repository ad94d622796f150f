//! Dropbox API v2 wire types (reference sections 2.5 and 3): argument and result structs with the
//! provider's exact snake_case names, and `.tag` unions as internally tagged serde enums. Every
//! union has an `Other` catch-all so a tag Dropbox adds later never fails decoding; result
//! structs default their optional fields and ignore unknown ones.
//!
//! These mirror Dropbox; they are not the bridge's own API types.

use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------------
// common / auth / users
// ---------------------------------------------------------------------------------------------

/// Value of the `Dropbox-API-Path-Root` header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum PathRootHeader {
    Home,
    Root { root: String },
    NamespaceId { namespace_id: String },
}

/// `oauth2/token` answer to a refresh.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// `oauth2/token` error body (`{"error":"invalid_grant","error_description":..}`).
#[derive(Debug, Clone, Deserialize)]
pub struct OAuthErrorBody {
    pub error: String,
}

/// Body of a non-2xx answer in JSON form: `{"error_summary", "error", "user_message"?}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiErrorBody {
    #[serde(default)]
    pub error_summary: Option<String>,
    #[serde(default)]
    pub error: serde_json::Value,
    #[serde(default)]
    pub user_message: Option<UserMessage>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UserMessage {
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub locale: Option<String>,
}

/// `auth.RateLimitError`, found under `error` of a JSON 429.
#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitError {
    #[serde(default)]
    pub reason: Option<RateLimitReason>,
    #[serde(default)]
    pub retry_after: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum RateLimitReason {
    TooManyRequests,
    TooManyWriteOperations,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Name {
    #[serde(default)]
    pub given_name: String,
    #[serde(default)]
    pub surname: String,
    #[serde(default)]
    pub familiar_name: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub abbreviated_name: String,
}

/// `common.RootInfo` (subtypes `team` / `user`; the tag is kept, the fields are shared).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RootInfo {
    #[serde(rename = ".tag", default)]
    pub tag: Option<String>,
    pub root_namespace_id: String,
    #[serde(default)]
    pub home_namespace_id: String,
    #[serde(default)]
    pub home_path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum AccountType {
    Basic,
    Pro,
    Business,
    #[serde(other)]
    Other,
}

/// `users.FullAccount`.
#[derive(Debug, Clone, Deserialize)]
pub struct FullAccount {
    pub account_id: String,
    #[serde(default)]
    pub name: Name,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub email_verified: bool,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub team_member_id: Option<String>,
    #[serde(default)]
    pub account_type: Option<AccountType>,
    pub root_info: RootInfo,
}

// ---------------------------------------------------------------------------------------------
// files: metadata
// ---------------------------------------------------------------------------------------------

/// `files.Metadata`, tagged `file` / `folder` / `deleted`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum Metadata {
    File(FileMetadata),
    Folder(FolderMetadata),
    Deleted(DeletedMetadata),
    #[serde(other)]
    Other,
}

impl Metadata {
    pub fn path_lower(&self) -> Option<&str> {
        match self {
            Metadata::File(m) => m.path_lower.as_deref(),
            Metadata::Folder(m) => m.path_lower.as_deref(),
            Metadata::Deleted(m) => m.path_lower.as_deref(),
            Metadata::Other => None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct FileMetadata {
    pub name: String,
    pub id: String,
    #[serde(default)]
    pub client_modified: String,
    #[serde(default)]
    pub server_modified: String,
    #[serde(default)]
    pub rev: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub path_lower: Option<String>,
    #[serde(default)]
    pub path_display: Option<String>,
    #[serde(default)]
    pub content_hash: Option<String>,
    #[serde(default)]
    pub is_downloadable: Option<bool>,
    #[serde(default)]
    pub sharing_info: Option<FileSharingInfo>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct FileSharingInfo {
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub parent_shared_folder_id: Option<String>,
    #[serde(default)]
    pub modified_by: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct FolderMetadata {
    pub name: String,
    pub id: String,
    #[serde(default)]
    pub path_lower: Option<String>,
    #[serde(default)]
    pub path_display: Option<String>,
    #[serde(default)]
    pub sharing_info: Option<FolderSharingInfo>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct FolderSharingInfo {
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub parent_shared_folder_id: Option<String>,
    #[serde(default)]
    pub shared_folder_id: Option<String>,
    #[serde(default)]
    pub traverse_only: bool,
    #[serde(default)]
    pub no_access: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeletedMetadata {
    pub name: String,
    #[serde(default)]
    pub path_lower: Option<String>,
    #[serde(default)]
    pub path_display: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// files: folder ops
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
pub struct CreateFolderArg {
    pub path: String,
    pub autorename: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CreateFolderResult {
    pub metadata: FolderMetadata,
}

#[derive(Debug, Clone, Serialize)]
pub struct GetMetadataArg {
    pub path: String,
    pub include_deleted: bool,
    pub include_has_explicit_shared_members: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RelocationArg {
    pub from_path: String,
    pub to_path: String,
    pub autorename: bool,
    pub allow_ownership_transfer: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RelocationResult {
    pub metadata: Metadata,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeleteArg {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_rev: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeleteResult {
    pub metadata: Metadata,
}

/// `files.ListFolderArg`; also the argument of `list_folder/get_latest_cursor`.
#[derive(Debug, Clone, Serialize)]
pub struct ListFolderArg {
    /// `""` for the root.
    pub path: String,
    pub recursive: bool,
    pub include_deleted: bool,
    pub include_mounted_folders: bool,
    pub include_has_explicit_shared_members: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

impl ListFolderArg {
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            recursive: false,
            include_deleted: false,
            include_mounted_folders: true,
            include_has_explicit_shared_members: false,
            limit: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ListFolderContinueArg {
    pub cursor: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ListFolderResult {
    #[serde(default)]
    pub entries: Vec<Metadata>,
    pub cursor: String,
    #[serde(default)]
    pub has_more: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ListFolderGetLatestCursorResult {
    pub cursor: String,
}

// ---------------------------------------------------------------------------------------------
// files: uploads
// ---------------------------------------------------------------------------------------------

/// `files.WriteMode`. `Update` carries the rev that must still be current.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum WriteMode {
    Add,
    Overwrite,
    Update { update: String },
}

/// `files.CommitInfo`: where and how an upload is committed.
#[derive(Debug, Clone, Serialize)]
pub struct CommitInfo {
    pub path: String,
    pub mode: WriteMode,
    pub autorename: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_modified: Option<String>,
    pub mute: bool,
    pub strict_conflict: bool,
}

impl CommitInfo {
    /// A commit to `path` with `mode`, no autorename, not muted.
    pub fn new(path: impl Into<String>, mode: WriteMode) -> Self {
        Self {
            path: path.into(),
            mode,
            autorename: false,
            client_modified: None,
            mute: false,
            strict_conflict: false,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct UploadArg<'a> {
    #[serde(flatten)]
    pub commit: &'a CommitInfo,
    pub content_hash: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum UploadSessionType {
    Sequential,
    Concurrent,
}

#[derive(Debug, Clone, Serialize)]
pub struct UploadSessionStartArg {
    pub close: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_type: Option<UploadSessionType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UploadSessionStartResult {
    pub session_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadSessionCursor {
    pub session_id: String,
    pub offset: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct UploadSessionAppendArg {
    pub cursor: UploadSessionCursor,
    pub close: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UploadSessionFinishArg {
    pub cursor: UploadSessionCursor,
    pub commit: CommitInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UploadSessionStartBatchArg {
    pub num_sessions: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_type: Option<UploadSessionType>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UploadSessionStartBatchResult {
    pub session_ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UploadSessionFinishBatchArg {
    pub entries: Vec<UploadSessionFinishArg>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UploadSessionFinishBatchResult {
    pub entries: Vec<UploadSessionFinishBatchResultEntry>,
}

/// One entry of `finish_batch_v2`: success inlines `FileMetadata`; failure nests the
/// `UploadSessionFinishError` union under `failure` (kept raw so its tag path can be reported).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)] // short-lived decode type; boxing buys nothing
pub enum UploadSessionFinishBatchResultEntry {
    Success(FileMetadata),
    Failure {
        failure: serde_json::Value,
    },
    #[serde(other)]
    Other,
}

// ---------------------------------------------------------------------------------------------
// files: route errors (decode with `DropboxError::route_error::<T>()`)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum WriteError {
    MalformedPath,
    Conflict {
        conflict: WriteConflictError,
    },
    NoWritePermission,
    InsufficientSpace,
    DisallowedName,
    TeamFolder,
    OperationSuppressed,
    TooManyWriteOperations,
    AccessRestricted,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum WriteConflictError {
    File,
    Folder,
    FileAncestor,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum LookupError {
    MalformedPath,
    NotFound,
    NotFile,
    NotFolder,
    RestrictedContent,
    UnsupportedContentType,
    Locked,
    #[serde(other)]
    Other,
}

/// `files.CreateFolderError`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum CreateFolderError {
    Path {
        path: WriteError,
    },
    #[serde(other)]
    Other,
}

/// `files.GetMetadataError`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum GetMetadataError {
    Path {
        path: LookupError,
    },
    #[serde(other)]
    Other,
}

/// `files.ListFolderContinueError`: on `reset`, list again from scratch.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum ListFolderContinueError {
    Path {
        path: LookupError,
    },
    Reset,
    #[serde(other)]
    Other,
}

/// `files.UploadSessionAppendError` (`UploadSessionLookupError` tags).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = ".tag", rename_all = "snake_case")]
pub enum UploadSessionAppendError {
    NotFound,
    IncorrectOffset(UploadSessionOffsetError),
    Closed,
    NotClosed,
    TooLarge,
    ConcurrentSessionInvalidOffset,
    ConcurrentSessionInvalidDataSize,
    PayloadTooLarge,
    ContentHashMismatch,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UploadSessionOffsetError {
    pub correct_offset: u64,
}

// ---------------------------------------------------------------------------------------------
// sharing
// ---------------------------------------------------------------------------------------------

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

/// `sharing.MountFolderArg`.
#[derive(Debug, Clone, Serialize)]
pub struct MountFolderArg {
    pub shared_folder_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unions_decode_nested_inlined_and_unknown_tags() {
        let e: CreateFolderError = serde_json::from_value(
            json!({".tag":"path","path":{".tag":"conflict","conflict":{".tag":"folder"}}}),
        )
        .expect("decode");
        assert_eq!(
            e,
            CreateFolderError::Path {
                path: WriteError::Conflict {
                    conflict: WriteConflictError::Folder
                }
            }
        );
        let e: UploadSessionAppendError =
            serde_json::from_value(json!({".tag":"incorrect_offset","correct_offset":8388608}))
                .expect("decode");
        assert_eq!(
            e,
            UploadSessionAppendError::IncorrectOffset(UploadSessionOffsetError {
                correct_offset: 8388608
            })
        );
        let e: WriteError =
            serde_json::from_value(json!({".tag":"brand_new_tag","x":1})).expect("decode");
        assert_eq!(e, WriteError::Other);
        let s: ShareFolderError = serde_json::from_value(json!({".tag":"bad_path","bad_path":{
            ".tag":"already_shared","shared_folder_id":"84528192421","name":"dir",
            "access_type":{".tag":"owner"},"policy":{}}}))
        .expect("decode");
        match s {
            ShareFolderError::BadPath {
                bad_path: SharePathError::AlreadyShared(m),
            } => {
                assert_eq!(m.shared_folder_id, "84528192421");
                assert_eq!(m.access_type, Some(AccessLevel::Owner));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn args_serialize_like_stone() {
        let c = CommitInfo::new(
            "/a.txt",
            WriteMode::Update {
                update: "a1c10ce0dd78".into(),
            },
        );
        let v = serde_json::to_value(UploadArg {
            commit: &c,
            content_hash: "h".into(),
        })
        .expect("ser");
        assert_eq!(v["mode"], json!({".tag":"update","update":"a1c10ce0dd78"}));
        assert_eq!(v["path"], "/a.txt");
        assert_eq!(v["content_hash"], "h");
        let v = serde_json::to_value(AddMember {
            member: MemberSelector::Email {
                email: "a@b.com".into(),
            },
            access_level: AccessLevel::Editor,
        })
        .expect("ser");
        assert_eq!(
            v,
            json!({"member":{".tag":"email","email":"a@b.com"},"access_level":{".tag":"editor"}})
        );
        let v = serde_json::to_value(PathRootHeader::Root { root: "7".into() }).expect("ser");
        assert_eq!(v, json!({".tag":"root","root":"7"}));
    }

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

    #[test]
    fn metadata_entries_and_batch_entries() {
        let r: ListFolderResult = serde_json::from_value(json!({
            "entries":[
                {".tag":"file","name":"a","id":"id:1","rev":"1","size":3,"path_lower":"/a"},
                {".tag":"folder","name":"b","id":"id:2","path_lower":"/b"},
                {".tag":"deleted","name":"c","path_lower":"/c"},
                {".tag":"symlink","name":"d"}
            ],"cursor":"cur","has_more":false}))
        .expect("decode");
        assert_eq!(r.entries.len(), 4);
        assert!(matches!(r.entries[3], Metadata::Other));
        let b: UploadSessionFinishBatchResult = serde_json::from_value(json!({"entries":[
            {".tag":"success","name":"a","id":"id:1","rev":"1","size":1},
            {".tag":"failure","failure":{".tag":"lookup_failed","lookup_failed":{".tag":"not_closed"}}}
        ]}))
        .expect("decode");
        assert!(matches!(
            b.entries[0],
            UploadSessionFinishBatchResultEntry::Success(_)
        ));
        assert!(matches!(
            b.entries[1],
            UploadSessionFinishBatchResultEntry::Failure { .. }
        ));
    }
}
