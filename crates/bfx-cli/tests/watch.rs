//! `bfx watch` (NDJSON) against the emulator: changes arrive, reconnects resynchronise, and a
//! refused WebSocket falls back to polling, each state said before its data.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::io::BufRead;
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use tempfile::TempDir;

/// `bfx watch` running, its stdout lines arriving on a channel.
struct Watch {
    child: Child,
    lines: Receiver<Value>,
}

impl Watch {
    fn start(home: &std::path::Path, envs: &[(&str, &str)]) -> Watch {
        Watch::start_with(home, envs, &[])
    }

    fn start_with(home: &std::path::Path, envs: &[(&str, &str)], args: &[&str]) -> Watch {
        Watch::start_config(home, envs, std::path::Path::new("/dev/null"), args)
    }

    fn start_config(
        home: &std::path::Path,
        envs: &[(&str, &str)],
        config: &std::path::Path,
        args: &[&str],
    ) -> Watch {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("bfx"));
        cmd.args(["watch", "--json", "--poll-interval", "1", "--config"])
            .arg(config)
            .args(args)
            .env_clear()
            .env("HOME", home)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                    break;
                }
            }
        });
        Watch { child, lines }
    }

    /// The next event matching `want`, skipping others; fails after 10 s without any event, or
    /// 60 s without a matching one (events that keep coming, polls' snapshots, must not hide
    /// the absence of the one awaited).
    fn until(&self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let event = self
                .lines
                .recv_timeout(Duration::from_secs(10).min(deadline.saturating_duration_since(Instant::now())))
                .unwrap_or_else(|_| panic!("no {what} in time"));
            if want(&event) {
                return event;
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn btc(snapshot: &Value) -> Value {
    snapshot["wallets"].as_array().unwrap().iter().find(|w| w["currency"] == "BTC").unwrap()["balance"]
        .clone()
}

#[test]
fn changes_arrive_and_reconnects_resynchronise() {
    let (home, sim) = (TempDir::new().unwrap(), sim_with(bfx_sim::DEMO_STATE_TOML));
    let env = [
        ("BFX_API_URL", sim.url.as_str()),
        ("BFX_API_KEY", "demo-cold"),
        ("BFX_API_SECRET", "demo-cold-secret"),
    ];
    let watch = Watch::start(home.path(), &env);
    watch.until("live", |e| e["event"] == "status" && e["state"] == "live");
    let first = watch.until("snapshot", |e| e["event"] == "snapshot");
    assert_eq!(btc(&first), "2.5");

    admin(
        &sim.url,
        "POST",
        "/sim/wallets",
        r#"{"account":"cold","type":"exchange","currency":"BTC","delta":"-0.5"}"#,
    );
    let change = watch.until("wallet", |e| e["event"] == "wallet");
    assert_eq!(
        change["wallet"],
        serde_json::json!({"type": "exchange", "currency": "BTC", "balance": "2", "available": null, "unsettled_interest": "0"})
    );
    // The change is valued as `bfx balances` values it: 2 BTC at the demo's last price.
    let value = watch.until("value of 2 BTC", |e| {
        e["event"] == "value"
            && e["wallets"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w["currency"] == "BTC" && w["value"] == "229397.891402")
    });
    assert_eq!((value["quote"].as_str(), value["price"].as_str()), (Some("USD"), Some("last")));
    assert!(value["total"].is_string(), "{value}");
    watch.until("total", |e| e["event"] == "total");

    // Dropped while a change happens: the reconnect's snapshot has it, and equals a fresh REST read.
    admin(&sim.url, "POST", "/sim/ws/drop", "{}");
    admin(
        &sim.url,
        "POST",
        "/sim/wallets",
        r#"{"account":"cold","type":"exchange","currency":"BTC","balance":"1.25"}"#,
    );
    watch.until("reconnecting", |e| e["event"] == "status" && e["state"] == "reconnecting");
    watch.until("live again", |e| e["event"] == "status" && e["state"] == "live");
    let resync = watch.until("snapshot", |e| e["event"] == "snapshot");
    let rest = bfx_env(home.path(), &sim.url, "demo-cold", "demo-cold-secret")
        .args(["balances", "--csv", "--config", "/dev/null"])
        .output()
        .unwrap();
    let rest = String::from_utf8(rest.stdout).unwrap();
    assert!(rest.contains("default,exchange,BTC,1.25,"), "{rest}");
    assert_eq!(btc(&resync), "1.25");
    assert_eq!(resync["wallets"].as_array().unwrap().len(), rest.lines().count() - 1);

    // A restart notice (20051): bfx reconnects by itself.
    admin(&sim.url, "POST", "/sim/ws/info", r#"{"code":20051}"#);
    watch.until("reconnecting after 20051", |e| e["event"] == "status" && e["state"] == "reconnecting");
    watch.until("live after 20051", |e| e["event"] == "status" && e["state"] == "live");
}

/// At connect, one state change and one snapshot per account, agreeing with REST (`available`
/// included): the socket's own snapshot, with the same balances and available balances not
/// computed, is not repeated.
#[test]
fn one_live_and_one_snapshot_per_account_at_connect_agreeing_with_rest() {
    let (home, sim) = (TempDir::new().unwrap(), sim_with(bfx_sim::DEMO_STATE_TOML));
    let config = home.path().join("two.toml");
    write_private(
        &config,
        &format!(
            "[endpoints]\napi_url = \"{}\"\n\n[[account]]\nname = \"main\"\nkey = \"demo-main\"\nsecret_env = \"MAIN_SECRET\"\n\n\
             [[account]]\nname = \"bot\"\nkey = \"demo-bot\"\nsecret_env = \"BOT_SECRET\"\n",
            sim.url
        ),
    );
    let env = [("MAIN_SECRET", "demo-main-secret"), ("BOT_SECRET", "demo-bot-secret")];
    let watch = Watch::start_config(home.path(), &env, &config, &[]);
    let accounts = ["main", "bot"];
    let mut events: Vec<Value> = Vec::new();
    let seen = |events: &[Value], event: &str| {
        accounts.iter().all(|a| events.iter().any(|e| e["event"] == event && e["account"] == *a))
    };
    while !seen(&events, "snapshot") {
        events.push(watch.until("a snapshot of each account", |_| true));
    }
    // What REST says, before the changes below.
    let rest =
        bfx(home.path()).envs(env).args(["balances", "--json", "--config"]).arg(&config).output().unwrap();
    let rest: Value = serde_json::from_slice(&rest.stdout).unwrap();
    // A change on each account marks the end of its connect: the socket sends its `ws` snapshot
    // with the auth answer, before any change, so a repeated snapshot would come before this.
    for (account, currency) in [("main", "BTC"), ("bot", "SOL")] {
        let change =
            format!(r#"{{"account":"{account}","type":"exchange","currency":"{currency}","delta":"1"}}"#);
        admin(&sim.url, "POST", "/sim/wallets", &change);
    }
    while !seen(&events, "wallet") {
        events.push(watch.until("a wallet change of each account", |_| true));
    }
    drop(watch);
    let fields = |wallets: &Value| {
        let mut rows: Vec<String> = wallets
            .as_array()
            .unwrap()
            .iter()
            .map(|w| format!("{} {} {} {}", w["type"], w["currency"], w["balance"], w["available"]))
            .collect();
        rows.sort();
        rows
    };
    for account in accounts {
        let connect: Vec<&Value> = events
            .iter()
            .filter(|e| e["account"] == account)
            .take_while(|e| e["event"] != "wallet")
            .collect();
        let states: Vec<&Value> =
            connect.iter().filter(|e| e["event"] == "status").map(|e| &e["state"]).collect();
        assert_eq!(states, ["connecting", "live"], "{account}: {connect:?}");
        let snapshots: Vec<&&Value> = connect.iter().filter(|e| e["event"] == "snapshot").collect();
        assert_eq!(snapshots.len(), 1, "{account}: {connect:?}");
        let by_rest = rest["accounts"].as_array().unwrap().iter().find(|a| a["name"] == account).unwrap();
        assert_eq!(fields(&snapshots[0]["wallets"]), fields(&by_rest["wallets"]), "{account}");
    }
}

/// NDJSON values in another quote; an unknown quote is refused before anything is printed, as in
/// the full-screen view; amounts beyond a decimal never panic.
#[test]
fn values_follow_the_quote_and_never_panic() {
    let (home, sim) = (TempDir::new().unwrap(), sim_with(bfx_sim::DEMO_STATE_TOML));
    let env = [
        ("BFX_API_URL", sim.url.as_str()),
        ("BFX_API_KEY", "demo-cold"),
        ("BFX_API_SECRET", "demo-cold-secret"),
    ];
    bfx(home.path())
        .envs(env)
        .args(["watch", "--json", "--config", "/dev/null", "--quote", "XYZ"])
        .timeout(Duration::from_secs(20))
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicates::str::contains("unknown quote currency \"XYZ\""));

    let mut watch = Watch::start_with(home.path(), &env, &["--quote", "eur", "--price", "mid"]);
    let value = watch.until("value", |e| e["event"] == "value");
    assert_eq!((value["quote"].as_str(), value["price"].as_str()), (Some("EUR"), Some("mid")));
    assert!(value["wallets"].as_array().unwrap().iter().all(|w| w["value"].is_string()), "{value}");

    let huge = "70000000000000000000000000000";
    let state = format!(
        "platform_status = 1\n[[account]]\nname = \"w\"\nuser_id = 1\nemail = \"w@example.com\"\n\
         [[account.key]]\nkey = \"w-key\"\nsecret = \"w-secret\"\npermissions = {{ wallets = \"r\" }}\n\
         [[account.wallet]]\ntype = \"exchange\"\ncurrency = \"USD\"\nbalance = \"{huge}\"\nunsettled_interest = \"0\"\n\
         [[account.wallet]]\ntype = \"margin\"\ncurrency = \"USD\"\nbalance = \"{huge}\"\nunsettled_interest = \"0\"\n\
         [[ticker]]\nsymbol = \"tBTCUSD\"\nrow = [\"1\", \"1\", \"1\", \"1\", \"0\", \"0\", \"1\", \"1\", \"0\", \"0\"]\n"
    );
    let sim = sim_with(&state);
    let env = [("BFX_API_URL", sim.url.as_str()), ("BFX_API_KEY", "w-key"), ("BFX_API_SECRET", "w-secret")];
    watch = Watch::start(home.path(), &env);
    let snapshot = watch.until("snapshot", |e| e["event"] == "snapshot");
    assert_eq!(snapshot["wallets"][0]["balance"], huge);
    let value = watch.until("value", |e| e["event"] == "value");
    assert_eq!(value["total"], Value::Null, "7e28 + 7e28 does not fit: {value}");
    assert_eq!(value["wallets"][1]["value"], huge);
    assert!(watch.child.try_wait().unwrap().is_none(), "still running, no panic");
}

/// `bfx watch --json` on the demo account `cold` with a WebSocket URL nothing listens on (the
/// port was bound, then freed): the socket is refused, so the account is polled over REST.
fn watch_without_websocket(home: &std::path::Path, api_url: &str) -> Watch {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("ws://{}/ws/2", l.local_addr().unwrap())
    };
    let env = [
        ("BFX_API_URL", api_url),
        ("BFX_WS_URL", closed.as_str()),
        ("BFX_API_KEY", "demo-cold"),
        ("BFX_API_SECRET", "demo-cold-secret"),
    ];
    Watch::start(home, &env)
}

#[test]
fn refused_websocket_falls_back_to_polling() {
    let (home, sim) = (TempDir::new().unwrap(), sim_with(bfx_sim::DEMO_STATE_TOML));
    let watch = watch_without_websocket(home.path(), &sim.url);
    let polling = watch.until("polling", |e| e["event"] == "status" && e["state"] == "polling");
    assert!(polling["reason"].as_str().unwrap().contains("cannot connect"), "{polling}");
    assert_eq!((&polling["code"], &polling["kind"]), (&Value::Null, &Value::from("network")), "{polling}");
    assert!(polling["hint"].as_str().unwrap().contains("BFX_WS_URL"), "{polling}");
    assert_eq!(btc(&watch.until("snapshot", |e| e["event"] == "snapshot")), "2.5");
    admin(
        &sim.url,
        "POST",
        "/sim/wallets",
        r#"{"account":"cold","type":"exchange","currency":"BTC","balance":"3"}"#,
    );
    let polled =
        watch.until("a polled snapshot with the change", |e| e["event"] == "snapshot" && btc(e) == "3");
    assert_eq!(polled["account"], "default");
}

/// While polling, a failed poll is said (`poll_failed`, with the error as `bfx balances` reports
/// it): the last snapshot is stale. The next poll that succeeds says `polling` again, then its data.
#[test]
fn a_failed_poll_makes_the_account_stale_until_a_poll_succeeds() {
    let (home, sim) = (TempDir::new().unwrap(), sim_with(bfx_sim::DEMO_STATE_TOML));
    let watch = watch_without_websocket(home.path(), &sim.url);
    watch.until("polling", |e| e["event"] == "status" && e["state"] == "polling");
    watch.until("snapshot", |e| e["event"] == "snapshot");
    admin(&sim.url, "POST", "/sim/faults", r#"{"endpoint":"auth/r/wallets","kind":"maintenance","count":2}"#);
    let failed = watch.until("poll_failed", |e| e["event"] == "status");
    assert_eq!(
        (&failed["state"], &failed["code"], &failed["kind"], &failed["account"]),
        (
            &Value::from("poll_failed"),
            &Value::from(20060),
            &Value::from("unavailable"),
            &Value::from("default")
        ),
        "{failed}"
    );
    assert!(failed["reason"].as_str().unwrap().contains("auth/r/wallets: 20060"), "{failed}");
    assert_eq!(failed["hint"], "try again in a few minutes", "{failed}");
    // The second failed poll says nothing new: the next state is `polling`, before any data.
    let next = watch.until("polling again", |e| e["event"] == "status" || e["event"] == "snapshot");
    assert_eq!((&next["event"], &next["state"]), (&Value::from("status"), &Value::from("polling")), "{next}");
    assert_eq!(btc(&watch.until("snapshot", |e| e["event"] == "snapshot")), "2.5");
}

#[test]
fn a_rejected_key_fails_for_good() {
    let (home, sim) = (TempDir::new().unwrap(), sim_with(bfx_sim::DEMO_STATE_TOML));
    let out = bfx(home.path())
        .env("BFX_API_URL", &sim.url)
        .env("BFX_API_KEY", "demo-cold")
        .env("BFX_API_SECRET", "CANARY-wrong-watch")
        .args(["watch", "--json", "--config", "/dev/null"])
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!((last["state"].as_str(), last["kind"].as_str()), (Some("failed"), Some("auth")));
    // Bitfinex's code and kind as `balances --json` has them, and what `balances` would say.
    assert_eq!(last["code"], 10100, "{last}");
    assert!(last["reason"].as_str().unwrap().contains("10100 apikey: invalid"), "{last}");
    assert!(last["hint"].as_str().unwrap().contains("BFX_API_SECRET"), "{last}");
    assert!(!text.contains("CANARY"));
}

#[test]
fn demo_watch_streams_moving_balances() {
    let home = TempDir::new().unwrap();
    // It runs until stopped: the timeout kills it, and what it printed by then is kept.
    let out =
        bfx(home.path()).args(["demo", "watch", "--json"]).timeout(Duration::from_secs(5)).output().unwrap();
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let demo_accounts = ["main", "bot", "cold", "paper"];
    let is_demo = |e: &Value| demo_accounts.contains(&e["account"].as_str().unwrap_or(""));
    assert!(events.iter().any(|e| e["event"] == "snapshot" && is_demo(e)), "{events:?}");
    let moved =
        events.iter().find(|e| e["event"] == "wallet" && is_demo(e)).unwrap_or_else(|| panic!("{events:?}"));
    assert!(moved["wallet"]["balance"].is_string(), "{moved}");
}
