//! The admin API's answers, for its REST and WebSocket commands alike: errors as
//! `{"error":"admin API: …"}` with their HTTP status, and request bodies read up to the size limit.
//!
//! Kept apart from `admin` (which mounts `ws::admin`) so the WebSocket commands need not import
//! the module that mounts them.

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::reply::{self, MAX_BODY_BYTES};

/// `{"error":"admin API: <message>"}`.
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    let mut response = reply::ok(json!({ "error": format!("admin API: {message}") }).to_string());
    *response.status_mut() = status;
    response
}

/// The request body, or the 413 answer.
pub(crate) async fn read(body: Body) -> Result<Bytes, Response> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| error(StatusCode::PAYLOAD_TOO_LARGE, "body too large"))
}
