//! The balances report: the portfolio as `bfx_core::portfolio` valued it, with what the user must
//! hear about it (failed accounts with a hint, skipped positions, warnings), and its JSON and CSV
//! forms (the table lives in [`crate::table`]).
//!
//! The JSON document is a contract scripts rely on (README "JSON output"): it is the portfolio
//! serialised, amounts as decimal strings exactly as Bitfinex sent them (normalised).

use std::collections::HashMap;

use bfx_client::{AccountHoldings, Error, ErrorKind};
use bfx_core::Market;
use bfx_core::format_decimal;
use bfx_core::portfolio::{self, AccountInput, Portfolio, Valuation};
use rust_decimal::Decimal;

use crate::exit::{Diagnosis, diagnose};
use crate::output::{View, csv_field};

/// The report, valued and ready to render.
#[derive(Debug)]
pub struct Report {
    pub portfolio: Portfolio,
    /// Accounts that could not be read, with why, for stderr and the exit code.
    pub failures: Vec<(String, Failure)>,
    /// Accounts whose key may not read positions: their positions are skipped, not failed.
    pub positions_skipped: Vec<String>,
    /// Accounts whose positions could not be read for another reason (the network, …): the net
    /// total leaves them out, and the run is partial.
    pub positions_unread: Vec<String>,
    /// Display names (`UST` → `USDt`) of every currency held, whatever `--hide-dust` hides.
    pub names: HashMap<String, String>,
    /// Problems that did not stop the report (e.g. prices unavailable), for stderr.
    pub warnings: Vec<String>,
    /// The tickers could not be fetched: nothing is valued, so the total is not the portfolio's.
    pub prices_unavailable: bool,
}

/// The `bfx balances --json` document (also `bfx serve`'s `/v1/portfolio`).
pub fn portfolio_json(portfolio: &Portfolio) -> String {
    // Serialising plain structs of strings cannot fail; an empty document would be caught by tests.
    let mut text = serde_json::to_string_pretty(portfolio).unwrap_or_default();
    text.push('\n');
    text
}

/// Rows `--hide-dust` hid: of which kind, how many, and their summed value.
#[derive(Debug, Clone, Copy)]
pub struct Dust {
    pub rows: View,
    pub count: usize,
    pub value: Option<Decimal>,
}

/// Why an account failed, for stderr and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub kind: ErrorKind,
    pub diagnosis: Diagnosis,
}

impl Report {
    /// Values what was read. `secret_sources` names where each account's secret came from (for
    /// hints), in the order of `holdings`.
    pub fn build(
        holdings: &[AccountHoldings],
        secret_sources: &[String],
        market: Result<Market, Error>,
        valuation: &Valuation,
    ) -> Report {
        let mut failures = Vec::new();
        let (mut positions_skipped, mut positions_unread) = (Vec::new(), Vec::new());
        let mut warnings = Vec::new();
        for (account, source) in holdings.iter().zip(secret_sources) {
            match (&account.wallets, &account.positions) {
                (Err(error), _) => failures.push((
                    account.name.clone(),
                    Failure { kind: error.kind(), diagnosis: diagnose(error, source) },
                )),
                (Ok(_), Some(Err(_))) if account.positions_not_permitted() => {
                    positions_skipped.push(account.name.clone());
                }
                (Ok(_), Some(Err(error))) => {
                    positions_unread.push(account.name.clone());
                    warnings.push(format!(
                        "account {:?}: open positions could not be read, so the net total leaves them out: {}",
                        account.name,
                        diagnose(error, source).message
                    ));
                }
                _ => {}
            }
        }
        let inputs: Vec<AccountInput> = holdings.iter().map(AccountHoldings::input).collect();
        let (market, prices_unavailable) = match market {
            Ok(market) => (Some(market), false),
            Err(e) => {
                warnings.push(format!("prices unavailable: {e}; balances are shown without values"));
                (None, true)
            }
        };
        let portfolio = portfolio::value(&inputs, market.as_ref(), valuation);
        let names = portfolio.assets.iter().map(|a| (a.currency.clone(), a.name.clone())).collect();
        Report {
            portfolio,
            failures,
            positions_skipped,
            positions_unread,
            names,
            warnings,
            prices_unavailable,
        }
    }

    /// Drops the rows `view` shows whose value is below `threshold` in absolute terms: wallets,
    /// assets or accounts (`None`, for JSON and CSV: wallets, and assets each at their own level).
    /// Rows without a value are always kept (their value is unknown). Totals are unchanged.
    /// Returns how many rows were hidden and their summed value (`None` if it does not fit).
    pub fn hide_dust(&mut self, threshold: Decimal, view: Option<View>) -> Dust {
        let mut dust = Dust { rows: view.unwrap_or(View::Wallet), count: 0, value: Some(Decimal::ZERO) };
        let mut hide = |value: Option<Decimal>| match value {
            Some(v) if v.abs() < threshold => {
                dust.count += 1;
                dust.value = dust.value.and_then(|sum| sum.checked_add(v));
                true
            }
            _ => false,
        };
        let p = &mut self.portfolio;
        match view {
            Some(View::Wallet) => p.accounts.iter_mut().for_each(|a| a.wallets.retain(|w| !hide(w.value))),
            Some(View::Asset) => p.assets.retain(|a| !hide(a.value)),
            Some(View::Account) => p.accounts.retain(|a| a.error.is_some() || !hide(a.total)),
            None => {
                p.accounts.iter_mut().for_each(|a| a.wallets.retain(|w| !hide(w.value)));
                p.assets.retain(|a| a.value.is_none_or(|v| v.abs() >= threshold));
            }
        }
        dust
    }

    /// Bitfinex's display name for a currency, or the id itself.
    pub fn display_name<'a>(&'a self, currency: &'a str) -> &'a str {
        self.names.get(currency).map_or(currency, String::as_str)
    }

    pub fn to_json(&self) -> String {
        portfolio_json(&self.portfolio)
    }

    /// One row per wallet, with a header row. Failed accounts have no rows (they are reported on
    /// stderr and in the exit code).
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "account,type,currency,balance,available,unsettled_interest,price,value,price_route,paper\n",
        );
        let opt = |value: Option<Decimal>| value.map(format_decimal).unwrap_or_default();
        for account in &self.portfolio.accounts {
            for w in &account.wallets {
                let fields = [
                    csv_field(&account.name),
                    csv_field(w.wallet_type.as_str()),
                    csv_field(&w.currency),
                    format_decimal(w.balance),
                    opt(w.available),
                    opt(w.unsettled_interest),
                    opt(w.price),
                    opt(w.value),
                    csv_field(&w.price_route.as_ref().map(|r| r.join(" ")).unwrap_or_default()),
                    w.paper.to_string(),
                ];
                out.push_str(&fields.join(","));
                out.push('\n');
            }
        }
        out
    }
}
