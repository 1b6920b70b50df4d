//! The valuation engine through its public API, on a realistic `tickers` body read by the real
//! parser: every route kind, price kinds, quotes other than USD, derivatives, paper currencies,
//! and exactness.
//!
//! Expected values that need arithmetic were computed independently with Python's `decimal`
//! module at 200 digits, then rounded the way `rust_decimal` stores a result: half-even, to the
//! largest scale ≤ 28 whose mantissa fits in 96 bits (helper `rd(x)`). Values without a division
//! are exact products and need no rounding.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

use std::str::FromStr;

use bfx_core::{
    Market, Price, PriceKind, Unpriced, is_paper, pair_symbol, parse_json_number, parse_tickers,
    parse_trading_ticker,
};
use proptest::prelude::*;
use rust_decimal::Decimal;

/// `[SYMBOL, BID, BID_SIZE, ASK, ASK_SIZE, DAILY_CHANGE, DAILY_CHANGE_RELATIVE, LAST_PRICE, VOLUME,
/// HIGH, LOW]`. Real pairs carry real-looking numbers; invented ids exercise one route each:
/// INV (inverse only), XYZ (via BTC), QQQ (via ETH), MULTI (via UST, ETH and BTC), HOP (inverse
/// first hop), DUO (direct and inverse first hop), TWO (direct pair without bid, inverse pair),
/// LOW (null bid), ZER (zero bid), DEAD (all null).
const TICKERS: &[u8] = br#"[
["tBTCUSD",114687.475806,12.5,114710.415596,8.25,-936.648312,-0.0081,114698.945701,8.7185,117023.221141,113322.558353],
["tETHUSD",4335.1,40.2,4335.5,31.7,-153.5,-0.0342,4335.27383,1200.5,4500,4300],
["tETHBTC",0.03779,50,0.03781,60,0.0001,0.0026,0.037795,900,0.0382,0.0371],
["tUSTUSD",1.0002,1000000,1.0004,900000,0.0001,0.0001,1.00027,5e7,1.0005,0.9998],
["tBTCUST",114660.1,3,114670.3,2,-900,-0.0078,114665.2,300,117000,113300],
["tETHUST",4334.2,10,4334.8,12,-150,-0.0334,4334.61,800,4490,4290],
["tEURUST",1.1662,200000,1.1668,150000,0.001,0.0009,1.1664,3e6,1.17,1.16],
["tBTCEUR",98312,1.2,98330,0.8,-500,-0.005,98321,40,99000,97000],
["tAVAX:USD",31.76,100,31.78,90,-1.24,-0.0378,31.768197,1000,33,31],
["tUSDINV",3.6712,500,3.6725,400,0,0,3.6719,1000,3.68,3.66],
["tXYZBTC",0.00001234,1000,0.00001236,900,0,0,0.00001235,10000,0.0000125,0.0000122],
["tQQQETH",0.00419,100,0.00421,100,0,0,0.0042,1000,0.0043,0.0041],
["tMULTI:ETH",0.49,10,0.51,10,0,0,0.5,100,0.6,0.4],
["tMULTI:BTC",0.019,10,0.021,10,0,0,0.02,100,0.03,0.01],
["tMULTI:UST",1999,10,2001,10,0,0,2000,100,2100,1900],
["tUSTHOP",49.9,10,50.1,10,0,0,50,100,51,49],
["tDUOUST",2.9,10,3.1,10,0,0,3,100,3.2,2.8],
["tUSTDUO",0.39,10,0.41,10,0,0,0.4,100,0.42,0.38],
["tTWOUSD",null,null,7.1,10,0,0,7,100,7.2,6.8],
["tUSDTWO",0.139,10,0.141,10,0,0,0.14,100,0.15,0.13],
["tLOWUSD",null,null,1.95,10,0,0,1.9,100,2,1.8],
["tLOWUST",1.8,10,1.99,10,0,0,1.85,100,2,1.8],
["tZERUSD",0,0,5,10,0,0,4,100,5,3],
["tDEAD:USD",null,null,null,null,null,null,null,null,null,null],
["tBTCF0:USTF0",114650,5,114660,4,0,0,114655,100,115000,114000],
["tEUTF0:USTF0",1.166,5,1.167,4,0,0,1.1665,100,1.17,1.16],
["tTESTBTC:TESTUSD",114600,1,114700,1,0,0,114650.5,10,115000,114000],
["tTESTBTC:TESTUSDT",114580,1,114720,1,0,0,114640,10,115000,114000],
["tTESTETH:TESTBTC",0.0377,1,0.0379,1,0,0,0.0378,10,0.038,0.037],
["tAAABBB",0.99,1,1.01,1,0,0,1,10,1.1,0.9],
["fUSD",0.0002,0.00018,2,1000.5,0.0002,30,500,0.00001,0.05,0.00021,12000000,0.0003,0.0001,null,null,2500000.25]
]"#;

/// `conf/pub:map:currency:undl`; `EUTF0` is deliberately missing.
const UNDERLYING: [(&str, &str); 4] =
    [("USTF0", "UST"), ("BTCF0", "BTC"), ("TESTBTCF0", "TESTBTC"), ("TESTUSDTF0", "TESTUSDT")];

fn market() -> Market {
    let underlying: Vec<(String, String)> =
        UNDERLYING.iter().map(|(d, u)| ((*d).to_owned(), (*u).to_owned())).collect();
    Market::new(&parse_tickers(TICKERS).unwrap(), &underlying)
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn last(m: &Market, currency: &str, quote: &str) -> Result<Price, Unpriced> {
    m.price(currency, quote, PriceKind::Last, false)
}

fn priced(value: &str, route: &[&str]) -> Result<Price, Unpriced> {
    Ok(Price { value: dec(value), route: route.iter().map(|s| (*s).to_owned()).collect(), paper: false })
}

fn paper(value: &str, route: &[&str]) -> Result<Price, Unpriced> {
    priced(value, route).map(|p| Price { paper: true, ..p })
}

fn no_route(quote: &str) -> Result<Price, Unpriced> {
    Err(Unpriced::NoRoute { quote: quote.to_owned() })
}

#[test]
fn the_quote_itself_is_one() {
    let m = market();
    for (currency, kind) in [("USD", PriceKind::Last), ("EUR", PriceKind::Bid), ("DOGE", PriceKind::Mid)] {
        assert_eq!(m.price(currency, currency, kind, false), priced("1", &[]), "{currency}");
    }
}

#[test]
fn direct_pairs_with_and_without_colon() {
    let m = market();
    assert_eq!(last(&m, "BTC", "USD"), priced("114698.945701", &["tBTCUSD"]));
    assert_eq!(last(&m, "AVAX", "USD"), priced("31.768197", &["tAVAX:USD"]));
    let (price, value) = m.value(dec("1.5"), "AVAX", "USD", PriceKind::Last, false).unwrap();
    assert_eq!(price.route, ["tAVAX:USD"]);
    assert_eq!(value, dec("47.6522955"));
    let (_, value) = m.value(dec("-0.00000001"), "BTC", "USD", PriceKind::Last, false).unwrap();
    assert_eq!(value, dec("-0.00114698945701"), "dust and debt are valued with their sign");
}

#[test]
fn a_live_update_replaces_its_own_pair_only() {
    let mut m = market();
    let update = |symbol: &str, row: &str| parse_trading_ticker(symbol, row.as_bytes()).unwrap();
    assert!(m.update(&update("tBTCUSD", "[1,1,3,1,0,0,120000.5,1,0,0]")));
    assert_eq!(last(&m, "BTC", "USD"), priced("120000.5", &["tBTCUSD"]));
    let before = m.clone();
    assert!(!m.update(&update("tBTCUSD", "[1,1,3,1,0,0,120000.5,1,0,0]")), "the same ticker changes nothing");
    assert_eq!(m, before);
    // Routes are chosen afresh: a null last price makes the pair unusable, so BTC goes via UST.
    assert!(m.update(&update("tBTCUSD", "[null,null,null,null,null,null,null,null,null,null]")));
    assert_eq!(last(&m, "BTC", "USD").unwrap().route, ["tBTCUST", "tUSTUSD"]);
    // A pair the market did not have is added; a perpetual is still not a spot price.
    assert!(m.update(&update("tNEW:USD", "[1,1,1,1,0,0,2.5,1,0,0]")));
    assert_eq!(last(&m, "NEW", "USD"), priced("2.5", &["tNEW:USD"]));
    m.update(&update("tBTCF0:USD", "[1,1,1,1,0,0,7,1,0,0]"));
    assert_eq!(last(&m, "BTCF0", "USD").unwrap().route, ["tBTCUST", "tUSTUSD"]);
    // Another spelling of a pair held under its canonical symbol does not replace it.
    assert!(!m.update(&update("tETH:USD", "[1,1,1,1,0,0,1,1,0,0]")));
    assert_eq!(last(&m, "ETH", "USD"), priced("4335.27383", &["tETHUSD"]));
}

#[test]
fn inverse_pair_for_each_price_kind() {
    let m = market();
    // rd(1/3.6719), rd(1/3.6725) (selling INV buys USD at its ask), rd(2/(3.6712+3.6725)).
    assert_eq!(last(&m, "INV", "USD"), priced("0.2723385713118548980092050437", &["tUSDINV"]));
    assert_eq!(
        m.price("INV", "USD", PriceKind::Bid, false),
        priced("0.2722940776038121170864533696", &["tUSDINV"])
    );
    assert_eq!(
        m.price("INV", "USD", PriceKind::Mid, false),
        priced("0.2723422797772240151422307556", &["tUSDINV"])
    );
    // rd(5 × rd(1/3.6719)): the product has 29 significant digits and fits.
    let (_, value) = m.value(dec("5"), "INV", "USD", PriceKind::Last, false).unwrap();
    assert_eq!(value, dec("1.3616928565592744900460252185"));
}

#[test]
fn direct_and_inverse_pairs_for_bid_and_mid() {
    let m = market();
    assert_eq!(m.price("BTC", "USD", PriceKind::Bid, false), priced("114687.475806", &["tBTCUSD"]));
    // (114687.475806 + 114710.415596) / 2: exact, and on this day equal to the last price.
    assert_eq!(m.price("BTC", "USD", PriceKind::Mid, false), priced("114698.945701", &["tBTCUSD"]));
    // tTWOUSD has no bid: bid and mid fall to the inverse pair; last uses the direct pair.
    assert_eq!(last(&m, "TWO", "USD"), priced("7", &["tTWOUSD"]));
    assert_eq!(
        m.price("TWO", "USD", PriceKind::Bid, false),
        priced("7.0921985815602836879432624113", &["tUSDTWO"]) // rd(1/0.141)
    );
    assert_eq!(
        m.price("TWO", "USD", PriceKind::Mid, false),
        priced("7.1428571428571428571428571429", &["tUSDTWO"]) // rd(2/(0.139+0.141))
    );
}

#[test]
fn two_hops_via_ust_btc_and_eth() {
    let m = market();
    // There is no tEURUSD: EUR goes through USDt. 1.1664 × 1.00027, exact.
    assert_eq!(last(&m, "EUR", "USD"), priced("1.166714928", &["tEURUST", "tUSTUSD"]));
    // 0.00001235 × 114698.945701
    assert_eq!(last(&m, "XYZ", "USD"), priced("1.41653197940735", &["tXYZBTC", "tBTCUSD"]));
    // 0.0042 × 4335.27383
    assert_eq!(last(&m, "QQQ", "USD"), priced("18.208150086", &["tQQQETH", "tETHUSD"]));
}

#[test]
fn two_hop_kinds_apply_to_each_hop() {
    let m = market();
    let route = ["tEURUST", "tUSTUSD"];
    assert_eq!(m.price("EUR", "USD", PriceKind::Bid, false), priced("1.16643324", &route)); // 1.1662 × 1.0002
    // (1.1662 + 1.1668)/2 × (1.0002 + 1.0004)/2, exact.
    assert_eq!(m.price("EUR", "USD", PriceKind::Mid, false), priced("1.16684995", &route));
}

#[test]
fn preference_order_is_fixed_not_input_order() {
    let m = market();
    // MULTI trades against ETH, BTC and UST (listed in that order): UST wins. 2000 × 1.00027.
    assert_eq!(last(&m, "MULTI", "USD"), priced("2000.54", &["tMULTI:UST", "tUSTUSD"]));
    // Without the UST pair, BTC beats ETH.
    let without_ust = String::from_utf8(TICKERS.to_vec()).unwrap().replace("tMULTI:UST", "tMULTI:XXX");
    let m2 = Market::new(&parse_tickers(without_ust.as_bytes()).unwrap(), &[]);
    assert_eq!(last(&m2, "MULTI", "USD").unwrap().route, ["tMULTI:BTC", "tBTCUSD"]);
    // A direct pair beats an inverse one, and within a hop direct beats inverse (tUSTDUO would
    // give 1/0.4 = 2.5).
    assert_eq!(last(&m, "TWO", "USD").unwrap().route, ["tTWOUSD"]);
    assert_eq!(last(&m, "DUO", "USD"), priced("3.00081", &["tDUOUST", "tUSTUSD"]));
    // An inverse first hop when that is all there is: 1.00027 / 50.
    assert_eq!(last(&m, "HOP", "USD"), priced("0.0200054", &["tUSTHOP", "tUSTUSD"]));
    // A pair spelled twice: the canonical symbol wins over a needless colon, else the first row.
    let twice = br#"[["tBTC:USD",1,1,1,1,1,1,1,1,1,1],["tBTCUSD",1,1,1,1,1,1,2,1,1,1],["tBTCUSD",1,1,1,1,1,1,3,1,1,1]]"#;
    assert_eq!(
        last(&Market::new(&parse_tickers(twice).unwrap(), &[]), "BTC", "USD"),
        priced("2", &["tBTCUSD"])
    );
    // Same market, same answer, whatever the input order.
    let reversed: Vec<_> = parse_tickers(TICKERS).unwrap().into_iter().rev().collect();
    let m3 = Market::new(&reversed, &[]);
    for currency in ["MULTI", "DUO", "TWO", "EUR", "XYZ", "QQQ", "HOP", "INV"] {
        for kind in [PriceKind::Last, PriceKind::Bid, PriceKind::Mid] {
            assert_eq!(m3.price(currency, "USD", kind, false), m.price(currency, "USD", kind, false));
        }
    }
}

#[test]
fn unusable_fields_fall_through_to_the_next_route() {
    let m = market();
    // tLOWUSD has a null bid: bid goes through USDt (1.8 × 1.0002); last stays direct.
    assert_eq!(last(&m, "LOW", "USD"), priced("1.9", &["tLOWUSD"]));
    assert_eq!(m.price("LOW", "USD", PriceKind::Bid, false), priced("1.80036", &["tLOWUST", "tUSTUSD"]));
    // tZERUSD's bid is 0 and there is no other route: unpriced, never 0.
    assert_eq!(last(&m, "ZER", "USD"), priced("4", &["tZERUSD"]));
    assert_eq!(m.price("ZER", "USD", PriceKind::Bid, false), no_route("USD"));
    assert_eq!(m.price("ZER", "USD", PriceKind::Mid, false), no_route("USD"));
    for kind in [PriceKind::Last, PriceKind::Bid, PriceKind::Mid] {
        assert_eq!(m.price("DEAD", "USD", kind, false), no_route("USD"), "{kind}");
    }
}

#[test]
fn quote_eur() {
    let m = market();
    assert_eq!(last(&m, "BTC", "EUR"), priced("98321", &["tBTCEUR"]));
    assert_eq!(last(&m, "UST", "EUR"), priced("0.8573388203017832647462277092", &["tEURUST"])); // rd(1/1.1664)
    // rd(4334.61 / 1.1664): one division for the whole route.
    assert_eq!(last(&m, "ETH", "EUR"), priced("3716.2294238683127572016460905", &["tETHUST", "tEURUST"]));
    // rd(1 / (1.00027 × 1.1664))
    assert_eq!(last(&m, "USD", "EUR"), priced("0.8571074013034313382848907887", &["tUSTUSD", "tEURUST"]));
    assert_eq!(last(&m, "XYZ", "EUR"), priced("1.21426435", &["tXYZBTC", "tBTCEUR"])); // 0.00001235 × 98321
    // AVAX only trades against USD, and USD reaches EUR through USDt: three hops, one division,
    // rd(31.768197 / (1.00027 × 1.1664)).
    assert_eq!(
        last(&m, "AVAX", "EUR"),
        priced("27.228756774765463530608052698", &["tAVAX:USD", "tUSTUSD", "tEURUST"])
    );
    assert_eq!(last(&m, "DEAD", "EUR"), no_route("EUR"));
    assert_eq!(last(&m, "DEAD", "EUR").unwrap_err().to_string(), "no ticker route to EUR");
    // rd(2.5 × 3716.2294238683127572016460905) = rd(9290.57355967078189300411522625): the exact
    // product needs 30 digits, so it is rounded half-even (…2625 → …226).
    let (_, value) = m.value(dec("2.5"), "ETH", "EUR", PriceKind::Last, false).unwrap();
    assert_eq!(value, dec("9290.573559670781893004115226"));
}

#[test]
fn quote_btc() {
    let m = market();
    assert_eq!(last(&m, "ETH", "BTC"), priced("0.037795", &["tETHBTC"]));
    assert_eq!(last(&m, "XYZ", "BTC"), priced("0.00001235", &["tXYZBTC"]));
    assert_eq!(last(&m, "USD", "BTC"), priced("0.000008718475953622314106819", &["tBTCUSD"])); // rd(1/114698.945701)
    assert_eq!(last(&m, "UST", "BTC"), priced("0.0000087210417807669632983678", &["tBTCUST"])); // rd(1/114665.2)
    assert_eq!(last(&m, "EUR", "BTC"), priced("0.0000101707671809684604509718", &["tBTCEUR"])); // rd(1/98321)
    // Via UST there is nothing, BTC is the quote itself, so ETH: 0.0042 × 0.037795.
    assert_eq!(last(&m, "QQQ", "BTC"), priced("0.000158739", &["tQQQETH", "tETHBTC"]));
    let (_, value) = m.value(dec("1000"), "USD", "BTC", PriceKind::Last, false).unwrap();
    assert_eq!(value, dec("0.008718475953622314106819"));
}

#[test]
fn quote_ust_and_stablecoins_priced_from_their_tickers() {
    let m = market();
    assert_eq!(last(&m, "BTC", "UST"), priced("114665.2", &["tBTCUST"]));
    assert_eq!(last(&m, "EUR", "UST"), priced("1.1664", &["tEURUST"]));
    assert_eq!(last(&m, "USD", "UST"), priced("0.9997300728803223129754966159", &["tUSTUSD"])); // rd(1/1.00027)
    assert_eq!(last(&m, "UST", "USD"), priced("1.00027", &["tUSTUSD"]), "USDt is not 1 USD");

    // With no UST/USD ticker at all, neither is ever assumed to be the other.
    let only_usd =
        br#"[["tBTCUSD",1,1,1,1,1,1,114698.945701,1,1,1],["tETHUSD",1,1,1,1,1,1,4335.27383,1,1,1]]"#;
    let m = Market::new(&parse_tickers(only_usd).unwrap(), &[]);
    assert_eq!(last(&m, "UST", "USD"), no_route("USD"));
    assert_eq!(last(&m, "USD", "UST"), no_route("UST"));
    assert!(m.has_currency("USD") && !m.has_currency("UST"));
}

#[test]
fn derivative_collateral_through_its_underlying() {
    let m = market();
    assert_eq!(last(&m, "USTF0", "USD"), last(&m, "UST", "USD"));
    assert_eq!(last(&m, "USTF0", "USD"), priced("1.00027", &["tUSTUSD"]));
    assert_eq!(last(&m, "USTF0", "UST"), priced("1", &[]));
    // Through spot BTC, never the perpetual tBTCF0:USTF0 (last 114655), even in USTF0.
    assert_eq!(last(&m, "BTCF0", "USD"), priced("114698.945701", &["tBTCUSD"]));
    assert_eq!(last(&m, "BTCF0", "USTF0"), priced("114665.2", &["tBTCUST"]));
    // No map entry: unpriced with that reason, though a perpetual ticker exists.
    for quote in ["USD", "USTF0"] {
        let e = last(&m, "EUTF0", quote).unwrap_err();
        assert_eq!(e, Unpriced::NoUnderlying { currency: "EUTF0".into() });
        assert_eq!(e.to_string(), "derivative collateral with no underlying in conf/pub:map:currency:undl");
    }
    // Without any map, F0 ids are all unpriced.
    let bare = Market::new(&parse_tickers(TICKERS).unwrap(), &[]);
    assert_eq!(last(&bare, "USTF0", "USD"), Err(Unpriced::NoUnderlying { currency: "USTF0".into() }));
}

#[test]
fn paper_currencies_only_when_asked() {
    let m = market();
    for currency in ["TESTBTC", "TESTUSD", "TESTUSDT", "TESTBTCF0", "AAA"] {
        assert!(is_paper(currency));
        let e = last(&m, currency, "USD").unwrap_err();
        assert_eq!(e, Unpriced::Paper { currency: currency.into() });
        assert_eq!(e.to_string(), "paper-trading currency (use --include-paper)");
    }
    let p = |currency: &str, quote: &str| m.price(currency, quote, PriceKind::Last, true);
    assert_eq!(p("TESTBTC", "USD"), paper("114650.5", &["tTESTBTC:TESTUSD"]));
    assert_eq!(p("TESTBTC", "UST"), paper("114640", &["tTESTBTC:TESTUSDT"]));
    assert_eq!(p("TESTBTCF0", "USD"), paper("114650.5", &["tTESTBTC:TESTUSD"]));
    assert_eq!(p("TESTUSD", "USD"), paper("1", &[]));
    assert_eq!(p("TESTUSDT", "UST"), paper("1", &[]));
    assert_eq!(p("TESTBTC", "BTC"), paper("1", &[]));
    // Paper intermediates: TESTETH → TESTBTC → TESTUSD, 0.0378 × 114650.5.
    assert_eq!(p("TESTETH", "USD"), paper("4333.7889", &["tTESTETH:TESTBTC", "tTESTBTC:TESTUSD"]));
    // rd(114650.5 / 114640)
    assert_eq!(
        p("TESTUSDT", "USD"),
        paper("1.0000915910676901605024424285", &["tTESTBTC:TESTUSDT", "tTESTBTC:TESTUSD"])
    );
    // rd(114640 / 114650.5): one division; 114640 × rd(1/114650.5) would be off from the 23rd digit.
    assert_eq!(
        p("TESTUSD", "UST"),
        paper("0.9999084173204652400120365807", &["tTESTBTC:TESTUSD", "tTESTBTC:TESTUSDT"])
    );
    assert_eq!(p("AAA", "BBB"), paper("1", &["tAAABBB"]));
    assert_eq!(p("AAA", "USD"), Err(Unpriced::NoRoute { quote: "TESTUSD".into() }));
    assert_eq!(p("TESTBTC", "EUR"), Err(Unpriced::NoRoute { quote: "TESTEUR".into() }));
    // Real currencies are unaffected by the flag and never priced through paper tickers.
    assert_eq!(p("BTC", "USD"), priced("114698.945701", &["tBTCUSD"]));
    let (price, value) = m.value(dec("0.5"), "TESTBTC", "USD", PriceKind::Bid, true).unwrap();
    assert_eq!((price.route, price.paper, value), (vec!["tTESTBTC:TESTUSD".to_owned()], true, dec("57300")));
}

#[test]
fn unknown_and_delisted_currencies_are_unpriced_not_zero() {
    let m = market();
    for currency in ["DOGE", "", "btc", "tBTCUSD", "USD ", "ÄÖÜ", "F0", "USD:BTC"] {
        assert_eq!(last(&m, currency, "USD"), no_route("USD"), "{currency:?}");
    }
    assert_eq!(last(&m, "BTC", "XXX"), no_route("XXX"));
    assert_eq!(last(&m, "DOGE", "USD").unwrap_err().to_string(), "no ticker route to USD");
    // Funding tickers are not trading pairs.
    assert!(!m.has_currency("fUSD"));
}

#[test]
fn has_currency_lists_ids_in_any_trading_pair() {
    let m = market();
    for id in ["USD", "EUR", "UST", "BTC", "AVAX", "INV", "BTCF0", "USTF0", "TESTUSD", "TESTUSDT", "BBB"] {
        assert!(m.has_currency(id), "{id}");
    }
    for id in ["DOGE", "", "fUSD", "tBTCUSD", "TESTBTCF0", "usd"] {
        assert!(!m.has_currency(id), "{id:?}");
    }
    assert!(!Market::default().has_currency("USD"));
    assert_eq!(Market::default().price("BTC", "USD", PriceKind::Last, false), no_route("USD"));
}

#[test]
fn overflow_is_unpriced() {
    let m = market();
    let e = m.value(Decimal::MAX, "BTC", "USD", PriceKind::Last, false).unwrap_err();
    assert_eq!(e, Unpriced::Overflow { amount: Decimal::MAX, price: dec("114698.945701") });
    assert_eq!(e.to_string(), "79228162514264337593543950335 × 114698.945701 does not fit in a decimal");
    // The quote itself cannot overflow: × 1.
    let (_, value) = m.value(Decimal::MAX, "USD", "USD", PriceKind::Last, false).unwrap();
    assert_eq!(value, Decimal::MAX);
}

#[test]
fn eighteen_decimals_stay_exact() {
    // Amounts as the wallet parser reads them, from JSON number text.
    let amount = parse_json_number("0.123456789012345678").unwrap();
    let m = market();
    // 0.123456789012345678 × 114698.945701: 29 significant digits, exact.
    let (_, value) = m.value(amount, "BTC", "USD", PriceKind::Last, false).unwrap();
    assert_eq!(value, dec("14160.363539346850339564030278"));

    let body = br#"[["tAAXUSD",1,1,1,1,1,1,1.0000000001,1,1,1],
                   ["tWBTBTC",1,1,1,1,1,1,1.000000000000000256,1,1,1],
                   ["tONEBTC",1,1,1,1,1,1,1.000000000000000001,1,1,1]]"#;
    let m = Market::new(&parse_tickers(body).unwrap(), &[]);
    // 18 decimals × 10 decimals = 0.1234567890246913569012345678, exact (28 decimals).
    let (_, value) = m.value(amount, "AAX", "USD", PriceKind::Last, false).unwrap();
    assert_eq!(value, dec("0.1234567890246913569012345678"));
    // 18 decimals × 18 decimals, exact because the mantissas' product 123456789012109375 ×
    // 1000000000000000256 ends in 8 zeros: 0.1234567890121094066049379871. An f64 gives
    // 0.12345678901210941.
    let amount18 = parse_json_number("0.123456789012109375").unwrap();
    let (price, value) = m.value(amount18, "WBT", "BTC", PriceKind::Last, false).unwrap();
    assert_eq!(price.value.to_string(), "1.000000000000000256");
    assert_eq!(value, dec("0.1234567890121094066049379871"));
    assert_eq!(value.to_string(), "0.1234567890121094066049379871");
    // 0.123456789012345678 × 1.000000000000000001 = 0.123456789012345678123456789012345678 needs
    // 36 decimals; a Decimal holds 28, so it is rounded half-even, not truncated to a float.
    let (_, value) = m.value(amount, "ONE", "BTC", PriceKind::Last, false).unwrap();
    assert_eq!(value, dec("0.1234567890123456781234567890"));
}

/// Every id that appears in the fixture, plus derivative, paper and unknown ones.
const IDS: &[&str] = &[
    "USD",
    "EUR",
    "UST",
    "BTC",
    "ETH",
    "AVAX",
    "INV",
    "XYZ",
    "QQQ",
    "MULTI",
    "HOP",
    "DUO",
    "TWO",
    "LOW",
    "ZER",
    "DEAD",
    "BTCF0",
    "USTF0",
    "EUTF0",
    "TESTBTC",
    "TESTUSD",
    "TESTUSDT",
    "TESTETH",
    "TESTBTCF0",
    "AAA",
    "BBB",
    "DOGE",
];

/// Every priced route, for every id, quote and kind, is a chain of real tickers from the currency
/// (its underlying for F0) to the quote (its paper counterpart for paper ids), at most three long,
/// and its price agrees with the route's tickers recomputed here hop by hop.
#[test]
fn every_route_is_a_chain_to_the_quote() {
    let m = market();
    let tickers = parse_tickers(TICKERS).unwrap();
    let field = |symbol: &str, kind: PriceKind, inverse: bool| {
        let t = tickers
            .iter()
            .find_map(|t| match t {
                bfx_core::Ticker::Trading(t) if t.symbol == symbol => Some(t),
                _ => None,
            })
            .unwrap();
        match (kind, inverse) {
            (PriceKind::Last, _) => t.last_price.unwrap(),
            (PriceKind::Bid, false) => t.bid.unwrap(),
            (PriceKind::Bid, true) => t.ask.unwrap(),
            (PriceKind::Mid, _) => (t.bid.unwrap() + t.ask.unwrap()) / Decimal::TWO,
        }
    };
    let mut priced_routes = 0;
    for &currency in IDS {
        for quote in ["USD", "EUR", "BTC", "UST", "ETH", "USTF0"] {
            for kind in [PriceKind::Last, PriceKind::Bid, PriceKind::Mid] {
                let Ok(price) = m.price(currency, quote, kind, true) else { continue };
                assert!(price.value > Decimal::ZERO);
                assert!(price.route.len() <= 3, "{currency}/{quote}: {:?}", price.route);
                assert_eq!(price.paper, is_paper(currency));
                let underlying = UNDERLYING.iter().find(|(d, _)| *d == currency).map(|(_, u)| *u);
                let mut at = underlying.unwrap_or(currency).to_owned();
                let quote = if quote == "USTF0" { "UST" } else { quote };
                let target = match (price.paper, quote) {
                    (false, q) => q.to_owned(),
                    (true, "UST") => "TESTUSDT".to_owned(),
                    (true, q) => format!("TEST{q}"),
                };
                let mut expected = Decimal::ONE;
                for symbol in &price.route {
                    let (base, pair_quote) = match symbol[1..].split_once(':') {
                        Some((b, q)) => (b.to_owned(), q.to_owned()),
                        None => (symbol[1..4].to_owned(), symbol[4..].to_owned()),
                    };
                    assert_eq!(&pair_symbol(&base, &pair_quote), symbol);
                    if base == at {
                        expected *= field(symbol, kind, false);
                        at = pair_quote;
                    } else {
                        assert_eq!(pair_quote, at, "{currency}/{quote}: {:?} is not a chain", price.route);
                        expected /= field(symbol, kind, true);
                        at = base;
                    }
                }
                assert_eq!(at, target, "{currency}/{quote} {kind}: {:?}", price.route);
                // Hop by hop rounds 1/x to 28 decimal places first, which keeps only ~23 significant
                // digits when x ~ 1e5; the engine divides once, so it is the more precise of the two.
                let drift = (price.value - expected).abs();
                assert!(
                    drift <= expected * dec("0.00000000000000000001"),
                    "{currency}/{quote} {kind}: {} vs {expected}",
                    price.value
                );
                priced_routes += 1;
            }
        }
    }
    assert!(priced_routes >= 300, "only {priced_routes} routes priced");
}

fn kind() -> impl Strategy<Value = PriceKind> {
    prop_oneof![Just(PriceKind::Last), Just(PriceKind::Bid), Just(PriceKind::Mid)]
}

proptest! {
    /// For a direct pair the value is exactly `amount × LAST_PRICE`: checked against an integer
    /// product of the mantissas (≤ 10^28, so it always fits), not against `Decimal`'s own multiply.
    #[test]
    fn direct_value_is_amount_times_last_exactly(
        base in "[A-Z]{3,6}",
        amount_mantissa in -99_999_999_999_999i64..=99_999_999_999_999,
        amount_scale in 0u32..=14,
        last_mantissa in 1i64..=99_999_999_999_999,
        last_scale in 0u32..=14,
    ) {
        prop_assume!(base != "USD" && !is_paper(&base));
        let amount = Decimal::new(amount_mantissa, amount_scale);
        let last_price = Decimal::new(last_mantissa, last_scale);
        let symbol = pair_symbol(&base, "USD");
        let body = format!(r#"[["{symbol}",1,1,1,1,1,1,{last_price},1,1,1]]"#);
        let m = Market::new(&parse_tickers(body.as_bytes()).unwrap(), &[]);
        let (price, value) = m.value(amount, &base, "USD", PriceKind::Last, false).unwrap();
        prop_assert_eq!(&price.route, &vec![symbol]);
        prop_assert_eq!(price.value, last_price);
        let exact = Decimal::from_i128_with_scale(
            i128::from(amount_mantissa) * i128::from(last_mantissa),
            amount_scale + last_scale,
        );
        prop_assert_eq!(value, exact);
        prop_assert_eq!(value, amount * last_price);
    }

    /// Arbitrary currency and quote strings never panic; whatever is not in the market is
    /// unpriced, and whatever is priced is positive, routed through known tickers, and valued
    /// as `amount × price`.
    #[test]
    fn arbitrary_currencies_never_panic(
        currency in prop_oneof![any::<String>(), "[A-Z0-9:]{0,10}", Just("USTF0".to_owned()), Just("BTC".to_owned())],
        quote in prop_oneof![any::<String>(), "[A-Z]{3,4}", Just("USD".to_owned()), Just("EUR".to_owned())],
        kind in kind(),
        include_paper in any::<bool>(),
        mantissa in any::<i64>(),
        scale in 0u32..=28,
    ) {
        let m = market();
        let amount = Decimal::new(mantissa, scale);
        let known = m.has_currency(&currency) || UNDERLYING.iter().any(|(d, _)| *d == currency);
        match m.value(amount, &currency, &quote, kind, include_paper) {
            Ok((price, value)) => {
                // The quote itself, or (paper) the quote's paper counterpart, is 1 without any ticker.
                let unit = currency == quote || (is_paper(&currency) && include_paper && price.route.is_empty());
                prop_assert!(known || unit, "{currency:?} priced from nothing");
                prop_assert!(price.value > Decimal::ZERO);
                prop_assert!(price.route.len() <= 3);
                for symbol in &price.route {
                    let quoted = format!("\"{symbol}\"");
                    prop_assert!(TICKERS.windows(quoted.len()).any(|w| w == quoted.as_bytes()), "{}", symbol);
                }
                prop_assert_eq!(Some(value), amount.checked_mul(price.value));
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}

#[test]
fn daily_change_composes_along_the_route() {
    let m = market();
    let change = |currency: &str, quote: &str| {
        let route = last(&m, currency, quote).unwrap().route;
        m.daily_change(currency, &route)
    };
    assert_eq!(change("BTC", "USD"), Some(dec("-0.0081")), "a direct pair's own change");
    // Inverse: 1 / (1 − 0.0081) − 1.
    assert_eq!(change("USD", "BTC"), Some(dec("0.0081661457808246799072487146")));
    // Two hops, both direct: (1 + 0.0009)(1 + 0.0001) − 1.
    assert_eq!(change("EUR", "USD"), Some(dec("0.00100009")));
    assert_eq!(change("USD", "USD"), Some(Decimal::ZERO), "the quote itself does not move");
    assert_eq!(m.daily_change("ETH", &["tBTCUSD".to_owned()]), None, "a route that does not start there");
}
