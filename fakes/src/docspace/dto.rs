//! Wire JSON of the DocSpace API DTOs (`GroupDto`, `EmployeeFullDto`, `FileDto`, `FolderDto`,
//! folder content), rendered from `State` the way the server writes them: camelCase, enums as
//! integers, dates as `yyyy-MM-ddTHH:mm:ss.fffffff±hh:mm` strings (`Z` at offset 0), no
//! `contentType` on files, `pureContentLength` omitted when 0.

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::state::{File, Folder, FolderKind, Group, State, User, UserStatus};

const EMPTY_GUID: &str = "00000000-0000-0000-0000-000000000000";
const DEFAULT_AVATAR: &str = "/static/images/default_user_photo_size_82-82.png";

/// Renders DTOs; holds what every DTO needs besides the entity (portal origin, time zone).
pub struct Render<'a> {
    pub state: &'a State,
    pub base: &'a str,
    pub tz: FixedOffset,
}

/// `ApiDateTime` as the server writes it.
pub fn api_date(dt: DateTime<Utc>, tz: FixedOffset) -> String {
    let local = dt.with_timezone(&tz);
    let ticks = local.timestamp_subsec_nanos() / 100;
    let offset = tz.local_minus_utc();
    let suffix = if offset == 0 {
        "Z".to_string()
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        let abs = offset.unsigned_abs();
        format!("{sign}{:02}:{:02}", abs / 3600, (abs % 3600) / 60)
    };
    format!(
        "{}.{:07}{}",
        local.format("%Y-%m-%dT%H:%M:%S"),
        ticks.min(9_999_999),
        suffix
    )
}

/// `contentLength`: human-readable size as DocSpace shows it ("12.3 KB").
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KB", "MB", "GB", "TB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} {}", UNITS[unit])
}

/// `FileType` from the extension (DocSpace derives it the same way; there is no MIME type).
pub fn file_type(ext: &str) -> i32 {
    match ext.trim_start_matches('.') {
        "zip" | "rar" | "7z" | "tar" | "gz" | "tgz" | "bz2" => 1,
        "mp4" | "avi" | "mov" | "mkv" | "webm" | "m4v" | "wmv" => 2,
        "mp3" | "wav" | "ogg" | "flac" | "m4a" | "aac" => 3,
        "png" | "jpg" | "jpeg" | "gif" | "bmp" | "svg" | "webp" | "tiff" => 4,
        "xlsx" | "xls" | "ods" | "csv" | "xlsm" => 5,
        "pptx" | "ppt" | "odp" | "ppsx" => 6,
        "docx" | "doc" | "odt" | "rtf" | "txt" | "md" | "html" => 7,
        "pdf" => 10,
        "vsdx" | "vsd" => 11,
        _ => 0,
    }
}

fn security(is_file: bool) -> Value {
    let mut m = Map::new();
    let common = [
        "Read",
        "Comment",
        "Edit",
        "Delete",
        "Rename",
        "Copy",
        "CopyTo",
        "Move",
        "MoveTo",
        "Download",
        "EditAccess",
        "Duplicate",
        "Mute",
    ];
    for key in common {
        m.insert(key.to_string(), Value::Bool(true));
    }
    if is_file {
        for key in [
            "FillForms",
            "Review",
            "ReadHistory",
            "Lock",
            "EditHistory",
            "Convert",
        ] {
            m.insert(key.to_string(), Value::Bool(true));
        }
        m.insert("CustomFilter".into(), Value::Bool(false));
    } else {
        for key in ["Create", "EditRoom", "Pin", "CopySharedLink", "ReadLinks"] {
            m.insert(key.to_string(), Value::Bool(true));
        }
    }
    Value::Object(m)
}

impl Render<'_> {
    fn date(&self, dt: DateTime<Utc>) -> String {
        api_date(dt, self.tz)
    }

    fn profile_url(&self, user: &User) -> String {
        format!(
            "{}/accounts/people/filter?search={}",
            self.base,
            url::form_urlencoded::byte_serialize(user.email.as_bytes()).collect::<String>()
        )
    }

    /// `EmployeeDto` (the short form used in `createdBy`/`updatedBy`).
    pub fn employee(&self, id: Uuid) -> Value {
        match self.state.users.get(&id) {
            Some(u) => json!({
                "id": u.id,
                "displayName": u.display_name(),
                "avatar": DEFAULT_AVATAR,
                "avatarOriginal": DEFAULT_AVATAR,
                "avatarMax": DEFAULT_AVATAR,
                "avatarMedium": DEFAULT_AVATAR,
                "avatarSmall": DEFAULT_AVATAR,
                "profileUrl": self.profile_url(u),
                "hasAvatar": false,
                "isAnonim": false,
            }),
            // Deleted users still appear as authors; DocSpace shows a placeholder profile.
            None => {
                json!({"id": id, "displayName": "Deleted user", "hasAvatar": false, "isAnonim": false})
            }
        }
    }

    /// `EmployeeFullDto`.
    pub fn employee_full(&self, u: &User) -> Value {
        let groups: Vec<Value> = self
            .state
            .groups_of(u.id)
            .into_iter()
            .map(|g| self.group_summary(g))
            .collect();
        let department = self
            .state
            .groups_of(u.id)
            .iter()
            .map(|g| g.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let mut v = json!({
            "id": u.id,
            "displayName": u.display_name(),
            "avatar": DEFAULT_AVATAR,
            "avatarOriginal": DEFAULT_AVATAR,
            "avatarMax": DEFAULT_AVATAR,
            "avatarMedium": DEFAULT_AVATAR,
            "avatarSmall": DEFAULT_AVATAR,
            "profileUrl": self.profile_url(u),
            "hasAvatar": false,
            "isAnonim": false,
            "firstName": u.first_name,
            "lastName": u.last_name,
            "userName": u.user_name,
            "email": u.email,
            "status": u.status as i32,
            "activationStatus": u.activation_status as i32,
            "department": department,
            "groups": groups,
            "isAdmin": u.is_admin,
            "isRoomAdmin": false,
            "isLDAP": false,
            "isOwner": u.is_owner,
            "isVisitor": u.is_visitor,
            "isCollaborator": false,
            "cultureName": "en-US",
            "mobilePhoneActivationStatus": 0,
            "isSSO": false,
            "quotaLimit": -1,
            "usedSpace": 0,
            "registrationDate": self.date(u.registered),
            "hasPersonalFolder": !u.is_visitor,
        });
        if u.status == UserStatus::Terminated {
            if let Some(m) = v.as_object_mut() {
                m.insert("terminated".into(), Value::String(self.date(u.registered)));
            }
        }
        v
    }

    /// `GroupSummaryDto` (inside `EmployeeFullDto.groups`).
    fn group_summary(&self, g: &Group) -> Value {
        let mut v = json!({"id": g.id, "name": g.name});
        if let Some(m) = g.manager.and_then(|m| self.state.users.get(&m)) {
            v["manager"] = Value::String(m.user_name.clone());
        }
        v
    }

    /// Members as the API lists them: active and pending users, terminated ones excluded.
    fn visible_members<'s>(&'s self, g: &'s Group) -> impl Iterator<Item = &'s User> + 's {
        g.members
            .iter()
            .filter_map(|id| self.state.users.get(id))
            .filter(|u| u.status != UserStatus::Terminated)
    }

    /// `GroupDto`; `members` only when `include_members`.
    pub fn group(&self, g: &Group, include_members: bool) -> Value {
        let mut v = json!({
            "id": g.id,
            "name": g.name,
            "category": EMPTY_GUID,
            "parent": EMPTY_GUID,
            "isLDAP": false,
            "membersCount": self.visible_members(g).count(),
        });
        if let Some(m) = g.manager.and_then(|m| self.state.users.get(&m)) {
            v["manager"] = self.employee_full(m);
        }
        if include_members {
            v["members"] = Value::Array(
                self.visible_members(g)
                    .map(|u| self.employee_full(u))
                    .collect(),
            );
        }
        v
    }

    /// `FileDto` for `version` (the current version when `None`).
    pub fn file(&self, f: &File, version: u32) -> Value {
        let ver = f.version_info(version);
        let size = ver.map(|v| v.size).unwrap_or(0);
        let updated = ver.map(|v| v.created).unwrap_or(f.created);
        let updated_by = ver.map(|v| v.created_by).unwrap_or(f.created_by);
        let ext = f.extension();
        let mut v = json!({
            "folderId": f.folder_id,
            "version": version,
            "versionGroup": version,
            "contentLength": human_size(size),
            "fileStatus": 0,
            "mute": false,
            "viewUrl": format!("{}/filehandler.ashx?action=download&fileid={}", self.base, f.id),
            "webUrl": format!("{}/doceditor?fileid={}&version={}", self.base, f.id, version),
            "fileType": file_type(&ext),
            "fileExst": ext,
            "thumbnailStatus": 0,
            "locked": false,
            "hasDraft": false,
            "isForm": false,
            "id": f.id,
            "rootFolderId": f.root_folder_id,
            "canShare": true,
            "security": security(true),
            "title": f.title,
            "access": 0,
            "shared": false,
            "created": self.date(f.created),
            "createdBy": self.employee(f.created_by),
            "updated": self.date(updated),
            "updatedBy": self.employee(updated_by),
            "rootFolderType": f.root_folder_type,
            "providerItem": false,
            "fileEntryType": 2,
        });
        if size > 0 {
            v["pureContentLength"] = json!(size);
        }
        if let Some(origin) = f.trashed_from.and_then(|o| self.state.folders.get(&o)) {
            v["originId"] = json!(origin.id);
            v["originTitle"] = json!(origin.title);
            if let Some(room) = self
                .state
                .path_parts(origin.id)
                .into_iter()
                .find(|p| matches!(p.kind, FolderKind::Room { .. }))
            {
                v["originRoomId"] = json!(room.id);
                v["originRoomTitle"] = json!(room.title);
            }
        }
        v
    }

    /// `FolderDto` (rooms carry `roomType`).
    pub fn folder(&self, f: &Folder) -> Value {
        let files_count = self.state.file_count(f.id);
        let folders_count = self.state.subfolder_count(f.id);
        let in_room = self
            .state
            .path_parts(f.id)
            .iter()
            .any(|p| p.id != f.id && matches!(p.kind, FolderKind::Room { .. }));
        let folder_type = match f.kind {
            FolderKind::SectionRoot { folder_type } => folder_type,
            FolderKind::Room { .. } => super::state::folder_type::CUSTOM_ROOM,
            FolderKind::Folder => super::state::folder_type::DEFAULT,
        };
        let mut v = json!({
            "parentId": f.parent_id,
            "filesCount": files_count,
            "foldersCount": folders_count,
            "new": 0,
            "mute": false,
            "pinned": false,
            "private": false,
            "type": folder_type,
            "inRoom": in_room,
            "id": f.id,
            "rootFolderId": f.root_folder_id,
            "canShare": matches!(f.kind, FolderKind::Room { .. }),
            "security": security(false),
            "title": f.title,
            "access": 0,
            "shared": false,
            "created": self.date(f.created),
            "createdBy": self.employee(f.created_by),
            "updated": self.date(f.updated),
            "updatedBy": self.employee(f.created_by),
            "rootFolderType": f.root_folder_type,
            "providerItem": false,
            "fileEntryType": 1,
        });
        if let FolderKind::Room { room_type } = f.kind {
            v["roomType"] = json!(room_type);
            v["tags"] = json!([]);
            v["indexing"] = json!(false);
            v["denyDownload"] = json!(false);
        }
        v
    }

    /// `pathParts` in the current form: `[{id, title, roomType?, folderType?}]` from the section root.
    pub fn path_parts(&self, folder_id: i64) -> Value {
        Value::Array(
            self.state
                .path_parts(folder_id)
                .into_iter()
                .map(|p| {
                    let mut v = json!({"id": p.id, "title": p.title});
                    match p.kind {
                        FolderKind::SectionRoot { folder_type } => {
                            v["folderType"] = json!(folder_type)
                        }
                        FolderKind::Room { room_type } => {
                            v["roomType"] = json!(room_type);
                            v["folderType"] = json!(super::state::folder_type::CUSTOM_ROOM);
                        }
                        FolderKind::Folder => {}
                    }
                    v
                })
                .collect(),
        )
    }

    /// Folder content (`GET files/{folderId}`, `GET files/rooms`): `folders` first, then
    /// `files`, both by title (`files` come in that order, `files_total` of them, and only the
    /// page's are read); one page of `count` entries from `start_index`, `total` = all entries.
    pub fn content_page<'a>(
        &self,
        current: &Folder,
        folders: Vec<&Folder>,
        files: impl Iterator<Item = &'a File>,
        files_total: usize,
        start_index: usize,
        count: usize,
    ) -> Value {
        let total = folders.len() + files_total;
        let page_end = start_index.saturating_add(count).min(total);
        let page_folders: Vec<Value> = folders
            .iter()
            .take(page_end)
            .skip(start_index)
            .map(|f| self.folder(f))
            .collect();
        // Folders come first; the files' part of the page starts past them.
        let nf = folders.len();
        let page_files: Vec<Value> = files
            .take(page_end.saturating_sub(nf))
            .skip(start_index.saturating_sub(nf))
            .map(|f| self.file(f, f.version()))
            .collect();
        let returned = page_folders.len() + page_files.len();
        json!({
            "files": page_files,
            "folders": page_folders,
            "current": self.folder(current),
            "pathParts": self.path_parts(current.id),
            "startIndex": start_index,
            "count": returned,
            "total": total,
            "new": 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn dates_use_seven_fraction_digits_and_z_at_utc() {
        let dt = Utc.with_ymd_and_hms(2026, 5, 20, 10, 15, 30).unwrap();
        let utc = FixedOffset::east_opt(0).unwrap();
        assert_eq!(api_date(dt, utc), "2026-05-20T10:15:30.0000000Z");
        let msk = FixedOffset::east_opt(3 * 3600).unwrap();
        assert_eq!(api_date(dt, msk), "2026-05-20T13:15:30.0000000+03:00");
        let ny = FixedOffset::west_opt(4 * 3600 + 1800).unwrap();
        assert_eq!(api_date(dt, ny), "2026-05-20T05:45:30.0000000-04:30");
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_size(0), "0 bytes");
        assert_eq!(human_size(1023), "1023 bytes");
        assert_eq!(human_size(1024), "1 KB");
        assert_eq!(human_size(12_595), "12.3 KB");
        assert_eq!(human_size(5 * 1024 * 1024 * 1024), "5 GB");
    }
}
