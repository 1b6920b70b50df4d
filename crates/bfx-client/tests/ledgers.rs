//! `Client::ledgers` against the in-process emulator: both paths (the per-currency one signed with
//! its currency), the body's filters, exact rows with their wallet, and requests refused before
//! they are sent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::str::FromStr;

use bfx_client::{Client, Endpoints, Error, ErrorKind, LedgerQuery};
use common::{counters, creds, sim_with};
use rust_decimal::Decimal;

const STATE: &str = r#"
[[account]]
name = "alice"
user_id = 7
email = "alice@example.com"
  [[account.key]]
  key = "alice-key"
  secret = "alice-secret"
  permissions = { wallets = "r", history = "r" }
  [[account.key]]
  key = "wallets-only"
  secret = "wallets-only-secret"
  permissions = { wallets = "r" }
  [[account.wallet]]
  type = "exchange"
  currency = "BTC"
  balance = "0.30000000000000000001"
  unsettled_interest = "0"
  [[account.ledger]]
  id = 1
  currency = "BTC"
  wallet = "exchange"
  mts = 1000
  amount = "0.5"
  balance = "0.5"
  description = "Deposit (BITCOIN) #1 on wallet exchange"
  [[account.ledger]]
  id = 2
  currency = "USD"
  wallet = "funding"
  mts = 2000
  amount = "1.25"
  balance = "1.25"
  description = "Margin Funding Payment on wallet funding"
  [[account.ledger]]
  id = 3
  currency = "BTC"
  wallet = "exchange"
  mts = 3000
  amount = "-0.19999999999999999999"
  balance = "0.30000000000000000001"
  description = "Bitcoin Withdrawal #7 on wallet exchange"
"#;

fn client(url: &str) -> Client {
    Client::builder().endpoints(Endpoints::single(url).unwrap()).in_memory_nonces().build().unwrap()
}

fn ids(entries: &[bfx_core::LedgerEntry]) -> Vec<i64> {
    entries.iter().map(|e| e.id).collect()
}

#[tokio::test]
async fn both_paths_newest_first_exact() {
    let sim = sim_with(STATE).await;
    let (client, alice) = (client(&sim.url), creds("alice-key", "alice-secret"));
    let all = client.ledgers(&alice, &LedgerQuery::page(None)).await.unwrap();
    assert_eq!(ids(&all), [3, 2, 1]);
    assert_eq!(all[0].amount, Decimal::from_str("-0.19999999999999999999").unwrap());
    assert_eq!((all[1].wallet.as_str(), all[1].currency.as_str()), ("funding", "USD"));
    let btc = LedgerQuery { currency: Some("BTC".into()), ..LedgerQuery::page(None) };
    assert_eq!(ids(&client.ledgers(&alice, &btc).await.unwrap()), [3, 1]);
    let window = LedgerQuery { start: Some(1000), ..LedgerQuery::page(Some(2000)) };
    assert_eq!(ids(&client.ledgers(&alice, &window).await.unwrap()), [2, 1], "both bounds inclusive");
    let one = LedgerQuery { limit: 1, ..LedgerQuery::page(None) };
    assert_eq!(ids(&client.ledgers(&alice, &one).await.unwrap()), [3]);
    let filtered = LedgerQuery { category: Some(28), ..LedgerQuery::page(None) };
    assert_eq!(ids(&client.ledgers(&alice, &filtered).await.unwrap()), [2]);
    let wallet = LedgerQuery { wallet: Some("exchange".into()), ..LedgerQuery::page(None) };
    assert_eq!(ids(&client.ledgers(&alice, &wallet).await.unwrap()), [3, 1]);
    assert_eq!(counters(&sim.url).await["requests"]["auth/r/ledgers/hist"], 6);
}

#[tokio::test]
async fn a_key_without_history_read_gets_a_permission_error() {
    let sim = sim_with(STATE).await;
    let error = client(&sim.url)
        .ledgers(&creds("wallets-only", "wallets-only-secret"), &LedgerQuery::page(None))
        .await;
    let error = error.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Permission, "{error}");
    assert_eq!(error.endpoint(), Some("auth/r/ledgers/hist"));
}

#[tokio::test]
async fn bad_requests_are_refused_before_sending() {
    let sim = sim_with(STATE).await;
    let (client, alice) = (client(&sim.url), creds("alice-key", "alice-secret"));
    for currency in ["", "BTC/../wallets", "BTC?x=1", "ÜST"] {
        let query = LedgerQuery { currency: Some(currency.into()), ..LedgerQuery::page(None) };
        let error = client.ledgers(&alice, &query).await.unwrap_err();
        assert!(matches!(error, Error::Query { .. }), "{currency:?}: {error}");
        assert_eq!(error.kind(), ErrorKind::Config);
    }
    for limit in [0, 2501] {
        let error =
            client.ledgers(&alice, &LedgerQuery { limit, ..LedgerQuery::page(None) }).await.unwrap_err();
        assert!(error.to_string().contains(&format!("limit {limit} is outside 1..=2500")), "{error}");
    }
    assert_eq!(counters(&sim.url).await["requests"]["auth/r/ledgers/hist"], 0, "nothing was sent");
}
