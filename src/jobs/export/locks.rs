//! One export of a file at a time within a process, so that two quick events for a new file
//! cannot both take the `add` path and leave `name (1).ext` behind. Owned by the process's
//! [`super::Exports`]; a file's lock exists only while someone holds or waits for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

#[derive(Default)]
pub(crate) struct FileLocks {
    by_file: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Held while a file is exported; lets the next export of the file in on drop.
pub(crate) struct FileLock<'a> {
    locks: &'a FileLocks,
    file_id: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl FileLocks {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
        self.by_file.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until no other export of `file_id` runs in this process.
    pub(crate) async fn acquire(&self, file_id: &str) -> FileLock<'_> {
        let m = self.map().entry(file_id.to_string()).or_default().clone();
        FileLock {
            locks: self,
            file_id: file_id.to_string(),
            guard: Some(m.lock_owned().await),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map().len()
    }
}

impl Drop for FileLock<'_> {
    fn drop(&mut self) {
        let Some(guard) = self.guard.take() else {
            return;
        };
        let m = Arc::clone(OwnedMutexGuard::mutex(&guard));
        drop(guard);
        let mut map = self.locks.map();
        // The map and `m` are the only holders: nobody is waiting for this file.
        if Arc::strong_count(&m) <= 2 {
            map.remove(&self.file_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[tokio::test]
    async fn a_second_export_of_the_same_file_waits_for_the_first() {
        let locks = FileLocks::default();
        let first = locks.acquire("42").await;
        let other = locks.acquire("43").now_or_never();
        assert!(other.is_some(), "another file is not held up");
        drop(other);
        let mut second = Box::pin(locks.acquire("42"));
        assert!(
            (&mut second).now_or_never().is_none(),
            "the same file waits"
        );
        drop(first);
        let second = second.await;
        drop(second);
        assert_eq!(locks.len(), 0, "no lock is kept for files nobody exports");
    }

    #[tokio::test]
    async fn the_locks_of_two_contexts_do_not_meet() {
        let (a, b) = (FileLocks::default(), FileLocks::default());
        let _held = a.acquire("42").await;
        assert!(b.acquire("42").now_or_never().is_some());
    }
}
