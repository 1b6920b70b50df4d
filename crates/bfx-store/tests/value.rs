//! The value over time (`bfx_store::value`) of a small ledger at hand-computed prices, on SQLite
//! and on PostgreSQL: each day's point is its end's balances at that day's closes, the change
//! breakdown adds up exactly, a pair with no candle on a day is no price that day (the currency
//! is listed unpriced, never counted as 0), and a quote other than USD goes through the graph.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::collections::BTreeMap;

use bfx_core::candle::DAY_MS;
use bfx_core::valuation::Market;
use bfx_core::{Candle, Ticker};
use bfx_store::value::{Change, NoChange, Step, ValuePoint, ValueQuery, pairs_for, value_series};
use bfx_store::{Covered, DayRange, Store, StoreError};
use common::{TestStore, dec, described};
use rust_decimal::Decimal;

/// 2025-01-01T00:00Z.
const D0: i64 = 1_735_689_600_000;
const H: i64 = 3_600_000;
/// Long after: every day of the test has ended.
const NOW: i64 = D0 + 100 * DAY_MS;

fn day(d: i64) -> i64 {
    D0 + d * DAY_MS
}

/// Account `a`: 1 BTC deposited on day 0, 5 USD of lending income on day 1, a 1 USD fee on day 2,
/// 0.5 BTC withdrawn on day 3. Account `b`: 10 OLD (a coin whose pair was delisted after day 1)
/// from day 0.
async fn ledger(store: &Store) {
    let a = [
        described(1, "exchange", "BTC", day(0) + 10 * H, "1", "1", "Deposit (BITCOIN) #1"),
        described(2, "funding", "USD", day(1) + 12 * H, "5", "5", "Margin Funding Payment"),
        described(3, "funding", "USD", day(2) + 12 * H, "-1", "4", "Crypto Withdrawal fee"),
        described(4, "exchange", "BTC", day(3) + 9 * H, "-0.5", "0.5", "Bitcoin Withdrawal #4"),
    ];
    let b = [described(5, "exchange", "OLD", day(0) + H, "10", "10", "Deposit (OLDCOIN) #5")];
    for (account, entries) in [("a", &a[..]), ("b", &b[..])] {
        let lock = store.lock_account(account).await.unwrap();
        store.store_page(&lock, entries, Covered { from_mts: 0, to_mts: day(10) }).await.unwrap();
    }
}

/// Daily candles: `closes[d]` for day d (`None`: no candle that day).
async fn candles(store: &Store, pair: &str, closes: &[Option<&str>]) {
    let candles: Vec<Candle> = closes
        .iter()
        .enumerate()
        .filter_map(|(d, close)| {
            let close = dec((*close)?);
            let mts = day(i64::try_from(d).unwrap());
            Some(Candle { mts, open: close, close, high: close, low: close, volume: Decimal::ONE })
        })
        .collect();
    let last = i64::try_from(closes.len()).unwrap() - 1;
    store.store_candles(pair, &candles, DayRange { from_day: day(0), to_day: day(last) }).await.unwrap();
}

fn ticker(symbol: &str, last: &str) -> Ticker {
    let row = format!("[null,null,null,null,null,null,{last},null,null,null]");
    Ticker::Trading(bfx_core::parse_trading_ticker(symbol, row.as_bytes()).unwrap())
}

/// Today's market (the graph's pairs; its prices are not used for past days).
fn today() -> Market {
    Market::new(&[ticker("tBTCUSD", "1000"), ticker("tEURUSD", "1")], &[])
}

fn query(accounts: &[&str], quote: &str) -> ValueQuery {
    ValueQuery {
        accounts: accounts.iter().map(|a| (*a).to_owned()).collect(),
        from_mts: day(0),
        to_mts: day(3) + DAY_MS - 1,
        step: Step::Day,
        quote: quote.into(),
    }
}

async fn closes(store: &Store) -> BTreeMap<String, BTreeMap<i64, Decimal>> {
    let pairs = ["tBTCUSD", "tEURUSD", "tOLDUSD"].map(String::from);
    store.closes(&pairs, day(0), day(3)).await.unwrap()
}

async fn setup(store: &Store) {
    ledger(store).await;
    candles(store, "tBTCUSD", &[Some("100"), Some("110"), Some("120"), Some("130")]).await;
    candles(store, "tEURUSD", &[Some("2"), Some("2"), Some("2.5"), Some("2.5")]).await;
    candles(store, "tOLDUSD", &[Some("3"), Some("4"), None, None]).await;
}

fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, Decimal> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), dec(v))).collect()
}

async fn each_day_is_its_end_at_its_closes_and_the_change_adds_up(t: TestStore) {
    setup(&t.store).await;
    let series =
        value_series(&t.store, &today(), &closes(&t.store).await, &query(&["a"], "USD"), NOW).await.unwrap();
    let totals: Vec<Decimal> = series.points.iter().map(|p| p.total).collect();
    // 1×100; 1×110 + 5; 1×120 + 4; 0.5×130 + 4.
    assert_eq!(totals, ["100", "115", "124", "69"].map(dec));
    assert_eq!(
        series.points.iter().map(|p| p.mts).collect::<Vec<_>>(),
        (0..4).map(|d| day(d) + DAY_MS - 1).collect::<Vec<_>>()
    );
    assert_eq!(series.points[2].assets, values(&[("BTC", "120"), ("USD", "4")]));
    assert_eq!(series.points[2].accounts, values(&[("a", "124")]));
    // After day 0's point: +5 earned, −1 fee, −0.5 BTC withdrawn at day 3's 130 = −65; the market
    // the rest: 69 − 100 + 65 − 5 + 1 = 30 (the BTC held rose from 100 to 130).
    let change = series.change.unwrap();
    assert_eq!(
        change,
        Change {
            start_value: dec("100"),
            end_value: dec("69"),
            flows: dec("-65"),
            earnings: dec("5"),
            fees: dec("-1"),
            market: dec("30"),
        }
    );
    assert_eq!(
        change.flows + change.earnings + change.fees + change.market,
        change.end_value - change.start_value
    );
    // The deposit on day 0 is before the first point; the withdrawal is day 3's, at its price.
    let flows = |p: &ValuePoint| (p.deposits, p.withdrawals);
    let zero = Decimal::ZERO;
    let expected = [(zero, zero), (zero, zero), (zero, zero), (zero, dec("-65"))];
    assert_eq!(series.points.iter().map(flows).collect::<Vec<_>>(), expected);
}
both!(
    each_day_is_its_end_at_its_closes_and_the_change_adds_up,
    each_day_is_its_end_at_its_closes_and_the_change_adds_up
);

async fn a_delisted_pair_leaves_its_coin_unpriced_never_zero(t: TestStore) {
    setup(&t.store).await;
    let series = value_series(&t.store, &today(), &closes(&t.store).await, &query(&["a", "b"], "USD"), NOW)
        .await
        .unwrap();
    // OLD is priced on days 0 and 1 (10×3, 10×4), not after: listed, left out.
    assert_eq!(series.points[0].accounts, values(&[("a", "100"), ("b", "30")]));
    assert_eq!(series.points[1].total, dec("155"));
    assert_eq!(series.points[2].unpriced, ["OLD"]);
    assert_eq!(series.points[2].accounts, values(&[("a", "124")]), "b holds only OLD: no value, not 0");
    assert_eq!(series.points[2].total, dec("124"));
    assert_eq!(series.change, Err(NoChange::UnpricedEnd { currency: "OLD".into() }));
    // No breakdown, but the flows to mark are still there.
    assert_eq!(series.points[3].withdrawals, dec("-65"));
}
both!(
    a_delisted_pair_leaves_its_coin_unpriced_never_zero,
    a_delisted_pair_leaves_its_coin_unpriced_never_zero
);

async fn a_corrupt_stored_amount_is_named_not_valued(t: TestStore) {
    setup(&t.store).await;
    let pool = t.raw_pool().await;
    let bad = if t.is_sqlite() { "'1e3'" } else { "'NaN'" };
    sqlx::query(&format!("UPDATE ledger SET amount = {bad} WHERE id = 3")).execute(&pool).await.unwrap();
    pool.close().await;
    let err = value_series(&t.store, &today(), &closes(&t.store).await, &query(&["a"], "USD"), NOW)
        .await
        .unwrap_err();
    match err {
        StoreError::Corrupt { account, id, column, .. } => {
            assert_eq!((account.as_str(), id, column), ("a", 3, "amount"))
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}
both!(a_corrupt_stored_amount_is_named_not_valued, a_corrupt_stored_amount_is_named_not_valued);

async fn another_quote_goes_through_the_graph(t: TestStore) {
    setup(&t.store).await;
    let pairs = pairs_for(&today(), &["BTC".to_owned(), "USD".to_owned()], "EUR");
    // Today's routes (tBTCUSD, tEURUSD) and each currency's direct pair to EUR, listed today or
    // not (a pair that never traded costs one request, answered with no candles, once).
    assert_eq!(pairs, ["tBTCEUR", "tBTCUSD", "tEURUSD", "tUSDEUR"]);
    let series =
        value_series(&t.store, &today(), &closes(&t.store).await, &query(&["a"], "EUR"), NOW).await.unwrap();
    let totals: Vec<Decimal> = series.points.iter().map(|p| p.total).collect();
    // USD totals over the day's EUR price: 100/2, 115/2, 124/2.5, 69/2.5.
    assert_eq!(totals, ["50", "57.5", "49.6", "27.6"].map(dec));
    let change = series.change.unwrap();
    assert_eq!(
        change.flows + change.earnings + change.fees + change.market,
        change.end_value - change.start_value
    );
    // −0.5 BTC at 130 USD, 2.5 USD a EUR.
    assert_eq!(change.flows, dec("-26"));
}
both!(another_quote_goes_through_the_graph, another_quote_goes_through_the_graph);

async fn weeks_and_months_end_their_steps(t: TestStore) {
    setup(&t.store).await;
    // 2025-01-01 is a Wednesday: Sunday the 5th ends the first week; the range ends on the 10th.
    let q = ValueQuery { to_mts: day(9) + DAY_MS - 1, step: Step::Week, ..query(&["a"], "USD") };
    let series = value_series(&t.store, &today(), &closes(&t.store).await, &q, NOW).await.unwrap();
    assert_eq!(
        series.points.iter().map(|p| p.mts).collect::<Vec<_>>(),
        [day(4) + DAY_MS - 1, day(9) + DAY_MS - 1]
    );
    // No candles after day 3: BTC is unpriced then, and said so.
    assert_eq!(series.points[0].unpriced, ["BTC"]);
}
both!(weeks_and_months_end_their_steps, weeks_and_months_end_their_steps);
