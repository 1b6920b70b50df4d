//! Fault injection: the network, a proxy or the exchange failing on the next N requests.
//!
//! Faults are queued by the admin API (`POST /sim/faults`) and taken first in, first out: each
//! request to an endpoint takes one count of the oldest fault aimed at it (or at `*`) before any
//! rate limit or verification, since what they model fails before Bitfinex sees the request.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::connection::{CutOrder, Peer};
use crate::endpoint::Endpoint;
use crate::reply::{self, Rejection};

/// The body a `truncated` fault promises; only its first [`TRUNCATED_KEEP`] bytes are sent.
pub(crate) const TRUNCATED_BODY: &str = r#"[["bfx-sim","this response was cut off by a truncated fault"]]"#;
const TRUNCATED_KEEP: usize = TRUNCATED_BODY.len() / 2;

/// Longest `delay` accepted, so a typo cannot hang a connection (and shutdown) for days.
const MAX_DELAY: Duration = Duration::from_secs(3600);
const DEFAULT_RETRY_AFTER_SECS: u64 = 60;

/// The kinds of fault, named as the admin API and the counters name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultKind {
    Delay,
    Html5xx,
    Truncated,
    Drop,
    Maintenance,
    RateLimit,
    NonceSmall,
}

impl FaultKind {
    pub(crate) const ALL: [FaultKind; 7] = [
        FaultKind::Delay,
        FaultKind::Html5xx,
        FaultKind::Truncated,
        FaultKind::Drop,
        FaultKind::Maintenance,
        FaultKind::RateLimit,
        FaultKind::NonceSmall,
    ];

    pub(crate) const fn name(self) -> &'static str {
        match self {
            FaultKind::Delay => "delay",
            FaultKind::Html5xx => "html_5xx",
            FaultKind::Truncated => "truncated",
            FaultKind::Drop => "drop",
            FaultKind::Maintenance => "maintenance",
            FaultKind::RateLimit => "rate_limit",
            FaultKind::NonceSmall => "nonce_small",
        }
    }
}

/// One fault with its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Wait, then answer normally.
    Delay(Duration),
    /// A proxy's HTML error page with this status (500–504).
    Html5xx(StatusCode),
    /// HTTP 200 whose body stops before its `Content-Length`.
    Truncated,
    /// The connection closes without a response.
    Drop,
    /// Bitfinex's maintenance error.
    Maintenance,
    /// HTTP 429 with this `Retry-After`.
    RateLimit { retry_after_secs: u64 },
    /// Bitfinex's nonce error, as a client whose nonces collide would see it.
    NonceSmall,
}

impl Fault {
    pub(crate) fn kind(self) -> FaultKind {
        match self {
            Fault::Delay(_) => FaultKind::Delay,
            Fault::Html5xx(_) => FaultKind::Html5xx,
            Fault::Truncated => FaultKind::Truncated,
            Fault::Drop => FaultKind::Drop,
            Fault::Maintenance => FaultKind::Maintenance,
            Fault::RateLimit { .. } => FaultKind::RateLimit,
            Fault::NonceSmall => FaultKind::NonceSmall,
        }
    }

    /// Applies the fault to a request on `peer`: `None` means "now answer normally" (a delay).
    /// A delay ends early when the emulator shuts down, so shutdown never waits on one.
    pub(crate) async fn apply(self, peer: &Peer, mut stopping: watch::Receiver<bool>) -> Option<Response> {
        Some(match self {
            Fault::Delay(delay) => {
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    _ = stopping.wait_for(|stopping| *stopping) => {}
                }
                return None;
            }
            Fault::Html5xx(status) => html_error_page(status),
            Fault::Truncated => {
                peer.cut(CutOrder::AfterBody(TRUNCATED_KEEP));
                reply::ok(TRUNCATED_BODY.to_owned())
            }
            Fault::Drop => {
                peer.cut(CutOrder::Drop);
                Response::new(Body::empty())
            }
            Fault::Maintenance => Rejection::Maintenance.response(),
            Fault::RateLimit { retry_after_secs } => {
                reply::rate_limited(Duration::from_secs(retry_after_secs))
            }
            Fault::NonceSmall => Rejection::BadNonce.response(),
        })
    }
}

/// The page a proxy in front of the API serves when the API is unreachable.
fn html_error_page(status: StatusCode) -> Response {
    let title = format!("{} {}", status.as_str(), status.canonical_reason().unwrap_or("Error"));
    let body = format!("<html><head><title>{title}</title></head><body>cloudflare</body></html>");
    let mut response = Response::new(Body::from(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
    response
}

/// The faults waiting for requests, oldest first.
#[derive(Debug, Default)]
pub(crate) struct FaultQueue {
    pending: Vec<Pending>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pending {
    /// `None` = any endpoint (`"*"`).
    target: Option<Endpoint>,
    fault: Fault,
    remaining: u32,
}

impl FaultQueue {
    pub(crate) fn push(&mut self, order: FaultOrder) {
        let FaultOrder { target, fault, count } = order;
        self.pending.push(Pending { target, fault, remaining: count });
    }

    /// Takes one count of the oldest fault aimed at `endpoint`, dropping it when used up.
    pub(crate) fn take(&mut self, endpoint: Endpoint) -> Option<Fault> {
        let index = self.pending.iter().position(|p| p.target.is_none_or(|t| t == endpoint))?;
        let pending = self.pending.get_mut(index)?;
        let fault = pending.fault;
        pending.remaining -= 1;
        if pending.remaining == 0 {
            self.pending.remove(index);
        }
        Some(fault)
    }

    pub(crate) fn clear(&mut self) {
        self.pending.clear();
    }

    /// `{"faults":[{"endpoint":…,"kind":…,"remaining":N, parameters…}, …]}`, oldest first.
    pub(crate) fn to_json(&self) -> Value {
        let faults: Vec<Value> = self
            .pending
            .iter()
            .map(|p| {
                let mut entry = json!({
                    "endpoint": p.target.map_or("*", Endpoint::name),
                    "kind": p.fault.kind().name(),
                    "remaining": p.remaining,
                });
                let parameter = match p.fault {
                    Fault::Delay(delay) => Some(("delay_ms", json!(delay.as_millis()))),
                    Fault::Html5xx(status) => Some(("status", json!(status.as_u16()))),
                    Fault::RateLimit { retry_after_secs } => {
                        Some(("retry_after_secs", json!(retry_after_secs)))
                    }
                    _ => None,
                };
                if let (Some((name, value)), Some(object)) = (parameter, entry.as_object_mut()) {
                    object.insert(name.to_owned(), value);
                }
                entry
            })
            .collect();
        json!({ "faults": faults })
    }
}

/// A validated `POST /sim/faults` body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FaultOrder {
    target: Option<Endpoint>,
    fault: Fault,
    count: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultRequest {
    endpoint: String,
    kind: String,
    count: Option<u32>,
    delay_ms: Option<u64>,
    status: Option<u16>,
    retry_after_secs: Option<u64>,
}

impl FaultOrder {
    /// Parses `{"endpoint","kind","count"?,"delay_ms"?,"status"?,"retry_after_secs"?}`; a
    /// parameter that does not belong to the kind is refused rather than ignored.
    pub(crate) fn parse(body: &[u8]) -> Result<FaultOrder, String> {
        let request: FaultRequest = serde_json::from_slice(body).map_err(|e| format!("fault: {e}"))?;
        let target = match request.endpoint.as_str() {
            "*" => None,
            name => Some(Endpoint::from_name(name).ok_or_else(|| {
                let known: Vec<&str> = Endpoint::ALL.iter().map(|e| e.name()).collect();
                format!("fault: unknown endpoint {name:?}; known: *, {}", known.join(", "))
            })?),
        };
        let kind = FaultKind::ALL.into_iter().find(|k| k.name() == request.kind).ok_or_else(|| {
            let known: Vec<&str> = FaultKind::ALL.iter().map(|k| k.name()).collect();
            format!("fault: unknown kind {:?}; known: {}", request.kind, known.join(", "))
        })?;
        let count = request.count.unwrap_or(1);
        if count == 0 {
            return Err("fault: count must be at least 1".to_owned());
        }
        let only_for = |given: bool, name: &str, owner: FaultKind| {
            if given && kind != owner {
                Err(format!("fault: {name} applies only to kind {:?}", owner.name()))
            } else {
                Ok(())
            }
        };
        only_for(request.delay_ms.is_some(), "delay_ms", FaultKind::Delay)?;
        only_for(request.status.is_some(), "status", FaultKind::Html5xx)?;
        only_for(request.retry_after_secs.is_some(), "retry_after_secs", FaultKind::RateLimit)?;
        let fault = match kind {
            FaultKind::Delay => {
                let delay = Duration::from_millis(request.delay_ms.ok_or("fault: delay needs delay_ms")?);
                if delay > MAX_DELAY {
                    return Err(format!("fault: delay_ms must be at most {}", MAX_DELAY.as_millis()));
                }
                Fault::Delay(delay)
            }
            FaultKind::Html5xx => {
                let status = request.status.unwrap_or(502);
                match StatusCode::from_u16(status) {
                    Ok(status) if (500..=504).contains(&status.as_u16()) => Fault::Html5xx(status),
                    _ => return Err(format!("fault: status must be 500 to 504, found {status}")),
                }
            }
            FaultKind::Truncated => Fault::Truncated,
            FaultKind::Drop => Fault::Drop,
            FaultKind::Maintenance => Fault::Maintenance,
            FaultKind::RateLimit => Fault::RateLimit {
                retry_after_secs: request.retry_after_secs.unwrap_or(DEFAULT_RETRY_AFTER_SECS),
            },
            FaultKind::NonceSmall => Fault::NonceSmall,
        };
        Ok(FaultOrder { target, fault, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(json: &str) -> Result<FaultOrder, String> {
        FaultOrder::parse(json.as_bytes())
    }

    #[test]
    fn orders_parse_with_defaults() {
        let parsed = order(r#"{"endpoint":"auth/r/wallets","kind":"delay","count":3,"delay_ms":250}"#);
        assert_eq!(
            parsed,
            Ok(FaultOrder {
                target: Some(Endpoint::Wallets),
                fault: Fault::Delay(Duration::from_millis(250)),
                count: 3
            })
        );
        let parsed = order(r#"{"endpoint":"*","kind":"html_5xx"}"#);
        assert_eq!(
            parsed,
            Ok(FaultOrder { target: None, fault: Fault::Html5xx(StatusCode::BAD_GATEWAY), count: 1 })
        );
        let parsed = order(r#"{"endpoint":"tickers","kind":"rate_limit"}"#).map(|o| o.fault);
        assert_eq!(parsed, Ok(Fault::RateLimit { retry_after_secs: 60 }));
        let parsed = order(r#"{"endpoint":"tickers","kind":"html_5xx","status":504}"#).map(|o| o.fault);
        assert_eq!(parsed, Ok(Fault::Html5xx(StatusCode::GATEWAY_TIMEOUT)));
    }

    #[test]
    fn bad_orders_say_why() {
        let error = |json: &str| order(json).err().unwrap_or_default();
        assert!(
            error(r#"{"endpoint":"wallets","kind":"drop"}"#)
                .starts_with("fault: unknown endpoint \"wallets\"; known: *, auth/r/wallets,")
        );
        assert_eq!(
            error(r#"{"endpoint":"*","kind":"boom"}"#),
            "fault: unknown kind \"boom\"; known: delay, html_5xx, truncated, drop, maintenance, rate_limit, nonce_small"
        );
        assert_eq!(error(r#"{"endpoint":"*","kind":"drop","count":0}"#), "fault: count must be at least 1");
        assert_eq!(
            error(r#"{"endpoint":"*","kind":"drop","delay_ms":5}"#),
            "fault: delay_ms applies only to kind \"delay\""
        );
        assert_eq!(error(r#"{"endpoint":"*","kind":"delay"}"#), "fault: delay needs delay_ms");
        assert_eq!(
            error(r#"{"endpoint":"*","kind":"delay","delay_ms":3600001}"#),
            "fault: delay_ms must be at most 3600000"
        );
        assert_eq!(
            error(r#"{"endpoint":"*","kind":"html_5xx","status":505}"#),
            "fault: status must be 500 to 504, found 505"
        );
        assert_eq!(
            error(r#"{"endpoint":"*","kind":"maintenance","status":500}"#),
            "fault: status applies only to kind \"html_5xx\""
        );
        assert!(
            error(r#"{"endpoint":"*","kind":"drop","extra":1}"#).starts_with("fault: unknown field `extra`")
        );
        assert!(error(r#"{"endpoint":"*","kind":"drop","count":-1}"#).starts_with("fault: invalid value"));
    }

    #[test]
    fn queue_is_first_in_first_out_per_endpoint() {
        let mut queue = FaultQueue::default();
        queue.push(
            order(r#"{"endpoint":"tickers","kind":"drop","count":2}"#).unwrap_or_else(|e| panic!("{e}")),
        );
        queue.push(order(r#"{"endpoint":"*","kind":"maintenance"}"#).unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(
            queue.to_json(),
            json!({"faults": [{"endpoint": "tickers", "kind": "drop", "remaining": 2},
                              {"endpoint": "*", "kind": "maintenance", "remaining": 1}]})
        );
        // Another endpoint skips the tickers fault and takes the wildcard one.
        assert_eq!(queue.take(Endpoint::Wallets), Some(Fault::Maintenance));
        assert_eq!(queue.take(Endpoint::Wallets), None);
        assert_eq!(queue.take(Endpoint::Tickers), Some(Fault::Drop));
        assert_eq!(queue.take(Endpoint::Tickers), Some(Fault::Drop));
        assert_eq!(queue.take(Endpoint::Tickers), None);
        assert_eq!(queue.to_json(), json!({"faults": []}));
        queue
            .push(order(r#"{"endpoint":"*","kind":"delay","delay_ms":5}"#).unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(queue.to_json()["faults"][0]["delay_ms"], 5);
        queue.clear();
        assert_eq!(queue.take(Endpoint::Conf), None);
    }

    #[test]
    fn html_page_names_its_status() {
        let response = html_error_page(StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[CONTENT_TYPE], "text/html");
        assert!(TRUNCATED_KEEP > 0 && TRUNCATED_KEEP < TRUNCATED_BODY.len());
    }
}
