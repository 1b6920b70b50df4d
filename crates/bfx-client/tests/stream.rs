//! The account stream against a scripted WebSocket server (exact frames) and the in-process
//! emulator's REST API (the snapshots): the auth frame, events in order, and auth failures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::str::FromStr;
use std::time::Duration;

use bfx_client::{Client, Endpoints, Error, ErrorKind, StreamEvent, StreamOptions, StreamState};
use bfx_core::WalletType;
use common::fake_ws::{FakeWs, PATIENCE, next, next_snapshot, next_status, nonce_of};
use common::{STATE, creds, sim_with};
use futures_util::StreamExt;
use rust_decimal::Decimal;
use tokio_tungstenite::tungstenite::Message;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// REST at the emulator, the WebSocket at the fake server, nonces in `nonce_dir`.
fn client(rest_url: &str, ws_url: &str, nonce_dir: &std::path::Path) -> Client {
    let endpoints = Endpoints { ws_url: ws_url.to_owned(), ..Endpoints::single(rest_url).unwrap() };
    Client::builder().endpoints(endpoints).nonce_dir(nonce_dir).build().unwrap()
}

fn quick() -> StreamOptions {
    StreamOptions {
        heartbeat_interval: Duration::from_secs(5),
        auth_timeout: Duration::from_secs(5),
        backoff_base: Duration::from_millis(20),
        backoff_cap: Duration::from_millis(200),
        ..StreamOptions::default()
    }
}

#[tokio::test]
async fn auth_frame_then_snapshots_updates_and_totals_in_order() {
    let sim = sim_with(STATE).await;
    let mut fake = FakeWs::start().await;
    let nonces = tempfile::tempdir().unwrap();
    let client = client(&sim.url, &fake.url, nonces.path());
    let alice = creds("alice-key", "alice-secret");

    // A REST request just before, with the same key and nonce directory.
    client.wallets(&alice).await.unwrap();
    let nonce_file = std::fs::read_dir(nonces.path()).unwrap().next().unwrap().unwrap().path();
    let rest_nonce: u64 = std::fs::read_to_string(&nonce_file).unwrap().parse().unwrap();

    let mut stream = client.clone().account_stream(alice.clone(), quick());
    assert_eq!(next_status(&mut stream).await, StreamState::Connecting);
    let mut conn = fake.next_conn().await;
    let auth = conn.greet_and_read_auth().await;

    let nonce = nonce_of(&auth);
    assert!(nonce > rest_nonce, "WS nonce {nonce} not above the REST nonce {rest_nonce}");
    assert_eq!(
        std::fs::read_to_string(&nonce_file).unwrap(),
        nonce.to_string(),
        "recorded in the shared file"
    );
    let payload = format!("AUTH{nonce}");
    assert_eq!(auth["authPayload"], payload.as_str());
    assert!(bfx_core::sign::verify_payload(
        b"alice-secret",
        payload.as_bytes(),
        auth["authSig"].as_str().unwrap()
    ));
    assert_eq!(auth["apiKey"], "alice-key");
    assert_eq!(auth["filter"], serde_json::json!(["wallet", "balance"]));
    let mut fields: Vec<&str> = auth.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["apiKey", "authNonce", "authPayload", "authSig", "event", "filter"],
        "no dms, no secret"
    );
    assert!(!auth.to_string().contains("alice-secret"));

    conn.auth_ok().await;
    assert_eq!(next_status(&mut stream).await, StreamState::Live);
    // The REST snapshot comes first: the emulator's four wallets, exact.
    let rest = next_snapshot(&mut stream).await;
    assert_eq!(rest.len(), 4);
    assert_eq!(rest[1].balance, dec("0.123456789012345678"));

    // Unknown events, channels and message types are ignored, heartbeats too.
    for ignored in [
        r#"{"event":"pong","ts":1,"cid":7}"#,
        r#"[0,"hb"]"#,
        r#"[0,"os",[]]"#,
        r#"[0,"ps",[]]"#,
        r#"[0,"n",[1700000000000,"ucm-x",null,null,null,null,"SUCCESS","ok"]]"#,
        r#"[42,[1,2,3,4,5,6,7,8,9,10]]"#,
        r#"{"event":"info","code":99999,"msg":"?"}"#,
        r#"[0,"wu",["exchange"]]"#,
    ] {
        conn.send(ignored).await;
    }
    conn.send(
        r#"[0,"ws",[["exchange","BTC",1.5,0,null,null,null],["funding","USD",0.123456789012345678,0,null]]]"#,
    )
    .await;
    conn.send(r#"[0,"wu",["exchange","BTC",1.25,0,1.2,"Trade",{"reason":"TRADE"}]]"#).await;
    conn.send(r#"[0,"bu",[12345.678901234567890,12000.000000000000001]]"#).await;

    let ws = next_snapshot(&mut stream).await;
    assert_eq!(ws.len(), 2);
    assert_eq!(
        (ws[1].wallet_type.clone(), ws[1].balance),
        (WalletType::Funding, dec("0.123456789012345678"))
    );
    let StreamEvent::Wallet(row) = next(&mut stream).await else { panic!("expected a wallet update") };
    assert_eq!((row.currency.as_str(), row.balance, row.available), ("BTC", dec("1.25"), Some(dec("1.2"))));
    assert_eq!(row.last_change_metadata.as_deref(), Some(r#"{"reason":"TRADE"}"#));
    assert_eq!(
        next(&mut stream).await,
        StreamEvent::Total { aum: dec("12345.678901234567890"), aum_net: dec("12000.000000000000001") }
    );

    // The REST nonce source continues above the WebSocket's.
    client.wallets(&alice).await.unwrap();
    let after: u64 = std::fs::read_to_string(&nonce_file).unwrap().parse().unwrap();
    assert!(after > nonce);

    // close() sends a close frame and ends the stream.
    let closing = tokio::spawn(stream.close());
    let message = tokio::time::timeout(PATIENCE, conn.ws.next()).await.unwrap().unwrap().unwrap();
    assert!(matches!(message, Message::Close(_)), "{message:?}");
    tokio::time::timeout(PATIENCE, closing).await.unwrap().unwrap();
}

/// On connecting, the REST snapshot stands for the connect: the socket's `ws` snapshot that says
/// the same (its available balances not computed, `null`) is not repeated, so a known available
/// balance is not replaced by `null`.
#[tokio::test]
async fn a_socket_snapshot_that_agrees_with_rest_is_not_repeated() {
    let sim = sim_with(STATE).await;
    let mut fake = FakeWs::start().await;
    let nonces = tempfile::tempdir().unwrap();
    let client = client(&sim.url, &fake.url, nonces.path());
    let mut stream = client.account_stream(creds("alice-key", "alice-secret"), quick());
    assert_eq!(next_status(&mut stream).await, StreamState::Connecting);
    let mut conn = fake.next_conn().await;
    conn.accept_auth().await;
    assert_eq!(next_status(&mut stream).await, StreamState::Live);
    let rest = next_snapshot(&mut stream).await;
    assert!(rest.iter().any(|w| w.available.is_some()), "{rest:?}");
    let number = |d: Option<Decimal>| d.map_or_else(|| "null".to_owned(), bfx_core::format_decimal);
    let rows: Vec<String> = rest
        .iter()
        .map(|w| {
            format!(
                r#"["{}","{}",{},{},null,null,null]"#,
                w.wallet_type.as_str(),
                w.currency,
                number(Some(w.balance)),
                number(w.unsettled_interest)
            )
        })
        .collect();
    conn.send(&format!(r#"[0,"ws",[{}]]"#, rows.join(","))).await;
    conn.send(r#"[0,"wu",["exchange","BTC",2,0,null,null,null]]"#).await;
    match next(&mut stream).await {
        StreamEvent::Wallet(row) => assert_eq!((row.currency.as_str(), row.balance), ("BTC", dec("2"))),
        other => panic!("expected the wallet update, got {other:?}"),
    }
}

#[tokio::test]
async fn a_rejected_key_fails_once_without_reconnecting() {
    let sim = sim_with(STATE).await;
    let mut fake = FakeWs::start().await;
    let nonces = tempfile::tempdir().unwrap();
    let client = client(&sim.url, &fake.url, nonces.path());
    let mut stream = client.account_stream(creds("alice-key", "wrong"), quick());
    assert_eq!(next_status(&mut stream).await, StreamState::Connecting);
    let mut conn = fake.next_conn().await;
    conn.greet_and_read_auth().await;
    conn.send(r#"{"event":"auth","status":"FAILED","chanId":0,"code":10100,"msg":"apikey: invalid"}"#).await;
    let StreamState::Failed { error } = next_status(&mut stream).await else { panic!("expected Failed") };
    assert_eq!(error.kind(), ErrorKind::Auth);
    let Error::WsAuth { code, message } = &*error else { panic!("{error:?}") };
    assert_eq!((*code, message.as_str()), (Some(10100), "apikey: invalid"));
    // Terminal: the stream ends, nothing reconnects. The end is the proof: the events close only
    // when the stream's task has returned, so no connection can follow the ones made so far.
    let end = tokio::time::timeout(PATIENCE, stream.next_event()).await.unwrap();
    assert_eq!(end, None);
    assert!(fake.conns.try_recv().is_err(), "no second connection");
}

#[tokio::test]
async fn a_nonce_failure_is_retried_once_with_a_fresh_nonce() {
    let sim = sim_with(STATE).await;
    let mut fake = FakeWs::start().await;
    let nonces = tempfile::tempdir().unwrap();
    let client = client(&sim.url, &fake.url, nonces.path());
    let nonce_small = r#"{"event":"auth","status":"FAILED","chanId":0,"code":10114,"msg":"nonce: small"}"#;

    let mut stream = client.account_stream(creds("alice-key", "alice-secret"), quick());
    assert_eq!(next_status(&mut stream).await, StreamState::Connecting);
    let mut conn = fake.next_conn().await;
    let first = nonce_of(&conn.greet_and_read_auth().await);
    conn.send(nonce_small).await;
    let second = nonce_of(&conn.recv_json().await);
    assert!(second > first, "{second} > {first}");
    conn.auth_ok().await;
    assert_eq!(next_status(&mut stream).await, StreamState::Live);
    assert_eq!(next_snapshot(&mut stream).await.len(), 4);
    stream.close().await;

    // Twice in a row: terminal, kind Nonce.
    let mut stream = client.account_stream(creds("alice-key", "alice-secret"), quick());
    assert_eq!(next_status(&mut stream).await, StreamState::Connecting);
    let mut conn = fake.next_conn().await;
    conn.greet_and_read_auth().await;
    conn.send(nonce_small).await;
    conn.recv_json().await;
    conn.send(nonce_small).await;
    let StreamState::Failed { error } = next_status(&mut stream).await else { panic!("expected Failed") };
    assert_eq!((error.kind(), error.code()), (ErrorKind::Nonce, Some(10114)));
    assert!(matches!(*error, Error::WsAuth { .. }), "{error:?}");
    assert_eq!(tokio::time::timeout(PATIENCE, stream.next_event()).await.unwrap(), None);
}

#[tokio::test]
async fn maintenance_keeps_the_connection_and_refreshes_when_it_ends() {
    let sim = sim_with(STATE).await;
    let mut fake = FakeWs::start().await;
    let nonces = tempfile::tempdir().unwrap();
    let client = client(&sim.url, &fake.url, nonces.path());
    let mut stream = client.account_stream(creds("alice-key", "alice-secret"), quick());
    assert_eq!(next_status(&mut stream).await, StreamState::Connecting);
    let mut conn = fake.next_conn().await;
    conn.accept_auth().await;
    assert_eq!(next_status(&mut stream).await, StreamState::Live);
    next_snapshot(&mut stream).await;

    conn.send(r#"{"event":"info","code":20060,"msg":"Entering maintenance mode"}"#).await;
    assert_eq!(next_status(&mut stream).await, StreamState::Maintenance);
    conn.send(r#"{"event":"info","code":20061,"msg":"Maintenance ended"}"#).await;
    assert_eq!(next_status(&mut stream).await, StreamState::Live);
    assert_eq!(next_snapshot(&mut stream).await.len(), 4, "a fresh REST snapshot");
    conn.send(r#"[0,"wu",["exchange","BTC",2,0,null,null,null]]"#).await;
    assert!(matches!(next(&mut stream).await, StreamEvent::Wallet(row) if row.balance == dec("2")));
    assert!(fake.conns.try_recv().is_err(), "the same connection throughout");
}

#[tokio::test]
async fn a_rest_auth_failure_ends_the_stream() {
    // The socket accepts the key (a fake), but REST refuses it: retrying cannot help.
    let sim = sim_with(STATE).await;
    let mut fake = FakeWs::start().await;
    let nonces = tempfile::tempdir().unwrap();
    let client = client(&sim.url, &fake.url, nonces.path());
    let mut stream = client.account_stream(creds("unknown-key", "x"), quick());
    assert_eq!(next_status(&mut stream).await, StreamState::Connecting);
    fake.next_conn().await.accept_auth().await;
    assert_eq!(next_status(&mut stream).await, StreamState::Live);
    let StreamState::Failed { error } = next_status(&mut stream).await else { panic!("expected Failed") };
    // REST's own error, endpoint and all.
    assert_eq!(
        (error.kind(), error.code(), error.endpoint()),
        (ErrorKind::Auth, Some(10100), Some("auth/r/wallets"))
    );
    assert!(matches!(*error, Error::Api { .. }), "{error:?}");
}

/// Streams merged on one channel (`feeds::account_streams`, what `bfx watch` and `bfx serve`
/// read) stop once that channel's reader is gone: each closes its socket with a close frame.
#[tokio::test]
async fn merged_streams_close_their_sockets_once_their_reader_is_gone() {
    let sim = sim_with(STATE).await;
    let mut fake = FakeWs::start().await;
    let nonces = tempfile::tempdir().unwrap();
    let client = client(&sim.url, &fake.url, nonces.path());
    let alice = bfx_client::portfolio::Account {
        name: "alice".into(),
        credentials: creds("alice-key", "alice-secret"),
    };
    let mut events = bfx_client::feeds::account_streams(&client, vec![alice], quick());
    let mut conn = fake.next_conn().await;
    conn.accept_auth().await;
    loop {
        let (name, event) = tokio::time::timeout(PATIENCE, events.recv()).await.unwrap().unwrap();
        assert_eq!(name, "alice");
        if event == StreamEvent::Status(StreamState::Live) {
            break;
        }
    }
    drop(events);
    let message = tokio::time::timeout(PATIENCE, conn.ws.next()).await.unwrap().unwrap().unwrap();
    assert!(matches!(message, Message::Close(_)), "{message:?}");
}
