//! Snapshots on a schedule (`bfx serve --snapshot-every`): the first as soon as the portfolio is
//! whole (every account's first wallets and positions read, prices in: what `/readyz` waits for),
//! then one every interval. A tick that comes while a write is still going is skipped, not
//! queued; a write that fails or takes longer than the interval (at most [`WRITE_TIMEOUT`]) is
//! counted as failed and the schedule goes on: a store problem never stops the caller.
//!
//! Time is Tokio's (tests pause it); what is written, with its wall-clock millisecond, is the
//! caller's `take`, and how, its `write`.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::MissedTickBehavior;

use crate::error::StoreError;
use crate::snapshot::AccountSnapshot;

/// The shortest interval `bfx serve` accepts: a point a minute is plenty for value over time.
pub const MIN_EVERY: Duration = Duration::from_secs(60);
/// The longest: a day (value day by day needs at least that).
pub const MAX_EVERY: Duration = Duration::from_secs(24 * 60 * 60);
/// The longest one write may take (or the interval, when shorter) before it counts as failed.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// An interval between snapshots, within bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Every(Duration);

/// An interval out of bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a snapshot every {} is too {}: give between {} and {}", show(*every), if every < min { "often" } else { "rare" }, show(*min), show(*max))]
pub struct EveryOutOfBounds {
    pub every: Duration,
    pub min: Duration,
    pub max: Duration,
}

impl Every {
    /// `every`, if `min <= every <= max` (`bfx serve`: [`MIN_EVERY`] and [`MAX_EVERY`]).
    pub fn new(every: Duration, min: Duration, max: Duration) -> Result<Every, EveryOutOfBounds> {
        match every >= min && every <= max && !every.is_zero() {
            true => Ok(Every(every)),
            false => Err(EveryOutOfBounds { every, min, max }),
        }
    }

    pub fn duration(self) -> Duration {
        self.0
    }
}

impl std::fmt::Display for Every {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&show(self.0))
    }
}

/// `1h30m`, `5m`, `90s`, `1d`: the shortest spelling in whole units, as `--snapshot-every` takes it.
fn show(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

/// Snapshots written and failed so far (for `bfx_snapshots_total{outcome}`).
#[derive(Debug, Default)]
pub struct SnapshotCounts {
    ok: AtomicU64,
    failed: AtomicU64,
}

impl SnapshotCounts {
    /// `(ok, failed)`.
    pub fn get(&self) -> (u64, u64) {
        (self.ok.load(Ordering::Relaxed), self.failed.load(Ordering::Relaxed))
    }
}

/// Waits for `ready`, then every `every` (the first at once) writes what `take` returns with
/// `write`, until `shutdown`. Each write's outcome is counted in `counts`; a failure is logged
/// (warn) and the schedule goes on.
pub async fn write_every<W, F>(
    every: Every,
    ready: impl Future<Output = ()>,
    mut take: impl FnMut() -> Vec<AccountSnapshot>,
    mut write: W,
    counts: &SnapshotCounts,
    shutdown: impl Future<Output = ()>,
) where
    W: FnMut(Vec<AccountSnapshot>) -> F,
    F: Future<Output = Result<u64, StoreError>>,
{
    tokio::pin!(shutdown);
    tokio::select! {
        _ = &mut shutdown => return,
        _ = ready => {}
    }
    let mut ticks = tokio::time::interval(every.0);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let timeout = every.0.min(WRITE_TIMEOUT);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = ticks.tick() => {}
        }
        let snapshots = take();
        let (accounts, mts) = (snapshots.len(), snapshots.first().map(|s| s.mts));
        let outcome = tokio::select! {
            _ = &mut shutdown => return,
            outcome = tokio::time::timeout(timeout, write(snapshots)) => outcome,
        };
        match outcome {
            Ok(Ok(written)) => {
                counts.ok.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(accounts, written, mts, "portfolio snapshot written");
            }
            Ok(Err(error)) => {
                counts.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%error, mts, "portfolio snapshot not written; trying again at the next interval");
            }
            Err(_) => {
                counts.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    mts,
                    "portfolio snapshot not written: the store took longer than {}; trying again at the next interval",
                    show(timeout)
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_spelling() {
        let min = MIN_EVERY;
        assert_eq!(Every::new(Duration::from_secs(300), min, MAX_EVERY).unwrap().to_string(), "5m");
        assert!(Every::new(MIN_EVERY, min, MAX_EVERY).is_ok());
        assert!(Every::new(MAX_EVERY, min, MAX_EVERY).is_ok());
        let err = Every::new(Duration::from_secs(59), min, MAX_EVERY).unwrap_err();
        assert_eq!(err.to_string(), "a snapshot every 59s is too often: give between 1m and 1d");
        let err = Every::new(MAX_EVERY + Duration::from_secs(1), min, MAX_EVERY).unwrap_err();
        assert_eq!(err.to_string(), "a snapshot every 1d1s is too rare: give between 1m and 1d");
        assert!(Every::new(Duration::ZERO, Duration::ZERO, MAX_EVERY).is_err());
        assert_eq!(show(Duration::from_secs(5_400)), "1h30m");
    }
}
