//! The WebSocket connection budget: Bitfinex allows 5 new authenticated connections per 15 s per
//! IP, so every connection attempt of every stream of a client (and its clones) takes a place in
//! one sliding-window log, waiting when the window is full. This staggers reconnects of many
//! accounts after an outage instead of tripping the limit.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Connection attempts allowed per window, shared by clones of a client.
#[derive(Debug)]
pub(crate) struct ConnectionGate {
    limit: usize,
    window: Duration,
    /// When each attempt still in the window was let through, oldest first.
    opened: Mutex<VecDeque<Instant>>,
}

impl ConnectionGate {
    /// Bitfinex's budget for `wss://api.bitfinex.com`.
    pub(crate) const BITFINEX: (u32, Duration) = (5, Duration::from_secs(15));

    /// `connections` per `window` (0 is taken as 1: never to connect would hang).
    pub(crate) fn new(connections: u32, window: Duration) -> ConnectionGate {
        let limit = usize::try_from(connections.max(1)).unwrap_or(usize::MAX);
        ConnectionGate { limit, window, opened: Mutex::new(VecDeque::new()) }
    }

    /// Waits until a connection may be opened, and counts it.
    pub(crate) async fn admit(&self) {
        loop {
            let retry_at = {
                let mut opened = self.opened.lock().unwrap_or_else(PoisonError::into_inner);
                let now = Instant::now();
                while opened.front().is_some_and(|&at| at + self.window <= now) {
                    opened.pop_front();
                }
                if opened.len() < self.limit {
                    opened.push_back(now);
                    return;
                }
                match opened.front() {
                    Some(&oldest) => oldest + self.window,
                    None => return,
                }
            };
            tracing::debug!(
                wait_ms = (retry_at - Instant::now()).as_millis(),
                "waiting for the connection budget"
            );
            tokio::time::sleep_until(retry_at).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn at_most_five_per_fifteen_seconds() {
        let (n, window) = ConnectionGate::BITFINEX;
        let gate = ConnectionGate::new(n, window);
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..12 {
            gate.admit().await;
            times.push(start.elapsed());
        }
        assert!(times[..5].iter().all(|t| *t == Duration::ZERO), "{times:?}");
        assert!(times[5..10].iter().all(|t| *t == window), "{times:?}");
        assert!(times[10..].iter().all(|t| *t == window * 2), "{times:?}");
        // Any 15 s window holds at most five.
        for (i, t) in times.iter().enumerate() {
            assert!(times[i..].iter().filter(|u| **u < *t + window).count() <= 5);
        }
    }
}
