//! The WebSocket hub: how admin changes reach the open sessions, how many sessions are live, and
//! the per-IP connection limit. It lives in the shared state, so it knows nothing of sessions or
//! handlers; what a change looks like on the wire is built here, under the runtime lock.
//!
//! Admin edits publish events on a broadcast channel while they hold the runtime lock, numbered in
//! that order; a session's snapshot records the number it reflects, so no change is lost or sent
//! twice. A wallet's change goes on its account's own channel, which a session joins when it
//! authenticates (under the same lock as its snapshot): a change wakes that account's sessions,
//! not all of them (1 000 sessions would otherwise all wake to drop it). Tickers, info events and
//! drops go to every session. The hub also counts live sessions, so `serve` can wait for them to
//! close.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, broadcast, watch};
use tokio::time::Instant;

use super::frames::{self, InfoCode};
use super::{aum, limit};
use crate::state::SimState;

/// Events a session may fall behind by before it is closed (it would otherwise miss changes).
const EVENT_BACKLOG: usize = 1024;

/// How the endpoint behaves, from [`crate::SimOptions`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct WsConfig {
    pub(crate) heartbeat: Duration,
    pub(crate) connections_per_window: u32,
    pub(crate) connection_window: Duration,
    pub(crate) auth_timeout: Duration,
}

/// What the admin API tells the sessions.
#[derive(Debug, Clone)]
pub(crate) enum WsEvent {
    /// A wallet of `account` changed: `row` for `wu`, `totals` for `bu`; each session it goes
    /// to tells `delivery` once it has written it or let it pass.
    Wallet {
        seq: u64,
        account: String,
        row: String,
        totals: String,
        delivery: Arc<Delivery>,
    },
    /// A ticker changed: its fields after the symbol, joined.
    Ticker {
        seq: u64,
        symbol: String,
        fields: String,
    },
    Info(InfoCode),
    /// Close every connection without a close frame.
    Drop,
}

/// What an admin change asked to wait (`?wait=sent`) waits for: every session the change went to
/// has written it to its socket, or let it pass (another account's, no wallets scope, or already
/// in its snapshot).
#[derive(Debug)]
pub(crate) struct Delivery {
    /// Sessions that have not yet.
    left: AtomicUsize,
    done: Notify,
}

impl Delivery {
    fn new(sessions: usize) -> Arc<Delivery> {
        Arc::new(Delivery { left: AtomicUsize::new(sessions), done: Notify::new() })
    }

    /// One session has written the change or let it pass.
    pub(crate) fn passed(&self) {
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Kept as a permit when nobody waits yet.
            self.done.notify_one();
        }
    }

    /// Resolves once every session has, or after `limit` (a session that closes first never
    /// does): the number that have not.
    pub(crate) async fn sent(&self, limit: Duration) -> usize {
        if self.left.load(Ordering::Acquire) > 0 {
            let _ = tokio::time::timeout(limit, self.done.notified()).await;
        }
        self.left.load(Ordering::Acquire)
    }
}

#[derive(Debug)]
pub(crate) struct WsHub {
    config: WsConfig,
    events: broadcast::Sender<WsEvent>,
    /// Each account's wallet changes, for its authenticated sessions.
    accounts: Mutex<HashMap<String, broadcast::Sender<WsEvent>>>,
    /// Number of the last data event; changed and read under the runtime lock only.
    seq: AtomicU64,
    heartbeats: AtomicBool,
    /// Live sessions, including upgrades not yet finished.
    sessions: watch::Sender<usize>,
    limiter: Mutex<limit::ConnectionLimiter>,
    next_chan_id: AtomicU64,
    server_id: String,
}

impl WsHub {
    pub(crate) fn new(config: WsConfig) -> WsHub {
        WsHub {
            config,
            events: broadcast::channel(EVENT_BACKLOG).0,
            accounts: Mutex::new(HashMap::new()),
            seq: AtomicU64::new(0),
            heartbeats: AtomicBool::new(true),
            sessions: watch::Sender::new(0),
            limiter: Mutex::new(limit::ConnectionLimiter::default()),
            // Bitfinex's channel ids are large numbers; any non-zero id unique per connection does.
            next_chan_id: AtomicU64::new(100),
            server_id: frames::uuid_like(),
        }
    }

    /// Publishes a wallet change made through the admin API; `state` is the state the change was
    /// made in, still under the runtime lock. An unknown account or wallet publishes nothing.
    /// What tells when the account's sessions have sent it.
    pub(crate) fn wallet_changed(
        &self,
        state: &SimState,
        account: &str,
        wallet_type: &str,
        currency: &str,
    ) -> Arc<Delivery> {
        let Some(holder) = state.accounts.iter().find(|a| a.name == account) else { return Delivery::new(0) };
        let Some(wallet) =
            holder.wallets.iter().find(|w| w.wallet_type == wallet_type && w.currency == currency)
        else {
            return Delivery::new(0);
        };
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let row = crate::account::wallet_row(wallet, None);
        let totals = aum::totals(state, holder);
        let accounts = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(sessions) = accounts.get(account) else { return Delivery::new(0) };
        let delivery = Delivery::new(sessions.receiver_count());
        let event = WsEvent::Wallet {
            seq,
            account: account.to_owned(),
            row,
            totals,
            delivery: Arc::clone(&delivery),
        };
        // No receiver (no session now) is not an error.
        let _ = sessions.send(event);
        delivery
    }

    /// Publishes a ticker change made through the admin API, like [`WsHub::wallet_changed`].
    pub(crate) fn ticker_changed(&self, state: &SimState, symbol: &str) {
        let Some(ticker) = state.ticker(symbol) else { return };
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let fields = ticker.fields.join(",");
        let _ = self.events.send(WsEvent::Ticker { seq, symbol: symbol.to_owned(), fields });
    }

    /// Sends an info event to every connection; returns how many connections there were.
    pub(crate) fn info(&self, code: InfoCode) -> usize {
        let _ = self.events.send(WsEvent::Info(code));
        self.live()
    }

    /// Drops every connection; returns how many there were.
    pub(crate) fn drop_all(&self) -> usize {
        let _ = self.events.send(WsEvent::Drop);
        self.live()
    }

    pub(crate) fn set_heartbeats(&self, enabled: bool) {
        self.heartbeats.store(enabled, Ordering::Relaxed);
    }

    pub(crate) fn heartbeats(&self) -> bool {
        self.heartbeats.load(Ordering::Relaxed)
    }

    pub(crate) fn live(&self) -> usize {
        *self.sessions.borrow()
    }

    /// Waits until every session has closed, or `limit` has passed.
    pub(crate) async fn closed(&self, limit: Duration) {
        let mut sessions = self.sessions.subscribe();
        if tokio::time::timeout(limit, sessions.wait_for(|n| *n == 0)).await.is_err() {
            tracing::warn!(open = self.live(), "WebSocket sessions still open at shutdown");
        }
    }

    /// Counts a session from its upgrade on; [`WsHub::session_closed`] ends the count.
    pub(crate) fn session_opened(&self) {
        self.sessions.send_modify(|n| *n += 1);
    }

    pub(crate) fn session_closed(&self) {
        self.sessions.send_modify(|n| *n = n.saturating_sub(1));
    }

    /// Time between heartbeats on each channel.
    pub(crate) fn heartbeat(&self) -> Duration {
        self.config.heartbeat
    }

    /// How long a connection may stay without auth or a subscription.
    pub(crate) fn auth_timeout(&self) -> Duration {
        self.config.auth_timeout
    }

    /// The id this server sends in its welcome frame.
    pub(crate) fn server_id(&self) -> &str {
        &self.server_id
    }

    pub(crate) fn seq(&self) -> u64 {
        self.seq.load(Ordering::SeqCst)
    }

    /// The events for every session.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<WsEvent> {
        self.events.subscribe()
    }

    /// `account`'s wallet changes; taken under the runtime lock with the snapshot they follow.
    pub(crate) fn subscribe_account(&self, account: &str) -> broadcast::Receiver<WsEvent> {
        let mut accounts = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        match accounts.get(account) {
            Some(sessions) => sessions.subscribe(),
            None => {
                let (sessions, receiver) = broadcast::channel(EVENT_BACKLOG);
                accounts.insert(account.to_owned(), sessions);
                receiver
            }
        }
    }

    pub(crate) fn next_chan_id(&self) -> u64 {
        self.next_chan_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn admit(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut limiter = self.limiter.lock().unwrap_or_else(PoisonError::into_inner);
        limiter.admit(ip, self.config.connections_per_window, self.config.connection_window, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In paused time: the wait ends once every session has passed the change, however the
    /// passes and the wait interleave, or at its limit, saying how many had not.
    #[tokio::test(start_paused = true)]
    async fn a_delivery_is_waited_for_until_every_session_passed_it_or_the_limit() {
        let limit = Duration::from_secs(1);
        assert_eq!(Delivery::new(0).sent(limit).await, 0);

        let delivery = Delivery::new(2);
        delivery.passed();
        delivery.passed();
        let start = Instant::now();
        assert_eq!(delivery.sent(limit).await, 0, "passed before the wait began");
        assert_eq!(start.elapsed(), Duration::ZERO);

        let delivery = Delivery::new(2);
        let waiting = tokio::spawn({
            let delivery = Arc::clone(&delivery);
            async move { delivery.sent(limit).await }
        });
        tokio::task::yield_now().await;
        delivery.passed();
        tokio::time::sleep(Duration::from_millis(10)).await;
        delivery.passed();
        assert_eq!(waiting.await.unwrap(), 0);
        assert_eq!(start.elapsed(), Duration::from_millis(10), "answered as the last one passed");

        let delivery = Delivery::new(3);
        delivery.passed();
        assert_eq!(delivery.sent(limit).await, 2, "two sessions never passed it");
        assert_eq!(start.elapsed(), Duration::from_millis(10) + limit);
    }
}
