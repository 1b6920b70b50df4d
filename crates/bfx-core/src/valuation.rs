//! Valuing holdings in a quote currency from Bitfinex's own tickers. Pure and exact.
//!
//! A currency is priced by the quote itself (1), or by the last price of its direct pair
//! (`tBTCUSD`, `tAVAX:USD`). What has no route is reported as unpriced, never as 0; a value is
//! `amount × price` in exact decimal arithmetic.

use std::collections::HashMap;

use rust_decimal::Decimal;

use crate::ticker::Ticker;

/// Bitfinex's trading-pair symbol: `t` + base + quote, with a colon unless both are 3 letters.
pub fn pair_symbol(base: &str, quote: &str) -> String {
    if base.len() == 3 && quote.len() == 3 { format!("t{base}{quote}") } else { format!("t{base}:{quote}") }
}

/// A price and the tickers it came from (empty for the quote currency itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    pub value: Decimal,
    pub route: Vec<String>,
}

/// Why a currency has no price.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unpriced {
    #[error("no ticker route to {quote}")]
    NoRoute { quote: String },
    #[error("{amount} × {price} does not fit in a decimal")]
    Overflow { amount: Decimal, price: Decimal },
}

/// Last prices by trading symbol.
#[derive(Debug, Clone, Default)]
pub struct PriceBook {
    last: HashMap<String, Decimal>,
}

impl PriceBook {
    pub fn from_tickers(tickers: &[Ticker]) -> PriceBook {
        let last = tickers
            .iter()
            .filter_map(|t| match t {
                Ticker::Trading(t) => t.last_price.map(|p| (t.symbol.clone(), p)),
                Ticker::Funding(_) => None,
            })
            .collect();
        PriceBook { last }
    }

    /// The price of one unit of `currency` in `quote`.
    pub fn price(&self, currency: &str, quote: &str) -> Result<Price, Unpriced> {
        if currency == quote {
            return Ok(Price { value: Decimal::ONE, route: Vec::new() });
        }
        let symbol = pair_symbol(currency, quote);
        match self.last.get(&symbol) {
            Some(value) => Ok(Price { value: *value, route: vec![symbol] }),
            None => Err(Unpriced::NoRoute { quote: quote.to_owned() }),
        }
    }

    /// `amount` of `currency` valued in `quote`.
    pub fn value(&self, amount: Decimal, currency: &str, quote: &str) -> Result<(Price, Decimal), Unpriced> {
        let price = self.price(currency, quote)?;
        let value =
            amount.checked_mul(price.value).ok_or(Unpriced::Overflow { amount, price: price.value })?;
        Ok((price, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_tickers;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn book() -> PriceBook {
        PriceBook::from_tickers(
            &parse_tickers(
                br#"[["tBTCUSD",1,1,1,1,1,1,114698.945701,1,1,1],["tAVAX:USD",1,1,1,1,1,1,31.768197,1,1,1],
                     ["tETHUSD",1,1,1,1,1,1,null,1,1,1],["tXYZBTC",1,1,1,1,1,1,0.5,1,1,1]]"#,
            )
            .unwrap(),
        )
    }

    #[test]
    fn pair_symbols() {
        assert_eq!(pair_symbol("BTC", "USD"), "tBTCUSD");
        assert_eq!(pair_symbol("AVAX", "USD"), "tAVAX:USD");
        assert_eq!(pair_symbol("TESTBTC", "TESTUSD"), "tTESTBTC:TESTUSD");
    }

    #[test]
    fn direct_pairs_and_the_quote_itself() {
        let b = book();
        assert_eq!(b.price("USD", "USD").unwrap(), Price { value: Decimal::ONE, route: vec![] });
        assert_eq!(b.price("BTC", "USD").unwrap().route, vec!["tBTCUSD"]);
        let (price, value) = b.value(dec("1.5"), "AVAX", "USD").unwrap();
        assert_eq!(price.value, dec("31.768197"));
        assert_eq!(value, dec("47.6522955"));
    }

    #[test]
    fn exact_with_eighteen_decimals() {
        let (_, value) = book().value(dec("0.123456789012345678"), "BTC", "USD").unwrap();
        // Python: Decimal("0.123456789012345678") * Decimal("114698.945701"), 60-digit context.
        assert_eq!(value, dec("14160.363539346850339564030278"));
    }

    #[test]
    fn no_route_is_unpriced_not_zero() {
        let b = book();
        assert_eq!(b.price("ETH", "USD"), Err(Unpriced::NoRoute { quote: "USD".into() }), "null last price");
        assert_eq!(b.price("XYZ", "USD"), Err(Unpriced::NoRoute { quote: "USD".into() }));
        assert_eq!(b.price("DOGE", "USD").unwrap_err().to_string(), "no ticker route to USD");
        assert!(matches!(b.value(Decimal::MAX, "BTC", "USD"), Err(Unpriced::Overflow { .. })));
    }
}
