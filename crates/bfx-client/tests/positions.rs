//! `Client::positions` against the in-process emulator: open positions read exactly, and a key
//! without `positions` read refused with a typed permission error that keeps Bitfinex's code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::str::FromStr;

use bfx_client::{Client, Endpoints, Error, ErrorKind};
use bfx_core::Position;
use common::{counters, creds, sim_with};
use rust_decimal::Decimal;

const STATE: &str = r#"
[[account]]
name = "trader"
user_id = 21
email = "trader@example.com"
  [[account.key]]
  key = "trader-key"
  secret = "trader-secret"
  permissions = { wallets = "r", positions = "r" }
  [[account.key]]
  key = "reader-key"
  secret = "reader-secret"
  permissions = { wallets = "r" }
  [[account.position]]
  symbol = "tBTCUSD"
  amount = "0.123456789012345678"
  base_price = "108250.5"
  pl = "1e-8"
  price_liq = "95000"
  leverage = "3.0673001895895604"
  id = 142355652
  mts_create = 1764547200000
  mts_update = 1764550800000
  [[account.position]]
  symbol = "tBTCF0:USTF0"
  amount = "-2"
  base_price = "114000"
  type = 1
  collateral = "1500"
"#;

fn client(url: &str) -> Client {
    Client::builder().endpoints(Endpoints::single(url).unwrap()).in_memory_nonces().build().unwrap()
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

#[tokio::test]
async fn positions_are_read_exactly() {
    let sim = sim_with(STATE).await;
    let positions = client(&sim.url).positions(&creds("trader-key", "trader-secret")).await.unwrap();
    assert_eq!(
        positions,
        [
            Position {
                symbol: "tBTCUSD".into(),
                status: "ACTIVE".into(),
                amount: dec("0.123456789012345678"),
                base_price: dec("108250.5"),
                pl: Some(dec("0.00000001")),
                price_liq: Some(dec("95000")),
                leverage: Some(dec("3.0673001895895604")),
                id: Some(142355652),
                mts_create: Some(1764547200000),
                mts_update: Some(1764550800000),
                kind: Some(0),
            },
            Position {
                symbol: "tBTCF0:USTF0".into(),
                status: "ACTIVE".into(),
                amount: dec("-2"),
                base_price: dec("114000"),
                // Not given by the state: served as null, read as unknown, never 0.
                pl: None,
                price_liq: None,
                leverage: None,
                // None given: the first id the emulator assigns.
                id: Some(150_000_001),
                mts_create: Some(1577836800000),
                mts_update: Some(1577836800000),
                kind: Some(1),
            },
        ]
    );
    assert_eq!(counters(&sim.url).await["requests"]["auth/r/positions"], 1);
}

#[tokio::test]
async fn a_key_without_positions_read_gets_a_permission_error() {
    let sim = sim_with(STATE).await;
    let client = client(&sim.url);
    let reader = creds("reader-key", "reader-secret");
    let error = client.positions(&reader).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Permission);
    assert_eq!(error.code(), Some(10001));
    assert_eq!(error.endpoint(), Some("auth/r/positions"));
    assert!(
        matches!(&error, Error::Api { status: 500, message, .. } if message == "api_key: permission invalid"),
        "{error:?}"
    );
    // A permission error is not retried: one request reached the emulator.
    assert_eq!(counters(&sim.url).await["requests"]["auth/r/positions"], 1);
    // The same key still reads its wallets (none here).
    assert_eq!(client.wallets(&reader).await.unwrap(), []);
}

#[tokio::test]
async fn the_demo_state_has_positions_for_main_only() {
    let sim = sim_with(bfx_sim::DEMO_STATE_TOML).await;
    let client = client(&sim.url);
    let main = client.positions(&creds("demo-main", "demo-main-secret")).await.unwrap();
    let held: Vec<(&str, Decimal, Option<bool>)> =
        main.iter().map(|p| (p.symbol.as_str(), p.amount, p.pl.map(|pl| pl > Decimal::ZERO))).collect();
    assert_eq!(held, [("tBTCUSD", dec("0.2"), Some(true)), ("tETHUSD", dec("-1.5"), Some(false))]);
    let error = client.positions(&creds("demo-cold", "demo-cold-secret")).await.unwrap_err();
    assert_eq!((error.kind(), error.code()), (ErrorKind::Permission, Some(10001)));
}
