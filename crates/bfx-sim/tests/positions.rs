//! `POST /v2/auth/r/positions` against the in-process emulator: rows of 20 fields served verbatim
//! from the state file, verified like every authenticated endpoint (signature, nonce, its own rate
//! limit) and refused without the key's `positions` read permission.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use bfx_sim::SimState;
use common::{Request, Sim};

const POSITIONS: &str = "auth/r/positions";
const NONCE: u64 = 1_700_000_000_000_000;

/// `trader` holds two positions; its second key and `idle`'s key differ in what they may read.
const STATE: &str = r#"
[[account]]
name = "trader"
user_id = 11
email = "trader@example.com"
  [[account.key]]
  key = "k-trader"
  secret = "s-trader"
  permissions = { wallets = "r", positions = "r" }
  [[account.key]]
  key = "k-wallets-only"
  secret = "s-wallets-only"
  permissions = { wallets = "r", positions = "" }
  [[account.wallet]]
  type = "margin"
  currency = "USD"
  balance = "5000"
  unsettled_interest = "0"
  [[account.position]]
  symbol = "tBTCUSD"
  amount = "0.2"
  base_price = "108250"
  pl = "1243.91"
  pl_perc = "5.7455"
  id = 142355652
  mts_create = 1764547200000
  [[account.position]]
  symbol = "tETHUSD"
  amount = "-1.5e0"
  base_price = "4120"
  pl = "-335.92"
  margin_funding = "-0.00000001"
  mts_create = 1764547200000
  mts_update = 1764633600000

[[account]]
name = "idle"
user_id = 12
email = "idle@example.com"
  [[account.key]]
  key = "k-idle"
  secret = "s-idle"
  permissions = { positions = "r" }
"#;

const TRADER_POSITIONS: &str = concat!(
    r#"[["tBTCUSD","ACTIVE",0.2,108250,0,0,1243.91,5.7455,null,null,null,142355652,1764547200000,1764547200000,null,0,null,0,0,{"reason":"TRADE"}],"#,
    r#"["tETHUSD","ACTIVE",-1.5e0,4120,-0.00000001,0,-335.92,null,null,null,null,150000001,1764547200000,1764633600000,null,0,null,0,0,{"reason":"TRADE"}]]"#
);

fn state() -> SimState {
    SimState::from_toml(STATE, "positions.toml").unwrap()
}

/// [`STATE`] with a budget of 3 positions requests per minute.
fn limited_state() -> SimState {
    let limits = "[limits]\nper_minute = { \"auth/r/positions\" = 3 }\n";
    SimState::from_toml(&format!("{limits}{STATE}"), "limited.toml").unwrap()
}

#[tokio::test]
async fn positions_are_served_verbatim_in_rows_of_20() {
    let sim = Sim::start(state()).await;
    let reply = sim.auth(POSITIONS, "k-trader", "s-trader", NONCE, Some(b"{}")).await;
    reply.assert(200, TRADER_POSITIONS);
    // Without a body too, as the Python client sends it.
    sim.auth(POSITIONS, "k-trader", "s-trader", NONCE + 1, None).await.assert(200, TRADER_POSITIONS);

    let positions = bfx_core::parse_positions(reply.body.as_bytes()).unwrap();
    let summary: Vec<String> = positions
        .iter()
        .map(|p| format!("{} {} @ {} pl {:?} id {:?}", p.symbol, p.amount, p.base_price, p.pl, p.id))
        .collect();
    assert_eq!(
        summary,
        [
            "tBTCUSD 0.2 @ 108250 pl Some(1243.91) id Some(142355652)",
            "tETHUSD -1.5 @ 4120 pl Some(-335.92) id Some(150000001)"
        ]
    );

    // An account with no open position answers an empty list.
    sim.auth(POSITIONS, "k-idle", "s-idle", NONCE, Some(b"{}")).await.assert(200, "[]");
}

#[tokio::test]
async fn positions_need_positions_read() {
    let sim = Sim::start(state()).await;
    let refused = sim.auth(POSITIONS, "k-wallets-only", "s-wallets-only", NONCE, Some(b"{}")).await;
    refused.assert_error(10001, "api_key: permission invalid");
    // The same key reads its wallets, and the refused request consumed its nonce.
    sim.auth("auth/r/wallets", "k-wallets-only", "s-wallets-only", NONCE, None)
        .await
        .assert_error(10114, "nonce: small");
    sim.auth("auth/r/wallets", "k-wallets-only", "s-wallets-only", NONCE + 1, None)
        .await
        .assert(200, r#"[["margin","USD",5000,0,null,null,null]]"#);
    // A key with positions read but not wallets read: the other way round.
    sim.auth("auth/r/wallets", "k-idle", "s-idle", NONCE, None)
        .await
        .assert_error(10001, "api_key: permission invalid");
}

#[tokio::test]
async fn positions_are_verified_like_every_auth_endpoint() {
    let sim = Sim::start(state()).await;
    sim.auth(POSITIONS, "k-nobody", "s-trader", NONCE, Some(b"{}"))
        .await
        .assert_error(10100, "apikey: invalid");
    sim.auth(POSITIONS, "k-trader", "s-wrong", NONCE, Some(b"{}"))
        .await
        .assert_error(10100, "apikey: digest invalid");
    // Signed for the wallets path, sent to the positions one.
    let mut request = Request::signed("auth/r/wallets", "k-trader", "s-trader", NONCE, b"{}", Some(b"{}"));
    request.path = format!("/v2/{POSITIONS}");
    sim.send(&request).await.assert_error(10100, "apikey: digest invalid");
    sim.auth(POSITIONS, "k-trader", "s-trader", NONCE, Some(b"[]"))
        .await
        .assert_error(10020, "request: invalid");
    // That request consumed NONCE: the same nonce again is too small.
    sim.auth(POSITIONS, "k-trader", "s-trader", NONCE, Some(b"{}")).await.assert_error(10114, "nonce: small");
}

#[tokio::test]
async fn positions_have_their_own_budget() {
    let sim = Sim::start(limited_state()).await;
    for i in 0..3 {
        sim.auth(POSITIONS, "k-idle", "s-idle", NONCE + i, None).await.assert(200, "[]");
    }
    let reply = sim.auth(POSITIONS, "k-idle", "s-idle", NONCE + 3, None).await;
    reply.assert(429, r#"{"error":"ERR_RATE_LIMIT"}"#);
    assert_eq!(reply.header("retry-after"), Some("60"));
    // Wallets keep their own budget; the counters name the endpoint.
    sim.auth("auth/r/wallets", "k-trader", "s-trader", NONCE, None)
        .await
        .assert(200, r#"[["margin","USD",5000,0,null,null,null]]"#);
    let (_, counters) = sim.admin("GET", "/sim/counters", None).await;
    assert_eq!(counters["requests"][POSITIONS], 4);
    assert_eq!(counters["rejections"]["rate_limited"], 1);
}

#[tokio::test]
async fn faults_can_aim_at_positions() {
    let sim = Sim::start(state()).await;
    let (status, _) = sim
        .admin("POST", "/sim/faults", Some(r#"{"endpoint":"auth/r/positions","kind":"maintenance"}"#))
        .await;
    assert_eq!(status, 200);
    sim.auth(POSITIONS, "k-trader", "s-trader", NONCE, None).await.assert_error(20060, "maintenance");
    sim.auth(POSITIONS, "k-trader", "s-trader", NONCE + 1, None).await.assert(200, TRADER_POSITIONS);
}
