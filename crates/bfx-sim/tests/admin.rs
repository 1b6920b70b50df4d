//! The admin API (`/sim/…`) against the in-process emulator: wallets, tickers, platform status,
//! counters, access control, and that admin requests are neither rate-limited nor counted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::net::{IpAddr, Ipv4Addr};

use bfx_sim::{SimOptions, SimState};
use common::{BTC_ROW, Request, Sim, TEST_STATE, admin_json, test_state};
use serde_json::json;
use tokio::net::TcpListener;

const WALLETS: &str = "auth/r/wallets";
const NONCE: u64 = 1_700_000_000_000_000;

#[tokio::test]
async fn wallet_set_then_move_shows_in_wallets_verbatim() {
    let sim = Sim::start(test_state()).await;
    let (status, wallet) = sim
        .admin(
            "POST",
            "/sim/wallets",
            Some(r#"{"account":"alice","type":"exchange","currency":"BTC","balance":"1.25","available":"1.0","unsettled_interest":"0"}"#),
        )
        .await;
    assert_eq!(status, 200);
    let mut wallet = wallet;
    // The balance change's ledger entry: its MTS is the emulator's clock (tests/ledger.rs).
    let entry = wallet.as_object_mut().unwrap().remove("ledger").unwrap();
    assert_eq!((&entry["amount"], &entry["balance"]), (&json!("1.24999999"), &json!("1.25")));
    assert_eq!(
        wallet,
        json!({"account": "alice", "type": "exchange", "currency": "BTC", "balance": "1.25",
               "unsettled_interest": "0", "available": "1.0", "last_change": null})
    );
    let reply = sim.auth(WALLETS, "k-alice", "s-alice", NONCE, None).await;
    assert!(reply.body.starts_with(r#"[["exchange","BTC",1.25,0,1.0,null,null],"#), "{reply:?}");

    let (status, wallet) = sim
        .admin(
            "POST",
            "/sim/wallets",
            Some(r#"{"account":"alice","type":"exchange","currency":"BTC","delta":"-0.1"}"#),
        )
        .await;
    assert_eq!((status, &wallet["balance"], &wallet["available"]), (200, &json!("1.15"), &json!("0.9")));
    let reply = sim.auth(WALLETS, "k-alice", "s-alice", NONCE + 1, None).await;
    assert!(reply.body.starts_with(r#"[["exchange","BTC",1.15,0,0.9,null,null],"#), "{reply:?}");

    // A new wallet: listed after the others; a bare JSON number keeps its text.
    let (status, _) = sim
        .admin(
            "POST",
            "/sim/wallets",
            Some(r#"{"account":"empty","type":"funding","currency":"USD","balance":1e-8}"#),
        )
        .await;
    assert_eq!(status, 200);
    sim.auth(WALLETS, "k-empty", "s-empty", NONCE, None)
        .await
        .assert(200, r#"[["funding","USD",1e-8,0,null,null,null]]"#);
}

#[tokio::test]
async fn wallet_errors_are_json() {
    let sim = Sim::start(test_state()).await;
    let (status, body) = sim
        .admin(
            "POST",
            "/sim/wallets",
            Some(r#"{"account":"bob","type":"exchange","currency":"BTC","balance":"1"}"#),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(body, json!({"error": "admin API: wallet: unknown account \"bob\"; known: alice, empty"}));
    let (status, body) = sim
        .admin(
            "POST",
            "/sim/wallets",
            Some(r#"{"account":"alice","type":"exchange","currency":"BTC","balance":"1.5.0"}"#),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().starts_with("admin API: wallet: \"1.5.0\" is not a JSON number"),
        "{body}"
    );
    let (status, body) = sim.admin("POST", "/sim/wallets", Some("{")).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn ticker_update_is_visible_in_tickers() {
    let sim = Sim::start(test_state()).await;
    let (status, body) = sim
        .admin(
            "POST",
            "/sim/tickers",
            Some(r#"{"symbol":"tBTCUSD","last_price":"115000","daily_change_relative":"0.0125"}"#),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["row"][6], "115000");
    let expected = BTC_ROW.replace("114698.945701", "115000").replace("-0.0081", "0.0125");
    sim.get("/v2/tickers?symbols=tBTCUSD").await.assert(200, &format!("[{expected}]"));
    // A new pair from a whole row.
    let (status, _) = sim
        .admin(
            "POST",
            "/sim/tickers",
            Some(r#"{"symbol":"tETHUSD","row":["1","2","3","4","5","0.01","4000.5","8","9",null]}"#),
        )
        .await;
    assert_eq!(status, 200);
    sim.get("/v2/ticker/tETHUSD").await.assert(200, "[1,2,3,4,5,0.01,4000.5,8,9,null]");
    let (status, body) =
        sim.admin("POST", "/sim/tickers", Some(r#"{"symbol":"tXRPUSD","last_price":"1"}"#)).await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn platform_status_toggles_maintenance() {
    let sim = Sim::start(test_state()).await;
    assert_eq!(
        sim.admin("POST", "/sim/platform", Some(r#"{"status":0}"#)).await,
        (200, json!({"status": 0}))
    );
    sim.get("/v2/platform/status").await.assert(200, "[0]");
    sim.auth(WALLETS, "k-empty", "s-empty", NONCE, None).await.assert_error(20060, "maintenance");
    assert_eq!(
        sim.admin("POST", "/sim/platform", Some(r#"{"status":1}"#)).await,
        (200, json!({"status": 1}))
    );
    sim.get("/v2/platform/status").await.assert(200, "[1]");
    sim.auth(WALLETS, "k-empty", "s-empty", NONCE, None).await.assert(200, "[]");
    let (status, body) = sim.admin("POST", "/sim/platform", Some(r#"{"status":2}"#)).await;
    assert_eq!(
        (status, body),
        (400, json!({"error": "admin API: platform: status must be 0 or 1, found 2"}))
    );
}

#[tokio::test]
async fn unknown_paths_methods_and_oversized_bodies() {
    let sim = Sim::start(test_state()).await;
    let (status, body) = sim.admin("GET", "/sim/nope", None).await;
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().starts_with("admin API: no such endpoint"), "{body}");
    let reply = sim.get("/sim/wallets").await;
    assert_eq!(reply.header("allow"), Some("POST"));
    assert_eq!(admin_json(reply), (405, json!({"error": "admin API: method not allowed"})));
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(70 * 1024));
    let (status, body) = sim.admin("POST", "/sim/tickers", Some(&big)).await;
    assert_eq!((status, body), (413, json!({"error": "admin API: body too large"})));
}

#[tokio::test]
async fn loopback_peers_need_no_token() {
    let sim = Sim::start(test_state()).await;
    let other_loopback = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let reply = sim.send_from(other_loopback, &Request::new("GET", "/sim/faults")).await;
    assert_eq!(admin_json(reply), (200, json!({"faults": []})));
}

#[tokio::test]
async fn a_configured_token_is_required() {
    let sim = Sim::start_with(test_state(), SimOptions::default().with_admin_token("t0ken")).await;
    let bad = json!({"error": "admin API: bad token"});
    assert_eq!(sim.admin("GET", "/sim/counters", None).await, (403, bad.clone()));
    for header in ["Bearer t0ke", "Bearer t0ken2", "Basic t0ken", "t0ken"] {
        let reply = sim.send(&Request::new("GET", "/sim/counters").header("Authorization", header)).await;
        assert_eq!(admin_json(reply), (403, bad.clone()), "{header}");
    }
    // Unknown admin paths are refused the same way: nothing under /sim/ answers without it.
    let reply = sim.send(&Request::new("GET", "/sim/nope")).await;
    assert_eq!(admin_json(reply), (403, bad.clone()));
    let reply = sim.send(&Request::new("GET", "/sim/counters").header("Authorization", "Bearer t0ken")).await;
    assert_eq!(admin_json(reply).0, 200);
    let request = Request::new("POST", "/sim/platform")
        .header("authorization", "bearer t0ken")
        .body(br#"{"status":0}"#);
    assert_eq!(admin_json(sim.send(&request).await), (200, json!({"status": 0})));
    // The API itself needs no token.
    sim.get("/v2/platform/status").await.assert(200, "[0]");
}

#[tokio::test]
async fn an_empty_token_is_refused_at_start() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let options = SimOptions::default().with_admin_token("");
    let error = bfx_sim::serve_with(listener, test_state(), options, async {}).await.unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(!format!("{:?}", SimOptions::default().with_admin_token("hunter2")).contains("hunter2"));
}

fn limited_state() -> SimState {
    let limits = "[limits]\nwindow_secs = 60\nblock_secs = 60\nper_minute = { \"tickers\" = 1 }\n";
    SimState::from_toml(&format!("{limits}{TEST_STATE}"), "limited.toml").unwrap()
}

#[tokio::test]
async fn counters_count_requests_and_every_refusal() {
    let sim = Sim::start(limited_state()).await;
    let signed = |endpoint: &str, key: &str, secret: &str, nonce: u64| {
        Request::signed(endpoint, key, secret, nonce, b"{}", Some(b"{}"))
    };
    sim.send(&signed(WALLETS, "k-alice", "s-alice", NONCE)).await; // accepted
    sim.send(&signed(WALLETS, "k-alice", "s-alice", NONCE)).await; // bad_nonce
    sim.send(&signed(WALLETS, "k-nobody", "s", NONCE)).await; // unknown_key
    sim.send(&signed(WALLETS, "k-alice", "s-wrong", NONCE + 1)).await; // bad_signature
    sim.auth(WALLETS, "k-alice", "s-alice", NONCE + 2, Some(b"[]")).await; // bad_body
    let big = vec![b' '; 70 * 1024];
    sim.auth(WALLETS, "k-alice", "s-alice", NONCE + 3, Some(&big)).await; // body_too_large
    sim.auth("auth/r/info/user", "k-empty", "s-empty", NONCE, None).await; // permission
    sim.get("/v2/tickers").await; // missing_symbols
    sim.get("/v2/tickers?symbols=ALL").await.assert(429, r#"{"error":"ERR_RATE_LIMIT"}"#); // rate_limited
    sim.get("/v2/ticker/tNOPE").await; // unknown_symbol
    sim.get("/v2/nope").await; // not_found
    sim.get("/v2/auth/r/wallets").await; // method_not_allowed
    sim.admin("POST", "/sim/platform", Some(r#"{"status":0}"#)).await;
    sim.auth("auth/r/permissions", "k-alice", "s-alice", NONCE + 9, None).await; // maintenance
    let (status, counters) = sim.admin("GET", "/sim/counters", None).await;
    let expected = json!({
        "requests": {"auth/r/wallets": 6, "auth/r/permissions": 1, "auth/r/info/user": 1, "auth/r/positions": 0,
                     "auth/r/ledgers/hist": 0, "tickers": 2,
                     "ticker": 1, "conf": 0, "platform/status": 0, "candles": 0},
        "rejections": {"maintenance": 1, "unknown_key": 1, "bad_signature": 1, "bad_nonce": 1, "bad_body": 1,
                       "body_too_large": 1, "body_timeout": 0, "permission": 1, "unknown_symbol": 1, "missing_symbols": 1,
                       "not_found": 1, "method_not_allowed": 1, "limit_invalid": 0, "start_invalid": 0,
                       "end_invalid": 0, "category_invalid": 0, "wallet_invalid": 0, "currency_invalid": 0,
                       "key_invalid": 0, "timeframe_invalid": 0, "time_interval_invalid": 0, "sort_invalid": 0,
                       "rate_limited": 1,
                       "faults": {"delay": 0, "html_5xx": 0, "truncated": 0, "drop": 0, "maintenance": 0,
                                  "rate_limit": 0, "nonce_small": 0}},
        "websocket": {"connections": 0, "rate_limited": 0, "auth_ok": 0, "auth_failed": 0}
    });
    assert_eq!((status, &counters), (200, &expected));
    // Admin requests are not counted, and DELETE answers the counts it reset.
    assert_eq!(sim.admin("DELETE", "/sim/counters", None).await, (200, expected));
    let (_, zero) = sim.admin("GET", "/sim/counters", None).await;
    assert_eq!(zero["requests"]["auth/r/wallets"], 0);
    assert_eq!(zero["rejections"]["bad_nonce"], 0);
    assert_eq!(zero["rejections"]["rate_limited"], 0);
}

#[tokio::test]
async fn admin_requests_are_never_rate_limited() {
    let sim = Sim::start(limited_state()).await;
    for _ in 0..40 {
        assert_eq!(sim.admin("GET", "/sim/faults", None).await.0, 200);
    }
    // The tickers budget (1 here) is untouched by them.
    sim.get("/v2/tickers?symbols=tNOPE").await.assert(200, "[]");
    let (_, counters) = sim.admin("GET", "/sim/counters", None).await;
    assert_eq!(counters["requests"]["tickers"], 1);
}
