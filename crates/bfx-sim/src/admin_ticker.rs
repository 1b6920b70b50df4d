//! The admin API's ticker updates: fields by name (`last_price`, `daily_change_relative`, …) or
//! a whole row, stored as JSON number texts (or `null`) and served verbatim like the state file's.
//!
//! Field names follow the spec's row layouts; funding rows' two unnamed placeholders can only be
//! given through `row`.

use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::admin_edit::{EditError, number_text};
use crate::state::{SimState, TickerRow};
use crate::state_file::{FUNDING_FIELDS, TRADING_FIELDS};

/// Field names after the symbol: trading rows, then funding rows (`None` = unnamed placeholder).
const TRADING_NAMES: [Option<&str>; TRADING_FIELDS] = [
    Some("bid"),
    Some("bid_size"),
    Some("ask"),
    Some("ask_size"),
    Some("daily_change"),
    Some("daily_change_relative"),
    Some("last_price"),
    Some("volume"),
    Some("high"),
    Some("low"),
];
const FUNDING_NAMES: [Option<&str>; FUNDING_FIELDS] = [
    Some("frr"),
    Some("bid"),
    Some("bid_period"),
    Some("bid_size"),
    Some("ask"),
    Some("ask_period"),
    Some("ask_size"),
    Some("daily_change"),
    Some("daily_change_relative"),
    Some("last_price"),
    Some("volume"),
    Some("high"),
    Some("low"),
    None,
    None,
    Some("frr_amount_available"),
];

/// `POST /sim/tickers`: `{"symbol", "row"?: [all fields], <field name>: number text or null, …}`.
/// Named fields change an existing row (or the `row` given in the same request); `row` alone also
/// creates a ticker, listed after the others.
pub(crate) fn edit_ticker(state: &mut SimState, body: &[u8]) -> Result<Value, EditError> {
    let invalid = |reason: String| EditError::Invalid(format!("ticker: {reason}"));
    let mut fields: BTreeMap<String, Box<RawValue>> =
        serde_json::from_slice(body).map_err(|e| invalid(e.to_string()))?;
    let symbol_raw = fields.remove("symbol").ok_or_else(|| invalid("missing field `symbol`".to_owned()))?;
    let symbol: String =
        serde_json::from_str(symbol_raw.get()).map_err(|_| invalid("symbol must be a string".to_owned()))?;
    let names: &[Option<&str>] = match symbol.as_bytes() {
        [b't', _, ..] => &TRADING_NAMES,
        [b'f', _, ..] => &FUNDING_NAMES,
        _ => return Err(invalid(format!("symbol {symbol:?} must start with t (trading) or f (funding)"))),
    };
    let row = match fields.remove("row") {
        None => None,
        Some(raw) => {
            let items: Vec<Box<RawValue>> =
                serde_json::from_str(raw.get()).map_err(|_| invalid("row must be an array".to_owned()))?;
            if items.len() != names.len() {
                return Err(invalid(format!(
                    "{symbol} row has {} fields; it needs {}",
                    items.len(),
                    names.len()
                )));
            }
            Some(items.iter().map(|item| field_text(item).map_err(invalid)).collect::<Result<Vec<_>, _>>()?)
        }
    };
    let mut changes = Vec::with_capacity(fields.len());
    for (name, raw) in &fields {
        let Some(index) = names.iter().position(|n| *n == Some(name.as_str())) else {
            let known: Vec<&str> = names.iter().flatten().copied().collect();
            return Err(invalid(format!(
                "unknown field {name:?} for {symbol}; known: row, {}",
                known.join(", ")
            )));
        };
        changes.push((index, field_text(raw).map_err(|e| invalid(format!("{name}: {e}")))?));
    }
    let position = state.tickers.iter().position(|t| t.symbol == symbol);
    let ticker = match (position, row) {
        (Some(index), row) => {
            let ticker = &mut state.tickers[index];
            if let Some(row) = row {
                ticker.fields = row;
            }
            ticker
        }
        (None, Some(row)) => {
            state.tickers.push(TickerRow { symbol: symbol.clone(), fields: row });
            let last = state.tickers.len() - 1;
            &mut state.tickers[last]
        }
        (None, None) => {
            return Err(EditError::NotFound(format!(
                "ticker: unknown symbol {symbol:?}; give \"row\" with all {} fields to create it",
                names.len()
            )));
        }
    };
    for (index, text) in changes {
        if let Some(field) = ticker.fields.get_mut(index) {
            *field = text;
        }
    }
    tracing::info!(symbol = %ticker.symbol, "admin: ticker changed");
    let row: Vec<Option<&str>> = ticker.fields.iter().map(|f| (f != "null").then_some(f.as_str())).collect();
    Ok(json!({ "symbol": ticker.symbol, "row": row }))
}

/// A ticker field: `null`, or a number as in [`number_text`].
fn field_text(raw: &RawValue) -> Result<String, String> {
    if raw.get() == "null" { Ok("null".to_owned()) } else { number_text(raw) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE: &str = r#"
[[ticker]]
symbol = "tBTCUSD"
row = ["1", "2", "3", "4", "5", "-0.0081", "7", "8", "9", "null"]
"#;

    fn state() -> SimState {
        SimState::from_toml(STATE, "s").unwrap()
    }

    #[test]
    fn ticker_fields_by_name_or_whole_rows() {
        let mut state = state();
        let out = edit_ticker(
            &mut state,
            br#"{"symbol":"tBTCUSD","last_price":"115000.10","daily_change_relative":0.01,"low":null}"#,
        );
        assert_eq!(
            out.unwrap(),
            json!({"symbol": "tBTCUSD", "row": ["1", "2", "3", "4", "5", "0.01", "115000.10", "8", "9", null]})
        );
        let row = r#"["0.0001","1","30","3","4","2","6","7","8","9","10","11","12",null,null,"15"]"#;
        let out =
            edit_ticker(&mut state, format!(r#"{{"symbol":"fUSD","row":{row},"frr":"0.0002"}}"#).as_bytes());
        assert_eq!(out.unwrap()["row"][0], "0.0002");
        assert_eq!(state.tickers[1].fields[13], "null");
        assert_eq!(crate::public::ticker(&state, "tBTCUSD").unwrap(), "[1,2,3,4,5,0.01,115000.10,8,9,null]");
    }

    #[test]
    fn bad_ticker_requests_say_why() {
        let mut state = state();
        let mut error = |body: &str| match edit_ticker(&mut state, body.as_bytes()) {
            Err(EditError::Invalid(m) | EditError::NotFound(m)) => m,
            Ok(v) => panic!("accepted: {v}"),
        };
        assert_eq!(
            error(r#"{"symbol":"tETHUSD","last_price":"1"}"#),
            "ticker: unknown symbol \"tETHUSD\"; give \"row\" with all 10 fields to create it"
        );
        assert!(
            error(r#"{"symbol":"tBTCUSD","price":"1"}"#)
                .starts_with("ticker: unknown field \"price\" for tBTCUSD; known: row, bid, bid_size,")
        );
        assert!(
            error(r#"{"symbol":"tBTCUSD","last_price":"x"}"#)
                .starts_with("ticker: last_price: \"x\" is not a JSON number")
        );
        assert_eq!(
            error(r#"{"symbol":"tBTCUSD","row":["1"]}"#),
            "ticker: tBTCUSD row has 1 fields; it needs 10"
        );
        assert_eq!(
            error(r#"{"symbol":"BTCUSD","row":[]}"#),
            "ticker: symbol \"BTCUSD\" must start with t (trading) or f (funding)"
        );
        assert_eq!(error(r#"{"last_price":"1"}"#), "ticker: missing field `symbol`");
    }
}
