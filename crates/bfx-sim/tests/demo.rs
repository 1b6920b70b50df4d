//! The built-in demo state: it matches the seed price strip, holds every case portfolio valuation
//! has to handle (spec: "Currencies and pricing in the wild"), and is served in shapes bfx-core
//! parses.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::str::FromStr;

use bfx_core::{Position, Ticker, WalletRow, format_decimal, parse_json_number};
use bfx_sim::{DEMO_STATE_TOML, SimState};
use common::Sim;
use rust_decimal::Decimal;

const NONCE: u64 = 1_700_000_000_000_000;

struct Seed {
    pair: String,
    price: String,
    pct: String,
}

fn seed() -> Vec<Seed> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/seed-tickers.csv");
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("name,currency,pair,last_price_usd,change_24h_pct"));
    let seeds: Vec<Seed> = lines
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            assert_eq!(fields.len(), 5, "{line}");
            Seed { pair: fields[2].to_owned(), price: fields[3].to_owned(), pct: fields[4].to_owned() }
        })
        .collect();
    assert_eq!(seeds.len(), 15);
    seeds
}

/// The trading pairs the demo adds to the seed's, in the order of `pub:list:pair:exchange`.
const ADDED_EXCHANGE_PAIRS: [&str; 7] =
    ["ZECBTC", "USD:CNHT", "EURUST", "BTCEUR", "ETHEUR", "TESTBTC:TESTUSD", "TESTBTC:TESTUSDT"];

fn dec(text: &str) -> Decimal {
    parse_json_number(text).unwrap()
}

/// Every ticker symbol the demo serves, in order.
async fn symbols(sim: &Sim) -> Vec<String> {
    let reply = sim.get("/v2/tickers?symbols=ALL").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    bfx_core::parse_tickers(reply.body.as_bytes()).unwrap().iter().map(|t| t.symbol().to_owned()).collect()
}

/// `ticker/{symbol}`'s 10 fields, as the texts sent.
async fn ticker_fields(sim: &Sim, symbol: &str) -> Vec<String> {
    let reply = sim.get(&format!("/v2/ticker/{symbol}")).await;
    assert_eq!(reply.status, 200, "{symbol} {reply:?}");
    let fields: Vec<String> = reply.body.trim_matches(['[', ']']).split(',').map(str::to_owned).collect();
    assert_eq!(fields.len(), 10, "{symbol} {reply:?}");
    fields
}

async fn last_price(sim: &Sim, symbol: &str) -> Decimal {
    dec(&ticker_fields(sim, symbol).await[6])
}

/// One `conf` key's value.
async fn conf<T: serde::de::DeserializeOwned>(sim: &Sim, key: &str) -> T {
    let reply = sim.get(&format!("/v2/conf/{key}")).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let mut values: Vec<T> = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(values.len(), 1, "{reply:?}");
    values.remove(0)
}

/// An account's wallets over `auth/r/wallets`, and the raw body.
async fn wallets(sim: &Sim, key: &str, secret: &str, nonce: u64) -> (Vec<WalletRow>, String) {
    let reply = sim.auth("auth/r/wallets", key, secret, nonce, Some(b"{}")).await;
    assert_eq!(reply.status, 200, "{key} {reply:?}");
    (bfx_core::parse_wallets(reply.body.as_bytes()).unwrap(), reply.body)
}

/// Base and quote of a trading symbol, checking Bitfinex's form: `t` + base + quote when both are
/// 3 letters, else with a colon.
fn pair_of(symbol: &str) -> (&str, &str) {
    let pair = symbol.strip_prefix('t').unwrap_or_else(|| panic!("{symbol} is not a trading symbol"));
    let (base, quote) = match pair.split_once(':') {
        Some((base, quote)) => {
            assert!(base.len() != 3 || quote.len() != 3, "{symbol}: colon between two 3-letter ids");
            (base, quote)
        }
        None => {
            assert_eq!(pair.len(), 6, "{symbol}: ids longer than 3 letters need a colon");
            pair.split_at(3)
        }
    };
    assert!(!base.is_empty() && !quote.is_empty() && !quote.contains(':'), "{symbol}");
    (base, quote)
}

#[tokio::test]
async fn demo_tickers_match_the_seed() {
    let sim = Sim::start(SimState::demo()).await;
    for seed in seed() {
        let fields = ticker_fields(&sim, &seed.pair).await;
        let (relative, last) = (&fields[5], &fields[6]);
        assert_eq!(last, &seed.price, "{} LAST_PRICE", seed.pair);
        let expected = dec(&seed.pct) / Decimal::ONE_HUNDRED;
        assert_eq!(dec(relative), expected, "{} DAILY_CHANGE_RELATIVE", seed.pair);
        assert_eq!(relative, &format_decimal(expected), "{} DAILY_CHANGE_RELATIVE text", seed.pair);
        // DAILY_CHANGE = last - last / (1 + relative), to 6 decimals.
        let last = dec(last);
        let change = last - last / (Decimal::ONE + expected);
        assert_eq!(dec(&fields[4]), change.round_dp(6), "{} DAILY_CHANGE", seed.pair);
    }
}

#[tokio::test]
async fn every_demo_trading_row_is_consistent() {
    let sim = Sim::start(SimState::demo()).await;
    let symbols = symbols(&sim).await;
    let trading: Vec<&String> = symbols.iter().filter(|s| s.starts_with('t')).collect();
    assert_eq!(trading.len(), 23);
    for symbol in trading {
        let fields = ticker_fields(&sim, symbol).await;
        let number = |i: usize| dec(&fields[i]);
        let (last, relative) = (number(6), number(5));
        assert!(number(0) < last && last < number(2), "{symbol} bid < last < ask");
        assert!(number(9) <= last && last <= number(8), "{symbol} low <= last <= high");
        assert!(
            number(1) > Decimal::ZERO && number(3) > Decimal::ZERO && number(7) > Decimal::ZERO,
            "{symbol}"
        );
        // Prices carry 6 decimals (8 for BTC-quoted ones), DAILY_CHANGE as many, and the change
        // is relative as a fraction with 4 decimals (a percentage with 2).
        let decimals = |i: usize| fields[i].split_once('.').map_or(0, |(_, fraction)| fraction.len());
        let places = decimals(6);
        assert_eq!(places, if symbol.ends_with("BTC") { 8 } else { 6 }, "{symbol} LAST_PRICE decimals");
        for i in [0, 2, 4, 8, 9] {
            assert_eq!(decimals(i), places, "{symbol} field {i} decimals");
        }
        assert_eq!(decimals(5), 4, "{symbol} DAILY_CHANGE_RELATIVE decimals");
        let change = last - last / (Decimal::ONE + relative);
        assert_eq!(number(4), change.round_dp(u32::try_from(places).unwrap()), "{symbol} DAILY_CHANGE");
    }
}

#[test]
fn demo_toml_lists_every_seed_pair() {
    let state = SimState::from_toml(DEMO_STATE_TOML, "demo.toml").unwrap();
    assert_eq!(state.keys().len(), 4);
    for seed in seed() {
        let needle = format!("symbol = \"{}\"", seed.pair);
        assert!(DEMO_STATE_TOML.contains(&needle), "{needle}");
    }
}

#[test]
fn demo_accounts_and_keys() {
    let keys = SimState::demo().keys();
    let listed: Vec<(&str, &str, &str, &str)> = keys
        .iter()
        .map(|k| (k.account.as_str(), k.key.as_str(), k.secret.as_str(), k.permissions.as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            ("main", "demo-main", "demo-main-secret", "account:r history:r positions:r wallets:r"),
            ("bot", "demo-bot", "demo-bot-secret", "account:r history:r orders:rw wallets:r"),
            ("cold", "demo-cold", "demo-cold-secret", "account:r history:r wallets:r"),
            ("paper", "demo-paper", "demo-paper-secret", "account:r history:r wallets:r"),
        ]
    );
}

#[tokio::test]
async fn demo_is_served_in_shapes_bfx_core_parses() {
    let sim = Sim::start(SimState::demo()).await;
    let reply = sim.get("/v2/tickers?symbols=ALL").await;
    assert_eq!(reply.status, 200);
    let tickers = bfx_core::parse_tickers(reply.body.as_bytes()).unwrap();
    assert_eq!(tickers.len(), 24);
    assert!(matches!(tickers.last(), Some(Ticker::Funding(f)) if f.symbol == "fUSD"));

    for key in SimState::demo().keys() {
        let reply = sim.auth("auth/r/wallets", &key.key, &key.secret, NONCE, None).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let wallets = bfx_core::parse_wallets(reply.body.as_bytes()).unwrap();
        assert!(!wallets.is_empty(), "{}", key.account);
        let reply = sim.auth("auth/r/info/user", &key.key, &key.secret, NONCE + 1, None).await;
        assert_eq!(
            bfx_core::parse_user_info(reply.body.as_bytes()).unwrap().username,
            Some(key.account.clone())
        );
        let reply = sim.auth("auth/r/permissions", &key.key, &key.secret, NONCE + 2, Some(b"{}")).await;
        let permissions = bfx_core::parse_permissions(reply.body.as_bytes()).unwrap();
        assert!(permissions.iter().any(|p| p.scope == "wallets" && p.read && !p.write));
    }

    // The amount forms the demo promises, verbatim on the wire.
    let (wallets, body) = wallets(&sim, "demo-main", "demo-main-secret", NONCE + 3).await;
    for text in [
        r#"["funding","BTC",2.5e-7,0,null,null,null]"#,
        r#"["exchange","UST",-0.00000001,0,null,null,null]"#,
        r#"["exchange","ETH",0.123456789012345678,0,null,null,null]"#,
        r#"["exchange","USD",1250.37,0,null,null,null]"#,
        r#"["exchange","BTC",0.75,0,0.5,"Exchange 0.25 BTC for USD @ 114698.9",null]"#,
    ] {
        assert!(body.contains(text), "{text} in {body}");
    }
    let eth = wallets.iter().find(|w| w.currency == "ETH").unwrap();
    assert_eq!(eth.balance, Decimal::from_str("0.123456789012345678").unwrap());
}

/// Bitfinex's fee to close a position, which its PL includes (spec: `auth/r/positions`).
const CLOSE_FEE: &str = "0.002";

#[tokio::test]
async fn demo_positions_are_served_and_agree_with_the_tickers() {
    let sim = Sim::start(SimState::demo()).await;
    let reply = sim.auth("auth/r/positions", "demo-main", "demo-main-secret", NONCE, Some(b"{}")).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let rows: Vec<Vec<serde_json::Value>> = serde_json::from_str(&reply.body).unwrap();
    assert!(rows.iter().all(|row| row.len() == 20), "{reply:?}");
    let positions: Vec<Position> = bfx_core::parse_positions(reply.body.as_bytes()).unwrap();
    let held: Vec<(&str, &str, Decimal)> =
        positions.iter().map(|p| (p.symbol.as_str(), p.status.as_str(), p.amount)).collect();
    assert_eq!(held, [("tBTCUSD", "ACTIVE", dec("0.2")), ("tETHUSD", "ACTIVE", dec("-1.5"))]);

    for position in &positions {
        let last = last_price(&sim, &position.symbol).await;
        let pl = position.pl.unwrap_or_else(|| panic!("{}: PL is null", position.symbol));
        // Long in profit when the price rose above the entry, short at a loss: the sign of PL
        // follows (last - base) x amount.
        let gross = (last - position.base_price) * position.amount;
        assert!(
            pl.is_sign_positive() == gross.is_sign_positive(),
            "{}: PL {pl}, gross {gross}",
            position.symbol
        );
        // And its value: the fee to close included, rounded to cents.
        let expected = gross - dec(CLOSE_FEE) * last * position.amount.abs();
        assert_eq!(pl, expected.round_dp(2), "{} PL", position.symbol);
        assert_eq!(position.kind, Some(0), "{}: a margin position", position.symbol);
    }
    let btc = &positions[0];
    assert!(btc.base_price < last_price(&sim, "tBTCUSD").await && btc.pl > Some(Decimal::ZERO));
    let eth = &positions[1];
    assert!(eth.base_price < last_price(&sim, "tETHUSD").await && eth.pl < Some(Decimal::ZERO));
    // Position ids are distinct, as on Bitfinex.
    assert_ne!(btc.id, eth.id);

    // main trades on margin: its margin wallet is what the positions draw on.
    let (main, _) = wallets(&sim, "demo-main", "demo-main-secret", NONCE + 1).await;
    assert!(main.iter().any(|w| w.wallet_type.as_str() == "margin" && w.currency == "USD"));

    // Every other demo key lacks positions read: a client sees the refusal.
    for key in SimState::demo().keys().into_iter().filter(|k| k.account != "main") {
        assert!(!key.permissions.contains("positions"), "{key:?}");
        sim.auth("auth/r/positions", &key.key, &key.secret, NONCE + 2, None)
            .await
            .assert_error(10001, "api_key: permission invalid");
    }
}

#[tokio::test]
async fn demo_conf_lists() {
    let sim = Sim::start(SimState::demo()).await;
    sim.get("/v2/conf/pub:map:currency:sym,pub:map:currency:undl,pub:map:currency:label").await.assert(
        200,
        concat!(
            r#"[[["UST","USDt"],["UDC","USDC"],["CNHT","CNHt"],["EUT","EURt"],["USTF0","USDt0"]],"#,
            r#"[["USTF0","UST"],["BTCF0","BTC"],["EUTF0","EUT"]],[]]"#
        ),
    );
    let reply = sim.get("/v2/conf/pub:list:pair:exchange,pub:list:currency,pub:list:pair:futures").await;
    let lists: Vec<Vec<String>> = serde_json::from_str(&reply.body).unwrap();
    let mut pairs: Vec<String> = seed().iter().map(|s| s.pair.trim_start_matches('t').to_owned()).collect();
    pairs.extend(ADDED_EXCHANGE_PAIRS.map(str::to_owned));
    assert_eq!(lists[0], pairs);
    assert_eq!(lists[2], ["BTCF0:USTF0"]);
    let currencies = &lists[1];
    assert!(currencies.is_sorted(), "{currencies:?}");
    for pair in pairs.iter().chain(&lists[2]) {
        let symbol = format!("t{pair}");
        let (base, quote) = pair_of(&symbol);
        assert!(currencies.iter().any(|c| c == base) && currencies.iter().any(|c| c == quote), "{pair}");
    }
    // The ids the currency maps name are listed too.
    for key in ["pub:map:currency:sym", "pub:map:currency:undl"] {
        let map: Vec<(String, String)> = conf(&sim, key).await;
        for (id, _) in &map {
            assert!(currencies.contains(id), "{key}: {id}");
        }
    }
}

#[tokio::test]
async fn every_held_currency_is_listed() {
    let sim = Sim::start(SimState::demo()).await;
    let currencies: Vec<String> = conf(&sim, "pub:list:currency").await;
    let mut held = Vec::new();
    for key in SimState::demo().keys() {
        let (wallets, _) = wallets(&sim, &key.key, &key.secret, NONCE).await;
        held.extend(wallets.into_iter().map(|w| w.currency));
    }
    for currency in ["ZEC", "AIO", "CNHT", "EUR", "USTF0", "TESTBTC", "TESTUSD", "TESTUSDT"] {
        assert!(held.iter().any(|c| c == currency), "{currency} held");
    }
    for currency in &held {
        assert!(currencies.contains(currency), "{currency} not in pub:list:currency");
    }
}

#[tokio::test]
async fn every_trading_ticker_is_a_listed_pair() {
    let sim = Sim::start(SimState::demo()).await;
    let exchange: Vec<String> = conf(&sim, "pub:list:pair:exchange").await;
    let futures: Vec<String> = conf(&sim, "pub:list:pair:futures").await;
    let symbols = symbols(&sim).await;
    for symbol in symbols.iter().filter(|s| s.starts_with('t')) {
        let (base, _) = pair_of(symbol);
        let pair = symbol[1..].to_owned();
        // Perpetuals (…F0 ids) are futures pairs, not exchange pairs, as on Bitfinex.
        let (listed, other) =
            if base.ends_with("F0") { (&futures, &exchange) } else { (&exchange, &futures) };
        assert!(listed.contains(&pair) && !other.contains(&pair), "{symbol}");
    }
    // And every listed pair has its ticker.
    for pair in exchange.iter().chain(&futures) {
        assert!(symbols.contains(&format!("t{pair}")), "{pair} listed without a ticker");
    }
}

/// Item by item, the valuation cases the demo exists to show.
#[tokio::test]
async fn demo_holds_every_valuation_case() {
    let sim = Sim::start(SimState::demo()).await;
    let symbols = symbols(&sim).await;
    let has = |symbol: &str| symbols.iter().any(|s| s == symbol);
    let mentioning = |id: &str| -> Vec<&str> {
        symbols
            .iter()
            .map(String::as_str)
            .filter(|s| s.starts_with('t'))
            .filter(|s| {
                let (base, quote) = pair_of(s);
                base == id || quote == id
            })
            .collect()
    };
    let (main, main_body) = wallets(&sim, "demo-main", "demo-main-secret", NONCE).await;
    let (bot, bot_body) = wallets(&sim, "demo-bot", "demo-bot-secret", NONCE).await;
    let (cold, cold_body) = wallets(&sim, "demo-cold", "demo-cold-secret", NONCE).await;
    let holds = |wallets: &[WalletRow], wallet_type: &str, currency: &str| {
        wallets.iter().any(|w| w.wallet_type.as_str() == wallet_type && w.currency == currency)
    };

    // 1. ZEC: priced only against BTC, held in bot's exchange wallet.
    assert!(has("tZECBTC"));
    for absent in ["tZECUSD", "tZEC:USD", "tZECUST", "tZEC:UST"] {
        assert!(!has(absent), "{absent}");
    }
    assert_eq!(mentioning("ZEC"), ["tZECBTC"]);
    assert!(bot_body.contains(r#"["exchange","ZEC",18.75,0,null,null,null]"#), "{bot_body}");
    assert!(has("tBTCUSD"));

    // 2. AIO: held in main, no ticker names it anywhere (not even as a substring).
    assert!(main_body.contains(r#"["exchange","AIO",842.17,0,null,null,null]"#), "{main_body}");
    assert!(symbols.iter().all(|s| !s.contains("AIO")), "{symbols:?}");

    // 3. CNHT: priced only as the quote of tUSD:CNHT (USD/CNHT about 7.1), held in main.
    assert!(has("tUSD:CNHT"));
    for absent in ["tCNHTUSD", "tCNHT:USD", "tCNHTUST", "tCNHT:UST", "tUSDCNHT"] {
        assert!(!has(absent), "{absent}");
    }
    assert_eq!(mentioning("CNHT"), ["tUSD:CNHT"]);
    let usd_cnht = last_price(&sim, "tUSD:CNHT").await;
    assert!(usd_cnht > dec("7") && usd_cnht < dec("7.3"), "{usd_cnht}");
    assert!(holds(&main, "exchange", "CNHT"), "{main_body}");

    // 4. EUR: priced through USDt (there is no tEURUSD), held in cold; BTC and ETH have EUR pairs
    // consistent with their USD prices.
    assert!(has("tEURUST") && has("tUSTUSD"));
    for absent in ["tEURUSD", "tEUR:USD", "tUSDEUR", "tUSD:EUR"] {
        assert!(!has(absent), "{absent}");
    }
    assert!(cold_body.contains(r#"["exchange","EUR",2750,0,null,null,null]"#), "{cold_body}");
    let eur_usd = last_price(&sim, "tEURUST").await * last_price(&sim, "tUSTUSD").await;
    assert!(eur_usd > dec("1.07") && eur_usd < dec("1.1"), "{eur_usd}");
    let eur_fields = ticker_fields(&sim, "tEURUST").await;
    let ust_fields = ticker_fields(&sim, "tUSTUSD").await;
    let eur_usd_change = (Decimal::ONE + dec(&eur_fields[5])) * (Decimal::ONE + dec(&ust_fields[5]));
    for coin in ["BTC", "ETH"] {
        let usd = ticker_fields(&sim, &format!("t{coin}USD")).await;
        let eur = ticker_fields(&sim, &format!("t{coin}EUR")).await;
        let expected = dec(&usd[6]) / eur_usd;
        let off = (dec(&eur[6]) - expected).abs() / expected;
        assert!(off < dec("0.000001"), "t{coin}EUR {} vs {expected}", eur[6]);
        let expected_change = (Decimal::ONE + dec(&usd[5])) / eur_usd_change - Decimal::ONE;
        assert_eq!(dec(&eur[5]), expected_change.round_dp(4), "t{coin}EUR DAILY_CHANGE_RELATIVE");
    }

    // 5. USTF0: derivatives collateral in main's margin wallet, with its underlying in the undl
    // map and a price for that underlying; the perpetual exists, and no ticker prices USTF0 itself.
    assert!(main_body.contains(r#"["margin","USTF0",750.25,0,null,null,null]"#), "{main_body}");
    let undl: Vec<(String, String)> = conf(&sim, "pub:map:currency:undl").await;
    for (id, underlying) in [("USTF0", "UST"), ("BTCF0", "BTC"), ("EUTF0", "EUT")] {
        assert!(undl.contains(&(id.to_owned(), underlying.to_owned())), "{id} -> {underlying}");
    }
    assert!(has("tBTCF0:USTF0"));
    assert_eq!(mentioning("USTF0"), ["tBTCF0:USTF0"]);
    assert!(symbols.iter().all(|s| !s.starts_with("tUSTF0")), "{symbols:?}");

    // 6. The paper-trading account: TEST… currencies in exchange, with their own tickers.
    let (paper, paper_body) = wallets(&sim, "demo-paper", "demo-paper-secret", NONCE).await;
    let rows: Vec<(&str, &str, Decimal)> =
        paper.iter().map(|w| (w.wallet_type.as_str(), w.currency.as_str(), w.balance)).collect();
    assert_eq!(
        rows,
        [
            ("exchange", "TESTBTC", dec("0.5")),
            ("exchange", "TESTUSD", dec("10000")),
            ("exchange", "TESTUSDT", dec("7500.5")),
        ],
        "{paper_body}"
    );
    assert!(has("tTESTBTC:TESTUSD") && has("tTESTBTC:TESTUSDT"));
    let reply = sim.auth("auth/r/info/user", "demo-paper", "demo-paper-secret", NONCE + 1, None).await;
    let user: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(
        (user[0].as_u64(), user[1].as_str(), user[2].as_str()),
        (Some(1004), Some("paper@example.com"), Some("paper")),
        "{reply:?}"
    );

    // 7. Display names: the seed's, plus the ones the added ids need.
    let sym: Vec<(String, String)> = conf(&sim, "pub:map:currency:sym").await;
    for (id, name) in
        [("UST", "USDt"), ("UDC", "USDC"), ("CNHT", "CNHt"), ("EUT", "EURt"), ("USTF0", "USDt0")]
    {
        assert!(sym.contains(&(id.to_owned(), name.to_owned())), "{id} -> {name}");
    }
    // No seed coin lost its wallet or its ticker.
    assert!(holds(&cold, "exchange", "BTC") && holds(&bot, "margin", "UST"));
}
