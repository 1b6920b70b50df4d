//! `bfx ticker`: the price strip the project started from (data/seed-tickers.csv): name, last
//! price and 24 h change of each coin, green or red on a terminal. Symbols may be given as the
//! strip's names (`bitcoin`), Bitfinex currency ids (`BTC`) or trading pairs (`tBTCUSD`).

use anyhow::Context;
use bfx_client::{Client, Symbols};
use bfx_core::valuation::pair_symbol;
use bfx_core::{Ticker, TradingTicker, format_decimal};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

use crate::config::ConfigError;

const SEED: &str = include_str!("../../../data/seed-tickers.csv");

/// One coin of the strip: its name, Bitfinex currency id and pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coin {
    pub name: String,
    pub currency: String,
    pub symbol: String,
}

/// The seed's 15 coins, in the seed's order.
pub fn seed_coins() -> Vec<Coin> {
    SEED.lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split(',');
            let (name, currency, symbol) = (fields.next()?, fields.next()?, fields.next()?);
            Some(Coin { name: name.to_owned(), currency: currency.to_owned(), symbol: symbol.to_owned() })
        })
        .collect()
}

/// Resolves what the user typed to a coin: a seed name, a pair (`t…`), or a currency id (valued
/// against USD).
pub fn resolve(arg: &str) -> Coin {
    let seed = seed_coins();
    if let Some(coin) = seed
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(arg) || c.currency.eq_ignore_ascii_case(arg) || c.symbol == arg)
    {
        return coin.clone();
    }
    let is_pair = arg.starts_with('t')
        && arg[1..].chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == ':')
        && arg.len() > 1;
    if is_pair {
        // `tAVAX:USD`, or `tBTCUSD` where base and quote are three letters each.
        let pair = &arg[1..];
        let base = match pair.split_once(':') {
            Some((base, _)) => base,
            None => pair.get(..3).filter(|_| pair.len() == 6).unwrap_or(pair),
        };
        return Coin { name: arg.to_owned(), currency: base.to_owned(), symbol: arg.to_owned() };
    }
    let currency = arg.to_ascii_uppercase();
    Coin { name: arg.to_ascii_lowercase(), symbol: pair_symbol(&currency, "USD"), currency }
}

#[derive(Debug, Serialize)]
pub struct StripEntry {
    pub name: String,
    pub currency: String,
    pub symbol: String,
    pub last_price: Option<String>,
    /// 24 h change in percent, rounded to 2 places (`-0.81`).
    pub change_24h_pct: Option<String>,
    /// Bitfinex's `DAILY_CHANGE_RELATIVE`, exact (`-0.0081`).
    pub daily_change_relative: Option<String>,
}

/// Fetches the coins' tickers in one request; a coin Bitfinex has no ticker for is an error naming it.
pub async fn fetch(client: &Client, coins: &[Coin]) -> anyhow::Result<Vec<StripEntry>> {
    let symbols: Vec<String> = coins.iter().map(|c| c.symbol.clone()).collect();
    let tickers = client.tickers(Symbols::Only(&symbols)).await.context("cannot fetch the tickers")?;
    let mut unknown = Vec::new();
    let mut entries = Vec::with_capacity(coins.len());
    for coin in coins {
        match tickers.iter().find_map(|t| match t {
            Ticker::Trading(t) if t.symbol == coin.symbol => Some(t),
            _ => None,
        }) {
            Some(ticker) => entries.push(entry(coin, ticker)),
            None => unknown.push(format!("{} (no ticker {})", coin.name, coin.symbol)),
        }
    }
    if !unknown.is_empty() {
        return Err(ConfigError::Invalid(format!("unknown symbol: {}", unknown.join(", "))).into());
    }
    Ok(entries)
}

fn entry(coin: &Coin, ticker: &TradingTicker) -> StripEntry {
    let pct = ticker.daily_change_relative.map(|r| {
        let pct =
            (r * Decimal::ONE_HUNDRED).round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
        format!("{pct:.2}")
    });
    StripEntry {
        name: coin.name.clone(),
        currency: coin.currency.clone(),
        symbol: coin.symbol.clone(),
        last_price: ticker.last_price.map(format_decimal),
        change_24h_pct: pct,
        daily_change_relative: ticker.daily_change_relative.map(format_decimal),
    }
}

/// The strip as aligned lines; changes green (up) or red (down) when `color`.
pub fn render(entries: &[StripEntry], color: bool) -> String {
    let name_w = entries.iter().map(|e| e.name.len()).max().unwrap_or(4).max(4);
    let price_w =
        entries.iter().map(|e| e.last_price.as_deref().unwrap_or("-").len()).max().unwrap_or(5).max(5);
    let mut out = format!("{:<name_w$}  {:<5}  {:>price_w$}  {:>8}\n", "NAME", "COIN", "PRICE", "24H");
    for e in entries {
        let change = e.change_24h_pct.as_deref().map_or_else(|| "-".to_owned(), |p| format!("{p}%"));
        let change = format!("{change:>8}");
        let change = match (color, e.change_24h_pct.as_deref()) {
            (true, Some(p)) if p.starts_with('-') => format!("\x1b[31m{change}\x1b[0m"),
            (true, Some(p)) if p.trim_start_matches(['0', '.']).is_empty() => change,
            (true, Some(_)) => format!("\x1b[32m{change}\x1b[0m"),
            _ => change,
        };
        let price = e.last_price.as_deref().unwrap_or("-");
        out.push_str(&format!("{:<name_w$}  {:<5}  {price:>price_w$}  {change}\n", e.name, e.currency));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_has_fifteen_coins_in_order() {
        let coins = seed_coins();
        assert_eq!(coins.len(), 15);
        assert_eq!(
            coins[0],
            Coin { name: "bitcoin".into(), currency: "BTC".into(), symbol: "tBTCUSD".into() }
        );
        assert_eq!(coins[14].name, "sui");
        assert_eq!(coins[7].symbol, "tDOGE:USD");
    }

    #[test]
    fn symbols_resolve_by_name_id_or_pair() {
        assert_eq!(resolve("bitcoin").symbol, "tBTCUSD");
        assert_eq!(resolve("doge").symbol, "tDOGE:USD");
        assert_eq!(resolve("tAVAX:USD").name, "avalanche");
        assert_eq!(
            resolve("tZECBTC"),
            Coin { name: "tZECBTC".into(), currency: "ZEC".into(), symbol: "tZECBTC".into() }
        );
        assert_eq!(
            resolve("zec"),
            Coin { name: "zec".into(), currency: "ZEC".into(), symbol: "tZECUSD".into() }
        );
        assert_eq!(resolve("NEAR").symbol, "tNEAR:USD");
    }

    fn sample() -> Vec<StripEntry> {
        vec![
            StripEntry {
                name: "bitcoin".into(),
                currency: "BTC".into(),
                symbol: "tBTCUSD".into(),
                last_price: Some("114698.945701".into()),
                change_24h_pct: Some("-0.81".into()),
                daily_change_relative: Some("-0.0081".into()),
            },
            StripEntry {
                name: "tether".into(),
                currency: "UST".into(),
                symbol: "tUSTUSD".into(),
                last_price: Some("1.000596".into()),
                change_24h_pct: Some("0.01".into()),
                daily_change_relative: Some("0.0001".into()),
            },
        ]
    }

    #[test]
    fn colours_only_when_asked() {
        let plain = render(&sample(), false);
        assert!(!plain.contains('\x1b'));
        assert_eq!(plain.lines().nth(1), Some("bitcoin  BTC    114698.945701    -0.81%"));
        let coloured = render(&sample(), true);
        assert!(coloured.contains("\x1b[31m  -0.81%\x1b[0m"));
        assert!(coloured.contains("\x1b[32m   0.01%\x1b[0m"));
    }
}
