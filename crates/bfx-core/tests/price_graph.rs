//! The price graph against a brute-force search on random markets: every simple route of at most
//! three pairs is listed, the shortest kept, and the documented tie-break applied to them as a
//! whole (hop by hop from the currency: preferred intermediate, larger USD volume, id; the direct
//! pair before the inverse one). The engine must pick exactly that route, at exactly its price.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

use std::cmp::Reverse;

use bfx_core::{Market, PriceKind, Unpriced, pair_symbol, parse_tickers};
use proptest::prelude::*;
use rust_decimal::Decimal;

const IDS: [&str; 12] = ["USD", "UST", "BTC", "ETH", "EUR", "XRP", "SOL", "ADA", "DOT", "ZEC", "LTC", "XMR"];
const PREFERRED: [&str; 5] = ["USD", "UST", "BTC", "ETH", "EUR"];

/// One generated ticker: base, quote, and the fields a price or a volume reads.
#[derive(Debug, Clone)]
struct Gen {
    base: usize,
    quote: usize,
    bid: Option<Decimal>,
    ask: Option<Decimal>,
    last: Option<Decimal>,
    volume: Option<Decimal>,
}

fn number() -> impl Strategy<Value = Option<Decimal>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Decimal::ZERO)),
        8 => (1i64..=5_000_000, 0u32..=4).prop_map(|(m, s)| Some(Decimal::new(m, s))),
    ]
}

fn ticker() -> impl Strategy<Value = Gen> {
    (0..IDS.len(), 0..IDS.len(), number(), number(), number(), number())
        .prop_filter("a pair has two currencies", |(b, q, ..)| b != q)
        .prop_map(|(base, quote, bid, ask, last, volume)| Gen { base, quote, bid, ask, last, volume })
}

fn text(value: Option<Decimal>) -> String {
    value.map_or_else(|| "null".to_owned(), |v| v.to_string())
}

/// The generated tickers, first row per pair only (as the market keeps them).
fn dedup(tickers: Vec<Gen>) -> Vec<Gen> {
    let mut kept: Vec<Gen> = Vec::new();
    for t in tickers {
        if !kept.iter().any(|k| k.base == t.base && k.quote == t.quote) {
            kept.push(t);
        }
    }
    kept
}

fn body(tickers: &[Gen]) -> String {
    let rows: Vec<String> = tickers
        .iter()
        .map(|t| {
            format!(
                r#"["{}",{},1,{},1,0,0,{},{},1,1]"#,
                pair_symbol(IDS[t.base], IDS[t.quote]),
                text(t.bid),
                text(t.ask),
                text(t.last),
                text(t.volume)
            )
        })
        .collect();
    format!("[{}]", rows.join(","))
}

fn positive(v: Option<Decimal>) -> Option<Decimal> {
    v.filter(|v| *v > Decimal::ZERO)
}

/// (numerator, denominator) of one hop over `t`, read directly or inverted.
fn ratio(t: &Gen, kind: PriceKind, inverse: bool) -> Option<(Decimal, Decimal)> {
    let sum = || positive(t.bid)?.checked_add(positive(t.ask)?);
    Some(match (kind, inverse) {
        (PriceKind::Last, false) => (positive(t.last)?, Decimal::ONE),
        (PriceKind::Last, true) => (Decimal::ONE, positive(t.last)?),
        (PriceKind::Bid, false) => (positive(t.bid)?, Decimal::ONE),
        (PriceKind::Bid, true) => (Decimal::ONE, positive(t.ask)?),
        (PriceKind::Mid, false) => (sum()?, Decimal::TWO),
        (PriceKind::Mid, true) => (Decimal::TWO, sum()?),
    })
}

/// `VOLUME × LAST × the quote's USD price` (1 for USD; from its own pair with USD otherwise).
fn usd_volume(all: &[Gen], t: &Gen) -> Option<Decimal> {
    let in_quote = t.volume?.checked_mul(t.last?)?;
    let usd = if IDS[t.quote] == "USD" {
        Decimal::ONE
    } else {
        let find = |b: &str, q: &str| all.iter().find(|x| IDS[x.base] == b && IDS[x.quote] == q);
        match find(IDS[t.quote], "USD").and_then(|x| positive(x.last)) {
            Some(last) => last,
            None => Decimal::ONE.checked_div(find("USD", IDS[t.quote]).and_then(|x| positive(x.last))?)?,
        }
    };
    in_quote.checked_mul(usd)
}

/// One usable hop: the ticker's index, whether it is read inverted, and its ratio.
type Hop = (usize, bool, (Decimal, Decimal));

/// Usable hops from `a` to `b`: the direct pair first, then the inverse one.
fn hops(all: &[Gen], a: usize, b: usize, kind: PriceKind) -> Vec<Hop> {
    let mut out = Vec::new();
    for (i, t) in all.iter().enumerate() {
        if t.base == a && t.quote == b {
            out.extend(ratio(t, kind, false).map(|r| (i, false, r)));
        }
    }
    for (i, t) in all.iter().enumerate() {
        if t.base == b && t.quote == a {
            out.extend(ratio(t, kind, true).map(|r| (i, true, r)));
        }
    }
    out
}

/// Every simple route (as currency ids visited) from `from` to `to` of at most 3 hops.
fn paths(all: &[Gen], from: usize, to: usize, kind: PriceKind) -> Vec<Vec<usize>> {
    let mut found = Vec::new();
    let mut stack = vec![vec![from]];
    while let Some(path) = stack.pop() {
        let at = *path.last().unwrap();
        if at == to {
            found.push(path);
            continue;
        }
        if path.len() > 3 {
            continue;
        }
        for next in 0..IDS.len() {
            if !path.contains(&next) && !hops(all, at, next, kind).is_empty() {
                let mut longer = path.clone();
                longer.push(next);
                stack.push(longer);
            }
        }
    }
    found
}

/// The expected route's tickers, or `None` when there is none.
fn brute_force(all: &[Gen], from: usize, to: usize, kind: PriceKind) -> Option<Vec<Hop>> {
    let candidates = paths(all, from, to, kind);
    let shortest = candidates.iter().map(Vec::len).min()?;
    let rank = |id: usize| match id == to {
        true => 0,
        false => PREFERRED.iter().position(|p| *p == IDS[id]).map_or(usize::MAX, |i| i + 1),
    };
    let key = |path: &Vec<usize>| {
        path.windows(2)
            .map(|w| {
                let volume =
                    hops(all, w[0], w[1], kind).iter().filter_map(|h| usd_volume(all, &all[h.0])).max();
                (rank(w[1]), Reverse(volume), IDS[w[1]])
            })
            .collect::<Vec<_>>()
    };
    let best = candidates.iter().filter(|p| p.len() == shortest).min_by_key(|p| key(p))?;
    Some(best.windows(2).map(|w| hops(all, w[0], w[1], kind)[0]).collect())
}

fn kind() -> impl Strategy<Value = PriceKind> {
    prop_oneof![Just(PriceKind::Last), Just(PriceKind::Bid), Just(PriceKind::Mid)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn routes_match_a_brute_force_search(
        tickers in prop::collection::vec(ticker(), 0..24),
        from in 0..IDS.len(),
        to in 0..IDS.len(),
        kind in kind(),
    ) {
        let tickers = dedup(tickers);
        let market = Market::new(&parse_tickers(body(&tickers).as_bytes()).unwrap(), &[]);
        let got = market.price(IDS[from], IDS[to], kind, false);
        if from == to {
            prop_assert_eq!(got.map(|p| (p.value, p.route)), Ok((Decimal::ONE, vec![])));
            return Ok(());
        }
        match brute_force(&tickers, from, to, kind) {
            None => prop_assert_eq!(got, Err(Unpriced::NoRoute { quote: IDS[to].to_owned() })),
            Some(expected) => {
                let symbols: Vec<String> =
                    expected.iter().map(|h| pair_symbol(IDS[tickers[h.0].base], IDS[tickers[h.0].quote])).collect();
                let num = expected.iter().try_fold(Decimal::ONE, |acc, h| acc.checked_mul(h.2.0));
                let den = expected.iter().try_fold(Decimal::ONE, |acc, h| acc.checked_mul(h.2.1));
                let value = num.zip(den).and_then(|(n, d)| if d == Decimal::ONE { Some(n) } else { n.checked_div(d) });
                match value.filter(|v| *v > Decimal::ZERO) {
                    Some(value) => {
                        let price = got.unwrap();
                        prop_assert_eq!(price.route, symbols);
                        prop_assert_eq!(price.value, value);
                    }
                    None => prop_assert_eq!(got, Err(Unpriced::OutOfRange { route: symbols })),
                }
            }
        }
    }
}
