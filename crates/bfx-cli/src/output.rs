//! What every command shares to print: stdout in one piece, numbers rounded for people (in the
//! table and the full-screen view only; JSON and CSV carry exact values), CSV fields, and the
//! output forms and views a command can be asked for.
//!
//! Commands import from here, never from each other.

use std::borrow::Cow;
use std::io::{self, Write};

use bfx_core::format_decimal;
use rust_decimal::{Decimal, RoundingStrategy};

/// How a report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// The rows of the balances table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum View {
    Wallet,
    Asset,
    Account,
}

/// Writes to stdout in one piece; a closed pipe (`bfx … | head`) surfaces as an error that
/// `main` turns into a quiet exit 0.
pub fn write_stdout(text: &str) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

/// Writes problems to stderr (best effort: there is nowhere left to report a failure to).
pub fn write_stderr(text: &str) {
    if !text.is_empty() {
        let _ = io::stderr().write_all(text.as_bytes());
    }
}

/// Bitfinex's fiat currency ids: shown with 2 decimals.
const FIAT: &[&str] = &["USD", "EUR", "GBP", "JPY", "CHF", "CNH", "TRY", "MXN", "CAD", "AUD"];

/// An amount of `currency`: fiat to 2 places, crypto to at most 8, for display only.
pub fn amount(currency: &str, value: Decimal) -> String {
    let places = if FIAT.contains(&currency) { 2 } else { 8 };
    group(&format_decimal(round(value, places)))
}

/// An amount exactly as stored, with thousands separators (history tables: an accountant's
/// 0.00000001755 BTC must not show as 0).
pub fn exact(value: Decimal) -> String {
    group(&format_decimal(value))
}

/// A value in the quote currency: fiat with exactly 2 places, crypto with at most 8.
pub fn value(quote: &str, value: Decimal) -> String {
    if FIAT.contains(&quote) { group(&format!("{:.2}", round(value, 2))) } else { amount(quote, value) }
}

/// A value that may be unknown (a sum too large for a decimal): `-` then.
pub fn opt_value(quote: &str, v: Option<Decimal>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| value(quote, v))
}

/// A price to 8 significant digits.
pub fn price(value: Decimal) -> String {
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

/// Text that came from a server (or a file) made safe for a terminal: control characters (ESC,
/// BEL, CR, line breaks, C1…) are shown escaped (`\u{1b}`, `\n`), never sent raw, so nothing a
/// server says can clear the screen, retitle the window or break a table's columns.
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    match text.chars().any(char::is_control) {
        false => Cow::Borrowed(text),
        true => Cow::Owned(
            text.chars()
                .map(|c| match c.is_control() {
                    true => c.escape_default().to_string(),
                    false => c.to_string(),
                })
                .collect(),
        ),
    }
}

/// A CSV field: control characters escaped (as in [`terminal_safe`]: CSV is read in terminals and
/// spreadsheets), quoted when it must be.
pub fn csv_field(text: &str) -> String {
    let text = terminal_safe(text);
    if text.contains([',', '"']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.into_owned() }
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
        assert_eq!(value("USD", Decimal::MAX), "79,228,162,514,264,337,593,543,950,335.00");
    }

    #[test]
    fn thousands_groups() {
        assert_eq!(group("1234567.891"), "1,234,567.891");
        assert_eq!(group("-1000"), "-1,000");
        assert_eq!(group("999.5"), "999.5");
        assert_eq!(group("0.00000001"), "0.00000001");
    }

    #[test]
    fn csv_quotes_when_needed() {
        assert_eq!(csv_field("main"), "main");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines\r"), "two\\nlines\\r", "no raw line break splits a row");
    }

    #[test]
    fn control_characters_never_reach_the_terminal_raw() {
        assert_eq!(terminal_safe("BTC"), "BTC");
        assert!(matches!(terminal_safe("USDt"), Cow::Borrowed(_)));
        assert_eq!(terminal_safe("\x1b[2JX"), "\\u{1b}[2JX");
        assert_eq!(terminal_safe("\x1b]0;owned\x07"), "\\u{1b}]0;owned\\u{7}");
        assert_eq!(terminal_safe("a\u{9b}b"), "a\\u{9b}b", "C1 too");
        assert!(!terminal_safe("\x1b\x07\r\n\t\u{7f}\u{85}").chars().any(char::is_control));
    }
}
