//! `/ws/2` account side against the in-process emulator: the welcome, `auth` as each client sends
//! it and every way it fails, the nonce counter shared with REST, the `ws` snapshot, `wu`/`bu`
//! pushed by admin wallet changes, and `calc`. Every frame is asserted exactly.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use bfx_core::sign::sign_payload;
use common::ws::{Ws, auth_failed, auth_ok, hub_barrier};
use common::{Sim, TEST_STATE, test_state};
use serde_json::json;

const NONCE: u64 = 1_700_000_000_000_000;

const ALICE_OK: &[(&str, u8, u8)] = &[("account", 1, 0), ("wallets", 1, 0)];
/// alice's wallets, amounts verbatim, AVAILABLE_BALANCE null until a `calc`.
const ALICE_WS: &str = r#"[0,"ws",[["exchange","BTC",1e-8,0,null,null,null],["exchange","ETH",0.123456789012345678,0,null,"Deposit",null],["margin","USD",-0.00000001,2.5E-7,null,null,null]]]"#;

/// The OK reply for k-empty: wallets read, and an undocumented scope after the documented ones.
fn empty_ok() -> String {
    auth_ok(8, &[("wallets", 1, 0)]).replace("}}}", r#"},"eaas_agreement":{"read":1,"write":1}}}"#)
}

/// The test state plus an account whose key may not read wallets.
fn state_with_reader_without_wallets() -> bfx_sim::SimState {
    let extra = r#"
[[account]]
name = "blind"
user_id = 9
email = "blind@example.com"
  [[account.key]]
  key = "k-blind"
  secret = "s-blind"
  permissions = { account = "r", orders = "rw" }
  [[account.wallet]]
  type = "exchange"
  currency = "USD"
  balance = "5"
  unsettled_interest = "0"
"#;
    bfx_sim::SimState::from_toml(&format!("{TEST_STATE}{extra}"), "test-state.toml").unwrap()
}

#[tokio::test]
async fn auth_ok_with_caps_then_the_wallet_snapshot_verbatim() {
    let sim = Sim::start(test_state()).await;
    let mut ws = Ws::open(sim.addr).await;
    assert_eq!(ws.auth("k-alice", "s-alice", NONCE).await, auth_ok(7, ALICE_OK));
    ws.expect(ALICE_WS).await;
    // Nothing follows the snapshot: the next request's answer is the next frame.
    ws.barrier(1).await;

    // An account without wallets gets an empty snapshot; extra scopes follow the documented ones.
    let mut empty = Ws::open(sim.addr).await;
    assert_eq!(empty.auth("k-empty", "s-empty", NONCE).await, empty_ok());
    empty.expect(r#"[0,"ws",[]]"#).await;
}

#[tokio::test]
async fn every_client_style_of_auth_is_accepted() {
    let sim = Sim::start(test_state()).await;
    // Python v3 / Go: authNonce as a string, "filter": null.
    let payload = format!("AUTH{}", NONCE);
    let python = json!({"event": "auth", "filter": null, "apiKey": "k-alice", "authNonce": NONCE.to_string(),
                        "authPayload": payload, "authSig": sign_payload(b"s-alice", payload.as_bytes())});
    let mut ws = Ws::open(sim.addr).await;
    ws.send(&python.to_string()).await;
    assert_eq!(ws.auth_reply().await, auth_ok(7, ALICE_OK));
    ws.expect(ALICE_WS).await;

    // Node v7: payload "AUTH" + nonce + nonce, nonce a number, and the secret itself in the frame.
    let nonce = NONCE + 1;
    let payload = format!("AUTH{nonce}{nonce}");
    let node = json!({"event": "auth", "apiKey": "k-alice", "apiSecret": "s-alice",
                      "authSig": sign_payload(b"s-alice", payload.as_bytes()), "authPayload": payload,
                      "authNonce": nonce, "dms": 0, "calc": 0});
    let mut ws = Ws::open(sim.addr).await;
    ws.send(&node.to_string()).await;
    assert_eq!(ws.auth_reply().await, auth_ok(7, ALICE_OK));
    ws.expect(ALICE_WS).await;

    // ccxt pro: a millisecond nonce, as a number.
    let mut ws = Ws::open(sim.addr).await;
    assert_eq!(ws.auth("k-empty", "s-empty", 1_700_000_000_000).await, empty_ok());
}

#[tokio::test]
async fn auth_failures_say_why_and_keep_the_connection() {
    let sim = Sim::start(test_state()).await;
    let mut ws = Ws::open(sim.addr).await;
    let invalid = auth_failed(10100, "apikey: invalid");
    assert_eq!(ws.auth("k-nobody", "s-alice", NONCE).await, invalid);
    assert_eq!(ws.auth("k-alice", "s-wrong", NONCE).await, invalid);
    // A payload that does not carry the nonce, correctly signed.
    let signed = |payload: &str| sign_payload(b"s-alice", payload.as_bytes());
    let frame = json!({"event": "auth", "apiKey": "k-alice", "authNonce": NONCE, "authPayload": "AUTH1",
                       "authSig": signed("AUTH1")});
    ws.send(&frame.to_string()).await;
    assert_eq!(ws.auth_reply().await, auth_failed(10100, "authPayload: invalid"));
    // A nonce that is not a whole number.
    let frame = json!({"event": "auth", "apiKey": "k-alice", "authNonce": 1.5, "authPayload": "AUTH1.5",
                       "authSig": signed("AUTH1.5")});
    ws.send(&frame.to_string()).await;
    assert_eq!(ws.auth_reply().await, auth_failed(10114, "nonce: small"));
    // Missing fields.
    ws.send(r#"{"event":"auth","apiKey":"k-alice"}"#).await;
    assert_eq!(ws.auth_reply().await, invalid);
    // None of these consumed the nonce: it is still accepted, then refused as small.
    assert_eq!(ws.auth("k-alice", "s-alice", NONCE).await, auth_ok(7, ALICE_OK));
    ws.expect(ALICE_WS).await;
    // One auth per connection.
    assert_eq!(ws.auth("k-alice", "s-alice", NONCE + 1).await, auth_failed(10100, "auth: dup"));
    let mut again = Ws::open(sim.addr).await;
    assert_eq!(again.auth("k-alice", "s-alice", NONCE).await, auth_failed(10114, "nonce: small"));
    // The dup above did not consume NONCE + 1.
    assert_eq!(again.auth("k-alice", "s-alice", NONCE + 1).await, auth_ok(7, ALICE_OK));
    again.expect(ALICE_WS).await;

    let (_, counters) = sim.admin("GET", "/sim/counters", None).await;
    assert_eq!(
        counters["websocket"],
        json!({"connections": 2, "rate_limited": 0, "auth_ok": 2, "auth_failed": 7})
    );
}

#[tokio::test]
async fn rest_and_websocket_share_the_nonce_counter() {
    let sim = Sim::start(test_state()).await;
    // REST first with a larger nonce: a later WebSocket auth with a smaller one fails.
    sim.auth("auth/r/permissions", "k-alice", "s-alice", NONCE + 10, None).await;
    let mut ws = Ws::open(sim.addr).await;
    assert_eq!(ws.auth("k-alice", "s-alice", NONCE + 5).await, auth_failed(10114, "nonce: small"));
    assert_eq!(ws.auth("k-alice", "s-alice", NONCE + 10).await, auth_failed(10114, "nonce: small"));
    // WebSocket first: a later REST request with a smaller nonce fails.
    assert_eq!(ws.auth("k-alice", "s-alice", NONCE + 20).await, auth_ok(7, ALICE_OK));
    ws.expect(ALICE_WS).await;
    sim.auth("auth/r/permissions", "k-alice", "s-alice", NONCE + 15, None)
        .await
        .assert_error(10114, "nonce: small");
    sim.auth("auth/r/permissions", "k-alice", "s-alice", NONCE + 21, None).await.assert(200, r#"[["account",1,0],["history",0,0],["orders",0,0],["positions",0,0],["funding",0,0],["settings",0,0],["wallets",1,0],["withdraw",0,0],["ui_withdraw",0,0],["bfxpay",0,0]]"#);
}

#[tokio::test]
async fn admin_wallet_changes_push_wu_then_bu_to_that_account_only() {
    let sim = Sim::start(test_state()).await;
    let mut alice = Ws::open(sim.addr).await;
    alice.auth("k-alice", "s-alice", NONCE).await;
    alice.expect(ALICE_WS).await;
    let mut other = Ws::open(sim.addr).await;
    other.auth("k-empty", "s-empty", NONCE).await;
    other.expect(r#"[0,"ws",[]]"#).await;
    let mut anonymous = Ws::open(sim.addr).await;

    let (status, _) = sim
        .admin(
            "POST",
            "/sim/wallets",
            Some(r#"{"account":"alice","type":"exchange","currency":"BTC","balance":"2"}"#),
        )
        .await;
    assert_eq!(status, 200);
    alice.expect(r#"[0,"wu",["exchange","BTC",2,0,null,null,null]]"#).await;
    // AUM: 2 BTC × LAST_PRICE 114698.945701; ETH has no USD ticker here; NET also counts −1e-8 USD.
    alice.expect(r#"[0,"bu",[229397.891402,229397.89140199]]"#).await;

    // A move by delta, and a new wallet: each pushed in order.
    sim.admin(
        "POST",
        "/sim/wallets",
        Some(r#"{"account":"alice","type":"exchange","currency":"BTC","delta":"-1.5"}"#),
    )
    .await;
    sim.admin(
        "POST",
        "/sim/wallets",
        Some(r#"{"account":"alice","type":"funding","currency":"USD","balance":1e-8}"#),
    )
    .await;
    alice.expect(r#"[0,"wu",["exchange","BTC",0.5,0,null,null,null]]"#).await;
    alice.expect(r#"[0,"bu",[57349.4728505,57349.47285049]]"#).await;
    alice.expect(r#"[0,"wu",["funding","USD",1e-8,0,null,null,null]]"#).await;
    alice.expect(r#"[0,"bu",[57349.47285051,57349.4728505]]"#).await;
    // A refused edit pushes nothing.
    let (status, _) = sim
        .admin(
            "POST",
            "/sim/wallets",
            Some(r#"{"account":"alice","type":"exchange","currency":"BTC","balance":"x"}"#),
        )
        .await;
    assert_eq!(status, 400);

    // The refused edit brought alice nothing, and none of alice's changes reached the others.
    hub_barrier(&sim, &mut [&mut alice, &mut other, &mut anonymous]).await;
}

/// `?wait=sent`: the answer comes once every session of the account has sent the change (none
/// unsent), the account's sessions all get it and the others nothing; with no session it is
/// answered at once; any other query is refused.
#[tokio::test]
async fn an_admin_change_can_wait_until_its_sessions_have_sent_it() {
    let sim = Sim::start(test_state()).await;
    // No session of the account: nothing to wait for.
    let nobody = r#"{"account":"empty","type":"exchange","currency":"USD","balance":"1"}"#;
    let (status, body) = sim.admin("POST", "/sim/wallets?wait=sent", Some(nobody)).await;
    assert_eq!((status, &body["unsent"]), (200, &json!(0)), "{body}");
    let mut sessions = Vec::new();
    for nonce in [NONCE, NONCE + 1] {
        let mut alice = Ws::open(sim.addr).await;
        alice.auth("k-alice", "s-alice", nonce).await;
        alice.expect(ALICE_WS).await;
        sessions.push(alice);
    }
    let mut other = Ws::open(sim.addr).await;
    other.auth("k-empty", "s-empty", NONCE).await;
    other.expect(r#"[0,"ws",[["exchange","USD",1,0,null,null,null]]]"#).await;

    let change = r#"{"account":"alice","type":"exchange","currency":"BTC","balance":"2"}"#;
    let (status, body) = sim.admin("POST", "/sim/wallets?wait=sent", Some(change)).await;
    assert_eq!((status, &body["unsent"], &body["balance"]), (200, &json!(0), &json!("2")), "{body}");
    for alice in &mut sessions {
        alice.expect(r#"[0,"wu",["exchange","BTC",2,0,null,null,null]]"#).await;
        alice.expect(r#"[0,"bu",[229397.891402,229397.89140199]]"#).await;
    }
    let entries = r#"{"account":"alice","wallet":"exchange","currency":"BTC","count":2}"#;
    let (status, body) = sim.admin("POST", "/sim/ledger?wait=sent", Some(entries)).await;
    assert_eq!((status, &body["unsent"]), (200, &json!(0)), "{body}");
    for alice in &mut sessions {
        assert!(alice.text().await.starts_with(r#"[0,"wu",["exchange","BTC","#));
        assert!(alice.text().await.starts_with(r#"[0,"bu","#));
    }
    // Without the query, no count.
    let (status, body) = sim.admin("POST", "/sim/wallets", Some(change)).await;
    assert_eq!((status, body.get("unsent")), (200, None), "{body}");
    for alice in &mut sessions {
        alice.expect(r#"[0,"wu",["exchange","BTC",2,0,null,null,null]]"#).await;
        assert!(alice.text().await.starts_with(r#"[0,"bu","#));
    }
    let (status, body) = sim.admin("POST", "/sim/wallets?wait=later", Some(change)).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains(r#"unknown query "wait=later""#), "{body}");

    let mut all: Vec<&mut Ws> = sessions.iter_mut().collect();
    all.push(&mut other);
    hub_barrier(&sim, &mut all).await;
}

#[tokio::test]
async fn a_key_without_wallet_read_is_authenticated_but_gets_no_wallet_messages() {
    let sim = Sim::start(state_with_reader_without_wallets()).await;
    let mut ws = Ws::open(sim.addr).await;
    assert_eq!(
        ws.auth("k-blind", "s-blind", NONCE).await,
        auth_ok(9, &[("account", 1, 0), ("orders", 1, 1)])
    );
    sim.admin(
        "POST",
        "/sim/wallets",
        Some(r#"{"account":"blind","type":"exchange","currency":"USD","delta":"1"}"#),
    )
    .await;
    ws.send(r#"[0,"calc",null,[["wallet_exchange_USD"],["balance"]]]"#).await;
    // Nothing for the calc, nor for the wallet change.
    ws.barrier(1).await;
    hub_barrier(&sim, &mut [&mut ws]).await;
}

#[tokio::test]
async fn calc_fills_available_balance() {
    let sim = Sim::start(test_state()).await;
    let mut ws = Ws::open(sim.addr).await;
    // Before auth, calc is ignored.
    ws.send(r#"[0,"calc",null,[["wallet_exchange_BTC"]]]"#).await;
    ws.auth("k-alice", "s-alice", NONCE).await;
    ws.expect(ALICE_WS).await;
    ws.send(r#"[0,"calc",null,[["wallet_exchange_BTC"],["wallet_exchange_ETH"],["wallet_funding_XYZ"],["margin_base"],["balance"]]]"#)
        .await;
    // BTC has an available amount in the state; ETH has none, so its balance is available.
    ws.expect(r#"[0,"wu",["exchange","BTC",1e-8,0,1e-8,null,null]]"#).await;
    ws.expect(r#"[0,"wu",["exchange","ETH",0.123456789012345678,0,0.123456789012345678,"Deposit",null]]"#)
        .await;
    ws.expect(r#"[0,"bu",[0.00114698945701,0.00114697945701]]"#).await;
    // Nothing for the unknown wallet nor for margin_base.
    ws.barrier(1).await;
}
