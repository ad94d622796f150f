//! `files` namespace: metadata, folder operations, listing with cursors, uploads and upload
//! sessions, and the route errors the bridge decodes.

use serde::{Deserialize, Serialize};

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
