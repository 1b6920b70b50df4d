//! `bfx serve` following many accounts through the emulator (1 000 × 20 wallets by default):
//! its resident memory once every account is live on its WebSocket, the latency of `/metrics`
//! scrapes, and the time from a wallet change (the emulator's admin API) to the scrape that
//! shows it. The emulator runs in this process with its connection limit raised; bfx's own
//! budgets are raised to match in its config (`[network]`), as a user's would be against an
//! emulator. bfx is a separate process, so its memory is its own.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use toml::{Table, Value};

use crate::accounts::write_config;
use crate::{Sim, ms, quantile, state::bench_state};

/// The wallets each account holds: every type × these currencies, first `wallets` of them.
const CURRENCIES: &[&str] = &["USD", "BTC", "ETH", "XRP", "SOL", "UST", "ADA"];
const TYPES: &[&str] = &["exchange", "margin", "funding"];
/// Longest wait for every account to be live.
const SETTLE: Duration = Duration::from_secs(600);

pub async fn run(
    bfx: &Path,
    accounts: usize,
    wallets: usize,
    scrapes: usize,
    changes: usize,
) -> anyhow::Result<()> {
    ensure!(wallets <= CURRENCIES.len() * TYPES.len(), "at most {} wallets", CURRENCIES.len() * TYPES.len());
    let keys: Vec<String> = (0..accounts).map(|i| format!("serve-{i:04}")).collect();
    let sim = start_sim(&state(&keys, wallets)?).await?;
    let home = tempfile::tempdir()?;
    let config = home.path().join("config.toml");
    // bfx's budgets raised to the emulator's (allowed: not a Bitfinex endpoint).
    let network = "\n[network]\nws_connections_per_15s = 100000\nrequests_per_minute = { \"auth/r/wallets\" = 100000, \"auth/r/positions\" = 100000 }\n";
    write_config(&config, &sim.url, network, &keys)?;

    let started = Instant::now();
    let mut child = tokio::process::Command::new(bfx)
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .env_clear()
        .env("HOME", home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run {}", bfx.display()))?;
    let pid = child.id().context("bfx serve has no pid")?;
    let mut stdout = BufReader::new(child.stdout.take().context("no stdout")?).lines();
    let first = stdout.next_line().await?.context("bfx serve exited before listening")?;
    let base = first
        .strip_prefix("listening on ")
        .and_then(|rest| rest.split_whitespace().next())
        .with_context(|| format!("unexpected first line: {first}"))?
        .to_owned();
    let http = reqwest::Client::new();
    let metrics = format!("{base}/metrics");

    // Every account live on its socket (not polled), and ready.
    let mut said = None;
    loop {
        ensure!(started.elapsed() < SETTLE, "not every account went live within {SETTLE:?}");
        let text = http.get(&metrics).send().await?.text().await?;
        let live = samples(&text, "bfx_account_state{")
            .filter(|(l, v)| l.contains("state=\"live\"") && *v == 1.0)
            .count();
        let ready = http.get(format!("{base}/readyz")).send().await?.status().is_success();
        if said != Some((live, ready)) {
            eprintln!("{live} of {accounts} accounts live, ready: {ready}");
            said = Some((live, ready));
        }
        if live == accounts && ready {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let settled = started.elapsed();
    let (rss, peak) = memory(pid)?;

    // Scrapes, one after another on one kept-alive connection, each read into the same buffer
    // (as Prometheus reads into buffers it reuses).
    let mut scrape = Vec::with_capacity(scrapes);
    let mut text = Vec::new();
    for _ in 0..scrapes {
        let start = Instant::now();
        read_scrape(&http, &metrics, &mut text).await?;
        scrape.push(start.elapsed());
    }
    let bytes = text.len();
    scrape.sort();

    // A wallet change to the first scrape that shows it (each scrape started after the change
    // was answered, once the emulator had written it to the account's socket; the figure includes
    // the admin request and that scrape). Also to the moment that scrape was sent: what is left
    // once the scrape's own length (the row above) is taken out, up to one earlier scrape that
    // came too soon.
    let mut visible = Vec::with_capacity(changes);
    let mut visible_sent = Vec::with_capacity(changes);
    // Changes the first scrape after them did not show yet.
    let mut missed = 0;
    for i in 0..changes {
        let key = &keys[i % keys.len()];
        let balance = format!("{}.{i:04}", 1000 + i);
        let body =
            serde_json::json!({"account": key, "type": "exchange", "currency": "BTC", "balance": balance});
        let series = format!("bfx_wallet_balance{{account=\"{key}\",wallet=\"exchange\",currency=\"BTC\"}} ");
        let wanted: f64 = balance.parse()?;
        let start = Instant::now();
        // Answered once the account's WebSocket session has sent the change: a scrape sent
        // earlier could only come too soon.
        let answer = http
            .post(format!("{}/sim/wallets?wait=sent", sim.url))
            .body(body.to_string())
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        let answer: serde_json::Value = serde_json::from_slice(&answer)?;
        ensure!(answer["unsent"] == 0, "change {i} not sent by the emulator within its wait: {answer}");
        let mut first = true;
        loop {
            let sent = start.elapsed();
            read_scrape(&http, &metrics, &mut text).await?;
            if sample(&text, series.as_bytes()) == Some(wanted) {
                visible_sent.push(sent);
                break;
            }
            missed += usize::from(first);
            first = false;
            if start.elapsed() > Duration::from_secs(10) {
                bail!("change {i} not visible in /metrics after 10 s (looked for {series}{wanted})");
            }
        }
        visible.push(start.elapsed());
    }
    visible_sent.sort();
    visible.sort();
    let (rss_after, peak_after) = memory(pid)?;
    child.kill().await.ok();

    println!("serve: {accounts} accounts × {wallets} wallets, all live after {:.1} s", settled.as_secs_f64());
    println!("| measure | value |\n|---|---:|");
    println!("| resident memory, all live | {:.1} MiB (peak {:.1} MiB) |", mib(rss), mib(peak));
    println!(
        "| resident memory, after the scrapes and changes | {:.1} MiB (peak {:.1} MiB) |",
        mib(rss_after),
        mib(peak_after)
    );
    println!("| /metrics body | {:.0} KiB |", bytes as f64 / 1024.0);
    let rows = [
        ("/metrics scrape", &scrape),
        ("wallet change → scrape that shows it, answered", &visible),
        ("wallet change → scrape that shows it, sent", &visible_sent),
    ];
    for (name, samples) in rows {
        println!(
            "| {name}: p50 / p99 / max ({} samples) | {} / {} / {} |",
            samples.len(),
            ms(quantile(samples, 0.5)),
            ms(quantile(samples, 0.99)),
            ms(quantile(samples, 1.0))
        );
    }
    println!("| changes the first scrape after them did not show yet | {missed} of {changes} |");
    Ok(())
}

/// One scrape of `url`, its body read into `body` (emptied first, its capacity kept).
async fn read_scrape(http: &reqwest::Client, url: &str, body: &mut Vec<u8>) -> anyhow::Result<()> {
    body.clear();
    let mut response = http.get(url).send().await?.error_for_status()?;
    while let Some(chunk) = response.chunk().await? {
        body.extend_from_slice(&chunk);
    }
    Ok(())
}

/// The samples of the exposition `text` whose line starts with `prefix`: (series, value).
fn samples<'a>(text: &'a str, prefix: &'a str) -> impl Iterator<Item = (&'a str, f64)> + 'a {
    text.lines()
        .filter(move |l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(series, v)| Some((series, v.parse().ok()?))))
}

/// The value of the one sample of `text` whose line starts with `series` (name, labels and the
/// space before the value).
fn sample(text: &[u8], series: &[u8]) -> Option<f64> {
    let at = memchr::memmem::find(text, series)? + series.len();
    let value = &text[at..];
    let end = memchr::memchr(b'\n', value).unwrap_or(value.len());
    std::str::from_utf8(&value[..end]).ok()?.parse().ok()
}

/// `VmRSS` and `VmHWM` of `pid`, in bytes (Linux).
fn memory(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).context("cannot read /proc (Linux only)")?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status.lines().find(|l| l.starts_with(name)).with_context(|| format!("no {name}"))?;
        let kib: u64 = line.trim_start_matches(name).trim().trim_end_matches("kB").trim().parse()?;
        Ok(kib * 1024)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The benchmark state with request budgets lifted; each key's account holds `wallets`
/// wallets and may read positions.
fn state(keys: &[String], wallets: usize) -> anyhow::Result<String> {
    let mut state: Table = bench_state(keys, true)?.parse()?;
    let accounts = state.get_mut("account").and_then(Value::as_array_mut).context("no accounts")?;
    let rows: Vec<Value> = TYPES
        .iter()
        .flat_map(|t| CURRENCIES.iter().map(move |c| (*t, *c)))
        .take(wallets)
        .enumerate()
        .map(|(i, (kind, currency))| {
            let wallet: Table = [
                ("type", Value::from(kind)),
                ("currency", Value::from(currency)),
                ("balance", Value::from(format!("{}.5", i + 1))),
                ("unsettled_interest", Value::from("0")),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            Value::Table(wallet)
        })
        .collect();
    for account in accounts.iter_mut().filter_map(Value::as_table_mut) {
        if !account.get("name").and_then(Value::as_str).is_some_and(|n| keys.iter().any(|k| k == n)) {
            continue;
        }
        account.insert("wallet".into(), Value::Array(rows.clone()));
        let keys = account.get_mut("key").and_then(Value::as_array_mut).context("no key")?;
        for key in keys.iter_mut().filter_map(Value::as_table_mut) {
            if let Some(permissions) = key.get_mut("permissions").and_then(Value::as_table_mut) {
                permissions.insert("positions".into(), Value::from("r"));
            }
        }
    }
    Ok(toml::to_string(&state)?)
}

/// The emulator with its WebSocket connection limit and connection cap raised.
async fn start_sim(state_toml: &str) -> anyhow::Result<Sim> {
    let state = bfx_sim::SimState::from_toml(state_toml, "the serve benchmark state")?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let options = bfx_sim::SimOptions::default()
        .with_ws_connection_limit(u32::MAX, Duration::from_secs(1))
        .with_max_connections(8192);
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(bfx_sim::serve_with(listener, state, options, async move {
        let _ = stopped.await;
    }));
    Ok(Sim { url, _stop: stop })
}
