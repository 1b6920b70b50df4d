//! The store's error type. Every variant says what failed and where (the database by its path or
//! `host:port/database`, the account, the entry id); none ever holds a PostgreSQL password: texts
//! that come from opening a connection are scrubbed of it (see [`crate::location`]).

use std::path::PathBuf;
use std::time::Duration;

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No home directory, so no default place for the SQLite file.
    #[error("cannot find the user's data directory for the default history database; set BFX_STORE_URL")]
    NoDataDir,

    /// A store location that is neither a path nor a `postgres://` URL.
    #[error("{location:?} is not a store location: give a file path or a postgres:// URL")]
    BadLocation { location: String },

    /// The database cannot be created or opened (directory, file, connection, authentication).
    #[error("cannot open the history database {target}: {problem}")]
    Open { target: String, problem: String },

    /// A schema migration failed, or the database was written by a newer bfx.
    #[error("history database {target}: migration {version} failed: {problem}")]
    Migration { target: String, version: i64, problem: String },

    /// Another process (or handle) holds the account's sync lock; waited `waited` for it.
    #[error(
        "account {account:?}: another sync holds its history lock{} (waited {waited:?}); try again when it is done",
        holder.as_deref().map(|h| format!(" ({h})")).unwrap_or_default()
    )]
    Locked { account: String, holder: Option<String>, waited: Duration },

    /// The lock file beside a SQLite database cannot be created or locked.
    #[error("account {account:?}: cannot use the lock file {path}: {source}")]
    LockFile {
        account: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A ledger entry arrived whose id is already stored with different content (or appears twice
    /// in one page with different content). Nothing of the page was stored.
    #[error(
        "account {account:?}: ledger entry {id} is already stored with different content (stored: {stored}; received: {received}); nothing of this page was stored"
    )]
    Conflict { account: String, id: i64, stored: String, received: String },

    /// A stored row holds something that is not what bfx wrote (an amount that is not an exact
    /// decimal, a category out of range).
    #[error(
        "account {account:?}: stored ledger entry {id}: {column} holds {text:?}, which is not {expected}"
    )]
    Corrupt { account: String, id: i64, column: &'static str, text: String, expected: &'static str },

    /// A stored snapshot holds something that is not what bfx wrote.
    #[error(
        "account {account:?}: stored snapshot at {mts}: {column} holds {text:?}, which is not {expected}"
    )]
    CorruptSnapshot { account: String, mts: i64, column: &'static str, text: String, expected: &'static str },

    /// A stored candle holds something that is not what bfx wrote.
    #[error("stored candle {pair} at {mts}: {column} holds {text:?}, which is not {expected}")]
    CorruptCandle { pair: String, mts: i64, column: &'static str, text: String, expected: &'static str },

    /// A day given to the candle cache that is not 00:00 UTC.
    #[error("{what} {mts} is not the start of a UTC day (a multiple of 86 400 000 ms)")]
    NotADay { what: &'static str, mts: i64 },

    /// A candle outside the days it is stored as covering (nothing of the page was stored).
    #[error("candle {pair} at {mts} is outside the covered days {from_day}..={to_day}; nothing was stored")]
    CandleOutside { pair: String, mts: i64, from_day: i64, to_day: i64 },

    /// A covered interval whose start is after its end.
    #[error("covered interval {from_mts}..={to_mts} is empty (start after end)")]
    EmptyInterval { from_mts: i64, to_mts: i64 },

    /// A sum of values too large for a decimal (±7.9e28).
    #[error("{what} is too large to sum exactly")]
    Overflow { what: &'static str },

    /// The database refused or failed a statement.
    #[error("history database: {context}: {source}")]
    Database {
        context: &'static str,
        #[source]
        source: sqlx::Error,
    },

    /// SQLite refused or failed a read made beside the pool (the ledger's entries in bulk).
    #[error("history database: {context}: {source}")]
    Sqlite {
        context: &'static str,
        #[source]
        source: rusqlite::Error,
    },
}

impl StoreError {
    /// A closure wrapping a [`sqlx::Error`] with what was being done.
    pub(crate) fn db(context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Database { context, source }
    }
}
