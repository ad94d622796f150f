//! `DocSpaceError`: every way a DocSpace call can fail. Display names provider, route and status;
//! provider text is truncated and redacted (the API key never appears).

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum DocSpaceError {
    /// A non-2xx answer, or an error envelope inside a 2xx one.
    #[error("docspace {route}: {status} {}: {message}", status_tag(*status))]
    Api {
        route: &'static str,
        status: u16,
        message: String,
    },
    /// A bare `403` from the server's authorization layer: the API key lacks the permission
    /// ("scope") the route needs. Permanent until the key is replaced.
    #[error("docspace {route}: 403 forbidden: the API key lacks the {scope} permission")]
    MissingScope {
        route: &'static str,
        scope: &'static str,
    },
    /// `429`. `retry_after` is what DocSpace asked for (`Retry-After`, or the end of the
    /// limiter's window from `X-RateLimit-Reset`); `None` when it said nothing (its GET limiter
    /// sends neither), and the caller's own backoff applies.
    #[error("docspace {route}: rate limited (429){}", match retry_after {
        Some(d) => format!("; retry after {}s", d.as_secs_f64()),
        None => String::new(),
    })]
    RateLimited {
        route: &'static str,
        retry_after: Option<Duration>,
    },
    /// A presigned URL on another origin (storage) was refused (403): it expired. Ask for a
    /// fresh one with `presigned_uri`.
    #[error("docspace download: presigned URL refused (403); fetch a fresh one")]
    PresignedExpired,
    /// The portal refused a download sent with the API key (403): with the key DocSpace checks
    /// the key's user's download right, not the link's age, so asking again cannot help.
    #[error(
        "docspace download: 403 forbidden: the API key's user may not download {}",
        match file_id { Some(id) => format!("file {id}"), None => "this file".to_string() }
    )]
    DownloadDenied { file_id: Option<String> },
    #[error("docspace {route}: timed out")]
    Timeout { route: &'static str },
    #[error("docspace {route}: connection failed: {message}")]
    Network {
        route: &'static str,
        message: String,
    },
    #[error("docspace {route}: unexpected response: {message}")]
    Decode {
        route: &'static str,
        message: String,
    },
    #[error("docspace {route}: invalid argument: {message}")]
    InvalidArgument {
        route: &'static str,
        message: String,
    },
    /// An id no request can carry (`.` or `..`, which a URL path reads as "here" and "up"); not
    /// sent. It names nothing, so it counts as not found.
    #[error("docspace: no entity has the id {id:?}")]
    Unaddressable { id: String },
}

fn status_tag(status: u16) -> &'static str {
    match status {
        300..=399 => "redirect",
        400 => "bad_request",
        401 => "unauthorized",
        402 => "payment_required",
        403 => "forbidden",
        404 => "not_found",
        409 => "conflict",
        413 => "payload_too_large",
        429 => "rate_limited",
        500..=599 => "server_error",
        _ => "http_error",
    }
}

impl DocSpaceError {
    /// Transient: 429, 5xx, timeouts, connection errors, and an expired presigned URL (the job
    /// fetches a new one on its next attempt). A missing scope and a refused download are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            DocSpaceError::Api { status, .. } => (500..=599).contains(status) || *status == 408,
            DocSpaceError::RateLimited { .. }
            | DocSpaceError::PresignedExpired
            | DocSpaceError::Timeout { .. }
            | DocSpaceError::Network { .. } => true,
            DocSpaceError::MissingScope { .. }
            | DocSpaceError::DownloadDenied { .. }
            | DocSpaceError::Decode { .. }
            | DocSpaceError::InvalidArgument { .. }
            | DocSpaceError::Unaddressable { .. } => false,
        }
    }

    /// How long DocSpace asked callers to wait (429 with `Retry-After` or `X-RateLimit-Reset`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            DocSpaceError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The permission the API key lacks, when the server refused the route for that.
    pub fn missing_scope(&self) -> Option<&'static str> {
        match self {
            DocSpaceError::MissingScope { scope, .. } => Some(scope),
            _ => None,
        }
    }

    /// Short class of the failure (`not_found`, `forbidden`, `server_error`, `rate_limited`,
    /// `presigned_expired`, `timeout`, ...), for job records and metrics.
    pub fn tag(&self) -> Option<&str> {
        Some(self.class())
    }

    /// [`DocSpaceError::tag`] as a static label (metrics).
    pub(crate) fn class(&self) -> &'static str {
        match self {
            DocSpaceError::Api { status, .. } => status_tag(*status),
            DocSpaceError::MissingScope { .. } => "missing_scope",
            DocSpaceError::RateLimited { .. } => "rate_limited",
            DocSpaceError::PresignedExpired => "presigned_expired",
            DocSpaceError::DownloadDenied { .. } => "download_denied",
            DocSpaceError::Timeout { .. } => "timeout",
            DocSpaceError::Network { .. } => "network_error",
            DocSpaceError::Decode { .. } => "decode_error",
            DocSpaceError::InvalidArgument { .. } => "invalid_argument",
            DocSpaceError::Unaddressable { .. } => "not_found",
        }
    }

    /// HTTP status of the provider answer, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            DocSpaceError::Api { status, .. } => Some(*status),
            DocSpaceError::RateLimited { .. } => Some(429),
            DocSpaceError::MissingScope { .. }
            | DocSpaceError::PresignedExpired
            | DocSpaceError::DownloadDenied { .. } => Some(403),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404) || matches!(self, DocSpaceError::Unaddressable { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_classes() {
        let e = DocSpaceError::Api {
            route: "group",
            status: 403,
            message: "Access denied".into(),
        };
        assert_eq!(
            e.to_string(),
            "docspace group: 403 forbidden: Access denied"
        );
        assert!(!e.is_retryable());
        assert_eq!(e.tag(), Some("forbidden"));
        let e = DocSpaceError::Api {
            route: "group",
            status: 503,
            message: String::new(),
        };
        assert!(e.is_retryable());
        assert!(DocSpaceError::PresignedExpired.is_retryable());

        let e = DocSpaceError::DownloadDenied {
            file_id: Some("4711".into()),
        };
        assert_eq!(
            e.to_string(),
            "docspace download: 403 forbidden: the API key's user may not download file 4711"
        );
        assert!(!e.is_retryable());
        let e = DocSpaceError::MissingScope {
            route: "group",
            scope: "accounts:read",
        };
        assert_eq!(
            e.to_string(),
            "docspace group: 403 forbidden: the API key lacks the accounts:read permission"
        );
        assert!(!e.is_retryable());
        assert_eq!(e.missing_scope(), Some("accounts:read"));
        let e = DocSpaceError::RateLimited {
            route: "group",
            retry_after: None,
        };
        assert_eq!(e.to_string(), "docspace group: rate limited (429)");
        assert!(e.is_retryable());
        assert_eq!(e.retry_after(), None);
    }
}
