//! Moving one file's bytes from DocSpace into a closed Dropbox upload session, streamed: the
//! pieces of the presigned download are hashed as they arrive and gathered into 4 MiB chunks,
//! a few appends in flight while the next chunk downloads, never holding the file in
//! memory or on disk. It runs on a transfer thread ([`super::threads`]).
//!
//! An expired presigned URL (403) gets a fresh one; a download that breaks midway is started
//! again from the beginning into a new session (the abandoned session is never committed, so no
//! partial file can appear in Dropbox). Nothing here commits: that is the batcher's job.

use tracing::Instrument;

use crate::docspace::{DocSpaceClient, DocSpaceError};
use crate::dropbox::{DropboxClient, DropboxError, Progress, UploadOptions, UploadedSession};
use crate::jobs::{JobContext, JobError};

/// Upload session chunk (a multiple of 4 MiB). Memory is about one chunk per append in flight
/// (`BRIDGE_EXPORT_PARALLEL`) plus the one being downloaded. Measured on the 1 GiB export
/// benchmark: 4 MiB chunks with 4 appends in flight peak near 40 MiB RSS; 8 MiB chunks were no
/// faster and near 50 MiB.
const CHUNK: usize = 4 * 1024 * 1024;
/// Fresh presigned URLs asked for within one attempt after a 403.
const MAX_PRESIGN_REFRESH: u32 = 2;
/// Restarts within one attempt after a download broke off midway.
const MAX_RESTARTS: u32 = 2;

/// Why the transfer stopped.
pub enum TransferError {
    /// DocSpace says the file is gone (deleted between reading its info and downloading it).
    Gone,
    Job(JobError),
}

impl From<JobError> for TransferError {
    fn from(e: JobError) -> Self {
        TransferError::Job(e)
    }
}

/// Streams the current content of `file_id` into a new closed upload session, on one of the
/// context's transfer threads ([`super::threads`]).
pub async fn to_session(
    ctx: &JobContext,
    file_id: &str,
    expected_len: Option<u64>,
    progress: Option<Progress>,
) -> Result<UploadedSession, TransferError> {
    let (docspace, dropbox) = (ctx.docspace.clone(), ctx.dropbox.clone());
    let file_id = file_id.to_string();
    let parallel = ctx.config.export.parallel;
    let span = tracing::Span::current();
    let transfer = ctx.exports.threads.spawn(move |http| {
        let (docspace, dropbox) = (docspace.with_http(http.clone()), dropbox.with_http(http));
        pump(docspace, dropbox, file_id, expected_len, parallel, progress).instrument(span)
    });
    match transfer.join().await {
        Ok(r) => r,
        Err(e) => Err(JobError::retry(format!("transfer task failed: {e}")).into()),
    }
}

async fn pump(
    docspace: DocSpaceClient,
    dropbox: DropboxClient,
    file_id: String,
    expected_len: Option<u64>,
    parallel: usize,
    progress: Option<Progress>,
) -> Result<UploadedSession, TransferError> {
    let file_id = file_id.as_str();
    let opts = UploadOptions {
        chunk_size: CHUNK,
        parallel,
        progress,
        ..Default::default()
    };
    let mut refreshes = 0;
    let mut restarts = 0;
    loop {
        let url = match docspace.presigned_uri(file_id).await {
            Ok(u) => u,
            Err(e) if e.is_not_found() => return Err(TransferError::Gone),
            Err(e) => return Err(JobError::from(e).into()),
        };
        let download = match docspace.download(&url).await {
            Ok(d) => d,
            Err(DocSpaceError::PresignedExpired) if refreshes < MAX_PRESIGN_REFRESH => {
                refreshes += 1;
                tracing::info!(
                    file_id,
                    "presigned URL refused (expired); asking for a fresh one"
                );
                continue;
            }
            Err(e) if e.is_not_found() => return Err(TransferError::Gone),
            Err(e) => return Err(JobError::from(e).into()),
        };
        // The announced length is the truth for this body; the file info may be a version older.
        let len = download.content_length.or(expected_len);
        match dropbox.upload_to_session(download, len, &opts).await {
            Ok(session) => return Ok(session),
            Err(e @ (DropboxError::Source { .. } | DropboxError::LengthMismatch { .. }))
                if restarts < MAX_RESTARTS =>
            {
                restarts += 1;
                tracing::warn!(file_id, error = %e, restarts, "download broke off; starting the file again");
            }
            Err(e @ DropboxError::LengthMismatch { .. }) => {
                // A new version landed while we read, or the body was cut without an error:
                // transient either way.
                return Err(JobError::retry(e.to_string()).into());
            }
            Err(e) => return Err(JobError::from(e).into()),
        }
    }
}
