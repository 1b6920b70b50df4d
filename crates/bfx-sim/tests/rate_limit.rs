//! Per-IP, per-endpoint rate limits with a tiny configured window (1 s) and block (2 s).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bfx_sim::SimState;
use common::{Request, Sim, TEST_STATE};

const NONCE: u64 = 1_700_000_000_000_000;
const LIMITED: &str = r#"{"error":"ERR_RATE_LIMIT"}"#;

fn limited_state() -> SimState {
    let limits = "[limits]\nwindow_secs = 1\nblock_secs = 2\nper_minute = { \"auth/r/wallets\" = 3, \"tickers\" = 2 }\n";
    SimState::from_toml(&format!("{limits}{TEST_STATE}"), "limited.toml").unwrap()
}

/// Paused Tokio time (the emulator runs in this runtime and reads its clock): waiting out the
/// block takes no real time, and a slow machine cannot stretch the window under the requests.
#[tokio::test(start_paused = true)]
async fn budget_block_and_recovery() {
    let sim = Sim::start(limited_state()).await;
    let wallets = |nonce| Request::signed("auth/r/wallets", "k-empty", "s-empty", nonce, b"{}", Some(b"{}"));
    for i in 0..3 {
        sim.send(&wallets(NONCE + i)).await.assert(200, "[]");
    }
    // The 4th within the window: blocked for block_secs, before any other check.
    let reply = sim.send(&wallets(NONCE + 3)).await;
    reply.assert(429, LIMITED);
    assert_eq!(reply.header("retry-after"), Some("2"));
    // Even a request that would fail verification is answered 429 while blocked.
    let reply = sim.send(&Request::new("POST", "/v2/auth/r/wallets")).await;
    reply.assert(429, LIMITED);
    let retry: u64 = reply.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{reply:?}");

    // Other endpoints from the same IP, and the same endpoint from another IP, are unaffected.
    sim.auth("auth/r/permissions", "k-empty", "s-empty", NONCE + 10, None).await;
    let other_ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    sim.send_from(other_ip, &wallets(NONCE + 11)).await.assert(200, "[]");
    sim.get("/v2/platform/status").await.assert(200, "[1]");

    // Public endpoints are limited the same way (tickers: 2 per window here).
    sim.get("/v2/tickers?symbols=tNOPE").await.assert(200, "[]");
    sim.get("/v2/tickers?symbols=tNOPE").await.assert(200, "[]");
    let reply = sim.get("/v2/tickers?symbols=tNOPE").await;
    reply.assert(429, LIMITED);
    assert_eq!(reply.header("retry-after"), Some("2"));

    // After the block, the endpoint answers again with a fresh budget; the nonce of the refused
    // request was never consumed.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    sim.send(&wallets(NONCE + 12)).await.assert(200, "[]");
    sim.send(&wallets(NONCE + 13)).await.assert(200, "[]");
    sim.send(&wallets(NONCE + 14)).await.assert(200, "[]");
    sim.send(&wallets(NONCE + 15)).await.assert(429, LIMITED);
    sim.get("/v2/tickers?symbols=tNOPE").await.assert(200, "[]");
}

#[tokio::test(start_paused = true)]
async fn refused_requests_inside_the_budget_still_count() {
    let sim = Sim::start(limited_state()).await;
    for _ in 0..3 {
        sim.auth("auth/r/wallets", "k-nobody", "x", NONCE, None).await.assert_error(10100, "apikey: invalid");
    }
    sim.auth("auth/r/wallets", "k-empty", "s-empty", NONCE, None).await.assert(429, LIMITED);
}
