//! The per-IP limit on new WebSocket connections: `wss://api.bitfinex.com` accepts 5 per 15 s.
//!
//! A sliding window of accepted connections per client IP; an attempt over the limit is refused
//! (HTTP 429) and not counted, so a client that waits for the oldest one to leave gets in. Time is
//! an input (`now`), so the rule is tested without a clock.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use tokio::time::Instant;

/// Past this many tracked IPs, idle ones are dropped.
const PRUNE_AT: usize = 4096;

#[derive(Debug, Default)]
pub(crate) struct ConnectionLimiter {
    /// Connections accepted inside the window, oldest first, per client IP.
    accepted: HashMap<IpAddr, VecDeque<Instant>>,
}

impl ConnectionLimiter {
    /// Admits a new connection from `ip`, or says how long until one more would be admitted.
    pub(crate) fn admit(
        &mut self,
        ip: IpAddr,
        limit: u32,
        window: Duration,
        now: Instant,
    ) -> Result<(), Duration> {
        if self.accepted.len() >= PRUNE_AT {
            self.accepted
                .retain(|_, times| times.back().is_some_and(|t| now.saturating_duration_since(*t) < window));
        }
        let times = self.accepted.entry(ip).or_default();
        while times.front().is_some_and(|t| now.saturating_duration_since(*t) >= window) {
            times.pop_front();
        }
        if times.len() >= limit as usize {
            let wait = times.front().map_or(window, |oldest| window.saturating_sub(now - *oldest));
            return Err(wait);
        }
        times.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    const WINDOW: Duration = Duration::from_secs(15);

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn five_per_window_then_refused_until_the_oldest_leaves() {
        let mut limiter = ConnectionLimiter::default();
        let t0 = Instant::now();
        for i in 0..5 {
            assert_eq!(limiter.admit(A, 5, WINDOW, t0 + ms(1000 * i)), Ok(()));
        }
        assert_eq!(limiter.admit(A, 5, WINDOW, t0 + ms(5000)), Err(ms(10_000)));
        // Refusals are not counted: the oldest still leaves at t0 + 15 s.
        assert_eq!(limiter.admit(A, 5, WINDOW, t0 + ms(14_000)), Err(ms(1000)));
        assert_eq!(limiter.admit(B, 5, WINDOW, t0 + ms(14_000)), Ok(()));
        assert_eq!(limiter.admit(A, 5, WINDOW, t0 + ms(15_000)), Ok(()));
        assert_eq!(limiter.admit(A, 5, WINDOW, t0 + ms(15_500)), Err(ms(500)));
    }

    #[test]
    fn a_zero_limit_refuses_everything() {
        let mut limiter = ConnectionLimiter::default();
        assert_eq!(limiter.admit(A, 0, WINDOW, Instant::now()), Err(WINDOW));
    }

    #[test]
    fn idle_ips_are_pruned() {
        let mut limiter = ConnectionLimiter::default();
        let t0 = Instant::now();
        for i in 0..PRUNE_AT as u32 {
            assert_eq!(limiter.admit(IpAddr::V4(Ipv4Addr::from(i)), 5, WINDOW, t0), Ok(()));
        }
        assert_eq!(limiter.admit(A, 5, WINDOW, t0 + WINDOW), Ok(()));
        assert_eq!(limiter.accepted.len(), 1);
    }
}
