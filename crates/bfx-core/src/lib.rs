//! Pure Bitfinex v2 logic shared by the bfx client and the bfx emulator.
//!
//! Nothing here performs I/O, reads a clock or spawns tasks: time and bytes are inputs, so every
//! function is tested without a network or a clock.
//!
//! # Layout
//! - [`sign`]: HMAC-SHA384 request signatures (`/api/` + path + nonce + body).
//! - [`nonce`]: the nonce type and the pure "next nonce" rule.
//! - [`number`]: exact decimals from JSON number text (never through `f64`).
//! - [`wallet`], [`position`], [`permission`], [`ticker`], [`user`]: positional wire rows and their
//!   parsers.
//! - [`wire_error`]: error bodies (`["error", code, "msg"]`, rate limits, HTML) and their meaning.
//! - [`candle`]: daily (and other) candles, `[MTS, OPEN, CLOSE, HIGH, LOW, VOLUME]`, and UTC days.
//! - [`ledger`]: ledger entries, their wallet and their category (derived from the description).
//! - [`parse`]: the parse error every parser returns, naming row and field.
//! - [`valuation`]: the price graph: routes from a currency to a quote through tickers; exact
//!   `Decimal` prices.
//! - [`portfolio`]: holdings valued: per wallet, per account, per asset, positions, totals.

pub mod candle;
pub mod conf;
pub mod ledger;
pub mod nonce;
pub mod number;
pub mod parse;
pub mod permission;
pub mod portfolio;
pub mod position;
pub mod sign;
pub mod ticker;
pub mod user;
pub mod valuation;
pub mod wallet;
pub mod wire_error;

pub use candle::{Candle, parse_candles};
pub use ledger::{Category, LedgerEntry, PageCut, cut_page, parse_ledgers};
pub use nonce::{Nonce, NonceError, next_nonce};
pub use number::{format_decimal, parse_json_number};
pub use parse::ParseError;
pub use permission::Permission;
pub use permission::parse_permissions;
pub use portfolio::{Portfolio, Valuation};
pub use position::{Position, parse_positions};
pub use ticker::{FundingTicker, Ticker, TradingTicker};
pub use ticker::{parse_tickers, parse_trading_ticker};
pub use user::UserInfo;
pub use user::parse_user_info;
pub use valuation::{Market, Price, PriceKind, Quoter, UnknownPriceKind, Unpriced, is_paper, pair_symbol};
pub use wallet::parse_wallets;
pub use wallet::{WalletRow, WalletType};
pub use wire_error::{ErrorBody, ExchangeErrorKind, classify, parse_error_body};
