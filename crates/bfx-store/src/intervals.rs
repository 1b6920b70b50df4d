//! Tables of closed intervals kept merged per key: what is known completely stored, of an
//! account's ledger (`coverage`, in milliseconds) and of a pair's daily candles
//! (`candle_coverage`, in day starts). One reading and one merging for both; the table and key
//! names are constants, never data.

use sqlx::{Any, AnyPool, Transaction};

use crate::error::StoreError;

/// One table of intervals.
pub(crate) struct Intervals {
    table: &'static str,
    /// Its key column.
    key: &'static str,
    /// How far apart two intervals still touch: 1 ms (`..=9` and `10..=`), a day (a day's start
    /// and the next one's).
    touch: i64,
    /// What reading, merging and recording it is, in errors.
    contexts: [&'static str; 3],
}

/// An account's completely stored ledger intervals.
pub(crate) const COVERAGE: Intervals = Intervals {
    table: "coverage",
    key: "account",
    touch: 1,
    contexts: ["reading coverage", "merging coverage", "recording coverage"],
};

/// A pair's days known complete.
pub(crate) const CANDLE_COVERAGE: Intervals = Intervals {
    table: "candle_coverage",
    key: "pair",
    touch: bfx_core::candle::DAY_MS,
    contexts: ["reading candle coverage", "merging candle coverage", "recording candle coverage"],
};

impl Intervals {
    /// `key`'s intervals, merged, oldest first, as `(from, to)`.
    pub(crate) async fn read(&self, pool: &AnyPool, key: &str) -> Result<Vec<(i64, i64)>, StoreError> {
        let sql =
            format!("SELECT from_mts, to_mts FROM {} WHERE {} = $1 ORDER BY from_mts", self.table, self.key);
        sqlx::query_as(&sql).bind(key).fetch_all(pool).await.map_err(StoreError::db(self.contexts[0]))
    }

    /// Merges `from..=to` into `key`'s intervals: every one that overlaps or touches it is
    /// replaced by their union.
    pub(crate) async fn merge(
        &self,
        tx: &mut Transaction<'static, Any>,
        key: &str,
        from: i64,
        to: i64,
    ) -> Result<(), StoreError> {
        let [reading, merging, recording] = self.contexts;
        let (reach_from, reach_to) = (from.saturating_sub(self.touch), to.saturating_add(self.touch));
        let within =
            format!("FROM {} WHERE {} = $1 AND to_mts >= $2 AND from_mts <= $3", self.table, self.key);
        let touching: Vec<(i64, i64)> = sqlx::query_as(&format!("SELECT from_mts, to_mts {within}"))
            .bind(key)
            .bind(reach_from)
            .bind(reach_to)
            .fetch_all(&mut **tx)
            .await
            .map_err(StoreError::db(reading))?;
        let from = touching.iter().map(|(f, _)| *f).fold(from, i64::min);
        let to = touching.iter().map(|(_, t)| *t).fold(to, i64::max);
        sqlx::query(&format!("DELETE {within}"))
            .bind(key)
            .bind(reach_from)
            .bind(reach_to)
            .execute(&mut **tx)
            .await
            .map_err(StoreError::db(merging))?;
        let insert =
            format!("INSERT INTO {} ({}, from_mts, to_mts) VALUES ($1, $2, $3)", self.table, self.key);
        sqlx::query(&insert)
            .bind(key)
            .bind(from)
            .bind(to)
            .execute(&mut **tx)
            .await
            .map_err(StoreError::db(recording))?;
        Ok(())
    }
}
