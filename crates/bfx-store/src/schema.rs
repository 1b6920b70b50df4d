//! The schema, as numbered migrations applied in order, each once, in one transaction with its
//! row in `schema_migration`. A migration is written once for both backends; `{decimal}` and
//! `{text}` are filled in by the [`Dialect`]. Never edit a released migration: add one.
//!
//! - `account`: every account the store has heard of; its row is also what a write transaction
//!   touches first, so two writers of one account take turns (a row lock in PostgreSQL; SQLite has
//!   one writer anyway).
//! - `ledger`: the entries, unique by (account, id); `category` is derived from the description
//!   (NULL when unknown). `ledger_chain` serves per-wallet-and-currency questions (the balance at
//!   a time), `ledger_time` time ranges.
//! - `series`: the (account, wallet, currency) triples that have entries, so the balance at a time
//!   is one index probe per series instead of a scan for the distinct ones.
//! - `coverage`: closed millisecond intervals known to be completely stored, merged.
//! - `gap`: milliseconds a sync could not prove complete, and why.
//!
//! Version 2, the valued portfolio as `bfx serve --snapshot-every` writes it:
//! - `snapshot`: one row per (account, mts): the quote, the account stream's state, whether the
//!   account's data and the prices were current, the age of its data, its total (NULL unless
//!   both were current and it is known) and its positions' P/L. Its presence says the account's
//!   wallets of that moment are all in `snapshot_wallet` (written in the same transaction).
//! - `snapshot_wallet`: each wallet of it, in Bitfinex's order (`seq`): balance, unit price and
//!   value in the quote (NULL when unpriced, never 0).
//!
//! Version 3, prices over time (daily candles of trading pairs, see [`crate::candles`]):
//! - `candle_pair`: every pair the store has candles or coverage for; a write touches its row
//!   first, so two writers of one pair take turns (as `account` does for the ledger).
//! - `candle`: one row per (pair, day start in ms UTC): open, close, high, low, volume, exact.
//!   Only days that had ended when fetched, and only inside a covered range.
//! - `candle_coverage`: closed ranges of days (`from_mts..=to_mts`, both day starts) whose
//!   candles are all stored, merged: a covered day without a row had no candle (the pair was not
//!   traded that day), and is not asked for again.

use sqlx::{AnyPool, Executor, Row};

use crate::dialect::Dialect;
use crate::error::StoreError;

/// `(version, description, statements)`.
const MIGRATIONS: &[(i64, &str, &[&str])] = &[
    (
        1,
        "ledger, series, coverage, gaps",
        &[
            "CREATE TABLE account (account {text} PRIMARY KEY)",
            "CREATE TABLE ledger (
            account {text} NOT NULL,
            id BIGINT NOT NULL,
            wallet {text} NOT NULL,
            currency {text} NOT NULL,
            mts BIGINT NOT NULL,
            amount {decimal} NOT NULL,
            balance {decimal} NOT NULL,
            description {text} NOT NULL,
            category INTEGER,
            PRIMARY KEY (account, id)
        )",
            "CREATE INDEX ledger_chain ON ledger (account, wallet, currency, mts, id)",
            "CREATE INDEX ledger_time ON ledger (account, mts, id)",
            "CREATE TABLE series (
            account {text} NOT NULL,
            wallet {text} NOT NULL,
            currency {text} NOT NULL,
            PRIMARY KEY (account, wallet, currency)
        )",
            "CREATE TABLE coverage (
            account {text} NOT NULL,
            from_mts BIGINT NOT NULL,
            to_mts BIGINT NOT NULL,
            PRIMARY KEY (account, from_mts)
        )",
            "CREATE TABLE gap (
            account {text} NOT NULL,
            mts BIGINT NOT NULL,
            reason {text} NOT NULL,
            PRIMARY KEY (account, mts)
        )",
        ],
    ),
    (
        2,
        "portfolio snapshots",
        &[
            "CREATE TABLE snapshot (
                account {text} NOT NULL,
                mts BIGINT NOT NULL,
                quote {text} NOT NULL,
                state {text} NOT NULL,
                is_current INTEGER NOT NULL,
                prices_current INTEGER NOT NULL,
                data_age_ms BIGINT,
                total {decimal},
                positions_pl {decimal},
                PRIMARY KEY (account, mts)
            )",
            "CREATE INDEX snapshot_time ON snapshot (mts, account)",
            "CREATE TABLE snapshot_wallet (
                account {text} NOT NULL,
                mts BIGINT NOT NULL,
                seq INTEGER NOT NULL,
                wallet {text} NOT NULL,
                currency {text} NOT NULL,
                balance {decimal} NOT NULL,
                price {decimal},
                value {decimal},
                PRIMARY KEY (account, mts, seq)
            )",
        ],
    ),
    (
        3,
        "daily candles and their coverage",
        &[
            "CREATE TABLE candle_pair (pair {text} PRIMARY KEY)",
            "CREATE TABLE candle (
                pair {text} NOT NULL,
                mts BIGINT NOT NULL,
                open {decimal} NOT NULL,
                close {decimal} NOT NULL,
                high {decimal} NOT NULL,
                low {decimal} NOT NULL,
                volume {decimal} NOT NULL,
                PRIMARY KEY (pair, mts)
            )",
            "CREATE TABLE candle_coverage (
                pair {text} NOT NULL,
                from_mts BIGINT NOT NULL,
                to_mts BIGINT NOT NULL,
                PRIMARY KEY (pair, from_mts)
            )",
        ],
    ),
];

/// The newest schema version this build knows.
pub(crate) fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |(version, _, _)| *version)
}

/// Applies the missing migrations up to `up_to` (the latest, except in tests that make a store
/// as an older bfx made it); refuses a database migrated further, as by a newer bfx.
pub(crate) async fn migrate(
    pool: &AnyPool,
    dialect: &Dialect,
    target: &str,
    up_to: i64,
) -> Result<(), StoreError> {
    let fail = |version: i64| {
        let target = target.to_owned();
        move |e: sqlx::Error| StoreError::Migration { target, version, problem: e.to_string() }
    };
    // Two processes creating it at once: PostgreSQL may refuse the second CREATE on its catalog's
    // unique index even with IF NOT EXISTS; the table exists either way, so check again.
    let create = dialect.ddl(
        "CREATE TABLE IF NOT EXISTS schema_migration (version BIGINT PRIMARY KEY, description {text} NOT NULL)",
    );
    if let Err(first) = pool.execute(create.as_str()).await {
        pool.execute(create.as_str()).await.map_err(|_| fail(0)(first))?;
    }

    let mut tx = pool.begin_with(dialect.begin_write).await.map_err(fail(0))?;
    if let Some(lock) = dialect.lock_migrations {
        tx.execute(lock).await.map_err(fail(0))?;
    }
    let current: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) FROM schema_migration")
        .fetch_one(&mut *tx)
        .await
        .and_then(|row| row.try_get(0))
        .map_err(fail(0))?;
    if current > up_to {
        return Err(StoreError::Migration {
            target: target.to_owned(),
            version: current,
            problem: format!(
                "the database is at schema version {current}, written by a newer bfx; this one knows up to {up_to}"
            ),
        });
    }
    for (version, description, statements) in
        MIGRATIONS.iter().filter(|(v, _, _)| *v > current && *v <= up_to)
    {
        for statement in *statements {
            tx.execute(dialect.ddl(statement).as_str()).await.map_err(fail(*version))?;
        }
        sqlx::query("INSERT INTO schema_migration (version, description) VALUES ($1, $2)")
            .bind(*version)
            .bind(*description)
            .execute(&mut *tx)
            .await
            .map_err(fail(*version))?;
        tracing::info!(version, description, "history database migrated");
    }
    tx.commit().await.map_err(fail(up_to))?;
    Ok(())
}
