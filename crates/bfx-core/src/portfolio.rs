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

use ethnum::{I256, U256};
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

/// Decimal scales: 0 to 28 digits after the point.
const SCALES: usize = 29;
/// Terms a [`Sum`] holds exactly: each mantissa is under 2^96, so 2^31 of them fit an `i128`.
const MAX_TERMS: u64 = 1 << 31;

/// An exact sum of decimals, the same whatever the order of its terms, and terms can be taken out
/// again ([`Sum::sub`]): each term's mantissa goes into the sum of its scale (an `i128`), and the
/// scales are put together only in [`Sum::total`], rounded once (half to even) should the exact
/// sum have more digits than a `Decimal` holds. Adding `Decimal`s one by one rounds on the way
/// whenever a partial sum has more, and overflows whenever a partial sum is too large although
/// the whole may fit (5e28 + 5e28 − 5.4e28): this does neither.
#[derive(Debug, Clone, Default)]
struct Sum {
    /// Per scale, the sum of its terms' mantissas (wrapping: exact while `terms` ≤ [`MAX_TERMS`],
    /// as any partial sum of more terms, taken out again, wraps back).
    mantissas: [i128; SCALES],
    /// Terms added and not taken out.
    terms: u64,
}

impl Sum {
    fn add(&mut self, term: Decimal) {
        self.put(term.mantissa(), term.scale());
        self.terms = self.terms.saturating_add(1);
    }

    /// Takes out a term added before.
    fn sub(&mut self, term: Decimal) {
        self.put(term.mantissa().wrapping_neg(), term.scale());
        self.terms = self.terms.saturating_sub(1);
    }

    fn put(&mut self, mantissa: i128, scale: u32) {
        // A `Decimal`'s scale is at most 28: the slot is there.
        if let Some(sum) = usize::try_from(scale).ok().and_then(|s| self.mantissas.get_mut(s)) {
            *sum = sum.wrapping_add(mantissa);
        }
    }

    /// The sum, at the largest scale among its terms' (those not cancelled out), rounded half to
    /// even to fit a `Decimal`; `None` when its integer part does not fit one (±7.9e28).
    fn total(&self) -> Option<Decimal> {
        if self.terms > MAX_TERMS {
            return None;
        }
        let Some(scale) = self.mantissas.iter().rposition(|m| *m != 0) else {
            return Some(Decimal::ZERO);
        };
        let terms = self.mantissas.iter().take(scale + 1).rev().zip(0u32..);
        // Usually the whole fits an `i128` and a `Decimal` as it is.
        let narrow = terms
            .clone()
            .try_fold(0i128, |sum, (m, shift)| sum.checked_add(m.checked_mul(10i128.checked_pow(shift)?)?));
        let scale = u32::try_from(scale).ok()?;
        if let Some(exact) = narrow
            && let Ok(sum) = Decimal::try_from_i128_with_scale(exact, scale)
        {
            return Some(sum);
        }
        // 29 terms of under 2^127 times at most 10^28 (under 2^94): under 2^226.
        let exact =
            terms.fold(I256::ZERO, |sum, (m, shift)| sum + I256::from(*m) * I256::from(10u8).pow(shift));
        rounded(exact, scale)
    }
}

/// `exact × 10^-scale` as a `Decimal`: as few digits dropped as make its mantissa fit 96 bits,
/// rounded half to even; `None` when even its integer part does not fit.
fn rounded(exact: I256, scale: u32) -> Option<Decimal> {
    let magnitude = exact.unsigned_abs();
    let limit = U256::ONE << 96u32;
    (0..=scale).find_map(|dropped| {
        let unit = U256::from(10u8).pow(dropped);
        let (mut mantissa, rest) = magnitude.div_rem(unit);
        let half = unit / 2;
        if dropped > 0 && (rest > half || (rest == half && mantissa % 2 == 1)) {
            mantissa += 1;
        }
        let mantissa = i128::try_from(mantissa).ok().filter(|_| mantissa < limit)?;
        let signed = if exact < 0 { -mantissa } else { mantissa };
        Decimal::try_from_i128_with_scale(signed, scale - dropped).ok()
    })
}

/// Per currency: summed balance; summed value of the wallets that could be valued; the balance
/// of those that could not, and why; unit price.
#[derive(Debug, Clone, Default)]
struct AssetSum {
    balance: Sum,
    value: Sum,
    /// Wallets valued.
    valued: usize,
    left_out: Sum,
    /// Wallets not valued.
    unvalued: usize,
    /// While there are: why the first of them was not valued. Every one shares it in one market
    /// but for [`Unpriced::Overflow`], which names each one's amount.
    reason: Option<Unpriced>,
    /// The price of one unit, the same in every wallet of the currency in one market.
    price: Option<Decimal>,
}

/// Whether an account goes into [`Totals`] or comes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Add,
    Remove,
}

impl Change {
    fn count(self, count: &mut usize, when: bool) {
        if when {
            *count = match self {
                Change::Add => count.saturating_add(1),
                Change::Remove => count.saturating_sub(1),
            };
        }
    }

    fn sum(self, sum: &mut Sum, term: Decimal) {
        match self {
            Change::Add => sum.add(term),
            Change::Remove => sum.sub(term),
        }
    }
}

/// The sums over accounts valued by [`value_account`] that make a [`Portfolio`]: the total, the
/// positions' P/L, the per-asset sums, what was left out of them. Every sum is exact and
/// independent of order, so a caller that values accounts again as they change keeps one and
/// takes each changed account's old value out ([`Totals::remove`]) and puts its new one in
/// ([`Totals::add`]): the totals are then those of its accounts added from scratch. Every account
/// in one `Totals` is valued in one market (new prices: new `Totals`).
#[derive(Debug, Clone, Default)]
pub struct Totals {
    assets: BTreeMap<String, AssetSum>,
    total: Sum,
    positions_pl: Sum,
    /// Accounts read, and not.
    read: usize,
    failed: usize,
    /// Accounts read whose total does not fit a `Decimal`.
    no_total: usize,
    /// Wallets left out of the totals that are not paper ones.
    unvalued: usize,
    /// Accounts whose positions were read, and those of them with a P/L unknown.
    positions_read: usize,
    positions_unknown: usize,
}

impl Totals {
    /// The totals of `accounts`.
    pub fn of(accounts: &[AccountValue]) -> Totals {
        let mut totals = Totals::default();
        for account in accounts {
            totals.add(account);
        }
        totals
    }

    pub fn add(&mut self, account: &AccountValue) {
        self.change(account, Change::Add);
    }

    /// Takes out an account added before (the very value added).
    pub fn remove(&mut self, account: &AccountValue) {
        self.change(account, Change::Remove);
    }

    fn change(&mut self, account: &AccountValue, change: Change) {
        if account.error.is_some() {
            change.count(&mut self.failed, true);
            return;
        }
        change.count(&mut self.read, true);
        for wallet in &account.wallets {
            let asset = match self.assets.get_mut(&wallet.currency) {
                Some(asset) => asset,
                None => self.assets.entry(wallet.currency.clone()).or_default(),
            };
            change.sum(&mut asset.balance, wallet.balance);
            match wallet.value {
                Some(value) => {
                    change.sum(&mut asset.value, value);
                    change.count(&mut asset.valued, true);
                    asset.price = wallet.price;
                }
                None => {
                    if change == Change::Add && asset.unvalued == 0 {
                        asset.reason = wallet.unpriced.clone();
                    }
                    change.sum(&mut asset.left_out, wallet.balance);
                    change.count(&mut asset.unvalued, true);
                    let paper = matches!(wallet.unpriced, Some(Unpriced::Paper { .. }));
                    change.count(&mut self.unvalued, !paper);
                }
            }
            if asset.valued == 0 && asset.unvalued == 0 {
                self.assets.remove(&wallet.currency);
            }
        }
        if account.positions.is_some() {
            change.count(&mut self.positions_read, true);
            match account.positions_pl {
                Some(pl) => change.sum(&mut self.positions_pl, pl),
                None => change.count(&mut self.positions_unknown, true),
            }
        }
        match account.total {
            Some(value) => change.sum(&mut self.total, value),
            None => change.count(&mut self.no_total, true),
        }
    }

    /// The portfolio of `accounts`, which are the accounts these totals are of (in their order:
    /// the reason an overflowing wallet gives is the first one's), valued in `market` and
    /// `valuation`.
    pub fn portfolio(
        &self,
        accounts: Vec<AccountValue>,
        market: Option<&Market>,
        valuation: &Valuation,
    ) -> Portfolio {
        // An account total too large makes the grand total unknown too; with no account read
        // there is no total at all (not 0).
        let total = self.total.total().filter(|_| self.read > 0 && self.no_total == 0);
        let complete = self.failed == 0 && self.unvalued == 0 && total.is_some();
        let (assets, unpriced) = self.split_assets(&accounts, total, market);
        // No account's positions read, or one P/L unknown: the positions' P/L is unknown, not 0.
        let positions_pl =
            self.positions_pl.total().filter(|_| self.positions_read > 0 && self.positions_unknown == 0);
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

    /// Assets by currency (largest value first, unpriced last, then by id), and what of each was
    /// left out of the totals, with why.
    fn split_assets(
        &self,
        accounts: &[AccountValue],
        total: Option<Decimal>,
        market: Option<&Market>,
    ) -> (Vec<AssetValue>, Vec<UnpricedAsset>) {
        let mut assets = Vec::with_capacity(self.assets.len());
        let mut unpriced = Vec::new();
        for (currency, sum) in &self.assets {
            let name = market.map_or(currency.as_str(), |m| m.display_name(currency)).to_owned();
            let reason = match &sum.reason {
                _ if sum.unvalued == 0 => None,
                Some(Unpriced::Overflow { .. }) => first_overflow(accounts, currency),
                reason => reason.clone(),
            };
            if let Some(reason) = &reason {
                let balance = sum.left_out.total();
                unpriced.push(UnpricedAsset { currency: currency.clone(), balance, reason: reason.clone() });
            }
            let valued = sum.valued > 0;
            let value = sum.value.total().filter(|_| valued);
            let unvalued = match (valued, value) {
                (true, Some(_)) => None,
                (true, None) => Some(Unpriced::SumOverflow),
                (false, _) => reason,
            };
            let share = value.zip(total.filter(|t| !t.is_zero())).and_then(|(v, t)| {
                v.checked_mul(Decimal::ONE_HUNDRED).and_then(|p| p.checked_div(t)).map(|p| p.round_dp(2))
            });
            assets.push(AssetValue {
                currency: currency.clone(),
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
}

/// Why the first of `currency`'s wallets not valued (in account order) was not.
fn first_overflow(accounts: &[AccountValue], currency: &str) -> Option<Unpriced> {
    accounts
        .iter()
        .filter(|a| a.error.is_none())
        .flat_map(|a| &a.wallets)
        .find(|w| w.currency == currency && w.value.is_none())
        .and_then(|w| w.unpriced.clone())
}

/// Values every account's holdings in `valuation.quote`. `market` is `None` when no prices could
/// be had: then nothing is valued ([`Unpriced::NoPrices`]) and the totals are not the portfolio's.
///
/// The composition of [`value_account`] (each account, through one [`Pricer`]) and [`Totals`]
/// (the sums): a caller that keeps accounts' values across changes uses the same two steps.
pub fn value(accounts: &[AccountInput], market: Option<&Market>, valuation: &Valuation) -> Portfolio {
    let mut pricer = Pricer::new(market, valuation);
    let values: Vec<AccountValue> =
        accounts.iter().map(|account| value_account(account, &mut pricer)).collect();
    Totals::of(&values).portfolio(values, market, valuation)
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

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn a_sum_is_exact_and_rounded_once() {
        let tiny = "0.0000000000000000000000000001";
        assert_eq!(sum(&[tiny, "10", "-10"]), Some(dec(tiny)), "nothing rounded on the way");
        // 10 + 15e-28 has 30 digits, one more than a decimal holds: rounded half to even.
        assert_eq!(
            sum(&["10", "0.0000000000000000000000000015"]),
            Some(dec("10.000000000000000000000000002"))
        );
        assert_eq!(
            sum(&["10", "0.0000000000000000000000000025"]),
            Some(dec("10.000000000000000000000000002"))
        );
        assert_eq!(
            sum(&["10", "0.0000000000000000000000000026"]),
            Some(dec("10.000000000000000000000000003"))
        );
        assert_eq!(
            sum(&["-10", "-0.0000000000000000000000000015"]),
            Some(dec("-10.000000000000000000000000002"))
        );
        // Three digits dropped at once (…1|460 → …1); one at a time would round 6 up, then the
        // 5 to even: …2.
        assert_eq!(
            sum(&["1000", "0.000000000000000000000000146"]),
            Some(dec("1000.0000000000000000000000001"))
        );
        // Wider than an `i128` on the way (the largest decimal at scale 28).
        let max = "79228162514264337593543950335";
        assert_eq!(sum(&[max, tiny]), Some(Decimal::MAX));
        assert_eq!(sum(&[max, "0.4"]), Some(Decimal::MAX));
        assert_eq!(sum(&[max, "0.5"]), None, "rounds up to 2^96: does not fit");
        assert_eq!(sum(&["-79228162514264337593543950335", "-0.5"]), None);
        assert_eq!(sum(&[max, max, "-79228162514264337593543950335", tiny]), Some(Decimal::MAX));
    }

    #[test]
    fn terms_taken_out_leave_the_sum_of_the_others() {
        let terms = ["1.5", "-0.25", "50000000000000000000000000000", "0.0000000000000000000000000001"];
        let mut sum = Sum::default();
        for term in terms {
            sum.add(dec(term));
        }
        sum.sub(dec(terms[2]));
        sum.sub(dec(terms[0]));
        assert_eq!(sum.total(), Some(dec("-0.2499999999999999999999999999")));
        sum.sub(dec(terms[1]));
        sum.sub(dec(terms[3]));
        assert_eq!(sum.total(), Some(Decimal::ZERO));
        assert_eq!(sum.terms, 0);
    }

    proptest::proptest! {
        /// Within a decimal's digits, the sum is the exact one (that of adding one by one, which
        /// rounds nothing there), whatever the order, and terms added and taken out again
        /// change nothing.
        #[test]
        fn sums_are_exact_whatever_the_order_and_what_came_and_went(
            terms in proptest::collection::vec((-999_999_999i64..=999_999_999, 0u32..=17), 0..12),
            gone in proptest::collection::vec((proptest::num::i64::ANY, 0u32..=28), 0..6),
            seed in proptest::num::usize::ANY,
        ) {
            let terms: Vec<Decimal> = terms.into_iter().map(|(m, s)| Decimal::new(m, s)).collect();
            let expected = terms.iter().try_fold(Decimal::ZERO, |acc, t| acc.checked_add(*t)).unwrap();
            let mut sum = Sum::default();
            let gone: Vec<Decimal> = gone.into_iter().map(|(m, s)| Decimal::new(m, s)).collect();
            for term in &gone {
                sum.add(*term);
            }
            // Another order: rotated by the seed, every other one first.
            let mut order: Vec<&Decimal> = terms.iter().collect();
            let by = seed % order.len().max(1);
            order.rotate_left(by);
            let (even, odd): (Vec<_>, Vec<_>) = order.iter().enumerate().partition(|(i, _)| i % 2 == 0);
            for (_, term) in even.into_iter().chain(odd) {
                sum.add(**term);
            }
            for term in gone.iter().rev() {
                sum.sub(*term);
            }
            proptest::prop_assert_eq!(sum.total(), Some(expected));
        }
    }
}
