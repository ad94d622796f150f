//! Whether what a manual trigger names exists, before a job is made for it: the operator API and
//! `sync-groups --group` refuse a group or file id DocSpace does not know, instead of running a
//! job that would "succeed" as a deleted group or a skipped file.
//!
//! DocSpace is asked once (no retries) and only when it is not paused after a 429; when it cannot
//! answer now (down, slow, refusing the key) the answer is [`Known::Unknown`] and the caller
//! accepts the job, which then finds out itself. The folders named to a file reconcile are the
//! exception ([`folders`]): they are checked through the client's usual call path, and a question
//! DocSpace leaves open refuses the request.

use std::time::Duration;

use futures::StreamExt;

use super::JobContext;
use crate::docspace::DocSpaceError;

/// Existence checks in flight at once for one trigger.
const CHECKS_AT_ONCE: usize = 8;

/// What DocSpace (and the bridge's own records) say about an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    Yes,
    No,
    /// DocSpace could not be asked now.
    Unknown,
}

async fn ask(
    ctx: &JobContext,
    what: &str,
    id: &str,
    answer: impl std::future::Future<Output = Result<bool, DocSpaceError>>,
) -> Known {
    if ctx.docspace.pacer().remaining().is_some() {
        return Known::Unknown;
    }
    match answer.await {
        Ok(true) => Known::Yes,
        Ok(false) => Known::No,
        Err(e) => {
            tracing::warn!(%what, %id, error = %e, "cannot check with DocSpace; the job will find out");
            Known::Unknown
        }
    }
}

/// A group is known when DocSpace has it, or when the bridge keeps a folder for it (a group
/// deleted in DocSpace is still a valid target: its job applies ON_GROUP_DELETED).
pub async fn group(ctx: &JobContext, id: &str) -> Known {
    match ask(ctx, "group", id, ctx.docspace.group_exists(id)).await {
        Known::No => match ctx.store.group_folder(id).await {
            Ok(Some(_)) => Known::Yes,
            Ok(None) => Known::No,
            Err(e) => {
                tracing::warn!(group = %id, error = %e, "cannot read the group's folder mapping");
                Known::Unknown
            }
        },
        known => known,
    }
}

/// The ids of `ids` that are unknown groups ([`group`]), asked a few at a time. Ids not checked
/// within `wait` count as known (their jobs find out).
pub async fn unknown_groups(ctx: &JobContext, ids: &[String], wait: Duration) -> Vec<String> {
    // Owned ids: futures over borrowed ones are not `Send` for every lifetime, as a handler's
    // future must be.
    futures::stream::iter(ids.iter().cloned())
        .map(|id| async move {
            let known = group(ctx, &id).await;
            (id, known)
        })
        .buffered(CHECKS_AT_ONCE)
        .take_until(tokio::time::sleep(wait))
        .filter_map(|(id, known)| async move { (known == Known::No).then_some(id) })
        .collect()
        .await
}

/// "DocSpace group g1 does not exist", "DocSpace groups g1, g2 do not exist": how unknown ids
/// (`what`: `group`, `file`) are refused, by the API and the command line alike.
pub fn unknown_ids_message(what: &str, ids: &[String]) -> String {
    let (noun, verb) = if ids.len() == 1 {
        (what.to_string(), "does")
    } else {
        (format!("{what}s"), "do")
    };
    format!("DocSpace {noun} {} {verb} not exist", ids.join(", "))
}

/// A file is known when DocSpace has it.
pub async fn file(ctx: &JobContext, id: &str) -> Known {
    ask(ctx, "file", id, ctx.docspace.file_exists(id)).await
}

/// Why a file reconcile over named folders is refused before it is enqueued.
#[derive(Debug, thiserror::Error)]
pub enum FolderCheckError {
    #[error("DocSpace has no folder or room {0}")]
    Unknown(String),
    /// No answer in time, or a transient failure: try again later.
    #[error("DocSpace did not answer whether the folders exist")]
    Unavailable,
    /// DocSpace refused for another reason (the API key is not accepted or lacks a permission).
    #[error("DocSpace refused to show folder {id}: {error}")]
    Refused { id: String, error: String },
}

/// Whether every folder named to a file reconcile exists, asked within `wait`. Unlike the checks
/// above, a folder check does not let an unanswered question through: a run over named folders
/// is an operator's explicit request, answered at once. A folder the API key may not read exists
/// (the run reports it as skipped).
pub async fn folders(
    ctx: &JobContext,
    ids: &[String],
    wait: std::time::Duration,
) -> Result<(), FolderCheckError> {
    let asked = futures::future::join_all(ids.iter().map(|id| ctx.docspace.folder_info(id)));
    let Ok(answers) = tokio::time::timeout(wait, asked).await else {
        return Err(FolderCheckError::Unavailable);
    };
    for (id, answer) in ids.iter().zip(answers) {
        match answer {
            Ok(Some(_)) => {}
            Ok(None) => return Err(FolderCheckError::Unknown(id.clone())),
            Err(e) if e.status() == Some(403) && e.missing_scope().is_none() => {}
            Err(e) => {
                tracing::warn!(folder_id = %id, error = %e, "cannot check a folder");
                return Err(if e.is_retryable() {
                    FolderCheckError::Unavailable
                } else {
                    FolderCheckError::Refused {
                        id: id.clone(),
                        error: e.to_string(),
                    }
                });
            }
        }
    }
    Ok(())
}
