//! Transfer threads: every export's byte pump (presigned download → content hash → upload
//! session) runs on one of a few dedicated single-threaded runtimes, one per core, started on
//! the first export of the job context that owns them and stopped when it is dropped.
//!
//! Why not the main runtime: there, the download's connection task, the export task and the
//! upload's connection tasks are woken on whichever worker thread polled the I/O driver, so
//! every piece of a file is received on one core, hashed on another and sent from a third
//! place, paying a cross-thread wake-up and a cache miss per piece. On one thread it stays in
//! that core's cache: the 1 GiB export benchmark spends about a fifth less CPU per byte.
//! Everything else a job does (store, batch commits, DocSpace API calls) stays on the main
//! runtime. Connections opened by a transfer belong to its thread's runtime; each thread has
//! its own connection pool, so that a transfer never borrows a connection served by another
//! thread.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The transfer threads of one job context, started on first use.
#[derive(Default)]
pub(crate) struct TransferThreads {
    started: OnceLock<Started>,
}

struct Started {
    threads: Vec<TransferThread>,
    next: AtomicUsize,
    /// For transfers on the caller's runtime when no thread could be started.
    fallback: reqwest::Client,
}

/// One thread's runtime and the HTTP client whose connections live on it. Dropping it stops
/// the thread (its runtime, with whatever still runs there, is dropped on that thread).
struct TransferThread {
    handle: Handle,
    http: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

impl TransferThreads {
    fn started(&self) -> &Started {
        self.started.get_or_init(|| {
            let n = std::thread::available_parallelism().map_or(1, |n| n.get());
            Started {
                threads: (0..n).filter_map(start_thread).collect(),
                next: AtomicUsize::new(0),
                fallback: crate::provider::http_client(),
            }
        })
    }

    /// Runs the future `make` builds, given the HTTP client to use, on the next transfer
    /// thread (round robin), or on the caller's runtime if no transfer thread could be started.
    /// Dropping the returned guard cancels the transfer.
    pub(crate) fn spawn<F>(&self, make: impl FnOnce(reqwest::Client) -> F) -> Transfer<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let t = self.started();
        let handle = if t.threads.is_empty() {
            tokio::spawn(make(t.fallback.clone()))
        } else {
            let i = t.next.fetch_add(1, Ordering::Relaxed) % t.threads.len();
            let thread = &t.threads[i];
            thread.handle.spawn(make(thread.http.clone()))
        };
        Transfer(handle)
    }
}

fn start_thread(i: usize) -> Option<TransferThread> {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start a transfer runtime");
            return None;
        }
    };
    let handle = rt.handle().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let started = std::thread::Builder::new()
        .name(format!("transfer-{i}"))
        .spawn(move || {
            // Returns when the sender is dropped; the runtime is then dropped here, off any
            // async context.
            let _ = rt.block_on(stopped);
        });
    match started {
        Ok(_) => Some(TransferThread {
            handle,
            http: crate::provider::http_client(),
            _stop: stop,
        }),
        Err(e) => {
            tracing::error!(error = %e, "cannot start a transfer thread");
            None
        }
    }
}

/// A running transfer; awaiting it gives the result, dropping it aborts the transfer.
pub struct Transfer<T>(JoinHandle<T>);

impl<T> Transfer<T> {
    pub async fn join(mut self) -> Result<T, tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl<T> Drop for Transfer<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_elsewhere_and_returns_the_result() {
        let threads = TransferThreads::default();
        let caller = std::thread::current().id();
        let t = threads.spawn(|_| async move { (std::thread::current().id() != caller, 6 * 7) });
        let (elsewhere, v) = t.join().await.expect("join");
        assert!(elsewhere);
        assert_eq!(v, 42);
    }

    #[tokio::test]
    async fn dropping_the_guard_cancels_the_transfer() {
        let threads = TransferThreads::default();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let t = threads.spawn(|_| async move {
            let _tx = tx; // dropped when the task is cancelled
            std::future::pending::<()>().await
        });
        drop(t);
        assert!(rx.await.is_err(), "the transfer task was dropped");
    }

    #[tokio::test]
    async fn dropping_the_threads_stops_what_runs_there() {
        let threads = TransferThreads::default();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let t = threads.spawn(|_| async move {
            let _tx = tx; // dropped with the thread's runtime
            std::future::pending::<()>().await
        });
        std::mem::forget(t); // not cancelled through the guard
        drop(threads);
        assert!(rx.await.is_err(), "the thread's runtime was dropped");
    }
}
