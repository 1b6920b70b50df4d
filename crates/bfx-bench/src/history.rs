//! `bfx history sync`'s engine (`bfx_store::sync_account`) filling a store from the emulator:
//! entries per second with the budgets lifted (what the client and the store can do), and under
//! Bitfinex's budget for ledgers (90 requests a minute) against the floor it sets: page k (from 0)
//! cannot be asked for before `floor(k / 90)` windows have passed, so N entries need at least
//! `floor((ceil(N / 2500) - 1) / 90)` minutes.
//!
//! The emulator runs in this process (it competes for the same cores: the figures are a lower
//! bound of what a store gets from the real Bitfinex, which is the slower side anyway).

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use bfx_client::{Account, Client, Credentials, Endpoints, RateLimits};
use bfx_store::{Location, Store, sync_account};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::start_sim;

const PAGE: u64 = 2_500;
const PER_WINDOW: u64 = 90;
const WINDOW: Duration = Duration::from_secs(60);
/// 2025-01-01T00:00:00Z: the entries span the year after it.
const FROM: i64 = 1_735_689_600_000;

fn state(lifted: bool) -> String {
    let limits = match lifted {
        true => "[limits]\nper_minute = { \"auth/r/ledgers/hist\" = 100000000 }\n",
        false => "",
    };
    format!(
        "{limits}[[account]]\nname = \"bench\"\nuser_id = 1\nemail = \"bench@example.com\"\n\
         [[account.key]]\nkey = \"bench-key\"\nsecret = \"bench-secret\"\npermissions = {{ wallets = \"r\", history = \"r\" }}\n\
         [[account.wallet]]\ntype = \"exchange\"\ncurrency = \"BTC\"\nbalance = \"0\"\nunsettled_interest = \"0\"\n"
    )
}

/// Syncs `entries` entries into `store` (a path or a `postgres://` URL; default: a temporary
/// SQLite file) and prints one Markdown table row.
pub async fn run(entries: u64, store: Option<String>, budget: bool) -> anyhow::Result<()> {
    let sim = start_sim(&state(!budget)).await?;
    let fill = json!({"account": "bench", "currency": "BTC", "wallet": "exchange", "count": entries,
                      "from_mts": FROM, "to_mts": FROM + 365 * 86_400_000_i64});
    let response =
        reqwest::Client::new().post(format!("{}/sim/ledger", sim.url)).body(fill.to_string()).send().await?;
    ensure!(response.status().is_success(), "filling the emulator failed: {}", response.text().await?);

    let dir = tempfile::tempdir()?;
    let location = match &store {
        Some(text) => Location::parse(text)?,
        None => Location::Sqlite(dir.path().join("history.sqlite")),
    };
    let store = Store::open(&location).await?;
    let limits = match budget {
        true => RateLimits::bitfinex(),
        false => RateLimits::bitfinex().with_limit("auth/r/ledgers/hist", 100_000_000),
    };
    let client = Client::builder()
        .endpoints(Endpoints::single(&sim.url)?)
        .in_memory_nonces()
        .rate_limits(limits)
        .build()?;
    let account = Account {
        name: "bench".into(),
        credentials: Credentials::new("bench-key", SecretString::from("bench-secret")),
    };
    let now = FROM + 400 * 86_400_000;
    let start = Instant::now();
    let synced = sync_account(&client, &store, &account, None, now, |_| {}).await?;
    let wall = start.elapsed();
    ensure!(synced.progress.inserted == entries, "stored {} of {entries}", synced.progress.inserted);

    let counters = reqwest::get(format!("{}/sim/counters", sim.url)).await?.error_for_status()?;
    let counters: Value = serde_json::from_slice(&counters.bytes().await?)?;
    let refused = counters["rejections"]["rate_limited"].as_u64().context("no rate_limited counter")?;
    let pages = synced.progress.pages;
    let floor = WINDOW * u32::try_from(pages.saturating_sub(1) / PER_WINDOW)?;
    let over = match !budget || floor.is_zero() {
        true => "-".to_owned(),
        false => format!("{:+.2} %", (wall.as_secs_f64() / floor.as_secs_f64() - 1.0) * 100.0),
    };
    let floor = match budget {
        true => format!("{:.0} s", floor.as_secs_f64()),
        false => "-".to_owned(),
    };
    println!(
        "| {} | {entries} | {} | {pages} | {:.3} s | {:.0} entries/s | {floor} | {over} | {refused} |",
        store_name(&location),
        if budget { "Bitfinex's (90/min)" } else { "lifted" },
        wall.as_secs_f64(),
        entries as f64 / wall.as_secs_f64(),
    );
    ensure!(pages >= entries.div_ceil(PAGE), "fewer pages than entries need");
    Ok(())
}

fn store_name(location: &Location) -> &'static str {
    match location {
        Location::Sqlite(_) => "SQLite",
        Location::Postgres(_) => "PostgreSQL",
    }
}
