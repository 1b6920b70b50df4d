//! Responses in Bitfinex's shapes, always JSON and always written in one piece.
//!
//! Failures are HTTP 500 with `["error", CODE, "MESSAGE"]`, except rate limits (HTTP 429,
//! `{"error":"ERR_RATE_LIMIT"}`, `Retry-After`). Bodies are complete `Bytes`, so hyper sends a
//! `Content-Length` and no chunked stream: one write per response with `TCP_NODELAY`.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::{CONNECTION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use bfx_core::wire_error::codes;

use crate::rate_limit::retry_after_secs;

/// Largest request body read, in bytes; a larger one is answered 413.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// Why a request body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unread {
    /// Larger than [`MAX_BODY_BYTES`], or the client went away while sending it.
    TooLarge,
    /// Not complete within the body timeout.
    Late,
}

/// The request body, whole, read within `timeout` and up to [`MAX_BODY_BYTES`]. Every handler
/// that reads a body reads it here, so a client trickling a body (or never sending what its
/// `Content-Length` promised) holds a request and its connection for `timeout` at most.
pub(crate) async fn read_body(body: Body, timeout: Duration) -> Result<Bytes, Unread> {
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(Unread::TooLarge),
        Err(_) => Err(Unread::Late),
    }
}

/// Marks `response` as the connection's last: the rest of an unread body must not be taken for
/// the next request.
pub(crate) fn closing(mut response: Response) -> Response {
    response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Every way the emulator refuses a request, in Bitfinex's words where Bitfinex has words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    Maintenance,
    UnknownKey,
    BadSignature,
    /// Malformed, out of range (> 2^53 − 1) or not above the key's last nonce.
    BadNonce,
    BadBody,
    BodyTooLarge,
    /// The body did not arrive whole within the body timeout.
    BodyTimeout,
    Permission,
    UnknownSymbol,
    MissingSymbols,
    NotFound,
    MethodNotAllowed,
    /// Ledger parameters (`auth/r/ledgers/…/hist`): HTTP 500, 10020, `"<param>: invalid"`.
    LimitInvalid,
    StartInvalid,
    EndInvalid,
    CategoryInvalid,
    WalletInvalid,
    CurrencyInvalid,
    /// Candle parameters (`candles/{key}/…`): a key not `trade:TF:SYMBOL`, a timeframe Bitfinex
    /// does not list, `start` after `end`, a `sort` that is not an integer.
    KeyInvalid,
    TimeframeInvalid,
    TimeIntervalInvalid,
    SortInvalid,
}

impl Rejection {
    pub(crate) const ALL: [Rejection; 22] = [
        Rejection::Maintenance,
        Rejection::UnknownKey,
        Rejection::BadSignature,
        Rejection::BadNonce,
        Rejection::BadBody,
        Rejection::BodyTooLarge,
        Rejection::BodyTimeout,
        Rejection::Permission,
        Rejection::UnknownSymbol,
        Rejection::MissingSymbols,
        Rejection::NotFound,
        Rejection::MethodNotAllowed,
        Rejection::LimitInvalid,
        Rejection::StartInvalid,
        Rejection::EndInvalid,
        Rejection::CategoryInvalid,
        Rejection::WalletInvalid,
        Rejection::CurrencyInvalid,
        Rejection::KeyInvalid,
        Rejection::TimeframeInvalid,
        Rejection::TimeIntervalInvalid,
        Rejection::SortInvalid,
    ];

    pub(crate) fn status(self) -> StatusCode {
        match self {
            Rejection::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Rejection::NotFound => StatusCode::NOT_FOUND,
            Rejection::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub(crate) fn code(self) -> i64 {
        match self {
            Rejection::Maintenance => codes::MAINTENANCE,
            Rejection::UnknownKey | Rejection::BadSignature => codes::AUTH,
            Rejection::BadNonce => codes::NONCE,
            Rejection::Permission => codes::GENERIC,
            Rejection::BadBody
            | Rejection::BodyTooLarge
            | Rejection::BodyTimeout
            | Rejection::UnknownSymbol
            | Rejection::MissingSymbols
            | Rejection::NotFound
            | Rejection::MethodNotAllowed
            | Rejection::LimitInvalid
            | Rejection::StartInvalid
            | Rejection::EndInvalid
            | Rejection::CategoryInvalid
            | Rejection::WalletInvalid
            | Rejection::CurrencyInvalid
            | Rejection::KeyInvalid
            | Rejection::TimeframeInvalid
            | Rejection::TimeIntervalInvalid
            | Rejection::SortInvalid => codes::PARAMS,
        }
    }

    pub(crate) fn message(self) -> &'static str {
        match self {
            Rejection::Maintenance => "maintenance",
            Rejection::UnknownKey => "apikey: invalid",
            Rejection::BadSignature => "apikey: digest invalid",
            // Bitfinex documents no wording for a malformed or too-large (> 2^53 - 1) nonce; the
            // public issue threads searched (ccxt, XChange, JKorf/Bitfinex.Net, ohenrik/bitfinex)
            // show only "nonce: small" for v2, so every nonce failure says that. Clients classify
            // by the code, 10114, and the Node client by the word "nonce".
            Rejection::BadNonce => "nonce: small",
            Rejection::BadBody => "request: invalid",
            Rejection::BodyTooLarge => "request: too large",
            Rejection::BodyTimeout => "request: body not received in time",
            // Recorded in ccxt's error table; Bitfinex does not document this case.
            Rejection::Permission => "api_key: permission invalid",
            Rejection::UnknownSymbol => "symbol: invalid",
            Rejection::MissingSymbols => "symbols: invalid",
            Rejection::NotFound => "not found",
            Rejection::MethodNotAllowed => "method: invalid",
            // The spec: a limit above 2500 is answered `["error",10020,"limit: invalid"]`; the
            // other parameters follow the same `<name>: invalid` form ("currency: invalid").
            Rejection::LimitInvalid => "limit: invalid",
            Rejection::StartInvalid => "start: invalid",
            Rejection::EndInvalid => "end: invalid",
            Rejection::CategoryInvalid => "category: invalid",
            Rejection::WalletInvalid => "wallet: invalid",
            Rejection::CurrencyInvalid => "currency: invalid",
            // `start` after `end`: "time_interval: invalid" is what Bitfinex answers a hist
            // request with an inverted range (a recorded answer in DenisGorbachev/cryptozaur's tests,
            // `["error", 10020, "time_interval: invalid"]`). For a bad key or timeframe no wording
            // was found; these follow the `<name>: invalid` form, and clients go by the code.
            Rejection::KeyInvalid => "key: invalid",
            Rejection::TimeframeInvalid => "timeframe: invalid",
            Rejection::TimeIntervalInvalid => "time_interval: invalid",
            Rejection::SortInvalid => "sort: invalid",
        }
    }

    pub(crate) fn response(self) -> Response {
        let body = format!("[\"error\",{},{}]", self.code(), quoted(self.message()));
        match self {
            Rejection::BodyTimeout => closing(json(self.status(), body)),
            _ => json(self.status(), body),
        }
    }
}

/// HTTP 200 with a JSON body.
pub(crate) fn ok(body: String) -> Response {
    json(StatusCode::OK, body)
}

/// HTTP 429 `{"error":"ERR_RATE_LIMIT"}` with `Retry-After` (seconds left in the block, rounded up).
pub(crate) fn rate_limited(remaining: Duration) -> Response {
    let mut response = json(StatusCode::TOO_MANY_REQUESTS, r#"{"error":"ERR_RATE_LIMIT"}"#.to_owned());
    response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(retry_after_secs(remaining)));
    response
}

/// A JSON string literal for `text`, escaped.
pub(crate) fn quoted(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

fn json(status: StatusCode, body: String) -> Response {
    let mut response = Response::new(Body::from(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Gives axum's bodiless 405 (wrong method on a known path) a Bitfinex-shaped JSON body,
/// keeping its `Allow` header.
pub(crate) async fn json_method_not_allowed(response: Response) -> Response {
    if response.status() != StatusCode::METHOD_NOT_ALLOWED {
        return response;
    }
    let (parts, _) = response.into_parts();
    let mut replaced = Rejection::MethodNotAllowed.response();
    for (name, value) in &parts.headers {
        if name != CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            replaced.headers_mut().insert(name, value.clone());
        }
    }
    replaced
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_parse_as_bitfinex_errors() {
        use bfx_core::wire_error::{ErrorBody, parse_error_body};
        for rejection in
            [Rejection::UnknownKey, Rejection::BadNonce, Rejection::Permission, Rejection::Maintenance]
        {
            let body = format!("[\"error\",{},{}]", rejection.code(), quoted(rejection.message()));
            assert_eq!(
                parse_error_body(rejection.status().as_u16(), body.as_bytes()),
                ErrorBody::Exchange { code: rejection.code(), message: rejection.message().to_owned() }
            );
        }
        assert_eq!(quoted("a\"b"), r#""a\"b""#);
    }

    #[test]
    fn rate_limit_reply() {
        let response = rate_limited(Duration::from_millis(1500));
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[RETRY_AFTER], "2");
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    }
}
