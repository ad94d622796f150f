//! Dropbox `content_hash`: SHA-256 of each 4 MiB block, then SHA-256 of the concatenated raw
//! block digests, hex-encoded. Everything here is incremental so that a whole
//! file is never buffered: a hasher holds one partial block state and one outer state.

use sha2::{Digest, Sha256};

/// Size of one content-hash block (and the granularity of concurrent upload sessions).
pub const BLOCK_SIZE: usize = 4 * 1024 * 1024;

/// Whether `n` is a whole number of blocks. (A bitmask because `BLOCK_SIZE` is a power of two;
/// `u64::is_multiple_of` would need Rust 1.87.)
pub fn is_block_aligned(n: u64) -> bool {
    n & (BLOCK_SIZE as u64 - 1) == 0
}

/// Splits a byte stream into 4 MiB blocks and yields the raw SHA-256 of each full block.
#[derive(Clone, Default)]
pub struct BlockSplitter {
    block: Sha256,
    block_len: usize,
}

impl BlockSplitter {
    /// Feeds bytes; `on_block` receives the digest of every block completed by them.
    pub fn update(&mut self, mut data: &[u8], mut on_block: impl FnMut([u8; 32])) {
        while !data.is_empty() {
            let take = (BLOCK_SIZE - self.block_len).min(data.len());
            self.block.update(&data[..take]);
            self.block_len += take;
            data = &data[take..];
            if self.block_len == BLOCK_SIZE {
                let done = std::mem::take(&mut self.block);
                self.block_len = 0;
                on_block(done.finalize().into());
            }
        }
    }

    /// Digest of the trailing partial block, if any bytes are pending.
    pub fn finish(self) -> Option<[u8; 32]> {
        (self.block_len > 0).then(|| self.block.finalize().into())
    }
}

/// Streaming Dropbox content hasher.
#[derive(Clone, Default)]
pub struct ContentHasher {
    splitter: BlockSplitter,
    outer: Sha256,
    len: u64,
}

impl ContentHasher {
    /// A hasher for an empty stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes of the stream.
    pub fn update(&mut self, data: &[u8]) {
        self.update_with(data, |_| {});
    }

    /// Feeds the next bytes; `on_block` also receives the digest of every block they complete
    /// (so a caller checking a block-aligned request's own hash needs no second pass).
    pub fn update_with(&mut self, data: &[u8], mut on_block: impl FnMut(&[u8; 32])) {
        self.len += data.len() as u64;
        let outer = &mut self.outer;
        self.splitter.update(data, |d| {
            on_block(&d);
            outer.update(d);
        });
    }

    /// Digest of the pending partial block, if any (the hasher is left as it was).
    pub fn pending_block_digest(&self) -> Option<[u8; 32]> {
        self.splitter.clone().finish()
    }

    /// Number of bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing was fed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The lowercase hex content hash of everything fed.
    pub fn finalize(self) -> String {
        let mut outer = self.outer;
        if let Some(last) = self.splitter.finish() {
            outer.update(last);
        }
        hex::encode(outer.finalize())
    }
}

impl std::fmt::Debug for ContentHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentHasher")
            .field("len", &self.len())
            .finish()
    }
}

/// Content hash of an in-memory buffer.
pub fn content_hash(data: &[u8]) -> String {
    let mut h = ContentHasher::new();
    h.update(data);
    h.finalize()
}

/// Content hash assembled from already computed block digests (in order).
pub fn hash_from_block_digests<'a>(digests: impl IntoIterator<Item = &'a [u8; 32]>) -> String {
    let mut outer = Sha256::new();
    for d in digests {
        outer.update(d);
    }
    hex::encode(outer.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The obvious, buffer-everything implementation, to check the streaming one against.
    fn naive(data: &[u8]) -> String {
        let mut concat = Vec::new();
        for block in data.chunks(BLOCK_SIZE) {
            concat.extend_from_slice(&Sha256::digest(block));
        }
        hex::encode(Sha256::digest(&concat))
    }

    #[test]
    fn empty_input_is_sha256_of_nothing() {
        assert_eq!(
            content_hash(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn streaming_matches_naive_across_block_boundaries_and_odd_chunks() {
        let data: Vec<u8> = (0..(2 * BLOCK_SIZE + 12_345))
            .map(|i| (i % 251) as u8)
            .collect();
        let expected = naive(&data);
        for chunk in [1usize << 20, 999_983, BLOCK_SIZE, 7] {
            if chunk == 7 {
                // a tiny chunk size over a short prefix only, to keep the test fast
                let short = &data[..BLOCK_SIZE + 100];
                let mut h = ContentHasher::new();
                for c in short[..BLOCK_SIZE - 3].chunks(1 << 16) {
                    h.update(c);
                }
                for c in short[BLOCK_SIZE - 3..].chunks(chunk) {
                    h.update(c);
                }
                assert_eq!(h.finalize(), naive(short));
                continue;
            }
            let mut h = ContentHasher::new();
            for c in data.chunks(chunk) {
                h.update(c);
            }
            assert_eq!(h.len(), data.len() as u64);
            assert_eq!(h.finalize(), expected, "chunk size {chunk}");
        }
    }

    #[test]
    fn exactly_one_block_has_no_trailing_partial() {
        let data = vec![7u8; BLOCK_SIZE];
        assert_eq!(content_hash(&data), naive(&data));
        let mut digests = Vec::new();
        let mut s = BlockSplitter::default();
        s.update(&data, |d| digests.push(d));
        assert!(s.finish().is_none());
        assert_eq!(hash_from_block_digests(&digests), naive(&data));
    }
}
