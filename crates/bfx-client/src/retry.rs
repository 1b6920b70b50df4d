//! When to try a failed request again, and after how long: a pure decision over the error, the
//! attempt number and a jitter value, so every case is tested without a clock or a network.
//!
//! Every endpoint the client calls is a read, so a retry cannot do anything twice; each attempt is
//! signed again with a fresh nonce. Nonce errors and 429s are not retried here (see `client`).

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use bfx_core::wire_error::codes;

use crate::error::Error;

/// Bounded exponential backoff with full jitter, and a deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first backoff's ceiling.
    pub base: Duration,
    /// Each further backoff's ceiling is this many times the previous one…
    pub factor: u32,
    /// …up to this.
    pub cap: Duration,
    /// Attempts in all, the first included (1 = never retry).
    pub max_attempts: u32,
    /// No retry starts once this much time has been spent on the request (sending and backing
    /// off; waits for the rate limiter do not count).
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_millis(200),
            factor: 2,
            cap: Duration::from_secs(5),
            max_attempts: 4,
            deadline: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retries.
    pub fn never() -> RetryPolicy {
        RetryPolicy { max_attempts: 1, ..RetryPolicy::default() }
    }

    /// The longest backoff after failed attempt number `attempt` (1-based):
    /// `min(cap, base × factor^(attempt − 1))`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let growth = self.factor.saturating_pow(attempt.saturating_sub(1));
        self.base.saturating_mul(growth).min(self.cap)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    Retry { after: Duration },
    GiveUp,
}

/// Whether to retry after failed attempt number `attempt` (1-based) and after how long:
/// `jitter × ceiling(attempt)` ("full jitter"), `jitter` drawn uniformly from `0..1`.
pub fn retry_decision(error: &Error, attempt: u32, policy: &RetryPolicy, jitter: f64) -> RetryDecision {
    if !is_transient(error) || attempt >= policy.max_attempts {
        return RetryDecision::GiveUp;
    }
    let jitter = if jitter.is_finite() { jitter.clamp(0.0, 1.0) } else { 1.0 };
    RetryDecision::Retry { after: policy.ceiling(attempt).mul_f64(jitter) }
}

/// Failures that another attempt may not meet: the network, a proxy's 5xx page (an
/// [`Error::Http`] is by construction not a Bitfinex error body), `11000 ready: invalid`.
///
/// Never: authentication, permissions, parameters, a complete success body we cannot read
/// (asking again gets the same body), maintenance (`20060`: hammering does not end it), nonce
/// errors (re-signed once by the client), rate limits (waited out by the client), local errors.
pub fn is_transient(error: &Error) -> bool {
    match error {
        Error::Connect { .. } | Error::Timeout { .. } | Error::Transport { .. } => true,
        Error::Http { status, .. } => *status >= 500,
        Error::Api { code, .. } => *code == codes::NOT_READY,
        _ => false,
    }
}

/// A uniform draw from `0..1` for [`retry_decision`], from std's randomly keyed hasher.
pub(crate) fn jitter() -> f64 {
    let bits = RandomState::new().hash_one(std::time::SystemTime::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use bfx_core::{NonceError, ParseError};

    fn api(code: i64, message: &str) -> Error {
        Error::Api { endpoint: "auth/r/wallets", status: 500, code, message: message.to_owned() }
    }

    fn http(status: u16) -> Error {
        Error::Http { endpoint: "tickers", status, snippet: "<html>".to_owned() }
    }

    /// A real `reqwest::Error` (an invalid URL, no I/O): the variant matters here, not the source.
    async fn reqwest_error() -> reqwest::Error {
        crate::install_crypto_provider();
        reqwest::Client::new().get("http://[::1").send().await.unwrap_err()
    }

    #[tokio::test]
    async fn every_variant_is_classified() {
        let io = || std::io::Error::other("x");
        let cases: Vec<(Error, bool)> = vec![
            (
                Error::Connect { endpoint: "tickers", url: "http://h".into(), source: reqwest_error().await },
                true,
            ),
            (Error::Timeout { endpoint: "tickers", timeout: Duration::from_secs(15) }, true),
            (Error::Transport { endpoint: "tickers", source: reqwest_error().await }, true),
            (http(500), true),
            (http(502), true),
            (http(503), true),
            (http(504), true),
            (http(404), false),
            (http(400), false),
            (api(11000, "ready: invalid"), true),
            (api(10100, "apikey: invalid"), false),
            (api(10100, "apikey: digest invalid"), false),
            (api(10001, "api_key: permission invalid"), false),
            (api(10001, "generic"), false),
            (api(10020, "currency: invalid"), false),
            (api(10114, "nonce: small"), false),
            (api(20060, "maintenance"), false),
            (
                Error::RateLimited {
                    endpoint: "tickers",
                    status: 429,
                    message: "ERR_RATE_LIMIT".into(),
                    retry_after: None,
                    retry_after_sent: None,
                },
                false,
            ),
            (
                Error::Parse {
                    endpoint: "auth/r/wallets",
                    source: ParseError { what: "wallets", row: None, field: None, reason: "x".into() },
                },
                false,
            ),
            (Error::Nonce(NonceError::Malformed), false),
            (Error::NonceFile { path: "/x".into(), problem: "p".into(), source: io() }, false),
            (Error::Url { url: "x".into(), reason: "y".into() }, false),
            (Error::Build(reqwest_error().await), false),
        ];
        let policy = RetryPolicy::default();
        for (error, transient) in &cases {
            assert_eq!(is_transient(error), *transient, "{error:?}");
            let decision = retry_decision(error, 1, &policy, 1.0);
            let expected =
                if *transient { RetryDecision::Retry { after: policy.base } } else { RetryDecision::GiveUp };
            assert_eq!(decision, expected, "{error:?}");
        }
    }

    #[test]
    fn backoff_grows_to_the_cap_and_attempts_are_bounded() {
        let policy = RetryPolicy::default();
        let e = http(502);
        let after = |attempt, jitter| match retry_decision(&e, attempt, &policy, jitter) {
            RetryDecision::Retry { after } => Some(after),
            RetryDecision::GiveUp => None,
        };
        assert_eq!(after(1, 1.0), Some(Duration::from_millis(200)));
        assert_eq!(after(2, 1.0), Some(Duration::from_millis(400)));
        assert_eq!(after(3, 1.0), Some(Duration::from_millis(800)));
        assert_eq!(after(4, 1.0), None, "4 attempts in all");
        assert_eq!(after(3, 0.5), Some(Duration::from_millis(400)));
        assert_eq!(after(1, 0.0), Some(Duration::ZERO));
        // Out-of-range jitter is clamped, never a panic or a longer wait.
        assert_eq!(after(2, 7.0), Some(Duration::from_millis(400)));
        assert_eq!(after(2, -1.0), Some(Duration::ZERO));
        assert_eq!(after(2, f64::NAN), Some(Duration::from_millis(400)));
        let long = RetryPolicy { max_attempts: u32::MAX, ..RetryPolicy::default() };
        assert_eq!(long.ceiling(6), Duration::from_millis(5000), "200 ms × 32 is capped at 5 s");
        assert_eq!(long.ceiling(1000), Duration::from_secs(5), "no overflow");
        assert_eq!(long.ceiling(0), Duration::from_millis(200));
        assert_eq!(RetryPolicy::never().max_attempts, 1);
        assert_eq!(retry_decision(&e, 1, &RetryPolicy::never(), 1.0), RetryDecision::GiveUp);
    }

    #[test]
    fn jitter_is_in_range_and_varies() {
        let draws: Vec<f64> = (0..1000).map(|_| jitter()).collect();
        assert!(draws.iter().all(|j| (0.0..1.0).contains(j)));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((0.4..0.6).contains(&mean), "mean {mean}");
    }
}
