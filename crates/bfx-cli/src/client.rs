//! Building the exchange client from settings, and telling the user when it has to wait: a
//! rate-limit block counts down on a terminal (one line otherwise), so a wait is never silent.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bfx_client::{Client, Endpoints};
use bfx_client::{WaitEvent, WaitReason};

use crate::config::Network;
use crate::console;

pub fn build(endpoints: Endpoints, network: &Network) -> Result<Client, bfx_client::Error> {
    Client::builder()
        .endpoints(endpoints)
        .connect_timeout(network.connect_timeout)
        .request_timeout(network.request_timeout)
        .wait_on_rate_limit(network.wait_on_rate_limit)
        .rate_limits(network.limits.clone())
        .ws_connection_limit(network.ws_connections, crate::config::WS_WINDOW)
        .on_wait(Arc::new(announce))
        .build()
}

/// A progress bar that shows waits in its line instead of a countdown of its own (two lines
/// redrawn in place on one terminal would overwrite each other).
static WAITS_IN: Mutex<Option<indicatif::ProgressBar>> = Mutex::new(None);

/// Shows the client's waits in `bar` (its prefix) until called with `None`.
pub fn show_waits_in(bar: Option<indicatif::ProgressBar>) {
    *WAITS_IN.lock().unwrap_or_else(PoisonError::into_inner) = bar;
}

/// Tells the user why bfx is waiting (stderr).
fn announce(event: WaitEvent) {
    let why = match &event.reason {
        WaitReason::RateLimited => {
            format!("Bitfinex rate-limited {} (this IP is blocked there for a while)", event.endpoint)
        }
        WaitReason::Budget => format!("keeping within Bitfinex's request budget for {}", event.endpoint),
        WaitReason::Retry { attempt, .. } => {
            format!("{} failed; retrying (attempt {})", event.endpoint, attempt + 1)
        }
        _ => format!("waiting on {}", event.endpoint),
    };
    let hint = match event.reason {
        WaitReason::RateLimited => " (--no-wait fails instead)",
        _ => "",
    };
    if let Some(bar) = WAITS_IN.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
        bar.set_prefix(format!("— {why}; waiting {} s{hint} —", ceil_secs(event.wait)));
        return;
    }
    if std::io::stderr().is_terminal() && !console::is_held() && event.wait >= Duration::from_secs(2) {
        countdown(why, hint, event.until);
    } else {
        let _ = writeln!(console::Stderr, "bfx: {why}; waiting {} s{hint}", ceil_secs(event.wait));
    }
}

/// Rewrites one stderr line every second until `until`, then clears it.
fn countdown(why: String, hint: &'static str, until: Instant) {
    std::thread::spawn(move || {
        let mut stderr = std::io::stderr();
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let _ = write!(stderr, "\r\x1b[2K");
                return;
            }
            let _ = write!(stderr, "\r\x1b[2Kbfx: {why}; waiting {} s{hint}", ceil_secs(left));
            let _ = stderr.flush();
            std::thread::sleep(left.min(Duration::from_secs(1)));
        }
    });
}

/// Whole seconds, rounded up (a 1.9 s wait is shown as 2 s, never 1).
fn ceil_secs(wait: Duration) -> u128 {
    wait.as_millis().div_ceil(1000).max(1)
}
