//! The built-in demo state: it matches the seed price strip and is served in shapes bfx-core
//! parses.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::str::FromStr;

use bfx_core::{Ticker, format_decimal, parse_json_number};
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

#[tokio::test]
async fn demo_tickers_match_the_seed() {
    let sim = Sim::start(SimState::demo()).await;
    for seed in seed() {
        let reply = sim.get(&format!("/v2/ticker/{}", seed.pair)).await;
        assert_eq!(reply.status, 200, "{} {reply:?}", seed.pair);
        let fields: Vec<&str> = reply.body.trim_matches(['[', ']']).split(',').collect();
        assert_eq!(fields.len(), 10, "{reply:?}");
        let (relative, last) = (fields[5], fields[6]);
        assert_eq!(last, seed.price, "{} LAST_PRICE", seed.pair);
        let expected = parse_json_number(&seed.pct).unwrap() / Decimal::ONE_HUNDRED;
        assert_eq!(parse_json_number(relative).unwrap(), expected, "{} DAILY_CHANGE_RELATIVE", seed.pair);
        assert_eq!(relative, format_decimal(expected), "{} DAILY_CHANGE_RELATIVE text", seed.pair);

        // The rest of the row is consistent: bid < last < ask, low <= last <= high, and
        // DAILY_CHANGE = last - last / (1 + relative), to 6 decimals.
        let number = |i: usize| parse_json_number(fields[i]).unwrap();
        let last = number(6);
        assert!(number(0) < last && last < number(2), "{} bid/ask", seed.pair);
        assert!(number(9) <= last && last <= number(8), "{} low/high", seed.pair);
        let change = last - last / (Decimal::ONE + expected);
        assert_eq!(number(4), change.round_dp(6), "{} DAILY_CHANGE", seed.pair);
    }
}

#[test]
fn demo_toml_lists_every_seed_pair() {
    let state = SimState::from_toml(DEMO_STATE_TOML, "demo.toml").unwrap();
    assert_eq!(state.keys().len(), 3);
    for seed in seed() {
        let needle = format!("symbol = \"{}\"", seed.pair);
        assert!(DEMO_STATE_TOML.contains(&needle), "{needle}");
    }
}

#[tokio::test]
async fn demo_is_served_in_shapes_bfx_core_parses() {
    let sim = Sim::start(SimState::demo()).await;
    let reply = sim.get("/v2/tickers?symbols=ALL").await;
    assert_eq!(reply.status, 200);
    let tickers = bfx_core::parse_tickers(reply.body.as_bytes()).unwrap();
    assert_eq!(tickers.len(), 16);
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
    let reply = sim.auth("auth/r/wallets", "demo-main", "demo-main-secret", NONCE + 3, Some(b"{}")).await;
    for text in [
        r#"["funding","BTC",2.5e-7,0,null,null,null]"#,
        r#"["exchange","UST",-0.00000001,0,null,null,null]"#,
        r#"["exchange","ETH",0.123456789012345678,0,null,null,null]"#,
        r#"["exchange","USD",1250.37,0,null,null,null]"#,
        r#"["exchange","BTC",0.75,0,0.5,"Exchange 0.25 BTC for USD @ 114698.9",null]"#,
    ] {
        assert!(reply.body.contains(text), "{text} in {}", reply.body);
    }
    let wallets = bfx_core::parse_wallets(reply.body.as_bytes()).unwrap();
    let eth = wallets.iter().find(|w| w.currency == "ETH").unwrap();
    assert_eq!(eth.balance, Decimal::from_str("0.123456789012345678").unwrap());
}

#[tokio::test]
async fn demo_conf_lists() {
    let sim = Sim::start(SimState::demo()).await;
    sim.get("/v2/conf/pub:map:currency:sym,pub:map:currency:undl,pub:map:currency:label")
        .await
        .assert(200, r#"[[["UST","USDt"],["UDC","USDC"]],[["USTF0","UST"],["BTCF0","BTC"]],[]]"#);
    let reply = sim.get("/v2/conf/pub:list:pair:exchange,pub:list:currency").await;
    let lists: Vec<Vec<String>> = serde_json::from_str(&reply.body).unwrap();
    let pairs: Vec<String> = seed().iter().map(|s| s.pair.trim_start_matches('t').to_owned()).collect();
    assert_eq!(lists[0], pairs);
    for pair in &pairs {
        let (base, quote) = pair.split_once(':').unwrap_or((&pair[..3], &pair[3..]));
        assert!(lists[1].iter().any(|c| c == base) && lists[1].iter().any(|c| c == quote), "{pair}");
    }
}
