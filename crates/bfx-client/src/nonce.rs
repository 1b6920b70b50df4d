//! One nonce source per API key.
//!
//! Bitfinex rejects any nonce not above the last one it accepted for the key. Two requests for one
//! key in flight at once can reach the server in either order, so the client holds the key's slot
//! from choosing the nonce until the response arrives: requests for one key are serialised, and
//! requests for different keys run in parallel.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use bfx_core::{Nonce, NonceError, next_nonce};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

#[derive(Debug, Default)]
pub struct NonceBook {
    slots: Mutex<HashMap<String, Arc<AsyncMutex<Option<Nonce>>>>>,
}

/// Exclusive use of one key until dropped; hands out that key's nonces.
#[derive(Debug)]
pub struct KeySlot(OwnedMutexGuard<Option<Nonce>>);

impl NonceBook {
    /// Waits until no other request for `key` is in flight.
    pub async fn acquire(&self, key: &str) -> KeySlot {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(slots.entry(key.to_owned()).or_default())
        };
        KeySlot(slot.lock_owned().await)
    }
}

impl KeySlot {
    /// The next nonce for this key: `max(last + 1, now in µs)`.
    pub fn allocate(&mut self) -> Result<Nonce, NonceError> {
        let nonce = next_nonce(*self.0, now_us())?;
        *self.0 = Some(nonce);
        Ok(nonce)
    }
}

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros().try_into().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nonces_increase_per_key() {
        let book = NonceBook::default();
        let mut seen = Vec::new();
        for _ in 0..100 {
            seen.push(book.acquire("k").await.allocate().unwrap());
        }
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
    }

    #[tokio::test]
    async fn one_request_per_key_at_a_time() {
        let book = Arc::new(NonceBook::default());
        let held = book.acquire("k").await;
        let other_key =
            tokio::time::timeout(std::time::Duration::from_millis(50), book.acquire("other")).await;
        assert!(other_key.is_ok(), "another key is not blocked");
        let same_key = tokio::time::timeout(std::time::Duration::from_millis(50), book.acquire("k")).await;
        assert!(same_key.is_err(), "the same key waits");
        drop(held);
        let same_key = tokio::time::timeout(std::time::Duration::from_millis(50), book.acquire("k")).await;
        assert!(same_key.is_ok());
    }
}
