//! Bodies of the public endpoints: tickers, one ticker, conf lists, platform status.
//!
//! Ticker fields go out verbatim from the state file. `conf/{keys}` answers every key asked,
//! in order, `[]` for keys the state does not list (ccxt asks for many at once).

use crate::reply::{Rejection, quoted};
use crate::state::{SimState, TickerRow};

/// `tickers?symbols=ALL` or `symbols=tBTCUSD,fUSD,…`: `[[SYMBOL, …fields], …]`; unknown symbols are
/// left out, as Bitfinex does. No `symbols` parameter (or an empty one) is an error.
pub(crate) fn tickers(state: &SimState, symbols: Option<&str>) -> Result<String, Rejection> {
    let symbols = symbols.filter(|s| !s.is_empty()).ok_or(Rejection::MissingSymbols)?;
    let rows: Vec<String> = if symbols == "ALL" {
        state.tickers.iter().map(row_with_symbol).collect()
    } else {
        let mut seen = Vec::new();
        symbols
            .split(',')
            .filter(|symbol| {
                let first = !seen.contains(symbol);
                seen.push(*symbol);
                first
            })
            .filter_map(|symbol| state.ticker(symbol))
            .map(row_with_symbol)
            .collect()
    };
    Ok(format!("[{}]", rows.join(",")))
}

/// `ticker/{symbol}`: the fields without the symbol.
pub(crate) fn ticker(state: &SimState, symbol: &str) -> Result<String, Rejection> {
    let ticker = state.ticker(symbol).ok_or(Rejection::UnknownSymbol)?;
    Ok(format!("[{}]", ticker.fields.join(",")))
}

/// `conf/{keys}` (already percent-decoded): one element per comma-separated key.
pub(crate) fn conf(state: &SimState, keys: &str) -> String {
    let values: Vec<&str> =
        keys.split(',').map(|key| state.conf.get(key).map_or("[]", String::as_str)).collect();
    format!("[{}]", values.join(","))
}

/// `platform/status`: `[1]` operative, `[0]` maintenance.
pub(crate) fn platform_status(state: &SimState) -> String {
    format!("[{}]", u8::from(state.operative))
}

fn row_with_symbol(ticker: &TickerRow) -> String {
    format!("[{},{}]", quoted(&ticker.symbol), ticker.fields.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE: &str = r#"
[[ticker]]
symbol = "tBTCUSD"
row = ["1", "2", "3", "4", "5", "-0.0081", "7", "8", "9", "1e-8"]
[[ticker]]
symbol = "fUSD"
row = ["0.0001", "1", "30", "3", "4", "2", "6", "7", "8", "9", "10", "11", "12", "null", "null", "15"]
[conf]
"pub:list:currency" = ["BTC", "USD"]
"#;

    fn state() -> SimState {
        SimState::from_toml(STATE, "s").unwrap()
    }

    #[test]
    fn tickers_all_and_lists() {
        let state = state();
        let btc = r#"["tBTCUSD",1,2,3,4,5,-0.0081,7,8,9,1e-8]"#;
        let usd = r#"["fUSD",0.0001,1,30,3,4,2,6,7,8,9,10,11,12,null,null,15]"#;
        assert_eq!(tickers(&state, Some("ALL")), Ok(format!("[{btc},{usd}]")));
        assert_eq!(tickers(&state, Some("fUSD,tNOPE,tBTCUSD,fUSD")), Ok(format!("[{usd},{btc}]")));
        assert_eq!(tickers(&state, Some("tNOPE")), Ok("[]".to_owned()));
        assert_eq!(tickers(&state, None), Err(Rejection::MissingSymbols));
        assert_eq!(tickers(&state, Some("")), Err(Rejection::MissingSymbols));
        let parsed = bfx_core::parse_tickers(format!("[{btc},{usd}]").as_bytes()).unwrap();
        assert_eq!(parsed.len(), 2);
    }

    #[test]
    fn one_ticker() {
        assert_eq!(ticker(&state(), "tBTCUSD"), Ok("[1,2,3,4,5,-0.0081,7,8,9,1e-8]".to_owned()));
        assert_eq!(ticker(&state(), "tETHUSD"), Err(Rejection::UnknownSymbol));
    }

    #[test]
    fn conf_answers_every_key_in_order() {
        assert_eq!(conf(&state(), "pub:map:currency:sym,pub:list:currency"), r#"[[],["BTC","USD"]]"#);
        assert_eq!(conf(&state(), "pub:list:currency"), r#"[["BTC","USD"]]"#);
    }

    #[test]
    fn status() {
        assert_eq!(platform_status(&state()), "[1]");
        let down = SimState { operative: false, ..state() };
        assert_eq!(platform_status(&down), "[0]");
    }
}
