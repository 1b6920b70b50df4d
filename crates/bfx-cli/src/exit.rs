//! Exit codes and the words for every failure: what happened (with Bitfinex's code and message),
//! and what to do about it. Classification uses error kinds and codes, never message text.

use std::process::ExitCode;

use bfx_client::{Error, ErrorKind};

/// The documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    Unexpected = 1,
    Usage = 2,
    Auth = 3,
    Unavailable = 4,
    Partial = 5,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

impl Exit {
    pub fn for_kind(kind: ErrorKind) -> Exit {
        match kind {
            ErrorKind::Auth | ErrorKind::Permission | ErrorKind::Nonce => Exit::Auth,
            ErrorKind::RateLimited | ErrorKind::Unavailable | ErrorKind::Network => Exit::Unavailable,
            ErrorKind::Config => Exit::Usage,
            _ => Exit::Unexpected,
        }
    }
}

/// A failure explained for a person: one line saying what happened, and a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    pub message: String,
    pub hint: Option<String>,
}

/// Explains a client error. `secret_source` names where the account's secret came from
/// (e.g. `BFX_API_SECRET`), for hints.
pub fn diagnose(error: &Error, secret_source: &str) -> Diagnosis {
    let (message, hint) = match error {
        Error::Api { code: 10100, message, .. } if message.contains("digest") => (
            format!("Bitfinex rejected the request signature ({}: 10100 {message})", endpoint(error)),
            Some(format!(
                "the API secret does not belong to this API key: check {secret_source}. \
                 The system clock is not the cause (a clock or nonce problem is reported as 10114 nonce: small)."
            )),
        ),
        Error::Api { code: 10100, message, .. } => (
            format!("Bitfinex does not know this API key ({}: 10100 {message})", endpoint(error)),
            Some("check the key for typos, and that it was not deleted or created on another account (Bitfinex → Account → API Keys)".into()),
        ),
        Error::Api { code, message, .. } if error.kind() == ErrorKind::Permission => (
            format!("the API key lacks a permission this request needs ({}: {code} {message})", endpoint(error)),
            Some(format!(
                "reading balances needs the key's \"Wallets\" read permission (endpoint {}); edit the key on Bitfinex, and keep it read-only",
                endpoint(error)
            )),
        ),
        Error::Api { code, message, .. } if error.kind() == ErrorKind::Nonce => (
            format!("Bitfinex rejected the nonce as too small ({}: {code} {message})", endpoint(error)),
            Some("this key has already been used with larger nonces, most likely by another program using the same key \
                  (some tools count in milliseconds, bfx in microseconds, but once a key has seen a larger nonce, smaller ones fail for good); \
                  give each program its own API key".into()),
        ),
        Error::Api { code: 20060, message, .. } => (
            format!("Bitfinex is in maintenance ({}: 20060 {message})", endpoint(error)),
            Some("try again in a few minutes".into()),
        ),
        Error::Api { code, message, status, .. } => (
            format!("Bitfinex answered error {code} {message:?} (HTTP {status}, {})", endpoint(error)),
            None,
        ),
        Error::RateLimited { status, message, retry_after, .. } => (
            format!("rate limited by Bitfinex on {} (HTTP {status}, {message})", endpoint(error)),
            Some(match retry_after {
                Some(wait) => format!("Bitfinex blocks this IP on that endpoint for a while; retry after {} s", wait.as_secs()),
                None => "Bitfinex blocks this IP on that endpoint for 10–60 s; retry after a minute".into(),
            }),
        ),
        Error::Http { status, snippet, .. } => (
            format!("{} answered HTTP {status} with a body that is not a Bitfinex response: {snippet}", endpoint(error)),
            Some("the exchange or a proxy in front of it is having trouble; try again shortly".into()),
        ),
        Error::Redirect { status, location, .. } => (
            format!("{} answered HTTP {status}, a redirect to {location}; bfx does not follow redirects", endpoint(error)),
            Some("a redirect would carry your key and a signature elsewhere; check the --api-url / BFX_API_URL setting".into()),
        ),
        Error::Timeout { timeout, .. } => (
            format!("{}: no response within {} s", endpoint(error), timeout.as_secs_f32()),
            Some("the exchange is slow or unreachable; try again shortly".into()),
        ),
        Error::Connect { url, .. } => (
            format!("cannot connect to {url} ({})", endpoint(error)),
            Some("check the network, or the --api-url / BFX_API_URL setting".into()),
        ),
        other => (other.to_string(), None),
    };
    Diagnosis { message, hint }
}

fn endpoint(error: &Error) -> &'static str {
    error.endpoint().unwrap_or("request")
}
