//! The candle cache: daily candles of trading pairs and the ranges of days known complete
//! (schema version 3). [`crate::candles::sync_candles`] fills it; the price graph reads closes
//! from it.
//!
//! A page of candles and the days it proves are written in one transaction, so the cache never
//! claims a day it does not hold. A covered day without a row had no candle (the pair was not
//! traded that day: delisted, not yet listed) and is not asked for again. Every stored candle lies
//! inside a covered range. Prices are exact decimals, stored and read as the ledger's amounts are.

use std::collections::BTreeMap;

use bfx_core::Candle;
use bfx_core::candle::{DAY_MS, is_day_start};
use futures_util::TryStreamExt;
use rust_decimal::Decimal;

use crate::bulk::Param;
use crate::error::StoreError;
use crate::intervals::CANDLE_COVERAGE;
use crate::model::DayRange;
use crate::store::Store;

/// Candles per insert statement: 7 parameters each.
const CANDLES_PER_INSERT: usize = 250;
/// Pairs per `IN (…)` list when reading closes.
const PAIRS_PER_SELECT: usize = 500;

/// Refuses a day that is not 00:00 UTC.
fn day(what: &'static str, mts: i64) -> Result<i64, StoreError> {
    if is_day_start(mts) { Ok(mts) } else { Err(StoreError::NotADay { what, mts }) }
}

/// Refuses a range whose ends are not day starts, or whose start is after its end.
fn day_range(range: DayRange) -> Result<DayRange, StoreError> {
    day("first day", range.from_day)?;
    day("last day", range.to_day)?;
    if range.from_day > range.to_day {
        return Err(StoreError::EmptyInterval { from_mts: range.from_day, to_mts: range.to_day });
    }
    Ok(range)
}

impl Store {
    /// Stores `pair`'s daily `candles` and records that every day of `covered` is now complete,
    /// in one transaction; returns how many candles were written. Every candle must be at a day
    /// start inside `covered` ([`StoreError::CandleOutside`], [`StoreError::NotADay`]; nothing is
    /// stored then). A candle already stored for the day is replaced (Bitfinex's answer is the
    /// truth). `covered` is merged with the ranges it overlaps or touches.
    ///
    /// Only days that have ended belong in `covered`: a covered day is never fetched again.
    pub async fn store_candles(
        &self,
        pair: &str,
        candles: &[Candle],
        covered: DayRange,
    ) -> Result<u64, StoreError> {
        let covered = day_range(covered)?;
        for candle in candles {
            day("candle", candle.mts)?;
            if candle.mts < covered.from_day || candle.mts > covered.to_day {
                return Err(StoreError::CandleOutside {
                    pair: pair.to_owned(),
                    mts: candle.mts,
                    from_day: covered.from_day,
                    to_day: covered.to_day,
                });
            }
        }
        let mut tx = self
            .pool
            .begin_with(self.dialect.begin_write)
            .await
            .map_err(StoreError::db("starting a candle write"))?;
        // Two writers of one pair take turns from here (a row lock in PostgreSQL).
        sqlx::query(
            "INSERT INTO candle_pair (pair) VALUES ($1) ON CONFLICT (pair) DO UPDATE SET pair = excluded.pair",
        )
        .bind(pair)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::db("recording a candle pair"))?;
        let mut written = 0;
        for chunk in candles.chunks(CANDLES_PER_INSERT) {
            let sql = self.insert_candles_sql(chunk.len());
            let mut query = sqlx::query(&sql);
            for c in chunk {
                query = query
                    .bind(pair)
                    .bind(c.mts)
                    .bind(c.open.to_string())
                    .bind(c.close.to_string())
                    .bind(c.high.to_string())
                    .bind(c.low.to_string())
                    .bind(c.volume.to_string());
            }
            written +=
                query.execute(&mut *tx).await.map_err(StoreError::db("inserting candles"))?.rows_affected();
        }
        CANDLE_COVERAGE.merge(&mut tx, pair, covered.from_day, covered.to_day).await?;
        tx.commit().await.map_err(StoreError::db("committing candles"))?;
        Ok(written)
    }

    /// `INSERT INTO candle … VALUES (…), … ON CONFLICT (pair, mts) DO UPDATE …` for `rows` rows.
    fn insert_candles_sql(&self, rows: usize) -> String {
        let d = self.dialect;
        let mut sql = String::from("INSERT INTO candle (pair, mts, open, close, high, low, volume) VALUES ");
        for row in 0..rows {
            let n = row * 7;
            if row > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "({}, {}, {}, {}, {}, {}, {})",
                d.param(n + 1),
                d.param(n + 2),
                d.decimal_param(n + 3),
                d.decimal_param(n + 4),
                d.decimal_param(n + 5),
                d.decimal_param(n + 6),
                d.decimal_param(n + 7),
            ));
        }
        sql.push_str(
            " ON CONFLICT (pair, mts) DO UPDATE SET open = excluded.open, close = excluded.close, \
             high = excluded.high, low = excluded.low, volume = excluded.volume",
        );
        sql
    }

    /// The ranges of days of `pair` known complete, merged, oldest first.
    pub async fn candle_coverage(&self, pair: &str) -> Result<Vec<DayRange>, StoreError> {
        let rows = CANDLE_COVERAGE.read(&self.pool, pair).await?;
        Ok(rows.into_iter().map(|(from_day, to_day)| DayRange { from_day, to_day }).collect())
    }

    /// The days of `from_day..=to_day` (day starts) not known complete for `pair`, as ranges,
    /// oldest first: what a sync still has to ask Bitfinex for.
    pub async fn candle_gaps(
        &self,
        pair: &str,
        from_day: i64,
        to_day: i64,
    ) -> Result<Vec<DayRange>, StoreError> {
        let wanted = day_range(DayRange { from_day, to_day })?;
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT from_mts, to_mts FROM candle_coverage
             WHERE pair = $1 AND to_mts >= $2 AND from_mts <= $3 ORDER BY from_mts",
        )
        .bind(pair)
        .bind(wanted.from_day)
        .bind(wanted.to_day)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::db("reading candle coverage"))?;
        let covered: Vec<DayRange> =
            rows.into_iter().map(|(from_day, to_day)| DayRange { from_day, to_day }).collect();
        Ok(uncovered(wanted, &covered))
    }

    /// The stored daily closes of `pairs` from `from_mts` to `to_mts` (inclusive, on the days'
    /// starts): pair → day start → close. A pair without any candle in the range is absent, and
    /// a day without a candle is absent from its pair's map (no trade that day: no price edge).
    /// Whether absent days are known to have had no candle is [`Store::candle_gaps`]' answer.
    pub async fn closes(
        &self,
        pairs: &[String],
        from_mts: i64,
        to_mts: i64,
    ) -> Result<BTreeMap<String, BTreeMap<i64, Decimal>>, StoreError> {
        let mut closes: BTreeMap<String, BTreeMap<i64, Decimal>> = BTreeMap::new();
        for chunk in pairs.chunks(PAIRS_PER_SELECT) {
            let list = crate::write::placeholders(3, chunk.len());
            let sql = format!(
                "SELECT pair, mts, CAST(close AS TEXT) FROM candle
                 WHERE mts >= $1 AND mts <= $2 AND pair IN ({list}) ORDER BY pair, mts"
            );
            let params = [Param::Int(from_mts), Param::Int(to_mts)]
                .into_iter()
                .chain(chunk.iter().map(|pair| Param::Text(pair.clone())))
                .collect();
            let mut rows = crate::bulk::read(self, sql, params, "reading closes", |row| {
                let (pair, mts, text) = (row.text(0)?, row.int(1)?, row.text(2)?);
                let close = Decimal::from_str_exact(text).map_err(|_| StoreError::CorruptCandle {
                    pair: pair.to_owned(),
                    mts,
                    column: "close",
                    text: text.to_owned(),
                    expected: "an exact decimal of at most 28 digits",
                })?;
                Ok((pair.to_owned(), mts, close))
            });
            while let Some(batch) = rows.try_next().await? {
                for (pair, mts, close) in batch {
                    closes.entry(pair).or_default().insert(mts, close);
                }
            }
        }
        Ok(closes)
    }
}

/// The days of `wanted` that no range of `covered` (merged, ascending) holds, as ranges.
pub(crate) fn uncovered(wanted: DayRange, covered: &[DayRange]) -> Vec<DayRange> {
    let mut gaps = Vec::new();
    let mut next = wanted.from_day;
    for c in covered {
        if c.to_day < next {
            continue;
        }
        if c.from_day > wanted.to_day {
            break;
        }
        if c.from_day > next {
            gaps.push(DayRange { from_day: next, to_day: c.from_day - DAY_MS });
        }
        next = c.to_day.saturating_add(DAY_MS);
    }
    if next <= wanted.to_day {
        gaps.push(DayRange { from_day: next, to_day: wanted.to_day });
    }
    gaps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(from: i64, to: i64) -> DayRange {
        DayRange { from_day: from * DAY_MS, to_day: to * DAY_MS }
    }

    #[test]
    fn uncovered_days() {
        assert_eq!(uncovered(r(0, 9), &[]), [r(0, 9)]);
        assert_eq!(uncovered(r(0, 9), &[r(0, 9)]), []);
        assert_eq!(uncovered(r(0, 9), &[r(-5, 20)]), []);
        assert_eq!(uncovered(r(0, 9), &[r(2, 3), r(5, 5)]), [r(0, 1), r(4, 4), r(6, 9)]);
        assert_eq!(uncovered(r(0, 9), &[r(-3, 0), r(9, 12)]), [r(1, 8)]);
        assert_eq!(uncovered(r(3, 3), &[r(0, 2), r(4, 5)]), [r(3, 3)]);
        assert_eq!(uncovered(r(0, 9), &[r(20, 30)]), [r(0, 9)]);
    }
}
