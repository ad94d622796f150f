//! Dropbox API v2 client. Owns everything the bridge says to Dropbox: the single call path
//! (auth and token refresh, `Dropbox-API-Path-Root`, header-safe `Dropbox-API-Arg`, timeouts,
//! error decoding, provider-wide pause on 429, bounded retries, metrics), the typed routes the
//! jobs use, streamed uploads with content-hash verification, and the wire types.
//!
//! It knows nothing of jobs, the store or HTTP handlers; errors carry the Dropbox `.tag` path
//! so that a job can decide between retrying and giving up.

mod auth;
mod chunk;
mod chunk_reader;
mod client;
pub mod content_hash;
mod error;
pub mod header_json;
mod routes;
mod upload;
pub mod wire;

pub use chunk::Chunk;
pub use client::DropboxClient;
pub use error::{tag_path, DropboxError};
pub use routes::is_valid_email;
pub use upload::{Progress, UploadOptions, UploadedSession, MAX_BATCH, MAX_REQUEST_BYTES};
pub use wire::{
    AccessLevel, CommitInfo, FileMetadata, FolderMetadata, FullAccount, ListFolderArg,
    ListFolderResult, MemberAccessLevelResult, MemberSelector, Metadata, SharedFolderAccessError,
    SharedFolderMembers, SharedFolderMetadata, UploadSessionCursor, UploadSessionFinishArg,
    WriteMode,
};
