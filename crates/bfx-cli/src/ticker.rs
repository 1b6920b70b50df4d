//! `bfx ticker`: the price strip the project started from (data/seed-tickers.csv): name, last
//! price and 24 h change of each coin, green or red on a terminal. Coins may be given as the
//! strip's names (`bitcoin`), Bitfinex currency ids (`ZEC`, `EUR`: priced in USD through the same
//! price graph as balances, so a coin with no USD pair still has a price) or trading pairs
//! (`tZECBTC`: priced in the pair's quote). The price column says what the prices are in.

use std::collections::HashMap;

use anyhow::Context;
use bfx_client::{Client, Symbols};
use bfx_core::valuation::paper_counterpart;
use bfx_core::{Quoter, Ticker, format_decimal};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

use crate::config::ConfigError;
use crate::output;

const SEED: &str = include_str!("../../../data/seed-tickers.csv");

/// One coin of the strip: its name, Bitfinex currency id, and what it is priced in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coin {
    pub name: String,
    pub currency: String,
    pub quote: String,
    /// The pair whose own ticker is read (the strip's coins, and pairs typed as such); `None`:
    /// priced through the price graph.
    pub pair: Option<String>,
}

/// The seed's 15 coins, in the seed's order.
pub fn seed_coins() -> Vec<Coin> {
    SEED.lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split(',');
            let (name, currency, symbol) = (fields.next()?, fields.next()?, fields.next()?);
            let quote = pair_quote(symbol)?;
            let pair = Some(symbol.to_owned());
            Some(Coin { name: name.to_owned(), currency: currency.to_owned(), quote, pair })
        })
        .collect()
}

/// The quote of a trading pair symbol (`tBTCUSD` → `USD`, `tDOGE:USD` → `USD`).
fn pair_quote(symbol: &str) -> Option<String> {
    let pair = symbol.strip_prefix('t')?;
    let quote = match pair.split_once(':') {
        Some((_, quote)) => quote,
        None => pair.get(3..).filter(|_| pair.len() == 6)?,
    };
    Some(quote.to_owned())
}

/// Resolves what the user typed to a coin: a seed name, a pair (`t…`), or a currency id (priced
/// in USD). The name stays as typed.
pub fn resolve(arg: &str) -> Coin {
    let seed = seed_coins();
    if let Some(coin) = seed.iter().find(|c| {
        c.name.eq_ignore_ascii_case(arg)
            || c.currency.eq_ignore_ascii_case(arg)
            || c.pair.as_deref() == Some(arg)
    }) {
        return coin.clone();
    }
    let is_pair = arg.len() > 1
        && arg.starts_with('t')
        && arg[1..].chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == ':');
    if is_pair && let Some(quote) = pair_quote(arg) {
        // `tAVAX:USD`, or `tBTCUSD` where base and quote are three letters each.
        let base = arg[1..arg.len() - quote.len()].trim_end_matches(':').to_owned();
        return Coin { name: arg.to_owned(), currency: base, quote, pair: Some(arg.to_owned()) };
    }
    Coin { name: arg.to_owned(), currency: arg.to_ascii_uppercase(), quote: "USD".to_owned(), pair: None }
}

#[derive(Debug, Serialize)]
pub struct StripEntry {
    pub name: String,
    pub currency: String,
    /// The pair the price is read from, when it is one pair (`null` for a longer route).
    pub symbol: Option<String>,
    /// What the price is in.
    pub quote: String,
    /// The tickers the price came from, from the currency towards the quote.
    pub route: Vec<String>,
    pub last_price: Option<String>,
    /// 24 h change in percent, rounded to 2 places (`-0.81`).
    pub change_24h_pct: Option<String>,
    /// Bitfinex's `DAILY_CHANGE_RELATIVE` for one pair, composed along a longer route.
    pub daily_change_relative: Option<String>,
}

/// Reads each pair's own ticker (one request for all of them) and, when currencies are asked
/// for, the market to price them through the graph; a coin with no ticker or no route is an
/// error naming it.
pub async fn fetch(client: &Client, coins: &[Coin]) -> anyhow::Result<Vec<StripEntry>> {
    let pairs: Vec<String> = coins.iter().filter_map(|c| c.pair.clone()).collect();
    let graph = coins.iter().any(|c| c.pair.is_none());
    let (tickers, market) = tokio::join!(
        async {
            match pairs.is_empty() {
                true => Ok(Vec::new()),
                false => client.tickers(Symbols::Only(&pairs)).await,
            }
        },
        async {
            match graph {
                true => client.market().await.map(Some),
                false => Ok(None),
            }
        }
    );
    let (tickers, market) =
        (tickers.context("cannot fetch the tickers")?, market.context("cannot fetch the tickers")?);
    let mut quoters: HashMap<&str, Quoter<'_>> = HashMap::new();
    let mut unknown = Vec::new();
    let mut entries = Vec::with_capacity(coins.len());
    for coin in coins {
        match (&coin.pair, &market) {
            (Some(pair), _) => match tickers.iter().find_map(|t| match t {
                Ticker::Trading(t) if t.symbol == *pair => Some(t),
                _ => None,
            }) {
                Some(t) => entries.push(entry(
                    coin,
                    &coin.quote,
                    t.last_price,
                    t.daily_change_relative,
                    vec![pair.clone()],
                )),
                None => unknown.push(format!("{} (no ticker {pair})", coin.name)),
            },
            (None, Some(market)) => {
                let quoter = quoters
                    .entry(&coin.quote)
                    .or_insert_with(|| market.quoter(&coin.quote, Default::default()));
                match quoter.price(&coin.currency, true) {
                    Ok(price) => {
                        // A paper currency is priced in the paper counterpart of the quote.
                        let quote = match price.paper {
                            true => paper_counterpart(&coin.quote),
                            false => coin.quote.clone(),
                        };
                        let change = market.daily_change(&coin.currency, &price.route);
                        entries.push(entry(coin, &quote, Some(price.value), change, price.route));
                    }
                    Err(why) => unknown.push(format!("{} ({why})", coin.name)),
                }
            }
            (None, None) => unknown.push(format!("{} (no market)", coin.name)),
        }
    }
    if !unknown.is_empty() {
        return Err(ConfigError::Invalid(format!("unknown symbol: {}", unknown.join(", "))).into());
    }
    Ok(entries)
}

fn entry(
    coin: &Coin,
    quote: &str,
    last: Option<Decimal>,
    change: Option<Decimal>,
    route: Vec<String>,
) -> StripEntry {
    let pct = change.map(|r| {
        let pct =
            (r * Decimal::ONE_HUNDRED).round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
        format!("{pct:.2}")
    });
    StripEntry {
        name: coin.name.clone(),
        currency: coin.currency.clone(),
        symbol: (route.len() == 1).then(|| route[0].clone()),
        quote: quote.to_owned(),
        route,
        last_price: last.map(format_decimal),
        change_24h_pct: pct,
        daily_change_relative: change.map(format_decimal),
    }
}

/// The strip as aligned lines; changes green (up) or red (down) when `color`. A price read from
/// one pair is shown as Bitfinex sent it; one computed along a route, to 8 significant digits.
pub fn render(entries: &[StripEntry], color: bool) -> String {
    let one_quote =
        entries.first().map(|e| e.quote.as_str()).filter(|q| entries.iter().all(|e| e.quote == *q));
    let shown: Vec<String> = entries
        .iter()
        .map(|e| {
            let text = match (&e.last_price, &e.symbol) {
                (Some(exact), Some(_)) => exact.clone(),
                (Some(exact), None) => exact.parse().map_or_else(|_| exact.clone(), output::price),
                (None, _) => "-".to_owned(),
            };
            match one_quote {
                Some(_) => text,
                None => format!("{text} {}", e.quote),
            }
        })
        .collect();
    let header = one_quote.map_or_else(|| "PRICE".to_owned(), |q| format!("PRICE {q}"));
    let name_w = entries.iter().map(|e| e.name.chars().count()).max().unwrap_or(4).max(4);
    let coin_w = entries.iter().map(|e| e.currency.len()).max().unwrap_or(5).max(5);
    let price_w = shown.iter().map(String::len).max().unwrap_or(0).max(header.len());
    let mut out = format!("{:<name_w$}  {:<coin_w$}  {header:>price_w$}  {:>8}\n", "NAME", "COIN", "24H");
    for (e, price) in entries.iter().zip(&shown) {
        let change = e.change_24h_pct.as_deref().map_or_else(|| "-".to_owned(), |p| format!("{p}%"));
        let change = format!("{change:>8}");
        let change = match (color, e.change_24h_pct.as_deref()) {
            (true, Some(p)) if p.starts_with('-') => format!("\x1b[31m{change}\x1b[0m"),
            (true, Some(p)) if p.trim_start_matches(['0', '.']).is_empty() => change,
            (true, Some(_)) => format!("\x1b[32m{change}\x1b[0m"),
            _ => change,
        };
        out.push_str(&format!("{:<name_w$}  {:<coin_w$}  {price:>price_w$}  {change}\n", e.name, e.currency));
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
        let bitcoin = Coin {
            name: "bitcoin".into(),
            currency: "BTC".into(),
            quote: "USD".into(),
            pair: Some("tBTCUSD".into()),
        };
        assert_eq!(coins[0], bitcoin);
        assert_eq!(coins[14].name, "sui");
        assert_eq!(coins[7].currency, "DOGE");
        assert!(coins.iter().all(|c| c.quote == "USD"));
    }

    #[test]
    fn symbols_resolve_by_name_id_or_pair() {
        let coin = |name: &str, currency: &str, quote: &str, pair: Option<&str>| Coin {
            name: name.into(),
            currency: currency.into(),
            quote: quote.into(),
            pair: pair.map(str::to_owned),
        };
        assert_eq!(resolve("bitcoin"), coin("bitcoin", "BTC", "USD", Some("tBTCUSD")));
        assert_eq!(resolve("doge").currency, "DOGE");
        assert_eq!(resolve("tAVAX:USD").name, "avalanche");
        assert_eq!(resolve("tZECBTC"), coin("tZECBTC", "ZEC", "BTC", Some("tZECBTC")));
        assert_eq!(
            resolve("tTESTBTC:TESTUSD"),
            coin("tTESTBTC:TESTUSD", "TESTBTC", "TESTUSD", Some("tTESTBTC:TESTUSD"))
        );
        assert_eq!(resolve("tBTCF0:USTF0"), coin("tBTCF0:USTF0", "BTCF0", "USTF0", Some("tBTCF0:USTF0")));
        assert_eq!(resolve("zec"), coin("zec", "ZEC", "USD", None));
        assert_eq!(resolve("FOO"), coin("FOO", "FOO", "USD", None), "the name as typed");
        assert_eq!(resolve("NEAR").currency, "NEAR");
    }

    fn strip_entry(
        name: &str,
        currency: &str,
        route: &[&str],
        quote: &str,
        last: &str,
        pct: &str,
    ) -> StripEntry {
        StripEntry {
            name: name.into(),
            currency: currency.into(),
            symbol: (route.len() == 1).then(|| route[0].to_owned()),
            quote: quote.into(),
            route: route.iter().map(|s| (*s).to_owned()).collect(),
            last_price: Some(last.into()),
            change_24h_pct: Some(pct.into()),
            daily_change_relative: None,
        }
    }

    fn sample() -> Vec<StripEntry> {
        vec![
            strip_entry("bitcoin", "BTC", &["tBTCUSD"], "USD", "114698.945701", "-0.81"),
            strip_entry("tether", "UST", &["tUSTUSD"], "USD", "1.000596", "0.01"),
        ]
    }

    #[test]
    fn colours_only_when_asked() {
        let plain = render(&sample(), false);
        assert!(!plain.contains('\x1b'));
        assert_eq!(plain.lines().next(), Some("NAME     COIN       PRICE USD       24H"));
        assert_eq!(plain.lines().nth(1), Some("bitcoin  BTC    114698.945701    -0.81%"));
        let coloured = render(&sample(), true);
        assert!(coloured.contains("\x1b[31m  -0.81%\x1b[0m"));
        assert!(coloured.contains("\x1b[32m   0.01%\x1b[0m"));
    }

    #[test]
    fn the_price_column_says_what_prices_are_in() {
        let routed = strip_entry(
            "EUR",
            "EUR",
            &["tEURUST", "tUSTUSD"],
            "USD",
            "1.166714928000000000000000001",
            "0.10",
        );
        let text = render(&[routed], false);
        assert!(text.starts_with("NAME  COIN   PRICE USD"), "{text}");
        assert!(text.contains("  1.1667149     0.10%"), "a routed price to 8 digits: {text}");
        let mixed =
            [sample().remove(0), strip_entry("tZECBTC", "ZEC", &["tZECBTC"], "BTC", "0.0049", "1.00")];
        let text = render(&mixed, false);
        assert!(text.lines().next().unwrap().contains(" PRICE "), "{text}");
        assert!(text.contains("114698.945701 USD") && text.contains("0.0049 BTC"), "{text}");
    }
}
