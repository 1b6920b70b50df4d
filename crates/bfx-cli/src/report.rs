//! The balances report: what was fetched, valued in the quote currency, and its JSON and CSV forms
//! (the table lives in [`crate::table`]).
//!
//! The JSON document is a contract scripts rely on (README "JSON output"): amounts are decimal
//! strings exactly as Bitfinex sent them (normalised), `available`/`price`/`value` may be null, a
//! failed account carries `error` and no wallets, and totals exclude what could not be priced.

use std::collections::{BTreeMap, HashMap};

use bfx_client::{Error, ErrorKind};
use bfx_core::WalletRow;
use bfx_core::format_decimal;
use bfx_core::valuation::{Market, PriceKind, is_paper};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::exit::{Diagnosis, diagnose, kind_name};

/// One account's outcome.
#[derive(Debug)]
pub struct AccountResult {
    pub name: String,
    pub secret_source: String,
    pub outcome: Result<Vec<WalletRow>, Error>,
}

/// How to value: in what, at which price, and with what market data.
#[derive(Debug)]
pub struct Pricing {
    pub quote: String,
    pub kind: PriceKind,
    pub include_paper: bool,
    /// `Err` (why) when the tickers could not be fetched: then everything is unpriced.
    pub market: Result<Market, String>,
    /// Problems fetching market data that did not stop the report.
    pub warnings: Vec<String>,
    /// Display names from `conf/pub:map:currency:sym` (`UST` → `USDt`).
    pub names: HashMap<String, String>,
}

/// The report, valued and ready to render.
#[derive(Debug, Serialize)]
pub struct Report {
    pub quote: String,
    /// `last`, `bid` or `mid`.
    pub price: String,
    pub accounts: Vec<AccountReport>,
    pub assets: Vec<Asset>,
    pub unpriced: Vec<UnpricedAsset>,
    #[serde(serialize_with = "amount")]
    pub total: Decimal,
    /// Problems that did not stop the report (e.g. prices unavailable), for stderr.
    #[serde(skip)]
    pub warnings: Vec<String>,
    /// The tickers could not be fetched: nothing is valued, so the total is not the portfolio's.
    #[serde(skip)]
    pub prices_unavailable: bool,
    #[serde(skip)]
    pub names: HashMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct AccountReport {
    pub name: String,
    pub wallets: Vec<WalletLine>,
    #[serde(serialize_with = "opt_amount")]
    pub total: Option<Decimal>,
    pub error: Option<AccountError>,
    #[serde(skip)]
    pub failure: Option<Failure>,
}

/// Why an account failed, for stderr and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub kind: ErrorKind,
    pub diagnosis: Diagnosis,
}

#[derive(Debug, Serialize)]
pub struct WalletLine {
    #[serde(rename = "type")]
    pub wallet_type: String,
    pub currency: String,
    #[serde(serialize_with = "amount")]
    pub balance: Decimal,
    #[serde(serialize_with = "opt_amount")]
    pub available: Option<Decimal>,
    #[serde(serialize_with = "opt_amount")]
    pub unsettled_interest: Option<Decimal>,
    #[serde(serialize_with = "opt_amount")]
    pub price: Option<Decimal>,
    #[serde(serialize_with = "opt_amount")]
    pub value: Option<Decimal>,
    /// The tickers the price came from (`[]` for the quote itself; `null` when unpriced).
    pub price_route: Option<Vec<String>>,
    /// A paper-trading currency (`TEST…`): not money, out of totals unless `--include-paper`.
    pub paper: bool,
}

#[derive(Debug, Serialize)]
pub struct AccountError {
    pub code: Option<i64>,
    pub message: String,
    pub kind: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Asset {
    pub currency: String,
    /// Bitfinex's display name (`USDt` for `UST`), or the id.
    pub name: String,
    #[serde(serialize_with = "amount")]
    pub balance: Decimal,
    #[serde(serialize_with = "opt_amount")]
    pub value: Option<Decimal>,
    /// Percent of the total, rounded to 2 places (`null` when unpriced or the total is 0).
    #[serde(serialize_with = "opt_amount")]
    pub share: Option<Decimal>,
}

#[derive(Debug, Serialize)]
pub struct UnpricedAsset {
    pub currency: String,
    #[serde(serialize_with = "amount")]
    pub balance: Decimal,
    pub reason: String,
}

fn amount<S: serde::Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_decimal(*value))
}

fn opt_amount<S: serde::Serializer>(value: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => amount(v, s),
        None => s.serialize_none(),
    }
}

/// Per currency: summed balance, and the summed value or why it has none.
type AssetSums = BTreeMap<String, (Decimal, Result<Decimal, String>)>;

impl Report {
    pub fn build(pricing: Pricing, results: Vec<AccountResult>) -> Report {
        let mut accounts = Vec::with_capacity(results.len());
        let mut assets: AssetSums = BTreeMap::new();
        let mut total = Decimal::ZERO;
        for result in results {
            match result.outcome {
                Ok(rows) => {
                    let account = value_account(result.name, rows, &pricing, &mut assets);
                    total += account.total.unwrap_or_default();
                    accounts.push(account);
                }
                Err(error) => accounts.push(failed_account(result.name, &result.secret_source, &error)),
            }
        }
        let (assets, unpriced) = split_assets(assets, total, &pricing.names);
        let prices_unavailable = pricing.market.is_err();
        Report {
            quote: pricing.quote,
            price: pricing.kind.to_string(),
            accounts,
            assets,
            unpriced,
            total,
            warnings: pricing.warnings,
            prices_unavailable,
            names: pricing.names,
        }
    }

    /// The failed accounts, with why.
    pub fn failures(&self) -> impl Iterator<Item = (&str, &Failure)> {
        self.accounts.iter().filter_map(|a| a.failure.as_ref().map(|f| (a.name.as_str(), f)))
    }

    /// Bitfinex's display name for a currency, or the id itself.
    pub fn display_name<'a>(&'a self, currency: &'a str) -> &'a str {
        self.names.get(currency).map_or(currency, String::as_str)
    }

    /// Drops priced wallets whose value is below `threshold` in absolute terms (unpriced ones are
    /// always kept: their value is unknown). Totals are unchanged. Returns how many were hidden and
    /// their summed value.
    pub fn hide_dust(&mut self, threshold: Decimal) -> (usize, Decimal) {
        let (mut count, mut value) = (0, Decimal::ZERO);
        for account in &mut self.accounts {
            account.wallets.retain(|w| match w.value {
                Some(v) if v.abs() < threshold => {
                    count += 1;
                    value += v;
                    false
                }
                _ => true,
            });
        }
        self.assets.retain(|a| a.value.is_none_or(|v| v.abs() >= threshold));
        (count, value)
    }

    pub fn to_json(&self) -> String {
        // Serialising plain structs of strings cannot fail; an empty document would be caught by tests.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// One row per wallet, with a header row. Failed accounts have no rows (they are reported on
    /// stderr and in the exit code).
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "account,type,currency,balance,available,unsettled_interest,price,value,price_route,paper\n",
        );
        for account in &self.accounts {
            for w in &account.wallets {
                let fields = [
                    csv_field(&account.name),
                    csv_field(&w.wallet_type),
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

fn value_account(
    name: String,
    rows: Vec<WalletRow>,
    pricing: &Pricing,
    assets: &mut AssetSums,
) -> AccountReport {
    let mut account_total = Decimal::ZERO;
    let mut wallets = Vec::with_capacity(rows.len());
    for row in rows {
        let valued = match &pricing.market {
            Ok(market) => market
                .value(row.balance, &row.currency, &pricing.quote, pricing.kind, pricing.include_paper)
                .map_err(|e| e.to_string()),
            Err(why) => Err(why.clone()),
        };
        let entry = assets.entry(row.currency.clone()).or_insert((Decimal::ZERO, Ok(Decimal::ZERO)));
        entry.0 += row.balance;
        entry.1 = match (&entry.1, &valued) {
            (Ok(sum), Ok((_, v))) => Ok(sum + v),
            (Err(why), _) | (_, Err(why)) => Err(why.clone()),
        };
        let (price, value, price_route) = match valued {
            Ok((price, value)) => (Some(price.value), Some(value), Some(price.route)),
            Err(_) => (None, None, None),
        };
        account_total += value.unwrap_or_default();
        wallets.push(WalletLine {
            wallet_type: row.wallet_type.to_string(),
            paper: is_paper(&row.currency),
            currency: row.currency,
            balance: row.balance,
            available: row.available,
            unsettled_interest: row.unsettled_interest,
            price,
            value,
            price_route,
        });
    }
    AccountReport { name, wallets, total: Some(account_total), error: None, failure: None }
}

fn failed_account(name: String, secret_source: &str, error: &Error) -> AccountReport {
    AccountReport {
        name,
        wallets: Vec::new(),
        total: None,
        error: Some(AccountError {
            code: error.code(),
            message: error.exchange_message().map_or_else(|| error.to_string(), str::to_owned),
            kind: kind_name(error.kind()),
        }),
        failure: Some(Failure { kind: error.kind(), diagnosis: diagnose(error, secret_source) }),
    }
}

/// Assets by currency (largest value first, unpriced last), and the unpriced ones with why.
fn split_assets(
    sums: AssetSums,
    total: Decimal,
    names: &HashMap<String, String>,
) -> (Vec<Asset>, Vec<UnpricedAsset>) {
    let mut assets = Vec::with_capacity(sums.len());
    let mut unpriced = Vec::new();
    for (currency, (balance, value)) in sums {
        let name = names.get(&currency).cloned().unwrap_or_else(|| currency.clone());
        let value = match value {
            Ok(value) => Some(value),
            Err(reason) => {
                unpriced.push(UnpricedAsset { currency: currency.clone(), balance, reason });
                None
            }
        };
        let share = value.filter(|_| !total.is_zero()).and_then(|v| {
            v.checked_mul(Decimal::ONE_HUNDRED).and_then(|p| p.checked_div(total)).map(|p| p.round_dp(2))
        });
        assets.push(Asset { currency, name, balance, value, share });
    }
    assets.sort_by(|a, b| b.value.is_some().cmp(&a.value.is_some()).then(b.value.cmp(&a.value)));
    (assets, unpriced)
}

fn opt(value: Option<Decimal>) -> String {
    value.map(format_decimal).unwrap_or_default()
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn csv_quotes_when_needed() {
        assert_eq!(csv_field("main"), "main");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn assets_sorted_by_value_with_shares_and_unpriced_last() {
        let mut sums = AssetSums::new();
        sums.insert("BTC".into(), (dec("1"), Ok(dec("75"))));
        sums.insert("UST".into(), (dec("25"), Ok(dec("25"))));
        sums.insert("AIO".into(), (dec("5"), Err("no ticker route to USD".into())));
        let names = HashMap::from([("UST".to_owned(), "USDt".to_owned())]);
        let (assets, unpriced) = split_assets(sums, dec("100"), &names);
        let order: Vec<_> = assets.iter().map(|a| (a.name.as_str(), a.share)).collect();
        assert_eq!(order, [("BTC", Some(dec("75"))), ("USDt", Some(dec("25"))), ("AIO", None)]);
        assert_eq!(unpriced.len(), 1);
        assert_eq!(unpriced[0].reason, "no ticker route to USD");
    }
}
