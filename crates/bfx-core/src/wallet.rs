//! Wallet rows of `auth/r/wallets` (and the WebSocket `ws`/`wu` messages), parsed by position.
//!
//! `[WALLET_TYPE, CURRENCY, BALANCE, UNSETTLED_INTEREST, AVAILABLE_BALANCE, LAST_CHANGE,
//! LAST_CHANGE_METADATA]`: seven fields today; Bitfinex may append fields, and trailing fields may
//! be `null` or absent, so rows from 3 fields up (type, currency, balance) are accepted. `AVAILABLE_BALANCE` is usually
//! `null` over REST: it is unknown, not zero.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use crate::parse::{ParseError, Row, top_level_rows};

/// Which wallet a balance sits in. Unknown types are kept, not dropped.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WalletType {
    Exchange,
    Margin,
    Funding,
    Other(String),
}

impl WalletType {
    pub fn as_str(&self) -> &str {
        match self {
            WalletType::Exchange => "exchange",
            WalletType::Margin => "margin",
            WalletType::Funding => "funding",
            WalletType::Other(other) => other,
        }
    }
}

impl From<&str> for WalletType {
    fn from(text: &str) -> WalletType {
        match text {
            "exchange" => WalletType::Exchange,
            "margin" => WalletType::Margin,
            "funding" => WalletType::Funding,
            other => WalletType::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for WalletType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for WalletType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One wallet: a currency in a wallet type, with exact amounts.
#[derive(Debug, Clone, PartialEq)]
pub struct WalletRow {
    pub wallet_type: WalletType,
    /// Bitfinex currency id (`BTC`, `UST` = Tether USDt, `UDC` = USD Coin, `TESTBTC`, …).
    pub currency: String,
    pub balance: Decimal,
    /// `None` when Bitfinex sent `null`.
    pub unsettled_interest: Option<Decimal>,
    /// `None` when unknown (`null`, as over REST until a `calc` is requested).
    pub available: Option<Decimal>,
    pub last_change: Option<String>,
    /// The raw JSON of `LAST_CHANGE_METADATA` (e.g. `{"reason":"TRADE",…}`), not interpreted.
    pub last_change_metadata: Option<String>,
}

const WHAT: &str = "wallets";

/// Parses the body of `POST /v2/auth/r/wallets`. Any malformed row fails the whole response: a
/// balance list with a row silently missing would be a wrong number.
pub fn parse_wallets(body: &[u8]) -> Result<Vec<WalletRow>, ParseError> {
    top_level_rows(WHAT, body)?
        .into_iter()
        .enumerate()
        .map(|(index, raw)| parse_wallet_row(raw, Some(index)))
        .collect()
}

/// Parses one wallet row (as in a WebSocket `wu` message). `index` names it in errors.
pub fn parse_wallet_row(raw: &RawValue, index: Option<usize>) -> Result<WalletRow, ParseError> {
    let row = Row::new(WHAT, index, raw)?;
    let currency = row.string(1, "CURRENCY")?;
    if currency.is_empty() {
        return Err(row.error("CURRENCY", "is empty"));
    }
    Ok(WalletRow {
        wallet_type: WalletType::from(row.string(0, "WALLET_TYPE")?.as_str()),
        currency,
        balance: row.decimal(2, "BALANCE")?,
        unsettled_interest: row.opt_decimal(3, "UNSETTLED_INTEREST")?,
        available: row.opt_decimal(4, "AVAILABLE_BALANCE")?,
        last_change: row.opt_string(5, "LAST_CHANGE")?,
        last_change_metadata: row.opt_raw(6),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn one(body: &str) -> WalletRow {
        let mut rows = parse_wallets(body.as_bytes()).unwrap();
        assert_eq!(rows.len(), 1);
        rows.remove(0)
    }

    #[test]
    fn documented_seven_field_row() {
        let row = one(
            r#"[["exchange","BTC",1.5,0,1.2,"Exchange 0.3 BTC for USD @ 114698.9",{"reason":"TRADE","order_id":1234,"trade_price":"114698.9"}]]"#,
        );
        assert_eq!(row.wallet_type, WalletType::Exchange);
        assert_eq!(row.currency, "BTC");
        assert_eq!(row.balance, dec("1.5"));
        assert_eq!(row.unsettled_interest, Some(Decimal::ZERO));
        assert_eq!(row.available, Some(dec("1.2")));
        assert_eq!(row.last_change.as_deref(), Some("Exchange 0.3 BTC for USD @ 114698.9"));
        assert_eq!(
            row.last_change_metadata.as_deref(),
            Some(r#"{"reason":"TRADE","order_id":1234,"trade_price":"114698.9"}"#)
        );
    }

    #[test]
    fn amounts_are_exact_from_the_number_text() {
        let rows = parse_wallets(
            br#"[["exchange","ETH",0.123456789012345678,0,null,null,null],
                 ["margin","BTC",1e-8,0,null,null,null],
                 ["funding","USD",-0.00000001,-2.5E-3,null,null,null],
                 ["exchange","XRP",12345678901234567890.5,0,null,null,null]]"#,
        )
        .unwrap();
        assert_eq!(rows[0].balance.to_string(), "0.123456789012345678");
        assert_eq!(rows[1].balance.to_string(), "0.00000001");
        assert_eq!(rows[2].balance.to_string(), "-0.00000001");
        assert_eq!(rows[2].unsettled_interest, Some(dec("-0.0025")));
        assert_eq!(rows[3].balance.to_string(), "12345678901234567890.5");
    }

    #[test]
    fn five_to_eight_fields_and_nulls() {
        let five = one(r#"[["margin","UST",100,0,null]]"#);
        assert_eq!((five.available, five.last_change), (None, None));
        let six = one(r#"[["margin","UST",100,0,99.5,"Transfer"]]"#);
        assert_eq!(six.available, Some(dec("99.5")));
        assert_eq!(six.last_change.as_deref(), Some("Transfer"));
        let eight = one(r#"[["funding","USD",7,null,null,null,null,"a future field"]]"#);
        assert_eq!(eight.balance, dec("7"));
        assert_eq!(eight.unsettled_interest, None);
        let four = one(r#"[["funding","USD",7,0]]"#);
        assert_eq!(four.available, None);
    }

    #[test]
    fn metadata_beyond_f64_does_not_fail_the_row() {
        let row = one(r#"[["exchange","BTC",1,0,null,null,{"x":1e400}]]"#);
        assert_eq!(row.last_change_metadata.as_deref(), Some(r#"{"x":1e400}"#));
    }

    #[test]
    fn unknown_wallet_type_is_kept() {
        let row = one(r#"[["contribution","BTC",1,0,null,null,null]]"#);
        assert_eq!(row.wallet_type, WalletType::Other("contribution".into()));
        assert_eq!(row.wallet_type.to_string(), "contribution");
    }

    #[test]
    fn empty_account() {
        assert_eq!(parse_wallets(b"[]").unwrap(), vec![]);
        assert_eq!(parse_wallets(b" [ ] \n").unwrap(), vec![]);
    }

    fn err(body: &str) -> ParseError {
        parse_wallets(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn malformed_rows_name_row_and_field() {
        let e = err(r#"[["exchange","BTC",1,0,null,null,null],["exchange","ETH","lots",0,null,null,null]]"#);
        assert_eq!((e.row, e.field), (Some(1), Some("BALANCE")));
        assert_eq!(
            e.to_string(),
            r#"malformed wallets response, row 1, field BALANCE: expected a number, found "lots""#
        );

        let e = err(r#"[["exchange","BTC",null,0,null,null,null]]"#);
        assert_eq!((e.row, e.field, e.reason.as_str()), (Some(0), Some("BALANCE"), "is null"));

        let e = err(r#"[["exchange","BTC"]]"#);
        assert_eq!((e.row, e.field), (Some(0), Some("BALANCE")));
        assert!(e.reason.contains("row has 2 fields"), "{}", e.reason);

        let e = err(r#"[["exchange",42,1,0]]"#);
        assert_eq!(e.field, Some("CURRENCY"));

        let e = err(r#"[["exchange","",1,0]]"#);
        assert_eq!(e.field, Some("CURRENCY"));

        let e = err(r#"[[7,"BTC",1,0]]"#);
        assert_eq!(e.field, Some("WALLET_TYPE"));

        let e = err(r#"[["exchange","BTC",1,0,"x"]]"#);
        assert_eq!(e.field, Some("AVAILABLE_BALANCE"));

        let e = err(r#"[{"type":"exchange"}]"#);
        assert_eq!((e.row, e.field), (Some(0), None));
        assert!(e.reason.starts_with("expected an array"), "{}", e.reason);

        let e = err(r#"[["exchange","BTC",1e400,0]]"#);
        assert_eq!(e.field, Some("BALANCE"));
        assert!(e.reason.contains("too large"), "{}", e.reason);
    }

    #[test]
    fn malformed_bodies() {
        assert_eq!(err("").reason, "empty body");
        assert!(err(r#"[["exchange","BTC",1"#).reason.starts_with("truncated JSON"));
        assert!(err(r#"{"a":1}"#).reason.starts_with("expected a JSON array"));
        assert!(err("<html>502</html>").reason.starts_with("invalid JSON"));
        assert_eq!(err("").row, None);
    }
}
