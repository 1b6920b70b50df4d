//! Signed `POST /v2/auth/r/wallets` requests per second: the emulator (signature, nonce and
//! permission checks, the wallets serialised) against a bare axum handler that returns the same
//! bytes and checks nothing, measured alternately with the same load, in one run.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, ensure};
use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::routing::post;
use axum::serve::ListenerExt;
use bfx_core::{Nonce, sign::sign};
use tokio::net::TcpListener;

use crate::{start_sim, state::bench_state};

const PATH: &str = "v2/auth/r/wallets";
const BODY: &[u8] = b"{}";

pub async fn run(duration: Duration, workers: usize, rounds: usize) -> anyhow::Result<()> {
    let keys: Vec<String> = (0..workers).map(|i| format!("load-{i:03}")).collect();
    let sim = start_sim(&bench_state(&keys, true)?).await?;
    let mut nonces = vec![now_us(); workers];
    let expected = request(&reqwest::Client::new(), &sim.url, &keys[0], &mut nonces[0]).await?;
    let bare = start_bare(expected.clone()).await?;
    println!(
        "throughput: {workers} clients with keep-alive, {} s per run, {rounds} rounds, {} byte answers",
        duration.as_secs(),
        expected.len()
    );
    let (mut emulator, mut baseline) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let sim_rate = load(&sim.url, &keys, &mut nonces, duration, &expected).await?;
        let bare_rate = load(&bare, &keys, &mut nonces, duration, &expected).await?;
        println!("  round {round}: emulator {sim_rate:.0} req/s, bare axum {bare_rate:.0} req/s");
        emulator.push(sim_rate);
        baseline.push(bare_rate);
    }
    let (emulator, baseline) = (median(&mut emulator), median(&mut baseline));
    println!("| server | requests/s (median of {rounds}) |\n|---|---:|");
    println!(
        "| bfx sim (auth/r/wallets, verified) | {emulator:.0} |\n| bare axum, same bytes | {baseline:.0} |"
    );
    let ratio = emulator / baseline;
    let verdict = if ratio >= 0.5 { "met" } else { "missed" };
    println!("- emulator ≥ 0.5× bare axum: **{verdict}** ({ratio:.2}×)");
    Ok(())
}

/// A server answering every `POST /v2/auth/r/wallets` with `answer`, as the emulator serves it
/// (`TCP_NODELAY`, JSON content type).
async fn start_bare(answer: Vec<u8>) -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let app = Router::new().route(
        "/v2/auth/r/wallets",
        post(move || {
            let answer = answer.clone();
            async move { ([(CONTENT_TYPE, "application/json")], answer) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

/// Every worker sends signed requests back to back on its own connection until `duration` has
/// passed; every answer must be the expected bytes. Requests per second, all workers together.
async fn load(
    url: &str,
    keys: &[String],
    nonces: &mut [u64],
    duration: Duration,
    expected: &[u8],
) -> anyhow::Result<f64> {
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for (key, nonce) in keys.iter().zip(nonces.iter()) {
        let (url, key, expected, mut nonce) = (url.to_owned(), key.clone(), expected.to_vec(), *nonce);
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut done = 0u64;
            while Instant::now() < deadline {
                let answer = request(&http, &url, &key, &mut nonce).await?;
                ensure!(answer == expected, "{url} answered {} bytes, not the expected ones", answer.len());
                done += 1;
            }
            Ok::<_, anyhow::Error>((done, nonce))
        }));
    }
    let mut total = 0;
    for (task, nonce) in tasks.into_iter().zip(nonces.iter_mut()) {
        let (done, last) = task.await.context("a load worker panicked")??;
        total += done;
        *nonce = last;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

/// One signed request with the next nonce of `key`; the answer's bytes (status 200 only).
async fn request(http: &reqwest::Client, url: &str, key: &str, nonce: &mut u64) -> anyhow::Result<Vec<u8>> {
    *nonce = (*nonce + 1).max(now_us());
    let secret = format!("{key}-secret");
    let signature = sign(secret.as_bytes(), PATH, Nonce::new_unchecked(*nonce), BODY);
    let response = http
        .post(format!("{url}/{PATH}"))
        .header("bfx-nonce", nonce.to_string())
        .header("bfx-apikey", key)
        .header("bfx-signature", signature)
        .header(CONTENT_TYPE, "application/json")
        .body(BODY)
        .send()
        .await?;
    let status = response.status();
    let body = response.bytes().await?.to_vec();
    ensure!(status.is_success(), "{url}/{PATH}: {status} {}", String::from_utf8_lossy(&body));
    Ok(body)
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}
