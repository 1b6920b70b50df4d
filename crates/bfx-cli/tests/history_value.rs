//! `bfx history value` as a user runs it: the real binary, the in-process emulator serving a
//! four-entry ledger and four daily candles, a SQLite store in a temporary directory. The values
//! are worked out by hand below; a second run asks the emulator for no candle it already gave.
//! `bfx history chart` draws the same series: SVG here, the demo as PNG.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use common::*;
use serde_json::{Value, json};
use tempfile::TempDir;

const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;
/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000;

/// Alice: 1 BTC deposited on day 0, 5 USD of lending income on day 1, a 1 USD fee on day 2,
/// 0.5 BTC withdrawn on day 3; BTC closes 100, 110, 120, 130 on days 0–3.
fn state() -> String {
    let entries = [
        (1, "BTC", "exchange", T0 + 10 * HOUR, "1", "1", "Deposit (BITCOIN) #1 on wallet exchange"),
        (2, "USD", "funding", T0 + DAY + 12 * HOUR, "5", "5", "Margin Funding Payment on wallet funding"),
        (3, "USD", "funding", T0 + 2 * DAY + 12 * HOUR, "-1", "4", "Crypto Withdrawal fee on wallet funding"),
        (
            4,
            "BTC",
            "exchange",
            T0 + 3 * DAY + 9 * HOUR,
            "-0.5",
            "0.5",
            "Bitcoin Withdrawal #4 on wallet exchange",
        ),
    ];
    let mut ledger = String::new();
    for (id, currency, wallet, mts, amount, balance, description) in entries {
        ledger.push_str(&format!(
            "  [[account.ledger]]\n  id = {id}\n  currency = \"{currency}\"\n  wallet = \"{wallet}\"\n  mts = {mts}\n  amount = \"{amount}\"\n  balance = \"{balance}\"\n  description = \"{description}\"\n"
        ));
    }
    let mut candles = String::new();
    for (day, close) in ["100", "110", "120", "130"].iter().enumerate() {
        candles.push_str(&format!(
            "[[candle]]\npair = \"tBTCUSD\"\nmts = {}\nopen = \"{close}\"\nclose = \"{close}\"\nhigh = \"{close}\"\nlow = \"{close}\"\nvolume = \"1\"\n",
            T0 + i64::try_from(day).unwrap() * DAY
        ));
    }
    format!(
        r#"[limits]
per_minute = {{ "auth/r/ledgers/hist" = 1000000, "candles" = 1000000, "tickers" = 1000000, "conf" = 1000000 }}

[[ticker]]
symbol = "tBTCUSD"
row = ["1000", "1", "1000", "1", "0", "0", "1000", "10", "1000", "1000"]

{candles}
[[account]]
name = "alice"
user_id = 1
email = "alice@example.com"
  [[account.key]]
  key = "alice-key"
  secret = "alice-secret"
  permissions = {{ wallets = "r", history = "r" }}
  [[account.wallet]]
  type = "exchange"
  currency = "BTC"
  balance = "0.5"
  unsettled_interest = "0"
  [[account.wallet]]
  type = "funding"
  currency = "USD"
  balance = "4"
  unsettled_interest = "0"
{ledger}"#
    )
}

fn candle_requests(url: &str) -> u64 {
    let counters: Value = serde_json::from_str(&admin(url, "GET", "/sim/counters", "")).unwrap();
    counters["requests"]["candles"].as_u64().unwrap()
}

#[test]
fn the_value_day_by_day_and_its_change_at_hand_computed_prices_candles_fetched_once() {
    let (home, sim) = (TempDir::new().unwrap(), sim_with(&state()));
    let store = home.path().join("h.sqlite");
    let store = store.to_str().unwrap();
    let (code, out, err) = run(alice(home.path(), &sim.url, store), &["history", "sync"]);
    assert_eq!(code, 0, "{out}{err}");
    let to = (T0 + 4 * DAY - 1).to_string();
    let args = ["history", "value", "--from", "2026-01-01", "--to", to.as_str(), "--json"];
    let (code, out, err) = run(alice(home.path(), &sim.url, store), &args);
    assert_eq!(code, 0, "{out}{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (&doc["quote"], &doc["every"], &doc["complete"]),
        (&json!("USD"), &json!("day"), &json!(true))
    );
    let points = doc["points"].as_array().unwrap();
    let totals: Vec<&str> = points.iter().map(|p| p["total"].as_str().unwrap()).collect();
    // 1×100; 1×110 + 5; 1×120 + 4; 0.5×130 + 4.
    assert_eq!(totals, ["100", "115", "124", "69"]);
    assert_eq!(points[0]["time"], "2026-01-01T23:59:59.999Z");
    assert_eq!(points[2]["assets"], json!({"BTC": "120", "USD": "4"}));
    assert_eq!(points[2]["accounts"], json!({"default": "124"}));
    assert_eq!(points[2]["unpriced"], json!([]));
    assert_eq!(
        doc["change"],
        json!({"start_value": "100", "end_value": "69", "flows": "-65", "earnings": "5", "fees": "-1", "market": "30"})
    );
    let asked = candle_requests(&sim.url);
    assert!(asked >= 1, "the closes were fetched");

    // Again, and as a table and CSV: the stored days are not asked for again.
    let (code, table, err) =
        run(alice(home.path(), &sim.url, store), &["history", "value", "--from", "2026-01-01", "--to", &to]);
    assert_eq!(code, 0, "{err}");
    assert!(table.contains(" 2026-01-03 ") && table.contains("124.00"), "{table}");
    assert!(table.contains(" market ") && table.contains("30.00"), "{table}");
    let (code, csv, _) = run(
        alice(home.path(), &sim.url, store),
        &["history", "value", "--from", "2026-01-01", "--to", &to, "--csv"],
    );
    assert_eq!(code, 0);
    assert_eq!(csv.lines().next(), Some("mts,time,total,unpriced,default"));
    assert_eq!(csv.lines().nth(4), Some(format!("{to},2026-01-04T23:59:59.999Z,69,,69").as_str()));
    assert_eq!(candle_requests(&sim.url), asked, "no candle request for stored days");

    // The same series drawn: the withdrawal marked, the file replaced whole.
    let chart = home.path().join("value.svg");
    std::fs::write(&chart, "an older file").unwrap();
    let out = chart.to_str().unwrap();
    let args =
        ["history", "chart", "--from", "2026-01-01", "--to", to.as_str(), "--out", out, "--by", "account"];
    let (code, stdout, err) = run(alice(home.path(), &sim.url, store), &args);
    assert_eq!((code, stdout.as_str()), (0, ""), "{err}");
    assert!(err.contains(&format!("chart written to {out}")), "{err}");
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("2026-01-01 to 2026-01-04"), "{svg}");
    assert!(svg.contains("\nwithdrawals\n") && svg.contains("\ndefault\n"), "{svg}");
    // One withdrawal marked on the line (and one in the legend); the deposit precedes the range.
    let markers = |colour: &str| svg.matches(&format!("<polygon opacity=\"1\" fill=\"{colour}\"")).count();
    assert_eq!((markers("#C81E1E"), markers("#008C3C")), (2, 1), "{svg}");
    assert_eq!(candle_requests(&sim.url), asked, "the chart reads the same stored closes");

    // An unknown quote is refused, as `bfx balances` refuses it.
    let (code, _, err) = run(alice(home.path(), &sim.url, store), &["history", "value", "--quote", "XYZ"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown quote currency \"XYZ\""), "{err}");
}

#[test]
fn demo_history_value_runs_with_no_setup() {
    let home = TempDir::new().unwrap();
    let (code, out, err) = run(bfx(home.path()), &["demo", "history", "value", "--every", "month", "--json"]);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let points = doc["points"].as_array().unwrap();
    assert!(points.len() >= 12, "a year of months: {}", points.len());
    // Every point is priced (the demo's candles cover its year) but for the demo's unpriced coin.
    assert!(points.iter().all(|p| p["unpriced"] == json!(["AIO"])), "{out}");
    let change = &doc["change"];
    let part = |name: &str| change[name].as_str().unwrap().parse::<rust_decimal::Decimal>().unwrap();
    assert_eq!(
        part("flows") + part("earnings") + part("fees") + part("market"),
        part("end_value") - part("start_value"),
        "{change}"
    );
}

/// The decoded PNG's width, height and RGB bytes.
fn decode_png(path: &std::path::Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    assert_eq!(frame.color_type, png::ColorType::Rgb);
    pixels.truncate(frame.buffer_size());
    (frame.width, frame.height, pixels)
}

#[test]
fn demo_history_chart_draws_a_png_of_the_default_size_and_not_blank() {
    let home = TempDir::new().unwrap();
    let out = home.path().join("demo.png");
    let (code, stdout, err) =
        run(bfx(home.path()), &["demo", "history", "chart", "--out", out.to_str().unwrap()]);
    assert_eq!((code, stdout.as_str()), (0, ""), "{err}");
    let (width, height, pixels) = decode_png(&out);
    assert_eq!((width, height), (1200, 600));
    let colours: std::collections::HashSet<&[u8]> = pixels.chunks(3).collect();
    let background = pixels.chunks(3).filter(|p| *p == [255, 255, 255]).count();
    let all = pixels.len() / 3;
    // Areas in several colours, anti-aliased text and lines: far from one colour, far from empty.
    assert!(colours.len() > 50, "{} colours", colours.len());
    assert!(background < all * 9 / 10 && background > all / 10, "{background} of {all} pixels white");
}

#[test]
fn a_chart_file_that_is_neither_svg_nor_png_is_refused_before_anything_is_done() {
    let home = TempDir::new().unwrap();
    let out = home.path().join("chart.jpg");
    let (code, _, err) = run(bfx(home.path()), &["demo", "history", "chart", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("name the file .svg or .png"), "{err}");
    assert!(!out.exists());
    let (code, _, err) = run(bfx(home.path()), &["demo", "history", "chart", "--size", "10x10"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("expected WIDTHxHEIGHT"), "{err}");
}
