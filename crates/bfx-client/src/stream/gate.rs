//! The WebSocket connection budget: Bitfinex allows 5 new authenticated connections per 15 s per
//! IP, so every connection attempt of every stream of a client (and its clones) takes a place in
//! one sliding-window log of places, each taken in turn: now when the window has room, else the
//! earliest time it will. This staggers the connects of many accounts (at start, or after an
//! outage) instead of tripping the limit, and tells each one when its turn comes, so that an
//! account stream can poll REST while it waits (see the supervisor).

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Connection attempts allowed per window, shared by clones of a client.
#[derive(Debug)]
pub(crate) struct ConnectionGate {
    limit: usize,
    window: Duration,
    /// The places taken that are still in the window or ahead, in order.
    taken: Mutex<VecDeque<Instant>>,
}

impl ConnectionGate {
    /// Bitfinex's budget for `wss://api.bitfinex.com`.
    pub(crate) const BITFINEX: (u32, Duration) = (5, Duration::from_secs(15));

    /// `connections` per `window` (0 is taken as 1: never to connect would hang).
    pub(crate) fn new(connections: u32, window: Duration) -> ConnectionGate {
        let limit = usize::try_from(connections.max(1)).unwrap_or(usize::MAX);
        ConnectionGate { limit, window, taken: Mutex::new(VecDeque::new()) }
    }

    /// Takes the earliest place the budget allows, after every place already taken (first come,
    /// first served), and returns when it is: now, or when the window has room for it. The
    /// caller opens its connection then (an unused place is simply lost).
    pub(crate) fn reserve(&self) -> Instant {
        let mut taken = self.taken.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        while taken.front().is_some_and(|&at| at + self.window <= now) {
            taken.pop_front();
        }
        // The `limit`-th place back must have left the window; places never go back in time.
        let room = taken.len().checked_sub(self.limit).and_then(|i| taken.get(i)).map(|&at| at + self.window);
        let at = [Some(now), room, taken.back().copied()].into_iter().flatten().max().unwrap_or(now);
        taken.push_back(at);
        at
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
            tokio::time::sleep_until(gate.reserve()).await;
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

    #[tokio::test(start_paused = true)]
    async fn places_are_given_in_turn_without_waiting() {
        let (n, window) = ConnectionGate::BITFINEX;
        let gate = ConnectionGate::new(n, window);
        let start = Instant::now();
        // 1 000 accounts asking at once: five a window, the last after 199 windows (≈ 50 min).
        let places: Vec<Duration> = (0..1000).map(|_| gate.reserve() - start).collect();
        assert_eq!(Instant::now(), start, "reserving does not wait");
        for (i, place) in places.iter().enumerate() {
            assert_eq!(*place, window * u32::try_from(i / 5).unwrap(), "place {i}");
        }
        // Once the queue has drained and a window passed, a place is now again.
        tokio::time::advance(window * 200).await;
        assert_eq!(gate.reserve(), Instant::now());
        // A place is never before one already taken, even when the window would allow it.
        let gate = ConnectionGate::new(2, window);
        let first = gate.reserve();
        let ahead = [gate.reserve(), gate.reserve(), gate.reserve()];
        assert_eq!(ahead.map(|at| at - first), [Duration::ZERO, window, window]);
        tokio::time::advance(window * 3).await;
        assert_eq!(gate.reserve(), Instant::now());
    }
}
