//! What the emulator has seen since it started (or since the admin API last reset it): requests
//! per endpoint, refusals per reason, injected faults per kind, and WebSocket connections and auths.
//!
//! Atomics, not the runtime lock: every request counts, and counting must not serialise them.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value, json};

use crate::endpoint::Endpoint;
use crate::fault::FaultKind;
use crate::reply::Rejection;

#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Every request that reached an endpoint, whatever it was answered, indexed by `Endpoint`.
    requests: [AtomicU64; Endpoint::ALL.len()],
    /// Real refusals (not injected faults), indexed like [`Rejection::ALL`].
    rejections: [AtomicU64; Rejection::ALL.len()],
    /// HTTP 429s sent because a client exceeded its budget.
    rate_limited: AtomicU64,
    /// Faults applied, indexed like [`FaultKind::ALL`].
    faults: [AtomicU64; FaultKind::ALL.len()],
    /// WebSocket events, indexed like [`WsCount::ALL`].
    websocket: [AtomicU64; WsCount::ALL.len()],
}

/// What is counted about WebSocket connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WsCount {
    /// Upgrades accepted.
    Connection,
    /// Upgrades refused by the per-IP connection limit.
    RateLimited,
    AuthOk,
    AuthFailed,
}

impl WsCount {
    pub(crate) const ALL: [WsCount; 4] =
        [WsCount::Connection, WsCount::RateLimited, WsCount::AuthOk, WsCount::AuthFailed];

    const fn name(self) -> &'static str {
        match self {
            WsCount::Connection => "connections",
            WsCount::RateLimited => "rate_limited",
            WsCount::AuthOk => "auth_ok",
            WsCount::AuthFailed => "auth_failed",
        }
    }
}

impl Counters {
    pub(crate) fn request(&self, endpoint: Endpoint) {
        bump(&self.requests, Endpoint::ALL.iter().position(|e| *e == endpoint));
    }

    pub(crate) fn rejection(&self, rejection: Rejection) {
        bump(&self.rejections, Rejection::ALL.iter().position(|r| *r == rejection));
    }

    pub(crate) fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn fault(&self, kind: FaultKind) {
        bump(&self.faults, FaultKind::ALL.iter().position(|k| *k == kind));
    }

    pub(crate) fn ws(&self, count: WsCount) {
        bump(&self.websocket, WsCount::ALL.iter().position(|c| *c == count));
    }

    /// The counters as the admin API shows them.
    pub(crate) fn snapshot(&self) -> Value {
        self.read(|counter| counter.load(Ordering::Relaxed))
    }

    /// The counters as they were, setting each to zero. Each counter is read and reset at once,
    /// so a request counted concurrently lands either in the answer or in the next period.
    pub(crate) fn take(&self) -> Value {
        self.read(|counter| counter.swap(0, Ordering::Relaxed))
    }

    fn read(&self, read: impl Fn(&AtomicU64) -> u64) -> Value {
        let named = |names: &mut dyn Iterator<Item = &'static str>,
                     counters: &[AtomicU64]|
         -> Map<String, Value> {
            names.zip(counters).map(|(name, counter)| (name.to_owned(), Value::from(read(counter)))).collect()
        };
        let requests = named(&mut Endpoint::ALL.iter().map(|e| e.name()), &self.requests);
        let mut rejections = named(&mut Rejection::ALL.iter().map(|r| rejection_name(*r)), &self.rejections);
        rejections.insert("rate_limited".to_owned(), Value::from(read(&self.rate_limited)));
        let faults = named(&mut FaultKind::ALL.iter().map(|k| k.name()), &self.faults);
        rejections.insert("faults".to_owned(), Value::Object(faults));
        let websocket = named(&mut WsCount::ALL.iter().map(|c| c.name()), &self.websocket);
        json!({ "requests": requests, "rejections": rejections, "websocket": websocket })
    }
}

fn bump(counters: &[AtomicU64], index: Option<usize>) {
    if let Some(counter) = index.and_then(|i| counters.get(i)) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The reason's name in `GET /sim/counters`.
fn rejection_name(rejection: Rejection) -> &'static str {
    match rejection {
        Rejection::Maintenance => "maintenance",
        Rejection::UnknownKey => "unknown_key",
        Rejection::BadSignature => "bad_signature",
        Rejection::BadNonce => "bad_nonce",
        Rejection::BadBody => "bad_body",
        Rejection::BodyTooLarge => "body_too_large",
        Rejection::BodyTimeout => "body_timeout",
        Rejection::Permission => "permission",
        Rejection::UnknownSymbol => "unknown_symbol",
        Rejection::MissingSymbols => "missing_symbols",
        Rejection::NotFound => "not_found",
        Rejection::MethodNotAllowed => "method_not_allowed",
        Rejection::LimitInvalid => "limit_invalid",
        Rejection::StartInvalid => "start_invalid",
        Rejection::EndInvalid => "end_invalid",
        Rejection::CategoryInvalid => "category_invalid",
        Rejection::WalletInvalid => "wallet_invalid",
        Rejection::CurrencyInvalid => "currency_invalid",
        Rejection::KeyInvalid => "key_invalid",
        Rejection::TimeframeInvalid => "timeframe_invalid",
        Rejection::TimeIntervalInvalid => "time_interval_invalid",
        Rejection::SortInvalid => "sort_invalid",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_resets() {
        let counters = Counters::default();
        counters.request(Endpoint::Wallets);
        counters.request(Endpoint::Wallets);
        counters.request(Endpoint::PlatformStatus);
        counters.rejection(Rejection::BadNonce);
        counters.rate_limited();
        counters.fault(FaultKind::Html5xx);
        counters.ws(WsCount::Connection);
        counters.ws(WsCount::AuthFailed);
        let expected = json!({
            "requests": {"auth/r/wallets": 2, "auth/r/permissions": 0, "auth/r/info/user": 0,
                         "auth/r/positions": 0, "auth/r/ledgers/hist": 0, "tickers": 0, "ticker": 0, "conf": 0, "platform/status": 1,
                         "candles": 0},
            "rejections": {"maintenance": 0, "unknown_key": 0, "bad_signature": 0, "bad_nonce": 1,
                           "bad_body": 0, "body_too_large": 0, "body_timeout": 0, "permission": 0, "unknown_symbol": 0,
                           "missing_symbols": 0, "not_found": 0, "method_not_allowed": 0,
                           "limit_invalid": 0, "start_invalid": 0, "end_invalid": 0,
                           "category_invalid": 0, "wallet_invalid": 0, "currency_invalid": 0,
                           "key_invalid": 0, "timeframe_invalid": 0, "time_interval_invalid": 0,
                           "sort_invalid": 0,
                           "rate_limited": 1,
                           "faults": {"delay": 0, "html_5xx": 1, "truncated": 0, "drop": 0,
                                      "maintenance": 0, "rate_limit": 0, "nonce_small": 0}},
            "websocket": {"connections": 1, "rate_limited": 0, "auth_ok": 0, "auth_failed": 1}
        });
        assert_eq!(counters.snapshot(), expected);
        assert_eq!(counters.take(), expected);
        let zero = counters.snapshot();
        assert_eq!(zero["requests"]["auth/r/wallets"], 0);
        assert_eq!(zero["rejections"]["faults"]["html_5xx"], 0);
        assert_eq!(zero["rejections"]["rate_limited"], 0);
    }
}
