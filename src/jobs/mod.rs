//! Job implementations (DESIGN section 4). The queue runtime calls [`run`] with a claimed job;
//! each kind reads its payload, calls the providers through their clients, records mappings in
//! the store, and returns a JSON result summary. Jobs know nothing of HTTP.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::docspace::DocSpaceClient;
use crate::dropbox::DropboxClient;
use crate::store::{kinds, DynStore, Job};

pub mod changes;
pub mod export;
pub mod groups;

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

/// What every job may use.
pub struct JobContext {
    pub config: Arc<Config>,
    pub store: DynStore,
    pub docspace: DocSpaceClient,
    pub dropbox: DropboxClient,
}

/// The HTTP client (and connection pool) every provider client is built on.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!(
            "docspace-dropbox-bridge/",
            env!("CARGO_PKG_VERSION")
        ))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default()
}

impl JobContext {
    pub fn new(config: Arc<Config>, store: DynStore) -> Self {
        let http = http_client();
        Self {
            docspace: DocSpaceClient::new(&config.docspace, http.clone()),
            dropbox: DropboxClient::new(&config.dropbox, http),
            config,
            store,
        }
    }
}

/// Runs one claimed job to completion (or error).
pub async fn run(job: &Job, ctx: &JobContext) -> Result<serde_json::Value, JobError> {
    match job.kind.as_str() {
        kinds::GROUP_SYNC => groups::run_sync(job, ctx).await,
        kinds::GROUP_DELETE => groups::run_delete(job, ctx).await,
        kinds::GROUPS_SYNC_ALL => groups::run_sync_all(ctx).await,
        kinds::DROPBOX_CHANGES => changes::run(job, ctx).await,
        kinds::FILE_EXPORT => export::run(job, ctx).await,
        k if kinds::ALL.contains(&k) => Err(JobError::permanent(format!(
            "job kind {k} is not implemented in this build"
        ))),
        other => Err(JobError::permanent(format!("unknown job kind {other}"))),
    }
}
