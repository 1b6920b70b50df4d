//! Mistakes a user makes, and what bfx says (issue 12's "Commands and options"): durations out of
//! range, accounts named twice or sharing a key, dust hidden per row shown, prices unavailable,
//! every account failing, options that do not apply, a busy port, a missing config file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use common::*;
use predicates::prelude::*;
use tempfile::TempDir;

#[test]
fn durations_out_of_range_are_usage_errors() {
    let home = TempDir::new().unwrap();
    bfx(home.path())
        .args(["watch", "--json", "--config", "/dev/null", "--poll-interval", "18446744073709551615"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("18446744073709551615 is not in 1..=3600"));
    bfx(home.path())
        .env("BFX_API_KEY", "k")
        .env("BFX_API_SECRET", "s")
        .args(["balances", "--config", "/dev/null", "--timeout", "18446744073709551615"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "timeouts must be from 1 to 3600 seconds (got 18446744073709551615)",
        ));
}

fn two_accounts(home: &std::path::Path, url: &str, second_key: &str, second_secret: &str) {
    write_private(
        &home.join(".config/bfx/config.toml"),
        &format!(
            "[endpoints]\napi_url = \"{url}\"\n\n[[account]]\nname = \"alice\"\nkey = \"alice-key\"\nsecret = \"alice-secret\"\n\n\
             [[account]]\nname = \"other\"\nkey = \"{second_key}\"\nsecret = \"{second_secret}\"\n"
        ),
    );
}

#[test]
fn an_account_is_counted_once() {
    let (home, sim) = (TempDir::new().unwrap(), sim());
    two_accounts(home.path(), &sim.url, "alice-key", "alice-secret");
    let out = bfx(home.path())
        .args(["balances", "--json", "--account", "alice", "--account", "alice"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["accounts"].as_array().unwrap().len(), 1, "named twice, read once");
    assert_eq!(doc["total"], doc["accounts"][0]["total"]);
    bfx(home.path())
        .args(["balances", "--json"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "warning: accounts \"alice\" and \"other\" use the same API key: the same account, read (and counted) twice",
        ));
}

#[test]
fn dust_is_decided_at_the_level_of_the_row_shown() {
    let home = TempDir::new().unwrap();
    let run = |args: &[&str]| {
        let out = bfx(home.path()).arg("demo").args(args).assert().success().get_output().clone();
        String::from_utf8(out.stdout).unwrap()
    };
    // By asset: an asset worth 1 000 or more is shown even when each of its wallets is dust;
    // the note counts assets.
    let table = run(&["--by", "asset", "--hide-dust", "1000"]);
    assert!(table.contains("7 dust asset(s) hidden (together 5,229.24 USD)"), "{table}");
    assert!(!table.contains("wallet(s) hidden"), "{table}");
    assert!(table.lines().any(|l| l.starts_with(" EUR ")), "EUR (2,977.66) stays:\n{table}");
    assert!(!table.lines().any(|l| l.starts_with(" TRX ")), "TRX (846.52) goes:\n{table}");
    // By account: WALLETS counts every wallet; accounts are what is hidden.
    let table = run(&["--by", "account", "--hide-dust", "20000"]);
    assert!(table.contains(" main          24 "), "{table}");
    assert!(table.contains("2 dust account(s) hidden"), "{table}");
}

#[test]
fn prices_unavailable_and_every_account_failing_never_look_complete() {
    let (home, sim) = (TempDir::new().unwrap(), sim());
    admin(&sim.url, "POST", "/sim/faults", r#"{"endpoint":"tickers","kind":"html_5xx","count":50}"#);
    let out = bfx_env(home.path(), &sim.url, "alice-key", "alice-secret")
        .args(["balances", "--config", "/dev/null"])
        .assert()
        .code(4)
        .get_output()
        .clone();
    let (table, stderr) = (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap());
    // One short message: the HTML body is not repeated per asset.
    assert!(stderr.matches("prices unavailable").count() == 1, "{stderr}");
    assert!(!table.to_lowercase().contains("<html"), "the body is not repeated in the table:\n{table}");
    assert!(table.contains("INCOMPLETE: prices could not be fetched"), "{table}");
    // The quote is 1 of itself, prices or not.
    let json = bfx_env(home.path(), &sim.url, "alice-key", "alice-secret")
        .args(["balances", "--config", "/dev/null", "--json"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let unpriced: Vec<&str> =
        doc["unpriced"].as_array().unwrap().iter().map(|u| u["currency"].as_str().unwrap()).collect();
    assert!(!unpriced.contains(&"USD"), "{unpriced:?}");
    assert!(doc["unpriced"].as_array().unwrap().iter().all(|u| u["reason"] == "prices unavailable"), "{doc}");
    assert_eq!(doc["complete"], false);

    // Every account failing: no total at all, and the table says no account was read.
    let out = bfx_env(home.path(), &sim.url, "alice-key", "wrong-secret")
        .args(["balances", "--config", "/dev/null", "--json"])
        .assert()
        .code(3)
        .get_output()
        .stdout
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["total"], serde_json::Value::Null);
    let out = bfx_env(home.path(), &sim.url, "alice-key", "wrong-secret")
        .args(["balances", "--config", "/dev/null"])
        .assert()
        .code(3)
        .get_output()
        .stdout
        .clone();
    let table = String::from_utf8(out).unwrap();
    assert!(table.contains("INCOMPLETE: no account could be read; there is no total."), "{table}");
    assert!(!table.contains("covers the others"), "{table}");
    assert!(predicate::str::is_match(r"(?m)^ TOTAL\s+-$").unwrap().eval(&table), "{table}");
}

#[test]
fn options_that_do_not_apply_are_refused_and_demo_takes_accounts() {
    let home = TempDir::new().unwrap();
    for args in [["--by", "asset", "--csv"], ["--by", "account", "--json"]] {
        bfx(home.path())
            .arg("demo")
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("cannot be used with"));
    }
    let out = bfx(home.path())
        .args(["demo", "--account", "main", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let names: Vec<&str> =
        doc["accounts"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["main"]);
    bfx(home.path())
        .args(["demo", "--account", "nobody"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no account named \"nobody\" (configured: main, bot, cold, paper)"));
}

#[test]
fn a_busy_port_a_host_name_and_a_missing_config_file() {
    let home = TempDir::new().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    bfx(home.path())
        .args(["sim", "--listen", &addr])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!("cannot listen on {addr}")));
    // A host name is resolved: the emulator starts (its first line says where), then is stopped.
    let mut sim = std::process::Command::new(assert_cmd::cargo::cargo_bin("bfx"))
        .args(["sim", "--listen", "localhost:0"])
        .env("HOME", home.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(sim.stdout.take().unwrap()), &mut first)
        .unwrap();
    sim.kill().unwrap();
    sim.wait().unwrap();
    assert!(first.starts_with("listening on http://"), "{first}");
    let out = bfx(home.path())
        .env("BFX_CONFIG", "/nonexistent/bfx.toml")
        .arg("balances")
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let stderr = String::from_utf8(out).unwrap();
    assert_eq!(stderr.matches("No such file or directory").count(), 1, "the OS error once: {stderr}");
}

/// One account's secret missing fails only what uses that account.
#[test]
fn a_missing_secret_fails_only_the_commands_that_need_it() {
    let (home, sim) = (TempDir::new().unwrap(), sim());
    write_private(
        &home.path().join(".config/bfx/config.toml"),
        &format!(
            "[endpoints]\napi_url = \"{}\"\n\n[[account]]\nname = \"alice\"\nkey = \"alice-key\"\nsecret = \"alice-secret\"\n\n\
             [[account]]\nname = \"other\"\nkey = \"bob-key\"\nsecret_env = \"OTHER_SECRET\"\n",
            sim.url
        ),
    );
    bfx(home.path()).args(["ticker", "btc"]).assert().success();
    bfx(home.path()).args(["balances", "--account", "alice"]).assert().success();
    bfx(home.path()).arg("balances").assert().code(2).stderr(predicate::str::contains(
        "account \"other\": secret_env OTHER_SECRET is not set in the environment",
    ));
    bfx(home.path())
        .args(["config", "show"])
        .assert()
        .success()
        .stdout(predicate::str::contains("name = \"other\""))
        .stdout(predicate::str::contains("# secret: MISSING:"))
        .stdout(predicate::str::contains("OTHER_SECRET is not set"));
}

/// Escape sequences in what the server sends (a currency, a wallet type, a display name) never
/// reach the terminal raw, in the table, the CSV or stderr.
#[test]
fn server_strings_never_reach_the_terminal_raw() {
    let state = r#"platform_status = 1
[conf]
"pub:map:currency:sym" = [["BTC", "Bit\u001b]0;owned\u0007coin"]]
[[account]]
name = "a"
user_id = 1
email = "a@example.com"
  [[account.key]]
  key = "a-key"
  secret = "a-secret"
  permissions = { wallets = "r" }
  [[account.wallet]]
  type = "exchange"
  currency = "BTC"
  balance = "1"
  unsettled_interest = "0"
  [[account.wallet]]
  type = "ex\u001b[2Jchange"
  currency = "X\u001b[31mYZ"
  balance = "2"
  unsettled_interest = "0"
[[ticker]]
symbol = "tBTCUSD"
row = ["1", "1", "1", "1", "0", "0", "100", "1", "0", "0"]
"#;
    let (home, sim) = (TempDir::new().unwrap(), sim_with(state));
    for args in [
        &["balances"][..],
        &["balances", "--by", "asset"],
        &["balances", "--csv"],
        &["balances", "--by", "account"],
    ] {
        let out = bfx_env(home.path(), &sim.url, "a-key", "a-secret")
            .args(args)
            .arg("--config")
            .arg("/dev/null")
            .output()
            .unwrap();
        let (stdout, stderr) =
            (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap());
        for text in [&stdout, &stderr] {
            assert!(!text.contains('\x1b') && !text.contains('\x07'), "{args:?}: {text:?}");
        }
        assert!(stdout.contains("\\u{1b}"), "shown escaped, not dropped: {args:?}: {stdout}");
    }
}
