//! Authenticated endpoints against the in-process emulator: answers, and every verification
//! failure in Bitfinex's shape and in the documented order.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use bfx_sim::SimState;
use common::{Request, Sim, TEST_STATE, test_state};

const WALLETS: &str = "auth/r/wallets";
const PERMISSIONS: &str = "auth/r/permissions";
const USER: &str = "auth/r/info/user";
const NONCE: u64 = 1_700_000_000_000_000;

const ALICE_WALLETS: &str = r#"[["exchange","BTC",1e-8,0,1e-8,null,null],["exchange","ETH",0.123456789012345678,0,null,"Deposit",null],["margin","USD",-0.00000001,2.5E-7,null,null,null]]"#;

#[tokio::test]
async fn wallets_with_body_and_without() {
    let sim = Sim::start(test_state()).await;
    // ccxt, Node, Go: send and sign `{}`.
    let reply = sim.auth(WALLETS, "k-alice", "s-alice", NONCE, Some(b"{}")).await;
    reply.assert(200, ALICE_WALLETS);
    // The Python client: no body at all, signs path + nonce only.
    let reply = sim.auth(WALLETS, "k-alice", "s-alice", NONCE + 1, None).await;
    reply.assert(200, ALICE_WALLETS);
    // `requests` adds `Content-Length: 0` to a bodiless POST.
    let reply = sim.auth(WALLETS, "k-alice", "s-alice", NONCE + 2, Some(b"")).await;
    reply.assert(200, ALICE_WALLETS);
    // Numbers go out verbatim, never through a float.
    for text in ["1e-8", "0.123456789012345678", "-0.00000001", "2.5E-7"] {
        assert!(reply.body.contains(text), "{text} in {}", reply.body);
    }
    let rows = bfx_core::parse_wallets(reply.body.as_bytes()).unwrap();
    assert_eq!(rows[1].balance.to_string(), "0.123456789012345678");
    sim.stop().await.unwrap();
}

#[tokio::test]
async fn wallets_of_an_account_without_funds() {
    let sim = Sim::start(test_state()).await;
    sim.auth(WALLETS, "k-empty", "s-empty", NONCE, Some(b"{}")).await.assert(200, "[]");
}

#[tokio::test]
async fn permissions_list_every_scope() {
    let sim = Sim::start(test_state()).await;
    sim.auth(PERMISSIONS, "k-alice", "s-alice", NONCE, None).await.assert(
        200,
        r#"[["account",1,0],["history",0,0],["orders",0,0],["positions",0,0],["funding",0,0],["settings",0,0],["wallets",1,0],["withdraw",0,0],["ui_withdraw",0,0],["bfxpay",0,0]]"#,
    );
    // Any valid key may read its permissions; extra scopes follow the documented ones.
    let reply = sim.auth(PERMISSIONS, "k-empty", "s-empty", NONCE, Some(b"{}")).await;
    reply.assert(
        200,
        r#"[["account",0,0],["history",0,0],["orders",0,0],["positions",0,0],["funding",0,0],["settings",0,0],["wallets",1,0],["withdraw",0,0],["ui_withdraw",0,0],["bfxpay",0,0],["eaas_agreement",1,1]]"#,
    );
    assert_eq!(bfx_core::parse_permissions(reply.body.as_bytes()).unwrap().len(), 11);
}

#[tokio::test]
async fn user_info() {
    let sim = Sim::start(test_state()).await;
    let reply = sim.auth(USER, "k-alice", "s-alice", NONCE, None).await;
    reply.assert(200, r#"[7,"alice@example.com","alice",1577836800000,1,2,null,"UTC","en_US","bitfinex",1]"#);
    let user = bfx_core::parse_user_info(reply.body.as_bytes()).unwrap();
    assert_eq!((user.id, user.username.as_deref()), (7, Some("alice")));
}

#[tokio::test]
async fn unknown_or_missing_key() {
    let sim = Sim::start(test_state()).await;
    sim.auth(WALLETS, "k-nobody", "s-alice", NONCE, Some(b"{}")).await.assert_error(10100, "apikey: invalid");
    let unsigned = Request::new("POST", "/v2/auth/r/wallets").body(b"{}");
    sim.send(&unsigned).await.assert_error(10100, "apikey: invalid");
}

#[tokio::test]
async fn bad_or_missing_signature() {
    let sim = Sim::start(test_state()).await;
    // Right key, wrong secret.
    sim.auth(WALLETS, "k-alice", "s-wrong", NONCE, Some(b"{}"))
        .await
        .assert_error(10100, "apikey: digest invalid");
    // Signed for another endpoint.
    let mut request = Request::signed(PERMISSIONS, "k-alice", "s-alice", NONCE, b"{}", Some(b"{}"));
    request.path = "/v2/auth/r/wallets".to_owned();
    sim.send(&request).await.assert_error(10100, "apikey: digest invalid");
    // No signature header.
    let mut request = Request::signed(WALLETS, "k-alice", "s-alice", NONCE, b"{}", Some(b"{}"));
    request.headers.retain(|(name, _)| name != "bfx-signature");
    sim.send(&request).await.assert_error(10100, "apikey: digest invalid");
    // Not hex.
    let request = Request::new("POST", "/v2/auth/r/wallets")
        .header("bfx-apikey", "k-alice")
        .header("bfx-nonce", &NONCE.to_string())
        .header("bfx-signature", "zz")
        .body(b"{}");
    sim.send(&request).await.assert_error(10100, "apikey: digest invalid");
    // The tutorial recipe: path + body without the nonce.
    let recipe = bfx_core::sign::sign_payload(b"s-alice", b"/api/v2/auth/r/wallets{}");
    let request = Request::new("POST", "/v2/auth/r/wallets")
        .header("bfx-apikey", "k-alice")
        .header("bfx-nonce", &NONCE.to_string())
        .header("bfx-signature", &recipe)
        .body(b"{}");
    sim.send(&request).await.assert_error(10100, "apikey: digest invalid");
    // None of these consumed the nonce.
    sim.auth(WALLETS, "k-alice", "s-alice", NONCE, Some(b"{}")).await.assert(200, ALICE_WALLETS);
}

#[tokio::test]
async fn signature_over_a_different_body_is_rejected() {
    let sim = Sim::start(test_state()).await;
    for (signed, sent) in
        [(&b"{}"[..], Some(&br#"{"a":1}"#[..])), (b"", Some(b"{}")), (b"{}", None), (b"{}", Some(b"{ }"))]
    {
        let request = Request::signed(WALLETS, "k-alice", "s-alice", NONCE, signed, sent);
        sim.send(&request).await.assert_error(10100, "apikey: digest invalid");
    }
}

#[tokio::test]
async fn nonce_must_increase_per_key() {
    let sim = Sim::start(test_state()).await;
    sim.auth(WALLETS, "k-alice", "s-alice", NONCE, None).await.assert(200, ALICE_WALLETS);
    // Reused, and smaller.
    sim.auth(WALLETS, "k-alice", "s-alice", NONCE, None).await.assert_error(10114, "nonce: small");
    sim.auth(WALLETS, "k-alice", "s-alice", NONCE - 1, None).await.assert_error(10114, "nonce: small");
    // Shared across endpoints of the same key.
    sim.auth(USER, "k-alice", "s-alice", NONCE, None).await.assert_error(10114, "nonce: small");
    // Milliseconds after microseconds: every one is small.
    sim.auth(WALLETS, "k-alice", "s-alice", 1_700_000_000_001, None)
        .await
        .assert_error(10114, "nonce: small");
    // Another key has its own counter.
    sim.auth(WALLETS, "k-empty", "s-empty", 5, None).await.assert(200, "[]");
    sim.auth(WALLETS, "k-alice", "s-alice", NONCE + 1, None).await.assert(200, ALICE_WALLETS);
}

#[tokio::test]
async fn replayed_request_is_rejected() {
    let sim = Sim::start(test_state()).await;
    // The exact same bytes, signature and all, captured and sent again.
    let request = Request::signed(WALLETS, "k-alice", "s-alice", NONCE, b"{}", Some(b"{}"));
    sim.send(&request).await.assert(200, ALICE_WALLETS);
    sim.send(&request).await.assert_error(10114, "nonce: small");
    let (_, counters) = sim.admin("GET", "/sim/counters", None).await;
    assert_eq!(counters["rejections"]["bad_nonce"], 1);
    assert_eq!(counters["requests"][WALLETS], 2);
}

#[tokio::test]
async fn nonce_beyond_2_pow_53_or_malformed_is_rejected() {
    let sim = Sim::start(test_state()).await;
    let max = 9_007_199_254_740_991;
    sim.auth(WALLETS, "k-alice", "s-alice", max + 1, None).await.assert_error(10114, "nonce: small");
    for nonce in ["abc", "-5", "1.5", "0", "", "99999999999999999999999"] {
        let request = Request::signed_raw_nonce(WALLETS, "k-alice", "s-alice", nonce, b"{}");
        sim.send(&request).await.assert_error(10114, "nonce: small");
    }
    // The maximum itself is accepted, and nothing after it.
    sim.auth(WALLETS, "k-alice", "s-alice", max, None).await.assert(200, ALICE_WALLETS);
    sim.auth(WALLETS, "k-alice", "s-alice", max, None).await.assert_error(10114, "nonce: small");
}

#[tokio::test]
async fn nonce_header_text_is_signed_as_sent() {
    let sim = Sim::start(test_state()).await;
    // Leading zeros: the signature covers "0001…" exactly; the value is 1700000000000000.
    let padded = format!("000{NONCE}");
    let request = Request::signed_raw_nonce(WALLETS, "k-alice", "s-alice", &padded, b"{}");
    sim.send(&request).await.assert(200, ALICE_WALLETS);
    sim.auth(WALLETS, "k-alice", "s-alice", NONCE, None).await.assert_error(10114, "nonce: small");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_with_one_nonce_pass_once() {
    let sim = std::sync::Arc::new(Sim::start(test_state()).await);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let sim = sim.clone();
            tokio::spawn(async move { sim.auth(WALLETS, "k-alice", "s-alice", NONCE, None).await })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        let reply = task.await.unwrap();
        if reply.status == 500 {
            reply.assert_error(10114, "nonce: small");
        }
        statuses.push(reply.status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 500).count(), 15, "{statuses:?}");
}

#[tokio::test]
async fn missing_permission() {
    let sim = Sim::start(test_state()).await;
    // k-empty has wallets read but no account read.
    sim.auth(USER, "k-empty", "s-empty", NONCE, None)
        .await
        .assert_error(10001, "api_key: permission invalid");
    // The nonce was consumed all the same.
    sim.auth(WALLETS, "k-empty", "s-empty", NONCE, None).await.assert_error(10114, "nonce: small");

    let no_wallets =
        TEST_STATE.replace(r#"account = "r", wallets = "r","#, r#"account = "r", wallets = "w","#);
    let sim = Sim::start(SimState::from_toml(&no_wallets, "s").unwrap()).await;
    sim.auth(WALLETS, "k-alice", "s-alice", NONCE, None)
        .await
        .assert_error(10001, "api_key: permission invalid");
    sim.auth(USER, "k-alice", "s-alice", NONCE + 1, None)
        .await
        .assert(200, r#"[7,"alice@example.com","alice",1577836800000,1,2,null,"UTC","en_US","bitfinex",1]"#);
}

#[tokio::test]
async fn body_must_be_a_json_object() {
    let sim = Sim::start(test_state()).await;
    for (i, body) in [&b"[]"[..], b"null", b"{", b"currency=BTC", b" "].into_iter().enumerate() {
        let reply = sim.auth(WALLETS, "k-alice", "s-alice", NONCE + i as u64, Some(body)).await;
        reply.assert_error(10020, "request: invalid");
    }
    // Each consumed its nonce.
    sim.auth(WALLETS, "k-alice", "s-alice", NONCE + 4, None).await.assert_error(10114, "nonce: small");
    // Parameters are accepted (and ignored).
    let reply = sim.auth(WALLETS, "k-alice", "s-alice", NONCE + 5, Some(br#"{"currency":null}"#)).await;
    reply.assert(200, ALICE_WALLETS);
}

#[tokio::test]
async fn oversized_body() {
    let sim = Sim::start(test_state()).await;
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(70 * 1024));
    let reply = sim.auth(WALLETS, "k-alice", "s-alice", NONCE, Some(big.as_bytes())).await;
    reply.assert(413, r#"["error",10020,"request: too large"]"#);
    // Exactly at the limit is read (and here signed correctly).
    let fits = format!("{{\"pad\":\"{}\"}}", "x".repeat(64 * 1024 - 10));
    assert_eq!(fits.len(), 64 * 1024);
    sim.auth(WALLETS, "k-alice", "s-alice", NONCE, Some(fits.as_bytes())).await.assert(200, ALICE_WALLETS);
    let (_, counters) = sim.admin("GET", "/sim/counters", None).await;
    assert_eq!(counters["rejections"]["body_too_large"], 1);
}

#[tokio::test]
async fn maintenance_refuses_auth_but_not_public() {
    let state = SimState::from_toml(&format!("platform_status = 0\n{TEST_STATE}"), "s").unwrap();
    let sim = Sim::start(state).await;
    sim.auth(WALLETS, "k-alice", "s-alice", NONCE, None).await.assert_error(20060, "maintenance");
    // Checked before the key.
    sim.auth(WALLETS, "k-nobody", "x", NONCE, None).await.assert_error(20060, "maintenance");
    sim.get("/v2/platform/status").await.assert(200, "[0]");
    sim.get("/v2/ticker/tBTCUSD").await.assert(
        200,
        "[114687.475806,12.5,114710.415596,8.25,-936.648312,-0.0081,114698.945701,8.7185,117023.221141,113322.558353]",
    );
}

#[tokio::test]
async fn wrong_method_and_unknown_auth_path() {
    let sim = Sim::start(test_state()).await;
    let reply = sim.get("/v2/auth/r/wallets").await;
    reply.assert(405, r#"["error",10020,"method: invalid"]"#);
    assert_eq!(reply.header("allow"), Some("POST"));
    let reply = sim
        .send(&Request::signed("auth/r/wallets/hist", "k-alice", "s-alice", NONCE, b"{}", Some(b"{}")))
        .await;
    reply.assert(404, r#"["error",10020,"not found"]"#);
}
