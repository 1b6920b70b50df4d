//! The admin API's answers, for its REST and WebSocket commands alike: errors as
//! `{"error":"admin API: …"}` with their HTTP status, and request bodies read up to the size limit
//! and within the body timeout.
//!
//! Kept apart from `admin` (which mounts `ws::admin`) so the WebSocket commands need not import
//! the module that mounts them.

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::reply::{self, Unread};
use crate::shared::Shared;

/// `{"error":"admin API: <message>"}`.
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    let mut response = reply::ok(json!({ "error": format!("admin API: {message}") }).to_string());
    *response.status_mut() = status;
    response
}

/// The request body, or the 413 (too large) or 408 (not whole within the body timeout) answer.
pub(crate) async fn read(shared: &Shared, body: Body) -> Result<Bytes, Response> {
    shared.read_body(body).await.map_err(|unread| match unread {
        Unread::TooLarge => error(StatusCode::PAYLOAD_TOO_LARGE, "body too large"),
        Unread::Late => reply::closing(error(StatusCode::REQUEST_TIMEOUT, "body not received in time")),
    })
}
