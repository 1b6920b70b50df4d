//! Injected faults as a client sees them on the wire: each kind exactly (status, headers, body,
//! or the lack of them), counts consumed first in, first out, then normal service again.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::time::Duration;

use common::{Request, Sim, test_state};
use serde_json::json;
use tokio::time::Instant;

const WALLETS: &str = "auth/r/wallets";
const NONCE: u64 = 1_700_000_000_000_000;
const HTML_502: &str = "<html><head><title>502 Bad Gateway</title></head><body>cloudflare</body></html>";

async fn inject(sim: &Sim, fault: &str) {
    let (status, body) = sim.admin("POST", "/sim/faults", Some(fault)).await;
    assert_eq!(status, 200, "{body}");
}

fn wallets(nonce: u64) -> Request {
    Request::signed(WALLETS, "k-empty", "s-empty", nonce, b"{}", Some(b"{}"))
}

/// The head of a raw response (status line and lowercase headers) and the body bytes after it.
fn split_response(raw: &[u8]) -> (String, Vec<(String, String)>, Vec<u8>) {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head");
    let head = std::str::from_utf8(&raw[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap().to_owned();
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    (status_line, headers, raw[end + 4..].to_vec())
}

/// Paused time: the emulator's delay runs on this test's clock, which moves only while every task
/// waits, so the delay measures exactly and an undelayed answer takes none of it, however loaded
/// the machine.
#[tokio::test(start_paused = true)]
async fn delay_then_normal_answer() {
    let sim = Sim::start(test_state()).await;
    inject(&sim, r#"{"endpoint":"platform/status","kind":"delay","delay_ms":300}"#).await;
    let started = Instant::now();
    sim.get("/v2/platform/status").await.assert(200, "[1]");
    assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());
    // Used up: the queue is empty and the next request is not delayed.
    assert_eq!(sim.admin("GET", "/sim/faults", None).await, (200, json!({"faults": []})));
    let started = Instant::now();
    sim.get("/v2/platform/status").await.assert(200, "[1]");
    assert!(started.elapsed() < Duration::from_millis(300), "{:?}", started.elapsed());
}

#[tokio::test]
async fn html_5xx_is_a_proxy_page() {
    let sim = Sim::start(test_state()).await;
    inject(&sim, r#"{"endpoint":"auth/r/wallets","kind":"html_5xx"}"#).await;
    inject(&sim, r#"{"endpoint":"tickers","kind":"html_5xx","status":503}"#).await;
    let reply = sim.send(&wallets(NONCE)).await;
    assert_eq!((reply.status, reply.body.as_str()), (502, HTML_502));
    assert_eq!(reply.header("content-type"), Some("text/html"));
    assert_eq!(reply.header("content-length"), Some(HTML_502.len().to_string().as_str()));
    let reply = sim.get("/v2/tickers?symbols=ALL").await;
    assert_eq!(reply.status, 503);
    assert_eq!(
        reply.body,
        "<html><head><title>503 Service Unavailable</title></head><body>cloudflare</body></html>"
    );
    // Faults come before verification: the nonce of the faulted request was never consumed.
    sim.send(&wallets(NONCE)).await.assert(200, "[]");
}

#[tokio::test]
async fn truncated_body_is_shorter_than_its_content_length() {
    let sim = Sim::start(test_state()).await;
    inject(&sim, r#"{"endpoint":"auth/r/wallets","kind":"truncated"}"#).await;
    let raw = sim.raw(&wallets(NONCE)).await;
    let (status_line, headers, body) = split_response(&raw);
    assert_eq!(status_line, "HTTP/1.1 200 OK");
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    assert_eq!(header("content-type"), Some("application/json"));
    let declared: usize = header("content-length").unwrap().parse().unwrap();
    assert!(!body.is_empty() && body.len() < declared, "{} of {declared} bytes", body.len());
    assert!(body.starts_with(b"[[\"bfx-sim\""), "{:?}", String::from_utf8_lossy(&body));
    // The connection closed there; the next one is served normally.
    sim.send(&wallets(NONCE)).await.assert(200, "[]");
}

#[tokio::test]
async fn drop_closes_without_a_byte() {
    let sim = Sim::start(test_state()).await;
    inject(&sim, r#"{"endpoint":"*","kind":"drop","count":2}"#).await;
    assert_eq!(sim.raw(&wallets(NONCE)).await, b"");
    assert_eq!(sim.raw(&Request::new("GET", "/v2/ticker/tBTCUSD")).await, b"");
    sim.send(&wallets(NONCE)).await.assert(200, "[]");
}

#[tokio::test]
async fn exchange_errors_in_bitfinex_shapes() {
    let sim = Sim::start(test_state()).await;
    inject(&sim, r#"{"endpoint":"platform/status","kind":"maintenance"}"#).await;
    inject(&sim, r#"{"endpoint":"auth/r/wallets","kind":"nonce_small"}"#).await;
    inject(&sim, r#"{"endpoint":"conf","kind":"rate_limit"}"#).await;
    inject(&sim, r#"{"endpoint":"conf","kind":"rate_limit","retry_after_secs":7}"#).await;
    sim.get("/v2/platform/status").await.assert_error(20060, "maintenance");
    sim.send(&wallets(NONCE)).await.assert_error(10114, "nonce: small");
    let reply = sim.get("/v2/conf/pub:list:currency").await;
    reply.assert(429, r#"{"error":"ERR_RATE_LIMIT"}"#);
    assert_eq!(reply.header("retry-after"), Some("60"));
    let reply = sim.get("/v2/conf/pub:list:currency").await;
    reply.assert(429, r#"{"error":"ERR_RATE_LIMIT"}"#);
    assert_eq!(reply.header("retry-after"), Some("7"));
    // All used up; the nonce_small fault did not consume the nonce either.
    sim.get("/v2/platform/status").await.assert(200, "[1]");
    sim.send(&wallets(NONCE)).await.assert(200, "[]");
    sim.get("/v2/conf/pub:list:currency").await.assert(200, r#"[["BTC","ETH","USD"]]"#);
}

#[tokio::test]
async fn counts_are_consumed_in_order_then_service_resumes() {
    let sim = Sim::start(test_state()).await;
    inject(&sim, r#"{"endpoint":"ticker","kind":"maintenance","count":2}"#).await;
    inject(&sim, r#"{"endpoint":"*","kind":"html_5xx","status":500}"#).await;
    let (_, listed) = sim.admin("GET", "/sim/faults", None).await;
    assert_eq!(
        listed,
        json!({"faults": [{"endpoint": "ticker", "kind": "maintenance", "remaining": 2},
                          {"endpoint": "*", "kind": "html_5xx", "remaining": 1, "status": 500}]})
    );
    // Another endpoint skips the ticker fault and takes the wildcard one.
    assert_eq!(sim.get("/v2/platform/status").await.status, 500);
    sim.get("/v2/platform/status").await.assert(200, "[1]");
    sim.get("/v2/ticker/tBTCUSD").await.assert_error(20060, "maintenance");
    sim.get("/v2/ticker/tBTCUSD").await.assert_error(20060, "maintenance");
    assert_eq!(sim.get("/v2/ticker/tBTCUSD").await.status, 200);

    let (_, counters) = sim.admin("GET", "/sim/counters", None).await;
    assert_eq!(counters["requests"]["ticker"], 3);
    assert_eq!(counters["requests"]["platform/status"], 2);
    assert_eq!(counters["rejections"]["faults"]["maintenance"], 2);
    assert_eq!(counters["rejections"]["faults"]["html_5xx"], 1);
    // Injected maintenance is not a real rejection.
    assert_eq!(counters["rejections"]["maintenance"], 0);
}

#[tokio::test]
async fn delete_clears_all_faults() {
    let sim = Sim::start(test_state()).await;
    inject(&sim, r#"{"endpoint":"*","kind":"drop","count":5}"#).await;
    assert_eq!(sim.admin("DELETE", "/sim/faults", None).await, (200, json!({"faults": []})));
    sim.get("/v2/platform/status").await.assert(200, "[1]");
}

#[tokio::test]
async fn bad_fault_orders_are_refused() {
    let sim = Sim::start(test_state()).await;
    let (status, body) =
        sim.admin("POST", "/sim/faults", Some(r#"{"endpoint":"wallets","kind":"drop"}"#)).await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().starts_with("admin API: fault: unknown endpoint \"wallets\""),
        "{body}"
    );
    let (status, body) = sim.admin("POST", "/sim/faults", Some(r#"{"endpoint":"*","kind":"delay"}"#)).await;
    assert_eq!((status, body), (400, json!({"error": "admin API: fault: delay needs delay_ms"})));
    assert_eq!(sim.admin("GET", "/sim/faults", None).await, (200, json!({"faults": []})));
}

/// Paused time: had shutdown waited the delay out, the clock would have jumped the whole minute.
#[tokio::test(start_paused = true)]
async fn shutdown_cuts_a_delay_short() {
    let sim = Sim::start(test_state()).await;
    inject(&sim, r#"{"endpoint":"platform/status","kind":"delay","delay_ms":60000}"#).await;
    let addr = sim.addr;
    let started = Instant::now();
    let request =
        tokio::spawn(async move { common::raw(addr, &Request::new("GET", "/v2/platform/status")).await });
    // Wait until the request is in its delay (counted as a fault), then stop.
    let in_delay = async {
        while sim.admin("GET", "/sim/counters", None).await.1["rejections"]["faults"]["delay"] != 1 {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), in_delay).await.unwrap();
    sim.stop().await.unwrap();
    let received = String::from_utf8(request.await.unwrap()).unwrap();
    assert!(received.starts_with("HTTP/1.1 200 OK"), "{received}");
    assert!(received.ends_with("[1]"), "{received}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}
