//! The client's error type. Every REST variant names the endpoint; exchange errors keep Bitfinex's
//! code and message (over REST and over the WebSocket); unreadable responses keep the HTTP status
//! and the first bytes of the body; WebSocket failures say how the connection was lost
//! ([`SocketError`]). No variant ever holds a secret.

use std::path::PathBuf;
use std::time::Duration;

use bfx_core::portfolio::AccountError;
use bfx_core::wire_error::{ExchangeErrorKind, classify};
use bfx_core::{NonceError, ParseError};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bitfinex answered `["error", code, "message"]`.
    #[error("{endpoint}: Bitfinex error {code} {message:?} (HTTP {status})")]
    Api { endpoint: &'static str, status: u16, code: i64, message: String },

    /// HTTP 429 or a rate-limit body: Bitfinex blocks the IP on this endpoint for a while.
    /// `retry_after` is the block the client applies, never longer than the longest documented
    /// one (120 s); `retry_after_sent` is the server's `Retry-After` in seconds when it was longer.
    #[error("{endpoint}: rate limited by Bitfinex (HTTP {status}, {message:?}){}", clamp_note(*retry_after, *retry_after_sent))]
    RateLimited {
        endpoint: &'static str,
        status: u16,
        message: String,
        retry_after: Option<Duration>,
        retry_after_sent: Option<u64>,
    },

    /// A non-success status whose body is not a Bitfinex error (a proxy's HTML page, nothing…).
    #[error("{endpoint}: unexpected HTTP {status} response: {snippet}")]
    Http { endpoint: &'static str, status: u16, snippet: String },

    /// A redirect, not followed: it would carry the key and a valid signature to another URL.
    #[error(
        "{endpoint}: the server answered HTTP {status}, a redirect to {location}, which bfx does not follow"
    )]
    Redirect { endpoint: &'static str, status: u16, location: String },

    /// A success status with a body that does not have the documented shape.
    #[error("{endpoint}: {source}")]
    Parse {
        endpoint: &'static str,
        #[source]
        source: ParseError,
    },

    /// The response body is larger than the most the client reads for this endpoint (see
    /// `Client::body_limit`): a broken or hostile server, or a proxy streaming something else.
    #[error(
        "{endpoint}: the response body exceeds {limit} bytes, the most bfx reads for this endpoint; the rest was not read"
    )]
    BodyTooLarge { endpoint: &'static str, limit: usize },

    #[error("{endpoint}: no response within {timeout:?}")]
    Timeout { endpoint: &'static str, timeout: Duration },

    #[error("{endpoint}: cannot connect to {url}")]
    Connect {
        endpoint: &'static str,
        url: String,
        #[source]
        source: reqwest::Error,
    },

    /// The connection failed after it was established (reset, truncated body…).
    #[error("{endpoint}: connection failed")]
    Transport {
        endpoint: &'static str,
        #[source]
        source: reqwest::Error,
    },

    #[error(transparent)]
    Nonce(#[from] NonceError),

    /// The key's nonce file (see [`crate::nonce_store`]) cannot be created, locked, read or
    /// written, or holds something that is not a nonce. Never treated as "no last nonce": that
    /// could make the key's nonces go backwards.
    #[error("nonce file {}: {problem}", path.display())]
    NonceFile {
        path: PathBuf,
        problem: String,
        #[source]
        source: std::io::Error,
    },

    /// Another process (a `bfx` stopped, hung or busy) held the key's nonce file lock for longer
    /// than the request may wait. `pid` when the holder recorded it.
    #[error(
        "nonce file {}: another bfx process{} holds this key's lock; gave up after {waited:?} (requests for one key take turns machine-wide)",
        path.display(),
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    NonceLockHeld { path: PathBuf, pid: Option<u32>, waited: Duration },

    #[error("invalid URL {url:?}: {reason}")]
    Url { url: String, reason: String },

    /// A request the client refuses to send as asked (a bad currency name, a limit out of range).
    #[error("{endpoint}: invalid request: {reason}")]
    Query { endpoint: &'static str, reason: String },

    #[error("cannot set up the HTTP client")]
    Build(#[source] reqwest::Error),

    /// The WebSocket server refused `auth`:
    /// `{"event":"auth","status":"FAILED","code":10100,"msg":"apikey: invalid"}`. Bitfinex sends
    /// the same `10100 "apikey: invalid"` for an unknown key and for a wrong signature.
    #[error("WebSocket auth refused: {}", coded(*code, message))]
    WsAuth { code: Option<i64>, message: String },

    /// A WebSocket connection could not be opened, broke, or had to be given up.
    #[error(transparent)]
    Socket(#[from] SocketError),
}

/// How a WebSocket connection could not be opened or was lost. Each message is whole on its own,
/// its cause included (a stream's status is one line), so no variant has a `source()`. None
/// holds a secret: WebSocket URLs have none.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SocketError {
    #[error("invalid WebSocket URL {url:?}: {reason}")]
    Url { url: String, reason: String },

    /// TCP could not connect (refused, unreachable, unknown host…).
    #[error("cannot connect to {url}: {cause}")]
    Connect { url: String, cause: std::io::Error },

    #[error("cannot set up TLS for {url}: {cause}")]
    TlsSetup { url: String, cause: String },

    #[error("TLS handshake with {url} failed: {cause}")]
    TlsHandshake { url: String, cause: std::io::Error },

    /// The HTTP upgrade to a WebSocket failed; `status` when the server answered with one.
    #[error("WebSocket upgrade at {url} refused: {cause}")]
    Upgrade { url: String, status: Option<u16>, cause: String },

    /// TCP, TLS and the upgrade took longer than the connect timeout.
    #[error("no WebSocket connection to {url} within {limit:?}")]
    ConnectTimeout { url: String, limit: Duration },

    #[error("no reply to auth within {limit:?}")]
    AuthTimeout { limit: Duration },

    /// Two heartbeat intervals without any frame: the connection is taken for dead.
    #[error("no message or heartbeat for {silence:?}")]
    Silent { silence: Duration },

    /// The server sent a close frame (`code` and `reason` when it said them).
    #[error("the server closed the connection{}{}", close_detail(*code, reason), before_auth(*awaiting_auth))]
    Closed { code: Option<u16>, reason: String, awaiting_auth: bool },

    /// The connection ended without a close frame.
    #[error("the connection ended{}", before_auth(*awaiting_auth))]
    Ended { awaiting_auth: bool },

    /// Reading failed (a reset, a protocol violation…).
    #[error("the connection failed{}: {cause}", before_auth(*awaiting_auth))]
    Broken { cause: String, awaiting_auth: bool },

    #[error("cannot send to the WebSocket: {cause}")]
    Send { cause: String },

    #[error("a write to the WebSocket did not complete within {limit:?}")]
    SendTimeout { limit: Duration },

    /// Bitfinex announced a restart (`info` code 20051): connect again.
    #[error("Bitfinex is restarting (info 20051)")]
    Restarting,

    /// A `subscribe` was answered "already subscribed" (`10301`) on a channel we were never told
    /// of: the connection is started afresh.
    #[error("the server had {symbol} subscribed already ({})", coded(Some(ALREADY_SUBSCRIBED), message))]
    AlreadySubscribed { symbol: String, message: String },
}

/// `20051` (an `info` code): the server is stopping or restarting; reconnect.
pub(crate) const INFO_RESTART: i64 = 20051;
/// `10301` (an `error` code): already subscribed.
pub(crate) const ALREADY_SUBSCRIBED: i64 = 10301;

impl SocketError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            SocketError::Url { .. } | SocketError::TlsSetup { .. } => ErrorKind::Config,
            SocketError::Upgrade { status: Some(500..), .. } | SocketError::Restarting => {
                ErrorKind::Unavailable
            }
            SocketError::AlreadySubscribed { .. } => ErrorKind::Protocol,
            SocketError::Connect { .. }
            | SocketError::TlsHandshake { .. }
            | SocketError::Upgrade { .. }
            | SocketError::ConnectTimeout { .. }
            | SocketError::AuthTimeout { .. }
            | SocketError::Silent { .. }
            | SocketError::Closed { .. }
            | SocketError::Ended { .. }
            | SocketError::Broken { .. }
            | SocketError::Send { .. }
            | SocketError::SendTimeout { .. } => ErrorKind::Network,
        }
    }

    /// Bitfinex's code, when the exchange sent one.
    pub fn code(&self) -> Option<i64> {
        match self {
            SocketError::Restarting => Some(INFO_RESTART),
            SocketError::AlreadySubscribed { .. } => Some(ALREADY_SUBSCRIBED),
            _ => None,
        }
    }
}

/// `, Retry-After 3600 s taken as 120 s` when the server asked for a block beyond the range.
fn clamp_note(applied: Option<Duration>, sent: Option<u64>) -> String {
    match (applied, sent) {
        (Some(applied), Some(sent)) => {
            format!(", Retry-After {sent} s is beyond any documented block; taken as {} s", applied.as_secs())
        }
        _ => String::new(),
    }
}

/// `10100 "apikey: invalid"`, or the message alone when there is no code.
fn coded(code: Option<i64>, message: &str) -> String {
    match code {
        Some(code) => format!("{code} {message:?}"),
        None => format!("{message:?}"),
    }
}

fn close_detail(code: Option<u16>, reason: &str) -> String {
    match (code, reason) {
        (None, "") => String::new(),
        (Some(code), "") => format!(" ({code})"),
        (Some(code), reason) => format!(" ({code} {reason:?})"),
        (None, reason) => format!(" ({reason:?})"),
    }
}

fn before_auth(awaiting_auth: bool) -> &'static str {
    if awaiting_auth { " before the auth reply" } else { "" }
}

/// What kind of failure an [`Error`] is: what the caller should tell the user and whether trying
/// again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Unknown key or bad signature.
    Auth,
    /// The key lacks a permission.
    Permission,
    /// The exchange saw a nonce not above the last one it accepted for the key, the key's nonces
    /// are exhausted.
    Nonce,
    RateLimited,
    /// Maintenance, "not ready", proxies' 5xx pages.
    Unavailable,
    /// Could not connect, timed out, or the connection broke.
    Network,
    /// Bad parameters, or a response we cannot read: a bug on one side.
    Protocol,
    /// Bad URL or client setup, or an unusable local file (a nonce file or its directory).
    Config,
    /// Any other exchange error.
    Exchange,
}

impl ErrorKind {
    /// The stable name used in machine-readable output (`bfx balances --json` error objects).
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Auth => "auth",
            ErrorKind::Permission => "permission",
            ErrorKind::Nonce => "nonce",
            ErrorKind::RateLimited => "rate_limit",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Network => "network",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Config => "config",
            ErrorKind::Exchange => "exchange",
        }
    }
}

impl Error {
    /// This error as a portfolio records it: Bitfinex's code and message when it sent them
    /// (otherwise what failed), and the kind's [`ErrorKind::name`].
    pub fn account_error(&self) -> AccountError {
        AccountError {
            code: self.code(),
            message: self.exchange_message().map_or_else(|| self.to_string(), str::to_owned),
            kind: self.kind().name().to_owned(),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Api { code, message, .. } => exchange_error_kind(*code, message),
            Error::RateLimited { .. } => ErrorKind::RateLimited,
            Error::Http { status, .. } if *status >= 500 => ErrorKind::Unavailable,
            Error::Http { .. } | Error::Parse { .. } | Error::BodyTooLarge { .. } => ErrorKind::Protocol,
            Error::Timeout { .. } | Error::Connect { .. } | Error::Transport { .. } => ErrorKind::Network,
            Error::Nonce(_) => ErrorKind::Nonce,
            // A local file problem: the user fixes it here, not on Bitfinex.
            Error::NonceFile { .. } => ErrorKind::Config,
            // Busy, not broken: trying again once the other process is done succeeds.
            Error::NonceLockHeld { .. } => ErrorKind::Unavailable,
            Error::Url { .. } | Error::Query { .. } | Error::Build(_) | Error::Redirect { .. } => {
                ErrorKind::Config
            }
            Error::WsAuth { code, message } => ws_auth_kind(*code, message),
            Error::Socket(socket) => socket.kind(),
        }
    }

    /// The endpoint the failed request was for, e.g. `auth/r/wallets`.
    pub fn endpoint(&self) -> Option<&'static str> {
        match self {
            Error::Api { endpoint, .. }
            | Error::RateLimited { endpoint, .. }
            | Error::Http { endpoint, .. }
            | Error::Redirect { endpoint, .. }
            | Error::Parse { endpoint, .. }
            | Error::BodyTooLarge { endpoint, .. }
            | Error::Query { endpoint, .. }
            | Error::Timeout { endpoint, .. }
            | Error::Connect { endpoint, .. }
            | Error::Transport { endpoint, .. } => Some(endpoint),
            Error::Nonce(_)
            | Error::NonceFile { .. }
            | Error::NonceLockHeld { .. }
            | Error::Url { .. }
            | Error::Build(_)
            | Error::WsAuth { .. }
            | Error::Socket(_) => None,
        }
    }

    /// Bitfinex's code, when the exchange sent one: an error code (REST or WebSocket), or the
    /// `info` code 20051 of a restart that ended a WebSocket connection.
    pub fn code(&self) -> Option<i64> {
        match self {
            Error::Api { code, .. } => Some(*code),
            Error::WsAuth { code, .. } => *code,
            Error::Socket(socket) => socket.code(),
            _ => None,
        }
    }

    /// Bitfinex's message (or the closest thing to one), for machine-readable output.
    pub fn exchange_message(&self) -> Option<&str> {
        match self {
            Error::Api { message, .. }
            | Error::RateLimited { message, .. }
            | Error::WsAuth { message, .. }
            | Error::Socket(SocketError::AlreadySubscribed { message, .. }) => Some(message),
            _ => None,
        }
    }
}

/// The [`ErrorKind`] of a refused WebSocket `auth`. The Node client also looks for "nonce" in the
/// message.
fn ws_auth_kind(code: Option<i64>, message: &str) -> ErrorKind {
    match code {
        _ if message.contains("nonce") => ErrorKind::Nonce,
        Some(code) => exchange_error_kind(code, message),
        None => ErrorKind::Exchange,
    }
}

/// The [`ErrorKind`] of a Bitfinex error code and message (REST bodies and WebSocket replies).
pub(crate) fn exchange_error_kind(code: i64, message: &str) -> ErrorKind {
    match classify(code, message) {
        ExchangeErrorKind::Auth => ErrorKind::Auth,
        ExchangeErrorKind::Permission => ErrorKind::Permission,
        ExchangeErrorKind::Nonce => ErrorKind::Nonce,
        ExchangeErrorKind::RateLimit => ErrorKind::RateLimited,
        ExchangeErrorKind::Unavailable => ErrorKind::Unavailable,
        ExchangeErrorKind::Params => ErrorKind::Protocol,
        _ => ErrorKind::Exchange,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws_auth(code: Option<i64>, message: &str) -> Error {
        Error::WsAuth { code, message: message.to_owned() }
    }

    #[test]
    fn a_refused_websocket_auth_keeps_the_code_and_message() {
        let refused = ws_auth(Some(10100), "apikey: invalid");
        assert_eq!((refused.kind(), refused.code()), (ErrorKind::Auth, Some(10100)));
        assert_eq!(refused.exchange_message(), Some("apikey: invalid"));
        assert_eq!(refused.endpoint(), None);
        assert_eq!(refused.to_string(), r#"WebSocket auth refused: 10100 "apikey: invalid""#);
        assert_eq!(ws_auth(Some(10114), "nonce: small").kind(), ErrorKind::Nonce);
        // The Node client's rule: "nonce" in the message is a nonce failure, whatever the code.
        assert_eq!(ws_auth(Some(10001), "nonce: too big").kind(), ErrorKind::Nonce);
        assert_eq!(ws_auth(Some(10001), "api_key: permission invalid").kind(), ErrorKind::Permission);
        let uncoded = ws_auth(None, "who knows");
        assert_eq!((uncoded.kind(), uncoded.code()), (ErrorKind::Exchange, None));
        assert_eq!(uncoded.to_string(), r#"WebSocket auth refused: "who knows""#);
    }

    #[test]
    fn socket_failures_say_how_and_what_kind() {
        let closed = |code, reason: &str, awaiting_auth| {
            Error::from(SocketError::Closed { code, reason: reason.to_owned(), awaiting_auth }).to_string()
        };
        assert_eq!(
            closed(Some(1001), "going away", false),
            r#"the server closed the connection (1001 "going away")"#
        );
        assert_eq!(closed(Some(1000), "", false), "the server closed the connection (1000)");
        assert_eq!(closed(None, "", true), "the server closed the connection before the auth reply");
        let ended = Error::from(SocketError::Ended { awaiting_auth: true });
        assert_eq!(ended.to_string(), "the connection ended before the auth reply");
        assert_eq!((ended.kind(), ended.code()), (ErrorKind::Network, None));
        let restarting = Error::from(SocketError::Restarting);
        assert_eq!((restarting.kind(), restarting.code()), (ErrorKind::Unavailable, Some(20051)));
        let upgrade = |status| SocketError::Upgrade { url: "ws://h/ws/2".into(), status, cause: "x".into() };
        assert_eq!(upgrade(Some(503)).kind(), ErrorKind::Unavailable);
        assert_eq!(upgrade(Some(404)).kind(), ErrorKind::Network);
        assert_eq!(upgrade(None).kind(), ErrorKind::Network);
        let url = SocketError::Url { url: "http://h".into(), reason: "the scheme must be ws or wss".into() };
        assert_eq!(url.kind(), ErrorKind::Config);
        let dup = Error::from(SocketError::AlreadySubscribed {
            symbol: "tX".into(),
            message: "subscribe: dup".into(),
        });
        assert_eq!(
            (dup.kind(), dup.code(), dup.exchange_message()),
            (ErrorKind::Protocol, Some(10301), Some("subscribe: dup"))
        );
    }
}
