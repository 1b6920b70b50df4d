use std::collections::BTreeMap;

use bfx_store::value::{NoChange, Step, ValuePoint};

use super::*;
use crate::layout::DAY_MS;

/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000;

fn dec(text: &str) -> Decimal {
    text.parse().unwrap_or_default()
}

fn point(day: i64, assets: &[(&str, &str)]) -> ValuePoint {
    let assets: BTreeMap<String, Decimal> = assets.iter().map(|(k, v)| ((*k).to_owned(), dec(v))).collect();
    let total = assets.values().sum();
    ValuePoint {
        mts: T0 + day * DAY_MS + DAY_MS - 1,
        total,
        accounts: BTreeMap::from([("main".to_owned(), total)]),
        assets,
        unpriced: Vec::new(),
        deposits: Decimal::ZERO,
        withdrawals: Decimal::ZERO,
    }
}

fn series(points: Vec<ValuePoint>) -> ValueSeries {
    ValueSeries { quote: "USD".into(), step: Step::Day, points, change: Err(NoChange::OnePoint) }
}

#[test]
fn values_are_grouped_by_thousands() {
    assert_eq!(format_value(1_234_567.5, 1), "1,234,567.5");
    assert_eq!(format_value(999.0, 0), "999");
    assert_eq!(format_value(-12_000.0, 0), "−12,000");
    assert_eq!(format_value(-0.0, 2), "0.00");
    assert_eq!(format_value(0.25, 2), "0.25");
}

#[test]
fn value_ticks_are_round_and_cover_the_range() {
    let ticks = value_ticks(0.0, 123_456.0, 6);
    assert_eq!(ticks.decimals, 0);
    assert_eq!(ticks.values.first(), Some(&0.0));
    assert!(ticks.values.last().is_some_and(|v| *v >= 123_456.0));
    assert!(ticks.values.windows(2).all(|w| (w[1] - w[0] - 25_000.0).abs() < 1e-9), "{ticks:?}");
    let small = value_ticks(0.1, 0.9, 4);
    assert_eq!(small.decimals, 1);
    // A flat series still gets an axis.
    assert!(value_ticks(5.0, 5.0, 5).values.len() >= 2);
}

#[test]
fn date_ticks_are_days_for_short_ranges_months_for_long_ones() {
    let ticks = date_ticks(T0 + DAY_MS - 1, T0 + 4 * DAY_MS - 1, 10);
    let labels: Vec<&str> = ticks.iter().map(|t| t.label.as_str()).collect();
    assert_eq!(labels, ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"]);
    assert_eq!(ticks[0].mts, T0 + DAY_MS - 1, "at the end of the day, where its point is");
    let year = date_ticks(T0, T0 + 365 * DAY_MS, 8);
    let labels: Vec<&str> = year.iter().map(|t| t.label.as_str()).collect();
    assert_eq!(labels, ["2026-01", "2026-03", "2026-05", "2026-07", "2026-09", "2026-11", "2027-01"]);
    let decade = date_ticks(T0, T0 + 3650 * DAY_MS, 8);
    assert!(decade.len() <= 9 && decade.iter().all(|t| t.label.len() == 4), "{decade:?}");
}

#[test]
fn small_layers_are_summed_into_other_and_stacks_add_up() {
    let assets: Vec<(String, String)> =
        (0..12).map(|i| (format!("C{i:02}"), format!("{}", 100 - i))).collect();
    let refs: Vec<(&str, &str)> = assets.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let s = series(vec![point(0, &refs), point(1, &refs)]);
    let prepared = prepare(&s, StackBy::Asset);
    assert_eq!(prepared.layers.len(), MAX_LAYERS);
    assert_eq!(prepared.layers[0].name, "C00");
    assert_eq!(prepared.layers[MAX_LAYERS - 1].name, "other (5)");
    let bands = stack(&prepared.layers, 2);
    let top = bands.last().map(|b| b[1].1).unwrap_or_default();
    assert!((top - prepared.total[1]).abs() < 1e-9, "the stack's top is the total");
    let by_account = prepare(&s, StackBy::Account);
    assert_eq!(by_account.layers.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["main"]);
}

#[test]
fn negative_values_stack_down_from_zero() {
    let s = series(vec![point(0, &[("BTC", "10"), ("USD", "-4")])]);
    let prepared = prepare(&s, StackBy::Asset);
    assert_eq!(stack(&prepared.layers, 1), [vec![(0.0, 10.0)], vec![(-4.0, 0.0)]]);
}

#[test]
fn each_points_deposits_and_withdrawals_are_marked_the_largest_kept() {
    let mut points: Vec<ValuePoint> = (0..3).map(|d| point(d, &[("BTC", "100")])).collect();
    points[1].deposits = dec("5");
    points[1].withdrawals = dec("-7");
    let prepared = prepare(&series(points.clone()), StackBy::Asset);
    assert_eq!(prepared.flows, [(1, 5.0), (1, -7.0)], "a point with neither is not marked");

    // One more than the markers drawn: the smallest (point 1's deposits) is left out.
    let more = (3..i64::try_from(MAX_MARKERS + 2).unwrap()).map(|d| {
        let mut p = point(d, &[("BTC", "100")]);
        p.deposits = Decimal::from(d * 10);
        p
    });
    points.extend(more);
    let prepared = prepare(&series(points), StackBy::Asset);
    assert_eq!(prepared.flows.len(), MAX_MARKERS);
    assert_eq!(prepared.flows[..2], [(1, -7.0), (3, 30.0)]);
}

#[test]
fn sizes_outside_the_bounds_are_refused_and_an_empty_series_too() {
    let s = series(vec![point(0, &[("BTC", "1")])]);
    let tiny = ChartOptions { width: 10, height: 10, ..ChartOptions::default() };
    assert!(matches!(svg(&s, &tiny), Err(ChartError::Size { .. })));
    assert!(matches!(svg(&series(Vec::new()), &ChartOptions::default()), Err(ChartError::Empty)));
    // One point draws.
    assert!(svg(&s, &ChartOptions::default()).is_ok_and(|text| text.starts_with("<svg")));
}

#[test]
fn a_missing_configured_font_is_named() {
    let err =
        find_font(Some(Path::new("/nonexistent/font.ttf"))).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("BFX_FONT=/nonexistent/font.ttf") && err.contains("fonts-dejavu-core"), "{err}");
}
