//! `bfx serve`: follow every selected account (the account stream: WebSocket, REST resync,
//! polling fallback), the prices (REST every 10 s, the pairs that value what is held live), and
//! open positions (REST every minute), in one [`Model`] — the one `bfx watch` shows — and serve
//! it over HTTP: `/metrics` (Prometheus), `/v1/portfolio` (the `bfx balances --json` document),
//! `/healthz`, `/readyz`. Nothing served asks Bitfinex anything: requests read the model.
//! With `--snapshot-every`, the valued portfolio is also written into the history store
//! (`bfx_store::periodic`): the first once `/readyz` would say ready, then every interval.

mod http;
mod listener;
mod metrics;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use bfx_client::live::Model;
use bfx_client::{Client, StreamEvent, StreamOptions, StreamState, feeds};
use bfx_core::Position;
use bfx_core::portfolio::{AccountError, Valuation};
use bfx_store::{AccountSnapshot, Every, SnapshotCounts, Store, periodic};
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::config::{Account, ConfigError};
use crate::exit::Exit;
use crate::output::{write_stderr, write_stdout};
use crate::watch;

/// How often each account's open positions are read (the stream does not carry them).
const POSITIONS_EVERY: Duration = Duration::from_secs(60);
/// How often the pairs the ticker stream follows are chosen again from what is held.
const FOLLOW_PAIRS_EVERY: Duration = Duration::from_secs(1);
/// Longest wait for open requests to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What the handlers read: the model, and the counters kept beside it.
#[derive(Debug)]
pub struct Live {
    model: Mutex<Model>,
    reconnects: Mutex<BTreeMap<String, u64>>,
    /// For its request counters (never to send one: handlers only read).
    client: Client,
    /// Snapshots written and failed, when `--snapshot-every` is on.
    snapshots: Option<Arc<SnapshotCounts>>,
    /// The model's part of `/metrics`, as last encoded.
    exposition: metrics::Cache,
}

impl Live {
    fn new(model: Model, client: Client) -> Live {
        Live {
            model: Mutex::new(model),
            reconnects: Mutex::new(BTreeMap::new()),
            client,
            snapshots: None,
            exposition: metrics::Cache::default(),
        }
    }

    /// Snapshots written and failed so far, `(ok, failed)`; `None` when they are off.
    pub fn snapshot_counts(&self) -> Option<(u64, u64)> {
        self.snapshots.as_ref().map(|counts| counts.get())
    }

    /// Requests sent to Bitfinex so far, by endpoint and outcome.
    pub fn request_counts(&self) -> Vec<bfx_client::RequestCount> {
        self.client.request_counts()
    }

    /// The model (a panic elsewhere while holding it leaves a usable model: every update is
    /// one assignment).
    pub fn model(&self) -> MutexGuard<'_, Model> {
        self.model.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn reconnects(&self) -> BTreeMap<String, u64> {
        self.reconnects.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn count_reconnect(&self, account: &str) {
        let mut reconnects = self.reconnects.lock().unwrap_or_else(PoisonError::into_inner);
        *reconnects.entry(account.to_owned()).or_default() += 1;
    }
}

/// Where and how to serve.
#[derive(Debug)]
pub struct Listen {
    /// `HOST:PORT` as given.
    pub address: String,
    /// The bearer token every request but `/healthz` must carry; required off loopback.
    pub token: Option<SecretString>,
}

/// `--snapshot-every`: how often, and into which store (opened at start, so a bad location has
/// already failed).
#[derive(Debug)]
pub struct Snapshots {
    pub every: Every,
    pub store: Store,
    /// A store of `bfx demo serve`, in a temporary directory removed at exit.
    pub temporary: bool,
}

/// Binds `listen`, refusing a non-loopback address without a token (exit 2), then follows
/// `accounts` and serves until `shutdown` completes, writing snapshots when asked. The first
/// stdout line says where.
pub async fn run(
    client: &Client,
    accounts: Vec<Account>,
    options: StreamOptions,
    valuation: &Valuation,
    listen: Listen,
    snapshots: Option<Snapshots>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Exit> {
    let listener = TcpListener::bind(&listen.address).await.map_err(|e| {
        ConfigError::Invalid(format!("cannot listen on {}: {e} (try --listen 127.0.0.1:0)", listen.address))
    })?;
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() && listen.token.is_none() {
        return Err(ConfigError::Invalid(format!(
            "--listen {} is reachable from other machines: set a bearer token in BFX_SERVE_TOKEN or `[serve] token_file`, or listen on loopback (127.0.0.1)",
            listen.address
        ))
        .into());
    }

    let mut model = Model::new(&valuation.quote, valuation.kind, accounts.iter().map(|a| a.name.clone()));
    let mut prices = feeds::price_refresh(client.clone());
    watch::first_prices(&mut prices, &mut model).await?;
    let mut live = Live::new(model, client.clone());
    live.snapshots = snapshots.as_ref().map(|_| Arc::new(SnapshotCounts::default()));
    let live = Arc::new(live);

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (ready, ready_rx) = tokio::sync::watch::channel(false);
    let writer = snapshots.map(|snapshots| {
        write_stderr(&format!(
            "bfx: a portfolio snapshot every {} into {}{}\n",
            snapshots.every,
            snapshots.store.backend(),
            if snapshots.temporary { " (temporary: removed at exit)" } else { "" }
        ));
        tokio::spawn(write_snapshots(Arc::clone(&live), snapshots, ready_rx, stopped.clone()))
    });
    let router = http::router(Arc::clone(&live), listen.token);
    let mut server_stopped = stopped.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener::Bounded::new(listener), router)
            .with_graceful_shutdown(async move {
                let _ = server_stopped.wait_for(|stop| *stop).await;
            })
            .await
    });
    write_stdout(&format!(
        "listening on http://{addr}\n  /metrics  /v1/portfolio  /healthz  /readyz{}\n",
        if addr.ip().is_loopback() { "" } else { "  (bearer token required)" }
    ))?;

    let readers: Vec<bfx_client::Account> = accounts.iter().map(Account::reader).collect();
    let positions = feeds::positions_refresh(client.clone(), &readers, POSITIONS_EVERY);
    // A task of its own, on the runtime's workers with the streams that wake it (not on the
    // thread that blocks on this function, which each event would have to wake).
    let follower = tokio::spawn({
        let (client, live) = (client.clone(), Arc::clone(&live));
        async move { follow(&client, &live, readers, options, prices, positions, &ready, shutdown).await }
    });
    if let Err(e) = follower.await {
        tracing::error!("the task following the accounts failed: {e}");
    }

    let _ = stop.send(true);
    if let Some(writer) = writer {
        // The writer stops at once unless a write is under way (itself bounded).
        if tokio::time::timeout(SHUTDOWN_GRACE, writer).await.is_err() {
            tracing::warn!(
                "a snapshot write still running {SHUTDOWN_GRACE:?} after the shutdown signal: dropped"
            );
        }
    }
    match tokio::time::timeout(SHUTDOWN_GRACE, server).await {
        Ok(Ok(result)) => result.context("serving HTTP failed")?,
        Ok(Err(e)) => return Err(anyhow::Error::new(e).context("the HTTP server task failed")),
        Err(_) => tracing::warn!("requests still open {SHUTDOWN_GRACE:?} after the shutdown signal: dropped"),
    }
    Ok(Exit::Ok)
}

/// Writes snapshots of the model every `snapshots.every` once `ready`, until `stopped`.
async fn write_snapshots(
    live: Arc<Live>,
    snapshots: Snapshots,
    mut ready: tokio::sync::watch::Receiver<bool>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let Some(counts) = live.snapshots.clone() else { return };
    let ready = async move {
        // Never ready when the model's follower is gone: nothing to snapshot then.
        if ready.wait_for(|ready| *ready).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let shutdown = async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let take = || AccountSnapshot::capture(&live.model(), now_mts(), Instant::now());
    let store = snapshots.store;
    let write = |batch: Vec<AccountSnapshot>| {
        let store = store.clone();
        async move { store.store_snapshot(&batch).await }
    };
    periodic::write_every(snapshots.every, ready, take, write, &counts, shutdown).await;
    store.close().await;
}

/// Milliseconds since the epoch, now (0 on a clock set before 1970).
fn now_mts() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Applies every stream, price and position update to the model until `shutdown`; says on
/// `ready` when the model is whole (`/readyz`'s condition), which it stays.
#[allow(clippy::too_many_arguments, reason = "the feeds and signals of one loop")]
async fn follow(
    client: &Client,
    live: &Live,
    accounts: Vec<bfx_client::Account>,
    options: StreamOptions,
    mut prices: mpsc::Receiver<(bfx_core::Market, Instant)>,
    mut positions: mpsc::Receiver<(String, Result<Vec<Position>, AccountError>)>,
    ready: &tokio::sync::watch::Sender<bool>,
    shutdown: impl Future<Output = ()>,
) {
    let mut tickers = client.ticker_stream(BTreeSet::new(), options.clone());
    let mut events = Some(feeds::account_streams(client, accounts, options));
    tokio::pin!(shutdown);
    // Which pairs value what is held is asked once a second, not after every event: it goes
    // through every wallet (20 000 for 1 000 accounts), under the model's lock.
    let mut follow_pairs = tokio::time::interval(FOLLOW_PAIRS_EVERY);
    follow_pairs.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if !*ready.borrow() && live.model().unready(true).is_empty() {
            ready.send_replace(true);
        }
        tokio::select! {
            _ = &mut shutdown => break,
            _ = follow_pairs.tick() => {
                if let Some(pairs) = live.model().follow() {
                    tickers.set_symbols(pairs);
                }
            }
            next = next_event(&mut events) => match next {
                Some((account, event)) => {
                    if matches!(event, StreamEvent::Status(StreamState::Reconnecting { .. })) {
                        live.count_reconnect(&account);
                    }
                    live.model().apply(&account, event, Instant::now());
                }
                // Every stream has ended (failed for good): keep serving what is known, and why.
                None => events = None,
            },
            Some((market, at)) = prices.recv() => live.model().set_market(market, at),
            Some(event) = tickers.next_event() => live.model().apply_ticker(event),
            Some((account, read)) = positions.recv() => live.model().set_positions(&account, read),
        }
    }
    tickers.close().await;
}

async fn next_event(
    events: &mut Option<mpsc::Receiver<(String, StreamEvent)>>,
) -> Option<(String, StreamEvent)> {
    match events {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}
