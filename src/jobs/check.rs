//! Whether what a manual trigger names exists, before a job is made for it: the operator API
//! refuses a group or file id DocSpace does not know, instead of enqueueing a job that would
//! "succeed" as a deleted group or a skipped file.
//!
//! DocSpace is asked once (no retries) and only when it is not paused after a 429; when it cannot
//! answer now (down, slow, refusing the key) the answer is [`Known::Unknown`] and the caller
//! accepts the job, which then finds out itself.

use super::JobContext;
use crate::docspace::DocSpaceError;

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

/// A file is known when DocSpace has it.
pub async fn file(ctx: &JobContext, id: &str) -> Known {
    ask(ctx, "file", id, ctx.docspace.file_exists(id)).await
}
