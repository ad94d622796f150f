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
    #[error("docspace {route}: rate limited (429); retry after {}s", retry_after.as_secs_f64())]
    RateLimited {
        route: &'static str,
        retry_after: Duration,
    },
    /// The presigned download URL was refused (403): it expired or lost its rights. Ask for a
    /// fresh one with `presigned_uri`.
    #[error("docspace download: presigned URL refused (403); fetch a fresh one")]
    PresignedExpired,
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
}

fn status_tag(status: u16) -> &'static str {
    match status {
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
    /// fetches a new one on its next attempt).
    pub fn is_retryable(&self) -> bool {
        match self {
            DocSpaceError::Api { status, .. } => (500..=599).contains(status) || *status == 408,
            DocSpaceError::RateLimited { .. }
            | DocSpaceError::PresignedExpired
            | DocSpaceError::Timeout { .. }
            | DocSpaceError::Network { .. } => true,
            DocSpaceError::Decode { .. } | DocSpaceError::InvalidArgument { .. } => false,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            DocSpaceError::RateLimited { retry_after, .. } => Some(*retry_after),
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
            DocSpaceError::RateLimited { .. } => "rate_limited",
            DocSpaceError::PresignedExpired => "presigned_expired",
            DocSpaceError::Timeout { .. } => "timeout",
            DocSpaceError::Network { .. } => "network_error",
            DocSpaceError::Decode { .. } => "decode_error",
            DocSpaceError::InvalidArgument { .. } => "invalid_argument",
        }
    }

    /// HTTP status of the provider answer, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            DocSpaceError::Api { status, .. } => Some(*status),
            DocSpaceError::RateLimited { .. } => Some(429),
            DocSpaceError::PresignedExpired => Some(403),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
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
    }
}
