//! Talking to Bitfinex: signed REST requests with nonces that never go backwards, timeouts, and
//! errors that keep the exchange's code and message.
//!
//! # Layout
//! - [`endpoints`]: the three base URLs, configurable so the client can be pointed at `bfx sim`.
//! - [`credentials`]: an API key and its secret (a [`secrecy::SecretString`], never printed).
//! - [`nonce`]: one nonce source per key; requests for one key are serialised on the wire.
//! - [`client`]: [`Client`] and its builder: `wallets`, `permissions`, `user_info`, `tickers`.
//! - [`error`]: [`Error`] and its [`ErrorKind`], which callers map to messages and exit codes.

pub mod client;
pub mod credentials;
pub mod endpoints;
pub mod error;
pub mod nonce;

pub use client::{Client, ClientBuilder, Symbols};
pub use credentials::Credentials;
pub use endpoints::Endpoints;
pub use error::{Error, ErrorKind};

/// Installs rustls' `ring` crypto provider as the process default, if none is installed yet.
///
/// [`ClientBuilder::build`] calls this; binaries may call it first thing in `main`.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another thread installing one is fine: a provider is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
