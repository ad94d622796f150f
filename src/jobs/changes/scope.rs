//! What the change tracker watches and how a listing entry relates to the bridge's folders:
//! the watched roots, cursor keys, path containment, and the newest entry per path in a page.
//! Pure functions only (no I/O), so the rules are unit-tested here.

use std::collections::HashMap;

use crate::dropbox::Metadata;
use crate::store::GroupFolder;

/// The roots to watch, lower-cased for comparison but kept as configured for the API: the
/// group and export roots, minus any root that lies inside another (one cursor then covers both).
pub(super) fn watched_roots(groups_root: &str, export_root: &str) -> Vec<String> {
    let mut roots: Vec<String> = Vec::new();
    for root in [groups_root, export_root] {
        let lower = root.to_lowercase();
        if roots.iter().any(|r| is_within(&lower, &r.to_lowercase())) {
            continue;
        }
        roots.retain(|r| !is_within(&r.to_lowercase(), &lower));
        roots.push(root.to_string());
    }
    roots
}

/// Key of one cursor in the store's cursor table: one cursor per (account, watched root). The
/// root is part of the key so that a changed `GROUPS_ROOT` / `EXPORT_ROOT` never continues a
/// cursor that lists another folder.
pub(super) fn cursor_key(account_id: &str, root: &str) -> String {
    format!("{account_id}|{}", root.to_lowercase())
}

/// Whether `path` (lower-case) is `root` or inside it.
pub(super) fn is_within(path: &str, root: &str) -> bool {
    root.is_empty()
        || path == root
        || (path.len() > root.len()
            && path.starts_with(root)
            && path[root.len()..].starts_with('/'))
}

/// Active group folders at or below a deleted path (a deleted parent takes its children along).
pub(super) fn groups_under<'a>(
    deleted_lower: &'a str,
    folders: &'a [GroupFolder],
) -> impl Iterator<Item = &'a GroupFolder> + 'a {
    folders
        .iter()
        .filter(move |g| g.active && is_within(&g.path.to_lowercase(), deleted_lower))
}

/// The active group folder mapped to exactly this path.
pub(super) fn group_at<'a>(
    path_lower: &str,
    folders: &'a [GroupFolder],
) -> Option<&'a GroupFolder> {
    folders
        .iter()
        .find(|g| g.active && g.path.to_lowercase() == path_lower)
}

/// Keeps only the newest entry per path, in the order of those newest entries. A page may hold
/// a folder's creation and its sharing, or a deletion and a re-creation: only the end state
/// matters for repairs.
pub(super) fn newest_per_path(entries: Vec<Metadata>) -> Vec<Metadata> {
    let mut last: HashMap<String, usize> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        if let Some(p) = e.path_lower() {
            last.insert(p.to_string(), i);
        }
    }
    entries
        .into_iter()
        .enumerate()
        .filter(|(i, e)| e.path_lower().is_some_and(|p| last.get(p) == Some(i)))
        .map(|(_, e)| e)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dropbox::wire::{DeletedMetadata, FolderMetadata};

    fn gf(id: &str, path: &str, active: bool) -> GroupFolder {
        GroupFolder {
            group_id: id.into(),
            group_name: id.into(),
            path: path.into(),
            shared_folder_id: Some("1".into()),
            active,
        }
    }

    #[test]
    fn roots_inside_another_share_its_cursor() {
        assert_eq!(
            watched_roots("/DocSpace Groups", "/DocSpace Export"),
            vec!["/DocSpace Groups", "/DocSpace Export"]
        );
        assert_eq!(watched_roots("/Bridge/Groups", "/bridge"), vec!["/bridge"]);
        assert_eq!(watched_roots("/Bridge", "/bridge/Export"), vec!["/Bridge"]);
        assert_eq!(watched_roots("/Same", "/same"), vec!["/Same"]);
        assert_eq!(watched_roots("/ab", "/a"), vec!["/ab", "/a"]);
    }

    #[test]
    fn containment_is_per_component() {
        assert!(is_within("/a/b", "/a"));
        assert!(is_within("/a", "/a"));
        assert!(!is_within("/ab", "/a"));
        assert!(!is_within("/a", "/a/b"));
        assert!(is_within("/x", ""));
        assert_eq!(
            cursor_key("dbid:x", "/DocSpace Groups"),
            "dbid:x|/docspace groups"
        );
    }

    #[test]
    fn deleted_parent_covers_group_folders_below_it() {
        let folders = vec![
            gf("g1", "/DocSpace Groups/Marketing", true),
            gf("g2", "/DocSpace Groups/Finance", true),
            gf("g3", "/DocSpace Groups/Old", false),
        ];
        let ids: Vec<_> = groups_under("/docspace groups", &folders)
            .map(|g| g.group_id.as_str())
            .collect();
        assert_eq!(ids, vec!["g1", "g2"]);
        let ids: Vec<_> = groups_under("/docspace groups/marketing", &folders)
            .map(|g| g.group_id.as_str())
            .collect();
        assert_eq!(ids, vec!["g1"]);
        assert!(groups_under("/docspace groups/old", &folders)
            .next()
            .is_none());
        assert!(group_at("/docspace groups/finance", &folders).is_some());
        assert!(group_at("/docspace groups/old", &folders).is_none());
    }

    #[test]
    fn newest_entry_per_path_wins() {
        let folder = |p: &str| {
            Metadata::Folder(FolderMetadata {
                name: "x".into(),
                id: "id:1".into(),
                path_lower: Some(p.into()),
                path_display: Some(p.into()),
                sharing_info: None,
            })
        };
        let deleted = |p: &str| {
            Metadata::Deleted(DeletedMetadata {
                name: "x".into(),
                path_lower: Some(p.into()),
                path_display: Some(p.into()),
            })
        };
        let out = newest_per_path(vec![
            deleted("/a"),
            folder("/b"),
            folder("/a"),
            deleted("/b"),
            Metadata::Other,
        ]);
        assert_eq!(out.len(), 2);
        assert!(matches!(&out[0], Metadata::Folder(f) if f.path_lower.as_deref() == Some("/a")));
        assert!(matches!(&out[1], Metadata::Deleted(d) if d.path_lower.as_deref() == Some("/b")));
    }
}
