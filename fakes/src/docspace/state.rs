//! The portal's data: users, groups, the folder/room tree and files with their versions.
//! Plain data and mutations only; rendering to wire JSON lives in `dto.rs`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// `EmployeeStatus` (wire: int).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum UserStatus {
    Active = 1,
    Terminated = 2,
    Pending = 4,
}

/// `EmployeeActivationStatus` (wire: int).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ActivationStatus {
    NotActivated = 0,
    Activated = 1,
    Pending = 2,
}

/// DocSpace `FolderType` values used by the fake.
pub mod folder_type {
    pub const DEFAULT: i32 = 0;
    pub const TRASH: i32 = 3;
    pub const USER: i32 = 5;
    pub const VIRTUAL_ROOMS: i32 = 14;
    pub const CUSTOM_ROOM: i32 = 19;
    pub const ARCHIVE: i32 = 20;
}

/// DocSpace `RoomType` of the rooms the fake creates (custom room).
pub const ROOM_TYPE_CUSTOM: i32 = 5;

/// Ids of the section roots every fake portal has.
pub const ROOMS_ROOT_ID: i64 = 1;
pub const MY_DOCUMENTS_ROOT_ID: i64 = 2;
pub const ARCHIVE_ROOT_ID: i64 = 3;
pub const TRASH_ROOT_ID: i64 = 4;

#[derive(Clone, Debug, Serialize)]
pub struct User {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub user_name: String,
    pub email: String,
    pub status: UserStatus,
    pub activation_status: ActivationStatus,
    pub is_admin: bool,
    pub is_owner: bool,
    pub is_visitor: bool,
    pub registered: DateTime<Utc>,
}

impl User {
    pub fn display_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
            .trim()
            .to_string()
    }
}

/// Input of `FakeDocSpace::add_user`.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub status: UserStatus,
    pub activation_status: ActivationStatus,
    pub is_admin: bool,
    pub is_visitor: bool,
}

impl NewUser {
    /// An active, activated, ordinary user.
    pub fn new(first_name: &str, last_name: &str, email: &str) -> Self {
        Self {
            first_name: first_name.into(),
            last_name: last_name.into(),
            email: email.into(),
            status: UserStatus::Active,
            activation_status: ActivationStatus::Activated,
            is_admin: false,
            is_visitor: false,
        }
    }

    /// Invited, has not accepted yet (status Pending, activation Pending).
    pub fn pending(mut self) -> Self {
        self.status = UserStatus::Pending;
        self.activation_status = ActivationStatus::Pending;
        self
    }

    pub fn terminated(mut self) -> Self {
        self.status = UserStatus::Terminated;
        self
    }

    pub fn admin(mut self) -> Self {
        self.is_admin = true;
        self
    }

    pub fn guest(mut self) -> Self {
        self.is_visitor = true;
        self
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Group {
    pub id: Uuid,
    pub name: String,
    pub manager: Option<Uuid>,
    /// Every user in the group, whatever their status; the API hides terminated ones.
    pub members: Vec<Uuid>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum FolderKind {
    /// "Rooms", "My documents", "Archive", "Trash": `folder_type` is the `FolderType`.
    SectionRoot {
        folder_type: i32,
    },
    Room {
        room_type: i32,
    },
    Folder,
}

#[derive(Clone, Debug, Serialize)]
pub struct Folder {
    pub id: i64,
    pub title: String,
    /// 0 for section roots (as DocSpace sends).
    pub parent_id: i64,
    pub kind: FolderKind,
    pub root_folder_id: i64,
    pub root_folder_type: i32,
    pub created: DateTime<Utc>,
    pub created_by: Uuid,
    pub updated: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FileVersion {
    pub size: u64,
    pub created: DateTime<Utc>,
    pub created_by: Uuid,
}

#[derive(Clone, Debug, Serialize)]
pub struct File {
    pub id: i64,
    pub title: String,
    pub folder_id: i64,
    pub root_folder_id: i64,
    pub root_folder_type: i32,
    /// `versions[n - 1]` is version n; the last one is current.
    pub versions: Vec<FileVersion>,
    pub created: DateTime<Utc>,
    pub created_by: Uuid,
    /// While in the trash: the folder it was trashed from (`originId` in the API).
    pub trashed_from: Option<i64>,
}

impl File {
    pub fn version(&self) -> u32 {
        self.versions.len() as u32
    }

    pub fn size(&self) -> u64 {
        self.versions.last().map(|v| v.size).unwrap_or(0)
    }

    pub fn updated(&self) -> DateTime<Utc> {
        self.versions
            .last()
            .map(|v| v.created)
            .unwrap_or(self.created)
    }

    pub fn updated_by(&self) -> Uuid {
        self.versions
            .last()
            .map(|v| v.created_by)
            .unwrap_or(self.created_by)
    }

    pub fn version_info(&self, version: u32) -> Option<&FileVersion> {
        let idx = usize::try_from(version).ok()?.checked_sub(1)?;
        self.versions.get(idx)
    }

    /// `.docx` etc., lowercase, with the dot; empty when the title has none.
    pub fn extension(&self) -> String {
        match self.title.rfind('.') {
            Some(i) if i > 0 => self.title[i..].to_ascii_lowercase(),
            _ => String::new(),
        }
    }
}

/// What a listing (`files/{folderId}`, `files/rooms`) is sorted by (`sortBy`), of the values
/// DocSpace takes (`SortedByType`, names matched without regard to case) the ones the stand-in
/// knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortBy {
    /// Last modified.
    DateAndTime,
    DateAndTimeCreation,
    /// Title.
    Az,
}

impl SortBy {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "dateandtime" => Some(Self::DateAndTime),
            "dateandtimecreation" => Some(Self::DateAndTimeCreation),
            "az" => Some(Self::Az),
            _ => None,
        }
    }
}

/// The order of a listing. DocSpace keeps one per user (`FilesSettings`): a listing that names
/// a `sortBy` is sorted so and saves it as the user's default; one that names none is sorted by
/// that default, last modified first until the user chooses another
/// (`FileStorageService.GetFolderItemsAsync`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListOrder {
    pub by: SortBy,
    pub ascending: bool,
}

impl Default for ListOrder {
    fn default() -> Self {
        Self {
            by: SortBy::DateAndTime,
            ascending: false,
        }
    }
}

impl ListOrder {
    /// `a` against `b` in this order, given each one's (modified, created, title, id): by the
    /// key, then by id (later ids first when descending). Titles compare without regard to case.
    fn cmp<T>(
        &self,
        a: &T,
        b: &T,
        key: impl Fn(&T) -> (DateTime<Utc>, DateTime<Utc>, &str, i64),
    ) -> std::cmp::Ordering {
        let ((am, ac, at, ai), (bm, bc, bt, bi)) = (key(a), key(b));
        let lower = |t: &str| t.chars().flat_map(char::to_lowercase).collect::<Vec<_>>();
        let o = match self.by {
            SortBy::DateAndTime => am.cmp(&bm),
            SortBy::DateAndTimeCreation => ac.cmp(&bc),
            SortBy::Az => lower(at).cmp(&lower(bt)),
        }
        .then(ai.cmp(&bi));
        if self.ascending {
            o
        } else {
            o.reverse()
        }
    }
}

#[derive(Debug)]
pub struct State {
    pub self_user: Uuid,
    /// The order the key's user lists folders in ([`ListOrder`]).
    pub list_order: ListOrder,
    pub users: BTreeMap<Uuid, User>,
    pub groups: BTreeMap<Uuid, Group>,
    pub folders: BTreeMap<i64, Folder>,
    pub files: BTreeMap<i64, File>,
    /// Child folder ids of each folder and file ids of each folder, kept in step by every
    /// mutation so listings and counts cost what the folder holds, not the whole portal. Files
    /// are kept by title, then id: the order of a listing, so that a page of one costs what it
    /// returns.
    child_folders: HashMap<i64, BTreeSet<i64>>,
    child_files: HashMap<i64, BTreeSet<(String, i64)>>,
    next_folder_id: i64,
    next_file_id: i64,
}

/// Why a mutation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateError {
    UnknownUser(Uuid),
    UnknownGroup(Uuid),
    UnknownFolder(i64),
    UnknownFile(i64),
    /// Files and folders cannot be created directly in the "Rooms" root.
    NotAllowed(&'static str),
}

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateError::UnknownUser(id) => write!(f, "unknown user {id}"),
            StateError::UnknownGroup(id) => write!(f, "unknown group {id}"),
            StateError::UnknownFolder(id) => write!(f, "unknown folder {id}"),
            StateError::UnknownFile(id) => write!(f, "unknown file {id}"),
            StateError::NotAllowed(why) => write!(f, "not allowed: {why}"),
        }
    }
}

impl std::error::Error for StateError {}

impl State {
    pub fn new(self_user: User) -> Self {
        let now = Utc::now();
        let owner = self_user.id;
        let mut state = State {
            self_user: owner,
            list_order: ListOrder::default(),
            users: BTreeMap::new(),
            groups: BTreeMap::new(),
            folders: BTreeMap::new(),
            files: BTreeMap::new(),
            child_folders: HashMap::new(),
            child_files: HashMap::new(),
            next_folder_id: 100,
            next_file_id: 1,
        };
        state.users.insert(owner, self_user);
        for (id, title, folder_type) in [
            (ROOMS_ROOT_ID, "Rooms", folder_type::VIRTUAL_ROOMS),
            (MY_DOCUMENTS_ROOT_ID, "My documents", folder_type::USER),
            (ARCHIVE_ROOT_ID, "Archive", folder_type::ARCHIVE),
            (TRASH_ROOT_ID, "Trash", folder_type::TRASH),
        ] {
            state.folders.insert(
                id,
                Folder {
                    id,
                    title: title.into(),
                    parent_id: 0,
                    kind: FolderKind::SectionRoot { folder_type },
                    root_folder_id: id,
                    root_folder_type: folder_type,
                    created: now,
                    created_by: owner,
                    updated: now,
                },
            );
        }
        state
    }

    pub fn add_user(&mut self, new: NewUser) -> Uuid {
        let id = Uuid::new_v4();
        let user_name = new.email.split('@').next().unwrap_or_default().to_string();
        self.users.insert(
            id,
            User {
                id,
                first_name: new.first_name,
                last_name: new.last_name,
                user_name,
                email: new.email,
                status: new.status,
                activation_status: new.activation_status,
                is_admin: new.is_admin,
                is_owner: false,
                is_visitor: new.is_visitor,
                registered: Utc::now(),
            },
        );
        id
    }

    fn user_mut(&mut self, id: Uuid) -> Result<&mut User, StateError> {
        self.users.get_mut(&id).ok_or(StateError::UnknownUser(id))
    }

    pub fn set_user_status(&mut self, id: Uuid, status: UserStatus) -> Result<(), StateError> {
        let user = self.user_mut(id)?;
        user.status = status;
        if status == UserStatus::Active {
            user.activation_status = ActivationStatus::Activated;
        }
        Ok(())
    }

    pub fn set_user_email(&mut self, id: Uuid, email: &str) -> Result<(), StateError> {
        self.user_mut(id)?.email = email.to_string();
        Ok(())
    }

    fn check_users(&self, ids: &[Uuid]) -> Result<(), StateError> {
        match ids.iter().find(|id| !self.users.contains_key(id)) {
            Some(id) => Err(StateError::UnknownUser(*id)),
            None => Ok(()),
        }
    }

    pub fn create_group(
        &mut self,
        name: &str,
        manager: Option<Uuid>,
        members: &[Uuid],
    ) -> Result<Uuid, StateError> {
        self.check_users(members)?;
        if let Some(m) = manager {
            self.check_users(&[m])?;
        }
        let id = Uuid::new_v4();
        let mut group = Group {
            id,
            name: name.to_string(),
            manager,
            members: Vec::new(),
        };
        // DocSpace makes the manager a member too.
        for m in manager.iter().chain(members) {
            if !group.members.contains(m) {
                group.members.push(*m);
            }
        }
        self.groups.insert(id, group);
        Ok(id)
    }

    pub fn group_mut(&mut self, id: Uuid) -> Result<&mut Group, StateError> {
        self.groups.get_mut(&id).ok_or(StateError::UnknownGroup(id))
    }

    pub fn set_group_members(&mut self, id: Uuid, members: &[Uuid]) -> Result<(), StateError> {
        self.check_users(members)?;
        let group = self.group_mut(id)?;
        group.members.clear();
        for m in members {
            if !group.members.contains(m) {
                group.members.push(*m);
            }
        }
        Ok(())
    }

    pub fn add_group_member(&mut self, id: Uuid, user: Uuid) -> Result<(), StateError> {
        self.check_users(&[user])?;
        let group = self.group_mut(id)?;
        if !group.members.contains(&user) {
            group.members.push(user);
        }
        Ok(())
    }

    pub fn remove_group_member(&mut self, id: Uuid, user: Uuid) -> Result<(), StateError> {
        let group = self.group_mut(id)?;
        group.members.retain(|m| *m != user);
        if group.manager == Some(user) {
            group.manager = None;
        }
        Ok(())
    }

    pub fn set_group_manager(&mut self, id: Uuid, manager: Option<Uuid>) -> Result<(), StateError> {
        if let Some(m) = manager {
            self.check_users(&[m])?;
        }
        let group = self.group_mut(id)?;
        group.manager = manager;
        if let Some(m) = manager {
            if !group.members.contains(&m) {
                group.members.push(m);
            }
        }
        Ok(())
    }

    pub fn rename_group(&mut self, id: Uuid, name: &str) -> Result<(), StateError> {
        self.group_mut(id)?.name = name.to_string();
        Ok(())
    }

    pub fn delete_group(&mut self, id: Uuid) -> Result<Group, StateError> {
        self.groups.remove(&id).ok_or(StateError::UnknownGroup(id))
    }

    /// Groups of a user, by name (for `EmployeeFullDto.groups`).
    pub fn groups_of(&self, user: Uuid) -> Vec<&Group> {
        let mut groups: Vec<&Group> = self
            .groups
            .values()
            .filter(|g| g.members.contains(&user))
            .collect();
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        groups
    }

    pub fn folder(&self, id: i64) -> Result<&Folder, StateError> {
        self.folders.get(&id).ok_or(StateError::UnknownFolder(id))
    }

    /// Folders directly inside `id`.
    pub fn subfolders(&self, id: i64) -> impl Iterator<Item = &Folder> + '_ {
        self.child_folders
            .get(&id)
            .into_iter()
            .flatten()
            .filter_map(|c| self.folders.get(c))
    }

    /// `folders` sorted in `order`.
    pub fn sort_folders(folders: &mut [&Folder], order: ListOrder) {
        folders.sort_by(|a, b| order.cmp(a, b, |f| (f.updated, f.created, f.title.as_str(), f.id)));
    }

    /// `files` sorted in `order`.
    pub fn sort_files(files: &mut [&File], order: ListOrder) {
        files.sort_by(|a, b| order.cmp(a, b, |f| (f.updated(), f.created, f.title.as_str(), f.id)));
    }

    /// Files directly inside `id`, by title, then id.
    pub fn folder_files(&self, id: i64) -> impl Iterator<Item = &File> + '_ {
        self.child_files
            .get(&id)
            .into_iter()
            .flatten()
            .filter_map(|(_, c)| self.files.get(c))
    }

    pub fn subfolder_count(&self, id: i64) -> usize {
        self.child_folders.get(&id).map_or(0, BTreeSet::len)
    }

    pub fn file_count(&self, id: i64) -> usize {
        self.child_files.get(&id).map_or(0, BTreeSet::len)
    }

    /// `id` and every folder below it.
    fn folder_and_descendants(&self, id: i64) -> Vec<i64> {
        let mut out = vec![id];
        let mut i = 0;
        while i < out.len() {
            if let Some(children) = self.child_folders.get(&out[i]) {
                out.extend(children.iter().copied());
            }
            i += 1;
        }
        out
    }

    fn insert_folder(&mut self, folder: Folder) {
        if folder.parent_id != 0 {
            self.child_folders
                .entry(folder.parent_id)
                .or_default()
                .insert(folder.id);
        }
        self.folders.insert(folder.id, folder);
    }

    fn link_file(&mut self, file: i64, folder: i64, title: &str) {
        self.child_files
            .entry(folder)
            .or_default()
            .insert((title.to_string(), file));
    }

    fn unlink_file(&mut self, file: i64, folder: i64, title: &str) {
        if let Some(set) = self.child_files.get_mut(&folder) {
            set.remove(&(title.to_string(), file));
        }
    }

    pub fn create_room(&mut self, title: &str) -> i64 {
        let id = self.next_folder_id;
        self.next_folder_id += 1;
        let now = Utc::now();
        self.insert_folder(Folder {
            id,
            title: title.to_string(),
            parent_id: ROOMS_ROOT_ID,
            kind: FolderKind::Room {
                room_type: ROOM_TYPE_CUSTOM,
            },
            root_folder_id: ROOMS_ROOT_ID,
            root_folder_type: folder_type::VIRTUAL_ROOMS,
            created: now,
            created_by: self.self_user,
            updated: now,
        });
        id
    }

    pub fn create_folder(&mut self, parent: i64, title: &str) -> Result<i64, StateError> {
        let p = self.folder(parent)?;
        if parent == ROOMS_ROOT_ID || parent == ARCHIVE_ROOT_ID {
            return Err(StateError::NotAllowed(
                "create rooms with create_room, not folders in the Rooms or Archive root",
            ));
        }
        let (root_folder_id, root_folder_type) = (p.root_folder_id, p.root_folder_type);
        let id = self.next_folder_id;
        self.next_folder_id += 1;
        let now = Utc::now();
        self.insert_folder(Folder {
            id,
            title: title.to_string(),
            parent_id: parent,
            kind: FolderKind::Folder,
            root_folder_id,
            root_folder_type,
            created: now,
            created_by: self.self_user,
            updated: now,
        });
        Ok(id)
    }

    pub fn rename_folder(&mut self, id: i64, title: &str) -> Result<(), StateError> {
        let f = self
            .folders
            .get_mut(&id)
            .ok_or(StateError::UnknownFolder(id))?;
        f.title = title.to_string();
        f.updated = Utc::now();
        Ok(())
    }

    /// Moves a room between the "Rooms" and "Archive" sections; everything in it follows
    /// (`rootFolderId`/`rootFolderType` of its folders and files change).
    fn move_room(&mut self, id: i64, from: i64, to: i64, to_type: i32) -> Result<(), StateError> {
        let room = self.folder(id)?;
        if !matches!(room.kind, FolderKind::Room { .. }) {
            return Err(StateError::NotAllowed("only rooms are archived"));
        }
        if room.parent_id != from {
            return Err(StateError::NotAllowed(if to == ARCHIVE_ROOT_ID {
                "the room is already archived"
            } else {
                "the room is not archived"
            }));
        }
        if let Some(set) = self.child_folders.get_mut(&from) {
            set.remove(&id);
        }
        self.child_folders.entry(to).or_default().insert(id);
        let folders = self.folder_and_descendants(id);
        for fid in &folders {
            if let Some(f) = self.folders.get_mut(fid) {
                if f.id == id {
                    f.parent_id = to;
                    f.updated = Utc::now();
                }
                f.root_folder_id = to;
                f.root_folder_type = to_type;
            }
            let files: Vec<i64> = self
                .child_files
                .get(fid)
                .map(|s| s.iter().map(|(_, id)| *id).collect())
                .unwrap_or_default();
            for file in files {
                if let Some(f) = self.files.get_mut(&file) {
                    f.root_folder_id = to;
                    f.root_folder_type = to_type;
                }
            }
        }
        Ok(())
    }

    /// Archives a room: it moves to the "Archive" section and leaves the default rooms listing.
    pub fn archive_room(&mut self, id: i64) -> Result<(), StateError> {
        self.move_room(id, ROOMS_ROOT_ID, ARCHIVE_ROOT_ID, folder_type::ARCHIVE)
    }

    /// Brings an archived room back to the "Rooms" section.
    pub fn unarchive_room(&mut self, id: i64) -> Result<(), StateError> {
        self.move_room(
            id,
            ARCHIVE_ROOT_ID,
            ROOMS_ROOT_ID,
            folder_type::VIRTUAL_ROOMS,
        )
    }

    /// Folder chain from the section root down to `id` (inclusive).
    pub fn path_parts(&self, id: i64) -> Vec<&Folder> {
        let mut parts = Vec::new();
        let mut cur = self.folders.get(&id);
        while let Some(f) = cur {
            parts.push(f);
            // Guard against cycles; the tree is shallow.
            if f.parent_id == 0 || parts.len() > 64 {
                break;
            }
            cur = self.folders.get(&f.parent_id);
        }
        parts.reverse();
        parts
    }

    /// Whether `id` or a folder above it is in `hidden`.
    pub fn under_any(&self, id: i64, hidden: &[i64]) -> bool {
        !hidden.is_empty() && self.path_parts(id).iter().any(|f| hidden.contains(&f.id))
    }

    pub fn create_file(
        &mut self,
        folder_id: i64,
        title: &str,
        size: u64,
        created_by: Option<Uuid>,
    ) -> Result<i64, StateError> {
        let folder = self.folder(folder_id)?;
        if matches!(folder.kind, FolderKind::SectionRoot { .. })
            && folder_id != MY_DOCUMENTS_ROOT_ID
        {
            return Err(StateError::NotAllowed(
                "files cannot live in the Rooms, Archive or Trash root",
            ));
        }
        let (root_folder_id, root_folder_type) = (folder.root_folder_id, folder.root_folder_type);
        let id = self.next_file_id;
        self.next_file_id += 1;
        let now = Utc::now();
        let by = created_by.unwrap_or(self.self_user);
        self.files.insert(
            id,
            File {
                id,
                title: title.to_string(),
                folder_id,
                root_folder_id,
                root_folder_type,
                versions: vec![FileVersion {
                    size,
                    created: now,
                    created_by: by,
                }],
                created: now,
                created_by: by,
                trashed_from: None,
            },
        );
        self.link_file(id, folder_id, title);
        Ok(id)
    }

    /// `count` files `<prefix><n>.<ext>` (n from 1) of `size` bytes in one folder.
    pub fn create_files(
        &mut self,
        folder_id: i64,
        prefix: &str,
        ext: &str,
        count: usize,
        size: u64,
    ) -> Result<Vec<i64>, StateError> {
        (1..=count)
            .map(|n| self.create_file(folder_id, &format!("{prefix}{n}{ext}"), size, None))
            .collect()
    }

    pub fn file_mut(&mut self, id: i64) -> Result<&mut File, StateError> {
        self.files.get_mut(&id).ok_or(StateError::UnknownFile(id))
    }

    pub fn new_version(&mut self, id: i64, size: u64, by: Option<Uuid>) -> Result<u32, StateError> {
        let by = by.unwrap_or(self.self_user);
        let file = self.file_mut(id)?;
        file.versions.push(FileVersion {
            size,
            created: Utc::now(),
            created_by: by,
        });
        Ok(file.version())
    }

    /// Sets `updated` of the file's current version (a file "last changed" at `at`).
    pub fn set_file_updated(&mut self, id: i64, at: DateTime<Utc>) -> Result<(), StateError> {
        let file = self.file_mut(id)?;
        if let Some(v) = file.versions.last_mut() {
            v.created = at;
        }
        if file.versions.len() == 1 || file.created > at {
            file.created = at;
        }
        Ok(())
    }

    pub fn rename_file(&mut self, id: i64, title: &str) -> Result<(), StateError> {
        let file = self.file_mut(id)?;
        let (folder, old) = (
            file.folder_id,
            std::mem::replace(&mut file.title, title.to_string()),
        );
        self.unlink_file(id, folder, &old);
        self.link_file(id, folder, title);
        Ok(())
    }

    /// Permanent delete: the API answers 404 afterwards.
    pub fn delete_file(&mut self, id: i64) -> Result<File, StateError> {
        let file = self.files.remove(&id).ok_or(StateError::UnknownFile(id))?;
        self.unlink_file(id, file.folder_id, &file.title);
        Ok(file)
    }

    pub fn move_file(&mut self, id: i64, folder_id: i64) -> Result<(), StateError> {
        let folder = self.folder(folder_id)?;
        let (root_id, root_type) = (folder.root_folder_id, folder.root_folder_type);
        let file = self.file_mut(id)?;
        let from = file.folder_id;
        file.folder_id = folder_id;
        file.root_folder_id = root_id;
        file.root_folder_type = root_type;
        let title = file.title.clone();
        self.unlink_file(id, from, &title);
        self.link_file(id, folder_id, &title);
        Ok(())
    }

    /// Moves a file to the trash: it leaves its folder's listing (the API still answers for it,
    /// with `rootFolderType` Trash and its origin).
    pub fn trash_file(&mut self, id: i64) -> Result<(), StateError> {
        let from = self.file_mut(id)?.folder_id;
        if from == TRASH_ROOT_ID {
            return Err(StateError::NotAllowed("the file is already in the trash"));
        }
        self.move_file(id, TRASH_ROOT_ID)?;
        self.file_mut(id)?.trashed_from = Some(from);
        Ok(())
    }

    /// Restores a trashed file to the folder it came from.
    pub fn restore_file(&mut self, id: i64) -> Result<(), StateError> {
        let Some(origin) = self.file_mut(id)?.trashed_from else {
            return Err(StateError::NotAllowed("the file is not in the trash"));
        };
        self.move_file(id, origin)?;
        self.file_mut(id)?.trashed_from = None;
        Ok(())
    }
}
