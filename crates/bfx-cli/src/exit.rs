//! Exit codes and the words for every failure: what happened (with Bitfinex's code and message),
//! and what to do about it. Classification uses error kinds and codes, never message text.

use std::process::ExitCode;

use bfx_client::{Error, ErrorKind, SocketError};

/// The documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    Unexpected = 1,
    Usage = 2,
    Auth = 3,
    Unavailable = 4,
    Partial = 5,
    /// Stopped by Ctrl-C (128 + SIGINT, as shells report it).
    Interrupted = 130,
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

/// Explains a client error, from a REST request or a WebSocket stream. `secret_source` names
/// where the account's secret came from (e.g. `BFX_API_SECRET`), for hints.
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
                "{} needs the key's \"{}\" read permission (endpoint {}); edit the key on Bitfinex (Account → API Keys), and keep it read-only",
                purpose(error.endpoint()),
                permission(error.endpoint()),
                endpoint(error)
            )),
        ),
        Error::Api { code, message, .. } if error.kind() == ErrorKind::Nonce => (
            format!("Bitfinex rejected the nonce as too small ({}: {code} {message})", endpoint(error)),
            Some(NONCE_HINT.into()),
        ),
        // Over the WebSocket, an unknown key and a wrong secret get the same answer.
        Error::WsAuth { code: Some(code @ 10100), message } => (
            format!("Bitfinex refused the API key or its signature (WebSocket auth: {code} {message})"),
            Some(format!(
                "Bitfinex answers this both for an unknown key and for a secret that does not belong to the key: \
                 check the key for typos, that it was not deleted or created on another account (Bitfinex → Account → API Keys), \
                 and that the secret belongs to it (check {secret_source})"
            )),
        ),
        Error::WsAuth { code, message } if error.kind() == ErrorKind::Nonce => (
            format!("Bitfinex rejected the nonce as too small (WebSocket auth: {})", coded(*code, message)),
            Some(NONCE_HINT.into()),
        ),
        Error::WsAuth { code, message } if error.kind() == ErrorKind::Permission => (
            format!("the API key lacks a permission the account stream needs (WebSocket auth: {})", coded(*code, message)),
            Some("following balances needs the key's \"Wallets\" read permission; edit the key on Bitfinex, and keep it read-only".into()),
        ),
        Error::WsAuth { code, message } => {
            (format!("Bitfinex refused the WebSocket auth ({})", coded(*code, message)), None)
        }
        Error::Socket(socket) => (error.to_string(), socket_hint(socket)),
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
        Error::BodyTooLarge { endpoint, .. } => (
            error.to_string(),
            Some(format!(
                "no Bitfinex answer to {endpoint} is that large: check that the --api-url / --public-url settings \
                 (BFX_API_URL / BFX_PUBLIC_URL) point at Bitfinex, or at the emulator, and not at another server or a misbehaving proxy"
            )),
        ),
        Error::NonceLockHeld { path, pid, .. } => (
            error.to_string(),
            Some(match pid {
                Some(pid) => format!("another bfx process (pid {pid}) is using this key; wait for it, or stop it if it hangs"),
                None => format!(
                    "another bfx process is using this key (it holds the lock of {}); wait for it, or stop it if it hangs",
                    path.display()
                ),
            }),
        ),
        other => (other.to_string(), None),
    };
    Diagnosis { message, hint }
}

/// The permission an endpoint needs, as Bitfinex's API key screen names it (ACCOUNT INFO,
/// ACCOUNT HISTORY, ORDERS, MARGIN TRADING, MARGIN FUNDING, WALLETS, WITHDRAW).
pub fn permission(endpoint: Option<&str>) -> &'static str {
    match endpoint {
        Some(e) if e.starts_with("auth/r/ledgers") => "Account History",
        Some("auth/r/positions") => "Margin Trading",
        Some("auth/r/info/user") => "Account Info",
        _ => "Wallets",
    }
}

/// What the endpoint is read for, in a hint.
fn purpose(endpoint: Option<&str>) -> &'static str {
    match endpoint {
        Some(e) if e.starts_with("auth/r/ledgers") => "reading the ledger (bfx history)",
        Some("auth/r/positions") => "reading open positions",
        Some("auth/r/info/user") => "reading the account's name",
        _ => "reading balances",
    }
}

const NONCE_HINT: &str = "this key has already been used with larger nonces, most likely by another program using the same key \
    (some tools count in milliseconds, bfx in microseconds, but once a key has seen a larger nonce, smaller ones fail for good); \
    give each program its own API key";

/// What to do when a WebSocket connection cannot be had; nothing when bfx copes by itself
/// (it reconnects, and polls REST meanwhile).
fn socket_hint(socket: &SocketError) -> Option<String> {
    let setting = "check the --ws-url / BFX_WS_URL setting";
    match socket {
        SocketError::Url { .. } | SocketError::TlsSetup { .. } => Some(setting.into()),
        SocketError::Connect { .. } => Some("check the network, or the --ws-url / BFX_WS_URL setting".into()),
        SocketError::Upgrade { status: Some(500..), .. } => {
            Some("the exchange or a proxy in front of it is having trouble; try again shortly".into())
        }
        SocketError::Upgrade { status: Some(_), .. } => {
            Some(format!("that URL answers HTTP but is not a WebSocket endpoint: {setting}"))
        }
        _ => None,
    }
}

fn endpoint(error: &Error) -> &'static str {
    error.endpoint().unwrap_or("request")
}

/// `10100 apikey: invalid`, or the message alone.
fn coded(code: Option<i64>, message: &str) -> String {
    match code {
        Some(code) => format!("{code} {message}"),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ws_auth(code: i64, message: &str) -> Error {
        Error::WsAuth { code: Some(code), message: message.to_owned() }
    }

    #[test]
    fn a_refused_websocket_auth_is_explained_like_a_rest_refusal() {
        let d = diagnose(&ws_auth(10100, "apikey: invalid"), "BFX_MAIN_SECRET");
        assert_eq!(
            d.message,
            "Bitfinex refused the API key or its signature (WebSocket auth: 10100 apikey: invalid)"
        );
        // Both causes, since the WebSocket does not tell them apart; the secret's source named.
        let hint = d.hint.unwrap();
        assert!(hint.contains("check the key for typos") && hint.contains("BFX_MAIN_SECRET"), "{hint}");
        // A nonce refusal gets the very hint `bfx balances` gives for REST's.
        let rest = Error::Api {
            endpoint: "auth/r/wallets",
            status: 500,
            code: 10114,
            message: "nonce: small".into(),
        };
        let (ws, rest) = (diagnose(&ws_auth(10114, "nonce: small"), "S"), diagnose(&rest, "S"));
        assert_eq!(
            ws.message,
            "Bitfinex rejected the nonce as too small (WebSocket auth: 10114 nonce: small)"
        );
        assert_eq!((ws.hint.as_deref(), rest.hint.is_some()), (rest.hint.as_deref(), true));
        let permission = diagnose(&ws_auth(10001, "api_key: permission invalid"), "S");
        assert!(permission.message.starts_with("the API key lacks a permission"), "{permission:?}");
        let other = diagnose(&Error::WsAuth { code: None, message: "auth: dup".into() }, "S");
        assert_eq!(
            (other.message.as_str(), other.hint),
            ("Bitfinex refused the WebSocket auth (auth: dup)", None)
        );
    }

    #[test]
    fn socket_failures_say_what_happened_and_what_to_do_when_anything_helps() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let connect = Error::Socket(SocketError::Connect { url: "ws://h:1/ws/2".into(), cause: refused });
        let d = diagnose(&connect, "S");
        assert!(d.message.starts_with("cannot connect to ws://h:1/ws/2: "), "{d:?}");
        assert_eq!(d.hint.as_deref(), Some("check the network, or the --ws-url / BFX_WS_URL setting"));
        let upgrade = |status| {
            Error::Socket(SocketError::Upgrade { url: "ws://h/x".into(), status, cause: "HTTP error".into() })
        };
        assert!(diagnose(&upgrade(Some(404)), "S").hint.unwrap().contains("not a WebSocket endpoint"));
        assert!(diagnose(&upgrade(Some(502)), "S").hint.unwrap().contains("try again shortly"));
        // bfx reconnects by itself: nothing for the user to do.
        let silent = Error::Socket(SocketError::Silent { silence: Duration::from_secs(30) });
        assert_eq!(
            diagnose(&silent, "S"),
            Diagnosis { message: "no message or heartbeat for 30s".into(), hint: None }
        );
    }

    #[test]
    fn a_missing_permission_names_the_one_the_endpoint_needs() {
        let refused = |endpoint| Error::Api {
            endpoint,
            status: 500,
            code: 10001,
            message: "api_key: permission invalid".into(),
        };
        let hint = |endpoint| diagnose(&refused(endpoint), "S").hint.unwrap();
        assert!(hint("auth/r/ledgers/hist").contains("\"Account History\" read permission"));
        assert!(hint("auth/r/ledgers/hist").starts_with("reading the ledger (bfx history)"));
        assert!(hint("auth/r/positions").contains("\"Margin Trading\" read permission"));
        assert!(hint("auth/r/wallets").contains("\"Wallets\" read permission"));
        assert!(hint("auth/r/info/user").contains("\"Account Info\" read permission"));
    }

    /// A nonce file problem is local (a link, a wrong mode, a bad value): exit 2, not the 3 of
    /// a key Bitfinex refused; another process holding the key's lock is "try again": exit 4.
    #[test]
    fn local_nonce_file_problems_are_config_errors() {
        let file = Error::NonceFile {
            path: "/n".into(),
            problem: "is a symbolic link".into(),
            source: std::io::Error::other("x"),
        };
        assert_eq!((file.kind().name(), Exit::for_kind(file.kind())), ("config", Exit::Usage));
        let held = Error::NonceLockHeld { path: "/n".into(), pid: Some(7), waited: Duration::from_secs(15) };
        assert_eq!((held.kind().name(), Exit::for_kind(held.kind())), ("unavailable", Exit::Unavailable));
    }

    #[test]
    fn a_held_nonce_lock_names_the_process_to_wait_for() {
        let held =
            |pid| Error::NonceLockHeld { path: "/s/nonces/k".into(), pid, waited: Duration::from_secs(15) };
        let d = diagnose(&held(Some(4242)), "S");
        assert_eq!(d.message, held(Some(4242)).to_string());
        assert_eq!(
            d.hint.as_deref(),
            Some("another bfx process (pid 4242) is using this key; wait for it, or stop it if it hangs")
        );
        // Without a recorded pid, the lock file says where to look.
        let hint = diagnose(&held(None), "S").hint.unwrap();
        assert!(
            hint.starts_with("another bfx process is using this key") && hint.contains("/s/nonces/k"),
            "{hint}"
        );
    }

    #[test]
    fn a_body_too_large_points_at_the_url_settings() {
        let error = Error::BodyTooLarge { endpoint: "auth/r/wallets", limit: 2 << 20 };
        let d = diagnose(&error, "S");
        assert_eq!(d.message, error.to_string());
        let hint = d.hint.unwrap();
        assert!(hint.starts_with("no Bitfinex answer to auth/r/wallets is that large"), "{hint}");
        assert!(hint.contains("BFX_API_URL") && hint.contains("BFX_PUBLIC_URL"), "{hint}");
    }
}
