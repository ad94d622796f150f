//! Upload sessions: sequential and concurrent, with Dropbox's offset and block rules. A session
//! keeps only hashing state, never data: a sequential session holds one running `ContentHasher`;
//! a concurrent session holds one 32-byte digest per 4 MiB block, so a multi-GiB upload costs a
//! few KiB of memory.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::hash::{hash_from_block_digests, is_block_aligned, ContentHasher, BLOCK_SIZE};

/// Largest file a session may build: 2^41 − 2^22 bytes (current spec).
pub const MAX_SESSION_SIZE: u64 = (1 << 41) - (1 << 22);

/// Largest body of one upload-style request: 150 MiB.
pub const MAX_REQUEST_BYTES: u64 = 150 * 1024 * 1024;

#[derive(Clone, Debug)]
pub(crate) enum SessionKind {
    /// Offset = bytes hashed so far.
    Sequential(ContentHasher),
    /// Block index → (digest, length); `end` is set by the closing append.
    Concurrent {
        blocks: BTreeMap<u64, ([u8; 32], u64)>,
        end: Option<u64>,
    },
}

#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub kind: SessionKind,
    pub closed: bool,
}

/// `UploadSessionOffsetError` under the given tag.
pub(crate) fn incorrect_offset(correct: u64) -> Value {
    json!({".tag": "incorrect_offset", "correct_offset": correct})
}

impl Session {
    pub fn sequential(hasher: ContentHasher, closed: bool) -> Self {
        Self {
            kind: SessionKind::Sequential(hasher),
            closed,
        }
    }

    pub fn concurrent() -> Self {
        Self {
            kind: SessionKind::Concurrent {
                blocks: BTreeMap::new(),
                end: None,
            },
            closed: false,
        }
    }

    pub fn is_concurrent(&self) -> bool {
        matches!(self.kind, SessionKind::Concurrent { .. })
    }

    /// Offset the next sequential append must use (or the closed size of a concurrent one).
    pub fn offset(&self) -> u64 {
        match &self.kind {
            SessionKind::Sequential(h) => h.len(),
            SessionKind::Concurrent { end, blocks } => end.unwrap_or_else(|| {
                blocks
                    .iter()
                    .next_back()
                    .map(|(i, (_, len))| i * BLOCK_SIZE as u64 + len)
                    .unwrap_or(0)
            }),
        }
    }

    /// Checks that an append at `offset` may start. Err: an `UploadSessionLookupError`-shaped
    /// value (the same tags appear in `UploadSessionAppendError`).
    pub fn precheck_append(&self, offset: u64) -> Result<(), Value> {
        if self.closed {
            return Err(json!({".tag": "closed"}));
        }
        match &self.kind {
            SessionKind::Sequential(h) if h.len() != offset => Err(incorrect_offset(h.len())),
            SessionKind::Concurrent { .. } if !is_block_aligned(offset) => {
                Err(json!({".tag": "concurrent_session_invalid_offset"}))
            }
            _ => Ok(()),
        }
    }

    /// The whole-file hash and size when the data is complete, else the concurrent error tag.
    pub fn completed(&self) -> Result<(u64, String), &'static str> {
        match &self.kind {
            SessionKind::Sequential(h) => Ok((h.len(), h.clone().finalize())),
            SessionKind::Concurrent { blocks, end } => {
                let end = end.ok_or("concurrent_session_not_closed")?;
                let count = end.div_ceil(BLOCK_SIZE as u64);
                let mut digests = Vec::with_capacity(count as usize);
                for i in 0..count {
                    let want = (end - i * BLOCK_SIZE as u64).min(BLOCK_SIZE as u64);
                    match blocks.get(&i) {
                        Some((d, len)) if *len == want => digests.push(d),
                        _ => return Err("concurrent_session_missing_data"),
                    }
                }
                Ok((end, hash_from_block_digests(digests)))
            }
        }
    }
}
