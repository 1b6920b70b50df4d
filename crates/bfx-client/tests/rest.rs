//! The client against the in-process emulator: success, and every rejection the emulator makes,
//! each mapped to the right typed error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

use std::str::FromStr;
use std::time::Duration;

use bfx_client::{Client, ClientBuilder, Credentials, Endpoints, Error, ErrorKind, RetryPolicy, Symbols};
use bfx_core::{Ticker, WalletType};
use bfx_sim::SimState;
use rust_decimal::Decimal;
use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const STATE: &str = include_str!("../../../testdata/state.toml");

struct Sim {
    url: String,
    _stop: oneshot::Sender<()>,
}

async fn sim() -> Sim {
    let state = SimState::from_toml(STATE, "testdata/state.toml").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(bfx_sim::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    Sim { url, _stop: stop }
}

/// No nonce files (each test has a fresh emulator) and short backoffs (retries are covered by
/// tests/retries.rs).
fn builder(url: &str) -> ClientBuilder {
    Client::builder()
        .endpoints(Endpoints::single(url).unwrap())
        .in_memory_nonces()
        .retry_policy(RetryPolicy { base: Duration::from_millis(10), ..RetryPolicy::default() })
}

fn client(url: &str) -> Client {
    builder(url).build().unwrap()
}

fn creds(key: &str, secret: &str) -> Credentials {
    Credentials::new(key, SecretString::from(secret.to_owned()))
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

#[tokio::test]
async fn wallets_are_exact() {
    let sim = sim().await;
    let rows = client(&sim.url).wallets(&creds("alice-key", "alice-secret")).await.unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!((rows[0].wallet_type.clone(), rows[0].currency.as_str()), (WalletType::Exchange, "BTC"));
    assert_eq!(rows[0].balance, dec("1.5"));
    assert_eq!(rows[0].available, Some(dec("1.2")));
    assert_eq!(rows[0].last_change.as_deref(), Some("Deposit"));
    assert_eq!(rows[1].balance.to_string(), "0.123456789012345678");
    assert_eq!(rows[1].available, None);
    assert_eq!(rows[2].balance.to_string(), "-0.00000001");
    assert_eq!(rows[2].unsettled_interest, Some(dec("-0.5")));
    assert_eq!(rows[3].balance.to_string(), "0.00000001");
}

#[tokio::test]
async fn many_requests_on_one_key_never_reuse_a_nonce() {
    let sim = sim().await;
    let client = client(&sim.url);
    let alice = creds("alice-key", "alice-secret");
    let calls = (0..20).map(|_| {
        let (client, alice) = (client.clone(), alice.clone());
        tokio::spawn(async move { client.wallets(&alice).await })
    });
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().len(), 4);
    }
}

#[tokio::test]
async fn permissions_and_user_info() {
    let sim = sim().await;
    let client = client(&sim.url);
    let perms = client.permissions(&creds("noperm-key", "noperm-secret")).await.unwrap();
    let wallets = perms.iter().find(|p| p.scope == "wallets").unwrap();
    assert!(!wallets.read && !wallets.write);
    let account = perms.iter().find(|p| p.scope == "account").unwrap();
    assert!(account.read && !account.write);
    let user = client.user_info(&creds("bob-key", "bob-secret")).await.unwrap();
    assert_eq!(user.id, 2002);
    assert_eq!(user.email.as_deref(), Some("bob@example.com"));
}

#[tokio::test]
async fn tickers_all_and_listed() {
    let sim = sim().await;
    let client = client(&sim.url);
    let all = client.tickers(Symbols::All).await.unwrap();
    assert_eq!(all.len(), 3);
    let Ticker::Trading(btc) = &all[0] else { panic!("trading") };
    assert_eq!((btc.symbol.as_str(), btc.last_price), ("tBTCUSD", Some(dec("114698.945701"))));
    let some =
        client.tickers(Symbols::Only(&["tAVAX:USD".to_owned(), "tNOPE:USD".to_owned()])).await.unwrap();
    assert_eq!(some.iter().map(Ticker::symbol).collect::<Vec<_>>(), ["tAVAX:USD"]);
    assert!(client.platform_status().await.unwrap());
}

fn api_error(result: Result<impl std::fmt::Debug, Error>) -> (i64, String, ErrorKind) {
    match result {
        Err(e @ Error::Api { .. }) => {
            let Error::Api { code, ref message, status, .. } = e else { unreachable!() };
            assert_eq!(status, 500);
            (code, message.clone(), e.kind())
        }
        other => panic!("expected an exchange error, got {other:?}"),
    }
}

#[tokio::test]
async fn wrong_secret_is_digest_invalid() {
    let sim = sim().await;
    let result = client(&sim.url).wallets(&creds("alice-key", "not-the-secret")).await;
    assert_eq!(api_error(result), (10100, "apikey: digest invalid".into(), ErrorKind::Auth));
}

#[tokio::test]
async fn unknown_key_is_apikey_invalid() {
    let sim = sim().await;
    let result = client(&sim.url).wallets(&creds("who", "what")).await;
    assert_eq!(api_error(result), (10100, "apikey: invalid".into(), ErrorKind::Auth));
}

#[tokio::test]
async fn missing_wallets_permission() {
    let sim = sim().await;
    let result = client(&sim.url).wallets(&creds("noperm-key", "noperm-secret")).await;
    assert_eq!(api_error(result), (10001, "api_key: permission invalid".into(), ErrorKind::Permission));
}

/// Another program used the key with a larger nonce (say a far-future one): every nonce bfx picks
/// from the clock is now "small".
#[tokio::test]
async fn nonce_small_after_a_larger_nonce_elsewhere() {
    let sim = sim().await;
    bfx_client::install_crypto_provider();
    let nonce = bfx_core::Nonce::new(9_000_000_000_000_000).unwrap();
    let signature = bfx_core::sign::sign(b"bob-secret", "v2/auth/r/wallets", nonce, b"{}");
    let response = reqwest::Client::new()
        .post(format!("{}/v2/auth/r/wallets", sim.url))
        .header("bfx-nonce", nonce.to_string())
        .header("bfx-apikey", "bob-key")
        .header("bfx-signature", signature)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // The client signs once more with a fresh nonce (another tool may have used the key), then
    // reports the error.
    let result = client(&sim.url).wallets(&creds("bob-key", "bob-secret")).await;
    assert_eq!(api_error(result), (10114, "nonce: small".into(), ErrorKind::Nonce));
}

#[tokio::test]
async fn rate_limit_is_typed_with_retry_after() {
    let sim = sim().await;
    // Without waiting (the default waits the 60 s block out; see tests/rate_limits.rs).
    let client = builder(&sim.url).wait_on_rate_limit(false).build().unwrap();
    assert!(client.platform_status().await.unwrap());
    match client.platform_status().await {
        Err(e @ Error::RateLimited { status: 429, retry_after: Some(_), .. }) => {
            assert_eq!(e.kind(), ErrorKind::RateLimited);
        }
        other => panic!("expected a rate limit, got {other:?}"),
    }
}

/// A server that answers every connection with `response` (a proxy's error page, say).
async fn canned(response: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            let _ = socket.write_all(response.as_bytes()).await;
        }
    });
    url
}

#[tokio::test]
async fn html_bad_gateway_keeps_status_and_first_bytes() {
    let url = canned(
        "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/html\r\ncontent-length: 50\r\nconnection: close\r\n\r\n<html><body><h1>502 Bad Gateway</h1></body></html>",
    )
    .await;
    let err = client(&url).wallets(&creds("k", "s")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(
        err.to_string(),
        "auth/r/wallets: unexpected HTTP 502 response: <html><body><h1>502 Bad Gateway</h1></body></html>"
    );
}

#[tokio::test]
async fn redirects_are_refused_not_followed_with_the_signed_headers() {
    // The redirect points at a real emulator that would accept the signed request.
    let target = sim().await;
    let response = format!(
        "HTTP/1.1 307 Temporary Redirect\r\nlocation: {}/v2/auth/r/wallets\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        target.url
    );
    let url = canned(Box::leak(response.into_boxed_str())).await;
    let err = client(&url).wallets(&creds("alice-key", "alice-secret")).await.unwrap_err();
    match &err {
        Error::Redirect { endpoint: "auth/r/wallets", status: 307, location } => {
            assert_eq!(location, &format!("{}/v2/auth/r/wallets", target.url));
        }
        other => panic!("expected a refused redirect, got {other:?}"),
    }
    assert_eq!(err.kind(), ErrorKind::Config);
    let counters: serde_json::Value = serde_json::from_slice(
        &reqwest::get(format!("{}/sim/counters", target.url)).await.unwrap().bytes().await.unwrap(),
    )
    .unwrap();
    assert_eq!(counters["requests"]["auth/r/wallets"], 0, "the signed request reached the redirect target");
}

#[tokio::test]
async fn truncated_success_body_is_a_parse_error_not_a_number() {
    let url = canned(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 27\r\nconnection: close\r\n\r\n[[\"exchange\",\"BTC\",1.5,0,nu",
    )
    .await;
    let err = client(&url).wallets(&creds("k", "s")).await.unwrap_err();
    assert!(matches!(err, Error::Parse { endpoint: "auth/r/wallets", .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Protocol);
}

#[tokio::test]
async fn timeouts_and_refused_connections_are_network_errors() {
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    // Retried (a timeout is transient), and still a timeout in the end.
    let client = builder(&url).request_timeout(Duration::from_millis(200)).build().unwrap();
    let err = client.wallets(&creds("k", "s")).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { endpoint: "auth/r/wallets", .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Network);
    hold.abort();

    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let err = self::client(&url).tickers(Symbols::All).await.unwrap_err();
    assert!(matches!(err, Error::Connect { endpoint: "tickers", .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Network);
}
