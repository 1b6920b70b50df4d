//! `/ws/2` connections that neither authenticate nor subscribe are closed after the configured
//! time (close 1008 with a reason); authenticated or subscribed ones are not. Paused Tokio time:
//! the clock only moves when every task waits, so nothing here depends on the machine's speed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::time::Duration;

use bfx_sim::SimOptions;
use common::ws::{Ws, auth_frame, mask_number};
use common::{Sim, test_state};

/// Shorter than the harness's wait for a frame (5 s), so the close is what the test waits for.
const LIMIT: Duration = Duration::from_secs(2);
const NONCE: u64 = 1_700_000_000_000_000;

fn options() -> SimOptions {
    SimOptions::default().with_ws_auth_timeout(LIMIT).with_ws_heartbeat(Duration::from_secs(3600))
}

#[tokio::test(start_paused = true)]
async fn a_socket_that_neither_authenticates_nor_subscribes_is_closed() {
    let sim = Sim::start_with(test_state(), options()).await;
    let mut ws = Ws::open(sim.addr).await;
    // A ping is neither auth nor subscribe: it does not keep the socket.
    ws.send(r#"{"event":"ping","cid":1}"#).await;
    let (pong, _) = mask_number(&ws.text().await, "ts");
    assert_eq!(pong, r#"{"event":"pong","ts":*,"cid":1}"#);
    ws.expect_close(1008, "no auth or subscribe in time").await;
    sim.stop().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn authenticated_and_subscribed_sockets_stay_open_past_the_limit() {
    let sim = Sim::start_with(test_state(), options()).await;
    let mut authed = Ws::open(sim.addr).await;
    authed.send(&auth_frame("k-alice", "s-alice", NONCE)).await;
    let frames = authed.drain(Duration::from_millis(100)).await;
    assert!(frames.first().is_some_and(|f| f.contains(r#""status":"OK""#)), "{frames:?}");
    let mut subscribed = Ws::open(sim.addr).await;
    subscribed.send(r#"{"event":"subscribe","channel":"ticker","symbol":"tBTCUSD"}"#).await;
    let frames = subscribed.drain(Duration::from_millis(100)).await;
    assert!(frames.first().is_some_and(|f| f.contains(r#""event":"subscribed""#)), "{frames:?}");
    tokio::time::sleep(LIMIT * 3).await;
    for ws in [&mut authed, &mut subscribed] {
        ws.send(r#"{"event":"ping","cid":2}"#).await;
        let (pong, _) = mask_number(&ws.text().await, "ts");
        assert_eq!(pong, r#"{"event":"pong","ts":*,"cid":2}"#);
    }
    sim.stop().await.unwrap();
}
