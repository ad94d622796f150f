//! The file reconcile's planner: pure (no I/O, no clock), shared by the `files.sync_all` job,
//! `sync-files` (with and without `--dry-run`) and the tests. Given one listed page of a
//! DocSpace folder, the exports recorded for its files and the run's cutoff, it says what
//! becomes of every file (export it, already in step, older than the cutoff, skipped and why)
//! and of every subfolder (walk it or skip it and why).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;

use crate::docspace::{FileInfo, FolderInfo, FolderPage, PathPart, FOLDER_TYPE_TRASH};
use crate::jobs::export::path;
use crate::store::ExportRecord;

/// Taken off the watermark before comparing it with DocSpace's `updated`: DocSpace's clock and
/// ours may disagree by this much without a file changed just after the first start being
/// left out.
pub const CLOCK_SKEW_MARGIN: Duration = Duration::from_secs(10 * 60);

/// Files changed at or after the cutoff are in scope; `None` (a backfill) takes files of any age.
pub fn cutoff(exporting_since: DateTime<Utc>, backfill: bool) -> Option<DateTime<Utc>> {
    if backfill {
        return None;
    }
    let margin = chrono::Duration::from_std(CLOCK_SKEW_MARGIN).unwrap_or_default();
    Some(exporting_since - margin)
}

/// Why a file or folder was left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Skip {
    /// In DocSpace's trash.
    Trash,
    /// An archived room that was not named explicitly.
    ArchivedRoom,
    /// The API key's user may not read it (DocSpace answered 403).
    Unreadable,
    /// It was deleted between being listed and being read (404).
    Gone,
    /// A named folder below another named folder: walked as part of that one.
    InsideListedFolder,
    /// A file whose `updated` DocSpace did not send or that does not parse: its age is unknown,
    /// so only a backfill takes it.
    NoUpdatedDate,
}

impl Skip {
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::Trash => "trash",
            Skip::ArchivedRoom => "archived_room",
            Skip::Unreadable => "unreadable",
            Skip::Gone => "gone",
            Skip::InsideListedFolder => "inside_listed_folder",
            Skip::NoUpdatedDate => "no_updated_date",
        }
    }
}

/// What becomes of one listed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileAction {
    /// Export it: never exported (`exported_version` is `None`), or DocSpace has another version
    /// than the one exported.
    Export {
        exported_version: Option<i64>,
    },
    /// Its current version is recorded as exported: nothing to do, no call to make.
    InStep,
    /// Last changed before the cutoff: left for a backfill.
    Older,
    Skip(Skip),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePlan {
    pub file_id: String,
    pub title: String,
    pub version: i64,
    /// Where an export goes: the recorded path of a file exported before, else the DocSpace
    /// path mirrored under `EXPORT_ROOT`; `None` when the listing did not name every folder on
    /// the way (older servers).
    pub destination: Option<String>,
    pub action: FileAction,
}

/// A subfolder left out of the walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderSkip {
    pub id: String,
    pub title: String,
    pub why: Skip,
}

/// The plan of one listed page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PagePlan {
    pub files: Vec<FilePlan>,
    /// Subfolders to walk.
    pub descend: Vec<FolderInfo>,
    pub skipped_folders: Vec<FolderSkip>,
}

impl PagePlan {
    pub fn to_export(&self) -> impl Iterator<Item = &FilePlan> {
        self.files
            .iter()
            .filter(|f| matches!(f.action, FileAction::Export { .. }))
    }
}

/// Plans one page of a folder listing. `recorded` holds the exports recorded for (some of) the
/// page's files, by file id; `since` is the run's [`cutoff`].
pub fn plan_page(
    page: &FolderPage,
    recorded: &HashMap<String, ExportRecord>,
    since: Option<DateTime<Utc>>,
    export_root: &str,
) -> PagePlan {
    let folder_titles = mirrored_titles(&page.path);
    let files = page
        .files
        .iter()
        .map(|f| {
            let record = recorded.get(&f.id);
            FilePlan {
                file_id: f.id.clone(),
                title: f.title.clone(),
                version: f.version,
                destination: match record {
                    Some(r) => Some(r.dropbox_path.clone()),
                    None => folder_titles
                        .as_ref()
                        .map(|t| path::mirrored(export_root, t, &f.title)),
                },
                action: plan_file(f, record, since),
            }
        })
        .collect();
    let mut plan = PagePlan {
        files,
        ..PagePlan::default()
    };
    for folder in &page.folders {
        if folder.in_trash() {
            plan.skipped_folders.push(FolderSkip {
                id: folder.id.clone(),
                title: folder.title.clone(),
                why: Skip::Trash,
            });
        } else {
            plan.descend.push(folder.clone());
        }
    }
    plan
}

/// What becomes of one file.
pub fn plan_file(
    file: &FileInfo,
    recorded: Option<&ExportRecord>,
    since: Option<DateTime<Utc>>,
) -> FileAction {
    if file.root_folder_type == Some(FOLDER_TYPE_TRASH) {
        return FileAction::Skip(Skip::Trash);
    }
    // DocSpace versions only grow (restoring an old one makes a new one), so a recorded version
    // at least as new as the listed one means the listing is what was exported.
    if recorded.is_some_and(|r| r.docspace_version >= file.version) {
        return FileAction::InStep;
    }
    if let Some(since) = since {
        match file.updated.as_deref().and_then(parse_updated) {
            None => return FileAction::Skip(Skip::NoUpdatedDate),
            Some(updated) if updated < since => return FileAction::Older,
            Some(_) => {}
        }
    }
    FileAction::Export {
        exported_version: recorded.map(|r| r.docspace_version),
    }
}

/// A named folder lies below another named folder (its walk covers this one).
pub fn inside_another(path: &[PathPart], folder_id: &str, named: &[String]) -> bool {
    path.iter()
        .filter(|p| p.id != folder_id)
        .any(|p| named.contains(&p.id))
}

/// DocSpace dates: `2026-05-20T13:15:30.0000000+03:00` (the portal's offset, `Z` at UTC); a
/// date without an offset is taken as UTC.
pub fn parse_updated(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

/// Folder titles from the section root down, for [`path::mirrored`]; `None` when one below the
/// section root is unknown.
fn mirrored_titles(path: &[PathPart]) -> Option<Vec<String>> {
    if path.iter().skip(1).any(|p| p.title.is_empty()) {
        return None;
    }
    Some(path.iter().map(|p| p.title.clone()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 20, h, 0, 0)
            .single()
            .expect("date")
    }

    fn file(id: &str, version: i64, updated: Option<&str>) -> FileInfo {
        FileInfo {
            id: id.into(),
            title: format!("{id}.docx"),
            folder_id: Some("5".into()),
            version,
            version_group: None,
            size: Some(10),
            file_exst: Some(".docx".into()),
            file_type: None,
            created: None,
            updated: updated.map(str::to_string),
            updated_by: None,
            root_folder_id: Some("1".into()),
            root_folder_type: Some(14),
            view_url: None,
        }
    }

    fn record(id: &str, version: i64) -> ExportRecord {
        ExportRecord {
            file_id: id.into(),
            docspace_version: version,
            dropbox_path: format!("/Out/Room/{id} (1).docx"),
            dropbox_id: None,
            rev: "a1b2c3d4e5".into(),
            content_hash: "h".into(),
            size: 10,
        }
    }

    fn folder(id: &str, title: &str, root_type: i64) -> FolderInfo {
        FolderInfo {
            id: id.into(),
            title: title.into(),
            parent_id: Some("5".into()),
            root_folder_type: Some(root_type),
            room_type: None,
        }
    }

    fn part(id: &str, title: &str) -> PathPart {
        PathPart {
            id: id.into(),
            title: title.into(),
        }
    }

    #[test]
    fn the_cutoff_is_the_watermark_less_the_margin_and_none_for_a_backfill() {
        assert_eq!(
            cutoff(t(10), false),
            Some(t(10) - chrono::Duration::minutes(10))
        );
        assert_eq!(cutoff(t(10), true), None);
    }

    #[test]
    fn a_file_never_exported_and_changed_after_the_cutoff_is_exported() {
        let f = file("1", 1, Some("2026-05-20T13:30:00.0000000+03:00"));
        assert_eq!(
            plan_file(&f, None, Some(t(10))),
            FileAction::Export {
                exported_version: None
            }
        );
    }

    #[test]
    fn the_portal_offset_counts_when_comparing_with_the_cutoff() {
        // 12:30 at +03:00 is 09:30 UTC: before a 10:00 UTC cutoff.
        let f = file("1", 1, Some("2026-05-20T12:30:00.0000000+03:00"));
        assert_eq!(plan_file(&f, None, Some(t(10))), FileAction::Older);
        let f = file("1", 1, Some("2026-05-20T10:00:00.0000000Z"));
        assert!(matches!(
            plan_file(&f, None, Some(t(10))),
            FileAction::Export { .. }
        ));
        let f = file("1", 1, Some("2026-05-20T10:00:00.5"));
        assert!(matches!(
            plan_file(&f, None, Some(t(10))),
            FileAction::Export { .. }
        ));
    }

    #[test]
    fn the_recorded_version_makes_a_file_in_step_whatever_its_age() {
        let f = file("1", 3, Some("2026-05-20T11:00:00Z"));
        assert_eq!(
            plan_file(&f, Some(&record("1", 3)), Some(t(10))),
            FileAction::InStep
        );
        assert_eq!(
            plan_file(&f, Some(&record("1", 3)), None),
            FileAction::InStep
        );
    }

    #[test]
    fn a_newer_version_is_exported_again() {
        let f = file("1", 4, Some("2026-05-20T11:00:00Z"));
        assert_eq!(
            plan_file(&f, Some(&record("1", 3)), Some(t(10))),
            FileAction::Export {
                exported_version: Some(3)
            }
        );
    }

    #[test]
    fn old_files_wait_for_a_backfill_and_a_backfill_takes_them() {
        let f = file("1", 1, Some("2020-01-01T00:00:00Z"));
        assert_eq!(plan_file(&f, None, Some(t(10))), FileAction::Older);
        assert_eq!(
            plan_file(&f, None, None),
            FileAction::Export {
                exported_version: None
            }
        );
    }

    #[test]
    fn a_file_without_a_readable_date_is_left_to_a_backfill() {
        for updated in [None, Some("yesterday")] {
            let f = file("1", 1, updated);
            assert_eq!(
                plan_file(&f, None, Some(t(10))),
                FileAction::Skip(Skip::NoUpdatedDate)
            );
            assert!(matches!(
                plan_file(&f, None, None),
                FileAction::Export { .. }
            ));
        }
    }

    #[test]
    fn trashed_files_and_folders_are_skipped() {
        let mut f = file("1", 1, Some("2026-05-20T11:00:00Z"));
        f.root_folder_type = Some(FOLDER_TYPE_TRASH);
        assert_eq!(plan_file(&f, None, None), FileAction::Skip(Skip::Trash));

        let page = FolderPage {
            current: None,
            path: vec![part("4", "Trash")],
            folders: vec![
                folder("9", "Old", FOLDER_TYPE_TRASH),
                folder("10", "New", 14),
            ],
            files: vec![],
            start_index: 0,
            total: Some(2),
        };
        let plan = plan_page(&page, &HashMap::new(), None, "/Out");
        assert_eq!(plan.descend.len(), 1);
        assert_eq!(plan.descend[0].id, "10");
        assert_eq!(plan.skipped_folders[0].why, Skip::Trash);
    }

    #[test]
    fn destinations_mirror_the_path_or_keep_the_recorded_one() {
        let page = FolderPage {
            current: None,
            path: vec![part("1", "Rooms"), part("5", "Room"), part("6", "2026")],
            folders: vec![],
            files: vec![
                file("1", 2, Some("2026-05-20T11:00:00Z")),
                file("2", 1, Some("2026-05-20T11:00:00Z")),
            ],
            start_index: 0,
            total: Some(2),
        };
        let recorded = HashMap::from([("1".to_string(), record("1", 1))]);
        let plan = plan_page(&page, &recorded, Some(t(10)), "/Out");
        assert_eq!(
            plan.files[0].destination.as_deref(),
            Some("/Out/Room/1 (1).docx")
        );
        assert_eq!(
            plan.files[1].destination.as_deref(),
            Some("/Out/Room/2026/2.docx")
        );
        assert_eq!(plan.to_export().count(), 2);

        let mut bare = page.clone();
        bare.path[1].title.clear();
        let plan = plan_page(&bare, &HashMap::new(), Some(t(10)), "/Out");
        assert_eq!(plan.files[1].destination, None);
    }

    #[test]
    fn a_named_folder_below_another_named_one_is_covered_by_it() {
        let path = vec![part("1", "Rooms"), part("5", "Room"), part("6", "2026")];
        let named = vec!["5".to_string(), "6".to_string()];
        assert!(inside_another(&path, "6", &named));
        assert!(!inside_another(&path[..2], "5", &named));
        assert!(!inside_another(&path, "6", &["6".to_string()]));
    }
}
