//! `bfx-bench`: the measurements `bench/compare` makes beside the peer comparison (BENCHMARKS.md).
//!
//! - `state`: the emulator state the benchmarks use (the demo state, plus one copy of the demo
//!   account `main` per benchmark key, optionally with rate limits lifted);
//! - `throughput`: signed `auth/r/wallets` requests per second the emulator answers, against a
//!   bare axum handler returning the same bytes, in the same run;
//! - `accounts`: `bfx balances` for many accounts under the emulator's real budgets, against the
//!   floor those budgets set;
//! - `history`: the ledger sync into a store, entries per second, and under Bitfinex's budget
//!   against the floor it sets;
//! - `latency`: an admin wallet change to the `bfx watch --json` line that reports it;
//! - `serve`: `bfx serve` following many accounts: memory, scrape latency, change to scrape;
//! - `value`: `bfx history value`'s series over three years of a large store.

mod accounts;
mod history;
mod latency;
mod serve;
mod state;
mod throughput;
mod value;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

#[derive(Debug, Parser)]
#[command(name = "bfx-bench", about = "bfx's benchmark driver (see BENCHMARKS.md)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the benchmark emulator state (TOML): the demo state plus a copy of account `main`
    /// for each key (secret: KEY-secret).
    State {
        #[arg(long = "key", value_name = "KEY")]
        keys: Vec<String>,
        /// Lift every rate limit (throughput and one-shot comparisons, not the budget benchmark).
        #[arg(long)]
        unlimited: bool,
    },
    /// Emulator requests per second vs a bare axum handler, alternating, same client.
    Throughput {
        #[arg(long, default_value_t = 3)]
        seconds: u64,
        /// Concurrent clients, each with its own key and keep-alive connection.
        #[arg(long, default_value_t = 8)]
        workers: usize,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// `bfx balances` for N accounts under Bitfinex's budgets, against the floor they set.
    Accounts {
        #[arg(long, value_name = "PATH")]
        bfx: PathBuf,
        #[arg(long = "count", value_name = "N", default_values_t = [10, 200])]
        counts: Vec<usize>,
    },
    /// The ledger sync (`bfx history sync`'s engine) of N entries from the emulator into a store.
    History {
        #[arg(long, default_value_t = 1_000_000)]
        entries: u64,
        /// A SQLite path or a `postgres://` URL (default: a temporary SQLite file).
        #[arg(long, value_name = "PATH|URL")]
        store: Option<String>,
        /// Under Bitfinex's budget (90 ledger requests a minute) instead of lifted budgets.
        #[arg(long)]
        budget: bool,
    },
    /// `bfx serve` following N accounts × W wallets: memory, `/metrics` latency, change → scrape.
    Serve {
        #[arg(long, value_name = "PATH")]
        bfx: PathBuf,
        #[arg(long, default_value_t = 1000)]
        accounts: usize,
        #[arg(long, default_value_t = 20)]
        wallets: usize,
        #[arg(long, default_value_t = 1000)]
        scrapes: usize,
        #[arg(long, default_value_t = 200)]
        changes: usize,
    },
    /// The daily value series over three years of N ledger entries and P pairs.
    Value {
        #[arg(long, default_value_t = 1_000_000)]
        entries: u64,
        #[arg(long, default_value_t = 50)]
        pairs: usize,
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Admin wallet change → `bfx watch --json` line: p50, p99 and max over N changes.
    Latency {
        #[arg(long, value_name = "PATH")]
        bfx: PathBuf,
        #[arg(long, default_value_t = 1000)]
        changes: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    bfx_client::install_crypto_provider();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        match cli.command {
            Command::State { keys, unlimited } => {
                print!("{}", state::bench_state(&keys, unlimited)?);
                Ok(())
            }
            Command::Throughput { seconds, workers, rounds } => {
                throughput::run(Duration::from_secs(seconds), workers.max(1), rounds.max(1)).await
            }
            Command::Accounts { bfx, counts } => accounts::run(&bfx, &counts).await,
            Command::History { entries, store, budget } => history::run(entries, store, budget).await,
            Command::Latency { bfx, changes } => latency::run(&bfx, changes.max(1)).await,
            Command::Value { entries, pairs, runs } => value::run(entries, pairs.max(1), runs.max(1)).await,
            Command::Serve { bfx, accounts, wallets, scrapes, changes } => {
                serve::run(&bfx, accounts.max(1), wallets, scrapes.max(1), changes.max(1)).await
            }
        }
    })
}

/// The emulator, in-process on a free loopback port, until the sender is dropped.
#[derive(Debug)]
pub struct Sim {
    pub url: String,
    _stop: oneshot::Sender<()>,
}

pub async fn start_sim(state_toml: &str) -> anyhow::Result<Sim> {
    let state = bfx_sim::SimState::from_toml(state_toml, "the benchmark state")?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(bfx_sim::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    Ok(Sim { url, _stop: stop })
}

/// The `q`-quantile (0..=1) of sorted samples, by nearest rank.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Milliseconds with three decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile(&samples, 0.5), Duration::from_millis(50));
        assert_eq!(quantile(&samples, 0.99), Duration::from_millis(99));
        assert_eq!(quantile(&samples, 1.0), Duration::from_millis(100));
        assert_eq!(quantile(&samples[..1], 0.99), Duration::from_millis(1));
    }
}
