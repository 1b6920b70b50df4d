//! Public tickers, parsed by position.
//!
//! `tickers`: trading rows `[SYMBOL, BID, BID_SIZE, ASK, ASK_SIZE, DAILY_CHANGE,
//! DAILY_CHANGE_RELATIVE, LAST_PRICE, VOLUME, HIGH, LOW]` (11 fields) and funding rows `[SYMBOL, FRR,
//! BID, BID_PERIOD, BID_SIZE, ASK, ASK_PERIOD, ASK_SIZE, DAILY_CHANGE, DAILY_CHANGE_RELATIVE,
//! LAST_PRICE, VOLUME, HIGH, LOW, _, _, FRR_AMOUNT_AVAILABLE]` (17). `ticker/tXXX` is a trading row
//! without the symbol. Fields may be `null` (illiquid pairs): that is "unknown", kept as `None`.

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::parse::{ParseError, Row, top_level_rows};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TradingTicker {
    /// `tBTCUSD`, `tAVAX:USD`, …
    pub symbol: String,
    pub bid: Option<Decimal>,
    pub bid_size: Option<Decimal>,
    pub ask: Option<Decimal>,
    pub ask_size: Option<Decimal>,
    pub daily_change: Option<Decimal>,
    /// A fraction: `-0.0081` is −0.81 %.
    pub daily_change_relative: Option<Decimal>,
    pub last_price: Option<Decimal>,
    pub volume: Option<Decimal>,
    pub high: Option<Decimal>,
    pub low: Option<Decimal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FundingTicker {
    /// `fUSD`, `fBTC`, …
    pub symbol: String,
    pub frr: Option<Decimal>,
    pub bid: Option<Decimal>,
    pub bid_period: Option<i64>,
    pub bid_size: Option<Decimal>,
    pub ask: Option<Decimal>,
    pub ask_period: Option<i64>,
    pub ask_size: Option<Decimal>,
    pub daily_change: Option<Decimal>,
    pub daily_change_relative: Option<Decimal>,
    pub last_price: Option<Decimal>,
    pub volume: Option<Decimal>,
    pub high: Option<Decimal>,
    pub low: Option<Decimal>,
    pub frr_amount_available: Option<Decimal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Ticker {
    Trading(TradingTicker),
    Funding(FundingTicker),
}

impl Ticker {
    pub fn symbol(&self) -> &str {
        match self {
            Ticker::Trading(t) => &t.symbol,
            Ticker::Funding(f) => &f.symbol,
        }
    }
}

const WHAT: &str = "tickers";

/// Parses `GET /v2/tickers?symbols=…`.
pub fn parse_tickers(body: &[u8]) -> Result<Vec<Ticker>, ParseError> {
    top_level_rows(WHAT, body)?
        .into_iter()
        .enumerate()
        .map(|(index, raw)| parse_ticker_row(raw, index))
        .collect()
}

fn parse_ticker_row(raw: &RawValue, index: usize) -> Result<Ticker, ParseError> {
    let row = Row::new(WHAT, Some(index), raw)?;
    let symbol = row.string(0, "SYMBOL")?;
    if symbol.starts_with('t') {
        trading(&row, symbol, 1).map(Ticker::Trading)
    } else if symbol.starts_with('f') {
        funding(&row, symbol).map(Ticker::Funding)
    } else {
        Err(row.error("SYMBOL", format!("{symbol:?} is neither a trading (t…) nor a funding (f…) symbol")))
    }
}

/// Parses `GET /v2/ticker/{symbol}` for a trading symbol (10 fields, no symbol in the row).
pub fn parse_trading_ticker(symbol: &str, body: &[u8]) -> Result<TradingTicker, ParseError> {
    let raw: &RawValue = serde_json::from_slice(body).map_err(|e| ParseError {
        what: "ticker",
        row: None,
        field: None,
        reason: e.to_string(),
    })?;
    trading(&Row::new("ticker", None, raw)?, symbol.to_owned(), 0)
}

/// A trading row whose `BID` is at index `at` (1 in `tickers`, 0 in `ticker/…`).
fn trading(row: &Row<'_>, symbol: String, at: usize) -> Result<TradingTicker, ParseError> {
    if row.len() < at + 10 {
        return Err(
            row.error("LOW", format!("trading ticker needs {} fields, row has {}", at + 10, row.len()))
        );
    }
    Ok(TradingTicker {
        symbol,
        bid: row.opt_decimal(at, "BID")?,
        bid_size: row.opt_decimal(at + 1, "BID_SIZE")?,
        ask: row.opt_decimal(at + 2, "ASK")?,
        ask_size: row.opt_decimal(at + 3, "ASK_SIZE")?,
        daily_change: row.opt_decimal(at + 4, "DAILY_CHANGE")?,
        daily_change_relative: row.opt_decimal(at + 5, "DAILY_CHANGE_RELATIVE")?,
        last_price: row.opt_decimal(at + 6, "LAST_PRICE")?,
        volume: row.opt_decimal(at + 7, "VOLUME")?,
        high: row.opt_decimal(at + 8, "HIGH")?,
        low: row.opt_decimal(at + 9, "LOW")?,
    })
}

fn funding(row: &Row<'_>, symbol: String) -> Result<FundingTicker, ParseError> {
    if row.len() < 14 {
        return Err(
            row.error("LOW", format!("funding ticker needs at least 14 fields, row has {}", row.len()))
        );
    }
    Ok(FundingTicker {
        symbol,
        frr: row.opt_decimal(1, "FRR")?,
        bid: row.opt_decimal(2, "BID")?,
        bid_period: row.opt_integer(3, "BID_PERIOD")?,
        bid_size: row.opt_decimal(4, "BID_SIZE")?,
        ask: row.opt_decimal(5, "ASK")?,
        ask_period: row.opt_integer(6, "ASK_PERIOD")?,
        ask_size: row.opt_decimal(7, "ASK_SIZE")?,
        daily_change: row.opt_decimal(8, "DAILY_CHANGE")?,
        daily_change_relative: row.opt_decimal(9, "DAILY_CHANGE_RELATIVE")?,
        last_price: row.opt_decimal(10, "LAST_PRICE")?,
        volume: row.opt_decimal(11, "VOLUME")?,
        high: row.opt_decimal(12, "HIGH")?,
        low: row.opt_decimal(13, "LOW")?,
        frr_amount_available: row.opt_decimal(16, "FRR_AMOUNT_AVAILABLE")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn trading_and_funding_rows() {
        let body = br#"[["tBTCUSD",114687.475806,12.5,114710.415596,8.25,-936.648312,-0.0081,114698.945701,8.7185,117023.221141,113322.558353],
            ["fUSD",0.0002,0.00018,2,1000.5,0.0002,30,500,0.00001,0.05,0.00021,12000000,0.0003,0.0001,null,null,2500000.25],
            ["tAVAX:USD",31.76,100,31.78,90,-1.24,-0.0378,31.768197,1000,33,31]]"#;
        let tickers = parse_tickers(body).unwrap();
        let Ticker::Trading(btc) = &tickers[0] else { panic!("trading") };
        assert_eq!(btc.symbol, "tBTCUSD");
        assert_eq!(btc.bid, Some(dec("114687.475806")));
        assert_eq!(btc.daily_change_relative, Some(dec("-0.0081")));
        assert_eq!(btc.last_price, Some(dec("114698.945701")));
        assert_eq!(btc.low, Some(dec("113322.558353")));
        let Ticker::Funding(usd) = &tickers[1] else { panic!("funding") };
        assert_eq!(usd.bid_period, Some(2));
        assert_eq!(usd.ask_period, Some(30));
        assert_eq!(usd.last_price, Some(dec("0.00021")));
        assert_eq!(usd.frr_amount_available, Some(dec("2500000.25")));
        assert_eq!(tickers[2].symbol(), "tAVAX:USD");
    }

    #[test]
    fn single_trading_ticker_has_no_symbol() {
        let t = parse_trading_ticker(
            "tETHUSD",
            br#"[4335.1,1,4335.5,2,-153.5,-0.0342,4335.27383,100,4500,4300]"#,
        )
        .unwrap();
        assert_eq!(t.symbol, "tETHUSD");
        assert_eq!(t.last_price, Some(dec("4335.27383")));
        assert_eq!(t.high, Some(dec("4500")));
    }

    #[test]
    fn nulls_are_unknown() {
        let t = parse_tickers(br#"[["tXYZUSD",null,null,null,null,null,null,null,null,null,null]]"#).unwrap();
        assert_eq!(
            t[0],
            Ticker::Trading(TradingTicker {
                symbol: "tXYZUSD".into(),
                bid: None,
                bid_size: None,
                ask: None,
                ask_size: None,
                daily_change: None,
                daily_change_relative: None,
                last_price: None,
                volume: None,
                high: None,
                low: None,
            })
        );
    }

    #[test]
    fn errors_name_row_and_field() {
        let e = parse_tickers(br#"[["tBTCUSD",1,1,1,1,1,1,"x",1,1,1]]"#).unwrap_err();
        assert_eq!((e.row, e.field), (Some(0), Some("LAST_PRICE")));
        let e = parse_tickers(br#"[["tBTCUSD",1,1,1,1,1,1,1,1,1,1],["tETHUSD",1,2,3]]"#).unwrap_err();
        assert_eq!((e.row, e.field), (Some(1), Some("LOW")));
        let e = parse_tickers(br#"[["BTCUSD",1,1,1,1,1,1,1,1,1,1]]"#).unwrap_err();
        assert_eq!(e.field, Some("SYMBOL"));
        let e = parse_tickers(br#"[["fUSD",1,1,1.5,1,1,1,1,1,1,1,1,1,1,null,null,1]]"#).unwrap_err();
        assert_eq!(e.field, Some("BID_PERIOD"));
    }
}
