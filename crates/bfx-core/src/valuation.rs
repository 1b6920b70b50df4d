//! Valuing holdings in a quote currency from Bitfinex's own tickers: pure, `Decimal` only.
//!
//! A [`Market`] holds the spot trading tickers, the `conf/pub:map:currency:undl` map and display
//! names; it prices a currency along the shortest route through its price graph (every pair, in
//! either direction, any intermediate, at most [`MAX_HOPS`] hops, ties broken as documented on
//! [`Market`]) and says which tickers it used. What has no usable route is [`Unpriced`] with a
//! reason, never 0.
//! Derivative collateral (`…F0`) is priced through its underlying; paper-trading currencies
//! (`TEST…`) only when asked, in the paper counterpart of the quote.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::ticker::{Ticker, TradingTicker};

/// Bitfinex's trading-pair symbol: `t` + base + quote, with a colon unless both are 3 letters.
pub fn pair_symbol(base: &str, quote: &str) -> String {
    if base.len() == 3 && quote.len() == 3 { format!("t{base}{quote}") } else { format!("t{base}:{quote}") }
}

/// Splits a trading symbol into (base, quote): `tBTCUSD`, `tAVAX:USD`, `tTESTBTC:TESTUSD`.
/// Without a colon both ids are exactly 3 characters; anything else is not a pair we can use.
pub(crate) fn parse_pair(symbol: &str) -> Option<(&str, &str)> {
    let rest = symbol.strip_prefix('t')?;
    match rest.split_once(':') {
        Some((base, quote)) => {
            (!base.is_empty() && !quote.is_empty() && !quote.contains(':')).then_some((base, quote))
        }
        None => (rest.len() == 6 && rest.is_ascii()).then(|| rest.split_at(3)),
    }
}

/// A paper-trading currency (`TESTBTC`, `TESTUSD`, `TESTUSDT`, `TESTBTCF0`, and the sandbox ids
/// `AAA`/`BBB`): not money, so callers flag it and keep it out of totals unless asked.
pub fn is_paper(currency: &str) -> bool {
    currency.strip_prefix("TEST").is_some_and(|rest| !rest.is_empty()) || matches!(currency, "AAA" | "BBB")
}

/// The paper currency standing for `real`: `USD`→`TESTUSD`, `BTC`→`TESTBTC`, but `UST`→`TESTUSDT`
/// (paper ids use the common ticker). A paper id stands for itself.
pub fn paper_counterpart(real: &str) -> String {
    match real {
        _ if is_paper(real) => real.to_owned(),
        "UST" => "TESTUSDT".to_owned(),
        _ => format!("TEST{real}"),
    }
}

/// Which ticker field a price is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PriceKind {
    /// `LAST_PRICE`.
    #[default]
    Last,
    /// What selling now would fetch: `BID` of a direct pair, `1 / ASK` of an inverse one.
    Bid,
    /// `(BID + ASK) / 2`; of an inverse pair `2 / (BID + ASK)`.
    Mid,
}

impl PriceKind {
    fn as_str(self) -> &'static str {
        match self {
            PriceKind::Last => "last",
            PriceKind::Bid => "bid",
            PriceKind::Mid => "mid",
        }
    }
}

impl fmt::Display for PriceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A price kind other than `last`, `bid` or `mid`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown price kind {0:?} (expected last, bid or mid)")]
pub struct UnknownPriceKind(pub String);

impl FromStr for PriceKind {
    type Err = UnknownPriceKind;

    /// `last`, `bid` or `mid`, in any ASCII case.
    fn from_str(s: &str) -> Result<PriceKind, UnknownPriceKind> {
        [PriceKind::Last, PriceKind::Bid, PriceKind::Mid]
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownPriceKind(s.to_owned()))
    }
}

/// The price of one unit of a currency in the quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    /// Always positive.
    pub value: Decimal,
    /// Ticker symbols used, from the currency towards the quote (`["tXYZBTC", "tBTCUSD"]`); empty
    /// when the currency is the quote (or its collateral / paper form).
    pub route: Vec<String>,
    /// Priced from paper-trading tickers in the paper counterpart of the quote: not money.
    pub paper: bool,
}

impl Price {
    /// `amount × price`: [`Unpriced::Overflow`] when it does not fit a `Decimal`.
    pub fn of(&self, amount: Decimal) -> Result<Decimal, Unpriced> {
        amount.checked_mul(self.value).ok_or(Unpriced::Overflow { amount, price: self.value })
    }
}

/// Why a currency has no price (or no value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unpriced {
    /// No route of at most [`MAX_HOPS`] pairs with usable tickers (delisted, unknown, illiquid,
    /// or missing the field the price kind needs). `quote` is the paper quote for paper currencies.
    #[error("no ticker route to {quote}")]
    NoRoute { quote: String },
    /// The route's price is not a positive `Decimal` (it overflows, or rounds to 0).
    #[error("the price through {} does not fit in a decimal", route.join(" "))]
    OutOfRange { route: Vec<String> },
    /// No market data at all (the tickers could not be fetched).
    #[error("prices unavailable")]
    NoPrices,
    /// The currency's wallets together hold more than a `Decimal` can (±7.9e28).
    #[error("the sum of its wallets does not fit in a decimal")]
    SumOverflow,
    /// A `…F0` derivative id missing from `conf/pub:map:currency:undl`.
    #[error("derivative collateral with no underlying in conf/pub:map:currency:undl")]
    NoUnderlying { currency: String },
    /// `amount × price` exceeds what a `Decimal` holds (±7.9e28).
    #[error("{amount} × {price} does not fit in a decimal")]
    Overflow { amount: Decimal, price: Decimal },
    /// A paper-trading currency, asked for without `include_paper`.
    #[error("paper-trading currency (use --include-paper)")]
    Paper { currency: String },
}

/// The ticker fields a price needs. Null, zero and negative numbers are unusable: a missing side
/// never becomes a price of 0.
#[derive(Debug, Clone, PartialEq)]
struct PairTicker {
    symbol: String,
    bid: Option<Decimal>,
    ask: Option<Decimal>,
    last: Option<Decimal>,
    /// In the base currency; ranks routes of equal length.
    volume: Option<Decimal>,
    /// `DAILY_CHANGE_RELATIVE`: the last price's change over 24 h, as a fraction.
    change: Option<Decimal>,
}

/// One hop's price as `num / den`, so a route divides at most once.
#[derive(Debug, Clone, Copy)]
struct Ratio {
    num: Decimal,
    den: Decimal,
}

impl PairTicker {
    fn new(t: &TradingTicker) -> PairTicker {
        PairTicker {
            symbol: t.symbol.clone(),
            bid: t.bid,
            ask: t.ask,
            last: t.last_price,
            volume: t.volume,
            change: t.daily_change_relative,
        }
    }

    fn positive(value: Option<Decimal>) -> Option<Decimal> {
        value.filter(|v| *v > Decimal::ZERO)
    }

    fn bid_plus_ask(&self) -> Option<Decimal> {
        Self::positive(self.bid)?.checked_add(Self::positive(self.ask)?)
    }

    /// The base priced in the quote.
    fn direct(&self, kind: PriceKind) -> Option<Ratio> {
        Some(match kind {
            PriceKind::Last => Ratio { num: Self::positive(self.last)?, den: Decimal::ONE },
            PriceKind::Bid => Ratio { num: Self::positive(self.bid)?, den: Decimal::ONE },
            PriceKind::Mid => Ratio { num: self.bid_plus_ask()?, den: Decimal::TWO },
        })
    }

    /// The quote priced in the base. Selling the quote means buying the base at its ask.
    fn inverse(&self, kind: PriceKind) -> Option<Ratio> {
        Some(match kind {
            PriceKind::Last => Ratio { num: Decimal::ONE, den: Self::positive(self.last)? },
            PriceKind::Bid => Ratio { num: Decimal::ONE, den: Self::positive(self.ask)? },
            PriceKind::Mid => Ratio { num: Decimal::TWO, den: self.bid_plus_ask()? },
        })
    }
}

/// A usable ticker on a route and the ratio it contributes.
#[derive(Debug, Clone, Copy)]
struct Leg<'a> {
    symbol: &'a str,
    ratio: Ratio,
    ticker: &'a PairTicker,
}

/// `Π num / Π den`, or `None` when it is not a positive `Decimal` (overflow, or so small it
/// rounds to 0): such a route is unusable, like one with a null field.
fn route_price(legs: &[Leg<'_>]) -> Option<Decimal> {
    let (mut num, mut den) = (Decimal::ONE, Decimal::ONE);
    for leg in legs {
        num = num.checked_mul(leg.ratio.num)?;
        den = den.checked_mul(leg.ratio.den)?;
    }
    let value = if den == Decimal::ONE { num } else { num.checked_div(den)? };
    (value > Decimal::ZERO).then_some(value)
}

/// Spot tickers by pair, the derivative → underlying map and display names: everything a price
/// needs.
///
/// # Routes: the price graph
/// Every spot trading pair is an edge between its two currencies, usable in both directions: from
/// the base at the pair's price, from the quote at its inverse. An edge counts for a [`PriceKind`]
/// when a ticker on it has the field(s) that kind needs, positive. A currency is priced along a
/// shortest route to the quote: the currency is the quote (1, route `[]`), else the fewest hops,
/// at most [`MAX_HOPS`], through any currency (USD, UST, BTC, ETH, EUR, …).
///
/// Among routes of equal length the choice is deterministic, hop by hop from the currency's side:
/// 1. the next currency that comes first in [`PREFERRED`] (`USD`, `UST`, `BTC`, `ETH`, `EUR`;
///    the quote itself counts first), others after them;
/// 2. then the next currency reached through the larger USD volume (`VOLUME × LAST_PRICE` of the
///    pair, in USD through the quote's own USD pair; unknown counts as none);
/// 3. then the next currency's id, alphabetically;
/// 4. between two tickers of the same two currencies, the direct pair (`tCURNEXT`) before the
///    inverse one (`tNEXTCUR`).
///
/// So an intermediate's own route is the tail of every route through it: a value in BTC times
/// BTC's price in USD is the USD value, within the rounding of one division per route.
/// Stablecoins are priced from their own tickers like anything else: `UST` is never taken to be
/// `USD`. Paper currencies route only through paper ones, real ones only through real ones.
///
/// # Exactness
/// Nothing goes through `f64`. A direct `last`/`bid` price is the ticker's own number. Products of
/// ticker numbers (routes of several hops, and [`Market::value`]'s `amount × price`) are exact
/// whenever the exact result fits a `Decimal` (96-bit mantissa, at most 28 decimal places: 28–29
/// significant digits), as realistic prices and amounts do. The inexact step is the division an
/// inverse pair needs: a route divides at most once (`Π numerators / Π denominators`; `mid` is
/// `(bid + ask) / 2`, inverted `2 / (bid + ask)`), and the quotient is rounded half-even to the
/// most digits a `Decimal` holds. A product that does not fit (an 18-decimal amount times a
/// 28-digit quotient) is rounded by `rust_decimal` the same way, at the 28th–29th significant
/// digit; only a result beyond ±7.9e28 is an error ([`Unpriced::Overflow`]). A price is never 0: a
/// route whose price would not be a positive `Decimal` is [`Unpriced::OutOfRange`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Market {
    /// base → quote → ticker, spot pairs only: perpetuals (a derivative id on either side) are
    /// not spot prices and are left out.
    pairs: BTreeMap<String, BTreeMap<String, PairTicker>>,
    /// The price graph: each currency's neighbours through spot pairs, in either direction.
    neighbours: BTreeMap<String, BTreeSet<String>>,
    /// Every id in any trading pair, perpetual and paper ones included.
    currencies: BTreeSet<String>,
    /// `conf/pub:map:currency:undl`: `USTF0` → `UST`.
    underlying: BTreeMap<String, String>,
    /// `conf/pub:map:currency:sym`: `UST` → `USDt`.
    names: HashMap<String, String>,
}

/// The longest route a price may take, in pairs.
pub const MAX_HOPS: usize = 3;

/// Intermediates preferred, in this order, between routes of equal length: the deepest markets on
/// Bitfinex (there is no `tEURUSD`: fiat trades against USDt).
pub const PREFERRED: [&str; 5] = ["USD", "UST", "BTC", "ETH", "EUR"];

impl Market {
    /// From `tickers` rows (funding tickers and unparseable symbols are ignored) and the pairs of
    /// `conf/pub:map:currency:undl`. Where two entries claim the same pair or derivative, the first
    /// wins, except that a pair's canonical symbol ([`pair_symbol`]) beats another spelling.
    pub fn new(tickers: &[Ticker], underlying: &[(String, String)]) -> Market {
        let mut market = Market::default();
        for (derivative, spot) in underlying {
            market.underlying.entry(derivative.clone()).or_insert_with(|| spot.clone());
        }
        for ticker in tickers {
            if let Ticker::Trading(t) = ticker {
                let _ = market.add(t, false);
            }
        }
        market
    }

    /// The same derivative map and names, priced by `closes` (trading pair → price) alone: a
    /// past day's market from its candles, valued through the same price graph as today's (a
    /// pair with no close that day is no edge that day). Each close serves as last, bid and ask.
    pub fn with_closes(&self, closes: impl IntoIterator<Item = (String, Decimal)>) -> Market {
        let mut market =
            Market { underlying: self.underlying.clone(), names: self.names.clone(), ..Market::default() };
        for (symbol, close) in closes {
            let ticker = TradingTicker {
                symbol,
                bid: Some(close),
                bid_size: None,
                ask: Some(close),
                ask_size: None,
                daily_change: None,
                daily_change_relative: None,
                last_price: Some(close),
                volume: None,
                high: None,
                low: None,
            };
            let _ = market.add(&ticker, false);
        }
        market
    }

    /// With display names (`conf/pub:map:currency:sym`: `UST` → `USDt`).
    pub fn with_names(mut self, names: impl IntoIterator<Item = (String, String)>) -> Market {
        self.names = names.into_iter().collect();
        self
    }

    /// Bitfinex's display name for a currency, or the id itself.
    pub fn display_name<'a>(&'a self, currency: &'a str) -> &'a str {
        self.names.get(currency).map_or(currency, String::as_str)
    }

    /// A newer ticker of one pair (a WebSocket `ticker` channel update): it replaces the ticker of
    /// the same symbol, or is added like one of [`Market::new`]'s rows when the pair is new.
    /// Whether the market changed (a ticker the same as the one held changes nothing).
    pub fn update(&mut self, ticker: &TradingTicker) -> bool {
        self.add(ticker, true)
    }

    /// Adds `t`; an existing ticker of the pair is replaced when `t` is its canonical symbol and it
    /// was not, or (`newer`) when `t` has the same symbol. Whether anything changed.
    fn add(&mut self, t: &TradingTicker, newer: bool) -> bool {
        let Some((base, quote)) = parse_pair(&t.symbol) else { return false };
        let mut changed = self.currencies.insert(base.to_owned());
        changed |= self.currencies.insert(quote.to_owned());
        if self.is_derivative(base) || self.is_derivative(quote) || base == quote {
            return changed;
        }
        match self.pairs.entry(base.to_owned()).or_default().entry(quote.to_owned()) {
            Entry::Vacant(slot) => {
                slot.insert(PairTicker::new(t));
                self.neighbours.entry(base.to_owned()).or_default().insert(quote.to_owned());
                self.neighbours.entry(quote.to_owned()).or_default().insert(base.to_owned());
                true
            }
            Entry::Occupied(mut slot) => {
                let held = &slot.get().symbol;
                let canonical = pair_symbol(base, quote);
                let replaces = (newer && *held == t.symbol) || (*held != canonical && t.symbol == canonical);
                let ticker = PairTicker::new(t);
                if replaces && *slot.get() != ticker {
                    slot.insert(ticker);
                    changed = true;
                }
                changed
            }
        }
    }

    /// Whether `currency` appears in any trading pair (to validate a quote the user typed).
    pub fn has_currency(&self, currency: &str) -> bool {
        self.currencies.contains(currency)
    }

    /// Prices in `quote` at `kind`: the routes of every currency to the quote are found once, so
    /// pricing many currencies costs one graph search, not one each.
    pub fn quoter(&self, quote: &str, kind: PriceKind) -> Quoter<'_> {
        let spot = self.underlying.get(quote).map_or(quote, String::as_str);
        Quoter {
            market: self,
            quote: quote.to_owned(),
            kind,
            real: Routes::search(self, spot.to_owned(), kind, false),
            paper: Routes::search(self, paper_counterpart(spot), kind, true),
        }
    }

    /// The price of one unit of `currency` in `quote` (see [`Market`] for routes and exactness);
    /// [`Quoter::price`] for the details. To price many currencies, make one [`Market::quoter`].
    pub fn price(
        &self,
        currency: &str,
        quote: &str,
        kind: PriceKind,
        include_paper: bool,
    ) -> Result<Price, Unpriced> {
        self.quoter(quote, kind).price(currency, include_paper)
    }

    /// `amount` of `currency` valued in `quote`: the price and `amount × price`.
    pub fn value(
        &self,
        amount: Decimal,
        currency: &str,
        quote: &str,
        kind: PriceKind,
        include_paper: bool,
    ) -> Result<(Price, Decimal), Unpriced> {
        self.quoter(quote, kind).value(amount, currency, include_paper)
    }

    fn is_derivative(&self, id: &str) -> bool {
        self.underlying.contains_key(id) || (id.len() > 2 && id.ends_with("F0"))
    }

    /// The spot id a currency is priced as: its underlying for a derivative, `None` when a
    /// derivative has no underlying in the map.
    fn spot<'a>(&'a self, currency: &'a str) -> Option<&'a str> {
        match self.underlying.get(currency) {
            Some(spot) => Some(spot),
            None if self.is_derivative(currency) => None,
            None => Some(currency),
        }
    }

    /// Usable legs from `from` to `to`: the direct pair, then the inverse one.
    fn legs<'a>(&'a self, from: &str, to: &str, kind: PriceKind) -> impl Iterator<Item = Leg<'a>> + 'a {
        let direct = self
            .ticker(from, to)
            .and_then(|t| Some(Leg { symbol: &t.symbol, ratio: t.direct(kind)?, ticker: t }));
        let inverse = self
            .ticker(to, from)
            .and_then(|t| Some(Leg { symbol: &t.symbol, ratio: t.inverse(kind)?, ticker: t }));
        direct.into_iter().chain(inverse)
    }

    fn ticker(&self, base: &str, quote: &str) -> Option<&PairTicker> {
        self.pairs.get(base)?.get(quote)
    }

    /// How much a price along `route` (as [`Price::route`] gives it for `currency`) changed over
    /// 24 h, as a fraction: each pair's `DAILY_CHANGE_RELATIVE` composed, a direct leg multiplying
    /// by `1 + r`, an inverse one dividing. `None` when a pair lacks it or the route does not
    /// start at `currency`.
    pub fn daily_change(&self, currency: &str, route: &[String]) -> Option<Decimal> {
        let mut at = self.spot(currency)?;
        let mut ratio = Decimal::ONE;
        for symbol in route {
            let (base, quote) = parse_pair(symbol)?;
            let factor = Decimal::ONE.checked_add(self.ticker(base, quote)?.change?)?;
            (ratio, at) = match at {
                _ if at == base => (ratio.checked_mul(factor)?, quote),
                _ if at == quote => (ratio.checked_div(factor)?, base),
                _ => return None,
            };
        }
        ratio.checked_sub(Decimal::ONE)
    }

    /// A pair's traded volume in USD (`VOLUME × LAST_PRICE × the quote's USD price`, the latter
    /// from the quote's own pair with USD, or 1 for USD itself); `None` when unknown.
    fn usd_volume(&self, ticker: &PairTicker) -> Option<Decimal> {
        let (_, quote) = parse_pair(&ticker.symbol)?;
        let in_quote = ticker.volume?.checked_mul(ticker.last?)?;
        let usd = match quote {
            "USD" | "TESTUSD" => Decimal::ONE,
            _ => {
                let direct = self.ticker(quote, "USD").and_then(|t| t.direct(PriceKind::Last));
                let ratio = direct.or_else(|| self.ticker("USD", quote)?.inverse(PriceKind::Last))?;
                ratio.num.checked_div(ratio.den)?
            }
        };
        in_quote.checked_mul(usd)
    }
}

/// Prices in one quote at one price kind, from the routes [`Market::quoter`] found.
#[derive(Debug, Clone)]
pub struct Quoter<'a> {
    market: &'a Market,
    quote: String,
    kind: PriceKind,
    /// Routes of real currencies to the quote (its underlying, for a derivative quote).
    real: Routes<'a>,
    /// Routes of paper currencies to the quote's paper counterpart.
    paper: Routes<'a>,
}

impl<'a> Quoter<'a> {
    /// The currency values are in.
    pub fn quote(&self) -> &str {
        &self.quote
    }

    pub fn market(&self) -> &'a Market {
        self.market
    }

    /// The price of one unit of `currency` in the quote.
    ///
    /// A `…F0` derivative id (as currency or quote) stands for its underlying. A paper currency
    /// is [`Unpriced::Paper`] unless `include_paper`; then it is priced in the paper counterpart
    /// of the quote (`USD`→`TESTUSD`, `UST`→`TESTUSDT`, `BTC`→`TESTBTC`) through paper tickers
    /// and paper intermediates, the number read as if in the real quote, with `paper: true`.
    pub fn price(&self, currency: &str, include_paper: bool) -> Result<Price, Unpriced> {
        let paper = is_paper(currency);
        if paper && !include_paper {
            return Err(Unpriced::Paper { currency: currency.to_owned() });
        }
        let unit = Price { value: Decimal::ONE, route: Vec::new(), paper };
        if currency == self.quote {
            return Ok(unit);
        }
        let from = self
            .market
            .spot(currency)
            .ok_or_else(|| Unpriced::NoUnderlying { currency: currency.to_owned() })?;
        let routes = if paper { &self.paper } else { &self.real };
        let no_route =
            || Unpriced::NoRoute { quote: if paper { routes.target.clone() } else { self.quote.clone() } };
        let legs = routes.route(from).ok_or_else(no_route)?;
        let route: Vec<String> = legs.iter().map(|leg| leg.symbol.to_owned()).collect();
        match route_price(&legs) {
            Some(value) => Ok(Price { value, route, paper }),
            None => Err(Unpriced::OutOfRange { route }),
        }
    }

    /// `amount` of `currency` valued in the quote: the price and `amount × price`.
    pub fn value(
        &self,
        amount: Decimal,
        currency: &str,
        include_paper: bool,
    ) -> Result<(Price, Decimal), Unpriced> {
        let price = self.price(currency, include_paper)?;
        let value = price.of(amount)?;
        Ok((price, value))
    }

    /// The price kind prices are read at.
    pub fn kind(&self) -> PriceKind {
        self.kind
    }
}

/// Every currency's next hop on its chosen route to `target` (see [`Market`]).
#[derive(Debug, Clone)]
struct Routes<'a> {
    target: String,
    /// currency → the leg it takes and the currency that leg reaches.
    next: HashMap<&'a str, (Leg<'a>, &'a str)>,
}

impl<'a> Routes<'a> {
    /// A breadth-first search from the target over usable edges (paper currencies only when
    /// `paper`, real ones only otherwise), [`MAX_HOPS`] deep; then each currency picks its next
    /// hop among the neighbours one hop closer, by the tie-break documented on [`Market`].
    fn search(market: &'a Market, target: String, kind: PriceKind, paper: bool) -> Routes<'a> {
        let preferred: Vec<String> = match paper {
            true => PREFERRED.map(paper_counterpart).to_vec(),
            false => PREFERRED.map(str::to_owned).to_vec(),
        };
        let mut distance: HashMap<&'a str, usize> = HashMap::new();
        let mut next = HashMap::new();
        let Some((target_id, _)) = market.neighbours.get_key_value(target.as_str()) else {
            return Routes { target, next };
        };
        distance.insert(target_id.as_str(), 0);
        let mut frontier = vec![target_id.as_str()];
        for hops in 1..=MAX_HOPS {
            let mut reached = Vec::new();
            for &closer in &frontier {
                for id in market.neighbours.get(closer).into_iter().flatten() {
                    let id = id.as_str();
                    if distance.contains_key(id) || is_paper(id) != paper {
                        continue;
                    }
                    if market.legs(id, closer, kind).next().is_some() {
                        distance.insert(id, hops);
                        reached.push(id);
                    }
                }
            }
            for &id in &reached {
                let rank = |via: &str| match via == target_id {
                    true => 0,
                    false => preferred.iter().position(|p| p == via).map_or(usize::MAX, |i| i + 1),
                };
                let best = market.neighbours.get(id).into_iter().flatten().filter_map(|via| {
                    let via = via.as_str();
                    if distance.get(via) != Some(&(hops - 1)) {
                        return None;
                    }
                    let mut legs = market.legs(id, via, kind);
                    let leg = legs.next()?;
                    let volume =
                        std::iter::once(leg).chain(legs).filter_map(|l| market.usd_volume(l.ticker)).max();
                    Some(((rank(via), std::cmp::Reverse(volume), via), leg))
                });
                // `via` ids are unique, so keys never tie: the choice does not depend on order.
                if let Some(((_, _, via), leg)) = best.min_by(|a, b| a.0.cmp(&b.0)) {
                    next.insert(id, (leg, via));
                }
            }
            frontier = reached;
        }
        Routes { target, next }
    }

    /// The legs from `from` to the target, `None` when it has no route.
    fn route(&self, from: &str) -> Option<Vec<Leg<'a>>> {
        let mut legs = Vec::with_capacity(MAX_HOPS);
        let mut at = from;
        while at != self.target {
            let (leg, via) = self.next.get(at)?;
            legs.push(*leg);
            at = via;
        }
        Some(legs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn pair_symbols() {
        assert_eq!(pair_symbol("BTC", "USD"), "tBTCUSD");
        assert_eq!(pair_symbol("AVAX", "USD"), "tAVAX:USD");
        assert_eq!(pair_symbol("TESTBTC", "TESTUSD"), "tTESTBTC:TESTUSD");
    }

    #[test]
    fn pairs_parse_into_base_and_quote() {
        assert_eq!(parse_pair("tBTCUSD"), Some(("BTC", "USD")));
        assert_eq!(parse_pair("tAVAX:USD"), Some(("AVAX", "USD")));
        assert_eq!(parse_pair("tTESTBTC:TESTUSD"), Some(("TESTBTC", "TESTUSD")));
        assert_eq!(parse_pair("tBTCF0:USTF0"), Some(("BTCF0", "USTF0")));
        assert_eq!(parse_pair("tBTC:USD"), Some(("BTC", "USD")), "a needless colon still names the pair");
        for bad in ["fUSD", "BTCUSD", "tBTCUS", "tBTCUSDT", "t:USD", "tBTC:", "tA:B:C", "t", "", "tÄBCUS"] {
            assert_eq!(parse_pair(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn paper_ids_and_their_counterparts() {
        for paper in ["TESTBTC", "TESTUSD", "TESTUSDT", "TESTBTCF0", "AAA", "BBB"] {
            assert!(is_paper(paper), "{paper}");
        }
        for real in ["BTC", "USD", "UST", "USTF0", "TEST", "test", "LATEST", "AAAA", ""] {
            assert!(!is_paper(real), "{real}");
        }
        assert_eq!(paper_counterpart("USD"), "TESTUSD");
        assert_eq!(paper_counterpart("UST"), "TESTUSDT");
        assert_eq!(paper_counterpart("BTC"), "TESTBTC");
        assert_eq!(paper_counterpart("TESTUSD"), "TESTUSD");
        assert_eq!(paper_counterpart("BBB"), "BBB");
    }

    #[test]
    fn price_kinds_parse_and_print() {
        for kind in [PriceKind::Last, PriceKind::Bid, PriceKind::Mid] {
            assert_eq!(kind.to_string().parse::<PriceKind>(), Ok(kind));
        }
        assert_eq!("MID".parse::<PriceKind>(), Ok(PriceKind::Mid));
        assert_eq!(PriceKind::default(), PriceKind::Last);
        let e = "ask".parse::<PriceKind>().unwrap_err();
        assert_eq!(e, UnknownPriceKind("ask".into()));
        assert_eq!(e.to_string(), r#"unknown price kind "ask" (expected last, bid or mid)"#);
    }

    fn ticker(bid: Option<&str>, ask: Option<&str>, last: Option<&str>) -> PairTicker {
        PairTicker {
            symbol: "tABCDEF".into(),
            bid: bid.map(dec),
            ask: ask.map(dec),
            last: last.map(dec),
            volume: None,
            change: None,
        }
    }

    #[test]
    fn each_kind_reads_its_own_fields() {
        let t = ticker(Some("2"), Some("4"), Some("3"));
        let pairs = |r: Option<Ratio>| r.map(|r| (r.num, r.den));
        assert_eq!(pairs(t.direct(PriceKind::Last)), Some((dec("3"), dec("1"))));
        assert_eq!(pairs(t.direct(PriceKind::Bid)), Some((dec("2"), dec("1"))));
        assert_eq!(pairs(t.direct(PriceKind::Mid)), Some((dec("6"), dec("2"))));
        assert_eq!(pairs(t.inverse(PriceKind::Last)), Some((dec("1"), dec("3"))));
        assert_eq!(
            pairs(t.inverse(PriceKind::Bid)),
            Some((dec("1"), dec("4"))),
            "selling the quote pays the ask"
        );
        assert_eq!(pairs(t.inverse(PriceKind::Mid)), Some((dec("2"), dec("6"))));
    }

    #[test]
    fn null_zero_and_negative_fields_are_unusable() {
        for unusable in [None, Some("0"), Some("-1")] {
            let no_bid = ticker(unusable, Some("4"), Some("3"));
            assert!(no_bid.direct(PriceKind::Bid).is_none());
            assert!(no_bid.direct(PriceKind::Mid).is_none());
            assert!(no_bid.inverse(PriceKind::Mid).is_none());
            assert!(no_bid.inverse(PriceKind::Bid).is_some(), "inverse bid needs only the ask");
            let no_ask = ticker(Some("2"), unusable, Some("3"));
            assert!(no_ask.inverse(PriceKind::Bid).is_none());
            assert!(no_ask.direct(PriceKind::Bid).is_some(), "direct bid needs only the bid");
            let no_last = ticker(Some("2"), Some("4"), unusable);
            assert!(no_last.direct(PriceKind::Last).is_none());
            assert!(no_last.inverse(PriceKind::Last).is_none());
        }
    }

    #[test]
    fn a_route_divides_once_and_is_never_zero() {
        let t = ticker(None, None, None);
        let leg = |num: &str, den: &str| Leg {
            symbol: "t",
            ratio: Ratio { num: dec(num), den: dec(den) },
            ticker: &t,
        };
        assert_eq!(route_price(&[leg("6", "2")]), Some(dec("3")));
        // 1/3 then ×3 would give 0.9999…; one division of 3/3 gives exactly 1.
        assert_eq!(route_price(&[leg("1", "3"), leg("3", "1")]), Some(Decimal::ONE));
        assert_eq!(route_price(&[leg("1", "7"), leg("1", "11")]), Some(Decimal::ONE / dec("77")));
        let tiny = "0.000000000000001";
        assert_eq!(route_price(&[leg(tiny, "1"), leg(tiny, "1")]), None, "1e-30 rounds to 0: unusable");
        assert_eq!(
            route_price(&[leg("1", "100000000000000000000"), leg("1", "100000000000000000000")]),
            None,
            "denominator overflows"
        );
        assert_eq!(
            route_price(&[leg("100000000000000000000", "1"), leg("100000000000000000000", "1")]),
            None,
            "numerator overflows"
        );
    }
}
