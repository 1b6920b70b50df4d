//! Reading: coverage, gaps, accounts, balances at a time, entries as a stream, and portfolio
//! snapshots.
//!
//! Amounts are read as text (`CAST(… AS TEXT)`) and parsed exactly into `Decimal`; a stored text
//! that is not an exact decimal is [`StoreError::Corrupt`], never rounded. Nothing is summed in
//! SQL: SQLite would sum through doubles.

use std::collections::HashMap;
use std::str::FromStr;

use bfx_core::ledger::{Category, LedgerEntry};
use futures_util::stream::BoxStream;
use rust_decimal::Decimal;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::bulk::{self, Columns, Param};
use crate::error::StoreError;
use crate::intervals::COVERAGE;
use crate::model::{AccountSummary, Covered, EntryQuery, Gap, Order, StoredBalance, StoredEntry};
use crate::snapshot::{AccountSnapshot, WalletSnapshot};
use crate::store::Store;
use crate::write::placeholders;

/// The columns [`decode_entry`] reads, in its order.
pub(crate) const ENTRY_COLUMNS: &str =
    "account, id, wallet, currency, mts, CAST(amount AS TEXT), CAST(balance AS TEXT), description, category";

fn get<'r, T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>>(
    row: &'r AnyRow,
    index: usize,
    context: &'static str,
) -> Result<T, StoreError> {
    row.try_get(index).map_err(StoreError::db(context))
}

/// A stored category code.
pub(crate) fn category(code: Option<i64>, account: &str, id: i64) -> Result<Option<Category>, StoreError> {
    let known = |code: i64| {
        u16::try_from(code).map(Category).map_err(|_| StoreError::Corrupt {
            account: account.to_owned(),
            id,
            column: "category",
            text: code.to_string(),
            expected: "a category code (0 to 65535)",
        })
    };
    code.map(known).transpose()
}

/// An exact decimal from stored text.
pub(crate) fn decimal(
    text: &str,
    account: &str,
    id: i64,
    column: &'static str,
) -> Result<Decimal, StoreError> {
    Decimal::from_str_exact(text).map_err(|_| StoreError::Corrupt {
        account: account.to_owned(),
        id,
        column,
        text: text.to_owned(),
        expected: "an exact decimal of at most 28 digits",
    })
}

/// A row of [`ENTRY_COLUMNS`].
pub(crate) fn decode_entry(row: &dyn Columns) -> Result<StoredEntry, StoreError> {
    let account = row.text(0)?;
    let id = row.int(1)?;
    let category = category(row.int_or_null(8)?, account, id)?;
    let entry = LedgerEntry {
        id,
        wallet: row.text(2)?.to_owned(),
        currency: row.text(3)?.to_owned(),
        mts: row.int(4)?,
        amount: decimal(row.text(5)?, account, id, "amount")?,
        balance: decimal(row.text(6)?, account, id, "balance")?,
        description: row.text(7)?.to_owned(),
    };
    Ok(StoredEntry { account: account.to_owned(), entry, category })
}

impl Store {
    /// The account's completely stored intervals, merged, in ascending order.
    pub async fn coverage(&self, account: &str) -> Result<Vec<Covered>, StoreError> {
        let rows = COVERAGE.read(&self.pool, account).await?;
        Ok(rows.into_iter().map(|(from_mts, to_mts)| Covered { from_mts, to_mts }).collect())
    }

    /// The time of the account's newest stored entry (one index probe).
    pub async fn newest_mts(&self, account: &str) -> Result<Option<i64>, StoreError> {
        self.edge_mts("SELECT MAX(mts) FROM ledger WHERE account = $1", account, "reading the newest entry")
            .await
    }

    /// The time of the account's oldest stored entry (one index probe).
    pub async fn oldest_mts(&self, account: &str) -> Result<Option<i64>, StoreError> {
        self.edge_mts("SELECT MIN(mts) FROM ledger WHERE account = $1", account, "reading the oldest entry")
            .await
    }

    async fn edge_mts(
        &self,
        sql: &str,
        account: &str,
        context: &'static str,
    ) -> Result<Option<i64>, StoreError> {
        let row: (Option<i64>,) =
            sqlx::query_as(sql).bind(account).fetch_one(&self.pool).await.map_err(StoreError::db(context))?;
        Ok(row.0)
    }

    /// The names of every account the store has written for, in order (no scan of the ledger;
    /// [`Store::accounts`] counts the entries too).
    pub async fn account_names(&self) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT account FROM account ORDER BY account")
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::db("listing accounts"))?;
        Ok(rows.into_iter().map(|(account,)| account).collect())
    }

    /// Recorded gaps of one account, or of all, by account and time.
    pub async fn gaps(&self, account: Option<&str>) -> Result<Vec<Gap>, StoreError> {
        let query = match account {
            Some(account) => sqlx::query_as(
                "SELECT account, mts, reason FROM gap WHERE account = $1 ORDER BY account, mts",
            )
            .bind(account),
            None => sqlx::query_as("SELECT account, mts, reason FROM gap ORDER BY account, mts"),
        };
        let rows: Vec<(String, i64, String)> =
            query.fetch_all(&self.pool).await.map_err(StoreError::db("reading gaps"))?;
        Ok(rows.into_iter().map(|(account, mts, reason)| Gap { account, mts, reason }).collect())
    }

    /// Every account the store has written for (entries, coverage or gaps), by name, with its
    /// number of entries and their time span.
    pub async fn accounts(&self) -> Result<Vec<AccountSummary>, StoreError> {
        let rows: Vec<(String, i64, Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT a.account, COUNT(l.id), MIN(l.mts), MAX(l.mts)
             FROM account a LEFT JOIN ledger l ON l.account = a.account
             GROUP BY a.account ORDER BY a.account",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::db("listing accounts"))?;
        Ok(rows
            .into_iter()
            .map(|(account, entries, oldest_mts, newest_mts)| AccountSummary {
                account,
                entries: u64::try_from(entries).unwrap_or(0),
                oldest_mts,
                newest_mts,
            })
            .collect())
    }

    /// Per (account, wallet, currency) of `accounts` (empty: all), the balance after its latest
    /// entry at or before `mts` (greatest `(mts, id)`), zeros included, ordered by account,
    /// wallet, currency. One index probe per series, never a scan of the ledger.
    pub async fn balances_at(&self, accounts: &[String], mts: i64) -> Result<Vec<StoredBalance>, StoreError> {
        let filter = if accounts.is_empty() {
            String::new()
        } else {
            format!("WHERE s.account IN ({})", placeholders(2, accounts.len()))
        };
        let sql = format!(
            "WITH latest AS MATERIALIZED (
                SELECT s.account, s.wallet, s.currency,
                    (SELECT l.id FROM ledger l
                     WHERE l.account = s.account AND l.wallet = s.wallet AND l.currency = s.currency AND l.mts <= $1
                     ORDER BY l.mts DESC, l.id DESC LIMIT 1) AS id
                FROM series s {filter}
            )
            SELECT t.account, t.wallet, t.currency, CAST(l.balance AS TEXT), l.mts, l.id
            FROM latest t JOIN ledger l ON l.account = t.account AND l.id = t.id
            ORDER BY t.account, t.wallet, t.currency"
        );
        let mut query = sqlx::query(&sql).bind(mts);
        for account in accounts {
            query = query.bind(account.as_str());
        }
        let rows = query.fetch_all(&self.pool).await.map_err(StoreError::db("reading balances"))?;
        const CONTEXT: &str = "reading a balance";
        rows.iter()
            .map(|row| {
                let account: String = get(row, 0, CONTEXT)?;
                let id: i64 = get(row, 5, CONTEXT)?;
                let balance: String = get(row, 3, CONTEXT)?;
                Ok(StoredBalance {
                    wallet: get(row, 1, CONTEXT)?,
                    currency: get(row, 2, CONTEXT)?,
                    balance: decimal(&balance, &account, id, "balance")?,
                    mts: get(row, 4, CONTEXT)?,
                    id,
                    account,
                })
            })
            .collect()
    }

    /// The currencies `accounts` (empty: all) have ledger entries in, sorted.
    pub async fn currencies(&self, accounts: &[String]) -> Result<Vec<String>, StoreError> {
        let filter = match accounts.is_empty() {
            true => String::new(),
            false => format!("WHERE account IN ({})", placeholders(1, accounts.len())),
        };
        let sql = format!("SELECT DISTINCT currency FROM series {filter} ORDER BY currency");
        let mut query = sqlx::query(&sql);
        for account in accounts {
            query = query.bind(account.as_str());
        }
        let rows = query.fetch_all(&self.pool).await.map_err(StoreError::db("reading currencies"))?;
        rows.iter().map(|row| get(row, 0, "reading a currency")).collect()
    }

    /// The stored entries `query` selects, in its order, as a stream: one statement (a
    /// consistent snapshot) read a few hundred entries ahead of the consumer, so memory stays
    /// bounded whatever the size; from a SQLite file, by SQLite itself on a blocking thread.
    /// Dropping the stream stops the read. Must be polled inside a Tokio runtime.
    pub fn entries(&self, query: EntryQuery) -> BoxStream<'static, Result<StoredEntry, StoreError>> {
        let params = (query.accounts.iter().map(|account| Param::Text(account.clone())))
            .chain(query.from_mts.map(Param::Int))
            .chain(query.to_mts.map(Param::Int))
            .collect();
        bulk::rows(bulk::read(self, entries_sql(&query), params, "reading ledger entries", decode_entry))
    }
}

/// An exact decimal (or NULL) of a stored snapshot.
fn snapshot_decimal(
    text: Option<String>,
    account: &str,
    mts: i64,
    column: &'static str,
) -> Result<Option<Decimal>, StoreError> {
    text.map(|text| {
        Decimal::from_str_exact(&text).map_err(|_| StoreError::CorruptSnapshot {
            account: account.to_owned(),
            mts,
            column,
            expected: "an exact decimal of at most 28 digits",
            text,
        })
    })
    .transpose()
}

impl Store {
    /// The snapshots of `accounts` (empty: all) taken from `from_mts` to `to_mts` (inclusive),
    /// by account then time, each with its wallets in the order they were written. Complete and
    /// stale ones alike: see [`AccountSnapshot::current`] and [`AccountSnapshot::is_complete`].
    pub async fn snapshots(
        &self,
        accounts: &[String],
        from_mts: i64,
        to_mts: i64,
    ) -> Result<Vec<AccountSnapshot>, StoreError> {
        let filter = match accounts.is_empty() {
            true => String::new(),
            false => format!(" AND account IN ({})", placeholders(3, accounts.len())),
        };
        let headers = format!(
            "SELECT account, mts, quote, state, is_current, prices_current, data_age_ms,
                CAST(total AS TEXT), CAST(positions_pl AS TEXT)
             FROM snapshot WHERE mts >= $1 AND mts <= $2{filter} ORDER BY account, mts"
        );
        let wallets = format!(
            "SELECT account, mts, wallet, currency, CAST(balance AS TEXT), CAST(price AS TEXT), CAST(value AS TEXT)
             FROM snapshot_wallet WHERE mts >= $1 AND mts <= $2{filter} ORDER BY account, mts, seq"
        );
        let bind = |sql| {
            let mut query = sqlx::query(sql).bind(from_mts).bind(to_mts);
            for account in accounts {
                query = query.bind(account.as_str());
            }
            query
        };
        let header_rows =
            bind(&headers).fetch_all(&self.pool).await.map_err(StoreError::db("reading snapshots"))?;
        // Read after the headers: every wallet of a snapshot already seen is committed (one
        // transaction wrote both); wallets of one written since have no header here and are left.
        let wallet_rows = bind(&wallets)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::db("reading snapshots' wallets"))?;

        const CONTEXT: &str = "reading a snapshot";
        let mut by_snapshot: HashMap<(String, i64), Vec<WalletSnapshot>> = HashMap::new();
        for row in &wallet_rows {
            let account: String = get(row, 0, CONTEXT)?;
            let mts: i64 = get(row, 1, CONTEXT)?;
            let balance = snapshot_decimal(Some(get(row, 4, CONTEXT)?), &account, mts, "balance")?;
            let wallet = WalletSnapshot {
                wallet: get(row, 2, CONTEXT)?,
                currency: get(row, 3, CONTEXT)?,
                balance: balance.unwrap_or_default(),
                price: snapshot_decimal(get(row, 5, CONTEXT)?, &account, mts, "price")?,
                value: snapshot_decimal(get(row, 6, CONTEXT)?, &account, mts, "value")?,
            };
            by_snapshot.entry((account, mts)).or_default().push(wallet);
        }
        header_rows
            .iter()
            .map(|row| {
                let account: String = get(row, 0, CONTEXT)?;
                let mts: i64 = get(row, 1, CONTEXT)?;
                let flag = |index: usize, column: &'static str| -> Result<bool, StoreError> {
                    match get::<i64>(row, index, CONTEXT)? {
                        0 => Ok(false),
                        1 => Ok(true),
                        other => Err(StoreError::CorruptSnapshot {
                            account: account.clone(),
                            mts,
                            column,
                            text: other.to_string(),
                            expected: "0 or 1",
                        }),
                    }
                };
                Ok(AccountSnapshot {
                    quote: get(row, 2, CONTEXT)?,
                    state: get(row, 3, CONTEXT)?,
                    current: flag(4, "is_current")?,
                    prices_current: flag(5, "prices_current")?,
                    data_age_ms: get(row, 6, CONTEXT)?,
                    total: snapshot_decimal(get(row, 7, CONTEXT)?, &account, mts, "total")?,
                    positions_pl: snapshot_decimal(get(row, 8, CONTEXT)?, &account, mts, "positions_pl")?,
                    wallets: by_snapshot.remove(&(account.clone(), mts)).unwrap_or_default(),
                    account,
                    mts,
                })
            })
            .collect()
    }
}

/// The statement for `query`: a WHERE made of fixed parts for what is set, all values bound.
fn entries_sql(query: &EntryQuery) -> String {
    let mut conditions = Vec::new();
    let mut next = 1;
    if !query.accounts.is_empty() {
        conditions.push(format!("account IN ({})", placeholders(next, query.accounts.len())));
        next += query.accounts.len();
    }
    if query.from_mts.is_some() {
        conditions.push(format!("mts >= ${next}"));
        next += 1;
    }
    if query.to_mts.is_some() {
        conditions.push(format!("mts <= ${next}"));
    }
    let filter =
        if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
    let order = match query.order {
        Order::Time => "account, mts, id",
        Order::Chain => "account, wallet, currency, mts, id",
    };
    format!("SELECT {ENTRY_COLUMNS} FROM ledger {filter} ORDER BY {order}")
}

impl FromStr for Order {
    type Err = String;

    /// `time` or `chain`.
    fn from_str(text: &str) -> Result<Order, String> {
        match text {
            "time" => Ok(Order::Time),
            "chain" => Ok(Order::Chain),
            other => Err(format!("unknown order {other:?}: expected time or chain")),
        }
    }
}
