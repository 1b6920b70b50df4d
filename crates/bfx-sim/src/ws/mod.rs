//! The WebSocket v2 endpoint `/ws/2`: the upgrade, refused past the per-IP connection limit or
//! while shutting down, then one session per connection.
//!
//! The parts below the sessions stay apart from them: `hub` (in the shared state: admin changes
//! published to sessions, live-session count, connection limit), `frames` (wire texts), `aum`,
//! `limit`. `session` and `auth` serve one connection; `admin` is the admin API's WebSocket part.

pub(crate) mod admin;
mod aum;
mod auth;
mod frames;
pub(crate) mod hub;
mod limit;
mod session;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use crate::connection::Peer;
use crate::counters::WsCount;
use crate::reply;
use crate::shared::Shared;
use session::SessionGuard;

/// Largest frame a client may send; auth, subscribe and calc frames are far smaller.
const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Per-connection buffers. tungstenite's defaults (128 KiB read buffer, 128 KiB write buffer)
/// made each idle connection cost ~130 KiB; frames here are a few hundred bytes.
const READ_BUFFER_BYTES: usize = 4 * 1024;
const WRITE_BUFFER_BYTES: usize = 4 * 1024;
/// Unsent output beyond this fails the send (the session then ends): a client that stops
/// reading cannot make the server buffer without bound.
const MAX_WRITE_BUFFER_BYTES: usize = 1024 * 1024;

/// `GET /ws/2`: refuses past the per-IP connection limit (HTTP 429, `Retry-After`) and while
/// shutting down (503); otherwise upgrades and runs the session.
pub(crate) async fn upgrade(
    State(shared): State<Shared>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    if *shared.stopping().borrow() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if let Err(remaining) = shared.ws().admit(peer.ip(), Instant::now()) {
        shared.counters().ws(WsCount::RateLimited);
        tracing::debug!(ip = %peer.ip(), "WebSocket connection refused: over the connection limit");
        return reply::rate_limited(remaining);
    }
    shared.counters().ws(WsCount::Connection);
    peer.upgrading();
    let guard = SessionGuard::new(shared.clone());
    upgrade
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
        .on_upgrade(move |socket| session::run(socket, shared, peer.ip(), guard))
}
