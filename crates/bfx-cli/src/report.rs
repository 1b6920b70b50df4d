//! The balances report: what was fetched, valued, and how it is shown (table, JSON, CSV).
//!
//! The JSON document is a contract scripts rely on (README "JSON output"): amounts are decimal
//! strings exactly as Bitfinex sent them (normalised), `available`/`price`/`value` may be null, a
//! failed account carries `error` and no wallets, and totals exclude what could not be priced.

use std::collections::BTreeMap;

use bfx_client::{Error, ErrorKind};
use bfx_core::WalletRow;
use bfx_core::format_decimal;
use bfx_core::valuation::PriceBook;
use comfy_table::{CellAlignment, ContentArrangement, Table, presets};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

use crate::exit::{Diagnosis, diagnose, kind_name};

/// One account's outcome.
#[derive(Debug)]
pub struct AccountResult {
    pub name: String,
    pub secret_source: String,
    pub outcome: Result<Vec<WalletRow>, Error>,
}

/// The report, valued and ready to render.
#[derive(Debug, Serialize)]
pub struct Report {
    pub quote: String,
    pub accounts: Vec<AccountReport>,
    pub assets: Vec<Asset>,
    pub unpriced: Vec<UnpricedAsset>,
    #[serde(serialize_with = "amount")]
    pub total: Decimal,
    /// Why prices are missing altogether (the tickers request failed), if they are.
    #[serde(skip)]
    pub prices_error: Option<String>,
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
    #[serde(serialize_with = "amount")]
    pub balance: Decimal,
    #[serde(serialize_with = "opt_amount")]
    pub value: Option<Decimal>,
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

impl Report {
    /// Values every wallet with `prices` (`Err` when the tickers could not be fetched: then
    /// everything is unpriced, with that reason).
    pub fn build(quote: &str, results: Vec<AccountResult>, prices: Result<&PriceBook, String>) -> Report {
        let mut accounts = Vec::with_capacity(results.len());
        // currency → (balance, value, why unpriced)
        let mut assets: BTreeMap<String, (Decimal, Result<Decimal, String>)> = BTreeMap::new();
        let mut total = Decimal::ZERO;
        for result in results {
            let rows = match result.outcome {
                Ok(rows) => rows,
                Err(error) => {
                    accounts.push(AccountReport {
                        name: result.name,
                        wallets: Vec::new(),
                        total: None,
                        error: Some(AccountError {
                            code: error.code(),
                            message: error
                                .exchange_message()
                                .map_or_else(|| error.to_string(), str::to_owned),
                            kind: kind_name(error.kind()),
                        }),
                        failure: Some(Failure {
                            kind: error.kind(),
                            diagnosis: diagnose(&error, &result.secret_source),
                        }),
                    });
                    continue;
                }
            };
            let mut account_total = Decimal::ZERO;
            let mut wallets = Vec::with_capacity(rows.len());
            for row in rows {
                let valued = match &prices {
                    Ok(book) => book.value(row.balance, &row.currency, quote).map_err(|e| e.to_string()),
                    Err(why) => Err(why.clone()),
                };
                let (price, value) = match &valued {
                    Ok((price, value)) => (Some(price.value), Some(*value)),
                    Err(_) => (None, None),
                };
                let entry = assets.entry(row.currency.clone()).or_insert((Decimal::ZERO, Ok(Decimal::ZERO)));
                entry.0 += row.balance;
                entry.1 = match (&entry.1, valued) {
                    (Ok(sum), Ok((_, v))) => Ok(sum + v),
                    (Err(why), _) => Err(why.clone()),
                    (_, Err(why)) => Err(why),
                };
                account_total += value.unwrap_or_default();
                wallets.push(WalletLine {
                    wallet_type: row.wallet_type.to_string(),
                    currency: row.currency,
                    balance: row.balance,
                    available: row.available,
                    unsettled_interest: row.unsettled_interest,
                    price,
                    value,
                });
            }
            total += account_total;
            accounts.push(AccountReport {
                name: result.name,
                wallets,
                total: Some(account_total),
                error: None,
                failure: None,
            });
        }
        let mut priced = Vec::new();
        let mut unpriced = Vec::new();
        for (currency, (balance, value)) in assets {
            match value {
                Ok(value) => priced.push(Asset { currency, balance, value: Some(value) }),
                Err(reason) => {
                    priced.push(Asset { currency: currency.clone(), balance, value: None });
                    unpriced.push(UnpricedAsset { currency, balance, reason });
                }
            }
        }
        Report {
            quote: quote.to_owned(),
            accounts,
            assets: priced,
            unpriced,
            total,
            prices_error: prices.err(),
        }
    }

    /// The failed accounts, with why.
    pub fn failures(&self) -> impl Iterator<Item = (&str, &Failure)> {
        self.accounts.iter().filter_map(|a| a.failure.as_ref().map(|f| (a.name.as_str(), f)))
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
        let mut out =
            String::from("account,type,currency,balance,available,unsettled_interest,price,value\n");
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
                ];
                out.push_str(&fields.join(","));
                out.push('\n');
            }
        }
        out
    }

    /// The human table: one row per wallet, then totals. Amounts are exact; values are rounded
    /// to cents for display only.
    pub fn to_table(&self) -> String {
        let quote = &self.quote;
        let mut table = Table::new();
        table.load_preset(presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled);
        table.set_header(vec![
            "ACCOUNT".to_owned(),
            "WALLET".to_owned(),
            "CURRENCY".to_owned(),
            "BALANCE".to_owned(),
            "AVAILABLE".to_owned(),
            "UNSETTLED".to_owned(),
            format!("PRICE {quote}"),
            format!("VALUE {quote}"),
        ]);
        let mut rows: Vec<[String; 8]> = Vec::new();
        for account in self.accounts.iter().filter(|a| a.error.is_none()) {
            for w in &account.wallets {
                rows.push([
                    account.name.clone(),
                    w.wallet_type.clone(),
                    w.currency.clone(),
                    format_decimal(w.balance),
                    opt_dash(w.available),
                    opt_dash(w.unsettled_interest),
                    opt_dash(w.price),
                    w.value.map_or_else(|| "unpriced".to_owned(), money),
                ]);
            }
            if account.wallets.is_empty() {
                rows.push(summary_row(account.name.clone(), "(no wallets)", String::new()));
            }
            let total = account.total.map(money).unwrap_or_default();
            rows.push(summary_row(format!("{} total", account.name), "", total));
        }
        rows.push(summary_row("TOTAL".into(), "", money(self.total)));
        for col in 3..8 {
            align_decimals(&mut rows, col);
        }
        for row in rows {
            table.add_row(row);
        }
        for col in 3..8 {
            if let Some(column) = table.column_mut(col) {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
        let mut out = table.to_string().lines().map(str::trim_end).collect::<Vec<_>>().join("\n");
        out.push('\n');
        if !self.unpriced.is_empty() {
            let names: Vec<String> = self
                .unpriced
                .iter()
                .map(|u| format!("{} {} ({})", format_decimal(u.balance), u.currency, u.reason))
                .collect();
            out.push_str(&format!("Totals exclude unpriced assets: {}\n", names.join(", ")));
        }
        if self.accounts.iter().any(|a| a.wallets.iter().any(|w| w.wallet_type == "margin")) {
            out.push_str("Margin wallet balances exclude open-position P/L.\n");
        }
        out
    }
}

/// A table row with a label, a note in the wallet column, and a value in the last column.
fn summary_row(label: String, note: &str, value: String) -> [String; 8] {
    let mut row: [String; 8] = Default::default();
    row[0] = label;
    row[1] = note.to_owned();
    row[7] = value;
    row
}

fn opt(value: Option<Decimal>) -> String {
    value.map(format_decimal).unwrap_or_default()
}

fn opt_dash(value: Option<Decimal>) -> String {
    value.map_or_else(|| "-".to_owned(), format_decimal)
}

/// A value in the quote currency, rounded to cents for display, with thousands separators.
fn money(value: Decimal) -> String {
    let rounded = value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    // -0.001 rounds to zero; print it as 0.00, not -0.00.
    let rounded = if rounded.is_zero() { Decimal::ZERO } else { rounded };
    let text = format!("{rounded:.2}");
    let (sign, digits) = text.strip_prefix('-').map_or(("", text.as_str()), |d| ("-", d));
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "00"));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{frac}")
}

/// Pads the decimals of a right-aligned column so the points line up.
fn align_decimals<const N: usize>(rows: &mut [[String; N]], col: usize) {
    let frac_len = |s: &str| s.split_once('.').map_or(0, |(_, f)| f.len() + 1);
    let width = rows.iter().map(|r| frac_len(&r[col])).max().unwrap_or(0);
    for row in rows.iter_mut() {
        let cell = &mut row[col];
        if cell.starts_with(|c: char| c.is_ascii_digit() || c == '-') && cell != "-" {
            let pad = width - frac_len(cell);
            cell.extend(std::iter::repeat_n(' ', pad));
        }
    }
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

    #[test]
    fn money_rounds_for_display_only() {
        assert_eq!(money(Decimal::new(1720484185515, 7)), "172,048.42");
        assert_eq!(money(Decimal::new(-5, 3)), "-0.01");
        assert_eq!(money(Decimal::new(5, 3)), "0.01");
        assert_eq!(money(Decimal::new(-1, 8)), "0.00");
        assert_eq!(money(Decimal::ZERO), "0.00");
        assert_eq!(money(Decimal::new(999, 0)), "999.00");
        assert_eq!(money(Decimal::new(1000, 0)), "1,000.00");
    }

    #[test]
    fn decimal_points_line_up() {
        let mut rows = [["1.5".to_owned()], ["100".to_owned()], ["0.00000001".to_owned()], ["-".to_owned()]];
        align_decimals(&mut rows, 0);
        let padded = rows.map(|r| r[0].clone());
        assert_eq!(
            padded,
            [
                format!("1.5{}", " ".repeat(7)),
                format!("100{}", " ".repeat(9)),
                "0.00000001".into(),
                "-".into()
            ]
        );
    }

    #[test]
    fn csv_quotes_when_needed() {
        assert_eq!(csv_field("main"), "main");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
