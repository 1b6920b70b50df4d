//! `bfx history value`'s engine (`bfx_store::value::value_series`) over a large store: N ledger
//! entries over three years in `pairs` currencies (each with its daily candles against USD),
//! valued at the end of every day, and the change split. The store is filled directly (not
//! through the emulator: what is timed is the series, not a sync), then the series is computed
//! `runs` times and each run's wall time reported.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::ensure;
use bfx_core::candle::DAY_MS;
use bfx_core::ledger::LedgerEntry;
use bfx_core::valuation::Market;
use bfx_core::{Candle, Ticker};
use bfx_store::value::{Step, ValueQuery, value_series};
use bfx_store::{Covered, DayRange, Location, Store};
use rust_decimal::Decimal;

/// 2023-01-01T00:00:00Z: three years of days from it.
const FROM: i64 = 1_672_531_200_000;
const DAYS: i64 = 3 * 365;
const ACCOUNTS: usize = 4;
const PAGE: usize = 10_000;

pub async fn run(entries: u64, pairs: usize, runs: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(&Location::Sqlite(dir.path().join("history.sqlite"))).await?;
    let currencies: Vec<String> = (0..pairs).map(|i| format!("C{i:02}")).collect();
    let filled = Instant::now();
    fill_ledger(&store, &currencies, entries).await?;
    fill_candles(&store, &currencies).await?;
    let filled = filled.elapsed();

    let tickers: Vec<Ticker> =
        currencies.iter().map(|c| ticker(&format!("t{c}USD"))).collect::<Result<_, _>>()?;
    let today = Market::new(&tickers, &[]);
    let pair_names: Vec<String> = currencies.iter().map(|c| format!("t{c}USD")).collect();
    let accounts: Vec<String> = (0..ACCOUNTS).map(|a| format!("bench-{a}")).collect();
    let query = ValueQuery {
        accounts: accounts.clone(),
        from_mts: FROM,
        to_mts: FROM + DAYS * DAY_MS - 1,
        step: Step::Day,
        quote: "USD".into(),
    };
    let now = FROM + (DAYS + 10) * DAY_MS;
    println!(
        "value: {entries} entries over {DAYS} days, {ACCOUNTS} accounts, {pairs} currencies and pairs (store filled in {:.1} s)",
        filled.as_secs_f64()
    );
    println!(
        "| run | closes read | series (points + change) | points | change split |\n|---:|---:|---:|---:|---|"
    );
    for run in 1..=runs {
        let start = Instant::now();
        let closes = store.closes(&pair_names, FROM, FROM + DAYS * DAY_MS).await?;
        let read = start.elapsed();
        let series = value_series(&store, &today, &closes, &query, now).await?;
        let total = start.elapsed();
        ensure!(series.points.len() == usize::try_from(DAYS)?, "{} points", series.points.len());
        println!(
            "| {run} | {:.3} s | {:.3} s | {} | {} |",
            read.as_secs_f64(),
            total.as_secs_f64(),
            series.points.len(),
            if series.change.is_ok() { "yes" } else { "no" }
        );
    }
    Ok(())
}

fn ticker(symbol: &str) -> anyhow::Result<Ticker> {
    let row = b"[null,null,null,null,null,null,1,null,null,null]";
    Ok(Ticker::Trading(bfx_core::parse_trading_ticker(symbol, row)?))
}

/// `entries` entries spread evenly over the days, accounts and currencies: deposits (a flow)
/// and lending payments (an earning), each wallet's balance chained.
async fn fill_ledger(store: &Store, currencies: &[String], entries: u64) -> anyhow::Result<()> {
    let span = DAYS * DAY_MS;
    let mut balances: BTreeMap<(usize, usize), Decimal> = BTreeMap::new();
    let mut pages: Vec<Vec<LedgerEntry>> = vec![Vec::new(); ACCOUNTS];
    let mut locks = Vec::with_capacity(ACCOUNTS);
    for a in 0..ACCOUNTS {
        locks.push(store.lock_account(&format!("bench-{a}")).await?);
    }
    for n in 0..entries {
        let i = usize::try_from(n)?;
        let (account, currency) = (i % ACCOUNTS, (i / ACCOUNTS) % currencies.len());
        let mts = FROM + i64::try_from(n)? * span / i64::try_from(entries)?;
        let amount = Decimal::new(i64::try_from(n % 1000 + 1)?, 3);
        let balance = balances.entry((account, currency)).or_default();
        *balance += amount;
        let description = match n % 10 {
            0 => "Margin Funding Payment on wallet funding",
            _ => "Deposit (BANK) #1 on wallet exchange",
        };
        let wallet = if n % 10 == 0 { "funding" } else { "exchange" };
        pages[account].push(LedgerEntry {
            id: i64::try_from(n)? + 1,
            currency: currencies[currency].clone(),
            wallet: wallet.into(),
            mts,
            amount,
            balance: *balance,
            description: description.into(),
        });
        if pages[account].len() == PAGE {
            let page = std::mem::take(&mut pages[account]);
            store.store_page(&locks[account], &page, Covered { from_mts: 0, to_mts: FROM + span }).await?;
        }
    }
    for (account, page) in pages.into_iter().enumerate() {
        store.store_page(&locks[account], &page, Covered { from_mts: 0, to_mts: FROM + span }).await?;
    }
    Ok(())
}

async fn fill_candles(store: &Store, currencies: &[String]) -> anyhow::Result<()> {
    for (i, currency) in currencies.iter().enumerate() {
        let candles: Vec<Candle> = (0..DAYS)
            .map(|d| {
                let close = Decimal::new(1000 + i64::try_from(i).unwrap_or(0) * 10 + d % 97, 2);
                Candle {
                    mts: FROM + d * DAY_MS,
                    open: close,
                    close,
                    high: close,
                    low: close,
                    volume: Decimal::ONE,
                }
            })
            .collect();
        let days = DayRange { from_day: FROM, to_day: FROM + (DAYS - 1) * DAY_MS };
        store.store_candles(&format!("t{currency}USD"), &candles, days).await?;
    }
    Ok(())
}
