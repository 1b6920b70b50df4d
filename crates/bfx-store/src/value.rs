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
use bfx_core::valuation::{Market, PriceKind, is_paper, pair_symbol};
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

/// Values the stored balances of `query.accounts` at each point. `closes` are the daily closes
/// by pair (as [`Store::closes`] returns them); `today` is today's market (for its derivative map,
/// its names, and the current day's prices); `now_ms` says which day is today.
pub async fn value_series(
    store: &Store,
    today: &Market,
    closes: &BTreeMap<String, BTreeMap<i64, Decimal>>,
    query: &ValueQuery,
    now_ms: i64,
) -> Result<ValueSeries, StoreError> {
    let mut markets = DayMarkets { today, closes, today_start: day_start(now_ms), built: HashMap::new() };
    let mut points = Vec::new();
    for mts in point_ends(query.from_mts, query.to_mts, query.step) {
        let balances = store.balances_at(&query.accounts, mts).await?;
        let market = markets.on(day_start(mts));
        let quoter = market.quoter(&query.quote, PriceKind::Last);
        let mut point = ValuePoint {
            mts,
            total: Decimal::ZERO,
            accounts: BTreeMap::new(),
            assets: BTreeMap::new(),
            unpriced: Vec::new(),
        };
        let mut unpriced = BTreeSet::new();
        // Paper-trading coins are not money: left out, as `bfx balances` leaves them out of totals.
        for balance in balances.iter().filter(|b| !b.balance.is_zero() && !is_paper(&b.currency)) {
            match quoter.value(balance.balance, &balance.currency, false) {
                Ok((_, value)) => {
                    add(point.accounts.entry(balance.account.clone()).or_default(), value)?;
                    add(point.assets.entry(balance.currency.clone()).or_default(), value)?;
                    add(&mut point.total, value)?;
                }
                Err(_) => {
                    unpriced.insert(balance.currency.clone());
                }
            }
        }
        point.unpriced = unpriced.into_iter().collect();
        points.push(point);
    }
    let (change, flows) = change(store, &mut markets, query, &points).await?;
    Ok(ValueSeries { quote: query.quote.clone(), step: query.step, points, change, flows })
}

/// The breakdown of the change from the first point to the last, and the flows between them.
async fn change(
    store: &Store,
    markets: &mut DayMarkets<'_>,
    query: &ValueQuery,
    points: &[ValuePoint],
) -> Result<(Result<Change, NoChange>, Vec<FlowEvent>), StoreError> {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return Ok((Err(NoChange::OnePoint), Vec::new()));
    };
    if points.len() < 2 {
        return Ok((Err(NoChange::OnePoint), Vec::new()));
    }
    // A coin unpriced at both ends is left out of both, and so of the change (its entries too);
    // one priced at one end only would make its value appear or vanish as if the market did it.
    let mut problem = first
        .unpriced
        .iter()
        .chain(&last.unpriced)
        .find(|c| !(first.unpriced.contains(c) && last.unpriced.contains(c)))
        .map(|currency| NoChange::UnpricedEnd { currency: currency.clone() });
    let (mut flows, mut earnings, mut fees) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    let mut events = Vec::new();
    let entries = EntryQuery {
        accounts: query.accounts.clone(),
        from_mts: Some(first.mts.saturating_add(1)),
        to_mts: Some(last.mts),
        order: Order::Time,
    };
    let mut entries = store.entries(entries);
    while let Some(stored) = entries.try_next().await? {
        let group = stored.category.map(|c| c.group());
        let sum = match group {
            Some(Group::Flow) => &mut flows,
            Some(Group::Earning) => &mut earnings,
            Some(Group::Fee) => &mut fees,
            _ => continue,
        };
        let entry = &stored.entry;
        if is_paper(&entry.currency) {
            continue;
        }
        let market = markets.on(day_start(entry.mts));
        let valued = market.quoter(&query.quote, PriceKind::Last).value(entry.amount, &entry.currency, false);
        if let (Some(Group::Flow), Ok((_, value))) = (group, &valued) {
            events.push(FlowEvent {
                mts: entry.mts,
                account: stored.account.clone(),
                currency: entry.currency.clone(),
                amount: entry.amount,
                value: *value,
            });
        }
        if problem.is_some() || first.unpriced.contains(&entry.currency) {
            continue;
        }
        match valued {
            Ok((_, value)) => match sum.checked_add(value) {
                Some(total) => *sum = total,
                None => problem = Some(NoChange::Overflow),
            },
            Err(_) => {
                problem = Some(NoChange::UnpricedEntry {
                    account: stored.account.clone(),
                    id: entry.id,
                    currency: entry.currency.clone(),
                });
            }
        }
    }
    if let Some(problem) = problem {
        return Ok((Err(problem), events));
    }
    let market = last
        .total
        .checked_sub(first.total)
        .and_then(|change| change.checked_sub(flows))
        .and_then(|rest| rest.checked_sub(earnings))
        .and_then(|rest| rest.checked_sub(fees));
    let change = match market {
        Some(market) => {
            Ok(Change { start_value: first.total, end_value: last.total, flows, earnings, fees, market })
        }
        None => Err(NoChange::Overflow),
    };
    Ok((change, events))
}

fn add(sum: &mut Decimal, value: Decimal) -> Result<(), StoreError> {
    *sum = sum.checked_add(value).ok_or(StoreError::Overflow { what: "a value over time" })?;
    Ok(())
}

/// Each day's market, built once: from that day's closes, or today's market from today on.
struct DayMarkets<'a> {
    today: &'a Market,
    closes: &'a BTreeMap<String, BTreeMap<i64, Decimal>>,
    today_start: i64,
    built: HashMap<i64, Market>,
}

impl DayMarkets<'_> {
    fn on(&mut self, day: i64) -> &Market {
        if day >= self.today_start {
            return self.today;
        }
        let (today, closes) = (self.today, self.closes);
        self.built.entry(day).or_insert_with(|| {
            today.with_closes(closes.iter().filter_map(|(pair, days)| Some((pair.clone(), *days.get(&day)?))))
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
