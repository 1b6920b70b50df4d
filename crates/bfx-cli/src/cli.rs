//! Command-line arguments (clap). Commands never see these types directly: `main` resolves them
//! into settings first.

use std::path::PathBuf;

use bfx_core::valuation::PriceKind;
use clap::{Args, Parser, Subcommand};
use rust_decimal::Decimal;

use crate::output::View;

#[derive(Debug, Parser)]
#[command(name = "bfx", version, about = "Read Bitfinex balances, exactly.", propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More logging on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Where the accounts and the exchange are.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Config file (default: $XDG_CONFIG_HOME/bfx/config.toml; also BFX_CONFIG).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Authenticated REST base URL (also BFX_API_URL); alone, it also sets the public and
    /// WebSocket URLs, so one flag points bfx at an emulator.
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    /// Public REST base URL (also BFX_PUBLIC_URL).
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// WebSocket URL (also BFX_WS_URL).
    #[arg(long, value_name = "URL")]
    pub ws_url: Option<String>,
    /// Seconds allowed to connect (default 5; also `[network] connect_timeout_secs`).
    #[arg(long, value_name = "SECS")]
    pub connect_timeout: Option<u64>,
    /// Seconds allowed for a whole request (default 15; also `[network] request_timeout_secs`).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// When Bitfinex rate-limits an endpoint, fail at once (exit 4) instead of waiting out the block.
    #[arg(long)]
    pub no_wait: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every wallet of every configured account.
    Balances(BalancesArgs),
    /// Follow balances live (WebSocket; REST polling while it cannot be had): a full-screen view
    /// on a terminal, otherwise one NDJSON event per line.
    Watch(WatchArgs),
    /// Run the embedded emulator with the demo state and show its balances (no config, no network).
    Demo(DemoArgs),
    /// Serve the live portfolio over HTTP: Prometheus `/metrics`, `/v1/portfolio` (the
    /// `balances --json` document), `/healthz`, `/readyz`.
    Serve(ServeArgs),
    /// Run the Bitfinex emulator.
    Sim(SimArgs),
    /// The price strip: name, last price and 24 h change (default: the seed's 15 coins).
    Ticker(TickerArgs),
    /// Check every configured key's permissions: a balance reader should only read.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
    /// Write, show or locate the config file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The ledger kept locally (SQLite, or PostgreSQL via `[store] url` / BFX_STORE_URL), and the
    /// questions answered from it.
    #[command(subcommand)]
    History(HistoryCommand),
}

#[derive(Debug, Subcommand)]
pub enum HistoryCommand {
    /// Copy each account's ledger from Bitfinex into the store: everything the first time (back to
    /// --since), then only what is new. Interrupted, the next run completes it.
    Sync(HistorySyncArgs),
    /// Every wallet's balance at a moment, from the stored ledger (zero balances omitted).
    Balances(HistoryBalancesArgs),
    /// Lending and staking income (margin funding payments, staking rewards, rebates), summed.
    Earnings(HistoryEarningsArgs),
    /// Trading, deposit, withdrawal and funding fees paid, summed (negative: paid).
    Fees(HistoryRangeArgs),
    /// Deposits and withdrawals, and apart from them the transfers between wallets.
    Flows(HistoryRangeArgs),
    /// The portfolio's value at the end of each day, week or month (stored balances at Bitfinex's
    /// daily closes, fetched into the store once), and its change split into deposits −
    /// withdrawals, earnings, fees and market.
    Value(HistoryValueArgs),
    /// The value over time drawn as SVG or PNG (`--out FILE.svg|FILE.png`): the total as a line,
    /// stacked areas per asset or per account, deposits and withdrawals marked; the same options
    /// and the same numbers as `value`. PNG text needs a TrueType font (DejaVu, or BFX_FONT).
    Chart(HistoryChartArgs),
    /// The stored ledger, one row per entry: CSV (default) or JSON, columns
    /// account,id,mts,time,currency,wallet,category,amount,balance,description.
    Export(HistoryExportArgs),
    /// Reconcile the store with the exchange: newest stored balances against auth/r/wallets, every
    /// entry's balance against the previous one plus its amount; exit 5 when anything disagrees.
    Check(HistoryCheckArgs),
}

/// Which accounts, how to print, and where the config (and so the store) is.
#[derive(Debug, Args)]
pub struct HistoryOutput {
    /// Only these accounts (repeatable); default: every account in the store.
    #[arg(long = "account", value_name = "NAME")]
    pub accounts: Vec<String>,
    /// One JSON document (amounts as strings).
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// CSV with a header row.
    #[arg(long)]
    pub csv: bool,
    /// Config file (default: $XDG_CONFIG_HOME/bfx/config.toml; also BFX_CONFIG).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// A time range; each bound a date (`2026-01-31`, UTC), an RFC 3339 time or milliseconds.
#[derive(Debug, Clone, Args)]
pub struct RangeArgs {
    /// From this moment, inclusive (a date means its first millisecond); default: the beginning.
    #[arg(long, value_name = "WHEN")]
    pub from: Option<String>,
    /// Up to this moment, inclusive (a date means that whole day); default: where the last sync ended.
    #[arg(long, value_name = "WHEN")]
    pub to: Option<String>,
}

#[derive(Debug, Args)]
pub struct HistorySyncArgs {
    /// Only these accounts (repeatable); default: all configured accounts.
    #[arg(long = "account", value_name = "NAME")]
    pub accounts: Vec<String>,
    /// How far back the first sync reads (a date, RFC 3339 time or milliseconds); default: as far
    /// as Bitfinex keeps the ledger.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args)]
pub struct HistoryBalancesArgs {
    /// The moment: a date (`2026-01-31`: the end of that day, UTC), an RFC 3339 time, or
    /// milliseconds since the epoch.
    #[arg(long, value_name = "WHEN")]
    pub at: String,
    #[command(flatten)]
    pub output: HistoryOutput,
}

/// How earnings are split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SplitBy {
    Currency,
    Month,
}

#[derive(Debug, Args)]
pub struct HistoryEarningsArgs {
    #[command(flatten)]
    pub range: RangeArgs,
    /// One row per currency and category, or per month, currency and category.
    #[arg(long, value_enum, default_value_t = SplitBy::Currency)]
    pub by: SplitBy,
    #[command(flatten)]
    pub output: HistoryOutput,
}

#[derive(Debug, Args)]
pub struct HistoryRangeArgs {
    #[command(flatten)]
    pub range: RangeArgs,
    #[command(flatten)]
    pub output: HistoryOutput,
}

#[derive(Debug, Args)]
pub struct HistoryExportArgs {
    #[command(flatten)]
    pub range: RangeArgs,
    /// Only these accounts (repeatable); default: every account in the store.
    #[arg(long = "account", value_name = "NAME")]
    pub accounts: Vec<String>,
    /// A JSON array of objects with the CSV's columns as keys (amounts as strings).
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// CSV with a header row (the default).
    #[arg(long)]
    pub csv: bool,
    /// Config file (default: $XDG_CONFIG_HOME/bfx/config.toml; also BFX_CONFIG).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// What `bfx history value` and `bfx history chart` value: when, how often, in what, whose.
#[derive(Debug, Args)]
pub struct ValueOptions {
    #[command(flatten)]
    pub range: RangeArgs,
    /// One point at the end (UTC) of each day, week (Sunday) or month; the last at --to.
    #[arg(long, value_enum, default_value_t = ValueStep::Day)]
    pub every: ValueStep,
    /// Currency to value in (USD, EUR, BTC, UST, …), through Bitfinex's daily closes.
    #[arg(long, default_value = "USD", value_name = "CURRENCY")]
    pub quote: String,
    /// Only these accounts (repeatable); default: every account in the store.
    #[arg(long = "account", value_name = "NAME")]
    pub accounts: Vec<String>,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args)]
pub struct HistoryValueArgs {
    #[command(flatten)]
    pub value: ValueOptions,
    /// One JSON document (amounts as strings).
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// CSV with a header row: mts,time,total,unpriced and one column per account.
    #[arg(long)]
    pub csv: bool,
}

#[derive(Debug, Args)]
pub struct HistoryChartArgs {
    #[command(flatten)]
    pub value: ValueOptions,
    /// The file to write, SVG or PNG by its extension (.svg, .png); replaced if it exists.
    #[arg(long, default_value = "bfx-value.svg", value_name = "FILE")]
    pub out: PathBuf,
    /// What the stacked areas under the total line split it into.
    #[arg(long, value_enum, default_value_t = ChartBy::Asset)]
    pub by: ChartBy,
    /// The picture's size in pixels, WIDTHxHEIGHT (400x250 to 4000x4000).
    #[arg(long, default_value = "1200x600", value_name = "WxH")]
    pub size: String,
}

/// The stacked areas of `bfx history chart`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ChartBy {
    Asset,
    Account,
}

/// How far apart the points of `bfx history value` are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ValueStep {
    Day,
    Week,
    Month,
}

impl From<ValueStep> for bfx_store::value::Step {
    fn from(step: ValueStep) -> bfx_store::value::Step {
        match step {
            ValueStep::Day => bfx_store::value::Step::Day,
            ValueStep::Week => bfx_store::value::Step::Week,
            ValueStep::Month => bfx_store::value::Step::Month,
        }
    }
}

#[derive(Debug, Args)]
pub struct HistoryCheckArgs {
    /// Only these accounts (repeatable); default: all configured accounts.
    #[arg(long = "account", value_name = "NAME")]
    pub accounts: Vec<String>,
    /// One JSON document.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// CSV, one row per difference, with a header row.
    #[arg(long)]
    pub csv: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Valid? Which permissions? OK, OVER-PRIVILEGED (can write), MISSING (no wallets read) or
    /// BROKEN; the exit code is non-zero unless every key is OK.
    Check {
        /// Only these accounts (repeatable); default: all configured accounts.
        #[arg(long = "account", value_name = "NAME")]
        accounts: Vec<String>,
        /// One JSON document.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connect: ConnectArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Write a commented template to the config path (mode 0600).
    Init {
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Print the effective configuration, secrets masked.
    Show {
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Store an account's secret in the OS keyring, read from standard input (one line); then set
    /// `secret_keyring = true` on the account.
    #[cfg(feature = "keyring")]
    KeyringSet {
        /// The account name (the keyring entry is service `bfx`, user NAME).
        account: String,
    },
    /// Print the config file's path.
    Path {
        #[command(flatten)]
        connect: ConnectArgs,
    },
}

#[derive(Debug, Args)]
pub struct BalancesArgs {
    /// Only these accounts (repeatable); default: all configured accounts.
    #[arg(long = "account", value_name = "NAME")]
    pub accounts: Vec<String>,
    #[command(flatten)]
    pub report: ReportArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// What balances are valued in, and at which price.
#[derive(Debug, Clone, Args)]
pub struct ValuationArgs {
    /// Currency to value in (USD, EUR, BTC, UST, …), priced from Bitfinex's tickers.
    #[arg(long, default_value = "USD", value_name = "CURRENCY")]
    pub quote: String,
    /// Which price: last trade, bid (what selling now would fetch), or the bid/ask midpoint.
    #[arg(long, default_value_t = PriceKind::Last, value_parser = parse_price_kind, value_name = "last|bid|mid")]
    pub price: PriceKind,
}

/// What to show and how.
#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub valuation: ValuationArgs,
    /// Count paper-trading currencies (TEST…) in values and totals.
    #[arg(long)]
    pub include_paper: bool,
    /// Table rows per wallet (account → wallet type → currency), per asset, or per account
    /// (`--json` holds every view; `--csv` is per wallet).
    #[arg(long, value_enum, default_value_t = View::Wallet, conflicts_with_all = ["json", "csv"])]
    pub by: View,
    /// Hide wallets worth less than this (in the quote currency); totals still include them.
    #[arg(long, value_name = "VALUE")]
    pub hide_dust: Option<Decimal>,
    /// One JSON document (amounts as strings; the schema is in the README).
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// CSV, one row per wallet, with a header row.
    #[arg(long)]
    pub csv: bool,
}

fn parse_price_kind(text: &str) -> Result<PriceKind, String> {
    text.parse().map_err(|e: bfx_core::valuation::UnknownPriceKind| e.to_string())
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Only these accounts (repeatable); default: all configured accounts.
    #[arg(long = "account", value_name = "NAME")]
    pub accounts: Vec<String>,
    /// NDJSON events, one per line, even on a terminal (the full-screen view is shown only when
    /// stdout is a terminal; piped or redirected output is always NDJSON).
    #[arg(long)]
    pub json: bool,
    /// Seconds between REST polls while the WebSocket cannot be had (1 to 3600).
    #[arg(long, default_value_t = 10, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub poll_interval: u64,
    /// What values (in the view, and in NDJSON `value` events) are in.
    #[command(flatten)]
    pub valuation: ValuationArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Only these accounts (repeatable); default: all configured accounts.
    #[arg(long = "account", value_name = "NAME")]
    pub accounts: Vec<String>,
    #[command(flatten)]
    pub listen: ListenArgs,
    /// Seconds between REST polls while the WebSocket cannot be had (1 to 3600).
    #[arg(long, default_value_t = 10, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub poll_interval: u64,
    #[command(flatten)]
    pub snapshots: SnapshotArgs,
    #[command(flatten)]
    pub valuation: ValuationArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// Write the valued portfolio into the history store this often (`5m`, `1h`, `1h30m`; 1m to
    /// 1d): the first as soon as every account is read. Off by default.
    #[arg(long, value_name = "DURATION", value_parser = parse_snapshot_every)]
    pub snapshot_every: Option<bfx_store::Every>,
}

/// `--snapshot-every`: a duration between [`bfx_store::periodic::MIN_EVERY`] and
/// [`bfx_store::periodic::MAX_EVERY`].
fn parse_snapshot_every(text: &str) -> Result<bfx_store::Every, String> {
    use bfx_store::periodic::{MAX_EVERY, MIN_EVERY};
    let every = parse_duration(text)?;
    bfx_store::Every::new(every, MIN_EVERY, MAX_EVERY).map_err(|e| e.to_string())
}

/// A duration as people write it: numbers with units, `90s`, `5m`, `1h30m`, `2 hours`, `1d`
/// (s/sec/second, m/min/minute, h/hr/hour, d/day, plurals too).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let invalid = || format!("{text:?} is not a duration: write it as 90s, 5m, 1h30m or 1d");
    let mut total: u64 = 0;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let number: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = rest[digits..].trim_start();
        let letters = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
        let unit = match &rest[..letters] {
            "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3_600,
            "d" | "day" | "days" => 86_400,
            _ => return Err(invalid()),
        };
        rest = rest[letters..].trim_start();
        total = number.checked_mul(unit).and_then(|secs| total.checked_add(secs)).ok_or_else(invalid)?;
    }
    Ok(std::time::Duration::from_secs(total))
}

#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Address to serve on. Anything but loopback needs a bearer token (BFX_SERVE_TOKEN or
    /// `[serve] token_file`; never a flag).
    #[arg(long, default_value = "127.0.0.1:9187", value_name = "HOST:PORT")]
    pub listen: String,
}

/// `bfx demo [watch]`: the report flags apply to the balances shown without a subcommand.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DemoArgs {
    #[command(subcommand)]
    pub command: Option<DemoCommand>,
    /// Only these demo accounts (repeatable: main, bot, cold, paper); default: all.
    #[arg(long = "account", value_name = "NAME")]
    pub accounts: Vec<String>,
    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant, reason = "parsed once per run; boxing would only complicate matching")]
pub enum DemoCommand {
    /// `bfx history …` against the demo: every demo account's year of ledger synced into a
    /// temporary store (removed at the end), then the command run on it. Connection and config
    /// flags are ignored.
    #[command(subcommand)]
    History(HistoryCommand),
    /// Watch the demo accounts live while their balances and prices move every ~1.5 s
    /// (full-screen on a terminal, otherwise NDJSON).
    Watch(DemoWatchArgs),
    /// `bfx serve` for the demo accounts while their balances and prices move every ~1.5 s.
    /// `--snapshot-every` writes into a store in a temporary directory (its path on stderr),
    /// removed at exit: the demo never writes into your history.
    Serve(DemoServeArgs),
}

#[derive(Debug, Args)]
pub struct DemoServeArgs {
    #[command(flatten)]
    pub listen: ListenArgs,
    /// Do not move the demo balances and prices (for comparisons; the emulator's admin API,
    /// whose URL is on stderr, still moves them).
    #[arg(long)]
    pub still: bool,
    // Snapshots go into a store in a temporary directory, removed at exit (see `DemoCommand`).
    #[command(flatten)]
    pub snapshots: SnapshotArgs,
    #[command(flatten)]
    pub valuation: ValuationArgs,
}

#[derive(Debug, Args)]
pub struct DemoWatchArgs {
    /// NDJSON events, one per line, even on a terminal.
    #[arg(long)]
    pub json: bool,
    /// What values (in the view, and in NDJSON `value` events) are in.
    #[command(flatten)]
    pub valuation: ValuationArgs,
}

#[derive(Debug, Args)]
pub struct TickerArgs {
    /// Coins: names from the strip (`bitcoin`), currency ids (`BTC`) or pairs (`tBTCUSD`).
    pub symbols: Vec<String>,
    /// One JSON document instead of the strip.
    #[arg(long)]
    pub json: bool,
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// Colours: `auto` uses them only on a terminal and never when `NO_COLOR` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// `no_color` is the value of `NO_COLOR` (<https://no-color.org>: set and non-empty disables).
    pub fn enabled(self, is_terminal: bool, no_color: Option<&str>) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_terminal && no_color.is_none_or(str::is_empty),
        }
    }
}

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Address to listen on, `HOST:PORT` (a name such as `localhost` is resolved; port 0 picks a
    /// free port).
    #[arg(long, default_value = "127.0.0.1:8787", value_name = "ADDR")]
    pub listen: String,
    /// State file (TOML); default: the built-in demo state.
    #[arg(long, value_name = "FILE", conflicts_with = "demo")]
    pub state: Option<PathBuf>,
    /// Serve the built-in demo state and print its keys (the default without --state).
    #[arg(long)]
    pub demo: bool,
    /// Print the built-in demo state (an example state file) and exit.
    #[arg(long, conflicts_with_all = ["state", "demo"])]
    pub print_demo_state: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_rules() {
        assert!(ColorChoice::Auto.enabled(true, None));
        assert!(ColorChoice::Auto.enabled(true, Some("")));
        assert!(!ColorChoice::Auto.enabled(true, Some("1")));
        assert!(!ColorChoice::Auto.enabled(false, None));
        assert!(ColorChoice::Always.enabled(false, Some("1")));
        assert!(!ColorChoice::Never.enabled(true, None));
    }

    #[test]
    fn durations_as_people_write_them() {
        let secs = |text: &str| parse_duration(text).map(|d| d.as_secs());
        assert_eq!(secs("90s"), Ok(90));
        assert_eq!(secs("5m"), Ok(300));
        assert_eq!(secs("1h30m"), Ok(5_400));
        assert_eq!(secs("1h 30min"), Ok(5_400));
        assert_eq!(secs("2 hours"), Ok(7_200));
        assert_eq!(secs("1d"), Ok(86_400));
        for bad in ["", "5", "m", "5x", "-5m", "1.5h", "5m3", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_snapshot_every("5m").map(|e| e.duration().as_secs()), Ok(300));
        let err = parse_snapshot_every("30s").unwrap_err();
        assert_eq!(err, "a snapshot every 30s is too often: give between 1m and 1d");
        assert!(parse_snapshot_every("25h").unwrap_err().contains("too rare"));
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
