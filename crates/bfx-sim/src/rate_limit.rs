//! Per client IP, per endpoint rate limits: a sliding window, then a block.
//!
//! Bitfinex budgets requests per minute per IP for each endpoint and, when one is exceeded, blocks
//! that IP on that endpoint (only) for a while, answering HTTP 429. Time is an input (`now`), so
//! the rules are tested without a clock; the server passes `tokio::time::Instant::now()`.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use tokio::time::Instant;

use crate::endpoint::Endpoint;
use crate::state::Limits;

/// Past this many tracked (IP, endpoint) pairs, idle ones are dropped.
const PRUNE_AT: usize = 4096;

#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    entries: HashMap<(IpAddr, Endpoint), Budget>,
}

#[derive(Debug, Default)]
struct Budget {
    /// Admitted requests still inside the window, oldest first.
    admitted: VecDeque<Instant>,
    blocked_until: Option<Instant>,
}

impl RateLimiter {
    /// Admits a request, or says how long the IP stays blocked on this endpoint.
    ///
    /// The request that exceeds the budget starts a block of `limits.block`; requests during the
    /// block are refused without extending it. The block ends with a fresh budget (the history is
    /// dropped), so a block shorter than the window does not re-block at once.
    pub(crate) fn admit(
        &mut self,
        ip: IpAddr,
        endpoint: Endpoint,
        limits: &Limits,
        now: Instant,
    ) -> Result<(), Duration> {
        if self.entries.len() >= PRUNE_AT {
            self.prune(limits, now);
        }
        let budget = self.entries.entry((ip, endpoint)).or_default();
        if let Some(until) = budget.blocked_until {
            if until > now {
                return Err(until - now);
            }
            budget.blocked_until = None;
        }
        while budget.admitted.front().is_some_and(|t| now.saturating_duration_since(*t) >= limits.window) {
            budget.admitted.pop_front();
        }
        if budget.admitted.len() >= limits.budget(endpoint) as usize {
            budget.admitted.clear();
            budget.blocked_until = Some(now + limits.block);
            return Err(limits.block);
        }
        budget.admitted.push_back(now);
        Ok(())
    }

    fn prune(&mut self, limits: &Limits, now: Instant) {
        self.entries.retain(|_, budget| {
            budget.blocked_until.is_some_and(|until| until > now)
                || budget.admitted.back().is_some_and(|t| now.saturating_duration_since(*t) < limits.window)
        });
    }
}

/// The `Retry-After` value for a remaining block: whole seconds, rounded up.
pub(crate) fn retry_after_secs(remaining: Duration) -> u64 {
    remaining.as_nanos().div_ceil(1_000_000_000).try_into().unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::net::Ipv4Addr;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

    fn limits(budget: u32, window_secs: u64, block_secs: u64) -> Limits {
        Limits {
            window: Duration::from_secs(window_secs),
            block: Duration::from_secs(block_secs),
            budgets: BTreeMap::from([(Endpoint::Wallets, budget)]),
        }
    }

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn budget_then_block_then_fresh_budget() {
        let limits = limits(3, 1, 2);
        let mut limiter = RateLimiter::default();
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(limiter.admit(A, Endpoint::Wallets, &limits, t0 + ms(100 * i)), Ok(()));
        }
        assert_eq!(limiter.admit(A, Endpoint::Wallets, &limits, t0 + ms(300)), Err(ms(2000)));
        // During the block: refused, and the block is not extended.
        assert_eq!(limiter.admit(A, Endpoint::Wallets, &limits, t0 + ms(1300)), Err(ms(1000)));
        assert_eq!(limiter.admit(A, Endpoint::Wallets, &limits, t0 + ms(2290)), Err(ms(10)));
        // Other endpoints and other IPs are unaffected.
        assert_eq!(limiter.admit(A, Endpoint::Permissions, &limits, t0 + ms(1000)), Ok(()));
        assert_eq!(limiter.admit(B, Endpoint::Wallets, &limits, t0 + ms(1000)), Ok(()));
        // After the block: a full budget again.
        for i in 0..3 {
            assert_eq!(limiter.admit(A, Endpoint::Wallets, &limits, t0 + ms(2300 + 10 * i)), Ok(()));
        }
        assert!(limiter.admit(A, Endpoint::Wallets, &limits, t0 + ms(2400)).is_err());
    }

    #[test]
    fn window_slides() {
        let limits = limits(2, 10, 60);
        let mut limiter = RateLimiter::default();
        let t0 = Instant::now();
        assert_eq!(limiter.admit(A, Endpoint::Wallets, &limits, t0), Ok(()));
        assert_eq!(limiter.admit(A, Endpoint::Wallets, &limits, t0 + ms(5000)), Ok(()));
        // The first request leaves the window at t0 + 10 s, freeing one slot.
        assert_eq!(limiter.admit(A, Endpoint::Wallets, &limits, t0 + ms(10_000)), Ok(()));
        assert_eq!(limiter.admit(A, Endpoint::Wallets, &limits, t0 + ms(14_900)), Err(ms(60_000)));
    }

    #[test]
    fn zero_budget_refuses_everything() {
        let limits = limits(0, 60, 60);
        let mut limiter = RateLimiter::default();
        assert_eq!(limiter.admit(A, Endpoint::Wallets, &limits, Instant::now()), Err(ms(60_000)));
    }

    #[test]
    fn default_budgets_apply() {
        let limits = Limits::default();
        let mut limiter = RateLimiter::default();
        let t0 = Instant::now();
        for _ in 0..30 {
            assert_eq!(limiter.admit(A, Endpoint::Tickers, &limits, t0), Ok(()));
        }
        assert_eq!(limiter.admit(A, Endpoint::Tickers, &limits, t0), Err(ms(60_000)));
        for _ in 0..90 {
            assert_eq!(limiter.admit(A, Endpoint::Conf, &limits, t0), Ok(()));
        }
        assert!(limiter.admit(A, Endpoint::Conf, &limits, t0).is_err());
    }

    #[test]
    fn idle_entries_are_pruned() {
        let limits = limits(5, 1, 1);
        let mut limiter = RateLimiter::default();
        let t0 = Instant::now();
        for i in 0..PRUNE_AT as u32 {
            let ip = IpAddr::V4(Ipv4Addr::from(i));
            assert_eq!(limiter.admit(ip, Endpoint::Wallets, &limits, t0), Ok(()));
        }
        assert_eq!(limiter.entries.len(), PRUNE_AT);
        assert_eq!(limiter.admit(A, Endpoint::Wallets, &limits, t0 + ms(5000)), Ok(()));
        assert_eq!(limiter.entries.len(), 1);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(ms(2000)), 2);
        assert_eq!(retry_after_secs(ms(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_nanos(1)), 1);
        assert_eq!(retry_after_secs(Duration::ZERO), 0);
    }
}
