//! The portal's data: users, groups, the folder/room tree and files with their versions.
//! Plain data and mutations only; rendering to wire JSON lives in `dto.rs`.

use std::collections::BTreeMap;

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

#[derive(Debug)]
pub struct State {
    pub self_user: Uuid,
    pub users: BTreeMap<Uuid, User>,
    pub groups: BTreeMap<Uuid, Group>,
    pub folders: BTreeMap<i64, Folder>,
    pub files: BTreeMap<i64, File>,
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
            users: BTreeMap::new(),
            groups: BTreeMap::new(),
            folders: BTreeMap::new(),
            files: BTreeMap::new(),
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

    pub fn create_room(&mut self, title: &str) -> i64 {
        let id = self.next_folder_id;
        self.next_folder_id += 1;
        let now = Utc::now();
        self.folders.insert(
            id,
            Folder {
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
            },
        );
        id
    }

    pub fn create_folder(&mut self, parent: i64, title: &str) -> Result<i64, StateError> {
        let p = self.folder(parent)?;
        if parent == ROOMS_ROOT_ID {
            return Err(StateError::NotAllowed(
                "create rooms with create_room, not folders in the Rooms root",
            ));
        }
        let (root_folder_id, root_folder_type) = (p.root_folder_id, p.root_folder_type);
        let id = self.next_folder_id;
        self.next_folder_id += 1;
        let now = Utc::now();
        self.folders.insert(
            id,
            Folder {
                id,
                title: title.to_string(),
                parent_id: parent,
                kind: FolderKind::Folder,
                root_folder_id,
                root_folder_type,
                created: now,
                created_by: self.self_user,
                updated: now,
            },
        );
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

    pub fn create_file(
        &mut self,
        folder_id: i64,
        title: &str,
        size: u64,
        created_by: Option<Uuid>,
    ) -> Result<i64, StateError> {
        let folder = self.folder(folder_id)?;
        if folder_id == ROOMS_ROOT_ID {
            return Err(StateError::NotAllowed(
                "files cannot live in the Rooms root",
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
            },
        );
        Ok(id)
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

    pub fn rename_file(&mut self, id: i64, title: &str) -> Result<(), StateError> {
        self.file_mut(id)?.title = title.to_string();
        Ok(())
    }

    /// Permanent delete: the API answers 404 afterwards.
    pub fn delete_file(&mut self, id: i64) -> Result<File, StateError> {
        self.files.remove(&id).ok_or(StateError::UnknownFile(id))
    }

    pub fn move_file(&mut self, id: i64, folder_id: i64) -> Result<(), StateError> {
        let folder = self.folder(folder_id)?;
        let (root_id, root_type) = (folder.root_folder_id, folder.root_folder_type);
        let file = self.file_mut(id)?;
        file.folder_id = folder_id;
        file.root_folder_id = root_id;
        file.root_folder_type = root_type;
        Ok(())
    }
}
