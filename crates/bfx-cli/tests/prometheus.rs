//! `bfx demo serve` scraped by a real Prometheus (Debian's `prometheus` package, which `.ci/run`
//! installs), and the Grafana dashboard's queries checked by its `promtool`. Ignored by a plain
//! `cargo test` (they need those binaries); `.ci/run` runs them with `--ignored`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

use std::io::{BufRead, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

const DEADLINE: Duration = Duration::from_secs(120);

/// The families `bfx serve` exports (counters by their sample names; `bfx_snapshots_total` only
/// with `--snapshot-every`).
const FAMILIES: [&str; 14] = [
    "bfx_wallet_balance",
    "bfx_wallet_value",
    "bfx_account_value",
    "bfx_portfolio_value",
    "bfx_position_pl_value",
    "bfx_price",
    "bfx_account_up",
    "bfx_account_state",
    "bfx_account_data_age_seconds",
    "bfx_unpriced_assets",
    "bfx_requests_total",
    "bfx_rate_limited_total",
    "bfx_reconnects_total",
    "bfx_snapshots_total",
];

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(addr: &str, path: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `query`'s single value as Prometheus has it now, if it has one.
fn query(prometheus: &str, query: &str) -> Option<f64> {
    let encoded: String = query
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let body = get(prometheus, &format!("/api/v1/query?query={encoded}"))?;
    // Prometheus's HTTP API answers with chunked encoding at times: take the JSON object.
    let json = &body[body.find('{')?..=body.rfind('}')?];
    let answer: Value = serde_json::from_str(json).ok()?;
    answer["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[test]
#[ignore = "needs Debian's prometheus package (.ci/run installs it and runs this)"]
fn a_real_prometheus_scrapes_the_demo_and_sees_what_balances_json_says_and_a_later_move() {
    let home = TempDir::new().unwrap();
    let total: Value = {
        let out = Command::new(assert_cmd::cargo::cargo_bin("bfx"))
            .args(["demo", "--json"])
            .env_clear()
            .env("HOME", home.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let total: f64 = total["total"].as_str().unwrap().parse().unwrap();

    let stderr = home.path().join("serve.err");
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("bfx"))
        .args(["demo", "serve", "--still", "--listen", "127.0.0.1:0"])
        .env_clear()
        .env("HOME", home.path())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let _serve = Running(child);
    let serve = first.trim().strip_prefix("listening on http://").unwrap().to_owned();
    let sim = std::fs::read_to_string(&stderr).unwrap();
    let sim = sim.split("built-in emulator at http://").nth(1).unwrap().split(' ').next().unwrap().to_owned();

    let dir = TempDir::new().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: bfx\n    static_configs:\n      - targets: ['{serve}']\n"
        ),
    )
    .unwrap();
    let prometheus = format!("127.0.0.1:{}", free_port());
    let _prometheus = Running(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={prometheus}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus (Debian's prometheus package) on PATH"),
    );

    let wait = |what: &str, q: &str, ok: &dyn Fn(f64) -> bool| -> f64 {
        let start = Instant::now();
        loop {
            if let Some(value) = query(&prometheus, q).filter(|v| ok(*v)) {
                return value;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{what}: Prometheus never had it ({q}: {:?})",
                query(&prometheus, q)
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    let scraped = wait("the total", r#"bfx_portfolio_value{quote="USD"}"#, &|_| true);
    assert!(
        (scraped - total).abs() <= total.abs() * 1e-12,
        "Prometheus {scraped} vs bfx demo --json {total}"
    );
    assert_eq!(wait("main up", r#"bfx_account_up{account="main"}"#, &|_| true), 1.0);

    // A wallet moved through the emulator's admin API shows up in a later scrape.
    let series = r#"bfx_wallet_balance{account="main",wallet="exchange",currency="BTC"}"#;
    let before = wait("main's BTC", series, &|_| true);
    let body = r#"{"account":"main","type":"exchange","currency":"BTC","delta":"1"}"#;
    let mut stream = std::net::TcpStream::connect(&sim).unwrap();
    write!(
        stream,
        "POST /sim/wallets HTTP/1.1\r\nhost: {sim}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let after = wait("the moved balance", series, &|v| v != before);
    assert!((after - (before + 1.0)).abs() < 1e-9, "{before} + 1 → {after}");
}

#[test]
#[ignore = "needs promtool from Debian's prometheus package (.ci/run installs it and runs this)"]
fn the_grafana_dashboard_queries_parse_and_name_only_exported_families() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../contrib/grafana/bfx.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut exprs = Vec::new();
    fn collect(value: &Value, exprs: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(expr)) = map.get("expr") {
                    exprs.push(expr.clone());
                }
                map.values().for_each(|v| collect(v, exprs));
            }
            Value::Array(items) => items.iter().for_each(|v| collect(v, exprs)),
            _ => {}
        }
    }
    collect(&dashboard, &mut exprs);
    assert!(exprs.len() >= 5, "{exprs:?}");
    for expr in &exprs {
        let names: Vec<&str> = expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|word| word.starts_with("bfx_"))
            .collect();
        assert!(!names.is_empty(), "{expr} names no bfx family");
        for name in names {
            assert!(FAMILIES.contains(&name), "{expr}: {name} is not an exported family");
        }
    }
    // promtool parses each expression as a recording rule's.
    let dir = TempDir::new().unwrap();
    let rules = dir.path().join("rules.yml");
    let mut text = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, expr) in exprs.iter().enumerate() {
        // Grafana's `$__rate_interval` is not PromQL: a duration stands in for it.
        let expr = expr.replace("$__rate_interval", "5m").replace("$quote", "USD");
        text.push_str(&format!(
            "      - record: dashboard:expr{i}\n        expr: {}\n",
            serde_json::to_string(&expr).unwrap()
        ));
    }
    std::fs::write(&rules, text).unwrap();
    let out = Command::new("promtool").args(["check", "rules"]).arg(&rules).output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
