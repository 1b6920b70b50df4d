//! `bfx history …` as a user runs it: the real binary, the in-process emulator serving a small
//! hand-written ledger whose answers are computed by hand below, a SQLite store in a temporary
//! directory (and the same main path on a throwaway PostgreSQL via `BFX_STORE_URL`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::io::BufRead;
use std::path::Path;

use common::*;
use serde_json::{Value, json};
use tempfile::TempDir;

const DAY: i64 = 86_400_000;
/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000;
const JAN05: i64 = T0 + 4 * DAY;
const JAN10: i64 = T0 + 9 * DAY;
/// 2026-02-01T12:00:00Z.
const FEB01_NOON: i64 = T0 + 31 * DAY + DAY / 2;
const FEB15: i64 = T0 + 45 * DAY;
const MAR15: i64 = T0 + 73 * DAY;
const MAR25: i64 = T0 + 83 * DAY;
const MAR26: i64 = T0 + 84 * DAY;
/// 2026-04-01 and 2026-04-30: where `POST /sim/ledger` puts bulk entries.
const APR01: i64 = T0 + 90 * DAY;
const APR30: i64 = T0 + 119 * DAY;

/// A description with a terminal escape, a comma and quotes, of no known category.
const ODD: &str = "Odd\u{1b}[2J, \"quoted\" note";

/// The hand-written ledger: alice's exchange USD and BTC, her funding USD. `limits` goes under
/// `[limits]`; `funding_end` is the funding wallet's last balance (202.75 keeps the chain).
fn state(limits: &str, permissions: &str, funding_end: &str) -> String {
    let entry = |id: i64, currency: &str, wallet: &str, mts: i64, amount: &str, balance: &str, d: &str| {
        format!(
            "  [[account.ledger]]\n  id = {id}\n  currency = \"{currency}\"\n  wallet = \"{wallet}\"\n  mts = {mts}\n  amount = \"{amount}\"\n  balance = \"{balance}\"\n  description = {}\n",
            toml_string(d)
        )
    };
    let ledger = [
        entry(1, "USD", "exchange", JAN05, "1000", "1000", "Deposit (WIRE) #1 on wallet exchange"),
        entry(
            2,
            "USD",
            "exchange",
            JAN10,
            "-0.5",
            "999.5",
            "Trading fees for 0.001 BTC (BTCUSD) @ 100000 on BFX (0.2%) on wallet exchange",
        ),
        entry(
            3,
            "USD",
            "exchange",
            JAN10 + 1,
            "-100",
            "899.5",
            "Exchange 0.001 BTC for USD @ 100000 on wallet exchange",
        ),
        entry(
            4,
            "BTC",
            "exchange",
            JAN10 + 1,
            "0.001",
            "0.001",
            "Exchange 0.001 BTC for USD @ 100000 on wallet exchange",
        ),
        entry(
            5,
            "USD",
            "exchange",
            FEB01_NOON,
            "-200",
            "699.5",
            "Transfer of 200 USD from wallet Exchange to Funding on wallet exchange",
        ),
        entry(
            6,
            "USD",
            "funding",
            FEB01_NOON,
            "200",
            "200",
            "Transfer of 200 USD from wallet Exchange to Funding on wallet funding",
        ),
        entry(7, "USD", "funding", FEB15, "1.25", "201.25", "Margin Funding Payment on wallet funding"),
        entry(8, "USD", "funding", MAR15, "1.5", funding_end, "Margin Funding Payment on wallet funding"),
        entry(10, "USD", "exchange", MAR25, "-99.5", "600", "USD Withdrawal #77 on wallet exchange"),
        entry(11, "USD", "exchange", MAR26, "0", "600", ODD),
    ]
    .concat();
    format!(
        r#"[limits]
{limits}

[[account]]
name = "alice"
user_id = 1
email = "alice@example.com"
  [[account.key]]
  key = "alice-key"
  secret = "alice-secret"
  permissions = {permissions}
  [[account.wallet]]
  type = "exchange"
  currency = "USD"
  balance = "600"
  unsettled_interest = "0"
  [[account.wallet]]
  type = "exchange"
  currency = "BTC"
  balance = "0.001"
  unsettled_interest = "0"
  [[account.wallet]]
  type = "funding"
  currency = "USD"
  balance = "{funding_end}"
  unsettled_interest = "0"
{ledger}
[[account]]
name = "bob"
user_id = 2
email = "bob@example.com"
  [[account.key]]
  key = "bob-key"
  secret = "bob-secret"
  permissions = {{ wallets = "r" }}
  [[account.wallet]]
  type = "exchange"
  currency = "USD"
  balance = "1"
  unsettled_interest = "0"
"#
    )
}

const LIFTED: &str = r#"per_minute = { "auth/r/ledgers/hist" = 1000000, "auth/r/wallets" = 1000000 }"#;
/// One ledger request per window: the second is answered 429 (the IP blocked for 60 s).
const ONE_PAGE: &str = r#"per_minute = { "auth/r/ledgers/hist" = 1 }"#;
const READER: &str = r#"{ wallets = "r", history = "r" }"#;

fn good_state() -> String {
    state(LIFTED, READER, "202.75")
}

fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Syncs alice into `store` and asserts it worked.
fn sync(home: &Path, url: &str, store: &str) -> String {
    let (code, out, err) = run(alice(home, url, store), &["history", "sync"]);
    assert_eq!(code, 0, "{out}{err}");
    out
}

/// Every question against the hand-written ledger, with the answers worked out by hand.
fn every_answer(home: &Path, url: &str, store: &str) {
    let out = sync(home, url, store);
    // Complete up to when the sync asked (now, which varies).
    let (head, tail) = out.split_once(" to ").unwrap_or_else(|| panic!("{out}"));
    assert_eq!(
        head,
        "default: 10 new entries (10 fetched in 1 pages); 10 stored, complete from 1970-01-01T00:00:00Z"
    );
    assert!(tail.split_once('\n').is_some_and(|(line, _)| line.ends_with("Z; no possible gaps")), "{out}");
    let q = |args: &[&str]| {
        let (code, out, err) = run(alice(home, url, store), args);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
        (out, err)
    };
    let balances = |at: &str| json_of(&q(&["history", "balances", "--json", "--at", at]).0);
    let rows = |doc: &Value| -> Vec<(String, String, String, String)> {
        doc["balances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                let s = |k: &str| b[k].as_str().unwrap().to_owned();
                (s("wallet"), s("currency"), s("balance"), s("time"))
            })
            .collect()
    };
    let row = |w: &str, c: &str, b: &str, t: &str| (w.to_owned(), c.to_owned(), b.to_owned(), t.to_owned());
    // End of 31 January: after the trade, before the transfer.
    let doc = balances("2026-01-31");
    assert_eq!(doc["at"], "2026-01-31T23:59:59.999Z");
    assert_eq!(doc["complete"], true);
    assert_eq!(
        rows(&doc),
        [
            row("exchange", "BTC", "0.001", "2026-01-10T00:00:00.001Z"),
            row("exchange", "USD", "899.5", "2026-01-10T00:00:00.001Z")
        ]
    );
    // The transfer's very millisecond, as RFC 3339 in another zone: both sides included.
    let doc = balances("2026-02-01T13:00:00+01:00");
    assert_eq!(
        rows(&doc),
        [
            row("exchange", "BTC", "0.001", "2026-01-10T00:00:00.001Z"),
            row("exchange", "USD", "699.5", "2026-02-01T12:00:00Z"),
            row("funding", "USD", "200", "2026-02-01T12:00:00Z")
        ]
    );
    // Milliseconds, as in the export: the deposit alone.
    assert_eq!(rows(&balances(&JAN05.to_string())), [row("exchange", "USD", "1000", "2026-01-05T00:00:00Z")]);
    // Before anything: nothing, and complete (the store covers from the beginning).
    let doc = balances("2025-12-31");
    assert_eq!((doc["balances"].clone(), doc["complete"].clone()), (json!([]), json!(true)));
    // After the sync (in the future): today's balances, but the store cannot vouch for the rest.
    let doc = balances("2999-12-31");
    assert_eq!(rows(&doc).iter().map(|r| r.2.as_str()).collect::<Vec<_>>(), ["0.001", "600", "202.75"]);
    assert_eq!(doc["complete"], false);
    let missing = doc["missing"].as_array().unwrap();
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert_eq!(
        (missing[0]["account"].as_str(), missing[0]["to"].as_str()),
        (Some("default"), Some("2999-12-31T23:59:59.999Z"))
    );
    assert!(missing[0]["from_mts"].as_i64().unwrap() > MAR26, "from just after the sync: {missing:?}");
    let (table, _) = q(&["history", "balances", "--at", "2999-12-31"]);
    assert!(table.contains("INCOMPLETE: account \"default\" is not synced from "), "{table}");
    assert!(table.contains(" to 2999-12-31T23:59:59.999Z"), "{table}");
    let (csv, err) = q(&["history", "balances", "--csv", "--at", "2026-01-31"]);
    assert_eq!(
        csv,
        "account,wallet,currency,balance,mts,time,id\n\
         default,exchange,BTC,0.001,1768003200001,2026-01-10T00:00:00.001Z,4\n\
         default,exchange,USD,899.5,1768003200001,2026-01-10T00:00:00.001Z,3\n"
    );
    assert_eq!(err, "");

    // Earnings: the two funding payments.
    let doc = json_of(&q(&["history", "earnings", "--json"]).0);
    assert_eq!(doc["complete"], true);
    assert_eq!(
        doc["earnings"],
        json!([{"currency": "USD", "category": 28, "category_name": "margin, swap or interest payment", "entries": 2, "amount": "2.75"}])
    );
    let doc = json_of(&q(&["history", "earnings", "--json", "--by", "month"]).0);
    let months: Vec<_> = doc["earnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["month"].clone(), r["amount"].clone()))
        .collect();
    assert_eq!(months, [(json!("2026-02"), json!("1.25")), (json!("2026-03"), json!("1.5"))]);
    let doc = json_of(&q(&["history", "earnings", "--json", "--from", "2026-03-01", "--to", "2026-03-15"]).0);
    assert_eq!((doc["earnings"][0]["amount"].clone(), doc["complete"].clone()), (json!("1.5"), json!(true)));
    assert_eq!(doc["from"], "2026-03-01T00:00:00Z");
    // Fees: the trading fee.
    let doc = json_of(&q(&["history", "fees", "--json"]).0);
    assert_eq!(
        doc["fees"],
        json!([{"currency": "USD", "category": 201, "category_name": "trading fee", "entries": 1, "amount": "-0.5"}])
    );
    // Flows: the deposit and the withdrawal; the transfer apart, per wallet.
    let doc = json_of(&q(&["history", "flows", "--json"]).0);
    let sums = |key: &str| -> Vec<(Value, Value, Value)> {
        doc[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["wallet"].clone(), r["category"].clone(), r["amount"].clone()))
            .collect()
    };
    assert_eq!(
        sums("flows"),
        [(Value::Null, json!(101), json!("1000")), (Value::Null, json!(104), json!("-99.5"))]
    );
    assert_eq!(
        sums("transfers"),
        [(json!("exchange"), json!(51), json!("-200")), (json!("funding"), json!(51), json!("200"))]
    );
    let (csv, _) = q(&["history", "flows", "--csv"]);
    assert_eq!(
        csv,
        "section,month,wallet,currency,category,category_name,entries,amount\n\
         flows,,,USD,101,deposit,1,1000\n\
         flows,,,USD,104,withdrawal,1,-99.5\n\
         transfers,,exchange,USD,51,transfer,1,-200\n\
         transfers,,funding,USD,51,transfer,1,200\n"
    );

    // The export: every entry, by time then id; the odd description escaped and quoted.
    let (csv, err) = q(&["history", "export"]);
    assert_eq!(err, "");
    assert_eq!(csv, expected_export_csv());
    assert!(!csv.contains('\u{1b}'));
    let doc = json_of(&q(&["history", "export", "--json"]).0);
    let rows = doc.as_array().unwrap();
    assert_eq!(rows.len(), 10);
    assert_eq!(
        rows[2],
        json!({"account": "default", "id": 3, "mts": JAN10 + 1, "time": "2026-01-10T00:00:00.001Z", "currency": "USD",
               "wallet": "exchange", "category": 5, "amount": "-100", "balance": "899.5",
               "description": "Exchange 0.001 BTC for USD @ 100000 on wallet exchange"})
    );
    assert_eq!((rows[9]["description"].as_str(), rows[9]["category"].clone()), (Some(ODD), Value::Null));
    let (csv, _) = q(&["history", "export", "--from", "2026-03-01"]);
    assert_eq!(csv.lines().count(), 4, "{csv}");

    // Check: all agrees; the unknown category is listed, escaped.
    let (text, _) = q(&["history", "check"]);
    assert!(
        text.starts_with(
            "default: OK\n  wallets: 3 compared with auth/r/wallets; chain: 10 stored entries checked\n"
        ),
        "{text}"
    );
    assert!(text.contains(r#"1 entries of unknown category (not counted in earnings, fees or flows), e.g.: "Odd\\u{1b}[2J, \"quoted\" note""#), "{text}");
    let doc = json_of(&q(&["history", "check", "--json"]).0);
    assert_eq!((doc["ok"].clone(), doc["accounts"][0]["differences"].clone()), (json!(true), json!([])));
}

fn expected_export_csv() -> String {
    format!(
        "account,id,mts,time,currency,wallet,category,amount,balance,description\n\
         default,1,{JAN05},2026-01-05T00:00:00Z,USD,exchange,101,1000,1000,Deposit (WIRE) #1 on wallet exchange\n\
         default,2,{JAN10},2026-01-10T00:00:00Z,USD,exchange,201,-0.5,999.5,Trading fees for 0.001 BTC (BTCUSD) @ 100000 on BFX (0.2%) on wallet exchange\n\
         default,3,{},2026-01-10T00:00:00.001Z,USD,exchange,5,-100,899.5,Exchange 0.001 BTC for USD @ 100000 on wallet exchange\n\
         default,4,{},2026-01-10T00:00:00.001Z,BTC,exchange,5,0.001,0.001,Exchange 0.001 BTC for USD @ 100000 on wallet exchange\n\
         default,5,{FEB01_NOON},2026-02-01T12:00:00Z,USD,exchange,51,-200,699.5,Transfer of 200 USD from wallet Exchange to Funding on wallet exchange\n\
         default,6,{FEB01_NOON},2026-02-01T12:00:00Z,USD,funding,51,200,200,Transfer of 200 USD from wallet Exchange to Funding on wallet funding\n\
         default,7,{FEB15},2026-02-15T00:00:00Z,USD,funding,28,1.25,201.25,Margin Funding Payment on wallet funding\n\
         default,8,{MAR15},2026-03-15T00:00:00Z,USD,funding,28,1.5,202.75,Margin Funding Payment on wallet funding\n\
         default,10,{MAR25},2026-03-25T00:00:00Z,USD,exchange,104,-99.5,600,USD Withdrawal #77 on wallet exchange\n\
         default,11,{MAR26},2026-03-26T00:00:00Z,USD,exchange,,0,600,\"Odd\\u{{1b}}[2J, \"\"quoted\"\" note\"\n",
        JAN10 + 1,
        JAN10 + 1
    )
}

#[test]
fn sync_then_every_answer_on_sqlite() {
    let (home, sim) = (TempDir::new().unwrap(), sim_with(&good_state()));
    let store = home.path().join("store").join("history.sqlite");
    every_answer(home.path(), &sim.url, store.to_str().unwrap());
    // A second sync finds nothing new and changes nothing.
    let out = sync(home.path(), &sim.url, store.to_str().unwrap());
    assert!(out.starts_with("default: 0 new entries"), "{out}");
    let (_, csv, _) = run(alice(home.path(), &sim.url, store.to_str().unwrap()), &["history", "export"]);
    assert_eq!(csv, expected_export_csv());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_then_every_answer_on_postgres() {
    let database = bfx_store::test_support::TestDatabase::create().await.unwrap_or_else(|e| panic!("{e}"));
    let url = database.url();
    tokio::task::spawn_blocking(move || {
        let (home, sim) = (TempDir::new().unwrap(), sim_with(&good_state()));
        every_answer(home.path(), &sim.url, &url);
        // The store says where it is, never with a password.
        let (code, shown, _) = run(alice(home.path(), &sim.url, &url), &["config", "show"]);
        assert_eq!(code, 0);
        assert!(shown.contains("# history store: PostgreSQL "), "{shown}");
    })
    .await
    .unwrap();
}

/// The table shapes, against the hand-written ledger.
#[test]
fn table_shapes() {
    let (home, sim) = (TempDir::new().unwrap(), sim_with(&good_state()));
    let store = home.path().join("h.sqlite");
    let store = store.to_str().unwrap();
    sync(home.path(), &sim.url, store);
    let q = |args: &[&str]| run(alice(home.path(), &sim.url, store), args).1;
    insta::assert_snapshot!(
        "history_balances_table",
        q(&["history", "balances", "--at", "2026-02-01T12:00:00Z"])
    );
    insta::assert_snapshot!("history_earnings_by_month", q(&["history", "earnings", "--by", "month"]));
    insta::assert_snapshot!("history_fees_table", q(&["history", "fees"]));
    insta::assert_snapshot!("history_flows_table", q(&["history", "flows"]));
    insta::assert_snapshot!("history_check_table", q(&["history", "check"]));
    insta::assert_snapshot!(
        "history_earnings_json",
        q(&["history", "earnings", "--json", "--to", "2026-02-28"])
    );
}

#[test]
fn check_finds_an_entry_that_breaks_the_chain_and_a_stale_store() {
    // Entry 8 says 203.75 where 201.25 + 1.5 = 202.75 (the wallet says 203.75 too).
    let (home, sim) = (TempDir::new().unwrap(), sim_with(&state(LIFTED, READER, "203.75")));
    let store = home.path().join("h.sqlite");
    let store = store.to_str().unwrap();
    sync(home.path(), &sim.url, store);
    let (code, text, _) = run(alice(home.path(), &sim.url, store), &["history", "check"]);
    assert_eq!(code, 5, "{text}");
    assert!(text.starts_with("default: 1 DIFFERENCE(S)\n"), "{text}");
    assert!(
        text.contains("funding USD: entry #8 at 2026-03-15T00:00:00Z has balance 203.75 but the previous entry #7 at 2026-02-15T00:00:00Z (balance 201.25) plus its amount 1.5 gives 202.75"),
        "{text}"
    );
    let (code, csv, _) = run(alice(home.path(), &sim.url, store), &["history", "check", "--csv"]);
    assert_eq!(code, 5);
    assert_eq!(
        csv,
        format!(
            "account,kind,wallet,currency,id,mts,time,expected,actual,description\n\
             default,chain,funding,USD,8,{MAR15},2026-03-15T00:00:00Z,202.75,203.75,Margin Funding Payment on wallet funding\n"
        )
    );

    // A consistent ledger, then a deposit the store has not seen: the wallets disagree.
    let (home, sim) = (TempDir::new().unwrap(), sim_with(&good_state()));
    let store = home.path().join("h.sqlite");
    let store = store.to_str().unwrap();
    sync(home.path(), &sim.url, store);
    admin(
        &sim.url,
        "POST",
        "/sim/wallets",
        r#"{"account":"alice","type":"exchange","currency":"USD","delta":"5","kind":"deposit"}"#,
    );
    let (code, json, _) = run(alice(home.path(), &sim.url, store), &["history", "check", "--json"]);
    assert_eq!(code, 5, "{json}");
    let doc = json_of(&json);
    assert_eq!(doc["ok"], false);
    let difference = &doc["accounts"][0]["differences"][0];
    assert_eq!(
        (
            difference["kind"].clone(),
            difference["stored"].clone(),
            difference["now"].clone(),
            difference["newest"]["id"].clone()
        ),
        (json!("wallet"), json!("600"), json!("605"), json!(11))
    );
    // Synced again, all agrees.
    sync(home.path(), &sim.url, store);
    let (code, _, _) = run(alice(home.path(), &sim.url, store), &["history", "check"]);
    assert_eq!(code, 0);
}

/// A key without history read: exit 3 naming the permission; with another account that can, the
/// other syncs and the run is partial (5).
#[test]
fn a_key_without_history_read() {
    let (home, sim) = (TempDir::new().unwrap(), sim_with(&good_state()));
    let store = home.path().join("h.sqlite");
    let mut cmd = bfx_env(home.path(), &sim.url, "bob-key", "bob-secret");
    cmd.env("BFX_STORE_URL", &store);
    let (code, out, err) = run(cmd, &["history", "sync"]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        err.contains("the API key lacks a permission this request needs (auth/r/ledgers/hist: 10001"),
        "{err}"
    );
    assert!(
        err.contains("reading the ledger (bfx history) needs the key's \"Account History\" read permission"),
        "{err}"
    );

    write_private(
        &home.path().join(".config/bfx/config.toml"),
        &format!(
            "[endpoints]\napi_url = \"{}\"\n\n[store]\nurl = \"{}\"\n\n[[account]]\nname = \"bob\"\nkey = \"bob-key\"\nsecret_env = \"BOB\"\n\n[[account]]\nname = \"alice\"\nkey = \"alice-key\"\nsecret_env = \"ALICE\"\n",
            sim.url,
            store.display()
        ),
    );
    let mut cmd = bfx(home.path());
    cmd.env("BOB", "bob-secret").env("ALICE", "alice-secret");
    let (code, out, err) = run(cmd, &["history", "sync"]);
    assert_eq!(code, 5, "{out}{err}");
    assert!(out.starts_with("alice: 10 new entries"), "{out}");
    assert!(err.contains("error: account \"bob\""), "{err}");
}

fn bulk_fill(url: &str) {
    admin(
        url,
        "POST",
        "/sim/ledger",
        &format!(
            r#"{{"account":"alice","currency":"USD","wallet":"exchange","count":3000,"from_mts":{APR01},"to_mts":{APR30}}}"#
        ),
    );
}

/// `--no-wait` and a 429 on the second page: exit 4 at once, the first page kept.
#[test]
fn no_wait_on_a_429_stops_and_keeps_what_was_synced() {
    let (home, sim) = (TempDir::new().unwrap(), sim_with(&state(ONE_PAGE, READER, "202.75")));
    bulk_fill(&sim.url);
    let store = home.path().join("h.sqlite");
    let store = store.to_str().unwrap();
    let (code, out, err) = run(alice(home.path(), &sim.url, store), &["history", "sync", "--no-wait"]);
    assert_eq!(code, 4, "{out}{err}");
    assert!(err.contains("rate limited by Bitfinex on auth/r/ledgers/hist (HTTP 429"), "{err}");
    assert!(err.contains("what was synced before the failure is kept"), "{err}");
    let (code, csv, err) = run(alice(home.path(), &sim.url, store), &["history", "export"]);
    assert_eq!(code, 0);
    // The newest page, less its oldest millisecond (which the next page re-reads).
    let rows = csv.lines().count() - 1;
    assert!((1..3010).contains(&rows), "{rows}");
    assert!(csv.lines().skip(1).all(|l| l.contains(",2026-04-")), "only the newest entries");
    assert!(err.contains("INCOMPLETE: account \"default\" is not synced from 1970-01-01T00:00:00Z"), "{err}");
}

/// Starts `bfx history sync -v` against an emulator answering one ledger page a minute, and
/// returns once it has stored a page and is waiting out the 429 on the next.
fn sync_until_it_waits(url: &str, home: &Path, store: &Path) -> std::process::Child {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("bfx"))
        .args(["history", "sync", "-v"])
        .env_clear()
        .env("HOME", home)
        .env("BFX_API_URL", url)
        .env("BFX_API_KEY", "alice-key")
        .env("BFX_API_SECRET", "alice-secret")
        .env("BFX_STORE_URL", store)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let (mut stored, mut waiting) = (false, false);
    let mut seen = String::new();
    for line in stderr.lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        stored |= line.contains("history sync: page stored");
        if line.contains("rate-limited auth/r/ledgers/hist") && line.contains("waiting") {
            waiting = true;
            break;
        }
    }
    assert!(stored && waiting, "the sync never stored a page and then waited:\n{seen}");
    child
}

/// Ctrl-C (SIGINT) while waiting: exit 130, the page already stored kept.
#[cfg(unix)]
#[test]
fn ctrl_c_keeps_the_pages_stored() {
    let dir = TempDir::new().unwrap();
    let store = dir.path().join("h.sqlite");
    let sim = sim_with(&state(ONE_PAGE, READER, "202.75"));
    bulk_fill(&sim.url);
    let child = sync_until_it_waits(&sim.url, dir.path(), &store);
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let (code, csv, _) = run(alice(dir.path(), &sim.url, store.to_str().unwrap()), &["history", "export"]);
    assert_eq!(code, 0);
    assert!((2..3011).contains(&csv.lines().count()), "the first page is kept: {}", csv.lines().count());
}

/// A sync killed (SIGKILL) while it waits out a 429 after storing its first page; a second sync
/// against an emulator with the same ledger completes it, and the export equals an uninterrupted
/// sync's.
#[test]
fn a_killed_sync_is_completed_by_the_next() {
    let dir = TempDir::new().unwrap();
    let killed_store = dir.path().join("killed.sqlite");
    let clean_store = dir.path().join("clean.sqlite");
    {
        let slow = sim_with(&state(ONE_PAGE, READER, "202.75"));
        bulk_fill(&slow.url);
        let mut child = sync_until_it_waits(&slow.url, dir.path(), &killed_store);
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let home = TempDir::new().unwrap();
    let export = |url: &str, store: &Path| {
        run(alice(home.path(), url, store.to_str().unwrap()), &["history", "export"])
    };
    let lifted = sim_with(&state(LIFTED, READER, "202.75"));
    bulk_fill(&lifted.url);
    let (_, partial, err) = export(&lifted.url, &killed_store);
    let partial_rows = partial.lines().count() - 1;
    assert!((1..3010).contains(&partial_rows), "the kill left part of the ledger: {partial_rows}");
    assert!(err.contains("INCOMPLETE"), "{err}");
    sync(home.path(), &lifted.url, killed_store.to_str().unwrap());
    sync(home.path(), &lifted.url, clean_store.to_str().unwrap());
    let (resumed, clean) = (export(&lifted.url, &killed_store), export(&lifted.url, &clean_store));
    assert_eq!(resumed.1.lines().count(), 3011);
    assert_eq!(resumed.1, clean.1);
    assert_eq!((resumed.2.as_str(), clean.2.as_str()), ("", ""), "both complete");
}

/// `bfx demo history …` needs no setup, and agrees with itself: the check passes.
#[test]
fn demo_history_runs_with_no_setup() {
    let home = TempDir::new().unwrap();
    let (code, out, err) = run(bfx(home.path()), &["demo", "history", "earnings", "--by", "month", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let doc = json_of(&out);
    assert_eq!(doc["complete"], true);
    assert_eq!(doc["accounts"], json!(["bot", "cold", "main", "paper"]));
    assert!(doc["earnings"].as_array().unwrap().len() >= 12, "a year of monthly payments");
    let (code, out, err) = run(bfx(home.path()), &["demo", "history", "check"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.matches(": OK\n").count(), 4, "{out}");
    // Nothing left behind under HOME (the store was in a removed temporary directory).
    assert!(!home.path().join(".local/share/bfx").exists());
}
