//! Prices over time: daily candles of trading pairs, from Bitfinex into the store's candle cache
//! (see [`crate::candle_cache`]), asking only for days not yet stored.
//!
//! For each pair, the days of the range that the cache does not cover are read oldest first, as
//! many as one request takes (10 000: 27 years), the next page starting the day after the last
//! candle received, until the range's end. Each page is stored with the days it proves complete
//! in one transaction: a day inside them without a candle had none and is not asked for again.
//! Only days that had ended are asked for: today's candle is still moving (today's price is the
//! ticker's). Every request waits for the client's `candles` budget (30 a minute, shared by
//! everything the client does); a second run over the same days sends no request at all.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bfx_client::{CandleQuery, Client};
use bfx_core::Candle;
use bfx_core::candle::{DAY_MS, day_start, is_day_start};

use crate::error::StoreError;
use crate::model::DayRange;
use crate::store::Store;

/// Why a candle sync stopped. Pages stored before the failure stay stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CandleSyncError {
    /// A request for `pair` failed (Bitfinex's code, if any, is in the error).
    #[error("candles of {pair}: {source}")]
    Client {
        pair: String,
        #[source]
        source: bfx_client::Error,
    },
    /// Bitfinex answered something that cannot be a page of what was asked (out of order, outside
    /// the range, not at a day's start).
    #[error("candles of {pair}: unexpected answer: {reason}")]
    Unexpected { pair: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where a candle sync has got to, reported after every request and every finished pair.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CandleProgress {
    /// Pairs asked for.
    pub pairs: usize,
    /// Pairs whose days are all stored (or were already).
    pub pairs_done: usize,
    /// The pair being read, while one is.
    pub pair: Option<String>,
    /// Candle requests answered.
    pub requests: u64,
    /// Candles received and stored.
    pub candles: u64,
    /// Waits of a second or more for a candles request: the client's budget, a 429's block, a
    /// retry's backoff (a countdown: `ClientBuilder::on_wait`).
    pub waits: u64,
}

/// Brings `pairs`' daily candles from `from_mts` to `to_mts` into the store: every day of the
/// range that had ended by `now_ms` (milliseconds since the epoch) and is not yet covered. The
/// bounds are taken to the start of their UTC day. Returns the final progress.
pub async fn sync_candles(
    client: &Client,
    store: &Store,
    pairs: &[String],
    from_mts: i64,
    to_mts: i64,
    now_ms: i64,
    progress: impl FnMut(&CandleProgress),
) -> Result<CandleProgress, CandleSyncError> {
    sync_candles_paged(client, store, pairs, from_mts, to_mts, now_ms, CandleQuery::MAX_LIMIT, progress).await
}

/// [`sync_candles`] with pages of at most `page` candles (1 to [`CandleQuery::MAX_LIMIT`]): for
/// tests of paging; a smaller page only costs more requests.
#[allow(clippy::too_many_arguments, reason = "sync_candles' arguments and the page size")]
pub async fn sync_candles_paged(
    client: &Client,
    store: &Store,
    pairs: &[String],
    from_mts: i64,
    to_mts: i64,
    now_ms: i64,
    page: u32,
    mut progress: impl FnMut(&CandleProgress),
) -> Result<CandleProgress, CandleSyncError> {
    let waits = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&waits);
    let client = client.with_wait_observer(Arc::new(move |event| {
        if event.endpoint == "candles" {
            counted.fetch_add(1, Ordering::Relaxed);
        }
    }));
    let mut state = CandleProgress { pairs: pairs.len(), ..CandleProgress::default() };
    // The last day that has ended.
    let last_day = (day_start(to_mts)).min(day_start(now_ms) - DAY_MS);
    let first_day = day_start(from_mts);
    for pair in pairs {
        state.pair = Some(pair.clone());
        if first_day <= last_day {
            for gap in store.candle_gaps(pair, first_day, last_day).await? {
                let mut read = Read { client: &client, store, pair, page, waits: &waits, state: &mut state };
                read.range(gap, &mut progress).await?;
            }
        }
        state.pairs_done += 1;
        state.pair = None;
        state.waits = waits.load(Ordering::Relaxed);
        progress(&state);
    }
    Ok(state)
}

struct Read<'a> {
    client: &'a Client,
    store: &'a Store,
    pair: &'a str,
    page: u32,
    waits: &'a AtomicU64,
    state: &'a mut CandleProgress,
}

impl Read<'_> {
    /// Reads and stores every day of `gap`, oldest first, a page at a time.
    async fn range(
        &mut self,
        gap: DayRange,
        progress: &mut impl FnMut(&CandleProgress),
    ) -> Result<(), CandleSyncError> {
        let mut start = gap.from_day;
        loop {
            let query = CandleQuery { limit: self.page, ..CandleQuery::daily(self.pair, start, gap.to_day) };
            let result = self.client.candles(&query).await;
            self.state.waits = self.waits.load(Ordering::Relaxed);
            let candles =
                result.map_err(|source| CandleSyncError::Client { pair: self.pair.to_owned(), source })?;
            self.state.requests += 1;
            self.check(&candles, start, gap.to_day)?;
            let full = candles.len() >= self.page as usize;
            // A full page proves the days up to its last candle; a shorter one, the whole range.
            let through = match candles.last() {
                Some(last) if full => last.mts,
                _ => gap.to_day,
            };
            self.store
                .store_candles(self.pair, &candles, DayRange { from_day: start, to_day: through })
                .await?;
            self.state.candles += candles.len() as u64;
            progress(self.state);
            if through >= gap.to_day {
                return Ok(());
            }
            start = through + DAY_MS;
        }
    }

    /// A page must be strictly oldest first, at day starts, inside what was asked.
    fn check(&self, candles: &[Candle], start: i64, end: i64) -> Result<(), CandleSyncError> {
        let unexpected = |reason: String| CandleSyncError::Unexpected { pair: self.pair.to_owned(), reason };
        if candles.len() > self.page as usize {
            return Err(unexpected(format!(
                "{} candles, more than the {} asked for",
                candles.len(),
                self.page
            )));
        }
        let mut previous = None;
        for (i, c) in candles.iter().enumerate() {
            if !is_day_start(c.mts) {
                return Err(unexpected(format!("row {i}: MTS {} is not the start of a UTC day", c.mts)));
            }
            if c.mts < start || c.mts > end {
                return Err(unexpected(format!("row {i}: MTS {} is outside {start}..={end}", c.mts)));
            }
            if previous.is_some_and(|p| p >= c.mts) {
                return Err(unexpected(format!(
                    "row {i}: MTS {} is not after the row before (sort=1)",
                    c.mts
                )));
            }
            previous = Some(c.mts);
        }
        Ok(())
    }
}
