//! One nonce source per API key, in this process and (with a [`NonceStore`]) across processes.
//!
//! Bitfinex rejects any nonce not above the last one it accepted for the key. Two requests for one
//! key in flight at once can reach the server in either order, so a request holds its key's slot
//! from choosing the nonce until the response arrives. The slot is an in-process lock plus, with a
//! store, the key's file lock, so requests for one key are serialised machine-wide.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use bfx_core::{Nonce, next_nonce};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::error::Error;
use crate::nonce_store::{NonceFile, NonceStore};

/// How often a waiter tries the key's file lock again.
const LOCK_POLL: Duration = Duration::from_millis(10);

/// The slots of every key this client has used, and where their nonces are persisted.
///
/// The trade-off of the file lock: one request per key at a time on the whole machine (requests
/// for different keys still run in parallel). That is the price of never letting a later nonce
/// overtake an earlier one on the wire; give programs that must run in parallel their own keys.
#[derive(Debug, Default)]
pub struct NonceBook {
    /// `None`: nonces live in memory only, and are safe only if nothing else uses the key.
    store: Option<NonceStore>,
    slots: Mutex<HashMap<String, Arc<AsyncMutex<Option<Nonce>>>>>,
}

/// Exclusive use of one key until dropped; hands out that key's nonces.
#[derive(Debug)]
pub struct KeySlot {
    /// The last nonce this process used with the key: a floor even if the file is tampered with.
    memory: OwnedMutexGuard<Option<Nonce>>,
    /// The key's locked nonce file (`None` when in memory only, or while a write is in flight).
    file: Option<NonceFile>,
    /// For errors: the file, even while `file` is taken.
    path: Option<std::path::PathBuf>,
}

impl NonceBook {
    /// Nonces in memory only.
    pub fn in_memory() -> NonceBook {
        NonceBook::default()
    }

    /// Nonces persisted in `store`, shared with every process using the same directory.
    pub fn with_store(store: NonceStore) -> NonceBook {
        NonceBook { store: Some(store), slots: Mutex::default() }
    }

    pub fn store(&self) -> Option<&NonceStore> {
        self.store.as_ref()
    }

    /// Waits until no other request for `key` is in flight, in this process or (with a store) any
    /// other. Unbounded: see [`NonceBook::acquire_within`].
    pub async fn acquire(&self, key: &str) -> Result<KeySlot, Error> {
        self.acquire_within(key, Duration::MAX).await
    }

    /// Like [`NonceBook::acquire`], but waits at most `limit` for another process's lock on the
    /// key's file (a stopped or hung `bfx` would otherwise hold every other one up for good),
    /// then fails with [`Error::NonceLockHeld`], naming the holder's pid when it recorded one.
    pub async fn acquire_within(&self, key: &str, limit: Duration) -> Result<KeySlot, Error> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(slots.entry(key.to_owned()).or_default())
        };
        let started = Instant::now();
        let memory = slot.lock_owned().await;
        let Some(store) = &self.store else {
            return Ok(KeySlot { memory, file: None, path: None });
        };
        let path = store.path_for(key);
        let deadline = started.checked_add(limit);
        // `try_lock` does not block, so this polls on the runtime (and paused time in tests).
        let file = loop {
            if let Some(file) = store.try_lock(key)? {
                break file;
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Err(Error::NonceLockHeld {
                    path: path.clone(),
                    pid: store.holder_pid(key),
                    waited: now.saturating_duration_since(started),
                });
            }
            tokio::time::sleep(LOCK_POLL).await;
        };
        store.record_holder(key);
        Ok(KeySlot { memory, file: Some(file), path: Some(path) })
    }
}

impl KeySlot {
    /// The next nonce for this key, `max(last + 1, now in µs)`, recorded (in the file, synced to
    /// disk, when there is one) before it is returned.
    pub async fn allocate(&mut self) -> Result<Nonce, Error> {
        let now = now_us();
        let floor = *self.memory;
        let nonce = match (self.file.take(), &self.path) {
            (Some(mut file), Some(path)) => {
                let (file, result) = tokio::task::spawn_blocking(move || {
                    let result = file.advance(floor, now);
                    (file, result)
                })
                .await
                .map_err(|e| task_failed(path, e))?;
                self.file = Some(file);
                result?
            }
            (None, Some(path)) => {
                return Err(task_failed(path, "an earlier nonce write was cancelled"));
            }
            (_, None) => next_nonce(floor, now)?,
        };
        *self.memory = Some(nonce);
        Ok(nonce)
    }
}

fn task_failed(path: &std::path::Path, error: impl std::fmt::Display) -> Error {
    Error::NonceFile {
        path: path.to_owned(),
        problem: "the nonce file task failed".to_owned(),
        source: std::io::Error::other(error.to_string()),
    }
}

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros().try_into().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn increasing(book: &NonceBook) {
        let mut seen = Vec::new();
        for _ in 0..100 {
            seen.push(book.acquire("k").await.unwrap().allocate().await.unwrap());
        }
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
    }

    #[tokio::test]
    async fn nonces_increase_per_key() {
        increasing(&NonceBook::in_memory()).await;
        let dir = tempfile::tempdir().unwrap();
        let book = NonceBook::with_store(NonceStore::new(dir.path()));
        increasing(&book).await;
        // A second book (another process) on the same directory continues above the first.
        let last = book.acquire("k").await.unwrap().allocate().await.unwrap();
        let other = NonceBook::with_store(NonceStore::new(dir.path()));
        assert!(other.acquire("k").await.unwrap().allocate().await.unwrap() > last);
    }

    #[tokio::test]
    async fn one_request_per_key_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        for book in [NonceBook::in_memory(), NonceBook::with_store(NonceStore::new(dir.path()))] {
            let held = book.acquire("k").await.unwrap();
            let wait = Duration::from_millis(50);
            let other_key = tokio::time::timeout(wait, book.acquire("other")).await;
            assert!(other_key.is_ok(), "another key is not blocked");
            let same_key = tokio::time::timeout(wait, book.acquire("k")).await;
            assert!(same_key.is_err(), "the same key waits");
            drop(held);
            let same_key = tokio::time::timeout(wait, book.acquire("k")).await;
            assert!(same_key.is_ok());
        }
    }

    #[tokio::test]
    async fn the_file_lock_excludes_other_books() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (
            NonceBook::with_store(NonceStore::new(dir.path())),
            NonceBook::with_store(NonceStore::new(dir.path())),
        );
        let held = a.acquire("k").await.unwrap();
        let wait = Duration::from_millis(100);
        let blocked = tokio::time::timeout(wait, b.acquire("k")).await;
        assert!(blocked.is_err(), "a second book (process) waits for the file lock");
        drop(held);
        let free = tokio::time::timeout(Duration::from_secs(5), b.acquire("k")).await;
        assert!(matches!(free, Ok(Ok(_))));
    }

    /// A `bfx` stopped while holding the key's lock (here: another book holding it) does not
    /// hold up the next one for good: it gives up within its limit, naming the holder.
    #[tokio::test(start_paused = true)]
    async fn a_held_file_lock_fails_within_the_limit_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (
            NonceBook::with_store(NonceStore::new(dir.path())),
            NonceBook::with_store(NonceStore::new(dir.path())),
        );
        let _held = a.acquire("k").await.unwrap();
        let limit = Duration::from_secs(3);
        let started = Instant::now();
        let err = b.acquire_within("k", limit).await.unwrap_err();
        let waited = started.elapsed();
        assert!(waited >= limit && waited < limit + Duration::from_secs(1), "{waited:?}");
        let pid = std::process::id();
        assert!(
            matches!(&err, Error::NonceLockHeld { pid: Some(p), path, .. }
                if *p == pid && *path == NonceStore::new(dir.path()).path_for("k")),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("another bfx process") && text.contains(&format!("pid {pid}")), "{text}");
    }
}
