//! ONLYOFFICE DocSpace REST client. Owns everything the bridge asks of DocSpace: groups with
//! members, the API key's own user, file info, folder info and paths, paged listings of rooms
//! and folders, presigned downloads (streamed, redirects followed by hand; the API key goes only
//! to the portal's origin), and which permission ("scope") of a restricted API key each route
//! needs (`scopes`). One call path owns auth, the 10-in-flight cap, the provider-wide pause on
//! 429, timeouts, retries and metrics.
//!
//! It knows nothing of jobs, the store or HTTP handlers. Webhook event types belong to the
//! HTTP layer; wire DTOs (`wire`) are not the client's API types (`types`).

mod client;
mod error;
mod scopes;
mod types;
pub mod wire;

pub use client::{DocSpaceClient, Download, MAX_DOWNLOADS, MAX_IN_FLIGHT, PAGE_SIZE};
pub use error::DocSpaceError;
pub use scopes::{required_scope, RouteUse, ROUTES};
pub use types::{
    FileInfo, FolderInfo, FolderPage, Group, GroupWithMembers, Page, PathPart, RoomsArea, User,
    FOLDER_TYPE_ARCHIVE, FOLDER_TYPE_TRASH, USER_STATUS_ACTIVE, USER_STATUS_PENDING,
    USER_STATUS_TERMINATED,
};
