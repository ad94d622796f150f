//! HTTP-header-safe JSON for the `Dropbox-API-Arg` header: serde_json output with
//! every character above 0x7E (and DEL itself) escaped as `\uXXXX` UTF-16 code units, so emoji
//! become surrogate pairs. `serde_json` leaves non-ASCII raw and reqwest would send it silently.

use serde::Serialize;

/// Serializes `arg` to JSON that contains only printable ASCII.
pub fn to_header_json<T: Serialize + ?Sized>(arg: &T) -> Result<String, serde_json::Error> {
    Ok(escape_non_ascii(&serde_json::to_string(arg)?))
}

/// Escapes every char `>= 0x7F` as `\uXXXX` (UTF-16 code units). Valid on serde_json output
/// because such chars can only occur inside JSON strings, where `\u` escapes mean the same thing.
pub fn escape_non_ascii(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if (c as u32) < 0x7F {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{:04x}", u));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_bmp_and_astral_chars() {
        let s = to_header_json(&serde_json::json!({"path": "/ü/😀\u{7f}"})).expect("json");
        assert_eq!(s, r#"{"path":"/\u00fc/\ud83d\ude00\u007f"}"#);
        assert!(s.bytes().all(|b| (0x20..0x7f).contains(&b)));
        let back: serde_json::Value = serde_json::from_str(&s).expect("parse");
        assert_eq!(back["path"], "/ü/😀\u{7f}");
    }

    #[test]
    fn reference_example() {
        let s =
            to_header_json(&serde_json::json!({"field": "some_üñîcødé_and_\u{7f}"})).expect("json");
        assert_eq!(
            s,
            r#"{"field":"some_\u00fc\u00f1\u00eec\u00f8d\u00e9_and_\u007f"}"#
        );
    }
}
