//! [`RetryPolicy`]: bounded in-client retries (exponential backoff with jitter, via `backon`)
//! for transient provider failures, and the `Retry-After` header that bounds them.

use std::time::Duration;

use backon::ExponentialBuilder;

/// Bounded in-client retries for transient failures. After `max_retries` the error goes back to
/// the caller (the job queue reschedules with its own, longer backoff).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_retries: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// A `Retry-After` longer than this is not waited out inside the call: the provider is still
    /// paused for every caller, but this call returns its error so the job can be rescheduled.
    pub max_inline_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            min_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(10),
            max_inline_wait: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with jitter for `backon`.
    pub fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_retries)
            .with_jitter()
    }

    /// Whether an error that the provider says may be retried should be retried in-client.
    pub fn should_retry(&self, retryable: bool, retry_after: Option<Duration>) -> bool {
        retryable && retry_after.is_none_or(|d| d <= self.max_inline_wait)
    }
}

/// Parses a `Retry-After` header given in seconds (the HTTP-date form is not used by either
/// provider; it falls back to `None`).
pub fn retry_after_header(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let secs: f64 = v.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_policy_inline_wait() {
        let p = RetryPolicy::default();
        assert!(p.should_retry(true, None));
        assert!(p.should_retry(true, Some(Duration::from_secs(3))));
        assert!(!p.should_retry(true, Some(Duration::from_secs(3600))));
        assert!(!p.should_retry(false, None));
    }
}
