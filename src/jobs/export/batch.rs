//! Commit batching for concurrent exports. Exports upload their bytes into closed upload
//! sessions in parallel (data transfer takes no namespace lock) and hand the commit to the
//! [`Batcher`], which collects closed sessions for a short window and commits them in one
//! `upload_session/finish_batch_v2`, one batch at a time per process (the batcher lives in the
//! job context), then answers each waiter with its own entry. That keeps concurrent exports from fighting over the namespace lock
//! (`too_many_write_operations`).
//!
//! A batch closes early when every export currently transferring is waiting for its commit, so
//! a lone export (the CLI) pays no window. Entries that fail with lock contention are put back
//! for the next batch a few times before their export is told to retry. An entry whose session
//! is gone because a repeated batch had already committed it is answered with the file in place.
//! Each entry holds its file's export guard until it is answered, even when its export went away.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;

use super::guard::ExportGuard;
use super::{carries_stamp, file_holding};
use crate::dropbox::{CommitInfo, DropboxClient, FileMetadata, UploadedSession, MAX_BATCH};
use crate::jobs::JobError;
use crate::store::path_key;

/// How long a batch stays open for more entries after its first one arrives.
const WINDOW: Duration = Duration::from_millis(100);
/// How often one entry is put back after a retryable per-entry failure.
const ENTRY_RETRIES: u32 = 3;

type Answer = Result<FileMetadata, JobError>;

struct Pending {
    client: DropboxClient,
    session: UploadedSession,
    commit: CommitInfo,
    attempts: u32,
    reply: oneshot::Sender<Answer>,
    /// The file's export guard, held until the entry is answered: even when its export has
    /// gone away, no other export of the file starts while this commit may still land.
    guard: ExportGuard,
}

#[derive(Default)]
struct State {
    pending: Vec<Pending>,
    /// Exports between the start of their transfer and their commit answer.
    active: usize,
    flusher_running: bool,
}

/// Collects closed sessions and commits them in batches. One per job context.
#[derive(Default)]
pub struct Batcher {
    state: Mutex<State>,
    wake: Notify,
}

/// Registration of an export that will commit through the batcher; unregisters on drop.
pub struct Active {
    batcher: Arc<Batcher>,
}

impl Drop for Active {
    fn drop(&mut self) {
        {
            let mut st = self.batcher.lock();
            st.active = st.active.saturating_sub(1);
        }
        // The flusher may have been waiting for this export.
        self.batcher.wake.notify_one();
    }
}

impl Batcher {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Announces an export that is about to transfer and will later call [`Batcher::commit`].
    pub fn register(self: &Arc<Self>) -> Active {
        self.lock().active += 1;
        Active {
            batcher: Arc::clone(self),
        }
    }

    /// Commits `session` at `commit` in the next batch and waits for its own result. The entry
    /// keeps `guard` until it is answered, whether or not anyone still waits for it.
    pub(crate) async fn commit(
        self: &Arc<Self>,
        client: &DropboxClient,
        session: UploadedSession,
        commit: CommitInfo,
        guard: ExportGuard,
    ) -> Answer {
        let (tx, rx) = oneshot::channel();
        self.push(Pending {
            client: client.clone(),
            session,
            commit,
            attempts: 0,
            reply: tx,
            guard,
        });
        rx.await
            .unwrap_or_else(|_| Err(JobError::retry("export commit batcher stopped")))
    }

    fn push(self: &Arc<Self>, p: Pending) {
        let start = {
            let mut st = self.lock();
            st.pending.push(p);
            !std::mem::replace(&mut st.flusher_running, true)
        };
        if start {
            let me = Arc::clone(self);
            tokio::spawn(async move { me.flush_loop().await });
        } else {
            self.wake.notify_one();
        }
    }

    /// Runs while there is anything to commit; exactly one per batcher at a time.
    async fn flush_loop(self: Arc<Self>) {
        loop {
            let deadline = Instant::now() + WINDOW;
            loop {
                {
                    let mut st = self.lock();
                    if st.pending.is_empty() {
                        st.flusher_running = false;
                        return;
                    }
                    let everyone_waiting = st.pending.len() >= st.active.max(1);
                    if everyone_waiting || st.pending.len() >= MAX_BATCH {
                        break;
                    }
                }
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep_until(deadline) => break,
                }
            }
            let batch: Vec<Pending> = {
                let mut st = self.lock();
                let n = st.pending.len().min(MAX_BATCH);
                st.pending.drain(..n).collect()
            };
            self.commit_batch(batch).await;
        }
    }

    async fn commit_batch(&self, batch: Vec<Pending>) {
        let Some(client) = batch.first().map(|p| p.client.clone()) else {
            return;
        };
        let entries = batch
            .iter()
            .map(|p| (p.session.clone(), p.commit.clone()))
            .collect();
        let n = batch.len();
        tracing::debug!(entries = n, "committing export batch");
        match client.finish_sessions(entries).await {
            Ok(results) => {
                let mut again = Vec::new();
                // Paths an entry of this batch was answered with because its bytes were in
                // place: two entries with the same bytes aimed at one path (Dropbox put one of
                // them beside it) would otherwise both take the one file there, neither being
                // recorded yet.
                let mut taken: HashSet<String> = HashSet::new();
                for (p, r) in batch.into_iter().zip(results) {
                    match r {
                        Err(e) if e.is_retryable() && p.attempts < ENTRY_RETRIES => {
                            tracing::info!(path = %p.commit.path, error = %e, "batch entry will be retried");
                            again.push(Pending {
                                attempts: p.attempts + 1,
                                ..p
                            });
                        }
                        // The session is gone: a batch repeated after its first answer was
                        // lost had already committed it. If our bytes are at the path, and
                        // that file is no other export's, that is the answer; otherwise the
                        // export starts again (a first export then finds its own file by its
                        // intent, wherever autorename put it).
                        Err(e) if e.has_tag("lookup_failed") => {
                            let found = match in_place(&client, &p).await {
                                Some(meta) if taken.insert(path_key(&p.commit.path)) => Some(meta),
                                _ => None,
                            };
                            let answer = match found {
                                Some(meta) => {
                                    tracing::info!(path = %p.commit.path, "commit answer was lost; the file is in place");
                                    Ok(meta)
                                }
                                None => Err(JobError::retry(e.to_string())),
                            };
                            let _ = p.reply.send(answer);
                        }
                        r => {
                            let _ = p.reply.send(r.map_err(JobError::from));
                        }
                    }
                }
                if !again.is_empty() {
                    // Give the namespace a moment before the entries join the next batch.
                    tokio::time::sleep(WINDOW).await;
                    self.lock().pending.extend(again);
                }
            }
            Err(e) => {
                let err = JobError::from(e);
                for p in batch {
                    let _ = p.reply.send(Err(copy(&err)));
                }
            }
        }
    }
}

/// The file at the entry's path, if it holds the entry's bytes and no other export's record
/// names it (a failure to look counts as not in place: the export then starts again).
async fn in_place(client: &DropboxClient, p: &Pending) -> Option<FileMetadata> {
    let meta = file_holding(client, &p.commit.path, &p.session.content_hash)
        .await
        .ok()
        .flatten()
        .filter(|m| carries_stamp(m, p.commit.client_modified.as_deref()))?;
    match p.guard.held_by_another(&p.commit.path).await {
        Ok(false) => Some(meta),
        _ => None,
    }
}

/// `JobError` is not `Clone` (its payload is plain data, so this is exact).
fn copy(e: &JobError) -> JobError {
    match e {
        JobError::Retry { message, after } => JobError::Retry {
            message: message.clone(),
            after: *after,
        },
        JobError::Permanent { message, result } => JobError::Permanent {
            message: message.clone(),
            result: result.clone(),
        },
    }
}
