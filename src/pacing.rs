//! Provider pacing shared by the DocSpace and Dropbox clients: the process-wide "paused until"
//! instant that a `429`/`Retry-After` sets for every caller of a provider, the bounded in-client
//! retry policy (exponential backoff with jitter, via `backon`), per-request metrics, and the
//! redaction of secrets from provider text that ends up in errors.
//!
//! This module knows nothing of routes or wire formats; each client owns one [`Pacer`] and one
//! [`RetryPolicy`] and routes every outgoing request through them.

use std::sync::Mutex;
use std::time::Duration;

use backon::ExponentialBuilder;
use tokio::time::Instant;

/// Longest pause a single `Retry-After` may impose on a provider. A provider asking for more is
/// still obeyed up to this bound; the call then fails and the job queue reschedules it.
const MAX_PAUSE: Duration = Duration::from_secs(3600);

/// A provider-wide gate. When one call learns that the provider wants a break (`429` with
/// `Retry-After`), it calls [`Pacer::pause_for`]; every call, from any task, awaits
/// [`Pacer::ready`] before sending, so the whole process backs off, not only the unlucky caller.
#[derive(Debug)]
pub struct Pacer {
    provider: &'static str,
    paused_until: Mutex<Option<Instant>>,
}

impl Pacer {
    pub fn new(provider: &'static str) -> Self {
        Self {
            provider,
            paused_until: Mutex::new(None),
        }
    }

    /// Waits until no pause is in force. Re-checks after sleeping because another caller may have
    /// extended the pause meanwhile.
    pub async fn ready(&self) {
        loop {
            let until = match self.paused_until.lock() {
                Ok(g) => *g,
                Err(p) => *p.into_inner(),
            };
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t).await,
                _ => return,
            }
        }
    }

    /// Pauses the provider for `d` from now (capped at one hour); never shortens a longer pause.
    pub fn pause_for(&self, d: Duration) {
        let d = d.min(MAX_PAUSE);
        let until = Instant::now() + d;
        let mut g = match self.paused_until.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if g.is_none_or(|cur| cur < until) {
            *g = Some(until);
            metrics::counter!("bridge_provider_pauses_total", "provider" => self.provider)
                .increment(1);
            tracing::warn!(
                provider = self.provider,
                pause_ms = d.as_millis() as u64,
                "provider asked us to slow down; pausing all calls"
            );
        }
    }

    /// Time left in the current pause, if any.
    pub fn remaining(&self) -> Option<Duration> {
        let g = match self.paused_until.lock() {
            Ok(g) => *g,
            Err(p) => *p.into_inner(),
        };
        g.and_then(|t| t.checked_duration_since(Instant::now()))
            .filter(|d| !d.is_zero())
    }
}

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

/// Records one HTTP attempt: a counter by outcome and a latency histogram.
pub fn record(
    provider: &'static str,
    route: &'static str,
    outcome: &'static str,
    elapsed: Duration,
) {
    metrics::counter!(
        "bridge_provider_requests_total",
        "provider" => provider,
        "route" => route,
        "outcome" => outcome
    )
    .increment(1);
    metrics::histogram!(
        "bridge_provider_request_duration_seconds",
        "provider" => provider,
        "route" => route
    )
    .record(elapsed.as_secs_f64());
}

/// Provider text (error bodies) may end up in job records: cut it short and blank out any secret
/// it might echo.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    // Blank secrets before cutting: a secret crossing the cut would no longer match.
    let mut out = text.to_string();
    for s in secrets {
        if s.len() >= 4 && out.contains(s) {
            out = out.replace(s, "***");
        }
    }
    out.chars().take(300).collect()
}

/// An error and its sources on one line (reqwest's top-level message alone is often just
/// "error sending request").
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    redact(&out, &[])
}

/// A reqwest failure without its URL (presigned URLs carry a credential in the query): the kind
/// of failure plus the chain of underlying causes.
pub fn describe_reqwest(e: &reqwest::Error) -> String {
    let kind = if e.is_connect() {
        "connect"
    } else if e.is_body() {
        "body"
    } else if e.is_decode() {
        "decode"
    } else if e.is_redirect() {
        "redirect"
    } else {
        "request"
    };
    match std::error::Error::source(e) {
        Some(s) => format!("{kind} error: {}", error_chain(s)),
        None => format!("{kind} error"),
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

    #[tokio::test]
    async fn pause_holds_every_caller_and_never_shortens() {
        let p = std::sync::Arc::new(Pacer::new("test"));
        p.pause_for(Duration::from_millis(300));
        p.pause_for(Duration::from_millis(50));
        let start = Instant::now();
        let wait = |p: std::sync::Arc<Pacer>| async move {
            p.ready().await;
            Instant::now()
        };
        let (a, b) = tokio::join!(wait(p.clone()), wait(p.clone()));
        assert!(a - start >= Duration::from_millis(280));
        assert!(b - start >= Duration::from_millis(280));
        assert!(p.remaining().is_none());
    }

    #[test]
    fn redact_blanks_secrets_and_truncates() {
        let r = redact("token sk-abcdef leaked", &["sk-abcdef"]);
        assert_eq!(r, "token *** leaked");
        assert_eq!(redact(&"x".repeat(1000), &[]).len(), 300);
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
