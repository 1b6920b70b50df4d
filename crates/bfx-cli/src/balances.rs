//! `bfx balances`: fetch every selected account's wallets concurrently over one connection pool,
//! fetch the tickers and the currency maps once, value, render, and choose the exit code.

use std::collections::HashMap;
use std::time::Duration;

use bfx_client::{Client, Symbols};
use bfx_core::valuation::Market;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinSet;

use crate::cli::{Format, ReportArgs};
use crate::config::{Account, ConfigError};
use crate::exit::Exit;
use crate::report::{AccountResult, Pricing, Report};
use crate::table;

/// Display names (`UST` → `USDt`) and the underlying of each derivative currency.
pub(crate) const SYMBOL_NAMES: &str = "pub:map:currency:sym";
pub(crate) const UNDERLYINGS: &str = "pub:map:currency:undl";

/// A quote no trading pair uses would leave everything unpriced: that is a wrong request.
pub(crate) fn check_quote(market: &Market, quote: &str) -> Result<(), ConfigError> {
    match market.has_currency(quote) {
        true => Ok(()),
        false => Err(ConfigError::Invalid(format!(
            "unknown quote currency {quote:?}: no Bitfinex trading pair uses it (try USD, EUR, BTC or UST)"
        ))),
    }
}

/// Fetches and values the balances of `accounts`. Account failures are part of the report; an
/// `Err` means the run itself broke (a task died) or the request was wrong (an unknown quote),
/// and nothing should be printed as a result.
pub async fn fetch(client: &Client, accounts: Vec<Account>, args: &ReportArgs) -> anyhow::Result<Report> {
    let progress = Progress::start(accounts.len());
    let report = fetch_quietly(client, accounts, args).await;
    progress.finish();
    report
}

async fn fetch_quietly(client: &Client, accounts: Vec<Account>, args: &ReportArgs) -> anyhow::Result<Report> {
    let mut tasks = JoinSet::new();
    let mut names = HashMap::new();
    for (index, account) in accounts.into_iter().enumerate() {
        let client = client.clone();
        let name = account.name.clone();
        let handle = tasks.spawn(async move {
            let outcome = client.wallets(&account.credentials).await;
            (index, AccountResult { name: account.name, secret_source: account.secret_source, outcome })
        });
        names.insert(handle.id(), name);
    }
    let (tickers, maps) =
        tokio::join!(client.tickers(Symbols::All), client.conf_maps(&[SYMBOL_NAMES, UNDERLYINGS]));
    let mut results = Vec::with_capacity(names.len());
    while let Some(joined) = tasks.join_next_with_id().await {
        match joined {
            Ok((_, result)) => results.push(result),
            Err(e) => {
                let name = names.get(&e.id()).map_or("?", String::as_str);
                anyhow::bail!("internal error while reading account {name:?}: {e}");
            }
        }
    }
    results.sort_by_key(|(index, _)| *index);
    let results = results.into_iter().map(|(_, r)| r).collect();
    Ok(Report::build(pricing(args, tickers, maps)?, results))
}

fn pricing(
    args: &ReportArgs,
    tickers: Result<Vec<bfx_core::Ticker>, bfx_client::Error>,
    maps: Result<Vec<Vec<(String, String)>>, bfx_client::Error>,
) -> Result<Pricing, ConfigError> {
    let quote = args.valuation.quote();
    let mut warnings = Vec::new();
    let (names, underlying) = match maps {
        Ok(mut maps) => {
            let underlying = maps.pop().unwrap_or_default();
            (maps.pop().unwrap_or_default().into_iter().collect(), underlying)
        }
        Err(e) => {
            warnings.push(format!("currency names and derivative underlyings unavailable: {e}"));
            (HashMap::new(), Vec::new())
        }
    };
    let market = match tickers {
        Ok(tickers) => {
            let market = Market::new(&tickers, &underlying);
            check_quote(&market, &quote)?;
            Ok(market)
        }
        Err(e) => {
            let why = format!("prices unavailable: {e}");
            warnings.push(format!("{why}; balances are shown without values"));
            Err(why)
        }
    };
    Ok(Pricing {
        quote,
        kind: args.valuation.price,
        include_paper: args.include_paper,
        market,
        names,
        warnings,
    })
}

/// A spinner on stderr, only on a terminal, shown at once when several accounts are in flight
/// and after 300 ms otherwise (a fast single request shows nothing).
struct Progress {
    bar: ProgressBar,
    reveal: tokio::task::JoinHandle<()>,
}

impl Progress {
    fn start(accounts: usize) -> Progress {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(match accounts {
            1 => "reading 1 account…".to_owned(),
            n => format!("reading {n} accounts…"),
        });
        let delay = if accounts > 1 { Duration::ZERO } else { Duration::from_millis(300) };
        let shown = bar.clone();
        let reveal = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            shown.enable_steady_tick(Duration::from_millis(100));
        });
        Progress { bar, reveal }
    }

    fn finish(self) {
        self.reveal.abort();
        self.bar.finish_and_clear();
    }
}

/// Renders the report for stdout, and the problems for stderr.
pub fn render(mut report: Report, args: &ReportArgs) -> (String, String) {
    let dust = args.hide_dust.map(|threshold| report.hide_dust(threshold));
    let stdout = match args.format() {
        Format::Table => table::render(&report, args.by, dust),
        Format::Json => report.to_json(),
        Format::Csv => report.to_csv(),
    };
    let mut stderr = String::new();
    for (name, failure) in report.failures() {
        let d = &failure.diagnosis;
        stderr.push_str(&format!("error: account {name:?}: {}\n", d.message));
        if let Some(hint) = &d.hint {
            stderr.push_str(&format!("  hint: {hint}\n"));
        }
    }
    for warning in &report.warnings {
        stderr.push_str(&format!("warning: {warning}\n"));
    }
    (stdout, stderr)
}

/// 0 when every account was read and valued; 5 when only some accounts were; 4 when all were read
/// but prices were unavailable; otherwise the first failure's code.
pub fn exit_code(report: &Report) -> Exit {
    let failures: Vec<_> = report.failures().collect();
    match failures.first() {
        None if report.prices_unavailable => Exit::Unavailable,
        None => Exit::Ok,
        Some(_) if failures.len() < report.accounts.len() => Exit::Partial,
        Some((_, failure)) => Exit::for_kind(failure.kind),
    }
}
