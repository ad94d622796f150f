//! Public, test-facing types: options, knobs, faults and inspection snapshots. None of these is a
//! wire type; they exist so tests can arrange and assert state without speaking HTTP.

use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use super::error::RateLimitReason;

/// How the fake is started. `Default` gives a ready-to-use single-user account.
#[derive(Clone, Debug)]
pub struct DropboxOptions {
    /// OAuth client id accepted by `/oauth2/token`.
    pub app_key: String,
    /// OAuth client secret accepted by `/oauth2/token` (it also signs webhooks in real Dropbox).
    pub app_secret: String,
    /// The long-lived refresh token that `/oauth2/token` exchanges for access tokens.
    pub refresh_token: String,
    /// E-mail of the account that owns the Dropbox (the caller of every route).
    pub owner_email: String,
    /// `dbid:` account id of the owner.
    pub owner_account_id: String,
    /// Display name of the owner.
    pub owner_display_name: String,
    /// Root (= home) namespace id of the owner, used by `Dropbox-API-Path-Root` and `ns:` paths.
    pub root_namespace_id: String,
    /// Access tokens accepted from the start; they never expire.
    pub static_access_tokens: Vec<String>,
    /// Lifetime of tokens issued by `/oauth2/token` (`expires_in`).
    pub token_lifetime: Duration,
    /// Seed of the fault-injection RNG, so injected 429/5xx sequences repeat.
    pub seed: u64,
    /// Knobs in force from the start (`token_lifetime` above wins over `token_lifetime_secs`).
    pub knobs: Knobs,
}

impl Default for DropboxOptions {
    fn default() -> Self {
        Self {
            app_key: "fake-app-key".into(),
            app_secret: "fake-app-secret".into(),
            refresh_token: "fake-refresh-token".into(),
            owner_email: "owner@example.com".into(),
            owner_account_id: "dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc".into(),
            owner_display_name: "Owner Example".into(),
            root_namespace_id: "3235641".into(),
            static_access_tokens: vec!["fake-static-token".into()],
            token_lifetime: Duration::from_secs(14_400),
            seed: 0x5eed,
            knobs: Knobs::default(),
        }
    }
}

/// Runtime behaviour switches. Read with `FakeDropbox::knobs`, change with
/// `FakeDropbox::set_knobs` / the convenience setters, or `POST /_fake/knobs`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Knobs {
    /// Added delay before every `/2/` call is handled, in milliseconds.
    pub latency_ms: u64,
    /// Probability (0.0..=1.0) that a `/2/` call is refused with 429.
    pub rate_limit_rate: f64,
    /// `retry_after` (body) and `Retry-After` (header) of injected 429s, seconds.
    pub retry_after_secs: u64,
    /// Send injected 429s as `text/plain` instead of JSON.
    pub rate_limit_plain_text: bool,
    /// Reason tag of injected JSON 429s.
    pub rate_limit_reason: RateLimitReason,
    /// Probability (0.0..=1.0) that a `/2/` call fails with `server_error_status`.
    pub server_error_rate: f64,
    /// Status used for injected server errors (500, 503, ...).
    pub server_error_status: u16,
    /// More `/2/` calls than this in flight at once are refused with 429 (`None` = unlimited).
    pub max_concurrent_requests: Option<usize>,
    /// Lifetime of newly issued access tokens, seconds.
    pub token_lifetime_secs: u64,
    /// `sharing/share_folder` answers with `async_job_id` even without `force_async` (every
    /// call; the same as `share_folder_async_ratio` 1.0).
    pub share_folder_async: bool,
    /// Share of `sharing/share_folder` calls (0.0..=1.0) answered with `async_job_id`, as real
    /// Dropbox does for folders with content. Deterministic: with ratio r, the n-th share that
    /// creates a shared folder is async when `floor(n * r)` grows, so 0.5 makes every second
    /// one async and 1/3 every third. 0.0 (default) = only `force_async` calls.
    pub share_folder_async_ratio: f64,
    /// How many polls of an async job answer `in_progress` before `complete`.
    pub async_job_polls: u32,
    /// An async job also answers `in_progress` until this many milliseconds after it started.
    pub async_job_delay_ms: u64,
    /// Page size of `list_folder` when the call gives no `limit`.
    pub list_folder_page_size: usize,
    /// When set, a signed webhook notification is POSTed here after every successful
    /// namespace write (fire and forget).
    pub webhook_url: Option<String>,
    /// OAuth scopes the app's tokens carry (what the App Console's Permissions tab granted
    /// when the refresh token was authorised). A route needing another scope answers 401
    /// `missing_scope` with its `required_scope`. `None` (default) = every scope.
    pub granted_scopes: Option<Vec<String>>,
    /// The app's account has not verified its email address: `add_folder_member` and
    /// `share_folder` answer `email_unverified` ("This user's email address is not verified.
    /// This functionality is only available on accounts with a verified email address", SPEC
    /// `AddFolderMemberError`, `ShareFolderErrorBase`): about the caller, whoever is invited.
    pub account_email_unverified: bool,
    /// The app's account is banned from sharing: `add_folder_member` answers `banned_member`
    /// ("The current user has been banned", SPEC `AddFolderMemberError`).
    pub account_banned: bool,
}

impl Knobs {
    /// Whether the app's tokens carry `scope`.
    pub fn grants(&self, scope: &str) -> bool {
        self.granted_scopes
            .as_ref()
            .is_none_or(|g| g.iter().any(|s| s == scope))
    }
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            rate_limit_rate: 0.0,
            retry_after_secs: 1,
            rate_limit_plain_text: false,
            rate_limit_reason: RateLimitReason::TooManyRequests,
            server_error_rate: 0.0,
            server_error_status: 500,
            max_concurrent_requests: None,
            token_lifetime_secs: 14_400,
            share_folder_async: false,
            share_folder_async_ratio: 0.0,
            async_job_polls: 1,
            async_job_delay_ms: 0,
            list_folder_page_size: 2000,
            webhook_url: None,
            granted_scopes: None,
            account_email_unverified: false,
            account_banned: false,
        }
    }
}

/// A scripted failure for `FakeDropbox::fail_next`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// JSON 429 `too_many_requests`.
    RateLimit {
        /// Seconds.
        retry_after: u64,
    },
    /// JSON 429 `too_many_write_operations` (namespace lock contention).
    WriteContention {
        /// Seconds.
        retry_after: u64,
    },
    /// Plain-text 429 with only a `Retry-After` header.
    RateLimitPlainText {
        /// Seconds.
        retry_after: u64,
    },
    /// A 5xx with the given status.
    ServerError {
        /// HTTP status.
        status: u16,
    },
    /// 401 `expired_access_token`, whatever token was sent.
    ExpiredToken,
    /// The call is carried out (its effects stay), but its answer is replaced by this 5xx: a
    /// response lost on the way back, as a client behind a failing proxy sees it.
    ResponseLost {
        /// HTTP status.
        status: u16,
    },
}

/// `sharing.AccessLevel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessLevel {
    /// Owner.
    Owner,
    /// Can edit.
    Editor,
    /// Can view.
    Viewer,
    /// Can view, no comments.
    ViewerNoComment,
    /// Can traverse only.
    Traverse,
    /// No access.
    NoAccess,
}

impl AccessLevel {
    /// The wire tag.
    pub fn tag(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Editor => "editor",
            Self::Viewer => "viewer",
            Self::ViewerNoComment => "viewer_no_comment",
            Self::Traverse => "traverse",
            Self::NoAccess => "no_access",
        }
    }
}

impl FromStr for AccessLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "owner" => Self::Owner,
            "editor" => Self::Editor,
            "viewer" => Self::Viewer,
            "viewer_no_comment" => Self::ViewerNoComment,
            "traverse" => Self::Traverse,
            "no_access" => Self::NoAccess,
            other => return Err(format!("unknown access level {other:?}")),
        })
    }
}

/// A per-e-mail failure that `sharing/add_folder_member` reports for the whole call
/// (set with `FakeDropbox::set_member_error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberError {
    /// `bad_member/invalid_email` (carries the address).
    InvalidEmail,
    /// `cant_share_outside_team`.
    CantShareOutsideTeam,
    /// `too_many_members` (carries a limit).
    TooManyMembers,
    /// `too_many_pending_invites` (carries a limit).
    TooManyPendingInvites,
    /// `rate_limit` (the daily invite limit).
    RateLimit,
    /// `too_many_invitees`.
    TooManyInvitees,
    /// `insufficient_plan`.
    InsufficientPlan,
}

impl FromStr for MemberError {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        serde_json::from_value(serde_json::Value::String(s.to_string()))
            .map_err(|_| format!("unknown member error {s:?}"))
    }
}

/// A `SharedFolderAccessError` that every sharing route answers for one shared folder (set with
/// `FakeDropbox::set_access_error`), e.g. after the account lost its membership. The folder
/// routes (`get_folder_metadata`, `list_folder_members`) send it bare, the others nest it under
/// `access_error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessError {
    /// `invalid_id`.
    InvalidId,
    /// `not_a_member`.
    NotAMember,
    /// `invalid_member`.
    InvalidMember,
    /// `unmounted`.
    Unmounted,
}

impl AccessError {
    /// The wire tag.
    pub fn tag(self) -> &'static str {
        match self {
            Self::InvalidId => "invalid_id",
            Self::NotAMember => "not_a_member",
            Self::InvalidMember => "invalid_member",
            Self::Unmounted => "unmounted",
        }
    }
}

impl FromStr for AccessError {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        serde_json::from_value(serde_json::Value::String(s.to_string()))
            .map_err(|_| format!("unknown access error {s:?}"))
    }
}

/// A `MountFolderError` that `sharing/mount_folder` answers for one shared folder (set with
/// `FakeDropbox::set_mount_error`); the other tags (`access_error`, `already_mounted`) follow
/// from the folder's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MountError {
    /// `inside_shared_folder`.
    InsideSharedFolder,
    /// `insufficient_quota` (with `space_needed`, `space_shortage`, `space_left`).
    InsufficientQuota,
    /// `no_permission`.
    NoPermission,
    /// `not_mountable`.
    NotMountable,
    /// `must_automount`.
    MustAutomount,
}

impl FromStr for MountError {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        serde_json::from_value(serde_json::Value::String(s.to_string()))
            .map_err(|_| format!("unknown mount error {s:?}"))
    }
}

/// A file as the fake stores it: metadata only, never the bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileInfo {
    /// `id:…`.
    pub id: String,
    /// Case-preserved path.
    pub path_display: String,
    /// Lower-cased path.
    pub path_lower: String,
    /// Bytes.
    pub size: u64,
    /// Hex revision (≥ 9 chars).
    pub rev: String,
    /// Dropbox content hash of the whole file.
    pub content_hash: String,
    /// `client_modified` timestamp.
    pub client_modified: String,
    /// `server_modified` timestamp.
    pub server_modified: String,
}

/// One node of the tree, for `FakeDropbox::tree`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TreeEntry {
    /// A folder.
    Folder {
        /// `id:…`.
        id: String,
        /// Case-preserved path.
        path_display: String,
        /// Set when the folder is the root of a shared folder.
        shared_folder_id: Option<String>,
    },
    /// A file.
    File(FileInfo),
}

impl TreeEntry {
    /// Case-preserved path of the entry.
    pub fn path_display(&self) -> &str {
        match self {
            Self::Folder { path_display, .. } => path_display,
            Self::File(f) => &f.path_display,
        }
    }
}

/// A Dropbox user with access to a shared folder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MemberInfo {
    /// `dbid:…`.
    pub account_id: String,
    /// E-mail.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Access level.
    pub access: AccessLevel,
    /// False when added with `quiet: true` (no invitation e-mail).
    pub notified: bool,
}

/// An e-mail invited to a shared folder that is not (yet) a Dropbox user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InviteeInfo {
    /// E-mail as given.
    pub email: String,
    /// Access level.
    pub access: AccessLevel,
    /// False when added with `quiet: true`.
    pub notified: bool,
}

/// Snapshot of a shared folder, for test assertions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SharedFolderInfo {
    /// Numeric string id.
    pub shared_folder_id: String,
    /// `id:…` of the folder.
    pub folder_id: String,
    /// The folder's name (its last name while unmounted).
    pub name: String,
    /// False while the owner has it unmounted (deleted from their Dropbox): it keeps its id and
    /// members, has no path, and `sharing/mount_folder` brings it back.
    pub mounted: bool,
    /// Current case-preserved path; empty while unmounted.
    pub path_display: String,
    /// Current lower-cased path; empty while unmounted.
    pub path_lower: String,
    /// Users, owner first.
    pub members: Vec<MemberInfo>,
    /// Pending e-mail invitations.
    pub invitees: Vec<InviteeInfo>,
}

impl SharedFolderInfo {
    /// Access of the user or invitee with this e-mail (case-insensitive).
    pub fn access_of(&self, email: &str) -> Option<AccessLevel> {
        let e = email.to_lowercase();
        self.members
            .iter()
            .find(|m| m.email.to_lowercase() == e)
            .map(|m| m.access)
            .or_else(|| {
                self.invitees
                    .iter()
                    .find(|i| i.email.to_lowercase() == e)
                    .map(|i| i.access)
            })
    }

    /// E-mails of all users and invitees, lower-cased and sorted (owner included).
    pub fn emails(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .members
            .iter()
            .map(|m| m.email.to_lowercase())
            .chain(self.invitees.iter().map(|i| i.email.to_lowercase()))
            .collect();
        v.sort();
        v
    }
}
