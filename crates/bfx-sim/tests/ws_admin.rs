//! `/ws/2` lifecycle against the in-process emulator: admin info events (20051 closes every
//! connection, 20060/20061 keep them), the admin drop, the per-IP connection limit, and
//! shutdown with connections open. Frames and close codes are asserted exactly.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bfx_sim::SimOptions;
use common::ws::{Ws, auth_ok};
use common::{Sim, test_state};
use serde_json::json;
use tokio_tungstenite::tungstenite::Error;

const NONCE: u64 = 1_700_000_000_000_000;
const ALICE_OK: &[(&str, u8, u8)] = &[("account", 1, 0), ("wallets", 1, 0)];
const RESTART: &str = r#"{"event":"info","code":20051,"msg":"Stopping. Please try to reconnect"}"#;

/// Polls `GET /sim/ws` until it reports `connections` open connections.
async fn wait_for_connections(sim: &Sim, connections: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while sim.admin("GET", "/sim/ws", None).await.1["connections"] != connections {
        assert!(Instant::now() < deadline, "connections never reached {connections}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn info_20051_reaches_every_connection_then_closes_them() {
    let sim = Sim::start(test_state()).await;
    let mut authed = Ws::open(sim.addr).await;
    assert_eq!(authed.auth("k-alice", "s-alice", NONCE).await, auth_ok(7, ALICE_OK));
    authed.text().await; // the wallet snapshot
    let mut public = Ws::open(sim.addr).await;

    assert_eq!(
        sim.admin("POST", "/sim/ws/info", Some(r#"{"code":20051}"#)).await,
        (200, json!({"code": 20051, "connections": 2}))
    );
    for ws in [&mut authed, &mut public] {
        ws.expect(RESTART).await;
        ws.expect_close(1012, "server restarting").await;
    }
    wait_for_connections(&sim, 0).await;
    // Reconnecting works; the old nonce is spent.
    let mut again = Ws::open(sim.addr).await;
    assert_eq!(again.auth("k-alice", "s-alice", NONCE + 1).await, auth_ok(7, ALICE_OK));
}

#[tokio::test]
async fn maintenance_info_keeps_the_connection() {
    let sim = Sim::start(test_state()).await;
    let mut ws = Ws::open(sim.addr).await;
    sim.admin("POST", "/sim/ws/info", Some(r#"{"code":20060}"#)).await;
    ws.expect(r#"{"event":"info","code":20060,"msg":"Entering in Maintenance mode. Please pause any activity and resume after receiving the info message 20061 (it should take 120 seconds at most)."}"#)
        .await;
    sim.admin("POST", "/sim/ws/info", Some(r#"{"code":20061}"#)).await;
    ws.expect(r#"{"event":"info","code":20061,"msg":"Maintenance ended. You can resume normal activity. It is advised to unsubscribe/subscribe again all channels."}"#)
        .await;
    ws.send(r#"{"event":"conf","flags":0}"#).await;
    ws.expect(r#"{"event":"conf","status":"OK","flags":0}"#).await;

    let (status, body) = sim.admin("POST", "/sim/ws/info", Some(r#"{"code":20000}"#)).await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"error": "admin API: ws info: code must be 20051 (restart), 20060 or 20061 (maintenance start/end), found 20000"})
        )
    );
}

#[tokio::test]
async fn drop_closes_every_connection_without_a_close_frame() {
    let sim = Sim::start(test_state()).await;
    let mut first = Ws::open(sim.addr).await;
    let mut second = Ws::open(sim.addr).await;
    assert_eq!(sim.admin("POST", "/sim/ws/drop", None).await, (200, json!({"dropped": 2})));
    for ws in [&mut first, &mut second] {
        match ws.next().await {
            Some(Err(Error::Protocol(e))) => {
                assert_eq!(e.to_string(), "Connection reset without closing handshake")
            }
            other => panic!("expected a reset without a close frame, got {other:?}"),
        }
    }
    wait_for_connections(&sim, 0).await;
}

#[tokio::test]
async fn more_than_five_connections_per_15_s_from_one_ip_are_refused() {
    let sim = Sim::start(test_state()).await;
    let mut open = Vec::new();
    for _ in 0..5 {
        open.push(Ws::open(sim.addr).await);
    }
    // Closing them does not give the budget back: it counts connections made, not open.
    drop(open);
    match Ws::connect(sim.addr).await {
        Err(Error::Http(response)) => {
            assert_eq!(response.status(), 429);
            let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=15).contains(&retry_after), "{retry_after}");
            assert_eq!(response.body().as_deref(), Some(&br#"{"error":"ERR_RATE_LIMIT"}"#[..]));
        }
        Err(other) => panic!("expected HTTP 429, got {other:?}"),
        Ok(_) => panic!("the sixth connection was accepted"),
    }
    // Another client IP has its own budget.
    let mut other = Ws::connect_from(sim.addr, IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))).await.unwrap();
    other.welcome().await;
    let (_, counters) = sim.admin("GET", "/sim/counters", None).await;
    assert_eq!(
        counters["websocket"],
        json!({"connections": 6, "rate_limited": 1, "auth_ok": 0, "auth_failed": 0})
    );
}

/// Paused Tokio time: the window passes without real waiting.
#[tokio::test(start_paused = true)]
async fn the_connection_limit_is_configurable() {
    let options = SimOptions::default().with_ws_connection_limit(1, Duration::from_millis(300));
    let sim = Sim::start_with(test_state(), options).await;
    let _first = Ws::open(sim.addr).await;
    assert!(matches!(Ws::connect(sim.addr).await, Err(Error::Http(r)) if r.status() == 429));
    tokio::time::sleep(Duration::from_millis(350)).await;
    Ws::open(sim.addr).await;
}

/// Paused time: the 2 s bound counts only what shutdown waits for (a close timeout, a slow
/// client), not how fast the machine is.
#[tokio::test(start_paused = true)]
async fn shutdown_closes_open_connections_and_returns_promptly() {
    let sim = Sim::start(test_state()).await;
    let mut authed = Ws::open(sim.addr).await;
    authed.auth("k-alice", "s-alice", NONCE).await;
    authed.text().await; // the wallet snapshot
    let mut public = Ws::open(sim.addr).await;
    // A client that never reads does not hold shutdown up either.
    let _idle = Ws::connect(sim.addr).await.unwrap();

    let started = tokio::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(5), sim.stop()).await.expect("serve did not return").unwrap();
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    for ws in [&mut authed, &mut public] {
        ws.expect_close(1001, "server shutting down").await;
    }
}
