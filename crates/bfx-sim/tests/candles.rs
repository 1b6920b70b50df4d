//! The candle endpoints (`candles/trade:TF:PAIR/hist` and `/last`) as a client sees them: order,
//! `start`/`end`/`limit`/`sort`, `1W` = `7D` built from the days, errors, the 30/min budget;
//! `[[candle]]` in state files; the demo's daily series ending at its prices.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bfx_core::parse_json_number;
use bfx_sim::SimState;
use common::{Request, Sim};
use rust_decimal::Decimal;
use serde_json::Value;

const DAY_MS: i64 = 86_400_000;
/// 2024-12-30, a Monday.
const DAY0: i64 = 1_735_516_800_000;
/// Daily candles of tBTCUSD in the test state.
const DAYS: i64 = 150;
const HIST: &str = "/v2/candles/trade:1D:tBTCUSD/hist";

/// Day `d`'s candle as served: open 100 + d, close 101 + d, high 103 + d, low 99 + d, volume 1.5
/// (written "1.50" in the file: served normalised).
fn row(d: i64) -> String {
    format!("[{},{},{},{},{},1.5]", DAY0 + d * DAY_MS, 100 + d, 101 + d, 103 + d, 99 + d)
}

fn rows(days: impl IntoIterator<Item = i64>) -> String {
    format!("[{}]", days.into_iter().map(row).collect::<Vec<_>>().join(","))
}

/// 150 days of tBTCUSD (in reverse order: the file's order does not matter), one stored hour, and
/// tETHUSD dated with a TOML date and exact decimals.
fn state_text() -> String {
    let mut text = String::new();
    for d in (0..DAYS).rev() {
        text.push_str(&format!(
            "[[candle]]\npair = \"tBTCUSD\"\ntf = \"1D\"\nmts = {}\nopen = \"{}\"\nclose = \"{}\"\nhigh = \"{}\"\nlow = \"{}\"\nvolume = \"1.50\"\n",
            DAY0 + d * DAY_MS,
            100 + d,
            101 + d,
            103 + d,
            99 + d
        ));
    }
    text.push_str(
        r#"
[[candle]]
pair = "tBTCUSD"
tf = "1h"
mts = 1735693200000             # 2025-01-01T01:00Z
open = "1"
close = "2"
high = "3"
low = "0.5"
volume = "4"

[[candle]]
pair = "tETHUSD"
mts = 2025-01-01                # tf defaults to 1D
open = "3300.123456789012345678"
close = "3350.5"
high = "3401"
low = "3290.00"
volume = "1e-8"
"#,
    );
    text
}

fn state() -> SimState {
    SimState::from_toml(&state_text(), "candles.toml").unwrap()
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap()
}

#[tokio::test]
async fn hist_is_newest_first_by_default_and_oldest_first_with_sort_1() {
    let sim = Sim::start(state()).await;
    sim.get(&format!("{HIST}?limit=3")).await.assert(200, &rows([DAYS - 1, DAYS - 2, DAYS - 3]));
    sim.get(&format!("{HIST}?limit=3&sort=-1")).await.assert(200, &rows([DAYS - 1, DAYS - 2, DAYS - 3]));
    sim.get(&format!("{HIST}?limit=3&sort=1")).await.assert(200, &rows([0, 1, 2]));
    // The intraday hour stored for the pair is its own series.
    sim.get("/v2/candles/trade:1h:tBTCUSD/hist").await.assert(200, "[[1735693200000,1,2,3,0.5,4]]");
}

#[tokio::test]
async fn start_and_end_are_inclusive() {
    let sim = Sim::start(state()).await;
    let (start, end) = (DAY0 + 3 * DAY_MS, DAY0 + 5 * DAY_MS);
    sim.get(&format!("{HIST}?start={start}&end={end}")).await.assert(200, &rows([5, 4, 3]));
    sim.get(&format!("{HIST}?start={start}&end={end}&sort=1")).await.assert(200, &rows([3, 4, 5]));
    // One millisecond inside either bound drops that day.
    sim.get(&format!("{HIST}?start={}&end={}", start + 1, end - 1)).await.assert(200, &rows([4]));
    // start alone with sort=1 pages forward from it (ccxt's `since`); end alone pages back.
    sim.get(&format!("{HIST}?start={start}&sort=1&limit=2")).await.assert(200, &rows([3, 4]));
    sim.get(&format!("{HIST}?end={end}&limit=2")).await.assert(200, &rows([5, 4]));
    sim.get(&format!("{HIST}?start={start}&end={start}")).await.assert(200, &rows([3]));
    sim.get(&format!("{HIST}?start={}", DAY0 + DAYS * DAY_MS)).await.assert(200, "[]");
}

#[tokio::test]
async fn limit_defaults_to_100_and_stops_at_10000() {
    let sim = Sim::start(state()).await;
    let reply = sim.get(HIST).await;
    assert_eq!(reply.body, rows((DAYS - 100..DAYS).rev()));
    let all = sim.get(&format!("{HIST}?limit=10000")).await;
    assert_eq!(json(&all.body).as_array().unwrap().len(), DAYS as usize);
    sim.get(&format!("{HIST}?limit=10001")).await.assert_error(10020, "limit: invalid");
    sim.get(&format!("{HIST}?limit=0")).await.assert_error(10020, "limit: invalid");
    // Empty values count as absent.
    assert_eq!(sim.get(&format!("{HIST}?limit=&start=&end=&sort=")).await.body, reply.body);
}

#[tokio::test]
async fn last_is_one_unnested_row_or_empty() {
    let sim = Sim::start(state()).await;
    sim.get("/v2/candles/trade:1D:tBTCUSD/last").await.assert(200, &row(DAYS - 1));
    // Within end (and whatever sort or limit the client sends, as the Python client does).
    let end = DAY0 + 7 * DAY_MS;
    sim.get(&format!("/v2/candles/trade:1D:tBTCUSD/last?end={end}&sort=1&limit=5"))
        .await
        .assert(200, &row(7));
    sim.get(&format!("/v2/candles/trade:1D:tBTCUSD/last?end={}", DAY0 - 1)).await.assert(200, "[]");
    sim.get("/v2/candles/trade:1D:tNOPE:USD/last").await.assert(200, "[]");
    sim.get("/v2/candles/trade:1m:tBTCUSD/last").await.assert(200, "[]");
}

#[tokio::test]
async fn weeks_are_built_from_the_days_and_1w_is_7d() {
    let sim = Sim::start(state()).await;
    let week = sim.get("/v2/candles/trade:1W:tBTCUSD/hist?sort=1").await;
    let seven = sim.get("/v2/candles/trade:7D:tBTCUSD/hist?sort=1").await;
    seven.assert(200, &week.body);
    let weeks = json(&week.body);
    let weeks = weeks.as_array().unwrap();
    // 150 days from a Monday: 21 full weeks and 3 days.
    assert_eq!(weeks.len(), 22);
    // Monday to Sunday: the first open, the last close, the highest high, the lowest low, the sum.
    assert_eq!(weeks[0], json(&format!("[{DAY0},100,107,109,99,10.5]")));
    assert_eq!(weeks[21], json(&format!("[{},247,250,252,246,4.5]", DAY0 + 147 * DAY_MS)));
    sim.get("/v2/candles/trade:7D:tBTCUSD/last").await.assert(200, &weeks[21].to_string());
    // Months start on the 1st (UTC): December 2024 holds two days.
    let months = json(&sim.get("/v2/candles/trade:1M:tBTCUSD/hist?sort=1&limit=2").await.body);
    assert_eq!(months[0], json("[1733011200000,100,102,104,99,3]"));
    assert_eq!(months[1][0], 1_735_689_600_000_i64);
    let fortnights = json(&sim.get("/v2/candles/trade:14D:tBTCUSD/hist").await.body);
    // Fortnights run from Mondays 14 days apart since 1970-01-05: 2024-12-23 holds the first 7 days.
    assert_eq!(fortnights.as_array().unwrap().len(), 12);
}

#[tokio::test]
async fn every_documented_timeframe_is_accepted_and_others_are_10020() {
    let sim = Sim::start(state()).await;
    for tf in ["1m", "5m", "15m", "30m", "3h", "6h", "12h"] {
        sim.get(&format!("/v2/candles/trade:{tf}:tBTCUSD/hist")).await.assert(200, "[]");
    }
    for tf in ["1D", "1W", "7D", "14D", "1M", "1h"] {
        let reply = sim.get(&format!("/v2/candles/trade:{tf}:tBTCUSD/hist")).await;
        assert_eq!(reply.status, 200);
        assert!(!json(&reply.body).as_array().unwrap().is_empty(), "{tf}: {reply:?}");
    }
    sim.get("/v2/candles/trade:4h:tBTCUSD/hist").await.assert_error(10020, "timeframe: invalid");
    sim.get("/v2/candles/trade:1d:tBTCUSD/last").await.assert_error(10020, "timeframe: invalid");
    sim.get("/v2/candles/trade:1D:BTCUSD/hist").await.assert_error(10020, "key: invalid");
    sim.get("/v2/candles/tBTCUSD/hist").await.assert_error(10020, "key: invalid");
    sim.get(&format!("{HIST}?start=2&end=1")).await.assert_error(10020, "time_interval: invalid");
    sim.get(&format!("{HIST}?start=yesterday")).await.assert_error(10020, "start: invalid");
    sim.get(&format!("{HIST}?end=-5")).await.assert_error(10020, "end: invalid");
    sim.get(&format!("{HIST}?sort=asc")).await.assert_error(10020, "sort: invalid");
    sim.get("/v2/candles/trade:1D:tBTCUSD/first").await.assert(404, r#"["error",10020,"not found"]"#);
    // Unknown pairs and funding symbols have no candles here.
    sim.get("/v2/candles/trade:1D:tNOPEUSD/hist").await.assert(200, "[]");
    sim.get("/v2/candles/trade:1h:fUSD:p30/hist").await.assert(200, "[]");
    // Percent-encoded keys (colons as %3A) are the same key.
    sim.get("/v2/candles/trade%3A1D%3AtBTCUSD/last").await.assert(200, &row(DAYS - 1));
    let (_, counters) = sim.admin("GET", "/sim/counters", None).await;
    assert_eq!(counters["requests"]["candles"], 24);
    assert_eq!(counters["rejections"]["timeframe_invalid"], 2);
    assert_eq!(counters["rejections"]["key_invalid"], 2);
}

#[tokio::test]
async fn state_file_candles_round_trip_exactly() {
    let sim = Sim::start(state()).await;
    sim.get("/v2/candles/trade:1D:tETHUSD/hist")
        .await
        .assert(200, "[[1735689600000,3300.123456789012345678,3350.5,3401,3290,0.00000001]]");
    // The same candle is its week (a Wednesday: the week starts on Monday 2024-12-30) and month.
    sim.get("/v2/candles/trade:1W:tETHUSD/last")
        .await
        .assert(200, &format!("[{DAY0},3300.123456789012345678,3350.5,3401,3290,0.00000001]"));
    sim.get("/v2/candles/trade:1M:tETHUSD/last")
        .await
        .assert(200, "[1735689600000,3300.123456789012345678,3350.5,3401,3290,0.00000001]");
}

fn load_error(candle: &str) -> String {
    let text = format!("platform_status = 1\n\n[[candle]]\npair = \"tBTCUSD\"\n{candle}");
    SimState::from_toml(&text, "s.toml").unwrap_err().to_string()
}

const GOOD: &str =
    "mts = 2025-01-01\nopen = \"2\"\nclose = \"3\"\nhigh = \"4\"\nlow = \"1\"\nvolume = \"5\"\n";

#[test]
fn state_file_candle_errors_name_the_entry_and_line() {
    assert!(SimState::from_toml(&format!("[[candle]]\npair = \"tBTCUSD\"\n{GOOD}"), "s").is_ok());
    let cases = [
        (
            GOOD.replace("high = \"4\"", "high = \"2.5\""),
            "s.toml:8: [[candle]] tBTCUSD 1D 2025-01-01: high 2.5 is below open, close or low",
        ),
        (
            GOOD.replace("low = \"1\"", "low = \"2.5\""),
            "s.toml:9: [[candle]] tBTCUSD 1D 2025-01-01: low 2.5 is above open or close",
        ),
        (
            GOOD.replace("open = \"2\"", "open = \"0\""),
            "s.toml:6: [[candle]] tBTCUSD 1D 2025-01-01: open 0 is not above 0",
        ),
        (
            GOOD.replace("volume = \"5\"", "volume = \"-5\""),
            "s.toml:10: [[candle]] tBTCUSD 1D 2025-01-01: volume -5 is negative",
        ),
        (
            GOOD.replace("close = \"3\"", "close = \"3,5\""),
            "s.toml:7: [[candle]] tBTCUSD 1D 2025-01-01: close: \"3,5\" is not a JSON number",
        ),
        (
            GOOD.replace("mts = 2025-01-01", "mts = 1735693200000"),
            "s.toml:5: [[candle]] tBTCUSD 1D 2025-01-01T01:00:00.000Z: mts is not the start of a 1D candle (00:00 UTC)",
        ),
        (
            format!("tf = \"7D\"\n{GOOD}"),
            "s.toml:6: [[candle]] tBTCUSD 1W 2025-01-01: mts is not the start of a 1W candle (a Monday at 00:00 UTC)",
        ),
        (
            format!("tf = \"1d\"\n{GOOD}"),
            "s.toml:5: [[candle]] tBTCUSD: tf \"1d\" is not one of 1m 5m 15m 30m 1h 3h 6h 12h 1D 1W (7D) 14D 1M",
        ),
        (
            GOOD.replace("mts = 2025-01-01", "mts = 2025-01-01T00:00:00Z"),
            "s.toml:5: [[candle]] tBTCUSD 1D: mts must be 0 to 2^53 - 1 (milliseconds) or a date (2025-01-01)",
        ),
        (
            format!("{GOOD}\n[[candle]]\npair = \"tBTCUSD\"\n{GOOD}"),
            "s.toml:14: [[candle]] tBTCUSD 1D 2025-01-01: duplicate candle (first at line 5)",
        ),
    ];
    for (candle, expected) in cases {
        assert_eq!(load_error(&candle), expected, "{candle}");
    }
    let e = load_error(&format!("{GOOD}colour = \"red\"\n"));
    assert!(e.starts_with("s.toml:11: unknown field `colour`"), "{e}");
    let e = SimState::from_toml(&format!("[[candle]]\npair = \"BTCUSD\"\n{GOOD}"), "s.toml").unwrap_err();
    assert_eq!(e.to_string(), "s.toml:2: [[candle]] pair \"BTCUSD\" is not a trading pair (t…)");
}

/// Paused Tokio time (the emulator runs in this runtime): the 60 s block passes in no real time.
#[tokio::test(start_paused = true)]
async fn candles_have_their_own_30_per_minute_budget() {
    let sim = Sim::start(state()).await;
    for i in 0..30 {
        let section = if i % 2 == 0 { "hist" } else { "last" };
        let reply = sim.get(&format!("/v2/candles/trade:1D:tNOPEUSD/{section}")).await;
        reply.assert(200, "[]");
    }
    let reply = sim.get("/v2/candles/trade:1W:tBTCUSD/last").await;
    reply.assert(429, r#"{"error":"ERR_RATE_LIMIT"}"#);
    assert_eq!(reply.header("retry-after"), Some("60"));
    // Other public endpoints keep their own budgets.
    sim.get("/v2/platform/status").await.assert(200, "[1]");
    let (_, counters) = sim.admin("GET", "/sim/counters", None).await;
    assert_eq!(counters["requests"]["candles"], 31);
    assert_eq!(counters["rejections"]["rate_limited"], 1);
    tokio::time::sleep(Duration::from_secs(60)).await;
    sim.get("/v2/candles/trade:1D:tBTCUSD/last").await.assert(200, &row(DAYS - 1));
}

/// The demo's candles for every trading pair close at its ticker's last price today, a year back.
#[tokio::test]
async fn the_demo_series_end_at_the_demo_prices() {
    const START: i64 = 1_767_225_600_000 + 5 * 3_600_000; // 2026-01-01T05:00Z
    let today = START - START.rem_euclid(DAY_MS);
    let sim = Sim::start(SimState::demo_at(START)).await;
    let tickers = json(&sim.get("/v2/tickers?symbols=ALL").await.body);
    let mut pairs = 0;
    for ticker in tickers.as_array().unwrap().iter().filter(|t| t[0].as_str().unwrap().starts_with('t')) {
        let symbol = ticker[0].as_str().unwrap();
        // Each pair's five requests from its own loopback address: the budget is 30 per IP.
        pairs += 1;
        let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 1, pairs));
        let sim = &sim;
        let get = |path: String| async move { sim.send_from(ip, &Request::new("GET", &path)).await };
        let last_price = parse_json_number(&ticker[7].to_string()).unwrap();
        for tf in ["1D", "1W", "7D", "1M"] {
            let last = json(&get(format!("/v2/candles/trade:{tf}:{symbol}/last")).await.body);
            let close = parse_json_number(&last[2].to_string());
            assert_eq!(close, Ok(last_price), "{symbol} {tf}: {last}");
        }
        let days = json(&get(format!("/v2/candles/trade:1D:{symbol}/hist?limit=10000&sort=1")).await.body);
        let days = days.as_array().unwrap();
        assert_eq!(days.len(), 366, "{symbol}");
        assert_eq!(days[0][0], today - 365 * DAY_MS);
        assert_eq!(days[365][0], today);
        for day in days {
            let n = |i: usize| parse_json_number(&day[i].to_string()).unwrap();
            let (open, close, high, low) = (n(1), n(2), n(3), n(4));
            assert!(
                low > Decimal::ZERO && high >= open.max(close) && low <= open.min(close),
                "{symbol}: {day}"
            );
        }
    }
    assert_eq!(pairs, 23);
}
