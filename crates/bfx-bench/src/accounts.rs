//! `bfx balances` for many accounts from one IP under Bitfinex's budgets (the emulator's
//! defaults, those of the spec: 90 `auth/r/wallets` a minute per IP, sliding), against the floor
//! they set: request k (from 0) cannot go before `floor(k / 90)` windows have passed. The
//! emulator's counters prove no request was refused (429).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use serde_json::Value;

use crate::{start_sim, state::bench_state};

/// Bitfinex's `auth/r/wallets` budget (spec: rate limits), which the emulator applies by default.
const WALLETS_PER_WINDOW: usize = 90;
const WINDOW: Duration = Duration::from_secs(60);

pub async fn run(bfx: &Path, counts: &[usize]) -> anyhow::Result<()> {
    println!("| accounts | wall | rate-limit floor | over the floor | 429s | wallets requests |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for &count in counts {
        let keys: Vec<String> = (0..count).map(|i| format!("acct-{i:04}")).collect();
        let state = bench_state(&keys, false)?;
        ensure!(!state.contains("[limits]"), "the benchmark state must keep the default (Bitfinex) budgets");
        let sim = start_sim(&state).await?;
        let home = tempfile::tempdir()?;
        let config = home.path().join("config.toml");
        write_config(&config, &sim.url, "", &keys)?;
        let start = Instant::now();
        let out = tokio::process::Command::new(bfx)
            .args(["balances", "--json", "--config"])
            .arg(&config)
            .env_clear()
            .env("HOME", home.path())
            .output()
            .await
            .with_context(|| format!("cannot run {}", bfx.display()))?;
        let wall = start.elapsed();
        ensure!(out.status.success(), "bfx balances failed: {}", String::from_utf8_lossy(&out.stderr));
        let report: Value =
            serde_json::from_slice(&out.stdout).context("bfx balances --json printed no JSON")?;
        let read = report["accounts"].as_array().map_or(0, Vec::len);
        ensure!(read == count, "bfx balances reported {read} accounts of {count}");
        let counters = reqwest::get(format!("{}/sim/counters", sim.url)).await?.error_for_status()?;
        let counters: Value = serde_json::from_slice(&counters.bytes().await?)?;
        let refused = counters["rejections"]["rate_limited"].as_u64().context("no rate_limited counter")?;
        let wallets = counters["requests"]["auth/r/wallets"].as_u64().unwrap_or(0);
        let floor = floor(count);
        let over = match floor.is_zero() {
            true => "-".to_owned(),
            false => format!("{:+.2} %", (wall.as_secs_f64() / floor.as_secs_f64() - 1.0) * 100.0),
        };
        println!(
            "| {count} | {:.3} s | {:.0} s | {over} | {refused} | {wallets} |",
            wall.as_secs_f64(),
            floor.as_secs_f64()
        );
    }
    Ok(())
}

/// The earliest `count` wallet reads can all have been sent within the budget.
fn floor(count: usize) -> Duration {
    let windows = count.saturating_sub(1) / WALLETS_PER_WINDOW;
    WINDOW * u32::try_from(windows).unwrap_or(u32::MAX)
}

/// bfx's config: the emulator's URL, `extra` (more tables), and every key as an account.
pub fn write_config(path: &Path, url: &str, extra: &str, keys: &[String]) -> anyhow::Result<()> {
    let mut text = format!("[endpoints]\napi_url = \"{url}\"\n{extra}");
    for key in keys {
        text.push_str(&format!(
            "\n[[account]]\nname = \"{key}\"\nkey = \"{key}\"\nsecret = \"{key}-secret\"\n"
        ));
    }
    std::fs::write(path, text)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_counts_whole_windows() {
        assert_eq!(floor(1), Duration::ZERO);
        assert_eq!(floor(90), Duration::ZERO);
        assert_eq!(floor(91), WINDOW);
        assert_eq!(floor(200), WINDOW * 2);
    }
}
