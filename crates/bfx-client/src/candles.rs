//! `GET candles/trade:{TF}:{PAIR}/hist` (public host): one page of a pair's candles, oldest first.
//!
//! Every key and section shares one budget, `candles` (30 a minute in the current docs), kept
//! like every other endpoint's by the client's limiter and retried like every public read. The
//! query is checked before anything is sent: the pair becomes part of the URL.

use std::sync::Arc;

use bfx_core::Candle;
use bfx_core::candle::Timeframe;

use crate::client::{Call, Client, parse_error};
use crate::error::Error;
use crate::limiter::{Observer, WaitEvent};

/// The rate-limit bucket, body cap and error name of every candles request (the emulator counts
/// them under the same name).
pub(crate) const CANDLES: &str = "candles";

/// Longest pair accepted (Bitfinex's longest are ~20 characters: `tTESTBTCF0:TESTUSDTF0`).
const MAX_PAIR_LEN: usize = 32;

/// One page of `candles/trade:{TF}:{PAIR}/hist`, always oldest first (`sort=1`). `start` and
/// `end` are milliseconds, both inclusive, on the candles' MTS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandleQuery {
    /// A trading pair: `t` then letters, digits and colons (`tBTCUSD`, `tAVAX:USD`).
    pub pair: String,
    pub timeframe: Timeframe,
    pub start: Option<i64>,
    pub end: Option<i64>,
    /// 1 to [`CandleQuery::MAX_LIMIT`]; always sent (the server's default is 100).
    pub limit: u32,
}

impl CandleQuery {
    /// The most candles one request may ask for (beyond: `10020 limit: invalid`): 27 years of
    /// days.
    pub const MAX_LIMIT: u32 = 10_000;

    /// Daily candles of `pair` from `start` to `end` (inclusive), as many as one request takes.
    pub fn daily(pair: impl Into<String>, start: i64, end: i64) -> CandleQuery {
        CandleQuery {
            pair: pair.into(),
            timeframe: Timeframe::D1,
            start: Some(start),
            end: Some(end),
            limit: CandleQuery::MAX_LIMIT,
        }
    }

    /// The URL's path and query after `/v2/`, or why it may not be sent.
    fn path(&self) -> Result<String, Error> {
        let refuse = |reason: String| Error::Query { endpoint: CANDLES, reason };
        let pair = &self.pair;
        let pair_ok = pair.len() > 1
            && pair.len() <= MAX_PAIR_LEN
            && pair.starts_with('t')
            && pair.bytes().all(|b| b.is_ascii_alphanumeric() || b == b':');
        if !pair_ok {
            return Err(refuse(format!(
                "pair {pair:?} is not a trading pair (t, then letters, digits and colons: tBTCUSD, tAVAX:USD)"
            )));
        }
        if self.limit == 0 || self.limit > CandleQuery::MAX_LIMIT {
            return Err(refuse(format!("limit {} is outside 1..={}", self.limit, CandleQuery::MAX_LIMIT)));
        }
        let mut query = format!("limit={}&sort=1", self.limit);
        for (name, value) in [("start", self.start), ("end", self.end)] {
            match value {
                Some(ms) if ms < 0 => return Err(refuse(format!("{name} {ms} is before 1970"))),
                Some(ms) => query.push_str(&format!("&{name}={ms}")),
                None => {}
            }
        }
        if let (Some(start), Some(end)) = (self.start, self.end)
            && start > end
        {
            return Err(refuse(format!("start {start} is after end {end}")));
        }
        Ok(format!("candles/trade:{}:{pair}/hist?{query}", self.timeframe.name()))
    }
}

impl Client {
    /// One page of a pair's candles, oldest first: at most `query.limit` of them, from
    /// `query.start` on. Paging through a longer range (and keeping what was read) is
    /// `bfx_store::candles::sync_candles`' job. A pair with no candles in the range, or unknown
    /// to Bitfinex, gives an empty page.
    pub async fn candles(&self, query: &CandleQuery) -> Result<Vec<Candle>, Error> {
        let url = format!("{}/v2/{}", self.endpoints.public_url, query.path()?);
        let body = self.execute(CANDLES, Call::Public { url }).await?;
        bfx_core::parse_candles(&body).map_err(parse_error(CANDLES))
    }

    /// A clone (sharing the connections, budgets and nonces) that also tells `observer` of every
    /// wait it is about to sit through, after the observer set with
    /// [`ClientBuilder::on_wait`](crate::ClientBuilder::on_wait), if any. For a task that wants
    /// to count its own waits (a sync reporting progress) without changing the client's.
    pub fn with_wait_observer(&self, observer: Arc<dyn Fn(WaitEvent) + Send + Sync>) -> Client {
        let chained: Arc<dyn Fn(WaitEvent) + Send + Sync> = match self.on_wait.clone() {
            None => observer,
            Some(Observer(first)) => Arc::new(move |event: WaitEvent| {
                first(event.clone());
                observer(event);
            }),
        };
        Client { on_wait: Some(Observer(chained)), ..self.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let q = CandleQuery::daily("tAVAX:USD", 0, 86_400_000);
        assert_eq!(
            q.path().unwrap(),
            "candles/trade:1D:tAVAX:USD/hist?limit=10000&sort=1&start=0&end=86400000"
        );
        let open = CandleQuery { start: None, end: None, limit: 5, timeframe: Timeframe::W1, ..q };
        assert_eq!(open.path().unwrap(), "candles/trade:1W:tAVAX:USD/hist?limit=5&sort=1");
    }

    #[test]
    fn bad_queries_are_refused() {
        let ok = CandleQuery::daily("tBTCUSD", 10, 20);
        for pair in
            ["", "t", "BTCUSD", "fUSD", "tBTC/USD", "tBTC USD", "tBTCUSD?x=1", "tÜST", &"tX".repeat(20)]
        {
            let q = CandleQuery { pair: pair.into(), ..ok.clone() };
            assert!(matches!(q.path(), Err(Error::Query { endpoint: "candles", .. })), "{pair:?}");
        }
        for (q, reason) in [
            (CandleQuery { limit: 0, ..ok.clone() }, "limit 0 is outside 1..=10000"),
            (CandleQuery { limit: 10_001, ..ok.clone() }, "limit 10001 is outside 1..=10000"),
            (CandleQuery { start: Some(21), ..ok.clone() }, "start 21 is after end 20"),
            (CandleQuery { start: Some(-1), ..ok.clone() }, "start -1 is before 1970"),
        ] {
            let error = q.path().unwrap_err();
            assert!(error.to_string().ends_with(reason), "{error}");
        }
    }
}
