//! Fault and behaviour knobs (changeable while the fake runs) and the call statistics tests assert on.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// Runtime knobs. All are plain data so the control API can read and patch them as JSON
/// (`GET/POST /_fake/knobs`, field names as below).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Knobs {
    /// Added to every API call, inside its in-flight window (not the control API).
    pub latency_ms: u64,
    /// Probability (0..=1) that an API call is answered `429` instead.
    pub rate_429: f64,
    /// Probability (0..=1) that an API call is answered `500` (error envelope) instead.
    pub rate_5xx: f64,
    /// Concurrent GETs above this are answered `429` (DocSpace cloud: 50). `None` = unlimited.
    pub max_concurrent_gets: Option<u64>,
    /// Concurrent non-GETs above this are answered `429` (DocSpace cloud: 15).
    pub max_concurrent_writes: Option<u64>,
    /// `X-RateLimit-Limit` on `429`s (DocSpace cloud: 1500 requests a minute per user).
    pub ratelimit_limit: u64,
    /// Seconds until the refusing limiter's window ends. Where `X-RateLimit-Reset` is sent, it is
    /// that instant as a Unix timestamp in seconds (an absolute time, not a wait).
    pub ratelimit_reset_secs: u64,
    /// Also send `X-RateLimit-Reset` on `429`s to GETs. Off by default, as the real limiter: the
    /// per-minute sliding window that GETs hit sends only `X-RateLimit-Limit` and
    /// `X-RateLimit-Remaining`. Writes (the per-day fixed window) always carry it.
    pub ratelimit_reset_on_get: bool,
    /// When set, `429`s also carry `Retry-After: <n>`. Real DocSpace does not send it (its
    /// limiter's sliding and fixed windows put no retry-after in the lease); this exists for
    /// tests that want a client's `Retry-After` path.
    pub retry_after_secs: Option<u64>,
    /// Lifetime of `stream_auth` tokens handed out by `presigneduri` (DocSpace default 16 min).
    pub presigned_lifetime_secs: u64,
    /// `presigneduri` points at the foreign (storage/CDN) origin instead of the portal.
    pub foreign_origin: bool,
    /// Downloads (stream/download handler, both origins) break after this many body bytes.
    pub cut_after_bytes: Option<u64>,
    /// Keep cutting every download; otherwise the cut happens once and the knob clears itself.
    pub cut_always: bool,
    /// The portal's stream handler refuses requests carrying only `stream_auth` (like a portal with
    /// a Document Server JWT secret): the API key is then required.
    pub require_api_key_on_stream: bool,
    /// Files the API key's user may not download: the stream handler, asked with the API key,
    /// answers `403` with an empty body for them (DocSpace's `CanDownloadAsync` is false), for
    /// good.
    pub download_denied_file_ids: Vec<i64>,
    /// Folders and rooms the API key's user cannot read: listing them or reading their info is
    /// `403` ("You don't have enough permission to view the folder content"), they are left out
    /// of their parent's listing and of `files/rooms`, and files below them are `403` too.
    pub unreadable_folder_ids: Vec<i64>,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            latency_ms: 0,
            rate_429: 0.0,
            rate_5xx: 0.0,
            max_concurrent_gets: Some(50),
            max_concurrent_writes: Some(15),
            ratelimit_limit: 1500,
            ratelimit_reset_secs: 60,
            ratelimit_reset_on_get: false,
            retry_after_secs: None,
            presigned_lifetime_secs: 16 * 60,
            foreign_origin: false,
            cut_after_bytes: None,
            cut_always: false,
            require_api_key_on_stream: true,
            download_denied_file_ids: Vec::new(),
            unreadable_folder_ids: Vec::new(),
        }
    }
}

/// A scripted failure: the next `times` calls to `route` (any route when `None`) get `status`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScriptedFailure {
    pub route: Option<String>,
    pub status: u16,
    pub times: u32,
}

#[derive(Default)]
pub struct Stats {
    calls: Mutex<BTreeMap<String, u64>>,
    total: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    pub portal_stream_auth_headers: AtomicU64,
    pub foreign_requests: AtomicU64,
    pub foreign_auth_headers: AtomicU64,
    pub bytes_streamed: AtomicU64,
}

/// Snapshot of `Stats` (also `GET /_fake/stats`).
#[derive(Clone, Debug, Serialize, Deserialize, Default)]
pub struct StatsSnapshot {
    pub calls: BTreeMap<String, u64>,
    pub total: u64,
    pub in_flight: u64,
    pub max_concurrency_seen: u64,
    pub portal_stream_auth_headers: u64,
    pub foreign_requests: u64,
    pub foreign_auth_headers: u64,
    pub bytes_streamed: u64,
}

/// Decrements the in-flight counter when the request (or, for downloads, the body) is done.
pub struct InFlight(Arc<Stats>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Stats {
    pub fn count(&self, route: &str) {
        self.total.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut calls) = self.calls.lock() {
            *calls.entry(route.to_string()).or_default() += 1;
        }
    }

    pub fn calls(&self, route: &str) -> u64 {
        self.calls
            .lock()
            .map(|c| c.get(route).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.total.load(Ordering::SeqCst)
    }

    /// Enters a request; returns the guard and how many are in flight including this one.
    pub fn enter(self: &Arc<Self>) -> (InFlight, u64) {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        (InFlight(Arc::clone(self)), now)
    }

    pub fn max_concurrency_seen(&self) -> u64 {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn reset(&self) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.clear();
        }
        self.total.store(0, Ordering::SeqCst);
        self.max_in_flight
            .store(self.in_flight.load(Ordering::SeqCst), Ordering::SeqCst);
        for c in [
            &self.portal_stream_auth_headers,
            &self.foreign_requests,
            &self.foreign_auth_headers,
            &self.bytes_streamed,
        ] {
            c.store(0, Ordering::SeqCst);
        }
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            calls: self.calls.lock().map(|c| c.clone()).unwrap_or_default(),
            total: self.total(),
            in_flight: self.in_flight.load(Ordering::SeqCst),
            max_concurrency_seen: self.max_concurrency_seen(),
            portal_stream_auth_headers: self.portal_stream_auth_headers.load(Ordering::SeqCst),
            foreign_requests: self.foreign_requests.load(Ordering::SeqCst),
            foreign_auth_headers: self.foreign_auth_headers.load(Ordering::SeqCst),
            bytes_streamed: self.bytes_streamed.load(Ordering::SeqCst),
        }
    }
}
