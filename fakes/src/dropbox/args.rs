//! Route arguments as Dropbox defines them (Stone structs → serde with every spec field listed
//! and unknown fields rejected), plus helpers for Stone unions in arguments, which may be a
//! bare string for Void members but must be `{".tag":…}` objects otherwise.
//!
//! Fields that are parsed but not acted on exist so that `deny_unknown_fields` accepts every
//! field the spec defines while still rejecting misspelt ones.
#![allow(dead_code)]

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::error::ApiError;
use super::model::AccessLevel;
use super::paths;
use super::sharing::Selector;
use super::tree::{Commit, WriteMode};

/// Deserializes a route argument; failures are the 400 Dropbox gives for bad input.
pub(crate) fn parse<T: DeserializeOwned>(
    route: &str,
    where_: &str,
    v: Value,
) -> Result<T, ApiError> {
    serde_json::from_value(v).map_err(|e| ApiError::bad_input(route, format!("{where_}: {e}")))
}

/// A union member as sent: its tag and, for non-Void members, the whole object.
pub(crate) type Tagged<'a> = (&'a str, Option<&'a serde_json::Map<String, Value>>);

/// A union value's tag and (for non-Void members) its object.
pub(crate) fn union_tag<'a>(
    route: &str,
    field: &str,
    v: &'a Value,
) -> Result<Tagged<'a>, ApiError> {
    match v {
        Value::String(s) => Ok((s.as_str(), None)),
        Value::Object(o) => match o.get(".tag").and_then(Value::as_str) {
            Some(t) => Ok((t, Some(o))),
            None => Err(ApiError::bad_input(
                route,
                format!("request body: {field}: missing '.tag' key"),
            )),
        },
        _ => Err(ApiError::bad_input(
            route,
            format!("request body: {field}: expected union, got {v}"),
        )),
    }
}

/// A Void-only union (policies, session type): returns the tag if it is one of `allowed`.
pub(crate) fn void_union(
    route: &str,
    field: &str,
    v: &Value,
    allowed: &[&str],
) -> Result<String, ApiError> {
    let (tag, _) = union_tag(route, field, v)?;
    if allowed.contains(&tag) {
        Ok(tag.to_string())
    } else {
        Err(ApiError::bad_input(
            route,
            format!("request body: {field}: unknown tag '{tag}'"),
        ))
    }
}

pub(crate) fn access_level(route: &str, field: &str, v: &Value) -> Result<AccessLevel, ApiError> {
    let (tag, _) = union_tag(route, field, v)?;
    tag.parse().map_err(|_| {
        ApiError::bad_input(route, format!("request body: {field}: unknown tag '{tag}'"))
    })
}

/// `sharing.MemberSelector`; e-mails must match Stone's pattern or the whole call is a 400.
pub(crate) fn member_selector(route: &str, field: &str, v: &Value) -> Result<Selector, ApiError> {
    let (tag, obj) = union_tag(route, field, v)?;
    let value = |key: &str| {
        obj.and_then(|o| o.get(key))
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                ApiError::bad_input(route, format!("request body: {field}: missing '{key}'"))
            })
    };
    match tag {
        "email" => {
            let email = value("email")?;
            if !paths::is_stone_email(&email) {
                return Err(ApiError::bad_input(
                    route,
                    format!(
                        "request body: {field}.email: '{email}' did not match pattern '{}'",
                        paths::EMAIL_PATTERN
                    ),
                ));
            }
            Ok(Selector::Email(email))
        }
        "dropbox_id" => {
            let id = value("dropbox_id")?;
            if id.is_empty() {
                return Err(ApiError::bad_input(
                    route,
                    format!("request body: {field}.dropbox_id: length must be at least 1"),
                ));
            }
            Ok(Selector::DropboxId(id))
        }
        other => Err(ApiError::bad_input(
            route,
            format!("request body: {field}: unknown tag '{other}'"),
        )),
    }
}

/// `files.WriteMode`: `add`/`overwrite` may be bare strings, `update` must carry its rev.
pub(crate) fn write_mode(route: &str, v: &Value) -> Result<WriteMode, ApiError> {
    let (tag, obj) = union_tag(route, "mode", v)?;
    match tag {
        "add" => Ok(WriteMode::Add),
        "overwrite" => Ok(WriteMode::Overwrite),
        "update" => {
            let rev = obj
                .and_then(|o| o.get("update"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ApiError::bad_input(route, "request body: mode: tag 'update' requires a value")
                })?;
            if rev.len() < 9 || !rev.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(ApiError::bad_input(
                    route,
                    format!("request body: mode.update: '{rev}' did not match pattern '[0-9a-f]+' (min length 9)"),
                ));
            }
            Ok(WriteMode::Update(rev.to_string()))
        }
        other => Err(ApiError::bad_input(
            route,
            format!("request body: mode: unknown tag '{other}'"),
        )),
    }
}

fn default_true() -> bool {
    true
}

/// `files.CommitInfo`.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommitInfo {
    pub path: String,
    #[serde(default)]
    pub mode: Option<Value>,
    #[serde(default)]
    pub autorename: bool,
    #[serde(default)]
    pub client_modified: Option<String>,
    #[serde(default)]
    pub mute: bool,
    #[serde(default)]
    pub property_groups: Option<Value>,
    #[serde(default)]
    pub strict_conflict: bool,
}

impl CommitInfo {
    pub fn to_commit(&self, route: &str) -> Result<Commit, ApiError> {
        let mode = match &self.mode {
            None => WriteMode::Add,
            Some(v) => write_mode(route, v)?,
        };
        if let Some(ts) = &self.client_modified {
            if !paths::is_timestamp(ts) {
                return Err(ApiError::bad_input(
                    route,
                    format!("request body: client_modified: '{ts}' is not a timestamp in the format %Y-%m-%dT%H:%M:%SZ"),
                ));
            }
        }
        Ok(Commit {
            mode,
            autorename: self.autorename,
            strict_conflict: self.strict_conflict,
            client_modified: self.client_modified.clone(),
        })
    }
}

/// `files.UploadArg` (= `CommitInfo` + `content_hash`, spelled out so unknown fields are
/// still rejected; serde cannot combine `flatten` with `deny_unknown_fields`).
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct UploadArg {
    pub path: String,
    #[serde(default)]
    pub mode: Option<Value>,
    #[serde(default)]
    pub autorename: bool,
    #[serde(default)]
    pub client_modified: Option<String>,
    #[serde(default)]
    pub mute: bool,
    #[serde(default)]
    pub property_groups: Option<Value>,
    #[serde(default)]
    pub strict_conflict: bool,
    #[serde(default)]
    pub content_hash: Option<String>,
}

impl UploadArg {
    /// The `CommitInfo` part.
    pub fn commit_info(&self) -> CommitInfo {
        CommitInfo {
            path: self.path.clone(),
            mode: self.mode.clone(),
            autorename: self.autorename,
            client_modified: self.client_modified.clone(),
            mute: self.mute,
            property_groups: self.property_groups.clone(),
            strict_conflict: self.strict_conflict,
        }
    }
}

/// `files.UploadSessionCursor`.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionCursor {
    pub session_id: String,
    pub offset: u64,
}

/// `files.UploadSessionStartArg`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionStartArg {
    #[serde(default)]
    pub close: bool,
    #[serde(default)]
    pub session_type: Option<Value>,
    #[serde(default)]
    pub content_hash: Option<String>,
}

/// `files.UploadSessionAppendArg`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionAppendArg {
    pub cursor: SessionCursor,
    #[serde(default)]
    pub close: bool,
    #[serde(default)]
    pub content_hash: Option<String>,
}

/// `files.UploadSessionFinishArg`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionFinishArg {
    pub cursor: SessionCursor,
    pub commit: CommitInfo,
    #[serde(default)]
    pub content_hash: Option<String>,
}

/// `files.UploadSessionStartBatchArg`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct StartBatchArg {
    pub num_sessions: u64,
    #[serde(default)]
    pub session_type: Option<Value>,
}

/// `files.UploadSessionFinishBatchArg`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct FinishBatchArg {
    pub entries: Vec<SessionFinishArg>,
}

/// `files.CreateFolderArg`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateFolderArg {
    pub path: String,
    #[serde(default)]
    pub autorename: bool,
}

/// `files.GetMetadataArg`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct GetMetadataArg {
    pub path: String,
    #[serde(default)]
    pub include_media_info: bool,
    #[serde(default)]
    pub include_deleted: bool,
    #[serde(default)]
    pub include_has_explicit_shared_members: bool,
    #[serde(default)]
    pub include_property_groups: Option<Value>,
}

/// `files.GetTemporaryLinkArg`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct GetTemporaryLinkArg {
    pub path: String,
}

/// `files.RelocationArg`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct RelocationArg {
    pub from_path: String,
    pub to_path: String,
    #[serde(default)]
    pub allow_shared_folder: bool,
    #[serde(default)]
    pub autorename: bool,
    #[serde(default)]
    pub allow_ownership_transfer: bool,
}

/// `files.DeleteArg`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeleteArg {
    pub path: String,
    #[serde(default)]
    pub parent_rev: Option<String>,
}

/// `files.ListFolderArg`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListFolderArg {
    pub path: String,
    #[serde(default)]
    pub recursive: bool,
    #[serde(default)]
    pub include_media_info: bool,
    #[serde(default)]
    pub include_deleted: bool,
    #[serde(default)]
    pub include_has_explicit_shared_members: bool,
    #[serde(default = "default_true")]
    pub include_mounted_folders: bool,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub shared_link: Option<Value>,
    #[serde(default)]
    pub include_property_groups: Option<Value>,
    #[serde(default = "default_true")]
    pub include_non_downloadable_files: bool,
    #[serde(default)]
    pub include_restorable_info: bool,
}

/// `{"cursor": …}` (list_folder/continue, list_folder_members/continue).
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct CursorArg {
    pub cursor: String,
}

/// `async.PollArg`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct PollArg {
    pub async_job_id: String,
}

/// `sharing.ShareFolderArg`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShareFolderArg {
    pub path: String,
    #[serde(default)]
    pub force_async: bool,
    #[serde(default)]
    pub acl_update_policy: Option<Value>,
    #[serde(default)]
    pub member_policy: Option<Value>,
    #[serde(default)]
    pub shared_link_policy: Option<Value>,
    #[serde(default)]
    pub viewer_info_policy: Option<Value>,
    #[serde(default)]
    pub access_inheritance: Option<Value>,
    #[serde(default)]
    pub actions: Option<Vec<Value>>,
    #[serde(default)]
    pub link_settings: Option<Value>,
}

/// `sharing.AddMember`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddMember {
    pub member: Value,
    #[serde(default)]
    pub access_level: Option<Value>,
}

/// `sharing.AddFolderMemberArg`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddFolderMemberArg {
    pub shared_folder_id: String,
    pub members: Vec<AddMember>,
    #[serde(default)]
    pub quiet: bool,
    #[serde(default)]
    pub custom_message: Option<String>,
    #[serde(default)]
    pub fp_sealed_result: Option<String>,
}

/// `sharing.RemoveFolderMemberArg` (`leave_a_copy` is required).
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct RemoveFolderMemberArg {
    pub shared_folder_id: String,
    pub member: Value,
    pub leave_a_copy: bool,
}

/// `sharing.UpdateFolderMemberArg` (all three fields are required).
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateFolderMemberArg {
    pub shared_folder_id: String,
    pub member: Value,
    pub access_level: Value,
}

/// `sharing.ListFolderMembersArgs`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListFolderMembersArgs {
    pub shared_folder_id: String,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub actions: Option<Vec<Value>>,
    #[serde(default)]
    pub limit: Option<u32>,
}

/// `sharing.GetMetadataArgs`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct SharedFolderIdArg {
    pub shared_folder_id: String,
    #[serde(default)]
    pub actions: Option<Vec<Value>>,
}

/// `sharing.UnshareFolderArg`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct UnshareFolderArg {
    pub shared_folder_id: String,
    #[serde(default)]
    pub leave_a_copy: bool,
}

/// `sharing.MountFolderArg` and `sharing.UnmountFolderArg`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(crate) struct MountFolderArg {
    pub shared_folder_id: String,
}
