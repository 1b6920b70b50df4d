//! bfx-sim: a faithful local emulator of the slice of Bitfinex API v2 that bfx, the official
//! Python client and ccxt use for balances, ledgers and candles, over REST and the WebSocket v2
//! endpoint.
//!
//! It verifies requests as strictly as the spec says (signature over the raw body bytes, per-key
//! nonces, permissions, per-IP per-endpoint rate limits) and answers in Bitfinex's shapes, with
//! amounts served verbatim from its state. `serve` takes a bound listener and a shutdown future;
//! `serve_with` also takes [`SimOptions`] (the admin token, WebSocket timings and limits, the
//! request head and body timeouts, the shutdown grace and the connection cap).
//!
//! # Layout
//! From the routes down to the state. No two files import each other, directly or in a loop: the
//! handlers reach each other only through `shared`, which imports none of them.
//! - [`server`](crate::serve): routes and `serve`, `serve_with`.
//! - `admin`: the admin API under `/sim/…` and who may use it; `admin_edit`, `admin_ticker`: its
//!   changes to wallets and tickers; `admin_ledger`: its bulk ledger generation; `ledger_text`:
//!   the descriptions ledger entries get; `ws::admin`: its WebSocket commands; `admin_reply`: the
//!   answers both share.
//! - `ws`: the WebSocket v2 endpoint `/ws/2` (auth, wallet pushes, ticker channel, heartbeats);
//!   `ws::hub`: the part of it the shared state holds.
//! - `auth`: the verification pipeline of `auth/…` requests.
//! - `shared`: the state every handler shares (the runtime behind one lock, counters, the hub).
//! - `fault`: injected faults and their queue; `connection`: connections a fault can cut short.
//! - `counters`: requests per endpoint, refusals per reason, faults per kind, WebSocket counts.
//! - `account`, `public`: the bodies of the authenticated and public endpoints; `ledgers`: the
//!   ledger endpoints' parameters and pages.
//! - `ledger`: each account's ledger (compact, sorted entries and their pages).
//! - `candles`: the candle endpoints' key, query and rows; `candle`: the candles a state holds
//!   (daily ones and the weeks and months built from them) and the UTC calendar.
//! - `reply`: responses and error bodies in Bitfinex's shapes.
//! - `rate_limit`: sliding-window budgets and blocks; `endpoint`: endpoint names and budgets.
//! - `state`: the emulated world and the demo state; `demo_history`: the demo's year of ledger
//!   history; `demo_candles`: the demo pairs' daily candles over that year; `state_file`: strict
//!   loading of state files (`state_file::position`: open positions; `state_file::candle`:
//!   candles; `state_file::check`: one value's checks).
//!

mod account;
mod admin;
mod admin_edit;
mod admin_ledger;
mod admin_reply;
mod admin_ticker;
mod auth;
mod candle;
mod candles;
mod connection;
mod counters;
mod demo_candles;
mod demo_history;
mod endpoint;
mod fault;
mod ledger;
mod ledger_text;
mod ledgers;
mod public;
mod rate_limit;
mod reply;
mod server;
mod shared;
mod state;
mod state_file;
mod ws;

pub use server::{SimOptions, serve, serve_with};
pub use state::{DEMO_STATE_TOML, DemoKey, SimState};
pub use state_file::StateError;
