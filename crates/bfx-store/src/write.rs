//! Writing: a page of ledger entries with the interval it covers (one transaction), gaps,
//! deleting an entry for repairs, and portfolio snapshots.
//!
//! A page is inserted in multi-row statements that skip ids already stored (`ON CONFLICT DO
//! NOTHING`). When fewer rows went in than the page has, the skipped ones are compared with what
//! is stored: identical is a duplicate (overlapping pages), different is a [`StoreError::Conflict`]
//! and the transaction is rolled back. Each write transaction first touches the account's row, so
//! two writers of one account take turns in PostgreSQL (SQLite has one writer at a time anyway)
//! and coverage merges never interleave.

use std::collections::{BTreeSet, HashMap};

use bfx_core::ledger::{LedgerEntry, category};
use sqlx::{Any, Transaction};

use crate::bulk::PoolColumns;
use crate::dialect::Dialect;
use crate::error::StoreError;
use crate::intervals::COVERAGE;
use crate::lock::AccountLock;
use crate::model::Covered;
use crate::read::{ENTRY_COLUMNS, decode_entry};
use crate::snapshot::AccountSnapshot;
use crate::store::Store;

/// Rows per insert statement: 9 parameters each, far below either backend's parameter limit.
pub(crate) const ROWS_PER_INSERT: usize = 250;
/// Ids per `IN (…)` list when comparing skipped rows.
const IDS_PER_SELECT: usize = 500;

/// `INSERT INTO ledger … VALUES (…), (…) ON CONFLICT (account, id) DO NOTHING` for `rows` rows.
pub(crate) fn insert_sql(dialect: &Dialect, rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO ledger (account, id, wallet, currency, mts, amount, balance, description, category) VALUES ",
    );
    for row in 0..rows {
        let n = row * 9;
        if row > 0 {
            sql.push_str(", ");
        }
        let p = |i: usize| dialect.param(n + i);
        sql.push_str(&format!(
            "({}, {}, {}, {}, {}, {}, {}, {}, {})",
            p(1),
            p(2),
            p(3),
            p(4),
            p(5),
            dialect.decimal_param(n + 6),
            dialect.decimal_param(n + 7),
            p(8),
            p(9)
        ));
    }
    sql.push_str(" ON CONFLICT (account, id) DO NOTHING");
    sql
}

/// `$first, $first+1, …` for `count` parameters.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
}

impl Store {
    /// Stores a page of `lock`'s account's entries and records that `covered` is completely
    /// stored, in one transaction. Returns how many entries were new.
    ///
    /// An entry whose id is already stored with the same content is skipped; with different
    /// content it is a [`StoreError::Conflict`] and nothing of the page is stored. `covered` is
    /// merged with the intervals it overlaps or touches.
    pub async fn store_page(
        &self,
        lock: &AccountLock,
        entries: &[LedgerEntry],
        covered: Covered,
    ) -> Result<u64, StoreError> {
        if covered.from_mts > covered.to_mts {
            return Err(StoreError::EmptyInterval { from_mts: covered.from_mts, to_mts: covered.to_mts });
        }
        let account = lock.account();
        let mut tx = self.begin_write(account).await?;

        let series: BTreeSet<(&str, &str)> =
            entries.iter().map(|e| (e.wallet.as_str(), e.currency.as_str())).collect();
        for (wallet, currency) in series {
            sqlx::query(
                "INSERT INTO series (account, wallet, currency) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(account)
            .bind(wallet)
            .bind(currency)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("recording a wallet's series"))?;
        }

        let mut inserted = 0;
        for chunk in entries.chunks(ROWS_PER_INSERT) {
            let partial;
            let sql = if chunk.len() == ROWS_PER_INSERT {
                self.shared.insert_full.as_str()
            } else {
                partial = insert_sql(self.dialect, chunk.len());
                partial.as_str()
            };
            let mut query = sqlx::query(sql);
            for e in chunk {
                query = query
                    .bind(account)
                    .bind(e.id)
                    .bind(e.wallet.as_str())
                    .bind(e.currency.as_str())
                    .bind(e.mts)
                    .bind(e.amount.to_string())
                    .bind(e.balance.to_string())
                    .bind(e.description.as_str())
                    .bind(category(&e.description).map(|c| i32::from(c.0)));
            }
            inserted += query
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("inserting ledger entries"))?
                .rows_affected();
        }
        if inserted < entries.len() as u64 {
            compare_skipped(&mut tx, account, entries).await?;
        }

        COVERAGE.merge(&mut tx, account, covered.from_mts, covered.to_mts).await?;
        tx.commit().await.map_err(StoreError::db("committing a page of ledger entries"))?;
        Ok(inserted)
    }

    /// Records that the sync could not prove `lock`'s account complete at millisecond `mts`
    /// (recording the same millisecond again replaces the reason).
    pub async fn record_gap(&self, lock: &AccountLock, mts: i64, reason: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write(lock.account()).await?;
        sqlx::query(
            "INSERT INTO gap (account, mts, reason) VALUES ($1, $2, $3)
             ON CONFLICT (account, mts) DO UPDATE SET reason = excluded.reason",
        )
        .bind(lock.account())
        .bind(mts)
        .bind(reason)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::db("recording a gap"))?;
        tx.commit().await.map_err(StoreError::db("committing a gap"))?;
        Ok(())
    }

    /// Deletes one stored entry (for tests and repairs); `false` when there was none. Coverage is
    /// left as it is, so `bfx history check` finds the hole.
    pub async fn delete_entry(&self, account: &str, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM ledger WHERE account = $1 AND id = $2")
            .bind(account)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(StoreError::db("deleting a ledger entry"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Stores snapshots of accounts (typically every account at one moment) in one
    /// transaction: each account's row and all its wallets, or nothing. Returns how many were
    /// new. Idempotent per (account, mts): a snapshot already stored for that account and
    /// millisecond is kept as it is, and the new one (its wallets too) is skipped.
    ///
    /// Snapshots do not add accounts to those the ledger answers are about
    /// ([`Store::account_names`]).
    pub async fn store_snapshot(&self, snapshots: &[AccountSnapshot]) -> Result<u64, StoreError> {
        let decimal = self.dialect.decimal;
        let header = format!(
            "INSERT INTO snapshot (account, mts, quote, state, is_current, prices_current, data_age_ms, total, positions_pl)
             VALUES ($1, $2, $3, $4, $5, $6, $7, CAST($8 AS {decimal}), CAST($9 AS {decimal}))
             ON CONFLICT (account, mts) DO NOTHING"
        );
        let wallet = format!(
            "INSERT INTO snapshot_wallet (account, mts, seq, wallet, currency, balance, price, value)
             VALUES ($1, $2, $3, $4, $5, CAST($6 AS {decimal}), CAST($7 AS {decimal}), CAST($8 AS {decimal}))"
        );
        let mut tx = self
            .pool
            .begin_with(self.dialect.begin_write)
            .await
            .map_err(StoreError::db("starting a snapshot write"))?;
        let mut written = 0;
        for s in snapshots {
            let inserted = sqlx::query(&header)
                .bind(s.account.as_str())
                .bind(s.mts)
                .bind(s.quote.as_str())
                .bind(s.state.as_str())
                .bind(i32::from(s.current))
                .bind(i32::from(s.prices_current))
                .bind(s.data_age_ms)
                .bind(s.total.map(|d| d.to_string()))
                .bind(s.positions_pl.map(|d| d.to_string()))
                .execute(&mut *tx)
                .await
                .map_err(StoreError::db("writing a snapshot"))?
                .rows_affected();
            if inserted == 0 {
                continue;
            }
            written += 1;
            for (seq, w) in s.wallets.iter().enumerate() {
                sqlx::query(&wallet)
                    .bind(s.account.as_str())
                    .bind(s.mts)
                    .bind(i32::try_from(seq).unwrap_or(i32::MAX))
                    .bind(w.wallet.as_str())
                    .bind(w.currency.as_str())
                    .bind(w.balance.to_string())
                    .bind(w.price.map(|d| d.to_string()))
                    .bind(w.value.map(|d| d.to_string()))
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::db("writing a snapshot's wallet"))?;
            }
        }
        tx.commit().await.map_err(StoreError::db("committing a snapshot"))?;
        Ok(written)
    }

    /// A write transaction that has touched `account`'s row (see the module comment).
    async fn begin_write(&self, account: &str) -> Result<Transaction<'static, Any>, StoreError> {
        let mut tx = self
            .pool
            .begin_with(self.dialect.begin_write)
            .await
            .map_err(StoreError::db("starting a write"))?;
        sqlx::query("INSERT INTO account (account) VALUES ($1) ON CONFLICT (account) DO UPDATE SET account = excluded.account")
            .bind(account)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::db("recording the account"))?;
        Ok(tx)
    }
}

/// Compares every entry of the page with the stored one of the same id.
async fn compare_skipped(
    tx: &mut Transaction<'static, Any>,
    account: &str,
    entries: &[LedgerEntry],
) -> Result<(), StoreError> {
    let ids: Vec<i64> = entries.iter().map(|e| e.id).collect::<BTreeSet<_>>().into_iter().collect();
    let mut stored = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(IDS_PER_SELECT) {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM ledger WHERE account = $1 AND id IN ({})",
            placeholders(2, chunk.len())
        );
        let mut query = sqlx::query(&sql).bind(account);
        for id in chunk {
            query = query.bind(*id);
        }
        for row in
            query.fetch_all(&mut **tx).await.map_err(StoreError::db("reading stored entries to compare"))?
        {
            let entry =
                decode_entry(&PoolColumns { row: &row, context: "reading stored entries to compare" })?.entry;
            stored.insert(entry.id, entry);
        }
    }
    for entry in entries {
        match stored.get(&entry.id) {
            Some(existing) if existing == entry => {}
            existing => {
                return Err(StoreError::Conflict {
                    account: account.to_owned(),
                    id: entry.id,
                    stored: existing.map_or_else(|| "nothing (a concurrent delete?)".to_owned(), describe),
                    received: describe(entry),
                });
            }
        }
    }
    Ok(())
}

fn describe(e: &LedgerEntry) -> String {
    format!(
        "{} {} {} at {}, amount {}, balance {}, {:?}",
        e.id, e.wallet, e.currency, e.mts, e.amount, e.balance, e.description
    )
}
