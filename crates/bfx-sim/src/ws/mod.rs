//! The WebSocket v2 endpoint `/ws/2`: the upgrade (with the per-IP connection limit), and the hub
//! that connects admin changes to the open sessions.
//!
//! Admin edits publish events on a broadcast channel while they hold the runtime lock, numbered in
//! that order; a session's snapshot records the number it reflects, so no change is lost or sent
//! twice. The hub also counts live sessions, so `serve` can wait for them to close.

pub(crate) mod admin;
mod aum;
mod auth;
mod frames;
mod limit;
mod session;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

pub(crate) use frames::InfoCode;

use crate::connection::Peer;
use crate::counters::WsCount;
use crate::reply;
use crate::server::{Runtime, Shared};

/// Largest frame a client may send; auth, subscribe and calc frames are far smaller.
const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Events a session may fall behind by before it is closed (it would otherwise miss changes).
const EVENT_BACKLOG: usize = 1024;

/// How the endpoint behaves, from [`crate::SimOptions`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct WsConfig {
    pub(crate) heartbeat: Duration,
    pub(crate) connections_per_window: u32,
    pub(crate) connection_window: Duration,
}

/// What the admin API tells the sessions.
#[derive(Debug, Clone)]
pub(crate) enum WsEvent {
    /// A wallet of `account` changed: `row` for `wu`, `totals` for `bu`.
    Wallet {
        seq: u64,
        account: String,
        row: String,
        totals: String,
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

#[derive(Debug)]
pub(crate) struct WsHub {
    config: WsConfig,
    events: broadcast::Sender<WsEvent>,
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
            seq: AtomicU64::new(0),
            heartbeats: AtomicBool::new(true),
            sessions: watch::Sender::new(0),
            limiter: Mutex::new(limit::ConnectionLimiter::default()),
            // Bitfinex's channel ids are large numbers; any non-zero id unique per connection does.
            next_chan_id: AtomicU64::new(100),
            server_id: frames::uuid_like(),
        }
    }

    /// Publishes a wallet change made through the admin API; `runtime` is the locked runtime the
    /// change was made in. An unknown account or wallet publishes nothing.
    pub(crate) fn wallet_changed(&self, runtime: &Runtime, account: &str, wallet_type: &str, currency: &str) {
        let state = &runtime.state;
        let Some(holder) = state.accounts.iter().find(|a| a.name == account) else { return };
        let Some(wallet) =
            holder.wallets.iter().find(|w| w.wallet_type == wallet_type && w.currency == currency)
        else {
            return;
        };
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let row = crate::account::wallet_row(wallet, None);
        let totals = aum::totals(state, holder);
        // No receiver (no connection) is not an error.
        let _ = self.events.send(WsEvent::Wallet { seq, account: account.to_owned(), row, totals });
    }

    /// Publishes a ticker change made through the admin API, like [`WsHub::wallet_changed`].
    pub(crate) fn ticker_changed(&self, runtime: &Runtime, symbol: &str) {
        let Some(ticker) = runtime.state.ticker(symbol) else { return };
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

    fn seq(&self) -> u64 {
        self.seq.load(Ordering::SeqCst)
    }

    fn subscribe(&self) -> broadcast::Receiver<WsEvent> {
        self.events.subscribe()
    }

    fn next_chan_id(&self) -> u64 {
        self.next_chan_id.fetch_add(1, Ordering::Relaxed)
    }

    fn admit(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut limiter = self.limiter.lock().unwrap_or_else(PoisonError::into_inner);
        limiter.admit(ip, self.config.connections_per_window, self.config.connection_window, now)
    }
}

/// Counts a session from its upgrade until it ends (dropped with the session, or with the
/// upgrade callback if the upgrade fails).
#[derive(Debug)]
struct SessionGuard(Shared);

impl SessionGuard {
    fn new(shared: Shared) -> SessionGuard {
        shared.ws().sessions.send_modify(|n| *n += 1);
        SessionGuard(shared)
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.0.ws().sessions.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// `GET /ws/2`: refuses past the per-IP connection limit (HTTP 429, `Retry-After`) and while
/// shutting down (503); otherwise upgrades and runs the session.
pub(crate) async fn upgrade(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    if *shared.stopping().borrow() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if let Err(remaining) = shared.ws().admit(peer.ip(), Instant::now()) {
        shared.counters().ws(WsCount::RateLimited);
        tracing::debug!(ip = %peer.ip(), "WebSocket connection refused: over the connection limit");
        return reply::rate_limited(remaining);
    }
    shared.counters().ws(WsCount::Connection);
    let guard = SessionGuard::new(shared.clone());
    upgrade
        .max_message_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| session::run(socket, shared, peer.ip(), guard))
}
