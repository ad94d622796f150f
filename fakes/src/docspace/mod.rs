//! Fake ONLYOFFICE DocSpace portal: a real HTTP server on loopback speaking the DocSpace API
//! wire format (envelope, DTOs, dates as strings, enums as ints, 401/403/404/429 shapes,
//! model-validation errors), with deterministic file content, presigned stream URLs, a second
//! "foreign" origin standing in for a storage/CDN host, runtime fault knobs and call statistics.
//!
//! What a file reconcile meets is modelled: API keys with permission scopes (`scopes`), the
//! paged `files/rooms` (with `searchArea` and archived rooms) and `files/{folderId}` listings
//! over nested folders (indexed, so 10,000 files cost nothing), the trash, folders the key's
//! user cannot read, files it may not download, `updated` set by hand and new versions.
//!
//! Layout: `state` (data + mutations), `dto` (wire JSON), `envelope` (response wrapper), `api`
//! (API routes and the gate that applies auth/scopes/knobs/stats), `scopes` (API-key scopes),
//! `stream` (file download handlers on both origins), `content` (deterministic bytes and
//! hashes), `knobs` (knobs and stats), `control` (`/_fake/...` HTTP control API used by the
//! `bridge-fakes` binary).
//!
//! Tests change state through the methods of [`FakeDocSpace`] while the server runs.

// Handlers here return `Result<_, Response>` so a parse helper can answer with the exact DocSpace
// error; the size of `Response` in the error variant does not matter for a test fake.
#![allow(clippy::result_large_err)]

mod api;
pub mod content;
mod control;
pub mod dto;
mod envelope;
pub mod knobs;
mod scopes;
pub mod state;
mod stream;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::FixedOffset;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub use knobs::{Knobs, ScriptedFailure, StatsSnapshot};
pub use state::{
    ActivationStatus, File, FileVersion, Folder, FolderKind, Group, NewUser, StateError, User,
    UserStatus, ARCHIVE_ROOT_ID, MY_DOCUMENTS_ROOT_ID, ROOMS_ROOT_ID, TRASH_ROOT_ID,
};

/// API key the fake accepts unless options say otherwise.
pub const DEFAULT_API_KEY: &str = "sk-fakekey0123456789abcdef";
/// Id of the API key's own user (`people/@self`) unless options say otherwise.
pub const DEFAULT_SELF_USER_ID: Uuid = Uuid::from_u128(0x0b5f_3c3a_9d2e_4f6b_8a71_c0ff_ee00_0001);

/// Route names used by [`FakeDocSpace::calls`], `GET /_fake/stats` and scripted failures.
pub mod routes {
    pub const GROUP_LIST: &str = "group.list";
    pub const GROUP_GET: &str = "group.get";
    pub const GROUP_CREATE: &str = "group.create";
    pub const GROUP_UPDATE: &str = "group.update";
    pub const GROUP_DELETE: &str = "group.delete";
    pub const PEOPLE_SELF: &str = "people.self";
    pub const PEOPLE_GET: &str = "people.get";
    pub const FILE_GET: &str = "file.get";
    pub const FILE_PRESIGNED_URI: &str = "file.presigneduri";
    pub const FOLDER_GET: &str = "folder.get";
    pub const FOLDER_LIST: &str = "folder.list";
    pub const ROOMS_LIST: &str = "rooms.list";
    /// `GET /filehandler.ashx` on the portal origin (stream and download actions).
    pub const STREAM: &str = "stream";
    /// Any request to the foreign origin.
    pub const FOREIGN_STREAM: &str = "foreign.stream";
}

#[derive(Clone, Debug)]
pub struct DocSpaceOptions {
    pub api_key: String,
    /// Permissions of `api_key` (`files:read`, `rooms:read`, `accounts:read`,
    /// `accounts.self:read`, `*:read`, … as DocSpace's key dialog grants them). Empty or
    /// containing `*` = full access, as DocSpace treats such keys.
    pub api_key_permissions: Vec<String>,
    pub self_user_id: Uuid,
    pub self_email: String,
    pub self_first_name: String,
    pub self_last_name: String,
    /// Address both listeners bind (127.0.0.1; `0.0.0.0` in containers).
    pub listen_host: IpAddr,
    /// Portal port (0 = ephemeral).
    pub port: u16,
    /// Foreign-origin port (0 = ephemeral).
    pub foreign_port: u16,
    /// Host name used in URLs the fake hands out (`url()`, presigned URLs, `viewUrl`). Defaults to
    /// the listen host, or 127.0.0.1 when listening on an unspecified address.
    pub public_host: Option<String>,
    /// Portal time zone: API dates are rendered at this offset (`Z` when 0).
    pub tz_offset_minutes: i32,
    pub knobs: Knobs,
    /// Populate demo users, groups, rooms and files at start (see [`FakeDocSpace::seed_demo`]).
    pub seed_demo: bool,
}

impl Default for DocSpaceOptions {
    fn default() -> Self {
        DocSpaceOptions {
            api_key: DEFAULT_API_KEY.to_string(),
            api_key_permissions: Vec::new(),
            self_user_id: DEFAULT_SELF_USER_ID,
            self_email: "bridge@example.com".to_string(),
            self_first_name: "Bridge".to_string(),
            self_last_name: "Service".to_string(),
            listen_host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            foreign_port: 0,
            public_host: None,
            tz_offset_minutes: 0,
            knobs: Knobs::default(),
            seed_demo: false,
        }
    }
}

/// Shared by the handlers of both origins.
pub(crate) struct Inner {
    pub state: RwLock<state::State>,
    pub knobs: Mutex<Knobs>,
    pub failures: Mutex<Vec<ScriptedFailure>>,
    pub stats: Arc<knobs::Stats>,
    pub api_key: String,
    /// Every accepted API key with its permissions (the default key included).
    pub keys: Mutex<HashMap<String, Vec<String>>>,
    pub base_url: String,
    pub foreign_url: String,
    pub tz: FixedOffset,
    token_key: [u8; 32],
}

type HmacSha256 = Hmac<Sha256>;

impl Inner {
    pub fn read(&self) -> RwLockReadGuard<'_, state::State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, state::State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn knobs(&self) -> Knobs {
        self.knobs.lock().map(|k| k.clone()).unwrap_or_default()
    }

    pub fn render<'a>(&'a self, state: &'a state::State) -> dto::Render<'a> {
        dto::Render {
            state,
            base: &self.base_url,
            tz: self.tz,
        }
    }

    /// Permissions of the API key in `Authorization: Bearer <key>`, if it is one the portal knows.
    pub fn key_permissions(&self, header: Option<&str>) -> Option<Vec<String>> {
        let token = header?.strip_prefix("Bearer ")?.trim();
        self.keys.lock().ok()?.get(token).cloned()
    }

    /// `Authorization` carries an API key the portal knows.
    pub fn is_api_key(&self, header: Option<&str>) -> bool {
        self.key_permissions(header).is_some()
    }

    fn token_mac(&self, file_id: i64, version: u32, expires_ms: i64) -> Vec<u8> {
        let mut mac = match HmacSha256::new_from_slice(&self.token_key) {
            Ok(m) => m,
            Err(_) => return Vec::new(),
        };
        mac.update(format!("{file_id}:{version}:{expires_ms}").as_bytes());
        mac.finalize().into_bytes()[..16].to_vec()
    }

    /// `stream_auth` value: `<expiry unix ms>.<truncated hmac hex>`.
    pub fn stream_token(&self, file_id: i64, version: u32) -> String {
        let lifetime = i64::try_from(self.knobs().presigned_lifetime_secs)
            .unwrap_or(i64::MAX / 2_000)
            .saturating_mul(1000);
        let expires = chrono::Utc::now()
            .timestamp_millis()
            .saturating_add(lifetime);
        format!(
            "{expires}.{}",
            hex::encode(self.token_mac(file_id, version, expires))
        )
    }

    pub fn check_stream_token(&self, file_id: i64, version: u32, token: &str) -> TokenCheck {
        let Some((exp, sig)) = token.split_once('.') else {
            return TokenCheck::Invalid;
        };
        let (Ok(expires), Ok(sig)) = (exp.parse::<i64>(), hex::decode(sig)) else {
            return TokenCheck::Invalid;
        };
        let expected = self.token_mac(file_id, version, expires);
        // Constant-time compare (the tag is short; length check first is fine).
        if sig.len() != expected.len()
            || sig
                .iter()
                .zip(&expected)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                != 0
        {
            return TokenCheck::Invalid;
        }
        if chrono::Utc::now().timestamp_millis() >= expires {
            return TokenCheck::Expired;
        }
        TokenCheck::Valid
    }
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TokenCheck {
    Valid,
    Invalid,
    Expired,
}

/// Ids created by [`FakeDocSpace::seed_demo`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct DemoSeed {
    pub users: Vec<Uuid>,
    pub groups: Vec<Uuid>,
    pub rooms: Vec<i64>,
    pub folders: Vec<i64>,
    pub files: Vec<i64>,
}

/// A running fake portal. Dropping it stops both listeners.
pub struct FakeDocSpace {
    inner: Arc<Inner>,
    addr: SocketAddr,
    foreign_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for FakeDocSpace {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn url_host(opts: &DocSpaceOptions) -> String {
    if let Some(h) = &opts.public_host {
        return h.clone();
    }
    match opts.listen_host {
        ip if ip.is_unspecified() => "127.0.0.1".to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
        ip => ip.to_string(),
    }
}

impl FakeDocSpace {
    pub async fn start(opts: DocSpaceOptions) -> io::Result<FakeDocSpace> {
        let listener = TcpListener::bind((opts.listen_host, opts.port)).await?;
        let foreign = TcpListener::bind((opts.listen_host, opts.foreign_port)).await?;
        let addr = listener.local_addr()?;
        let foreign_addr = foreign.local_addr()?;
        let host = url_host(&opts);
        let tz =
            FixedOffset::east_opt(opts.tz_offset_minutes.saturating_mul(60)).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "tz_offset_minutes out of range",
                )
            })?;
        let self_user = state::User {
            id: opts.self_user_id,
            first_name: opts.self_first_name.clone(),
            last_name: opts.self_last_name.clone(),
            user_name: opts
                .self_email
                .split('@')
                .next()
                .unwrap_or_default()
                .to_string(),
            email: opts.self_email.clone(),
            status: UserStatus::Active,
            activation_status: ActivationStatus::Activated,
            is_admin: true,
            is_owner: false,
            is_visitor: false,
            registered: chrono::Utc::now(),
        };
        let inner = Arc::new(Inner {
            state: RwLock::new(state::State::new(self_user)),
            knobs: Mutex::new(opts.knobs.clone()),
            failures: Mutex::new(Vec::new()),
            stats: Arc::new(knobs::Stats::default()),
            api_key: opts.api_key.clone(),
            keys: Mutex::new(HashMap::from([(
                opts.api_key.clone(),
                opts.api_key_permissions.clone(),
            )])),
            base_url: format!("http://{host}:{}", addr.port()),
            foreign_url: format!("http://{host}:{}", foreign_addr.port()),
            tz,
            token_key: rand::random(),
        });
        let portal_app = api::router(Arc::clone(&inner));
        let foreign_app = stream::foreign_router(Arc::clone(&inner));
        let tasks = vec![
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, portal_app).await {
                    tracing::error!(error = %e, "fake DocSpace portal listener stopped");
                }
            }),
            tokio::spawn(async move {
                if let Err(e) = axum::serve(foreign, foreign_app).await {
                    tracing::error!(error = %e, "fake DocSpace foreign listener stopped");
                }
            }),
        ];
        let fake = FakeDocSpace {
            inner,
            addr,
            foreign_addr,
            tasks,
        };
        if opts.seed_demo {
            fake.seed_demo();
        }
        Ok(fake)
    }

    /// Portal origin, e.g. `http://127.0.0.1:41234` (no trailing slash): the bridge's `DOCSPACE_URL`.
    pub fn url(&self) -> String {
        self.inner.base_url.clone()
    }

    /// Origin of the foreign storage host that presigned URLs use when `Knobs::foreign_origin`.
    pub fn foreign_url(&self) -> String {
        self.inner.foreign_url.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn foreign_addr(&self) -> SocketAddr {
        self.foreign_addr
    }

    pub fn api_key(&self) -> String {
        self.inner.api_key.clone()
    }

    /// Creates another API key of the key's user with these permissions (empty or `*` = full)
    /// and returns it (`sk-` and 32 lowercase hex digits).
    pub fn add_api_key(&self, permissions: &[&str]) -> String {
        let key = format!("sk-{}", hex::encode(rand::random::<[u8; 16]>()));
        if let Ok(mut keys) = self.inner.keys.lock() {
            keys.insert(
                key.clone(),
                permissions.iter().map(|p| p.to_string()).collect(),
            );
        }
        key
    }

    /// Changes the permissions of a known key (the default one too); false for an unknown key.
    pub fn set_api_key_permissions(&self, key: &str, permissions: &[&str]) -> bool {
        match self.inner.keys.lock() {
            Ok(mut keys) => match keys.get_mut(key) {
                Some(p) => {
                    *p = permissions.iter().map(|p| p.to_string()).collect();
                    true
                }
                None => false,
            },
            Err(_) => false,
        }
    }

    /// The API key's own user (`people/@self`).
    pub fn self_user_id(&self) -> Uuid {
        self.inner.read().self_user
    }

    // ----- knobs -----

    pub fn knobs(&self) -> Knobs {
        self.inner.knobs()
    }

    pub fn set_knobs(&self, knobs: Knobs) {
        if let Ok(mut k) = self.inner.knobs.lock() {
            *k = knobs;
        }
    }

    /// Changes some knobs: `fake.update_knobs(|k| k.rate_429 = 0.5)`.
    pub fn update_knobs(&self, f: impl FnOnce(&mut Knobs)) {
        if let Ok(mut k) = self.inner.knobs.lock() {
            f(&mut k);
        }
    }

    /// The next `times` calls to `route` (a [`routes`] name; any route when `None`) are answered
    /// with `status` (429s carry the rate-limit headers, others the error envelope).
    pub fn fail_next(&self, route: Option<&str>, status: u16, times: u32) {
        if let Ok(mut f) = self.inner.failures.lock() {
            f.push(ScriptedFailure {
                route: route.map(str::to_string),
                status,
                times,
            });
        }
    }

    // ----- stats -----

    /// Calls received for a route name (see [`routes`]), including rejected ones.
    pub fn calls(&self, route: &str) -> u64 {
        self.inner.stats.calls(route)
    }

    pub fn total_calls(&self) -> u64 {
        self.inner.stats.total()
    }

    /// Highest number of API requests in flight at once (downloads count until their body ends).
    pub fn max_concurrency_seen(&self) -> u64 {
        self.inner.stats.max_concurrency_seen()
    }

    /// Requests to the foreign origin that carried an `Authorization` header (must stay 0).
    pub fn foreign_auth_headers_seen(&self) -> u64 {
        self.inner
            .stats
            .foreign_auth_headers
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Requests to the portal's stream handler that carried an `Authorization` header.
    pub fn portal_stream_auth_headers_seen(&self) -> u64 {
        self.inner
            .stats
            .portal_stream_auth_headers
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.inner.stats.snapshot()
    }

    pub fn reset_stats(&self) {
        self.inner.stats.reset();
    }

    // ----- users -----

    pub fn add_user(&self, user: NewUser) -> Uuid {
        self.inner.write().add_user(user)
    }

    /// Shorthand: an active user named `first last` with `email`.
    pub fn add_active_user(&self, first: &str, last: &str, email: &str) -> Uuid {
        self.add_user(NewUser::new(first, last, email))
    }

    pub fn set_user_status(&self, id: Uuid, status: UserStatus) -> Result<(), StateError> {
        self.inner.write().set_user_status(id, status)
    }

    pub fn set_user_email(&self, id: Uuid, email: &str) -> Result<(), StateError> {
        self.inner.write().set_user_email(id, email)
    }

    pub fn user(&self, id: Uuid) -> Option<User> {
        self.inner.read().users.get(&id).cloned()
    }

    pub fn users(&self) -> Vec<User> {
        self.inner.read().users.values().cloned().collect()
    }

    // ----- groups -----

    pub fn create_group(&self, name: &str, members: &[Uuid]) -> Result<Uuid, StateError> {
        self.inner.write().create_group(name, None, members)
    }

    pub fn create_group_with_manager(
        &self,
        name: &str,
        manager: Uuid,
        members: &[Uuid],
    ) -> Result<Uuid, StateError> {
        self.inner
            .write()
            .create_group(name, Some(manager), members)
    }

    pub fn rename_group(&self, id: Uuid, name: &str) -> Result<(), StateError> {
        self.inner.write().rename_group(id, name)
    }

    pub fn set_group_members(&self, id: Uuid, members: &[Uuid]) -> Result<(), StateError> {
        self.inner.write().set_group_members(id, members)
    }

    pub fn add_group_member(&self, id: Uuid, user: Uuid) -> Result<(), StateError> {
        self.inner.write().add_group_member(id, user)
    }

    pub fn remove_group_member(&self, id: Uuid, user: Uuid) -> Result<(), StateError> {
        self.inner.write().remove_group_member(id, user)
    }

    pub fn set_group_manager(&self, id: Uuid, manager: Option<Uuid>) -> Result<(), StateError> {
        self.inner.write().set_group_manager(id, manager)
    }

    pub fn delete_group(&self, id: Uuid) -> Result<Group, StateError> {
        self.inner.write().delete_group(id)
    }

    pub fn group(&self, id: Uuid) -> Option<Group> {
        self.inner.read().groups.get(&id).cloned()
    }

    pub fn groups(&self) -> Vec<Group> {
        self.inner.read().groups.values().cloned().collect()
    }

    /// Emails of the members the API reports for the group (terminated users excluded).
    pub fn group_member_emails(&self, id: Uuid) -> Vec<String> {
        let state = self.inner.read();
        state
            .groups
            .get(&id)
            .map(|g| {
                g.members
                    .iter()
                    .filter_map(|m| state.users.get(m))
                    .filter(|u| u.status != UserStatus::Terminated)
                    .map(|u| u.email.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    // ----- folders, rooms, files -----

    pub fn create_room(&self, title: &str) -> i64 {
        self.inner.write().create_room(title)
    }

    pub fn create_folder(&self, parent: i64, title: &str) -> Result<i64, StateError> {
        self.inner.write().create_folder(parent, title)
    }

    pub fn rename_folder(&self, id: i64, title: &str) -> Result<(), StateError> {
        self.inner.write().rename_folder(id, title)
    }

    /// Archives a room: it leaves `files/rooms` (unless `searchArea` asks for archived rooms)
    /// and moves, with everything in it, to the "Archive" section.
    pub fn archive_room(&self, id: i64) -> Result<(), StateError> {
        self.inner.write().archive_room(id)
    }

    pub fn unarchive_room(&self, id: i64) -> Result<(), StateError> {
        self.inner.write().unarchive_room(id)
    }

    /// The API key's user cannot read this folder or room (and what is below it) from now on;
    /// `false` makes it readable again. See [`Knobs::unreadable_folder_ids`].
    pub fn set_folder_readable(&self, id: i64, readable: bool) {
        self.update_knobs(|k| {
            k.unreadable_folder_ids.retain(|f| *f != id);
            if !readable {
                k.unreadable_folder_ids.push(id);
            }
        });
    }

    /// The API key's user may not download this file: the stream handler answers `403` to it
    /// when asked with the API key. See [`Knobs::download_denied_file_ids`].
    pub fn set_download_denied(&self, file_id: i64, denied: bool) {
        self.update_knobs(|k| {
            k.download_denied_file_ids.retain(|f| *f != file_id);
            if denied {
                k.download_denied_file_ids.push(file_id);
            }
        });
    }

    pub fn folder(&self, id: i64) -> Option<Folder> {
        self.inner.read().folders.get(&id).cloned()
    }

    /// Titles from the section root down to the folder, e.g. `["Rooms", "Finance", "2026"]`.
    pub fn folder_path(&self, id: i64) -> Vec<String> {
        self.inner
            .read()
            .path_parts(id)
            .into_iter()
            .map(|f| f.title.clone())
            .collect()
    }

    /// A file created by the API key's user.
    pub fn create_file(&self, folder_id: i64, title: &str, size: u64) -> Result<i64, StateError> {
        self.inner.write().create_file(folder_id, title, size, None)
    }

    pub fn create_file_by(
        &self,
        folder_id: i64,
        title: &str,
        size: u64,
        author: Uuid,
    ) -> Result<i64, StateError> {
        self.inner
            .write()
            .create_file(folder_id, title, size, Some(author))
    }

    /// `count` files named `<prefix><n><ext>` (n = 1..=count) of `size` bytes, in one lock:
    /// cheap enough for tens of thousands. Returns their ids.
    pub fn create_files(
        &self,
        folder_id: i64,
        prefix: &str,
        ext: &str,
        count: usize,
        size: u64,
    ) -> Result<Vec<i64>, StateError> {
        self.inner
            .write()
            .create_files(folder_id, prefix, ext, count, size)
    }

    /// Adds a version (an upload of new content): bumps `version` and `updated`; returns the new
    /// version number.
    pub fn new_version(&self, file_id: i64, new_size: u64) -> Result<u32, StateError> {
        self.inner.write().new_version(file_id, new_size, None)
    }

    /// Sets the file's `updated` (its current version's time), e.g. to make it "older than X".
    pub fn set_file_updated(
        &self,
        file_id: i64,
        updated: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StateError> {
        self.inner.write().set_file_updated(file_id, updated)
    }

    /// Moves a file to the trash: rooms and folders no longer list it.
    pub fn trash_file(&self, file_id: i64) -> Result<(), StateError> {
        self.inner.write().trash_file(file_id)
    }

    /// Restores a trashed file to its folder.
    pub fn restore_file(&self, file_id: i64) -> Result<(), StateError> {
        self.inner.write().restore_file(file_id)
    }

    pub fn rename_file(&self, file_id: i64, title: &str) -> Result<(), StateError> {
        self.inner.write().rename_file(file_id, title)
    }

    pub fn move_file(&self, file_id: i64, folder_id: i64) -> Result<(), StateError> {
        self.inner.write().move_file(file_id, folder_id)
    }

    pub fn delete_file(&self, file_id: i64) -> Result<File, StateError> {
        self.inner.write().delete_file(file_id)
    }

    pub fn file(&self, id: i64) -> Option<File> {
        self.inner.read().files.get(&id).cloned()
    }

    pub fn files(&self) -> Vec<File> {
        self.inner.read().files.values().cloned().collect()
    }

    /// Content of (file, version) in `range` (small ranges only: it is allocated).
    pub fn content_bytes(&self, file_id: i64, version: u32, range: Range<u64>) -> Vec<u8> {
        content::content_bytes(file_id, version, range)
    }

    /// Whole content of the current version (small files only).
    pub fn current_content(&self, file_id: i64) -> Option<Vec<u8>> {
        let f = self.file(file_id)?;
        Some(content::content_bytes(file_id, f.version(), 0..f.size()))
    }

    /// Dropbox content hash of (file, version); `None` if either is unknown.
    pub fn dropbox_content_hash(&self, file_id: i64, version: u32) -> Option<String> {
        let size = self.file(file_id)?.version_info(version)?.size;
        Some(content::dropbox_content_hash(file_id, version, size))
    }

    /// Demo data: users (one pending, one terminated), three groups (one name with a slash),
    /// a room "Finance" with folder "2026" holding three files (12 KiB, 300 KiB, 200 MiB).
    pub fn seed_demo(&self) -> DemoSeed {
        seed_demo_into(&mut self.inner.write())
    }
}

/// Demo data: users (one pending, one terminated, one guest), three groups (one name with a
/// slash), rooms "Finance" (folder "2026" with 12 KiB, 300 KiB and 200 MiB files) and "Projects".
pub(crate) fn seed_demo_into(s: &mut state::State) -> DemoSeed {
    let alice = s.add_user(NewUser::new("Alice", "Archer", "alice@example.com"));
    let bob = s.add_user(NewUser::new("Bob", "Baker", "bob@example.com"));
    let carol = s.add_user(NewUser::new("Carol", "Cooper", "carol@example.com").pending());
    let dave = s.add_user(NewUser::new("Dave", "Dawson", "dave@example.com").terminated());
    let erin = s.add_user(NewUser::new("Erin", "Ellis", "erin@example.com").guest());
    let users = vec![alice, bob, carol, dave, erin];
    let mut groups = Vec::new();
    for (name, manager, members) in [
        ("Marketing", Some(alice), vec![alice, bob, dave]),
        ("Finance / Ops", None, vec![bob, carol]),
        ("Engineering", Some(erin), vec![alice, erin]),
    ] {
        if let Ok(id) = s.create_group(name, manager, &members) {
            groups.push(id);
        }
    }
    let finance = s.create_room("Finance");
    let projects = s.create_room("Projects");
    let mut folders = Vec::new();
    let mut files = Vec::new();
    if let Ok(y2026) = s.create_folder(finance, "2026") {
        folders.push(y2026);
        for (title, size) in [
            ("Budget.xlsx", 12 * 1024),
            ("Report.docx", 300 * 1024),
            ("Town hall.mp4", 200 * 1024 * 1024),
        ] {
            if let Ok(id) = s.create_file(y2026, title, size, Some(alice)) {
                files.push(id);
            }
        }
    }
    if let Ok(id) = s.create_file(projects, "Roadmap.pptx", 48 * 1024, Some(bob)) {
        files.push(id);
    }
    DemoSeed {
        users,
        groups,
        rooms: vec![finance, projects],
        folders,
        files,
    }
}
