//! The candle cache and `sync_candles` from the in-process emulator into a real store, on SQLite
//! and on PostgreSQL: a first sync stores exactly the candles, a second sends no candle request
//! (the emulator's counters), a delisted pair's missing days are covered and not asked again,
//! paging, a range extended later (and today, never covered), a failed request keeping the pages
//! before it, and the cache's own checks.
//!
//! Budgets are lifted on both sides except in the one test of waits (paused time), so no test
//! depends on how long anything takes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::collections::BTreeMap;

use bfx_client::{Client, Endpoints, Error, RateLimits, RetryPolicy};
use bfx_core::Candle;
use bfx_core::candle::DAY_MS;
use bfx_store::candles::sync_candles_paged;
use bfx_store::{CandleProgress, CandleSyncError, DayRange, Store, StoreError, sync_candles};
use common::{TestStore, dec, sim_with};
use rust_decimal::Decimal;
use serde_json::Value;

/// 2025-01-01T00:00Z.
const D0: i64 = 1_735_689_600_000;

fn day(d: i64) -> i64 {
    D0 + d * DAY_MS
}

/// Long after every day of the state: all of them have ended.
const NOW: i64 = D0 + 100 * DAY_MS;

/// Day `d`'s close of a pair whose closes start at `base`: `base + d + 0.25`.
fn close(base: i64, d: i64) -> Decimal {
    dec(&format!("{}.25", base + d))
}

/// tBTCUSD days 0–9 but not day 4 (no trade); tETHUSD days 0–9; tOLD:USD days 0–2 (delisted).
fn state_text() -> String {
    let mut text = String::from("[limits]\nper_minute = { \"candles\" = 1000000 }\n");
    let pairs: [(&str, i64, &[i64]); 3] = [
        ("tBTCUSD", 90_000, &[0, 1, 2, 3, 5, 6, 7, 8, 9]),
        ("tETHUSD", 3_000, &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
        ("tOLD:USD", 10, &[0, 1, 2]),
    ];
    for (pair, base, days) in pairs {
        for d in days {
            text.push_str(&format!(
                "[[candle]]\npair = \"{pair}\"\nmts = {}\nopen = \"{}\"\nclose = \"{}\"\nhigh = \"{}.000000000000000001\"\nlow = \"{}\"\nvolume = \"1.5\"\n",
                day(*d),
                base + d,
                close(base, *d),
                base + d + 1,
                base + d - 1,
            ));
        }
    }
    text
}

fn pairs() -> Vec<String> {
    ["tBTCUSD", "tETHUSD", "tOLD:USD"].map(String::from).to_vec()
}

fn client(url: &str, attempts: u32) -> Client {
    Client::builder()
        .endpoints(Endpoints::single(url).unwrap())
        .in_memory_nonces()
        .rate_limits(RateLimits::bitfinex().with_limit("candles", 1_000_000))
        .retry_policy(RetryPolicy { max_attempts: attempts, ..RetryPolicy::default() })
        .build()
        .unwrap()
}

/// Candle requests the emulator has answered.
async fn candle_requests(url: &str) -> u64 {
    let body = reqwest::Client::new().get(format!("{url}/sim/counters")).send().await.unwrap();
    let counters: Value = serde_json::from_slice(&body.bytes().await.unwrap()).unwrap();
    counters["requests"]["candles"].as_u64().unwrap()
}

async fn fault(url: &str, order: &str) {
    let response =
        reqwest::Client::new().post(format!("{url}/sim/faults")).body(order.to_owned()).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

fn range(from: i64, to: i64) -> DayRange {
    DayRange { from_day: day(from), to_day: day(to) }
}

/// The stored closes of every test pair over days 0–99, as (pair, day number, close).
async fn stored_closes(store: &Store) -> BTreeMap<String, Vec<(i64, Decimal)>> {
    let closes = store.closes(&pairs(), day(0), day(99)).await.unwrap();
    closes
        .into_iter()
        .map(|(pair, days)| (pair, days.into_iter().map(|(mts, c)| ((mts - D0) / DAY_MS, c)).collect()))
        .collect()
}

fn expected_closes(through: i64) -> BTreeMap<String, Vec<(i64, Decimal)>> {
    let btc = [0, 1, 2, 3, 5, 6, 7, 8, 9].into_iter().filter(|d| *d <= through);
    BTreeMap::from([
        ("tBTCUSD".to_owned(), btc.map(|d| (d, close(90_000, d))).collect()),
        ("tETHUSD".to_owned(), (0..=9.min(through)).map(|d| (d, close(3_000, d))).collect()),
        ("tOLD:USD".to_owned(), (0..=2.min(through)).map(|d| (d, close(10, d))).collect()),
    ])
}

async fn first_sync_stores_exactly_and_a_second_asks_nothing(t: TestStore) {
    let sim = sim_with(&state_text()).await;
    let client = client(&sim.url, 4);
    let mut reports = Vec::new();
    let done = sync_candles(&client, &t.store, &pairs(), day(0), day(9), NOW, |p| reports.push(p.clone()))
        .await
        .unwrap();
    assert_eq!(candle_requests(&sim.url).await, 3, "one request per pair");
    assert_eq!(
        done,
        CandleProgress { pairs: 3, pairs_done: 3, pair: None, requests: 3, candles: 9 + 10 + 3, waits: 0 }
    );
    // After each request, then after each pair.
    let steps: Vec<(usize, u64, Option<&str>)> =
        reports.iter().map(|p| (p.pairs_done, p.requests, p.pair.as_deref())).collect();
    assert_eq!(
        steps,
        [
            (0, 1, Some("tBTCUSD")),
            (1, 1, None),
            (1, 2, Some("tETHUSD")),
            (2, 2, None),
            (2, 3, Some("tOLD:USD")),
            (3, 3, None)
        ]
    );
    assert_eq!(stored_closes(&t.store).await, expected_closes(9));
    // Exact, as sent.
    let closes = t.store.closes(&["tBTCUSD".into()], day(0), day(0)).await.unwrap();
    assert_eq!(closes["tBTCUSD"][&day(0)].to_string(), "90000.25");
    // Every pair is covered over the whole range, the delisted one and the missing day included.
    for pair in pairs() {
        assert_eq!(t.store.candle_coverage(&pair).await.unwrap(), [range(0, 9)], "{pair}");
        assert_eq!(t.store.candle_gaps(&pair, day(0), day(9)).await.unwrap(), [], "{pair}");
    }

    // Again, from another handle as another process would: not one candle request.
    let again = t.reopen().await;
    let done = sync_candles(&client, &again, &pairs(), day(0), day(9), NOW, |_| {}).await.unwrap();
    assert_eq!((done.requests, done.candles, done.pairs_done), (0, 0, 3));
    assert_eq!(candle_requests(&sim.url).await, 3, "a second run sends no candle request");
    // A narrower range inside the covered one asks nothing either.
    sync_candles(&client, &again, &pairs(), day(3), day(5) + 1234, NOW, |_| {}).await.unwrap();
    assert_eq!(candle_requests(&sim.url).await, 3);
    assert_eq!(stored_closes(&again).await, expected_closes(9));
}
both!(second_sync_asks_nothing, first_sync_stores_exactly_and_a_second_asks_nothing);

async fn pages_continue_from_the_day_after_the_last_candle(t: TestStore) {
    let sim = sim_with(&state_text()).await;
    let client = client(&sim.url, 4);
    let btc = ["tBTCUSD".to_owned()];
    // 9 candles over 10 days (day 4 missing) in pages of 3: [0 1 2] [3 5 6] [7 8 9].
    let done = sync_candles_paged(&client, &t.store, &btc, day(0), day(9), NOW, 3, |_| {}).await.unwrap();
    assert_eq!((done.requests, done.candles), (3, 9));
    assert_eq!(candle_requests(&sim.url).await, 3);
    assert_eq!(t.store.candle_coverage("tBTCUSD").await.unwrap(), [range(0, 9)]);
    // Pages of 4: [0 1 2 3] [5 6 7 8] [9]; a day-long range at the end.
    let eth = ["tETHUSD".to_owned()];
    let done = sync_candles_paged(&client, &t.store, &eth, day(0), day(10), NOW, 4, |_| {}).await.unwrap();
    assert_eq!((done.requests, done.candles), (3, 10));
    assert_eq!(stored_closes(&t.store).await.get("tETHUSD"), expected_closes(9).get("tETHUSD"));
    assert_eq!(t.store.candle_coverage("tETHUSD").await.unwrap(), [range(0, 10)]);
    let all = sync_candles_paged(&client, &t.store, &pairs(), day(0), day(9), NOW, 4, |_| {}).await.unwrap();
    assert_eq!(all.requests, 1, "only tOLD:USD was not stored yet");
    assert_eq!(stored_closes(&t.store).await, expected_closes(9));
}
both!(paging, pages_continue_from_the_day_after_the_last_candle);

async fn an_extended_range_fetches_only_new_days_and_today_is_never_covered(t: TestStore) {
    let sim = sim_with(&state_text()).await;
    let client = client(&sim.url, 4);
    // At noon on day 6: days 0–5 have ended; day 6 (today) is neither asked for nor covered.
    let noon_day_6 = day(6) + DAY_MS / 2;
    let done = sync_candles(&client, &t.store, &pairs(), day(0), day(9), noon_day_6, |_| {}).await.unwrap();
    assert_eq!((done.requests, done.candles), (3, 5 + 6 + 3));
    assert_eq!(stored_closes(&t.store).await, expected_closes(5));
    for pair in pairs() {
        assert_eq!(t.store.candle_coverage(&pair).await.unwrap(), [range(0, 5)], "{pair}");
        assert_eq!(t.store.candle_gaps(&pair, day(0), day(9)).await.unwrap(), [range(6, 9)]);
    }
    // Later, over a longer range: one request per pair, from day 6 on (only 4 and 4 new candles;
    // tOLD:USD has none and is now covered through day 12).
    let done = sync_candles(&client, &t.store, &pairs(), day(0), day(12), NOW, |_| {}).await.unwrap();
    assert_eq!((done.requests, done.candles), (3, 4 + 4));
    assert_eq!(candle_requests(&sim.url).await, 6);
    assert_eq!(stored_closes(&t.store).await, expected_closes(12));
    for pair in pairs() {
        assert_eq!(t.store.candle_coverage(&pair).await.unwrap(), [range(0, 12)], "{pair}");
    }
    // Extended backwards: only the earlier days are asked for (none there: covered, no rows).
    let done = sync_candles(&client, &t.store, &pairs(), day(-30), day(12), NOW, |_| {}).await.unwrap();
    assert_eq!((done.requests, done.candles), (3, 0));
    assert_eq!(t.store.candle_coverage("tBTCUSD").await.unwrap(), [range(-30, 12)]);
    // A range entirely in the future, or today alone, asks nothing.
    let today =
        sync_candles(&client, &t.store, &pairs(), day(20), day(30), day(20) + 1, |_| {}).await.unwrap();
    assert_eq!((today.requests, today.pairs_done), (0, 3));
    assert_eq!(candle_requests(&sim.url).await, 9);
}
both!(extended_range, an_extended_range_fetches_only_new_days_and_today_is_never_covered);

async fn a_failed_request_keeps_the_pages_before_it(t: TestStore) {
    let sim = sim_with(&state_text()).await;
    let client = client(&sim.url, 1);
    // The first request passes (a short delay), the second meets maintenance.
    fault(&sim.url, r#"{"endpoint":"candles","kind":"delay","delay_ms":1}"#).await;
    fault(&sim.url, r#"{"endpoint":"candles","kind":"maintenance"}"#).await;
    let btc = ["tBTCUSD".to_owned(), "tETHUSD".to_owned()];
    let mut last = CandleProgress::default();
    let error = sync_candles_paged(&client, &t.store, &btc, day(0), day(9), NOW, 3, |p| last = p.clone())
        .await
        .unwrap_err();
    match &error {
        CandleSyncError::Client { pair, source: Error::Api { code, endpoint, .. } } => {
            assert_eq!((pair.as_str(), *code, *endpoint), ("tBTCUSD", 20060, "candles"));
        }
        other => panic!("expected Bitfinex's maintenance error, got {other:?}"),
    }
    assert!(error.to_string().starts_with("candles of tBTCUSD: "), "{error}");
    assert_eq!((last.requests, last.candles, last.pairs_done), (1, 3, 0));
    // The first page is stored and covered, nothing after it.
    assert_eq!(t.store.candle_coverage("tBTCUSD").await.unwrap(), [range(0, 2)]);
    assert_eq!(t.store.candle_coverage("tETHUSD").await.unwrap(), []);
    assert_eq!(
        stored_closes(&t.store).await,
        BTreeMap::from([("tBTCUSD".into(), expected_closes(2)["tBTCUSD"].clone())])
    );
    // The next run reads the rest, from day 3 on: [3 5 6] [7 8 9] and tETHUSD's four pages.
    let done = sync_candles_paged(&client, &t.store, &btc, day(0), day(9), NOW, 3, |_| {}).await.unwrap();
    assert_eq!((done.requests, done.candles), (2 + 4, 6 + 10));
    let mut expected = expected_closes(9);
    expected.remove("tOLD:USD");
    assert_eq!(stored_closes(&t.store).await, expected);
}
both!(failed_request, a_failed_request_keeps_the_pages_before_it);

fn candle(mts: i64, close: &str) -> Candle {
    Candle { mts, open: dec("1"), close: dec(close), high: dec("2"), low: dec("0.5"), volume: dec("0") }
}

async fn the_cache_checks_days_and_merges_coverage(t: TestStore) {
    let s = &t.store;
    let err = s.store_candles("tBTCUSD", &[candle(day(5), "1")], range(0, 4)).await.unwrap_err();
    assert!(matches!(err, StoreError::CandleOutside { mts, .. } if mts == day(5)), "{err:?}");
    let err = s.store_candles("tBTCUSD", &[candle(day(1) + 1, "1")], range(0, 4)).await.unwrap_err();
    assert!(matches!(err, StoreError::NotADay { .. }), "{err:?}");
    let err =
        s.store_candles("tBTCUSD", &[], DayRange { from_day: day(0) + 5, to_day: day(1) }).await.unwrap_err();
    assert!(matches!(err, StoreError::NotADay { what: "first day", .. }), "{err:?}");
    let err = s.store_candles("tBTCUSD", &[], range(2, 1)).await.unwrap_err();
    assert!(matches!(err, StoreError::EmptyInterval { .. }), "{err:?}");
    assert!(matches!(s.candle_gaps("tBTCUSD", day(0), day(1) - 1).await, Err(StoreError::NotADay { .. })));
    assert_eq!(s.candle_coverage("tBTCUSD").await.unwrap(), [], "nothing of the refused writes");

    // Exact decimals beyond f64; a day stored again is replaced.
    let precise = "12345.678901234567890123";
    assert_eq!(
        s.store_candles("tBTCUSD", &[candle(day(0), precise), candle(day(2), "3")], range(0, 2))
            .await
            .unwrap(),
        2
    );
    s.store_candles("tBTCUSD", &[candle(day(2), "3.5")], range(2, 2)).await.unwrap();
    // Touching ranges merge; a separate one stays apart; another pair is its own.
    s.store_candles("tBTCUSD", &[], range(3, 4)).await.unwrap();
    s.store_candles("tBTCUSD", &[candle(day(8), "8")], range(7, 9)).await.unwrap();
    s.store_candles("tETHUSD", &[], range(0, 100)).await.unwrap();
    assert_eq!(s.candle_coverage("tBTCUSD").await.unwrap(), [range(0, 4), range(7, 9)]);
    assert_eq!(
        s.candle_gaps("tBTCUSD", day(-2), day(12)).await.unwrap(),
        [range(-2, -1), range(5, 6), range(10, 12)]
    );
    s.store_candles("tBTCUSD", &[], range(5, 6)).await.unwrap();
    assert_eq!(s.candle_coverage("tBTCUSD").await.unwrap(), [range(0, 9)]);

    let closes =
        s.closes(&["tBTCUSD".into(), "tETHUSD".into(), "tNONE".into()], day(0), day(8)).await.unwrap();
    let btc: Vec<(i64, String)> = closes["tBTCUSD"].iter().map(|(m, c)| (*m, c.to_string())).collect();
    assert_eq!(btc, [(day(0), precise.to_owned()), (day(2), "3.5".to_owned()), (day(8), "8".to_owned())]);
    assert_eq!(closes.len(), 1, "pairs without candles in the range are absent: {closes:?}");
    assert_eq!(s.closes(&["tBTCUSD".into()], day(1), day(1)).await.unwrap(), BTreeMap::new());
    assert_eq!(s.closes(&[], day(0), day(9)).await.unwrap(), BTreeMap::new());
}
both!(cache_checks, the_cache_checks_days_and_merges_coverage);

async fn a_v2_database_gets_the_candle_tables(t: TestStore) {
    let (location, _keep) = match &t.location {
        bfx_store::Location::Sqlite(path) => {
            (bfx_store::Location::Sqlite(path.with_file_name("v2.sqlite")), None)
        }
        bfx_store::Location::Postgres(_) => {
            let database = bfx_store::test_support::TestDatabase::create().await.unwrap();
            (database.location(), Some(database))
        }
    };
    let old = Store::open_as_schema_version(&location, 2).await.unwrap();
    assert!(matches!(old.candle_coverage("tBTCUSD").await, Err(StoreError::Database { .. })));
    old.close().await;
    let new = Store::open(&location).await.unwrap();
    new.store_candles("tBTCUSD", &[candle(day(0), "1")], range(0, 0)).await.unwrap();
    assert_eq!(new.candle_coverage("tBTCUSD").await.unwrap(), [range(0, 0)]);
}
both!(v2_migrated, a_v2_database_gets_the_candle_tables);

/// A 429 from Bitfinex (its `Retry-After`: 1 s) is waited out and counted in the progress; the
/// sync goes on. (The client's own budget waits are reported alike: `bfx-client`'s tests, in
/// paused time, which a database connection's timers do not survive.)
async fn rate_limit_waits_are_reported(t: TestStore) {
    let sim = sim_with(&state_text()).await;
    let client = client(&sim.url, 4);
    fault(&sim.url, r#"{"endpoint":"candles","kind":"rate_limit","retry_after_secs":1}"#).await;
    let mut waits = Vec::new();
    let done = sync_candles(&client, &t.store, &pairs(), day(0), day(9), NOW, |p| waits.push(p.waits))
        .await
        .unwrap();
    assert_eq!((done.requests, done.waits), (3, 1));
    assert_eq!(waits.first(), Some(&1), "reported with the request that waited");
    assert_eq!(candle_requests(&sim.url).await, 4, "the 429, then three answers");
    assert_eq!(stored_closes(&t.store).await, expected_closes(9));
}
both!(rate_limit_waits, rate_limit_waits_are_reported);
