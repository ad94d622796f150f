//! Uploads of any size with flat memory: `files/upload` for small bodies (buffered, at most one
//! chunk), upload sessions beyond, in chunks that are multiples of 4 MiB. Every request carries
//! the Dropbox `content_hash` of its own bytes; the whole file's hash is computed while streaming
//! and checked against the committed `FileMetadata.content_hash`. An `incorrect_offset` answer
//! (a lost response to a request the server did apply) is resynchronised to `correct_offset`.
//!
//! [`DropboxClient::upload_to_session`] stops before the commit so that callers can commit many
//! closed sessions in one `finish_batch_v2` ([`DropboxClient::finish_sessions`]).

use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};

use super::client::DropboxClient;
use super::content_hash::{
    block_digests, content_hash, hash_of_digests, ContentHasher, BLOCK_SIZE,
};
use super::error::{tag_path, DropboxError};
use super::wire::*;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
type Result<T> = std::result::Result<T, DropboxError>;

/// Largest body one request may carry (reference 3.5).
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
    pub progress: Option<Progress>,
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self {
            upload_threshold: MAX_REQUEST_BYTES,
            chunk_size: 2 * BLOCK_SIZE,
            progress: None,
        }
    }
}

impl std::fmt::Debug for UploadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadOptions")
            .field("upload_threshold", &self.upload_threshold)
            .field("chunk_size", &self.chunk_size)
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
        let hash = hash_chunk(body.clone()).await?.1;
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
        let chunk = opts.chunk();
        let mut reader = ChunkReader::new(body, &commit.path);
        let first = reader.read_chunk(chunk).await?;
        let last = first.len() < chunk || reader.at_end().await?;
        let small_enough = |n: u64| n <= opts.upload_threshold.min(MAX_REQUEST_BYTES);
        if last && small_enough(first.len() as u64) && known_len.is_none_or(small_enough) {
            check_len(&commit.path, known_len, first.len() as u64)?;
            let meta = self.upload(commit, first).await?;
            opts.report(meta.size);
            return Ok(meta);
        }
        let session = self
            .session_from(&mut reader, first, last, known_len, opts)
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
        let chunk = opts.chunk();
        let mut reader = ChunkReader::new(body, "upload session");
        let first = reader.read_chunk(chunk).await?;
        let last = first.len() < chunk || reader.at_end().await?;
        self.session_from(&mut reader, first, last, known_len, opts)
            .await
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
        first: Bytes,
        first_is_last: bool,
        known_len: Option<u64>,
        opts: &UploadOptions,
    ) -> Result<UploadedSession>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: Into<BoxError>,
    {
        let chunk = opts.chunk();
        let mut whole = ContentHasher::new();
        let (digests, hash) = hash_chunk(first.clone()).await?;
        digests.iter().for_each(|d| whole.push_block_digest(d));
        let mut offset = first.len() as u64;
        // Each request overlaps with reading and hashing the next chunk (one chunk of memory
        // more, and the upload no longer waits for the hash or the source between requests).
        let start = self.upload_session_start(first, first_is_last, Some(hash));
        let (session_id, mut next) = if first_is_last {
            (start.await?, None)
        } else {
            let (s, n) = tokio::join!(start, next_chunk(reader, chunk));
            (s?, Some(n?))
        };
        opts.report(offset);
        while let Some((cur, last, digests, hash)) = next.take() {
            digests.iter().for_each(|d| whole.push_block_digest(d));
            let len = cur.len() as u64;
            let append = self.append_chunk(&session_id, offset, cur, last, hash);
            if last {
                append.await?;
            } else {
                let (a, n) = tokio::join!(append, next_chunk(reader, chunk));
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
            content_hash: whole.finish(),
        })
    }

    /// Appends one chunk, resynchronising on `incorrect_offset` when Dropbox already holds part
    /// or all of it (a retried request whose first answer was lost).
    async fn append_chunk(
        &self,
        session_id: &str,
        offset: u64,
        chunk: Bytes,
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
                let rest = chunk.slice((c - offset) as usize..);
                let hash = content_hash(&rest);
                self.upload_session_append_v2(cursor(c), rest, close, Some(hash))
                    .await
            }
            // A closing append retried after its first answer was lost finds the session
            // closed; the final content-hash check catches any other cause.
            None if close && err.has_tag("closed") => Ok(()),
            _ => Err(err),
        }
    }

    /// `files/upload_session/start` with the first chunk (may be empty). Returns the session id.
    pub async fn upload_session_start(
        &self,
        body: Bytes,
        close: bool,
        content_hash: Option<String>,
    ) -> Result<String> {
        let arg = UploadSessionStartArg {
            close,
            session_type: None,
            content_hash,
        };
        let r: UploadSessionStartResult = self
            .call_upload("files/upload_session/start", &arg, body)
            .await?;
        Ok(r.session_id)
    }

    /// `files/upload_session/append_v2`. A 409 `incorrect_offset` carries `correct_offset`
    /// ([`DropboxError::correct_offset`]).
    pub async fn upload_session_append_v2(
        &self,
        cursor: UploadSessionCursor,
        body: Bytes,
        close: bool,
        content_hash: Option<String>,
    ) -> Result<()> {
        let arg = UploadSessionAppendArg {
            cursor,
            close,
            content_hash,
        };
        self.call_upload("files/upload_session/append_v2", &arg, body)
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
        self.call_upload("files/upload_session/finish", &arg, body)
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

/// The next chunk of `reader`, whether it is the last, its block digests and request hash.
async fn next_chunk<S, E>(
    reader: &mut ChunkReader<'_, S>,
    chunk: usize,
) -> Result<(Bytes, bool, Vec<[u8; 32]>, String)>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Send,
    E: Into<BoxError>,
{
    let cur = reader.read_chunk(chunk).await?;
    let last = cur.len() < chunk || reader.at_end().await?;
    let (digests, hash) = hash_chunk(cur.clone()).await?;
    Ok((cur, last, digests, hash))
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

/// Block digests and request hash of one block-aligned chunk, off the async threads.
async fn hash_chunk(chunk: Bytes) -> Result<(Vec<[u8; 32]>, String)> {
    let large = chunk.len() >= 1 << 20;
    let work = move || {
        let d = block_digests(&chunk);
        let h = hash_of_digests(&d);
        (d, h)
    };
    if large {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| DropboxError::InvalidArgument {
                route: "content_hash",
                message: e.to_string(),
            })
    } else {
        Ok(work())
    }
}

/// Cuts a byte stream into chunks of an exact size (the last may be shorter), holding at most
/// one chunk and one stream item.
struct ChunkReader<'a, S> {
    stream: Pin<Box<S>>,
    leftover: Bytes,
    eof: bool,
    label: &'a str,
}

impl<'a, S, E> ChunkReader<'a, S>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Send,
    E: Into<BoxError>,
{
    fn new(stream: S, label: &'a str) -> Self {
        Self {
            stream: Box::pin(stream),
            leftover: Bytes::new(),
            eof: false,
            label,
        }
    }

    async fn next_item(&mut self) -> Result<Option<Bytes>> {
        if !self.leftover.is_empty() {
            return Ok(Some(std::mem::take(&mut self.leftover)));
        }
        while !self.eof {
            match self.stream.next().await {
                None => self.eof = true,
                Some(Ok(b)) if b.is_empty() => {}
                Some(Ok(b)) => return Ok(Some(b)),
                Some(Err(e)) => {
                    return Err(DropboxError::Source {
                        path: self.label.to_string(),
                        source: e.into(),
                    })
                }
            }
        }
        Ok(None)
    }

    /// Up to `n` bytes; fewer only at the end of the stream.
    async fn read_chunk(&mut self, n: usize) -> Result<Bytes> {
        let mut buf = BytesMut::new();
        while buf.len() < n {
            let Some(mut item) = self.next_item().await? else {
                break;
            };
            let want = n - buf.len();
            if item.len() > want {
                self.leftover = item.split_off(want);
            }
            if buf.is_empty() && item.len() == n {
                return Ok(item); // whole chunk in one item: no copy
            }
            buf.extend_from_slice(&item);
        }
        Ok(buf.freeze())
    }

    /// True when no byte is left (pulls at most one item ahead).
    async fn at_end(&mut self) -> Result<bool> {
        match self.next_item().await? {
            None => Ok(true),
            Some(b) => {
                self.leftover = b;
                Ok(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_of(
        parts: Vec<&'static [u8]>,
    ) -> impl Stream<Item = std::result::Result<Bytes, std::io::Error>> + Send {
        futures::stream::iter(parts.into_iter().map(|p| Ok(Bytes::from_static(p))))
    }

    #[tokio::test]
    async fn chunk_reader_cuts_exact_sizes() {
        let mut r = ChunkReader::new(stream_of(vec![b"abc", b"", b"defgh", b"ij"]), "t");
        assert_eq!(&r.read_chunk(4).await.expect("read")[..], b"abcd");
        assert!(!r.at_end().await.expect("peek"));
        assert_eq!(&r.read_chunk(4).await.expect("read")[..], b"efgh");
        assert_eq!(&r.read_chunk(4).await.expect("read")[..], b"ij");
        assert!(r.at_end().await.expect("peek"));
        assert!(r.read_chunk(4).await.expect("read").is_empty());
    }

    #[tokio::test]
    async fn source_errors_surface_as_retryable() {
        let s = futures::stream::iter(vec![
            Ok(Bytes::from_static(b"ab")),
            Err(std::io::Error::other("download broke")),
        ]);
        let mut r = ChunkReader::new(s, "/x");
        let e = r.read_chunk(10).await.expect_err("error");
        assert!(e.is_retryable());
        assert!(e.to_string().contains("download broke"));
    }

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
