//! `DropboxError`: every way a Dropbox call can fail, decoded per status. Route
//! errors (409) keep the full `.tag` path (`path/conflict/folder`) and the raw error JSON, so
//! callers can read `already_shared` metadata or `incorrect_offset.correct_offset`. Display names
//! provider, route, status and tag; it never contains a token or secret (provider text is
//! truncated and redacted before it is stored here).

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::wire;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum DropboxError {
    /// 400: malformed request; the body is plain text.
    #[error("dropbox {route}: bad request (400): {message}")]
    BadRequest {
        route: &'static str,
        message: String,
    },
    /// 401 with an `auth.AuthError` tag, or a refused token refresh (`invalid_grant`).
    #[error("dropbox {route}: unauthorized (401) {tag}")]
    Auth { route: &'static str, tag: String },
    /// 403 with an `auth.AccessError` tag.
    #[error("dropbox {route}: access denied (403) {tag}")]
    Access { route: &'static str, tag: String },
    /// 409: the route's own error union.
    #[error("dropbox {route}: route error (409) {tag}")]
    Route {
        route: &'static str,
        tag: String,
        error: Value,
        user_message: Option<String>,
    },
    /// 422: bad `Dropbox-API-Path-Root`.
    #[error("dropbox {route}: path root error (422) {tag}")]
    PathRoot {
        route: &'static str,
        tag: String,
        error: Value,
    },
    /// 429: rate limit or namespace lock contention.
    #[error("dropbox {route}: rate limited (429) {reason}; retry after {}s", retry_after.as_secs_f64())]
    RateLimited {
        route: &'static str,
        reason: String,
        retry_after: Duration,
    },
    #[error("dropbox {route}: server error ({status})")]
    Server { route: &'static str, status: u16 },
    #[error("dropbox {route}: unexpected status {status}: {message}")]
    Status {
        route: &'static str,
        status: u16,
        message: String,
    },
    #[error("dropbox {route}: timed out")]
    Timeout { route: &'static str },
    #[error("dropbox {route}: connection failed: {message}")]
    Network {
        route: &'static str,
        message: String,
    },
    #[error("dropbox {route}: unexpected response: {message}")]
    Decode {
        route: &'static str,
        message: String,
    },
    #[error("dropbox {route}: invalid argument: {message}")]
    InvalidArgument {
        route: &'static str,
        message: String,
    },
    /// An async job (share, remove member) did not finish in time.
    #[error("dropbox {route}: job still in progress after {}s", waited.as_secs())]
    JobTimeout {
        route: &'static str,
        waited: Duration,
    },
    /// The file Dropbox stored does not hash to what we streamed.
    #[error("dropbox upload to {path}: content hash mismatch (ours {ours}, dropbox {theirs})")]
    ContentHashMismatch {
        path: String,
        ours: String,
        theirs: String,
    },
    /// The body ended at a different length than announced.
    #[error("dropbox upload to {path}: body was {actual} bytes, {expected} announced")]
    LengthMismatch {
        path: String,
        expected: u64,
        actual: u64,
    },
    /// Reading the upload's source stream failed (e.g. the DocSpace download broke off).
    #[error("dropbox upload to {path}: reading the source failed: {source}")]
    Source {
        path: String,
        #[source]
        source: BoxError,
    },
}

impl DropboxError {
    /// Transient: 429, 5xx, timeouts, connection errors, `too_many_write_operations`, a 422
    /// `invalid_root` (the root namespace is re-read), and a broken source stream (the job
    /// re-reads it).
    pub fn is_retryable(&self) -> bool {
        match self {
            DropboxError::RateLimited { .. }
            | DropboxError::Server { .. }
            | DropboxError::Timeout { .. }
            | DropboxError::Network { .. }
            | DropboxError::JobTimeout { .. }
            | DropboxError::Source { .. } => true,
            DropboxError::Route { tag, .. } => tag
                .split('/')
                .any(|t| t == "too_many_write_operations" || t == "internal_error"),
            // The root namespace is looked up again before the next attempt.
            DropboxError::PathRoot { tag, .. } => tag.split('/').next() == Some("invalid_root"),
            _ => false,
        }
    }

    /// How long Dropbox asked us to wait (429 only).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            DropboxError::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// The Dropbox `.tag` path: `path/conflict/folder` for route errors, the `AuthError` /
    /// `AccessError` / `PathRootError` tag, or the 429 reason.
    pub fn tag(&self) -> Option<&str> {
        match self {
            DropboxError::Auth { tag, .. }
            | DropboxError::Access { tag, .. }
            | DropboxError::Route { tag, .. }
            | DropboxError::PathRoot { tag, .. } => Some(tag),
            DropboxError::RateLimited { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// HTTP status of the provider answer, when there was one.
    pub fn status(&self) -> Option<u16> {
        Some(match self {
            DropboxError::BadRequest { .. } => 400,
            DropboxError::Auth { .. } => 401,
            DropboxError::Access { .. } => 403,
            DropboxError::Route { .. } => 409,
            DropboxError::PathRoot { .. } => 422,
            DropboxError::RateLimited { .. } => 429,
            DropboxError::Server { status, .. } | DropboxError::Status { status, .. } => *status,
            _ => return None,
        })
    }

    /// True when the tag path starts with `prefix` segment-wise (`path/conflict` matches
    /// `path/conflict/folder`, not `path/conflicts`).
    pub fn has_tag(&self, prefix: &str) -> bool {
        self.tag().is_some_and(|t| {
            t == prefix || (t.starts_with(prefix) && t[prefix.len()..].starts_with('/'))
        })
    }

    /// The raw route error JSON (409 and 422).
    pub fn error_json(&self) -> Option<&Value> {
        match self {
            DropboxError::Route { error, .. } | DropboxError::PathRoot { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Decodes the route error into a typed union from [`wire`], e.g. `wire::CreateFolderError`.
    pub fn route_error<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_value(self.error_json()?.clone()).ok()
    }

    /// `incorrect_offset.correct_offset` of an upload-session error, wherever it is nested.
    pub fn correct_offset(&self) -> Option<u64> {
        let mut v = self.error_json()?;
        loop {
            if v.get(".tag").and_then(Value::as_str) == Some("incorrect_offset") {
                return v.get("correct_offset").and_then(Value::as_u64);
            }
            v = nested(v)?;
        }
    }

    /// The `SharedFolderAccessError` of a 409, in either form Dropbox sends it: bare at the top
    /// level from `sharing/get_folder_metadata` and `sharing/list_folder_members` (whose error
    /// type it is: `{".tag":"unmounted"}`), or nested under `access_error` from the member,
    /// mount, unshare and continue routes (`{".tag":"access_error","access_error":{…}}`).
    pub fn shared_folder_access(&self) -> Option<wire::SharedFolderAccessError> {
        let DropboxError::Route { route, error, .. } = self else {
            return None;
        };
        let v = match error.get(".tag").and_then(Value::as_str) {
            Some("access_error") => error.get("access_error")?,
            Some(_) if BARE_ACCESS_ERROR_ROUTES.contains(route) => error,
            _ => return None,
        };
        serde_json::from_value(v.clone()).ok()
    }

    /// The shared folder is no longer there for the bridge: the id is unknown (unshared or
    /// never existed), the folder is unmounted (deleted from the owner's Dropbox; its id and
    /// members remain and `sharing/mount_folder` brings it back), or the account is not a
    /// member. [`DropboxError::shared_folder_access`] tells which.
    pub fn is_shared_folder_gone(&self) -> bool {
        use wire::SharedFolderAccessError as E;
        matches!(
            self.shared_folder_access(),
            Some(E::InvalidId | E::Unmounted | E::NotAMember)
        )
    }

    /// The existing shared folder's metadata from `bad_path/already_shared`.
    pub fn already_shared(&self) -> Option<wire::SharedFolderMetadata> {
        if !self.has_tag("bad_path/already_shared") {
            return None;
        }
        let inner = self.error_json()?.get("bad_path")?.clone();
        serde_json::from_value(inner).ok()
    }

    /// Short label for metrics.
    pub(crate) fn outcome(&self) -> &'static str {
        match self {
            DropboxError::BadRequest { .. } => "bad_request",
            DropboxError::Auth { .. } => "auth_error",
            DropboxError::Access { .. } => "access_denied",
            DropboxError::Route { .. } => "route_error",
            DropboxError::PathRoot { .. } => "path_root_error",
            DropboxError::RateLimited { .. } => "rate_limited",
            DropboxError::Server { .. } => "server_error",
            DropboxError::Status { .. } => "unexpected_status",
            DropboxError::Timeout { .. } => "timeout",
            DropboxError::Network { .. } => "network_error",
            DropboxError::Decode { .. } => "decode_error",
            _ => "client_error",
        }
    }
}

/// Routes whose error type is `SharedFolderAccessError` itself, so its tags come bare.
const BARE_ACCESS_ERROR_ROUTES: &[&str] =
    &["sharing/get_folder_metadata", "sharing/list_folder_members"];

/// The value a union member nests: under the key named after its tag (unions, primitives), or,
/// for struct members such as `UploadError.path: UploadWriteFailed`, which Stone inlines beside the
/// tag, the struct's `reason` union: `{".tag":"path","reason":{".tag":"conflict",…},…}`.
fn nested(v: &Value) -> Option<&Value> {
    let tag = v.get(".tag").and_then(Value::as_str)?;
    fn reason(o: &Value) -> Option<&Value> {
        o.get("reason").filter(|r| r.get(".tag").is_some())
    }
    match v.get(tag) {
        Some(inner) if inner.is_object() && inner.get(".tag").is_some() => Some(inner),
        Some(inner) if inner.is_object() => reason(inner),
        _ => None,
    }
    .or_else(|| reason(v))
}

/// Joins the `.tag`s of a (nested) union value: `{".tag":"path","path":{".tag":"conflict",
/// "conflict":{".tag":"folder"}}}` → `path/conflict/folder`. Inlined struct members stop the walk.
pub fn tag_path(v: &Value) -> Option<String> {
    let mut parts = Vec::new();
    let mut cur = Some(v);
    while let Some(node) = cur {
        match node.get(".tag").and_then(Value::as_str) {
            Some(t) => parts.push(t.to_string()),
            None => break,
        }
        cur = nested(node);
        if parts.len() > 16 {
            break;
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn route(error: Value) -> DropboxError {
        DropboxError::Route {
            route: "r",
            tag: tag_path(&error).unwrap_or_default(),
            error,
            user_message: None,
        }
    }

    #[test]
    fn tag_paths() {
        let e =
            route(json!({".tag":"path","path":{".tag":"conflict","conflict":{".tag":"folder"}}}));
        assert_eq!(e.tag(), Some("path/conflict/folder"));
        assert!(e.has_tag("path/conflict"));
        assert!(!e.has_tag("path/confl"));
        // UploadError.path is the struct UploadWriteFailed: inlined beside the tag.
        let e = route(
            json!({".tag":"path","reason":{".tag":"too_many_write_operations"},"upload_session_id":"s"}),
        );
        assert_eq!(e.tag(), Some("path/too_many_write_operations"));
        let e = route(
            json!({".tag":"path","reason":{".tag":"conflict","conflict":{".tag":"file"}},"upload_session_id":"s"}),
        );
        assert_eq!(e.tag(), Some("path/conflict/file"));
        let e = route(json!({".tag":"incorrect_offset","correct_offset":42}));
        assert_eq!(e.tag(), Some("incorrect_offset"));
        assert_eq!(e.correct_offset(), Some(42));
        let e = route(
            json!({".tag":"lookup_failed","lookup_failed":{".tag":"incorrect_offset","correct_offset":7}}),
        );
        assert_eq!(e.correct_offset(), Some(7));
        let e = route(
            json!({".tag":"bad_member","bad_member":{".tag":"invalid_email","invalid_email":"x@"}}),
        );
        assert_eq!(e.tag(), Some("bad_member/invalid_email"));
        let e = route(json!({".tag":"path","path":{".tag":"too_many_write_operations"}}));
        assert!(e.is_retryable());
    }

    #[test]
    fn invalid_root_is_retried_after_a_fresh_lookup() {
        let error = json!({".tag":"invalid_root","invalid_root":{".tag":"team","root_namespace_id":"9","home_namespace_id":"8"}});
        let e = DropboxError::PathRoot {
            route: "r",
            tag: tag_path(&error).unwrap_or_default(),
            error,
        };
        assert!(e.has_tag("invalid_root"));
        assert!(e.is_retryable());
        let e = DropboxError::PathRoot {
            route: "r",
            tag: "no_permission".into(),
            error: json!({".tag":"no_permission"}),
        };
        assert!(!e.is_retryable());
    }

    #[test]
    fn shared_folder_access_errors_bare_and_nested() {
        use wire::SharedFolderAccessError as E;
        let on = |route: &'static str, error: Value| DropboxError::Route {
            route,
            tag: tag_path(&error).unwrap_or_default(),
            error,
            user_message: None,
        };
        for (tag, want) in [
            ("invalid_id", E::InvalidId),
            ("not_a_member", E::NotAMember),
            ("unmounted", E::Unmounted),
        ] {
            for route in ["sharing/get_folder_metadata", "sharing/list_folder_members"] {
                let e = on(route, json!({ ".tag": tag }));
                assert_eq!(
                    e.shared_folder_access(),
                    Some(want.clone()),
                    "{route} {tag}"
                );
                assert!(e.is_shared_folder_gone());
            }
            let e = on(
                "sharing/add_folder_member",
                json!({".tag": "access_error", "access_error": {".tag": tag}}),
            );
            assert_eq!(e.tag(), Some(format!("access_error/{tag}").as_str()));
            assert_eq!(e.shared_folder_access(), Some(want));
            assert!(e.is_shared_folder_gone());
        }
        // Bare tags count only where the route's error type is the access error itself.
        let e = on(
            "sharing/update_folder_member",
            json!({".tag": "not_a_member"}),
        );
        assert_eq!(e.shared_folder_access(), None);
        let e = on(
            "sharing/remove_folder_member",
            json!({".tag": "member_error", "member_error": {".tag": "not_a_member"}}),
        );
        assert!(!e.is_shared_folder_gone());
        let e = on(
            "sharing/get_folder_metadata",
            json!({".tag": "invalid_member"}),
        );
        assert_eq!(e.shared_folder_access(), Some(E::InvalidMember));
        assert!(!e.is_shared_folder_gone());
        let e = on(
            "sharing/get_folder_metadata",
            json!({".tag": "something_new"}),
        );
        assert_eq!(e.shared_folder_access(), Some(E::Other));
        assert!(!e.is_shared_folder_gone());
    }

    #[test]
    fn already_shared_metadata() {
        let e = route(
            json!({".tag":"bad_path","bad_path":{".tag":"already_shared","shared_folder_id":"84528192421","name":"dir"}}),
        );
        let m = e.already_shared().expect("metadata");
        assert_eq!(m.shared_folder_id, "84528192421");
    }
}
