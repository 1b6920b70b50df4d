//! bfx history: the Bitfinex ledger kept locally, in SQLite (embedded, the default) or in
//! PostgreSQL (a team sharing one history), through one code path.
//!
//! Every balance change is a ledger entry carrying the wallet's balance after it, so the synced
//! ledger answers "what did I hold at time T" and "what did I earn, pay, move". The store keeps
//! entries exact (decimal text in SQLite, `NUMERIC` in PostgreSQL, never a float), unique per
//! account and id, together with the intervals known to be completely stored and the
//! milliseconds a sync could not prove complete; and snapshots of the valued portfolio taken by
//! `bfx serve --snapshot-every`, so value over time has points between ledger entries.
//!
//! # Layout
//! - [`store`]: [`Store`]: open (create, migrate), backend, the account lock.
//! - [`write`](mod@write): [`Store::store_page`], [`Store::record_gap`], [`Store::delete_entry`],
//!   [`Store::store_snapshot`].
//! - [`read`]: [`Store::coverage`], [`Store::gaps`], [`Store::accounts`],
//!   [`Store::balances_at`], [`Store::entries`], [`Store::snapshots`].
//! - [`snapshot`]: [`AccountSnapshot`]: an account's valued wallets at a moment, taken from the
//!   live model; [`periodic`]: written on a schedule, failures counted, never fatal.
//! - [`lock`]: [`AccountLock`]: a file lock beside SQLite, an advisory lock in PostgreSQL.
//! - [`location`]: [`Location`], [`Backend`]; the PostgreSQL password is never shown.
//! - [`model`]: the values taken and returned.
//! - `schema`: the versioned migrations; `dialect`: the few spellings that differ; `bulk`: many
//!   rows read ahead of their consumer (by SQLite itself from a SQLite file); `intervals`: the
//!   merged intervals known complete (ledger coverage, candle coverage).
//! - [`sync`]: [`sync::sync_account`]: an account's ledger from Bitfinex into the store, resumable.
//! - [`candle_cache`]: [`Store::store_candles`], [`Store::closes`], [`Store::candle_gaps`],
//!   [`Store::candle_coverage`]: daily candles of trading pairs and the days known complete.
//! - [`candles`]: [`candles::sync_candles`]: prices over time from Bitfinex into the store,
//!   only the days not yet stored.
//! - [`history`]: the questions answered from it (sums by category group, the balance chain
//!   and the wallets checked), and the dates users give.
//! - [`error`]: the error type, [`StoreError`].
//! - `test_support` (feature `test-support`): a throwaway PostgreSQL server for tests.

mod bulk;
pub mod candle_cache;
pub mod candles;
mod dialect;
pub mod error;
pub mod history;
mod intervals;
pub mod location;
pub mod lock;
pub mod model;
pub mod periodic;
pub mod read;
mod schema;
pub mod snapshot;
pub mod store;
pub mod sync;
#[cfg(feature = "test-support")]
pub mod test_support;
pub mod value;
pub mod write;

pub use candles::{CandleProgress, CandleSyncError, sync_candles};
pub use error::StoreError;
pub use location::{Backend, Location};
pub use lock::AccountLock;
pub use model::{AccountSummary, Covered, DayRange, EntryQuery, Gap, Order, StoredBalance, StoredEntry};
pub use periodic::{Every, SnapshotCounts};
pub use snapshot::{AccountSnapshot, WalletSnapshot};
pub use store::{DEFAULT_LOCK_WAIT, Store};
pub use sync::{Progress, SyncError, Synced, sync_account};
