//! The state every handler shares, as mini-redis's `db.rs`: the emulated world and what changes
//! with each request (per-key nonces, rate-limit windows, queued faults) behind one lock, with the
//! counters, the shutdown signal and the WebSocket hub beside it.
//!
//! Handlers (REST, admin, WebSocket) import this module; it imports none of them, so `server.rs`
//! only routes and serves. The lock is `std::sync::Mutex` and is never held across an `.await`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::response::Response;
use bfx_core::Nonce;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::counters::Counters;
use crate::endpoint::Endpoint;
use crate::fault::FaultQueue;
use crate::rate_limit::RateLimiter;
use crate::reply::{self, Rejection, Unread};
use crate::state::SimState;
use crate::ws::hub::{WsConfig, WsHub};

/// Everything a request may read or change, behind one lock.
#[derive(Debug)]
pub(crate) struct Runtime {
    pub(crate) state: SimState,
    /// The last accepted nonce of each API key, shared by REST requests and WebSocket `auth`.
    pub(crate) nonces: HashMap<String, Nonce>,
    pub(crate) limiter: RateLimiter,
    /// Faults queued by the admin API for the next requests.
    pub(crate) faults: FaultQueue,
}

impl Runtime {
    /// Check 1 for every endpoint: the client IP's budget for this endpoint.
    pub(crate) fn admit(&mut self, ip: IpAddr, endpoint: Endpoint, now: Instant) -> Result<(), Duration> {
        let admitted = self.limiter.admit(ip, endpoint, &self.state.limits, now);
        if admitted.is_err() {
            tracing::debug!(endpoint = endpoint.name(), %ip, "rate limited");
        }
        admitted
    }
}

/// A handle on the shared state; cheap to clone, one per handler.
#[derive(Debug, Clone)]
pub(crate) struct Shared(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    runtime: Mutex<Runtime>,
    counters: Counters,
    /// Turns `true` when shutdown begins, so injected delays end and WebSocket sessions close
    /// instead of holding it up.
    stopping: watch::Receiver<bool>,
    ws: WsHub,
    /// Longest a request body may take to arrive whole ([`crate::SimOptions`]).
    body_timeout: Duration,
    clock: SimClock,
}

/// The emulator's clock, for the MTS of ledger entries it writes: the wall clock read once at
/// start, advanced by Tokio's clock (monotonic; paused with it in tests).
#[derive(Debug)]
pub(crate) struct SimClock {
    start_ms: i64,
    start: Instant,
}

impl SimClock {
    fn new() -> SimClock {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        SimClock { start_ms: i64::try_from(wall.as_millis()).unwrap_or(0), start: Instant::now() }
    }

    fn now_ms(&self) -> i64 {
        let elapsed = i64::try_from(self.start.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.start_ms.saturating_add(elapsed)
    }
}

impl Shared {
    pub(crate) fn new(
        state: SimState,
        stopping: watch::Receiver<bool>,
        ws: WsConfig,
        body_timeout: Duration,
    ) -> Shared {
        let runtime = Runtime {
            state,
            nonces: HashMap::new(),
            limiter: RateLimiter::default(),
            faults: FaultQueue::default(),
        };
        Shared(Arc::new(Inner {
            runtime: Mutex::new(runtime),
            counters: Counters::default(),
            stopping,
            ws: WsHub::new(ws),
            body_timeout,
            clock: SimClock::new(),
        }))
    }

    /// The runtime. A panic while it was held cannot leave it half-updated in a way that matters
    /// more than stopping the emulator would, so a poisoned lock is used as is.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Runtime> {
        self.0.runtime.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.0.counters
    }

    /// Now, in milliseconds since the epoch, by the emulator's clock.
    pub(crate) fn now_ms(&self) -> i64 {
        self.0.clock.now_ms()
    }

    pub(crate) fn ws(&self) -> &WsHub {
        &self.0.ws
    }

    /// A request's body, read whole within the body timeout (see [`reply::read_body`]).
    pub(crate) async fn read_body(&self, body: Body) -> Result<Bytes, Unread> {
        reply::read_body(body, self.0.body_timeout).await
    }

    /// Turns `true` when shutdown begins.
    pub(crate) fn stopping(&self) -> watch::Receiver<bool> {
        self.0.stopping.clone()
    }

    /// Answers a refused request and counts it. Logs the endpoint and the reason only: never
    /// keys, signatures or bodies of authenticated requests.
    pub(crate) fn refuse(&self, endpoint: Option<Endpoint>, rejection: Rejection) -> Response {
        self.counters().rejection(rejection);
        tracing::debug!(
            endpoint = endpoint.map_or("-", Endpoint::name),
            code = rejection.code(),
            reason = rejection.message(),
            "refused"
        );
        rejection.response()
    }

    /// Answers a request over its budget (HTTP 429) and counts it.
    pub(crate) fn rate_limited(&self, remaining: Duration) -> Response {
        self.counters().rate_limited();
        reply::rate_limited(remaining)
    }
}

/// Records `nonce` as `key`'s last if it is above the last one accepted, REST and WebSocket
/// alike (one counter per key, as on Bitfinex); `false` means "nonce: small".
pub(crate) fn accept_nonce(nonces: &mut HashMap<String, Nonce>, key: &str, nonce: Nonce) -> bool {
    match nonces.get(key) {
        Some(last) if nonce <= *last => false,
        _ => {
            nonces.insert(key.to_owned(), nonce);
            true
        }
    }
}
