//! The ticker stream end to end against the emulator's `/ws/2`: each subscription starts with the
//! ticker REST serves, admin price changes arrive exactly, the followed pairs change on demand, an
//! unknown pair is refused without harm, and after a dropped connection, a restart notice and a
//! maintenance window the pairs are followed again from their current tickers. And against a
//! scripted server: connections that never deliver a ticker back off further each time; the
//! channel limit holds while pairs change faster than the server answers; a refused pair is asked
//! for again when added back; `10301` renews the connection; nothing is sent during maintenance;
//! with nothing to follow the connection is closed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use bfx_client::{
    Client, Endpoints, Error, SocketError, StreamOptions, StreamState, Symbols, TickerEvent, TickerStream,
};
use bfx_core::{Ticker, TradingTicker};
use common::fake_ws::{Conn, FakeWs};
use common::{STATE, sim_with};
use futures_util::StreamExt;
use serde_json::Value;

const PATIENCE: Duration = Duration::from_secs(10);

async fn next(stream: &mut TickerStream) -> TickerEvent {
    tokio::time::timeout(PATIENCE, stream.next_event()).await.expect("no event").expect("stream ended")
}

async fn next_ticker(stream: &mut TickerStream) -> TradingTicker {
    match next(stream).await {
        TickerEvent::Ticker(ticker) => ticker,
        other => panic!("expected a ticker, got {other:?}"),
    }
}

async fn next_status(stream: &mut TickerStream) -> StreamState {
    match next(stream).await {
        TickerEvent::Status(state) => state,
        other => panic!("expected a status, got {other:?}"),
    }
}

async fn admin_post(url: &str, path: &str, body: &str) {
    let response =
        reqwest::Client::new().post(format!("{url}{path}")).body(body.to_owned()).send().await.unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
}

async fn rest_ticker(client: &Client, symbol: &str) -> TradingTicker {
    let symbols = [symbol.to_owned()];
    match client.tickers(Symbols::Only(&symbols)).await.unwrap().remove(0) {
        Ticker::Trading(ticker) => ticker,
        other => panic!("not a trading ticker: {other:?}"),
    }
}

fn symbols(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn tickers_follow_the_emulator_across_reconnects() {
    let sim = sim_with(STATE).await;
    let client =
        Client::builder().endpoints(Endpoints::single(&sim.url).unwrap()).in_memory_nonces().build().unwrap();
    let options = StreamOptions {
        backoff_base: Duration::from_millis(400),
        backoff_cap: Duration::from_millis(400),
        ..StreamOptions::default()
    };
    let mut stream = client.ticker_stream(symbols(&["tBTCUSD", "tNOPE:USD"]), options);
    assert_eq!(next_status(&mut stream).await, StreamState::Connecting);
    assert_eq!(next_status(&mut stream).await, StreamState::Live);
    // Subscribed in symbol order: the ticker, then the refusal of the unknown pair.
    assert_eq!(next_ticker(&mut stream).await, rest_ticker(&client, "tBTCUSD").await);
    let TickerEvent::Refused { symbol, code, msg } = next(&mut stream).await else {
        panic!("expected the unknown pair to be refused")
    };
    assert_eq!((symbol.as_str(), code), ("tNOPE:USD", Some(10300)), "{msg}");

    // A price change arrives exactly as written.
    admin_post(&sim.url, "/sim/tickers", r#"{"symbol":"tBTCUSD","last_price":"120000.123456789012"}"#).await;
    let ticker = next_ticker(&mut stream).await;
    assert_eq!(ticker.symbol, "tBTCUSD");
    assert_eq!(ticker.last_price, Some("120000.123456789012".parse().unwrap()));

    // Follow ETH instead of BTC: ETH's ticker comes, BTC's changes no longer do.
    stream.set_symbols(symbols(&["tETHUSD"]));
    assert_eq!(next_ticker(&mut stream).await, rest_ticker(&client, "tETHUSD").await);
    admin_post(&sim.url, "/sim/tickers", r#"{"symbol":"tBTCUSD","last_price":"1"}"#).await;
    admin_post(&sim.url, "/sim/tickers", r#"{"symbol":"tETHUSD","last_price":"4400.5"}"#).await;
    let ticker = next_ticker(&mut stream).await;
    assert_eq!((ticker.symbol.as_str(), ticker.last_price), ("tETHUSD", Some("4400.5".parse().unwrap())));

    // Dropped, and the price moves while disconnected: the new connection starts from it.
    admin_post(&sim.url, "/sim/ws/drop", "").await;
    assert!(matches!(next_status(&mut stream).await, StreamState::Reconnecting { .. }));
    admin_post(&sim.url, "/sim/tickers", r#"{"symbol":"tETHUSD","last_price":"4410"}"#).await;
    assert_eq!(next_status(&mut stream).await, StreamState::Live);
    assert_eq!(next_ticker(&mut stream).await.last_price, Some("4410".parse().unwrap()));

    // A restart notice: the same.
    admin_post(&sim.url, "/sim/ws/info", r#"{"code":20051}"#).await;
    let StreamState::Reconnecting { error, .. } = next_status(&mut stream).await else {
        panic!("expected Reconnecting")
    };
    assert!(matches!(*error, Error::Socket(SocketError::Restarting)), "{error:?}");
    assert!(error.to_string().contains("20051"), "{error}");
    assert_eq!(next_status(&mut stream).await, StreamState::Live);
    assert_eq!(next_ticker(&mut stream).await, rest_ticker(&client, "tETHUSD").await);

    // Maintenance: said, then every channel is renewed from its current ticker.
    admin_post(&sim.url, "/sim/ws/info", r#"{"code":20060}"#).await;
    assert_eq!(next_status(&mut stream).await, StreamState::Maintenance);
    admin_post(&sim.url, "/sim/tickers", r#"{"symbol":"tETHUSD","last_price":"4420"}"#).await;
    assert_eq!(next_ticker(&mut stream).await.last_price, Some("4420".parse().unwrap()));
    admin_post(&sim.url, "/sim/ws/info", r#"{"code":20061}"#).await;
    assert_eq!(next_status(&mut stream).await, StreamState::Live);
    assert_eq!(next_ticker(&mut stream).await.last_price, Some("4420".parse().unwrap()));
    stream.close().await;
}

/// Paused time: the 300 ms at the end pass only once the client and the emulator both wait with
/// no frame on any socket, so nothing more can come.
#[tokio::test(start_paused = true)]
async fn more_pairs_than_channels_follow_the_first_ones() {
    let sim = sim_with(STATE).await;
    let client =
        Client::builder().endpoints(Endpoints::single(&sim.url).unwrap()).in_memory_nonces().build().unwrap();
    // Three real pairs sort first; the invented ones past the limit are never asked for (asking
    // would bring a refusal each).
    let mut wanted = symbols(&["tAVAX:USD", "tBTCUSD", "tETHUSD"]);
    wanted.extend((0..bfx_client::TICKER_CHANNELS).map(|i| format!("tZZ{i:02}:USD")));
    let mut stream = client.ticker_stream(wanted, StreamOptions::default());
    assert_eq!(next_status(&mut stream).await, StreamState::Connecting);
    assert_eq!(next_status(&mut stream).await, StreamState::Live);
    let mut seen = BTreeSet::new();
    let mut refused = 0;
    while seen.len() + refused < bfx_client::TICKER_CHANNELS {
        match next(&mut stream).await {
            TickerEvent::Ticker(ticker) => {
                seen.insert(ticker.symbol);
            }
            TickerEvent::Refused { .. } => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, symbols(&["tAVAX:USD", "tBTCUSD", "tETHUSD"]));
    assert_eq!(refused, bfx_client::TICKER_CHANNELS - 3);
    // Nothing more comes: the 26th to 28th pairs were not asked for.
    let more = tokio::time::timeout(Duration::from_millis(300), stream.next_event()).await;
    assert!(more.is_err(), "unexpected {more:?}");
    stream.close().await;
}

#[tokio::test]
async fn connections_that_deliver_nothing_back_off_further_each_time() {
    let mut fake = FakeWs::start().await;
    let client = scripted_client(&fake);
    let options = StreamOptions {
        backoff_base: Duration::from_millis(10),
        backoff_cap: Duration::from_secs(1),
        ..StreamOptions::default()
    };
    let mut stream = client.ticker_stream(symbols(&["tBTCUSD"]), options);
    assert_eq!(next_status(&mut stream).await, StreamState::Connecting);
    let mut accept_and_drop = async |deliver: bool| {
        let mut conn = fake.next_conn().await;
        assert_eq!(next_status(&mut stream).await, StreamState::Live);
        let subscribe = conn.recv_json().await;
        assert_eq!(
            (subscribe["event"].as_str(), subscribe["channel"].as_str(), subscribe["symbol"].as_str()),
            (Some("subscribe"), Some("ticker"), Some("tBTCUSD"))
        );
        if deliver {
            conn.send(
                r#"{"event":"subscribed","channel":"ticker","chanId":7,"symbol":"tBTCUSD","pair":"BTCUSD"}"#,
            )
            .await;
            conn.send("[7,[1,2,3,4,5,6,114000.5,8,9,10]]").await;
            assert_eq!(next_ticker(&mut stream).await.last_price, Some("114000.5".parse().unwrap()));
        }
        drop(conn);
        match next_status(&mut stream).await {
            StreamState::Reconnecting { attempt, .. } => attempt,
            other => panic!("expected Reconnecting, got {other:?}"),
        }
    };
    assert_eq!(accept_and_drop(false).await, 1);
    assert_eq!(accept_and_drop(false).await, 2);
    assert_eq!(accept_and_drop(false).await, 3);
    assert_eq!(accept_and_drop(true).await, 1, "a ticker arrived: the backoff starts afresh");
    stream.close().await;
}

/// A client whose WebSocket is the scripted server (no connection budget to wait for).
fn scripted_client(fake: &FakeWs) -> Client {
    let endpoints =
        Endpoints { ws_url: fake.url.clone(), ..Endpoints::single("http://127.0.0.1:9").unwrap() };
    Client::builder()
        .endpoints(endpoints)
        .in_memory_nonces()
        .ws_connection_limit(100, Duration::from_secs(1))
        .build()
        .unwrap()
}

/// A stream of `symbols` on a scripted server, and its first connection (statuses read).
async fn scripted(symbols_: &[&str]) -> (FakeWs, TickerStream, Conn) {
    let mut fake = FakeWs::start().await;
    let client = scripted_client(&fake);
    let mut stream = client.ticker_stream(symbols(symbols_), StreamOptions::default());
    assert_eq!(next_status(&mut stream).await, StreamState::Connecting);
    let conn = fake.next_conn().await;
    assert_eq!(next_status(&mut stream).await, StreamState::Live);
    (fake, stream, conn)
}

/// The next frames the client sends, `n` of them.
async fn frames(conn: &mut Conn, n: usize) -> Vec<Value> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(conn.recv_json().await);
    }
    out
}

fn subscribe_of(frame: &Value) -> &str {
    assert_eq!(
        (frame["event"].as_str(), frame["channel"].as_str()),
        (Some("subscribe"), Some("ticker")),
        "{frame}"
    );
    frame["symbol"].as_str().unwrap()
}

/// The client sends nothing more. In paused time (every test that calls this) the 300 ms pass only
/// once every task waits with no frame on any socket (the fake, like the client, sends without
/// Nagle's delay), so this is the client at rest, not a guess at how long it might take.
async fn silent(conn: &mut Conn) {
    let next = tokio::time::timeout(Duration::from_millis(300), conn.ws.next()).await;
    assert!(next.is_err(), "unexpected frame: {next:?}");
}

async fn answer(conn: &mut Conn, chan_id: u64, symbol: &str) {
    conn.send(&format!(
        r#"{{"event":"subscribed","channel":"ticker","chanId":{chan_id},"symbol":"{symbol}"}}"#
    ))
    .await;
}

#[tokio::test(start_paused = true)]
async fn the_channel_limit_holds_while_pairs_change_faster_than_answers() {
    let first: Vec<String> = (0..25).map(|i| format!("tA{i:02}:USD")).collect();
    let refs: Vec<&str> = first.iter().map(String::as_str).collect();
    let (_fake, mut stream, mut conn) = scripted(&refs).await;
    let asked: Vec<String> = frames(&mut conn, 25).await.iter().map(|f| subscribe_of(f).to_owned()).collect();
    assert_eq!(asked, first);
    // 25 others before any answer: every place is held by a pair asked for, so nothing is sent.
    let second: BTreeSet<String> = (0..25).map(|i| format!("tB{i:02}:USD")).collect();
    stream.set_symbols(second.clone());
    silent(&mut conn).await;
    // One old pair is answered: it is left, and its place goes to one new pair.
    answer(&mut conn, 100, "tA00:USD").await;
    let next = frames(&mut conn, 2).await;
    assert_eq!(next[0], serde_json::json!({"event": "unsubscribe", "chanId": 100}));
    assert_eq!(subscribe_of(&next[1]), "tB00:USD");
    silent(&mut conn).await;
    // Another old pair is refused: its place goes to the next new pair.
    conn.send(
        r#"{"event":"error","code":10300,"msg":"symbol: invalid","channel":"ticker","symbol":"tA01:USD"}"#,
    )
    .await;
    assert_eq!(subscribe_of(&frames(&mut conn, 1).await[0]), "tB01:USD");
    stream.close().await;
}

#[tokio::test(start_paused = true)]
async fn refusals_maintenance_10301_and_idle() {
    let (mut fake, mut stream, mut conn) = scripted(&["tBTCUSD", "tNOPE:USD"]).await;
    let asked: Vec<String> = frames(&mut conn, 2).await.iter().map(|f| subscribe_of(f).to_owned()).collect();
    assert_eq!(asked, ["tBTCUSD", "tNOPE:USD"]);
    answer(&mut conn, 5, "tBTCUSD").await;
    conn.send(
        r#"{"event":"error","code":10300,"msg":"symbol: invalid","channel":"ticker","symbol":"tNOPE:USD"}"#,
    )
    .await;
    assert!(matches!(next(&mut stream).await, TickerEvent::Refused { symbol, .. } if symbol == "tNOPE:USD"));
    // Still wanted: not asked for again. Dropped and added back: asked for again.
    stream.set_symbols(symbols(&["tBTCUSD", "tNOPE:USD", "tETHUSD"]));
    assert_eq!(subscribe_of(&frames(&mut conn, 1).await[0]), "tETHUSD");
    answer(&mut conn, 6, "tETHUSD").await;
    stream.set_symbols(symbols(&["tBTCUSD", "tETHUSD"]));
    silent(&mut conn).await;
    stream.set_symbols(symbols(&["tBTCUSD", "tETHUSD", "tNOPE:USD"]));
    assert_eq!(subscribe_of(&frames(&mut conn, 1).await[0]), "tNOPE:USD");
    answer(&mut conn, 7, "tNOPE:USD").await;

    // Maintenance: nothing is sent until it ends; then every channel is renewed.
    conn.send(r#"{"event":"info","code":20060,"msg":"maintenance"}"#).await;
    assert_eq!(next_status(&mut stream).await, StreamState::Maintenance);
    stream.set_symbols(symbols(&["tBTCUSD", "tETHUSD", "tXRPUSD"]));
    silent(&mut conn).await;
    conn.send(r#"{"event":"info","code":20061,"msg":"maintenance over"}"#).await;
    let renewed = frames(&mut conn, 6).await;
    let unsubscribed: BTreeSet<u64> = renewed[..3].iter().map(|f| f["chanId"].as_u64().unwrap()).collect();
    assert_eq!(unsubscribed, BTreeSet::from([5, 6, 7]));
    let subscribed: Vec<&str> = renewed[3..].iter().map(subscribe_of).collect();
    assert_eq!(subscribed, ["tBTCUSD", "tETHUSD", "tXRPUSD"]);
    assert_eq!(next_status(&mut stream).await, StreamState::Live);

    // 10301 for a pair asked for: its channel is unknown, so the connection is renewed.
    conn.send(
        r#"{"event":"error","code":10301,"msg":"subscribe: dup","channel":"ticker","symbol":"tXRPUSD"}"#,
    )
    .await;
    let StreamState::Reconnecting { error, .. } = next_status(&mut stream).await else {
        panic!("expected Reconnecting")
    };
    assert!(
        matches!(&*error, Error::Socket(SocketError::AlreadySubscribed { symbol, .. }) if symbol == "tXRPUSD")
    );
    assert_eq!((error.code(), error.exchange_message()), (Some(10301), Some("subscribe: dup")));
    assert_eq!(error.to_string(), r#"the server had tXRPUSD subscribed already (10301 "subscribe: dup")"#);
    let mut conn = fake.next_conn().await;
    assert_eq!(next_status(&mut stream).await, StreamState::Live);
    assert_eq!(
        frames(&mut conn, 3).await.iter().map(subscribe_of).collect::<Vec<_>>(),
        ["tBTCUSD", "tETHUSD", "tXRPUSD"]
    );

    // Nothing to follow (once the pairs asked for are answered): the connection is closed, and
    // the next pair opens a new one.
    for (chan_id, symbol) in [(1, "tBTCUSD"), (2, "tETHUSD"), (3, "tXRPUSD")] {
        answer(&mut conn, chan_id, symbol).await;
    }
    stream.set_symbols(BTreeSet::new());
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match conn.ws.next().await {
                None | Some(Err(_)) | Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) => break,
                Some(Ok(_)) => {}
            }
        }
    });
    closed.await.expect("the idle connection was not closed");
    stream.set_symbols(symbols(&["tBTCUSD"]));
    assert_eq!(next_status(&mut stream).await, StreamState::Connecting);
    let mut conn = fake.next_conn().await;
    assert_eq!(next_status(&mut stream).await, StreamState::Live);
    assert_eq!(subscribe_of(&frames(&mut conn, 1).await[0]), "tBTCUSD");
    stream.close().await;
}

#[tokio::test]
async fn a_pair_dropped_and_added_back_at_once_is_subscribed_afresh() {
    let (_fake, mut stream, mut conn) = scripted(&["tBTCUSD", "tETHUSD"]).await;
    assert_eq!(
        frames(&mut conn, 2).await.iter().map(subscribe_of).collect::<Vec<_>>(),
        ["tBTCUSD", "tETHUSD"]
    );
    answer(&mut conn, 1, "tBTCUSD").await;
    answer(&mut conn, 2, "tETHUSD").await;
    conn.send("[2,[1,2,3,4,5,6,4000,8,9,10]]").await;
    assert_eq!(next_ticker(&mut stream).await.symbol, "tETHUSD");
    // Dropped and added back before the stream could act: its channel is left and renewed, so
    // its current ticker comes again (a reader that forgot it on dropping it gets it back).
    stream.set_symbols(symbols(&["tBTCUSD"]));
    stream.set_symbols(symbols(&["tBTCUSD", "tETHUSD"]));
    let renewed = frames(&mut conn, 2).await;
    assert_eq!(renewed[0], serde_json::json!({"event": "unsubscribe", "chanId": 2}));
    assert_eq!(subscribe_of(&renewed[1]), "tETHUSD");
    stream.close().await;
}
