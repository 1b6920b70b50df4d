//! The admin API under `/sim/…`: change wallets (each balance change also writes a ledger entry),
//! generate ledger entries in bulk, change tickers and platform status (wallet and ticker changes
//! are pushed to WebSocket sessions), inject faults, read counters, send WebSocket info
//! events, drop connections, pause heartbeats. JSON in and out; errors are `{"error":"admin API: …"}`.
//!
//! Only loopback peers may use it, unless an admin token is configured: then every request needs
//! `Authorization: Bearer <token>`, from any peer. Admin requests are never rate-limited or counted.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, RawQuery, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{Next, from_fn_with_state, map_response};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::admin_edit::{self, EditError};
use crate::admin_ledger;
use crate::admin_reply::{error, read};
use crate::admin_ticker;
use crate::connection::Peer;
use crate::fault::FaultOrder;
use crate::reply;
use crate::shared::Shared;
use crate::ws;
use crate::ws::hub::Delivery;

/// Who may use the admin API.
pub(crate) struct AdminAccess {
    token: Option<String>,
}

impl fmt::Debug for AdminAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminAccess").field("token", &self.token.as_ref().map(|_| "***")).finish()
    }
}

impl AdminAccess {
    pub(crate) fn new(token: Option<String>) -> AdminAccess {
        AdminAccess { token }
    }

    /// Admits a request from `ip` carrying `authorization`, or says why not.
    fn check(&self, ip: IpAddr, authorization: Option<&HeaderValue>) -> Result<(), &'static str> {
        match &self.token {
            None if is_loopback(ip) => Ok(()),
            None => Err("loopback only"),
            Some(token) => {
                let given = authorization.and_then(bearer_token).unwrap_or_default();
                // `serve_with` refuses an empty token; were one here, it would admit nobody.
                let matches = !token.is_empty() && bool::from(given.ct_eq(token.as_bytes()));
                if matches { Ok(()) } else { Err("bad token") }
            }
        }
    }
}

/// 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6 addresses.
pub(crate) fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// The token of `Bearer <token>` (the scheme is case-insensitive, RFC 9110 §11.1).
fn bearer_token(value: &HeaderValue) -> Option<&[u8]> {
    let value = value.as_bytes();
    let (scheme, token) = value.split_at_checked(7)?;
    scheme.eq_ignore_ascii_case(b"bearer ").then_some(token)
}

pub(crate) fn router(access: AdminAccess) -> Router<Shared> {
    Router::new()
        .route("/wallets", post(wallets))
        .route("/ledger", post(ledger))
        .route("/tickers", post(tickers))
        .route("/platform", post(platform))
        .route("/faults", get(faults).post(add_fault).delete(clear_faults))
        .route("/counters", get(counters).delete(reset_counters))
        .merge(ws::admin::router())
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "no such endpoint; see /sim/wallets, /sim/ledger, /sim/tickers, /sim/platform, /sim/faults, /sim/counters, \
                 /sim/ws, /sim/ws/info, /sim/ws/drop, /sim/ws/heartbeats",
            )
        })
        .layer(map_response(method_not_allowed))
        .layer(from_fn_with_state(Arc::new(access), guard))
}

async fn guard(
    State(access): State<Arc<AdminAccess>>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    request: Request,
    next: Next,
) -> Response {
    match access.check(peer.ip(), request.headers().get(AUTHORIZATION)) {
        Ok(()) => next.run(request).await,
        Err(reason) => {
            tracing::warn!(peer = %peer.ip(), path = request.uri().path(), "admin API refused: {reason}");
            error(StatusCode::FORBIDDEN, reason)
        }
    }
}

fn answer(result: Result<Value, EditError>) -> Response {
    match result {
        Ok(value) => reply::ok(value.to_string()),
        Err(EditError::Invalid(message)) => error(StatusCode::BAD_REQUEST, &message),
        Err(EditError::NotFound(message)) => error(StatusCode::NOT_FOUND, &message),
    }
}

/// Changes a wallet and, under the same lock, pushes it to the account's WebSocket sessions
/// (with `?wait=sent`, answers once they have sent it).
async fn wallets(State(shared): State<Shared>, RawQuery(query): RawQuery, body: Body) -> Response {
    let wait = match wait_for_sent(query.as_deref()) {
        Ok(wait) => wait,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let body = match read(&shared, body).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let now_ms = shared.now_ms();
    let (edited, delivery) = {
        let mut runtime = shared.lock();
        let edited = admin_edit::edit_wallet(&mut runtime.state, &body, now_ms);
        let delivery = edited.as_ref().ok().map(|wallet| {
            let field = |name: &str| wallet[name].as_str().unwrap_or_default();
            shared.ws().wallet_changed(&runtime.state, field("account"), field("type"), field("currency"))
        });
        (edited, delivery)
    };
    answer(sent(edited, delivery, wait).await)
}

/// Longest a change asked to wait for its sessions (`?wait=sent`) waits.
const DELIVERY_WAIT: Duration = Duration::from_secs(1);

/// `?wait=sent`, or no query: whether to wait for the sessions to send the change.
fn wait_for_sent(query: Option<&str>) -> Result<bool, String> {
    match query {
        None | Some("") => Ok(false),
        Some("wait=sent") => Ok(true),
        Some(other) => Err(format!("unknown query {other:?}: the only one is wait=sent")),
    }
}

/// The change's answer; when asked to wait, once every WebSocket session of the account has
/// written it to its socket (or let it pass), at most [`DELIVERY_WAIT`], saying how many had not
/// (`"unsent"`: sessions that closed meanwhile, or were too slow).
async fn sent(
    edited: Result<Value, EditError>,
    delivery: Option<Arc<Delivery>>,
    wait: bool,
) -> Result<Value, EditError> {
    let mut value = edited?;
    if let (true, Some(delivery), Some(object)) = (wait, delivery, value.as_object_mut()) {
        object.insert("unsent".to_owned(), json!(delivery.sent(DELIVERY_WAIT).await));
    }
    Ok(value)
}

/// Appends synthetic ledger entries to a wallet and pushes its new balance to WebSocket sessions
/// (with `?wait=sent`, answers once they have sent it).
async fn ledger(State(shared): State<Shared>, RawQuery(query): RawQuery, body: Body) -> Response {
    let wait = match wait_for_sent(query.as_deref()) {
        Ok(wait) => wait,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let body = match read(&shared, body).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let now_ms = shared.now_ms();
    let (generated, delivery) = {
        let mut runtime = shared.lock();
        let generated = admin_ledger::generate(&mut runtime.state, &body, now_ms);
        let delivery = generated.as_ref().ok().map(|run| {
            let field = |name: &str| run[name].as_str().unwrap_or_default();
            shared.ws().wallet_changed(&runtime.state, field("account"), field("wallet"), field("currency"))
        });
        (generated, delivery)
    };
    answer(sent(generated, delivery, wait).await)
}

/// Changes a ticker and, under the same lock, pushes it to the WebSocket channels showing it.
async fn tickers(State(shared): State<Shared>, body: Body) -> Response {
    let body = match read(&shared, body).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let mut runtime = shared.lock();
    let edited = admin_ticker::edit_ticker(&mut runtime.state, &body);
    if let Ok(ticker) = &edited {
        shared.ws().ticker_changed(&runtime.state, ticker["symbol"].as_str().unwrap_or_default());
    }
    drop(runtime);
    answer(edited)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlatformRequest {
    status: u8,
}

/// `{"status":1}` operative, `{"status":0}` maintenance (auth endpoints answer 20060).
async fn platform(State(shared): State<Shared>, body: Body) -> Response {
    let body = match read(&shared, body).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let status = match serde_json::from_slice::<PlatformRequest>(&body) {
        Ok(PlatformRequest { status: status @ (0 | 1) }) => status,
        Ok(PlatformRequest { status }) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("platform: status must be 0 or 1, found {status}"),
            );
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("platform: {e}")),
    };
    shared.lock().state.operative = status == 1;
    tracing::info!(status, "admin: platform status set");
    reply::ok(json!({ "status": status }).to_string())
}

async fn faults(State(shared): State<Shared>) -> Response {
    reply::ok(shared.lock().faults.to_json().to_string())
}

async fn add_fault(State(shared): State<Shared>, body: Body) -> Response {
    let body = match read(&shared, body).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    match FaultOrder::parse(&body) {
        Ok(order) => {
            let mut runtime = shared.lock();
            runtime.faults.push(order);
            tracing::info!("admin: fault queued");
            reply::ok(runtime.faults.to_json().to_string())
        }
        Err(message) => error(StatusCode::BAD_REQUEST, &message),
    }
}

async fn clear_faults(State(shared): State<Shared>) -> Response {
    let mut runtime = shared.lock();
    runtime.faults.clear();
    reply::ok(runtime.faults.to_json().to_string())
}

async fn counters(State(shared): State<Shared>) -> Response {
    reply::ok(shared.counters().snapshot().to_string())
}

/// Resets the counters, answering what they were, so a reader loses no count between the two.
async fn reset_counters(State(shared): State<Shared>) -> Response {
    reply::ok(shared.counters().take().to_string())
}

/// Gives axum's bodiless 405 an admin-shaped JSON body, keeping its `Allow` header.
async fn method_not_allowed(response: Response) -> Response {
    if response.status() != StatusCode::METHOD_NOT_ALLOWED {
        return response;
    }
    let (parts, _) = response.into_parts();
    let mut replaced = error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    for (name, value) in &parts.headers {
        if name != CONTENT_TYPE && name != CONTENT_LENGTH {
            replaced.headers_mut().insert(name, value.clone());
        }
    }
    replaced
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    const LAN: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 20));

    #[test]
    fn loopback_predicate() {
        for ip in ["127.0.0.1", "127.0.0.2", "127.255.255.254", "::1", "::ffff:127.0.0.1"] {
            assert!(is_loopback(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["10.0.0.1", "192.168.1.20", "0.0.0.0", "::", "::ffff:10.0.0.1", "2001:db8::1", "128.0.0.1"]
        {
            assert!(!is_loopback(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn without_a_token_only_loopback_peers_are_admitted() {
        let access = AdminAccess::new(None);
        assert_eq!(access.check(LOOPBACK, None), Ok(()));
        assert_eq!(access.check(IpAddr::V6(Ipv6Addr::LOCALHOST), None), Ok(()));
        assert_eq!(access.check(LAN, None), Err("loopback only"));
        let bearer = HeaderValue::from_static("Bearer anything");
        assert_eq!(access.check(LAN, Some(&bearer)), Err("loopback only"));
    }

    #[test]
    fn with_a_token_every_peer_needs_it() {
        let access = AdminAccess::new(Some("s3cret".to_owned()));
        for ip in [LOOPBACK, LAN] {
            assert_eq!(access.check(ip, Some(&HeaderValue::from_static("Bearer s3cret"))), Ok(()));
            assert_eq!(access.check(ip, Some(&HeaderValue::from_static("bearer s3cret"))), Ok(()));
            assert_eq!(access.check(ip, None), Err("bad token"));
            for wrong in
                ["Bearer s3cre", "Bearer s3cret ", "Bearer  s3cret", "Basic s3cret", "s3cret", "Bearer"]
            {
                assert_eq!(
                    access.check(ip, Some(&HeaderValue::from_static(wrong))),
                    Err("bad token"),
                    "{wrong}"
                );
            }
        }
        assert!(!format!("{access:?}").contains("s3cret"));
    }
}
