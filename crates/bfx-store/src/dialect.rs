//! Everything SQLite and PostgreSQL spell differently, in one place. All SQL elsewhere is shared
//! text with `$n` parameters (SQLite reads `$1` as parameter 1), built only from these constants,
//! never from data.
//!
//! The differences are types and one keyword: exact decimals are `TEXT` in SQLite (its `NUMERIC`
//! and `CAST(… AS NUMERIC)` go through a double) and `NUMERIC` in PostgreSQL; a decimal parameter
//! is bound as text and written `CAST($n AS <decimal>)` (PostgreSQL does not put a text parameter
//! into a NUMERIC column by itself; in SQLite the cast to TEXT changes nothing); reading one back
//! is `CAST(col AS TEXT)` on both. Text columns use byte order on both (`COLLATE "C"` in
//! PostgreSQL, SQLite's default), so both list accounts, wallets and currencies in the same order.
//! The multi-row insert numbers its parameters `?` (in order) in SQLite: SQLite finds a named
//! parameter (`$n`) by walking a list, so binding 2 250 of them made the insert quadratic (80 % of
//! its time); PostgreSQL only knows `$n`. Write transactions start with `BEGIN IMMEDIATE` in SQLite, which takes the write lock at once
//! (a deferred one can fail with "database is locked" without waiting). The account lock (an OS
//! file lock beside a SQLite file, an advisory lock in PostgreSQL) lives in [`crate::lock`].

/// The two backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Sqlite,
    Postgres,
}

/// The spellings of one backend.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dialect {
    pub kind: Kind,
    /// Parameters of the multi-row insert are anonymous `?`, bound in order.
    pub anonymous_params: bool,
    /// Column type of exact decimals, and the type a decimal parameter is cast to.
    pub decimal: &'static str,
    /// Column type of names (account, wallet, currency) and descriptions: byte-ordered.
    pub text: &'static str,
    /// Starts a transaction that writes.
    pub begin_write: &'static str,
    /// Run on every new connection.
    pub session: &'static [&'static str],
    /// Run first in the migration transaction so two processes never migrate at once (SQLite's
    /// `BEGIN IMMEDIATE` already excludes other writers).
    pub lock_migrations: Option<&'static str>,
}

pub(crate) const SQLITE: Dialect = Dialect {
    kind: Kind::Sqlite,
    anonymous_params: true,
    decimal: "TEXT",
    text: "TEXT",
    begin_write: "BEGIN IMMEDIATE",
    // WAL: readers never block the writer. NORMAL is safe with WAL (a power cut may lose the last
    // commits, never the database's consistency; an entry and its coverage are one transaction).
    session: &["PRAGMA busy_timeout = 30000", "PRAGMA synchronous = NORMAL"],
    lock_migrations: None,
};

pub(crate) const POSTGRES: Dialect = Dialect {
    kind: Kind::Postgres,
    anonymous_params: false,
    decimal: "NUMERIC",
    text: "TEXT COLLATE \"C\"",
    begin_write: "BEGIN",
    session: &[],
    lock_migrations: Some("LOCK TABLE schema_migration IN EXCLUSIVE MODE"),
};

impl Dialect {
    /// Parameter `n` of a statement whose parameters all appear once, in order: `$n` or `?`.
    pub fn param(&self, n: usize) -> String {
        if self.anonymous_params { "?".to_owned() } else { format!("${n}") }
    }

    /// A decimal parameter (see [`Dialect::param`]): `CAST($n AS NUMERIC)` or `CAST(? AS TEXT)`.
    pub fn decimal_param(&self, n: usize) -> String {
        format!("CAST({} AS {})", self.param(n), self.decimal)
    }

    /// Fills a schema template: `{decimal}` and `{text}` become this backend's types.
    pub fn ddl(&self, template: &str) -> String {
        template.replace("{decimal}", self.decimal).replace("{text}", self.text)
    }
}
