//! The fault matrix: `bfx balances` against the emulator while it injects each fault it knows.
//! Every case ends either with exactly the balances of a fault-free run (after retries) or with a
//! clear error and the documented exit code; never a panic, never a partial number shown as whole.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use common::*;
use tempfile::TempDir;

/// What a case must end with.
enum Outcome {
    /// Exit 0 and the same JSON as without the fault.
    SameBalances,
    /// This exit code, and stderr containing this text.
    Fails(i32, &'static str),
}

struct Case {
    name: &'static str,
    /// The fault, as `POST /sim/faults` takes it.
    fault: &'static str,
    /// Extra `bfx balances` arguments.
    args: &'static [&'static str],
    outcome: Outcome,
    /// The counter under `rejections.faults` that proves the fault happened, and its value.
    injected: (&'static str, u64),
}

const CASES: &[Case] = &[
    Case {
        name: "short delay",
        fault: r#"{"endpoint":"auth/r/wallets","kind":"delay","delay_ms":300}"#,
        args: &[],
        outcome: Outcome::SameBalances,
        injected: ("delay", 1),
    },
    Case {
        name: "delay beyond the timeout, then a retry",
        fault: r#"{"endpoint":"auth/r/wallets","kind":"delay","delay_ms":2500}"#,
        args: &["--timeout", "1"],
        outcome: Outcome::SameBalances,
        injected: ("delay", 1),
    },
    Case {
        name: "two HTML 502s",
        fault: r#"{"endpoint":"auth/r/wallets","kind":"html_5xx","count":2}"#,
        args: &[],
        outcome: Outcome::SameBalances,
        injected: ("html_5xx", 2),
    },
    Case {
        name: "HTML 503 every time",
        fault: r#"{"endpoint":"auth/r/wallets","kind":"html_5xx","status":503,"count":50}"#,
        args: &[],
        outcome: Outcome::Fails(
            4,
            "auth/r/wallets answered HTTP 503 with a body that is not a Bitfinex response: <html><head><title>503",
        ),
        injected: ("html_5xx", 4),
    },
    Case {
        name: "truncated body",
        fault: r#"{"endpoint":"auth/r/wallets","kind":"truncated"}"#,
        args: &[],
        outcome: Outcome::SameBalances,
        injected: ("truncated", 1),
    },
    Case {
        name: "dropped connection",
        fault: r#"{"endpoint":"auth/r/wallets","kind":"drop"}"#,
        args: &[],
        outcome: Outcome::SameBalances,
        injected: ("drop", 1),
    },
    Case {
        name: "maintenance",
        fault: r#"{"endpoint":"auth/r/wallets","kind":"maintenance"}"#,
        args: &[],
        outcome: Outcome::Fails(4, "Bitfinex is in maintenance (auth/r/wallets: 20060 maintenance)"),
        injected: ("maintenance", 1),
    },
    Case {
        name: "rate limit, waited out",
        fault: r#"{"endpoint":"auth/r/wallets","kind":"rate_limit","retry_after_secs":1}"#,
        args: &[],
        outcome: Outcome::SameBalances,
        injected: ("rate_limit", 1),
    },
    Case {
        name: "rate limit with --no-wait",
        fault: r#"{"endpoint":"auth/r/wallets","kind":"rate_limit","retry_after_secs":30}"#,
        args: &["--no-wait"],
        outcome: Outcome::Fails(4, "rate limited by Bitfinex on auth/r/wallets (HTTP 429, ERR_RATE_LIMIT)"),
        injected: ("rate_limit", 1),
    },
    Case {
        name: "one nonce: small, re-signed",
        fault: r#"{"endpoint":"auth/r/wallets","kind":"nonce_small"}"#,
        args: &[],
        outcome: Outcome::SameBalances,
        injected: ("nonce_small", 1),
    },
    Case {
        name: "nonce: small twice",
        fault: r#"{"endpoint":"auth/r/wallets","kind":"nonce_small","count":2}"#,
        args: &[],
        outcome: Outcome::Fails(
            3,
            "Bitfinex rejected the nonce as too small (auth/r/wallets: 10114 nonce: small)",
        ),
        injected: ("nonce_small", 2),
    },
    Case {
        name: "tickers down: balances without values",
        fault: r#"{"endpoint":"tickers","kind":"html_5xx","count":50}"#,
        args: &[],
        outcome: Outcome::Fails(4, "warning: prices unavailable: tickers: unexpected HTTP 502 response"),
        injected: ("html_5xx", 4),
    },
];

#[test]
fn fault_matrix() {
    let home = TempDir::new().unwrap();
    let reference = {
        let sim = sim();
        bfx_env(home.path(), &sim.url, "alice-key", "alice-secret")
            .args(["balances", "--json"])
            .output()
            .unwrap()
            .stdout
    };
    assert!(String::from_utf8_lossy(&reference).contains("\"total\": \"172583.63753803105376474700674\""));
    for case in CASES {
        let sim = sim();
        admin(&sim.url, "POST", "/sim/faults", case.fault);
        let out = bfx_env(home.path(), &sim.url, "alice-key", "alice-secret")
            .args(["balances", "--json"])
            .args(case.args)
            .output()
            .unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!stderr.contains("panicked"), "{}: {stderr}", case.name);
        match case.outcome {
            Outcome::SameBalances => {
                assert_eq!(out.status.code(), Some(0), "{}: {stderr}", case.name);
                assert_eq!(out.stdout, reference, "{}: different balances", case.name);
            }
            Outcome::Fails(code, message) => {
                assert_eq!(out.status.code(), Some(code), "{}: {stderr}", case.name);
                assert!(stderr.contains(message), "{}: expected {message:?} in:\n{stderr}", case.name);
                let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
                if case.fault.contains("\"tickers\"") {
                    // Balances are printed, exactly, but nothing is valued (the quote itself is 1
                    // of itself): never a made-up total.
                    let wallets = &doc["accounts"][0]["wallets"];
                    assert_eq!(wallets[0]["balance"], "1.5");
                    for w in wallets.as_array().unwrap() {
                        let expected = if w["currency"] == "USD" {
                            w["balance"].clone()
                        } else {
                            serde_json::Value::Null
                        };
                        assert_eq!(w["value"], expected, "{w}");
                    }
                    assert_eq!(doc["unpriced"].as_array().unwrap().len(), 3);
                    assert_eq!(doc["complete"], false);
                } else {
                    assert_eq!(doc["accounts"][0]["wallets"], serde_json::json!([]), "{}", case.name);
                    assert!(doc["accounts"][0]["error"].is_object(), "{}", case.name);
                }
            }
        }
        let counters: serde_json::Value =
            serde_json::from_str(&admin(&sim.url, "GET", "/sim/counters", "")).unwrap();
        let (kind, count) = case.injected;
        assert_eq!(counters["rejections"]["faults"][kind], count, "{}: {counters}", case.name);
    }
}

/// Another `bfx` holding the key's nonce lock (its request hangs on the emulator): a second one
/// gives up within its timeout and says which process to wait for (exit 4, "try again").
#[test]
fn a_key_held_by_another_bfx_names_its_pid() {
    let (home, sim) = (TempDir::new().unwrap(), sim_with(STATE));
    admin(
        &sim.url,
        "POST",
        "/sim/faults",
        r#"{"endpoint":"auth/r/wallets","kind":"delay","delay_ms":600000}"#,
    );
    let first = std::process::Command::new(assert_cmd::cargo::cargo_bin("bfx"))
        .args(["balances", "--config", "/dev/null", "--timeout", "900"])
        .env_clear()
        .env("HOME", home.path())
        .env("BFX_API_URL", &sim.url)
        .env("BFX_API_KEY", "alice-key")
        .env("BFX_API_SECRET", "alice-secret")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let first = Killed(first);
    // Its wallets request has reached the emulator (and is held there): it holds the key's lock.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let counters: serde_json::Value =
            serde_json::from_str(&admin(&sim.url, "GET", "/sim/counters", "")).unwrap();
        if counters["rejections"]["faults"]["delay"] == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the first bfx never sent its request: {counters}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = bfx_env(home.path(), &sim.url, "alice-key", "alice-secret")
        .args(["balances", "--config", "/dev/null", "--timeout", "1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    let pid = first.0.id();
    assert!(stderr.contains(&format!("another bfx process (pid {pid}) holds this key's lock")), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "hint: another bfx process (pid {pid}) is using this key; wait for it, or stop it if it hangs"
        )),
        "{stderr}"
    );
}
