//! Candles per trading pair and timeframe (`candles/trade:TF:SYMBOL/…`), sorted by MTS, and the
//! UTC calendar they are cut by.
//!
//! A state holds daily candles (and any other timeframe it lists); the weeks, fortnights and months
//! of a pair with daily candles are built from them once, when the store is made, so a request only
//! searches and slices. Prices and volumes are exact `Decimal`s.

use std::collections::BTreeMap;
use std::fmt::Write as _;

pub(crate) use bfx_core::candle::Timeframe;
use bfx_core::format_decimal;
use rust_decimal::Decimal;

pub(crate) const DAY_MS: i64 = 86_400_000;
/// Candles one state may hold, stored and built together; a state file with more is refused.
pub(crate) const MAX_CANDLES: usize = 1_000_000;
/// 1970-01-05, the first Monday after the epoch: weeks (and fortnights) start on Mondays at
/// 00:00 UTC. Bitfinex does not document where its weeks start; this is the calendar week its
/// charts show.
const FIRST_MONDAY_MS: i64 = 4 * DAY_MS;

/// The emulator's arithmetic on Bitfinex's timeframes: where a frame starts.
pub(crate) trait Frames {
    /// The start (MTS) of the frame holding `mts`: a multiple of the frame's length since the
    /// epoch, weeks and fortnights from a Monday, months on their first day.
    fn start_of(self, mts: i64) -> i64;
}

impl Frames for Timeframe {
    fn start_of(self, mts: i64) -> i64 {
        match (self, fixed_ms(self)) {
            (Timeframe::W1 | Timeframe::D14, Some(len)) => mts - (mts - FIRST_MONDAY_MS).rem_euclid(len),
            (_, Some(len)) => mts - mts.rem_euclid(len),
            (_, None) => {
                let (year, month, _) = civil_from_days(mts.div_euclid(DAY_MS));
                days_from_civil(year, month, 1) * DAY_MS
            }
        }
    }
}

/// The frame's length, for the frames of fixed length (all but the month).
const fn fixed_ms(tf: Timeframe) -> Option<i64> {
    const MINUTE: i64 = 60_000;
    Some(match tf {
        Timeframe::M1 => MINUTE,
        Timeframe::M5 => 5 * MINUTE,
        Timeframe::M15 => 15 * MINUTE,
        Timeframe::M30 => 30 * MINUTE,
        Timeframe::H1 => 60 * MINUTE,
        Timeframe::H3 => 180 * MINUTE,
        Timeframe::H6 => 360 * MINUTE,
        Timeframe::H12 => 720 * MINUTE,
        Timeframe::D1 => DAY_MS,
        Timeframe::W1 => 7 * DAY_MS,
        Timeframe::D14 => 14 * DAY_MS,
        Timeframe::Mo1 => return None,
    })
}

/// One candle: `[MTS, OPEN, CLOSE, HIGH, LOW, VOLUME]` on the wire (CLOSE before HIGH).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candle {
    pub(crate) mts: i64,
    pub(crate) open: Decimal,
    pub(crate) close: Decimal,
    pub(crate) high: Decimal,
    pub(crate) low: Decimal,
    pub(crate) volume: Decimal,
}

impl Candle {
    /// The row as JSON: numbers as JSON numbers, normalised (no exponent, no trailing zeros).
    pub(crate) fn write_json(&self, out: &mut String) {
        let _ = write!(
            out,
            "[{},{},{},{},{},{}]",
            self.mts,
            format_decimal(self.open),
            format_decimal(self.close),
            format_decimal(self.high),
            format_decimal(self.low),
            format_decimal(self.volume)
        );
    }
}

/// Why candles could not be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CandleError {
    #[error("more than {MAX_CANDLES} candles with the weeks and months built from the days")]
    TooMany,
    #[error("the {tf} volume of {pair} from {mts} cannot be summed exactly")]
    Overflow { pair: String, tf: &'static str, mts: String },
}

/// Every candle of a state, by (pair, timeframe), each series sorted by MTS ascending.
#[derive(Debug, Clone, Default)]
pub(crate) struct CandleStore {
    series: BTreeMap<(String, Timeframe), Vec<Candle>>,
}

impl CandleStore {
    /// Stores `candles` (unique per pair, timeframe and MTS; any order) and, for every pair with
    /// daily candles, its `1W`, `14D` and `1M` candles unless given for that pair.
    pub(crate) fn new(candles: Vec<(String, Timeframe, Candle)>) -> Result<CandleStore, CandleError> {
        let mut len = candles.len();
        let mut series: BTreeMap<(String, Timeframe), Vec<Candle>> = BTreeMap::new();
        for (pair, tf, candle) in candles {
            series.entry((pair, tf)).or_default().push(candle);
        }
        for candles in series.values_mut() {
            candles.sort_by_key(|c| c.mts);
        }
        let mut built = Vec::new();
        for ((pair, tf), daily) in &series {
            if *tf != Timeframe::D1 {
                continue;
            }
            for longer in [Timeframe::W1, Timeframe::D14, Timeframe::Mo1] {
                if !series.contains_key(&(pair.clone(), longer)) {
                    let candles = aggregate(pair, daily, longer)?;
                    len = len.saturating_add(candles.len());
                    if len > MAX_CANDLES {
                        return Err(CandleError::TooMany);
                    }
                    built.push(((pair.clone(), longer), candles));
                }
            }
        }
        series.extend(built);
        Ok(CandleStore { series })
    }

    /// The pair's candles of `tf`, oldest first (empty when it has none).
    pub(crate) fn series(&self, pair: &str, tf: Timeframe) -> &[Candle] {
        self.series.get(&(pair.to_owned(), tf)).map_or(&[], Vec::as_slice)
    }

    /// Candles held, built ones included.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.series.values().map(Vec::len).sum()
    }
}

/// Daily candles (sorted) folded into `tf` frames: the first open, the last close, the highest
/// high, the lowest low, the summed volume; MTS the frame's start.
fn aggregate(pair: &str, daily: &[Candle], tf: Timeframe) -> Result<Vec<Candle>, CandleError> {
    let mut out: Vec<Candle> = Vec::new();
    for day in daily {
        let start = tf.start_of(day.mts);
        match out.last_mut() {
            Some(frame) if frame.mts == start => {
                frame.close = day.close;
                frame.high = frame.high.max(day.high);
                frame.low = frame.low.min(day.low);
                frame.volume = frame.volume.checked_add(day.volume).ok_or_else(|| CandleError::Overflow {
                    pair: pair.to_owned(),
                    tf: tf.name(),
                    mts: format_mts(start),
                })?;
            }
            _ => out.push(Candle { mts: start, ..*day }),
        }
    }
    Ok(out)
}

/// Days since 1970-01-01 of a date in the proleptic Gregorian calendar (H. Hinnant's
/// `days_from_civil`).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let (month, day) = (i64::from(month), i64::from(day));
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date (year, month 1–12, day 1–31) of a day counted from 1970-01-01 (Hinnant's
/// `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // Both are in range by construction (1..=31 and 1..=12).
    (year, u32::try_from(month).unwrap_or(1), u32::try_from(day).unwrap_or(1))
}

/// `2025-01-01` for a UTC midnight, else `2025-01-01T06:30:00.000Z`: how errors name a time.
pub(crate) fn format_mts(mts: i64) -> String {
    let (year, month, day) = civil_from_days(mts.div_euclid(DAY_MS));
    let ms = mts.rem_euclid(DAY_MS);
    if ms == 0 {
        return format!("{year:04}-{month:02}-{day:02}");
    }
    let (hours, minutes, seconds) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60);
    format!("{year:04}-{month:02}-{day:02}T{hours:02}:{minutes:02}:{seconds:02}.{:03}Z", ms % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candle(mts: i64, open: i64, close: i64, high: i64, low: i64, volume: i64) -> Candle {
        let d = Decimal::from;
        Candle { mts, open: d(open), close: d(close), high: d(high), low: d(low), volume: d(volume) }
    }

    /// 2025-01-01, a Wednesday.
    const NEW_YEAR: i64 = 1_735_689_600_000;

    #[test]
    fn calendar_round_trips() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2025, 1, 1) * DAY_MS, NEW_YEAR);
        assert_eq!(days_from_civil(2024, 2, 29), days_from_civil(2024, 3, 1) - 1);
        for days in [-800_000, -1, 0, 59, 60, 11_016, 20_089, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(20_089), (2025, 1, 1));
        assert_eq!(format_mts(NEW_YEAR), "2025-01-01");
        assert_eq!(format_mts(NEW_YEAR + 6 * 3_600_000 + 30 * 60_000 + 1), "2025-01-01T06:30:00.001Z");
    }

    #[test]
    fn timeframes_parse_and_cut() {
        for tf in ["1m", "5m", "15m", "30m", "1h", "3h", "6h", "12h", "1D", "1W", "14D", "1M"] {
            assert_eq!(Timeframe::parse(tf).map(Timeframe::name), Some(tf));
        }
        assert_eq!(Timeframe::parse("7D"), Some(Timeframe::W1));
        for bad in ["1d", "4h", "1w", "2D", "", "1W "] {
            assert_eq!(Timeframe::parse(bad), None, "{bad}");
        }
        // Weeks start on Mondays: 2024-12-30 holds 2025-01-01 (Wednesday) to 2025-01-05 (Sunday).
        let monday = NEW_YEAR - 2 * DAY_MS;
        assert_eq!(Timeframe::W1.start_of(NEW_YEAR), monday);
        assert_eq!(Timeframe::W1.start_of(monday + 7 * DAY_MS - 1), monday);
        assert_eq!(Timeframe::W1.start_of(monday + 7 * DAY_MS), monday + 7 * DAY_MS);
        assert_eq!(Timeframe::Mo1.start_of(NEW_YEAR + 40 * DAY_MS), days_from_civil(2025, 2, 1) * DAY_MS);
        assert_eq!(Timeframe::H3.start_of(NEW_YEAR + 5 * 3_600_000), NEW_YEAR + 3 * 3_600_000);
        let fortnight = Timeframe::D14.start_of(NEW_YEAR);
        assert_eq!((fortnight - FIRST_MONDAY_MS) % (14 * DAY_MS), 0);
        assert!(fortnight <= NEW_YEAR && NEW_YEAR < fortnight + 14 * DAY_MS);
    }

    #[test]
    fn days_fold_into_weeks_and_months() {
        // 2025-01-30 (Thursday) to 2025-02-03 (Monday): two weeks, two months.
        let days: Vec<Candle> = (0..5)
            .map(|i| {
                let i64_i = i64::from(i);
                candle(NEW_YEAR + (29 + i64_i) * DAY_MS, 10 + i64_i, 11 + i64_i, 20 + i64_i, 5 - i64_i, 100)
            })
            .collect();
        let mut given: Vec<(String, Timeframe, Candle)> =
            days.iter().rev().map(|c| ("tBTCUSD".to_owned(), Timeframe::D1, *c)).collect();
        given.push(("tETHUSD".to_owned(), Timeframe::W1, candle(0, 1, 1, 1, 1, 1)));
        given.push(("tETHUSD".to_owned(), Timeframe::D1, candle(DAY_MS, 2, 2, 2, 2, 2)));
        let store = CandleStore::new(given).unwrap();
        assert_eq!(store.series("tBTCUSD", Timeframe::D1), days.as_slice());
        let week_of_30th = Timeframe::W1.start_of(days[0].mts);
        assert_eq!(
            store.series("tBTCUSD", Timeframe::W1),
            [candle(week_of_30th, 10, 14, 23, 2, 400), candle(days[4].mts, 14, 15, 24, 1, 100)]
        );
        assert_eq!(
            store.series("tBTCUSD", Timeframe::Mo1),
            [candle(NEW_YEAR, 10, 12, 21, 4, 200), candle(days[2].mts, 12, 15, 24, 1, 300)]
        );
        // 2025-02-03 starts a fortnight too (1437 × 14 days after 1970-01-05).
        assert_eq!(store.series("tBTCUSD", Timeframe::D14).len(), 2);
        // A pair's own weeks win over built ones; its months are still built.
        assert_eq!(store.series("tETHUSD", Timeframe::W1), [candle(0, 1, 1, 1, 1, 1)]);
        assert_eq!(store.series("tETHUSD", Timeframe::Mo1).len(), 1);
        assert!(store.series("tETHUSD", Timeframe::H1).is_empty());
        assert_eq!(store.len(), 7 + 3 * 2 + 2);
    }

    #[test]
    fn volumes_past_decimal_are_an_error() {
        let big = Candle { volume: Decimal::MAX, ..candle(0, 1, 1, 1, 1, 0) };
        let next = Candle { mts: DAY_MS, ..big };
        let e = CandleStore::new(vec![("tX".into(), Timeframe::D1, big), ("tX".into(), Timeframe::D1, next)])
            .unwrap_err();
        assert_eq!(e.to_string(), "the 1W volume of tX from 1969-12-29 cannot be summed exactly");
    }

    #[test]
    fn rows_are_json_numbers() {
        let mut out = String::new();
        let row = Candle {
            open: Decimal::new(15, 1),
            volume: Decimal::new(1, 8),
            ..candle(NEW_YEAR, 0, 2, 3, 1, 0)
        };
        row.write_json(&mut out);
        assert_eq!(out, "[1735689600000,1.5,2,3,1,0.00000001]");
    }
}
