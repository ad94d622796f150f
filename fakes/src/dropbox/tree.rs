//! Tree operations (create, write, move, delete, list) with Dropbox's conflict rules, on
//! `State`. Every mutation appends to the change log that `list_folder/continue` replays.

use serde_json::{json, Value};

use super::error::ApiError;
use super::paths;
use super::state::{conflict, FileData, Kind, Node, State};

/// `CommitInfo.mode`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum WriteMode {
    Add,
    Overwrite,
    Update(String),
}

/// What a file commit needs besides the path.
#[derive(Clone, Debug)]
pub(crate) struct Commit {
    pub mode: WriteMode,
    pub autorename: bool,
    pub strict_conflict: bool,
    pub client_modified: Option<String>,
}

impl Default for Commit {
    fn default() -> Self {
        Self {
            mode: WriteMode::Overwrite,
            autorename: false,
            strict_conflict: false,
            client_modified: None,
        }
    }
}

impl State {
    /// Fails with `conflict/file_ancestor` when any ancestor of `display` is a file.
    pub fn check_ancestors(&self, display: &str) -> Result<(), Value> {
        let mut p = paths::parent(display);
        while !p.is_empty() {
            if let Some(Node {
                kind: Kind::File(_),
                ..
            }) = self.nodes.get(&paths::lower(p))
            {
                return Err(conflict("file_ancestor"));
            }
            p = paths::parent(p);
        }
        Ok(())
    }

    /// Creates missing ancestor folders of `display` (Dropbox creates parents implicitly).
    pub fn ensure_parents(&mut self, display: &str) {
        let parent = paths::parent(display).to_string();
        if parent.is_empty() || self.nodes.contains_key(&paths::lower(&parent)) {
            return;
        }
        self.ensure_parents(&parent);
        self.insert_folder(&parent);
    }

    fn insert_folder(&mut self, display: &str) -> String {
        let lower = paths::lower(display);
        let id = self.new_file_id();
        self.ids.insert(id.clone(), lower.clone());
        self.deleted.remove(&lower);
        self.nodes.insert(
            lower.clone(),
            Node {
                id,
                display: display.to_string(),
                kind: Kind::Folder { shared: None },
            },
        );
        self.record(&lower);
        lower
    }

    /// First free `name (n)` sibling of `display`.
    pub(crate) fn free_name(&self, display: &str, is_file: bool) -> String {
        let parent = paths::parent(display);
        let name = paths::name_of(display);
        (1u32..)
            .map(|n| format!("{parent}/{}", paths::autorename(name, n, is_file)))
            .find(|p| !self.nodes.contains_key(&paths::lower(p)))
            .unwrap_or_else(|| display.to_string())
    }

    /// `files/create_folder_v2`. Ok: untagged `FolderMetadata`; Err: `WriteError`.
    pub fn create_folder(&mut self, display: &str, autorename: bool) -> Result<Value, Value> {
        self.check_ancestors(display)?;
        let mut target = display.to_string();
        if let Some(existing) = self.nodes.get(&paths::lower(display)) {
            if !autorename {
                return Err(conflict(match existing.kind {
                    Kind::Folder { .. } => "folder",
                    Kind::File(_) => "file",
                }));
            }
            target = self.free_name(display, false);
        }
        self.ensure_parents(&target);
        let lower = self.insert_folder(&target);
        Ok(self.render(&lower, false).unwrap_or(Value::Null))
    }

    /// Commits file contents (known only by size and hash) at `display`.
    /// Ok: untagged `FileMetadata`; Err: `WriteError`.
    pub fn commit_file(
        &mut self,
        display: &str,
        commit: &Commit,
        size: u64,
        hash: &str,
    ) -> Result<Value, Value> {
        self.check_ancestors(display)?;
        let lower = paths::lower(display);
        let mut target = display.to_string();
        let mut keep_id = None;
        match self
            .nodes
            .get(&lower)
            .map(|n| (n.id.clone(), n.kind.clone()))
        {
            None => {
                if let (WriteMode::Update(_), true) = (&commit.mode, commit.strict_conflict) {
                    return Err(conflict("file"));
                }
            }
            Some((_, Kind::Folder { .. })) => {
                if !commit.autorename {
                    return Err(conflict("folder"));
                }
                target = self.free_name(display, true);
            }
            Some((id, Kind::File(existing))) => {
                let same = existing.hash == hash && existing.size == size;
                if same && !commit.strict_conflict {
                    // Same bytes: nothing is written, no new rev, not a conflict.
                    return Ok(self.render(&lower, false).unwrap_or(Value::Null));
                }
                let may_replace = match &commit.mode {
                    WriteMode::Add => false,
                    WriteMode::Overwrite => !same,
                    WriteMode::Update(rev) => *rev == existing.rev && !same,
                };
                if may_replace {
                    keep_id = Some(id);
                } else if commit.autorename {
                    target = self.free_name(display, true);
                } else {
                    return Err(conflict("file"));
                }
            }
        }
        self.ensure_parents(&target);
        let target_lower = paths::lower(&target);
        let id = match keep_id {
            Some(id) => id,
            None => self.new_file_id(),
        };
        let now = paths::now_timestamp();
        let data = FileData {
            size,
            rev: self.new_rev(),
            hash: hash.to_string(),
            client_modified: commit
                .client_modified
                .clone()
                .unwrap_or_else(|| now.clone()),
            server_modified: now,
        };
        // Keep the stored case of an overwritten file's name, like Dropbox does.
        let display_final = match self.nodes.get(&target_lower) {
            Some(n) => n.display.clone(),
            None => target.clone(),
        };
        self.ids.insert(id.clone(), target_lower.clone());
        self.deleted.remove(&target_lower);
        self.nodes.insert(
            target_lower.clone(),
            Node {
                id,
                display: display_final,
                kind: Kind::File(data),
            },
        );
        self.record(&target_lower);
        Ok(self.render(&target_lower, false).unwrap_or(Value::Null))
    }

    /// Removes a subtree, as deleting it does. Shared folders in it (the subtree's root
    /// included) are only unmounted: they keep their id, members and content, which
    /// `sharing/mount_folder` brings back. Returns tagged metadata of what was removed, or `None`
    /// when nothing is there.
    pub fn remove_subtree(&mut self, path_lower: &str) -> Option<Value> {
        let meta = self.render(path_lower, true)?;
        let display = self.nodes.get(path_lower)?.display.clone();
        let shared_roots: Vec<(String, String)> = self
            .subtree_keys(path_lower)
            .into_iter()
            .filter_map(|k| match self.nodes.get(&k) {
                Some(Node {
                    kind: Kind::Folder { shared: Some(sf) },
                    ..
                }) => Some((k, sf.clone())),
                _ => None,
            })
            .collect();
        for (root, sf) in shared_roots {
            self.stash_shared_folder(&root, &sf);
        }
        for key in self.subtree_keys(path_lower) {
            if let Some(node) = self.nodes.remove(&key) {
                self.ids.remove(&node.id);
            }
        }
        self.deleted.insert(path_lower.to_string(), display.clone());
        self.record_deleted(&display);
        Some(meta)
    }

    /// `files/delete_v2`. Ok: tagged `Metadata` of the deleted item.
    pub fn delete(&mut self, display: &str, parent_rev: Option<&str>) -> Result<Value, ApiError> {
        let lower = paths::lower(display);
        let Some(node) = self.nodes.get(&lower) else {
            return Err(ApiError::route(
                json!({".tag": "path_lookup", "path_lookup": {".tag": "not_found"}}),
            ));
        };
        if let (Some(want), Kind::File(f)) = (parent_rev, &node.kind) {
            if f.rev != want {
                return Err(ApiError::route(
                    json!({".tag": "path_write", "path_write": conflict("file")}),
                ));
            }
        }
        self.remove_subtree(&lower).ok_or_else(|| {
            ApiError::route(json!({".tag": "path_lookup", "path_lookup": {".tag": "not_found"}}))
        })
    }

    /// `files/move_v2`. Ok: tagged `Metadata` at the destination.
    pub fn move_path(&mut self, from: &str, to: &str, autorename: bool) -> Result<Value, ApiError> {
        let from_lower = paths::lower(from);
        let mut to_display = to.to_string();
        let Some(node) = self.nodes.get(&from_lower).cloned() else {
            return Err(ApiError::route(
                json!({".tag": "from_lookup", "from_lookup": {".tag": "not_found"}}),
            ));
        };
        let to_err = |v: Value| ApiError::route(json!({".tag": "to", "to": v}));
        let to_lower = paths::lower(to);
        if to_lower != from_lower && paths::is_within(&to_lower, &from_lower) {
            return Err(ApiError::tag("cant_move_folder_into_itself"));
        }
        self.check_ancestors(to).map_err(to_err)?;
        if to_lower != from_lower {
            if let Some(existing) = self.nodes.get(&to_lower) {
                if !autorename {
                    return Err(to_err(conflict(match existing.kind {
                        Kind::Folder { .. } => "folder",
                        Kind::File(_) => "file",
                    })));
                }
                to_display = self.free_name(to, matches!(node.kind, Kind::File(_)));
            }
        }
        // A shared folder (or a folder containing one) cannot go inside another shared folder.
        let moving_shared = self.subtree_keys(&from_lower).iter().any(|k| {
            matches!(
                self.nodes.get(k),
                Some(Node {
                    kind: Kind::Folder { shared: Some(_) },
                    ..
                })
            )
        });
        let dest_lower = paths::lower(&to_display);
        let dest_inside_shared = {
            let mut p = paths::parent(&dest_lower).to_string();
            let mut found = false;
            while !p.is_empty() {
                if matches!(
                    self.nodes.get(&p),
                    Some(Node {
                        kind: Kind::Folder { shared: Some(_) },
                        ..
                    })
                ) {
                    found = true;
                    break;
                }
                p = paths::parent(&p).to_string();
            }
            found
        };
        if moving_shared && dest_inside_shared {
            return Err(ApiError::tag("cant_nest_shared_folder"));
        }

        let keys = self.subtree_keys(&from_lower);
        let old_display = node.display.clone();
        let moved: Vec<(String, Node)> = keys
            .iter()
            .filter_map(|k| self.nodes.remove(k).map(|n| (k.clone(), n)))
            .collect();
        if dest_lower != from_lower {
            self.deleted.insert(from_lower.clone(), old_display.clone());
            self.record_deleted(&old_display);
        }
        self.ensure_parents(&to_display);
        let new_base = self.canonical_parent_join(&to_display);
        for (_, mut n) in moved {
            let suffix = n.display.get(old_display.len()..).unwrap_or("").to_string();
            n.display = format!("{new_base}{suffix}");
            let lower = paths::lower(&n.display);
            self.ids.insert(n.id.clone(), lower.clone());
            self.deleted.remove(&lower);
            self.nodes.insert(lower, n);
        }
        self.record_subtree(&dest_lower);
        self.render(&dest_lower, true).ok_or(ApiError::Server(500))
    }

    /// `display` with its parent in stored case and its own name as given.
    fn canonical_parent_join(&self, display: &str) -> String {
        let parent = self.canonical(paths::parent(display));
        format!("{parent}/{}", paths::name_of(display))
    }

    /// Tagged entries of a fresh listing of `root_lower`.
    pub fn listing(&self, root_lower: &str, recursive: bool, include_deleted: bool) -> Vec<Value> {
        let mut out = Vec::new();
        if recursive {
            let keys = if root_lower.is_empty() {
                self.nodes.keys().cloned().collect()
            } else {
                self.subtree_keys(root_lower)
            };
            out.extend(keys.iter().filter_map(|k| self.render(k, true)));
        } else {
            out.extend(
                self.nodes
                    .keys()
                    .filter(|k| paths::parent(k) == root_lower)
                    .filter_map(|k| self.render(k, true)),
            );
        }
        if include_deleted {
            out.extend(
                self.deleted
                    .iter()
                    .filter(|(k, _)| {
                        !self.nodes.contains_key(*k)
                            && *k != root_lower
                            && if recursive {
                                paths::is_within(k, root_lower)
                            } else {
                                paths::parent(k) == root_lower
                            }
                    })
                    .map(|(_, d)| State::render_deleted(d)),
            );
        }
        out
    }
}
