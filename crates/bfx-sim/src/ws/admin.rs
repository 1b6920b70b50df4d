//! The admin API's WebSocket commands (under `/sim/`, with its access rules): send an info event
//! to every connection, drop them all, stop or resume heartbeats, see how many are open.
//!
//! They model what a client must survive: a restart notice (20051), maintenance (20060/20061),
//! a vanished network path, and a server gone silent.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::frames::InfoCode;
use crate::admin_reply::{error, read};
use crate::reply;
use crate::shared::Shared;

pub(crate) fn router() -> Router<Shared> {
    Router::new()
        .route("/ws", get(ws_status))
        .route("/ws/info", post(ws_info))
        .route("/ws/drop", post(ws_drop))
        .route("/ws/heartbeats", post(ws_heartbeats))
}

/// `GET /sim/ws`: open WebSocket connections and whether heartbeats are on.
async fn ws_status(State(shared): State<Shared>) -> Response {
    reply::ok(
        json!({ "connections": shared.ws().live(), "heartbeats": shared.ws().heartbeats() }).to_string(),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InfoRequest {
    code: u64,
}

/// `{"code":20051|20060|20061}`: sends `{"event":"info","code":…,"msg":…}` to every WebSocket
/// connection; after 20051 (restart) each is closed (close frame 1012).
async fn ws_info(State(shared): State<Shared>, body: Body) -> Response {
    let body = match read(&shared, body).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let code = match serde_json::from_slice::<InfoRequest>(&body) {
        Ok(InfoRequest { code }) => code,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("ws info: {e}")),
    };
    let Some(info) = InfoCode::from_code(code) else {
        return error(
            StatusCode::BAD_REQUEST,
            &format!(
                "ws info: code must be 20051 (restart), 20060 or 20061 (maintenance start/end), found {code}"
            ),
        );
    };
    let connections = shared.ws().info(info);
    tracing::info!(code, connections, "admin: WebSocket info sent");
    reply::ok(json!({ "code": code, "connections": connections }).to_string())
}

/// Closes every WebSocket connection at once, without a close frame (the client sees the TCP
/// connection end, as when a network path fails).
async fn ws_drop(State(shared): State<Shared>) -> Response {
    let dropped = shared.ws().drop_all();
    tracing::info!(dropped, "admin: WebSocket connections dropped");
    reply::ok(json!({ "dropped": dropped }).to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeartbeatsRequest {
    enabled: bool,
}

/// `{"enabled":false}` stops heartbeats on every connection (a silent server); `true` resumes them.
async fn ws_heartbeats(State(shared): State<Shared>, body: Body) -> Response {
    let body = match read(&shared, body).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    match serde_json::from_slice::<HeartbeatsRequest>(&body) {
        Ok(HeartbeatsRequest { enabled }) => {
            shared.ws().set_heartbeats(enabled);
            tracing::info!(enabled, "admin: WebSocket heartbeats set");
            reply::ok(json!({ "enabled": enabled }).to_string())
        }
        Err(e) => error(StatusCode::BAD_REQUEST, &format!("ws heartbeats: {e}")),
    }
}
