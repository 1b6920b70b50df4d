//! Retries against small scripted servers that count the requests they get: transient failures
//! (proxy 5xx pages, dropped connections, truncated bodies, `ready: invalid`) are retried with a
//! fresh nonce each time; authentication, maintenance and other final answers are not.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bfx_client::{Client, Endpoints, Error, ErrorKind, RetryPolicy, Symbols};
use common::creds;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

const WALLET_ROWS: &str = r#"[["exchange","BTC",1.5,0,1.2,"Deposit",null]]"#;

fn response(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn wallets() -> Reply {
    Reply::Raw(response("200 OK", "application/json", WALLET_ROWS))
}

fn html_502() -> Reply {
    Reply::Raw(response("502 Bad Gateway", "text/html", "<html><body><h1>502 Bad Gateway</h1></body></html>"))
}

/// Promises the whole wallet body, sends half of it, closes.
fn truncated() -> Reply {
    let full = response("200 OK", "application/json", WALLET_ROWS);
    Reply::Raw(full[..full.len() - WALLET_ROWS.len() / 2].to_owned())
}

fn exchange_error(code: i64, message: &str) -> Reply {
    Reply::Raw(response(
        "500 Internal Server Error",
        "application/json",
        &format!(r#"["error",{code},"{message}"]"#),
    ))
}

#[derive(Clone)]
enum Reply {
    Raw(String),
    /// Close the connection without answering.
    Drop,
}

/// A server answering request `i` with `script[i]`, and `then` once the script is used up. It
/// records each request's `bfx-nonce` header (or `None`), one entry per request.
struct Scripted {
    url: String,
    nonces: Arc<Mutex<Vec<Option<u64>>>>,
}

impl Scripted {
    async fn start(script: Vec<Reply>, then: Reply) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let nonces: Arc<Mutex<Vec<Option<u64>>>> = Arc::default();
        let seen = Arc::clone(&nonces);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let Some(head) = read_request(&mut socket).await else { continue };
                let index = {
                    let mut seen = seen.lock().unwrap();
                    seen.push(nonce_header(&head));
                    seen.len() - 1
                };
                match script.get(index).unwrap_or(&then) {
                    Reply::Raw(response) => {
                        let _ = socket.write_all(response.as_bytes()).await;
                        let _ = socket.shutdown().await;
                    }
                    Reply::Drop => drop(socket),
                }
            }
        });
        Scripted { url, nonces }
    }

    fn requests(&self) -> usize {
        self.nonces.lock().unwrap().len()
    }

    fn nonces(&self) -> Vec<u64> {
        self.nonces.lock().unwrap().iter().map(|n| n.unwrap()).collect()
    }

    fn client(&self) -> Client {
        let fast = RetryPolicy { base: Duration::from_millis(10), ..RetryPolicy::default() };
        Client::builder()
            .endpoints(Endpoints::single(&self.url).unwrap())
            .in_memory_nonces()
            .retry_policy(fast)
            .build()
            .unwrap()
    }
}

/// Reads one request (head and `content-length` body); `None` if the peer went away first.
async fn read_request(socket: &mut TcpStream) -> Option<String> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                })
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                return Some(text[..end].to_owned());
            }
        }
    }
}

fn nonce_header(head: &str) -> Option<u64> {
    head.lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("bfx-nonce:").map(|v| v.trim().parse().unwrap()))
}

fn strictly_increasing(nonces: &[u64]) -> bool {
    nonces.windows(2).all(|w| w[0] < w[1])
}

#[tokio::test]
async fn html_502_twice_then_success() {
    let server = Scripted::start(vec![html_502(), html_502()], wallets()).await;
    let rows = server.client().wallets(&creds("k", "s")).await.unwrap();
    assert_eq!((rows.len(), rows[0].currency.as_str()), (1, "BTC"));
    assert_eq!(server.requests(), 3);
    assert!(strictly_increasing(&server.nonces()), "each attempt has a fresh nonce: {:?}", server.nonces());
}

#[tokio::test]
async fn always_502_gives_up_after_max_attempts() {
    let server = Scripted::start(vec![], html_502()).await;
    let err = server.client().wallets(&creds("k", "s")).await.unwrap_err();
    assert!(matches!(err, Error::Http { status: 502, .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(server.requests(), 4);
    assert!(strictly_increasing(&server.nonces()));
}

#[tokio::test]
async fn dropped_connection_once_then_success() {
    let server = Scripted::start(vec![Reply::Drop], wallets()).await;
    let rows = server.client().wallets(&creds("k", "s")).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn truncated_body_once_then_success() {
    let server = Scripted::start(vec![truncated()], wallets()).await;
    let rows = server.client().wallets(&creds("k", "s")).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn public_requests_are_retried_too() {
    let tickers = Reply::Raw(response("200 OK", "application/json", "[]"));
    let server = Scripted::start(vec![Reply::Drop, html_502()], tickers).await;
    assert!(server.client().tickers(Symbols::All).await.unwrap().is_empty());
    assert_eq!(server.requests(), 3);
}

#[tokio::test]
async fn not_ready_is_retried() {
    let server = Scripted::start(vec![exchange_error(11000, "ready: invalid")], wallets()).await;
    assert_eq!(server.client().wallets(&creds("k", "s")).await.unwrap().len(), 1);
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn final_answers_are_not_retried() {
    for (code, message, kind) in [
        (10100, "apikey: invalid", ErrorKind::Auth),
        (10100, "apikey: digest invalid", ErrorKind::Auth),
        (10001, "api_key: permission invalid", ErrorKind::Permission),
        (10020, "currency: invalid", ErrorKind::Protocol),
        (20060, "maintenance", ErrorKind::Unavailable),
    ] {
        let server = Scripted::start(vec![], exchange_error(code, message)).await;
        let err = server.client().wallets(&creds("k", "s")).await.unwrap_err();
        assert_eq!((err.code(), err.kind()), (Some(code), kind), "{err:?}");
        assert_eq!(server.requests(), 1, "{code} {message}");
    }
}

#[tokio::test]
async fn a_complete_but_unreadable_body_is_not_retried() {
    let broken = Reply::Raw(response("200 OK", "application/json", r#"[["x",1]]"#));
    let server = Scripted::start(vec![], broken).await;
    let err = server.client().wallets(&creds("k", "s")).await.unwrap_err();
    assert!(matches!(err, Error::Parse { .. }), "{err:?}");
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn nonce_small_is_signed_again_once() {
    let small = exchange_error(10114, "nonce: small");
    let server = Scripted::start(vec![small.clone()], wallets()).await;
    assert_eq!(server.client().wallets(&creds("k", "s")).await.unwrap().len(), 1);
    assert_eq!(server.requests(), 2);
    assert!(strictly_increasing(&server.nonces()));

    let server = Scripted::start(vec![], small).await;
    let err = server.client().wallets(&creds("k", "s")).await.unwrap_err();
    assert_eq!((err.code(), err.kind()), (Some(10114), ErrorKind::Nonce));
    assert_eq!(server.requests(), 2, "one re-sign, no more");
}

/// Paused time: the backoff waits and the deadline share this test's clock, which moves only while
/// every task waits, so the bound holds however slow each attempt is on a loaded machine.
#[tokio::test(start_paused = true)]
async fn the_deadline_ends_retries() {
    let server = Scripted::start(vec![], html_502()).await;
    let policy = RetryPolicy {
        base: Duration::from_millis(50),
        factor: 1,
        max_attempts: 1000,
        deadline: Duration::from_millis(300),
        ..RetryPolicy::default()
    };
    let client = Client::builder()
        .endpoints(Endpoints::single(&server.url).unwrap())
        .in_memory_nonces()
        .retry_policy(policy)
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client.wallets(&creds("k", "s")).await.unwrap_err();
    assert!(matches!(err, Error::Http { status: 502, .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert!((2..1000).contains(&server.requests()), "{}", server.requests());
}
