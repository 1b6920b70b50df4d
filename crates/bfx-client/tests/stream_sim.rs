//! The account stream end to end against the emulator's `/ws/2`: auth with the nonce counter shared
//! with REST, both snapshots, a wallet change made through the admin API arriving as `Wallet` and
//! `Total`, and reconnects after a restart notice (20051), a dropped connection, a server that
//! stops its heartbeats and an emulator restart, each ending equal to a fresh REST read.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::str::FromStr;
use std::time::Duration;

use bfx_client::{Client, Endpoints, Error, ErrorKind, SocketError, StreamEvent, StreamOptions, StreamState};
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
    // One snapshot for the connect: REST's, available balances included. The emulator's `ws`
    // snapshot has the same balances (available not computed) and is not repeated: the next
    // event is the change below.
    let rest = next_snapshot(&mut stream).await;
    assert_eq!(rest, client.wallets(&alice).await.unwrap());
    assert_eq!(rest.iter().find(|w| w.currency == "BTC").unwrap().available, Some(dec("1.2")));

    admin_post(
        &sim.url,
        "/sim/wallets",
        r#"{"account":"alice","type":"exchange","currency":"BTC","balance":"2"}"#,
    )
    .await;
    let StreamEvent::Wallet(row) = next(&mut stream).await else { panic!("expected a wallet update") };
    assert_eq!((row.currency.as_str(), row.balance), ("BTC", dec("2")));
    assert!(matches!(next(&mut stream).await, StreamEvent::Total { .. }));

    // A restart notice: reconnect, fresh auth (the emulator checks its nonce), one snapshot.
    admin_post(&sim.url, "/sim/ws/info", r#"{"code":20051}"#).await;
    let StreamState::Reconnecting { error, .. } = next_status(&mut stream).await else {
        panic!("expected Reconnecting")
    };
    assert!(matches!(*error, Error::Socket(SocketError::Restarting)), "{error:?}");
    assert_eq!(error.code(), Some(20051));
    assert_eq!(next_status(&mut stream).await, StreamState::Live);
    assert_eq!(balance_of(&next_snapshot(&mut stream).await, "BTC"), dec("2"));

    // Dropped without a close frame: the same.
    admin_post(&sim.url, "/sim/ws/drop", "").await;
    assert!(matches!(next_status(&mut stream).await, StreamState::Reconnecting { .. }));
    assert_eq!(next_status(&mut stream).await, StreamState::Live);
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

/// The emulator refuses a key whose secret is wrong over the WebSocket (`10100 "apikey: invalid"`):
/// the stream ends in `Failed` with that code and message, typed, and nothing follows.
#[tokio::test]
async fn a_key_the_emulator_rejects_fails_with_its_code_and_kind() {
    let sim = sim_with(STATE).await;
    let nonces = tempfile::tempdir().unwrap();
    let client = Client::builder()
        .endpoints(Endpoints::single(&sim.url).unwrap())
        .nonce_dir(nonces.path())
        .build()
        .unwrap();
    let mut stream = client.account_stream(creds("alice-key", "not-alice-secret"), StreamOptions::default());
    assert_eq!(next_status(&mut stream).await, StreamState::Connecting);
    let StreamState::Failed { error } = next_status(&mut stream).await else { panic!("expected Failed") };
    assert_eq!((error.code(), error.kind()), (Some(10100), ErrorKind::Auth), "{error}");
    assert_eq!(error.exchange_message(), Some("apikey: invalid"));
    assert!(matches!(*error, Error::WsAuth { code: Some(10100), .. }), "{error:?}");
    assert_eq!(error.to_string(), r#"WebSocket auth refused: 10100 "apikey: invalid""#);
    assert_eq!(tokio::time::timeout(common::fake_ws::PATIENCE, stream.next_event()).await.unwrap(), None);
}

/// The emulator on `listener` with heartbeats every `heartbeat`; stopped when the sender is used
/// or dropped, and the task ends once it has.
fn serve(
    listener: tokio::net::TcpListener,
    state: &str,
    heartbeat: Duration,
) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<std::io::Result<()>>) {
    let state = bfx_sim::SimState::from_toml(state, "test state").unwrap();
    let options = bfx_sim::SimOptions::default().with_ws_heartbeat(heartbeat);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(bfx_sim::serve_with(listener, state, options, async move {
        let _ = stopped.await;
    }));
    (stop, task)
}

/// The events up to the next `Live`, then the first snapshot after it (the REST read).
async fn live_again(stream: &mut bfx_client::AccountStream) -> Vec<bfx_core::WalletRow> {
    loop {
        match next(stream).await {
            StreamEvent::Status(StreamState::Live) => return next_snapshot(stream).await,
            StreamEvent::Status(StreamState::Failed { error }) => panic!("failed: {error}"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn a_silent_server_and_an_emulator_restart_resynchronise() {
    bfx_client::install_crypto_provider();
    let heartbeat = Duration::from_millis(150);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("http://{addr}");
    let (stop, served) = serve(listener, STATE, heartbeat);
    let nonces = tempfile::tempdir().unwrap();
    let client = Client::builder()
        .endpoints(Endpoints::single(&url).unwrap())
        .nonce_dir(nonces.path())
        .build()
        .unwrap();
    let alice = creds("alice-key", "alice-secret");
    let options = StreamOptions {
        heartbeat_interval: heartbeat,
        backoff_base: Duration::from_millis(20),
        backoff_cap: Duration::from_millis(200),
        poll_interval: Duration::from_millis(200),
        ..StreamOptions::default()
    };
    let mut stream = client.account_stream(alice.clone(), options);
    live_again(&mut stream).await;

    // Heartbeats stop, and a wallet changes meanwhile: the watchdog reconnects, and the REST
    // snapshot after it has the change.
    admin_post(&url, "/sim/ws/heartbeats", r#"{"enabled":false}"#).await;
    admin_post(
        &url,
        "/sim/wallets",
        r#"{"account":"alice","type":"exchange","currency":"BTC","balance":"3"}"#,
    )
    .await;
    let error = loop {
        match next(&mut stream).await {
            StreamEvent::Status(StreamState::Reconnecting { error, .. }) => break error,
            StreamEvent::Status(other) => panic!("expected Reconnecting, got {other:?}"),
            _ => {}
        }
    };
    assert!(matches!(*error, Error::Socket(SocketError::Silent { .. })), "{error:?}");
    assert!(error.to_string().contains("heartbeat"), "{error}");
    admin_post(&url, "/sim/ws/heartbeats", r#"{"enabled":true}"#).await;
    let snapshot = live_again(&mut stream).await;
    assert_eq!(balance_of(&snapshot, "BTC"), dec("3"));
    assert_eq!(snapshot, client.wallets(&alice).await.unwrap());

    // The emulator goes away and comes back on the same port with other balances: bfx says it is
    // not live while it is gone, and once back its snapshot equals a fresh REST read.
    stop.send(()).unwrap();
    served.await.unwrap().unwrap();
    loop {
        match next(&mut stream).await {
            StreamEvent::Status(StreamState::Reconnecting { .. } | StreamState::Polling { .. }) => break,
            StreamEvent::Status(other) => panic!("expected Reconnecting, got {other:?}"),
            _ => {}
        }
    }
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let (_stop, _served) = serve(listener, STATE, heartbeat);
    admin_post(
        &url,
        "/sim/wallets",
        r#"{"account":"alice","type":"exchange","currency":"BTC","balance":"0.25"}"#,
    )
    .await;
    let snapshot = live_again(&mut stream).await;
    assert_eq!(balance_of(&snapshot, "BTC"), dec("0.25"));
    assert_eq!(snapshot, client.wallets(&alice).await.unwrap());
    stream.close().await;
}
