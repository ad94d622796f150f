//! Uploads of any size with flat memory: `files/upload` for small bodies (buffered, at most one
//! chunk), upload sessions beyond, in chunks that are multiples of 4 MiB. Every request carries
//! the Dropbox `content_hash` of its own bytes; the whole file's hash is computed while streaming
//! and checked against the committed `FileMetadata.content_hash`. An `incorrect_offset` answer
//! (a lost response to a request the server did apply) is resynchronised to `correct_offset`.
//!
//! The bytes arrive already cut into hashed, request-sized chunks by [`super::chunk_reader`];
//! this module decides how they travel (one request, a sequential session, or a concurrent one)
//! and commits them.
//!
//! [`DropboxClient::upload_to_session`] stops before the commit so that callers can commit many
//! closed sessions in one `finish_batch_v2` ([`DropboxClient::finish_sessions`]).

use std::sync::Arc;

use bytes::Bytes;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, Stream, StreamExt};

use super::chunk::Chunk;
use super::chunk_reader::{BoxError, ChunkReader, Hashed};
use super::client::DropboxClient;
use super::content_hash::{content_hash, BLOCK_SIZE};
use super::error::{tag_path, DropboxError};
use super::wire::*;

type Result<T> = std::result::Result<T, DropboxError>;

/// Largest body one request may carry (Dropbox refuses more than 150 MiB per request).
pub const MAX_REQUEST_BYTES: u64 = 150 * 1024 * 1024;
/// Largest number of entries in one `finish_batch_v2`.
pub const MAX_BATCH: usize = 1000;

/// Called with the number of bytes Dropbox has acknowledged so far.
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// How [`DropboxClient::upload_stream`] sends a body.
#[derive(Clone)]
pub struct UploadOptions {
    /// Bodies up to this size go through `files/upload` when they also fit in one chunk
    /// (buffered); larger ones through an upload session. Default 150 MiB.
    pub upload_threshold: u64,
    /// Session chunk size; rounded down to a multiple of 4 MiB, between 4 MiB and 148 MiB.
    /// Default 8 MiB. Memory use is about two chunks (one in flight, the next read and hashed
    /// meanwhile) plus one item of the source stream.
    pub chunk_size: usize,
    /// Appends in flight at once for a body of several chunks. Above 1 such a body goes
    /// through a concurrent session: while some appends travel, the next
    /// chunk is read and hashed, and no request waits for the previous one's answer. Memory
    /// grows by one chunk per append in flight. Default 1: one sequential session.
    pub parallel: usize,
    pub progress: Option<Progress>,
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self {
            upload_threshold: MAX_REQUEST_BYTES,
            chunk_size: 2 * BLOCK_SIZE,
            parallel: 1,
            progress: None,
        }
    }
}

impl std::fmt::Debug for UploadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadOptions")
            .field("upload_threshold", &self.upload_threshold)
            .field("chunk_size", &self.chunk_size)
            .field("parallel", &self.parallel)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl UploadOptions {
    fn chunk(&self) -> usize {
        let max = 37 * BLOCK_SIZE; // 148 MiB, under the 150 MiB request cap
        (self.chunk_size / BLOCK_SIZE * BLOCK_SIZE).clamp(BLOCK_SIZE, max)
    }
    fn report(&self, n: u64) {
        if let Some(p) = &self.progress {
            p(n);
        }
    }
}

/// A closed upload session holding a whole file, ready to be committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedSession {
    pub session_id: String,
    pub size: u64,
    /// Dropbox content hash of all the bytes in the session.
    pub content_hash: String,
}

impl UploadedSession {
    /// The `finish` / `finish_batch_v2` entry that commits this session.
    pub fn finish_arg(&self, commit: CommitInfo) -> UploadSessionFinishArg {
        UploadSessionFinishArg {
            cursor: UploadSessionCursor {
                session_id: self.session_id.clone(),
                offset: self.size,
            },
            commit,
            content_hash: None,
        }
    }
}

impl DropboxClient {
    /// `files/upload` of a small body (≤ 150 MiB, already in memory), with its content hash sent
    /// for verification and the committed file's hash checked.
    pub async fn upload(&self, commit: &CommitInfo, body: Bytes) -> Result<FileMetadata> {
        if body.len() as u64 > MAX_REQUEST_BYTES {
            return Err(DropboxError::InvalidArgument {
                route: "files/upload",
                message: "body over 150 MiB; use an upload session".into(),
            });
        }
        let hash = hash_off_thread(body.clone()).await?;
        self.upload_hashed(commit, body.into(), hash).await
    }

    async fn upload_hashed(
        &self,
        commit: &CommitInfo,
        body: Chunk,
        hash: String,
    ) -> Result<FileMetadata> {
        let arg = UploadArg {
            commit,
            content_hash: hash.clone(),
        };
        let meta: FileMetadata = self.call_upload("files/upload", &arg, body).await?;
        verify(&commit.path, &hash, &meta)?;
        Ok(meta)
    }

    /// Streams `body` to `commit.path`, whatever its size, and returns the committed metadata
    /// after checking Dropbox's content hash against the one computed while streaming.
    /// `known_len`, when given, must match the body's length.
    pub async fn upload_stream<S, E>(
        &self,
        commit: &CommitInfo,
        body: S,
        known_len: Option<u64>,
        opts: &UploadOptions,
    ) -> Result<FileMetadata>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: Into<BoxError>,
    {
        let mut reader = ChunkReader::new(body, &commit.path);
        let first = reader.next_chunk(opts.chunk()).await?;
        let small_enough = |n: u64| n <= opts.upload_threshold.min(MAX_REQUEST_BYTES);
        let len = first.body.len() as u64;
        if first.last && small_enough(len) && known_len.is_none_or(small_enough) {
            check_len(&commit.path, known_len, len)?;
            let meta = self.upload_hashed(commit, first.body, first.hash).await?;
            opts.report(meta.size);
            return Ok(meta);
        }
        let session = self
            .session_from(&mut reader, first, known_len, opts)
            .await?;
        let meta = self
            .upload_session_finish(
                UploadSessionCursor {
                    session_id: session.session_id.clone(),
                    offset: session.size,
                },
                commit,
                Bytes::new(),
            )
            .await?;
        verify(&commit.path, &session.content_hash, &meta)?;
        Ok(meta)
    }

    /// Streams `body` into a new upload session and closes it, without committing. Commit with
    /// [`DropboxClient::finish_sessions`] (many at once) or `upload_session_finish`.
    pub async fn upload_to_session<S, E>(
        &self,
        body: S,
        known_len: Option<u64>,
        opts: &UploadOptions,
    ) -> Result<UploadedSession>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: Into<BoxError>,
    {
        let mut reader = ChunkReader::new(body, "upload session");
        let first = reader.next_chunk(opts.chunk()).await?;
        self.session_from(&mut reader, first, known_len, opts).await
    }

    /// Commits closed sessions in one `finish_batch_v2`, checking each file's content hash.
    /// The outer error is the call's; each entry has its own result, in order.
    pub async fn finish_sessions(
        &self,
        entries: Vec<(UploadedSession, CommitInfo)>,
    ) -> Result<Vec<Result<FileMetadata>>> {
        let args = entries
            .iter()
            .map(|(s, c)| s.finish_arg(c.clone()))
            .collect();
        let results = self.upload_session_finish_batch_v2(args).await?;
        Ok(results
            .into_iter()
            .zip(entries.iter())
            .map(|(r, (s, c))| r.and_then(|m| verify(&c.path, &s.content_hash, &m).map(|_| m)))
            .collect())
    }

    async fn session_from<S, E>(
        &self,
        reader: &mut ChunkReader<'_, S>,
        first: Hashed,
        known_len: Option<u64>,
        opts: &UploadOptions,
    ) -> Result<UploadedSession>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: Into<BoxError>,
    {
        if !first.last && opts.parallel > 1 {
            return self
                .concurrent_session_from(reader, first, known_len, opts)
                .await;
        }
        let chunk = opts.chunk();
        let mut offset = first.body.len() as u64;
        // Each request overlaps with reading (and hashing) the next chunk, so the upload does
        // not wait for the source between requests.
        let start = self.upload_session_start(first.body, first.last, Some(first.hash));
        let (session_id, mut next) = if first.last {
            (start.await?, None)
        } else {
            let (s, n) = tokio::join!(start, reader.next_chunk(chunk));
            (s?, Some(n?))
        };
        opts.report(offset);
        while let Some(cur) = next.take() {
            let len = cur.body.len() as u64;
            let append = self.append_chunk(&session_id, offset, cur.body, cur.last, cur.hash);
            if cur.last {
                append.await?;
            } else {
                let (a, n) = tokio::join!(append, reader.next_chunk(chunk));
                a?;
                next = Some(n?);
            }
            offset += len;
            opts.report(offset);
        }
        check_len(reader.label, known_len, offset)?;
        Ok(UploadedSession {
            session_id,
            size: offset,
            content_hash: reader.file_hash(),
        })
    }

    /// A body of several chunks through a concurrent session: up to `opts.parallel` appends in
    /// flight while the next chunk is read and hashed; the last chunk (short, or empty when the
    /// size is a multiple of the chunk) closes the session once every other append has landed,
    /// as the SDKs do. `first` is not the last chunk.
    async fn concurrent_session_from<S, E>(
        &self,
        reader: &mut ChunkReader<'_, S>,
        first: Hashed,
        known_len: Option<u64>,
        opts: &UploadOptions,
    ) -> Result<UploadedSession>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: Into<BoxError>,
    {
        let chunk = opts.chunk();
        let arg = UploadSessionStartArg {
            close: false,
            session_type: Some(UploadSessionType::Concurrent),
            content_hash: None,
        };
        let started: UploadSessionStartResult = self
            .call_upload("files/upload_session/start", &arg, Chunk::default())
            .await?;
        let session_id = started.session_id.as_str();
        // Reading runs beside sending in this task; the channel hands over one chunk at a time
        // (and is cancel-safe, unlike a half-read chunk).
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Hashed>(1);
        let source = &mut *reader;
        let read = async move {
            let mut next = first;
            loop {
                let last = next.last;
                if tx.send(next).await.is_err() || last {
                    return Ok(());
                }
                next = source.next_chunk(chunk).await?;
            }
        };
        let send = async {
            let mut in_flight = FuturesUnordered::new();
            let (mut offset, mut acked) = (0u64, 0u64);
            let mut closing: Option<Hashed> = None;
            loop {
                if in_flight.is_empty() {
                    if let Some(c) = closing.take() {
                        let len = c.body.len() as u64;
                        self.append_concurrent(session_id, offset, c.body, true, c.hash)
                            .await?;
                        opts.report(offset + len);
                        return Ok(offset + len);
                    }
                }
                tokio::select! {
                    c = rx.recv(), if closing.is_none() && in_flight.len() < opts.parallel => {
                        let Some(c) = c else {
                            // Unreachable: the reader only stops early with an error, which
                            // try_join returns first.
                            return Err(DropboxError::Source {
                                path: "upload session".into(),
                                source: "the source stopped before its last chunk".into(),
                            });
                        };
                        if c.last {
                            closing = Some(c);
                        } else {
                            let len = c.body.len() as u64;
                            in_flight.push(
                                self.append_concurrent(session_id, offset, c.body, false, c.hash)
                                    .map(move |r| r.map(|()| len)),
                            );
                            offset += len;
                        }
                    }
                    Some(r) = in_flight.next(), if !in_flight.is_empty() => {
                        acked += r?;
                        opts.report(acked);
                    }
                }
            }
        };
        let ((), size) = tokio::try_join!(read, send)?;
        check_len(reader.label, known_len, size)?;
        Ok(UploadedSession {
            session_id: started.session_id,
            size,
            content_hash: reader.file_hash(),
        })
    }

    /// Appends one chunk to a sequential session, resynchronising on `incorrect_offset` when
    /// Dropbox already holds part or all of it (a retried request whose first answer was lost).
    async fn append_chunk(
        &self,
        session_id: &str,
        offset: u64,
        chunk: Chunk,
        close: bool,
        hash: String,
    ) -> Result<()> {
        let end = offset + chunk.len() as u64;
        let cursor = |offset| UploadSessionCursor {
            session_id: session_id.to_string(),
            offset,
        };
        let err = match self
            .upload_session_append_v2(cursor(offset), chunk.clone(), close, Some(hash))
            .await
        {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        match err.correct_offset() {
            Some(c) if c == end => {
                tracing::info!(
                    session_id,
                    offset,
                    "dropbox already had this chunk; moving on"
                );
                Ok(())
            }
            Some(c) if c > offset && c < end => {
                tracing::info!(
                    session_id,
                    offset,
                    correct_offset = c,
                    "resyncing upload session"
                );
                let rest = chunk.slice_from((c - offset) as usize);
                let hash = rest.content_hash();
                self.upload_session_append_v2(cursor(c), rest, close, Some(hash))
                    .await
            }
            // A closing append retried after its first answer was lost finds the session
            // closed; the final content-hash check catches any other cause.
            None if close && err.has_tag("closed") => Ok(()),
            _ => Err(err),
        }
    }

    /// Appends one chunk to a concurrent session. A repeated request (its first answer lost)
    /// just writes the same blocks again, so there is nothing to resynchronise: a partial
    /// resend would not start on a 4 MiB boundary, and what `correct_offset` would mean for a
    /// session filled out of order is not documented. Only a repeated closing append that finds
    /// the session closed is taken as done; the commit's content-hash check catches the rest.
    async fn append_concurrent(
        &self,
        session_id: &str,
        offset: u64,
        chunk: Chunk,
        close: bool,
        hash: String,
    ) -> Result<()> {
        let cursor = UploadSessionCursor {
            session_id: session_id.to_string(),
            offset,
        };
        match self
            .upload_session_append_v2(cursor, chunk, close, Some(hash))
            .await
        {
            Err(e) if close && e.has_tag("closed") => Ok(()),
            r => r,
        }
    }

    /// `files/upload_session/start` with the first chunk (may be empty). Returns the session id.
    pub async fn upload_session_start(
        &self,
        body: impl Into<Chunk>,
        close: bool,
        content_hash: Option<String>,
    ) -> Result<String> {
        let arg = UploadSessionStartArg {
            close,
            session_type: None,
            content_hash,
        };
        let r: UploadSessionStartResult = self
            .call_upload("files/upload_session/start", &arg, body.into())
            .await?;
        Ok(r.session_id)
    }

    /// `files/upload_session/append_v2`. A 409 `incorrect_offset` carries `correct_offset`
    /// ([`DropboxError::correct_offset`]).
    pub async fn upload_session_append_v2(
        &self,
        cursor: UploadSessionCursor,
        body: impl Into<Chunk>,
        close: bool,
        content_hash: Option<String>,
    ) -> Result<()> {
        let arg = UploadSessionAppendArg {
            cursor,
            close,
            content_hash,
        };
        self.call_upload("files/upload_session/append_v2", &arg, body.into())
            .await
    }

    /// `files/upload_session/finish`: commits the session (plus any last bytes in `body`).
    pub async fn upload_session_finish(
        &self,
        cursor: UploadSessionCursor,
        commit: &CommitInfo,
        body: Bytes,
    ) -> Result<FileMetadata> {
        let content_hash = (!body.is_empty()).then(|| content_hash(&body));
        let arg = UploadSessionFinishArg {
            cursor,
            commit: commit.clone(),
            content_hash,
        };
        self.call_upload("files/upload_session/finish", &arg, body.into())
            .await
    }

    /// `files/upload_session/start_batch`: ids of `num_sessions` new empty sessions.
    pub async fn upload_session_start_batch(
        &self,
        num_sessions: u32,
        session_type: Option<UploadSessionType>,
    ) -> Result<Vec<String>> {
        let arg = UploadSessionStartBatchArg {
            num_sessions,
            session_type,
        };
        let r: UploadSessionStartBatchResult = self
            .call_rpc("files/upload_session/start_batch", &arg)
            .await?;
        Ok(r.session_ids)
    }

    /// `files/upload_session/finish_batch_v2` (synchronous): commits up to 1000 closed
    /// sessions. Per-entry failures come back as `DropboxError::Route` with their tag path.
    pub async fn upload_session_finish_batch_v2(
        &self,
        entries: Vec<UploadSessionFinishArg>,
    ) -> Result<Vec<Result<FileMetadata>>> {
        const ROUTE: &str = "files/upload_session/finish_batch_v2";
        if entries.len() > MAX_BATCH {
            return Err(DropboxError::InvalidArgument {
                route: ROUTE,
                message: format!("{} entries; at most {MAX_BATCH}", entries.len()),
            });
        }
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let n = entries.len();
        let r: UploadSessionFinishBatchResult = self
            .call_rpc(ROUTE, &UploadSessionFinishBatchArg { entries })
            .await?;
        if r.entries.len() != n {
            return Err(DropboxError::Decode {
                route: ROUTE,
                message: format!("{} results for {n} entries", r.entries.len()),
            });
        }
        Ok(r.entries
            .into_iter()
            .map(|e| match e {
                UploadSessionFinishBatchResultEntry::Success(m) => Ok(m),
                UploadSessionFinishBatchResultEntry::Failure { failure } => {
                    Err(DropboxError::Route {
                        route: ROUTE,
                        tag: tag_path(&failure).unwrap_or_else(|| "unknown".into()),
                        error: failure,
                        user_message: None,
                    })
                }
                UploadSessionFinishBatchResultEntry::Other => Err(DropboxError::Decode {
                    route: ROUTE,
                    message: "unknown batch entry tag".into(),
                }),
            })
            .collect())
    }
}

fn check_len(path: &str, known: Option<u64>, actual: u64) -> Result<()> {
    match known {
        Some(expected) if expected != actual => Err(DropboxError::LengthMismatch {
            path: path.to_string(),
            expected,
            actual,
        }),
        _ => Ok(()),
    }
}

/// Dropbox's hash of the committed file must equal ours (absent hash: nothing to compare).
fn verify(path: &str, ours: &str, meta: &FileMetadata) -> Result<()> {
    match meta.content_hash.as_deref() {
        Some(theirs) if !theirs.eq_ignore_ascii_case(ours) => {
            Err(DropboxError::ContentHashMismatch {
                path: path.to_string(),
                ours: ours.to_string(),
                theirs: theirs.to_string(),
            })
        }
        _ => Ok(()),
    }
}

/// Content hash of a body already in memory, off the async threads when it is large.
async fn hash_off_thread(body: Bytes) -> Result<String> {
    if body.len() < 1 << 20 {
        return Ok(content_hash(&body));
    }
    tokio::task::spawn_blocking(move || content_hash(&body))
        .await
        .map_err(|e| DropboxError::InvalidArgument {
            route: "content_hash",
            message: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_size_is_block_aligned_and_capped() {
        let o = |c| UploadOptions {
            chunk_size: c,
            ..Default::default()
        };
        assert_eq!(o(1).chunk(), BLOCK_SIZE);
        assert_eq!(o(3 * BLOCK_SIZE + 5).chunk(), 3 * BLOCK_SIZE);
        assert_eq!(o(usize::MAX / 2).chunk(), 37 * BLOCK_SIZE);
    }
}
