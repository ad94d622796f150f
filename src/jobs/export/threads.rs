//! Transfer threads: every export's byte pump (presigned download → content hash → upload
//! session) runs on one of a few dedicated single-threaded runtimes, one per core, started on
//! first use and kept for the life of the process.
//!
//! Why not the main runtime: there, the download's connection task, the export task and the
//! upload's connection tasks are woken on whichever worker thread polled the I/O driver, so
//! every piece of a file is received on one core, hashed on another and sent from a third
//! place, paying a cross-thread wake-up and a cache miss per piece. On one thread it stays in
//! that core's cache: the 1 GiB export benchmark spends about a fifth less CPU per byte.
//! Everything else a job does (store, batch commits, DocSpace API calls) stays on the main
//! runtime. Connections opened by a transfer belong to its thread's runtime, which never
//! stops; each thread has its own connection pool, so that a transfer never borrows a
//! connection served by another thread.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

struct Threads {
    /// Each thread's runtime and the HTTP client whose connections live on it.
    threads: Vec<(Handle, reqwest::Client)>,
    next: AtomicUsize,
    /// For transfers on the caller's runtime when no thread could be started.
    fallback: reqwest::Client,
}

static THREADS: OnceLock<Threads> = OnceLock::new();

fn threads() -> &'static Threads {
    THREADS.get_or_init(|| {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = (0..n).filter_map(start_thread).collect::<Vec<_>>();
        Threads {
            threads,
            next: AtomicUsize::new(0),
            fallback: crate::jobs::http_client(),
        }
    })
}

fn start_thread(i: usize) -> Option<(Handle, reqwest::Client)> {
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
    let started = std::thread::Builder::new()
        .name(format!("transfer-{i}"))
        .spawn(move || rt.block_on(std::future::pending::<()>()));
    match started {
        Ok(_) => Some((handle, crate::jobs::http_client())),
        Err(e) => {
            tracing::error!(error = %e, "cannot start a transfer thread");
            None
        }
    }
}

/// Runs the future `make` builds, given the HTTP client to use, on the next transfer thread
/// (round robin), or on the caller's runtime if no transfer thread could be started.
/// Dropping the returned guard cancels the transfer.
pub fn spawn<F>(make: impl FnOnce(reqwest::Client) -> F) -> Transfer<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let t = threads();
    let handle = if t.threads.is_empty() {
        tokio::spawn(make(t.fallback.clone()))
    } else {
        let (rt, http) = &t.threads[t.next.fetch_add(1, Ordering::Relaxed) % t.threads.len()];
        rt.spawn(make(http.clone()))
    };
    Transfer(handle)
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
        let caller = std::thread::current().id();
        let t = spawn(|_| async move { (std::thread::current().id() != caller, 6 * 7) });
        let (elsewhere, v) = t.join().await.expect("join");
        assert!(elsewhere);
        assert_eq!(v, 42);
    }

    #[tokio::test]
    async fn dropping_the_guard_cancels_the_transfer() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let t = spawn(|_| async move {
            let _tx = tx; // dropped when the task is cancelled
            std::future::pending::<()>().await
        });
        drop(t);
        assert!(rx.await.is_err(), "the transfer task was dropped");
    }
}
