//! `file.export`: one DocSpace file streamed to Dropbox. Enqueued by the DocSpace events in
//! `EXPORT_TRIGGERS`, the API, the file reconcile, and change tracking when an exported copy was
//! deleted; one per file (and explicit folder) while queued. The work is [`crate::jobs::export`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{field, JobKind};
use crate::jobs::{export, JobContext, JobError};

/// Trigger recorded on exports enqueued because the exported copy was deleted in Dropbox.
pub const TRIGGER_DROPBOX_DELETED: &str = "dropbox.deleted";

/// Trigger recorded on exports enqueued by the file reconcile (`files.sync_all`) over the
/// configured scope.
pub const TRIGGER_RECONCILE: &str = "files.sync_all";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileExport {
    #[serde(deserialize_with = "field::id")]
    pub file_id: String,
    /// Explicit Dropbox folder (manual exports); `None` mirrors the DocSpace path under
    /// `EXPORT_ROOT`.
    #[serde(default, deserialize_with = "field::optional")]
    pub folder: Option<String>,
    /// What caused it: the DocSpace trigger, or `dropbox.deleted`; `None` for manual exports,
    /// which `EXPORT_FOLDER_IDS` does not limit.
    #[serde(default, deserialize_with = "field::optional")]
    pub trigger: Option<String>,
    /// The DocSpace user whose action fired the event, for the record. Who it was changes
    /// nothing: the API key's own user's uploads are exported like anyone's.
    #[serde(default, deserialize_with = "field::optional")]
    pub created_by: Option<String>,
}

/// An explicit export folder as an operator gives it (the API's `folder`, the command line's
/// `--folder`): an absolute Dropbox path without `.` or `..` segments or control characters.
/// Answers the folder without a trailing `/`; `/` itself means the default (mirrored under
/// EXPORT_ROOT), `None`.
pub fn explicit_folder(folder: &str) -> Result<Option<&str>, &'static str> {
    let bad = !folder.starts_with('/')
        || folder.split('/').any(|c| c == "." || c == "..")
        || folder.chars().any(char::is_control);
    if bad {
        return Err("must be an absolute Dropbox path such as /Reports/2026");
    }
    Ok(Some(folder.trim_end_matches('/')).filter(|f| !f.is_empty()))
}

impl FileExport {
    /// An export caused by a DocSpace event.
    pub fn event(file_id: impl Into<String>, trigger: &str, created_by: Option<&str>) -> Self {
        Self {
            file_id: file_id.into(),
            trigger: Some(trigger.to_string()),
            created_by: created_by.map(str::to_string),
            folder: None,
        }
    }

    /// An export an operator asked for (API, CLI), optionally into an explicit Dropbox folder.
    pub fn manual(file_id: impl Into<String>, folder: Option<&str>) -> Self {
        Self {
            file_id: file_id.into(),
            folder: folder.map(str::to_string),
            ..Self::default()
        }
    }

    /// Export again a file whose exported copy was deleted in Dropbox.
    pub fn re_export(file_id: impl Into<String>) -> Self {
        Self::event(file_id, TRIGGER_DROPBOX_DELETED, None)
    }

    /// Export a file the file reconcile found not exported at its current version.
    pub fn reconcile(file_id: impl Into<String>) -> Self {
        Self::event(file_id, TRIGGER_RECONCILE, None)
    }
}

impl JobKind for FileExport {
    const NAME: &'static str = "file.export";

    /// One per file; a manual export into an explicit folder is its own job.
    fn dedupe_key(&self) -> String {
        match &self.folder {
            Some(f) => format!("{}:{}:{}", Self::NAME, self.file_id, f.to_lowercase()),
            None => format!("{}:{}", Self::NAME, self.file_id),
        }
    }

    async fn run(self, ctx: &JobContext) -> Result<Value, JobError> {
        Ok(export::export(ctx, &self, None).await?.to_json())
    }
}
