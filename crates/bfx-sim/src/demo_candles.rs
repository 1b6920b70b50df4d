//! Daily candles for every trading pair of the demo tickers: a deterministic random walk over the
//! year the demo ledger covers (the 365 UTC days before the start day) and the start day itself,
//! whose close is the ticker's last price.
//!
//! Built backwards from that price with exact decimals at the price's precision: each day moves
//! by a seeded step of at most a few times the ticker's 24 h change (stablecoins barely move),
//! opens at the previous close, and reaches a little past its open and close. The seed is the
//! pair and the calendar day, so every run on the same day builds the same candles.

use bfx_core::parse_json_number;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::candle::{Candle, CandleError, CandleStore, DAY_MS, Timeframe, format_mts};
use crate::state::SimState;

/// Days before the start day, as in `demo_history`.
const DAYS: i64 = 365;
/// Positions of DAILY_CHANGE_RELATIVE, LAST_PRICE and VOLUME in a trading ticker's fields.
const CHANGE_RELATIVE: usize = 5;
const LAST_PRICE: usize = 6;
const VOLUME: usize = 7;
/// Bounds of a day's largest move, in basis points.
const MIN_MOVE_BP: i64 = 5;
const MAX_MOVE_BP: i64 = 600;

/// The candles of every trading ticker with a last price above 0, for an emulator started at
/// `start_ms`.
pub(crate) fn candles(state: &SimState, start_ms: i64) -> Result<CandleStore, CandleError> {
    let today = start_ms.div_euclid(DAY_MS);
    let mut all = Vec::new();
    for ticker in state.tickers.iter().filter(|t| t.symbol.starts_with('t')) {
        let field = |i: usize| ticker.fields.get(i).and_then(|text| parse_json_number(text).ok());
        let Some(last) = field(LAST_PRICE).filter(|p| *p > Decimal::ZERO) else {
            continue;
        };
        let change = field(CHANGE_RELATIVE).unwrap_or_default().abs();
        let move_bp = (change * Decimal::from(30_000)).round().to_i64().unwrap_or(MAX_MOVE_BP);
        let walk = Walk {
            symbol: &ticker.symbol,
            seed: fnv1a(&ticker.symbol),
            move_bp: move_bp.clamp(MIN_MOVE_BP, MAX_MOVE_BP),
            volume: field(VOLUME).filter(|v| *v > Decimal::ZERO).unwrap_or(Decimal::ONE_HUNDRED),
        };
        for candle in walk.days(last, today)? {
            all.push((ticker.symbol.clone(), Timeframe::D1, candle));
        }
    }
    CandleStore::new(all)
}

struct Walk<'a> {
    symbol: &'a str,
    seed: u64,
    move_bp: i64,
    volume: Decimal,
}

impl Walk<'_> {
    /// Days `today - DAYS` to `today`, oldest first, the last closing at `last`.
    fn days(&self, last: Decimal, today: i64) -> Result<Vec<Candle>, CandleError> {
        let scale = last.scale().max(2);
        let unit = Decimal::new(1, scale);
        let first = today - DAYS;
        // closes[i] closes day `first + i`; the move of day d leads from its open to its close.
        let mut closes = vec![last; usize::try_from(DAYS + 1).unwrap_or(0)];
        for i in (0..closes.len().saturating_sub(1)).rev() {
            let day = first + i64::try_from(i).unwrap_or(0) + 1;
            let step = self.draw(day, 0, self.move_bp);
            let before = self.scaled(closes[i + 1], -step, day)?;
            closes[i] = before.round_dp(scale).max(unit);
        }
        let first_open =
            self.scaled(closes[0], self.draw(first, 1, self.move_bp), first)?.round_dp(scale).max(unit);
        let mut days = Vec::with_capacity(closes.len());
        for (i, close) in closes.iter().enumerate() {
            let day = first + i64::try_from(i).unwrap_or(0);
            let open = if i == 0 { first_open } else { closes[i - 1] };
            let reach = self.move_bp / 2;
            let high = self.scaled(open.max(*close), self.draw(day, 2, reach).abs(), day)?.round_dp(scale);
            // Rounding never crosses a value already at this precision: high stays >= max(open,
            // close), low <= min(open, close), and low stays above 0.
            let low = self
                .scaled(open.min(*close), -self.draw(day, 3, reach).abs(), day)?
                .round_dp(scale)
                .max(unit);
            let share = Decimal::new(100 + self.draw(day, 4, 50), 2);
            let volume = self.volume.checked_mul(share).ok_or_else(|| self.overflow(day))?;
            days.push(Candle { mts: day * DAY_MS, open, close: *close, high, low, volume });
        }
        Ok(days)
    }

    /// `value × (1 + bp / 10 000)`.
    fn scaled(&self, value: Decimal, bp: i64, day: i64) -> Result<Decimal, CandleError> {
        value.checked_mul(Decimal::new(10_000 + bp, 4)).ok_or_else(|| self.overflow(day))
    }

    fn overflow(&self, day: i64) -> CandleError {
        CandleError::Overflow {
            pair: self.symbol.to_owned(),
            tf: Timeframe::D1.name(),
            mts: format_mts(day * DAY_MS),
        }
    }

    /// A number in `-bound..=bound` from the pair's seed, the day and what it is for.
    fn draw(&self, day: i64, purpose: u64, bound: i64) -> i64 {
        let span = u64::try_from(2 * bound + 1).unwrap_or(1).max(1);
        let mixed = splitmix64(
            self.seed
                ^ (day as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ purpose.wrapping_mul(0xD1B5_4A32_D192_ED03),
        );
        i64::try_from(mixed % span).unwrap_or(0) - bound
    }
}

/// FNV-1a: a seed from the symbol that no Rust version or platform changes (unlike `Hash`).
fn fnv1a(text: &str) -> u64 {
    text.bytes()
        .fold(0xCBF2_9CE4_8422_2325, |hash, b| (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3))
}

/// SplitMix64's output function: a well-mixed value from a counter.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-01-01T05:00Z.
    const START: i64 = 1_767_225_600_000 + 5 * 3_600_000;

    #[test]
    fn every_trading_pair_gets_a_plausible_year_ending_at_its_price() {
        let state = SimState::from_toml(crate::state::DEMO_STATE_TOML, "demo.toml").unwrap();
        let store = candles(&state, START).unwrap();
        let pairs: Vec<_> = state.tickers.iter().filter(|t| t.symbol.starts_with('t')).collect();
        assert_eq!(pairs.len(), 23);
        for ticker in pairs {
            let days = store.series(&ticker.symbol, Timeframe::D1);
            assert_eq!(days.len(), 366, "{}", ticker.symbol);
            assert_eq!(days[0].mts, 1_767_225_600_000 - 365 * DAY_MS);
            let today = days[365];
            assert_eq!(today.mts, 1_767_225_600_000);
            assert_eq!(
                today.close,
                parse_json_number(&ticker.fields[LAST_PRICE]).unwrap(),
                "{}",
                ticker.symbol
            );
            for (i, day) in days.iter().enumerate() {
                assert!(
                    day.low > Decimal::ZERO && day.volume > Decimal::ZERO,
                    "{} {i}: {day:?}",
                    ticker.symbol
                );
                assert!(day.high >= day.open.max(day.close) && day.low <= day.open.min(day.close), "{day:?}");
                if i > 0 {
                    assert_eq!(day.open, days[i - 1].close);
                    assert_eq!(day.mts - days[i - 1].mts, DAY_MS);
                }
            }
            // A year's drift stays plausible: within a factor of 20 either way.
            let ratio = days[0].open / today.close;
            assert!(ratio > Decimal::new(5, 2) && ratio < Decimal::from(20), "{} {ratio}", ticker.symbol);
        }
        // Stablecoins barely move.
        let ust = store.series("tUSTUSD", Timeframe::D1);
        assert!(ust.iter().all(|d| (d.close - Decimal::ONE).abs() < Decimal::new(5, 2)), "{ust:?}");
    }

    #[test]
    fn the_same_day_builds_the_same_candles() {
        let state = SimState::from_toml(crate::state::DEMO_STATE_TOML, "demo.toml").unwrap();
        let a = candles(&state, START).unwrap();
        let b = candles(&state, START + 18 * 3_600_000).unwrap();
        let c = candles(&state, START + DAY_MS).unwrap();
        assert_eq!(a.series("tBTCUSD", Timeframe::D1), b.series("tBTCUSD", Timeframe::D1));
        assert_ne!(a.series("tBTCUSD", Timeframe::D1), c.series("tBTCUSD", Timeframe::D1));
        assert_ne!(a.series("tBTCUSD", Timeframe::D1)[..5], a.series("tETHUSD", Timeframe::D1)[..5]);
        // Pinned: a change to the walk shows here.
        assert_eq!((fnv1a(""), fnv1a("a")), (0xCBF2_9CE4_8422_2325, 0xAF63_DC4C_8601_EC8C));
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
    }
}
