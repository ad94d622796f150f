//! Which jobs each event or request creates, with their payloads and dedupe keys.
//! Shared by the webhook handlers, the API and the scheduler so that a job built from
//! a webhook and one built from the API coalesce.

use serde_json::json;

use crate::store::{kinds, NewJob};

pub fn group_sync(group_id: &str) -> NewJob {
    NewJob::new(
        kinds::GROUP_SYNC,
        Some(format!("{}:{group_id}", kinds::GROUP_SYNC)),
        json!({ "group_id": group_id }),
    )
}

pub fn group_delete(group_id: &str, group_name: Option<&str>) -> NewJob {
    NewJob::new(
        kinds::GROUP_DELETE,
        Some(format!("{}:{group_id}", kinds::GROUP_DELETE)),
        json!({ "group_id": group_id, "group_name": group_name }),
    )
}

/// The job that reconciles every group.
pub fn groups_sync_all() -> NewJob {
    NewJob::new(
        kinds::GROUPS_SYNC_ALL,
        Some(kinds::GROUPS_SYNC_ALL.to_string()),
        json!({}),
    )
}

/// Export of one file. `folder` overrides the mirrored destination folder (manual exports);
/// `created_by` is the DocSpace user whose action fired the event (loop guard).
pub fn file_export(
    file_id: &str,
    folder: Option<&str>,
    trigger: Option<&str>,
    created_by: Option<&str>,
) -> NewJob {
    let key = match folder {
        Some(f) => format!("{}:{file_id}:{}", kinds::FILE_EXPORT, f.to_lowercase()),
        None => format!("{}:{file_id}", kinds::FILE_EXPORT),
    };
    NewJob::new(
        kinds::FILE_EXPORT,
        Some(key),
        json!({ "file_id": file_id, "folder": folder, "trigger": trigger, "created_by": created_by }),
    )
}

/// A change-tracking job; `account_id` `None` means the bridge's own account.
pub fn dropbox_changes(account_id: Option<&str>) -> NewJob {
    let key = format!(
        "{}:{}",
        kinds::DROPBOX_CHANGES,
        account_id.unwrap_or("self")
    );
    NewJob::new(
        kinds::DROPBOX_CHANGES,
        Some(key),
        json!({ "account_id": account_id }),
    )
}

/// What a DocSpace trigger asks of the bridge.
#[derive(Debug, PartialEq, Eq)]
pub enum DocSpaceAction {
    GroupSync,
    GroupDelete,
    FileExport,
    /// A valid event the bridge does not act on (counted, nothing enqueued).
    Ignore,
}

pub fn docspace_action(trigger: &str, export_triggers: &[String]) -> DocSpaceAction {
    match trigger {
        "group.created" | "group.updated" => DocSpaceAction::GroupSync,
        "group.deleted" => DocSpaceAction::GroupDelete,
        t if export_triggers.iter().any(|e| e == t) => DocSpaceAction::FileExport,
        _ => DocSpaceAction::Ignore,
    }
}
