//! The SVG of a small fixed series, as a snapshot: three days of two coins in two accounts, a
//! deposit and a withdrawal marked, one coin unpriced. Nothing in it depends on the clock or on a
//! font file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

use std::collections::BTreeMap;

use bfx_chart::{ChartOptions, StackBy, svg};
use bfx_store::value::{NoChange, Step, ValuePoint, ValueSeries};
use rust_decimal::Decimal;

const DAY: i64 = 86_400_000;
/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, Decimal> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), v.parse().unwrap())).collect()
}

fn fixed() -> ValueSeries {
    let days = [
        (&[("BTC", "1000"), ("USD", "500")], &[("alice", "1200"), ("bob", "300")]),
        (&[("BTC", "2200"), ("USD", "400")], &[("alice", "2300"), ("bob", "300")]),
        (&[("BTC", "1800"), ("USD", "400")], &[("alice", "1900"), ("bob", "300")]),
    ];
    let mut points = days
        .iter()
        .enumerate()
        .map(|(day, (assets, accounts))| {
            let assets = map(*assets);
            ValuePoint {
                mts: T0 + i64::try_from(day).unwrap() * DAY + DAY - 1,
                total: assets.values().sum(),
                accounts: map(*accounts),
                assets,
                unpriced: vec!["AIO".to_owned()],
                deposits: Decimal::ZERO,
                withdrawals: Decimal::ZERO,
            }
        })
        .collect::<Vec<_>>();
    // A deposit on the second day, a withdrawal on the third.
    points[1].deposits = "1000".parse().unwrap();
    points[2].withdrawals = "-220".parse().unwrap();
    ValueSeries { quote: "USD".into(), step: Step::Day, points, change: Err(NoChange::OnePoint) }
}

#[test]
fn a_small_fixed_series_by_asset() {
    let options = ChartOptions { width: 800, height: 400, ..ChartOptions::default() };
    let text = svg(&fixed(), &options).unwrap();
    assert!(text.contains("AIO unpriced, left out") && text.contains("Value (USD)"), "{text}");
    assert!(text.contains("\n2,000\n"), "thousands separated: {text}");
    insta::assert_snapshot!("chart_by_asset", text);
}

#[test]
fn a_small_fixed_series_by_account() {
    let options = ChartOptions { by: StackBy::Account, width: 800, height: 400 };
    let text = svg(&fixed(), &options).unwrap();
    assert!(text.contains("\nalice\n") && text.contains("\nbob\n"), "{text}");
    assert!(!text.contains("\nBTC\n"), "{text}");
}
