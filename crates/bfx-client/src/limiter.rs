//! Client-side rate limits: Bitfinex's per-endpoint budgets (per IP, so shared by every account a
//! process serves) kept with an exact sliding-window log, and the block Bitfinex imposes on an
//! endpoint after a 429. A token bucket is not used: a full burst plus refills can exceed what a
//! sliding 60 s window allows, and Bitfinex answers that with a 60 s block.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::ErrorKind;

/// How often a waiter looks again when the budget is full of requests still in flight.
const IN_FLIGHT_POLL: Duration = Duration::from_millis(25);
/// The longest block the client applies or waits out after a 429 (Bitfinex documents 10–60 s,
/// 63 s was observed): a longer `Retry-After` is clamped to this, and not waited out.
pub(crate) const LONGEST_BLOCK_WAIT: Duration = Duration::from_secs(120);
/// Budget waits shorter than this are not reported to the observer.
pub(crate) const REPORT_WAITS_FROM: Duration = Duration::from_secs(1);

/// Requests allowed per `window`, per endpoint name (`auth/r/wallets`, `tickers`, `conf`, …).
/// Endpoints without an entry are not limited by the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    pub window: Duration,
    pub per_endpoint: BTreeMap<String, u32>,
}

impl RateLimits {
    /// Bitfinex's documented budgets, per minute (spec: "Rate limits").
    pub fn bitfinex() -> RateLimits {
        let per_endpoint = [
            ("auth/r/wallets", 90),
            ("auth/r/permissions", 90),
            ("auth/r/info/user", 90),
            ("auth/r/positions", 90),
            ("auth/r/ledgers/hist", 90),
            ("conf", 90),
            ("ticker", 90),
            ("tickers", 30),
            ("platform/status", 30),
            // Every key and section of `candles/…`: "30 reqs/min" on the current docs page.
            ("candles", 30),
        ];
        RateLimits {
            window: Duration::from_secs(60),
            per_endpoint: per_endpoint.into_iter().map(|(name, n)| (name.to_owned(), n)).collect(),
        }
    }

    /// The same limits with `endpoint` allowed `limit` requests per window.
    pub fn with_limit(mut self, endpoint: &str, limit: u32) -> RateLimits {
        self.per_endpoint.insert(endpoint.to_owned(), limit);
        self
    }
}

impl Default for RateLimits {
    fn default() -> RateLimits {
        RateLimits::bitfinex()
    }
}

/// A wait the client is about to sit through, for a countdown (see `ClientBuilder::on_wait`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaitEvent {
    pub endpoint: &'static str,
    /// When the wait ends.
    pub until: std::time::Instant,
    /// How long the wait is, from when the event is sent.
    pub wait: Duration,
    pub reason: WaitReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitReason {
    /// The client's own budget for the endpoint is used up (reported from one second up).
    Budget,
    /// Bitfinex answered 429: the IP is blocked on the endpoint until `Retry-After` (or 60 s).
    RateLimited,
    /// Backing off before retrying after a transient failure (reported from one second up).
    Retry { attempt: u32, kind: ErrorKind },
}

/// The observer set with `ClientBuilder::on_wait`.
#[derive(Clone)]
pub(crate) struct Observer(pub(crate) Arc<dyn Fn(WaitEvent) + Send + Sync>);

impl Observer {
    pub(crate) fn report(&self, endpoint: &'static str, until: Instant, reason: WaitReason) {
        let wait = until.saturating_duration_since(Instant::now());
        (self.0)(WaitEvent { endpoint, until: until.into_std(), wait, reason });
    }
}

impl fmt::Debug for Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Observer(..)")
    }
}

/// The budgets and blocks of every endpoint, shared by all clones of a client.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    limits: RateLimits,
    logs: Mutex<HashMap<&'static str, Log>>,
    next_id: AtomicU64,
}

/// One endpoint's sliding-window log and block.
#[derive(Debug, Default)]
struct Log {
    sends: VecDeque<Sent>,
    blocked_until: Option<Instant>,
}

/// A logged request. Bitfinex counts a request when it arrives, some time between our send and
/// our reading of the response, so a request counts from its send and until `window` after it
/// finished: never earlier than the server's count ends.
#[derive(Debug)]
struct Sent {
    id: u64,
    /// `None` while in flight.
    finished: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Go,
    /// Wait until `until` (or, when `None`, until a request in flight finishes).
    Wait {
        until: Option<Instant>,
        reason: WaitReason,
    },
}

impl Log {
    fn verdict(&mut self, limit: Option<u32>, window: Duration, now: Instant) -> Verdict {
        match self.blocked_until {
            Some(until) if until > now => {
                return Verdict::Wait { until: Some(until), reason: WaitReason::RateLimited };
            }
            Some(_) => self.blocked_until = None,
            None => {}
        }
        self.sends.retain(|s| s.finished.is_none_or(|t| t + window > now));
        // A budget of 0 would never send; treat it as 1 rather than hang.
        let Some(limit) = limit.map(|l| l.max(1) as usize) else { return Verdict::Go };
        if self.sends.len() < limit {
            return Verdict::Go;
        }
        // Enough of the finished requests must leave the window to bring the count below `limit`.
        let mut expiries: Vec<Instant> =
            self.sends.iter().filter_map(|s| s.finished).map(|t| t + window).collect();
        expiries.sort_unstable();
        let until = expiries.get(self.sends.len() - limit).copied();
        Verdict::Wait { until, reason: WaitReason::Budget }
    }
}

/// A request logged as sent; when dropped, it is logged as finished.
#[derive(Debug)]
pub(crate) struct SendTicket {
    limiter: Arc<RateLimiter>,
    endpoint: &'static str,
    id: Option<u64>,
}

impl Drop for SendTicket {
    fn drop(&mut self) {
        let Some(id) = self.id else { return };
        let now = Instant::now();
        let mut logs = self.limiter.logs.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sent) =
            logs.get_mut(self.endpoint).and_then(|log| log.sends.iter_mut().find(|s| s.id == id))
        {
            sent.finished = Some(now);
        }
    }
}

impl RateLimiter {
    pub(crate) fn new(limits: RateLimits) -> RateLimiter {
        RateLimiter { limits, logs: Mutex::default(), next_id: AtomicU64::new(0) }
    }

    /// Waits until a request to `endpoint` may be sent, without logging one. With
    /// `wait_blocks == false` a block fails at once with the time it has left.
    pub(crate) async fn ready(
        &self,
        endpoint: &'static str,
        wait_blocks: bool,
        observer: Option<&Observer>,
    ) -> Result<(), Duration> {
        self.wait_turn(endpoint, wait_blocks, observer, false).await.map(|_| ())
    }

    /// Like [`RateLimiter::ready`], then logs the request as sent; the ticket logs it finished.
    pub(crate) async fn admit(
        self: &Arc<Self>,
        endpoint: &'static str,
        wait_blocks: bool,
        observer: Option<&Observer>,
    ) -> Result<SendTicket, Duration> {
        let id = self.wait_turn(endpoint, wait_blocks, observer, true).await?;
        Ok(SendTicket { limiter: Arc::clone(self), endpoint, id })
    }

    /// Blocks `endpoint` for `duration` from now (after a 429), unless already blocked longer.
    /// The duration comes from the server: never more than [`LONGEST_BLOCK_WAIT`].
    pub(crate) fn block(&self, endpoint: &'static str, duration: Duration) {
        let now = Instant::now();
        let until = now.checked_add(duration.min(LONGEST_BLOCK_WAIT)).unwrap_or(now);
        let mut logs = self.logs.lock().unwrap_or_else(PoisonError::into_inner);
        let log = logs.entry(endpoint).or_default();
        log.blocked_until = log.blocked_until.max(Some(until));
    }

    async fn wait_turn(
        &self,
        endpoint: &'static str,
        wait_blocks: bool,
        observer: Option<&Observer>,
        log_send: bool,
    ) -> Result<Option<u64>, Duration> {
        let limit = self.limits.per_endpoint.get(endpoint).copied();
        let mut reported: Option<Instant> = None;
        loop {
            let now = Instant::now();
            let verdict = {
                let mut logs = self.logs.lock().unwrap_or_else(PoisonError::into_inner);
                let log = logs.entry(endpoint).or_default();
                let verdict = log.verdict(limit, self.limits.window, now);
                if verdict == Verdict::Go && log_send && limit.is_some() {
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    log.sends.push_back(Sent { id, finished: None });
                    return Ok(Some(id));
                }
                verdict
            };
            let Verdict::Wait { until, reason } = verdict else { return Ok(None) };
            if reason == WaitReason::RateLimited && !wait_blocks {
                return Err(until.map_or(Duration::ZERO, |u| u.saturating_duration_since(now)));
            }
            let Some(until) = until else {
                tokio::time::sleep(IN_FLIGHT_POLL).await;
                continue;
            };
            let worth_reporting = reason == WaitReason::RateLimited
                || until.saturating_duration_since(now) >= REPORT_WAITS_FROM;
            if let Some(observer) = observer
                && worth_reporting
                && reported != Some(until)
            {
                observer.report(endpoint, until, reason);
                reported = Some(until);
            }
            tracing::debug!(
                endpoint,
                wait_ms = until.saturating_duration_since(now).as_millis(),
                ?reason,
                "waiting for the rate limit"
            );
            tokio::time::sleep_until(until).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(60);

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    fn sent(id: u64, finished: Option<Instant>) -> Sent {
        Sent { id, finished }
    }

    #[test]
    fn bitfinex_budgets() {
        let limits = RateLimits::default();
        assert_eq!(limits.window, WINDOW);
        assert_eq!(limits.per_endpoint["auth/r/wallets"], 90);
        assert_eq!(limits.per_endpoint["auth/r/positions"], 90);
        assert_eq!(limits.per_endpoint["tickers"], 30);
        assert_eq!(limits.per_endpoint["platform/status"], 30);
        assert_eq!(limits.clone().with_limit("tickers", 3).per_endpoint["tickers"], 3);
    }

    #[test]
    fn full_window_waits_for_the_oldest_to_leave() {
        let t0 = Instant::now();
        let mut log = Log::default();
        log.sends.extend([sent(0, Some(t0)), sent(1, Some(t0 + ms(10))), sent(2, Some(t0 + ms(20)))]);
        assert_eq!(log.verdict(Some(4), WINDOW, t0 + ms(30)), Verdict::Go);
        assert_eq!(
            log.verdict(Some(3), WINDOW, t0 + ms(30)),
            Verdict::Wait { until: Some(t0 + WINDOW), reason: WaitReason::Budget }
        );
        // Two slots needed (limit 2 of 3 logged): wait for the second oldest.
        assert_eq!(
            log.verdict(Some(2), WINDOW, t0 + ms(30)),
            Verdict::Wait { until: Some(t0 + ms(10) + WINDOW), reason: WaitReason::Budget }
        );
        // Exactly one window after the oldest finished, it has left.
        assert_eq!(log.verdict(Some(3), WINDOW, t0 + WINDOW), Verdict::Go);
        assert_eq!(log.sends.len(), 2);
        assert_eq!(log.verdict(None, WINDOW, t0 + WINDOW), Verdict::Go);
    }

    #[test]
    fn in_flight_requests_count_until_they_finish() {
        let t0 = Instant::now();
        let mut log = Log::default();
        log.sends.extend([sent(0, None), sent(1, Some(t0))]);
        // Sent long ago but not finished: still counts, and nothing known frees it.
        let later = t0 + WINDOW * 3;
        assert_eq!(
            log.verdict(Some(1), WINDOW, later),
            Verdict::Wait { until: None, reason: WaitReason::Budget }
        );
        assert_eq!(log.verdict(Some(2), WINDOW, later), Verdict::Go);
        log.sends.push_back(sent(2, Some(t0 + ms(5))));
        log.sends.push_back(sent(3, Some(later)));
        // 1 was pruned above; now 2 leaves too, while unfinished 0 and in-window 3 count.
        assert_eq!(log.sends.len(), 3);
        assert_eq!(
            log.verdict(Some(2), WINDOW, later),
            Verdict::Wait { until: Some(later + WINDOW), reason: WaitReason::Budget }
        );
        assert_eq!(log.sends.len(), 2);
    }

    #[test]
    fn a_block_comes_first_and_ends() {
        let t0 = Instant::now();
        let mut log = Log { blocked_until: Some(t0 + ms(2000)), ..Log::default() };
        assert_eq!(
            log.verdict(None, WINDOW, t0),
            Verdict::Wait { until: Some(t0 + ms(2000)), reason: WaitReason::RateLimited }
        );
        assert_eq!(log.verdict(Some(5), WINDOW, t0 + ms(2000)), Verdict::Go);
        assert_eq!(log.blocked_until, None);
    }

    #[test]
    fn zero_budget_is_one() {
        let t0 = Instant::now();
        let mut log = Log::default();
        assert_eq!(log.verdict(Some(0), WINDOW, t0), Verdict::Go);
        log.sends.push_back(sent(0, Some(t0)));
        assert!(matches!(log.verdict(Some(0), WINDOW, t0), Verdict::Wait { .. }));
    }

    #[tokio::test(start_paused = true)]
    async fn admit_paces_a_burst_over_windows() {
        let window = Duration::from_secs(1);
        let limiter = Arc::new(RateLimiter::new(RateLimits {
            window,
            per_endpoint: BTreeMap::from([("auth/r/wallets".to_owned(), 3)]),
        }));
        let t0 = Instant::now();
        let mut admitted = Vec::new();
        for _ in 0..7 {
            let ticket = limiter.admit("auth/r/wallets", true, None).await.unwrap();
            admitted.push(Instant::now() - t0);
            drop(ticket);
        }
        assert_eq!(admitted, [ms(0), ms(0), ms(0), window, window, window, window * 2]);
        // Unlimited endpoints never wait.
        for _ in 0..100 {
            drop(limiter.admit("other", true, None).await.unwrap());
        }
        assert_eq!(Instant::now() - t0, window * 2);
    }

    #[tokio::test(start_paused = true)]
    async fn blocks_wait_or_fail_fast_and_are_reported() {
        let limiter = Arc::new(RateLimiter::new(RateLimits::bitfinex()));
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        let observer = Observer(Arc::new(move |e: WaitEvent| sink.lock().unwrap().push(e)));
        limiter.block("tickers", Duration::from_secs(2));
        limiter.block("tickers", Duration::from_secs(1));
        assert_eq!(limiter.ready("tickers", false, Some(&observer)).await, Err(Duration::from_secs(2)));
        assert!(events.lock().unwrap().is_empty());
        assert_eq!(limiter.ready("conf", false, Some(&observer)).await, Ok(()));
        let t0 = Instant::now();
        assert!(limiter.admit("tickers", true, Some(&observer)).await.is_ok());
        assert_eq!(Instant::now() - t0, Duration::from_secs(2));
        let events = events.lock().unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!((events[0].endpoint, events[0].reason), ("tickers", WaitReason::RateLimited));
        assert_eq!(events[0].wait, Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_block_beyond_any_instant_is_clamped_not_a_panic() {
        let limiter = Arc::new(RateLimiter::new(RateLimits::bitfinex()));
        limiter.block("tickers", Duration::from_secs(u64::MAX));
        assert_eq!(limiter.ready("tickers", false, None).await, Err(LONGEST_BLOCK_WAIT));
        let t0 = Instant::now();
        assert!(limiter.admit("tickers", true, None).await.is_ok());
        assert_eq!(Instant::now() - t0, LONGEST_BLOCK_WAIT);
    }
}
