//! The fake account's whole state behind one mutex: the tree (metadata only), ids, the change
//! log, shared folders, known users, tokens, async jobs and upload sessions. Route modules call
//! methods here; nothing in this file knows about HTTP except the error values it returns.
//!
//! The lock is a `std::sync::Mutex` and is never held across an `.await`: uploads stream and hash
//! their bodies outside it and only lock to check and commit.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::model::{AccessError, DropboxOptions, InviteeInfo, MemberError, MemberInfo, MountError};
use super::paths::{self, NameProblem, PathRef};
use super::sessions::Session;

/// A node of the tree.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub id: String,
    /// Full case-preserved path.
    pub display: String,
    pub kind: Kind,
}

#[derive(Clone, Debug)]
pub(crate) enum Kind {
    Folder { shared: Option<String> },
    File(FileData),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FileData {
    pub size: u64,
    pub rev: String,
    pub hash: String,
    pub client_modified: String,
    pub server_modified: String,
}

/// One entry of the change log; `seq` is its 1-based position.
#[derive(Clone, Debug)]
pub(crate) struct Change {
    pub path_lower: String,
    /// Tagged `Metadata` as it was right after the change.
    pub entry: Value,
}

#[derive(Clone, Debug)]
pub(crate) struct Account {
    pub account_id: String,
    pub email: String,
    pub display_name: String,
}

#[derive(Clone, Debug)]
pub(crate) struct SharedFolder {
    pub id: String,
    pub folder_id: String,
    pub time_invited: String,
    pub acl_update_policy: String,
    pub shared_link_policy: String,
    pub member_policy: Option<String>,
    pub viewer_info_policy: Option<String>,
    pub access_inheritance: String,
    /// Owner first.
    pub members: Vec<MemberInfo>,
    pub invitees: Vec<InviteeInfo>,
    /// Set while the owner has the folder unmounted (deleted from their Dropbox): the folder
    /// keeps its id and members, and its content waits here for `sharing/mount_folder`.
    pub unmounted: Option<Unmounted>,
}

/// A shared folder's content while it is out of the owner's namespace.
#[derive(Clone, Debug)]
pub(crate) struct Unmounted {
    /// The folder's name when it was unmounted (`SharedFolderMetadata.name`).
    pub name: String,
    /// The folder's root (suffix `""`) and everything below it, each with its display path
    /// relative to the root, in path order.
    pub nodes: Vec<(String, Node)>,
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub expires_at: Option<Instant>,
    pub expired: bool,
}

#[derive(Clone, Debug)]
pub(crate) enum JobKind {
    Share(String),
    RemoveMember,
    Unshare,
}

#[derive(Clone, Debug)]
pub(crate) struct Job {
    pub kind: JobKind,
    /// Polls that still answer `in_progress`.
    pub polls_left: u32,
    /// The job answers `in_progress` until this instant too.
    pub done_at: Instant,
}

/// `Dropbox-API-Path-Root` after validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PathRoot {
    /// Home / root namespace (identical for a non-team account).
    Home,
    /// Paths are relative to this shared folder.
    SharedFolder(String),
}

/// Why a path could not be resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ResolveError {
    NotFound,
    Name(NameProblem),
}

impl ResolveError {
    /// As a `LookupError` value.
    pub fn lookup(self) -> Value {
        match self {
            Self::NotFound => json!({".tag": "not_found"}),
            Self::Name(_) => json!({".tag": "malformed_path"}),
        }
    }

    /// As a `WriteError` value.
    pub fn write(self) -> Value {
        match self {
            Self::NotFound | Self::Name(NameProblem::Malformed) => {
                json!({".tag": "malformed_path"})
            }
            Self::Name(NameProblem::Disallowed) => json!({".tag": "disallowed_name"}),
        }
    }
}

/// `WriteError.conflict` with the given `WriteConflictError` tag.
pub(crate) fn conflict(kind: &str) -> Value {
    json!({".tag": "conflict", "conflict": {".tag": kind}})
}

pub(crate) struct State {
    pub owner: Account,
    pub root_ns: String,
    pub app_key: String,
    pub app_secret: String,
    pub refresh_token: String,
    pub nodes: BTreeMap<String, Node>,
    pub ids: HashMap<String, String>,
    /// Paths deleted and not re-created, for `include_deleted` listings and `get_metadata`.
    pub deleted: BTreeMap<String, String>,
    pub changes: Vec<Change>,
    pub cursor_epoch: u64,
    pub listings: HashMap<u64, Vec<Value>>,
    pub next_listing: u64,
    pub shared: BTreeMap<String, SharedFolder>,
    pub users: HashMap<String, Account>,
    pub member_errors: HashMap<String, MemberError>,
    /// Per shared folder id: every sharing route on it fails with this `SharedFolderAccessError`.
    pub access_errors: HashMap<String, AccessError>,
    /// Per shared folder id: `sharing/mount_folder` fails with this.
    pub mount_errors: HashMap<String, MountError>,
    /// `share_folder` calls that created a shared folder (drives `share_folder_async_ratio`).
    pub shares_made: u64,
    pub tokens: HashMap<String, Token>,
    pub jobs: HashMap<String, Job>,
    pub sessions: HashMap<String, Session>,
    counter: u64,
}

/// Deterministic `dbid:` id for an e-mail (40 characters like real ones).
pub fn account_id_for(email: &str) -> String {
    let digest = hex::encode(Sha256::digest(email.to_lowercase().as_bytes()));
    format!("dbid:AA{}", &digest[..33])
}

impl State {
    pub fn new(opts: &DropboxOptions) -> Self {
        let owner = Account {
            account_id: opts.owner_account_id.clone(),
            email: opts.owner_email.clone(),
            display_name: opts.owner_display_name.clone(),
        };
        let mut users = HashMap::new();
        users.insert(opts.owner_email.to_lowercase(), owner.clone());
        let tokens = opts
            .static_access_tokens
            .iter()
            .map(|t| {
                (
                    t.clone(),
                    Token {
                        expires_at: None,
                        expired: false,
                    },
                )
            })
            .collect();
        Self {
            owner,
            root_ns: opts.root_namespace_id.clone(),
            app_key: opts.app_key.clone(),
            app_secret: opts.app_secret.clone(),
            refresh_token: opts.refresh_token.clone(),
            nodes: BTreeMap::new(),
            ids: HashMap::new(),
            deleted: BTreeMap::new(),
            changes: Vec::new(),
            cursor_epoch: 1,
            listings: HashMap::new(),
            next_listing: 1,
            shared: BTreeMap::new(),
            users,
            member_errors: HashMap::new(),
            access_errors: HashMap::new(),
            mount_errors: HashMap::new(),
            shares_made: 0,
            tokens,
            jobs: HashMap::new(),
            sessions: HashMap::new(),
            counter: 0,
        }
    }

    /// A fresh number, for ids, revs, session and job ids.
    pub fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    pub fn new_file_id(&mut self) -> String {
        let n = self.next();
        format!("id:a4ayc_80_OEAAAAAAA{n:06}")
    }

    pub fn new_rev(&mut self) -> String {
        let n = self.next();
        format!("{:012x}", 0x015f_0000_0000u64 + n)
    }

    pub fn new_opaque(&mut self, prefix: &str) -> String {
        let n = self.next();
        let digest = hex::encode(Sha256::digest(format!("{prefix}{n}").as_bytes()));
        format!("{prefix}{}", &digest[..24])
    }

    // ---- path resolution -------------------------------------------------------------------

    /// Display path of a shared folder's root, if it still exists.
    pub fn shared_folder_path(&self, sf_id: &str) -> Option<String> {
        let sf = self.shared.get(sf_id)?;
        let lower = self.ids.get(&sf.folder_id)?;
        self.nodes.get(lower).map(|n| n.display.clone())
    }

    /// Resolves a syntactically valid path to a display path (`""` = root).
    pub fn resolve(&self, pref: &PathRef, root: &PathRoot) -> Result<String, ResolveError> {
        let (base, rest) = match pref {
            PathRef::Root => return self.root_base(root),
            PathRef::Plain(p) => (self.root_base(root)?, p.as_str()),
            PathRef::Id { id, rest } => {
                let lower = self.ids.get(id).ok_or(ResolveError::NotFound)?;
                let node = self.nodes.get(lower).ok_or(ResolveError::NotFound)?;
                (node.display.clone(), rest.as_str())
            }
            PathRef::Ns { ns, rest } => {
                let base = if *ns == self.root_ns {
                    String::new()
                } else {
                    self.shared_folder_path(ns).ok_or(ResolveError::NotFound)?
                };
                (base, rest.as_str())
            }
            PathRef::Rev(rev) => {
                let node = self
                    .nodes
                    .values()
                    .find(|n| matches!(&n.kind, Kind::File(f) if f.rev == *rev))
                    .ok_or(ResolveError::NotFound)?;
                return Ok(node.display.clone());
            }
        };
        if rest.is_empty() {
            return Ok(base);
        }
        paths::check_components(rest).map_err(ResolveError::Name)?;
        Ok(self.canonical(&format!("{base}{rest}")))
    }

    fn root_base(&self, root: &PathRoot) -> Result<String, ResolveError> {
        match root {
            PathRoot::Home => Ok(String::new()),
            PathRoot::SharedFolder(id) => self.shared_folder_path(id).ok_or(ResolveError::NotFound),
        }
    }

    /// Replaces every existing *ancestor* component with its stored case; the last component
    /// keeps the case it was given (a rename may change only the case).
    pub fn canonical(&self, display: &str) -> String {
        let mut out = String::new();
        let comps: Vec<&str> = display.split('/').skip(1).collect();
        let last = comps.len().saturating_sub(1);
        for (i, comp) in comps.into_iter().enumerate() {
            let candidate = format!("{out}/{comp}");
            if i == last {
                out = candidate;
                break;
            }
            match self.nodes.get(&paths::lower(&candidate)) {
                Some(n) if paths::lower(&n.display) == paths::lower(&candidate) => {
                    out = n.display.clone()
                }
                _ => out = candidate,
            }
        }
        out
    }

    // ---- rendering -------------------------------------------------------------------------

    /// Shared folder id of the nearest *strict* ancestor that is a shared folder root.
    pub fn parent_shared_folder(&self, path_lower: &str) -> Option<String> {
        let mut p = paths::parent(path_lower);
        while !p.is_empty() {
            if let Some(Node {
                kind: Kind::Folder { shared: Some(id) },
                ..
            }) = self.nodes.get(p)
            {
                return Some(id.clone());
            }
            p = paths::parent(p);
        }
        None
    }

    /// Wire `Metadata` of a node (`tagged` adds `.tag`, as where the declared type is the
    /// polymorphic `Metadata`; results typed `FileMetadata`/`FolderMetadata` carry no tag).
    pub fn render(&self, path_lower: &str, tagged: bool) -> Option<Value> {
        let node = self.nodes.get(path_lower)?;
        let parent_sf = self.parent_shared_folder(path_lower);
        let mut m = Map::new();
        match &node.kind {
            Kind::Folder { shared } => {
                if tagged {
                    m.insert(".tag".into(), json!("folder"));
                }
                self.common_fields(&mut m, node, path_lower);
                match (shared, &parent_sf) {
                    (Some(sf), _) => {
                        m.insert("shared_folder_id".into(), json!(sf));
                        m.insert(
                            "sharing_info".into(),
                            json!({"read_only": false, "shared_folder_id": sf,
                                   "traverse_only": false, "no_access": false}),
                        );
                    }
                    (None, Some(parent)) => {
                        m.insert("parent_shared_folder_id".into(), json!(parent));
                        m.insert(
                            "sharing_info".into(),
                            json!({"read_only": false, "parent_shared_folder_id": parent,
                                   "traverse_only": false, "no_access": false}),
                        );
                    }
                    (None, None) => {}
                }
            }
            Kind::File(f) => {
                if tagged {
                    m.insert(".tag".into(), json!("file"));
                }
                self.common_fields(&mut m, node, path_lower);
                m.insert("client_modified".into(), json!(f.client_modified));
                m.insert("server_modified".into(), json!(f.server_modified));
                m.insert("rev".into(), json!(f.rev));
                m.insert("size".into(), json!(f.size));
                m.insert("is_downloadable".into(), json!(true));
                m.insert("content_hash".into(), json!(f.hash));
                if let Some(parent) = parent_sf {
                    m.insert("parent_shared_folder_id".into(), json!(parent));
                    m.insert(
                        "sharing_info".into(),
                        json!({"read_only": false, "parent_shared_folder_id": parent,
                               "modified_by": self.owner.account_id}),
                    );
                }
            }
        }
        Some(Value::Object(m))
    }

    fn common_fields(&self, m: &mut Map<String, Value>, node: &Node, path_lower: &str) {
        m.insert("name".into(), json!(paths::name_of(&node.display)));
        m.insert("path_lower".into(), json!(path_lower));
        m.insert("path_display".into(), json!(node.display));
        m.insert("id".into(), json!(node.id));
    }

    pub fn render_deleted(display: &str) -> Value {
        json!({
            ".tag": "deleted",
            "name": paths::name_of(display),
            "path_lower": paths::lower(display),
            "path_display": display,
        })
    }

    // ---- change log --------------------------------------------------------------------------

    pub fn latest_seq(&self) -> u64 {
        self.changes.len() as u64
    }

    /// Logs the current state of a node.
    pub fn record(&mut self, path_lower: &str) {
        if let Some(entry) = self.render(path_lower, true) {
            self.changes.push(Change {
                path_lower: path_lower.to_string(),
                entry,
            });
        }
    }

    /// Logs a node and everything below it (parents first).
    pub fn record_subtree(&mut self, path_lower: &str) {
        let keys: Vec<String> = self.subtree_keys(path_lower);
        for k in keys {
            self.record(&k);
        }
    }

    pub fn record_deleted(&mut self, display: &str) {
        self.changes.push(Change {
            path_lower: paths::lower(display),
            entry: Self::render_deleted(display),
        });
    }

    /// `path_lower` itself and all descendants, in tree order.
    pub fn subtree_keys(&self, path_lower: &str) -> Vec<String> {
        let mut keys = Vec::new();
        if self.nodes.contains_key(path_lower) {
            keys.push(path_lower.to_string());
        }
        let prefix = format!("{path_lower}/");
        keys.extend(
            self.nodes
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .map(|(k, _)| k.clone()),
        );
        keys
    }

    // ---- users -------------------------------------------------------------------------------

    pub fn user_by_email(&self, email: &str) -> Option<&Account> {
        self.users.get(&email.to_lowercase())
    }

    pub fn user_by_id(&self, account_id: &str) -> Option<&Account> {
        self.users.values().find(|a| a.account_id == account_id)
    }

    /// The account's owner changes its e-mail address (Dropbox lets them): the account keeps
    /// its id and its folders, which list it under the new address from then on. False when no
    /// account has `old`.
    pub fn change_user_email(&mut self, old: &str, new: &str) -> bool {
        let Some(mut account) = self.users.remove(&old.to_lowercase()) else {
            return false;
        };
        account.email = new.to_string();
        for sf in self.shared.values_mut() {
            for m in sf
                .members
                .iter_mut()
                .filter(|m| m.account_id == account.account_id)
            {
                m.email = new.to_string();
            }
        }
        self.users.insert(new.to_lowercase(), account);
        true
    }

    pub fn add_user(&mut self, email: &str, account_id: &str, display_name: &str) {
        self.users.insert(
            email.to_lowercase(),
            Account {
                account_id: account_id.to_string(),
                email: email.to_string(),
                display_name: display_name.to_string(),
            },
        );
    }
}
