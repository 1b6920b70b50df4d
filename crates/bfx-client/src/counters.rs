//! Requests sent to Bitfinex, counted per endpoint and outcome for the life of a [`Client`] and
//! every clone of it (`bfx serve` exports them). Only requests that went out count: one held back
//! by the client's own limiter, or failing before it is sent, is no request to Bitfinex.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use crate::client::Client;
use crate::error::{Error, ErrorKind};

/// How one request sent ended: answered with success, or failed with an error of this kind
/// (`RateLimited`: Bitfinex answered 429).
pub type Outcome = Option<ErrorKind>;

/// Requests sent, by endpoint (`auth/r/wallets`, `tickers`, …) and outcome.
#[derive(Debug, Default)]
pub(crate) struct RequestCounters(Mutex<BTreeMap<(&'static str, Outcome), u64>>);

impl RequestCounters {
    pub(crate) fn record<T>(&self, endpoint: &'static str, result: &Result<T, Error>) {
        let outcome = result.as_ref().err().map(Error::kind);
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.entry((endpoint, outcome)).or_default() += 1;
    }
}

/// One endpoint and outcome, and how many requests sent ended so.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestCount {
    pub endpoint: &'static str,
    pub outcome: Outcome,
    pub count: u64,
}

impl Client {
    /// Every request this client (and its clones) sent, by endpoint and outcome.
    pub fn request_counts(&self) -> Vec<RequestCount> {
        let counts = self.requests.0.lock().unwrap_or_else(PoisonError::into_inner);
        counts
            .iter()
            .map(|(&(endpoint, outcome), &count)| RequestCount { endpoint, outcome, count })
            .collect()
    }
}
