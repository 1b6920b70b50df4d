//! Talking to Bitfinex: signed REST requests with nonces that never go backwards (shared by every
//! process on the machine), Bitfinex's rate limits kept on the client side, retries of transient
//! failures, timeouts, and errors that keep the exchange's code and message.
//!
//! # Layout
//! - [`endpoints`]: the three base URLs, configurable so the client can be pointed at `bfx sim`.
//! - [`credentials`]: an API key and its secret (a [`secrecy::SecretString`], never printed).
//! - [`nonce`]: one nonce slot per key; requests for one key are serialised on the wire.
//! - [`nonce_store`]: nonce files shared by every process on the machine, one per key, locked.
//! - [`limiter`]: client-side rate limits (sliding-window log per endpoint) and 429 blocks.
//! - [`retry`]: which failures are retried, and the backoff.
//! - [`client`]: [`Client`]: `wallets`, `positions`, `ledgers`, `permissions`, `user_info`, `tickers`,
//!   `conf_maps`, `platform_status`; [`builder`]: [`ClientBuilder`].
//! - [`candles`]: [`Client::candles`]: a page of a pair's candles ([`CandleQuery`]), oldest first.
//! - [`counters`]: requests sent, by endpoint and outcome ([`Client::request_counts`]).
//! - [`portfolio`]: `market`, `holdings` of many accounts at once, and `portfolio`: them valued.
//! - [`stream`]: [`AccountStream`]: one key's wallet changes over the WebSocket, reconnecting,
//!   with REST snapshots and polling; [`TickerStream`]: public tickers of chosen pairs, live.
//! - [`live`]: [`live::Model`]: followed accounts and the market, valued as `bfx balances` values
//!   them (what `bfx watch` shows and `bfx serve` serves).
//! - [`feeds`]: the tasks that keep a live model current (streams, market, positions).
//! - [`error`]: [`Error`] (WebSocket failures: [`SocketError`]) and its [`ErrorKind`], which callers
//!   map to messages and exit codes.

pub mod builder;
pub mod candles;
pub mod client;
pub mod counters;
pub mod credentials;
pub mod endpoints;
pub mod error;
pub mod feeds;
pub mod limiter;
pub mod live;
pub mod nonce;
pub mod nonce_store;
pub mod portfolio;
pub mod retry;
pub mod stream;

pub use bfx_core::candle::Timeframe;
pub use builder::ClientBuilder;
pub use candles::CandleQuery;
pub use client::{Client, LedgerQuery, Symbols};
pub use counters::RequestCount;
pub use credentials::Credentials;
pub use endpoints::Endpoints;
pub use error::{Error, ErrorKind, SocketError};
pub use limiter::{RateLimits, WaitEvent, WaitReason};
pub use nonce_store::NonceStore;
pub use portfolio::{Account, AccountHoldings};
pub use retry::{RetryDecision, RetryPolicy, retry_decision};
pub use stream::{
    AccountStream, StreamEvent, StreamOptions, StreamState, TICKER_CHANNELS, TickerEvent, TickerStream,
};

/// Installs rustls' `ring` crypto provider as the process default, if none is installed yet.
///
/// [`ClientBuilder::build`] calls this; binaries may call it first thing in `main`.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another thread installing one is fine: a provider is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
