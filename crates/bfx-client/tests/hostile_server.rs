//! A hostile or broken server cannot make the client use unbounded memory: a scripted HTTP server
//! streams an endless chunked body, or announces a huge one, and the client stops at its per-endpoint
//! cap with a typed error naming the endpoint and the cap.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bfx_client::{Client, Endpoints, Error, ErrorKind, RetryPolicy, Symbols};
use common::creds;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const MIB: usize = 1 << 20;
/// A guard against a hang on the old code, not a timing assertion.
const GUARD: Duration = Duration::from_secs(60);

/// Answers every connection with `head`, then (when `endless`) 64 KiB chunks until the client
/// hangs up. Returns the URL and the count of body bytes written.
async fn hostile(head: &'static str, endless: bool) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let written = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&written);
    tokio::spawn(async move {
        loop {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let count = Arc::clone(&count);
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = tcp.read(&mut request).await;
                if tcp.write_all(head.as_bytes()).await.is_err() || !endless {
                    return;
                }
                let chunk = format!("10000\r\n{}\r\n", "[".repeat(0x10000));
                while tcp.write_all(chunk.as_bytes()).await.is_ok() {
                    count.fetch_add(0x10000, Ordering::Relaxed);
                }
            });
        }
    });
    (url, written)
}

fn client(url: &str) -> Client {
    bfx_client::install_crypto_provider();
    Client::builder()
        .endpoints(Endpoints::single(url).unwrap())
        .in_memory_nonces()
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap()
}

const CHUNKED: &str =
    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";

#[tokio::test]
async fn an_endless_body_stops_at_the_endpoint_cap() {
    let (url, written) = hostile(CHUNKED, true).await;
    let client = client(&url);
    let err =
        tokio::time::timeout(GUARD, client.wallets(&creds("k", "s"))).await.expect("no hang").unwrap_err();
    assert!(
        matches!(err, Error::BodyTooLarge { endpoint: "auth/r/wallets", limit } if limit == 2 * MIB),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Protocol);
    assert_eq!(
        err.to_string(),
        "auth/r/wallets: the response body exceeds 2097152 bytes, the most bfx reads for this endpoint; the rest was not read"
    );
    // The client stopped reading: what the server got out is the cap plus socket buffers, not more.
    let sent = written.load(Ordering::Relaxed);
    assert!(sent < 2 * MIB + 32 * MIB, "{sent} bytes written");

    // Public endpoints have their own, larger caps.
    let err = tokio::time::timeout(GUARD, client.tickers(Symbols::All)).await.expect("no hang").unwrap_err();
    assert!(
        matches!(err, Error::BodyTooLarge { endpoint: "tickers", limit } if limit == 16 * MIB),
        "{err:?}"
    );
    let err =
        tokio::time::timeout(GUARD, client.conf_maps(&["pub:map:currency:sym"])).await.unwrap().unwrap_err();
    assert!(matches!(err, Error::BodyTooLarge { endpoint: "conf", limit } if limit == 4 * MIB), "{err:?}");
}

#[tokio::test]
async fn an_announced_huge_body_is_refused_before_reading() {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 9000000000\r\n\r\n[";
    let (url, _) = hostile(head, false).await;
    let err =
        tokio::time::timeout(GUARD, client(&url).permissions(&creds("k", "s"))).await.unwrap().unwrap_err();
    assert!(
        matches!(err, Error::BodyTooLarge { endpoint: "auth/r/permissions", limit } if limit == MIB),
        "{err:?}"
    );
}

/// Error bodies (a 5xx "page" that never ends) are capped too.
#[tokio::test]
async fn an_endless_error_body_is_capped() {
    let head = "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/html\r\ntransfer-encoding: chunked\r\n\r\n";
    let (url, _) = hostile(head, true).await;
    let err = tokio::time::timeout(GUARD, client(&url).platform_status()).await.unwrap().unwrap_err();
    assert!(matches!(err, Error::BodyTooLarge { endpoint: "platform/status", .. }), "{err:?}");
}
