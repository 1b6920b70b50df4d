//! `bfx serve` (the real binary) against the emulator: its metrics and `/v1/portfolio` say what
//! `bfx balances --json` says of the same state, follow changes, tell a broken account from the
//! others, and hold to the token off loopback. Every wait is for a positive signal, with a
//! generous deadline.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::io::{BufRead, Read, Write};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use tempfile::TempDir;

const DEADLINE: Duration = Duration::from_secs(90);

/// A wallet whose currency holds a quote and a newline: label values must be escaped.
const ODD_WALLET: &str = r#"
  [[account.wallet]]
  type = "exchange"
  currency = "Q\"T\nX"
  balance = "2"
  unsettled_interest = "0"
"#;

/// The test state with bob holding [`ODD_WALLET`] too.
fn state() -> String {
    STATE.replacen(
        "  currency = \"AVAX\"\n  balance = \"10\"\n  unsettled_interest = \"0\"\n",
        &format!("  currency = \"AVAX\"\n  balance = \"10\"\n  unsettled_interest = \"0\"\n{ODD_WALLET}"),
        1,
    )
}

/// A config with alice and bob (and any extra `[[account]]` text) pointing at `url`.
fn write_config(home: &Path, url: &str, extra: &str) -> std::path::PathBuf {
    let config = home.join(".config/bfx/config.toml");
    write_private(
        &config,
        &format!(
            "[endpoints]\napi_url = \"{url}\"\n\n[[account]]\nname = \"alice\"\nkey = \"alice-key\"\nsecret_env = \"ALICE_SECRET\"\n\n[[account]]\nname = \"bob\"\nkey = \"bob-key\"\nsecret_env = \"BOB_SECRET\"\n{extra}"
        ),
    );
    config
}

/// `bfx serve` running; killed when dropped.
struct Serve {
    child: Child,
    /// `127.0.0.1:PORT`.
    addr: String,
}

impl Serve {
    fn start(home: &Path, args: &[&str], envs: &[(&str, &str)]) -> Serve {
        Serve::start_logging(home, args, envs, Stdio::null())
    }

    /// [`Serve::start`] with its stderr (logs) going to `stderr`.
    fn start_logging(home: &Path, args: &[&str], envs: &[(&str, &str)], stderr: Stdio) -> Serve {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("bfx"));
        cmd.arg("serve")
            .args(args)
            .env_clear()
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("ALICE_SECRET", "alice-secret")
            .env("BOB_SECRET", "bob-secret")
            .stdout(Stdio::piped())
            .stderr(stderr);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let bound = first.trim().strip_prefix("listening on http://").unwrap_or_else(|| panic!("{first:?}"));
        let port = bound.rsplit_once(':').unwrap().1;
        Serve { child, addr: format!("127.0.0.1:{port}") }
    }

    fn get(&self, path: &str) -> Response {
        self.get_with(path, &[])
    }

    fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut stream = std::net::TcpStream::connect(&self.addr).unwrap();
        let mut request = format!("GET {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n", self.addr);
        for (k, v) in headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let content_type = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type: ").map(str::to_owned))
            .unwrap_or_default();
        // Sent with a length, never chunked (`/metrics` is two pieces: see below).
        let content_length =
            head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ")?.parse().ok());
        Response { status, content_type, content_length, body: body.to_owned() }
    }

    /// Waits until `ready` holds of `path`'s response, returning it.
    fn wait_for(&self, path: &str, what: &str, ready: impl Fn(&Response) -> bool) -> Response {
        let start = Instant::now();
        loop {
            let response = self.get(path);
            if ready(&response) {
                return response;
            }
            assert!(start.elapsed() < DEADLINE, "{what}: never came; last {path}:\n{response:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
struct Response {
    status: u16,
    content_type: String,
    content_length: Option<usize>,
    body: String,
}

/// The value of the sample `name{labels}` (labels exactly as exposed), if present.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn amount(value: &Value) -> f64 {
    value.as_str().unwrap().parse().unwrap()
}

#[test]
fn metrics_and_the_portfolio_say_what_balances_json_says_and_follow_a_change() {
    let sim = sim_with(&state());
    let home = TempDir::new().unwrap();
    write_config(home.path(), &sim.url, "");
    let balances = bfx(home.path())
        .env("ALICE_SECRET", "alice-secret")
        .env("BOB_SECRET", "bob-secret")
        .args(["balances", "--json"])
        .output()
        .unwrap();
    assert_eq!(balances.status.code(), Some(0), "{}", String::from_utf8_lossy(&balances.stderr));
    let expected = String::from_utf8(balances.stdout).unwrap();
    let serve = Serve::start(home.path(), &["--listen", "127.0.0.1:0"], &[]);

    // Once both accounts and their (refused) positions are read, the very same document.
    let portfolio = serve.wait_for("/v1/portfolio", "the balances --json document", |r| r.body == expected);
    assert_eq!(portfolio.content_type, "application/json");
    assert_eq!(serve.get("/readyz").status, 200);
    assert_eq!(serve.get("/healthz").body, "ok\n");
    let with_body = serve.get_with("/metrics", &[("content-length", "5")]);
    assert_eq!(with_body.status, 413, "{with_body:?}");

    let document: Value = serde_json::from_str(&expected).unwrap();
    let metrics = serve.get("/metrics");
    assert_eq!(metrics.status, 200);
    assert_eq!(metrics.content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert_eq!(metrics.content_length, Some(metrics.body.len()), "the model's part and the per-scrape part");
    let m = &metrics.body;
    assert_eq!(sample(m, r#"bfx_portfolio_value{quote="USD"}"#), Some(amount(&document["total"])), "{m}");
    for account in document["accounts"].as_array().unwrap() {
        let name = account["name"].as_str().unwrap();
        let series = format!(r#"bfx_account_value{{account="{name}",quote="USD"}}"#);
        assert_eq!(sample(m, &series), Some(amount(&account["total"])), "{series}\n{m}");
        assert_eq!(sample(m, &format!(r#"bfx_account_up{{account="{name}"}}"#)), Some(1.0), "{m}");
        for wallet in account["wallets"].as_array().unwrap() {
            let (kind, currency) = (wallet["type"].as_str().unwrap(), wallet["currency"].as_str().unwrap());
            let currency = currency.replace('\\', r"\\").replace('"', r#"\""#).replace('\n', r"\n");
            let labels = format!(r#"account="{name}",wallet="{kind}",currency="{currency}""#);
            let series = format!("bfx_wallet_balance{{{labels}}}");
            assert_eq!(sample(m, &series), Some(amount(&wallet["balance"])), "{series}\n{m}");
            let series = format!(r#"bfx_wallet_value{{{labels},quote="USD"}}"#);
            match &wallet["value"] {
                Value::Null => assert_eq!(sample(m, &series), None, "{series}\n{m}"),
                value => assert_eq!(sample(m, &series), Some(amount(value)), "{series}\n{m}"),
            }
        }
    }
    // The odd currency is escaped by the library, never breaking the line or the quoting.
    assert!(m.contains(r#"bfx_wallet_balance{account="bob",wallet="exchange",currency="Q\"T\nX"} 2"#), "{m}");
    assert_eq!(sample(m, r#"bfx_unpriced_assets{account="bob"}"#), Some(1.0), "{m}");
    for family in [
        "bfx_wallet_balance gauge",
        "bfx_wallet_value gauge",
        "bfx_account_value gauge",
        "bfx_portfolio_value gauge",
        "bfx_position_pl_value gauge",
        "bfx_price gauge",
        "bfx_account_up gauge",
        "bfx_account_state gauge",
        "bfx_account_data_age_seconds gauge",
        "bfx_unpriced_assets gauge",
        "bfx_reconnects_total counter",
        "bfx_requests_total counter",
        "bfx_rate_limited_total counter",
    ] {
        assert!(m.contains(&format!("# TYPE {family}\n")), "{family}\n{m}");
        let name = family.split(' ').next().unwrap();
        assert!(m.contains(&format!("# HELP {name} ")), "{name}\n{m}");
    }
    assert_eq!(sample(m, r#"bfx_price{pair="tBTCUSD"}"#).map(|p| p > 0.0), Some(true), "{m}");
    // Without --snapshot-every: no snapshot family, and no store touched (it would be opened at start).
    assert!(!m.contains("bfx_snapshots"), "{m}");
    assert!(!home.path().join(".local/share/bfx").exists());
    // The requests that read them, counted by outcome: alice's and bob's keys may not read positions.
    let count = |series: &str| sample(m, series).unwrap_or_default();
    assert!(count(r#"bfx_requests_total{endpoint="tickers",outcome="ok"}"#) >= 1.0, "{m}");
    assert!(count(r#"bfx_requests_total{endpoint="auth/r/positions",outcome="permission"}"#) >= 2.0, "{m}");

    // OpenMetrics when asked for: its content type, counters named by family, `# EOF` last.
    let open = serve
        .get_with("/metrics", &[("accept", "application/openmetrics-text;version=1.0.0,text/plain;q=0.5")]);
    assert_eq!(open.content_type, "application/openmetrics-text; version=1.0.0; charset=utf-8");
    assert!(open.body.ends_with("# EOF\n"), "{}", open.body);
    assert!(open.body.contains("# TYPE bfx_reconnects counter\n"), "{}", open.body);
    assert!(open.body.contains("bfx_reconnects_total{account=\"alice\"} 0\n"), "{}", open.body);

    // A change made through the emulator reaches both, with no request of ours to Bitfinex.
    admin(
        &sim.url,
        "POST",
        "/sim/wallets",
        r#"{"account":"alice","type":"exchange","currency":"BTC","delta":"1"}"#,
    );
    let series = r#"bfx_wallet_balance{account="alice",wallet="exchange",currency="BTC"}"#;
    serve.wait_for("/metrics", "the change in /metrics", |r| sample(&r.body, series) == Some(2.5));
    let portfolio = serve.wait_for("/v1/portfolio", "the change in /v1/portfolio", |r| {
        r.body.contains("\"balance\": \"2.5\"")
    });
    let document: Value = serde_json::from_str(&portfolio.body).unwrap();
    let btc = &document["accounts"][0]["wallets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["currency"] == "BTC")
        .unwrap()
        .clone();
    assert_eq!((&btc["type"], &btc["balance"]), (&Value::from("exchange"), &Value::from("2.5")));
}

#[test]
fn an_account_with_a_wrong_key_is_down_and_the_others_are_not() {
    let sim = sim_with(STATE);
    let home = TempDir::new().unwrap();
    let extra = "\n[[account]]\nname = \"broken\"\nkey = \"nobody-key\"\nsecret_env = \"BROKEN_SECRET\"\n";
    write_config(home.path(), &sim.url, extra);
    let serve = Serve::start(home.path(), &["--listen", "127.0.0.1:0"], &[("BROKEN_SECRET", "wrong")]);
    // The failure is said once the stream has failed for good; the others have their wallets.
    let ready = serve.wait_for("/readyz", "the broken account's failure", |r| {
        r.status == 503
            && r.body.contains("account \"broken\": no snapshot yet: ")
            && !r.body.contains("\"alice\"")
            && !r.body.contains("\"bob\"")
    });
    assert!(!ready.body.contains("wrong"), "{}", ready.body);
    let m = serve
        .wait_for("/metrics", "alice's and bob's wallets", |r| {
            r.body.contains(r#"bfx_account_value{account="alice",quote="USD"}"#)
                && r.body.contains(r#"bfx_account_value{account="bob",quote="USD"}"#)
        })
        .body;
    assert_eq!(sample(&m, r#"bfx_account_up{account="broken"}"#), Some(0.0), "{m}");
    assert_eq!(sample(&m, r#"bfx_account_up{account="alice"}"#), Some(1.0), "{m}");
    assert_eq!(sample(&m, r#"bfx_account_up{account="bob"}"#), Some(1.0), "{m}");
    assert!(!m.contains(r#"bfx_account_data_age_seconds{account="broken"}"#), "{m}");
    // Once its stream has failed for good, the document has its error as `bfx balances --json`.
    let failed = |body: &str| -> Option<Value> {
        let document: Value = serde_json::from_str(body).ok()?;
        let broken = document["accounts"].as_array()?.iter().find(|a| a["name"] == "broken")?.clone();
        (!broken["error"].is_null()).then_some(broken)
    };
    let portfolio =
        serve.wait_for("/v1/portfolio", "the broken account's error", |r| failed(&r.body).is_some());
    let broken = failed(&portfolio.body).unwrap();
    assert_eq!(broken["error"]["kind"], "auth", "{broken}");
    assert_eq!(broken["wallets"], Value::Array(Vec::new()), "{broken}");
}

#[test]
fn off_loopback_a_token_is_required_and_enforced() {
    let sim = sim_with(STATE);
    let home = TempDir::new().unwrap();
    write_config(home.path(), &sim.url, "");
    // No token: refused before anything is served.
    let out = bfx(home.path())
        .env("ALICE_SECRET", "alice-secret")
        .env("BOB_SECRET", "bob-secret")
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("BFX_SERVE_TOKEN") && stderr.contains("token_file"), "{stderr}");
    assert!(out.stdout.is_empty());

    // A token file readable by others is refused too.
    let token_file = home.path().join("token");
    std::fs::write(&token_file, "file-token-1\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let config = write_config(
            home.path(),
            &sim.url,
            &format!("\n[serve]\ntoken_file = \"{}\"\n", token_file.display()),
        );
        let out = bfx(home.path())
            .env("ALICE_SECRET", "alice-secret")
            .env("BOB_SECRET", "bob-secret")
            .args(["serve", "--listen", "0.0.0.0:0", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    // From the token file: without it, or with another, 401 and no data.
    write_config(home.path(), &sim.url, &format!("\n[serve]\ntoken_file = \"{}\"\n", token_file.display()));
    let serve = Serve::start(home.path(), &["--listen", "0.0.0.0:0"], &[]);
    for path in ["/metrics", "/v1/portfolio", "/readyz"] {
        for headers in [
            &[][..],
            &[("authorization", "Bearer file-token-2")][..],
            &[("authorization", "file-token-1")][..],
        ] {
            let r = serve.get_with(path, headers);
            assert_eq!(r.status, 401, "{path} {headers:?}: {r:?}");
            assert!(!r.body.contains("bfx_") && !r.body.contains("alice"), "{r:?}");
        }
    }
    assert_eq!(serve.get("/healthz").status, 200, "liveness says nothing, so needs no token");
    let authorised = [("authorization", "Bearer file-token-1")];
    let start = Instant::now();
    while serve.get_with("/readyz", &authorised).status != 200 {
        assert!(start.elapsed() < DEADLINE, "never ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    let m = serve.get_with("/metrics", &authorised);
    assert_eq!(m.status, 200);
    assert!(m.body.contains(r#"bfx_account_up{account="alice"} 1"#), "{m:?}");
    drop(serve);

    // BFX_SERVE_TOKEN wins over the file.
    let serve = Serve::start(home.path(), &["--listen", "0.0.0.0:0"], &[("BFX_SERVE_TOKEN", "env-token-1")]);
    assert_eq!(serve.get_with("/v1/portfolio", &authorised).status, 401);
    assert_eq!(serve.get_with("/v1/portfolio", &[("authorization", "Bearer env-token-1")]).status, 200);
}

#[test]
fn readyz_is_503_with_the_reasons_until_every_account_has_its_first_snapshot() {
    // Maintenance: authenticated requests are refused, so no account has a snapshot.
    let sim = sim_with(&STATE.replacen("platform_status = 1", "platform_status = 0", 1));
    let home = TempDir::new().unwrap();
    write_config(home.path(), &sim.url, "");
    let serve = Serve::start(home.path(), &["--listen", "127.0.0.1:0"], &[]);
    let unready = serve.get("/readyz");
    assert_eq!(unready.status, 503, "{unready:?}");
    assert!(unready.body.contains("account \"alice\": no snapshot yet"), "{unready:?}");
    assert!(unready.body.contains("account \"bob\": no snapshot yet"), "{unready:?}");
    assert_eq!(serve.get("/healthz").status, 200);
    admin(&sim.url, "POST", "/sim/platform", r#"{"status":1}"#);
    serve.wait_for("/readyz", "readiness after the maintenance", |r| r.status == 200 && r.body == "ready\n");
}

#[test]
fn demo_serve_serves_the_demo_accounts_moving() {
    let home = TempDir::new().unwrap();
    let tmp = home.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("bfx"));
    cmd.args(["demo", "serve", "--listen", "127.0.0.1:0", "--snapshot-every", "1m"])
        .env_clear()
        .env("HOME", home.path())
        .env("TMPDIR", &tmp);
    let serve = {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let addr = first.trim().strip_prefix("listening on http://").unwrap().to_owned();
        Serve { child, addr }
    };
    let first = serve.wait_for("/metrics", "the demo accounts", |r| {
        ["main", "bot", "cold", "paper"]
            .iter()
            .all(|a| sample(&r.body, &format!(r#"bfx_account_up{{account="{a}"}}"#)) == Some(1.0))
    });
    // Snapshots into a temporary store, not the (default) one in HOME.
    serve.wait_for("/metrics", "the first snapshot", |r| {
        sample(&r.body, r#"bfx_snapshots_total{outcome="ok"}"#) == Some(1.0)
    });
    let temporary = || {
        std::fs::read_dir(&tmp)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("bfx-demo-serve-"))
            .count()
    };
    assert_eq!(temporary(), 1);
    assert!(!home.path().join(".local/share/bfx").exists());
    let series = r#"bfx_portfolio_value{quote="USD"}"#;
    let before = sample(&first.body, series).unwrap();
    serve.wait_for("/metrics", "a moved balance or price", |r| {
        sample(&r.body, series).is_some_and(|v| v != before)
    });
    // SIGTERM (what a service manager sends): a clean exit, in bounded time.
    let mut serve = serve;
    let pid = serve.child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = serve.child.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "still running after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    assert_eq!(temporary(), 0, "the demo's store is removed at exit");
}

#[test]
fn a_429_from_bitfinex_is_counted() {
    // One positions read a minute: the second account's read is answered 429.
    let state = STATE.replacen(
        "per_minute = { \"platform/status\" = 1 }",
        "per_minute = { \"auth/r/positions\" = 1 }",
        1,
    );
    let sim = sim_with(&state);
    let home = TempDir::new().unwrap();
    write_config(home.path(), &sim.url, "");
    let serve = Serve::start(home.path(), &["--listen", "127.0.0.1:0"], &[]);
    let series = r#"bfx_rate_limited_total{endpoint="auth/r/positions"}"#;
    let m = serve.wait_for("/metrics", "the 429", |r| sample(&r.body, series) == Some(1.0)).body;
    assert_eq!(
        sample(&m, r#"bfx_requests_total{endpoint="auth/r/positions",outcome="rate_limit"}"#),
        Some(1.0),
        "{m}"
    );
    assert_eq!(sample(&m, r#"bfx_account_up{account="alice"}"#), Some(1.0), "{m}");
}

#[test]
fn a_stale_account_keeps_its_values_with_up_0_and_a_growing_age_and_a_reconnect_is_counted() {
    let sim = sim_with(STATE);
    let home = TempDir::new().unwrap();
    write_config(home.path(), &sim.url, "");
    let serve = Serve::start(home.path(), &["--listen", "127.0.0.1:0"], &[]);
    let value = r#"bfx_account_value{account="alice",quote="USD"}"#;
    let (up, age) =
        (r#"bfx_account_up{account="alice"}"#, r#"bfx_account_data_age_seconds{account="alice"}"#);
    let live = serve.wait_for("/metrics", "alice live", |r| sample(&r.body, up) == Some(1.0)).body;
    let worth = sample(&live, value).unwrap();

    // Maintenance announced over the socket: no longer current, but the last values stay.
    admin(&sim.url, "POST", "/sim/ws/info", r#"{"code":20060}"#);
    let stale = serve.wait_for("/metrics", "alice down", |r| sample(&r.body, up) == Some(0.0)).body;
    assert_eq!(sample(&stale, value), Some(worth), "{stale}");
    let then = sample(&stale, age).unwrap();
    serve
        .wait_for("/metrics", "alice's data age growing", |r| sample(&r.body, age).is_some_and(|a| a > then));
    assert_eq!(sample(&serve.get("/metrics").body, value), Some(worth));
    admin(&sim.url, "POST", "/sim/ws/info", r#"{"code":20061}"#);
    serve.wait_for("/metrics", "alice live after the maintenance", |r| sample(&r.body, up) == Some(1.0));

    // A dropped socket: counted, and live again after the reconnect.
    admin(&sim.url, "POST", "/sim/ws/drop", "{}");
    let reconnects = r#"bfx_reconnects_total{account="alice"}"#;
    serve.wait_for("/metrics", "the reconnect", |r| {
        sample(&r.body, reconnects).is_some_and(|n| n >= 1.0) && sample(&r.body, up) == Some(1.0)
    });
}

/// The exchange restarting (a 20051 notice, then the server gone and back on the same address):
/// `bfx serve` keeps serving what it knew, says the accounts are down while they are, and
/// follows them again once the exchange is back.
#[test]
fn the_service_survives_a_restart_notice_and_the_exchange_going_away_and_coming_back() {
    let sim = sim_with(STATE);
    let home = TempDir::new().unwrap();
    write_config(home.path(), &sim.url, "");
    let serve = Serve::start(home.path(), &["--listen", "127.0.0.1:0", "--poll-interval", "1"], &[]);
    let (up, value) =
        (r#"bfx_account_up{account="alice"}"#, r#"bfx_account_value{account="alice",quote="USD"}"#);
    let reconnects = r#"bfx_reconnects_total{account="alice"}"#;
    let live = serve.wait_for("/metrics", "alice live", |r| sample(&r.body, up) == Some(1.0)).body;
    let worth = sample(&live, value).unwrap();

    // 20051: the stream reconnects by itself, counted.
    admin(&sim.url, "POST", "/sim/ws/info", r#"{"code":20051}"#);
    serve.wait_for("/metrics", "the reconnect after 20051", |r| {
        sample(&r.body, reconnects).is_some_and(|n| n >= 1.0) && sample(&r.body, up) == Some(1.0)
    });

    // The exchange goes away: still serving, the last values kept, the accounts down.
    let addr = sim.url.strip_prefix("http://").unwrap().to_owned();
    drop(sim);
    let down = serve.wait_for("/metrics", "alice down", |r| sample(&r.body, up) == Some(0.0));
    assert_eq!((down.status, sample(&down.body, value)), (200, Some(worth)), "{}", down.body);
    assert_eq!(serve.get("/v1/portfolio").status, 200);
    assert_eq!(serve.get("/healthz").status, 200);

    // Back on the same address: live again, and following changes.
    let sim = sim_on(STATE, &addr);
    serve.wait_for("/metrics", "alice up again", |r| sample(&r.body, up) == Some(1.0));
    admin(
        &sim.url,
        "POST",
        "/sim/wallets",
        r#"{"account":"alice","type":"exchange","currency":"BTC","balance":"7"}"#,
    );
    let series = r#"bfx_wallet_balance{account="alice",wallet="exchange",currency="BTC"}"#;
    serve.wait_for("/metrics", "a change after the restart", |r| sample(&r.body, series) == Some(7.0));
}

/// More accounts than the connection budget opens at once: the one whose socket waits for its
/// turn is `queued`, read over REST meanwhile, and up.
#[test]
fn an_account_waiting_for_its_socket_is_queued_polled_and_up() {
    let sim = sim_with(STATE);
    let home = TempDir::new().unwrap();
    write_config(home.path(), &sim.url, "\n[network]\nws_connections_per_15s = 1\n");
    let serve = Serve::start(home.path(), &["--listen", "127.0.0.1:0", "--poll-interval", "1"], &[]);
    let state =
        |account: &str, state: &str| format!(r#"bfx_account_state{{account="{account}",state="{state}"}}"#);
    let m = serve
        .wait_for("/metrics", "one account live, the other queued with its wallets", |r| {
            let live =
                ["alice", "bob"].iter().filter(|a| sample(&r.body, &state(a, "live")) == Some(1.0)).count();
            let queued = ["alice", "bob"].iter().find(|a| sample(&r.body, &state(a, "queued")) == Some(1.0));
            live == 1
                && queued.is_some_and(|a| r.body.contains(&format!(r#"bfx_account_value{{account="{a}""#)))
        })
        .body;
    for account in ["alice", "bob"] {
        assert_eq!(sample(&m, &format!(r#"bfx_account_up{{account="{account}"}}"#)), Some(1.0), "{m}");
    }
}

#[test]
fn an_account_polled_over_rest_is_up_and_says_so() {
    let sim = sim_with(STATE);
    let home = TempDir::new().unwrap();
    write_config(home.path(), &sim.url, "");
    // Nothing listens on the WebSocket URL: every account is polled.
    let args = ["--listen", "127.0.0.1:0", "--ws-url", "ws://127.0.0.1:9/ws/2", "--poll-interval", "1"];
    let serve = Serve::start(home.path(), &args, &[]);
    let polling = r#"bfx_account_state{account="alice",state="polling"}"#;
    let m = serve
        .wait_for("/metrics", "alice polled", |r| {
            sample(&r.body, polling) == Some(1.0) && r.body.contains(r#"bfx_account_value{account="alice""#)
        })
        .body;
    assert_eq!(sample(&m, r#"bfx_account_up{account="alice"}"#), Some(1.0), "{m}");
    assert_eq!(sample(&m, r#"bfx_account_state{account="alice",state="live"}"#), Some(0.0), "{m}");
    // A change reaches the metrics by the next poll.
    admin(
        &sim.url,
        "POST",
        "/sim/wallets",
        r#"{"account":"bob","type":"exchange","currency":"AVAX","delta":"5"}"#,
    );
    let series = r#"bfx_wallet_balance{account="bob",wallet="exchange",currency="AVAX"}"#;
    serve.wait_for("/metrics", "bob's polled change", |r| sample(&r.body, series) == Some(15.0));
}

/// A runtime for reading the store from a (synchronous) test.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

fn decimal(value: &Value) -> Option<rust_decimal::Decimal> {
    value.as_str().map(|text| text.parse().unwrap())
}

#[test]
fn a_snapshot_lands_in_the_store_with_what_the_portfolio_says() {
    let sim = sim_with(STATE);
    let home = TempDir::new().unwrap();
    write_config(home.path(), &sim.url, "");
    let path = home.path().join("history").join("team.sqlite");
    let url = format!("sqlite:{}", path.display());
    let started_mts = now_mts();
    let serve = Serve::start(
        home.path(),
        &["--listen", "127.0.0.1:0", "--snapshot-every", "5m"],
        &[("BFX_STORE_URL", &url)],
    );
    // The first snapshot is written once ready: the portfolio is then what it is now (the
    // emulator's state does not move unless told to).
    let m = serve
        .wait_for("/metrics", "the first snapshot", |r| {
            sample(&r.body, r#"bfx_snapshots_total{outcome="ok"}"#) == Some(1.0)
        })
        .body;
    assert_eq!(sample(&m, r#"bfx_snapshots_total{outcome="failed"}"#), Some(0.0), "{m}");
    assert!(m.contains("# TYPE bfx_snapshots_total counter\n"), "{m}");
    assert_eq!(serve.get("/readyz").status, 200);
    let document: Value = serde_json::from_str(&serve.get("/v1/portfolio").body).unwrap();

    let location = bfx_store::Location::Sqlite(path.clone());
    let snapshots = block_on(async {
        let store = bfx_store::Store::open(&location).await.unwrap();
        store.snapshots(&[], i64::MIN, i64::MAX).await.unwrap()
    });
    let accounts = document["accounts"].as_array().unwrap();
    assert_eq!(snapshots.len(), accounts.len(), "{snapshots:?}");
    let mts = snapshots[0].mts;
    assert!(started_mts <= mts && mts <= now_mts(), "{mts}");
    for (account, snapshot) in accounts.iter().zip(&snapshots) {
        assert_eq!(account["name"], snapshot.account.as_str());
        assert_eq!((snapshot.mts, snapshot.quote.as_str(), snapshot.state.as_str()), (mts, "USD", "live"));
        assert!(snapshot.current && snapshot.prices_current, "{snapshot:?}");
        assert_eq!(decimal(&account["total"]), snapshot.total, "{snapshot:?}");
        assert!(snapshot.total.is_some());
        let wallets = account["wallets"].as_array().unwrap();
        assert_eq!(wallets.len(), snapshot.wallets.len(), "{snapshot:?}");
        for (w, s) in wallets.iter().zip(&snapshot.wallets) {
            assert_eq!(
                (w["type"].as_str(), w["currency"].as_str()),
                (Some(s.wallet.as_str()), Some(s.currency.as_str()))
            );
            assert_eq!(decimal(&w["balance"]), Some(s.balance), "{w}");
            assert_eq!(decimal(&w["price"]), s.price, "{w}");
            assert_eq!(decimal(&w["value"]), s.value, "{w}: unpriced is NULL, not 0");
        }
    }
    assert!(
        snapshots.iter().flat_map(|s| &s.wallets).any(|w| w.value.is_none()),
        "the test state has an unpriced wallet: {snapshots:?}"
    );
}

fn now_mts() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[test]
fn a_store_that_refuses_snapshots_is_counted_and_serving_goes_on() {
    let sim = sim_with(STATE);
    let home = TempDir::new().unwrap();
    write_config(home.path(), &sim.url, "");
    let path = home.path().join("history.sqlite");
    // A store at the current schema whose snapshot table refuses every insert.
    block_on(async {
        let store = bfx_store::Store::open(&bfx_store::Location::Sqlite(path.clone())).await.unwrap();
        store.close().await;
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&format!("sqlite://{}", path.display())).await.unwrap();
        sqlx::query(
            "CREATE TRIGGER refuse BEFORE INSERT ON snapshot BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    });
    let log = home.path().join("stderr.log");
    let serve = Serve::start_logging(
        home.path(),
        &["--listen", "127.0.0.1:0", "--snapshot-every", "1m"],
        &[("BFX_STORE_URL", path.to_str().unwrap())],
        Stdio::from(std::fs::File::create(&log).unwrap()),
    );
    let m = serve
        .wait_for("/metrics", "the failed snapshot", |r| {
            sample(&r.body, r#"bfx_snapshots_total{outcome="failed"}"#) == Some(1.0)
        })
        .body;
    assert_eq!(sample(&m, r#"bfx_snapshots_total{outcome="ok"}"#), Some(0.0), "{m}");
    // Still serving, everything.
    assert_eq!(serve.get("/readyz").status, 200);
    assert_eq!(serve.get("/v1/portfolio").status, 200);
    assert_eq!(sample(&serve.get("/metrics").body, r#"bfx_account_up{account="alice"}"#), Some(1.0));
    let mut serve = serve;
    assert!(serve.child.try_wait().unwrap().is_none(), "bfx serve exited");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("portfolio snapshot not written") && logged.contains("refused by the test"),
        "{logged}"
    );
    assert!(
        logged.contains(&format!("a portfolio snapshot every 1m into SQLite {}", path.display())),
        "{logged}"
    );
}

#[test]
fn snapshot_intervals_and_store_locations_are_checked_before_anything_is_served() {
    let home = TempDir::new().unwrap();
    let run = |args: &[&str], store: Option<&str>| {
        let mut cmd = bfx(home.path());
        cmd.env("BFX_API_URL", "http://127.0.0.1:9").env("BFX_API_KEY", "k").env("BFX_API_SECRET", "s");
        if let Some(url) = store {
            cmd.env("BFX_STORE_URL", url);
        }
        let out = cmd.arg("serve").args(["--listen", "127.0.0.1:0"]).args(args).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned(), out.stdout)
    };
    for (every, says) in [
        ("30s", "too often: give between 1m and 1d"),
        ("25h", "too rare: give between 1m and 1d"),
        ("0m", "too often"),
        ("soon", "is not a duration"),
        ("5", "is not a duration"),
    ] {
        let (code, stderr, stdout) = run(&["--snapshot-every", every], None);
        assert_eq!(code, Some(2), "{every}: {stderr}");
        assert!(stderr.contains("--snapshot-every") && stderr.contains(says), "{every}: {stderr}");
        assert!(stdout.is_empty());
    }
    // A store location that is none: a usage error, its password never shown.
    let (code, stderr, stdout) = run(&["--snapshot-every", "5m"], Some("mysql://bfx:CANARY-pw@db/bfx"));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("not a store location") && !stderr.contains("CANARY"), "{stderr}");
    assert!(stdout.is_empty());
    // A file that cannot be created: said before listening (exit 4, as `bfx history`).
    let blocker = home.path().join("a-file");
    std::fs::write(&blocker, "").unwrap();
    let inside = blocker.join("history.sqlite");
    let (code, stderr, stdout) = run(&["--snapshot-every", "5m"], Some(inside.to_str().unwrap()));
    assert_eq!(code, Some(4), "{stderr}");
    assert!(stderr.contains("cannot open the history database"), "{stderr}");
    assert!(stdout.is_empty(), "nothing served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_into_postgresql_never_show_its_password() {
    let database = bfx_store::test_support::TestDatabase::create().await.unwrap_or_else(|e| panic!("{e}"));
    // The throwaway server trusts local connections: any password is accepted, so one can be given.
    let url = database.url().replacen("://postgres@", "://postgres:CANARY-pw@", 1);
    let serve_url = url.clone();
    let (m, logged) = tokio::task::spawn_blocking(move || {
        let sim = sim_with(STATE);
        let home = TempDir::new().unwrap();
        write_config(home.path(), &sim.url, "");
        let log = home.path().join("stderr.log");
        let serve = Serve::start_logging(
            home.path(),
            &["--listen", "127.0.0.1:0", "--snapshot-every", "1m"],
            &[("BFX_STORE_URL", &serve_url)],
            Stdio::from(std::fs::File::create(&log).unwrap()),
        );
        let m = serve
            .wait_for("/metrics", "the first snapshot", |r| {
                sample(&r.body, r#"bfx_snapshots_total{outcome="ok"}"#) == Some(1.0)
            })
            .body;
        (m, std::fs::read_to_string(&log).unwrap())
    })
    .await
    .unwrap();
    let shown = "a portfolio snapshot every 1m into PostgreSQL ";
    assert!(logged.contains(shown) && logged.contains(&format!("/{}\n", database.name())), "{logged}");
    for text in [&m, &logged] {
        assert!(!text.contains("CANARY"), "{text}");
    }
    let location = bfx_store::Location::parse(&url).unwrap();
    let snapshots =
        bfx_store::Store::open(&location).await.unwrap().snapshots(&[], i64::MIN, i64::MAX).await.unwrap();
    let accounts: Vec<&str> = snapshots.iter().map(|s| s.account.as_str()).collect();
    assert_eq!(accounts, ["alice", "bob"]);
    assert!(snapshots.iter().all(|s| s.current && s.total.is_some()), "{snapshots:?}");
}
