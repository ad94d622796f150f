//! Dropbox `content_hash`: SHA-256 of each 4 MiB block, then SHA-256 of the
//! concatenated block digests, hex-encoded. Computed while streaming so an upload of any size is
//! hashed with constant memory; per-request hashes of 4 MiB-aligned chunks reuse the same block
//! digests, so every byte is hashed once.

use sha2::{Digest, Sha256};

/// Dropbox hash block size: 4 MiB.
pub const BLOCK_SIZE: usize = 4 * 1024 * 1024;

/// Hash of the empty file.
pub const EMPTY_HASH: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Incremental hasher over a whole file, fed in pieces of any size.
#[derive(Clone, Default)]
pub struct ContentHasher {
    overall: Sha256,
    block: Sha256,
    block_len: usize,
}

impl ContentHasher {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, data: &[u8]) {
        self.update_with(data, |_| {});
    }

    /// Like [`ContentHasher::update`]; `on_block` also receives the digest of every block the
    /// bytes complete, so that a block-aligned request's own hash costs no second pass.
    pub fn update_with(&mut self, mut data: &[u8], mut on_block: impl FnMut(&[u8; 32])) {
        while !data.is_empty() {
            let take = (BLOCK_SIZE - self.block_len).min(data.len());
            self.block.update(&data[..take]);
            self.block_len += take;
            data = &data[take..];
            if self.block_len == BLOCK_SIZE {
                let d: [u8; 32] = std::mem::take(&mut self.block).finalize().into();
                on_block(&d);
                self.overall.update(d);
                self.block_len = 0;
            }
        }
    }

    /// Digest of the pending partial block, if any; the hasher is left as it was.
    pub fn pending_block_digest(&self) -> Option<[u8; 32]> {
        (self.block_len > 0).then(|| self.block.clone().finalize().into())
    }

    /// Folds an already computed block digest (of a full block, or the final short one) in.
    /// Only valid when the hasher sits on a block boundary.
    pub fn push_block_digest(&mut self, digest: &[u8; 32]) {
        debug_assert_eq!(self.block_len, 0);
        self.overall.update(digest);
    }

    pub fn finish(mut self) -> String {
        if let Some(d) = self.pending_block_digest() {
            self.overall.update(d);
        }
        hex::encode(self.overall.finalize())
    }
}

/// Block digests of one chunk whose start is block-aligned in the file.
pub fn block_digests(chunk: &[u8]) -> Vec<[u8; 32]> {
    chunk
        .chunks(BLOCK_SIZE)
        .map(|b| Sha256::digest(b).into())
        .collect()
}

/// Content hash of a buffer from its block digests.
pub fn hash_of_digests(digests: &[[u8; 32]]) -> String {
    let mut h = Sha256::new();
    for d in digests {
        h.update(d);
    }
    hex::encode(h.finalize())
}

/// Content hash of a whole buffer.
pub fn content_hash(data: &[u8]) -> String {
    hash_of_digests(&block_digests(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_sha256_of_nothing() {
        assert_eq!(content_hash(b""), EMPTY_HASH);
        assert_eq!(ContentHasher::new().finish(), EMPTY_HASH);
    }

    #[test]
    fn streaming_matches_whole_buffer_across_block_boundaries() {
        let data: Vec<u8> = (0..(BLOCK_SIZE * 2 + 12345))
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        let mut h = ContentHasher::new();
        for piece in data.chunks(1_000_003) {
            h.update(piece);
        }
        let streamed = h.finish();
        assert_eq!(streamed, content_hash(&data));
        // Manual definition.
        let mut outer = Sha256::new();
        for b in data.chunks(BLOCK_SIZE) {
            outer.update(Sha256::digest(b));
        }
        assert_eq!(streamed, hex::encode(outer.finalize()));
    }

    #[test]
    fn block_digests_seen_while_streaming_give_each_piece_its_hash() {
        let data: Vec<u8> = (0..(BLOCK_SIZE * 3 + 99))
            .map(|i| (i % 241) as u8)
            .collect();
        let (a, b) = data.split_at(BLOCK_SIZE * 2);
        let mut h = ContentHasher::new();
        let mut first = Vec::new();
        for piece in a.chunks(700_001) {
            h.update_with(piece, |d| first.push(*d));
        }
        assert_eq!(h.pending_block_digest(), None);
        assert_eq!(hash_of_digests(&first), content_hash(a));
        let mut second = Vec::new();
        h.update_with(b, |d| second.push(*d));
        second.extend(h.pending_block_digest());
        assert_eq!(hash_of_digests(&second), content_hash(b));
        assert_eq!(h.finish(), content_hash(&data));
    }

    #[test]
    fn block_digests_fold_like_bytes() {
        let data = vec![7u8; BLOCK_SIZE + 5];
        let mut h = ContentHasher::new();
        for d in block_digests(&data) {
            h.push_block_digest(&d);
        }
        assert_eq!(h.finish(), content_hash(&data));
    }
}
