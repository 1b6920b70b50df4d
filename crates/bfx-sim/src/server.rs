//! The HTTP server: routes under `/v2/`, `/ws/2` and `/sim/`, and `serve`.
//!
//! It only routes and serves: the state the handlers share lives in [`crate::shared`]. Every
//! request to an endpoint is counted and offered to the fault queue first.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::HeaderMap;
use axum::middleware::map_response_with_state;
use axum::response::Response;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::admin::{self, AdminAccess};
use crate::auth::Target;
use crate::candles::Section;
use crate::connection::{CutListener, Peer};
use crate::endpoint::Endpoint;
use crate::reply::{self, Rejection};
use crate::shared::Shared;
use crate::state::SimState;
use crate::ws::{self, hub::WsConfig};
use crate::{account, auth, candles, ledgers, public};

/// How the emulator runs, beyond its state. `SimOptions::default()` is what [`serve`] uses.
///
/// The WebSocket timings live here rather than in the state file: they describe the server, not
/// the emulated world, and tests need them far shorter than Bitfinex's.
#[derive(Clone)]
#[non_exhaustive]
pub struct SimOptions {
    /// With a token, the admin API (`/sim/…`) answers any peer presenting
    /// `Authorization: Bearer <token>`, and no one else; without one, loopback peers only.
    pub admin_token: Option<String>,
    /// Time between WebSocket heartbeats (`[CHAN_ID,"hb"]`) on each channel. Bitfinex: 15 s.
    pub ws_heartbeat: Duration,
    /// New WebSocket connections accepted per client IP within `ws_connection_window`; more are
    /// refused with HTTP 429. Bitfinex (`wss://api.bitfinex.com`): 5 per 15 s.
    pub ws_connections_per_window: u32,
    pub ws_connection_window: Duration,
    /// A WebSocket connection that has neither authenticated nor subscribed this long after it
    /// opened is closed (close code 1008). Default: 30 s.
    pub ws_auth_timeout: Duration,
    /// A request head must arrive within this time of the accept or of the previous response
    /// (so it also closes idle kept-alive connections). Default: 30 s.
    pub http_head_timeout: Duration,
    /// A request body must arrive whole within this time of the handler starting to read it; a
    /// body still incomplete then (a client trickling it, or one that never sends what
    /// `Content-Length` promised) is answered `408` and the connection closed. Default: 30 s.
    pub http_body_timeout: Duration,
    /// At shutdown, longest `serve` waits for requests in flight before it returns anyway.
    /// Default: 5 s.
    pub shutdown_grace: Duration,
    /// Connections open at once (WebSockets included); beyond, a new connection is answered
    /// `503` with a body naming the cap, then closed. Default: 1 024.
    pub max_connections: usize,
}

impl Default for SimOptions {
    fn default() -> SimOptions {
        SimOptions {
            admin_token: None,
            ws_heartbeat: Duration::from_secs(15),
            ws_connections_per_window: 5,
            ws_connection_window: Duration::from_secs(15),
            ws_auth_timeout: Duration::from_secs(30),
            http_head_timeout: Duration::from_secs(30),
            http_body_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(5),
            max_connections: 1024,
        }
    }
}

impl SimOptions {
    /// Requires `token` for the admin API (and opens it to non-loopback peers that present it).
    pub fn with_admin_token(mut self, token: impl Into<String>) -> SimOptions {
        self.admin_token = Some(token.into());
        self
    }

    /// Sets the WebSocket heartbeat interval (at least 1 ms).
    pub fn with_ws_heartbeat(mut self, interval: Duration) -> SimOptions {
        self.ws_heartbeat = interval;
        self
    }

    /// Accepts at most `connections` new WebSocket connections per client IP per `window`.
    pub fn with_ws_connection_limit(mut self, connections: u32, window: Duration) -> SimOptions {
        self.ws_connections_per_window = connections;
        self.ws_connection_window = window;
        self
    }

    /// Closes WebSocket connections that neither authenticate nor subscribe within `limit`.
    pub fn with_ws_auth_timeout(mut self, limit: Duration) -> SimOptions {
        self.ws_auth_timeout = limit;
        self
    }

    /// Sets how long a request head may take to arrive (at least 1 ms).
    pub fn with_http_head_timeout(mut self, limit: Duration) -> SimOptions {
        self.http_head_timeout = limit;
        self
    }

    /// Sets how long a request body may take to arrive whole (at least 1 ms).
    pub fn with_http_body_timeout(mut self, limit: Duration) -> SimOptions {
        self.http_body_timeout = limit;
        self
    }

    /// Sets the longest wait at shutdown for requests in flight.
    pub fn with_shutdown_grace(mut self, grace: Duration) -> SimOptions {
        self.shutdown_grace = grace;
        self
    }

    /// Sets how many connections may be open at once.
    pub fn with_max_connections(mut self, connections: usize) -> SimOptions {
        self.max_connections = connections;
        self
    }

    fn ws_config(&self) -> WsConfig {
        WsConfig {
            heartbeat: self.ws_heartbeat.max(Duration::from_millis(1)),
            connections_per_window: self.ws_connections_per_window,
            connection_window: self.ws_connection_window,
            auth_timeout: self.ws_auth_timeout,
        }
    }
}

impl fmt::Debug for SimOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimOptions")
            .field("admin_token", &self.admin_token.as_ref().map(|_| "***"))
            .field("ws_heartbeat", &self.ws_heartbeat)
            .field("ws_connections_per_window", &self.ws_connections_per_window)
            .field("ws_connection_window", &self.ws_connection_window)
            .field("ws_auth_timeout", &self.ws_auth_timeout)
            .field("http_head_timeout", &self.http_head_timeout)
            .field("http_body_timeout", &self.http_body_timeout)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// Longest `serve` waits for WebSocket sessions to send their close frames at shutdown.
const WS_CLOSE_WAIT: Duration = Duration::from_secs(3);

/// Serves the emulated API on `listener` until `shutdown` resolves, then finishes the requests in
/// flight, closes the WebSocket connections (close frame 1001) and returns. Uses the default [`SimOptions`]: the admin API answers loopback peers only.
pub async fn serve(
    listener: TcpListener,
    state: SimState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, SimOptions::default(), shutdown).await
}

/// [`serve`] with options. Sets `TCP_NODELAY` on every connection: responses go out in one write,
/// and Nagle's algorithm with delayed ACKs would otherwise add ~40 ms to each kept-alive request.
/// Injected delays end early at shutdown. An empty admin token is refused (`InvalidInput`).
pub async fn serve_with(
    listener: TcpListener,
    state: SimState,
    options: SimOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if options.admin_token.as_deref() == Some("") {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the admin token is empty; give a non-empty token, or none for loopback-only access",
        ));
    }
    let (stop, stopping) = watch::channel(false);
    let body_timeout = options.http_body_timeout.max(Duration::from_millis(1));
    let shared = Shared::new(state, stopping.clone(), options.ws_config(), body_timeout);
    let app = router(shared.clone(), AdminAccess::new(options.admin_token));
    let listener = CutListener {
        tcp: listener,
        head_timeout: options.http_head_timeout.max(Duration::from_millis(1)),
        max_connections: options.max_connections,
        live: Arc::new(AtomicUsize::new(0)),
    };
    let serving = axum::serve(listener, app.into_make_service_with_connect_info::<Peer>())
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop.send(true);
        })
        .into_future();
    // Graceful shutdown waits for every connection; one that never finishes its request must not
    // keep `serve` from returning.
    let grace = options.shutdown_grace;
    let mut stopping = stopping;
    let overdue = async move {
        let _ = stopping.wait_for(|stopping| *stopping).await;
        tokio::time::sleep(grace).await;
    };
    let served = tokio::select! {
        served = serving => served,
        () = overdue => {
            tracing::warn!("requests still in flight {grace:?} after shutdown; stopping anyway");
            Ok(())
        }
    };
    // Upgraded connections are no longer hyper's: the sessions close them on `stopping`.
    shared.ws().closed(WS_CLOSE_WAIT).await;
    served
}

fn router(shared: Shared, access: AdminAccess) -> Router {
    let api = Router::new()
        .route("/v2/auth/r/wallets", post(wallets))
        .route("/v2/auth/r/permissions", post(permissions))
        .route("/v2/auth/r/info/user", post(user_info))
        .route("/v2/auth/r/positions", post(positions))
        .route("/v2/auth/r/ledgers/hist", post(ledgers_all))
        .route("/v2/auth/r/ledgers/{currency}/hist", post(ledgers_of))
        .route("/v2/tickers", get(tickers))
        .route("/v2/ticker/{symbol}", get(ticker))
        .route("/v2/conf/{keys}", get(conf))
        .route("/v2/platform/status", get(platform_status))
        .route("/v2/candles/{key}/hist", get(candles_hist))
        .route("/v2/candles/{key}/last", get(candles_last))
        .route("/ws/2", get(ws::upgrade))
        .layer(map_response_with_state(shared.clone(), method_not_allowed));
    Router::new()
        .merge(api)
        .nest("/sim", admin::router(access))
        .fallback(|State(shared): State<Shared>| async move { shared.refuse(None, Rejection::NotFound) })
        .with_state(shared)
}

/// Counts a wrong method on a known path and gives axum's bodiless 405 a Bitfinex-shaped body.
async fn method_not_allowed(State(shared): State<Shared>, response: Response) -> Response {
    if response.status() == axum::http::StatusCode::METHOD_NOT_ALLOWED {
        shared.counters().rejection(Rejection::MethodNotAllowed);
    }
    reply::json_method_not_allowed(response).await
}

/// What every request to an endpoint goes through first: it is counted, then takes the next
/// fault aimed at it, if any. `Some` is the fault's answer; `None` means "answer normally".
async fn enter(shared: &Shared, peer: &Peer, endpoint: Endpoint) -> Option<Response> {
    shared.counters().request(endpoint);
    let fault = shared.lock().faults.take(endpoint)?;
    shared.counters().fault(fault.kind());
    tracing::debug!(endpoint = endpoint.name(), fault = fault.kind().name(), "fault injected");
    fault.apply(peer, shared.stopping()).await
}

/// Runs an authenticated endpoint: faults, then the verification pipeline of [`auth::handle`].
async fn authenticated(
    shared: Shared,
    peer: Peer,
    target: Target<'_>,
    headers: HeaderMap,
    body: Body,
    respond: auth::Respond,
) -> Response {
    if let Some(response) = enter(&shared, &peer, target.endpoint).await {
        // Read what the client sent, so closing the connection (drop, truncated) sends a FIN, not
        // the RST that unread input would cause.
        let _ = shared.read_body(body).await;
        return response;
    }
    auth::handle(&shared, peer.ip(), target, &headers, body, respond).await
}

async fn wallets(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    authenticated(shared, peer, Target::plain(Endpoint::Wallets), headers, body, |a, k, _| {
        Ok(account::wallets(a, k))
    })
    .await
}

async fn permissions(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    authenticated(shared, peer, Target::plain(Endpoint::Permissions), headers, body, |a, k, _| {
        Ok(account::permissions(a, k))
    })
    .await
}

async fn user_info(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    authenticated(shared, peer, Target::plain(Endpoint::UserInfo), headers, body, |a, k, _| {
        Ok(account::user_info(a, k))
    })
    .await
}

async fn positions(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    authenticated(shared, peer, Target::plain(Endpoint::Positions), headers, body, |a, k, _| {
        Ok(account::positions(a, k))
    })
    .await
}

async fn ledgers_all(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    authenticated(shared, peer, Target::plain(Endpoint::Ledgers), headers, body, ledgers::ledgers).await
}

/// `auth/r/ledgers/{CURRENCY}/hist`: the signed path names the currency as requested.
async fn ledgers_of(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    currency: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // A path axum cannot decode is answered like a currency Bitfinex does not know.
    let currency = currency.map(|Path(c)| c).unwrap_or_default();
    let path = format!("auth/r/ledgers/{currency}/hist");
    let target = Target { endpoint: Endpoint::Ledgers, path: &path, currency: Some(&currency) };
    authenticated(shared, peer, target, headers, body, ledgers::ledgers).await
}

/// Runs a public endpoint: faults, rate limit, then `answer` on the state (public endpoints still
/// answer during maintenance).
async fn public_reply(
    shared: &Shared,
    peer: &Peer,
    endpoint: Endpoint,
    answer: impl FnOnce(&SimState) -> Result<String, Rejection>,
) -> Response {
    if let Some(response) = enter(shared, peer, endpoint).await {
        return response;
    }
    let mut runtime = shared.lock();
    if let Err(remaining) = runtime.admit(peer.ip(), endpoint, Instant::now()) {
        return shared.rate_limited(remaining);
    }
    match answer(&runtime.state) {
        Ok(body) => reply::ok(body),
        Err(rejection) => shared.refuse(Some(endpoint), rejection),
    }
}

async fn tickers(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let symbols = query.ok().and_then(|Query(pairs)| pairs.into_iter().find(|(name, _)| name == "symbols"));
    public_reply(&shared, &peer, Endpoint::Tickers, |state| {
        public::tickers(state, symbols.as_ref().map(|(_, value)| value.as_str()))
    })
    .await
}

async fn ticker(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    symbol: Result<Path<String>, PathRejection>,
) -> Response {
    public_reply(&shared, &peer, Endpoint::Ticker, |state| match &symbol {
        Ok(Path(symbol)) => public::ticker(state, symbol),
        Err(_) => Err(Rejection::UnknownSymbol),
    })
    .await
}

async fn conf(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    keys: Result<Path<String>, PathRejection>,
) -> Response {
    public_reply(&shared, &peer, Endpoint::Conf, |state| match &keys {
        Ok(Path(keys)) => Ok(public::conf(state, keys)),
        Err(_) => Err(Rejection::NotFound),
    })
    .await
}

async fn platform_status(State(shared): State<Shared>, ConnectInfo(peer): ConnectInfo<Peer>) -> Response {
    public_reply(&shared, &peer, Endpoint::PlatformStatus, |state| Ok(public::platform_status(state))).await
}

async fn candles_hist(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    key: Result<Path<String>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    candles_reply(&shared, &peer, key, query, Section::Hist).await
}

async fn candles_last(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    key: Result<Path<String>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    candles_reply(&shared, &peer, key, query, Section::Last).await
}

/// Both candle sections: one budget (`candles`); a key axum cannot decode is an invalid key, a
/// query it cannot parse an invalid request.
async fn candles_reply(
    shared: &Shared,
    peer: &Peer,
    key: Result<Path<String>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    section: Section,
) -> Response {
    public_reply(shared, peer, Endpoint::Candles, |state| {
        let Ok(Path(key)) = &key else { return Err(Rejection::KeyInvalid) };
        let Ok(Query(query)) = &query else { return Err(Rejection::BadBody) };
        candles::candles(state, key, section, query)
    })
    .await
}
