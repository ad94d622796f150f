//! Jobs: what the bridge does with the providers. The queue runtime calls [`run`] with a claimed
//! job; [`kinds`] turns it into its typed kind, which calls the providers through their clients,
//! records mappings in the store and returns a JSON result summary. The work itself lives by
//! subject: [`groups`] (group folders), [`export`] (file export), [`files`] (file reconcile),
//! [`changes`] (Dropbox change tracking). Everything a job may use, including the per-process state of exports, is in the
//! [`JobContext`], built once per process. Jobs know nothing of HTTP.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::docspace::DocSpaceClient;
use crate::dropbox::DropboxClient;
use crate::store::DynStore;

pub mod changes;
pub mod check;
pub mod export;
pub mod files;
pub mod groups;
pub mod kinds;

pub use kinds::{
    run, DropboxChanges, FileExport, FilesSyncAll, GroupDelete, GroupSync, GroupsSyncAll, JobKind,
};

/// The full reconciles whose last success is a gauge
/// (`bridge_last_success_timestamp_seconds{kind}`).
const RECONCILES: [&str; 2] = [GroupsSyncAll::NAME, FilesSyncAll::NAME];

/// Sets `bridge_last_success_timestamp_seconds{kind}` to now: a full reconcile of `kind` just
/// succeeded in this process.
pub(crate) fn record_last_success(kind: &'static str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    metrics::gauge!("bridge_last_success_timestamp_seconds", "kind" => kind).set(now);
}

/// Shows `bridge_last_success_timestamp_seconds` for every full reconcile from the start (0 until
/// the first success), so that an alert can tell "never succeeded" from "not scraped"; and
/// `bridge_jobs_total` for every kind and outcome at 0, so that the first runs a process finishes
/// count in `increase()` (Prometheus takes a series' first sample as its start, so a counter
/// that first appears at 3 has not increased).
pub fn register_metrics() {
    for kind in RECONCILES {
        // Adding nothing creates the series at 0 and leaves a recorded success alone.
        metrics::gauge!("bridge_last_success_timestamp_seconds", "kind" => kind).increment(0.0);
    }
    for kind in kinds::NAMES {
        for outcome in crate::queue::JOB_OUTCOMES {
            metrics::counter!("bridge_jobs_total", "kind" => kind, "outcome" => outcome)
                .increment(0);
        }
    }
    metrics::counter!("bridge_files_reconcile_seen_total").increment(0);
    metrics::counter!("bridge_files_reconcile_enqueued_total").increment(0);
}

/// Why a run did not succeed, and whether trying again can help.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Transient (5xx, timeout, rate limit, lock contention): retry with backoff, not before `after`.
    #[error("{message}")]
    Retry {
        message: String,
        after: Option<Duration>,
    },
    /// Cannot succeed by retrying (bad input, no permission, unknown kind): the job goes `dead`.
    #[error("{message}")]
    Permanent {
        message: String,
        result: Option<serde_json::Value>,
    },
}

impl JobError {
    pub fn permanent(message: impl Into<String>) -> Self {
        JobError::Permanent {
            message: message.into(),
            result: None,
        }
    }
    pub fn retry(message: impl Into<String>) -> Self {
        JobError::Retry {
            message: message.into(),
            after: None,
        }
    }
}

impl From<crate::store::StoreError> for JobError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Unavailable(_) | crate::store::StoreError::Other(_) => {
                JobError::retry(format!("store: {e}"))
            }
            _ => JobError::permanent(format!("store: {e}")),
        }
    }
}

impl JobError {
    /// A provider error: retried (after its `Retry-After`, if any) when transient, final
    /// otherwise. The message is the error's Display (route, status, `.tag` path).
    fn from_provider(retryable: bool, after: Option<Duration>, message: String) -> Self {
        if retryable {
            JobError::Retry { after, message }
        } else {
            JobError::permanent(message)
        }
    }
}

impl From<crate::dropbox::DropboxError> for JobError {
    fn from(e: crate::dropbox::DropboxError) -> Self {
        Self::from_provider(e.is_retryable(), e.retry_after(), e.to_string())
    }
}

impl From<crate::docspace::DocSpaceError> for JobError {
    fn from(e: crate::docspace::DocSpaceError) -> Self {
        Self::from_provider(e.is_retryable(), e.retry_after(), e.to_string())
    }
}

/// What every job may use: configuration, store, provider clients, and the state exports share
/// within this process. Built once per process (the service, or a one-shot command) and passed
/// to every job, so that two bridges in one process share nothing.
pub struct JobContext {
    pub config: Arc<Config>,
    pub store: DynStore,
    pub docspace: DocSpaceClient,
    pub dropbox: DropboxClient,
    /// Commit batcher, per-file locks and transfer threads of file exports.
    pub(crate) exports: export::Exports,
}

impl JobContext {
    pub fn new(config: Arc<Config>, store: DynStore) -> Self {
        let http = crate::provider::http_client();
        Self {
            docspace: DocSpaceClient::new(&config.docspace, http.clone()),
            dropbox: DropboxClient::new(&config.dropbox, http),
            exports: export::Exports::default(),
            config,
            store,
        }
    }
}
