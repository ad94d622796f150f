//! The byte reader of uploads: turns a byte stream (a download, a file) into request-sized
//! [`Chunk`]s of one buffer each, hashing every byte once as it passes, so that each chunk carries
//! its own Dropbox content hash and the whole file's hash is ready when the stream ends. It
//! knows nothing of requests or sessions.

use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};

use super::chunk::Chunk;
use super::content_hash::{hash_of_digests, ContentHasher, BLOCK_SIZE};
use super::error::DropboxError;

pub(super) type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
type Result<T> = std::result::Result<T, DropboxError>;

/// One request's bytes, their content hash, and whether they end the file.
pub(super) struct Hashed {
    pub(super) body: Chunk,
    pub(super) hash: String,
    pub(super) last: bool,
}

/// Cuts a byte stream into request-sized [`Chunk`]s of one buffer each, hashing every byte once
/// as it passes: the block digests give each chunk its request hash and the whole file's hash.
pub(super) struct ChunkReader<'a, S> {
    stream: Pin<Box<S>>,
    leftover: Bytes,
    eof: bool,
    pub(super) label: &'a str,
    /// Every byte handed out so far.
    whole: ContentHasher,
}

impl<'a, S, E> ChunkReader<'a, S>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Send,
    E: Into<BoxError>,
{
    pub(super) fn new(stream: S, label: &'a str) -> Self {
        Self {
            stream: Box::pin(stream),
            leftover: Bytes::new(),
            eof: false,
            label,
            whole: ContentHasher::new(),
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

    /// Up to `n` bytes (fewer only at the end of the stream) and their content hash. `n` is a
    /// multiple of the 4 MiB block, so every chunk but the last ends on a block boundary and
    /// its hash comes from the block digests the whole-file hash needs anyway. Hashing here,
    /// piece by piece as the download delivers them, costs one network read's worth of CPU
    /// between awaits and leaves no hashing to do once the chunk is complete.
    ///
    /// The pieces are copied into one buffer of the chunk's size. Kept as they came, each piece
    /// would keep alive the whole read buffer of the download it was cut from (hyper reads up to
    /// about 400 KiB at a time and hands out slices of it): a 4 MiB chunk of 128 KiB pieces
    /// could hold three times its size, and how much depended on how the network happened to
    /// deliver the bytes. The copy is cheap next to the hashing every byte gets anyway.
    pub(super) async fn read_chunk(&mut self, n: usize) -> Result<(Chunk, String)> {
        debug_assert_eq!(n % BLOCK_SIZE, 0, "chunks are whole blocks");
        let mut buf = BytesMut::new();
        let mut digests = Vec::new();
        while buf.len() < n {
            let Some(mut item) = self.next_item().await? else {
                break;
            };
            let want = n - buf.len();
            if item.len() > want {
                self.leftover = item.split_off(want);
            }
            if buf.capacity() == 0 {
                buf.reserve(n);
            }
            self.whole.update_with(&item, |d| digests.push(*d));
            buf.extend_from_slice(&item);
        }
        if !buf.len().is_multiple_of(BLOCK_SIZE) {
            // The stream ended inside this chunk's last block.
            digests.extend(self.whole.pending_block_digest());
        }
        Ok((Chunk::from(buf.freeze()), hash_of_digests(&digests)))
    }

    /// The next request's worth, and whether it is the last (pulls at most one item ahead).
    pub(super) async fn next_chunk(&mut self, n: usize) -> Result<Hashed> {
        let (body, hash) = self.read_chunk(n).await?;
        let last = body.len() < n || self.at_end().await?;
        Ok(Hashed { body, hash, last })
    }

    /// True when no byte is left (pulls at most one item ahead).
    pub(super) async fn at_end(&mut self) -> Result<bool> {
        match self.next_item().await? {
            None => Ok(true),
            Some(b) => {
                self.leftover = b;
                Ok(false)
            }
        }
    }

    /// Content hash of everything read.
    pub(super) fn file_hash(&mut self) -> String {
        std::mem::take(&mut self.whole).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dropbox::content_hash::content_hash;

    fn pieces(data: &[u8], size: usize) -> impl Stream<Item = std::io::Result<Bytes>> + Send {
        let parts: Vec<_> = data
            .chunks(size)
            .map(|p| Ok(Bytes::copy_from_slice(p)))
            .collect();
        futures::stream::iter(parts)
    }

    /// A download hands out slices of its read buffer; a chunk that kept them would keep every
    /// whole buffer alive, three times its size and more when the reads come back short.
    #[tokio::test]
    async fn a_chunk_keeps_none_of_the_buffers_its_pieces_were_cut_from() {
        let buffers: Vec<Bytes> = (0..BLOCK_SIZE / (64 * 1024))
            .map(|i| Bytes::from(vec![i as u8; 400 * 1024]))
            .collect();
        let slices: Vec<std::io::Result<Bytes>> =
            buffers.iter().map(|b| Ok(b.slice(..64 * 1024))).collect();
        let mut r = ChunkReader::new(futures::stream::iter(slices), "t");
        let (chunk, _) = r.read_chunk(BLOCK_SIZE).await.expect("chunk");
        assert_eq!(chunk.len(), BLOCK_SIZE);
        for b in buffers {
            assert!(b.is_unique(), "the chunk still holds a read buffer");
        }
    }

    #[tokio::test]
    async fn chunk_reader_cuts_exact_sizes_and_hashes_each_chunk() {
        let data: Vec<u8> = (0..2 * BLOCK_SIZE + 10).map(|i| (i % 251) as u8).collect();
        let mut r = ChunkReader::new(pieces(&data, 999_983), "t");
        let mut seen = Vec::new();
        for want in [BLOCK_SIZE, BLOCK_SIZE, 10, 0] {
            let (c, h) = r.read_chunk(BLOCK_SIZE).await.expect("read");
            assert_eq!(c.len(), want);
            assert_eq!(h, c.content_hash());
            seen.extend(c.to_vec());
        }
        assert_eq!(seen, data);
        assert!(r.at_end().await.expect("peek"));
        assert_eq!(r.file_hash(), content_hash(&data));
    }

    #[tokio::test]
    async fn last_chunk_is_known_without_an_empty_request() {
        let data = vec![9u8; 2 * BLOCK_SIZE];
        let mut r = ChunkReader::new(pieces(&data, BLOCK_SIZE), "t");
        assert!(!r.next_chunk(BLOCK_SIZE).await.expect("read").last);
        let second = r.next_chunk(BLOCK_SIZE).await.expect("read");
        assert!(second.last, "exactly full and nothing after it");
        assert_eq!(second.body.len(), BLOCK_SIZE);
    }

    #[tokio::test]
    async fn source_errors_surface_as_retryable() {
        let s = futures::stream::iter(vec![
            Ok(Bytes::from_static(b"ab")),
            Err(std::io::Error::other("download broke")),
        ]);
        let mut r = ChunkReader::new(s, "/x");
        let e = r.read_chunk(BLOCK_SIZE).await.expect_err("error");
        assert!(e.is_retryable());
        assert!(e.to_string().contains("download broke"));
    }
}
