//! `bfx balances`: read every selected account's wallets and positions concurrently over one
//! connection pool and the market once, value them (`bfx_core::portfolio`), print, and choose the
//! exit code.

use std::time::Duration;

use bfx_client::Client;
use bfx_core::portfolio::Valuation;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rust_decimal::Decimal;

use crate::config::{Account, check_quote};
use crate::exit::Exit;
use crate::output::{Format, View, terminal_safe, write_stderr, write_stdout};
use crate::report::Report;
use crate::table;

/// How the report is shown.
#[derive(Debug, Clone, Copy)]
pub struct Presentation {
    pub format: Format,
    pub view: View,
    /// Hide wallets worth less than this in the quote (totals still include them).
    pub hide_dust: Option<Decimal>,
}

/// Reads, values and prints; an unknown quote is refused before anything is printed.
pub async fn run(
    client: &Client,
    accounts: &[Account],
    valuation: &Valuation,
    presentation: &Presentation,
) -> anyhow::Result<Exit> {
    let report = fetch(client, accounts, valuation).await?;
    let exit = exit_code(&report);
    let (out, err) = render(report, presentation);
    write_stdout(&out)?;
    write_stderr(&err);
    Ok(exit)
}

/// Fetches and values the balances of `accounts`. Account failures are part of the report; an
/// `Err` means the request was wrong (an unknown quote), and nothing should be printed.
async fn fetch(client: &Client, accounts: &[Account], valuation: &Valuation) -> anyhow::Result<Report> {
    let progress = Progress::start(accounts.len());
    let readers: Vec<bfx_client::Account> = accounts.iter().map(Account::reader).collect();
    let (holdings, market) = tokio::join!(client.holdings(&readers), client.market());
    progress.finish();
    if let Ok(market) = &market {
        check_quote(market, &valuation.quote)?;
    }
    let sources: Vec<String> = accounts.iter().map(|a| a.secret_source.clone()).collect();
    Ok(Report::build(&holdings, &sources, market, valuation))
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
fn render(mut report: Report, presentation: &Presentation) -> (String, String) {
    let view = (presentation.format == Format::Table).then_some(presentation.view);
    let dust = presentation.hide_dust.map(|threshold| report.hide_dust(threshold, view));
    let stdout = match presentation.format {
        Format::Table => table::render(&report, presentation.view, dust),
        Format::Json => report.to_json(),
        Format::Csv => report.to_csv(),
    };
    let mut stderr = String::new();
    for (name, failure) in &report.failures {
        let d = &failure.diagnosis;
        stderr.push_str(&format!("error: account {name:?}: {}\n", terminal_safe(&d.message)));
        if let Some(hint) = &d.hint {
            stderr.push_str(&format!("  hint: {}\n", terminal_safe(hint)));
        }
    }
    for warning in &report.warnings {
        stderr.push_str(&format!("warning: {}\n", terminal_safe(warning)));
    }
    (stdout, stderr)
}

/// 0 when every account was read and valued; 5 when only some accounts (or some accounts' open
/// positions) were; 4 when all were read but prices were unavailable; otherwise the first
/// failure's code.
fn exit_code(report: &Report) -> Exit {
    match report.failures.first() {
        None if report.prices_unavailable => Exit::Unavailable,
        None if !report.positions_unread.is_empty() => Exit::Partial,
        None => Exit::Ok,
        Some(_) if report.failures.len() < report.portfolio.accounts.len() => Exit::Partial,
        Some((_, failure)) => Exit::for_kind(failure.kind),
    }
}
