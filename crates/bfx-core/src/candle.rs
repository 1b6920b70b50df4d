//! Candles of `candles/trade:{TF}:{PAIR}/hist`: prices over time, and the UTC days daily candles
//! are cut by.
//!
//! `[MTS, OPEN, CLOSE, HIGH, LOW, VOLUME]`: **CLOSE comes before HIGH**, unlike most exchanges'
//! OHLCV order, so the fields are read by Bitfinex's position and named in errors. A pair with no
//! trade on a day (delisted, not yet listed) has no candle that day: there is no row, not a row of
//! zeros.

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::parse::{ParseError, Row, top_level_rows};

/// One UTC day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// A candle timeframe, as Bitfinex's docs list them: `1m 5m 15m 30m 1h 3h 6h 12h 1D 1W 14D 1M`
/// (docs.bitfinex.com/reference/rest-public-candles); `7D` is what older clients (and ccxt for
/// `1w`) send for `1W`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timeframe {
    M1,
    M5,
    M15,
    M30,
    H1,
    H3,
    H6,
    H12,
    /// One UTC day: what prices over time are kept in.
    D1,
    W1,
    D14,
    /// One calendar month (UTC).
    Mo1,
}

impl Timeframe {
    /// From its name in a candle key (`7D` is `1W`).
    pub fn parse(text: &str) -> Option<Timeframe> {
        Some(match text {
            "1m" => Timeframe::M1,
            "5m" => Timeframe::M5,
            "15m" => Timeframe::M15,
            "30m" => Timeframe::M30,
            "1h" => Timeframe::H1,
            "3h" => Timeframe::H3,
            "6h" => Timeframe::H6,
            "12h" => Timeframe::H12,
            "1D" => Timeframe::D1,
            "1W" | "7D" => Timeframe::W1,
            "14D" => Timeframe::D14,
            "1M" => Timeframe::Mo1,
            _ => return None,
        })
    }

    /// The name in a candle key (`1D`; a week is `1W`).
    pub const fn name(self) -> &'static str {
        match self {
            Timeframe::M1 => "1m",
            Timeframe::M5 => "5m",
            Timeframe::M15 => "15m",
            Timeframe::M30 => "30m",
            Timeframe::H1 => "1h",
            Timeframe::H3 => "3h",
            Timeframe::H6 => "6h",
            Timeframe::H12 => "12h",
            Timeframe::D1 => "1D",
            Timeframe::W1 => "1W",
            Timeframe::D14 => "14D",
            Timeframe::Mo1 => "1M",
        }
    }
}

/// One candle, exact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candle {
    /// Start of the candle's period, milliseconds since the epoch (a daily candle: 00:00 UTC).
    pub mts: i64,
    pub open: Decimal,
    pub close: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub volume: Decimal,
}

const WHAT: &str = "candles";

/// Parses the body of `candles/…/hist`: an array of rows. Any malformed row fails the whole body:
/// a candle silently missing would read as "no trade that day".
pub fn parse_candles(body: &[u8]) -> Result<Vec<Candle>, ParseError> {
    top_level_rows(WHAT, body)?
        .into_iter()
        .enumerate()
        .map(|(index, raw)| parse_candle_row(raw, Some(index)))
        .collect()
}

/// Parses one candle row. `index` names it in errors. Longer rows are accepted (Bitfinex warns
/// that fields may be appended); every one of the six fields is required and not `null`.
pub fn parse_candle_row(raw: &RawValue, index: Option<usize>) -> Result<Candle, ParseError> {
    let row = Row::new(WHAT, index, raw)?;
    let mts = row.integer(0, "MTS")?;
    if mts < 0 {
        return Err(row.error("MTS", format!("is negative ({mts})")));
    }
    Ok(Candle {
        mts,
        open: row.decimal(1, "OPEN")?,
        close: row.decimal(2, "CLOSE")?,
        high: row.decimal(3, "HIGH")?,
        low: row.decimal(4, "LOW")?,
        volume: row.decimal(5, "VOLUME")?,
    })
}

/// The start (00:00 UTC) of the day holding `mts`.
pub fn day_start(mts: i64) -> i64 {
    mts.div_euclid(DAY_MS) * DAY_MS
}

/// Whether `mts` is the start of a UTC day.
pub fn is_day_start(mts: i64) -> bool {
    mts.rem_euclid(DAY_MS) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn close_comes_before_high() {
        let body = br#"[[1735516800000,93576,92643.21,94903.32,91317,1234.5678901234],
                         [1735603200000,"92643.21",93390,"9.5e4",92000,0]]"#;
        let candles = parse_candles(body).unwrap();
        assert_eq!(
            candles[0],
            Candle {
                mts: 1_735_516_800_000,
                open: dec("93576"),
                close: dec("92643.21"),
                high: dec("94903.32"),
                low: dec("91317"),
                volume: dec("1234.5678901234"),
            }
        );
        assert_eq!((candles[1].close, candles[1].high), (dec("93390"), dec("95000")));
        assert_eq!(parse_candles(b"[]").unwrap(), []);
        // Appended fields are ignored.
        assert_eq!(parse_candles(b"[[0,1,2,3,4,5,\"new\"]]").unwrap()[0].volume, dec("5"));
    }

    #[test]
    fn errors_name_row_and_field() {
        for (body, row, field, reason) in [
            (
                &b"[[0,1,2,3,4,5],[86400000,1,2,3,4]]"[..],
                Some(1),
                Some("VOLUME"),
                "missing (row has 5 fields)",
            ),
            (b"[[0,1,null,3,4,5]]", Some(0), Some("CLOSE"), "is null"),
            (b"[[0,1,2,\"x\",4,5]]", Some(0), Some("HIGH"), "expected a number"),
            (b"[[1.5,1,2,3,4,5]]", Some(0), Some("MTS"), "expected an integer"),
            (b"[[-1,1,2,3,4,5]]", Some(0), Some("MTS"), "is negative"),
            (b"[[0,1,2,3,true,5]]", Some(0), Some("LOW"), "expected a number"),
            (b"[{\"mts\":0}]", Some(0), None, "expected an array"),
            (b"[0,1,2,3,4,5]", Some(0), None, "expected an array"),
            (b"", None, None, "empty body"),
            (b"[[0,1,2,3,4,5]", None, None, "truncated JSON"),
        ] {
            let error = parse_candles(body).unwrap_err();
            let text = String::from_utf8_lossy(body);
            assert_eq!((error.what, error.row, error.field), ("candles", row, field), "{text}");
            assert!(error.reason.starts_with(reason), "{text}: {error}");
        }
    }

    #[test]
    fn days() {
        assert_eq!(day_start(1_735_516_800_000 + 5), 1_735_516_800_000);
        assert_eq!(day_start(-1), -DAY_MS);
        assert!(is_day_start(1_735_516_800_000));
        assert!(!is_day_start(1_735_516_800_001));
    }
}
