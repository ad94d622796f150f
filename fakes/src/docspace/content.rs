//! Deterministic file content. The bytes of (file id, version) are a pure function of the offset,
//! so a 5 GiB file costs no memory, any range can be served or re-served (resume tests), and tests
//! can compute the expected bytes or Dropbox content hash without downloading anything.

use std::ops::Range;

use bytes::Bytes;
use futures::Stream;
use sha2::{Digest, Sha256};

/// Dropbox hashes content in 4 MiB blocks.
pub const DROPBOX_HASH_BLOCK: u64 = 4 * 1024 * 1024;

/// Size of the chunks the stream endpoint emits.
const STREAM_CHUNK: u64 = 64 * 1024;

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn seed(file_id: i64, version: u32) -> u64 {
    splitmix64((file_id as u64) ^ (u64::from(version) << 40) ^ 0x0D0C_5BACE)
}

#[inline]
fn word(seed: u64, index: u64) -> [u8; 8] {
    splitmix64(seed ^ index.wrapping_mul(GOLDEN)).to_le_bytes()
}

/// Fills `buf` with the content bytes starting at `offset`.
pub fn fill(file_id: i64, version: u32, offset: u64, buf: &mut [u8]) {
    let seed = seed(file_id, version);
    let mut pos = offset;
    let mut out = 0usize;
    // Unaligned head.
    let head = (pos % 8) as usize;
    if head != 0 && !buf.is_empty() {
        let w = word(seed, pos / 8);
        let n = (8 - head).min(buf.len());
        buf[..n].copy_from_slice(&w[head..head + n]);
        out += n;
        pos += n as u64;
    }
    // Whole words.
    let mut chunks = buf[out..].chunks_exact_mut(8);
    for chunk in &mut chunks {
        chunk.copy_from_slice(&word(seed, pos / 8));
        pos += 8;
    }
    // Tail.
    let rest = chunks.into_remainder();
    if !rest.is_empty() {
        let w = word(seed, pos / 8);
        let n = rest.len();
        rest.copy_from_slice(&w[..n]);
    }
}

/// The content bytes in `range` (meant for small files and assertions).
pub fn content_bytes(file_id: i64, version: u32, range: Range<u64>) -> Vec<u8> {
    let len = range.end.saturating_sub(range.start) as usize;
    let mut buf = vec![0u8; len];
    fill(file_id, version, range.start, &mut buf);
    buf
}

/// Dropbox `content_hash` of the first `size` bytes of (file id, version): SHA-256 of each 4 MiB
/// block, then SHA-256 of the concatenated block digests, lowercase hex.
pub fn dropbox_content_hash(file_id: i64, version: u32, size: u64) -> String {
    let mut overall = Sha256::new();
    let mut buf = vec![0u8; STREAM_CHUNK as usize];
    let mut block_start = 0u64;
    while block_start < size {
        let block_end = (block_start + DROPBOX_HASH_BLOCK).min(size);
        let mut block = Sha256::new();
        let mut pos = block_start;
        while pos < block_end {
            let n = (block_end - pos).min(STREAM_CHUNK) as usize;
            fill(file_id, version, pos, &mut buf[..n]);
            block.update(&buf[..n]);
            pos += n as u64;
        }
        overall.update(block.finalize());
        block_start = block_end;
    }
    hex::encode(overall.finalize())
}

/// Streams the bytes of `range`; after `cut_after` bytes of this response the stream fails, which
/// makes the server drop the connection mid-body.
pub fn stream(
    file_id: i64,
    version: u32,
    range: Range<u64>,
    cut_after: Option<u64>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let cut_at = cut_after.map(|n| range.start.saturating_add(n));
    futures::stream::unfold(range.start, move |pos| async move {
        if pos >= range.end {
            return None;
        }
        if let Some(cut) = cut_at {
            if pos >= cut {
                // Pause first so the server flushes the bytes already produced (it flushes when
                // the body is pending); otherwise the client might not even see the headers.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                let err = std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "fake DocSpace: download cut by knob",
                );
                // Ending at `range.end` makes the next poll finish the stream.
                return Some((Err(err), range.end));
            }
        }
        let mut end = (pos + STREAM_CHUNK).min(range.end);
        if let Some(cut) = cut_at {
            if cut > pos {
                end = end.min(cut);
            }
        }
        let mut buf = vec![0u8; (end - pos) as usize];
        fill(file_id, version, pos, &mut buf);
        Some((Ok(Bytes::from(buf)), end))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unaligned_ranges_agree_with_whole_content() {
        let whole = content_bytes(7, 2, 0..100);
        for start in 0..20u64 {
            for end in start..40u64 {
                assert_eq!(
                    content_bytes(7, 2, start..end),
                    whole[start as usize..end as usize]
                );
            }
        }
    }

    #[test]
    fn versions_and_ids_differ() {
        assert_ne!(content_bytes(7, 1, 0..64), content_bytes(7, 2, 0..64));
        assert_ne!(content_bytes(7, 1, 0..64), content_bytes(8, 1, 0..64));
    }

    #[test]
    fn content_hash_of_empty_file_is_hash_of_nothing() {
        assert_eq!(
            dropbox_content_hash(1, 1, 0),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
