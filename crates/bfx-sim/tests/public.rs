//! Public endpoints against the in-process emulator: tickers, ticker, conf, platform status,
//! unknown paths and methods, and graceful shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use common::{AVAX_ROW, BTC_ROW, FUSD_ROW, Request, Sim, test_state};

#[tokio::test]
async fn tickers_all() {
    let sim = Sim::start(test_state()).await;
    let reply = sim.get("/v2/tickers?symbols=ALL").await;
    reply.assert(200, &format!("[{BTC_ROW},{AVAX_ROW},{FUSD_ROW}]"));
    let parsed = bfx_core::parse_tickers(reply.body.as_bytes()).unwrap();
    assert_eq!(parsed.len(), 3);
}

#[tokio::test]
async fn tickers_list_skips_unknown_symbols() {
    let sim = Sim::start(test_state()).await;
    sim.get("/v2/tickers?symbols=fUSD,tNOPEUSD,tBTCUSD")
        .await
        .assert(200, &format!("[{FUSD_ROW},{BTC_ROW}]"));
    // Percent-encoded colon and comma, as some clients send them.
    sim.get("/v2/tickers?symbols=tAVAX%3AUSD%2CtBTCUSD")
        .await
        .assert(200, &format!("[{AVAX_ROW},{BTC_ROW}]"));
    sim.get("/v2/tickers?symbols=tNOPEUSD").await.assert(200, "[]");
}

#[tokio::test]
async fn tickers_without_symbols() {
    let sim = Sim::start(test_state()).await;
    for path in ["/v2/tickers", "/v2/tickers?symbols=", "/v2/tickers?symbol=tBTCUSD"] {
        sim.get(path).await.assert_error(10020, "symbols: invalid");
    }
}

#[tokio::test]
async fn one_ticker() {
    let sim = Sim::start(test_state()).await;
    sim.get("/v2/ticker/tBTCUSD").await.assert(
        200,
        "[114687.475806,12.5,114710.415596,8.25,-936.648312,-0.0081,114698.945701,8.7185,117023.221141,113322.558353]",
    );
    let avax =
        "[31.765020,5256.8297,31.771374,3679.7808,-1.248013,-0.0378,31.768197,2203461.5310,33.412404,null]";
    sim.get("/v2/ticker/tAVAX:USD").await.assert(200, avax);
    sim.get("/v2/ticker/tAVAX%3AUSD").await.assert(200, avax);
    sim.get("/v2/ticker/tNOPEUSD").await.assert_error(10020, "symbol: invalid");
}

#[tokio::test]
async fn conf_keys_joined_by_commas() {
    let sim = Sim::start(test_state()).await;
    sim.get("/v2/conf/pub:list:currency").await.assert(200, r#"[["BTC","ETH","USD"]]"#);
    // ccxt's form: several keys, colons unencoded; unlisted keys answer [].
    sim.get("/v2/conf/pub:list:currency,pub:map:currency:sym,pub:map:currency:label,pub:info:pair")
        .await
        .assert(200, r#"[["BTC","ETH","USD"],[["UST","USDt"],["UDC","USDC"]],[],[]]"#);
    // Percent-encoded.
    sim.get("/v2/conf/pub%3Amap%3Acurrency%3Asym%2Cpub%3Alist%3Acurrency")
        .await
        .assert(200, r#"[[["UST","USDt"],["UDC","USDC"]],["BTC","ETH","USD"]]"#);
}

#[tokio::test]
async fn platform_status() {
    let sim = Sim::start(test_state()).await;
    sim.get("/v2/platform/status").await.assert(200, "[1]");
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let sim = Sim::start(test_state()).await;
    for path in ["/v2/candles/trade:1m:tBTCUSD", "/", "/v1/balances", "/v2/tickers/"] {
        sim.get(path).await.assert(404, r#"["error",10020,"not found"]"#);
    }
    let reply = sim.send(&Request::new("POST", "/v2/platform/status").body(b"{}")).await;
    reply.assert(405, r#"["error",10020,"method: invalid"]"#);
    assert!(reply.header("allow").unwrap().contains("GET"), "{reply:?}");
}

#[tokio::test]
async fn serve_returns_after_shutdown() {
    let sim = Sim::start(test_state()).await;
    sim.get("/v2/platform/status").await.assert(200, "[1]");
    let addr = sim.addr;
    sim.stop().await.unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "still listening after shutdown");
}
