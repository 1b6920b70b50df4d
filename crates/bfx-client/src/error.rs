//! The client's error type. Every variant names the endpoint; exchange errors keep Bitfinex's code
//! and message; unreadable responses keep the HTTP status and the first bytes of the body. No
//! variant ever holds a secret.

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
    #[error("{endpoint}: rate limited by Bitfinex (HTTP {status}, {message:?})")]
    RateLimited { endpoint: &'static str, status: u16, message: String, retry_after: Option<Duration> },

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

    #[error("invalid URL {url:?}: {reason}")]
    Url { url: String, reason: String },

    #[error("cannot set up the HTTP client")]
    Build(#[source] reqwest::Error),
}

/// What kind of failure an [`Error`] is: what the caller should tell the user and whether trying
/// again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Unknown key or bad signature.
    Auth,
    /// The key lacks a permission.
    Permission,
    /// The exchange saw a nonce not above the last one it accepted for the key, the key's nonces
    /// are exhausted, or its nonce file is unusable.
    Nonce,
    RateLimited,
    /// Maintenance, "not ready", proxies' 5xx pages.
    Unavailable,
    /// Could not connect, timed out, or the connection broke.
    Network,
    /// Bad parameters, or a response we cannot read: a bug on one side.
    Protocol,
    /// Bad URL or client setup.
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
            Error::Http { .. } | Error::Parse { .. } => ErrorKind::Protocol,
            Error::Timeout { .. } | Error::Connect { .. } | Error::Transport { .. } => ErrorKind::Network,
            Error::Nonce(_) | Error::NonceFile { .. } => ErrorKind::Nonce,
            Error::Url { .. } | Error::Build(_) | Error::Redirect { .. } => ErrorKind::Config,
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
            | Error::Timeout { endpoint, .. }
            | Error::Connect { endpoint, .. }
            | Error::Transport { endpoint, .. } => Some(endpoint),
            Error::Nonce(_) | Error::NonceFile { .. } | Error::Url { .. } | Error::Build(_) => None,
        }
    }

    /// Bitfinex's error code, when the exchange sent one.
    pub fn code(&self) -> Option<i64> {
        match self {
            Error::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Bitfinex's message (or the closest thing to one), for machine-readable output.
    pub fn exchange_message(&self) -> Option<&str> {
        match self {
            Error::Api { message, .. } | Error::RateLimited { message, .. } => Some(message),
            _ => None,
        }
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
