//! One nonce source per API key, in this process and (with a [`NonceStore`]) across processes.
//!
//! Bitfinex rejects any nonce not above the last one it accepted for the key. Two requests for one
//! key in flight at once can reach the server in either order, so a request holds its key's slot
//! from choosing the nonce until the response arrives. The slot is an in-process lock plus, with a
//! store, the key's file lock, so requests for one key are serialised machine-wide.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use bfx_core::{Nonce, next_nonce};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::error::Error;
use crate::nonce_store::{NonceFile, NonceStore};

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
    /// other.
    pub async fn acquire(&self, key: &str) -> Result<KeySlot, Error> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(slots.entry(key.to_owned()).or_default())
        };
        let memory = slot.lock_owned().await;
        let Some(store) = &self.store else {
            return Ok(KeySlot { memory, file: None, path: None });
        };
        let path = store.path_for(key);
        let (store, owned_key) = (store.clone(), key.to_owned());
        // `File::lock` blocks while another process holds the key; keep it off the runtime.
        let file = tokio::task::spawn_blocking(move || store.lock(&owned_key))
            .await
            .map_err(|e| task_failed(&path, e))??;
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
    use std::time::Duration;

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
}
