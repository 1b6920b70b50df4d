//! The WebSocket path end to end: a wallet changed through the emulator's admin API, to the
//! `bfx watch --json` line that reports it (the emulator pushes `wu` under the same lock as the
//! change; bfx reads it, parses it and writes the line). Measured from just before the admin
//! request is sent, so each figure also holds that request's own round trip (reported apart).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::ChildStdout;

use crate::{ms, quantile, start_sim, state::bench_state};

const KEY: &str = "bench-ws";

pub async fn run(bfx: &Path, changes: usize) -> anyhow::Result<()> {
    let sim = start_sim(&bench_state(&[KEY.to_owned()], false)?).await?;
    let home = tempfile::tempdir()?;
    let mut child = tokio::process::Command::new(bfx)
        .args(["watch", "--json", "--config", "/dev/null"])
        .env_clear()
        .env("HOME", home.path())
        .env("BFX_API_URL", &sim.url)
        .env("BFX_API_KEY", KEY)
        .env("BFX_API_SECRET", format!("{KEY}-secret"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run {}", bfx.display()))?;
    let mut lines = BufReader::new(child.stdout.take().context("no stdout")?).lines();
    // Live, then the connect's snapshot (the WebSocket's own, the same, is not repeated): from
    // then on changes arrive as `wu`.
    next_matching(&mut lines, |e| e["event"] == "status" && e["state"] == "live").await?;
    next_matching(&mut lines, |e| e["event"] == "snapshot").await?;
    let http = reqwest::Client::new();
    let (mut to_line, mut admin) = (Vec::with_capacity(changes), Vec::with_capacity(changes));
    for i in 0..changes {
        let balance = (1000 + i).to_string();
        let body =
            serde_json::json!({"account": KEY, "type": "exchange", "currency": "BTC", "balance": balance});
        let start = Instant::now();
        let response = http.post(format!("{}/sim/wallets", sim.url)).body(body.to_string()).send().await?;
        let answered = start.elapsed();
        if !response.status().is_success() {
            bail!("the admin API refused a wallet change: {}", response.status());
        }
        next_matching(&mut lines, |e| e["event"] == "wallet" && e["wallet"]["balance"] == balance.as_str())
            .await?;
        to_line.push(start.elapsed());
        admin.push(answered);
    }
    to_line.sort();
    admin.sort();
    println!("latency: {changes} wallet changes, one `bfx watch --json` on loopback");
    println!("| path | p50 | p99 | max |\n|---|---:|---:|---:|");
    for (name, samples) in [("admin change → bfx watch line", &to_line), ("admin request alone", &admin)] {
        println!(
            "| {name} | {} | {} | {} |",
            ms(quantile(samples, 0.5)),
            ms(quantile(samples, 0.99)),
            ms(quantile(samples, 1.0))
        );
    }
    let p99 = quantile(&to_line, 0.99);
    let verdict = if p99 < Duration::from_millis(2) { "met" } else { "missed" };
    println!("- WebSocket change → output p99 under 2 ms: **{verdict}** ({})", ms(p99));
    child.kill().await.ok();
    Ok(())
}

/// The next NDJSON event `want` accepts; fails after 10 s or when bfx exits.
async fn next_matching(
    lines: &mut Lines<BufReader<ChildStdout>>,
    want: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .context("bfx watch said nothing expected within 10 s")??
            .context("bfx watch exited")?;
        let event: Value = serde_json::from_str(&line).with_context(|| format!("not JSON: {line}"))?;
        if event["event"] == "status" && event["state"] == "failed" {
            bail!("bfx watch failed: {event}");
        }
        if want(&event) {
            return Ok(event);
        }
    }
}
