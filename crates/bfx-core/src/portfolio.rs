//! The one place where holdings become values: each account's wallets and open positions, valued
//! through a [`Market`] in a quote, summed per account, per asset and overall.
//!
//! Pure and total: every sum is checked, so an amount too large for a `Decimal` becomes a typed
//! reason on its row ([`Unpriced::Overflow`]) and an incomplete mark on the totals, never a panic.
//! What cannot be priced is listed with why, never counted as 0. Wallet totals and open-position
//! P/L are kept apart: Bitfinex's wallet balances exclude the P/L of open positions, so the net
//! total is the wallet total plus the positions' P/L.
//!
//! ```
//! use bfx_core::portfolio::{AccountInput, Holdings, Valuation, value};
//! use bfx_core::{Market, format_decimal, parse_tickers, parse_wallets};
//!
//! let tickers = parse_tickers(br#"[["tBTCUSD",1,1,1,1,0,0,100000,1,0,0]]"#).unwrap();
//! let market = Market::new(&tickers, &[]);
//! let wallets = parse_wallets(br#"[["exchange","BTC",0.5,0,null,null,null],["exchange","USD",250,0,null,null,null]]"#).unwrap();
//! let accounts = [AccountInput::read("main", Holdings { wallets, positions: Ok(Vec::new()) })];
//! let portfolio = value(&accounts, Some(&market), &Valuation::new("USD"));
//! assert_eq!(portfolio.total.map(format_decimal).as_deref(), Some("50250"));
//! assert_eq!(portfolio.assets[0].currency, "BTC");
//! assert!(portfolio.complete);
//! ```

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;
use serde::{Serialize, Serializer};

use crate::number::format_decimal;
use crate::position::Position;
use crate::valuation::{Market, Price, PriceKind, Quoter, Unpriced, is_paper, parse_pair};
use crate::wallet::{WalletRow, WalletType};

/// What holdings are valued in, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Valuation {
    /// A Bitfinex currency id (`USD`, `BTC`, `UST`, `EUR`, …).
    pub quote: String,
    pub kind: PriceKind,
    /// Count paper-trading currencies (`TEST…`) in values and totals.
    pub include_paper: bool,
}

impl Valuation {
    /// In `quote` at the last price, paper currencies left out.
    pub fn new(quote: &str) -> Valuation {
        Valuation { quote: quote.to_owned(), kind: PriceKind::Last, include_paper: false }
    }
}

/// What was read of one account.
#[derive(Debug, Clone, PartialEq)]
pub struct Holdings {
    pub wallets: Vec<WalletRow>,
    /// Open positions, or why they were not read (a key without `positions` read: skipped).
    pub positions: Result<Vec<Position>, AccountError>,
}

/// One account's input: what was read, or why nothing was.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountInput {
    pub name: String,
    pub holdings: Result<Holdings, AccountError>,
}

impl AccountInput {
    pub fn read(name: &str, holdings: Holdings) -> AccountInput {
        AccountInput { name: name.to_owned(), holdings: Ok(holdings) }
    }
}

/// Why an account (or its positions) could not be read, as `bfx balances --json` prints it:
/// Bitfinex's code when it sent one, its message, and a stable kind (`auth`, `permission`,
/// `nonce`, `rate_limit`, `unavailable`, `network`, `protocol`, `config`, `exchange`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountError {
    pub code: Option<i64>,
    pub message: String,
    pub kind: String,
}

/// Every account valued, with per-asset sums and what could not be priced: the answer to "what
/// do I hold and what is it worth". Serialises to the `bfx balances --json` document.
#[derive(Debug, Clone, Serialize)]
pub struct Portfolio {
    pub quote: String,
    #[serde(serialize_with = "display")]
    pub price: PriceKind,
    pub accounts: Vec<AccountValue>,
    /// By currency across accounts: most valuable first, unpriced ones last.
    pub assets: Vec<AssetValue>,
    /// What was left out of the totals, by currency: the balance of the wallets that could not be
    /// valued, with why (paper ones included).
    pub unpriced: Vec<UnpricedAsset>,
    /// The sum of the accounts' wallet totals; `None` when no account was read, or when it (or an
    /// account's) does not fit a `Decimal`.
    #[serde(serialize_with = "opt_amount")]
    pub total: Option<Decimal>,
    /// Unrealised P/L of the open positions read, in the quote; `None` when one is unknown or no
    /// account's positions could be read.
    #[serde(serialize_with = "opt_amount")]
    pub positions_pl: Option<Decimal>,
    /// `total + positions_pl`: what the wallets would hold with every position closed now.
    #[serde(serialize_with = "opt_amount")]
    pub net_total: Option<Decimal>,
    /// Every account was read and every (non-paper) wallet valued: the total is the whole.
    pub complete: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccountValue {
    pub name: String,
    pub wallets: Vec<WalletValue>,
    /// The valued wallets' sum; `None` when the account failed or the sum overflows.
    #[serde(serialize_with = "opt_amount")]
    pub total: Option<Decimal>,
    pub error: Option<AccountError>,
    /// `None` when they were not read (see `positions_error`).
    pub positions: Option<Vec<PositionValue>>,
    /// The positions' P/L in the quote; `None` when not read or one is unknown.
    #[serde(serialize_with = "opt_amount")]
    pub positions_pl: Option<Decimal>,
    /// Why the positions were not read (e.g. the key lacks `positions` read).
    pub positions_error: Option<AccountError>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WalletValue {
    #[serde(rename = "type")]
    pub wallet_type: WalletType,
    pub currency: String,
    #[serde(serialize_with = "amount")]
    pub balance: Decimal,
    #[serde(serialize_with = "opt_amount")]
    pub available: Option<Decimal>,
    #[serde(serialize_with = "opt_amount")]
    pub unsettled_interest: Option<Decimal>,
    #[serde(serialize_with = "opt_amount")]
    pub price: Option<Decimal>,
    #[serde(serialize_with = "opt_amount")]
    pub value: Option<Decimal>,
    /// The tickers the price came from (`[]` for the quote itself; `null` when unpriced).
    pub price_route: Option<Vec<String>>,
    /// A paper-trading currency (`TEST…`): not money, out of totals unless asked.
    pub paper: bool,
    /// Why `value` is `None`.
    #[serde(skip)]
    pub unpriced: Option<Unpriced>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AssetValue {
    pub currency: String,
    /// Bitfinex's display name (`USDt` for `UST`), or the id.
    pub name: String,
    /// `None` only when the sum does not fit a `Decimal`.
    #[serde(serialize_with = "opt_amount")]
    pub balance: Option<Decimal>,
    #[serde(serialize_with = "opt_amount")]
    pub value: Option<Decimal>,
    /// Percent of the total, rounded to 2 places (`None` when unpriced or the total is 0).
    #[serde(serialize_with = "opt_amount")]
    pub share: Option<Decimal>,
    /// The price of one unit (the same in every wallet of the currency).
    #[serde(skip)]
    pub price: Option<Decimal>,
    /// Why `value` is `None`: no wallet of it could be valued (their reason), or the sum of their
    /// values does not fit a `Decimal` ([`Unpriced::SumOverflow`]; they are in the totals then).
    #[serde(skip)]
    pub unvalued: Option<Unpriced>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnpricedAsset {
    pub currency: String,
    #[serde(serialize_with = "opt_amount")]
    pub balance: Option<Decimal>,
    #[serde(serialize_with = "display")]
    pub reason: Unpriced,
}

#[derive(Debug, Clone, Serialize)]
pub struct PositionValue {
    pub symbol: String,
    pub status: String,
    #[serde(serialize_with = "amount")]
    pub amount: Decimal,
    #[serde(serialize_with = "amount")]
    pub base_price: Decimal,
    /// In `pl_currency`; `None` when Bitfinex sent none.
    #[serde(serialize_with = "opt_amount")]
    pub pl: Option<Decimal>,
    /// The pair's quote currency, which Bitfinex states the P/L in.
    pub pl_currency: Option<String>,
    /// The P/L in the portfolio's quote.
    #[serde(serialize_with = "opt_amount")]
    pub pl_value: Option<Decimal>,
    /// Why `pl_value` is `None` although `pl` is known (`pl_reason` in JSON).
    #[serde(rename = "pl_reason", serialize_with = "opt_display")]
    pub unpriced: Option<Unpriced>,
}

impl Portfolio {
    /// The accounts that could not be read.
    pub fn failed(&self) -> impl Iterator<Item = (&str, &AccountError)> {
        self.accounts.iter().filter_map(|a| a.error.as_ref().map(|e| (a.name.as_str(), e)))
    }
}

/// An exact, checked sum. Terms are added as they come; should a partial sum overflow although
/// the whole may fit (5e28 + 5e28 − 5.4e28), the remaining terms are kept and added at the end
/// with signs alternating, so that no partial sum exceeds the largest term or the result: the sum
/// is `None` only when the result itself does not fit a `Decimal`.
#[derive(Debug, Clone, Default)]
struct Sum {
    acc: Decimal,
    rest: Vec<Decimal>,
}

impl Sum {
    fn add(&mut self, term: Decimal) {
        match self.rest.is_empty().then(|| self.acc.checked_add(term)).flatten() {
            Some(sum) => self.acc = sum,
            None => self.rest.push(term),
        }
    }

    fn total(&self) -> Option<Decimal> {
        if self.rest.is_empty() {
            return Some(self.acc);
        }
        let terms = std::iter::once(self.acc).chain(self.rest.iter().copied());
        let (mut up, mut down): (Vec<Decimal>, Vec<Decimal>) = terms.partition(|t| t.is_sign_positive());
        let mut sum = Decimal::ZERO;
        loop {
            let next = match sum.is_sign_negative() {
                true => up.pop().or_else(|| down.pop()),
                false => down.pop().or_else(|| up.pop()),
            };
            match next {
                Some(term) => sum = sum.checked_add(term)?,
                None => return Some(sum),
            }
        }
    }
}

/// Per currency: summed balance; summed value of the wallets that could be valued; the balance
/// of those that could not, and why; unit price.
#[derive(Default)]
struct AssetSum {
    balance: Sum,
    value: Sum,
    valued: bool,
    left_out: Sum,
    reason: Option<Unpriced>,
    price: Option<Decimal>,
}

/// Values every account's holdings in `valuation.quote`. `market` is `None` when no prices could
/// be had: then nothing is valued ([`Unpriced::NoPrices`]) and the totals are not the portfolio's.
///
/// The composition of [`value_account`] (each account, through one [`Pricer`]) and [`combine`]
/// (the sums): a caller that keeps accounts' values across changes uses the same two steps.
pub fn value(accounts: &[AccountInput], market: Option<&Market>, valuation: &Valuation) -> Portfolio {
    let mut pricer = Pricer::new(market, valuation);
    let values = accounts.iter().map(|account| value_account(account, &mut pricer)).collect();
    combine(values, market, valuation)
}

/// One account valued: its wallets, its total, its positions and their P/L (or its error).
pub fn value_account(account: &AccountInput, prices: &mut Pricer<'_>) -> AccountValue {
    let holdings = match &account.holdings {
        Ok(holdings) => holdings,
        Err(error) => {
            return AccountValue {
                name: account.name.clone(),
                wallets: Vec::new(),
                total: None,
                error: Some(error.clone()),
                positions: None,
                positions_pl: None,
                positions_error: None,
            };
        }
    };
    let mut account_total = Sum::default();
    let mut wallets = Vec::with_capacity(holdings.wallets.len());
    for row in &holdings.wallets {
        let (price, value, price_route, unpriced) = match prices.value(row.balance, &row.currency) {
            Ok((price, value)) => {
                account_total.add(value);
                (Some(price.value), Some(value), Some(price.route), None)
            }
            Err(why) => (None, None, None, Some(why)),
        };
        wallets.push(WalletValue {
            wallet_type: row.wallet_type.clone(),
            currency: row.currency.clone(),
            balance: row.balance,
            available: row.available,
            unsettled_interest: row.unsettled_interest,
            price,
            value,
            price_route,
            paper: is_paper(&row.currency),
            unpriced,
        });
    }
    let (positions, positions_pl, positions_error) = match &holdings.positions {
        Ok(rows) => {
            let valued: Vec<PositionValue> = rows.iter().map(|p| prices.position(p)).collect();
            let mut pl = Sum::default();
            let mut known = true;
            for p in &valued {
                match (p.pl_value, &p.unpriced) {
                    (Some(v), _) => pl.add(v),
                    // Paper P/L is not money, like paper wallets.
                    (None, Some(Unpriced::Paper { .. })) => {}
                    (None, _) => known = false,
                }
            }
            (Some(valued), pl.total().filter(|_| known), None)
        }
        Err(error) => (None, None, Some(error.clone())),
    };
    AccountValue {
        name: account.name.clone(),
        wallets,
        total: account_total.total(),
        error: None,
        positions,
        positions_pl,
        positions_error,
    }
}

/// The portfolio of accounts valued by [`value_account`] (in `market`, in `valuation`): the
/// total, the positions' P/L, the per-asset sums and what was left out of them.
pub fn combine(accounts: Vec<AccountValue>, market: Option<&Market>, valuation: &Valuation) -> Portfolio {
    let mut assets: BTreeMap<&str, AssetSum> = BTreeMap::new();
    let (mut total, mut positions_pl) = (Sum::default(), Sum::default());
    // No account's positions read, or one P/L unknown: the positions' P/L is unknown, not 0.
    let (mut positions_read, mut positions_known) = (false, true);
    let mut complete = true;
    for account in &accounts {
        if account.error.is_some() {
            complete = false;
            continue;
        }
        for wallet in &account.wallets {
            let asset = assets.entry(&wallet.currency).or_default();
            asset.balance.add(wallet.balance);
            match wallet.value {
                Some(value) => {
                    asset.value.add(value);
                    asset.valued = true;
                    asset.price = wallet.price;
                }
                None => {
                    complete &= matches!(wallet.unpriced, Some(Unpriced::Paper { .. }));
                    asset.left_out.add(wallet.balance);
                    if let (None, Some(why)) = (&asset.reason, &wallet.unpriced) {
                        asset.reason = Some(why.clone());
                    }
                }
            }
        }
        if account.positions.is_some() {
            match account.positions_pl {
                Some(pl) => positions_pl.add(pl),
                None => positions_known = false,
            }
            positions_read = true;
        }
        match account.total {
            Some(value) => total.add(value),
            None => complete = false,
        }
    }
    // An account total too large makes the grand total unknown too; with no account read there is
    // no total at all (not 0).
    let read = accounts.iter().filter(|a| a.error.is_none()).count();
    let total =
        total.total().filter(|_| read > 0 && accounts.iter().all(|a| a.error.is_some() || a.total.is_some()));
    complete &= total.is_some();
    let (assets, unpriced) = split_assets(assets, total, market);
    let positions_pl = positions_pl.total().filter(|_| positions_read && positions_known);
    let net_total = total.zip(positions_pl).and_then(|(t, pl)| t.checked_add(pl));
    Portfolio {
        quote: valuation.quote.clone(),
        price: valuation.kind,
        accounts,
        assets,
        unpriced,
        total,
        positions_pl,
        net_total,
        complete,
    }
}

/// Prices through one [`Quoter`] (its routes found once), each currency's found once: made once
/// per market for every account valued in it.
#[derive(Debug)]
pub struct Pricer<'m> {
    quoter: Option<Quoter<'m>>,
    quote: String,
    include_paper: bool,
    cache: HashMap<String, Result<Price, Unpriced>>,
}

impl<'m> Pricer<'m> {
    pub fn new(market: Option<&'m Market>, valuation: &Valuation) -> Pricer<'m> {
        Pricer {
            quoter: market.map(|m| m.quoter(&valuation.quote, valuation.kind)),
            quote: valuation.quote.clone(),
            include_paper: valuation.include_paper,
            cache: HashMap::new(),
        }
    }

    fn price(&mut self, currency: &str) -> Result<Price, Unpriced> {
        if let Some(found) = self.cache.get(currency) {
            return found.clone();
        }
        let found = match &self.quoter {
            Some(quoter) => quoter.price(currency, self.include_paper),
            // The quote itself is worth 1 of itself, prices or not.
            None if currency == self.quote => {
                Ok(Price { value: Decimal::ONE, route: Vec::new(), paper: false })
            }
            None => Err(Unpriced::NoPrices),
        };
        self.cache.insert(currency.to_owned(), found.clone());
        found
    }

    /// `amount × price`, or why there is none.
    fn value(&mut self, amount: Decimal, currency: &str) -> Result<(Price, Decimal), Unpriced> {
        let price = self.price(currency)?;
        let value = price.of(amount)?;
        Ok((price, value))
    }

    /// A position's P/L (in its pair's quote) valued in the portfolio's quote.
    fn position(&mut self, position: &Position) -> PositionValue {
        let pl_currency = parse_pair(&position.symbol).map(|(_, quote)| quote.to_owned());
        let valued = match (position.pl, &pl_currency) {
            (Some(pl), Some(currency)) => Some(self.value(pl, currency)),
            _ => None,
        };
        let (pl_value, unpriced) = match valued {
            Some(Ok((_, value))) => (Some(value), None),
            Some(Err(why)) => (None, Some(why)),
            None => (None, None),
        };
        PositionValue {
            symbol: position.symbol.clone(),
            status: position.status.clone(),
            amount: position.amount,
            base_price: position.base_price,
            pl: position.pl,
            pl_currency,
            pl_value,
            unpriced,
        }
    }
}

/// Assets by currency (largest value first, unpriced last, then by id), and what of each was
/// left out of the totals, with why.
fn split_assets(
    sums: BTreeMap<&str, AssetSum>,
    total: Option<Decimal>,
    market: Option<&Market>,
) -> (Vec<AssetValue>, Vec<UnpricedAsset>) {
    let mut assets = Vec::with_capacity(sums.len());
    let mut unpriced = Vec::new();
    for (currency, sum) in sums {
        let name = market.map_or(currency, |m| m.display_name(currency)).to_owned();
        if let Some(reason) = &sum.reason {
            let balance = sum.left_out.total();
            unpriced.push(UnpricedAsset { currency: currency.to_owned(), balance, reason: reason.clone() });
        }
        let value = sum.value.total().filter(|_| sum.valued);
        let unvalued = match (sum.valued, value) {
            (true, Some(_)) => None,
            (true, None) => Some(Unpriced::SumOverflow),
            (false, _) => sum.reason.clone(),
        };
        let share = value.zip(total.filter(|t| !t.is_zero())).and_then(|(v, t)| {
            v.checked_mul(Decimal::ONE_HUNDRED).and_then(|p| p.checked_div(t)).map(|p| p.round_dp(2))
        });
        assets.push(AssetValue {
            currency: currency.to_owned(),
            name,
            balance: sum.balance.total(),
            value,
            share,
            price: value.and(sum.price),
            unvalued,
        });
    }
    assets.sort_by(|a, b| b.value.is_some().cmp(&a.value.is_some()).then(b.value.cmp(&a.value)));
    (assets, unpriced)
}

fn amount<S: Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_decimal(*value))
}

fn opt_amount<S: Serializer>(value: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => amount(v, s),
        None => s.serialize_none(),
    }
}

fn display<T: std::fmt::Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

fn opt_display<T: std::fmt::Display, S: Serializer>(value: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(terms: &[&str]) -> Option<Decimal> {
        let mut sum = Sum::default();
        for term in terms {
            sum.add(term.parse().unwrap());
        }
        sum.total()
    }

    #[test]
    fn a_sum_that_fits_is_found_whatever_the_order() {
        let (big, minus) = ("50000000000000000000000000000", "-54000000000000000000000000000");
        let expected = "46000000000000000000000000000".parse().ok();
        assert_eq!(sum(&[big, big, minus]), expected, "a partial sum overflows, the result fits");
        assert_eq!(sum(&[big, minus, big]), expected);
        assert_eq!(sum(&[minus, big, big, "1.5", "-1.5"]), expected);
        assert_eq!(sum(&[big, big]), None, "1e29 does not fit");
        assert_eq!(sum(&[big, big, big, minus]), None);
        assert_eq!(sum(&["0.1", "0.2"]), "0.3".parse().ok());
        assert_eq!(sum(&[]), Some(Decimal::ZERO));
    }
}
