//! Valuing 1 000 holdings in USD: `bfx_core::valuation::Market::new` over a ticker set, then
//! one `Market::quoter` (the route search) and `Quoter::value` per holding (direct and two-hop
//! routes, derivatives, unpriced ones).
//! `cargo bench -p bfx-core --bench valuation`; see BENCHMARKS.md.

use bfx_core::valuation::{Market, PriceKind};
use bfx_core::{Ticker, parse_tickers};
use divan::{Bencher, black_box, counter::ItemsCount};
use rust_decimal::Decimal;

fn main() {
    divan::main();
}

/// Number of generated currencies (`X000`…): each trades against one of USD, UST, BTC or ETH, so
/// holdings need a direct pair (USD), two hops (UST/BTC/ETH → USD) or, for a few, none at all.
const CURRENCIES: usize = 500;

fn tickers() -> Vec<Ticker> {
    let mut rows = vec![
        r#"["tBTCUSD",50000,1,50001,1,0,0,50000.5,100,51000,49000]"#.to_owned(),
        r#"["tETHUSD",3000,1,3001,1,0,0,3000.5,100,3100,2900]"#.to_owned(),
        r#"["tUSTUSD",0.9999,1,1.0001,1,0,0,1,100,1.01,0.99]"#.to_owned(),
        r#"["tBTCF0:USTF0",50000,1,50001,1,0,0,50000.5,100,51000,49000]"#.to_owned(),
        r#"["fUSD",0.0001,0.0001,30,100,0.0001,2,100,0,0,0.0001,100,0.0002,0.00005,null,null,1000]"#
            .to_owned(),
    ];
    for i in 0..CURRENCIES {
        let quote = ["USD", "UST", "BTC", "ETH"][i % 4];
        let price = if quote == "BTC" || quote == "ETH" { "0.00012345" } else { "1.2345" };
        rows.push(format!(r#"["tX{i:03}:{quote}",{price},10,{price},10,0,0,{price},1000,{price},{price}]"#));
    }
    let body = format!("[{}]", rows.join(","));
    parse_tickers(body.as_bytes()).unwrap_or_default()
}

fn underlying() -> Vec<(String, String)> {
    vec![("BTCF0".to_owned(), "BTC".to_owned()), ("USTF0".to_owned(), "UST".to_owned())]
}

/// 1 000 holdings: the generated currencies twice, with a few well-known and unknown ids mixed in.
fn holdings() -> Vec<(Decimal, String)> {
    (0_i64..1_000)
        .map(|i| {
            let currency = match i % 50 {
                0 => "BTC".to_owned(),
                1 => "USTF0".to_owned(),
                2 => "NOPE".to_owned(), // no route: Unpriced
                _ => format!("X{:03}", i.unsigned_abs() as usize % CURRENCIES),
            };
            (Decimal::new(123_456_789 + i, 8), currency)
        })
        .collect()
}

/// Building the market from the ticker rows (done once per `bfx balances --quote`).
#[divan::bench]
fn market_new(bencher: Bencher) {
    let tickers = tickers();
    let underlying = underlying();
    assert!(tickers.len() > CURRENCIES, "generated tickers must parse");
    bencher.bench(|| Market::new(black_box(&tickers), black_box(&underlying)));
}

/// `Market::new` + `quoter` + `value` of 1 000 holdings, summing what is priced.
#[divan::bench]
fn new_and_value_1000(bencher: Bencher) {
    let tickers = tickers();
    let underlying = underlying();
    let holdings = holdings();
    bencher.counter(ItemsCount::new(holdings.len())).bench(|| {
        let market = Market::new(black_box(&tickers), black_box(&underlying));
        let quoter = market.quoter("USD", PriceKind::Last);
        let mut total = Decimal::ZERO;
        for (amount, currency) in &holdings {
            if let Ok((_, value)) = quoter.value(*amount, currency, false) {
                total += value;
            }
        }
        total
    });
}

/// `value` of 1 000 holdings on a prebuilt market and quoter (routes already found).
#[divan::bench]
fn value_1000(bencher: Bencher) {
    let market = Market::new(&tickers(), &underlying());
    let quoter = market.quoter("USD", PriceKind::Last);
    let holdings = holdings();
    let priced =
        holdings.iter().filter(|(amount, currency)| quoter.value(*amount, currency, false).is_ok()).count();
    assert!(priced > 900, "most generated holdings must be priced, got {priced}");
    bencher.counter(ItemsCount::new(holdings.len())).bench(|| {
        holdings
            .iter()
            .map(|(amount, currency)| quoter.value(*amount, black_box(currency), false))
            .filter(|r| r.is_ok())
            .count()
    });
}
