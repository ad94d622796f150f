//! HMAC-SHA256 webhook signatures, shared by both providers.
//!
//! Both send a hex HMAC of the raw body: DocSpace as `sha256=<HEX>` in upper case (.NET
//! `Convert.ToHexString`), Dropbox as bare lower-case hex. We decode the hex (either case) and let
//! `hmac`'s `verify_slice` compare in constant time, so no string comparison of digests happens.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature header is missing")]
    Missing,
    #[error("signature header is malformed")]
    Malformed,
    #[error("signature does not match")]
    Mismatch,
}

/// Verifies a DocSpace `x-docspace-signature-256` value (`sha256=<hex>`, hex in any case).
pub fn verify_docspace(
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let (scheme, hex_sig) = header.split_once('=').ok_or(SignatureError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("sha256") {
        return Err(SignatureError::Malformed);
    }
    verify_hex(secret, body, hex_sig)
}

/// Verifies a Dropbox `X-Dropbox-Signature` value (bare hex, any case).
pub fn verify_dropbox(
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    verify_hex(secret, body, header.ok_or(SignatureError::Missing)?.trim())
}

fn verify_hex(secret: &[u8], body: &[u8], hex_sig: &str) -> Result<(), SignatureError> {
    if hex_sig.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let expected = hex::decode(hex_sig).map_err(|_| SignatureError::Malformed)?;
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| SignatureError::Malformed)?;
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// Lower-case hex HMAC-SHA256 of `body` (used by `demo` and tests to sign as the providers do).
pub fn sign_hex(secret: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docspace_accepts_upper_and_lower_hex() {
        let sig = sign_hex(b"k", b"body");
        assert_eq!(
            verify_docspace(
                b"k",
                b"body",
                Some(&format!("sha256={}", sig.to_uppercase()))
            ),
            Ok(())
        );
        assert_eq!(
            verify_docspace(b"k", b"body", Some(&format!("sha256={sig}"))),
            Ok(())
        );
        assert_eq!(
            verify_docspace(b"k", b"tampered", Some(&format!("sha256={sig}"))),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_docspace(b"k", b"body", Some(&sig)),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_docspace(b"k", b"body", Some("sha256=zz")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_docspace(b"k", b"body", None),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn dropbox_bare_hex() {
        let sig = sign_hex(b"app", b"{}");
        assert_eq!(verify_dropbox(b"app", b"{}", Some(&sig)), Ok(()));
        assert_eq!(
            verify_dropbox(b"other", b"{}", Some(&sig)),
            Err(SignatureError::Mismatch)
        );
    }
}
