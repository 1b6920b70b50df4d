//! The store handle: opening (creating the SQLite file or connecting to PostgreSQL, then
//! migrating), which backend it is, and the account lock. Writes are in [`crate::write`], reads in
//! [`crate::read`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyPool, ConnectOptions, Executor, Row};

use crate::dialect::{self, Dialect};
use crate::error::StoreError;
use crate::location::{Backend, Location, postgres_options, postgres_target, prepare_sqlite_file, scrub};
use crate::lock::{self, AccountLock};
use crate::schema;

/// How long [`Store::lock_account`] waits for another holder by default.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(5);

/// The longest wait for a connection (PostgreSQL: to connect; either: for a free one in the pool).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A handle on the history database: a connection pool, cheap to clone and share between tasks.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    pub(crate) dialect: &'static Dialect,
    pub(crate) shared: Arc<Shared>,
    lock_wait: Duration,
}

/// What clones of a store share besides the pool.
pub(crate) struct Shared {
    location: Location,
    backend: Backend,
    /// Holds the PostgreSQL password: never printed.
    connect: AnyConnectOptions,
    /// The insert statement for a full batch of rows, built once.
    pub(crate) insert_full: String,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.shared.backend)
            .field("lock_wait", &self.lock_wait)
            .finish_non_exhaustive()
    }
}

/// The pool's URL of the SQLite file at `path`, checked to name that very file: sqlx writes a
/// `%` into its URL as it is but decodes `%XX` when it reads one (`a%41` would open `aA`), so a
/// `%` is written `%25`. `None` when the URL would still name another file.
fn sqlite_url(path: &Path) -> Option<String> {
    let escaped = match path.to_str() {
        Some(text) => PathBuf::from(text.replace('%', "%25")),
        None => path.to_owned(),
    };
    let url = SqliteConnectOptions::new().filename(escaped).to_url_lossy();
    let back = SqliteConnectOptions::from_str(url.as_str()).ok()?;
    (back.get_filename() == path).then(|| url.to_string())
}

impl Store {
    /// Opens the store, creating what is missing, and brings its schema up to date.
    ///
    /// SQLite: creates the directories (mode 0700) and the file (mode 0600), switches the database
    /// to WAL and sets a busy timeout on every connection. PostgreSQL: the database must exist.
    pub async fn open(location: &Location) -> Result<Store, StoreError> {
        Store::open_at(location, schema::latest_version()).await
    }

    /// [`Store::open`] as a bfx that knows the schema only up to `version` would: migrates up to
    /// it, and refuses a database migrated further. For tests of migrations (feature
    /// `test-support`).
    #[cfg(feature = "test-support")]
    pub async fn open_as_schema_version(location: &Location, version: i64) -> Result<Store, StoreError> {
        Store::open_at(location, version).await
    }

    /// The newest schema version this build knows.
    pub fn schema_version() -> i64 {
        schema::latest_version()
    }

    async fn open_at(location: &Location, schema_version: i64) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let target = location.describe();
        let open_failed = |e: sqlx::Error| StoreError::Open {
            target: target.clone(),
            problem: scrub(location, e.to_string()),
        };
        let (dialect, backend, connect, max_connections) = match location {
            Location::Sqlite(path) => {
                prepare_sqlite_file(path)?;
                // The file itself, no `..` or link left: the pool's URL and the bulk reads'
                // own connections (`crate::bulk`) open the one file.
                let path = std::fs::canonicalize(path)
                    .map_err(|e| StoreError::Open { target: target.clone(), problem: e.to_string() })?;
                let url = sqlite_url(&path).ok_or_else(|| StoreError::Open {
                    target: target.clone(),
                    problem: "the SQLite driver cannot name this path in its URL; choose another".into(),
                })?;
                let connect = url.parse::<AnyConnectOptions>().map_err(open_failed)?;
                (&dialect::SQLITE, Backend::Sqlite { path }, connect, 4)
            }
            Location::Postgres(url) => {
                let server = postgres_target(&postgres_options(location)?);
                let connect = url.expose_secret().parse::<AnyConnectOptions>().map_err(open_failed)?;
                (&dialect::POSTGRES, Backend::Postgres { server }, connect, 8)
            }
        };
        let session: &'static [&'static str] = dialect.session;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            // A server that does not answer is an error in seconds, not half a minute.
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    for statement in session {
                        conn.execute(*statement).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(connect.clone())
            .await
            .map_err(open_failed)?;
        if dialect.kind == dialect::Kind::Sqlite {
            // Persistent in the file; switching needs a moment alone, so only when not yet WAL.
            let mode: String = sqlx::query("PRAGMA journal_mode")
                .fetch_one(&pool)
                .await
                .and_then(|row| row.try_get(0))
                .map_err(open_failed)?;
            if !mode.eq_ignore_ascii_case("wal") {
                pool.execute("PRAGMA journal_mode = WAL").await.map_err(open_failed)?;
            }
        }
        schema::migrate(&pool, dialect, &target, schema_version).await?;
        let insert_full = crate::write::insert_sql(dialect, crate::write::ROWS_PER_INSERT);
        Ok(Store {
            pool,
            dialect,
            shared: Arc::new(Shared { location: location.clone(), backend, connect, insert_full }),
            lock_wait: DEFAULT_LOCK_WAIT,
        })
    }

    /// Which database this is (Display: `SQLite <path>`, `PostgreSQL <user@host:port/db>`).
    pub fn backend(&self) -> Backend {
        self.shared.backend.clone()
    }

    /// The location it was opened from.
    pub fn location(&self) -> &Location {
        &self.shared.location
    }

    /// This handle with another bound on how long [`Store::lock_account`] waits.
    pub fn with_lock_wait(mut self, wait: Duration) -> Store {
        self.lock_wait = wait;
        self
    }

    /// How long [`Store::lock_account`] waits for another holder.
    pub fn lock_wait(&self) -> Duration {
        self.lock_wait
    }

    /// Takes `account`'s sync lock, waiting at most [`Store::lock_wait`] for another holder
    /// (another process, machine or handle), then failing with [`StoreError::Locked`] naming the
    /// holder when known. Held until the guard is dropped or released. See [`crate::lock`].
    pub async fn lock_account(&self, account: &str) -> Result<AccountLock, StoreError> {
        match (&self.shared.backend, &self.shared.location) {
            (Backend::Sqlite { path }, _) => lock::lock_sqlite(path, account, self.lock_wait).await,
            (Backend::Postgres { server }, location) => {
                lock::lock_postgres(
                    &self.shared.connect,
                    account,
                    self.lock_wait,
                    |m| scrub(location, m),
                    server,
                )
                .await
            }
        }
    }

    /// Closes the pool's connections (waiting for those in use); later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
