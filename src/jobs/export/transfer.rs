//! Moving one file's bytes from DocSpace into a closed Dropbox upload session, streamed: the
//! presigned download feeds the upload through a small byte-bounded read-ahead buffer (so that
//! downloading and uploading overlap), never holding the file in memory or on disk.
//!
//! An expired presigned URL (403) gets a fresh one; a download that breaks midway is started
//! again from the beginning into a new session (the abandoned session is never committed, so no
//! partial file can appear in Dropbox). Nothing here commits: that is the batcher's job.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::{mpsc, Semaphore};

use crate::docspace::{DocSpaceError, Download};
use crate::dropbox::{DropboxError, Progress, UploadOptions, UploadedSession};
use crate::jobs::{JobContext, JobError};

/// Read-ahead between the download and the upload, in bytes.
const READ_AHEAD: usize = 2 * 1024 * 1024;
/// Upload session chunk (a multiple of 4 MiB). Memory is about twice a chunk (the one being
/// sent, the next one being assembled) plus the read-ahead. Measured with glibc malloc: 4 MiB
/// chunks keep a 1 GiB export near 40 MiB peak RSS; 8 MiB ones reach 60-70 MiB, because every
/// worker thread's malloc arena ends up keeping a few chunk-sized holes.
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

/// Streams the current content of `file_id` into a new closed upload session.
pub async fn to_session(
    ctx: &JobContext,
    file_id: &str,
    expected_len: Option<u64>,
    progress: Option<Progress>,
) -> Result<UploadedSession, TransferError> {
    let opts = UploadOptions {
        chunk_size: CHUNK,
        progress,
        ..Default::default()
    };
    let mut refreshes = 0;
    let mut restarts = 0;
    loop {
        let url = match ctx.docspace.presigned_uri(file_id).await {
            Ok(u) => u,
            Err(e) if e.is_not_found() => return Err(TransferError::Gone),
            Err(e) => return Err(JobError::from(e).into()),
        };
        let download = match ctx.docspace.download(&url).await {
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
        match ctx
            .dropbox
            .upload_to_session(read_ahead(download), len, &opts)
            .await
        {
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

/// Reads `download` ahead of its consumer into a buffer of at most [`READ_AHEAD`] bytes (one
/// item may exceed it), so that the next chunk downloads while the current one uploads.
fn read_ahead(
    mut download: Download,
) -> impl futures::Stream<Item = Result<Bytes, DocSpaceError>> + Send + 'static {
    const UNIT: usize = 1024;
    let budget = READ_AHEAD / UNIT;
    let credit = Arc::new(Semaphore::new(budget));
    let (tx, rx) = mpsc::unbounded_channel::<Result<(Bytes, usize), DocSpaceError>>();
    let producer_credit = Arc::clone(&credit);
    let producer = tokio::spawn(async move {
        while let Some(item) = download.next().await {
            let units = item
                .as_ref()
                .map(|b| b.len().div_ceil(UNIT).clamp(1, budget))
                .unwrap_or(1);
            let Ok(permit) = producer_credit.acquire_many(units as u32).await else {
                return;
            };
            permit.forget();
            let failed = item.is_err();
            if tx.send(item.map(|b| (b, units))).is_err() || failed {
                return;
            }
        }
    });
    let guard = AbortOnDrop(producer);
    futures::stream::unfold((rx, credit, guard), |(mut rx, credit, guard)| async move {
        let item = rx.recv().await?;
        let item = item.map(|(b, units)| {
            credit.add_permits(units);
            b
        });
        Some((item, (rx, credit, guard)))
    })
}

/// Stops the read-ahead task (and with it the download) when the upload gives up.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
