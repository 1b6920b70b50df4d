//! The portfolio's value over time (`bfx history value`): at the end (UTC) of each day, week or
//! month, every stored balance (the ledger's balance after the last entry up to then) valued at
//! that day's closes through the same price graph as today's valuation
//! ([`Market::with_closes`]); the current day at today's market. Unpriced currencies are listed,
//! never counted as 0.
//!
//! And the change between the first and the last point, split into what came in or went out
//! (deposits − withdrawals), what was earned, what was paid in fees, each entry valued at its
//! own day's prices, and the rest, the market: so the four add up to the change exactly, by
//! construction. When a part cannot be valued (an unpriced currency at either end, or an entry
//! in one), there is no breakdown rather than a wrong one.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bfx_core::candle::{DAY_MS, day_start};
use bfx_core::ledger::{Category, Group};
use bfx_core::valuation::{Market, Price, PriceKind, Unpriced, is_paper, pair_symbol};
use futures_util::TryStreamExt;
use futures_util::stream::BoxStream;
use rust_decimal::Decimal;

use crate::bulk::{self, Param};
use crate::error::StoreError;
use crate::read::{category, decimal};
use crate::store::Store;

/// How far apart the points are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Day,
    /// Weeks end on Sunday (ISO weeks).
    Week,
    Month,
}

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Step::Day => "day",
            Step::Week => "week",
            Step::Month => "month",
        }
    }
}

/// What to value.
#[derive(Debug, Clone)]
pub struct ValueQuery {
    pub accounts: Vec<String>,
    /// The first point is the end of this millisecond's day.
    pub from_mts: i64,
    /// The last point is this millisecond (or the end of its day, when earlier).
    pub to_mts: i64,
    pub step: Step,
    pub quote: String,
}

/// The value at one point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValuePoint {
    /// The point's moment (inclusive): the last millisecond of its day, or the range's end.
    pub mts: i64,
    /// The priced assets' sum.
    pub total: Decimal,
    /// Per account, its priced assets' sum (accounts holding nothing are left out).
    pub accounts: BTreeMap<String, Decimal>,
    /// Per currency, across accounts.
    pub assets: BTreeMap<String, Decimal>,
    /// Currencies held then that could not be priced that day (left out of every sum).
    pub unpriced: Vec<String>,
    /// The deposits (and cancelled withdrawals) since the previous point up to this one, each
    /// at its day's prices (zero at the first point: what came before it is not in the range).
    /// A coin's flows count here on every day it is priced, also when the change leaves it out
    /// (unpriced at both ends), so the points' flows may differ from the change's by such coins.
    pub deposits: Decimal,
    /// The withdrawals (negative) over the same time, likewise.
    pub withdrawals: Decimal,
}

/// The change from the first point to the last, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub start_value: Decimal,
    pub end_value: Decimal,
    /// Deposits − withdrawals (and their cancellations), each at its day's price.
    pub flows: Decimal,
    /// Lending and staking income, rebates.
    pub earnings: Decimal,
    /// Fees paid (negative).
    pub fees: Decimal,
    /// The rest: `end − start − flows − earnings − fees`.
    pub market: Decimal,
}

/// Why there is no breakdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoChange {
    /// Fewer than two points.
    OnePoint,
    /// A currency is unpriced at the first or the last point but not at both (one unpriced at
    /// both is left out of the change, its entries too).
    UnpricedEnd { currency: String },
    /// An entry between them could not be valued on its day.
    UnpricedEntry { account: String, id: i64, currency: String },
    /// A sum does not fit a decimal.
    Overflow,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueSeries {
    pub quote: String,
    pub step: Step,
    pub points: Vec<ValuePoint>,
    pub change: Result<Change, NoChange>,
}

/// The pairs whose daily closes price `currencies` in `quote`: each one's route in today's
/// `market`, and its direct pair to the quote (which may be gone today but priced it then).
pub fn pairs_for(market: &Market, currencies: &[String], quote: &str) -> Vec<String> {
    let quoter = market.quoter(quote, PriceKind::Last);
    let mut pairs = BTreeSet::new();
    for currency in currencies.iter().filter(|c| c.as_str() != quote) {
        if let Ok(price) = quoter.price(currency, false) {
            pairs.extend(price.route);
        }
        pairs.insert(pair_symbol(currency, quote));
    }
    pairs.into_iter().collect()
}

/// The points' moments: the end of each day (week, month) from `from_mts`'s, the last one
/// `to_mts` itself.
pub fn point_ends(from_mts: i64, to_mts: i64, step: Step) -> Vec<i64> {
    let mut ends = Vec::new();
    let mut day = day_start(from_mts);
    while day <= to_mts {
        let end = day.saturating_add(DAY_MS - 1);
        if end >= to_mts {
            break;
        }
        if ends_a_step(day, step) {
            ends.push(end);
        }
        day = day.saturating_add(DAY_MS);
    }
    ends.push(to_mts);
    ends
}

/// `day` (its start) is the last of its week (Sunday) or month.
fn ends_a_step(day: i64, step: Step) -> bool {
    let Ok(date) = jiff::Timestamp::from_millisecond(day).map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date())
    else {
        return false;
    };
    match step {
        Step::Day => true,
        Step::Week => date.weekday() == jiff::civil::Weekday::Sunday,
        Step::Month => date.day() == date.days_in_month(),
    }
}

/// Values the stored balances of `query.accounts` (empty: every account in the store) at each
/// point. `closes` are the daily closes by pair (as [`Store::closes`] returns them); `today` is
/// today's market (for its derivative map, its names, and the current day's prices); `now_ms`
/// says which day is today.
///
/// One pass per account: its balances at the first point, then its entries after it in time
/// order, each point valued when the entries up to it are applied; so the cost is the entries
/// plus points × wallets, never a query per point.
pub async fn value_series(
    store: &Store,
    today: &Market,
    closes: &BTreeMap<String, BTreeMap<i64, Decimal>>,
    query: &ValueQuery,
    now_ms: i64,
) -> Result<ValueSeries, StoreError> {
    let accounts = match query.accounts.is_empty() {
        true => store.account_names().await?,
        false => query.accounts.clone(),
    };
    let currencies = store.currencies(&accounts).await?;
    let mut prices = DayPrices {
        today,
        closes,
        quote: &query.quote,
        currencies: &currencies,
        today_start: day_start(now_ms),
        days: HashMap::new(),
    };
    let ends = point_ends(query.from_mts, query.to_mts, query.step);
    let mut points: Vec<ValuePoint> = ends
        .iter()
        .map(|&mts| ValuePoint {
            mts,
            total: Decimal::ZERO,
            accounts: BTreeMap::new(),
            assets: BTreeMap::new(),
            unpriced: Vec::new(),
            deposits: Decimal::ZERO,
            withdrawals: Decimal::ZERO,
        })
        .collect();
    let mut unpriced = vec![BTreeSet::new(); points.len()];
    let mut parts = Parts::default();
    let (first, last) = (ends.first().copied().unwrap_or(query.to_mts), query.to_mts);
    for account in &accounts {
        // Each balance chain (wallet, currency) → its slot in `balances`; iterated in this
        // (the chains') order, so every sum is made in one order whatever was read first.
        let mut slots: BTreeMap<(String, String), usize> = BTreeMap::new();
        let mut balances: Vec<Decimal> = Vec::new();
        for b in store.balances_at(std::slice::from_ref(account), first).await? {
            slots.insert((b.wallet, b.currency), balances.len());
            balances.push(b.balance);
        }
        // By the read's chain number: its slot and currency.
        let mut read: Vec<(usize, String)> = Vec::new();
        let mut entries = chain_entries(store, account, first.saturating_add(1), last);
        let mut next = entries.try_next().await?;
        for (point, unpriced) in points.iter_mut().zip(&mut unpriced) {
            while let Some(mut entry) = next.take_if(|e| e.mts <= point.mts) {
                if let Some((wallet, currency)) = entry.new_chain.take() {
                    let slot = *slots.entry((wallet, currency.clone())).or_insert_with(|| {
                        balances.push(Decimal::ZERO);
                        balances.len() - 1
                    });
                    read.push((slot, currency));
                }
                let (slot, currency) = &read[entry.chain];
                balances[*slot] = entry.balance;
                if let Some(flow) = parts.add(&entry, currency, account, &mut prices) {
                    let side =
                        if flow.is_sign_negative() { &mut point.withdrawals } else { &mut point.deposits };
                    add(side, flow)?;
                }
                next = entries.try_next().await?;
            }
            let day = prices.on(day_start(point.mts));
            for ((_, currency), slot) in &slots {
                let balance = balances[*slot];
                // Paper-trading coins are not money: left out, as `bfx balances` leaves them out.
                if balance.is_zero() || is_paper(currency) {
                    continue;
                }
                match day.get(currency).map(|price| price.as_ref().map(|p| p.of(balance))) {
                    Some(Ok(Ok(value))) => {
                        add(point.accounts.entry(account.clone()).or_default(), value)?;
                        add(point.assets.entry(currency.clone()).or_default(), value)?;
                        add(&mut point.total, value)?;
                    }
                    _ => {
                        unpriced.insert(currency.clone());
                    }
                }
            }
        }
    }
    for (point, unpriced) in points.iter_mut().zip(unpriced) {
        point.unpriced = unpriced.into_iter().collect();
    }
    let change = parts.change(&points);
    Ok(ValueSeries { quote: query.quote.clone(), step: query.step, points, change })
}

/// An entry as the value over time reads it: the balance chain it sets, by number (in order of
/// first appearance, named at its first entry), and what it counts as.
struct ChainEntry {
    chain: usize,
    /// (wallet, currency) at the chain's first entry.
    new_chain: Option<(String, String)>,
    id: i64,
    mts: i64,
    amount: Decimal,
    balance: Decimal,
    category: Option<Category>,
}

/// `account`'s entries from `from_mts` to `to_mts` (inclusive) in time order, in batches: only
/// the columns the value needs, and each wallet and currency named once, not on every entry.
fn chain_entries(
    store: &Store,
    account: &str,
    from_mts: i64,
    to_mts: i64,
) -> BoxStream<'static, Result<ChainEntry, StoreError>> {
    let sql = "SELECT wallet, currency, id, mts, CAST(amount AS TEXT), CAST(balance AS TEXT), category
               FROM ledger WHERE account = $1 AND mts >= $2 AND mts <= $3 ORDER BY mts, id";
    let params = vec![Param::Text(account.to_owned()), Param::Int(from_mts), Param::Int(to_mts)];
    let account = account.to_owned();
    // Wallet → currency → chain number.
    let mut chains: HashMap<String, HashMap<String, usize>> = HashMap::new();
    let mut count = 0;
    let batches = bulk::read(store, sql.to_owned(), params, "reading ledger entries", move |row| {
        let (wallet, currency, id) = (row.text(0)?, row.text(1)?, row.int(2)?);
        let (chain, new_chain) = match chains.get(wallet).and_then(|c| c.get(currency)) {
            Some(chain) => (*chain, None),
            None => {
                chains.entry(wallet.to_owned()).or_default().insert(currency.to_owned(), count);
                count += 1;
                (count - 1, Some((wallet.to_owned(), currency.to_owned())))
            }
        };
        Ok(ChainEntry {
            chain,
            new_chain,
            id,
            mts: row.int(3)?,
            amount: decimal(row.text(4)?, &account, id, "amount")?,
            balance: decimal(row.text(5)?, &account, id, "balance")?,
            category: category(row.int_or_null(6)?, &account, id)?,
        })
    });
    bulk::rows(batches)
}

/// The entries after the first point, summed per group and currency at their days' prices.
#[derive(Default)]
struct Parts {
    /// Group → currency → value.
    sums: BTreeMap<Group, BTreeMap<String, Decimal>>,
    /// Per currency, the first entry that could not be valued on its day.
    unvalued: BTreeMap<String, (String, i64)>,
    overflow: bool,
}

impl Parts {
    /// Counts `entry` (of `account`, in `currency`) when it is a flow, an earning or a fee;
    /// returns a flow's value.
    fn add(
        &mut self,
        entry: &ChainEntry,
        currency: &str,
        account: &str,
        prices: &mut DayPrices<'_>,
    ) -> Option<Decimal> {
        let group = entry.category.map(|c| c.group())?;
        if !matches!(group, Group::Flow | Group::Earning | Group::Fee) || is_paper(currency) {
            return None;
        }
        let day = prices.on(day_start(entry.mts));
        let Some(Ok(Ok(value))) = day.get(currency).map(|price| price.as_ref().map(|p| p.of(entry.amount)))
        else {
            self.unvalued.entry(currency.to_owned()).or_insert((account.to_owned(), entry.id));
            return None;
        };
        let sums = self.sums.entry(group).or_default();
        let sum = match sums.get_mut(currency) {
            Some(sum) => sum,
            None => sums.entry(currency.to_owned()).or_default(),
        };
        match sum.checked_add(value) {
            Some(total) => *sum = total,
            None => self.overflow = true,
        }
        (group == Group::Flow).then_some(value)
    }

    /// The breakdown from the first point to the last (see [`NoChange`]).
    fn change(&self, points: &[ValuePoint]) -> Result<Change, NoChange> {
        let (Some(first), Some(last)) = (points.first(), points.last()) else {
            return Err(NoChange::OnePoint);
        };
        if points.len() < 2 {
            return Err(NoChange::OnePoint);
        }
        // A coin unpriced at both ends is left out of both, and so of the change (its entries
        // too); one priced at one end only would make its value appear or vanish as if the
        // market did it.
        let both = |c: &String| first.unpriced.contains(c) && last.unpriced.contains(c);
        if let Some(currency) = first.unpriced.iter().chain(&last.unpriced).find(|c| !both(c)) {
            return Err(NoChange::UnpricedEnd { currency: currency.clone() });
        }
        if let Some((currency, (account, id))) = self.unvalued.iter().find(|(c, _)| !both(c)) {
            return Err(NoChange::UnpricedEntry {
                account: account.clone(),
                id: *id,
                currency: currency.clone(),
            });
        }
        if self.overflow {
            return Err(NoChange::Overflow);
        }
        let sum = |group: Group| -> Option<Decimal> {
            let Some(sums) = self.sums.get(&group) else { return Some(Decimal::ZERO) };
            sums.iter()
                .filter(|(c, _)| !both(c))
                .try_fold(Decimal::ZERO, |total, (_, v)| total.checked_add(*v))
        };
        let (Some(flows), Some(earnings), Some(fees)) =
            (sum(Group::Flow), sum(Group::Earning), sum(Group::Fee))
        else {
            return Err(NoChange::Overflow);
        };
        let market = last
            .total
            .checked_sub(first.total)
            .and_then(|change| change.checked_sub(flows))
            .and_then(|rest| rest.checked_sub(earnings))
            .and_then(|rest| rest.checked_sub(fees))
            .ok_or(NoChange::Overflow)?;
        Ok(Change { start_value: first.total, end_value: last.total, flows, earnings, fees, market })
    }
}

fn add(sum: &mut Decimal, value: Decimal) -> Result<(), StoreError> {
    *sum = sum.checked_add(value).ok_or(StoreError::Overflow { what: "a value over time" })?;
    Ok(())
}

/// Each day's price of every currency, found once: through that day's closes, or today's
/// market from today on.
struct DayPrices<'a> {
    today: &'a Market,
    closes: &'a BTreeMap<String, BTreeMap<i64, Decimal>>,
    quote: &'a str,
    currencies: &'a [String],
    today_start: i64,
    days: HashMap<i64, HashMap<String, Result<Price, Unpriced>>>,
}

impl DayPrices<'_> {
    fn on(&mut self, day: i64) -> &HashMap<String, Result<Price, Unpriced>> {
        let day = day.min(self.today_start);
        let (today, closes, quote, currencies, today_start) =
            (self.today, self.closes, self.quote, self.currencies, self.today_start);
        self.days.entry(day).or_insert_with(|| {
            let built;
            let market = match day >= today_start {
                true => today,
                false => {
                    built = today.with_closes(
                        closes.iter().filter_map(|(pair, days)| Some((pair.clone(), *days.get(&day)?))),
                    );
                    &built
                }
            };
            let quoter = market.quoter(quote, PriceKind::Last);
            currencies.iter().map(|c| (c.clone(), quoter.price(c, false))).collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: i64 = DAY_MS;

    #[test]
    fn points_end_each_step_and_the_range() {
        // 2025-01-01 (a Wednesday) to 2025-01-03 12:00.
        let from = 1_735_689_600_000;
        let to = from + 2 * D + D / 2;
        assert_eq!(point_ends(from, to, Step::Day), [from + D - 1, from + 2 * D - 1, to]);
        // Sunday 2025-01-05 ends a week; the range end is the last point.
        let to = from + 10 * D;
        assert_eq!(point_ends(from, to, Step::Week), [from + 5 * D - 1, to]);
        // January's end, then the range end in February.
        let to = from + 40 * D;
        assert_eq!(point_ends(from, to, Step::Month), [from + 31 * D - 1, to]);
        // A range inside one day: one point.
        assert_eq!(point_ends(from + 5, from + 10, Step::Day), [from + 10]);
    }
}
