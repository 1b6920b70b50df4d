//! `/ws/2` channels against the in-process emulator: the public ticker channel (snapshot, updates
//! on admin price changes, unsubscribe, errors, the 25-channel limit), heartbeats at the
//! configured interval and their admin switch, ping/pong and conf. Frames are asserted exactly.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bfx_sim::{SimOptions, SimState};
use common::ws::{Ws, mask_number};
use common::{Sim, test_state};
use serde_json::json;
use tokio::time::Instant;

const NONCE: u64 = 1_700_000_000_000_000;
const BTC_FIELDS: &str = "114687.475806,12.5,114710.415596,8.25,-936.648312,-0.0081,114698.945701,8.7185,117023.221141,113322.558353";

/// Subscribes to `symbol`'s ticker, asserts the exact `subscribed` reply, returns the channel id.
async fn subscribe(ws: &mut Ws, symbol: &str, extra: &str) -> u64 {
    ws.send(&format!(r#"{{"event":"subscribe","channel":"ticker","symbol":"{symbol}"{extra}}}"#)).await;
    let (masked, chan_id) = mask_number(&ws.text().await, "chanId");
    let name = match symbol.strip_prefix('f') {
        Some(currency) => format!(r#""currency":"{currency}""#),
        None => format!(r#""pair":"{}""#, &symbol[1..]),
    };
    assert_eq!(
        masked,
        format!(
            r#"{{"event":"subscribed","channel":"ticker","chanId":*,"symbol":"{symbol}",{name}{extra}}}"#
        )
    );
    assert_ne!(chan_id, 0);
    chan_id
}

#[tokio::test]
async fn ticker_snapshot_updates_and_unsubscribe() {
    let sim = Sim::start(test_state()).await;
    let mut ws = Ws::open(sim.addr).await;
    // The Python client's subId is echoed.
    let btc = subscribe(&mut ws, "tBTCUSD", r#","subId":"a1b2""#).await;
    ws.expect(&format!("[{btc},[{BTC_FIELDS}]]")).await;
    let avax = subscribe(&mut ws, "tAVAX:USD", "").await;
    ws.expect(&format!("[{avax},[31.765020,5256.8297,31.771374,3679.7808,-1.248013,-0.0378,31.768197,2203461.5310,33.412404,null]]"))
        .await;
    let fusd = subscribe(&mut ws, "fUSD", "").await;
    ws.expect(&format!("[{fusd},[0.000123,0.000112,30,1234567.89,0.000115,2,234567.12,-0.000003,-0.0254,0.000115,123456789.5,0.00013,0.00011,null,null,54321000.5]]"))
        .await;
    assert!(btc != avax && avax != fusd);

    let (status, _) =
        sim.admin("POST", "/sim/tickers", Some(r#"{"symbol":"tBTCUSD","last_price":"115000.50"}"#)).await;
    assert_eq!(status, 200);
    ws.expect(&format!(
        "[{btc},[114687.475806,12.5,114710.415596,8.25,-936.648312,-0.0081,115000.50,8.7185,117023.221141,113322.558353]]"
    ))
    .await;
    ws.send(&format!(r#"{{"event":"unsubscribe","chanId":{btc}}}"#)).await;
    ws.expect(&format!(r#"{{"event":"unsubscribed","status":"OK","chanId":{btc}}}"#)).await;
    sim.admin("POST", "/sim/tickers", Some(r#"{"symbol":"tBTCUSD","last_price":"1"}"#)).await;
    // Still subscribed to the others. This change is also the barrier for the one before: a
    // session handles admin changes in order, so a frame for BTC would come first.
    sim.admin("POST", "/sim/tickers", Some(r#"{"symbol":"tAVAX:USD","low":"30"}"#)).await;
    ws.expect(&format!("[{avax},[31.765020,5256.8297,31.771374,3679.7808,-1.248013,-0.0378,31.768197,2203461.5310,33.412404,30]]"))
        .await;
    // A second connection sees the current price in its snapshot, and no earlier change.
    let mut late = Ws::open(sim.addr).await;
    let chan = subscribe(&mut late, "tBTCUSD", "").await;
    late.expect(&format!(
        "[{chan},[114687.475806,12.5,114710.415596,8.25,-936.648312,-0.0081,1,8.7185,117023.221141,113322.558353]]"
    ))
    .await;
    // The next change is its very next frame: no earlier change came after the snapshot.
    sim.admin("POST", "/sim/tickers", Some(r#"{"symbol":"tBTCUSD","last_price":"2"}"#)).await;
    late.expect(&format!(
        "[{chan},[114687.475806,12.5,114710.415596,8.25,-936.648312,-0.0081,2,8.7185,117023.221141,113322.558353]]"
    ))
    .await;
}

#[tokio::test]
async fn subscription_errors_echo_the_request() {
    let sim = Sim::start(test_state()).await;
    let mut ws = Ws::open(sim.addr).await;
    ws.send(r#"{"event":"subscribe","channel":"ticker","symbol":"tNOPE"}"#).await;
    ws.expect(
        r#"{"event":"error","msg":"symbol: invalid","code":10300,"channel":"ticker","symbol":"tNOPE"}"#,
    )
    .await;
    ws.send(r#"{"event":"subscribe","channel":"ticker"}"#).await;
    ws.expect(r#"{"event":"error","msg":"symbol: invalid","code":10300,"channel":"ticker"}"#).await;
    let btc = subscribe(&mut ws, "tBTCUSD", "").await;
    ws.expect(&format!("[{btc},[{BTC_FIELDS}]]")).await;
    ws.send(r#"{"event":"subscribe","channel":"ticker","symbol":"tBTCUSD","subId":7}"#).await;
    ws.expect(r#"{"event":"error","msg":"subscribe: dup","code":10301,"channel":"ticker","symbol":"tBTCUSD","subId":7}"#)
        .await;
    ws.send(r#"{"event":"subscribe","channel":"book","symbol":"tBTCUSD","prec":"P0"}"#).await;
    ws.expect(r#"{"event":"error","msg":"channel: not emulated by bfx-sim","code":10300,"channel":"book","symbol":"tBTCUSD"}"#)
        .await;
    ws.send(r#"{"event":"subscribe","channel":"nope"}"#).await;
    ws.expect(r#"{"event":"error","msg":"channel: unknown","code":10302,"channel":"nope"}"#).await;
    ws.send(r#"{"event":"unsubscribe","chanId":424242}"#).await;
    ws.expect(r#"{"event":"error","msg":"unsubscribe: invalid","code":10401,"chanId":424242}"#).await;
    ws.send(r#"{"event":"nope"}"#).await;
    ws.expect(r#"{"event":"error","msg":"event: invalid","code":10000}"#).await;
    ws.send("not json").await;
    ws.expect(r#"{"event":"error","msg":"event: invalid","code":10000}"#).await;
}

#[tokio::test]
async fn at_most_25_channels_per_connection_the_account_channel_included() {
    let tickers: String = (0..26)
        .map(|i| format!("[[ticker]]\nsymbol = \"tC{i:02}:USD\"\nrow = [\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\"]\n"))
        .collect();
    let state = SimState::from_toml(&format!("{}{tickers}", common::TEST_STATE), "many.toml").unwrap();
    let sim = Sim::start(state).await;
    let mut ws = Ws::open(sim.addr).await;
    for i in 0..25 {
        let chan = subscribe(&mut ws, &format!("tC{i:02}:USD"), "").await;
        ws.expect(&format!("[{chan},[1,2,3,4,5,6,7,8,9,10]]")).await;
    }
    ws.send(r#"{"event":"subscribe","channel":"ticker","symbol":"tC25:USD"}"#).await;
    ws.expect(
        r#"{"event":"error","msg":"subscribe: limit","code":10305,"channel":"ticker","symbol":"tC25:USD"}"#,
    )
    .await;

    // Authenticated, the account channel takes one of the 25.
    let mut authed = Ws::open(sim.addr).await;
    authed.auth("k-empty", "s-empty", NONCE).await;
    authed.expect(r#"[0,"ws",[]]"#).await;
    for i in 0..24 {
        let chan = subscribe(&mut authed, &format!("tC{i:02}:USD"), "").await;
        authed.expect(&format!("[{chan},[1,2,3,4,5,6,7,8,9,10]]")).await;
    }
    authed.send(r#"{"event":"subscribe","channel":"ticker","symbol":"tC24:USD"}"#).await;
    authed
        .expect(r#"{"event":"error","msg":"subscribe: limit","code":10305,"channel":"ticker","symbol":"tC24:USD"}"#)
        .await;
}

/// Paused time: the emulator runs in this runtime, so its heartbeat timer keeps the test's clock
/// and the gap between heartbeats is exact whatever the machine's load.
#[tokio::test(start_paused = true)]
async fn heartbeats_per_channel_at_the_configured_interval_and_their_switch() {
    let interval = Duration::from_millis(250);
    let sim = Sim::start_with(test_state(), SimOptions::default().with_ws_heartbeat(interval)).await;
    let mut ws = Ws::open(sim.addr).await;
    ws.auth("k-alice", "s-alice", NONCE).await;
    let snapshot = ws.text().await;
    assert!(snapshot.starts_with(r#"[0,"ws","#), "{snapshot}");
    let chan = subscribe(&mut ws, "tBTCUSD", "").await;
    ws.expect(&format!("[{chan},[{BTC_FIELDS}]]")).await;

    let hb = format!(r#"[{chan},"hb"]"#);
    ws.expect(r#"[0,"hb"]"#).await;
    let first = Instant::now();
    ws.expect(&hb).await;
    ws.expect(r#"[0,"hb"]"#).await;
    let gap = first.elapsed();
    ws.expect(&hb).await;
    assert_eq!(gap, interval);

    assert_eq!(
        sim.admin("POST", "/sim/ws/heartbeats", Some(r#"{"enabled":false}"#)).await,
        (200, json!({"enabled": false}))
    );
    // Heartbeats sent before the switch may still be ahead of a ping's pong; none after it.
    ws.send(r#"{"event":"ping","cid":1}"#).await;
    loop {
        let frame = ws.text().await;
        if frame.starts_with(r#"{"event":"pong""#) {
            assert_eq!(mask_number(&frame, "ts").0, r#"{"event":"pong","ts":*,"cid":1}"#);
            break;
        }
        assert!(frame == r#"[0,"hb"]"# || frame == hb, "{frame}");
    }
    // Several intervals pass (the session's timer ticks in this clock), then the pong is the very
    // next frame: no heartbeat was sent.
    tokio::time::sleep(interval * 4).await;
    ws.barrier(2).await;
    assert_eq!(
        sim.admin("GET", "/sim/ws", None).await,
        (200, json!({"connections": 1, "heartbeats": false}))
    );
    sim.admin("POST", "/sim/ws/heartbeats", Some(r#"{"enabled":true}"#)).await;
    ws.expect(r#"[0,"hb"]"#).await;
    ws.expect(&hb).await;

    let (status, body) = sim.admin("POST", "/sim/ws/heartbeats", Some(r#"{"enabled":"no"}"#)).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn ping_pong_and_conf() {
    let sim = Sim::start(test_state()).await;
    let mut ws = Ws::open(sim.addr).await;
    ws.send(r#"{"event":"ping","cid":1234}"#).await;
    let (masked, ts) = mask_number(&ws.text().await, "ts");
    assert_eq!(masked, r#"{"event":"pong","ts":*,"cid":1234}"#);
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    assert!(now_ms.abs_diff(ts) < 10_000, "{ts} vs {now_ms}");
    ws.send(r#"{"event":"ping"}"#).await;
    assert_eq!(mask_number(&ws.text().await, "ts").0, r#"{"event":"pong","ts":*}"#);
    // The Python client turns on book checksums on every connection: harmless without books.
    ws.send(r#"{"event":"conf","flags":131072}"#).await;
    ws.expect(r#"{"event":"conf","status":"OK","flags":131072}"#).await;
    // Sequence numbers would change every frame: not emulated, so refused.
    ws.send(r#"{"event":"conf","flags":65536}"#).await;
    ws.expect(r#"{"event":"conf","status":"FAILED","flags":65536}"#).await;
}
