//! Reading many rows: one statement (a consistent snapshot), read by a task beside the consumer
//! that stays a few batches ahead of it, so memory stays bounded whatever the size; dropping the
//! stream stops the read.
//!
//! From a SQLite file, SQLite itself reads the rows, on a blocking thread with its own
//! read-only connection beside the pool: sqlx hands every row over from its worker thread
//! (microseconds a row), which made a million ledger entries take seconds instead of a fraction
//! of one. From PostgreSQL the pool's rows are decoded as they arrive. Either way each row is
//! decoded once, by the same function, through [`Columns`]. A stream being read holds its
//! blocking thread until it ends or is dropped (Tokio has 512): drop a stream once done with it,
//! and before its runtime.

use std::path::Path;

use futures_util::stream::{self, BoxStream, StreamExt};
use rusqlite::OpenFlags;
use rusqlite::types::{Type, Value, ValueRef};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};
use tokio::sync::mpsc;

use crate::error::StoreError;
use crate::location::Backend;
use crate::store::Store;

/// Rows sent from the reading task to the consumer at a time.
const BATCH: usize = 256;

/// Batches buffered between the reading task and the consumer.
const BATCHES_AHEAD: usize = 4;

/// Decoded rows read ahead of the consumer, or why reading stopped (after the rows before it).
pub(crate) type Batch<T> = Result<Vec<T>, StoreError>;

/// A statement's parameter (`$1`, `$2`… in order).
pub(crate) enum Param {
    Text(String),
    Int(i64),
}

/// One row's columns, whichever backend read it.
pub(crate) trait Columns {
    fn int(&self, index: usize) -> Result<i64, StoreError>;
    fn int_or_null(&self, index: usize) -> Result<Option<i64>, StoreError>;
    fn text(&self, index: usize) -> Result<&str, StoreError>;
}

/// The rows of `sql` with `params`, each decoded by `decode` (which may keep state across rows),
/// in batches. `context` says what is read, in errors. Must be polled inside a Tokio runtime.
pub(crate) fn read<T, D>(
    store: &Store,
    sql: String,
    params: Vec<Param>,
    context: &'static str,
    decode: D,
) -> BoxStream<'static, Batch<T>>
where
    T: Send + 'static,
    D: FnMut(&dyn Columns) -> Result<T, StoreError> + Send + 'static,
{
    let (pool, backend) = (store.pool.clone(), store.backend());
    let started = stream::once(async move {
        let (tx, rx) = mpsc::channel(BATCHES_AHEAD);
        let read = Read { sql, params, context, decode, tx };
        match backend {
            Backend::Sqlite { path } => drop(tokio::task::spawn_blocking(move || read.sqlite(&path))),
            Backend::Postgres { .. } => drop(tokio::spawn(read.pool(pool))),
        }
        stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|batch| (batch, rx)) })
    });
    started.flatten().boxed()
}

/// A stream of batches as a stream of rows (the error, if any, last).
pub(crate) fn rows<T: Send + 'static>(
    batches: BoxStream<'static, Batch<T>>,
) -> BoxStream<'static, Result<T, StoreError>> {
    batches
        .flat_map(|batch| match batch {
            Ok(rows) => stream::iter(rows.into_iter().map(Ok)).left_stream(),
            Err(e) => stream::once(async { Err(e) }).right_stream(),
        })
        .boxed()
}

struct Read<T, D> {
    sql: String,
    params: Vec<Param>,
    context: &'static str,
    decode: D,
    tx: mpsc::Sender<Batch<T>>,
}

impl<T, D> Read<T, D>
where
    T: Send + 'static,
    D: FnMut(&dyn Columns) -> Result<T, StoreError> + Send + 'static,
{
    /// Through SQLite directly, on this (blocking) thread.
    fn sqlite(mut self, path: &Path) {
        let mut batch = Vec::with_capacity(BATCH);
        let outcome = self.sqlite_rows(path, &mut batch);
        if !batch.is_empty() && self.tx.blocking_send(Ok(batch)).is_err() {
            return;
        }
        if let Err(e) = outcome {
            let _ = self.tx.blocking_send(Err(e));
        }
    }

    /// Decodes rows into `batch`, sending it whenever full; stops early when the stream is gone.
    fn sqlite_rows(&mut self, path: &Path, batch: &mut Vec<T>) -> Result<(), StoreError> {
        let context = self.context;
        let failed = |source| StoreError::Sqlite { context, source };
        let connection = rusqlite::Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(failed)?;
        // The pool's session too (its busy timeout: a checkpoint can hold the file a moment).
        for statement in crate::dialect::SQLITE.session {
            connection.execute_batch(statement).map_err(failed)?;
        }
        let mut statement = connection.prepare(&self.sql).map_err(failed)?;
        let params = self.params.iter().map(|param| match param {
            Param::Text(text) => Value::Text(text.clone()),
            Param::Int(int) => Value::Integer(*int),
        });
        let mut rows = statement.query(rusqlite::params_from_iter(params)).map_err(failed)?;
        while let Some(row) = rows.next().map_err(failed)? {
            batch.push((self.decode)(&SqliteColumns { row, context })?);
            if batch.len() == BATCH
                && self.tx.blocking_send(Ok(std::mem::replace(batch, Vec::with_capacity(BATCH)))).is_err()
            {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Through the pool (PostgreSQL).
    async fn pool(mut self, pool: AnyPool) {
        let mut statement = sqlx::query(&self.sql);
        for param in &self.params {
            statement = match param {
                Param::Text(text) => statement.bind(text.as_str()),
                Param::Int(int) => statement.bind(*int),
            };
        }
        let mut rows = statement.fetch(&pool);
        let mut batch = Vec::with_capacity(BATCH);
        let failed = loop {
            let decoded = match rows.next().await {
                None => break None,
                Some(row) => row
                    .map_err(StoreError::db(self.context))
                    .and_then(|row| (self.decode)(&PoolColumns { row: &row, context: self.context })),
            };
            match decoded {
                Ok(item) => batch.push(item),
                Err(e) => break Some(e),
            }
            if batch.len() == BATCH
                && self.tx.send(Ok(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))).await.is_err()
            {
                return;
            }
        };
        if !batch.is_empty() && self.tx.send(Ok(batch)).await.is_err() {
            return;
        }
        if let Some(e) = failed {
            let _ = self.tx.send(Err(e)).await;
        }
    }
}

struct SqliteColumns<'a, 'r> {
    row: &'a rusqlite::Row<'r>,
    context: &'static str,
}

impl Columns for SqliteColumns<'_, '_> {
    fn int(&self, index: usize) -> Result<i64, StoreError> {
        self.row.get(index).map_err(|source| StoreError::Sqlite { context: self.context, source })
    }

    fn int_or_null(&self, index: usize) -> Result<Option<i64>, StoreError> {
        self.row.get(index).map_err(|source| StoreError::Sqlite { context: self.context, source })
    }

    /// Text, or an error naming the column: something else stored there (a number, a blob, NULL)
    /// or text that is not UTF-8.
    fn text(&self, index: usize) -> Result<&str, StoreError> {
        let failed = |source| StoreError::Sqlite { context: self.context, source };
        let name = || self.row.as_ref().column_name(index).unwrap_or("?").to_owned();
        match self.row.get_ref(index).map_err(failed)? {
            ValueRef::Text(bytes) => std::str::from_utf8(bytes).map_err(|e| {
                let why = format!("column {}: {e}", name());
                failed(rusqlite::Error::FromSqlConversionFailure(index, Type::Text, why.into()))
            }),
            other => Err(failed(rusqlite::Error::InvalidColumnType(index, name(), other.data_type()))),
        }
    }
}

/// A row the pool read, as [`Columns`].
pub(crate) struct PoolColumns<'a> {
    pub row: &'a AnyRow,
    pub context: &'static str,
}

impl Columns for PoolColumns<'_> {
    fn int(&self, index: usize) -> Result<i64, StoreError> {
        self.row.try_get(index).map_err(StoreError::db(self.context))
    }

    fn int_or_null(&self, index: usize) -> Result<Option<i64>, StoreError> {
        self.row.try_get(index).map_err(StoreError::db(self.context))
    }

    fn text(&self, index: usize) -> Result<&str, StoreError> {
        self.row.try_get(index).map_err(StoreError::db(self.context))
    }
}
