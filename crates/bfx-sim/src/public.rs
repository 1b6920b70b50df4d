//! Bodies of the public endpoints: tickers, one ticker, conf lists, platform status.
//!
//! Ticker fields go out verbatim from the state file. `conf/{keys}` answers every key asked,
//! in order, `[]` for keys the state does not list (ccxt asks for many at once); the two pair lists
//! clients load their markets from are derived from the trading tickers when the state omits them.

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

const EXCHANGE_PAIRS: &str = "pub:list:pair:exchange";
const MARGIN_PAIRS: &str = "pub:list:pair:margin";
const FUTURES_PAIRS: &str = "pub:list:pair:futures";

/// `conf/{keys}` (already percent-decoded): one element per comma-separated key.
pub(crate) fn conf(state: &SimState, keys: &str) -> String {
    let values: Vec<String> = keys.split(',').map(|key| conf_value(state, key)).collect();
    format!("[{}]", values.join(","))
}

/// One key's list: the state's own, else for the pair lists the derived one, else `[]`.
fn conf_value(state: &SimState, key: &str) -> String {
    if let Some(listed) = state.conf.get(key) {
        return listed.clone();
    }
    match key {
        EXCHANGE_PAIRS => exchange_pairs(state),
        // Margin: whatever the state lists as exchange pairs, else the derived list; a state that
        // wants fewer margin pairs lists them.
        MARGIN_PAIRS => state.conf.get(EXCHANGE_PAIRS).cloned().unwrap_or_else(|| exchange_pairs(state)),
        _ => "[]".to_owned(),
    }
}

/// `["BTCUSD","AVAX:USD",…]`: every trading ticker's pair without its `t`, in state order, as
/// Bitfinex lists its pairs. Perpetuals (both sides ending `F0`, or listed under
/// `pub:list:pair:futures`) are left out: Bitfinex lists them only with the futures.
fn exchange_pairs(state: &SimState) -> String {
    let futures: Vec<String> = state
        .conf
        .get(FUTURES_PAIRS)
        .and_then(|text| serde_json::from_str::<Vec<String>>(text).ok())
        .unwrap_or_default();
    let pairs: Vec<String> = state
        .tickers
        .iter()
        .filter_map(|ticker| ticker.symbol.strip_prefix('t'))
        .filter(|pair| !is_perpetual(pair) && !futures.iter().any(|f| f == pair))
        .map(quoted)
        .collect();
    format!("[{}]", pairs.join(","))
}

fn is_perpetual(pair: &str) -> bool {
    pair.split_once(':').is_some_and(|(base, quote)| base.ends_with("F0") && quote.ends_with("F0"))
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
    fn pair_lists_are_derived_from_trading_tickers_when_unlisted() {
        let state = SimState::from_toml(
            r#"
[[ticker]]
symbol = "tBTCUSD"
row = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]
[[ticker]]
symbol = "tAVAX:USD"
row = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]
[[ticker]]
symbol = "tBTCF0:USTF0"
row = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]
[[ticker]]
symbol = "fUSD"
row = ["0.0001", "1", "30", "3", "4", "2", "6", "7", "8", "9", "10", "11", "12", "null", "null", "15"]
"#,
            "s",
        )
        .unwrap();
        assert_eq!(
            conf(&state, "pub:list:pair:exchange,pub:list:pair:margin"),
            r#"[["BTCUSD","AVAX:USD"],["BTCUSD","AVAX:USD"]]"#
        );
    }

    #[test]
    fn listed_pair_lists_win_and_margin_follows_exchange() {
        let mut state = state();
        state.conf.insert("pub:list:pair:exchange".to_owned(), r#"["ETHUSD"]"#.to_owned());
        assert_eq!(conf(&state, "pub:list:pair:margin"), r#"[["ETHUSD"]]"#);
        state.conf.insert("pub:list:pair:margin".to_owned(), "[]".to_owned());
        assert_eq!(conf(&state, "pub:list:pair:exchange,pub:list:pair:margin"), r#"[["ETHUSD"],[]]"#);
    }

    #[test]
    fn status() {
        assert_eq!(platform_status(&state()), "[1]");
        let down = SimState { operative: false, ..state() };
        assert_eq!(platform_status(&down), "[0]");
    }
}
