//! Path, name, e-mail and timestamp rules of the Dropbox API, as pure functions.
//!
//! Path *patterns* come from the Stone aliases in `files.stone` (a mismatch is a 400 like any
//! argument validation failure). Path *contents* are checked afterwards and produce route errors
//! (`malformed_path`, `disallowed_name`). Where the API's behaviour is not documented or
//! confirmed, the choice made here is written next to the rule.

use std::time::{SystemTime, UNIX_EPOCH};

use super::error::ApiError;

/// Which Stone path alias an argument uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathPattern {
    /// `WritePath`: `/…` or `ns:<id>[/…]`.
    Write,
    /// `WritePathOrId`: `WritePath` or `id:…`.
    WriteOrId,
    /// `ReadPath`: `/…`, `id:…`, `rev:<hex≥9>`, `ns:<id>[/…]`.
    Read,
    /// `PathROrId`: `""`, `/…`, `id:…`, `ns:<id>[/…]`.
    ListOrId,
}

impl PathPattern {
    fn text(self) -> &'static str {
        match self {
            Self::Write => r"(/(.|[\r\n])*)|(ns:[0-9]+(/(.|[\r\n])*)?)",
            Self::WriteOrId => r"(/(.|[\r\n])*)|(ns:[0-9]+(/(.|[\r\n])*)?)|(id:.*)",
            Self::Read => r"(/(.|[\r\n])*|id:.*)|(rev:[0-9a-f]{9,})|(ns:[0-9]+(/(.|[\r\n])*)?)",
            Self::ListOrId => r"(/(.|[\r\n])*)?|id:.*|(ns:[0-9]+(/(.|[\r\n])*)?)",
        }
    }
}

/// A syntactically valid path argument, not yet resolved against the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathRef {
    /// `""`.
    Root,
    /// `/A/b`: as sent (case preserved).
    Plain(String),
    /// `id:<id>` with an optional `/rest`.
    Id { id: String, rest: String },
    /// `ns:<namespace id>` with an optional `/rest`.
    Ns { ns: String, rest: String },
    /// `rev:<rev>`.
    Rev(String),
}

/// Checks `raw` against a Stone path pattern; a mismatch is the 400 Dropbox gives.
pub fn parse_path(
    route: &str,
    field: &str,
    raw: &str,
    pattern: PathPattern,
) -> Result<PathRef, ApiError> {
    let mismatch = || {
        ApiError::bad_input(
            route,
            format!(
                "request body: {field}: '{raw}' did not match pattern '{}'",
                pattern.text()
            ),
        )
    };
    if raw.is_empty() {
        return if pattern == PathPattern::ListOrId {
            Ok(PathRef::Root)
        } else {
            Err(mismatch())
        };
    }
    if raw.starts_with('/') {
        return Ok(PathRef::Plain(raw.to_string()));
    }
    if let Some(rest) = raw.strip_prefix("ns:") {
        let (ns, tail) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if ns.is_empty() || !ns.bytes().all(|b| b.is_ascii_digit()) {
            return Err(mismatch());
        }
        return Ok(PathRef::Ns {
            ns: ns.to_string(),
            rest: tail.to_string(),
        });
    }
    if let Some(rest) = raw.strip_prefix("id:") {
        if pattern == PathPattern::Write {
            return Err(mismatch());
        }
        let (id, tail) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        return Ok(PathRef::Id {
            id: format!("id:{id}"),
            rest: tail.to_string(),
        });
    }
    if let Some(rev) = raw.strip_prefix("rev:") {
        if pattern == PathPattern::Read
            && rev.len() >= 9
            && rev.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Ok(PathRef::Rev(rev.to_string()));
        }
    }
    Err(mismatch())
}

/// What is wrong with a path's contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameProblem {
    /// `malformed_path`: trailing `/`, empty component, `.`/`..`, trailing whitespace,
    /// control characters.
    Malformed,
    /// `disallowed_name`: a backslash or a component longer than 255 characters.
    Disallowed,
}

/// Longest name accepted. The API's own hard limit is not documented; 255 is the
/// common file-system limit and what we reject beyond, with `disallowed_name`.
pub const MAX_NAME_CHARS: usize = 255;

/// Validates a `/a/b` path (not the root).
///
/// Choices for UNCONFIRMED behaviour: a component ending in whitespace is `malformed_path` (the
/// docs say paths may not end in whitespace; we apply it per component); a backslash or a name
/// over 255 characters is `disallowed_name`; a trailing dot is *accepted* (the help centre only
/// calls it "not recommended"); `< > : " | ? *` are accepted for the same reason.
pub fn check_components(path: &str) -> Result<(), NameProblem> {
    let Some(body) = path.strip_prefix('/') else {
        return Err(NameProblem::Malformed);
    };
    if body.is_empty() {
        return Err(NameProblem::Malformed);
    }
    let mut disallowed = false;
    for comp in body.split('/') {
        if comp.is_empty() || comp == "." || comp == ".." {
            return Err(NameProblem::Malformed);
        }
        if comp.ends_with(char::is_whitespace) || comp.chars().any(char::is_control) {
            return Err(NameProblem::Malformed);
        }
        if comp.contains('\\') || comp.chars().count() > MAX_NAME_CHARS {
            disallowed = true;
        }
    }
    if disallowed {
        Err(NameProblem::Disallowed)
    } else {
        Ok(())
    }
}

/// Dropbox's case folding for `path_lower` (Unicode lowercase).
pub fn lower(path: &str) -> String {
    path.to_lowercase()
}

/// Parent of `/a/b` is `/a`; parent of `/a` is `""`.
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[..i],
        None => "",
    }
}

/// Last component of a path.
pub fn name_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// `root` itself or anything below it (`""` contains everything).
pub fn is_within(path_lower: &str, root_lower: &str) -> bool {
    root_lower.is_empty()
        || path_lower == root_lower
        || (path_lower.starts_with(root_lower)
            && path_lower.as_bytes().get(root_lower.len()) == Some(&b'/'))
}

/// `doc.txt` → `doc (n).txt`; `folder` → `folder (n)` (extension kept for files only).
pub fn autorename(name: &str, n: u32, is_file: bool) -> String {
    if is_file {
        if let Some(dot) = name.rfind('.').filter(|&i| i > 0) {
            return format!("{} ({n}){}", &name[..dot], &name[dot..]);
        }
    }
    format!("{name} ({n})")
}

/// Stone `common.EmailAddress`:
/// `^['#&A-Za-z0-9._%+-]+@[A-Za-z0-9-][A-Za-z0-9.-]*\.[A-Za-z]{2,15}$`, at most 255 chars.
pub fn is_stone_email(email: &str) -> bool {
    if email.len() > 255 {
        return false;
    }
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"'#&._%+-".contains(&b));
    // The TLD is letters only, so the pattern's last '.' must be the domain's last '.'.
    let Some(dot) = domain.rfind('.') else {
        return false;
    };
    let (head, tld) = (&domain[..dot], &domain[dot + 1..]);
    let head_ok = head
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'-')
        && head
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    let tld_ok = (2..=15).contains(&tld.len()) && tld.bytes().all(|b| b.is_ascii_alphabetic());
    local_ok && head_ok && tld_ok
}

/// The Stone email pattern as text, for error messages.
pub const EMAIL_PATTERN: &str =
    r"^['#&A-Za-z0-9._%+-]+@[A-Za-z0-9-][A-Za-z0-9.-]*\.[A-Za-z]{2,15}$";

/// Formats a time as `%Y-%m-%dT%H:%M:%SZ` (UTC, no fraction), the `DropboxTimestamp` format.
pub fn timestamp(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Now, as a `DropboxTimestamp`.
pub fn now_timestamp() -> String {
    timestamp(SystemTime::now())
}

/// Whether `s` has the exact `%Y-%m-%dT%H:%M:%SZ` shape.
pub fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert_eq!(
            parse_path("r", "path", "", PathPattern::ListOrId).ok(),
            Some(PathRef::Root)
        );
        assert!(parse_path("r", "path", "", PathPattern::Read).is_err());
        assert!(parse_path("r", "path", "a/b", PathPattern::Write).is_err());
        assert!(parse_path("r", "path", "id:abc", PathPattern::Write).is_err());
        assert_eq!(
            parse_path("r", "path", "id:abc/x", PathPattern::WriteOrId).ok(),
            Some(PathRef::Id {
                id: "id:abc".into(),
                rest: "/x".into()
            })
        );
        assert!(parse_path("r", "path", "ns:12a/x", PathPattern::Write).is_err());
        assert!(parse_path("r", "path", "rev:0123456789", PathPattern::Read).is_ok());
        assert!(parse_path("r", "path", "rev:01234", PathPattern::Read).is_err());
    }

    #[test]
    fn components() {
        assert_eq!(check_components("/a/b c/d.txt"), Ok(()));
        assert_eq!(check_components("/a/"), Err(NameProblem::Malformed));
        assert_eq!(check_components("/a//b"), Err(NameProblem::Malformed));
        assert_eq!(check_components("/a /b"), Err(NameProblem::Malformed));
        assert_eq!(check_components("/a/b "), Err(NameProblem::Malformed));
        assert_eq!(check_components("/a\\b"), Err(NameProblem::Disallowed));
        assert_eq!(check_components("/trailing."), Ok(()));
        let long = format!("/{}", "x".repeat(256));
        assert_eq!(check_components(&long), Err(NameProblem::Disallowed));
    }

    #[test]
    fn emails() {
        assert!(is_stone_email("a.b+c@example.com"));
        assert!(is_stone_email("o'neil@sub.example.co"));
        assert!(!is_stone_email("jürgen@example.com"));
        assert!(!is_stone_email("a@example.c"));
        assert!(!is_stone_email("a@example.abcdefghijklmnop"));
        assert!(!is_stone_email("a@.example.com"));
        assert!(!is_stone_email("no-at.example.com"));
        assert!(!is_stone_email("a@example.c0m"));
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_709_210_096);
        assert_eq!(timestamp(t), "2024-02-29T12:34:56Z");
        assert!(is_timestamp("2024-02-29T12:34:56Z"));
        assert!(!is_timestamp("2024-02-29 12:34:56Z"));
    }

    #[test]
    fn autorename_keeps_extension() {
        assert_eq!(autorename("doc.txt", 1, true), "doc (1).txt");
        assert_eq!(autorename(".bashrc", 1, true), ".bashrc (1)");
        assert_eq!(autorename("dir.v2", 2, false), "dir.v2 (2)");
    }
}
