//! Clients that never finish: a request head trickled one line at a time is cut off after the head
//! timeout, a body trickled one byte at a time is answered 408 after the body timeout, and a
//! request that never ends does not keep `serve` from returning after its shutdown grace. Paused
//! Tokio time: the clock moves only when every task waits.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::time::Duration;

use bfx_sim::SimOptions;
use common::{Sim, test_state};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn a_head_trickled_line_by_line_is_cut_off_at_the_head_timeout() {
    let options = SimOptions::default().with_http_head_timeout(Duration::from_secs(30));
    let sim = Sim::start_with(test_state(), options).await;
    let mut tcp = TcpStream::connect(sim.addr).await.unwrap();
    let start = Instant::now();
    tcp.write_all(b"GET /v2/platform/status HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut buf = [0u8; 256];
    let mut ended = None;
    // One header line every 5 s, for 100 s: each one would reset a plain idle timeout.
    for _ in 0..20 {
        tokio::select! {
            read = tcp.read(&mut buf) => { ended = Some(read); break; }
            () = tokio::time::sleep(Duration::from_secs(5)) => {
                let _ = tcp.write_all(b"X-Slow: 1\r\n").await;
            }
        }
    }
    let ended = ended.unwrap_or_else(|| panic!("connection still open after {:?}", start.elapsed()));
    assert!(matches!(ended, Ok(0) | Err(_)), "expected the connection closed, got {ended:?}");
    let after = start.elapsed();
    assert!(after >= Duration::from_secs(30) && after < Duration::from_secs(36), "closed after {after:?}");
    sim.stop().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_unfinished_request_does_not_hold_shutdown_past_the_grace() {
    let options = SimOptions::default()
        .with_http_head_timeout(Duration::from_secs(3600))
        .with_http_body_timeout(Duration::from_secs(3600))
        .with_shutdown_grace(Duration::from_secs(2));
    let sim = Sim::start_with(test_state(), options).await;
    let mut tcp = TcpStream::connect(sim.addr).await.unwrap();
    // A complete head promising a body that never comes: the request stays in flight.
    tcp.write_all(b"POST /sim/wallets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{}")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let start = Instant::now();
    let stopped = tokio::time::timeout(Duration::from_secs(600), sim.stop()).await;
    assert!(matches!(stopped, Ok(Ok(()))), "serve did not return: {stopped:?}");
    assert!(start.elapsed() <= Duration::from_secs(3), "took {:?}", start.elapsed());
    drop(tcp);
}

#[tokio::test]
async fn connections_past_the_cap_are_answered_503_naming_it() {
    let sim = Sim::start_with(test_state(), SimOptions::default().with_max_connections(2)).await;
    // Accepted in order, so these two hold both places before the third is accepted.
    let held = [TcpStream::connect(sim.addr).await.unwrap(), TcpStream::connect(sim.addr).await.unwrap()];
    let mut third = TcpStream::connect(sim.addr).await.unwrap();
    third.write_all(b"GET /v2/platform/status HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), third.read_to_end(&mut answer)).await.unwrap().unwrap();
    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{answer}");
    assert!(
        answer.ends_with("\r\n\r\nbfx sim: at most 2 connections at once; try again later\n"),
        "{answer}"
    );
    drop(held);
    sim.stop().await.unwrap();
}

/// A complete head promising 100 body bytes, then the body trickled one byte every 5 s: each byte
/// would reset a plain idle timeout, so only a deadline on the whole body ends it. `path` is sent
/// with `headers`; the answer is a 408 with `expected_body`, then the connection closes. The
/// emulator's counters then show `counted` body timeouts (the admin API's own are not counted).
async fn trickled_body_is_answered_408(path: &str, headers: &str, expected_body: &str, counted: u64) {
    let options = SimOptions::default()
        .with_http_head_timeout(Duration::from_secs(3600))
        .with_http_body_timeout(Duration::from_secs(30));
    let sim = Sim::start_with(test_state(), options).await;
    let mut tcp = TcpStream::connect(sim.addr).await.unwrap();
    let start = Instant::now();
    let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: 100\r\n\r\n{{");
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    // For 200 s at most; the answer must come at 30 s and the connection close after it.
    for _ in 0..40 {
        tokio::select! {
            read = tcp.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            },
            () = tokio::time::sleep(Duration::from_secs(5)) => {
                let _ = tcp.write_all(b" ").await;
            }
        }
    }
    let after = start.elapsed();
    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "after {after:?}: {answer:?}");
    assert!(answer.to_ascii_lowercase().contains("\r\nconnection: close\r\n"), "{answer}");
    assert!(answer.ends_with(&format!("\r\n\r\n{expected_body}")), "{answer}");
    assert!(after >= Duration::from_secs(30) && after < Duration::from_secs(36), "closed after {after:?}");
    let (_, counters) = sim.admin("GET", "/sim/counters", None).await;
    assert_eq!(counters["rejections"]["body_timeout"], counted, "{counters}");
    sim.stop().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_authenticated_body_trickled_byte_by_byte_is_answered_408_at_the_body_timeout() {
    let headers =
        "bfx-apikey: k-alice\r\nbfx-nonce: 1\r\nbfx-signature: 00\r\nContent-Type: application/json\r\n";
    let body = r#"["error",10020,"request: body not received in time"]"#;
    trickled_body_is_answered_408("/v2/auth/r/wallets", headers, body, 1).await;
}

#[tokio::test(start_paused = true)]
async fn an_admin_body_trickled_byte_by_byte_is_answered_408_at_the_body_timeout() {
    let body = r#"{"error":"admin API: body not received in time"}"#;
    trickled_body_is_answered_408("/sim/wallets", "Content-Type: application/json\r\n", body, 0).await;
}
