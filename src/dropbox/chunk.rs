//! The body of one upload request: one reference-counted buffer, sent to the socket as it is and
//! re-sent by a retry without a copy. [`super::chunk_reader`] gathers each request's bytes into
//! one buffer (pieces kept as the download cut them would each hold on to a whole read buffer).

use bytes::Bytes;

use super::content_hash::content_hash;

#[derive(Clone, Default)]
pub struct Chunk(Bytes);

impl Chunk {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The bytes from `at` on (cheap: shares the buffer).
    pub fn slice_from(&self, at: usize) -> Chunk {
        Chunk(self.0.slice(at.min(self.0.len())..))
    }

    /// Dropbox content hash of these bytes.
    pub fn content_hash(&self) -> String {
        content_hash(&self.0)
    }

    /// A request body for one attempt; the caller sends `Content-Length: len()`.
    pub fn body(&self) -> reqwest::Body {
        reqwest::Body::from(self.0.clone())
    }

    /// The bytes as a vector (a copy; for tests and small bodies).
    pub fn to_vec(&self) -> Vec<u8> {
        self.0.to_vec()
    }
}

impl From<Bytes> for Chunk {
    fn from(b: Bytes) -> Self {
        Chunk(b)
    }
}

impl std::fmt::Debug for Chunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chunk").field("len", &self.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dropbox::content_hash::content_hash;

    fn chunk(parts: &[&'static [u8]]) -> Chunk {
        Chunk::from(Bytes::from(parts.concat()))
    }

    #[test]
    fn slices_across_pieces() {
        let c = chunk(&[b"abc", b"", b"defg", b"h"]);
        assert_eq!(c.len(), 8);
        assert_eq!(c.slice_from(0).to_vec(), b"abcdefgh");
        assert_eq!(c.slice_from(3).to_vec(), b"defgh");
        assert_eq!(c.slice_from(5).to_vec(), b"fgh");
        assert_eq!(c.slice_from(5).len(), 3);
        assert!(c.slice_from(8).is_empty());
    }

    #[test]
    fn hash_is_that_of_the_joined_bytes() {
        let c = chunk(&[b"hello ", b"world"]);
        assert_eq!(c.content_hash(), content_hash(b"hello world"));
        assert_eq!(Chunk::default().content_hash(), content_hash(b""));
    }
}
