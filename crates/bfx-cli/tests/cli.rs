//! The real `bfx` binary against the in-process emulator, with a temporary HOME and no BFX_*
//! variables from the outside: exit codes, messages and output formats.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::path::Path;

use bfx_sim::SimState;
use common::*;
use predicates::prelude::*;
use tempfile::TempDir;

#[test]
fn balances_json_follows_the_contract() {
    let (home, sim) = (TempDir::new().unwrap(), sim());
    let out = bfx_env(home.path(), &sim.url, "alice-key", "alice-secret")
        .args(["balances", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["quote"], "USD");
    let account = &doc["accounts"][0];
    assert_eq!(account["name"], "default");
    assert_eq!(account["error"], serde_json::Value::Null);
    assert_eq!(
        account["wallets"][0],
        serde_json::json!({"type": "exchange", "currency": "BTC", "balance": "1.5", "available": "1.2",
            "unsettled_interest": "0", "price": "114698.945701", "value": "172048.4185515",
            "price_route": ["tBTCUSD"], "paper": false})
    );
    assert_eq!(account["wallets"][1]["balance"], "0.123456789012345678");
    assert_eq!(account["wallets"][1]["available"], serde_json::Value::Null);
    // ETH: 0.123456789012345678 × 4335.27383, exact (Python decimal agrees).
    assert_eq!(account["wallets"][1]["value"], "535.21898654105376474700674");
    assert_eq!(account["wallets"][2]["balance"], "-0.00000001");
    assert_eq!(account["wallets"][2]["price"], "1");
    assert_eq!(account["wallets"][2]["price_route"], serde_json::json!([]));
    assert_eq!(account["wallets"][3]["price_route"], serde_json::Value::Null);
    assert_eq!(doc["price"], "last");
    assert_eq!(
        doc["assets"][0],
        serde_json::json!({"currency": "BTC", "name": "BTC", "balance": "1.5", "value": "172048.4185515", "share": "99.69"})
    );
    assert_eq!(account["wallets"][3]["balance"], "0.00000001");
    assert_eq!(account["wallets"][3]["value"], serde_json::Value::Null);
    assert_eq!(
        doc["unpriced"],
        serde_json::json!([{"currency": "XYZ", "balance": "0.00000001", "reason": "no ticker route to USD"}])
    );
    // 172048.4185515 + 535.21886055362330479307394 − 0.00000001
    assert_eq!(account["total"], "172583.63753803105376474700674");
    assert_eq!(doc["total"], account["total"]);
}

#[test]
fn balances_table_and_csv() {
    let (home, sim) = (TempDir::new().unwrap(), sim());
    bfx_env(home.path(), &sim.url, "alice-key", "alice-secret")
        .arg("balances")
        .assert()
        .success()
        .stdout(predicate::str::contains("0.12345679"))
        .stdout(predicate::str::contains("172,048.42"))
        .stdout(predicate::str::contains("TOTAL"))
        .stdout(predicate::str::contains(
            "Totals exclude unpriced assets: 0.00000001 XYZ (no ticker route to USD)",
        ));
    bfx_env(home.path(), &sim.url, "alice-key", "alice-secret")
        .args(["balances", "--csv"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "account,type,currency,balance,available,unsettled_interest,price,value,price_route,paper\n\
             default,exchange,BTC,1.5,1.2,0,114698.945701,172048.4185515,tBTCUSD,false\n\
             default,exchange,ETH,0.123456789012345678,,0,4335.27383,535.21898654105376474700674,tETHUSD,false\n",
        ))
        .stdout(predicate::str::contains("default,funding,XYZ,0.00000001,,0,,,,false\n"));
}

#[test]
fn wrong_secret_exits_3_with_code_and_hint() {
    let (home, sim) = (TempDir::new().unwrap(), sim());
    bfx_env(home.path(), &sim.url, "alice-key", "wrong")
        .arg("balances")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("10100 apikey: digest invalid"))
        .stderr(predicate::str::contains("check BFX_API_SECRET"))
        .stderr(predicate::str::contains("The system clock is not the cause"));
}

#[test]
fn unknown_key_missing_permission_and_nonce_each_say_so() {
    let (home, sim) = (TempDir::new().unwrap(), sim());
    bfx_env(home.path(), &sim.url, "nobody", "x").arg("balances").assert().code(3).stderr(
        predicate::str::contains(
            "Bitfinex does not know this API key (auth/r/wallets: 10100 apikey: invalid)",
        ),
    );
    bfx_env(home.path(), &sim.url, "noperm-key", "noperm-secret")
        .arg("balances")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("lacks a permission"))
        .stderr(predicate::str::contains("10001 api_key: permission invalid"))
        .stderr(predicate::str::contains("\"Wallets\" read permission"));

    // Another tool pushed bob's nonce far ahead.
    let nonce = bfx_core::Nonce::new(9_000_000_000_000_000).unwrap();
    let signature = bfx_core::sign::sign(b"bob-secret", "v2/auth/r/permissions", nonce, b"");
    let status = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
        .args(["-H", &format!("bfx-nonce: {nonce}"), "-H", "bfx-apikey: bob-key"])
        .args(["-H", &format!("bfx-signature: {signature}")])
        .arg(format!("{}/v2/auth/r/permissions", sim.url))
        .output();
    if let Ok(out) = status {
        assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
        bfx_env(home.path(), &sim.url, "bob-key", "bob-secret")
            .arg("balances")
            .assert()
            .code(3)
            .stderr(predicate::str::contains("10114 nonce: small"))
            .stderr(predicate::str::contains("give each program its own API key"));
    }
}

#[test]
fn rate_limit_and_bad_gateway_exit_4() {
    // One wallets request per 60 s window, so the second is refused however slow the machine; a
    // block of 1 s (the shortest `Retry-After`), so the wait is short. Nothing sleeps: bfx waits
    // out each block itself.
    let limited = STATE.replace(
        "per_minute = { \"platform/status\" = 1 }",
        "window_secs = 60\nblock_secs = 1\nper_minute = { \"auth/r/wallets\" = 1 }",
    );
    let (home, sim) = (TempDir::new().unwrap(), sim_with(&limited));
    bfx_env(home.path(), &sim.url, "alice-key", "alice-secret").arg("balances").assert().success();
    // --no-wait: the second request within the window is refused with 429, and bfx fails at once.
    bfx_env(home.path(), &sim.url, "alice-key", "alice-secret")
        .args(["balances", "--no-wait"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains(
            "rate limited by Bitfinex on auth/r/wallets (HTTP 429, ERR_RATE_LIMIT)",
        ))
        .stderr(predicate::str::contains("retry after 1 s"));
    // By default bfx waits out the block (saying so), then reads the balances. Two accounts read
    // in one run: whether the first request comes during the block above or after it (a fresh
    // budget), the second one in this run is refused, so bfx waits at least once.
    let config = home.path().join("two.toml");
    let account = |name: &str| {
        format!("[[account]]\nname = \"{name}\"\nkey = \"alice-key\"\nsecret = \"alice-secret\"\n\n")
    };
    write_private(
        &config,
        &format!("[endpoints]\napi_url = \"{}\"\n\n{}{}", sim.url, account("a1"), account("a2")),
    );
    bfx(home.path())
        .args(["balances", "--by", "account", "--config"])
        .arg(&config)
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"(?m)^ a1 .* 172,583\.64 .* ok$").unwrap())
        .stdout(predicate::str::is_match(r"(?m)^ a2 .* 172,583\.64 .* ok$").unwrap())
        .stderr(predicate::str::contains("bfx: Bitfinex rate-limited auth/r/wallets (this IP is blocked there for a while); waiting 1 s (--no-wait fails instead)"));

    let gateway = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", gateway.local_addr().unwrap());
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in gateway.incoming() {
            let mut stream = stream.unwrap();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let body = "<html><head><title>502 Bad Gateway</title></head></html>";
            let _ = write!(
                stream,
                "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    bfx_env(home.path(), &url, "alice-key", "alice-secret")
        .arg("balances")
        .assert()
        .code(4)
        .stderr(predicate::str::contains("auth/r/wallets answered HTTP 502 with a body that is not a Bitfinex response: <html><head><title>502 Bad Gateway</title></head></html>"));
}

#[test]
fn one_failed_account_is_partial_exit_5() {
    let (home, sim) = (TempDir::new().unwrap(), sim());
    let config = home.path().join(".config/bfx/config.toml");
    write_private(
        &config,
        &format!(
            "[endpoints]\napi_url = \"{}\"\n\n[[account]]\nname = \"alice\"\nkey = \"alice-key\"\nsecret_env = \"ALICE_SECRET\"\n\n\
             [[account]]\nname = \"bob\"\nkey = \"bob-key\"\nsecret = \"not-bobs-secret\"\n",
            sim.url
        ),
    );
    let out = bfx(home.path())
        .env("ALICE_SECRET", "alice-secret")
        .args(["balances", "--json"])
        .assert()
        .code(5)
        .stderr(predicate::str::contains("error: account \"bob\": Bitfinex rejected the request signature"))
        .stderr(predicate::str::contains("check the secret of account \"bob\""))
        .get_output()
        .stdout
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["accounts"][0]["name"], "alice");
    assert_eq!(doc["accounts"][0]["wallets"].as_array().unwrap().len(), 4);
    assert_eq!(
        doc["accounts"][1],
        serde_json::json!({"name": "bob", "wallets": [], "total": null,
            "error": {"code": 10100, "message": "apikey: digest invalid", "kind": "auth"},
            "positions": null, "positions_pl": null, "positions_error": null})
    );
    // The total covers what was read; the failure is in the document and the exit code.
    assert_eq!(doc["total"], doc["accounts"][0]["total"]);

    bfx(home.path())
        .env("ALICE_SECRET", "alice-secret")
        .args(["balances", "--account", "alice"])
        .assert()
        .success();
    bfx(home.path())
        .env("ALICE_SECRET", "alice-secret")
        .args(["balances", "--account", "carol"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no account named \"carol\" (configured: alice, bob)"));
}

#[test]
fn config_errors_exit_2() {
    let home = TempDir::new().unwrap();
    bfx(home.path())
        .arg("balances")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no accounts configured"));
    let config = home.path().join(".config/bfx/config.toml");
    write_private(
        &config,
        "[[account]]\nname = \"a\"\nkey = \"k\"\nsecret_env = \"A_SECRET\"\nsecrets = 1\n",
    );
    bfx(home.path())
        .arg("balances")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!("{}: line 5: unknown field `secrets`", config.display())));
    write_private(
        &config,
        "[[account]]\nname = \"a\"\nkey = \"k\"\nsecret = \"s\"\n\n[[account]]\nname = \"a\"\nkey = \"k2\"\nsecret = \"s2\"\n",
    );
    bfx(home.path()).arg("balances").assert().code(2).stderr(predicate::str::contains(format!(
        "{}: line 7: account \"a\": duplicate account name",
        config.display()
    )));
    write_private(&config, "[[account]]\nname = \"a\"\nkey = \"k\"\nsecret_file = \"missing.secret\"\n");
    bfx(home.path())
        .arg("balances")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("line 2: account \"a\": cannot read secret_file"));
    bfx(home.path())
        .args(["balances", "--config", "/nonexistent/bfx.toml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read config file /nonexistent/bfx.toml"));
    let fresh = TempDir::new().unwrap();
    bfx(fresh.path())
        .env("BFX_API_KEY", "k")
        .arg("balances")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("BFX_API_KEY is set but BFX_API_SECRET is not"));
    bfx_env(fresh.path(), "localhost:1", "k", "s").arg("balances").assert().code(2).stderr(
        predicate::str::contains("invalid URL \"localhost:1\": expected http://HOST[:PORT] or https://HOST"),
    );
    // A quote no pair uses: refused, nothing printed on stdout.
    let sim = sim();
    bfx_env(fresh.path(), &sim.url, "alice-key", "alice-secret")
        .args(["balances", "--quote", "xyz"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("unknown quote currency \"XYZ\": no Bitfinex trading pair uses it"));
}

#[cfg(unix)]
#[test]
fn inline_secret_in_a_readable_file_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let home = TempDir::new().unwrap();
    let config = home.path().join(".config/bfx/config.toml");
    write_private(&config, "[[account]]\nname = \"a\"\nkey = \"k\"\nsecret = \"CANARY-1b2c3d\"\n");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    bfx(home.path())
        .arg("balances")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("readable by others (mode 644); run: chmod 600"))
        .stderr(predicate::str::contains("CANARY").not());
}

#[test]
fn unreachable_exchange_exits_4() {
    let home = TempDir::new().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    bfx_env(home.path(), &url, "k", "s")
        .arg("balances")
        .assert()
        .code(4)
        .stderr(predicate::str::contains("cannot connect to"));
}

const CANARY: &str = "CANARY-5e1f0a77d3";

/// Every file under `dir`, recursively, whose bytes contain the canary.
fn files_containing_canary(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_containing_canary(&path));
        } else if std::fs::read(&path).is_ok_and(|b| b.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()))
        {
            found.push(path);
        }
    }
    found
}

/// The canary secret through every command, succeeding and failing, with trace logging: it
/// never appears in stdout, stderr (logs included) or any file bfx writes under HOME.
#[test]
fn the_secret_never_appears_in_any_output() {
    // A state whose key has the canary as its secret, so the success paths use it too.
    let state = STATE.replace("secret = \"alice-secret\"", &format!("secret = \"{CANARY}\"")).replacen(
        "permissions = { account = \"r\", wallets = \"r\" }",
        "permissions = { account = \"r\", wallets = \"r\", history = \"r\" }",
        1,
    );
    let sim = sim_with(&state);
    // A ledger entry for `bfx history` to sync, check and export.
    admin(
        &sim.url,
        "POST",
        "/sim/wallets",
        r#"{"account":"alice","type":"exchange","currency":"BTC","delta":"0.5","kind":"deposit"}"#,
    );
    let home = TempDir::new().unwrap();
    let config = home.path().join(".config/bfx/config.toml");
    write_private(
        &config,
        &format!(
            "[endpoints]\napi_url = \"{}\"\n\n[[account]]\nname = \"alice\"\nkey = \"alice-key\"\nsecret_env = \"ALICE_SECRET\"\n",
            sim.url
        ),
    );
    let chart = home.path().join("chart.svg");
    let chart = chart.to_str().unwrap();
    let runs: Vec<(Vec<&str>, &str, Option<i32>)> = vec![
        (vec!["balances", "-vvv"], CANARY, Some(0)),
        (vec!["balances", "--json", "-vvv"], CANARY, Some(0)),
        (vec!["balances", "--csv", "--hide-dust", "1"], CANARY, Some(0)),
        (vec!["balances", "-vvv"], "CANARY-wrong-5e1f0a77d3", Some(3)),
        (vec!["keys", "check", "-vvv"], CANARY, Some(0)),
        (vec!["keys", "check", "--json", "-vvv"], "CANARY-wrong-5e1f0a77d3", Some(3)),
        (vec!["config", "show", "-vvv"], CANARY, Some(0)),
        (vec!["config", "path"], CANARY, Some(0)),
        (vec!["ticker", "btc", "-vvv"], CANARY, Some(0)),
        (vec!["watch", "--json", "-vvv"], "CANARY-wrong-5e1f0a77d3", Some(3)),
        (vec!["history", "sync", "-vvv"], "CANARY-wrong-5e1f0a77d3", Some(3)),
        (vec!["history", "sync", "-vvv"], CANARY, Some(0)),
        (vec!["history", "balances", "--at", "2100-01-01", "--json", "-vvv"], CANARY, Some(0)),
        (vec!["history", "earnings", "-vvv"], CANARY, Some(0)),
        (vec!["history", "flows", "--csv", "-vvv"], CANARY, Some(0)),
        (vec!["history", "export", "--json", "-vvv"], CANARY, Some(0)),
        (vec!["history", "value", "--json", "-vvv"], CANARY, Some(0)),
        (vec!["history", "chart", "--out", chart, "-vvv"], CANARY, Some(0)),
        // The state's other wallets have no ledger: the check finds them and exits 5.
        (vec!["history", "check", "-vvv"], CANARY, Some(5)),
        (vec!["history", "check", "--json", "-vvv"], "CANARY-wrong-5e1f0a77d3", Some(3)),
    ];
    for (args, secret, code) in runs {
        let out = bfx(home.path())
            .env("ALICE_SECRET", secret)
            .env("RUST_LOG", "trace")
            .args(&args)
            .output()
            .unwrap();
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), code, "{args:?}:\n{text}");
        assert!(!text.contains("5e1f0a77d3"), "{args:?} leaked the secret:\n{text}");
    }
    // `watch` runs until stopped: authenticated on the WebSocket, the connect's snapshot out, the
    // socket's frames read (its `ws` snapshot, then a change made here), then killed.
    let logs = TempDir::new().unwrap();
    let (out, err) = (logs.path().join("out"), logs.path().join("err"));
    let mut watch = std::process::Command::new(assert_cmd::cargo::cargo_bin("bfx"))
        .args(["watch", "--json", "-vvv"])
        .env_clear()
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join(".config"))
        .env("ALICE_SECRET", CANARY)
        .env("RUST_LOG", "trace")
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !std::fs::read_to_string(&out).unwrap().contains(r#""event":"snapshot""#) {
        assert!(start.elapsed() < std::time::Duration::from_secs(10), "watch never went live");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    admin(
        &sim.url,
        "POST",
        "/sim/wallets",
        r#"{"account":"alice","type":"exchange","currency":"BTC","delta":"1"}"#,
    );
    while !std::fs::read_to_string(&out).unwrap().contains(r#""event":"wallet""#) {
        assert!(start.elapsed() < std::time::Duration::from_secs(10), "no change came over the socket");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    watch.kill().unwrap();
    watch.wait().unwrap();
    for path in [&out, &err] {
        assert!(!std::fs::read_to_string(path).unwrap().contains("5e1f0a77d3"), "watch leaked the secret");
    }
    // `serve` runs until stopped: what it serves (and logs) once every account is read, with the
    // right secret and with a wrong one, never holds the secret.
    for secret in [CANARY, "CANARY-wrong-5e1f0a77d3"] {
        let mut serve = std::process::Command::new(assert_cmd::cargo::cargo_bin("bfx"))
            .args(["serve", "--listen", "127.0.0.1:0", "-vvv"])
            .env_clear()
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join(".config"))
            .env("ALICE_SECRET", secret)
            .env("RUST_LOG", "trace")
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        let addr = loop {
            let text = std::fs::read_to_string(&out).unwrap();
            if let Some(line) = text.lines().next().filter(|_| text.contains('\n')) {
                break line.strip_prefix("listening on http://").unwrap().to_owned();
            }
            assert!(start.elapsed() < std::time::Duration::from_secs(30), "serve never listened");
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let get = |path: &str| {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect(&addr).unwrap();
            write!(stream, "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").unwrap();
            let mut text = String::new();
            stream.read_to_string(&mut text).unwrap();
            text
        };
        // Right secret: alice's wallets; wrong one: the refusal, said in /readyz.
        let signal =
            if secret == CANARY { "bfx_account_value{account=\"alice\"" } else { "no snapshot yet: " };
        let mut served = String::new();
        while !served.contains(signal) {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(60),
                "serve never read alice:\n{served}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
            served = ["/metrics", "/v1/portfolio", "/readyz", "/healthz"].map(get).concat();
        }
        serve.kill().unwrap();
        serve.wait().unwrap();
        assert!(!served.contains("5e1f0a77d3"), "serve served the secret:\n{served}");
        for path in [&out, &err] {
            assert!(
                !std::fs::read_to_string(path).unwrap().contains("5e1f0a77d3"),
                "serve leaked the secret"
            );
        }
    }
    // Env-only account, with a wrong URL (connection failure paths).
    let out = bfx(home.path())
        .env("BFX_API_KEY", "k")
        .env("BFX_API_SECRET", CANARY)
        .env("RUST_LOG", "trace")
        .args(["balances", "--config", "/dev/null", "--api-url", "http://127.0.0.1:9", "-vvv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(!String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).contains("5e1f0a77d3"));
    // A PostgreSQL store URL whose password is the canary, on a port nothing listens on.
    for args in [&["history", "earnings", "-vvv"][..], &["config", "show"][..]] {
        let out = bfx(home.path())
            .env("ALICE_SECRET", CANARY)
            .env("BFX_STORE_URL", format!("postgres://bfx:{CANARY}@127.0.0.1:9/history"))
            .env("RUST_LOG", "trace")
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).into_owned();
        assert!(!text.contains("5e1f0a77d3"), "{args:?} leaked the store password:\n{text}");
        assert!(text.contains("bfx@127.0.0.1:9/history"), "{args:?} names the store:\n{text}");
    }
    assert!(
        home.path().join(".local/share/bfx/history.sqlite").exists(),
        "the history runs used the default store under HOME, which the canary search covers"
    );
    // `config init` writes a template; nothing bfx wrote anywhere under HOME holds the secret.
    let fresh = home.path().join("fresh.toml");
    bfx(home.path())
        .env("ALICE_SECRET", CANARY)
        .args(["config", "init", "--config"])
        .arg(&fresh)
        .assert()
        .success();
    assert_eq!(files_containing_canary(home.path()), Vec::<std::path::PathBuf>::new());
}

/// The emulator, serving a key whose secret is the canary, with trace logging, answering good and
/// bad requests: its own output never shows the secret (unless asked to print demo keys).
#[test]
fn the_emulator_never_logs_a_secret() {
    let dir = TempDir::new().unwrap();
    let state_path = dir.path().join("state.toml");
    std::fs::write(
        &state_path,
        STATE.replace("secret = \"alice-secret\"", &format!("secret = \"{CANARY}\"")),
    )
    .unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("bfx"))
        .args(["sim", "--listen", "127.0.0.1:0", "-vvv", "--state"])
        .arg(&state_path)
        .env("RUST_LOG", "trace")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    let url = first.trim().strip_prefix("listening on ").unwrap().to_owned();
    let home = TempDir::new().unwrap();
    bfx_env(home.path(), &url, "alice-key", CANARY).arg("balances").assert().success();
    bfx_env(home.path(), &url, "alice-key", "CANARY-wrong").arg("balances").assert().code(3);
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let text = format!("{first}{rest}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("listening on"), "{text}");
    assert!(!text.contains("5e1f0a77d3"), "the emulator leaked a secret:\n{text}");
}

#[test]
fn demo_output_snapshots() {
    let home = TempDir::new().unwrap();
    let run = |args: &[&str]| {
        let out = bfx(home.path()).arg("demo").args(args).assert().success().get_output().clone();
        assert!(String::from_utf8_lossy(&out.stderr).contains("built-in emulator at http://127.0.0.1:"));
        String::from_utf8(out.stdout).unwrap()
    };
    let json = run(&["--json"]);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let names: Vec<&str> =
        doc["accounts"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["main", "bot", "cold", "paper"]);
    insta::assert_snapshot!("demo_json", json);
    insta::assert_snapshot!("demo_table", run(&[]));
    insta::assert_snapshot!("demo_csv", run(&["--csv"]));
    insta::assert_snapshot!("demo_by_asset", run(&["--by", "asset"]));
    insta::assert_snapshot!(
        "demo_by_account_eur_bid",
        run(&["--by", "account", "--quote", "EUR", "--price", "bid"])
    );
    insta::assert_snapshot!("demo_include_paper_hide_dust", run(&["--include-paper", "--hide-dust", "1"]));
    // Other quotes, through the price graph: every asset with a USD value has one here too.
    for quote in ["BTC", "UST", "EUR"] {
        let table = run(&["--by", "asset", "--quote", quote]);
        let only_aio = format!("Totals exclude unpriced assets: 842.17 AIO (no ticker route to {quote})\n");
        assert!(table.contains(&only_aio), "{quote}: only AIO is unpriced:\n{table}");
        insta::assert_snapshot!(format!("demo_by_asset_{}", quote.to_lowercase()), table);
    }
}

/// Positions that cannot be read for a reason other than the key's permission: the wallets are
/// printed, the net total is not, the table says so, and the run is partial (exit 5).
#[test]
fn unreadable_positions_make_a_partial_run() {
    let (home, sim) = (TempDir::new().unwrap(), sim_with(bfx_sim::DEMO_STATE_TOML));
    admin(&sim.url, "POST", "/sim/faults", r#"{"endpoint":"auth/r/positions","kind":"html_5xx","count":50}"#);
    let out = bfx_env(home.path(), &sim.url, "demo-main", "demo-main-secret")
        .args(["balances", "--config", "/dev/null"])
        .assert()
        .code(5)
        .stderr(predicate::str::contains("account \"default\": open positions could not be read"))
        .get_output()
        .stdout
        .clone();
    let table = String::from_utf8(out).unwrap();
    assert!(table.contains("INCOMPLETE: open positions of default could not be read"), "{table}");
    assert!(!table.contains("NET TOTAL"), "{table}");
    let out = bfx_env(home.path(), &sim.url, "demo-main", "demo-main-secret")
        .args(["balances", "--config", "/dev/null", "--json"])
        .assert()
        .code(5)
        .get_output()
        .stdout
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["accounts"][0]["positions_error"]["kind"], "unavailable", "{doc}");
    assert_eq!(
        (doc["net_total"].clone(), doc["accounts"][0]["wallets"].as_array().unwrap().len()),
        (serde_json::Value::Null, 24)
    );
}

/// A state where one account's key lacks the wallets permission: the table says the total is
/// incomplete, JSON carries the error, exit code 5.
#[test]
fn failed_account_snapshots() {
    let (home, sim) = (TempDir::new().unwrap(), sim());
    let config = home.path().join(".config/bfx/config.toml");
    write_private(
        &config,
        &format!(
            "[endpoints]\napi_url = \"{}\"\n\n[[account]]\nname = \"bob\"\nkey = \"bob-key\"\nsecret = \"bob-secret\"\n\n\
             [[account]]\nname = \"nowallets\"\nkey = \"noperm-key\"\nsecret = \"noperm-secret\"\n",
            sim.url
        ),
    );
    let run = |args: &[&str]| {
        let out = bfx(home.path()).arg("balances").args(args).assert().code(5).get_output().clone();
        String::from_utf8(out.stdout).unwrap()
    };
    insta::assert_snapshot!("failed_table", run(&[]));
    insta::assert_snapshot!("failed_json", run(&["--json"]));
    insta::assert_snapshot!("failed_csv", run(&["--csv"]));
    insta::assert_snapshot!("failed_by_account", run(&["--by", "account"]));
}

#[test]
fn sim_prints_the_demo_state_and_refuses_a_bad_state_file() {
    let home = TempDir::new().unwrap();
    let out =
        bfx(home.path()).args(["sim", "--print-demo-state"]).assert().success().get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    assert!(SimState::from_toml(&text, "printed").is_ok());
    let bad = home.path().join("state.toml");
    std::fs::write(
        &bad,
        "platform_status = 1\n\n[[account]]\nname = \"a\"\nuser_id = 1\nemail = \"a@x\"\ncolour = \"red\"\n",
    )
    .unwrap();
    bfx(home.path())
        .args(["sim", "--listen", "127.0.0.1:0", "--state"])
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!("{}:7: unknown field `colour`", bad.display())));
}

#[test]
fn config_layers_file_then_env_then_flags() {
    let (home, sim) = (TempDir::new().unwrap(), sim());
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let config = home.path().join(".config/bfx/config.toml");
    write_private(
        &config,
        &format!(
            "[endpoints]\napi_url = \"{closed}\"\n\n[[account]]\nname = \"alice\"\nkey = \"alice-key\"\nsecret = \"alice-secret\"\n"
        ),
    );
    // The file alone points at a closed port.
    bfx(home.path()).arg("balances").assert().code(4);
    // The environment beats the file.
    bfx(home.path()).env("BFX_API_URL", &sim.url).arg("balances").assert().success();
    // A flag beats the environment.
    bfx(home.path()).env("BFX_API_URL", &sim.url).args(["balances", "--api-url", &closed]).assert().code(4);
    // BFX_CONFIG and --config choose the file.
    let other = home.path().join("other.toml");
    write_private(
        &other,
        &format!(
            "[endpoints]\napi_url = \"{}\"\n\n[[account]]\nname = \"bob\"\nkey = \"bob-key\"\nsecret = \"bob-secret\"\n",
            sim.url
        ),
    );
    bfx(home.path())
        .env("BFX_CONFIG", &other)
        .args(["balances", "--json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"name\": \"bob\""));
    bfx(home.path())
        .args(["config", "show", "--config"])
        .arg(&other)
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("api_url = \"{}\"", sim.url)))
        .stdout(predicate::str::contains("secret = \"********\""))
        .stdout(predicate::str::contains("bob-secret").not());
}

#[test]
fn config_init_writes_a_private_template_once() {
    let home = TempDir::new().unwrap();
    let path = home.path().join(".config/bfx/config.toml");
    bfx(home.path()).args(["config", "path"]).assert().success().stdout(format!("{}\n", path.display()));
    bfx(home.path()).args(["config", "init"]).assert().success();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert!(std::fs::read_to_string(&path).unwrap().contains("[[account]]"));
    bfx(home.path())
        .args(["config", "init"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("already exists"));
    bfx(home.path()).args(["config", "init", "--force"]).assert().success();
    // The fresh template has no accounts yet: balances says how to add one.
    bfx(home.path())
        .arg("balances")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("has no [[account]] entries"));
}

#[test]
fn ticker_strip_colours_and_unknown_symbols() {
    let (home, sim) = (TempDir::new().unwrap(), sim_with(bfx_sim::DEMO_STATE_TOML));
    let out = bfx(home.path())
        .env("BFX_API_URL", &sim.url)
        .arg("ticker")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count(), 16, "a header and the seed's 15 coins:\n{text}");
    assert!(text.contains("bitcoin      BTC    114698.945701    -0.81%"), "{text}");
    assert!(!text.contains('\x1b'), "no colour when piped");
    bfx(home.path())
        .env("BFX_API_URL", &sim.url)
        .args(["ticker", "eth", "--color", "always"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\x1b[31m  -3.42%\x1b[0m"));
    bfx(home.path())
        .env("BFX_API_URL", &sim.url)
        .env("NO_COLOR", "1")
        .args(["ticker", "eth"])
        .assert()
        .success()
        .stdout(predicate::str::contains('\x1b').not());
    bfx(home.path())
        .env("BFX_API_URL", &sim.url)
        .args(["ticker", "bitcoin", "nosuchcoin"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown symbol: nosuchcoin (no ticker route to USD)"));
    // A pair is that pair's own ticker: one Bitfinex does not list is unknown, even when a price
    // could be routed (there is no tEURUSD); a perpetual's is its own, not a spot figure.
    bfx(home.path())
        .env("BFX_API_URL", &sim.url)
        .args(["ticker", "tEURUSD"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown symbol: tEURUSD (no ticker tEURUSD)"));
    let out = bfx(home.path())
        .env("BFX_API_URL", &sim.url)
        .args(["ticker", "tBTCF0:USTF0", "TESTBTC", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!((doc[0]["symbol"].as_str(), doc[0]["quote"].as_str()), (Some("tBTCF0:USTF0"), Some("USTF0")));
    assert_eq!(doc[0]["last_price"], "114647.820442");
    // Paper is priced in paper: TESTUSD, never USD.
    assert_eq!(doc[1]["quote"], "TESTUSD", "{doc}");
}

/// A currency with no USD pair is priced through the graph, and the strip says in what.
#[test]
fn ticker_prices_a_currency_through_the_price_graph() {
    let (home, sim) = (TempDir::new().unwrap(), sim_with(bfx_sim::DEMO_STATE_TOML));
    let out = bfx(home.path())
        .env("BFX_API_URL", &sim.url)
        .args(["ticker", "ZEC", "EUR", "tZECBTC", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    // ZEC trades only against BTC; EUR only against USDt (there is no tEURUSD).
    assert_eq!(doc[0]["route"], serde_json::json!(["tZECBTC", "tBTCUSD"]));
    assert_eq!((doc[0]["quote"].as_str(), doc[0]["symbol"].as_str()), (Some("USD"), None));
    assert_eq!(doc[1]["route"], serde_json::json!(["tEURUST", "tUSTUSD"]));
    assert_eq!((doc[2]["quote"].as_str(), doc[2]["symbol"].as_str()), (Some("BTC"), Some("tZECBTC")));
    let zec_usd: rust_decimal::Decimal = doc[0]["last_price"].as_str().unwrap().parse().unwrap();
    let zec_btc: rust_decimal::Decimal = doc[2]["last_price"].as_str().unwrap().parse().unwrap();
    assert_eq!(zec_usd, zec_btc * rust_decimal::Decimal::from_str_exact("114698.945701").unwrap());
    let table =
        bfx(home.path()).env("BFX_API_URL", &sim.url).args(["ticker", "ZEC", "tZECBTC"]).output().unwrap();
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.lines().next().unwrap().contains(" PRICE "), "mixed quotes: {text}");
    assert!(text.contains(" USD ") && text.contains(" BTC "), "{text}");
}

/// `bfx … | head`: the reader goes away before bfx writes; bfx exits 0 without a word.
#[test]
fn closed_stdout_exits_quietly() {
    let home = TempDir::new().unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("bfx"))
        .arg("demo")
        .env_clear()
        .env("HOME", home.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("error") && !stderr.contains("panicked"), "{stderr}");
}

#[test]
fn keys_check_judges_every_key() {
    let home = TempDir::new().unwrap();
    let demo = sim_with(bfx_sim::DEMO_STATE_TOML);
    let config = home.path().join(".config/bfx/config.toml");
    write_private(
        &config,
        &format!(
            "[endpoints]\napi_url = \"{}\"\n\n\
             [[account]]\nname = \"main\"\nkey = \"demo-main\"\nsecret = \"demo-main-secret\"\n\n\
             [[account]]\nname = \"bot\"\nkey = \"demo-bot\"\nsecret = \"demo-bot-secret\"\n\n\
             [[account]]\nname = \"bad\"\nkey = \"demo-cold\"\nsecret = \"CANARY-k3ys\"\n",
            demo.url
        ),
    );
    let out = bfx(home.path())
        .args(["keys", "check"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("warning: account \"bot\" (OVER-PRIVILEGED): the key can write: orders (can place and cancel orders"))
        .stderr(predicate::str::contains("warning: account \"bad\" (BROKEN): Bitfinex rejected the request signature (auth/r/permissions: 10100 apikey: digest invalid)"))
        .stderr(predicate::str::contains("CANARY").not())
        .get_output()
        .stdout
        .clone();
    let table = String::from_utf8(out).unwrap();
    assert_eq!(
        table,
        "ACCOUNT  KEY        VERDICT          READ                               WRITE   POSITIONS\n\
         main     demo-main  OK               account,history,positions,wallets  -       read\n\
         bot      demo-bot   OVER-PRIVILEGED  account,history,orders,wallets     orders  no (net total skips them)\n\
         bad      demo-cold  BROKEN           -                                  -       -\n"
    );
    bfx(home.path()).args(["keys", "check", "--account", "main"]).assert().success();

    let out = bfx(home.path())
        .args(["keys", "check", "--json", "--account", "bot"])
        .assert()
        .code(3)
        .get_output()
        .stdout
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        doc,
        serde_json::json!([{"account": "bot", "key": "demo-bot", "verdict": "OVER-PRIVILEGED",
            "read": ["account", "history", "orders", "wallets"],
            "write": [{"scope": "orders", "risk": "can place and cancel orders: trade the balances away"}],
            "positions_read": false, "error": null}])
    );

    // A key without wallets read.
    let test_state = sim();
    bfx_env(home.path(), &test_state.url, "noperm-key", "noperm-secret")
        .args(["keys", "check", "--config", "/dev/null"])
        .assert()
        .code(3)
        .stdout(predicate::str::contains("default  noperm-key  MISSING  account  -"))
        .stderr(predicate::str::contains("the key cannot read wallets"));
}
