//! Error bodies and what their codes mean.
//!
//! Bitfinex answers most failures with HTTP 500 and `["error", CODE, "MESSAGE"]`; rate limits come
//! as HTTP 429 with `{"error": "ERR_RATE_LIMIT"}` (or `["error", 11010, "ratelimit: error"]`, or
//! `{"message":"Ratelimit"}`); proxies answer with HTML or nothing at all. Classification relies on
//! the numeric code: the docs say message texts may change.

use serde_json::Value;

/// Bitfinex error codes bfx acts on.
pub mod codes {
    /// Generic error; also "api_key: permission invalid" for a key lacking a permission.
    pub const GENERIC: i64 = 10001;
    /// Bad parameters, e.g. `currency: invalid`.
    pub const PARAMS: i64 = 10020;
    /// `apikey: invalid` (unknown key) or `apikey: digest invalid` (bad signature).
    pub const AUTH: i64 = 10100;
    /// `nonce: small`.
    pub const NONCE: i64 = 10114;
    /// `ready: invalid`: temporarily unavailable.
    pub const NOT_READY: i64 = 11000;
    /// `ratelimit: error`.
    pub const RATE_LIMIT: i64 = 11010;
    /// Platform in maintenance.
    pub const MAINTENANCE: i64 = 20060;
}

/// What an error response body said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorBody {
    /// `["error", code, "message"]`.
    Exchange { code: i64, message: String },
    /// Any of the rate-limit shapes (or HTTP 429).
    RateLimit { code: Option<i64>, message: String },
    /// Not a Bitfinex error: HTML, empty, truncated… Keeps the first bytes, printable.
    Unrecognized { snippet: String },
}

/// The meaning of an exchange error, for exit codes, hints and retry decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExchangeErrorKind {
    /// Unknown key or bad signature.
    Auth,
    /// The key lacks a permission the endpoint needs.
    Permission,
    Nonce,
    Params,
    RateLimit,
    /// Maintenance or not ready: try later.
    Unavailable,
    Other,
}

/// Classifies a Bitfinex error code (and, for 10001, its message: the only signal that a generic
/// error is a missing permission).
pub fn classify(code: i64, message: &str) -> ExchangeErrorKind {
    match code {
        codes::AUTH => ExchangeErrorKind::Auth,
        codes::NONCE => ExchangeErrorKind::Nonce,
        codes::PARAMS => ExchangeErrorKind::Params,
        codes::RATE_LIMIT => ExchangeErrorKind::RateLimit,
        codes::NOT_READY | codes::MAINTENANCE => ExchangeErrorKind::Unavailable,
        codes::GENERIC if message.to_ascii_lowercase().contains("permission") => {
            ExchangeErrorKind::Permission
        }
        _ => ExchangeErrorKind::Other,
    }
}

/// Reads an error response. Never fails: what is not recognised is kept as a snippet.
pub fn parse_error_body(status: u16, body: &[u8]) -> ErrorBody {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    if let Some(Value::Array(items)) = &parsed
        && items.first().and_then(Value::as_str) == Some("error")
        && let Some(code) = items.get(1).and_then(Value::as_i64)
    {
        let message = bounded(items.get(2).and_then(Value::as_str).unwrap_or_default());
        if code == codes::RATE_LIMIT {
            return ErrorBody::RateLimit { code: Some(code), message };
        }
        return ErrorBody::Exchange { code, message };
    }
    if status == 429 || looks_rate_limited(body) {
        let message = match &parsed {
            Some(Value::Object(map)) => ["error", "message"]
                .iter()
                .find_map(|k| map.get(*k).and_then(Value::as_str))
                .map_or_else(|| "rate limited".to_owned(), bounded),
            _ => "rate limited".to_owned(),
        };
        return ErrorBody::RateLimit { code: None, message };
    }
    ErrorBody::Unrecognized { snippet: snippet(body) }
}

/// An exchange's message as kept: at most 200 characters (a hostile server's megabyte of text is
/// not carried into every error message and JSON document).
fn bounded(message: &str) -> String {
    const MAX: usize = 200;
    match message.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &message[..at]),
        None => message.to_owned(),
    }
}

/// Bitfinex's own bfx-report matches `/(ERR(_RATE)?_LIMIT)|(ratelimit)/`.
fn looks_rate_limited(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&body[..body.len().min(512)]).to_ascii_lowercase();
    text.contains("err_rate_limit") || text.contains("err_limit") || text.contains("ratelimit")
}

/// The first bytes of a body, printable on one line, for error messages.
pub fn snippet(body: &[u8]) -> String {
    const MAX: usize = 120;
    if body.is_empty() {
        return "(empty body)".to_owned();
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX)]);
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if body.len() > MAX {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchange_errors() {
        assert_eq!(
            parse_error_body(500, br#"["error",10100,"apikey: digest invalid"]"#),
            ErrorBody::Exchange { code: 10100, message: "apikey: digest invalid".into() }
        );
        assert_eq!(
            parse_error_body(500, br#"["error",10114,"nonce: small"]"#),
            ErrorBody::Exchange { code: 10114, message: "nonce: small".into() }
        );
        assert_eq!(
            parse_error_body(500, br#"["error",20060,null]"#),
            ErrorBody::Exchange { code: 20060, message: String::new() }
        );
        // A megabyte of message is kept as its first 200 characters.
        let body = format!(r#"["error",10001,"{}"]"#, "x".repeat(1_000_000));
        let ErrorBody::Exchange { message, .. } = parse_error_body(500, body.as_bytes()) else { panic!() };
        assert_eq!(message.chars().count(), 201, "200 and the ellipsis");
    }

    #[test]
    fn every_rate_limit_shape() {
        for (status, body) in [
            (429, &br#"{ "error": "ERR_RATE_LIMIT"}"#[..]),
            (429, br#"{"error":"ERR_RATE_LIMIT"}"#),
            (429, br#"["error",11010,"ratelimit: error"]"#),
            (500, br#"["error",11010,"ratelimit: error"]"#),
            (429, br#"{"message":"Ratelimit"}"#),
            (200, br#"{"error":"ERR_LIMIT"}"#),
            (429, b""),
            (429, b"<html>Too Many Requests</html>"),
        ] {
            assert!(
                matches!(parse_error_body(status, body), ErrorBody::RateLimit { .. }),
                "{status} {}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(
            parse_error_body(429, br#"{ "error": "ERR_RATE_LIMIT"}"#),
            ErrorBody::RateLimit { code: None, message: "ERR_RATE_LIMIT".into() }
        );
    }

    #[test]
    fn unrecognized_keeps_first_bytes() {
        let html = b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>cloudflare</body></html>";
        assert_eq!(
            parse_error_body(502, html),
            ErrorBody::Unrecognized {
                snippet: "<html> <head><title>502 Bad Gateway</title></head> <body>cloudflare</body></html>"
                    .into()
            }
        );
        assert_eq!(parse_error_body(500, b""), ErrorBody::Unrecognized { snippet: "(empty body)".into() });
        assert_eq!(
            parse_error_body(500, br#"["error",101"#),
            ErrorBody::Unrecognized { snippet: r#"["error",101"#.into() }
        );
        let long = vec![b'x'; 500];
        let ErrorBody::Unrecognized { snippet } = parse_error_body(503, &long) else { panic!() };
        assert_eq!(snippet.chars().count(), 121);
    }

    #[test]
    fn classification_by_code() {
        assert_eq!(classify(10100, "apikey: invalid"), ExchangeErrorKind::Auth);
        assert_eq!(classify(10100, "anything"), ExchangeErrorKind::Auth);
        assert_eq!(classify(10001, "api_key: permission invalid"), ExchangeErrorKind::Permission);
        assert_eq!(classify(10001, "order: invalid"), ExchangeErrorKind::Other);
        assert_eq!(classify(10114, "nonce: small"), ExchangeErrorKind::Nonce);
        assert_eq!(classify(10020, "currency: invalid"), ExchangeErrorKind::Params);
        assert_eq!(classify(20060, ""), ExchangeErrorKind::Unavailable);
        assert_eq!(classify(11000, "ready: invalid"), ExchangeErrorKind::Unavailable);
    }
}
