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
use bfx_core::ledger::Group;
use bfx_core::valuation::{Market, Price, PriceKind, Unpriced, is_paper, pair_symbol};
use futures_util::TryStreamExt;
use rust_decimal::Decimal;

use crate::error::StoreError;
use crate::model::{EntryQuery, Order};
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

/// A deposit or withdrawal between the first point and the last (a chart marks them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowEvent {
    pub mts: i64,
    pub account: String,
    pub currency: String,
    pub amount: Decimal,
    /// At its day's prices, as the change's `flows` counts it.
    pub value: Decimal,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueSeries {
    pub quote: String,
    pub step: Step,
    pub points: Vec<ValuePoint>,
    pub change: Result<Change, NoChange>,
    /// The deposits and withdrawals after the first point up to the last, oldest first, each
    /// valued at its day's prices; those that cannot be priced are left out (the change then
    /// says why it has no breakdown).
    pub flows: Vec<FlowEvent>,
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
        })
        .collect();
    let mut unpriced = vec![BTreeSet::new(); points.len()];
    let mut parts = Parts::default();
    let (first, last) = (ends.first().copied().unwrap_or(query.to_mts), query.to_mts);
    for account in &accounts {
        let mut held: BTreeMap<(String, String), Decimal> = store
            .balances_at(std::slice::from_ref(account), first)
            .await?
            .into_iter()
            .map(|b| ((b.wallet, b.currency), b.balance))
            .collect();
        let entries = EntryQuery {
            accounts: vec![account.clone()],
            from_mts: Some(first.saturating_add(1)),
            to_mts: Some(last),
            order: Order::Time,
        };
        let mut entries = store.entries(entries);
        let mut next = entries.try_next().await?;
        for (point, unpriced) in points.iter_mut().zip(&mut unpriced) {
            while let Some(stored) = next.take_if(|s| s.entry.mts <= point.mts) {
                let entry = &stored.entry;
                held.insert((entry.wallet.clone(), entry.currency.clone()), entry.balance);
                parts.add(&stored, &mut prices);
                next = entries.try_next().await?;
            }
            let day = prices.on(day_start(point.mts));
            for ((_, currency), balance) in held.iter().filter(|(_, b)| !b.is_zero()) {
                // Paper-trading coins are not money: left out, as `bfx balances` leaves them out.
                if is_paper(currency) {
                    continue;
                }
                match day.get(currency).map(|price| price.as_ref().map(|p| p.of(*balance))) {
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
    let mut flows = parts.events;
    flows.sort_by_key(|event| event.mts);
    Ok(ValueSeries { quote: query.quote.clone(), step: query.step, points, change, flows })
}

/// The entries after the first point, summed per group and currency at their days' prices.
#[derive(Default)]
struct Parts {
    /// (group, currency) → value.
    sums: BTreeMap<(Group, String), Decimal>,
    /// Per currency, the first entry that could not be valued on its day.
    unvalued: BTreeMap<String, (String, i64)>,
    overflow: bool,
    /// The flows valued, for a chart to mark.
    events: Vec<FlowEvent>,
}

impl Parts {
    fn add(&mut self, stored: &crate::model::StoredEntry, prices: &mut DayPrices<'_>) {
        let Some(group) = stored.category.map(|c| c.group()) else { return };
        let entry = &stored.entry;
        if !matches!(group, Group::Flow | Group::Earning | Group::Fee) || is_paper(&entry.currency) {
            return;
        }
        let day = prices.on(day_start(entry.mts));
        match day.get(&entry.currency).map(|price| price.as_ref().map(|p| p.of(entry.amount))) {
            Some(Ok(Ok(value))) => {
                if group == Group::Flow {
                    self.events.push(FlowEvent {
                        mts: entry.mts,
                        account: stored.account.clone(),
                        currency: entry.currency.clone(),
                        amount: entry.amount,
                        value,
                    });
                }
                let sum = self.sums.entry((group, entry.currency.clone())).or_default();
                match sum.checked_add(value) {
                    Some(total) => *sum = total,
                    None => self.overflow = true,
                }
            }
            _ => {
                self.unvalued.entry(entry.currency.clone()).or_insert((stored.account.clone(), entry.id));
            }
        }
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
            self.sums
                .iter()
                .filter(|((g, c), _)| *g == group && !both(c))
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
