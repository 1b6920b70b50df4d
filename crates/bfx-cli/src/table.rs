//! The human table, in three views (`--by wallet|asset|account`).
//!
//! Rounding happens here and only here, for display: fiat amounts to 2 places, crypto to at most
//! 8, prices to 8 significant digits; JSON and CSV carry the exact values. Decimal points line up,
//! names are Bitfinex's display names (`USDt` for `UST`), and a total is never shown as complete
//! when an account failed or an asset could not be priced.

use bfx_core::format_decimal;
use bfx_core::valuation::is_paper;
use comfy_table::{CellAlignment, ContentArrangement, Table, presets};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::cli::View;
use crate::report::Report;

/// Bitfinex's fiat currency ids: shown with 2 decimals.
const FIAT: &[&str] = &["USD", "EUR", "GBP", "JPY", "CHF", "CNH", "TRY", "MXN", "CAD", "AUD"];

pub fn render(report: &Report, view: View, dust: Option<(usize, Decimal)>) -> String {
    let (header, rows, numeric) = match view {
        View::Wallet => by_wallet(report),
        View::Asset => by_asset(report),
        View::Account => by_account(report),
    };
    let mut out = layout(header, rows, numeric);
    for note in notes(report, dust) {
        out.push_str(&note);
        out.push('\n');
    }
    out
}

type Rows = Vec<Vec<String>>;

/// Headers, rows, and which columns hold numbers (right-aligned, points lined up).
type View3 = (Vec<String>, Rows, &'static [usize]);

fn by_wallet(report: &Report) -> View3 {
    let q = &report.quote;
    let header = ["ACCOUNT", "WALLET", "CURRENCY", "BALANCE", "AVAILABLE", "UNSETTLED"]
        .map(str::to_owned)
        .into_iter()
        .chain([format!("PRICE {q}"), format!("VALUE {q}")])
        .collect();
    let mut rows = Vec::new();
    for account in &report.accounts {
        if let Some(error) = &account.error {
            let code = error.code.map(|c| format!("{c} ")).unwrap_or_default();
            rows.push(label_row(
                8,
                &account.name,
                &format!("(failed: {code}{})", error.message),
                String::new(),
            ));
            continue;
        }
        for w in &account.wallets {
            rows.push(vec![
                account.name.clone(),
                w.wallet_type.clone(),
                report.display_name(&w.currency).to_owned(),
                amount(&w.currency, w.balance),
                w.available.map_or_else(dash, |a| amount(&w.currency, a)),
                w.unsettled_interest.map_or_else(dash, |a| amount(&w.currency, a)),
                w.price.map_or_else(dash, price),
                match w.value {
                    Some(v) => value(q, v),
                    None if w.paper => "paper".to_owned(),
                    None => "unpriced".to_owned(),
                },
            ]);
        }
        if account.wallets.is_empty() {
            rows.push(label_row(8, &account.name, "(no wallets)", String::new()));
        }
        let total = account.total.map(|t| value(q, t)).unwrap_or_default();
        rows.push(label_row(8, &format!("{} total", account.name), "", total));
    }
    rows.push(label_row(8, "TOTAL", "", value(q, report.total)));
    (header, rows, &[3, 4, 5, 6, 7])
}

fn by_asset(report: &Report) -> View3 {
    let q = &report.quote;
    let header =
        vec!["ASSET".into(), "BALANCE".into(), format!("PRICE {q}"), format!("VALUE {q}"), "SHARE".into()];
    let mut rows: Rows = report
        .assets
        .iter()
        .map(|a| {
            let unit_price = report
                .accounts
                .iter()
                .flat_map(|acc| &acc.wallets)
                .find(|w| w.currency == a.currency)
                .and_then(|w| w.price);
            vec![
                a.name.clone(),
                amount(&a.currency, a.balance),
                unit_price.map_or_else(dash, price),
                match a.value {
                    Some(v) => value(q, v),
                    None if is_paper(&a.currency) => "paper".to_owned(),
                    None => "unpriced".to_owned(),
                },
                a.share.map_or_else(String::new, |s| format!("{s:.2}%")),
            ]
        })
        .collect();
    rows.push(label_row(5, "TOTAL", "", String::new()));
    if let Some(last) = rows.last_mut() {
        last[3] = value(q, report.total);
    }
    (header, rows, &[1, 2, 3, 4])
}

fn by_account(report: &Report) -> View3 {
    let q = &report.quote;
    let header =
        vec!["ACCOUNT".into(), "WALLETS".into(), format!("VALUE {q}"), "SHARE".into(), "STATUS".into()];
    let mut rows: Rows = report
        .accounts
        .iter()
        .map(|a| {
            let share = a
                .total
                .filter(|_| !report.total.is_zero())
                .and_then(|t| t.checked_mul(Decimal::ONE_HUNDRED)?.checked_div(report.total))
                .map_or_else(String::new, |s| format!("{:.2}%", s.round_dp(2)));
            let status = match &a.error {
                Some(e) => {
                    format!("failed: {}{}", e.code.map(|c| format!("{c} ")).unwrap_or_default(), e.message)
                }
                None => "ok".to_owned(),
            };
            vec![
                a.name.clone(),
                a.wallets.len().to_string(),
                a.total.map_or_else(dash, |t| value(q, t)),
                share,
                status,
            ]
        })
        .collect();
    rows.push(vec!["TOTAL".into(), String::new(), value(q, report.total), String::new(), String::new()]);
    (header, rows, &[1, 2, 3])
}

/// What the reader must know to trust the total.
fn notes(report: &Report, dust: Option<(usize, Decimal)>) -> Vec<String> {
    let mut notes = Vec::new();
    if report.prices_unavailable {
        notes.push("INCOMPLETE: prices could not be fetched; nothing is valued and the total is not your portfolio's.".to_owned());
    }
    let failed = report.accounts.iter().filter(|a| a.error.is_some()).count();
    if failed > 0 {
        notes.push(format!(
            "INCOMPLETE: {failed} account(s) could not be read; the total covers the others only."
        ));
    }
    let (paper, unpriced): (Vec<_>, Vec<_>) = report.unpriced.iter().partition(|u| is_paper(&u.currency));
    if !unpriced.is_empty() {
        let list: Vec<String> = unpriced
            .iter()
            .map(|u| {
                format!("{} {} ({})", format_decimal(u.balance), report.display_name(&u.currency), u.reason)
            })
            .collect();
        notes.push(format!("Totals exclude unpriced assets: {}", list.join(", ")));
    }
    if !paper.is_empty() {
        let list: Vec<String> = paper.iter().map(|u| u.currency.clone()).collect();
        notes.push(format!("Paper-trading currencies are not money and are left out of totals ({}); --include-paper counts them.", list.join(", ")));
    }
    if let Some((count, sum)) = dust.filter(|(count, _)| *count > 0) {
        notes.push(format!(
            "{count} dust wallet(s) hidden (together {} {}); totals include them.",
            value(&report.quote, sum),
            report.quote
        ));
    }
    if report.accounts.iter().any(|a| a.wallets.iter().any(|w| w.wallet_type == "margin")) {
        notes.push("Margin wallet balances exclude open-position P/L.".to_owned());
    }
    notes
}

fn layout(header: Vec<String>, mut rows: Rows, numeric: &[usize]) -> String {
    for &col in numeric {
        align_decimals(&mut rows, col);
    }
    let mut table = Table::new();
    table.load_preset(presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled);
    table.set_header(header);
    for row in rows {
        table.add_row(row);
    }
    for &col in numeric {
        if let Some(column) = table.column_mut(col) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut out = table.to_string().lines().map(str::trim_end).collect::<Vec<_>>().join("\n");
    out.push('\n');
    out
}

/// A row with a label, a note in the second column, and a value in the last.
fn label_row(width: usize, label: &str, note: &str, last: String) -> Vec<String> {
    let mut row = vec![String::new(); width];
    row[0] = label.to_owned();
    row[1] = note.to_owned();
    row[width - 1] = last;
    row
}

fn dash() -> String {
    "-".to_owned()
}

/// An amount of `currency`: fiat to 2 places, crypto to at most 8, for display only.
pub(crate) fn amount(currency: &str, value: Decimal) -> String {
    let places = if FIAT.contains(&currency) { 2 } else { 8 };
    group(&format_decimal(round(value, places)))
}

/// A value in the quote currency: fiat with exactly 2 places, crypto with at most 8.
pub(crate) fn value(quote: &str, value: Decimal) -> String {
    if FIAT.contains(&quote) { group(&format!("{:.2}", round(value, 2))) } else { amount(quote, value) }
}

/// A price to 8 significant digits.
fn price(value: Decimal) -> String {
    group(&format_decimal(value.round_sf(8).unwrap_or(value)))
}

/// Half away from zero, as people round money; never `-0`.
fn round(value: Decimal, places: u32) -> Decimal {
    let rounded = value.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero);
    if rounded.is_zero() { Decimal::ZERO } else { rounded }
}

/// Thousands separators in the integer part: `1234567.5` → `1,234,567.5`.
fn group(text: &str) -> String {
    let (sign, digits) = text.strip_prefix('-').map_or(("", text), |d| ("-", d));
    let (int, frac) = digits.split_once('.').map_or((digits, None), |(i, f)| (i, Some(f)));
    let mut out = String::from(sign);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(frac) = frac {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// Pads the decimals of a right-aligned column so the points line up.
fn align_decimals(rows: &mut Rows, col: usize) {
    let is_number =
        |s: &str| s.starts_with(|c: char| c.is_ascii_digit()) || (s.starts_with('-') && s.len() > 1);
    let frac_len = |s: &str| s.split_once('.').map_or(0, |(_, f)| f.len() + 1);
    let width = rows.iter().filter(|r| is_number(&r[col])).map(|r| frac_len(&r[col])).max().unwrap_or(0);
    for row in rows.iter_mut() {
        let cell = &mut row[col];
        if is_number(cell) {
            let pad = width - frac_len(cell);
            cell.extend(std::iter::repeat_n(' ', pad));
        }
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
    fn display_rounding_per_currency() {
        assert_eq!(amount("ETH", dec("0.123456789012345678")), "0.12345679");
        assert_eq!(amount("BTC", dec("0.00000025")), "0.00000025");
        assert_eq!(amount("BTC", dec("-0.000000001")), "0");
        assert_eq!(amount("USD", dec("1250.375")), "1,250.38");
        assert_eq!(amount("USD", dec("-0.005")), "-0.01");
        assert_eq!(value("USD", dec("172048.4185515")), "172,048.42");
        assert_eq!(value("USD", dec("5")), "5.00");
        assert_eq!(value("USD", dec("-0.001")), "0.00");
        assert_eq!(value("BTC", dec("1.123456789")), "1.12345679");
        assert_eq!(price(dec("114698.945701")), "114,698.95");
        assert_eq!(price(dec("0.000004128700000001")), "0.0000041287");
        assert_eq!(price(dec("0.14048199")), "0.14048199");
    }

    #[test]
    fn thousands_groups() {
        assert_eq!(group("1234567.891"), "1,234,567.891");
        assert_eq!(group("-1000"), "-1,000");
        assert_eq!(group("999.5"), "999.5");
        assert_eq!(group("0.00000001"), "0.00000001");
    }

    #[test]
    fn decimal_points_line_up() {
        let mut rows: Rows =
            vec![vec!["1.5".into()], vec!["100".into()], vec!["0.00000001".into()], vec!["-".into()]];
        align_decimals(&mut rows, 0);
        let padded: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(padded, ["1.5       ", "100         ", "0.00000001", "-"]);
    }
}
