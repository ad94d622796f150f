//! Per-request provider metrics: `bridge_provider_requests_total{provider,route,outcome}` and
//! `bridge_provider_request_duration_seconds{provider,route}`.

use std::time::Duration;

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
