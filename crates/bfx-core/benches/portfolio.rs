//! The portfolio at scale: 100 000 wallets over 1 000 accounts, valued through a market of 3 000
//! trading pairs, in USD and in EUR (routes of up to three hops), route search included.
//! `cargo bench -p bfx-core --bench portfolio`; the target (BENCHMARKS.md) is under 50 ms.

use bfx_core::portfolio::{
    AccountInput, AccountValue, Holdings, Pricer, Totals, Valuation, value, value_account,
};
use bfx_core::{Market, WalletRow, parse_tickers};
use divan::{Bencher, black_box, counter::ItemsCount};
use rust_decimal::Decimal;

fn main() {
    divan::main();
}

const CURRENCIES: usize = 1_500;
const ACCOUNTS: usize = 1_000;
const WALLETS_PER_ACCOUNT: usize = 100;
const QUOTES: [&str; 5] = ["USD", "UST", "BTC", "ETH", "EUR"];

/// 3 000 generated pairs (each currency against one of the usual quotes, and against another
/// generated currency, so some prices need three hops) plus the pairs between the quotes.
fn market() -> Market {
    let mut rows: Vec<String> = [
        r#"["tBTCUSD",50000,1,50001,1,0,0,50000.5,100,51000,49000]"#,
        r#"["tETHUSD",3000,1,3001,1,0,0,3000.5,1000,3100,2900]"#,
        r#"["tUSTUSD",0.9999,1,1.0001,1,0,0,1.0002,1000000,1.01,0.99]"#,
        r#"["tEURUST",1.16,1,1.17,1,0,0,1.165,100000,1.2,1.1]"#,
        r#"["tBTCEUR",43000,1,43001,1,0,0,43000.5,10,44000,42000]"#,
    ]
    .map(str::to_owned)
    .to_vec();
    for i in 0..CURRENCIES {
        // Every fifth currency trades only against EUR and another generated one: 3 hops to USD.
        let quote = QUOTES[i % 5];
        rows.push(format!(r#"["tX{i:04}:{quote}",1.2345,10,1.2346,10,0,0.01,1.23455,1000,1.3,1.2]"#));
        let other = (i * 7 + 1) % CURRENCIES;
        rows.push(format!(r#"["tX{i:04}:X{other:04}",0.98,10,0.99,10,0,-0.01,0.985,100,1,0.9]"#));
    }
    let body = format!("[{}]", rows.join(","));
    Market::new(&parse_tickers(body.as_bytes()).unwrap_or_default(), &[])
}

fn accounts() -> Vec<AccountInput> {
    accounts_of(ACCOUNTS, WALLETS_PER_ACCOUNT, |a, w| {
        let currency = match w {
            0 => "USD".to_owned(),
            1 => "BTC".to_owned(),
            2 => "NOPE".to_owned(), // no route: unpriced
            _ => format!("X{:04}", (a * 37 + w * 13) % CURRENCIES),
        };
        (["exchange", "margin", "funding"][w % 3], currency)
    })
}

/// `accounts` accounts of `wallets` wallets each, wallet `w` of account `a` of the type and in
/// the currency `kind(a, w)` says.
fn accounts_of(
    accounts: usize,
    wallets: usize,
    kind: impl Fn(usize, usize) -> (&'static str, String),
) -> Vec<AccountInput> {
    (0..accounts)
        .map(|a| {
            let wallets = (0..wallets)
                .map(|w| {
                    let (wallet_type, currency) = kind(a, w);
                    WalletRow {
                        wallet_type: wallet_type.into(),
                        currency,
                        balance: Decimal::new(123_456_789 + (a * w) as i64, 8),
                        unsettled_interest: Some(Decimal::ZERO),
                        available: None,
                        last_change: None,
                        last_change_metadata: None,
                    }
                })
                .collect();
            AccountInput::read(&format!("acct{a}"), Holdings { wallets, positions: Ok(Vec::new()) })
        })
        .collect()
}

/// Route search over 3 000 pairs and 100 000 wallets valued, summed per account, per asset and
/// overall.
#[divan::bench(args = ["USD", "EUR"])]
fn value_100k_wallets(bencher: Bencher, quote: &str) {
    let market = market();
    let accounts = accounts();
    let valuation = Valuation::new(quote);
    let priced = value(&accounts, Some(&market), &valuation);
    assert!(priced.assets.len() > 1_000 && priced.total.is_some(), "the benchmark must value something");
    bencher
        .counter(ItemsCount::new(ACCOUNTS * WALLETS_PER_ACCOUNT))
        .bench(|| value(black_box(&accounts), Some(black_box(&market)), black_box(&valuation)));
}

/// The route search alone: every currency's route to the quote.
#[divan::bench(args = ["USD", "EUR"])]
fn route_search_3000_pairs(bencher: Bencher, quote: &str) {
    let market = market();
    bencher.bench(|| market.quoter(black_box(quote), bfx_core::PriceKind::Last));
}

/// 1 000 accounts of 20 wallets in the same 7 currencies (the serve benchmark's shape), valued.
fn valued_20k_wallets(market: &Market, valuation: &Valuation) -> Vec<AccountValue> {
    let currencies = ["USD", "BTC", "ETH", "X0001", "X0002", "X0003", "X0004"];
    let inputs =
        accounts_of(1_000, 20, |_, w| (["exchange", "margin", "funding"][w / 7], currencies[w % 7].into()));
    let mut pricer = Pricer::new(Some(market), valuation);
    inputs.iter().map(|a| value_account(a, &mut pricer)).collect()
}

/// The sums from scratch, as new prices make them: 20 000 valued wallets summed.
#[divan::bench]
fn totals_20k_wallets(bencher: Bencher) {
    let market = market();
    let valuation = Valuation::new("USD");
    let values = valued_20k_wallets(&market, &valuation);
    bencher.counter(ItemsCount::new(20_000usize)).with_inputs(|| values.clone()).bench_values(|values| {
        Totals::of(&values).portfolio(values, Some(black_box(&market)), black_box(&valuation))
    });
}

/// The sums after one account's wallet changed, as `bfx serve` makes them after a change: the
/// account's old value out, its new one in, and the portfolio of the 20 000 wallets.
#[divan::bench]
fn totals_one_account_changed(bencher: Bencher) {
    let market = market();
    let valuation = Valuation::new("USD");
    let values = valued_20k_wallets(&market, &valuation);
    let totals = Totals::of(&values);
    let changed = values[500].clone();
    bencher.with_inputs(|| (totals.clone(), values.clone())).bench_values(|(mut totals, values)| {
        totals.remove(black_box(&values[500]));
        totals.add(black_box(&changed));
        totals.portfolio(values, Some(black_box(&market)), black_box(&valuation))
    });
}
