//! The account stream end to end against the emulator's `/ws/2`: auth with the nonce counter shared
//! with REST, both snapshots, a wallet change made through the admin API arriving as `Wallet` and
//! `Total`, and reconnects after a restart notice (20051) and a dropped connection.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::str::FromStr;
use std::time::Duration;

use bfx_client::{Client, Endpoints, StreamEvent, StreamOptions, StreamState};
use common::fake_ws::{next, next_snapshot, next_status};
use common::{STATE, creds, sim_with};
use rust_decimal::Decimal;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

async fn admin_post(url: &str, path: &str, body: &str) {
    let response =
        reqwest::Client::new().post(format!("{url}{path}")).body(body.to_owned()).send().await.unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
}

fn balance_of(wallets: &[bfx_core::WalletRow], currency: &str) -> Decimal {
    wallets.iter().find(|w| w.currency == currency).unwrap().balance
}

#[tokio::test]
async fn wallet_changes_stream_from_the_emulator_across_reconnects() {
    let sim = sim_with(STATE).await;
    let nonces = tempfile::tempdir().unwrap();
    let client = Client::builder()
        .endpoints(Endpoints::single(&sim.url).unwrap())
        .nonce_dir(nonces.path())
        .build()
        .unwrap();
    let alice = creds("alice-key", "alice-secret");
    // REST first: the emulator then requires the WebSocket nonce above it.
    assert_eq!(client.wallets(&alice).await.unwrap().len(), 4);

    let options = StreamOptions {
        backoff_base: Duration::from_millis(20),
        backoff_cap: Duration::from_millis(200),
        ..StreamOptions::default()
    };
    let mut stream = client.account_stream(alice.clone(), options);
    assert_eq!(next_status(&mut stream).await, StreamState::Connecting);
    assert_eq!(next_status(&mut stream).await, StreamState::Live);
    let rest = next_snapshot(&mut stream).await;
    let ws = next_snapshot(&mut stream).await;
    assert_eq!(rest.len(), 4);
    assert_eq!(ws.len(), 4);
    for wallet in &rest {
        assert_eq!(balance_of(&ws, &wallet.currency), wallet.balance, "{}", wallet.currency);
    }

    admin_post(
        &sim.url,
        "/sim/wallets",
        r#"{"account":"alice","type":"exchange","currency":"BTC","balance":"2"}"#,
    )
    .await;
    let StreamEvent::Wallet(row) = next(&mut stream).await else { panic!("expected a wallet update") };
    assert_eq!((row.currency.as_str(), row.balance), ("BTC", dec("2")));
    assert!(matches!(next(&mut stream).await, StreamEvent::Total { .. }));

    // A restart notice: reconnect, fresh auth (the emulator checks its nonce), both snapshots.
    admin_post(&sim.url, "/sim/ws/info", r#"{"code":20051}"#).await;
    let StreamState::Reconnecting { reason, .. } = next_status(&mut stream).await else {
        panic!("expected Reconnecting")
    };
    assert!(reason.contains("20051"), "{reason}");
    assert_eq!(next_status(&mut stream).await, StreamState::Live);
    assert_eq!(balance_of(&next_snapshot(&mut stream).await, "BTC"), dec("2"));
    assert_eq!(balance_of(&next_snapshot(&mut stream).await, "BTC"), dec("2"));

    // Dropped without a close frame: the same.
    admin_post(&sim.url, "/sim/ws/drop", "").await;
    assert!(matches!(next_status(&mut stream).await, StreamState::Reconnecting { .. }));
    assert_eq!(next_status(&mut stream).await, StreamState::Live);
    next_snapshot(&mut stream).await;
    next_snapshot(&mut stream).await;
    admin_post(
        &sim.url,
        "/sim/wallets",
        r#"{"account":"alice","type":"exchange","currency":"BTC","delta":"-0.5"}"#,
    )
    .await;
    assert!(matches!(next(&mut stream).await, StreamEvent::Wallet(row) if row.balance == dec("1.5")));

    // REST still works with the key after the stream's nonces.
    assert_eq!(balance_of(&client.wallets(&alice).await.unwrap(), "BTC"), dec("1.5"));
    stream.close().await;
}
