//! `GET candles/trade:{TF}:{SYMBOL}/hist` and `…/last`: the key and the query, read strictly, and
//! the rows they ask for.
//!
//! Query (all optional; an empty value counts as absent): `start`, `end` (ms, inclusive, on MTS),
//! `limit` (1–10000, default 100), `sort` (`1` oldest first, else newest first). `hist` answers
//! `[[MTS, OPEN, CLOSE, HIGH, LOW, VOLUME], …]`; `last` the newest row in `start`..`end`, un-nested,
//! or `[]`. A pair without candles of that timeframe (an unknown pair, a funding symbol, an
//! intraday timeframe the state does not list) answers `[]`, not an error.

use crate::candle::{Candle, Timeframe};
use crate::reply::Rejection;
use crate::state::SimState;

/// Rows without `limit`: "The endpoint provides the last 100 candles by default"
/// (docs.bitfinex.com/reference/rest-public-candles).
pub(crate) const DEFAULT_LIMIT: usize = 100;
/// "Number of candles requested (Max: 10000)" (the docs' `limit`; ccxt 4.5.90 caps at 10000 too).
pub(crate) const MAX_LIMIT: usize = 10_000;
/// Longest symbol accepted in a key (Bitfinex's longest are ~20: `tTESTBTCF0:TESTUSDTF0`).
const MAX_SYMBOL_LEN: usize = 64;

/// The path's last segment; the docs: "Specifying either 'hist' or 'last' is mandatory".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Hist,
    Last,
}

/// The answer to `candles/{key}/{section}?{query}` (query pairs in the order sent; for a name
/// given twice, the first counts).
pub(crate) fn candles(
    state: &SimState,
    key: &str,
    section: Section,
    query: &[(String, String)],
) -> Result<String, Rejection> {
    let (tf, symbol) = parse_key(key)?;
    let params = Params::parse(query)?;
    let series = state.candles.series(symbol, tf);
    let from = series.partition_point(|c| params.start.is_some_and(|start| c.mts < start));
    let to = series.partition_point(|c| params.end.is_none_or(|end| c.mts <= end));
    let in_range = series.get(from..to).unwrap_or_default();
    let mut out = String::new();
    match section {
        Section::Last => match in_range.last() {
            Some(candle) => candle.write_json(&mut out),
            None => out.push_str("[]"),
        },
        Section::Hist => {
            let rows: Box<dyn Iterator<Item = &Candle>> = if params.oldest_first {
                Box::new(in_range.iter().take(params.limit))
            } else {
                Box::new(in_range.iter().rev().take(params.limit))
            };
            out.reserve(rows.size_hint().0.min(params.limit) * 64 + 2);
            out.push('[');
            for (i, candle) in rows.enumerate() {
                if i > 0 {
                    out.push(',');
                }
                candle.write_json(&mut out);
            }
            out.push(']');
        }
    }
    Ok(out)
}

/// `trade:{TF}:{SYMBOL}`: the timeframe and the symbol (which may hold colons: `tAVAX:USD`,
/// `fUSD:a30:p2:p30`).
fn parse_key(key: &str) -> Result<(Timeframe, &str), Rejection> {
    let rest = key.strip_prefix("trade:").ok_or(Rejection::KeyInvalid)?;
    let (tf, symbol) = rest.split_once(':').ok_or(Rejection::KeyInvalid)?;
    let symbol_ok = symbol.len() > 1
        && symbol.len() <= MAX_SYMBOL_LEN
        && (symbol.starts_with('t') || symbol.starts_with('f'))
        && symbol.bytes().all(|b| b.is_ascii_alphanumeric() || b == b':');
    if !symbol_ok {
        return Err(Rejection::KeyInvalid);
    }
    let tf = Timeframe::parse(tf).ok_or(Rejection::TimeframeInvalid)?;
    Ok((tf, symbol))
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Params {
    start: Option<i64>,
    end: Option<i64>,
    limit: usize,
    oldest_first: bool,
}

impl Params {
    fn parse(query: &[(String, String)]) -> Result<Params, Rejection> {
        let field = |name: &str| {
            query.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
        };
        let time = |name: &str, refused: Rejection| {
            field(name).map(|v| integer(v).filter(|t| *t >= 0).ok_or(refused)).transpose()
        };
        let start = time("start", Rejection::StartInvalid)?;
        let end = time("end", Rejection::EndInvalid)?;
        if let (Some(start), Some(end)) = (start, end)
            && start > end
        {
            return Err(Rejection::TimeIntervalInvalid);
        }
        let limit = match field("limit") {
            None => DEFAULT_LIMIT,
            Some(v) => integer(v)
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or(Rejection::LimitInvalid)?,
        };
        // The docs give `+1` and `-1`; anything else sorts newest first, as the default does
        // (the `bitfinex` Rust crate sends `sort=0` for it).
        let oldest_first = match field("sort") {
            None => false,
            Some(v) => integer(v).ok_or(Rejection::SortInvalid)? == 1,
        };
        Ok(Params { start, end, limit, oldest_first })
    }
}

/// A whole number written as digits, optionally signed (`+1`, `-1`).
fn integer(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()
    }

    fn parse(pairs: &[(&str, &str)]) -> Result<Params, Rejection> {
        Params::parse(&query(pairs))
    }

    #[test]
    fn keys() {
        assert_eq!(parse_key("trade:1D:tBTCUSD"), Ok((Timeframe::D1, "tBTCUSD")));
        assert_eq!(parse_key("trade:7D:tAVAX:USD"), Ok((Timeframe::W1, "tAVAX:USD")));
        assert_eq!(parse_key("trade:1m:fUSD:a30:p2:p30"), Ok((Timeframe::M1, "fUSD:a30:p2:p30")));
        for bad in ["", "trade", "trade:1D", "trade:1D:", "trade:1D:t", "funding:1D:tBTCUSD", "1D:tBTCUSD"] {
            assert_eq!(parse_key(bad), Err(Rejection::KeyInvalid), "{bad}");
        }
        assert_eq!(parse_key("trade:1D:BTCUSD"), Err(Rejection::KeyInvalid));
        assert_eq!(parse_key("trade:1D:tBTC/USD"), Err(Rejection::KeyInvalid));
        assert_eq!(parse_key("trade:4h:tBTCUSD"), Err(Rejection::TimeframeInvalid));
        assert_eq!(parse_key("trade:1d:tBTCUSD"), Err(Rejection::TimeframeInvalid));
    }

    #[test]
    fn params_defaults_and_forms() {
        let none = Params { start: None, end: None, limit: DEFAULT_LIMIT, oldest_first: false };
        assert_eq!(parse(&[]), Ok(none.clone()));
        // Empty values are absent (some clients send `limit=&start=`); unknown names are ignored.
        assert_eq!(parse(&[("limit", ""), ("start", ""), ("end", ""), ("sort", ""), ("x", "y")]), Ok(none));
        assert_eq!(
            parse(&[("start", "5"), ("end", "5"), ("limit", "10000"), ("sort", "1"), ("sort", "-1")]),
            Ok(Params { start: Some(5), end: Some(5), limit: 10_000, oldest_first: true })
        );
        for sort in ["-1", "0", "+2"] {
            assert_eq!(parse(&[("sort", sort)]).map(|p| p.oldest_first), Ok(false), "{sort}");
        }
        assert_eq!(parse(&[("sort", "+1")]).map(|p| p.oldest_first), Ok(true));
    }

    #[test]
    fn each_bad_parameter_names_itself() {
        for (pairs, rejection) in [
            (&[("limit", "10001")][..], Rejection::LimitInvalid),
            (&[("limit", "0")], Rejection::LimitInvalid),
            (&[("limit", "1.5")], Rejection::LimitInvalid),
            (&[("start", "-1")], Rejection::StartInvalid),
            (&[("start", "1e12")], Rejection::StartInvalid),
            (&[("end", "now")], Rejection::EndInvalid),
            (&[("start", "2"), ("end", "1")], Rejection::TimeIntervalInvalid),
            (&[("sort", "asc")], Rejection::SortInvalid),
        ] {
            assert_eq!(parse(pairs), Err(rejection), "{pairs:?}");
        }
    }
}
