//! The HTTP server: routes under `/v2/`, the shared runtime state, and `serve`.
//!
//! One `std::sync::Mutex` guards the state, the per-key nonces and the rate limiter; it is never
//! held across an `.await`. Its shape lets a later admin API (`/sim/…`) mutate the same state.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use bfx_core::Nonce;
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::endpoint::Endpoint;
use crate::rate_limit::RateLimiter;
use crate::reply::{self, Rejection};
use crate::state::SimState;
use crate::{account, auth, public};

/// Everything a request may read or change, behind one lock.
#[derive(Debug)]
pub(crate) struct Runtime {
    pub(crate) state: SimState,
    /// The last accepted nonce of each API key (shared with the WebSocket side, later).
    pub(crate) nonces: HashMap<String, Nonce>,
    pub(crate) limiter: RateLimiter,
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

#[derive(Debug, Clone)]
pub(crate) struct Shared(Arc<Mutex<Runtime>>);

impl Shared {
    fn new(state: SimState) -> Shared {
        Shared(Arc::new(Mutex::new(Runtime {
            state,
            nonces: HashMap::new(),
            limiter: RateLimiter::default(),
        })))
    }

    /// The runtime. A panic while it was held cannot leave it half-updated in a way that matters
    /// more than stopping the emulator would, so a poisoned lock is used as is.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Runtime> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Serves the emulated API on `listener` until `shutdown` resolves, then finishes the requests in
/// flight and returns. Sets `TCP_NODELAY` on every connection: responses go out in one write, and
/// Nagle's algorithm with delayed ACKs would otherwise add ~40 ms to each kept-alive request.
pub async fn serve(
    listener: TcpListener,
    state: SimState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!("cannot set TCP_NODELAY on an accepted connection: {e}");
        }
    });
    let app = router(Shared::new(state));
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

fn router(shared: Shared) -> Router {
    Router::new()
        .route("/v2/auth/r/wallets", post(wallets))
        .route("/v2/auth/r/permissions", post(permissions))
        .route("/v2/auth/r/info/user", post(user_info))
        .route("/v2/tickers", get(tickers))
        .route("/v2/ticker/{symbol}", get(ticker))
        .route("/v2/conf/{keys}", get(conf))
        .route("/v2/platform/status", get(platform_status))
        .fallback(|| async { Rejection::NotFound.response() })
        .layer(axum::middleware::map_response(reply::json_method_not_allowed))
        .with_state(shared)
}

/// The client's IP, with IPv4-mapped IPv6 addresses folded to IPv4 so both count as one client.
fn client_ip(addr: SocketAddr) -> IpAddr {
    addr.ip().to_canonical()
}

async fn wallets(
    State(shared): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    auth::handle(&shared, client_ip(addr), Endpoint::Wallets, &headers, body, account::wallets).await
}

async fn permissions(
    State(shared): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    auth::handle(&shared, client_ip(addr), Endpoint::Permissions, &headers, body, account::permissions).await
}

async fn user_info(
    State(shared): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    auth::handle(&shared, client_ip(addr), Endpoint::UserInfo, &headers, body, account::user_info).await
}

/// Runs a public endpoint: rate limit, then `answer` on the state (public endpoints still answer
/// during maintenance).
fn public_reply(
    shared: &Shared,
    addr: SocketAddr,
    endpoint: Endpoint,
    answer: impl FnOnce(&SimState) -> Result<String, Rejection>,
) -> Response {
    let mut runtime = shared.lock();
    if let Err(remaining) = runtime.admit(client_ip(addr), endpoint, Instant::now()) {
        return reply::rate_limited(remaining);
    }
    match answer(&runtime.state) {
        Ok(body) => reply::ok(body),
        Err(rejection) => rejection.response(),
    }
}

async fn tickers(
    State(shared): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let symbols = query.ok().and_then(|Query(pairs)| pairs.into_iter().find(|(name, _)| name == "symbols"));
    public_reply(&shared, addr, Endpoint::Tickers, |state| {
        public::tickers(state, symbols.as_ref().map(|(_, value)| value.as_str()))
    })
}

async fn ticker(
    State(shared): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    symbol: Result<Path<String>, PathRejection>,
) -> Response {
    public_reply(&shared, addr, Endpoint::Ticker, |state| match &symbol {
        Ok(Path(symbol)) => public::ticker(state, symbol),
        Err(_) => Err(Rejection::UnknownSymbol),
    })
}

async fn conf(
    State(shared): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    keys: Result<Path<String>, PathRejection>,
) -> Response {
    public_reply(&shared, addr, Endpoint::Conf, |state| match &keys {
        Ok(Path(keys)) => Ok(public::conf(state, keys)),
        Err(_) => Err(Rejection::NotFound),
    })
}

async fn platform_status(
    State(shared): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
) -> Response {
    public_reply(&shared, addr, Endpoint::PlatformStatus, |state| Ok(public::platform_status(state)))
}
