//! Amounts at the edge of what a decimal holds (±7.9e28): two sums of 7e28 in one account, a
//! value that does not fit, a P/L at the limit. Every command and form must finish with the exact
//! numbers that fit, say which total could not be computed, and never panic. And a response body
//! beyond what bfx reads for its endpoint: refused, with what to check.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use common::*;
use predicates::prelude::*;
use tempfile::TempDir;

const HUGE: &str = "70000000000000000000000000000";

fn state() -> String {
    format!(
        r#"platform_status = 1

[[account]]
name = "whale"
user_id = 1
email = "whale@example.com"
  [[account.key]]
  key = "whale-key"
  secret = "whale-secret"
  permissions = {{ wallets = "r", positions = "r" }}
  [[account.wallet]]
  type = "exchange"
  currency = "USD"
  balance = "{HUGE}"
  unsettled_interest = "0"
  [[account.wallet]]
  type = "exchange"
  currency = "UST"
  balance = "{HUGE}"
  unsettled_interest = "0"
  [[account.wallet]]
  type = "margin"
  currency = "USD"
  balance = "{HUGE}"
  unsettled_interest = "0"
  [[account.wallet]]
  type = "exchange"
  currency = "BTC"
  balance = "{HUGE}"
  unsettled_interest = "0"
  [[account.wallet]]
  type = "exchange"
  currency = "ETH"
  balance = "0.000000000000000000000000001"
  unsettled_interest = "0"
  [[account.position]]
  symbol = "tBTCUSD"
  amount = "1"
  base_price = "1"
  pl = "{HUGE}"
  [[account.position]]
  symbol = "tXYZ:NOPE"
  amount = "-2"
  base_price = "3"
  pl = "5"

[[ticker]]
symbol = "tBTCUSD"
row = ["100000", "1", "100001", "1", "0", "0", "100000", "1", "0", "0"]

[[ticker]]
symbol = "tUSTUSD"
row = ["1", "1", "1", "1", "0", "0", "1.0001", "1", "0", "0"]

[[ticker]]
symbol = "tETHUSD"
row = ["4000", "1", "4001", "1", "0", "0", "4000", "1", "0", "0"]
"#
    )
}

fn run(home: &std::path::Path, url: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let out = bfx_env(home, url, "whale-key", "whale-secret").arg("balances").args(args).output().unwrap();
    let (stdout, stderr) = (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap());
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    (out.status.code(), stdout, stderr)
}

#[test]
fn balances_at_the_decimal_limit() {
    let (home, sim) = (TempDir::new().unwrap(), sim_with(&state()));
    let (code, json, _) = run(home.path(), &sim.url, &["--json"]);
    assert_eq!(code, Some(0));
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let wallets = doc["accounts"][0]["wallets"].as_array().unwrap();
    // Each value that fits is exact; BTC's does not fit and says so.
    assert_eq!(wallets[0]["value"], HUGE);
    assert_eq!(wallets[1]["value"], "70007000000000000000000000000");
    assert_eq!(wallets[3]["value"], serde_json::Value::Null);
    assert_eq!(wallets[4]["value"], "0.000000000000000000000004");
    // 7e28 + 7.0007e28 does not fit: no total rather than a wrong one.
    assert_eq!(doc["accounts"][0]["total"], serde_json::Value::Null);
    assert_eq!(
        (doc["total"].clone(), doc["net_total"].clone()),
        (serde_json::Value::Null, serde_json::Value::Null)
    );
    assert_eq!(doc["complete"], false);
    assert_eq!(doc["accounts"][0]["positions"][0]["pl_value"], HUGE);
    // A P/L in a currency with no route: no value, the reason, and no net total.
    let nope = &doc["accounts"][0]["positions"][1];
    assert_eq!(
        (nope["pl_value"].clone(), nope["pl_reason"].as_str()),
        (serde_json::Value::Null, Some("no ticker route to USD"))
    );
    assert_eq!(doc["positions_pl"], serde_json::Value::Null);
    let usd = doc["assets"].as_array().unwrap().iter().find(|a| a["currency"] == "USD").unwrap();
    assert_eq!(
        (usd["balance"].clone(), usd["value"].clone()),
        (serde_json::Value::Null, serde_json::Value::Null)
    );
    let reasons: Vec<String> = doc["unpriced"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["reason"].as_str().unwrap().to_owned())
        .collect();
    assert!(reasons.iter().any(|r| r.contains("does not fit in a decimal")), "{reasons:?}");

    for view in ["wallet", "asset", "account"] {
        let (code, table, _) = run(home.path(), &sim.url, &["--by", view]);
        assert_eq!(code, Some(0), "{view}");
        assert!(table.contains("INCOMPLETE: a total is too large for a decimal"), "{view}:\n{table}");
        assert!(
            table.contains(
                "NET TOTAL not computed: no P/L value for tXYZ:NOPE of default (no ticker route to USD)."
            ),
            "{view}:\n{table}"
        );
        assert!(predicate::str::is_match(r"(?m)^ TOTAL\s+-$").unwrap().eval(&table), "{view}:\n{table}");
        if view != "account" {
            assert!(table.contains("too large"), "{view}:\n{table}");
        }
    }
    let (code, csv, _) = run(home.path(), &sim.url, &["--csv"]);
    assert_eq!(code, Some(0));
    assert!(csv.contains(&format!("default,exchange,USD,{HUGE},,0,1,{HUGE},,false")), "{csv}");
    let (code, _, _) = run(home.path(), &sim.url, &["--quote", "BTC", "--price", "mid", "--hide-dust", "1"]);
    assert_eq!(code, Some(0));
}

/// A server that is not Bitfinex answers `auth/r/wallets` with a body beyond the 2 MiB bfx reads
/// for it: the account fails naming the endpoint and the cap, with a hint at the URL settings.
#[test]
fn a_body_beyond_the_cap_is_refused_with_a_hint() {
    use std::io::{Read, Write};
    let (home, sim) = (TempDir::new().unwrap(), sim_with(&state()));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hostile = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(mut tcp) = tcp else { continue };
            std::thread::spawn(move || {
                let mut request = [0u8; 4096];
                let _ = tcp.read(&mut request);
                let head =
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 3145728\r\n\r\n";
                let chunk = "[".repeat(0x10000);
                // Until bfx hangs up (3 MiB at most).
                let _ = tcp.write_all(head.as_bytes());
                for _ in 0..48 {
                    if tcp.write_all(chunk.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let out = bfx_env(home.path(), &hostile, "whale-key", "whale-secret")
        .env("BFX_PUBLIC_URL", &sim.url)
        .args(["balances", "--config", "/dev/null"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "auth/r/wallets: the response body exceeds 2097152 bytes, the most bfx reads for this endpoint"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: no Bitfinex answer to auth/r/wallets is that large: check that the --api-url"),
        "{stderr}"
    );
}
