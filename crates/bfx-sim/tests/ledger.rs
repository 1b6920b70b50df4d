//! The ledger endpoints (`auth/r/ledgers/hist`, `auth/r/ledgers/{CURRENCY}/hist`) as a client sees
//! them: pagination semantics, filters, permission, rate limit, faults; the ledger the admin API
//! writes (kinds, bulk generation, many entries on one millisecond); `[[account.ledger]]` in state
//! files; and the demo's year of history, ending exactly at its balances.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::collections::{BTreeMap, HashSet};

use bfx_core::ledger::{Category, category};
use bfx_core::{LedgerEntry, parse_ledgers, parse_wallets};
use bfx_sim::SimState;
use common::Sim;
use rust_decimal::Decimal;
use serde_json::json;

const ALL: &str = "auth/r/ledgers/hist";
const NONCE: u64 = 1_700_000_000_000_000;

/// Entries out of order in the file, one chain deliberately inconsistent (id 4), amounts in every
/// number form; a key with history read, one without.
const STATE: &str = r#"
[[account]]
name = "alice"
user_id = 7
email = "alice@example.com"
  [[account.key]]
  key = "k-hist"
  secret = "s-hist"
  permissions = { history = "r", wallets = "r" }
  [[account.key]]
  key = "k-wallets"
  secret = "s-wallets"
  permissions = { wallets = "r" }
  [[account.wallet]]
  type = "exchange"
  currency = "BTC"
  balance = "1.5"
  unsettled_interest = "0"
  [[account.wallet]]
  type = "funding"
  currency = "USD"
  balance = "100"
  unsettled_interest = "0"
  [[account.ledger]]
  id = 3
  currency = "BTC"
  wallet = "exchange"
  mts = 3000
  amount = "-0.5"
  balance = "1.5"
  description = "Exchange 0.5 BTC for USD @ 100000 on wallet exchange"
  [[account.ledger]]
  id = 1
  currency = "BTC"
  wallet = "exchange"
  mts = 1000
  amount = "2.0"
  balance = "2.0"
  description = "Deposit (BTC) #1 on wallet exchange"
  [[account.ledger]]
  id = 2
  currency = "USD"
  wallet = "funding"
  mts = 2000
  amount = "1e2"
  balance = "100"
  description = "Transfer of 100 USD from wallet Exchange to Funding on wallet funding"
  [[account.ledger]]
  id = 4
  currency = "USD"
  wallet = "funding"
  mts = 3000
  amount = "0.000000000000000001"
  balance = "7"
  description = "Margin Funding Payment on wallet funding"
"#;

fn state() -> SimState {
    SimState::from_toml(STATE, "ledger-state.toml").unwrap()
}

/// A signed ledger request with `body`; returns the parsed entries after checking HTTP 200.
async fn ledgers(sim: &Sim, path: &str, nonce: u64, body: &str) -> Vec<LedgerEntry> {
    let reply = sim.auth(path, "k-hist", "s-hist", nonce, Some(body.as_bytes())).await;
    assert_eq!(reply.status, 200, "{path} {body}: {reply:?}");
    parse_ledgers(reply.body.as_bytes()).unwrap()
}

fn ids(entries: &[LedgerEntry]) -> Vec<i64> {
    entries.iter().map(|e| e.id).collect()
}

#[tokio::test]
async fn both_paths_answer_newest_first_with_exact_nine_field_rows() {
    let sim = Sim::start(state()).await;
    // Newest first: MTS descending, then ID descending (3 and 4 share MTS 3000).
    let reply = sim.auth(ALL, "k-hist", "s-hist", NONCE, Some(b"{}")).await;
    reply.assert(
        200,
        concat!(
            r#"[[4,"USD","funding",3000,null,0.000000000000000001,7,null,"Margin Funding Payment on wallet funding"],"#,
            r#"[3,"BTC","exchange",3000,null,-0.5,1.5,null,"Exchange 0.5 BTC for USD @ 100000 on wallet exchange"],"#,
            r#"[2,"USD","funding",2000,null,1e2,100,null,"Transfer of 100 USD from wallet Exchange to Funding on wallet funding"],"#,
            r#"[1,"BTC","exchange",1000,null,2.0,2.0,null,"Deposit (BTC) #1 on wallet exchange"]]"#
        ),
    );
    // No body at all (the Python client sends none) is no parameters.
    assert_eq!(ids(&ledgers(&sim, ALL, NONCE + 1, "").await), [4, 3, 2, 1]);
    assert_eq!(ids(&ledgers(&sim, "auth/r/ledgers/BTC/hist", NONCE + 2, "{}").await), [3, 1]);
    assert_eq!(ids(&ledgers(&sim, "auth/r/ledgers/USD/hist", NONCE + 3, "{}").await), [4, 2]);
    assert!(ledgers(&sim, "auth/r/ledgers/XRP/hist", NONCE + 4, "{}").await.is_empty());
    sim.auth("auth/r/ledgers/btc/hist", "k-hist", "s-hist", NONCE + 5, Some(b"{}"))
        .await
        .assert_error(10020, "currency: invalid");
}

#[tokio::test]
async fn start_and_end_are_inclusive_and_limit_caps_the_page() {
    let sim = Sim::start(state()).await;
    let page = |n: u64, body: &'static str| {
        let sim = &sim;
        async move { ids(&ledgers(sim, ALL, NONCE + n, body).await) }
    };
    assert_eq!(page(0, r#"{"start":2000,"end":3000}"#).await, [4, 3, 2]);
    assert_eq!(page(1, r#"{"start":1000,"end":1000}"#).await, [1]);
    assert_eq!(page(2, r#"{"start":"2001","end":"2999"}"#).await, Vec::<i64>::new());
    assert_eq!(page(3, r#"{"end":2999}"#).await, [2, 1]);
    assert_eq!(page(4, r#"{"start":3000}"#).await, [4, 3]);
    assert_eq!(page(5, r#"{"limit":2}"#).await, [4, 3]);
    assert_eq!(page(6, r#"{"limit":1,"end":2000}"#).await, [2]);
    assert_eq!(page(7, r#"{"start":null,"end":null,"limit":null}"#).await, [4, 3, 2, 1]);
}

#[tokio::test]
async fn limit_defaults_to_25_and_above_2500_is_10020() {
    let sim = Sim::start(state()).await;
    let (status, _) = sim
        .admin(
            "POST",
            "/sim/ledger",
            Some(r#"{"account":"alice","currency":"BTC","wallet":"exchange","count":3000,"from_mts":5000,"to_mts":8000}"#),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(ledgers(&sim, ALL, NONCE, "{}").await.len(), 25);
    assert_eq!(ledgers(&sim, ALL, NONCE + 1, r#"{"limit":2500}"#).await.len(), 2500);
    for (n, body) in [r#"{"limit":2501}"#, r#"{"limit":0}"#, r#"{"limit":"many"}"#].into_iter().enumerate() {
        sim.auth(ALL, "k-hist", "s-hist", NONCE + 2 + n as u64, Some(body.as_bytes()))
            .await
            .assert_error(10020, "limit: invalid");
    }
    sim.auth("auth/r/ledgers/BTC/hist", "k-hist", "s-hist", NONCE + 9, Some(br#"{"limit":99999}"#))
        .await
        .assert_error(10020, "limit: invalid");
    let (_, counters) = sim.admin("GET", "/sim/counters", None).await;
    assert_eq!(counters["rejections"]["limit_invalid"], 4);
    assert_eq!(counters["requests"][ALL], 6);
}

#[tokio::test]
async fn category_and_wallet_filter_what_the_descriptions_and_wallets_say() {
    let sim = Sim::start(state()).await;
    let page = |n: u64, body: &'static str| {
        let sim = &sim;
        async move { ids(&ledgers(sim, ALL, NONCE + n, body).await) }
    };
    assert_eq!(page(0, r#"{"category":101}"#).await, [1]);
    assert_eq!(page(1, r#"{"category":5}"#).await, [3]);
    assert_eq!(page(2, r#"{"category":"28"}"#).await, [4]);
    assert_eq!(page(3, r#"{"category":51}"#).await, [2]);
    assert_eq!(page(4, r#"{"category":999}"#).await, Vec::<i64>::new());
    assert_eq!(page(5, r#"{"wallet":"funding"}"#).await, [4, 2]);
    assert_eq!(page(6, r#"{"wallet":"exchange","category":5}"#).await, [3]);
    assert_eq!(page(7, r#"{"wallet":"margin"}"#).await, Vec::<i64>::new());
    sim.auth(ALL, "k-hist", "s-hist", NONCE + 8, Some(br#"{"wallet":"Trading"}"#))
        .await
        .assert_error(10020, "wallet: invalid");
    sim.auth(ALL, "k-hist", "s-hist", NONCE + 9, Some(br#"{"category":[5]}"#))
        .await
        .assert_error(10020, "category: invalid");
}

#[tokio::test]
async fn history_read_is_required_and_the_signature_covers_the_currency_path() {
    let sim = Sim::start(state()).await;
    sim.auth(ALL, "k-wallets", "s-wallets", NONCE, Some(b"{}"))
        .await
        .assert_error(10001, "api_key: permission invalid");
    sim.auth("auth/r/ledgers/BTC/hist", "k-wallets", "s-wallets", NONCE + 1, Some(b"{}"))
        .await
        .assert_error(10001, "api_key: permission invalid");
    // Signed for the all-currencies path, sent to the BTC one.
    let mut request = common::Request::signed(ALL, "k-hist", "s-hist", NONCE, b"{}", Some(b"{}"));
    request.path = "/v2/auth/r/ledgers/BTC/hist".to_owned();
    sim.send(&request).await.assert_error(10100, "apikey: digest invalid");
    // The nonce is per key and shared with every other endpoint.
    sim.auth("auth/r/wallets", "k-hist", "s-hist", NONCE + 5, None).await;
    sim.auth(ALL, "k-hist", "s-hist", NONCE + 5, Some(b"{}")).await.assert_error(10114, "nonce: small");
}

#[tokio::test]
async fn ledgers_have_their_own_budget_shared_by_both_paths() {
    let text = STATE.replace(
        "[[account]]",
        "[limits]\nper_minute = { \"auth/r/ledgers/hist\" = 2, \"auth/r/wallets\" = 5 }\n\n[[account]]",
    );
    let sim = Sim::start(SimState::from_toml(&text, "s").unwrap()).await;
    assert_eq!(ledgers(&sim, ALL, NONCE, "{}").await.len(), 4);
    assert_eq!(ledgers(&sim, "auth/r/ledgers/BTC/hist", NONCE + 1, "{}").await.len(), 2);
    let reply = sim.auth(ALL, "k-hist", "s-hist", NONCE + 2, Some(b"{}")).await;
    assert_eq!((reply.status, reply.body.as_str()), (429, r#"{"error":"ERR_RATE_LIMIT"}"#));
    assert_eq!(reply.header("retry-after"), Some("60"));
    let reply = sim.auth("auth/r/ledgers/USD/hist", "k-hist", "s-hist", NONCE + 3, Some(b"{}")).await;
    assert_eq!(reply.status, 429);
    // Other endpoints keep their budgets.
    assert_eq!(sim.auth("auth/r/wallets", "k-hist", "s-hist", NONCE + 4, None).await.status, 200);
}

#[tokio::test]
async fn faults_and_counters_work_for_the_ledger_endpoint() {
    let sim = Sim::start(state()).await;
    let (status, _) = sim
        .admin(
            "POST",
            "/sim/faults",
            Some(r#"{"endpoint":"auth/r/ledgers/hist","kind":"maintenance","count":2}"#),
        )
        .await;
    assert_eq!(status, 200);
    sim.auth(ALL, "k-hist", "s-hist", NONCE, Some(b"{}")).await.assert_error(20060, "maintenance");
    sim.auth("auth/r/ledgers/BTC/hist", "k-hist", "s-hist", NONCE + 1, Some(b"{}"))
        .await
        .assert_error(20060, "maintenance");
    assert_eq!(ledgers(&sim, ALL, NONCE + 2, "{}").await.len(), 4);
    let (_, counters) = sim.admin("GET", "/sim/counters", None).await;
    assert_eq!(counters["requests"][ALL], 3);
    assert_eq!(counters["rejections"]["faults"]["maintenance"], 2);
}

#[tokio::test]
async fn admin_wallet_changes_append_entries_whose_descriptions_have_their_category() {
    let sim = Sim::start(state()).await;
    let kinds = [
        ("deposit", "0.5", 101),
        ("withdrawal", "-0.25", 104),
        ("trade", "-0.1", 5),
        ("fee", "-0.0002", 201),
        ("funding_payment", "0.00001", 28),
        ("transfer", "-0.05", 51),
        ("adjustment", "0.01", 401),
        ("staking_reward", "0.001", 262),
        ("withdrawal_fee", "-0.0004", 254),
        ("settlement", "0.02", 31),
    ];
    let mut last_id = 4;
    for (kind, delta, code) in kinds {
        let body = format!(
            r#"{{"account":"alice","type":"exchange","currency":"BTC","delta":"{delta}","kind":"{kind}"}}"#
        );
        let (status, wallet) = sim.admin("POST", "/sim/wallets", Some(&body)).await;
        assert_eq!(status, 200, "{wallet}");
        let entry = &wallet["ledger"];
        assert_eq!(entry["amount"], delta, "{kind}");
        assert_eq!(entry["balance"], wallet["balance"], "{kind}");
        let id = entry["id"].as_i64().unwrap();
        assert!(id > last_id, "ids strictly increase: {id} after {last_id}");
        last_id = id;
        assert_eq!(category(entry["description"].as_str().unwrap()), Some(Category(code)), "{kind}: {entry}");
    }
    // Read back over the endpoint: the newest entry is the last change, at the wallet's balance.
    let newest = ledgers(&sim, "auth/r/ledgers/BTC/hist", NONCE, r#"{"limit":1}"#).await.remove(0);
    let reply = sim.auth("auth/r/wallets", "k-hist", "s-hist", NONCE + 1, None).await;
    let btc =
        parse_wallets(reply.body.as_bytes()).unwrap().into_iter().find(|w| w.currency == "BTC").unwrap();
    assert_eq!((newest.id, newest.balance, newest.wallet.as_str()), (last_id, btc.balance, "exchange"));
    assert_eq!(newest.category(), Some(Category(31)));
    // A change of other fields writes nothing; an unknown kind is refused.
    let (_, wallet) = sim
        .admin(
            "POST",
            "/sim/wallets",
            Some(r#"{"account":"alice","type":"exchange","currency":"BTC","available":"1"}"#),
        )
        .await;
    assert_eq!(wallet["ledger"], json!(null));
    let (status, body) = sim
        .admin(
            "POST",
            "/sim/wallets",
            Some(r#"{"account":"alice","type":"exchange","currency":"BTC","delta":"1","kind":"gift"}"#),
        )
        .await;
    assert_eq!(status, 400, "{body}");
}

/// Checks balance = previous balance + amount along every wallet/currency chain of `entries`
/// (any order), and returns each chain's newest balance.
fn chains(entries: &[LedgerEntry]) -> BTreeMap<(String, String), Decimal> {
    let mut sorted: Vec<&LedgerEntry> = entries.iter().collect();
    sorted.sort_by_key(|e| (e.mts, e.id));
    let mut last: BTreeMap<(String, String), Decimal> = BTreeMap::new();
    for e in sorted {
        let key = (e.wallet.clone(), e.currency.clone());
        let before = last.get(&key).copied().unwrap_or(Decimal::ZERO);
        assert_eq!(before + e.amount, e.balance, "chain {key:?} breaks at entry {}", e.id);
        last.insert(key, e.balance);
    }
    last
}

#[tokio::test]
async fn bulk_generation_continues_the_chain_and_moves_the_wallet() {
    let sim = Sim::start(state()).await;
    let (status, run) = sim
        .admin(
            "POST",
            "/sim/ledger",
            Some(r#"{"account":"alice","currency":"USD","wallet":"funding","count":1000000,"from_mts":10000,"to_mts":1000009999}"#),
        )
        .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(
        (run["first_id"].as_i64(), run["last_id"].as_i64(), run["entries"].as_u64()),
        (Some(5), Some(1_000_004), Some(1_000_004))
    );
    let reply = sim.auth("auth/r/wallets", "k-hist", "s-hist", NONCE, None).await;
    let usd =
        parse_wallets(reply.body.as_bytes()).unwrap().into_iter().find(|w| w.currency == "USD").unwrap();
    assert_eq!(run["balance"], json!(usd.balance.to_string()));
    // The newest page: ids descending from the last, the first at the wallet's balance, a valid chain.
    let page = ledgers(&sim, "auth/r/ledgers/USD/hist", NONCE + 1, r#"{"limit":2500}"#).await;
    assert_eq!(page.len(), 2500);
    assert_eq!((page[0].id, page[0].mts, page[0].balance), (1_000_004, 1_000_009_999, usd.balance));
    assert!(page.windows(2).all(|w| w[0].id == w[1].id + 1));
    for w in page.windows(2) {
        assert_eq!(w[1].balance + w[0].amount, w[0].balance);
    }
    // The oldest generated entry continues from the state's last USD balance (7), not from 0.
    let oldest = ledgers(&sim, "auth/r/ledgers/USD/hist", NONCE + 2, r#"{"end":10000,"limit":10}"#).await;
    assert_eq!(ids(&oldest), [5, 4, 2]);
    assert_eq!(oldest[0].balance, Decimal::from(100) + oldest[0].amount);
    assert!(oldest.iter().all(|e| e.category().is_some()));
    // Bad requests say why.
    for body in [
        r#"{"account":"alice","currency":"USD","wallet":"funding","count":0}"#,
        r#"{"account":"alice","currency":"USD","wallet":"funding","count":1,"from_mts":5,"to_mts":4}"#,
        r#"{"account":"alice","currency":"USD","wallet":"funding","count":1,"same_mts":0}"#,
    ] {
        assert_eq!(sim.admin("POST", "/sim/ledger", Some(body)).await.0, 400, "{body}");
    }
    let (status, body) = sim
        .admin(
            "POST",
            "/sim/ledger",
            Some(r#"{"account":"alice","currency":"ETH","wallet":"exchange","count":1}"#),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"error": "admin API: ledger: account \"alice\" has no exchange wallet for ETH; set its balance first"})
        )
    );
}

#[tokio::test]
async fn more_entries_on_one_millisecond_than_a_page_holds() {
    let sim = Sim::start(state()).await;
    let (status, _) = sim
        .admin(
            "POST",
            "/sim/ledger",
            Some(r#"{"account":"alice","currency":"BTC","wallet":"exchange","count":3000,"from_mts":50000,"to_mts":50000}"#),
        )
        .await;
    assert_eq!(status, 200);
    // A full page, all on one MTS: ids 3004 down to 505. `end` alone cannot get past them.
    let first = ledgers(&sim, ALL, NONCE, r#"{"end":50000,"limit":2500}"#).await;
    assert_eq!(first.len(), 2500);
    assert!(first.iter().all(|e| e.mts == 50000));
    assert_eq!((first[0].id, first[2499].id), (3004, 505));
    let again = ledgers(&sim, ALL, NONCE + 1, r#"{"end":50000,"limit":2500}"#).await;
    assert_eq!(ids(&again), ids(&first));
    // The entries sharing a millisecond are grouped by `same_mts` otherwise.
    let (status, run) = sim
        .admin(
            "POST",
            "/sim/ledger",
            Some(r#"{"account":"alice","currency":"USD","wallet":"funding","count":10,"from_mts":60000,"to_mts":60004,"same_mts":2}"#),
        )
        .await;
    assert_eq!(status, 200, "{run}");
    let page = ledgers(&sim, "auth/r/ledgers/USD/hist", NONCE + 2, r#"{"start":60000}"#).await;
    let mts: Vec<i64> = page.iter().map(|e| e.mts).collect();
    assert_eq!(mts, [60004, 60004, 60003, 60003, 60002, 60002, 60001, 60001, 60000, 60000]);
}

#[test]
fn state_file_ledger_errors_name_the_entry() {
    let error = |text: String| SimState::from_toml(&text, "s.toml").unwrap_err().to_string();
    let e = error(STATE.replace("id = 4\n", "id = 2\n"));
    assert_eq!(e, "s.toml:49: duplicate ledger id 2 in account \"alice\" (first at line 41)");
    let e = error(STATE.replace("  amount = \"-0.5\"\n", ""));
    assert!(e.starts_with("s.toml:24: missing field `amount`"), "{e}");
    let e = error(STATE.replace("\"-0.5\"", "\"-0,5\""));
    assert_eq!(e, "s.toml:29: ledger entry 3 of account \"alice\": amount: \"-0,5\" is not a JSON number");
    let e = error(STATE.replace("balance = \"7\"", "balance = 7.5"));
    assert!(e.starts_with("s.toml:54: invalid type: floating point `7.5`, expected a string"), "{e}");
    let e = error(STATE.replace("mts = 1000\n", "mts = -1\n"));
    assert!(e.contains("ledger entry 1 of account \"alice\": mts: must be 0 to 2^53 - 1"), "{e}");
    let e = error(STATE.replace(
        "  wallet = \"exchange\"\n  mts = 3000",
        "  wallet = \"exchange\"\n  mts = 3000\n  colour = 1",
    ));
    assert!(e.contains("unknown field `colour`"), "{e}");
}

/// Every entry of one demo account through the endpoint, paginated as the spec says: `end` = the
/// oldest MTS of a full page, after dropping the rows that share it.
async fn all_pages(sim: &Sim, key: &str, secret: &str, nonce: &mut u64) -> Vec<LedgerEntry> {
    let mut all: Vec<LedgerEntry> = Vec::new();
    let mut end: Option<i64> = None;
    loop {
        let body = match end {
            Some(end) => format!(r#"{{"end":{end},"limit":500}}"#),
            None => r#"{"limit":500}"#.to_owned(),
        };
        *nonce += 1;
        let reply = sim.auth(ALL, key, secret, *nonce, Some(body.as_bytes())).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        let mut page = parse_ledgers(reply.body.as_bytes()).unwrap();
        let full = page.len() == 500;
        if full {
            let oldest = page[499].mts;
            page.retain(|e| e.mts != oldest);
            assert!(!page.is_empty(), "a whole page on one MTS");
            end = Some(oldest);
        }
        all.extend(page);
        if !full {
            return all;
        }
    }
}

#[tokio::test]
async fn the_demo_year_ends_exactly_at_the_demo_balances() {
    const START: i64 = 1_767_225_600_000 + 13 * 3_600_000; // 2026-01-01T13:00Z
    const MIDNIGHT: i64 = 1_767_225_600_000;
    let sim = Sim::start(SimState::demo_at(START)).await;
    let mut total = 0;
    for key in SimState::demo().keys() {
        let mut nonce = NONCE;
        let entries = all_pages(&sim, &key.key, &key.secret, &mut nonce).await;
        total += entries.len();
        let unique: HashSet<i64> = entries.iter().map(|e| e.id).collect();
        assert_eq!(unique.len(), entries.len(), "{}: ids are unique", key.account);
        for e in &entries {
            assert!((MIDNIGHT - 365 * 86_400_000..MIDNIGHT).contains(&e.mts), "{}: {e:?}", key.account);
            assert!(e.category().is_some(), "{}: no category for {:?}", key.account, e.description);
        }
        let groups: HashSet<u16> = entries.iter().filter_map(|e| e.category()).map(|c| c.0).collect();
        for code in [101, 5, 201, 104, 51] {
            assert!(groups.contains(&code), "{}: no entry of category {code}", key.account);
        }
        let newest = chains(&entries);
        nonce += 1;
        let reply = sim.auth("auth/r/wallets", &key.key, &key.secret, nonce, None).await;
        let wallets = parse_wallets(reply.body.as_bytes()).unwrap();
        for w in &wallets {
            let chain = (w.wallet_type.as_str().to_owned(), w.currency.clone());
            assert_eq!(newest.get(&chain), Some(&w.balance), "{}: {chain:?}", key.account);
        }
        // A chain with no wallet (a transfer's source) ends at 0.
        for (chain, balance) in &newest {
            if !wallets.iter().any(|w| {
                (w.wallet_type.as_str(), w.currency.as_str()) == (chain.0.as_str(), chain.1.as_str())
            }) {
                assert_eq!(*balance, Decimal::ZERO, "{}: {chain:?}", key.account);
            }
        }
    }
    assert!((2000..6000).contains(&total), "{total} entries");
    // Funding wallets earn a margin funding payment every day.
    let mut nonce = NONCE + 10_000;
    let main = all_pages(&sim, "demo-main", "demo-main-secret", &mut nonce).await;
    let payments = main.iter().filter(|e| e.category() == Some(Category(28)) && e.currency == "USD").count();
    assert_eq!(payments, 360);
    // Deterministic: the same day gives the same history, whatever the hour.
    let later = Sim::start(SimState::demo_at(START + 10 * 3_600_000)).await;
    let mut nonce = NONCE;
    assert_eq!(all_pages(&later, "demo-bot", "demo-bot-secret", &mut nonce).await, {
        let mut nonce = NONCE + 20_000;
        all_pages(&sim, "demo-bot", "demo-bot-secret", &mut nonce).await
    });
}
