//! `[[candle]]`: candles in a state file, served by `candles/trade:TF:PAIR/hist` and `…/last`.
//!
//! `pair` (a trading pair, `t…`), `tf` (optional, default `"1D"`; `"7D"` is `"1W"`), `mts` (ms
//! since the epoch, or a TOML date such as `2025-01-01` for its UTC midnight), and `open`, `close`,
//! `high`, `low`, `volume` as JSON number texts. Refused, naming the entry: an `mts` that does not
//! start a frame of its timeframe (a day at UTC midnight, a week on a Monday, a month on its 1st),
//! a price not above 0, `high` below the others or `low` above them, a negative volume, the same
//! pair, timeframe and MTS twice.

use std::collections::HashMap;

use bfx_core::parse_json_number;
use rust_decimal::Decimal;
use serde::Deserialize;
use toml::Spanned;

use super::check::Refused;
use crate::candle::{
    Candle, CandleStore, DAY_MS, Frames, MAX_CANDLES, Timeframe, days_from_civil, format_mts,
};
use crate::ledger::MAX_EXACT;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CandleFile {
    pair: Spanned<String>,
    tf: Option<Spanned<String>>,
    mts: Spanned<toml::Value>,
    open: Spanned<String>,
    close: Spanned<String>,
    high: Spanned<String>,
    low: Spanned<String>,
    volume: Spanned<String>,
}

/// Every `[[candle]]` of the file. `line_of` turns an offset in the file's text into its line.
pub(super) fn candles(
    files: Vec<CandleFile>,
    line_of: &dyn Fn(usize) -> usize,
) -> Result<CandleStore, Refused> {
    let first = files.first().map(|f| f.pair.span()).unwrap_or_default();
    if files.len() > MAX_CANDLES {
        return Err(Refused::new(first, format!("more than {MAX_CANDLES} [[candle]] entries")));
    }
    let mut seen: HashMap<(String, Timeframe, i64), usize> = HashMap::with_capacity(files.len());
    let mut candles = Vec::with_capacity(files.len());
    for file in files {
        let (pair, tf, candle) = entry(file, line_of, &mut seen)?;
        candles.push((pair, tf, candle));
    }
    CandleStore::new(candles).map_err(|e| Refused::new(first, format!("[[candle]]: {e}")))
}

fn entry(
    file: CandleFile,
    line_of: &dyn Fn(usize) -> usize,
    seen: &mut HashMap<(String, Timeframe, i64), usize>,
) -> Result<(String, Timeframe, Candle), Refused> {
    let pair_span = file.pair.span();
    let pair = file.pair.into_inner();
    if !(pair.len() > 1 && pair.starts_with('t')) {
        return Err(Refused::new(pair_span, format!("[[candle]] pair {pair:?} is not a trading pair (t…)")));
    }
    let tf = match &file.tf {
        None => Timeframe::D1,
        Some(tf) => Timeframe::parse(tf.get_ref()).ok_or_else(|| {
            Refused::new(
                tf.span(),
                format!(
                    "[[candle]] {pair}: tf {:?} is not one of 1m 5m 15m 30m 1h 3h 6h 12h 1D 1W (7D) 14D 1M",
                    tf.get_ref()
                ),
            )
        })?,
    };
    let mts_span = file.mts.span();
    let mts = mts(file.mts.get_ref()).ok_or_else(|| {
        Refused::new(
            mts_span.clone(),
            format!(
                "[[candle]] {pair} {}: mts must be 0 to 2^53 - 1 (milliseconds) or a date (2025-01-01)",
                tf.name()
            ),
        )
    })?;
    let what = format!("[[candle]] {pair} {} {}", tf.name(), format_mts(mts));
    if tf.start_of(mts) != mts {
        let start = match tf {
            Timeframe::W1 | Timeframe::D14 => "a Monday at 00:00 UTC",
            Timeframe::Mo1 => "the 1st of a month at 00:00 UTC",
            Timeframe::D1 => "00:00 UTC",
            _ => "a multiple of the timeframe",
        };
        return Err(Refused::new(
            mts_span,
            format!("{what}: mts is not the start of a {} candle ({start})", tf.name()),
        ));
    }
    if let Some(first) = seen.insert((pair.clone(), tf, mts), line_of(mts_span.start)) {
        return Err(Refused::new(mts_span, format!("{what}: duplicate candle (first at line {first})")));
    }
    let number = |value: Spanned<String>, field: &str| match parse_json_number(value.get_ref()) {
        Ok(n) => Ok((n, value.span())),
        Err(e) => Err(Refused::new(value.span(), format!("{what}: {field}: {e}"))),
    };
    let (open, open_at) = number(file.open, "open")?;
    let (close, close_at) = number(file.close, "close")?;
    let (high, high_at) = number(file.high, "high")?;
    let (low, low_at) = number(file.low, "low")?;
    let (volume, volume_at) = number(file.volume, "volume")?;
    for (value, at, field) in
        [(open, open_at, "open"), (close, close_at, "close"), (low, low_at.clone(), "low")]
    {
        if value <= Decimal::ZERO {
            return Err(Refused::new(at, format!("{what}: {field} {value} is not above 0")));
        }
    }
    if high < open.max(close).max(low) {
        return Err(Refused::new(high_at, format!("{what}: high {high} is below open, close or low")));
    }
    if low > open.min(close) {
        return Err(Refused::new(low_at, format!("{what}: low {low} is above open or close")));
    }
    if volume < Decimal::ZERO {
        return Err(Refused::new(volume_at, format!("{what}: volume {volume} is negative")));
    }
    Ok((pair, tf, Candle { mts, open, close, high, low, volume }))
}

/// Milliseconds from an integer, or from a bare TOML date (its UTC midnight).
fn mts(value: &toml::Value) -> Option<i64> {
    match value {
        toml::Value::Integer(ms) => Some(*ms).filter(|ms| (0..=MAX_EXACT).contains(ms)),
        toml::Value::Datetime(toml::value::Datetime { date: Some(date), time: None, offset: None }) => {
            let days = days_from_civil(i64::from(date.year), u32::from(date.month), u32::from(date.day));
            Some(days * DAY_MS).filter(|ms| (0..=MAX_EXACT).contains(ms))
        }
        _ => None,
    }
}
