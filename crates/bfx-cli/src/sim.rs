//! `bfx sim` (run the emulator until Ctrl-C or SIGTERM), and the in-process emulator behind
//! `bfx demo` ([`Demo`]: the demo state on a free loopback port, its accounts as configured ones)
//! with the mover behind `bfx demo watch` (balances and prices moved every ~1.5 s).

use anyhow::Context;
use bfx_client::{Client, Credentials, Endpoints};
use bfx_sim::SimState;
use rust_decimal::Decimal;
use secrecy::SecretString;
use std::path::Path;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::config::{Account, ConfigError};
use crate::exit::Exit;
use crate::output::write_stdout;

/// Serves the state in `state_file` (the built-in demo state when `None`, its keys then printed)
/// on `listen` (`HOST:PORT`, a host name resolved) until Ctrl-C or SIGTERM.
pub async fn serve(listen: &str, state_file: Option<&Path>) -> anyhow::Result<Exit> {
    let (state, show_keys) = match state_file {
        Some(path) => (SimState::load(path).map_err(ConfigError::from_state)?, false),
        None => (SimState::demo(), true),
    };
    // A busy port or an address that is not this machine's is the caller's to fix: exit 2.
    let listener = TcpListener::bind(listen).await.map_err(|e| {
        ConfigError::Invalid(format!("cannot listen on {listen}: {e} (try --listen 127.0.0.1:0)"))
    })?;
    let addr = listener.local_addr()?;
    // The first line is the contract scripts wait for (see peers/run).
    let mut banner = format!("listening on http://{addr}\n");
    banner.push_str(&format!("  REST       http://{addr}/v2/…  (BFX_API_URL=http://{addr})\n"));
    if show_keys {
        banner.push_str("demo keys (public test keys of the built-in demo state):\n");
        for key in state.keys() {
            banner.push_str(&format!(
                "  {:<6} key {:<10} secret {:<17} {}\n",
                key.account, key.key, key.secret, key.permissions
            ));
        }
    }
    banner.push_str(&format!(
        "  admin      http://{addr}/sim/…  ({})\n",
        match std::env::var_os("BFX_SIM_ADMIN_TOKEN").is_some_and(|t| !t.is_empty()) {
            true => "Bearer token from BFX_SIM_ADMIN_TOKEN",
            false => "loopback only",
        }
    ));
    banner.push_str("Ctrl-C stops the emulator.\n");
    write_stdout(&banner)?;
    // A token is a secret: from the environment only, never a flag (shell history, `ps`).
    let mut options = bfx_sim::SimOptions::default();
    if let Some(token) = std::env::var("BFX_SIM_ADMIN_TOKEN").ok().filter(|t| !t.is_empty()) {
        options = options.with_admin_token(token);
    }
    bfx_sim::serve_with(listener, state, options, shutdown_signal()).await.context("emulator failed")?;
    Ok(Exit::Ok)
}

/// Ctrl-C, or SIGTERM on Unix (what scripts and service managers send).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The in-process emulator with the demo state, and its accounts as configured ones.
pub struct Demo {
    pub url: String,
    pub accounts: Vec<Account>,
    pub client: Client,
    stop: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl std::fmt::Debug for Demo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Demo").field("url", &self.url).finish_non_exhaustive()
    }
}

impl Demo {
    pub async fn start() -> anyhow::Result<Demo> {
        let state = SimState::demo();
        let accounts: Vec<Account> = state
            .keys()
            .into_iter()
            .map(|k| Account {
                credentials: Credentials::new(k.key, SecretString::from(k.secret)),
                secret_source: format!("the demo state's secret for {}", k.account),
                name: k.account,
            })
            .collect();
        let listener =
            TcpListener::bind("127.0.0.1:0").await.context("cannot bind a loopback port for the emulator")?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(bfx_sim::serve(listener, state, async move {
            let _ = stopped.await;
        }));
        eprintln!("bfx demo: built-in emulator at {url} (demo state, no network, no config)");
        // A fresh emulator every run: its nonces need not outlive it.
        let client = Client::builder().endpoints(Endpoints::single(&url)?).in_memory_nonces().build()?;
        Ok(Demo { url, accounts, client, stop, server })
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        // Streams still open are closed by the emulator; do not hang on a slow one.
        let _ = tokio::time::timeout(Duration::from_secs(2), self.server).await;
    }
}

/// Wallets `bfx demo watch` moves, in turn, by these deltas; each round goes up, the next down,
/// so the demo balances stay near the demo state's.
const MOVES: &[(&str, &str, &str, &str)] = &[
    ("main", "exchange", "BTC", "0.01"),
    ("cold", "exchange", "ETH", "0.25"),
    ("bot", "exchange", "SOL", "3.5"),
    ("main", "exchange", "DOGE", "1500"),
    ("cold", "exchange", "BTC", "0.05"),
    ("bot", "margin", "USD", "125.5"),
];
const MOVE_EVERY: Duration = Duration::from_millis(1500);
/// Pairs whose last price `bfx demo watch` nudges, one with each wallet move, up 0.1 % one
/// round and down the next, so the values move through the ticker channel as well.
const PRICE_MOVES: &[&str] = &["tBTCUSD", "tETHUSD", "tSOLUSD"];

/// Moves the demo balances and prices through the emulator's admin API until aborted.
pub async fn move_balances(url: String) {
    // `Demo::start` built the exchange client, which installed the TLS crypto provider reqwest needs.
    let http = reqwest::Client::new();
    let mut round = 0usize;
    loop {
        let up = round.is_multiple_of(2);
        for (index, (account, wallet_type, currency, delta)) in MOVES.iter().enumerate() {
            tokio::time::sleep(MOVE_EVERY).await;
            let sign = if up { "" } else { "-" };
            let body = serde_json::json!({
                "account": account, "type": wallet_type, "currency": currency, "delta": format!("{sign}{delta}"),
            });
            if let Err(e) = admin_post(&http, &url, "wallets", body).await {
                tracing::warn!("bfx demo watch: cannot move {account}'s {currency}: {e}");
            }
            if let Some(symbol) = PRICE_MOVES.get(index)
                && let Err(e) = nudge_price(&http, &url, symbol, up).await
            {
                tracing::warn!("bfx demo watch: cannot move the price of {symbol}: {e}");
            }
        }
        round += 1;
    }
}

/// Moves `symbol`'s last price 0.1 % up or down (to 8 decimals).
async fn nudge_price(http: &reqwest::Client, url: &str, symbol: &str, up: bool) -> anyhow::Result<()> {
    let response = http.get(format!("{url}/v2/ticker/{symbol}")).send().await?.error_for_status()?;
    let ticker = bfx_core::parse_trading_ticker(symbol, &response.bytes().await?)?;
    let last = ticker.last_price.context("no last price")?;
    let factor = if up { Decimal::new(1001, 3) } else { Decimal::new(999, 3) };
    let moved = (last * factor).round_dp(8).normalize();
    admin_post(http, url, "tickers", serde_json::json!({"symbol": symbol, "last_price": moved.to_string()}))
        .await
}

async fn admin_post(
    http: &reqwest::Client,
    url: &str,
    what: &str,
    body: serde_json::Value,
) -> anyhow::Result<()> {
    http.post(format!("{url}/sim/{what}")).body(body.to_string()).send().await?.error_for_status()?;
    Ok(())
}
