//! Verification of authenticated (`auth/…`) requests, in the order the emulator applies it.
//!
//! Rate limit → maintenance → API key → signature over the raw body bytes → nonce (per key,
//! strictly increasing, atomic) → body shape → permission. The request is read strictly on its
//! own terms: exact header texts and exact body bytes, never re-serialised.

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_LENGTH;
use axum::response::Response;
use bfx_core::Nonce;
use bfx_core::sign::verify_payload;
use tokio::time::Instant;

use crate::endpoint::Endpoint;
use crate::reply::{self, MAX_BODY_BYTES, Rejection, Unread};
use crate::shared::{Runtime, Shared, accept_nonce};
use crate::state::{Account, ApiKey};

const API_KEY: &str = "bfx-apikey";
const NONCE: &str = "bfx-nonce";
const SIGNATURE: &str = "bfx-signature";

/// What an authenticated endpoint answers once the request is verified, or why it refuses it.
pub(crate) type Respond = fn(&Account, &ApiKey, &Call<'_>) -> Result<String, Rejection>;

/// A verified request, as the endpoint's answer needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    /// The raw body (empty: no parameters); it is a JSON object when not empty.
    pub(crate) body: &'a [u8],
    /// The path's `{CURRENCY}`, for the endpoints that take one.
    pub(crate) currency: Option<&'a str>,
}

/// Where an authenticated request went: its endpoint, the path after `/v2/` (what is signed:
/// `/api/v2/` + path) and the path's currency argument, if any.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) endpoint: Endpoint,
    pub(crate) path: &'a str,
    pub(crate) currency: Option<&'a str>,
}

impl Target<'static> {
    /// An endpoint whose path is its name.
    pub(crate) fn plain(endpoint: Endpoint) -> Target<'static> {
        Target { endpoint, path: endpoint.name(), currency: None }
    }
}

/// Verifies an `auth/…` request and answers it with `respond`, or with the first failed check.
pub(crate) async fn handle(
    shared: &Shared,
    ip: IpAddr,
    target: Target<'_>,
    headers: &HeaderMap,
    body: Body,
    respond: Respond,
) -> Response {
    let endpoint = target.endpoint;
    let secret = match admit(shared, ip, endpoint, headers) {
        Ok(secret) => secret,
        Err(Refused::RateLimited(remaining)) => return shared.rate_limited(remaining),
        Err(Refused::Rejected(rejection)) => return shared.refuse(Some(endpoint), rejection),
    };
    let body = match read_body(shared, headers, body).await {
        Ok(body) => body,
        Err(Unread::TooLarge) => return shared.refuse(Some(endpoint), Rejection::BodyTooLarge),
        Err(Unread::Late) => return shared.refuse(Some(endpoint), Rejection::BodyTimeout),
    };
    if !signature_matches(target.path, headers, &body, &secret) {
        return shared.refuse(Some(endpoint), Rejection::BadSignature);
    }
    let mut runtime = shared.lock();
    let call = Call { body: &body, currency: target.currency };
    match verified(&mut runtime, endpoint, headers, &body)
        .and_then(|(account, key)| respond(account, key, &call))
    {
        Ok(answer) => reply::ok(answer),
        Err(rejection) => shared.refuse(Some(endpoint), rejection),
    }
}

/// Why a request was refused before its body was read.
enum Refused {
    RateLimited(Duration),
    Rejected(Rejection),
}

/// Checks 1–3 (rate limit, maintenance, key); returns the key's secret for the signature check,
/// which runs without the lock.
fn admit(shared: &Shared, ip: IpAddr, endpoint: Endpoint, headers: &HeaderMap) -> Result<String, Refused> {
    let mut runtime = shared.lock();
    runtime.admit(ip, endpoint, Instant::now()).map_err(Refused::RateLimited)?;
    if !runtime.state.operative {
        return Err(Refused::Rejected(Rejection::Maintenance));
    }
    header_text(headers, API_KEY)
        .and_then(|key| runtime.state.find_key(key))
        .map(|(_, key)| key.secret.clone())
        .ok_or(Refused::Rejected(Rejection::UnknownKey))
}

/// The body as received; too large when it exceeds [`MAX_BODY_BYTES`] (said by its
/// `Content-Length` before any of it is read), late when not whole within the body timeout.
async fn read_body(shared: &Shared, headers: &HeaderMap, body: Body) -> Result<Bytes, Unread> {
    let declared =
        headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(Unread::TooLarge);
    }
    // A body that fails to arrive (client gone) is answered like an oversized one: nobody reads it.
    shared.read_body(body).await
}

/// `hex(HMAC-SHA384(secret, "/api/v2/" + path + nonce header text + raw body))` (path as
/// requested: `auth/r/ledgers/BTC/hist` for that endpoint's per-currency form), compared in
/// constant time. The message is built from the nonce header's exact bytes rather than through
/// `bfx_core::sign::signature_message` (which formats a parsed `Nonce`), so a nonce text such as
/// `0017…` is verified as sent. An empty body is signed as nothing, `{}` as `{}`.
fn signature_matches(path: &str, headers: &HeaderMap, body: &[u8], secret: &str) -> bool {
    let Some(signature) = header_text(headers, SIGNATURE) else {
        return false;
    };
    let nonce = headers.get(NONCE).map(|v| v.as_bytes()).unwrap_or_default();
    let path = path.as_bytes();
    let mut message = Vec::with_capacity(8 + path.len() + nonce.len() + body.len());
    message.extend_from_slice(b"/api/v2/");
    message.extend_from_slice(path);
    message.extend_from_slice(nonce);
    message.extend_from_slice(body);
    verify_payload(secret.as_bytes(), &message, signature)
}

/// Checks 5–7 under one lock: the nonce is checked and recorded atomically, and a request that
/// got this far consumes its nonce even if the body or permission check then fails.
fn verified<'a>(
    runtime: &'a mut Runtime,
    endpoint: Endpoint,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(&'a Account, &'a ApiKey), Rejection> {
    let Runtime { state, nonces, .. } = runtime;
    // The key may have been removed while the body was read.
    let key_text = header_text(headers, API_KEY).ok_or(Rejection::UnknownKey)?;
    let (account, key) = state.find_key(key_text).ok_or(Rejection::UnknownKey)?;
    let nonce =
        header_text(headers, NONCE).and_then(|text| Nonce::from_str(text).ok()).ok_or(Rejection::BadNonce)?;
    if !accept_nonce(nonces, &key.key, nonce) {
        return Err(Rejection::BadNonce);
    }
    // An empty body means "no parameters" (the Python client sends none); it is never parsed.
    if !body.is_empty() && serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body).is_err()
    {
        return Err(Rejection::BadBody);
    }
    if let Some(scope) = endpoint.required_scope()
        && !key.access(scope).read
    {
        return Err(Rejection::Permission);
    }
    Ok((account, key))
}

fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
