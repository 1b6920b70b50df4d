//! Open positions of `auth/r/positions` (and the WebSocket `ps`/`pn`/`pu` messages), by position.
//!
//! `[SYMBOL, STATUS, AMOUNT, BASE_PRICE, MARGIN_FUNDING, MARGIN_FUNDING_TYPE, PL, PL_PERC,
//! PRICE_LIQ, LEVERAGE, _, POSITION_ID, MTS_CREATE, MTS_UPDATE, _, TYPE, _, COLLATERAL,
//! COLLATERAL_MIN, META]`. `PL` is in the pair's quote currency and may be `null` (over the
//! WebSocket until a `calc` is sent); `PL_PERC` is not kept: its sign has been seen to disagree with
//! `PL`, so nothing may be derived from it. Rows from 4 fields up (symbol, status, amount, base
//! price) are accepted; Bitfinex appends fields over time.

use rust_decimal::Decimal;
use serde_json::value::RawValue;

use crate::parse::{ParseError, Row, top_level_rows};

/// One open position, with exact amounts.
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    /// The trading pair (`tBTCUSD`, `tBTCF0:USTF0`).
    pub symbol: String,
    /// `ACTIVE` while open (kept as sent).
    pub status: String,
    /// Positive long, negative short, in the pair's base currency.
    pub amount: Decimal,
    /// Average entry price, in the pair's quote currency.
    pub base_price: Decimal,
    /// Unrealised profit or loss in the pair's quote currency, fee to close included; `None` when
    /// Bitfinex sent `null` (unknown, never zero).
    pub pl: Option<Decimal>,
    /// The price at which the position would be liquidated, when known.
    pub price_liq: Option<Decimal>,
    pub leverage: Option<Decimal>,
    pub id: Option<i64>,
    /// Milliseconds since the epoch.
    pub mts_create: Option<i64>,
    pub mts_update: Option<i64>,
    /// `0` margin, `1` derivatives.
    pub kind: Option<i64>,
}

const WHAT: &str = "positions";

/// Parses the body of `POST /v2/auth/r/positions`. Any malformed row fails the whole response: a
/// position silently missing would make a wrong net total.
pub fn parse_positions(body: &[u8]) -> Result<Vec<Position>, ParseError> {
    top_level_rows(WHAT, body)?
        .into_iter()
        .enumerate()
        .map(|(index, raw)| parse_position_row(raw, Some(index)))
        .collect()
}

/// Parses one position row. `index` names it in errors.
pub fn parse_position_row(raw: &RawValue, index: Option<usize>) -> Result<Position, ParseError> {
    let row = Row::new(WHAT, index, raw)?;
    let symbol = row.string(0, "SYMBOL")?;
    if symbol.is_empty() {
        return Err(row.error("SYMBOL", "is empty"));
    }
    Ok(Position {
        symbol,
        status: row.string(1, "STATUS")?,
        amount: row.decimal(2, "AMOUNT")?,
        base_price: row.decimal(3, "BASE_PRICE")?,
        pl: row.opt_decimal(6, "PL")?,
        price_liq: row.opt_decimal(8, "PRICE_LIQ")?,
        leverage: row.opt_decimal(9, "LEVERAGE")?,
        id: row.opt_integer(11, "POSITION_ID")?,
        mts_create: row.opt_integer(12, "MTS_CREATE")?,
        mts_update: row.opt_integer(13, "MTS_UPDATE")?,
        kind: row.opt_integer(15, "TYPE")?,
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
    fn the_documented_row() {
        let body = r#"[["tBTCUSD","ACTIVE",0.0195,8565.0267019,0,0,-0.33455568705000516,-0.0003117550117425625,7045.876419249083,3.0673001895895604,null,142355652,1574002216000,1574002216000,null,0,null,0,0,{"reason":"TRADE"}]]"#;
        let positions = parse_positions(body.as_bytes()).unwrap();
        assert_eq!(
            positions,
            [Position {
                symbol: "tBTCUSD".into(),
                status: "ACTIVE".into(),
                amount: dec("0.0195"),
                base_price: dec("8565.0267019"),
                pl: Some(dec("-0.33455568705000516")),
                price_liq: Some(dec("7045.876419249083")),
                leverage: Some(dec("3.0673001895895604")),
                id: Some(142355652),
                mts_create: Some(1574002216000),
                mts_update: Some(1574002216000),
                kind: Some(0),
            }]
        );
    }

    #[test]
    fn short_rows_and_nulls_are_unknown_not_zero() {
        let p = parse_positions(br#"[["tETHUSD","ACTIVE",-2.5,4000,0,0,null]]"#).unwrap().remove(0);
        assert_eq!(p.amount, dec("-2.5"));
        assert_eq!(p.pl, None);
        assert_eq!((p.price_liq, p.id, p.kind), (None, None, None));
        assert_eq!(parse_positions(b"[]").unwrap(), []);
    }

    #[test]
    fn malformed_rows_name_the_field() {
        let e = parse_positions(br#"[["tBTCUSD","ACTIVE","x",1]]"#).unwrap_err();
        assert_eq!((e.row, e.field), (Some(0), Some("AMOUNT")));
        let e = parse_positions(br#"[["tBTCUSD","ACTIVE",1]]"#).unwrap_err();
        assert_eq!(e.field, Some("BASE_PRICE"));
        let e = parse_positions(br#"[["","ACTIVE",1,1]]"#).unwrap_err();
        assert_eq!(e.field, Some("SYMBOL"));
        assert!(parse_positions(br#"{"a":1}"#).is_err());
    }
}
