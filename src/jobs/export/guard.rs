//! One export of a file at a time across every replica on the database: the export takes the
//! file's guard in the store, renews it while it runs, and lets it go when it ends. A guard that
//! nobody renews (a replica died) expires after the job's lease (`BRIDGE_LEASE`), as the job
//! itself returns to the queue then. The guard also carries a first export's intent (where its
//! commit is aimed, with which bytes), recorded before the commit.
//!
//! A commit handed to the batcher keeps the guard (a clone) until Dropbox has answered it, so an
//! export whose job went away mid-commit still holds its file: the next attempt starts only once
//! the commit has landed, and finds its bytes through the intent.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::path;
use crate::jobs::{JobContext, JobError};
use crate::store::{DynStore, ExportIntent, ExportRecord};

/// First pause while another export holds the file; doubles up to `MAX_PAUSE`.
const FIRST_PAUSE: Duration = Duration::from_millis(50);
const MAX_PAUSE: Duration = Duration::from_secs(1);

/// The held guard of one file; clones share it. Released when the export finishes it, or when
/// the last clone goes (in a task of its own).
#[derive(Clone)]
pub(crate) struct ExportGuard {
    inner: Arc<Inner>,
}

struct Inner {
    store: DynStore,
    file_id: String,
    holder: String,
    /// Set by the renewal when the store says another holder took the guard over.
    lost: Arc<AtomicBool>,
    released: AtomicBool,
    renewal: JoinHandle<()>,
}

impl ExportGuard {
    /// Waits until this export holds `file_id`'s guard. Gives up with a retryable error after
    /// one lease: the holder is still renewing it, so the job comes back later.
    pub(crate) async fn acquire(ctx: &JobContext, file_id: &str) -> Result<Self, JobError> {
        let lease = ctx.config.queue.lease;
        let holder = uuid::Uuid::new_v4().to_string();
        let deadline = tokio::time::Instant::now() + lease;
        let mut pause = FIRST_PAUSE;
        while !ctx
            .store
            .acquire_export_guard(file_id, &holder, lease)
            .await?
        {
            if tokio::time::Instant::now() >= deadline {
                return Err(JobError::Retry {
                    message: format!("file {file_id} is being exported by another worker"),
                    after: Some(lease / 4),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_PAUSE);
        }
        let lost = Arc::new(AtomicBool::new(false));
        let renewal = tokio::spawn(renew(
            ctx.store.clone(),
            file_id.to_string(),
            holder.clone(),
            lease,
            lost.clone(),
        ));
        Ok(Self {
            inner: Arc::new(Inner {
                store: ctx.store.clone(),
                file_id: file_id.to_string(),
                holder,
                lost,
                released: AtomicBool::new(false),
                renewal,
            }),
        })
    }

    /// The guard is still this export's (no other worker took it over after a lapse).
    /// Another file's export record names `path` (as Dropbox compares paths): the file there is
    /// that export's, however alike its bytes are to this one's.
    pub(crate) async fn held_by_another(&self, path: &str) -> Result<bool, JobError> {
        let records = self.inner.store.exports_under(path).await?;
        Ok(records
            .iter()
            .any(|r| r.file_id != self.inner.file_id && path::same_path(&r.dropbox_path, path)))
    }

    pub(crate) fn check(&self) -> Result<(), JobError> {
        if self.inner.lost.load(Ordering::Relaxed) {
            return Err(JobError::retry(format!(
                "lost the export guard of file {}",
                self.inner.file_id
            )));
        }
        Ok(())
    }

    /// Records where this export's first commit goes, before committing.
    pub(crate) async fn record_intent(&self, intent: &ExportIntent) -> Result<(), JobError> {
        self.check()?;
        let i = &self.inner;
        if !i
            .store
            .set_export_intent(&i.file_id, &i.holder, Some(intent))
            .await?
        {
            i.lost.store(true, Ordering::Relaxed);
            self.check()?;
        }
        Ok(())
    }

    /// Forgets the intent once the export is recorded.
    pub(crate) async fn forget_intent(&self) -> Result<(), JobError> {
        let i = &self.inner;
        i.store
            .set_export_intent(&i.file_id, &i.holder, None)
            .await?;
        Ok(())
    }

    /// Records the finished export, forgets the intent and lets the guard go, in one step.
    pub(crate) async fn complete(&self, record: &ExportRecord) -> Result<(), JobError> {
        let i = &self.inner;
        i.store.complete_export(record, &i.holder).await?;
        i.released.store(true, Ordering::Relaxed);
        i.renewal.abort();
        Ok(())
    }

    /// Lets the guard go now (the export is over, its commit answered).
    pub(crate) async fn release(self) {
        let i = &self.inner;
        if i.released.swap(true, Ordering::Relaxed) {
            return;
        }
        i.renewal.abort();
        if let Err(e) = i.store.release_export_guard(&i.file_id, &i.holder).await {
            tracing::warn!(file_id = %i.file_id, error = %e, "could not release the export guard; it expires with its lease");
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.renewal.abort();
        if self.released.load(Ordering::Relaxed) {
            return;
        }
        // The export went away (its job was stopped) or failed: let the guard go in the
        // background; if that cannot run, it expires with its lease.
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (store, file_id, holder) = (
            self.store.clone(),
            std::mem::take(&mut self.file_id),
            std::mem::take(&mut self.holder),
        );
        rt.spawn(async move {
            if let Err(e) = store.release_export_guard(&file_id, &holder).await {
                tracing::warn!(%file_id, error = %e, "could not release the export guard; it expires with its lease");
            }
        });
    }
}

/// Renews the guard every third of the lease until aborted; notes when it was lost.
async fn renew(
    store: DynStore,
    file_id: String,
    holder: String,
    lease: Duration,
    lost: Arc<AtomicBool>,
) {
    let every = (lease / 3).max(Duration::from_millis(10));
    loop {
        tokio::time::sleep(every).await;
        match store.renew_export_guard(&file_id, &holder, lease).await {
            Ok(true) => {}
            Ok(false) => {
                lost.store(true, Ordering::Relaxed);
                return;
            }
            // A store hiccup: try again at the next tick; the lease leaves room for it.
            Err(e) => tracing::warn!(%file_id, error = %e, "could not renew the export guard"),
        }
    }
}
