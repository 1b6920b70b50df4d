//! `Client::candles` against the in-process emulator: exact rows oldest first (CLOSE before HIGH),
//! inclusive bounds and `limit`, pairs with colons, empty pages, queries refused before they are
//! sent, a transient failure retried, and the `candles` budget waited for and reported (paused
//! time).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bfx_client::{
    CandleQuery, Client, Endpoints, Error, ErrorKind, RateLimits, RetryPolicy, Timeframe, WaitEvent,
    WaitReason,
};
use bfx_core::Candle;
use common::{add_fault, counters, sim_with};
use rust_decimal::Decimal;

const DAY: i64 = 86_400_000;
/// 2025-01-01.
const D0: i64 = 1_735_689_600_000;

/// Five days of tBTCUSD, day 2 missing (no trade that day); one day of tAVAX:USD.
const STATE: &str = r#"
[limits]
per_minute = { "candles" = 1000 }

[[candle]]
pair = "tBTCUSD"
mts = 2025-01-01
open = "93576"
close = "94591.78"
high = "95000.000000000000000001"
low = "92500"
volume = "1234.5678901234"

[[candle]]
pair = "tBTCUSD"
mts = 2025-01-02
open = "94591.78"
close = "96886.88"
high = "97768"
low = "94200"
volume = "2000"

[[candle]]
pair = "tBTCUSD"
mts = 2025-01-04
open = "97000"
close = "98100"
high = "98700"
low = "96900"
volume = "1e-8"

[[candle]]
pair = "tBTCUSD"
mts = 2025-01-05
open = "98100"
close = "98300"
high = "98500"
low = "97800"
volume = "10"

[[candle]]
pair = "tAVAX:USD"
mts = 2025-01-01
open = "35.1"
close = "36.2"
high = "37.3"
low = "34.4"
volume = "500"
"#;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn client(url: &str) -> Client {
    Client::builder().endpoints(Endpoints::single(url).unwrap()).in_memory_nonces().build().unwrap()
}

fn days(candles: &[Candle]) -> Vec<i64> {
    candles.iter().map(|c| (c.mts - D0) / DAY).collect()
}

#[tokio::test]
async fn daily_candles_exact_oldest_first_with_inclusive_bounds() {
    let sim = sim_with(STATE).await;
    let client = client(&sim.url);
    let all = client.candles(&CandleQuery::daily("tBTCUSD", D0, D0 + 10 * DAY)).await.unwrap();
    assert_eq!(days(&all), [0, 1, 3, 4], "oldest first; no candle on day 2");
    assert_eq!(
        all[0],
        Candle {
            mts: D0,
            open: dec("93576"),
            close: dec("94591.78"),
            high: dec("95000.000000000000000001"),
            low: dec("92500"),
            volume: dec("1234.5678901234"),
        }
    );
    assert_eq!(all[2].volume, dec("0.00000001"));
    // Both bounds inclusive on MTS; limit counts from the oldest.
    let window = client.candles(&CandleQuery::daily("tBTCUSD", D0 + DAY, D0 + 3 * DAY)).await.unwrap();
    assert_eq!(days(&window), [1, 3]);
    let two = CandleQuery { limit: 2, ..CandleQuery::daily("tBTCUSD", D0 + DAY, D0 + 10 * DAY) };
    assert_eq!(days(&client.candles(&two).await.unwrap()), [1, 3]);
    let open_ended = CandleQuery { start: None, end: None, ..CandleQuery::daily("tBTCUSD", 0, 0) };
    assert_eq!(days(&client.candles(&open_ended).await.unwrap()), [0, 1, 3, 4]);
    // A pair with a colon; an unknown pair and an empty range give empty pages.
    let avax = client.candles(&CandleQuery::daily("tAVAX:USD", D0, D0)).await.unwrap();
    assert_eq!((avax.len(), avax[0].close), (1, dec("36.2")));
    assert_eq!(client.candles(&CandleQuery::daily("tNOPE:USD", D0, D0 + DAY)).await.unwrap(), []);
    assert_eq!(client.candles(&CandleQuery::daily("tBTCUSD", D0 + 2 * DAY, D0 + 2 * DAY)).await.unwrap(), []);
    let weeks = CandleQuery { timeframe: Timeframe::W1, ..CandleQuery::daily("tBTCUSD", 0, D0 + 10 * DAY) };
    assert!(!client.candles(&weeks).await.unwrap().is_empty());
    assert_eq!(counters(&sim.url).await["requests"]["candles"], 8);
    let counts = client.request_counts();
    assert_eq!(counts.iter().filter(|c| c.endpoint == "candles").map(|c| c.count).sum::<u64>(), 8);
}

#[tokio::test]
async fn bad_queries_are_refused_before_sending() {
    let sim = sim_with(STATE).await;
    let client = client(&sim.url);
    for pair in ["BTCUSD", "tBTC/USD", "tBTCUSD/hist?x=", "fUSD", ""] {
        let error = client.candles(&CandleQuery::daily(pair, D0, D0)).await.unwrap_err();
        assert!(matches!(error, Error::Query { endpoint: "candles", .. }), "{pair:?}: {error}");
        assert_eq!(error.kind(), ErrorKind::Config);
    }
    for query in [
        CandleQuery { limit: 10_001, ..CandleQuery::daily("tBTCUSD", D0, D0) },
        CandleQuery::daily("tBTCUSD", D0 + 1, D0),
    ] {
        assert!(matches!(client.candles(&query).await, Err(Error::Query { .. })), "{query:?}");
    }
    assert_eq!(counters(&sim.url).await["requests"]["candles"], 0, "nothing was sent");
}

#[tokio::test]
async fn a_transient_failure_is_retried_and_an_exchange_error_keeps_its_code() {
    let sim = sim_with(STATE).await;
    let client = client(&sim.url);
    add_fault(&sim.url, r#"{"endpoint":"candles","kind":"html_5xx"}"#).await;
    let candles = client.candles(&CandleQuery::daily("tBTCUSD", D0, D0)).await.unwrap();
    assert_eq!(days(&candles), [0]);
    assert_eq!(counters(&sim.url).await["requests"]["candles"], 2);
    // An exchange error keeps Bitfinex's code.
    add_fault(&sim.url, r#"{"endpoint":"candles","kind":"maintenance","count":10}"#).await;
    let once = Client::builder()
        .endpoints(Endpoints::single(&sim.url).unwrap())
        .in_memory_nonces()
        .retry_policy(RetryPolicy { max_attempts: 1, ..RetryPolicy::default() })
        .build()
        .unwrap();
    match once.candles(&CandleQuery::daily("tBTCUSD", D0, D0)).await.unwrap_err() {
        Error::Api { endpoint, code, .. } => assert_eq!((endpoint, code), ("candles", 20060)),
        other => panic!("expected Bitfinex's error, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn the_candles_budget_is_waited_for_and_reported_to_both_observers() {
    let sim = sim_with(STATE).await;
    type Events = Arc<Mutex<Vec<WaitEvent>>>;
    let (builder_events, own_events): (Events, Events) = Default::default();
    let sink = Arc::clone(&builder_events);
    let client = Client::builder()
        .endpoints(Endpoints::single(&sim.url).unwrap())
        .in_memory_nonces()
        .rate_limits(RateLimits::bitfinex().with_limit("candles", 2))
        .on_wait(Arc::new(move |event| sink.lock().unwrap().push(event)))
        .build()
        .unwrap();
    let sink = Arc::clone(&own_events);
    let observed = client.with_wait_observer(Arc::new(move |event| sink.lock().unwrap().push(event)));
    let started = tokio::time::Instant::now();
    for _ in 0..3 {
        observed.candles(&CandleQuery::daily("tBTCUSD", D0, D0)).await.unwrap();
    }
    assert!(started.elapsed() >= Duration::from_secs(60), "{:?}", started.elapsed());
    let own = own_events.lock().unwrap().clone();
    assert_eq!(own.len(), 1, "{own:?}");
    assert_eq!((own[0].endpoint, own[0].reason), ("candles", WaitReason::Budget));
    assert_eq!(*builder_events.lock().unwrap(), own, "the builder's observer is still told");
    // The clone shares the budget: the original client waits too, and only its observer hears.
    for _ in 0..2 {
        client.candles(&CandleQuery::daily("tBTCUSD", D0, D0)).await.unwrap();
    }
    assert_eq!(builder_events.lock().unwrap().len(), 2);
    assert_eq!(own_events.lock().unwrap().len(), 1);
    assert_eq!(RateLimits::bitfinex().per_endpoint.get("candles"), Some(&30));
}
