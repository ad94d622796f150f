//! [`RetryPolicy`]: bounded in-client retries (exponential backoff with jitter, via `backon`)
//! for transient provider failures, and the rate-limit headers that bound them: `Retry-After`
//! (seconds to wait) and `X-RateLimit-Reset` (the instant a limiter's window ends).

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

/// Longest wait an `X-RateLimit-Reset` may impose. A limiter window can end hours away (a
/// per-day write quota), but no read the bridge makes should stall that long on one header:
/// after this the call fails and the job queue reschedules it with its own backoff.
pub const MAX_RESET_WAIT: Duration = Duration::from_secs(5 * 60);
/// A reset further away than this is not a window end at all (e.g. a number of seconds read
/// as a far-future date, or garbage) and is ignored.
const ABSURD_RESET: Duration = Duration::from_secs(24 * 3600);

/// The wait an `X-RateLimit-Reset` header asks for. The value is the Unix time (seconds) at which
/// the limiter's window ends, not a number of seconds to wait. A time in the past (including a
/// small "seconds to wait" number, read as 1970) or more than a day away is ignored; otherwise
/// the wait until then, at most [`MAX_RESET_WAIT`].
pub fn ratelimit_reset_header(
    headers: &reqwest::header::HeaderMap,
    now: std::time::SystemTime,
) -> Option<Duration> {
    let v = headers.get("x-ratelimit-reset")?.to_str().ok()?;
    let reset_secs: u64 = v.trim().parse().ok()?;
    let reset = std::time::UNIX_EPOCH.checked_add(Duration::from_secs(reset_secs))?;
    let wait = reset.duration_since(now).ok().filter(|d| !d.is_zero())?;
    (wait <= ABSURD_RESET).then(|| wait.min(MAX_RESET_WAIT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};
    use std::time::{SystemTime, UNIX_EPOCH};

    fn reset(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "x-ratelimit-reset",
            HeaderValue::from_str(v).expect("header"),
        );
        h
    }

    #[test]
    fn ratelimit_reset_is_an_instant_bounded_and_ignored_when_absurd() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let at = |secs: u64| reset(&secs.to_string());
        assert_eq!(
            ratelimit_reset_header(&at(1_800_000_030), now),
            Some(Duration::from_secs(30))
        );
        // A window ending in an hour: waited for at most a few minutes.
        assert_eq!(
            ratelimit_reset_header(&at(1_800_003_600), now),
            Some(MAX_RESET_WAIT)
        );
        // Past, now, "seconds to wait" style values, far future, garbage: ignored.
        assert_eq!(ratelimit_reset_header(&at(1_799_999_000), now), None);
        assert_eq!(ratelimit_reset_header(&at(1_800_000_000), now), None);
        assert_eq!(ratelimit_reset_header(&at(60), now), None);
        assert_eq!(ratelimit_reset_header(&at(4_000_000_000), now), None);
        assert_eq!(ratelimit_reset_header(&reset("soon"), now), None);
        assert_eq!(ratelimit_reset_header(&reset("-5"), now), None);
        assert_eq!(
            ratelimit_reset_header(&HeaderMap::new(), SystemTime::now()),
            None
        );
    }

    #[test]
    fn retry_policy_inline_wait() {
        let p = RetryPolicy::default();
        assert!(p.should_retry(true, None));
        assert!(p.should_retry(true, Some(Duration::from_secs(3))));
        assert!(!p.should_retry(true, Some(Duration::from_secs(3600))));
        assert!(!p.should_retry(false, None));
    }
}
