//! The full-screen `bfx watch` in a real terminal: tmux runs it against the emulator, a price
//! change arrives through the ticker channel, a wallet change is seen highlighted, `q` quits with
//! exit 0 and leaves the normal screen restored.
//!
//! Needs tmux, so it is `#[ignore]`d in `cargo test`; `.ci/run` runs it with
//! `cargo test -p bfx-cli --test watch_tmux -- --ignored`. The screen it captured is checked
//! against `tests/fixtures/watch-tmux.txt` (clock and ages masked); after a deliberate change
//! to the view, rewrite it with `BFX_UPDATE_FIXTURES=1`, which also keeps the same screen with its
//! colours in `watch-tmux.ansi` (`cat` it in a terminal).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "tests")]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use tempfile::TempDir;

const FIXTURE: &str = "tests/fixtures/watch-tmux.txt";

/// A tmux server of its own (`-L`, one per test), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new() -> Tmux {
        static SERVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = SERVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Tmux { socket: format!("bfx-test-{}-{n}", std::process::id()) }
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("tmux is needed for this test: {e}"));
        assert!(out.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    fn capture(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "watch"])
    }

    /// The screen with its colours and attributes as escape sequences (`cat` shows it as it was).
    fn capture_ansi(&self) -> String {
        self.run(&["capture-pane", "-p", "-e", "-t", "watch"])
    }

    /// Captures until `want` holds; fails after 15 s with the last screen.
    fn until(&self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.capture();
            if want(&screen) {
                return screen;
            }
            assert!(start.elapsed() < Duration::from_secs(15), "no {what} within 15 s:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").arg("-L").arg(&self.socket).arg("kill-server").output();
    }
}

/// The screen with what varies from run to run masked, whatever its width: the clock
/// (`12:34:56 UTC`, always 8 wide) and every age (`3s`, `10s`, `1m05s`, `1h02m`: each form
/// `age_text` has). Columns are as wide as their widest cell and share the room left over, so a
/// wider age moves every column of the Accounts table: there, runs of spaces count as one (every
/// word and its order are still checked). Elsewhere the screen is compared as it is.
fn masked(screen: &str) -> String {
    let mut in_accounts = false;
    screen
        .lines()
        .map(|line| {
            in_accounts = (in_accounts || line.contains("┌ Accounts")) && !line.starts_with('└');
            let words = line.split(' ').map(|word| match word {
                _ if is_clock(word) => "HH:MM:SS",
                _ if is_age(word) => "<age>",
                _ => word,
            });
            let words: Vec<&str> = match in_accounts {
                true => words.filter(|w| !w.is_empty()).collect(),
                false => words.collect(),
            };
            words.join(" ").trim_end().to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_clock(word: &str) -> bool {
    word.len() == 8 && word.chars().filter(|c| *c == ':').count() == 2
}

/// `4s`, `2m05s`, `1h02m`, as `age_text` writes an age (hours unbounded).
fn is_age(word: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let two_digits = |s: &str| s.len() == 2 && digits(s);
    if let Some(rest) = word.strip_suffix('s') {
        return digits(rest) || rest.split_once('m').is_some_and(|(m, s)| digits(m) && two_digits(s));
    }
    word.strip_suffix('m')
        .and_then(|rest| rest.split_once('h'))
        .is_some_and(|(h, m)| digits(h) && two_digits(m))
}

/// The Accounts table as the view draws it (`TestBackend`, 100 columns) with main's data 0 s,
/// 10 s, 1m05s, 1h02m and 100h00m old: the AGE column widens, and every column moves with it.
const ACCOUNTS_BY_AGE: [&str; 5] = [
    "│ACCOUNT                     STATE                    AGE                                 VALUE USD│
│main                        live                      0s                     83,000.00 +1 unpriced│
│cold                        live                      0s                                250,000.00│",
    "│ACCOUNT                     STATE                    AGE                                 VALUE USD│
│main                        live                     10s                     83,000.00 +1 unpriced│
│cold                        live                      0s                                250,000.00│",
    "│ACCOUNT                    STATE                      AGE                                VALUE USD│
│main                       live                     1m05s                    83,000.00 +1 unpriced│
│cold                       live                        0s                               250,000.00│",
    "│ACCOUNT                    STATE                      AGE                                VALUE USD│
│main                       live                     1h02m                    83,000.00 +1 unpriced│
│cold                       live                        0s                               250,000.00│",
    "│ACCOUNT                   STATE                        AGE                               VALUE USD│
│main                      live                     100h00m                   83,000.00 +1 unpriced│
│cold                      live                          0s                              250,000.00│",
];

/// Whatever width the ages take (every form `age_text` has), the masked screens are the same;
/// and the mask keeps what matters: a changed value or state still differs.
#[test]
fn the_mask_holds_for_ages_of_any_width() {
    let screen = |table: &str| format!("┌ Accounts ──┐\n{table}\n└──┘\n │BTC       3.25│");
    let expected = masked(&screen(ACCOUNTS_BY_AGE[0]));
    for table in ACCOUNTS_BY_AGE {
        assert_eq!(masked(&screen(table)), expected, "{table}");
    }
    let changed = ACCOUNTS_BY_AGE[2].replace("250,000.00", "250,000.01");
    assert_ne!(masked(&screen(&changed)), expected);
    assert_ne!(masked(&screen(&ACCOUNTS_BY_AGE[2].replace("live  ", "failed"))), expected);
    // Outside the Accounts table, spacing is checked as it is.
    assert_ne!(masked(&screen(ACCOUNTS_BY_AGE[0]).replace("3.25│", " 3.25│")), expected);
}

fn config(home: &Path, url: &str) -> std::path::PathBuf {
    let path = home.join("bfx.toml");
    let accounts: String = ["main", "cold"]
        .iter()
        .map(|name| {
            format!(
                "[[account]]\nname = \"{name}\"\nkey = \"demo-{name}\"\nsecret = \"demo-{name}-secret\"\n\n"
            )
        })
        .collect();
    write_private(&path, &format!("[endpoints]\napi_url = \"{url}\"\n\n{accounts}"));
    path
}

#[test]
#[ignore = "needs tmux; .ci/run runs it"]
fn full_screen_in_tmux() {
    let (home, sim) = (TempDir::new().unwrap(), sim_with(bfx_sim::DEMO_STATE_TOML));
    let config = config(home.path(), &sim.url);
    let status = home.path().join("status");
    let command = format!(
        "env -i HOME='{home}' PATH=\"$PATH\" TERM=tmux-256color '{bfx}' watch --config '{config}'; echo \"exit $?\" > '{status}'; sleep 30",
        home = home.path().display(),
        bfx = assert_cmd::cargo::cargo_bin("bfx").display(),
        config = config.display(),
        status = status.display(),
    );
    let tmux = Tmux::new();
    tmux.run(&["new-session", "-d", "-s", "watch", "-x", "100", "-y", "24", &command]);

    let live = |s: &str| {
        s.lines().filter(|l| l.contains(" live ")).count() == 2
            && s.contains("total ")
            && !s.contains("no prices")
    };
    tmux.until("both accounts live and valued", live);
    tmux.until("prices followed live", |s| s.contains("last prices: live"));

    // A price change reaches the view through the ticker channel: 10.12345679 ETH at 5000. It is
    // made just after a REST `tickers` refresh (every 10 s), and shown before the next one.
    let rest_fetches = || -> u64 {
        let counters: serde_json::Value =
            serde_json::from_str(&admin(&sim.url, "GET", "/sim/counters", "")).unwrap();
        counters["requests"]["tickers"].as_u64().unwrap()
    };
    let before = rest_fetches();
    let start = Instant::now();
    while rest_fetches() == before {
        assert!(start.elapsed() < Duration::from_secs(15), "no REST tickers refresh within 15 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let fetched = rest_fetches();
    admin(&sim.url, "POST", "/sim/tickers", r#"{"symbol":"tETHUSD","last_price":"5000"}"#);
    tmux.until("ETH valued at the new price", |s| s.contains("50,617.28"));
    assert_eq!(rest_fetches(), fetched, "the new price came with a REST refresh, not the ticker channel");

    admin(
        &sim.url,
        "POST",
        "/sim/wallets",
        r#"{"account":"cold","type":"exchange","currency":"ETH","delta":"1.5"}"#,
    );
    let screen = tmux.until("the ETH change highlighted", |s| s.contains("ETH *"));
    assert!(screen.contains("Accounts") && screen.contains("Assets"), "{screen}");
    assert!(screen.lines().any(|l| l.starts_with(" bfx watch   total ") && l.contains(" USD")), "{screen}");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE);
    if std::env::var_os("BFX_UPDATE_FIXTURES").is_some() {
        std::fs::write(&fixture, format!("{}\n", screen.trim_end())).unwrap();
        std::fs::write(fixture.with_extension("ansi"), tmux.capture_ansi()).unwrap();
    }
    let expected = std::fs::read_to_string(&fixture).unwrap();
    assert_eq!(
        masked(&screen),
        masked(&expected),
        "the screen differs from {FIXTURE} (after a deliberate change: BFX_UPDATE_FIXTURES=1)"
    );
    tmux.until("the highlight gone after 2 s", |s| !s.contains(" *") && live(s));

    tmux.run(&["send-keys", "-t", "watch", "q"]);
    let start = Instant::now();
    while !status.exists() {
        assert!(start.elapsed() < Duration::from_secs(5), "q did not quit:\n{}", tmux.capture());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(std::fs::read_to_string(&status).unwrap().trim(), "exit 0");
    // The alternate screen is left: nothing of the view remains on the terminal.
    let after = tmux.capture();
    assert!(!after.contains("Accounts") && !after.contains('│'), "{after}");
}

/// On a terminal, a quote no pair uses is refused before the view opens: exit 2, said plainly.
#[test]
#[ignore = "needs tmux; .ci/run runs it"]
fn an_unknown_quote_is_refused_before_the_view_opens() {
    let (home, sim) = (TempDir::new().unwrap(), sim_with(bfx_sim::DEMO_STATE_TOML));
    let config = config(home.path(), &sim.url);
    let command = format!(
        "env -i HOME='{home}' PATH=\"$PATH\" TERM=tmux-256color '{bfx}' watch --quote xyz --config '{config}'; echo \"exit $?\"; sleep 30",
        home = home.path().display(),
        bfx = assert_cmd::cargo::cargo_bin("bfx").display(),
        config = config.display(),
    );
    let tmux = Tmux::new();
    tmux.run(&["new-session", "-d", "-s", "watch", "-x", "100", "-y", "24", &command]);
    let screen = tmux.until("the exit status", |s| s.contains("exit "));
    assert!(screen.contains("unknown quote currency \"XYZ\""), "{screen}");
    assert!(screen.contains("exit 2") && !screen.contains("Accounts"), "{screen}");
}
