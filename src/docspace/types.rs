//! The DocSpace client's own types, built from the wire DTOs: what jobs read about groups,
//! users, files and folder paths. Ids are always strings.

use super::wire;

/// One page of a paged listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub start_index: u32,
    /// Envelope `total` (all matching items), when DocSpace sends it.
    pub total: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub is_system: bool,
    pub is_ldap: bool,
    pub members_count: Option<u64>,
    pub manager_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupWithMembers {
    pub group: Group,
    /// Active and pending members (DocSpace leaves terminated users out).
    pub members: Vec<User>,
}

/// DocSpace user status values.
pub const USER_STATUS_ACTIVE: i64 = 1;
pub const USER_STATUS_TERMINATED: i64 = 2;
pub const USER_STATUS_PENDING: i64 = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub display_name: String,
    pub email: Option<String>,
    /// 1 active, 2 terminated (disabled), 4 pending.
    pub status: Option<i64>,
    pub is_owner: bool,
    pub is_admin: bool,
    pub is_visitor: bool,
}

impl User {
    /// False only for terminated (disabled) users.
    pub fn is_active(&self) -> bool {
        self.status != Some(USER_STATUS_TERMINATED)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub id: String,
    /// File name including extension.
    pub title: String,
    pub folder_id: Option<String>,
    pub version: i64,
    pub version_group: Option<i64>,
    /// Bytes (`pureContentLength`), when DocSpace sends it (omitted for empty files).
    pub size: Option<u64>,
    /// Extension with the dot, e.g. `.docx`.
    pub file_exst: Option<String>,
    pub file_type: Option<i64>,
    pub created: Option<String>,
    pub updated: Option<String>,
    pub updated_by: Option<String>,
    pub root_folder_id: Option<String>,
    pub root_folder_type: Option<i64>,
    pub view_url: Option<String>,
}

impl FileInfo {
    /// MIME type derived from the extension (DocSpace sends none).
    pub fn mime_type(&self) -> &'static str {
        let ext = self
            .file_exst
            .as_deref()
            .unwrap_or("")
            .trim_start_matches('.')
            .to_ascii_lowercase();
        match ext.as_str() {
            "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            "doc" => "application/msword",
            "xls" => "application/vnd.ms-excel",
            "ppt" => "application/vnd.ms-powerpoint",
            "odt" => "application/vnd.oasis.opendocument.text",
            "ods" => "application/vnd.oasis.opendocument.spreadsheet",
            "odp" => "application/vnd.oasis.opendocument.presentation",
            "pdf" => "application/pdf",
            "txt" => "text/plain",
            "csv" => "text/csv",
            "rtf" => "application/rtf",
            "png" => "image/png",
            "jpg" | "jpeg" => "image/jpeg",
            "gif" => "image/gif",
            "svg" => "image/svg+xml",
            "zip" => "application/zip",
            "mp4" => "video/mp4",
            "mp3" => "audio/mpeg",
            _ => "application/octet-stream",
        }
    }
}

/// One folder on the way from a section root ("Rooms", "My documents") down to a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPart {
    pub id: String,
    pub title: String,
}

/// DocSpace `FolderType` of the trash section.
pub const FOLDER_TYPE_TRASH: i64 = 3;
/// DocSpace `FolderType` of the archived rooms section.
pub const FOLDER_TYPE_ARCHIVE: i64 = 20;

/// A folder or room, as folder info and listings show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderInfo {
    pub id: String,
    pub title: String,
    pub parent_id: Option<String>,
    /// `FolderType` of the section it is in ([`FOLDER_TYPE_TRASH`], [`FOLDER_TYPE_ARCHIVE`], ...).
    pub root_folder_type: Option<i64>,
    /// Set on rooms only.
    pub room_type: Option<i64>,
}

impl FolderInfo {
    pub fn in_trash(&self) -> bool {
        self.root_folder_type == Some(FOLDER_TYPE_TRASH)
    }
}

/// Which rooms `files/rooms` lists (`searchArea`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomsArea {
    /// The "Rooms" section (DocSpace's default).
    Active,
    /// Archived rooms.
    Archive,
}

/// One page of a folder listing (`files/{folderId}`) or of the rooms (`files/rooms`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderPage {
    /// The folder listed (for `files/rooms`: the section root).
    pub current: Option<FolderInfo>,
    /// From the section root down to `current`. Older servers send bare ids: their titles are
    /// then empty, except the current folder's.
    pub path: Vec<PathPart>,
    /// Subfolders (rooms, for `files/rooms`) in this page.
    pub folders: Vec<FolderInfo>,
    pub files: Vec<FileInfo>,
    pub start_index: u32,
    /// Folders and files of the whole listing, when DocSpace sends it.
    pub total: Option<u64>,
}

impl FolderPage {
    /// Entries in this page.
    pub fn len(&self) -> usize {
        self.folders.len() + self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<wire::EmployeeDto> for User {
    fn from(e: wire::EmployeeDto) -> Self {
        let display_name = e
            .display_name
            .filter(|s| !s.trim().is_empty())
            .or_else(|| {
                let full = format!(
                    "{} {}",
                    e.first_name.as_deref().unwrap_or(""),
                    e.last_name.as_deref().unwrap_or("")
                );
                let full = full.trim().to_string();
                (!full.is_empty()).then_some(full)
            })
            .or(e.user_name)
            .unwrap_or_default();
        User {
            id: e.id,
            display_name,
            email: e.email.filter(|s| !s.trim().is_empty()),
            status: e.status,
            is_owner: e.is_owner,
            is_admin: e.is_admin,
            is_visitor: e.is_visitor,
        }
    }
}

impl From<wire::GroupDto> for GroupWithMembers {
    fn from(g: wire::GroupDto) -> Self {
        let members = g
            .members
            .unwrap_or_default()
            .into_iter()
            .map(User::from)
            .collect();
        let group = Group {
            id: g.id,
            name: g.name,
            is_system: g.is_system,
            is_ldap: g.is_ldap,
            members_count: g.members_count.and_then(|n| u64::try_from(n).ok()),
            manager_id: g.manager.map(|m| m.id),
        };
        GroupWithMembers { group, members }
    }
}

impl From<wire::GroupDto> for Group {
    fn from(g: wire::GroupDto) -> Self {
        GroupWithMembers::from(g).group
    }
}

impl From<wire::FolderDto> for FolderInfo {
    fn from(f: wire::FolderDto) -> Self {
        FolderInfo {
            id: f.id,
            title: f.title,
            parent_id: f.parent_id,
            root_folder_type: f.root_folder_type,
            room_type: f.room_type,
        }
    }
}

impl From<wire::FileDto> for FileInfo {
    fn from(f: wire::FileDto) -> Self {
        FileInfo {
            id: f.id,
            title: f.title,
            folder_id: f.folder_id,
            version: f.version.unwrap_or(1),
            version_group: f.version_group,
            size: f.pure_content_length.and_then(|n| u64::try_from(n).ok()),
            file_exst: f.file_exst,
            file_type: f.file_type,
            created: f.created,
            updated: f.updated,
            updated_by: f.updated_by.map(|u| u.id),
            root_folder_id: f.root_folder_id,
            root_folder_type: f.root_folder_type,
            view_url: f.view_url,
        }
    }
}
