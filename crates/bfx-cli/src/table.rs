//! The human table, in three views (`--by wallet|asset|account`).
//!
//! Rounding happens here and only here, for display: fiat amounts to 2 places, crypto to at most
//! 8, prices to 8 significant digits; JSON and CSV carry the exact values. Decimal points line up,
//! names are Bitfinex's display names (`USDt` for `UST`), and a total is never shown as complete
//! when an account failed or an asset could not be priced.

use bfx_core::Unpriced;
use bfx_core::format_decimal;
use bfx_core::portfolio::{AccountError, Portfolio};
use comfy_table::{CellAlignment, ContentArrangement, Table, presets};
use rust_decimal::Decimal;

use crate::output::{View, amount, opt_value, price, terminal_safe, value};
use crate::report::{Dust, Report};

pub fn render(report: &Report, view: View, dust: Option<Dust>) -> String {
    let p = &report.portfolio;
    let (header, rows, numeric) = match view {
        View::Wallet => by_wallet(report),
        View::Asset => by_asset(p),
        View::Account => by_account(p),
    };
    let mut out = layout(header, rows, numeric);
    if let Some((header, rows, numeric)) = positions(p) {
        out.push('\n');
        out.push_str(&layout(header, rows, numeric));
    }
    for note in notes(report, dust) {
        out.push_str(&terminal_safe(&note));
        out.push('\n');
    }
    out
}

pub type Rows = Vec<Vec<String>>;

/// Headers, rows, and which columns hold numbers (right-aligned, points lined up).
type View3 = (Vec<String>, Rows, &'static [usize]);

/// What stands in for a value there is none of.
fn missing(reason: Option<&Unpriced>) -> String {
    match reason {
        Some(Unpriced::Paper { .. }) => "paper",
        Some(Unpriced::Overflow { .. } | Unpriced::SumOverflow) => "too large",
        _ => "unpriced",
    }
    .to_owned()
}

fn failed(error: &AccountError) -> String {
    let code = error.code.map(|c| format!("{c} ")).unwrap_or_default();
    format!("failed: {code}{}", error.message)
}

fn by_wallet(report: &Report) -> View3 {
    let p = &report.portfolio;
    let q = &p.quote;
    let header = ["ACCOUNT", "WALLET", "CURRENCY", "BALANCE", "AVAILABLE", "UNSETTLED"]
        .map(str::to_owned)
        .into_iter()
        .chain([format!("PRICE {q}"), format!("VALUE {q}")])
        .collect();
    let mut rows = Vec::new();
    for account in &p.accounts {
        if let Some(error) = &account.error {
            rows.push(label_row(8, &account.name, &format!("({})", failed(error)), String::new()));
            continue;
        }
        for w in &account.wallets {
            rows.push(vec![
                account.name.clone(),
                w.wallet_type.to_string(),
                report.display_name(&w.currency).to_owned(),
                amount(&w.currency, w.balance),
                w.available.map_or_else(dash, |a| amount(&w.currency, a)),
                w.unsettled_interest.map_or_else(dash, |a| amount(&w.currency, a)),
                w.price.map_or_else(dash, price),
                w.value.map_or_else(|| missing(w.unpriced.as_ref()), |v| value(q, v)),
            ]);
        }
        if account.wallets.is_empty() {
            rows.push(label_row(8, &account.name, "(no wallets)", String::new()));
        }
        rows.push(label_row(8, &format!("{} total", account.name), "", opt_value(q, account.total)));
    }
    rows.push(label_row(8, "TOTAL", "", opt_value(q, p.total)));
    (header, rows, &[3, 4, 5, 6, 7])
}

fn by_asset(p: &Portfolio) -> View3 {
    let q = &p.quote;
    let header =
        vec!["ASSET".into(), "BALANCE".into(), format!("PRICE {q}"), format!("VALUE {q}"), "SHARE".into()];
    let mut rows: Rows = p
        .assets
        .iter()
        .map(|a| {
            vec![
                a.name.clone(),
                a.balance.map_or_else(dash, |b| amount(&a.currency, b)),
                a.price.map_or_else(dash, price),
                a.value.map_or_else(|| missing(a.unvalued.as_ref()), |v| value(q, v)),
                a.share.map_or_else(String::new, |s| format!("{s:.2}%")),
            ]
        })
        .collect();
    rows.push(label_row(5, "TOTAL", "", String::new()));
    if let Some(last) = rows.last_mut() {
        last[3] = opt_value(q, p.total);
    }
    (header, rows, &[1, 2, 3, 4])
}

fn by_account(p: &Portfolio) -> View3 {
    let q = &p.quote;
    let header =
        vec!["ACCOUNT".into(), "WALLETS".into(), format!("VALUE {q}"), "SHARE".into(), "STATUS".into()];
    let mut rows: Rows = p
        .accounts
        .iter()
        .map(|a| {
            let share = a
                .total
                .zip(p.total.filter(|t| !t.is_zero()))
                .and_then(|(t, all)| t.checked_mul(Decimal::ONE_HUNDRED)?.checked_div(all))
                .map_or_else(String::new, |s| format!("{:.2}%", s.round_dp(2)));
            let status = a.error.as_ref().map_or_else(|| "ok".to_owned(), failed);
            vec![a.name.clone(), a.wallets.len().to_string(), opt_value(q, a.total), share, status]
        })
        .collect();
    rows.push(vec!["TOTAL".into(), String::new(), opt_value(q, p.total), String::new(), String::new()]);
    (header, rows, &[1, 2, 3])
}

/// Open positions of the accounts whose positions were read, their P/L, and the net total
/// (wallets + P/L); `None` when there are none.
fn positions(p: &Portfolio) -> Option<View3> {
    let q = &p.quote;
    let mut rows: Rows = Vec::new();
    for account in &p.accounts {
        for pos in account.positions.iter().flatten() {
            let base = pos.symbol.strip_prefix('t').unwrap_or(&pos.symbol);
            rows.push(vec![
                account.name.clone(),
                base.to_owned(),
                format_decimal(pos.amount),
                price(pos.base_price),
                match (pos.pl, &pos.pl_currency) {
                    (Some(pl), Some(currency)) => format!("{} {currency}", amount(currency, pl)),
                    _ => dash(),
                },
                pos.pl_value.map_or_else(dash, |v| value(q, v)),
            ]);
        }
    }
    if rows.is_empty() {
        return None;
    }
    rows.push(label_row(6, "POSITIONS P/L", "", opt_value(q, p.positions_pl)));
    rows.push(label_row(6, "NET TOTAL", "wallets + P/L", opt_value(q, p.net_total)));
    let header = ["ACCOUNT", "POSITION", "AMOUNT", "BASE PRICE", "P/L"]
        .map(str::to_owned)
        .into_iter()
        .chain([format!("P/L {q}")])
        .collect();
    Some((header, rows, &[2, 3, 4, 5]))
}

/// What the reader must know to trust the total.
fn notes(report: &Report, dust: Option<Dust>) -> Vec<String> {
    let p = &report.portfolio;
    let mut notes = Vec::new();
    if report.prices_unavailable {
        notes.push("INCOMPLETE: prices could not be fetched; nothing is valued and the total is not your portfolio's.".to_owned());
    }
    let failed = p.failed().count();
    if failed > 0 && failed == p.accounts.len() {
        notes.push("INCOMPLETE: no account could be read; there is no total.".to_owned());
    } else if failed > 0 {
        notes.push(format!(
            "INCOMPLETE: {failed} account(s) could not be read; the total covers the others only."
        ));
    }
    if p.total.is_none() && failed < p.accounts.len() {
        notes.push("INCOMPLETE: a total is too large for a decimal (±7.9e28) and is not shown.".to_owned());
    }
    if !report.positions_unread.is_empty() {
        notes.push(format!(
            "INCOMPLETE: open positions of {} could not be read (see the warning); the net total leaves them out.",
            report.positions_unread.join(", ")
        ));
    }
    let unvalued: Vec<String> = p
        .accounts
        .iter()
        .flat_map(|a| a.positions.iter().flatten().map(move |pos| (a, pos)))
        .filter(|(_, pos)| pos.pl_value.is_none())
        .map(|(a, pos)| match &pos.unpriced {
            Some(why) => format!("{} of {} ({why})", pos.symbol, a.name),
            None => format!("{} of {} (Bitfinex sent no P/L)", pos.symbol, a.name),
        })
        .collect();
    if !unvalued.is_empty() {
        notes.push(format!("NET TOTAL not computed: no P/L value for {}.", unvalued.join(", ")));
    } else if p.positions_pl.is_none()
        && p.accounts.iter().any(|a| a.positions.as_ref().is_some_and(|v| !v.is_empty()))
    {
        notes.push("INCOMPLETE: the positions' P/L is too large for a decimal and is not shown.".to_owned());
    }
    let (paper, unpriced): (Vec<_>, Vec<_>) =
        p.unpriced.iter().partition(|u| matches!(u.reason, Unpriced::Paper { .. }));
    if !unpriced.is_empty() && !report.prices_unavailable {
        let list: Vec<String> = unpriced
            .iter()
            .map(|u| {
                let balance = u.balance.map_or_else(dash, format_decimal);
                format!("{balance} {} ({})", report.display_name(&u.currency), u.reason)
            })
            .collect();
        notes.push(format!("Totals exclude unpriced assets: {}", list.join(", ")));
    }
    if !paper.is_empty() {
        let list: Vec<String> = paper.iter().map(|u| u.currency.clone()).collect();
        notes.push(format!("Paper-trading currencies are not money and are left out of totals ({}); --include-paper counts them.", list.join(", ")));
    }
    if let Some(dust) = dust.filter(|d| d.count > 0) {
        let rows = match dust.rows {
            View::Wallet => "wallet",
            View::Asset => "asset",
            View::Account => "account",
        };
        notes.push(format!(
            "{} dust {rows}(s) hidden (together {} {}); totals include them.",
            dust.count,
            opt_value(&p.quote, dust.value),
            p.quote
        ));
    }
    if !report.positions_skipped.is_empty() {
        notes.push(format!(
            "Open positions not read for {} (the key lacks \"Margin Trading\" read); the net total leaves them out.",
            report.positions_skipped.join(", ")
        ));
    }
    let margin = p.accounts.iter().any(|a| a.wallets.iter().any(|w| w.wallet_type.as_str() == "margin"));
    let has_positions = p.accounts.iter().any(|a| a.positions.as_ref().is_some_and(|v| !v.is_empty()));
    match (has_positions, margin) {
        (true, _) => notes.push("Wallet balances exclude open-position P/L; NET TOTAL adds it.".to_owned()),
        (false, true) => notes.push("Margin wallet balances exclude open-position P/L.".to_owned()),
        (false, false) => {}
    }
    notes
}

/// A table with these headers and rows; `numeric` columns are right-aligned with their decimal
/// points lined up; every cell made safe for a terminal.
pub fn layout(header: Vec<String>, rows: Rows, numeric: &[usize]) -> String {
    // Names, types and messages come from the server: never raw control characters.
    let mut rows: Rows = rows
        .into_iter()
        .map(|row| row.iter().map(|cell| terminal_safe(cell).into_owned()).collect())
        .collect();
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

    #[test]
    fn decimal_points_line_up() {
        let mut rows: Rows =
            vec![vec!["1.5".into()], vec!["100".into()], vec!["0.00000001".into()], vec!["-".into()]];
        align_decimals(&mut rows, 0);
        let padded: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(padded, ["1.5       ", "100         ", "0.00000001", "-"]);
    }
}
