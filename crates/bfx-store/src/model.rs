//! The values the store takes and returns, besides [`bfx_core::ledger::LedgerEntry`] itself.

use bfx_core::ledger::{Category, LedgerEntry};
use rust_decimal::Decimal;

/// A closed interval of milliseconds `from_mts..=to_mts` whose ledger entries are all stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Covered {
    /// First millisecond, inclusive.
    pub from_mts: i64,
    /// Last millisecond, inclusive.
    pub to_mts: i64,
}

/// A millisecond of an account whose entries a sync could not prove complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// The account's name.
    pub account: String,
    /// The millisecond.
    pub mts: i64,
    /// Why (for `bfx history check`).
    pub reason: String,
}

/// What the store holds for one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSummary {
    /// The account's name.
    pub account: String,
    /// Number of stored ledger entries.
    pub entries: u64,
    /// MTS of the oldest entry; `None` without entries.
    pub oldest_mts: Option<i64>,
    /// MTS of the newest entry; `None` without entries.
    pub newest_mts: Option<i64>,
}

/// One wallet's balance at a time: that of its latest entry at or before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBalance {
    /// The account's name.
    pub account: String,
    /// Lower-case wallet name.
    pub wallet: String,
    /// Currency (`BTC`, `UST`).
    pub currency: String,
    /// The wallet's balance after the entry (may be zero).
    pub balance: Decimal,
    /// MTS of the entry the balance comes from.
    pub mts: i64,
    /// Id of that entry.
    pub id: i64,
}

/// The order [`crate::Store::entries`] returns entries in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// By account, then time (mts, id).
    #[default]
    Time,
    /// By account, wallet, currency, then time: each balance chain in a row (for checks that
    /// every entry's balance is the previous one plus its amount).
    Chain,
}

/// Which entries [`crate::Store::entries`] returns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntryQuery {
    /// These accounts; empty means all.
    pub accounts: Vec<String>,
    /// From this millisecond on, inclusive.
    pub from_mts: Option<i64>,
    /// Up to this millisecond, inclusive.
    pub to_mts: Option<i64>,
    /// The order.
    pub order: Order,
}

/// A stored ledger entry with its account and stored category.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredEntry {
    /// The account's name.
    pub account: String,
    /// The entry as received.
    pub entry: LedgerEntry,
    /// The category derived from its description when it was stored; `None` when unknown.
    pub category: Option<Category>,
}

/// A closed range of UTC days, `from_day..=to_day`, each given by its start in milliseconds
/// (00:00 UTC, a multiple of [`bfx_core::candle::DAY_MS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DayRange {
    /// First day, inclusive.
    pub from_day: i64,
    /// Last day, inclusive.
    pub to_day: i64,
}

impl DayRange {
    /// How many days it holds.
    pub fn days(&self) -> i64 {
        (self.to_day - self.from_day) / bfx_core::candle::DAY_MS + 1
    }
}
