//! The portfolio as a library call against the emulator's demo state: `Client::market` (one
//! `tickers` and one `conf` request), `Client::holdings` keeping each account's own result, and
//! the price graph giving every asset that has a USD value a value in BTC, UST, ETH and EUR too,
//! consistent with USD through BTC's own price. And the example program, run as a user would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::collections::BTreeMap;

use bfx_client::{Account, Client, Endpoints};
use bfx_core::portfolio::Valuation;
use bfx_sim::SimState;
use common::{counters, creds};
use rust_decimal::Decimal;
use tokio::net::TcpListener;

/// The demo emulator on a fresh port; its accounts as the client reads them.
async fn demo() -> (String, Vec<Account>, tokio::sync::oneshot::Sender<()>) {
    bfx_client::install_crypto_provider();
    let state = SimState::demo();
    let accounts = state
        .keys()
        .into_iter()
        .map(|k| Account { name: k.account.clone(), credentials: creds(&k.key, &k.secret) })
        .collect();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(bfx_sim::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    (url, accounts, stop)
}

fn client(url: &str) -> Client {
    Client::builder().endpoints(Endpoints::single(url).unwrap()).in_memory_nonces().build().unwrap()
}

#[tokio::test]
async fn market_is_one_request_each_and_holdings_keep_each_account() {
    let (url, mut accounts, _stop) = demo().await;
    let client = client(&url);
    let market = client.market().await.unwrap();
    assert_eq!(market.display_name("UST"), "USDt");
    let seen = counters(&url).await;
    assert_eq!((seen["requests"]["tickers"].as_u64(), seen["requests"]["conf"].as_u64()), (Some(1), Some(1)));

    accounts
        .push(Account { name: "wrong".into(), credentials: creds(accounts[0].credentials.key(), "nope") });
    let holdings = client.holdings(&accounts).await;
    let names: Vec<&str> = holdings.iter().map(|h| h.name.as_str()).collect();
    let expected: Vec<&str> = accounts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, expected, "in the order given");
    let wrong = holdings.last().unwrap();
    assert_eq!(wrong.wallets.as_ref().unwrap_err().code(), Some(10100));
    assert!(wrong.positions.is_none(), "no positions read for an account that failed");
    assert!(holdings[..holdings.len() - 1].iter().all(|h| h.wallets.is_ok()));
}

#[tokio::test]
async fn every_asset_valued_in_usd_is_valued_in_btc_ust_eth_and_eur() {
    let (url, accounts, _stop) = demo().await;
    let client = client(&url);
    let value = |quote: &'static str| {
        let (client, accounts) = (client.clone(), accounts.clone());
        async move { client.portfolio(&accounts, &Valuation::new(quote)).await.unwrap() }
    };
    let usd = value("USD").await;
    let priced = |p: &bfx_core::Portfolio| -> BTreeMap<String, Decimal> {
        p.assets.iter().filter_map(|a| Some((a.currency.clone(), a.value?))).collect()
    };
    let in_usd = priced(&usd);
    assert!(in_usd.len() >= 15, "{in_usd:?}");
    let btc_usd = usd.assets.iter().find(|a| a.currency == "BTC").unwrap().price.unwrap();
    for quote in ["BTC", "UST", "ETH", "EUR"] {
        let other = priced(&value(quote).await);
        let missing: Vec<&String> = in_usd.keys().filter(|c| !other.contains_key(*c)).collect();
        assert!(missing.is_empty(), "valued in USD but not in {quote}: {missing:?}");
    }
    // Through BTC's own price, a BTC value is the USD value, within the rounding of one
    // division per route: a `Decimal` keeps 28–29 significant digits and at most 28 places, so
    // allow a relative 1e-20 plus a few units of the 28th place (far below a cent either way).
    let in_btc = value("BTC").await;
    for wallet in in_btc.accounts.iter().flat_map(|a| &a.wallets) {
        let (Some(route), Some(btc)) = (&wallet.price_route, wallet.value) else { continue };
        if !route.iter().any(|symbol| symbol.contains("USD")) || btc.is_zero() {
            continue;
        }
        let usd_wallet = usd
            .accounts
            .iter()
            .flat_map(|a| &a.wallets)
            .find(|w| w.currency == wallet.currency && w.balance == wallet.balance)
            .unwrap();
        let expected = usd_wallet.value.unwrap();
        let drift = (btc * btc_usd - expected).abs();
        assert!(
            drift <= expected.abs() * Decimal::new(1, 20) + Decimal::new(1, 27) * btc_usd,
            "{} via {route:?}: {btc} BTC × {btc_usd} vs {expected} USD",
            wallet.currency
        );
    }
}

/// `examples/portfolio.rs`, built and run against the emulator as a user would.
#[tokio::test(flavor = "multi_thread")]
async fn the_example_prints_the_valued_wallets_and_total() {
    let (url, accounts, _stop) = demo().await;
    let main = accounts.iter().find(|a| a.name == "main").unwrap().clone();
    let expected = client(&url).portfolio(std::slice::from_ref(&main), &Valuation::new("EUR")).await.unwrap();
    let run = tokio::task::spawn_blocking(move || {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let build = std::process::Command::new(cargo)
            .args(["build", "--quiet", "-p", "bfx-client", "--example", "portfolio"])
            .status()
            .unwrap();
        assert!(build.success(), "building the example failed");
        // target/debug/deps/<this test> → target/debug/examples/portfolio
        let exe = std::env::current_exe().unwrap();
        let program = exe.parent().unwrap().parent().unwrap().join("examples").join("portfolio");
        std::process::Command::new(program)
            .arg("EUR")
            .env("BFX_API_URL", &url)
            .env("BFX_API_KEY", main.credentials.key())
            .env("BFX_API_SECRET", "demo-main-secret")
            .env("HOME", std::env::temp_dir())
            .env("XDG_STATE_HOME", std::env::temp_dir())
            .output()
            .unwrap()
    });
    let out = run.await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let total = bfx_core::format_decimal(expected.total.unwrap());
    assert!(stdout.lines().last().unwrap().starts_with(&format!("total {total} EUR")), "{stdout}");
    assert_eq!(stdout.lines().count(), expected.accounts[0].wallets.len() + 1, "{stdout}");
    assert!(!stdout.contains("demo-main-secret"));
}
