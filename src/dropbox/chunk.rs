//! The body of one upload request, held as reference-counted buffers (one per chunk from
//! [`super::chunk_reader`], several for a part of one): they go to the socket as they are, and a
//! retry re-sends the same buffers (clones of reference-counted buffers). A plain `Vec<Bytes>` with the
//! two things reqwest needs (a replayable body and its exact length); nothing in `bytes` or
//! reqwest offers that for a list of buffers.

use bytes::Bytes;

use super::content_hash::ContentHasher;

#[derive(Clone, Default)]
pub struct Chunk {
    parts: Vec<Bytes>,
    len: usize,
}

impl Chunk {
    pub fn push(&mut self, part: Bytes) {
        if !part.is_empty() {
            self.len += part.len();
            self.parts.push(part);
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes from `at` on (cheap: shares the buffers).
    pub fn slice_from(&self, mut at: usize) -> Chunk {
        let mut rest = Chunk::default();
        for p in &self.parts {
            if at >= p.len() {
                at -= p.len();
            } else {
                rest.push(p.slice(at..));
                at = 0;
            }
        }
        rest
    }

    /// Dropbox content hash of these bytes.
    pub fn content_hash(&self) -> String {
        let mut h = ContentHasher::new();
        self.parts.iter().for_each(|p| h.update(p));
        h.finish()
    }

    /// A request body for one attempt. Several pieces are streamed; the caller sends
    /// `Content-Length: len()` so that the request is not chunk-encoded.
    pub fn body(&self) -> reqwest::Body {
        match self.parts.as_slice() {
            [] => reqwest::Body::from(Bytes::new()),
            [one] => reqwest::Body::from(one.clone()),
            _ => reqwest::Body::wrap_stream(futures::stream::iter(
                self.parts
                    .clone()
                    .into_iter()
                    .map(Ok::<_, std::convert::Infallible>),
            )),
        }
    }
}

impl Chunk {
    /// The bytes joined (a copy; for tests and small bodies).
    pub fn to_vec(&self) -> Vec<u8> {
        self.parts.concat()
    }
}

impl From<Bytes> for Chunk {
    fn from(b: Bytes) -> Self {
        let mut c = Chunk::default();
        c.push(b);
        c
    }
}

impl std::fmt::Debug for Chunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chunk")
            .field("len", &self.len)
            .field("parts", &self.parts.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dropbox::content_hash::content_hash;

    fn chunk(parts: &[&'static [u8]]) -> Chunk {
        let mut c = Chunk::default();
        parts.iter().for_each(|p| c.push(Bytes::from_static(p)));
        c
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
